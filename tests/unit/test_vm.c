/* Unit tests for the VM runtime: create errors, GPA translation, I/O bus, pause (needs KVM). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "boot.h"
#include "dirty.h"
#include "iobus.h"
#include "layout.h"
#include "suites.h"
#include "vm.h"
#include "../guests/rt/layout.h" /* RT_MEMWRITER_BASE */

static int null_fd(void)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(test_create_errors)
{
	struct vm_config cfg = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = 1};
	struct vm *vm = (struct vm *)1;

	cfg.kvm_dev = "/nonexistent/kvm";
	ck_assert_int_eq(vm__create(&cfg, &vm), -ENOENT);
	ck_assert_ptr_null(vm);
	cfg.kvm_dev = "/dev/null";
	ck_assert_int_eq(vm__create(&cfg, &vm), -ENODEV);
	cfg.kvm_dev = NULL;
	cfg.nr_vcpus = 0;
	ck_assert_int_eq(vm__create(&cfg, &vm), -EINVAL);
	cfg.nr_vcpus = 1;
	cfg.mem_size = 1ULL << 50; /* more than any lab host has */
	ck_assert_int_eq(vm__create(&cfg, &vm), -ENOMEM);
}
END_TEST

START_TEST(test_gpa_translation)
{
	struct vm_config cfg = {.mem_size = (3ULL << 30) + (64 << 20), .nr_vcpus = 1};
	const uint64_t hole = LAYOUT_PCI_HOLE_START, high = LAYOUT_PCI_HOLE_END;
	struct vm *vm;
	uint8_t *base;

	cfg.console_fd = null_fd();
	ck_assert_int_eq(vm__create(&cfg, &vm), 0);
	base = vm->mem.base;
	ck_assert_uint_eq(vm->mem.low_size, hole);
	ck_assert_uint_eq(vm->mem.high_size, 64 << 20);
	ck_assert_ptr_eq(memory__gpa_to_hva(vm, 0, 4096), base);
	ck_assert_ptr_eq(memory__gpa_to_hva(vm, hole - 4096, 4096), base + hole - 4096);
	ck_assert_ptr_null(memory__gpa_to_hva(vm, hole - 4096, 4097));
	ck_assert_ptr_null(memory__gpa_to_hva(vm, hole, 1));
	ck_assert_ptr_eq(memory__gpa_to_hva(vm, high, 4096), base + hole);
	ck_assert_ptr_nonnull(memory__gpa_to_hva(vm, high + (64 << 20) - 1, 1));
	ck_assert_ptr_null(memory__gpa_to_hva(vm, high + (64 << 20), 1));
	ck_assert_ptr_null(memory__gpa_to_hva(vm, UINT64_MAX, 2));
	/* The dirty bitmap spans the pfns up to the end of high RAM, in whole words. */
	ck_assert_uint_eq(dirty__bitmap_bits(vm), (high >> 12) + ((64 << 20) >> 12));
	vm__destroy(vm);
	close(cfg.console_fd);
}
END_TEST

static void dummy_write(struct vcpu *vcpu, void *opaque, uint64_t offset, const void *data,
			uint32_t len)
{
	*(uint64_t *)opaque = offset;
}

START_TEST(test_iobus)
{
	static const struct io_ops ops = {.write = dummy_write};
	struct iobus bus;
	uint64_t seen = 0, v = 0x12345678;
	uint32_t r = 0;

	iobus__init(&bus, "port", LOG_KIND_TEST);
	ck_assert_int_eq(iobus__register(&bus, 0x100, 8, &ops, &seen), 0);
	ck_assert_int_eq(iobus__register(&bus, 0x107, 2, &ops, &seen), -EEXIST);
	ck_assert_int_eq(iobus__register(&bus, 0xff, 1, &ops, &seen), 0);
	ck_assert_int_eq(iobus__register(&bus, 0x200, 0, &ops, &seen), -EINVAL);
	iobus__access(&bus, NULL, 0x105, &v, 4, 1);
	ck_assert_uint_eq(seen, 5);
	/* A read with no read handler, and an unclaimed read, are all-ones. */
	iobus__access(&bus, NULL, 0x101, &r, 4, 0);
	ck_assert_uint_eq(r, 0xffffffffu);
	r = 0;
	iobus__access(&bus, NULL, 0x300, &r, 2, 0);
	ck_assert_uint_eq(r, 0xffffu);
	for (unsigned int i = bus.nr; i < IOBUS_MAX_RANGES; i++)
		ck_assert_int_eq(iobus__register(&bus, 0x1000 + i * 16, 4, &ops, &seen), 0);
	ck_assert_int_eq(iobus__register(&bus, 0x9000, 4, &ops, &seen), -ENOSPC);
}
END_TEST

