/* Internals shared by the net stack's files: wire layouts, byte order, checksum, libc. */
#ifndef GUESTS_NET_NET_PRIV_H
#define GUESTS_NET_NET_PRIV_H

#if __STDC_HOSTED__
#include <string.h>
#else
#include "rt.h"
#endif
#include "errnos.h"
#include "net.h"

/* Ethernet II (no FCS). */
#define ETH_DST	      0
#define ETH_SRC	      6
#define ETH_TYPE      12
#define ETH_MIN_FRAME 60 /* without FCS; shorter frames are padded */
#define ETHERTYPE_IP  0x0800
#define ETHERTYPE_ARP 0x0806

/* ARP for Ethernet/IPv4 (RFC 826), right after the Ethernet header. */
#define ARP_LEN	     28
#define ARP_HTYPE    0
#define ARP_PTYPE    2
#define ARP_HLEN     4
#define ARP_PLEN     5
#define ARP_OP	     6
#define ARP_SHA	     8
#define ARP_SPA	     14
#define ARP_THA	     18
#define ARP_TPA	     24
#define ARP_HW_ETHER 1
#define ARP_OP_REQ   1
#define ARP_OP_REPLY 2

/* IPv4 (RFC 791), options allowed on input, never sent. */
#define IP_HLEN	      20
#define IP_VER_IHL    0
#define IP_TOTLEN     2
#define IP_ID	      4
#define IP_FRAG	      6
#define IP_TTL	      8
#define IP_PROTO      9
#define IP_CSUM	      10
#define IP_SRC	      12
#define IP_DST	      16
#define IP_MF	      0x2000
#define IP_OFFSET     0x1fff
#define IP_PROTO_ICMP 1
#define IP_PROTO_UDP  17
#define IP_TTL_OUT    64

/* ICMP echo (RFC 792) and UDP (RFC 768). */
#define ICMP_HLEN	  8
#define ICMP_CSUM	  2
#define ICMP_ECHO_REPLY	  0
#define ICMP_ECHO_REQUEST 8
#define UDP_HLEN	  8
#define UDP_SPORT	  0
#define UDP_DPORT	  2
#define UDP_LEN		  4
#define UDP_CSUM	  6

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Internet checksum (RFC 1071): sum 16-bit big-endian words, fold at the end. */
static inline uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (; n > 1; n -= 2, p += 2)
		sum += get16(p);
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline void drop(struct net_if *nif, enum net_drop why)
{
	nif->stats.drop[why]++;
}

/* A source or destination we never talk to: 0, broadcast, multicast, ours or off-link. */
static inline int net_peer_ok(const struct net_if *nif, uint32_t ip)
{
	return ip != 0 && ip != nif->ip && (ip & 0xf0000000u) != 0xe0000000u &&
	       (ip & nif->mask) == (nif->ip & nif->mask) && (ip | nif->mask) != 0xffffffffu;
}

extern const uint8_t net_eth_broadcast[NET_ETH_ALEN];

/* net.c: hand a finished frame to tx(), padded to the Ethernet minimum, and count it. */
int net_xmit(struct net_if *nif, uint8_t *frame, size_t len);
/* arp.c */
void arp_input(struct net_if *nif, const uint8_t *frame, size_t len);
/*
 * Sends frame (Ethernet header left blank, type given) to on-link ip:
 * fills the MACs if ip is resolved, else queues it and asks with ARP.
 */
int arp_output(struct net_if *nif, uint32_t ip, uint16_t type, uint8_t *frame, size_t len);
/* ipv4.c */
void ipv4_input(struct net_if *nif, const uint8_t *frame, size_t len);

#endif
