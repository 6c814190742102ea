/* Unit tests for the guest network stack (tests/guests/net/): ARP, IPv4, ICMP echo, UDP, drops. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "net.h"

#define OUR_IP	  0xc612020au /* 198.18.2.10 */
#define OUR_MASK  0xffffff00u
#define PEER_IP	  0xc6120202u /* 198.18.2.2 */
#define OTHER_IP  0xc6120203u /* 198.18.2.3 */
#define PEER_PORT 40000
#define KV_PORT	  7777
#define MAX_TX	  8

static const uint8_t our_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const uint8_t new_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero_mac[6];

/* Every frame the stack hands to tx(). */
static struct {
	int n;
	size_t len[MAX_TX];
	uint8_t f[MAX_TX][NET_FRAME_MAX];
} cap;

/* What the UDP handler saw. */
static struct {
	int calls;
	uint32_t ip;
	uint16_t port;
	size_t len;
	uint8_t data[NET_FRAME_MAX];
	int reply_rc;
} got;

static struct net_if *nif;

static int cap_tx(void *opaque, const void *frame, size_t len)
{
	ck_assert_ptr_eq(opaque, &cap);
	ck_assert_int_lt(cap.n, MAX_TX);
	ck_assert_uint_le(len, NET_FRAME_MAX);
	memcpy(cap.f[cap.n], frame, len);
	cap.len[cap.n++] = len;
	return 0;
}

/* Records the datagram and answers "pong:" + data to its sender. */
static void on_udp(struct net_if *n, void *arg, uint32_t src_ip, uint16_t src_port,
		   const void *data, size_t len)
{
	uint8_t reply[NET_FRAME_MAX];

	ck_assert_ptr_eq(arg, &got);
	got.calls++;
	got.ip = src_ip;
	got.port = src_port;
	got.len = len;
	memcpy(got.data, data, len);
	memcpy(reply, "pong:", 5);
	memcpy(reply + 5, data, len);
	got.reply_rc = net__udp_send(n, src_ip, src_port, KV_PORT, reply, len + 5);
}

static void setup(void)
{
	memset(&cap, 0, sizeof(cap));
	memset(&got, 0, sizeof(got));
	nif = malloc(sizeof(*nif));
	ck_assert_ptr_nonnull(nif);
	net__init(nif, our_mac, OUR_IP, OUR_MASK, cap_tx, &cap);
	ck_assert_int_eq(net__udp_bind(nif, KV_PORT, on_udp, &got), 0);
}

static void teardown(void)
{
	free(nif);
}

/* ---- frame builders, written from the RFCs independently of the stack ---- */

static void w16(uint8_t *p, unsigned int v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, v >> 16);
	w16(p + 2, v & 0xffff);
}

/* One's-complement sum of 16-bit words, folded and inverted; 0 over a valid header. */
static unsigned int inet_csum(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i < n; i++)
		sum += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	while (sum > 0xffff)
		sum = (sum >> 16) + (sum & 0xffff);
	return ~sum & 0xffff;
}

static size_t eth_hdr(uint8_t *f, const uint8_t *dst, const uint8_t *src, unsigned int type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	w16(f + 12, type);
	return 14;
}

static size_t arp_frame(uint8_t *f, const uint8_t *eth_dst, unsigned int op, const uint8_t *sha,
			uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	uint8_t *a = f + eth_hdr(f, eth_dst, sha, 0x0806);

	w16(a, 1);
	w16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	w16(a + 6, op);
	memcpy(a + 8, sha, 6);
	w32(a + 14, spa);
	memcpy(a + 18, tha, 6);
	w32(a + 24, tpa);
	return 42;
}

static void fix_ip_csum(uint8_t *f)
{
	uint8_t *ip = f + 14;
	size_t ihl = (ip[0] & 0xf) * 4u;

	w16(ip + 10, 0);
	w16(ip + 10, inet_csum(ip, ihl, 0));
}

