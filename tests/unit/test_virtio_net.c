/* Unit tests for virtio-net: frames between a hand-built ring and a tap in a throwaway netns. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include "iobus.h"
#include "ioloop.h"
#include "layout.h"
#include "memory.h"
#include "netns_fixture.h"
#include "pci.h"
#include "suites.h"
#include "util.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "virtio_serve.h"
#include "vm.h"
#include "vring_fixture.h"

#define TAP	   "twnet0"
#define TX_ETHTYPE 0x88b5 /* IEEE local experimental: nothing else sends these */
#define RX_ETHTYPE 0x88b6
#define HDR_LEN	   12
#define FRAME_LEN  60
#define POLL_MS	   5000 /* a bound on a kernel hand-off that is immediate in practice */
#define BUDGET	   4	/* frames one virtio_net__rx call may read in these tests */

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static struct vring ring;
static struct vq_chain chain;

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

	p.fd = netns_packet_socket(TAP, &sll);
	p.events = POLLIN;
	vring_init(&ring);
	netns_make_frame(frame, FRAME_LEN, mac, TX_ETHTYPE, 1);
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
	int s = netns_packet_socket(TAP, &sll), rc;

	vring_init(&ring);
	vring_post(&ring, segs, 2, gpa);
	expect(virtqueue__pop(&ring.vq, &chain) == 1, "pop: %s", ring.vq.error);
	rc = virtio_net__rx(net, &chain, &written, &(unsigned int){BUDGET}, why, sizeof(why));
	expect(rc == 0, "rx from an empty tap returned %d", rc);
	netns_make_frame(frame, FRAME_LEN, src, RX_ETHTYPE, 9);
	expect(sendto(s, frame, FRAME_LEN, 0, (struct sockaddr *)&sll, sizeof(sll)) == FRAME_LEN,
	       "sendto %s: %s", TAP, strerror(errno));
	expect(poll(&p, 1, POLL_MS) == 1, "the frame sent on %s never reached the tap fd", TAP);
	rc = virtio_net__rx(net, &chain, &written, &(unsigned int){BUDGET}, why, sizeof(why));
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
	int s = netns_packet_socket(TAP, &sll), rc;

	vring_init(&ring);
	vring_post(&ring, segs, 1, gpa);
	expect(virtqueue__pop(&ring.vq, &chain) == 1, "pop: %s", ring.vq.error);
	netns_make_frame(big, FRAME_LEN, src, RX_ETHTYPE, 3);
	netns_make_frame(small, FRAME_LEN, src, RX_ETHTYPE, 4);
	expect(sendto(s, big, FRAME_LEN, 0, (struct sockaddr *)&sll, sizeof(sll)) == FRAME_LEN,
	       "sendto: %s", strerror(errno));
	expect(poll(&p, 1, POLL_MS) == 1, "the big frame never reached the tap fd");
	rc = virtio_net__rx(net, &chain, &written, &(unsigned int){BUDGET}, why, sizeof(why));
	expect(rc == 0, "a 60-byte frame in a 40-byte buffer: rx returned %d, written %u", rc,
	       written);
	expect(sendto(s, small, 40, 0, (struct sockaddr *)&sll, sizeof(sll)) == 40, "sendto: %s",
	       strerror(errno));
	expect(poll(&p, 1, POLL_MS) == 1, "the small frame never reached the tap fd");
	rc = virtio_net__rx(net, &chain, &written, &(unsigned int){BUDGET}, why, sizeof(why));
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

/*
 * A tap flooded with oversize frames: one call reads at most its budget, and
 * calls with fresh budgets (the level-triggered tap's wakeups) still drain it,
 * delivering the good frames behind the flood in order.
 */
