/* Unit tests for the emulated devices, driven by tiny ring-0 guests in RAM (needs KVM). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "debugdev.h"
#include "e820.h"
#include "layout.h"
#include "log.h"
#include "pvh.h"
#include "suites.h"
#include "twin_abi.h"
#include "vm.h"

#define CODE_GPA LAYOUT_HIGH_START

/* 32-bit protected-mode code, as the PVH entry leaves the boot CPU. */
#define MOVL_IMM_TO(addr, imm) 0xc7, 0x05, LE32(addr), LE32(imm)
#define MOV_FROM_TO_EAX(addr)  0xa1, LE32(addr)
#define MOV_EAX_TO(addr)       0xa3, LE32(addr)
#define LE32(v)		       (uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16), (uint8_t)((v) >> 24)
#define REG(r)		       (uint32_t)(TWIN_DEBUGDEV_GPA + (r))
#define HLT		       0xf4

struct guest_run {
	int status;
	char console[8192];
	size_t console_len;
	uint64_t run_ns; /* vm__start to vm__join returning */
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A one-vCPU VM of 16 MiB with code at CODE_GPA as the boot vCPU's entry, not started. */
static struct vm *create_code_vm(const uint8_t *code, size_t len, int console_fd)
{
	struct vm_config cfg = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = console_fd};
	struct e820_entry map[E820_MAX_ENTRIES];
	char err[256];
	struct vm *vm;
	int n;

	ck_assert_int_eq(vm__create(&cfg, &vm), 0);
	n = e820__build(cfg.mem_size, map, E820_MAX_ENTRIES);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(
	    pvh__write_start_info(vm->mem.base, vm->mem.low_size, map, n, "", err, sizeof(err)), 0);
	memcpy(memory__gpa_to_hva(vm, CODE_GPA, len), code, len);
	ck_assert_int_eq(vm__setup_boot_cpu(vm, CODE_GPA), 0);
	return vm;
}

/* Is another thread of this process in system call nr, as /proc shows it? */
static bool other_thread_in_syscall(long nr)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	bool found = false;

	ck_assert_ptr_nonnull(d);
	while (!found && (e = readdir(d))) {
		char path[320], buf[32] = "", *end;
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.' || atoi(e->d_name) == gettid())
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/syscall", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* the thread ended */
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		found = n > 0 && strtol(buf, &end, 10) == nr && *end == ' ';
	}
	closedir(d);
	return found;
}

/*
 * Waits (bounded poll) until vCPU 0 is blocked in a WAIT_US: its deadline is
 * set and its thread sleeps in the futex of vm->wake.
 */
static void wait_until_vcpu_waits(struct vm *vm)
{
	for (int i = 0;; i++) {
		bool waiting;

		pthread_mutex_lock(&vm->lock);
		waiting = vm->vcpus[0].wait_deadline_ns == UINT64_MAX;
		pthread_mutex_unlock(&vm->lock);
		if (waiting && other_thread_in_syscall(SYS_futex))
			return;
		ck_assert_msg(i < 10000, "vCPU 0 never blocked in WAIT_US");
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
}

/* Boots code on one vCPU; kick_after_start raises a debug-device event once it is in WAIT_US. */
static void run_code(const uint8_t *code, size_t len, int kick_after_start, struct guest_run *out)
{
	struct vm_config cfg;
	struct vm *vm;
	ssize_t got;
	uint64_t t0;

	cfg.console_fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(cfg.console_fd, 0);
	vm = create_code_vm(code, len, cfg.console_fd);
	t0 = monotonic_ns();
	ck_assert_int_eq(vm__start(vm), 0);
	if (kick_after_start) {
		wait_until_vcpu_waits(vm);
		debugdev__kick(vm);
	}
	out->status = vm__join(vm);
	out->run_ns = monotonic_ns() - t0;
	got = pread(cfg.console_fd, out->console, sizeof(out->console) - 1, 0);
	out->console_len = got > 0 ? got : 0;
	out->console[out->console_len] = '\0';
	vm__destroy(vm);
	close(cfg.console_fd);
}

/* WAIT_US forever, then exit with the EVENTS value: only a kick can end it. */
START_TEST(test_kick_ends_wait)
{
	const uint8_t code[] = {
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_WAIT_US), TWIN_WAIT_FOREVER),
	    MOV_FROM_TO_EAX(REG(TWIN_DEBUGDEV_REG_EVENTS)),
	    MOV_EAX_TO(REG(TWIN_DEBUGDEV_REG_EXIT)),
	    HLT,
	};
	struct guest_run r;

	run_code(code, sizeof(code), 1, &r);
	ck_assert_int_eq(r.status, (TWIN_EVENT_KICK << 1) | 1);
}
END_TEST