/* IPv4 with DF, TTL 64 and the given id, like the stack sends. */
static size_t ip_frame(uint8_t *f, const uint8_t *dst_mac, const uint8_t *src_mac, uint32_t src,
		       uint32_t dst, unsigned int proto, unsigned int id, const uint8_t *payload,
		       size_t n)
{
	uint8_t *ip = f + eth_hdr(f, dst_mac, src_mac, 0x0800);

	memset(ip, 0, 20);
	ip[0] = 0x45;
	w16(ip + 2, 20 + n);
	w16(ip + 4, id);
	w16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = (uint8_t)proto;
	w32(ip + 12, src);
	w32(ip + 16, dst);
	memcpy(ip + 20, payload, n);
	fix_ip_csum(f);
	return 14 + 20 + n;
}

static uint32_t udp_pseudo(uint32_t src, uint32_t dst, size_t ulen)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 17 + (uint32_t)ulen;
}

static size_t udp_frame(uint8_t *f, const uint8_t *dst_mac, const uint8_t *src_mac, uint32_t src,
			uint16_t sport, uint32_t dst, uint16_t dport, unsigned int id,
			const void *data, size_t n, int with_csum)
{
	uint8_t u[NET_FRAME_MAX];
	unsigned int sum;

	w16(u, sport);
	w16(u + 2, dport);
	w16(u + 4, 8 + n);
	w16(u + 6, 0);
	memcpy(u + 8, data, n);
	sum = inet_csum(u, 8 + n, udp_pseudo(src, dst, 8 + n));
	if (with_csum)
		w16(u + 6, sum ? sum : 0xffff);
	return ip_frame(f, dst_mac, src_mac, src, dst, 17, id, u, 8 + n);
}

/* A datagram from the peer to our bound port. */
static size_t peer_udp(uint8_t *f, const char *text)
{
	return udp_frame(f, our_mac, peer_mac, PEER_IP, PEER_PORT, OUR_IP, KV_PORT, 0x1111, text,
			 strlen(text), 1);
}

static size_t echo_request(uint8_t *f, size_t data_len)
{
	uint8_t m[NET_FRAME_MAX];

	m[0] = 8;
	m[1] = 0;
	w16(m + 2, 0);
	w16(m + 4, 0x1234);
	w16(m + 6, 7);
	for (size_t i = 0; i < data_len; i++)
		m[8 + i] = (uint8_t)(i * 7 + 1);
	w16(m + 2, inet_csum(m, 8 + data_len, 0));
	return ip_frame(f, our_mac, peer_mac, PEER_IP, OUR_IP, 1, 0x2222, m, 8 + data_len);
}

static void input(const uint8_t *f, size_t len)
{
	net__input(nif, f, len);
}

/* Let the stack learn the peer the way a client's first packet does. */
static void learn_peer(uint32_t ip, const uint8_t *mac)
{
	uint8_t f[64];
	int before = cap.n;

	input(f, arp_frame(f, bcast, 1, mac, ip, zero_mac, OUR_IP));
	ck_assert_int_eq(cap.n, before + 1);
}

static uint64_t drops(void)
{
	uint64_t n = 0;

	for (int i = 0; i < NET_DROP_MAX; i++)
		n += nif->stats.drop[i];
	return n;
}

/* ---- tests ---- */

START_TEST(test_arp_reply)
{
	uint8_t f[64], want[64] = {0};
	uint8_t mac[6];

	input(f, arp_frame(f, bcast, 1, peer_mac, PEER_IP, zero_mac, OUR_IP));
	ck_assert_int_eq(cap.n, 1);
	/* Unicast reply, padded with zeros to the 60-byte minimum. */
	arp_frame(want, peer_mac, 2, our_mac, OUR_IP, peer_mac, PEER_IP);
	ck_assert_uint_eq(cap.len[0], 60);
	ck_assert_mem_eq(cap.f[0], want, 60);
	ck_assert_uint_eq(nif->stats.arp_replies, 1);
	/* The requester was learned. */
	ck_assert_int_eq(net__arp_lookup(nif, PEER_IP, mac), 0);
	ck_assert_mem_eq(mac, peer_mac, 6);
	ck_assert_uint_eq(drops(), 0);
}
END_TEST

