/* Check suite for transitional devices: blk, net and console driven through the 0.9.5 I/O BAR. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>
#include "iobus.h"
#include "ioloop.h"
#include "layout.h"
#include "memory.h"
#include "netns_fixture.h"
#include "pci.h"
#include "pci_fixture.h"
#include "suites.h"
#include "virtio_blk.h"
#include "virtio_console.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "vm.h"

/*
 * The legacy register block (virtio 0.9.5, no MSI-X) as an old driver knows
 * it: written out here rather than taken from the transport, so a transport
 * that moved a register fails these tests.
 */
#define L_HOST_FEATURES	 0
#define L_GUEST_FEATURES 4
#define L_QUEUE_PFN	 8
#define L_QUEUE_NUM	 12
#define L_QUEUE_SEL	 14
#define L_QUEUE_NOTIFY	 16
#define L_STATUS	 18
#define L_ISR		 19
#define L_CONFIG	 20
#define L_PAGE		 4096 /* PFN unit and used-ring alignment */

#define TAP	   "twleg0"
#define TX_ETHTYPE 0x88b5 /* IEEE local experimental: nothing else sends these */
#define RX_ETHTYPE 0x88b6
#define FRAME_LEN  60
#define WAIT_MS	   5000 /* bounds a hand-off that is immediate in practice: a hang fails */
#define OK_STATUS  (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK)

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* The driver's view of one legacy queue: contiguous rings from the PFN (virtio 0.9.5, 2.3). */
struct lq {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t next_desc, avail_idx;
};

/* One buffer of a chain: len bytes at gpa, device-writable or not. */
struct seg {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

static uint8_t *ram(uint64_t gpa)
{
	uint8_t *p = memory__gpa_to_hva(vm, gpa, 1);

	expect(p != NULL, "GPA 0x%llx is not RAM", (unsigned long long)gpa);
	return p;
}

static void make_vm(int console_fd)
{
	struct vm_config c = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = console_fd};

	expect(vm__create(&c, &vm) == 0, "vm__create failed (needs /dev/kvm)");
}

/* slot is transitional virtio device id: legacy PCI id, revision 0, I/O BAR 0; returns its base. */
static uint64_t legacy_io(unsigned int slot, uint16_t id, uint16_t pci_id)
{
	uint32_t bar0 = cfg_rd(slot, PCI_BAR0, 4);

	expect(cfg_rd(slot, PCI_VENDOR_ID, 2) == VIRTIO_PCI_VENDOR &&
		   cfg_rd(slot, PCI_DEVICE_ID, 2) == pci_id &&
		   cfg_rd(slot, PCI_REVISION_ID, 1) == 0 && cfg_rd(slot, PCI_SUBSYSTEM_ID, 2) == id,
	       "slot %u: device %04x revision %u subsystem %u, want transitional %04x rev 0 "
	       "subsystem %u",
	       slot, cfg_rd(slot, PCI_DEVICE_ID, 2), cfg_rd(slot, PCI_REVISION_ID, 1),
	       cfg_rd(slot, PCI_SUBSYSTEM_ID, 2), pci_id, id);
	expect(bar0 & PCI_BAR_IO_FLAG, "slot %u: BAR 0 (0x%x) is not an I/O BAR", slot, bar0);
	expect((bar0 & ~3u) >= PCI_PIO_START, "slot %u: I/O BAR at 0x%x", slot, bar0 & ~3u);
	return bar0 & ~3u;
}

/* slot is a modern-only virtio device id: modern PCI id, revision 1, and no I/O BAR at all. */
static void modern_only(unsigned int slot, uint16_t id)
{
	const uint32_t pci_id = VIRTIO_PCI_DEVICE_BASE + id;

	expect(cfg_rd(slot, PCI_DEVICE_ID, 2) == pci_id && cfg_rd(slot, PCI_REVISION_ID, 1) == 1,
	       "slot %u: device %04x revision %u, want modern %04x revision 1", slot,
	       cfg_rd(slot, PCI_DEVICE_ID, 2), cfg_rd(slot, PCI_REVISION_ID, 1), pci_id);
	for (unsigned int i = 0; i < PCI_NR_BARS; i++)
		expect(!(cfg_rd(slot, PCI_BAR0 + 4 * i, 4) & PCI_BAR_IO_FLAG),
		       "slot %u: BAR %u is an I/O BAR", slot, i);
	/* A driver sizing BAR 0 finds it unimplemented. */
	cfg_wr(slot, PCI_BAR0, 0xffffffff, 4);
	expect(cfg_rd(slot, PCI_BAR0, 4) == 0, "slot %u: BAR 0 sizes as 0x%x", slot,
	       cfg_rd(slot, PCI_BAR0, 4));
}

