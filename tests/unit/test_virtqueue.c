/* Check suite for the split virtqueue: good chains, hostile rings, and notification decisions. */
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "virtqueue.h"
#include "vm.h"

/* 8 MiB of "guest RAM" at GPA 0: room for chains past VIRTQUEUE_MAX_CHAIN_BYTES. */
#define VQ_RAM_SIZE (8ull << 20)
#define DESC_GPA    0x1000ull
#define AVAIL_GPA   0x2000ull
#define USED_GPA    0x3000ull
#define BUF_GPA	    0x10000ull
#define QSIZE	    8

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static struct vm *vm;
static struct virtqueue vq;
static struct vq_chain chain;
static uint16_t avail_idx; /* the driver's own copy */

static void *gpa(uint64_t a)
{
	return vm->mem.base + a;
}

static struct desc *desc(unsigned int i)
{
	return (struct desc *)gpa(DESC_GPA) + i;
}

static uint16_t *avail16(unsigned int i) /* 0 flags, 1 idx, 2.. ring, 2 + size used_event */
{
	return (uint16_t *)gpa(AVAIL_GPA) + i;
}

static uint16_t *used16(unsigned int i) /* 0 flags, 1 idx */
{
	return (uint16_t *)gpa(USED_GPA) + i;
}

static uint32_t *used_elem(unsigned int i) /* [0] id, [1] len */
{
	return (uint32_t *)gpa(USED_GPA + 4 + 8 * i);
}

static uint16_t avail_event(void)
{
	return *(uint16_t *)gpa(USED_GPA + 4 + 8 * QSIZE);
}

static void set_desc(unsigned int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	*desc(i) = (struct desc){.addr = addr, .len = len, .flags = flags, .next = next};
}

/* The driver makes head available and publishes the new index. */
static void offer(uint16_t head)
{
	*avail16(2 + avail_idx % QSIZE) = head;
	avail_idx++;
	*avail16(1) = avail_idx;
}

static void start(bool event_idx)
{
	ck_assert_int_eq(virtqueue__start(&vq, vm, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, event_idx),
			 0);
}

static void vq_setup(void)
{
	vm = calloc(1, sizeof(*vm));
	ck_assert_ptr_nonnull(vm);
	vm->mem.base = calloc(1, VQ_RAM_SIZE);
	ck_assert_ptr_nonnull(vm->mem.base);
	vm->mem.size = vm->mem.low_size = VQ_RAM_SIZE;
	avail_idx = 0;
	start(false);
}

static void vq_teardown(void)
{
	free(vm->mem.base);
	free(vm);
}

/* Pop must fail, leave the ring position alone, and say why (containing what). */
static void expect_broken(const char *what)
{
	uint16_t before = vq.last_avail_idx;

	ck_assert_int_eq(virtqueue__pop(&vq, &chain), VIRTQUEUE_BROKEN);
	ck_assert_uint_eq(vq.last_avail_idx, before);
	ck_assert_msg(strstr(vq.error, what), "error \"%s\" lacks \"%s\"", vq.error, what);
	ck_assert_ptr_null(strchr(vq.error, '\n'));
}

START_TEST(test_good_chain)
{
	set_desc(3, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(5, BUF_GPA + 0x100, 100, VIRTQ_DESC_F_NEXT, 0);
	set_desc(0, BUF_GPA + 0x1000, 1500, VIRTQ_DESC_F_WRITE, 0);
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 0); /* empty */
	offer(3);
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 1);
	ck_assert_uint_eq(chain.head, 3);
	ck_assert_uint_eq(chain.nr_out, 2);
	ck_assert_uint_eq(chain.nr_in, 1);
	ck_assert_uint_eq(chain.out_len, 116);
	ck_assert_uint_eq(chain.in_len, 1500);
	ck_assert_ptr_eq(chain.iov[0].iov_base, gpa(BUF_GPA));
	ck_assert_uint_eq(chain.iov[1].iov_len, 100);
	ck_assert_ptr_eq(chain.iov[2].iov_base, gpa(BUF_GPA + 0x1000));
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 0);

	virtqueue__push(&vq, chain.head, 42);
	ck_assert_uint_eq(*used16(1), 1);
	ck_assert_uint_eq(used_elem(0)[0], 3);
	ck_assert_uint_eq(used_elem(0)[1], 42);
}
END_TEST