START_TEST(test_arp_not_for_us)
{
	uint8_t f[64], mac[6];

	/* Someone else's resolution: no reply, nothing learned. */
	input(f, arp_frame(f, bcast, 1, peer_mac, PEER_IP, zero_mac, OTHER_IP));
	ck_assert_int_eq(cap.n, 0);
	ck_assert_int_eq(net__arp_lookup(nif, PEER_IP, mac), -ENOENT);
	ck_assert_uint_eq(nif->stats.drop[NET_DROP_NOT_US], 1);

	/* But a sender we know is updated whoever the packet is for (RFC 826 merge). */
	learn_peer(PEER_IP, peer_mac);
	input(f, arp_frame(f, bcast, 1, new_mac, PEER_IP, zero_mac, OTHER_IP));
	ck_assert_int_eq(cap.n, 1);
	ck_assert_int_eq(net__arp_lookup(nif, PEER_IP, mac), 0);
	ck_assert_mem_eq(mac, new_mac, 6);
	ck_assert_uint_eq(nif->stats.drop[NET_DROP_NOT_US], 1);

	/* A gratuitous reply for our own address from someone else teaches nothing. */
	input(f, arp_frame(f, bcast, 2, new_mac, OUR_IP, bcast, OUR_IP));
	ck_assert_int_eq(cap.n, 1);
	ck_assert_int_eq(net__arp_lookup(nif, OUR_IP, mac), -ENOENT);
}
END_TEST

START_TEST(test_arp_resolve_then_send)
{
	uint8_t f[NET_FRAME_MAX], want[NET_FRAME_MAX] = {0};
	size_t n;

	ck_assert_int_eq(net__udp_send(nif, PEER_IP, PEER_PORT, KV_PORT, "first", 5), 0);
	ck_assert_int_eq(cap.n, 1);
	arp_frame(want, bcast, 1, our_mac, OUR_IP, zero_mac, PEER_IP);
	ck_assert_uint_eq(cap.len[0], 60);
	ck_assert_mem_eq(cap.f[0], want, 60);
	/* RFC 1122 2.3.2.2: keep the latest frame for an unresolved peer. */
	ck_assert_int_eq(net__udp_send(nif, PEER_IP, PEER_PORT, KV_PORT, "second", 6), 0);
	ck_assert_int_eq(cap.n, 2);
	ck_assert_uint_eq(nif->stats.arp_overwrites, 1);
	ck_assert_uint_eq(nif->stats.arp_requests, 2);

	/* The reply releases the queued frame, addressed to the peer's MAC. */
	input(f, arp_frame(f, our_mac, 2, peer_mac, PEER_IP, our_mac, OUR_IP));
	ck_assert_int_eq(cap.n, 3);
	n = udp_frame(want, peer_mac, our_mac, OUR_IP, KV_PORT, PEER_IP, PEER_PORT, 1, "second", 6,
		      1);
	ck_assert_uint_lt(n, 60);
	ck_assert_uint_eq(cap.len[2], 60);
	ck_assert_mem_eq(cap.f[2], want, 60);

	/* Resolved now: the next datagram goes straight out. */
	ck_assert_int_eq(net__udp_send(nif, PEER_IP, PEER_PORT, KV_PORT, "third", 5), 0);
	ck_assert_int_eq(cap.n, 4);
	ck_assert_mem_eq(cap.f[3], peer_mac, 6);
	ck_assert_uint_eq(nif->stats.arp_requests, 2);
}
END_TEST

START_TEST(test_arp_cache_lru)
{
	uint8_t mac[6];

	for (uint32_t i = 0; i < NET_ARP_ENTRIES; i++) {
		uint8_t m[6] = {0x02, 0, 0, 0, 1, (uint8_t)i};

		learn_peer(PEER_IP + 10 + i, m);
		cap.n = 0;
	}
	/* Using peer 0 makes peer 1 the least recently used. */
	ck_assert_int_eq(net__udp_send(nif, PEER_IP + 10, 1, KV_PORT, "x", 1), 0);
	ck_assert_mem_eq(cap.f[0], ((uint8_t[6]){0x02, 0, 0, 0, 1, 0}), 6);
	cap.n = 0;
	learn_peer(OTHER_IP, new_mac);
	ck_assert_int_eq(net__arp_lookup(nif, PEER_IP + 11, mac), -ENOENT);
	ck_assert_int_eq(net__arp_lookup(nif, PEER_IP + 10, mac), 0);
	ck_assert_int_eq(net__arp_lookup(nif, PEER_IP + 12, mac), 0);
	ck_assert_int_eq(net__arp_lookup(nif, OTHER_IP, mac), 0);
	ck_assert_mem_eq(mac, new_mac, 6);
}
END_TEST

