/* The vCPU throttle against a running memwriter: it parks, it nests, it stops (needs KVM). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "boot.h"
#include "memory.h"
#include "suites.h"
#include "throttle.h"
#include "vm.h"
#include "../guests/rt/layout.h" /* RT_MEMWRITER_BASE */

/* 1 page/ms per vCPU for a very long time: memory changes every millisecond while it runs. */
#define CMDLINE	      "pages=64 ws=64 rate=1 vcpus=2 iters=1000000"
#define WRITTEN_BYTES (2 * 64 * 4096)
#define HANG_GUARD_MS 20000

static struct vm *vm;
static int con[2];

static void boot_memwriter(void)
{
	struct vm_config cfg = {.mem_size = 64 << 20, .nr_vcpus = 2};
	const char *guests = getenv("TWIN_GUESTS_DIR");
	char path[4096], err[512], out[512];
	struct pollfd p;
	size_t len = 0;

	ck_assert_msg(guests != NULL, "TWIN_GUESTS_DIR is not set: run with make check");
	snprintf(path, sizeof(path), "%s/memwriter.elf", guests);
	ck_assert_int_eq(pipe(con), 0);
	cfg.console_fd = con[1];
	ck_assert_int_eq(vm__create(&cfg, &vm), 0);
	ck_assert_msg(boot__load_pvh_file(vm, path, CMDLINE, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(vm__start(vm), 0);
	/* Its banner: the vCPUs are writing from here on. */
	p = (struct pollfd){.fd = con[0], .events = POLLIN};
	out[0] = '\0';
	while (!strstr(out, "base=")) {
		ssize_t n;

		ck_assert_msg(poll(&p, 1, HANG_GUARD_MS) == 1, "memwriter printed no banner");
		n = read(con[0], out + len, sizeof(out) - 1 - len);
		ck_assert_int_gt(n, 0);
		len += n;
		out[len] = '\0';
	}
}

static void teardown(void)
{
	vm__destroy(vm); /* also ends a throttle still running */
	close(con[0]);
	close(con[1]);
}

/* FNV-1a over what memwriter writes: changes whenever a vCPU made progress. */
static uint64_t guest_hash(void)
{
	const uint8_t *p = memory__gpa_to_hva(vm, RT_MEMWRITER_BASE, WRITTEN_BYTES);
	uint64_t h = 14695981039346656037ull;

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < WRITTEN_BYTES; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 1099511628211ull;
	}
	return h;
}

static void wait_pauses(uint64_t at_least)
{
	for (int ms = 0; throttle__pauses(vm) < at_least; ms++) {
		ck_assert_msg(ms < HANG_GUARD_MS, "the throttle paused %llu times, want %llu",
			      (unsigned long long)throttle__pauses(vm),
			      (unsigned long long)at_least);
		poll(NULL, 0, 1);
	}
}

static void wait_progress(uint64_t from)
{
	for (int ms = 0; guest_hash() == from; ms++) {
		ck_assert_msg(ms < HANG_GUARD_MS, "the guest made no progress");
		poll(NULL, 0, 1);
	}
}

static unsigned int pause_depth(void)
{
	unsigned int d;

	pthread_mutex_lock(&vm->lock);
	d = vm->pause_depth;
	pthread_mutex_unlock(&vm->lock);
	return d;
}

/*
 * Bounded wait to see the throttle's pause alone (depth 1: the test holds
 * none) with every running vCPU parked under it: parking, not just counting.
 */
static void wait_throttle_parked(void)
{
	bool parked = false;

	for (int ms = 0; !parked; ms++) {
		ck_assert_msg(ms < HANG_GUARD_MS,
			      "the vCPUs were never seen parked by the throttle");
		pthread_mutex_lock(&vm->lock);
		parked =
		    vm->pause_depth == 1 && vm->nr_running > 0 && vm->nr_parked == vm->nr_running;
		pthread_mutex_unlock(&vm->lock);
		if (!parked)
			poll(NULL, 0, 1);
	}
}

/*
 * At 50% the throttle parks every vCPU under its own pause, slice after slice
 * (its pause count grows; the duty cycle is timing and not asserted here); a
 * pause of someone else's holds across its resumes (nesting); the guest still
 * runs under it; and 0 stops it with no pause left behind.
 */
START_TEST(test_throttle_parks_and_nests)
{
	uint64_t h, p0;

	boot_memwriter();
	ck_assert_int_eq(throttle__set(vm, THROTTLE_MAX_PCT + 1), -EINVAL);
	ck_assert_uint_eq(throttle__pauses(vm), 0);
	ck_assert_int_eq(throttle__set(vm, 50), 0);
	wait_pauses(5);
	wait_throttle_parked();

	vm__pause_all(vm);
	h = guest_hash();
	p0 = throttle__pauses(vm);
	wait_pauses(p0 + 5);
	pthread_mutex_lock(&vm->lock);
	ck_assert_uint_gt(vm->nr_running, 0);
	ck_assert_uint_eq(vm->nr_parked, vm->nr_running);
	pthread_mutex_unlock(&vm->lock);
	ck_assert_msg(guest_hash() == h, "the guest ran while paused: a throttle resume undid "
					 "the outer pause");
	vm__resume_all(vm);
	wait_progress(h);

	ck_assert_int_eq(throttle__set(vm, 0), 0);
	ck_assert_uint_eq(pause_depth(), 0);
	wait_progress(guest_hash());
	/* It starts again, and vm__destroy ends it. */
	p0 = throttle__pauses(vm);
	ck_assert_int_eq(throttle__set(vm, 30), 0);
	wait_pauses(p0 + 2);
	teardown();
}
END_TEST

Suite *throttle_suite(void)
{
	Suite *s = suite_create("throttle");
	TCase *tc = tcase_create("throttle");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_throttle_parks_and_nests);
	suite_add_tcase(s, tc);
	return s;
}