/* A chain exactly the queue size long is fine; wrap-around of the 16-bit indices too. */
START_TEST(test_full_chain_and_wrap)
{
	for (unsigned int i = 0; i < QSIZE; i++)
		set_desc(i, BUF_GPA + 64 * i, 64, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	vq.last_avail_idx = avail_idx = 0xfffe;
	offer(0);
	offer(0);
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 1);
	ck_assert_uint_eq(chain.nr_out, QSIZE);
	ck_assert_uint_eq(chain.out_len, 64 * QSIZE);
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 1);
	ck_assert_uint_eq(vq.last_avail_idx, 0);
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 0);
}
END_TEST

START_TEST(test_out_of_ram)
{
	set_desc(0, VQ_RAM_SIZE - 8, 16, 0, 0); /* straddles the end of RAM */
	offer(0);
	expect_broken("outside guest RAM");
	set_desc(0, ~0ull - 7, 16, 0, 0); /* wraps the address space */
	expect_broken("outside guest RAM");
	set_desc(0, 0xc0000000ull, 1, 0, 0); /* the PCI hole is no RAM */
	expect_broken("outside guest RAM");
}
END_TEST

START_TEST(test_loops)
{
	set_desc(0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 0); /* to itself */
	offer(0);
	expect_broken("longer than the queue size");
	set_desc(0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 2);
	set_desc(2, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, 1); /* 1 -> 2 -> 1 */
	expect_broken("longer than the queue size");
}
END_TEST

START_TEST(test_bad_indices)
{
	set_desc(0, BUF_GPA, 1, VIRTQ_DESC_F_NEXT, QSIZE); /* next out of the table */
	offer(0);
	expect_broken("chains to 8 of 8");

	avail_idx = 0;
	set_desc(0, BUF_GPA, 1, 0, 0);
	offer(QSIZE); /* head out of the table */
	expect_broken("names descriptor 8 of 8");

	/* More entries made available than the ring holds. */
	avail_idx = 0;
	offer(0);
	*avail16(1) = (uint16_t)(vq.last_avail_idx + QSIZE + 1);
	expect_broken("more than the queue size");
	/* Exactly a full ring is legal. */
	for (unsigned int i = 0; i < QSIZE; i++)
		*avail16(2 + i) = 0;
	*avail16(1) = (uint16_t)(vq.last_avail_idx + QSIZE);
	for (unsigned int i = 0; i < QSIZE; i++)
		ck_assert_int_eq(virtqueue__pop(&vq, &chain), 1);
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 0);
}
END_TEST