static void check_echo(size_t data_len)
{
	uint8_t f[NET_FRAME_MAX];
	size_t n = echo_request(f, data_len);
	const uint8_t *ip = cap.f[0] + 14, *icmp = ip + 20;

	learn_peer(PEER_IP, peer_mac);
	cap.n = 0;
	input(f, n);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_uint_eq(cap.len[0], n < 60 ? 60 : n);
	ck_assert_mem_eq(cap.f[0], peer_mac, 6);
	ck_assert_mem_eq(cap.f[0] + 6, our_mac, 6);
	ck_assert_uint_eq(ip[0], 0x45);
	ck_assert_uint_eq(ip[9], 1);
	ck_assert_uint_eq((unsigned int)(ip[2] << 8 | ip[3]), 20 + 8 + data_len);
	ck_assert_uint_eq(inet_csum(ip, 20, 0), 0);
	ck_assert_mem_eq(ip + 12, f + 14 + 16, 4); /* src = request's dst */
	ck_assert_mem_eq(ip + 16, f + 14 + 12, 4);
	ck_assert_uint_eq(icmp[0], 0);
	ck_assert_uint_eq(icmp[1], 0);
	ck_assert_uint_eq(inet_csum(icmp, 8 + data_len, 0), 0);
	/* Identifier, sequence and data unchanged. */
	ck_assert_mem_eq(icmp + 4, f + 34 + 4, 4 + data_len);
	ck_assert_uint_eq(nif->stats.icmp_echo, 1);
}

START_TEST(test_icmp_echo)
{
	check_echo(56);
}
END_TEST

START_TEST(test_icmp_echo_odd_and_max)
{
	check_echo(57);
	setup();
	check_echo(NET_MTU - 28);
	teardown();
	setup();
	check_echo(0);
}
END_TEST

START_TEST(test_udp_deliver_and_reply)
{
	uint8_t f[NET_FRAME_MAX], want[NET_FRAME_MAX] = {0};
	size_t n;

	learn_peer(PEER_IP, peer_mac);
	cap.n = 0;
	input(f, peer_udp(f, "hello"));
	ck_assert_int_eq(got.calls, 1);
	ck_assert_uint_eq(got.ip, PEER_IP);
	ck_assert_uint_eq(got.port, PEER_PORT);
	ck_assert_uint_eq(got.len, 5);
	ck_assert_mem_eq(got.data, "hello", 5);
	ck_assert_int_eq(got.reply_rc, 0);
	/* The reply, byte for byte: id 0 (first IPv4 packet), DF, TTL 64, UDP checksum. */
	ck_assert_int_eq(cap.n, 1);
	n = udp_frame(want, peer_mac, our_mac, OUR_IP, KV_PORT, PEER_IP, PEER_PORT, 0, "pong:hello",
		      10, 1);
	ck_assert_uint_eq(n, 52);
	ck_assert_uint_eq(cap.len[0], 60);
	ck_assert_mem_eq(cap.f[0], want, 60);
	ck_assert_uint_eq(nif->stats.udp_rx, 1);

	/* Checksum 0 means "none" and is accepted. */
	n = udp_frame(f, our_mac, peer_mac, PEER_IP, PEER_PORT, OUR_IP, KV_PORT, 5, "nocsum", 6, 0);
	input(f, n);
	ck_assert_int_eq(got.calls, 2);
	ck_assert_mem_eq(got.data, "nocsum", 6);
	ck_assert_uint_eq(drops(), 0);
}
END_TEST

START_TEST(test_padding_and_options)
{
	uint8_t f[NET_FRAME_MAX], g[NET_FRAME_MAX];
	size_t n = peer_udp(f, "a");

	learn_peer(PEER_IP, peer_mac);
	/* Ethernet padding after the IPv4 packet is ignored. */
	memset(f + n, 0xaa, 60 - n);
	input(f, 60);
	ck_assert_int_eq(got.calls, 1);
	ck_assert_uint_eq(got.len, 1);
	/* A header with one word of options (IHL 6) is skipped over. */
	memcpy(g, f, 34);
	memset(g + 34, 0x01, 4); /* four NOPs */
	memcpy(g + 38, f + 34, n - 34);
	g[14] = 0x46;
	w16(g + 16, (unsigned int)(n - 14 + 4));
	fix_ip_csum(g);
	input(g, n + 4);
	ck_assert_int_eq(got.calls, 2);
	ck_assert_uint_eq(drops(), 0);
}
END_TEST

