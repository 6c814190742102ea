/* Parsers for the guest cmdline's ip=A.B.C.D/N and mac=xx:xx:xx:xx:xx:xx values. */
#include "net_priv.h"

/* Decimal digits into *v (at most max); returns the first byte after them, or NULL. */
static const char *parse_dec(const char *s, unsigned int max, unsigned int *v)
{
	const char *start = s;

	*v = 0;
	while (*s >= '0' && *s <= '9' && s - start < 3) {
		*v = *v * 10 + (unsigned int)(*s - '0');
		s++;
	}
	if (s == start || *v > max || (*s >= '0' && *s <= '9'))
		return NULL;
	return s;
}

int net__parse_ip_prefix(const char *s, uint32_t *ip, uint32_t *mask)
{
	uint32_t addr = 0;
	unsigned int v;

	for (int i = 0; i < 4; i++) {
		s = parse_dec(s, 255, &v);
		if (!s || *s != (i < 3 ? '.' : '/'))
			return -EINVAL;
		s++;
		addr = addr << 8 | v;
	}
	s = parse_dec(s, 32, &v);
	if (!s || *s)
		return -EINVAL;
	*ip = addr;
	/* A shift by 32 is undefined, so /0 is its own case. */
	*mask = v ? 0xffffffffu << (32 - v) : 0;
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int net__parse_mac(const char *s, uint8_t mac[NET_ETH_ALEN])
{
	uint8_t out[NET_ETH_ALEN];

	for (int i = 0; i < NET_ETH_ALEN; i++) {
		int hi = hex_value(s[0]), lo = hi < 0 ? -1 : hex_value(s[1]);

		if (lo < 0 || s[2] != (i < NET_ETH_ALEN - 1 ? ':' : '\0'))
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
		s += 3;
	}
	memcpy(mac, out, NET_ETH_ALEN);
	return 0;
}
