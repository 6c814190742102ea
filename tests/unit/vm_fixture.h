/* A test VM with its console on a pipe, and the memwriter guest booted in it (needs KVM). */
#ifndef TESTS_UNIT_VM_FIXTURE_H
#define TESTS_UNIT_VM_FIXTURE_H
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <check.h>
#include "boot.h"
#include "memory.h"
#include "vm.h"
#include "../guests/rt/layout.h" /* RT_MEMWRITER_BASE */

/* A console line is awaited at most this long: a hung guest fails the test with its console. */
#define TEST_VM_WAIT_MS 20000

struct test_vm {
	struct vm *vm;
	int con[2]; /* the test reads [0], the VM writes [1] */
	char out[8192];
	size_t len;
};

/* A VM of mem bytes and vcpus vCPUs, not started, its console into t->con. */
static inline void test_vm__create(struct test_vm *t, uint64_t mem, unsigned int vcpus)
{
	struct vm_config cfg = {.mem_size = mem, .nr_vcpus = vcpus};

	memset(t, 0, sizeof(*t));
	ck_assert_int_eq(pipe(t->con), 0);
	cfg.console_fd = t->con[1];
	ck_assert_int_eq(vm__create(&cfg, &t->vm), 0);
}

static inline void test_vm__destroy(struct test_vm *t)
{
	vm__destroy(t->vm);
	close(t->con[0]);
	close(t->con[1]);
}

/* Loads tests/guests/memwriter.elf with cmdline into t's VM and starts it. */
static inline void test_vm__boot_memwriter(struct test_vm *t, const char *cmdline)
{
	const char *guests = getenv("TWIN_GUESTS_DIR");
	char path[4096], err[512];

	ck_assert_msg(guests != NULL, "TWIN_GUESTS_DIR is not set: run with make check");
	snprintf(path, sizeof(path), "%s/memwriter.elf", guests);
	ck_assert_msg(boot__load_pvh_file(t->vm, path, cmdline, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(vm__start(t->vm), 0);
}

/* Reads the console until it holds text, for at most TEST_VM_WAIT_MS. */
static inline void test_vm__wait_text(struct test_vm *t, const char *text)
{
	struct pollfd p = {.fd = t->con[0], .events = POLLIN};

	while (!strstr(t->out, text)) {
		ssize_t n;

		ck_assert_msg(poll(&p, 1, TEST_VM_WAIT_MS) == 1,
			      "no \"%s\" on the console; got:\n%s", text, t->out);
		n = read(t->con[0], t->out + t->len, sizeof(t->out) - 1 - t->len);
		ck_assert_int_gt(n, 0);
		t->len += (size_t)n;
		t->out[t->len] = '\0';
	}
}

/* Word 0 of vCPU 0's first memwriter page: the iteration that last wrote it (0 = not yet). */
static inline uint64_t memwriter_progress(struct vm *vm)
{
	return *(volatile uint64_t *)memory__gpa_to_hva(vm, RT_MEMWRITER_BASE, 8);
}

/* After test_vm__boot_memwriter: returns once memwriter printed its banner and is writing. */
static inline void test_vm__wait_writing(struct test_vm *t)
{
	test_vm__wait_text(t, "memwriter: pages=");
	for (int ms = 0; memwriter_progress(t->vm) == 0; ms++) { /* polls the guest, no timing */
		ck_assert_msg(ms < TEST_VM_WAIT_MS,
			      "memwriter wrote nothing within %d ms of its banner; console:\n%s",
			      TEST_VM_WAIT_MS, t->out);
		usleep(1000);
	}
}

/* tests/e2e/lib.sh expected_checksum: what memwriter prints when done with these arguments. */
static inline uint64_t memwriter_checksum(unsigned int vcpus, uint64_t pages, uint64_t ws,
					  uint64_t iters)
{
	uint64_t h = 0xcbf29ce484222325ULL, total = pages * iters;

	for (unsigned int cpu = 0; cpu < vcpus; cpu++) {
		for (uint64_t j = 0; j < ws; j++) {
			uint64_t v = j >= total ? 0 : (j + (total - 1 - j) / ws * ws) / pages + 1;

			for (int b = 0; b < 8; b++)
				h = (h ^ ((v >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
		}
	}
	return h;
}

#endif