/* Feeds f[0..len) and expects exactly one drop, for reason why, and no effect. */
static void expect_drop(const uint8_t *f, size_t len, enum net_drop why)
{
	uint64_t before = nif->stats.drop[why], all = drops();
	int calls = got.calls, sent = cap.n;

	input(f, len);
	ck_assert_msg(nif->stats.drop[why] == before + 1, "len %zu: not dropped as %s", len,
		      net__drop_to_str(why));
	ck_assert_uint_eq(drops(), all + 1);
	ck_assert_int_eq(got.calls, calls);
	ck_assert_int_eq(cap.n, sent);
}

START_TEST(test_malformed_dropped)
{
	uint8_t good[NET_FRAME_MAX], f[NET_FRAME_MAX];
	size_t n = peer_udp(good, "payload");

	learn_peer(PEER_IP, peer_mac);
	cap.n = 0;
	/* Every truncation of a good frame, including inside each header. */
	for (size_t len = 0; len < n; len++)
		expect_drop(good, len, NET_DROP_SHORT);

#define MUTATE(stmt, why)                                                                          \
	do {                                                                                       \
		memcpy(f, good, n);                                                                \
		stmt;                                                                              \
		expect_drop(f, n, why);                                                            \
	} while (0)
	MUTATE(f[14 + 10] ^= 1, NET_DROP_IP_CSUM);
	MUTATE((f[14] = 0x44, fix_ip_csum(f)), NET_DROP_IP_HDR);
	MUTATE((f[14] = 0x40, fix_ip_csum(f)), NET_DROP_IP_HDR);
	MUTATE((f[14] = 0x65, fix_ip_csum(f)), NET_DROP_IP_HDR);
	MUTATE((w16(f + 16, 19), fix_ip_csum(f)), NET_DROP_IP_HDR);
	MUTATE((w16(f + 16, 1501), fix_ip_csum(f)), NET_DROP_IP_HDR);
	MUTATE((w16(f + 16, (unsigned int)(n - 14 + 1)), fix_ip_csum(f)), NET_DROP_SHORT);
	MUTATE((w16(f + 20, 0x2000), fix_ip_csum(f)), NET_DROP_IP_FRAG);
	MUTATE((w16(f + 20, 0x0001), fix_ip_csum(f)), NET_DROP_IP_FRAG);
	MUTATE((w16(f + 20, 0x6000), fix_ip_csum(f)), NET_DROP_IP_FRAG);
	MUTATE((w32(f + 30, OTHER_IP), fix_ip_csum(f)), NET_DROP_NOT_US);
	MUTATE((w32(f + 30, 0xffffffffu), fix_ip_csum(f)), NET_DROP_NOT_US);
	MUTATE(memcpy(f, new_mac, 6), NET_DROP_NOT_US);
	MUTATE(memcpy(f, ((uint8_t[6]){0x33, 0x33, 0, 0, 0, 1}), 6), NET_DROP_NOT_US);
	MUTATE((w32(f + 26, 0xc61202ffu), fix_ip_csum(f)), NET_DROP_BAD_SRC);
	MUTATE((w32(f + 26, OUR_IP), fix_ip_csum(f)), NET_DROP_BAD_SRC);
	MUTATE((w32(f + 26, 0), fix_ip_csum(f)), NET_DROP_BAD_SRC);
	MUTATE((w32(f + 26, 0x0a000001u), fix_ip_csum(f)), NET_DROP_BAD_SRC);
	MUTATE((f[14 + 9] = 6, fix_ip_csum(f)), NET_DROP_PROTO);
	MUTATE(w16(f + 12, 0x86dd), NET_DROP_ETHERTYPE);
	MUTATE(f[n - 1] ^= 0x40, NET_DROP_UDP);
	MUTATE(w16(f + 34 + 4, 7), NET_DROP_UDP);
	MUTATE(w16(f + 34 + 4, (unsigned int)(n - 34 + 1)), NET_DROP_UDP);
#undef MUTATE
	expect_drop(f, udp_frame(f, our_mac, peer_mac, PEER_IP, 1, OUR_IP, 9, 1, "x", 1, 1),
		    NET_DROP_NO_PORT);
	/* Port 0 is what a free binding slot holds (found by fuzz_guest_net). */
	expect_drop(f, udp_frame(f, our_mac, peer_mac, PEER_IP, 1, OUR_IP, 0, 1, "x", 1, 1),
		    NET_DROP_NO_PORT);
	/* The good frame still works after all that. */
	input(good, n);
	ck_assert_int_eq(got.calls, 1);
}
END_TEST

