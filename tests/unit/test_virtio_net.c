/* Unit tests for virtio-net: frames between a hand-built ring and a tap in a throwaway netns. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include "netns_fixture.h"
#include "suites.h"
#include "util.h"
#include "virtio_net.h"
#include "vring_fixture.h"

#define TAP	   "twnet0"
#define TX_ETHTYPE 0x88b5 /* IEEE local experimental: nothing else sends these */
#define RX_ETHTYPE 0x88b6
#define HDR_LEN	   12
#define FRAME_LEN  60
#define POLL_MS	   5000 /* a bound on a kernel hand-off that is immediate in practice */

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static struct vring ring;
static struct vq_chain chain;

/* A frame from src to broadcast with ethertype type and a payload pattern seeded by seed. */
static void make_frame(uint8_t *f, const uint8_t src[6], uint16_t type, uint8_t seed)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = type >> 8;
	f[13] = type & 0xff;
	for (int i = 14; i < FRAME_LEN; i++)
		f[i] = (uint8_t)(seed + i * 3);
}

/* A packet socket on the tap's host side: sees what the guest sends, sends to the guest. */
static int host_side(struct sockaddr_ll *sll)
{
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

	*sll = (struct sockaddr_ll){
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(ETH_P_ALL),
	    .sll_ifindex = if_nametoindex(TAP),
	    .sll_halen = 6,
	};
	memset(sll->sll_addr, 0xff, 6);
	expect(s >= 0 && bind(s, (struct sockaddr *)sll, sizeof(*sll)) == 0,
	       "packet socket on %s: %s", TAP, strerror(errno));
	return s;
}

static struct virtio_net *open_nic(void)
{
	struct virtio_net *net;
	char err[256];

	expect(virtio_net__open(TAP, NULL, mac, 0, &net, err, sizeof(err)) == 0,
	       "virtio_net__open: %s", err);
	return net;
}

static void tx_reaches_tap(void)
{
	/* Header, then the frame split 20 + 40 across descriptors. */
	const struct vring_seg segs[] = {{HDR_LEN, 0}, {20, 0}, {FRAME_LEN - 20, 0}};
	struct virtio_net *net = open_nic();
	uint8_t frame[FRAME_LEN], got[2048];
	struct sockaddr_ll sll;
	struct pollfd p;
	uint64_t gpa[3];
	char why[160];
	ssize_t n = 0;

	p.fd = host_side(&sll);
	p.events = POLLIN;
	vring_init(&ring);
	make_frame(frame, mac, TX_ETHTYPE, 1);
	vring_post(&ring, segs, 3, gpa);
	memset(vring_hva(&ring, gpa[0]), 0, HDR_LEN);
	memcpy(vring_hva(&ring, gpa[1]), frame, 20);
	memcpy(vring_hva(&ring, gpa[2]), frame + 20, FRAME_LEN - 20);
	expect(virtqueue__pop(&ring.vq, &chain) == 1, "pop: %s", ring.vq.error);
	expect(virtio_net__tx(net, &chain, why, sizeof(why)) == 0, "tx: %s", why);
	/* Skip anything else the host stack put on the interface. */
	while (!(n == FRAME_LEN && got[12] == TX_ETHTYPE >> 8 && got[13] == (TX_ETHTYPE & 0xff))) {
		expect(poll(&p, 1, POLL_MS) == 1, "the TX frame never reached %s", TAP);
		n = recv(p.fd, got, sizeof(got), 0);
		expect(n >= 0, "recv: %s", strerror(errno));
	}
	expect(!memcmp(got, frame, FRAME_LEN), "the frame on %s differs from the guest's", TAP);
	virtio_net__close(net);
	vring_dispose(&ring);
}

START_TEST(test_tx)
{
	run_in_netns(tx_reaches_tap);
}
END_TEST

static void rx_lands_in_buffer(void)
{
	/* The header straddles the first two descriptors. */
	const struct vring_seg segs[] = {{8, 1}, {1600, 1}};
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 1};
	struct virtio_net *net = open_nic();
	struct pollfd p = {.fd = virtio_net__tap_fd(net), .events = POLLIN};
	struct virtio_net_hdr_v1 hdr;
	uint8_t frame[FRAME_LEN], got[FRAME_LEN];
	struct sockaddr_ll sll;
	uint32_t written;
	uint64_t gpa[2];
	char why[160];
	int s = host_side(&sll), rc;

	vring_init(&ring);
	vring_post(&ring, segs, 2, gpa);
	expect(virtqueue__pop(&ring.vq, &chain) == 1, "pop: %s", ring.vq.error);
	rc = virtio_net__rx(net, &chain, &written, why, sizeof(why));
	expect(rc == 0, "rx from an empty tap returned %d", rc);
	make_frame(frame, src, RX_ETHTYPE, 9);
	expect(sendto(s, frame, FRAME_LEN, 0, (struct sockaddr *)&sll, sizeof(sll)) == FRAME_LEN,
	       "sendto %s: %s", TAP, strerror(errno));
	expect(poll(&p, 1, POLL_MS) == 1, "the frame sent on %s never reached the tap fd", TAP);
	rc = virtio_net__rx(net, &chain, &written, why, sizeof(why));
	expect(rc == 1, "rx returned %d (%s)", rc, why);
	expect(written == HDR_LEN + FRAME_LEN, "written %u, want %d", written, HDR_LEN + FRAME_LEN);
	memcpy(&hdr, vring_hva(&ring, gpa[0]), 8);
	memcpy((uint8_t *)&hdr + 8, vring_hva(&ring, gpa[1]), 4);
	expect(hdr.flags == 0 && hdr.gso_type == VIRTIO_NET_HDR_GSO_NONE &&
		   le16toh(hdr.num_buffers) == 1,
	       "header flags %u gso %u num_buffers %u", hdr.flags, hdr.gso_type,
	       le16toh(hdr.num_buffers));
	memcpy(got, vring_hva(&ring, gpa[1] + 4), FRAME_LEN);
	expect(!memcmp(got, frame, FRAME_LEN), "the RX buffer holds another frame");
	expect(*vring_hva(&ring, gpa[1] + 4 + FRAME_LEN) == 0xee, "rx wrote past the frame");
	virtio_net__close(net);
	vring_dispose(&ring);
}