/* Where 0.9.5 puts the rings of a size-entry queue at pfn: used on the next 4 KiB boundary. */
static void lq_init(struct lq *q, uint32_t pfn, uint16_t size)
{
	*q = (struct lq){.size = size, .desc = (uint64_t)pfn * L_PAGE};
	q->avail = q->desc + 16ull * size;
	q->used = (q->avail + 6 + 2ull * size + L_PAGE - 1) & ~(uint64_t)(L_PAGE - 1);
}

/* Offers one chain of n buffers. */
static void lq_offer(struct lq *q, const struct seg *s, unsigned int n)
{
	uint16_t head = q->next_desc % q->size, *avail = (uint16_t *)ram(q->avail);

	for (unsigned int i = 0; i < n; i++) {
		uint8_t *d = ram(q->desc + 16ull * (q->next_desc % q->size));
		uint16_t flags =
		    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | (s[i].writable ? VIRTQ_DESC_F_WRITE : 0);
		uint16_t next = (q->next_desc + 1) % q->size;

		memcpy(d, &s[i].gpa, 8);
		memcpy(d + 8, &s[i].len, 4);
		memcpy(d + 12, &flags, 2);
		memcpy(d + 14, &next, 2);
		q->next_desc++;
	}
	avail[2 + q->avail_idx % q->size] = head;
	__atomic_store_n(&avail[1], ++q->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t lq_used_idx(const struct lq *q)
{
	return __atomic_load_n((uint16_t *)ram(q->used + 2), __ATOMIC_ACQUIRE);
}

/* The length the device reported for used entry i. */
static uint32_t lq_used_len(const struct lq *q, uint16_t i)
{
	uint32_t len;

	memcpy(&len, ram(q->used + 4 + 8ull * (i % q->size) + 4), 4);
	return len;
}

/* EVENT_IDX: where the device asked to be notified next (after the used ring). */
static uint16_t lq_avail_event(const struct lq *q)
{
	return __atomic_load_n((uint16_t *)ram(q->used + 4 + 8ull * q->size), __ATOMIC_ACQUIRE);
}

/* Polls until the used ring reaches idx; the bound only turns a hang into a failure. */
static void lq_wait(const struct lq *q, uint16_t idx, const char *what)
{
	for (int ms = 0; lq_used_idx(q) != idx; ms++) {
		expect(ms < WAIT_MS, "%s: used idx %u, want %u", what, lq_used_idx(q), idx);
		usleep(1000);
	}
}

/*
 * A legacy driver's bring-up in the 0.9.5 order: queues before features
 * (so the device must take the features at DRIVER_OK), then DRIVER_OK.
 */
static void legacy_bringup(uint64_t io, uint32_t features, const uint32_t *pfn, unsigned int nq,
			   struct lq *qs)
{
	wr(&vm->pio, io + L_STATUS, 0, 1);
	wr(&vm->pio, io + L_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	for (unsigned int q = 0; q < nq; q++) {
		uint16_t size;

		wr(&vm->pio, io + L_QUEUE_SEL, q, 2);
		size = (uint16_t)rd(&vm->pio, io + L_QUEUE_NUM, 2);
		expect(size && !(size & (size - 1)), "queue %u: size %u", q, size);
		wr(&vm->pio, io + L_QUEUE_PFN, pfn[q], 4);
		expect(rd(&vm->pio, io + L_QUEUE_PFN, 4) == pfn[q], "queue %u: PFN reads 0x%llx", q,
		       (unsigned long long)rd(&vm->pio, io + L_QUEUE_PFN, 4));
		lq_init(&qs[q], pfn[q], size);
	}
	wr(&vm->pio, io + L_GUEST_FEATURES, features, 4);
	expect(rd(&vm->pio, io + L_GUEST_FEATURES, 4) == features, "guest features read 0x%llx",
	       (unsigned long long)rd(&vm->pio, io + L_GUEST_FEATURES, 4));
	wr(&vm->pio, io + L_STATUS, OK_STATUS, 1);
	expect(rd(&vm->pio, io + L_STATUS, 1) == OK_STATUS, "status 0x%llx after DRIVER_OK",
	       (unsigned long long)rd(&vm->pio, io + L_STATUS, 1));
}

/* ---- virtio-blk ---- */

#define IMG_SECTORS 64
#define BLK_PFN	    0x200 /* rings at 2 MiB */
#define REQ_GPA	    0x300000ull

/* One request through the legacy queue: header, data, status in three descriptors. */
static uint8_t blk_request(uint64_t io, struct lq *q, uint32_t type, uint64_t sector, uint64_t data,
			   uint32_t len)
{
	struct virtio_blk_outhdr h = {.type = type, .sector = sector};
	uint64_t hdr = REQ_GPA, status = REQ_GPA + 0x100;
	const struct seg s[] = {
	    {hdr, sizeof(h), false},
	    {data, len, type == VIRTIO_BLK_T_IN},
	    {status, 1, true},
	};
	uint16_t used = lq_used_idx(q);

	memcpy(ram(hdr), &h, sizeof(h));
	*ram(status) = 0xff;
	lq_offer(q, s, 3);
	wr(&vm->pio, io + L_QUEUE_NOTIFY, 0, 2);
	lq_wait(q, used + 1, "blk request");
	expect(lq_used_len(q, used) == (type == VIRTIO_BLK_T_IN ? len + 1 : 1),
	       "request type %u: used len %u", type, lq_used_len(q, used));
	return *ram(status);
}

static void blk_legacy(void)
{
	const uint32_t offer =
	    1u << VIRTIO_BLK_F_SEG_MAX | 1u << VIRTIO_BLK_F_FLUSH | 1u << VIRTIO_RING_F_EVENT_IDX;
	const uint32_t pfn[1] = {BLK_PFN};
	char img[] = "/tmp/twin-legacy-blk.XXXXXX", err[256];
	uint8_t pattern[1024], back[1024];
	struct virtio_blk *blk;
	struct lq q;
	uint64_t io;
	int fd = mkstemp(img), ms;

	expect(fd >= 0 && ftruncate(fd, IMG_SECTORS * VIRTIO_BLK_SECTOR_SIZE) == 0, "image: %s",
	       strerror(errno));
	make_vm(-1);
	expect(virtio_blk__open(img, false, 0, &blk, err, sizeof(err)) == 0, "%s", err);
	expect(virtio_blk__register(blk, vm, true) == 0, "virtio_blk__register failed");
	expect(ioloop__start(vm->ioloop) == 0, "ioloop__start failed");
	unlink(img); /* fd and the device keep it */
	io = legacy_io(1, VIRTIO_ID_BLOCK, 0x1001);

	/* 32 feature bits: no VERSION_1 for a legacy driver to see. */
	expect(rd(&vm->pio, io + L_HOST_FEATURES, 4) == offer, "host features 0x%llx, want 0x%x",
	       (unsigned long long)rd(&vm->pio, io + L_HOST_FEATURES, 4), offer);
	/* The config right after the registers: capacity, then seg_max at its 0.9.5 offset. */
	expect(rd(&vm->pio, io + L_CONFIG, 4) == IMG_SECTORS &&
		   rd(&vm->pio, io + L_CONFIG + 4, 4) == 0,
	       "capacity reads %llu", (unsigned long long)rd(&vm->pio, io + L_CONFIG, 4));
	expect(rd(&vm->pio, io + L_CONFIG + offsetof(struct virtio_blk_config, seg_max), 4) == 254,
	       "seg_max reads %llu",
	       (unsigned long long)rd(
		   &vm->pio, io + L_CONFIG + offsetof(struct virtio_blk_config, seg_max), 4));
	legacy_bringup(io, offer, pfn, 1, &q);
	expect(q.size == 256, "queue size %u", q.size);

	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	memcpy(ram(REQ_GPA + 0x1000), pattern, sizeof(pattern));
	expect(blk_request(io, &q, VIRTIO_BLK_T_OUT, 5, REQ_GPA + 0x1000, sizeof(pattern)) ==
		   VIRTIO_BLK_S_OK,
	       "write failed");
	expect(pread(fd, back, sizeof(back), 5 * VIRTIO_BLK_SECTOR_SIZE) == sizeof(back) &&
		   !memcmp(back, pattern, sizeof(back)),
	       "the image does not hold what the legacy driver wrote at sector 5");
	memset(ram(REQ_GPA + 0x2000), 0, sizeof(pattern));
	expect(blk_request(io, &q, VIRTIO_BLK_T_IN, 5, REQ_GPA + 0x2000, sizeof(pattern)) ==
		   VIRTIO_BLK_S_OK,
	       "read failed");
	expect(!memcmp(ram(REQ_GPA + 0x2000), pattern, sizeof(pattern)),
	       "reading sector 5 back returned other bytes");
	/*
	 * EVENT_IDX was accepted after the PFN: the device still uses it, asking
	 * for a notify at avail idx 2 once it found the ring empty.
	 */
	for (ms = 0; lq_avail_event(&q) != 2 && ms < WAIT_MS; ms++)
		usleep(1000);
	expect(lq_avail_event(&q) == 2, "avail_event %u, want 2: EVENT_IDX ignored",
	       lq_avail_event(&q));
	/* ISR says "used buffers" once, then reset through the status register clears the PFN. */
	expect(rd(&vm->pio, io + L_ISR, 1) == 1, "ISR did not report the used buffers");
	wr(&vm->pio, io + L_STATUS, 0, 1);
	expect(rd(&vm->pio, io + L_QUEUE_PFN, 4) == 0 && rd(&vm->pio, io + L_STATUS, 1) == 0,
	       "reset left the queue or status set");
	vm__destroy(vm);
	close(fd);
}

START_TEST(test_blk)
{
	run_in_netns(blk_legacy);
}
END_TEST

/* A PFN whose rings leave guest RAM breaks the device (NEEDS_RESET); a reset recovers it. */
static void blk_bad_pfn(void)
{
	const uint32_t pfn[1] = {BLK_PFN};
	char img[] = "/tmp/twin-legacy-pfn.XXXXXX", err[256];
	struct virtio_blk *blk;
	struct lq q;
	uint64_t io;
	int fd = mkstemp(img);

	expect(fd >= 0 && ftruncate(fd, IMG_SECTORS * VIRTIO_BLK_SECTOR_SIZE) == 0, "image: %s",
	       strerror(errno));
	make_vm(-1);
	expect(virtio_blk__open(img, false, 0, &blk, err, sizeof(err)) == 0, "%s", err);
	expect(virtio_blk__register(blk, vm, true) == 0, "virtio_blk__register failed");
	expect(ioloop__start(vm->ioloop) == 0, "ioloop__start failed");
	unlink(img);
	close(fd);
	io = legacy_io(1, VIRTIO_ID_BLOCK, 0x1001);
	wr(&vm->pio, io + L_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	wr(&vm->pio, io + L_QUEUE_SEL, 0, 2);
	wr(&vm->pio, io + L_QUEUE_PFN, (16 << 20) / L_PAGE - 1, 4); /* the last page of RAM */
	expect(rd(&vm->pio, io + L_STATUS, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET,
	       "rings running past RAM did not break the device");
	expect(rd(&vm->pio, io + L_QUEUE_PFN, 4) == 0, "the bad queue reads as enabled");
	legacy_bringup(io, 0, pfn, 1, &q);
	vm__destroy(vm);
}

START_TEST(test_blk_bad_pfn)
{
	run_in_netns(blk_bad_pfn);
}
END_TEST

/* ---- virtio-console ---- */

static void console_legacy(void)
{
	const uint32_t pfn[2] = {0x200, 0x210};
	const char text[] = "legacy hvc0\n";
	struct pollfd p;
	struct lq q[2];
	char got[64];
	uint64_t io;
	int sink[2];
	ssize_t n;

	expect(pipe(sink) == 0, "pipe: %s", strerror(errno));
	make_vm(sink[1]);
	expect(virtio_console__create(vm, true) == 0, "virtio_console__create failed");
	expect(ioloop__start(vm->ioloop) == 0, "ioloop__start failed");
	io = legacy_io(1, VIRTIO_ID_CONSOLE, 0x1003);
	expect(rd(&vm->pio, io + L_HOST_FEATURES, 4) == 1u << VIRTIO_RING_F_EVENT_IDX,
	       "host features 0x%llx", (unsigned long long)rd(&vm->pio, io + L_HOST_FEATURES, 4));
	/* An old driver that accepts nothing. */
	legacy_bringup(io, 0, pfn, 2, q);
	memcpy(ram(0x300000), text, sizeof(text) - 1);
	lq_offer(&q[1], &(struct seg){0x300000, sizeof(text) - 1, false}, 1);
	wr(&vm->pio, io + L_QUEUE_NOTIFY, 1, 2);
	lq_wait(&q[1], 1, "console transmit");
	p = (struct pollfd){.fd = sink[0], .events = POLLIN};
	expect(poll(&p, 1, WAIT_MS) == 1, "nothing reached the console sink");
	n = read(sink[0], got, sizeof(got));
	expect(n == sizeof(text) - 1 && !memcmp(got, text, n), "the sink got %zd other bytes", n);
	vm__destroy(vm);
	close(sink[0]);
	close(sink[1]);
}

START_TEST(test_console)
{
	run_in_netns(console_legacy);
}
END_TEST

/* ---- virtio-net ---- */

/* Waits for the frame on the tap's host side, skipping any other traffic. */
static void expect_on_tap(int s, const uint8_t *frame, const char *what)
{
	struct pollfd p = {.fd = s, .events = POLLIN};
	uint8_t got[2048];
	ssize_t n;

	for (;;) {
		expect(poll(&p, 1, WAIT_MS) == 1, "%s: the frame never reached the tap whole",
		       what);
		n = recv(s, got, sizeof(got), 0);
		expect(n >= 0, "recv: %s", strerror(errno));
		if (n == FRAME_LEN && !memcmp(got, frame, FRAME_LEN))
			return;
	}
}

/* The modern common config, notify region and notify multiplier of slot, from its capabilities. */
static void modern_regs(unsigned int slot, uint64_t *common, uint64_t *notify, uint32_t *mult)
{
	*common = *notify = 0;
	*mult = 0;
	for (uint32_t p = cfg_rd(slot, PCI_CAPABILITY_LIST, 1); p; p = cfg_rd(slot, p + 1, 1)) {
		uint64_t at = (cfg_rd(slot, PCI_BAR0 + 4 * cfg_rd(slot, p + 4, 1), 4) & ~0xfu) +
			      cfg_rd(slot, p + 8, 4);

		if (cfg_rd(slot, p + 3, 1) == 1) {
			*common = at;
		} else if (cfg_rd(slot, p + 3, 1) == 2) {
			*notify = at;
			*mult = cfg_rd(slot, p + 16, 4);
		}
	}
	expect(*common && *notify, "slot %u lost its modern capabilities", slot);
}

/*
 * After the legacy run, a modern driver on the same transitional NIC: with
 * VERSION_1 the header is 12 bytes again.  Only TX is set up.
 */
static void net_modern_tx(int s)
{
	const uint64_t rings = 0x400000, buf = 0x410000;
	struct lq tx = {.size = 16, .desc = rings, .avail = rings + 0x1000, .used = rings + 0x2000};
	uint8_t frame[FRAME_LEN];
	uint64_t common, notify;
	uint32_t mult;

	modern_regs(1, &common, &notify, &mult);
	wr(&vm->mmio, common + 0x14, 0, 1);
	wr(&vm->mmio, common + 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	wr(&vm->mmio, common + 0x08, 0, 4);
	wr(&vm->mmio, common + 0x0c, 1u << VIRTIO_NET_F_MAC, 4);
	wr(&vm->mmio, common + 0x08, 1, 4);
	wr(&vm->mmio, common + 0x0c, 1, 4); /* VERSION_1 */
	wr(&vm->mmio, common + 0x14, 3 | VIRTIO_STATUS_FEATURES_OK, 1);
	wr(&vm->mmio, common + 0x16, VIRTIO_NET_TXQ, 2);
	wr(&vm->mmio, common + 0x18, tx.size, 2);
	wr(&vm->mmio, common + 0x20, tx.desc, 8);
	wr(&vm->mmio, common + 0x28, tx.avail, 8);
	wr(&vm->mmio, common + 0x30, tx.used, 8);
	wr(&vm->mmio, common + 0x1c, 1, 2);
	wr(&vm->mmio, common + 0x14, 3 | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, 1);
	expect(rd(&vm->mmio, common + 0x14, 1) == (OK_STATUS | VIRTIO_STATUS_FEATURES_OK),
	       "modern bring-up on the transitional NIC: status 0x%llx",
	       (unsigned long long)rd(&vm->mmio, common + 0x14, 1));
	/* Header and frame in one descriptor: a wrong header size shifts the frame. */
	memset(ram(buf), 0, sizeof(struct virtio_net_hdr_v1));
	netns_make_frame(frame, FRAME_LEN, mac, TX_ETHTYPE, 99);
	memcpy(ram(buf + sizeof(struct virtio_net_hdr_v1)), frame, FRAME_LEN);
	lq_offer(&tx, &(struct seg){buf, sizeof(struct virtio_net_hdr_v1) + FRAME_LEN, false}, 1);
	wr(&vm->mmio, notify + mult * VIRTIO_NET_TXQ, VIRTIO_NET_TXQ, 2);
	lq_wait(&tx, 1, "modern TX");
	expect_on_tap(s, frame, "modern TX with the 12-byte header");
}

static void net_legacy(void)
{
	const uint32_t offer =
	    1u << VIRTIO_NET_F_MAC | 1u << VIRTIO_NET_F_STATUS | 1u << VIRTIO_RING_F_EVENT_IDX;
	const uint32_t pfn[2] = {0x200, 0x210};
	const size_t hdr = sizeof(struct virtio_net_hdr); /* 10: no VERSION_1, no MRG_RXBUF */
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 7};
	const uint64_t rx_buf = 0x300000, tx_buf = 0x310000;
	uint8_t frame[FRAME_LEN], zero[sizeof(struct virtio_net_hdr)] = {0};
	struct virtio_net *net;
	struct sockaddr_ll sll;
	struct lq q[2];
	char err[256];
	uint64_t io;
	int s;

	make_vm(-1);
	expect(virtio_net__open(TAP, NULL, mac, 0, &net, err, sizeof(err)) == 0, "%s", err);
	expect(virtio_net__register(net, vm, true) == 0, "virtio_net__register failed");
	expect(ioloop__start(vm->ioloop) == 0, "ioloop__start failed");
	s = netns_packet_socket(TAP, &sll);
	io = legacy_io(1, VIRTIO_ID_NET, 0x1000);
	expect(rd(&vm->pio, io + L_HOST_FEATURES, 4) == offer, "host features 0x%llx, want 0x%x",
	       (unsigned long long)rd(&vm->pio, io + L_HOST_FEATURES, 4), offer);
	/* The MAC, then the link status, at the start of the legacy config. */
	for (int i = 0; i < 6; i++)
		expect(rd(&vm->pio, io + L_CONFIG + i, 1) == mac[i], "config MAC byte %d", i);
	expect(rd(&vm->pio, io + L_CONFIG + 6, 2) == VIRTIO_NET_S_LINK_UP, "link status %llu",
	       (unsigned long long)rd(&vm->pio, io + L_CONFIG + 6, 2));
	/* Without EVENT_IDX this time: notifications follow the ring flags. */
	legacy_bringup(io, offer & ~(1u << VIRTIO_RING_F_EVENT_IDX), pfn, 2, q);

	/* RX: the frame lands right after a 10-byte header; nothing past it is touched. */
	memset(ram(rx_buf), 0xee, 1526);
	lq_offer(&q[VIRTIO_NET_RXQ], &(struct seg){rx_buf, 1526, true}, 1);
	wr(&vm->pio, io + L_QUEUE_NOTIFY, VIRTIO_NET_RXQ, 2);
	netns_make_frame(frame, FRAME_LEN, src, RX_ETHTYPE, 5);
	expect(sendto(s, frame, FRAME_LEN, 0, (struct sockaddr *)&sll, sizeof(sll)) == FRAME_LEN,
	       "sendto %s: %s", TAP, strerror(errno));
	lq_wait(&q[VIRTIO_NET_RXQ], 1, "legacy RX");
	expect(lq_used_len(&q[VIRTIO_NET_RXQ], 0) == hdr + FRAME_LEN, "RX used len %u, want %zu",
	       lq_used_len(&q[VIRTIO_NET_RXQ], 0), hdr + FRAME_LEN);
	expect(!memcmp(ram(rx_buf), zero, hdr), "the 10-byte RX header is not all zero");
	expect(!memcmp(ram(rx_buf + hdr), frame, FRAME_LEN), "the RX frame is not after 10 bytes");
	expect(*ram(rx_buf + hdr + FRAME_LEN) == 0xee, "RX wrote past the frame");

	/* TX: header and frame in one descriptor, so a 12-byte header would cut the frame. */
	memset(ram(tx_buf), 0, hdr);
	netns_make_frame(frame, FRAME_LEN, mac, TX_ETHTYPE, 6);
	memcpy(ram(tx_buf + hdr), frame, FRAME_LEN);
	lq_offer(&q[VIRTIO_NET_TXQ], &(struct seg){tx_buf, hdr + FRAME_LEN, false}, 1);
	wr(&vm->pio, io + L_QUEUE_NOTIFY, VIRTIO_NET_TXQ, 2);
	lq_wait(&q[VIRTIO_NET_TXQ], 1, "legacy TX");
	expect_on_tap(s, frame, "legacy TX with the 10-byte header");

	net_modern_tx(s);
	vm__destroy(vm);
	close(s);
}

START_TEST(test_net)
{
	run_in_netns(net_legacy);
}
END_TEST

/* ---- The default: modern-only devices offer old drivers nothing. ---- */

static void default_modern_only(void)
{
	char img[] = "/tmp/twin-legacy-modern.XXXXXX", err[256];
	struct virtio_blk *blk;
	struct virtio_net *net;
	int fd = mkstemp(img);

	expect(fd >= 0 && ftruncate(fd, 8 * VIRTIO_BLK_SECTOR_SIZE) == 0, "image: %s",
	       strerror(errno));
	make_vm(-1);
	expect(virtio_console__create(vm, false) == 0, "virtio_console__create failed");
	expect(virtio_net__open(TAP, NULL, mac, 0, &net, err, sizeof(err)) == 0, "%s", err);
	expect(virtio_net__register(net, vm, false) == 0, "virtio_net__register failed");
	expect(virtio_blk__open(img, false, 0, &blk, err, sizeof(err)) == 0, "%s", err);
	expect(virtio_blk__register(blk, vm, false) == 0, "virtio_blk__register failed");
	unlink(img);
	close(fd);
	modern_only(1, VIRTIO_ID_CONSOLE);
	modern_only(2, VIRTIO_ID_NET);
	modern_only(3, VIRTIO_ID_BLOCK);
	/* Nothing answers in the I/O BAR window: reads float high. */
	expect(rd(&vm->pio, PCI_PIO_START + L_HOST_FEATURES, 4) == 0xffffffff,
	       "something answers at I/O port 0x%x", PCI_PIO_START);
	vm__destroy(vm);
}

START_TEST(test_default_modern_only)
{
	run_in_netns(default_modern_only);
}
END_TEST

Suite *virtio_legacy_suite(void)
{
	Suite *s = suite_create("virtio_legacy");
	TCase *tc = tcase_create("io_bar");

	/* Each test runs in a child (in its own netns), which reports the failing line. */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_blk);
	tcase_add_test(tc, test_blk_bad_pfn);
	tcase_add_test(tc, test_console);
	tcase_add_test(tc, test_net);
	tcase_add_test(tc, test_default_modern_only);
	suite_add_tcase(s, tc);
	return s;
}