START_TEST(test_malformed_arp_icmp)
{
	uint8_t f[NET_FRAME_MAX];
	size_t n;

	n = arp_frame(f, bcast, 1, peer_mac, PEER_IP, zero_mac, OUR_IP);
	expect_drop(f, n - 1, NET_DROP_SHORT);
	f[14 + 1] = 6; /* htype 6 */
	expect_drop(f, n, NET_DROP_ARP);
	n = arp_frame(f, bcast, 3, peer_mac, PEER_IP, zero_mac, OUR_IP);
	expect_drop(f, n, NET_DROP_ARP);
	n = arp_frame(f, bcast, 1, bcast, PEER_IP, zero_mac, OUR_IP);
	expect_drop(f, n, NET_DROP_ARP);

	learn_peer(PEER_IP, peer_mac);
	cap.n = 0;
	n = echo_request(f, 8);
	f[n - 1] ^= 1;
	expect_drop(f, n, NET_DROP_ICMP);
	n = echo_request(f, 8);
	f[34] = 13; /* timestamp request, checksum left wrong on purpose too */
	expect_drop(f, n, NET_DROP_ICMP);
	n = ip_frame(f, our_mac, peer_mac, PEER_IP, OUR_IP, 1, 1, (const uint8_t *)"\x08\x00\xf7",
		     3);
	expect_drop(f, n, NET_DROP_ICMP);
}
END_TEST

START_TEST(test_oversize_frame)
{
	static uint8_t f[4 * NET_FRAME_MAX];
	size_t n = echo_request(f, 64);

	/* A driver handing over more than a frame's worth must not overflow anything. */
	learn_peer(PEER_IP, peer_mac);
	cap.n = 0;
	w16(f + 16, 3000);
	fix_ip_csum(f);
	expect_drop(f, sizeof(f), NET_DROP_IP_HDR);
	(void)n;
}
END_TEST