#define FLOOD 10
static void oversize_flood(void)
{
	const struct vring_seg segs[] = {{HDR_LEN + 40, 1}};
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 4};
	struct virtio_net *net = open_nic();
	struct pollfd p = {.fd = virtio_net__tap_fd(net), .events = POLLIN};
	uint8_t frame[FRAME_LEN];
	struct sockaddr_ll sll;
	unsigned int budget, calls = 0;
	uint32_t written = 0;
	uint64_t gpa[1];
	char why[160];
	int s = netns_packet_socket(TAP, &sll), rc;

	vring_init(&ring);
	vring_post(&ring, segs, 1, gpa);
	expect(virtqueue__pop(&ring.vq, &chain) == 1, "pop: %s", ring.vq.error);
	for (int i = 0; i < FLOOD + 2; i++) {
		size_t len = i < FLOOD ? FRAME_LEN : 40;

		netns_make_frame(frame, FRAME_LEN, src, RX_ETHTYPE, (uint8_t)i);
		expect(sendto(s, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) ==
			   (ssize_t)len,
		       "sendto: %s", strerror(errno));
	}
	for (int good = FLOOD; good < FLOOD + 2; good++) {
		do {
			expect(poll(&p, 1, POLL_MS) == 1, "the tap ran dry after %u calls", calls);
			budget = BUDGET;
			rc = virtio_net__rx(net, &chain, &written, &budget, why, sizeof(why));
			calls++;
			expect(rc == 1 || (rc == 0 && budget == 0),
			       "call %u: rx %d with %u of its budget left", calls, rc, budget);
		} while (rc == 0);
		netns_make_frame(frame, FRAME_LEN, src, RX_ETHTYPE, (uint8_t)good);
		expect(written == HDR_LEN + 40 &&
			   !memcmp(vring_hva(&ring, gpa[0] + HDR_LEN), frame, 40),
		       "call %u: written %u, or not good frame %d", calls, written, good);
	}
	/* The first good frame shares the call that drops the flood's tail. */
	expect(calls == (FLOOD + BUDGET - 1) / BUDGET + 1, "%u calls, want %d: a call overspent",
	       calls, (FLOOD + BUDGET - 1) / BUDGET + 1);
	expect(poll(&p, 1, 0) == 0, "frames left in the tap");
	virtio_net__close(net);
	vring_dispose(&ring);
}

START_TEST(test_oversize_flood)
{
	run_in_netns(oversize_flood);
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
		rc = cases[i].rx ? virtio_net__rx(net, &chain, &written, &(unsigned int){BUDGET},
						  why, sizeof(why))
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

/*
 * Through the real transport (needs KVM): a host-side "driver" brings the NIC up by
 * MMIO, the way a guest would, and the device serves its queues on the I/O thread.
 */
#define QSIZE	 128	     /* room for more TX chains than one batch */
#define RX_RINGS 0x200000ull /* desc, avail, used 4 KiB apart */
#define TX_RINGS 0x210000ull
#define BUFS	 0x300000ull
#define WAIT_MS	 5000

static struct vm *vm;

static uint64_t mmio_rd(uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	iobus__access(&vm->mmio, NULL, addr, &v, len, 0);
	return v;
}

static void mmio_wr(uint64_t addr, uint64_t v, uint32_t len)
{
	iobus__access(&vm->mmio, NULL, addr, &v, len, 1);
}

static uint32_t cfg_rd(uint32_t reg, uint32_t len)
{
	/* Slot 1: the only device in this VM. */
	return (uint32_t)mmio_rd(LAYOUT_PCI_ECAM + (1 << 15) + reg, len);
}

static uint8_t *ram(uint64_t gpa)
{
	uint8_t *p = memory__gpa_to_hva(vm, gpa, 1);

	expect(p != NULL, "GPA 0x%llx is not RAM", (unsigned long long)gpa);
	return p;
}

/* The modern common config and notify region, found through the capabilities. */
struct nic_regs {
	uint64_t common, notify, device;
	uint32_t notify_mult;
};

static void find_regs(struct nic_regs *r)
{
	uint64_t bar = 0;

	expect(cfg_rd(PCI_DEVICE_ID, 2) == 0x1041, "slot 1 is not a modern virtio-net");
	for (uint32_t p = cfg_rd(PCI_CAPABILITY_LIST, 1); p; p = cfg_rd(p + 1, 1)) {
		uint32_t type = cfg_rd(p + 3, 1), off = cfg_rd(p + 8, 4);

		bar = cfg_rd(PCI_BAR0 + 4 * cfg_rd(p + 4, 1), 4) & ~0xfu;
		if (type == 1)
			r->common = bar + off;
		else if (type == 2)
			r->notify = bar + off, r->notify_mult = cfg_rd(p + 16, 4);
		else if (type == 4)
			r->device = bar + off;
	}
	expect(r->common && r->notify && r->device, "virtio capabilities missing");
}

static void setup_queue(const struct nic_regs *r, uint16_t q, uint64_t rings)
{
	mmio_wr(r->common + 0x16, q, 2); /* queue_select */
	mmio_wr(r->common + 0x18, QSIZE, 2);
	mmio_wr(r->common + 0x20, rings, 8);
	mmio_wr(r->common + 0x28, rings + 0x1000, 8);
	mmio_wr(r->common + 0x30, rings + 0x2000, 8);
	mmio_wr(r->common + 0x1c, 1, 2); /* queue_enable */
}

static void notify(const struct nic_regs *r, uint16_t q)
{
	uint64_t off;

	mmio_wr(r->common + 0x16, q, 2);
	off = mmio_rd(r->common + 0x1e, 2);
	mmio_wr(r->notify + off * r->notify_mult, q, 2);
}

/* Offers one chain of n descriptors at buffer GPAs buf[], lengths len[], WRITE if rx. */
static void offer_chain(uint64_t rings, uint16_t *next_desc, uint16_t *avail_idx,
			const uint64_t *buf, const uint32_t *len, unsigned int n, int rx)
{
	uint16_t head = *next_desc % QSIZE, *avail = (uint16_t *)ram(rings + 0x1000);

	for (unsigned int i = 0; i < n; i++) {
		uint8_t *d = ram(rings + 16ull * (*next_desc % QSIZE));
		uint16_t flags =
		    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | (rx ? VIRTQ_DESC_F_WRITE : 0);
		uint16_t nx = (*next_desc + 1) % QSIZE;

		memcpy(d, &buf[i], 8);
		memcpy(d + 8, &len[i], 4);
		memcpy(d + 12, &flags, 2);
		memcpy(d + 14, &nx, 2);
		(*next_desc)++;
	}
	avail[2 + *avail_idx % QSIZE] = head;
	__atomic_store_n(&avail[1], ++*avail_idx, __ATOMIC_RELEASE);
}

static uint16_t used_idx(uint64_t rings)
{
	return __atomic_load_n((uint16_t *)ram(rings + 0x2002), __ATOMIC_ACQUIRE);
}

/* Polls until the used ring reaches idx; the bound only turns a hang into a failure. */
static void wait_used(uint64_t rings, uint16_t idx, const char *what)
{
	for (int ms = 0; used_idx(rings) != idx; ms++) {
		expect(ms < WAIT_MS, "%s: used idx %u, want %u", what, used_idx(rings), idx);
		usleep(1000);
	}
}

static uint64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1000000ull + ru.ru_utime.tv_usec +
	       ru.ru_stime.tv_sec * 1000000ull + ru.ru_stime.tv_usec;
}

