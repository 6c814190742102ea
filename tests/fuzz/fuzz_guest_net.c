/* Fuzz target for the guest network stack's input: any frame is dropped or handled sanely. */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Itests/guests/net \
 *     tests/fuzz/fuzz_guest_net.c tests/guests/net/{net,arp,ipv4,addr}.c -o fuzz-guest-net
 *   mkdir -p /tmp/net-corpus && cp -r tests/fuzz/corpus/guest_net/. /tmp/net-corpus/
 *   ./fuzz-guest-net -max_total_time=60 -max_len=2048 /tmp/net-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "net.h"
#include "fuzz_target.h"

#define OUR_IP	 0xc612020au /* 198.18.2.10/24, as in the seeds */
#define PEER_IP	 0xc6120202u
#define OUR_PORT 7777
#define MAX_TX	 4
#define CLS_DROP 0
#define CLS_OK	 1
#define CLS_UDP	 2

static const uint8_t our_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

static struct net_if nif;
static const char *broken;
static int ntx, delivered;
static const uint8_t *in_lo, *in_hi; /* the input frame, where UDP data must point */

static unsigned int be16(const uint8_t *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

static unsigned int sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i < n; i++)
		sum += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	while (sum > 0xffff)
		sum = (sum >> 16) + (sum & 0xffff);
	return ~sum & 0xffff;
}

/* Whatever the input, what we send is a well-formed frame from us to an on-link peer. */
static const char *check_frame(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14;
	size_t total;
	uint32_t dst;

	if (len < 60 || len > NET_FRAME_MAX)
		return "sent a frame shorter than 60 or longer than NET_FRAME_MAX bytes";
	if (memcmp(f + 6, our_mac, 6) != 0 || (f[0] & 1 && be16(f + 12) != 0x0806))
		return "sent a frame not from our MAC, or multicast IPv4";
	if (be16(f + 12) == 0x0806)
		return be16(ip + 6) == 1 || be16(ip + 6) == 2 ? NULL : "sent a bad ARP op";
	if (be16(f + 12) != 0x0800)
		return "sent neither ARP nor IPv4";
	total = be16(ip + 2);
	dst = (uint32_t)be16(ip + 16) << 16 | be16(ip + 18);
	if (ip[0] != 0x45 || total < 28 || 14 + total > len || sum16(ip, 20, 0) != 0)
		return "sent a bad IPv4 header";
	if ((dst & 0xffffff00u) != (OUR_IP & 0xffffff00u) || dst == OUR_IP || (dst & 0xff) == 0xff)
		return "sent IPv4 to an address that is not an on-link peer";
	if (ip[9] == 1 && sum16(ip + 20, total - 20, 0) != 0)
		return "sent ICMP with a bad checksum";
	if (ip[9] == 17 && (be16(ip + 24) != total - 20 ||
			    sum16(ip + 20, total - 20,
				  be16(ip + 12) + be16(ip + 14) + be16(ip + 16) + be16(ip + 18) +
				      17 + (uint32_t)(total - 20)) != 0))
		return "sent UDP with a bad length or checksum";
	return NULL;
}

static int tx(void *opaque, const void *frame, size_t len)
{
	if (++ntx > MAX_TX && !broken)
		broken = "one input made the stack send more than 4 frames";
	if (!broken)
		broken = check_frame(frame, len);
	return 0;
}

/* Echoes every datagram, so replies go through the send path too. */
static void echo(struct net_if *n, void *arg, uint32_t src_ip, uint16_t src_port, const void *data,
		 size_t len)
{
	const uint8_t *d = data;

	delivered++;
	if (!broken && (d < in_lo || d + len > in_hi || len > NET_UDP_PAYLOAD_MAX))
		broken = "UDP data handed to the handler lies outside the frame";
	if (src_port)
		net__udp_send(n, src_ip, src_port, OUR_PORT, data, len);
}

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	/* An exact-size copy, so that ASan sees any read past the frame. */
	uint8_t *frame = malloc(size ? size : 1);
	static const uint8_t learn[42] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0,	0, 0, 0,
					  0x02, 0x08, 0x06, 0,	  1,	0x08, 0,    6,	4, 0, 1,
					  2,	0,    0,    0,	  0,	2,    198,  18, 2, 2, 0,
					  0,	0,    0,    0,	  0,	198,  18,   2,	10};
	uint8_t mac[6] = {0};
	uint64_t drops = 0;

	if (!frame)
		return "out of memory";
	memcpy(frame, data, size);
	net__init(&nif, our_mac, OUR_IP, 0xffffff00u, tx, NULL);
	net__udp_bind(&nif, OUR_PORT, echo, NULL);
	broken = NULL;
	ntx = delivered = 0;
	/* The peer is known, as after a client's first ARP request. */
	net__input(&nif, learn, sizeof(learn));
	if (ntx != 1 || net__arp_lookup(&nif, PEER_IP, mac) != 0 || memcmp(mac, peer_mac, 6) != 0)
		broken = "the ARP request that teaches the peer did not work";
	ntx = 0;

	in_lo = frame;
	in_hi = frame + size;
	net__input(&nif, frame, size);
	free(frame);
	for (int i = 0; i < NET_DROP_MAX; i++)
		drops += nif.stats.drop[i];
	if (broken)
		return broken;
	if (nif.stats.rx != 2 || drops > 1)
		return "a frame was counted twice, or dropped for two reasons";
	if (drops && (ntx || delivered))
		return "a dropped frame still had an effect";
	if (delivered > 1)
		return "one frame delivered more than one datagram";
	*cls = drops ? CLS_DROP : delivered ? CLS_UDP : CLS_OK;
	return NULL;
}

static const char *const classes[] = {"drop-", "ok-", "udp-"};

const struct fuzz_target fuzz_target = {
    .name = "guest-net",
    .classes = classes,
    .nclasses = 3,
    .check = check,
};