START_TEST(test_bind_and_send_errors)
{
	static uint8_t big[NET_UDP_PAYLOAD_MAX + 1];

	ck_assert_int_eq(net__udp_bind(nif, 0, on_udp, NULL), -EINVAL);
	ck_assert_int_eq(net__udp_bind(nif, 1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(net__udp_bind(nif, KV_PORT, on_udp, NULL), -EADDRINUSE);
	for (int i = 1; i < NET_UDP_BINDINGS; i++)
		ck_assert_int_eq(net__udp_bind(nif, (uint16_t)(100 + i), on_udp, NULL), 0);
	ck_assert_int_eq(net__udp_bind(nif, 99, on_udp, NULL), -ENOSPC);

	learn_peer(PEER_IP, peer_mac);
	cap.n = 0;
	ck_assert_int_eq(net__udp_send(nif, PEER_IP, 1, 2, big, sizeof(big)), -EMSGSIZE);
	ck_assert_int_eq(net__udp_send(nif, PEER_IP, 0, 2, "x", 1), -EINVAL);
	ck_assert_int_eq(net__udp_send(nif, PEER_IP, 1, 0, "x", 1), -EINVAL);
	ck_assert_int_eq(net__udp_send(nif, 0x0a000001u, 1, 2, "x", 1), -ENETUNREACH);
	ck_assert_int_eq(net__udp_send(nif, 0xc61202ffu, 1, 2, "x", 1), -ENETUNREACH);
	ck_assert_int_eq(net__udp_send(nif, OUR_IP, 1, 2, "x", 1), -ENETUNREACH);
	ck_assert_int_eq(net__udp_send(nif, 0, 1, 2, "x", 1), -ENETUNREACH);
	ck_assert_int_eq(cap.n, 0);
	/* The largest payload fits in one full-size frame. */
	ck_assert_int_eq(net__udp_send(nif, PEER_IP, 1, 2, big, sizeof(big) - 1), 0);
	ck_assert_uint_eq(cap.len[0], NET_FRAME_MAX);
}
END_TEST

START_TEST(test_parse)
{
	uint32_t ip, mask;
	uint8_t mac[6];
	static const char *const bad_ip[] = {
	    "",
	    "198.18.2.10",
	    "198.18.2.10/",
	    "198.18.2.10/33",
	    "198.18.2/24",
	    "256.1.1.1/8",
	    "1.2.3.4/24x",
	    "1.2.3.4.5/24",
	    "1..3.4/8",
	    "0001.2.3.4/8",
	    "1.2.3.4/-1",
	    " 1.2.3.4/8",
	    "1.2.3.4 /8",
	};
	static const char *const bad_mac[] = {
	    "",
	    "52:54:00:12:34",
	    "52:54:00:12:34:5",
	    "52:54:00:12:34:567",
	    "52-54-00-12-34-56",
	    "52:54:00:12:34:5g",
	    "52:54:00:12:34:56:",
	    "5:54:00:12:34:56",
	};

	ck_assert_int_eq(net__parse_ip_prefix("198.18.2.10/24", &ip, &mask), 0);
	ck_assert_uint_eq(ip, OUR_IP);
	ck_assert_uint_eq(mask, OUR_MASK);
	ck_assert_int_eq(net__parse_ip_prefix("0.0.0.0/0", &ip, &mask), 0);
	ck_assert_uint_eq(mask, 0);
	ck_assert_int_eq(net__parse_ip_prefix("255.255.255.255/32", &ip, &mask), 0);
	ck_assert_uint_eq(ip, 0xffffffffu);
	ck_assert_uint_eq(mask, 0xffffffffu);
	for (size_t i = 0; i < sizeof(bad_ip) / sizeof(bad_ip[0]); i++)
		ck_assert_msg(net__parse_ip_prefix(bad_ip[i], &ip, &mask) == -EINVAL,
			      "accepted \"%s\"", bad_ip[i]);

	ck_assert_int_eq(net__parse_mac("52:54:00:12:34:56", mac), 0);
	ck_assert_mem_eq(mac, our_mac, 6);
	ck_assert_int_eq(net__parse_mac("AA:bb:0F:f0:00:ff", mac), 0);
	ck_assert_mem_eq(mac, ((uint8_t[6]){0xaa, 0xbb, 0x0f, 0xf0, 0x00, 0xff}), 6);
	for (size_t i = 0; i < sizeof(bad_mac) / sizeof(bad_mac[0]); i++)
		ck_assert_msg(net__parse_mac(bad_mac[i], mac) == -EINVAL, "accepted \"%s\"",
			      bad_mac[i]);
}
END_TEST

START_TEST(test_drop_names)
{
	for (int i = 0; i < NET_DROP_MAX; i++) {
		ck_assert_str_ne(net__drop_to_str(i), "unknown");
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(net__drop_to_str(i), net__drop_to_str(j));
	}
	ck_assert_str_eq(net__drop_to_str(NET_DROP_MAX), "unknown");
}
END_TEST

Suite *guest_net_suite(void)
{
	Suite *s = suite_create("guest_net");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_arp_reply);
	tcase_add_test(tc, test_arp_not_for_us);
	tcase_add_test(tc, test_arp_resolve_then_send);
	tcase_add_test(tc, test_arp_cache_lru);
	tcase_add_test(tc, test_icmp_echo);
	tcase_add_test(tc, test_icmp_echo_odd_and_max);
	tcase_add_test(tc, test_udp_deliver_and_reply);
	tcase_add_test(tc, test_padding_and_options);
	tcase_add_test(tc, test_malformed_dropped);
	tcase_add_test(tc, test_malformed_arp_icmp);
	tcase_add_test(tc, test_oversize_frame);
	tcase_add_test(tc, test_bind_and_send_errors);
	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_drop_names);
	suite_add_tcase(s, tc);
	return s;
}