START_TEST(test_dirty_method_names)
{
	enum dirty_method m;

	ck_assert_int_eq(dirty__method_from_str("ring", &m), 0);
	ck_assert_int_eq(m, DIRTY_METHOD_RING);
	ck_assert_int_eq(dirty__method_from_str("clear-log", &m), 0);
	ck_assert_int_eq(m, DIRTY_METHOD_CLEAR_LOG);
	ck_assert_int_eq(dirty__method_from_str("bitmap", &m), -EINVAL);
	ck_assert_str_eq(dirty__method_to_str(DIRTY_METHOD_GET_LOG), "get-log");
}
END_TEST

/*
 * Waits until guest memory differs from snap (bounded: up to 5 s in 1 ms steps
 * on the done fd), failing if the guest ends first.  Updates snap.
 */
static void wait_for_change(struct vm *vm, const uint8_t *area, uint8_t *snap, size_t len)
{
	struct pollfd p = {.fd = vm__done_fd(vm), .events = POLLIN};

	for (int i = 0; !memcmp(snap, area, len); i++) {
		ck_assert_msg(i < 5000, "memwriter did not write for 5 s while running");
		ck_assert_msg(poll(&p, 1, 1) == 0, "memwriter ended before the test was done");
	}
	memcpy(snap, area, len);
}

/*
 * memwriter on 2 vCPUs: memory changes while it runs; while paused, every
 * vCPU is parked and memory does not change; nested pauses need as many
 * resumes; after the last resume memory changes again and the guest finishes
 * normally.
 */
START_TEST(test_pause_resume)
{
	struct vm_config cfg = {.mem_size = 64 << 20, .nr_vcpus = 2};
	const char *guests = getenv("TWIN_GUESTS_DIR");
	const size_t ws = 2 * 1024 * 4096;
	char path[4096], err[512];
	uint8_t *snap = calloc(1, ws), *area;
	struct pollfd p;
	struct vm *vm;

	ck_assert_msg(guests != NULL, "TWIN_GUESTS_DIR is not set: run with make check");
	ck_assert_ptr_nonnull(snap);
	snprintf(path, sizeof(path), "%s/memwriter.elf", guests);
	cfg.console_fd = null_fd();
	ck_assert_int_eq(vm__create(&cfg, &vm), 0);
	/* ~3 s of writing at 100 pages/ms: far longer than the rounds below. */
	ck_assert_msg(boot__load_pvh_file(vm, path, "pages=1024 ws=1024 rate=100 vcpus=2 iters=300",
					  err, sizeof(err)) == 0,
		      "%s", err);
	area = memory__gpa_to_hva(vm, RT_MEMWRITER_BASE, ws);
	ck_assert_ptr_nonnull(area);
	memcpy(snap, area, ws);
	ck_assert_int_eq(vm__start(vm), 0);
	p = (struct pollfd){.fd = vm__done_fd(vm), .events = POLLIN};
	for (int round = 0; round < 5; round++) {
		wait_for_change(vm, area, snap, ws);
		vm__pause_all(vm);
		vm__pause_all(vm);
		pthread_mutex_lock(&vm->lock);
		ck_assert_uint_eq(vm->nr_parked, vm->nr_running);
		ck_assert_uint_eq(vm->nr_running, 2);
		pthread_mutex_unlock(&vm->lock);
		memcpy(snap, area, ws);
		ck_assert_int_eq(poll(&p, 1, 20), 0);
		ck_assert_int_eq(memcmp(snap, area, ws), 0);
		vm__resume_all(vm);
		/* Still paused: one resume per pause. */
		ck_assert_int_eq(poll(&p, 1, 20), 0);
		ck_assert_int_eq(memcmp(snap, area, ws), 0);
		vm__resume_all(vm);
	}
	wait_for_change(vm, area, snap, ws);
	ck_assert_int_eq(vm__join(vm), 1); /* TWIN_GUEST_EXIT_OK */
	vm__destroy(vm);
	close(cfg.console_fd);
	free(snap);
}
END_TEST

Suite *vm_suite(void)
{
	Suite *s = suite_create("vm");
	TCase *tc = tcase_create("runtime");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_create_errors);
	tcase_add_test(tc, test_gpa_translation);
	tcase_add_test(tc, test_iobus);
	tcase_add_test(tc, test_dirty_method_names);
	tcase_add_test(tc, test_pause_resume);
	suite_add_tcase(s, tc);
	return s;
}
