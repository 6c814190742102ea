/* Unit tests for virtio-console: transmit chains from a hand-built ring reach the console sink. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "suites.h"
#include "virtio_console.h"
#include "vring_fixture.h"

static struct vring ring;
static struct vq_chain chain;
static int sink[2];

static void setup(void)
{
	vring_init(&ring);
	/* console__write needs only the VM's console, lock and sink fd. */
	console__init(&ring.vm.console);
	pthread_mutex_init(&ring.vm.lock, NULL);
	ck_assert_int_eq(pipe2(sink, O_NONBLOCK), 0);
	ring.vm.cfg.console_fd = sink[1];
}

static void teardown(void)
{
	close(sink[0]);
	close(sink[1]);
	pthread_mutex_destroy(&ring.vm.lock);
	console__dispose(&ring.vm.console);
	vring_dispose(&ring);
}

START_TEST(test_output)
{
	const struct vring_seg segs[] = {{6, 0}, {7, 0}};
	char got[64];
	uint64_t gpa[2];
	char why[160];

	vring_post(&ring, segs, 2, gpa);
	memcpy(vring_hva(&ring, gpa[0]), "hello ", 6);
	memcpy(vring_hva(&ring, gpa[1]), "world!\n", 7);
	ck_assert_int_eq(virtqueue__pop(&ring.vq, &chain), 1);
	ck_assert_int_eq(virtio_console__tx(&ring.vm, &chain, why, sizeof(why)), 0);
	ck_assert_int_eq(read(sink[0], got, sizeof(got)), 13);
	ck_assert_mem_eq(got, "hello world!\n", 13);
	/* The serial port's queued part line goes first: one sink, in order. */
	console__putc(&ring.vm, '>');
	vring_post(&ring, segs, 1, gpa);
	memcpy(vring_hva(&ring, gpa[0]), "abcdef", 6);
	ck_assert_int_eq(virtqueue__pop(&ring.vq, &chain), 1);
	ck_assert_int_eq(virtio_console__tx(&ring.vm, &chain, why, sizeof(why)), 0);
	ck_assert_int_eq(read(sink[0], got, sizeof(got)), 7);
	ck_assert_mem_eq(got, ">abcdef", 7);
}
END_TEST

START_TEST(test_writable_refused)
{
	const struct vring_seg segs[] = {{4, 0}, {4, 1}};
	uint64_t gpa[2];
	char why[160] = "", got[8];

	vring_post(&ring, segs, 2, gpa);
	ck_assert_int_eq(virtqueue__pop(&ring.vq, &chain), 1);
	ck_assert_int_eq(virtio_console__tx(&ring.vm, &chain, why, sizeof(why)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(why, "writable"));
	ck_assert_int_eq(read(sink[0], got, sizeof(got)), -1);
	ck_assert_int_eq(errno, EAGAIN);
}
END_TEST

Suite *virtio_console_suite(void)
{
	Suite *s = suite_create("virtio_console");
	TCase *tc = tcase_create("tx");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_output);
	tcase_add_test(tc, test_writable_refused);
	suite_add_tcase(s, tc);
	return s;
}