START_TEST(test_rx)
{
	run_in_netns(rx_lands_in_buffer);
}
END_TEST

/* A frame larger than the posted buffer is dropped whole; the buffer takes the next one. */
static void oversize_dropped(void)
{
	const struct vring_seg segs[] = {{HDR_LEN + 40, 1}};
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 2};
	struct virtio_net *net = open_nic();
	struct pollfd p = {.fd = virtio_net__tap_fd(net), .events = POLLIN};
	uint8_t big[FRAME_LEN], small[FRAME_LEN];
	struct sockaddr_ll sll;
	uint32_t written = 0;
	uint64_t gpa[1];
	char why[160];
	int s = host_side(&sll), rc;

	vring_init(&ring);
	vring_post(&ring, segs, 1, gpa);
	expect(virtqueue__pop(&ring.vq, &chain) == 1, "pop: %s", ring.vq.error);
	make_frame(big, src, RX_ETHTYPE, 3);
	make_frame(small, src, RX_ETHTYPE, 4);
	expect(sendto(s, big, FRAME_LEN, 0, (struct sockaddr *)&sll, sizeof(sll)) == FRAME_LEN,
	       "sendto: %s", strerror(errno));
	expect(poll(&p, 1, POLL_MS) == 1, "the big frame never reached the tap fd");
	rc = virtio_net__rx(net, &chain, &written, why, sizeof(why));
	expect(rc == 0, "a 60-byte frame in a 40-byte buffer: rx returned %d, written %u", rc,
	       written);
	expect(sendto(s, small, 40, 0, (struct sockaddr *)&sll, sizeof(sll)) == 40, "sendto: %s",
	       strerror(errno));
	expect(poll(&p, 1, POLL_MS) == 1, "the small frame never reached the tap fd");
	rc = virtio_net__rx(net, &chain, &written, why, sizeof(why));
	expect(rc == 1 && written == HDR_LEN + 40, "small frame: rx %d written %u", rc, written);
	expect(!memcmp(vring_hva(&ring, gpa[0] + HDR_LEN), small, 40),
	       "the buffer does not hold the small frame");
	virtio_net__close(net);
	vring_dispose(&ring);
}

START_TEST(test_oversize)
{
	run_in_netns(oversize_dropped);
}
END_TEST

/* Chains no driver may post: each is refused with -EPROTO (the device is then broken). */
static void bad_chains(void)
{
	static const struct {
		struct vring_seg segs[2];
		unsigned int n;
		int rx;
	} cases[] = {
	    {{{HDR_LEN, 0}, {64, 1}}, 2, 0}, /* TX with a writable part */
	    {{{HDR_LEN - 1, 0}}, 1, 0},	     /* TX shorter than its header */
	    {{{HDR_LEN, 0}, {64, 1}}, 2, 1}, /* RX with a readable part */
	    {{{HDR_LEN, 1}}, 1, 1},	     /* RX with no room for a frame */
	};
	struct virtio_net *net = open_nic();
	uint32_t written;
	uint64_t gpa[2];
	char why[160];

	vring_init(&ring);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int rc;

		why[0] = '\0';
		vring_post(&ring, cases[i].segs, cases[i].n, gpa);
		expect(virtqueue__pop(&ring.vq, &chain) == 1, "pop: %s", ring.vq.error);
		rc = cases[i].rx ? virtio_net__rx(net, &chain, &written, why, sizeof(why))
				 : virtio_net__tx(net, &chain, why, sizeof(why));
		expect(rc == -EPROTO && why[0], "case %zu: %d '%s'", i, rc, why);
	}
	virtio_net__close(net);
	vring_dispose(&ring);
}

START_TEST(test_bad_chains)
{
	run_in_netns(bad_chains);
}
END_TEST

Suite *virtio_net_suite(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *tc = tcase_create("netns");

	tcase_add_test(tc, test_tx);
	tcase_add_test(tc, test_rx);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_bad_chains);
	suite_add_tcase(s, tc);
	return s;
}
