/* Check suite for the backup's epoch buffer: staged off the VM until CHECKPOINT (needs KVM). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/kvm.h>
#include "epoch_buffer.h"
#include "memory.h"
#include "page_data.h"
#include "stream_format.h"
#include "suites.h"
#include "virtio_blk.h"
#include "vm.h"
#include "vm_stream.h"
#include "vm_fixture.h"
#include "stream_sink.h"

#define MEM   (16 << 20)
#define VCPUS 1
#define BIG   (64u << 20) /* a cap no test reaches */

/* The guest's page pfn, as the backup sees it. */
static uint8_t *guest_page(struct vm *vm, uint64_t pfn)
{
	uint8_t *p = memory__gpa_to_hva(vm, pfn * STREAM_PAGE_SIZE, STREAM_PAGE_SIZE);

	ck_assert_ptr_nonnull(p);
	return p;
}

static int page_is(const uint8_t *page, uint8_t byte)
{
	for (uint32_t i = 0; i < STREAM_PAGE_SIZE; i++)
		if (page[i] != byte)
			return 0;
	return 1;
}

/* What the primary sends for one epoch, written into a sink. */
struct epoch_src {
	struct sink s;
	struct stream_writer w;
};

static void src_begin(struct epoch_src *e)
{
	memset(e, 0, sizeof(*e));
	stream_writer__init(&e->w, sink_write, &e->s);
	ck_assert_int_eq(stream_writer__header(&e->w, STREAM_FLAG_LIVE | STREAM_FLAG_CHECKPOINTED),
			 0);
}

/* One PAGE_DATA record holding page pfn filled with byte. */
static void src_page(struct epoch_src *e, uint64_t pfn, uint8_t byte)
{
	struct page_batch b;
	uint8_t page[STREAM_PAGE_SIZE];

	memset(page, byte, sizeof(page));
	page[pfn % STREAM_PAGE_SIZE] ^= 0x5a; /* not all one byte: not sent as zero */
	page_batch__init(&b);
	ck_assert_int_eq(page_batch__add(&b, pfn, page), 0);
	ck_assert_int_eq(page_batch__write(&b, &e->w), 0);
	page_batch__dispose(&b);
}

/* One PAGE_DATA record holding pfn as a delta from old to page. */
static void src_delta(struct epoch_src *e, uint64_t pfn, const uint8_t *old, const uint8_t *page)
{
	struct page_batch b;
	uint8_t delta[STREAM_PAGE_SIZE];
	int len = page_data__delta_encode(old, page, delta);

	ck_assert_int_gt(len, 0);
	page_batch__init(&b);
	ck_assert_int_eq(page_batch__add_encoded(&b, pfn, STREAM_PAGE_DELTA, delta, (uint32_t)len),
			 0);
	ck_assert_int_eq(page_batch__write(&b, &e->w), 0);
	page_batch__dispose(&b);
}

/* One DISK_WRITES record: nsectors sectors of byte at sector of disk. */
static void src_disk_write(struct epoch_src *e, uint32_t disk, uint64_t sector, uint32_t nsectors,
			   uint8_t byte)
{
	struct stream_disk_writes_header h = {.disk_id = disk, .count = 1};
	struct stream_disk_write w = {.sector = sector, .nsectors = nsectors};
	size_t len = (size_t)nsectors * STREAM_SECTOR_SIZE;
	uint8_t *data = malloc(len);
	const void *parts[] = {&h, &w, data};
	const size_t lens[] = {sizeof(h), sizeof(w), len};

	ck_assert_ptr_nonnull(data);
	memset(data, byte, len);
	ck_assert_int_eq(stream_writer__record(&e->w, STREAM_REC_DISK_WRITES, parts, lens, 3), 0);
	free(data);
}

/* The VM's whole state: what every epoch carries. */
static void src_state(struct epoch_src *e, struct vm *vm)
{
	ck_assert_int_eq(vm_stream__write_state(&e->w, vm), 0);
}

/*
 * Hands every record to the buffer: 0, or the first refusal (err set).
 * Frees the source.
 */
static int feed(struct epoch_buffer *eb, struct epoch_src *e, char *err, size_t errlen)
{
	struct stream_mem m;
	struct stream_reader r;
	struct stream_record rec;
	int rc = 0;

	ck_assert_int_eq(stream_writer__end(&e->w), 0);
	m = (struct stream_mem){.data = e->s.data, .size = e->s.len};
	stream_reader__init(&r, stream__mem_read, &m);
	ck_assert_msg(stream_reader__header(&r) == 0, "%s", r.err);
	for (;;) {
		ck_assert_msg(stream_reader__next(&r, &rec) == 0, "%s", r.err);
		if (rec.type == STREAM_REC_END)
			break;
		rc = epoch_buffer__record(eb, &rec, err, errlen);
		if (rc)
			break;
	}
	stream_reader__dispose(&r);
	free(e->s.data);
	return rc;
}

