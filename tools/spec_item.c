/* The comma-separated key[=value] specs shared by twin-vmm's options and the VM config. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "spec_item.h"

bool spec_item__next(const char **spec, struct spec_item *it)
{
	const char *p = *spec, *end, *eq;

	if (!p)
		return false;
	end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	eq = memchr(p, '=', end - p);
	it->key = p;
	it->key_len = (eq ? eq : end) - p;
	it->val = eq ? eq + 1 : NULL;
	it->val_len = eq ? (size_t)(end - eq - 1) : 0;
	*spec = *end ? end + 1 : NULL;
	return true;
}

bool spec_item__is(const struct spec_item *it, const char *key)
{
	return it->key_len == strlen(key) && !strncmp(it->key, key, it->key_len);
}

bool spec_item__parse_mac(const char *s, size_t len, uint8_t mac[6])
{
	if (len != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		const char *h = s + 3 * i;
		char hex[3] = {h[0], h[1], '\0'};

		if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1]) ||
		    (i < 5 && h[2] != ':'))
			return false;
		mac[i] = strtoul(hex, NULL, 16);
	}
	return true;
}
