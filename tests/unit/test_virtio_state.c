/* Virtio device state through devstate: round trips into a fresh VM, refusals, rewind (needs KVM).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "devstate.h"
#include "dirty.h"
#include "iobus.h"
#include "ioloop.h"
#include "layout.h"
#include "memory.h"
#include "pci.h"
#include "suites.h"
#include "virtio_blk.h"
#include "virtio_console.h"
#include "virtio_pci.h"
#include "vm.h"

#define RAM	      (16u << 20)
#define QSIZE	      16
#define DESC_GPA      0x200000ull
#define AVAIL_GPA     0x201000ull
#define USED_GPA      0x202000ull
#define HDR_GPA	      0x210000ull
#define DATA_GPA      0x220000ull /* one 512-byte sector per request, a page apart */
#define STATUS_GPA    0x240000ull
#define IMG_BYTES     (1u << 20)
#define HANG_GUARD_MS 20000
#define MAX_DEVS      8

/* One VM with a virtio-blk disk in slot 1 (a temp image) and where its registers are. */
struct side {
	struct vm *vm;
	char img[64];
	uint64_t common, notify; /* addresses in the modern BAR */
	uint32_t notify_mult;
};

static uint64_t rd(struct side *s, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	iobus__access(&s->vm->mmio, NULL, addr, &v, len, 0);
	return v;
}

static void wr(struct side *s, uint64_t addr, uint64_t v, uint32_t len)
{
	iobus__access(&s->vm->mmio, NULL, addr, &v, len, 1);
}

static uint32_t cfg_rd(struct side *s, uint32_t reg, uint32_t len)
{
	return (uint32_t)rd(s, LAYOUT_PCI_ECAM + (1u << 15) + reg, len);
}