static void feed_ok(struct epoch_buffer *eb, struct epoch_src *e)
{
	char err[512];

	ck_assert_msg(feed(eb, e, err, sizeof(err)) == 0, "%s", err);
}

static void commit_ok(struct epoch_buffer *eb, uint64_t epoch)
{
	char err[512];

	ck_assert_msg(epoch_buffer__commit(eb, epoch, err, sizeof(err)) == 0, "%s", err);
}

static struct test_vm tv;
static struct epoch_buffer *eb;

static void setup_cap(uint64_t cap)
{
	char err[256];

	test_vm__create(&tv, MEM, VCPUS);
	ck_assert_msg(epoch_buffer__new(&eb, tv.vm, cap, err, sizeof(err)) == 0, "%s", err);
}

/* A writable disk of DISK_SIZE bytes, its image gone with the VM. */
#define DISK_SIZE (1 << 20)
static struct virtio_blk *add_disk(void)
{
	char path[] = "/tmp/twin-epoch-XXXXXX", err[256];
	struct virtio_blk *blk;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
	ck_assert_msg(virtio_blk__open(path, false, 0, &blk, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	ck_assert_int_eq(virtio_blk__register(blk, tv.vm, false), 0);
	return blk;
}

static int disk_is(struct virtio_blk *blk, uint64_t sector, uint32_t nsectors, uint8_t byte)
{
	uint8_t buf[STREAM_SECTOR_SIZE];

	for (uint32_t i = 0; i < nsectors; i++) {
		ck_assert_int_eq(
		    virtio_blk__read_at(blk, (sector + i) * STREAM_SECTOR_SIZE, buf, sizeof(buf)),
		    0);
		for (uint32_t k = 0; k < sizeof(buf); k++)
			if (buf[k] != byte)
				return 0;
	}
	return 1;
}

static void teardown(void)
{
	epoch_buffer__free(eb);
	eb = NULL;
	test_vm__destroy(&tv);
}

/* Epoch epoch: page pfn filled with byte, and the state; committed. */
static void epoch_of_page(uint64_t epoch, uint64_t pfn, uint8_t byte)
{
	struct epoch_src e;

	src_begin(&e);
	src_page(&e, pfn, byte);
	src_state(&e, tv.vm);
	feed_ok(eb, &e);
	commit_ok(eb, epoch);
}

START_TEST(test_staged_then_committed)
{
	struct epoch_buffer_stats st;
	struct epoch_src e;

	setup_cap(BIG);
	memset(guest_page(tv.vm, 10), 0x11, STREAM_PAGE_SIZE);
	src_begin(&e);
	src_page(&e, 10, 0xab);
	src_state(&e, tv.vm);
	feed_ok(eb, &e);
	ck_assert(page_is(guest_page(tv.vm, 10), 0x11)); /* staged, not in guest RAM */
	st = epoch_buffer__stats(eb);
	ck_assert(!st.committed);
	ck_assert_uint_eq(st.staged_pages, 1);
	ck_assert_uint_gt(st.staged_bytes, STREAM_PAGE_SIZE); /* the page and the state */
	commit_ok(eb, 1);
	ck_assert_uint_eq(guest_page(tv.vm, 10)[0], 0xab);
	ck_assert_uint_eq(guest_page(tv.vm, 10)[10], 0xab ^ 0x5a);
	st = epoch_buffer__stats(eb);
	ck_assert(st.committed);
	ck_assert_uint_eq(st.epoch, 1);
	ck_assert_uint_eq(st.staged_pages, 0);
	ck_assert_uint_eq(st.staged_bytes, 0);
	ck_assert_uint_gt(st.last_commit_ns, 0);
	teardown();
}
END_TEST

START_TEST(test_discard_keeps_last_commit)
{
	struct epoch_src e;
	uint8_t before[STREAM_PAGE_SIZE];

	setup_cap(BIG);
	epoch_of_page(1, 20, 0x22);
	memcpy(before, guest_page(tv.vm, 20), sizeof(before));
	src_begin(&e);
	src_page(&e, 20, 0x33);
	src_page(&e, 21, 0x33);
	feed_ok(eb, &e); /* the primary fails before CHECKPOINT 2 */
	ck_assert_int_eq(epoch_buffer__discard(eb), 0);
	ck_assert_uint_eq(epoch_buffer__stats(eb).staged_pages, 0);
	ck_assert_uint_eq(epoch_buffer__stats(eb).epoch, 1);
	ck_assert_mem_eq(guest_page(tv.vm, 20), before, STREAM_PAGE_SIZE);
	ck_assert(page_is(guest_page(tv.vm, 21), 0));
	/* The discarded pages and state are gone: epoch 2 is only what comes next. */
	epoch_of_page(2, 22, 0x44);
	ck_assert_mem_eq(guest_page(tv.vm, 20), before, STREAM_PAGE_SIZE);
	ck_assert(page_is(guest_page(tv.vm, 21), 0));
	ck_assert_uint_eq(guest_page(tv.vm, 22)[0], 0x44);
	teardown();
}
END_TEST

START_TEST(test_last_copy_wins)
{
	struct epoch_src e;

	setup_cap(BIG);
	src_begin(&e);
	src_page(&e, 30, 0x55);
	src_page(&e, 30, 0x66);
	src_state(&e, tv.vm);
	feed_ok(eb, &e);
	ck_assert_uint_eq(epoch_buffer__stats(eb).staged_pages, 1);
	commit_ok(eb, 1);
	ck_assert_uint_eq(guest_page(tv.vm, 30)[0], 0x66);
	teardown();
}
END_TEST

START_TEST(test_delta)
{
	uint8_t committed[STREAM_PAGE_SIZE], staged[STREAM_PAGE_SIZE], last[STREAM_PAGE_SIZE];
	struct epoch_src e;

	setup_cap(BIG);
	for (uint32_t i = 0; i < STREAM_PAGE_SIZE; i++)
		committed[i] = (uint8_t)i;
	memcpy(guest_page(tv.vm, 40), committed, STREAM_PAGE_SIZE);
	memcpy(guest_page(tv.vm, 41), committed, STREAM_PAGE_SIZE);
	memcpy(staged, committed, sizeof(staged));
	staged[100] = 0xee;
	memcpy(last, staged, sizeof(last));
	last[200] = 0xdd;
	src_begin(&e);
	src_delta(&e, 40, committed, staged); /* against guest RAM */
	src_delta(&e, 41, committed, staged); /* against guest RAM, ... */
	src_delta(&e, 41, staged, last);      /* ... then against the staged copy */
	src_state(&e, tv.vm);
	feed_ok(eb, &e);
	ck_assert_mem_eq(guest_page(tv.vm, 40), committed, STREAM_PAGE_SIZE);
	ck_assert_mem_eq(guest_page(tv.vm, 41), committed, STREAM_PAGE_SIZE);
	commit_ok(eb, 1);
	ck_assert_mem_eq(guest_page(tv.vm, 40), staged, STREAM_PAGE_SIZE);
	ck_assert_mem_eq(guest_page(tv.vm, 41), last, STREAM_PAGE_SIZE);
	teardown();
}
END_TEST

START_TEST(test_epochs_increase)
{
	struct epoch_src e;
	char err[512];

	setup_cap(BIG);
	epoch_of_page(5, 50, 0x01);
	src_begin(&e);
	src_page(&e, 50, 0x02);
	src_state(&e, tv.vm);
	feed_ok(eb, &e);
	ck_assert_int_eq(epoch_buffer__commit(eb, 5, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "strictly increase"));
	ck_assert_int_eq(epoch_buffer__commit(eb, 4, err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(guest_page(tv.vm, 50)[0], 0x01);
	ck_assert_uint_eq(epoch_buffer__stats(eb).epoch, 5);
	commit_ok(eb, 6); /* the refusal left the epoch open */
	ck_assert_uint_eq(guest_page(tv.vm, 50)[0], 0x02);
	teardown();
}
END_TEST

START_TEST(test_state_required)
{
	struct epoch_src e;
	char err[512];

	setup_cap(BIG);
	src_begin(&e);
	src_page(&e, 60, 0x07);
	feed_ok(eb, &e);
	ck_assert_int_eq(epoch_buffer__commit(eb, 1, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "whole state"));
	ck_assert(page_is(guest_page(tv.vm, 60), 0));
	ck_assert(!epoch_buffer__stats(eb).committed);
	src_begin(&e);
	src_state(&e, tv.vm);
	feed_ok(eb, &e);
	commit_ok(eb, 1);
	ck_assert_uint_eq(guest_page(tv.vm, 60)[0], 0x07);
	teardown();
}
END_TEST

START_TEST(test_over_cap)
{
	struct epoch_src e;
	char err[512];

	setup_cap(2 * STREAM_PAGE_SIZE);
	src_begin(&e);
	src_page(&e, 70, 0x08);
	src_page(&e, 71, 0x08);
	src_page(&e, 71, 0x09); /* the same page again: no more room needed */
	src_page(&e, 72, 0x08);
	ck_assert_int_eq(feed(eb, &e, err, sizeof(err)), -ENOBUFS);
	ck_assert_ptr_nonnull(strstr(err, "cannot keep up"));
	ck_assert_uint_eq(epoch_buffer__stats(eb).staged_pages, 2);
	ck_assert_uint_eq(epoch_buffer__stats(eb).staged_bytes, 2 * STREAM_PAGE_SIZE);
	ck_assert_int_eq(epoch_buffer__commit(eb, 1, err, sizeof(err)), -EBADMSG);
	ck_assert(page_is(guest_page(tv.vm, 70), 0));
	ck_assert_int_eq(epoch_buffer__discard(eb), 0);
	/* The state alone is over this cap too: refused before it is kept. */
	src_begin(&e);
	src_page(&e, 70, 0x08);
	src_page(&e, 71, 0x08);
	src_state(&e, tv.vm);
	ck_assert_int_eq(feed(eb, &e, err, sizeof(err)), -ENOBUFS);
	ck_assert_uint_eq(epoch_buffer__stats(eb).staged_bytes, 2 * STREAM_PAGE_SIZE);
	teardown();
}
END_TEST

START_TEST(test_refusals)
{
	struct stream_record rec = {.type = STREAM_REC_CHECKPOINT};
	struct epoch_src e;
	char err[512];

	ck_assert_int_eq(epoch_buffer__new(&eb, NULL, STREAM_PAGE_SIZE - 1, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "holds no page"));
	setup_cap(BIG);
	ck_assert_int_eq(epoch_buffer__record(eb, &rec, err, sizeof(err)), -EPROTONOSUPPORT);
	ck_assert_ptr_nonnull(strstr(err, "not part of a replication epoch"));
	/* Poisoned: nothing more, not even a good record, until a discard. */
	src_begin(&e);
	src_page(&e, 80, 0x0a);
	ck_assert_int_eq(feed(eb, &e, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "discard"));
	ck_assert_int_eq(epoch_buffer__discard(eb), 0);
	src_begin(&e);
	src_page(&e, 80, 0x0a);
	feed_ok(eb, &e);
	teardown();
}
END_TEST

START_TEST(test_disk_writes)
{
	struct virtio_blk *blk;
	struct epoch_src e;
	char err[512];

	test_vm__create(&tv, MEM, VCPUS);
	blk = add_disk();
	ck_assert_msg(epoch_buffer__new(&eb, tv.vm, BIG, err, sizeof(err)) == 0, "%s", err);
	src_begin(&e);
	src_disk_write(&e, 0, 8, 2, 0xc3);
	src_disk_write(&e, 0, 9, 1, 0xc4); /* written after the first: it wins */
	feed_ok(eb, &e);
	ck_assert(disk_is(blk, 8, 2, 0)); /* staged, not on the image */
	ck_assert_uint_eq(epoch_buffer__stats(eb).staged_bytes, 2 * 24 + 3 * STREAM_SECTOR_SIZE);
	src_begin(&e);
	src_state(&e, tv.vm);
	feed_ok(eb, &e);
	commit_ok(eb, 1);
	ck_assert(disk_is(blk, 8, 1, 0xc3));
	ck_assert(disk_is(blk, 9, 1, 0xc4));
	ck_assert(disk_is(blk, 10, 1, 0));
	/* Discarded writes never reach the image. */
	src_begin(&e);
	src_disk_write(&e, 0, 8, 1, 0xc5);
	feed_ok(eb, &e);
	ck_assert_int_eq(epoch_buffer__discard(eb), 0);
	ck_assert(disk_is(blk, 8, 1, 0xc3));
	/* Past the end of the disk, or a disk the VM lacks: refused as they arrive. */
	src_begin(&e);
	src_disk_write(&e, 0, DISK_SIZE / STREAM_SECTOR_SIZE - 1, 2, 0xc6);
	ck_assert_int_eq(feed(eb, &e, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "outside the disk"));
	ck_assert_int_eq(epoch_buffer__discard(eb), 0);
	src_begin(&e);
	src_disk_write(&e, 1, 0, 1, 0xc6);
	ck_assert_int_eq(feed(eb, &e, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "--disk"));
	teardown();
}
END_TEST

static uint64_t rbx(void)
{
	struct kvm_regs regs;

	ck_assert_int_eq(ioctl(tv.vm->vcpus[0].fd, KVM_GET_REGS, &regs), 0);
	return regs.rbx;
}

static void set_rbx(uint64_t v)
{
	struct kvm_regs regs;

	ck_assert_int_eq(ioctl(tv.vm->vcpus[0].fd, KVM_GET_REGS, &regs), 0);
	regs.rbx = v;
	ck_assert_int_eq(ioctl(tv.vm->vcpus[0].fd, KVM_SET_REGS, &regs), 0);
}

/* The state the primary had when it wrote the epoch, with the backup's vCPU left as it was. */
static void src_state_with_rbx(struct epoch_src *e, uint64_t v)
{
	uint64_t was = rbx();

	set_rbx(v);
	src_state(e, tv.vm);
	set_rbx(was);
}

static void restore_ok(void)
{
	char err[512];

	ck_assert_msg(epoch_buffer__restore_state(eb, err, sizeof(err)) == 0, "%s", err);
}

/* The state is kept at commit and applied only at activation: the last committed wins. */
START_TEST(test_state_at_activation)
{
	struct epoch_src e;

	setup_cap(BIG);
	set_rbx(0x1111);
	restore_ok(); /* nothing committed: the VM keeps what the initial sync gave it */
	ck_assert_uint_eq(rbx(), 0x1111);
	src_begin(&e);
	src_state_with_rbx(&e, 0x2222);
	feed_ok(eb, &e);
	commit_ok(eb, 1);
	ck_assert_uint_eq(rbx(), 0x1111); /* kept, not applied */
	src_begin(&e);
	src_state_with_rbx(&e, 0x3333);
	feed_ok(eb, &e);
	commit_ok(eb, 2);
	ck_assert_uint_eq(rbx(), 0x1111);
	/* A discarded epoch never reaches the committed state. */
	src_begin(&e);
	src_state_with_rbx(&e, 0x4444);
	feed_ok(eb, &e);
	ck_assert_int_eq(epoch_buffer__discard(eb), 0);
	restore_ok();
	ck_assert_uint_eq(rbx(), 0x3333);
	set_rbx(0x5555);
	restore_ok(); /* once: the VM already holds it */
	ck_assert_uint_eq(rbx(), 0x5555);
	teardown();
}
END_TEST

/* A commit whose disk writes fail is half-applied: the backup must never run it. */
START_TEST(test_half_applied_unusable)
{
	struct rlimit was, lim;
	struct virtio_blk *blk;
	struct epoch_src e;
	char err[512];

	test_vm__create(&tv, MEM, VCPUS);
	blk = add_disk();
	ck_assert_msg(epoch_buffer__new(&eb, tv.vm, BIG, err, sizeof(err)) == 0, "%s", err);
	epoch_of_page(1, 90, 0x0b);
	src_begin(&e);
	src_page(&e, 90, 0x0c);
	src_disk_write(&e, 0, 16, 1, 0x0c);
	src_state(&e, tv.vm);
	feed_ok(eb, &e);
	/* The image cannot grow past 4 KiB now: the write at 8 KiB fails (EFBIG). */
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &was), 0);
	lim = was;
	lim.rlim_cur = 4096;
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_ne(epoch_buffer__commit(eb, 2, err, sizeof(err)), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &was), 0);
	signal(SIGXFSZ, SIG_DFL);
	ck_assert(disk_is(blk, 16, 1, 0));
	ck_assert_uint_eq(guest_page(tv.vm, 90)[0], 0x0c); /* the pages went in: half-applied */
	ck_assert_ptr_nonnull(strstr(err, "unusable"));
	ck_assert_int_eq(epoch_buffer__restore_state(eb, err, sizeof(err)), -EIO);
	ck_assert_ptr_nonnull(strstr(err, "half-applied"));
	teardown();
}
END_TEST

Suite *epoch_buffer_suite(void)
{
	Suite *s = suite_create("epoch_buffer");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_staged_then_committed);
	tcase_add_test(tc, test_discard_keeps_last_commit);
	tcase_add_test(tc, test_last_copy_wins);
	tcase_add_test(tc, test_delta);
	tcase_add_test(tc, test_epochs_increase);
	tcase_add_test(tc, test_state_required);
	tcase_add_test(tc, test_over_cap);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_disk_writes);
	tcase_add_test(tc, test_state_at_activation);
	tcase_add_test(tc, test_half_applied_unusable);
	suite_add_tcase(s, tc);
	return s;
}