START_TEST(test_oversize)
{
	uint32_t third = VIRTQUEUE_MAX_CHAIN_BYTES / 3 + 1;

	/* Each descriptor is in RAM; together they exceed the cap in one direction. */
	set_desc(0, BUF_GPA, third, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, third, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	set_desc(2, BUF_GPA, third, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	expect_broken("writable bytes");
	set_desc(0, BUF_GPA, third, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, third, VIRTQ_DESC_F_NEXT, 2);
	set_desc(2, BUF_GPA, third, 0, 0);
	expect_broken("readable bytes");
	/* One descriptor of 4 GiB - 1 cannot be in 8 MiB of RAM. */
	set_desc(0, BUF_GPA, UINT32_MAX, 0, 0);
	expect_broken("outside guest RAM");
}
END_TEST

START_TEST(test_indirect_and_order)
{
	set_desc(0, BUF_GPA, 64, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0);
	expect_broken("INDIRECT");
	set_desc(0, BUF_GPA, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF_GPA, 64, 0, 0);
	expect_broken("readable but follows a writable");
}
END_TEST

START_TEST(test_start_checks)
{
	const struct {
		uint16_t size;
		uint64_t desc, avail, used;
		const char *what;
	} bad[] = {
	    {0, DESC_GPA, AVAIL_GPA, USED_GPA, "power of two"},
	    {6, DESC_GPA, AVAIL_GPA, USED_GPA, "power of two"},
	    {VIRTQUEUE_MAX_SIZE * 2, DESC_GPA, AVAIL_GPA, USED_GPA, "power of two"},
	    {QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA, "misaligned"},
	    {QSIZE, DESC_GPA, AVAIL_GPA + 1, USED_GPA, "misaligned"},
	    {QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA + 2, "misaligned"},
	    {QSIZE, VQ_RAM_SIZE - 64, AVAIL_GPA, USED_GPA, "outside guest RAM"},
	    {QSIZE, DESC_GPA, AVAIL_GPA, VQ_RAM_SIZE - 8, "outside guest RAM"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(virtqueue__start(&vq, vm, bad[i].size, bad[i].desc, bad[i].avail,
						  bad[i].used, false),
				 VIRTQUEUE_BROKEN);
		ck_assert_msg(strstr(vq.error, bad[i].what), "case %zu: \"%s\"", i, vq.error);
		/* A queue that failed to start pops nothing. */
		ck_assert_int_eq(virtqueue__pop(&vq, &chain), 0);
	}
}
END_TEST

START_TEST(test_notify_no_event_idx)
{
	set_desc(0, BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	offer(0);
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 1);
	virtqueue__push(&vq, 0, 0);
	ck_assert(virtqueue__should_notify(&vq));
	*avail16(0) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	ck_assert(!virtqueue__should_notify(&vq));
}
END_TEST

START_TEST(test_notify_event_idx)
{
	start(true);
	for (unsigned int i = 0; i < QSIZE; i++)
		set_desc(i, BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	/* Empty: the device asks to hear about the next buffer (avail_event = last_avail). */
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 0);
	ck_assert_uint_eq(avail_event(), 0);
	for (unsigned int i = 0; i < 6; i++)
		offer((uint16_t)i);
	for (unsigned int i = 0; i < 6; i++)
		ck_assert_int_eq(virtqueue__pop(&vq, &chain), 1);
	ck_assert_int_eq(virtqueue__pop(&vq, &chain), 0);
	ck_assert_uint_eq(avail_event(), 6);

	*avail16(2 + QSIZE) = 0; /* used_event: interrupt when used idx passes 0 */
	virtqueue__push(&vq, 0, 1);
	ck_assert(virtqueue__should_notify(&vq)); /* first ever: always */
	*avail16(2 + QSIZE) = 3;		  /* the driver wants one once entry 3 is used */
	virtqueue__push(&vq, 1, 1);
	ck_assert(!virtqueue__should_notify(&vq)); /* used idx 2 */
	virtqueue__push(&vq, 2, 1);
	ck_assert(!virtqueue__should_notify(&vq)); /* used idx 3 */
	virtqueue__push(&vq, 3, 1);
	ck_assert(virtqueue__should_notify(&vq)); /* used idx 4 passed 3 */
	virtqueue__push(&vq, 4, 1);
	ck_assert(!virtqueue__should_notify(&vq)); /* 3 already signalled */
	/* Event idx ignores the flag; NO_INTERRUPT alone does not suppress. */
	*avail16(0) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	*avail16(2 + QSIZE) = 5;
	virtqueue__push(&vq, 5, 1);
	ck_assert(virtqueue__should_notify(&vq));
}
END_TEST

Suite *virtqueue_suite(void)
{
	Suite *s = suite_create("virtqueue");
	TCase *tc = tcase_create("split ring");

	tcase_add_checked_fixture(tc, vq_setup, vq_teardown);
	tcase_add_test(tc, test_good_chain);
	tcase_add_test(tc, test_full_chain_and_wrap);
	tcase_add_test(tc, test_out_of_ram);
	tcase_add_test(tc, test_loops);
	tcase_add_test(tc, test_bad_indices);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_indirect_and_order);
	tcase_add_test(tc, test_start_checks);
	tcase_add_test(tc, test_notify_no_event_idx);
	tcase_add_test(tc, test_notify_event_idx);
	suite_add_tcase(s, tc);
	return s;
}
