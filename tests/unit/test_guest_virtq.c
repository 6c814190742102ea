/* Unit tests for the guest kit's split virtqueue (tests/guests/rt/virtq.c) against a fake device.
 */
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "../guests/rt/virtio.h"

static struct vring_mem *mem;
static struct virtq vq;
static uint16_t notify_reg;
static uint16_t dev_avail; /* the fake device's next avail index */

static void setup(void)
{
	mem = aligned_alloc(4096, sizeof(*mem));
	ck_assert_ptr_nonnull(mem);
	dev_avail = 0;
	notify_reg = 0xffff;
}

static void teardown(void)
{
	free(mem);
}

static void init(uint16_t size, int event_idx)
{
	virtq__init(&vq, mem, size, 3, &notify_reg, event_idx);
}

static int add1(uint32_t len, int writable)
{
	static char buf[64];
	struct vq_buf b = {buf, len, writable};

	return virtq__add(&vq, &b, 1);
}

/* The device marks chain id used, with len bytes written. */
static void dev_use(uint16_t id, uint32_t len)
{
	mem->used.ring[mem->used.idx & (vq.size - 1)] = (struct vring_used_elem){id, len};
	mem->used.idx++;
}

/* The device takes the next published chain and marks it used with len; returns its head. */
static int dev_use_next(uint32_t len)
{
	uint16_t head;

	if (dev_avail == mem->avail.idx)
		return -1;
	head = mem->avail.ring[dev_avail++ & (vq.size - 1)];
	dev_use(head, len);
	return head;
}

START_TEST(chains_round_trip)
{
	static char a[16], b[32], c[8];
	struct vq_buf bufs[3] = {{a, sizeof(a), 0}, {b, sizeof(b), 1}, {c, sizeof(c), 1}};
	uint32_t len;
	int head, d;

	init(8, 1);
	head = virtq__add(&vq, bufs, 3);
	ck_assert_int_ge(head, 0);
	ck_assert_uint_eq(vq.num_free, 5);
	/* The chain: NEXT on all but the last, WRITE on the device-writable ones. */
	d = head;
	ck_assert_uint_eq(mem->desc[d].flags, VRING_DESC_F_NEXT);
	ck_assert_uint_eq(mem->desc[d].len, 16);
	d = mem->desc[d].next;
	ck_assert_uint_eq(mem->desc[d].flags, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE);
	d = mem->desc[d].next;
	ck_assert_uint_eq(mem->desc[d].flags, VRING_DESC_F_WRITE);
	ck_assert_ptr_eq((void *)(uintptr_t)mem->desc[d].addr, c);
	/* Not visible to the device before the kick. */
	ck_assert_uint_eq(mem->avail.idx, 0);
	ck_assert_int_eq(virtq__get_used(&vq, &len), -1);
	virtq__kick(&vq);
	ck_assert_uint_eq(mem->avail.idx, 1);
	ck_assert_uint_eq(notify_reg, 3);
	ck_assert_uint_eq(vq.notifies, 1);
	ck_assert_int_eq(dev_use_next(9), head);
	ck_assert(virtq__has_used(&vq));
	ck_assert_int_eq(virtq__get_used(&vq, &len), head);
	ck_assert_uint_eq(len, 9);
	ck_assert_uint_eq(vq.num_free, 8);
	ck_assert_uint_eq(virtq__in_flight(&vq), 0);
	/* By default the next chain asks for a wakeup: used_event is what we took. */
	ck_assert_uint_eq(*virtq__used_event(&vq), 1);
}
END_TEST

START_TEST(full_ring_and_out_of_order)
{
	int heads[8], seen[8] = {0};

	init(8, 1);
	for (int i = 0; i < 8; i++)
		ck_assert_int_ge(heads[i] = add1(4, 0), 0);
	ck_assert_int_eq(add1(4, 0), -1); /* full */
	virtq__kick(&vq);
	/* The device completes them in another order than it got them. */
	for (int i = 0; i < 8; i++)
		dev_avail++;
	for (int i = 7; i >= 0; i -= 2)
		dev_use((uint16_t)heads[i], 0);
	for (int i = 6; i >= 0; i -= 2)
		dev_use((uint16_t)heads[i], 0);
	for (int i = 0; i < 8; i++) {
		int h = virtq__get_used(&vq, NULL);

		ck_assert_int_ge(h, 0);
		ck_assert_int_lt(h, 8);
		ck_assert_int_eq(seen[h]++, 0);
	}
	/* Every descriptor came back to the free list, each once. */
	ck_assert_uint_eq(vq.num_free, 8);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 8; i++) {
		int h = add1(4, 0);

		ck_assert_int_ge(h, 0);
		ck_assert_int_eq(seen[h]++, 0);
	}
	ck_assert_int_eq(add1(4, 0), -1);
}
END_TEST