/* A 2 ms wait with no kick ends by its deadline; EVENTS then says so and clears. */
START_TEST(test_wait_deadline)
{
	const uint8_t code[] = {
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_WAIT_US), 2000),
	    MOV_FROM_TO_EAX(REG(TWIN_DEBUGDEV_REG_EVENTS)),
	    MOV_FROM_TO_EAX(REG(TWIN_DEBUGDEV_REG_EVENTS)),
	    0x83,
	    0xc0,
	    0x10, /* add $0x10, %eax: 0x10 if the second read was clear */
	    MOV_EAX_TO(REG(TWIN_DEBUGDEV_REG_EXIT)),
	    HLT,
	};
	struct guest_run r;

	run_code(code, sizeof(code), 0, &r);
	ck_assert_int_eq(r.status, (0x10 << 1) | 1);
	/* A lower bound, not a race: the wait began after vm__start. */
	ck_assert_uint_ge(r.run_ns, 2000000);
}
END_TEST

/* Back-to-back waits with no EVENTS read: each wait consumed its deadline, so each one blocks. */
START_TEST(test_wait_consumes_its_event)
{
	const uint8_t code[] = {
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_WAIT_US), 2000),
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_WAIT_US), 2000),
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_WAIT_US), 2000),
	    MOV_FROM_TO_EAX(REG(TWIN_DEBUGDEV_REG_EVENTS)),
	    MOV_EAX_TO(REG(TWIN_DEBUGDEV_REG_EXIT)),
	    HLT,
	};
	struct guest_run r;

	run_code(code, sizeof(code), 0, &r);
	/* EVENTS still tells what ended the last wait. */
	ck_assert_int_eq(r.status, (TWIN_EVENT_DEADLINE << 1) | 1);
	/* A lower bound: a stale deadline would have ended the later waits at once. */
	ck_assert_uint_ge(r.run_ns, 6000000);
}
END_TEST

/* ID and VERSION, the console byte and buffer print: out of RAM, and BUF_MAX vs one more. */
START_TEST(test_debugdev_registers)
{
	const uint8_t code[] = {
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_CONSOLE), 'c'),
	    /* "hi" at 0x200000, printed through the buffer registers. */
	    MOVL_IMM_TO(0x200000, 'h' | ('i' << 8)),
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_BUF_ADDR_LO), 0x200000),
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_BUF_ADDR_HI), 0),
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_BUF_LEN), 2),
	    /* Within the limit but past the end of RAM (16 MiB): ignored. */
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_BUF_ADDR_LO), 0xfff800),
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_BUF_LEN), TWIN_DEBUGDEV_BUF_MAX),
	    /* In RAM: one byte over the limit is ignored, the limit itself printed. */
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_BUF_ADDR_LO), 0x200000),
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_BUF_LEN), TWIN_DEBUGDEV_BUF_MAX + 1),
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_BUF_LEN), TWIN_DEBUGDEV_BUF_MAX),
	    MOV_FROM_TO_EAX(REG(TWIN_DEBUGDEV_REG_ID)),
	    0x3d,
	    LE32(TWIN_DEBUGDEV_ID), /* cmp $ID, %eax */
	    0x75,
	    0x0e, /* jne fail */
	    MOV_FROM_TO_EAX(REG(TWIN_DEBUGDEV_REG_VERSION)),
	    0x83,
	    0xc0,
	    0x20, /* add $0x20, %eax */
	    MOV_EAX_TO(REG(TWIN_DEBUGDEV_REG_EXIT)),
	    HLT,
	    /* fail: */
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_EXIT), 0x7f),
	    HLT,
	};
	struct guest_run r;

	run_code(code, sizeof(code), 0, &r);
	ck_assert_int_eq(r.status, ((0x20 + TWIN_DEBUGDEV_VERSION) << 1) | 1);
	/* "chi", then the BUF_MAX bytes at 0x200000: "hi" and zeroes. */
	ck_assert_uint_eq(r.console_len, 3 + TWIN_DEBUGDEV_BUF_MAX);
	ck_assert_mem_eq(r.console, "chihi", 5);
	for (size_t i = 5; i < r.console_len; i++)
		ck_assert_int_eq(r.console[i], 0);
}
END_TEST