static uint8_t *ram(struct side *s, uint64_t gpa)
{
	uint8_t *p = memory__gpa_to_hva(s->vm, gpa, 1);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* The virtio capabilities, found as a driver finds them. */
static void find_regs(struct side *s)
{
	uint64_t bar = pci__device(s->vm, 1)->bars[1].addr;

	for (uint32_t p = cfg_rd(s, PCI_CAPABILITY_LIST, 1); p; p = cfg_rd(s, p + 1, 1)) {
		uint32_t type = cfg_rd(s, p + 3, 1), off = cfg_rd(s, p + 8, 4);

		if (type == 1)
			s->common = bar + off;
		if (type == 2) {
			s->notify = bar + off;
			s->notify_mult = cfg_rd(s, p + 16, 4);
		}
	}
	ck_assert_uint_ne(s->common, 0);
	ck_assert_uint_ne(s->notify, 0);
}

static void side_create(struct side *s, uint64_t img_bytes, bool readonly)
{
	struct vm_config cfg = {.mem_size = RAM, .nr_vcpus = 1, .console_fd = -1};
	struct virtio_blk *blk;
	char err[256];
	int fd;

	memset(s, 0, sizeof(*s));
	snprintf(s->img, sizeof(s->img), "/tmp/twin-vstate-XXXXXX");
	fd = mkstemp(s->img);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)img_bytes), 0);
	close(fd);
	ck_assert_int_eq(vm__create(&cfg, &s->vm), 0);
	ck_assert_msg(virtio_blk__open(s->img, readonly, 0, &blk, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_int_eq(virtio_blk__register(blk, s->vm, false), 0);
	find_regs(s);
}

static void side_destroy(struct side *s)
{
	vm__destroy(s->vm);
	unlink(s->img);
}

/* A modern driver's bring-up: features with EVENT_IDX, queue 0 at the test rings, DRIVER_OK. */
static void bringup(struct side *s)
{
	uint64_t cc = s->common;

	wr(s, cc + 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	wr(s, cc + 0x08, 0, 4);
	wr(s, cc + 0x0c, 1u << VIRTIO_RING_F_EVENT_IDX, 4);
	wr(s, cc + 0x08, 1, 4);
	wr(s, cc + 0x0c, 1, 4); /* VERSION_1 */
	wr(s, cc + 0x14, 3 | VIRTIO_STATUS_FEATURES_OK, 1);
	wr(s, cc + 0x16, 0, 2);
	wr(s, cc + 0x18, QSIZE, 2);
	wr(s, cc + 0x20, DESC_GPA, 8);
	wr(s, cc + 0x28, AVAIL_GPA, 8);
	wr(s, cc + 0x30, USED_GPA, 8);
	wr(s, cc + 0x1c, 1, 2);
	wr(s, cc + 0x14, 3 | 8 | VIRTIO_STATUS_DRIVER_OK, 1);
	ck_assert_uint_eq(rd(s, cc + 0x14, 1), 3 | 8 | VIRTIO_STATUS_DRIVER_OK);
}

static void put_desc(struct side *s, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = ram(s, DESC_GPA + 16ull * i);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static uint16_t avail_idx(struct side *s)
{
	return *(uint16_t *)ram(s, AVAIL_GPA + 2);
}

static uint16_t used_idx(struct side *s)
{
	return __atomic_load_n((uint16_t *)ram(s, USED_GPA + 2), __ATOMIC_ACQUIRE);
}

/* Offers request n (a one-sector read of sector n) without notifying. */
static void post_read(struct side *s, uint16_t n)
{
	uint16_t head = (uint16_t)(3 * n % QSIZE), idx = avail_idx(s);
	uint8_t hdr[16] = {0}; /* type 0: T_IN */
	uint64_t sector = n;

	memcpy(hdr + 8, &sector, 8);
	memcpy(ram(s, HDR_GPA + 16ull * n), hdr, 16);
	put_desc(s, head, HDR_GPA + 16ull * n, 16, VIRTQ_DESC_F_NEXT, (head + 1) % QSIZE);
	put_desc(s, (head + 1) % QSIZE, DATA_GPA + 0x1000ull * n, 512,
		 VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (head + 2) % QSIZE);
	put_desc(s, (head + 2) % QSIZE, STATUS_GPA + n, 1, VIRTQ_DESC_F_WRITE, 0);
	memset(ram(s, DATA_GPA + 0x1000ull * n), 0xee, 512);
	*(uint16_t *)ram(s, AVAIL_GPA + 4 + 2 * (idx % QSIZE)) = head;
	__atomic_store_n((uint16_t *)ram(s, AVAIL_GPA + 2), (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static void notify(struct side *s)
{
	wr(s, s->notify, 0, 2);
}

/* Waits for the used idx to reach want (the I/O thread serves it), with a hang guard. */
static void wait_used(struct side *s, uint16_t want)
{
	for (int ms = 0; used_idx(s) != want; ms++) {
		ck_assert_msg(ms < HANG_GUARD_MS, "used idx stuck at %u, want %u", used_idx(s),
			      want);
		poll(NULL, 0, 1);
	}
}

/* The id and size of the virtio function in slot 1, from the VM's device list. */
static struct devstate_info virtio_info(struct side *s)
{
	struct devstate_info infos[MAX_DEVS];
	unsigned int n = devstate__list(s->vm, infos, MAX_DEVS);

	for (unsigned int i = 0; i < n; i++)
		if (infos[i].id == DEVSTATE_ID_VIRTIO(1))
			return infos[i];
	ck_abort_msg("no virtio function in slot 1 listed");
	return infos[0];
}

/* Saves every device of a paused VM into bufs (in list order). */
static unsigned int save_all(struct side *s, struct devstate_info *infos, void **bufs)
{
	unsigned int n = devstate__list(s->vm, infos, MAX_DEVS);

	for (unsigned int i = 0; i < n; i++) {
		bufs[i] = calloc(1, infos[i].size);
		ck_assert_ptr_nonnull(bufs[i]);
		ck_assert_int_eq(devstate__save(s->vm, infos[i].id, bufs[i], infos[i].size), 0);
	}
	return n;
}

static void free_all(void **bufs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		free(bufs[i]);
}

/* The list: PCI bus first, the UART, then each virtio function, with sizes and names. */
START_TEST(test_list_order)
{
	struct devstate_info infos[MAX_DEVS];
	struct side s;
	unsigned int n;

	side_create(&s, IMG_BYTES, false);
	ck_assert_int_eq(virtio_console__create(s.vm, false), 0);
	n = devstate__list(s.vm, infos, MAX_DEVS);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(infos[0].id, DEVSTATE_ID_PCI);
	ck_assert_uint_eq(infos[0].size, sizeof(struct pci_state));
	ck_assert_uint_eq(infos[1].id, DEVSTATE_ID_UART);
	ck_assert_uint_eq(infos[2].id, DEVSTATE_ID_VIRTIO(1));
	ck_assert_uint_eq(infos[2].size,
			  sizeof(struct virtio_pci_state) + sizeof(struct virtio_blk_state));
	ck_assert_str_eq(infos[2].name, "virtio-blk 0");
	ck_assert_uint_eq(infos[3].id, DEVSTATE_ID_VIRTIO(2));
	ck_assert_uint_eq(infos[3].size, sizeof(struct virtio_pci_state));
	ck_assert_str_eq(infos[3].name, "virtio-console");
	ck_assert_uint_eq(devstate__list(s.vm, infos, 2), 2);
	side_destroy(&s);
}
END_TEST

/* A console (no state beyond the transport's) round trips; it does not go onto a disk. */
START_TEST(test_console_round_trip)
{
	struct vm_config cfg = {.mem_size = RAM, .nr_vcpus = 1, .console_fd = -1};
	struct devstate_info infos[MAX_DEVS];
	struct vm *src, *dst;
	struct side disk;
	uint8_t *a, *b;
	char err[256] = "";

	ck_assert_int_eq(vm__create(&cfg, &src), 0);
	ck_assert_int_eq(vm__create(&cfg, &dst), 0);
	ck_assert_int_eq(virtio_console__create(src, false), 0);
	ck_assert_int_eq(virtio_console__create(dst, false), 0);
	ck_assert_uint_eq(devstate__list(src, infos, MAX_DEVS), 3);
	a = calloc(1, infos[2].size);
	b = calloc(1, infos[2].size);
	ck_assert_int_eq(devstate__save(src, infos[2].id, a, infos[2].size), 0);
	ck_assert_uint_eq(((struct virtio_pci_state *)a)->device_id, VIRTIO_ID_CONSOLE);
	ck_assert_int_eq(devstate__restore(dst, infos[2].id, infos[2].version, a, infos[2].size,
					   err, sizeof(err)),
			 0);
	ck_assert_int_eq(devstate__save(dst, infos[2].id, b, infos[2].size), 0);
	ck_assert_mem_eq(a, b, infos[2].size);
	side_create(&disk, IMG_BYTES, false);
	ck_assert_int_eq(devstate__restore(disk.vm, infos[2].id, infos[2].version, a, infos[2].size,
					   err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "virtio-blk 0") && strstr(err, "same devices"), "%s", err);
	free(a);
	free(b);
	side_destroy(&disk);
	vm__destroy(src);
	vm__destroy(dst);
}
END_TEST

/*
 * A disk mid-run: one request served, one offered but not yet notified.  Its
 * state goes into a fresh VM (with the RAM copied, as a migration does): the
 * registers read back the same, the state saves back byte for byte, and after
 * resume the restored device serves the waiting request from the avail ring.
 */
START_TEST(test_blk_round_trip)
{
	struct devstate_info infos[MAX_DEVS];
	void *bufs[MAX_DEVS], *again;
	struct side src, dst;
	char err[256] = "";
	unsigned int n;

	side_create(&src, IMG_BYTES, false);
	side_create(&dst, IMG_BYTES, false);
	ck_assert_int_eq(ioloop__start(src.vm->ioloop), 0);
	bringup(&src);
	wr(&src, src.common + 0x16, 1, 2); /* a queue_sel the state must carry */
	post_read(&src, 0);
	notify(&src);
	wait_used(&src, 1);
	post_read(&src, 1); /* offered, never notified */
	ioloop__pause(src.vm->ioloop);
	n = save_all(&src, infos, bufs);

	memcpy(dst.vm->mem.base, src.vm->mem.base, RAM);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_msg(devstate__restore(dst.vm, infos[i].id, infos[i].version, bufs[i],
						infos[i].size, err, sizeof(err)) == 0,
			      "%s: %s", infos[i].name, err);
	/* The driver's view of the registers. */
	for (uint32_t off = 0; off < 0x38; off += 2)
		ck_assert_msg(rd(&src, src.common + off, 2) == rd(&dst, dst.common + off, 2),
			      "common config 0x%02x differs", off);
	wr(&src, src.common + 0x16, 0, 2);
	wr(&dst, dst.common + 0x16, 0, 2);
	for (uint32_t off = 0x18; off < 0x38; off += 2)
		ck_assert_msg(rd(&src, src.common + off, 2) == rd(&dst, dst.common + off, 2),
			      "queue 0 config 0x%02x differs", off);
	wr(&dst, dst.common + 0x16, 1, 2);
	/* Byte for byte (nothing was in flight, so nothing was rewound). */
	again = calloc(1, infos[2].size);
	ck_assert_int_eq(devstate__save(dst.vm, infos[2].id, again, infos[2].size), 0);
	ck_assert_mem_eq(again, bufs[2], infos[2].size);
	ck_assert_uint_eq(((struct virtio_pci_state *)again)->queues[0].used_idx, 1);
	ck_assert_uint_eq(((struct virtio_pci_state *)again)->queues[0].last_avail_idx, 1);

	/* Resumed, the restored disk finds the offered request on its own. */
	ck_assert_int_eq(devstate__resume(dst.vm), 0);
	ck_assert_int_eq(ioloop__start(dst.vm->ioloop), 0);
	wait_used(&dst, 2);
	ck_assert_uint_eq(*ram(&dst, STATUS_GPA + 1), 0);    /* VIRTIO_BLK_S_OK */
	ck_assert_uint_eq(*ram(&dst, DATA_GPA + 0x1000), 0); /* the image's zeros */
	ck_assert_uint_eq(used_idx(&src), 1); /* the source, paused, served nothing */
	ioloop__resume(src.vm->ioloop);
	free(again);
	free_all(bufs, n);
	side_destroy(&src);
	side_destroy(&dst);
}
END_TEST

/*
 * A chain popped but not used when the state was taken (a held RX buffer, a
 * request mid-flight) is popped again on the destination: last_avail is
 * rewound to the used idx, and the request runs once.
 */
START_TEST(test_in_flight_rewound)
{
	struct devstate_info info;
	struct virtio_pci_state *st;
	struct side src, dst;
	char err[256] = "";
	void *buf, *now;

	side_create(&src, IMG_BYTES, false);
	side_create(&dst, IMG_BYTES, false);
	bringup(&src);
	post_read(&src, 0);
	info = virtio_info(&src);
	buf = calloc(1, info.size);
	now = calloc(1, info.size);
	ck_assert_int_eq(devstate__save(src.vm, info.id, buf, info.size), 0);
	/* As if the I/O thread had popped request 0 and not pushed it yet. */
	st = buf;
	st->queues[0].last_avail_idx = 1;
	memcpy(dst.vm->mem.base, src.vm->mem.base, RAM);
	ck_assert_msg(
	    devstate__restore(dst.vm, info.id, info.version, buf, info.size, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(devstate__save(dst.vm, info.id, now, info.size), 0);
	ck_assert_uint_eq(((struct virtio_pci_state *)now)->queues[0].last_avail_idx, 0);
	ck_assert_uint_eq(((struct virtio_pci_state *)now)->queues[0].used_idx, 0);
	ck_assert_int_eq(devstate__resume(dst.vm), 0);
	ck_assert_int_eq(ioloop__start(dst.vm->ioloop), 0);
	wait_used(&dst, 1);
	ck_assert_uint_eq(*ram(&dst, STATUS_GPA), 0);
	free(buf);
	free(now);
	side_destroy(&src);
	side_destroy(&dst);
}
END_TEST

/*
 * The guest moved the disk's BAR: the restored VM decodes it at the new place
 * and its notify ioeventfds moved with it (pci__restore moves BARs the way a
 * guest's write does), so a notify there reaches the restored queue.
 */
START_TEST(test_moved_bar_ioeventfds)
{
	struct devstate_info infos[MAX_DEVS];
	void *bufs[MAX_DEVS];
	struct side src, dst;
	struct virtio_dev *vdev;
	char err[256] = "";
	uint64_t moved;
	unsigned int n;

	side_create(&src, IMG_BYTES, false);
	side_create(&dst, IMG_BYTES, false);
	moved = pci__device(src.vm, 1)->bars[1].addr + 0x100000;
	iobus__access(&src.vm->mmio, NULL, LAYOUT_PCI_ECAM + (1u << 15) + PCI_BAR0 + 4,
		      &(uint32_t){(uint32_t)moved}, 4, 1);
	ck_assert_uint_eq(pci__device(src.vm, 1)->bars[1].addr, moved);
	find_regs(&src);
	bringup(&src);
	n = save_all(&src, infos, bufs);
	memcpy(dst.vm->mem.base, src.vm->mem.base, RAM);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_msg(devstate__restore(dst.vm, infos[i].id, infos[i].version, bufs[i],
						infos[i].size, err, sizeof(err)) == 0,
			      "%s: %s", infos[i].name, err);
	vdev = virtio_dev__of_pci(pci__device(dst.vm, 1));
	ck_assert_ptr_nonnull(vdev);
	ck_assert_uint_eq(pci__device(dst.vm, 1)->bars[1].addr, moved);
	find_regs(&dst);
	ck_assert_uint_eq(dst.notify, src.notify);
	ck_assert_msg(vdev->ioeventfd, "KVM lacks KVM_CAP_IOEVENTFD (or the probe broke)");
	ck_assert_uint_eq(vdev->queues[0].ioeventfd_mmio, dst.notify);
	ck_assert_int_eq(devstate__resume(dst.vm), 0);
	ck_assert_int_eq(ioloop__start(dst.vm->ioloop), 0);
	post_read(&dst, 0);
	notify(&dst);
	wait_used(&dst, 1);
	free_all(bufs, n);
	side_destroy(&src);
	side_destroy(&dst);
}
END_TEST

/* Restores bad onto s and expects a refusal naming what, with the device state unchanged. */
static void expect_refused(struct side *s, const struct devstate_info *info, uint32_t version,
			   const void *bad, uint32_t size, const char *what)
{
	void *before = calloc(1, info->size), *after = calloc(1, info->size);
	char err[256] = "";

	ck_assert_int_eq(devstate__save(s->vm, info->id, before, info->size), 0);
	ck_assert_int_eq(devstate__restore(s->vm, info->id, version, bad, size, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, what), "error \"%s\" does not name \"%s\"", err, what);
	ck_assert_int_eq(devstate__save(s->vm, info->id, after, info->size), 0);
	ck_assert_mem_eq(before, after, info->size);
	free(before);
	free(after);
}

/* Another image size, another read-only setting, version, size, device, corrupt queues. */
START_TEST(test_refusals)
{
	struct side src, dst, big, ro;
	struct devstate_info info;
	struct virtio_pci_state *st;
	uint8_t *good, *bad;
	char err[256] = "";

	side_create(&src, IMG_BYTES, false);
	side_create(&dst, IMG_BYTES, false);
	side_create(&big, 2 * IMG_BYTES, false);
	side_create(&ro, IMG_BYTES, true);
	bringup(&src);
	bringup(&dst); /* so a refusal that changed anything would show */
	info = virtio_info(&src);
	good = calloc(1, info.size);
	bad = calloc(1, info.size);
	st = (struct virtio_pci_state *)bad;
	ck_assert_int_eq(devstate__save(src.vm, info.id, good, info.size), 0);

	expect_refused(&big, &info, info.version, good, info.size, "1048576");
	expect_refused(&big, &info, info.version, good, info.size, "2097152");
	expect_refused(&ro, &info, info.version, good, info.size, "read-only");
	expect_refused(&dst, &info, info.version + 1, good, info.size, "version");
	expect_refused(&dst, &info, info.version, good, info.size - 1, "bytes");
	memcpy(bad, good, info.size);
	st->version++;
	expect_refused(&dst, &info, info.version, bad, info.size, "version");
	memcpy(bad, good, info.size);
	st->device_id = VIRTIO_ID_NET;
	expect_refused(&dst, &info, info.version, bad, info.size, "same devices");
	memcpy(bad, good, info.size);
	st->queues[0].size = 3;
	expect_refused(&dst, &info, info.version, bad, info.size, "queue 0");
	memcpy(bad, good, info.size);
	st->queues[0].size = 2 * QSIZE * 16; /* above the device's maximum */
	expect_refused(&dst, &info, info.version, bad, info.size, "too large");
	memcpy(bad, good, info.size);
	st->queues[0].used_gpa = RAM; /* past the end of RAM */
	expect_refused(&dst, &info, info.version, bad, info.size, "outside guest RAM");
	memcpy(bad, good, info.size);
	st->queues[0].last_avail_idx = (uint16_t)(st->queues[0].used_idx + QSIZE + 1);
	expect_refused(&dst, &info, info.version, bad, info.size, "in flight");
	memcpy(bad, good, info.size);
	st->driver_features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	expect_refused(&dst, &info, info.version, bad, info.size, "corrupt");
	memcpy(bad, good, info.size);
	st->queues[1].size = 8; /* a queue the disk does not have */
	expect_refused(&dst, &info, info.version, bad, info.size, "corrupt");
	memcpy(bad, good, info.size);
	((struct virtio_blk_state *)(bad + sizeof(*st)))->version++;
	expect_refused(&dst, &info, info.version, bad, info.size, "disk state version");
	/* No such device here. */
	ck_assert_int_eq(devstate__restore(dst.vm, DEVSTATE_ID_VIRTIO(5), info.version, good,
					   info.size, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no such device"));
	/* And the good state still goes on. */
	ck_assert_int_eq(
	    devstate__restore(dst.vm, info.id, info.version, good, info.size, err, sizeof(err)), 0);
	free(good);
	free(bad);
	side_destroy(&src);
	side_destroy(&dst);
	side_destroy(&big);
	side_destroy(&ro);
}
END_TEST

static bool page_set(const uint64_t *bitmap, uint64_t gpa)
{
	return bitmap[gpa >> 18] >> (gpa >> 12) % 64 & 1;
}

/*
 * What the device writes into guest RAM (the sector read, the status byte,
 * the used ring) never goes through KVM's log, yet the harvest reports it;
 * what only the driver wrote here from the host (descriptors) is not.
 */
START_TEST(test_device_writes_harvested)
{
	struct side s;
	uint64_t *bitmap;

	side_create(&s, IMG_BYTES, false);
	bitmap = calloc(dirty__bitmap_bits(s.vm) / 64, sizeof(uint64_t));
	ck_assert_ptr_nonnull(bitmap);
	ck_assert_int_eq(ioloop__start(s.vm->ioloop), 0);
	bringup(&s);
	ck_assert_int_eq(dirty__enable(s.vm), 0);
	ck_assert_int_ge(dirty__harvest(s.vm, bitmap), 0);
	post_read(&s, 0);
	notify(&s);
	wait_used(&s, 1);
	ioloop__pause(s.vm->ioloop); /* the serve call ends (its last empty pop marks too) */
	ck_assert_int_ge(dirty__harvest(s.vm, bitmap), 3);
	ck_assert(page_set(bitmap, DATA_GPA));
	ck_assert(page_set(bitmap, STATUS_GPA));
	ck_assert(page_set(bitmap, USED_GPA));
	ck_assert(!page_set(bitmap, DESC_GPA));
	ck_assert(!page_set(bitmap, HDR_GPA));
	/* Reported once: the next harvest is clean. */
	ck_assert_int_eq(dirty__harvest(s.vm, bitmap), 0);
	ioloop__resume(s.vm->ioloop);
	free(bitmap);
	side_destroy(&s);
}
END_TEST

/* dirty__mark itself: a range over a page boundary, clipping at the end of RAM, no-op outside. */
START_TEST(test_dirty_mark_ranges)
{
	struct side s;
	uint64_t *bitmap;

	side_create(&s, IMG_BYTES, false);
	bitmap = calloc(dirty__bitmap_bits(s.vm) / 64, sizeof(uint64_t));
	dirty__mark(s.vm, 0x5000, 8); /* before dirty__enable: not tracked yet */
	ck_assert_int_eq(dirty__enable(s.vm), 0);
	ck_assert_int_ge(dirty__harvest(s.vm, bitmap), 0);
	dirty__mark(s.vm, 0x7ff0, 0x20);
	dirty__mark(s.vm, RAM - 8, 64);
	dirty__mark(s.vm, 1ull << 40, 4096);
	dirty__mark(s.vm, 0x9000, 0);
	ck_assert_int_eq(dirty__harvest(s.vm, bitmap), 3);
	ck_assert(page_set(bitmap, 0x7000));
	ck_assert(page_set(bitmap, 0x8000));
	ck_assert(page_set(bitmap, RAM - 4096));
	free(bitmap);
	side_destroy(&s);
}
END_TEST

Suite *virtio_state_suite(void)
{
	Suite *s = suite_create("virtio_state");
	TCase *st = tcase_create("state");
	TCase *dirty = tcase_create("dirty_mark");

	tcase_set_timeout(st, 60);
	tcase_add_test(st, test_list_order);
	tcase_add_test(st, test_console_round_trip);
	tcase_add_test(st, test_blk_round_trip);
	tcase_add_test(st, test_in_flight_rewound);
	tcase_add_test(st, test_moved_bar_ioeventfds);
	tcase_add_test(st, test_refusals);
	suite_add_tcase(s, st);
	tcase_add_test(dirty, test_device_writes_harvested);
	tcase_add_test(dirty, test_dirty_mark_ranges);
	suite_add_tcase(s, dirty);
	return s;
}
