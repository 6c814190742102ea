/* IPv4 (RFC 791) without fragments, ICMP echo (RFC 792) and UDP (RFC 768). */
#include "net_priv.h"

#define IP_DF 0x4000

/* The UDP pseudo-header's part of the checksum. */
static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint16_t udp_len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + IP_PROTO_UDP + udp_len;
}

/* Sends txbuf's payload (plen bytes after a 20-byte IPv4 header) to on-link dst. */
static int ip_output(struct net_if *nif, uint32_t dst, uint8_t proto, size_t plen)
{
	uint8_t *ip = nif->txbuf + NET_ETH_HLEN;

	ip[IP_VER_IHL] = 0x45;
	ip[1] = 0;
	put16(ip + IP_TOTLEN, (uint16_t)(IP_HLEN + plen));
	put16(ip + IP_ID, nif->ip_id++);
	/* We never fragment, so say so. */
	put16(ip + IP_FRAG, IP_DF);
	ip[IP_TTL] = IP_TTL_OUT;
	ip[IP_PROTO] = proto;
	put16(ip + IP_CSUM, 0);
	put32(ip + IP_SRC, nif->ip);
	put32(ip + IP_DST, dst);
	put16(ip + IP_CSUM, csum_fold(csum_add(0, ip, IP_HLEN)));
	return arp_output(nif, dst, ETHERTYPE_IP, nif->txbuf, NET_ETH_HLEN + IP_HLEN + plen);
}

static void icmp_input(struct net_if *nif, uint32_t src, const uint8_t *p, size_t n)
{
	uint8_t *out = nif->txbuf + NET_ETH_HLEN + IP_HLEN;

	if (n < ICMP_HLEN || csum_fold(csum_add(0, p, n)) != 0 || p[0] != ICMP_ECHO_REQUEST ||
	    p[1] != 0) {
		drop(nif, NET_DROP_ICMP);
		return;
	}
	/* The reply echoes identifier, sequence number and data unchanged. */
	memcpy(out, p, n);
	out[0] = ICMP_ECHO_REPLY;
	put16(out + ICMP_CSUM, 0);
	put16(out + ICMP_CSUM, csum_fold(csum_add(0, out, n)));
	if (ip_output(nif, src, IP_PROTO_ICMP, n) == 0)
		nif->stats.icmp_echo++;
}

static void udp_input(struct net_if *nif, uint32_t src, uint32_t dst, const uint8_t *p, size_t n)
{
	uint16_t ulen, dport;

	if (n < UDP_HLEN || (ulen = get16(p + UDP_LEN)) < UDP_HLEN || ulen > n) {
		drop(nif, NET_DROP_UDP);
		return;
	}
	/* Checksum 0 means the sender did not compute one. */
	if (get16(p + UDP_CSUM) != 0 &&
	    csum_fold(csum_add(pseudo_sum(src, dst, ulen), p, ulen)) != 0) {
		drop(nif, NET_DROP_UDP);
		return;
	}
	dport = get16(p + UDP_DPORT);
	for (size_t i = 0; i < NET_UDP_BINDINGS; i++) {
		struct net_udp_binding *b = &nif->udp[i];

		/* A free slot has port 0: never match it. */
		if (b->port == dport && dport != 0) {
			nif->stats.udp_rx++;
			b->fn(nif, b->arg, src, get16(p + UDP_SPORT), p + UDP_HLEN,
			      ulen - UDP_HLEN);
			return;
		}
	}
	drop(nif, NET_DROP_NO_PORT);
}

void ipv4_input(struct net_if *nif, const uint8_t *frame, size_t len)
{
	const uint8_t *ip = frame + NET_ETH_HLEN;
	size_t avail = len - NET_ETH_HLEN, ihl, total;
	uint32_t src, dst;

	if (avail < IP_HLEN) {
		drop(nif, NET_DROP_SHORT);
		return;
	}
	ihl = (size_t)(ip[IP_VER_IHL] & 0xf) * 4;
	total = get16(ip + IP_TOTLEN);
	/* Larger than our MTU cannot be answered without fragmenting: drop it too. */
	if (ip[IP_VER_IHL] >> 4 != 4 || ihl < IP_HLEN || total < ihl || total > NET_MTU) {
		drop(nif, NET_DROP_IP_HDR);
		return;
	}
	/* Ethernet may pad short packets: total length, not the frame, says where it ends. */
	if (total > avail) {
		drop(nif, NET_DROP_SHORT);
		return;
	}
	if (csum_fold(csum_add(0, ip, ihl)) != 0) {
		drop(nif, NET_DROP_IP_CSUM);
		return;
	}
	if (get16(ip + IP_FRAG) & (IP_MF | IP_OFFSET)) {
		drop(nif, NET_DROP_IP_FRAG);
		return;
	}
	src = get32(ip + IP_SRC);
	dst = get32(ip + IP_DST);
	if (dst != nif->ip) {
		drop(nif, NET_DROP_NOT_US);
		return;
	}
	if (!net_peer_ok(nif, src)) {
		drop(nif, NET_DROP_BAD_SRC);
		return;
	}
	if (ip[IP_PROTO] == IP_PROTO_ICMP)
		icmp_input(nif, src, ip + ihl, total - ihl);
	else if (ip[IP_PROTO] == IP_PROTO_UDP)
		udp_input(nif, src, dst, ip + ihl, total - ihl);
	else
		drop(nif, NET_DROP_PROTO);
}

int net__udp_send(struct net_if *nif, uint32_t dst_ip, uint16_t dst_port, uint16_t src_port,
		  const void *data, size_t len)
{
	uint8_t *u = nif->txbuf + NET_ETH_HLEN + IP_HLEN;
	uint16_t ulen = (uint16_t)(UDP_HLEN + len);
	uint16_t sum;

	if (len > NET_UDP_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (dst_port == 0 || src_port == 0)
		return -EINVAL;
	if (!net_peer_ok(nif, dst_ip))
		return -ENETUNREACH;
	put16(u + UDP_SPORT, src_port);
	put16(u + UDP_DPORT, dst_port);
	put16(u + UDP_LEN, ulen);
	put16(u + UDP_CSUM, 0);
	memcpy(u + UDP_HLEN, data, len);
	sum = csum_fold(csum_add(pseudo_sum(nif->ip, dst_ip, ulen), u, ulen));
	/* 0 on the wire means "no checksum"; RFC 768 sends all ones instead. */
	put16(u + UDP_CSUM, sum ? sum : 0xffff);
	return ip_output(nif, dst_ip, IP_PROTO_UDP, ulen);
}