/* 8250 THR output and LSR; the debug-exit port takes v from the guest's LSR read. */
START_TEST(test_serial_and_debug_exit)
{
	const uint8_t code[] = {
	    0x66, 0xba, 0xf8, 0x03, /* mov $0x3f8, %dx */
	    0xb0, 'A',		    /* mov $'A', %al */
	    0xee,		    /* out %al, %dx */
	    0x66, 0xba, 0xfd, 0x03, /* mov $0x3fd, %dx */
	    0xec,		    /* in %dx, %al: LSR */
	    0x66, 0xba, 0xf4, 0x00, /* mov $0xf4, %dx */
	    0xee,		    /* out %al, %dx */
	    HLT,
	};
	struct guest_run r;

	run_code(code, sizeof(code), 0, &r);
	/* LSR = THRE | TEMT = 0x60; status (0x60 << 1 | 1) & 0xff. */
	ck_assert_int_eq(r.status, 0xc1);
	ck_assert_uint_eq(r.console_len, 1);
	ck_assert_str_eq(r.console, "A");
}
END_TEST

/* An MMIO read nobody handles is all-ones and the VM goes on. */
START_TEST(test_unhandled_mmio)
{
	const uint8_t code[] = {
	    MOV_FROM_TO_EAX(0xfeb00000u),
	    0x25,
	    LE32(0x7f), /* and $0x7f, %eax */
	    MOV_EAX_TO(REG(TWIN_DEBUGDEV_REG_EXIT)),
	    HLT,
	};
	struct guest_run r;

	run_code(code, sizeof(code), 0, &r);
	ck_assert_int_eq(r.status, (0x7f << 1) | 1);
}
END_TEST

/*
 * Runs code with stderr going to a file; returns how many captured lines
 * contain needle (and in *other, if not NULL, how many contain other_needle).
 */
static unsigned int run_count_stderr(const uint8_t *code, size_t len, const char *needle,
				     const char *other_needle, unsigned int *other,
				     struct guest_run *r)
{
	static char text[65536];
	unsigned int hits = 0;
	int saved, fd;
	ssize_t got;

	fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	run_code(code, len, 0, r);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	got = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	ck_assert_int_ge(got, 0);
	ck_assert_int_lt(got, sizeof(text) - 1);
	text[got] = '\0';
	if (other)
		*other = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strstr(line, needle))
			hits++;
		if (other && strstr(line, other_needle))
			(*other)++;
	}
	return hits;
}

#define UNHANDLED_GPA 0xfd000000u
#define MANY	      200