START_TEST(event_idx_suppresses_notifications)
{
	init(16, 1);
	*virtq__avail_event(&vq) = 5; /* the device wants to hear once idx passes 5 */
	for (int i = 0; i < 5; i++) {
		add1(1, 0);
		virtq__kick(&vq);
	}
	ck_assert_uint_eq(vq.notifies, 0);
	add1(1, 0);
	virtq__kick(&vq); /* 5 -> 6 crosses the event */
	ck_assert_uint_eq(vq.notifies, 1);
	add1(1, 0);
	virtq__kick(&vq);
	ck_assert_uint_eq(vq.notifies, 1);
	/* A kick with nothing new never notifies. */
	*virtq__avail_event(&vq) = 7;
	virtq__kick(&vq);
	ck_assert_uint_eq(vq.notifies, 1);
	/* A batch that jumps over the event notifies once. */
	add1(1, 0);
	add1(1, 0);
	virtq__kick(&vq);
	ck_assert_uint_eq(vq.notifies, 2);
}
END_TEST

START_TEST(no_notify_flag_without_event_idx)
{
	init(8, 0);
	mem->used.flags = VRING_USED_F_NO_NOTIFY;
	add1(1, 0);
	virtq__kick(&vq);
	ck_assert_uint_eq(vq.notifies, 0);
	mem->used.flags = 0;
	add1(1, 0);
	virtq__kick(&vq);
	ck_assert_uint_eq(vq.notifies, 1);
	/* Every used chain asks for a wakeup until the driver chooses wake_on_arm. */
	ck_assert_uint_eq(mem->avail.flags, 0);
	virtq__wake_on_arm(&vq);
	ck_assert_uint_eq(mem->avail.flags, VRING_AVAIL_F_NO_INTERRUPT);
}
END_TEST

START_TEST(bogus_used_ids_are_ignored)
{
	int h;

	init(8, 1);
	h = add1(4, 0);
	virtq__kick(&vq);
	dev_use(200, 0);	       /* past the ring */
	dev_use((uint16_t)(h ^ 1), 0); /* never given to the device */
	ck_assert_int_eq(virtq__get_used(&vq, NULL), -1);
	ck_assert_int_eq(virtq__get_used(&vq, NULL), -1);
	ck_assert_uint_eq(vq.num_free, 7);
	dev_use((uint16_t)h, 0);
	ck_assert_int_eq(virtq__get_used(&vq, NULL), h);
	ck_assert_uint_eq(vq.num_free, 8);
}
END_TEST

START_TEST(indices_wrap)
{
	init(4, 1);
	for (uint32_t i = 0; i < 70000; i++) {
		int h = add1(4, i & 1);

		ck_assert_int_ge(h, 0);
		virtq__kick(&vq);
		ck_assert_int_eq(dev_use_next(i & 0xff), h);
		ck_assert_int_eq(virtq__get_used(&vq, NULL), h);
	}
	ck_assert_uint_eq(vq.num_free, 4);
	ck_assert_uint_eq(mem->avail.idx, (uint16_t)70000);
	ck_assert_uint_eq(vq.last_used, (uint16_t)70000);
}
END_TEST

Suite *guest_virtq_suite(void)
{
	Suite *s = suite_create("guest_virtq");
	TCase *tc = tcase_create("ring");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, chains_round_trip);
	tcase_add_test(tc, full_ring_and_out_of_order);
	tcase_add_test(tc, event_idx_suppresses_notifications);
	tcase_add_test(tc, no_notify_flag_without_event_idx);
	tcase_add_test(tc, bogus_used_ids_are_ignored);
	tcase_add_test(tc, indices_wrap);
	suite_add_tcase(s, tc);
	return s;
}
