/* The guest kit's queues (rt/virtq.c) against the device's (xen-core/virtqueue.c): no lost wakeups.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "virtqueue.h"
#include "vm.h"
#include "../guests/rt/virtio.h"

#define RAM_BYTES (1u << 20)
#define RING_GPA  0x10000u /* where the driver's vring_mem sits in guest RAM */
#define QSIZE	  8

static struct vm vm;
static struct vring_mem *mem; /* the driver's view: a host pointer into vm's RAM */
static struct virtq gvq;      /* the driver's queue */
static struct virtqueue dvq;  /* the device's queue over the same memory */
static uint16_t notify_reg, dev_next;

static uint64_t gpa_of(const void *p)
{
	return (uint64_t)((const uint8_t *)p - vm.mem.base);
}

static void teardown(void)
{
	free(vm.mem.base);
}

/* The device uses the next chain; true when it would notify (twin-vmm: kick WAIT_US). */
static bool dev_complete(void)
{
	ck_assert_uint_ne(dev_next, mem->avail.idx);
	virtqueue__push(&dvq, mem->avail.ring[dev_next++ % QSIZE], 64);
	return virtqueue__should_notify(&dvq);
}

/* The driver takes every used chain, as its poll loop does before it waits. */
static void drain(void)
{
	while (virtq__get_used(&gvq, NULL) >= 0)
		;
	ck_assert(!virtq__has_used(&gvq));
}

static void setup_queue(int event_idx)
{
	static char buf[QSIZE][64];

	memset(&vm, 0, sizeof(vm));
	vm.mem.base = aligned_alloc(4096, RAM_BYTES);
	ck_assert_ptr_nonnull(vm.mem.base);
	vm.mem.size = vm.mem.low_size = RAM_BYTES;
	mem = (struct vring_mem *)(vm.mem.base + RING_GPA);
	virtq__init(&gvq, mem, QSIZE, 0, &notify_reg, event_idx);
	ck_assert_int_eq(virtqueue__start(&dvq, &vm, QSIZE, gpa_of(mem->desc), gpa_of(&mem->avail),
					  gpa_of(&mem->used), event_idx),
			 0);
	for (int i = 0; i < QSIZE; i++) {
		struct vq_buf b = {buf[i], sizeof(buf[i]), 1};

		ck_assert_int_ge(virtq__add(&gvq, &b, 1), 0);
	}
	virtq__kick(&gvq);
	dev_next = 0;
	/* A device's first completion always notifies (it has no driver state yet): spend it. */
	ck_assert(dev_complete());
	drain();
}

/* blk and console wait on any completion: by default every chain after a drain wakes them. */
START_TEST(default_wakes_for_every_chain)
{
	setup_queue(_i);
	for (int i = 0; i < 3; i++) {
		ck_assert_msg(dev_complete(), "chain %d used after a drain woke no one", i);
		drain();
	}
}
END_TEST

/* A driver in wake_on_arm mode is woken only while armed, and never misses a chain. */
START_TEST(wake_only_when_armed)
{
	setup_queue(_i);
	virtq__wake_on_arm(&gvq);
	/* Polling, not waiting: a completion must not cost the guest a wakeup. */
	ck_assert(!dev_complete());
	/* The race: the chain came before the driver armed.  It must not go to sleep. */
	ck_assert_int_ne(virtq__arm(&gvq), 0);
	drain();
	/* Taking a chain spends the arm. */
	ck_assert(!dev_complete());
	drain();
	/* Armed on an empty ring: the next chain wakes it, once. */
	ck_assert_int_eq(virtq__arm(&gvq), 0);
	ck_assert(dev_complete());
	drain();
	ck_assert(!dev_complete());
	drain();
	/* Re-armed after a spurious wakeup with nothing taken: still woken. */
	ck_assert_int_eq(virtq__arm(&gvq), 0);
	ck_assert_int_eq(virtq__arm(&gvq), 0);
	ck_assert(dev_complete());
}
END_TEST

Suite *virtq_wake_suite(void)
{
	Suite *s = suite_create("virtq_wake");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, NULL, teardown);
	/* _i: 0 without EVENT_IDX (the flag), 1 with it (used_event). */
	tcase_add_loop_test(tc, default_wakes_for_every_chain, 0, 2);
	tcase_add_loop_test(tc, wake_only_when_armed, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}