/* One unhandled MMIO address read many times is reported exactly once. */
START_TEST(test_unhandled_mmio_logged_once)
{
	const uint8_t code[] = {
	    0xb9, LE32(MANY),		    /* mov $MANY, %ecx */
	    MOV_FROM_TO_EAX(UNHANDLED_GPA), /* 1: mov UNHANDLED_GPA, %eax */
	    0xe2, 0xf9,			    /* loop 1b */
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_EXIT), 0),
	    HLT,
	};
	struct guest_run r;
	char needle[64];

	snprintf(needle, sizeof(needle), "unhandled guest mmio read at 0x%x ", UNHANDLED_GPA);
	ck_assert_uint_eq(run_count_stderr(code, sizeof(code), needle, NULL, NULL, &r), 1);
	ck_assert_int_eq(r.status, 1);
}
END_TEST

/* MANY distinct unhandled addresses: a few reports, then one line saying the rest are dropped. */
START_TEST(test_unhandled_mmio_rate_limited)
{
	const uint8_t code[] = {
	    0xbb, LE32(UNHANDLED_GPA), /* mov $UNHANDLED_GPA, %ebx */
	    0xb9, LE32(MANY),	       /* mov $MANY, %ecx */
	    0x8b, 0x03,		       /* 1: mov (%ebx), %eax */
	    0x83, 0xc3, 0x08,	       /* add $8, %ebx */
	    0xe2, 0xf9,		       /* loop 1b */
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_EXIT), 0),
	    HLT,
	};
	unsigned int reported, suppressed;
	struct guest_run r;
	uint64_t secs;

	reported = run_count_stderr(code, sizeof(code), "unhandled guest mmio read at",
				    "suppressing further ones", &suppressed, &r);
	ck_assert_int_eq(r.status, 1);
	secs = r.run_ns / 1000000000ULL;
	/* A token bucket of LOG_RATE_PER_SEC a second, refilled at most secs + 1 times. */
	ck_assert_uint_ge(reported, 1);
	ck_assert_uint_le(reported, LOG_RATE_PER_SEC * (secs + 1));
	ck_assert_uint_lt(reported, MANY);
	ck_assert_uint_ge(suppressed, 1);
	ck_assert_uint_le(suppressed, secs + 1);
}
END_TEST

/* A guest printing into a pipe whose reader stopped: vm__stop still ends the VM. */
START_TEST(test_stop_with_stalled_console)
{
	const uint8_t code[] = {
	    MOVL_IMM_TO(REG(TWIN_DEBUGDEV_REG_CONSOLE), 'x'),
	    0xeb,
	    0xf4, /* jmp back to the movl */
	};
	char fill[4096];
	struct vm *vm;
	int fds[2];

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	/* Fill the pipe, then make the write end blocking again as stdout would be. */
	memset(fill, 'f', sizeof(fill));
	ck_assert_int_eq(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	while (write(fds[1], fill, sizeof(fill)) > 0)
		;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(fcntl(fds[1], F_SETFL, 0), 0);
	vm = create_code_vm(code, sizeof(code), fds[1]);
	ck_assert_int_eq(vm__start(vm), 0);
	/* Stop only once the vCPU is blocked writing its first line (bounded poll). */
	for (int i = 0; !other_thread_in_syscall(SYS_write); i++) {
		ck_assert_msg(i < 10000, "the vCPU never blocked writing to the full pipe");
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	/* A join that never returns fails the test case through its Check timeout. */
	vm__stop(vm, 0);
	ck_assert_int_eq(vm__join(vm), 0);
	vm__destroy(vm);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

Suite *devices_suite(void)
{
	Suite *s = suite_create("devices");
	TCase *tc = tcase_create("guest-driven");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_kick_ends_wait);
	tcase_add_test(tc, test_wait_deadline);
	tcase_add_test(tc, test_wait_consumes_its_event);
	tcase_add_test(tc, test_debugdev_registers);
	tcase_add_test(tc, test_serial_and_debug_exit);
	tcase_add_test(tc, test_unhandled_mmio);
	tcase_add_test(tc, test_unhandled_mmio_logged_once);
	tcase_add_test(tc, test_unhandled_mmio_rate_limited);
	tcase_add_test(tc, test_stop_with_stalled_console);
	suite_add_tcase(s, tc);
	return s;
}