/* Brings the NIC in slot 1 to DRIVER_OK as a driver would: VERSION_1, EVENT_IDX, both queues. */
static void nic_up(struct nic_regs *r)
{
	find_regs(r);
	mmio_wr(r->common + 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	mmio_wr(r->common + 0x08, 0, 4);
	mmio_wr(r->common + 0x0c, 1u << 5 | 1u << 16 | 1u << VIRTIO_RING_F_EVENT_IDX, 4);
	mmio_wr(r->common + 0x08, 1, 4);
	mmio_wr(r->common + 0x0c, 1, 4); /* VERSION_1 */
	mmio_wr(r->common + 0x14, 1 | 2 | VIRTIO_STATUS_FEATURES_OK, 1);
	expect(mmio_rd(r->common + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK, "FEATURES_OK refused");
	setup_queue(r, VIRTIO_NET_RXQ, RX_RINGS);
	setup_queue(r, VIRTIO_NET_TXQ, TX_RINGS);
	mmio_wr(r->common + 0x14, 1 | 2 | 8 | VIRTIO_STATUS_DRIVER_OK, 1);
}

static void through_transport(void)
{
	struct vm_config cfg = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = -1};
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 3};
	uint16_t rx_desc = 0, rx_avail = 0, tx_desc = 0, tx_avail = 0;
	uint8_t frames[3][FRAME_LEN], got[2048];
	struct virtio_net *net;
	struct sockaddr_ll sll;
	struct nic_regs r = {0};
	struct pollfd p;
	uint64_t before;
	char err[256];
	int s, tap;

	expect(vm__create(&cfg, &vm) == 0, "vm__create failed (needs /dev/kvm)");
	expect(virtio_net__open(TAP, NULL, mac, 0, &net, err, sizeof(err)) == 0, "%s", err);
	tap = virtio_net__tap_fd(net);
	expect(virtio_net__register(net, vm, false) == 0, "virtio_net__register failed");
	expect(ioloop__start(vm->ioloop) == 0, "ioloop__start failed");
	s = netns_packet_socket(TAP, &sll);
	nic_up(&r);
	expect(mmio_rd(r.device, 4) == 0x12005452 && mmio_rd(r.device + 4, 2) == 0x5634 &&
		   mmio_rd(r.device + 6, 2) == 1,
	       "config space: %08llx %04llx %04llx, want MAC 52:54:00:12:34:56 then LINK_UP",
	       (unsigned long long)mmio_rd(r.device, 4),
	       (unsigned long long)mmio_rd(r.device + 4, 2),
	       (unsigned long long)mmio_rd(r.device + 6, 2));

	/* Frames arrive while the driver has posted no RX buffer: they wait in the tap. */
	for (int i = 0; i < 3; i++) {
		netns_make_frame(frames[i], FRAME_LEN, src, RX_ETHTYPE, (uint8_t)(40 + i));
		expect(sendto(s, frames[i], FRAME_LEN, 0, (struct sockaddr *)&sll, sizeof(sll)) ==
			   FRAME_LEN,
		       "sendto: %s", strerror(errno));
	}
	p = (struct pollfd){.fd = tap, .events = POLLIN};
	before = cpu_us();
	/* A window to watch the idle device in, not a synchronisation. */
	expect(poll(&p, 1, 300) == 1, "the frames never reached the tap");
	usleep(500 * 1000);
	expect(cpu_us() - before < 100000,
	       "%llu us of CPU in 500 ms: the device spins without "
	       "RX buffers",
	       (unsigned long long)(cpu_us() - before));
	expect(used_idx(RX_RINGS) == 0, "frames were delivered without buffers");
	expect(poll(&p, 1, 0) == 1, "the waiting frames left the tap (dropped?)");

	/* The driver posts buffers and notifies: all three land, in order, whole. */
	for (int i = 0; i < 3; i++) {
		uint64_t buf = BUFS + 0x1000ull * i;
		uint32_t len = 1526;

		memset(ram(buf), 0xee, len);
		offer_chain(RX_RINGS, &rx_desc, &rx_avail, &buf, &len, 1, 1);
	}
	notify(&r, VIRTIO_NET_RXQ);
	wait_used(RX_RINGS, 3, "RX after the buffers came");
	for (int i = 0; i < 3; i++) {
		uint32_t len;
		uint16_t nb;

		memcpy(&len, ram(RX_RINGS + 0x2000 + 4 + 8 * i + 4), 4);
		memcpy(&nb, ram(BUFS + 0x1000ull * i + 10), 2);
		expect(len == HDR_LEN + FRAME_LEN && nb == 1, "RX %d: len %u num_buffers %u", i,
		       len, nb);
		expect(!memcmp(ram(BUFS + 0x1000ull * i + HDR_LEN), frames[i], FRAME_LEN),
		       "RX buffer %d holds another frame", i);
	}

	/* TX: one frame through the queue reaches the tap's host side. */
	{
		uint64_t bufs[2] = {BUFS + 0x10000, BUFS + 0x11000};
		uint32_t lens[2] = {HDR_LEN, FRAME_LEN};
		ssize_t n = 0;

		memset(ram(bufs[0]), 0, HDR_LEN);
		netns_make_frame(ram(bufs[1]), FRAME_LEN, mac, TX_ETHTYPE, 77);
		offer_chain(TX_RINGS, &tx_desc, &tx_avail, bufs, lens, 2, 0);
		notify(&r, VIRTIO_NET_TXQ);
		wait_used(TX_RINGS, 1, "TX");
		p = (struct pollfd){.fd = s, .events = POLLIN};
		while (!(n == FRAME_LEN && got[12] == TX_ETHTYPE >> 8)) {
			expect(poll(&p, 1, WAIT_MS) == 1, "the TX frame never reached the tap");
			n = recv(s, got, sizeof(got), 0);
		}
		expect(!memcmp(got, ram(bufs[1]), FRAME_LEN), "the TX frame changed on its way");
	}

	/* A readable descriptor in the RX queue breaks the device, logged, VMM alive. */
	{
		uint64_t buf = BUFS + 0x20000;
		uint32_t len = 1526;

		offer_chain(RX_RINGS, &rx_desc, &rx_avail, &buf, &len, 1, 0);
		notify(&r, VIRTIO_NET_RXQ);
		expect(sendto(s, frames[0], FRAME_LEN, 0, (struct sockaddr *)&sll, sizeof(sll)) ==
			   FRAME_LEN,
		       "sendto: %s", strerror(errno));
		for (int ms = 0; !(mmio_rd(r.common + 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
		     ms++) {
			expect(ms < WAIT_MS, "a readable RX descriptor did not break the device");
			usleep(1000);
		}
		expect(used_idx(RX_RINGS) == 3, "the bad chain was used");
	}
	vm__destroy(vm);
	close(s);
}

START_TEST(test_transport)
{
	run_in_netns(through_transport);
}
END_TEST

/*
 * A TX ring holding more chains than a batch: with the I/O loop driven by
 * hand (not started), one queue_notify sends at most VIRTIO_SERVE_BATCH, and
 * re-running it while the queue's eventfd is signalled sends every frame once,
 * in order.
 */
#define TX_CHAINS (VIRTIO_SERVE_BATCH + VIRTIO_SERVE_BATCH / 2)
static void tx_batches(void)
{
	struct vm_config cfg = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = -1};
	uint16_t tx_desc = 0, tx_avail = 0, used;
	uint8_t frame[FRAME_LEN], got[2048];
	struct virtio_dev *vdev;
	struct virtio_net *net;
	struct sockaddr_ll sll;
	struct nic_regs r = {0};
	unsigned int calls = 0;
	struct pollfd p;
	char err[256];
	uint64_t n;

	expect(vm__create(&cfg, &vm) == 0, "vm__create failed (needs /dev/kvm)");
	expect(virtio_net__open(TAP, NULL, mac, 0, &net, err, sizeof(err)) == 0, "%s", err);
	vdev = virtio_net__vdev(net);
	expect(virtio_net__register(net, vm, false) == 0, "virtio_net__register failed");
	p = (struct pollfd){.fd = netns_packet_socket(TAP, &sll), .events = POLLIN};
	nic_up(&r);
	for (int i = 0; i < TX_CHAINS; i++) {
		uint64_t buf = BUFS + 0x100ull * i;
		uint32_t len = HDR_LEN + FRAME_LEN;

		memset(ram(buf), 0, HDR_LEN);
		netns_make_frame(ram(buf + HDR_LEN), FRAME_LEN, mac, TX_ETHTYPE, (uint8_t)i);
		offer_chain(TX_RINGS, &tx_desc, &tx_avail, &buf, &len, 1, 0);
	}
	notify(&r, VIRTIO_NET_TXQ);
	/* The I/O loop's queue_event: read the eventfd, then call queue_notify. */
	while (read(vdev->queues[VIRTIO_NET_TXQ].notify_fd, &n, sizeof(n)) == sizeof(n)) {
		used = used_idx(TX_RINGS);
		vdev->ops->queue_notify(vdev, VIRTIO_NET_TXQ);
		calls++;
		expect((uint16_t)(used_idx(TX_RINGS) - used) <= VIRTIO_SERVE_BATCH,
		       "call %u sent %u chains, more than a batch of %d", calls,
		       (uint16_t)(used_idx(TX_RINGS) - used), VIRTIO_SERVE_BATCH);
	}
	expect(used_idx(TX_RINGS) == TX_CHAINS, "used idx %u, want %d", used_idx(TX_RINGS),
	       TX_CHAINS);
	/* Skip anything else the host stack put on the interface. */
	for (int i = 0; i < TX_CHAINS; i++) {
		ssize_t len = 0;

		while (!(len == FRAME_LEN && got[12] == TX_ETHTYPE >> 8 &&
			 got[13] == (TX_ETHTYPE & 0xff))) {
			expect(poll(&p, 1, WAIT_MS) == 1, "TX frame %d never reached the tap", i);
			len = recv(p.fd, got, sizeof(got), 0);
		}
		netns_make_frame(frame, FRAME_LEN, mac, TX_ETHTYPE, (uint8_t)i);
		expect(!memcmp(got, frame, FRAME_LEN), "the tap's TX frame %d is another one", i);
	}
	vm__destroy(vm);
	close(p.fd);
}

START_TEST(test_tx_batches)
{
	run_in_netns(tx_batches);
}
END_TEST

Suite *virtio_net_suite(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *tc = tcase_create("netns");

	tcase_add_test(tc, test_tx);
	tcase_add_test(tc, test_rx);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_oversize_flood);
	tcase_add_test(tc, test_bad_chains);
	suite_add_tcase(s, tc);
	tc = tcase_create("transport");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_transport);
	tcase_add_test(tc, test_tx_batches);
	suite_add_tcase(s, tc);
	return s;
}
