/* Replication pause floor (harvest + memcpy of the dirty pages) and the lab's write-fault cost. */
/*
 * For each working set of N pages, boots memwriter (pages=N ws=N: every pass writes the same
 * N pages, in order, as fast as it can) in a VM of its own, with xen-core directly, and
 * measures:
 *
 * floor   every interval: pause the vCPU, dirty__harvest (the default method, as the primary's
 *         checkpoint uses), memcpy every harvested page into a staging buffer, resume.
 *         harvest_us and memcpy_us are timed; floor_us is their sum.  park_us is vm__pause_all
 *         + ioloop__pause and their resumes around them (as a checkpoint pauses), state_us is
 *         vm_stream__write_state into memory after them (the vCPU, VM and device records a
 *         checkpoint captures): both shown, neither part of the floor.  Medians over
 *         REPL_FLOOR_EPOCHS epochs (the first, everything since enable, dropped).
 * fault   the lab's shadow-paging write-fault cost (LAB.md): the guest's first write to a page
 *         after a harvest re-protected it traps, later writes do not.  Cycles of three short
 *         epochs, the vCPU paused between them: a warm-up (its first writes fault, not
 *         counted), an "unprotected" epoch (the pages writable: no faults), a harvest, a
 *         "protected" epoch (the first write to each page faults), a harvest; the two counted
 *         epochs interleaved so that the machine's load hits both alike.  The guest's progress
 *         is exact: word 0 of a page is the pass that last wrote it (tests/guests/README.md),
 *         so the pages written so far are the sum of word 0 over the N pages, read while the
 *         vCPU is paused.  The vCPU thread's CPU time between resume and pause is its run time
 *         (other load on the shared cores does not count).  With w = run time per page written
 *         in the unprotected epochs:
 *             fault_us per page = (run_protected - pages_protected * w) / pages harvested
 *         A median over REPL_FAULT_ROUNDS rounds; fault_ms is that times N: what the guest pays
 *         per epoch for N dirty pages in this lab, not Twin's overhead.
 *
 * Environment: TWIN_GUESTS_DIR (memwriter.elf), REPL_FLOOR_PAGES ("16 64 256 1024 4096"),
 * REPL_FLOOR_MEM_MB (256), REPL_FLOOR_INTERVAL_MS (50), REPL_FLOOR_EPOCHS (21),
 * REPL_FAULT_ROUNDS (5), REPL_FLOOR_DEBUG (set: each fault round on stderr).  --raw prints
 * one "floor ..." line per N for bench/repl-bench.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "boot.h"
#include "dirty.h"
#include "ioloop.h"
#include "memory.h"
#include "vm.h"
#include "util.h"
#include "stream.h"
#include "vm_stream.h"

#define PAGE		4096ULL
#define MEMWRITER_BASE	0x1000000ULL /* tests/guests/rt/layout.h RT_MEMWRITER_BASE */
#define MAX_SETS	16
#define FAULT_ROUND_NS	200000000ULL /* each fault round runs about this long */
#define FAULT_NS_PER_PG 12000ULL     /* fault epoch length per page: about half of it faults */
#define FAULT_MIN_EPOCH 500000ULL
#define MAX_EPOCHS	1024

struct opts {
	const char *guests;
	unsigned int sets[MAX_SETS], nsets;
	uint64_t mem, interval_ns;
	unsigned int epochs, rounds;
	int raw;
};

struct result {
	uint64_t dirty, harvest_ns, memcpy_ns, floor_ns, park_ns, state_ns; /* medians */
	double fault_ns_page;						    /* median over rounds */
	double fault_min, fault_max;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t cpu_ns(clockid_t c)
{
	struct timespec ts;

	if (clock_gettime(c, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median_u64(uint64_t *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Pages the guest has written so far: the sum of word 0 (the pass) over the working set. */
static uint64_t pages_written(const volatile uint64_t *const *words, unsigned int n)
{
	uint64_t s = 0;

	for (unsigned int i = 0; i < n; i++)
		s += *words[i];
	return s;
}

/* A growing memory buffer for vm_stream__write_state, as the primary keeps an epoch's state. */
struct membuf {
	uint8_t *p;
	size_t len, cap;
};

static int membuf_write(void *ctx, const void *buf, size_t len)
{
	struct membuf *m = ctx;

	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap : 65536;
		uint8_t *p;

		while (cap < m->len + len)
			cap *= 2;
		p = realloc(m->p, cap);
		if (!p)
			return -ENOMEM;
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

/* Copies every page set in bm into staging; returns the pages copied. */
static uint64_t copy_dirty(struct vm *vm, const uint64_t *bm, uint64_t bits, uint8_t *staging)
{
	uint64_t n = 0;

	for (uint64_t w = 0; w < bits / 64; w++) {
		uint64_t m = bm[w];

		while (m) {
			uint64_t pfn = w * 64 + (uint64_t)__builtin_ctzll(m);
			const void *src = memory__gpa_to_hva(vm, pfn * PAGE, PAGE);

			m &= m - 1;
			if (src)
				memcpy(staging + n++ * PAGE, src, PAGE);
		}
	}
	return n;
}

/* The vCPU has left the previous epoch's pause and is running again. */
static int guest_alive(struct vm *vm)
{
	struct pollfd p = {.fd = vm__done_fd(vm), .events = POLLIN};

	if (poll(&p, 1, 0) != 0) {
		fprintf(stderr, "repl-floor: memwriter stopped early (see its console)\n");
		return -1;
	}
	return 0;
}

static int measure(const struct opts *o, unsigned int ws, struct result *res)
{
	struct vm_config cfg = {
	    .mem_size = o->mem,
	    .nr_vcpus = 1,
	    .dirty_method = DIRTY_METHOD_DEFAULT,
	};
	uint64_t harvest[MAX_EPOCHS], copy[MAX_EPOCHS], park[MAX_EPOCHS], dirty[MAX_EPOCHS];
	uint64_t floor_v[MAX_EPOCHS], state[MAX_EPOCHS], *bm = NULL, bits;
	struct membuf sbuf = {0};
	const volatile uint64_t **words = NULL;
	uint8_t *staging = NULL;
	double fault[64];
	char path[4096], cmdline[160], err[512];
	struct vm *vm = NULL;
	clockid_t vcpu_clock;
	uint64_t ep_ns, neps;
	int rc = -1;

	cfg.console_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (cfg.console_fd < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/memwriter.elf", o->guests);
	/*
	 * Unpaced: the vCPU only writes pages and faults, with no exit of its own, so its CPU
	 * time is writes + faults.  (Paced, its waits cost exits as dear as the faults.)
	 */
	ep_ns = ws * FAULT_NS_PER_PG;
	if (ep_ns < FAULT_MIN_EPOCH)
		ep_ns = FAULT_MIN_EPOCH;
	snprintf(cmdline, sizeof(cmdline), "pages=%u ws=%u rate=0 vcpus=1 iters=1000000000000", ws,
		 ws);
	if (vm__create(&cfg, &vm))
		goto out;
	if (boot__load_pvh_file(vm, path, cmdline, err, sizeof(err))) {
		fprintf(stderr, "repl-floor: %s\n", err);
		goto out;
	}
	bits = dirty__bitmap_bits(vm);
	bm = calloc((bits + 63) / 64 + 1, 8);
	words = calloc(ws, sizeof(*words));
	/* Room for every page of RAM, touched once so that no epoch pays for first touch. */
	staging = malloc((bits + 1) * PAGE);
	if (!bm || !words || !staging) {
		fprintf(stderr, "repl-floor: out of memory\n");
		goto out;
	}
	memset(staging, 1, (bits + 1) * PAGE);
	for (unsigned int i = 0; i < ws; i++) {
		words[i] = memory__gpa_to_hva(vm, MEMWRITER_BASE + i * PAGE, 8);
		if (!words[i]) {
			fprintf(stderr, "repl-floor: ws=%u does not fit in %llu MiB\n", ws,
				(unsigned long long)(o->mem >> 20));
			goto out;
		}
	}
	if (dirty__enable(vm) || vm__start(vm))
		goto out;
	/* The guest is past its start once it has written its working set once. */
	for (uint64_t t = now_ns(); pages_written(words, ws) < ws; sleep_ns(1000000))
		if (guest_alive(vm) || now_ns() - t > 10000000000ULL) {
			fprintf(stderr, "repl-floor: memwriter did not start within 10 s\n");
			goto out;
		}
	if (pthread_getcpuclockid(vm->vcpus[0].thread, &vcpu_clock)) {
		fprintf(stderr, "repl-floor: no CPU clock for the vCPU thread\n");
		goto out;
	}

	/* The floor, at the replication interval. */
	for (int i = -1; i < (int)o->epochs; i++) {
		uint64_t t0, t1, t2, t3, t4, t5;
		struct stream_writer w;
		int64_t n, src;

		sleep_ns(o->interval_ns);
		if (guest_alive(vm))
			goto out;
		t0 = now_ns();
		vm__pause_all(vm);
		ioloop__pause(vm->ioloop);
		t1 = now_ns();
		n = dirty__harvest(vm, bm);
		t2 = now_ns();
		if (n >= 0)
			copy_dirty(vm, bm, bits, staging);
		t3 = now_ns();
		/* Not part of the floor: the state records, as a checkpoint captures them. */
		sbuf.len = 0;
		stream_writer__init(&w, membuf_write, &sbuf);
		src = vm_stream__write_state(&w, vm);
		t4 = now_ns();
		ioloop__resume(vm->ioloop);
		vm__resume_all(vm);
		t5 = now_ns();
		if (n < 0 || src < 0) {
			fprintf(stderr, "repl-floor: %s failed: %s\n",
				n < 0 ? "harvest" : "state capture",
				strerror((int)-(n < 0 ? n : src)));
			goto out;
		}
		if (i >= 0) {
			harvest[i] = t2 - t1;
			copy[i] = t3 - t2;
			floor_v[i] = t3 - t1;
			park[i] = (t1 - t0) + (t5 - t4);
			state[i] = t4 - t3;
			dirty[i] = (uint64_t)n;
		}
	}
	res->harvest_ns = median_u64(harvest, o->epochs);
	res->memcpy_ns = median_u64(copy, o->epochs);
	res->floor_ns = median_u64(floor_v, o->epochs);
	res->park_ns = median_u64(park, o->epochs);
	res->state_ns = median_u64(state, o->epochs);
	res->dirty = median_u64(dirty, o->epochs);

	/* The write-fault cost: REPL_FAULT_ROUNDS rounds of neps cycles. */
	{
		neps = FAULT_ROUND_NS / (3 * ep_ns);
		if (neps < 2)
			neps = 2;
		for (unsigned int r = 0; r < o->rounds; r++) {
			uint64_t run[2] = {0, 0}, pages[2] = {0, 0}, faults = 0;

			/* step 0: warm-up, 1: unprotected, then a harvest, 2: protected, a harvest.
			 */
			vm__pause_all(vm);
			if (dirty__harvest(vm, bm) < 0)
				goto out_resume;
			for (uint64_t e = 0; e < neps; e++) {
				for (int step = 0; step < 3; step++) {
					uint64_t p0 = pages_written(words, ws),
						 c0 = cpu_ns(vcpu_clock);
					int prot = step == 2;
					int64_t n = 0;

					vm__resume_all(vm);
					sleep_ns(ep_ns);
					vm__pause_all(vm);
					if (step) {
						run[prot] += cpu_ns(vcpu_clock) - c0;
						pages[prot] += pages_written(words, ws) - p0;
					}
					if (step && (n = dirty__harvest(vm, bm)) < 0)
						goto out_resume;
					if (prot)
						faults += (uint64_t)n;
				}
			}
			vm__resume_all(vm);
			if (guest_alive(vm))
				goto out;
			if (!pages[0] || !faults) {
				fprintf(stderr, "repl-floor: ws=%u: the guest made no progress\n",
					ws);
				goto out;
			}
			fault[r] = ((double)run[1] - (double)pages[1] * run[0] / pages[0]) / faults;
			if (getenv("REPL_FLOOR_DEBUG"))
				fprintf(stderr,
					"repl-floor: ws=%u round %u: %llu cycles of 3 epochs of "
					"%llu us; unprotected "
					"%llu pages in %llu us cpu, protected %llu pages in %llu "
					"us cpu, "
					"%llu faults: %.2f us/fault\n",
					ws, r, (unsigned long long)neps,
					(unsigned long long)(ep_ns / 1000),
					(unsigned long long)pages[0],
					(unsigned long long)(run[0] / 1000),
					(unsigned long long)pages[1],
					(unsigned long long)(run[1] / 1000),
					(unsigned long long)faults, fault[r] / 1e3);
		}
		qsort(fault, o->rounds, sizeof(fault[0]), cmp_dbl);
		res->fault_ns_page = o->rounds % 2
					 ? fault[o->rounds / 2]
					 : (fault[o->rounds / 2 - 1] + fault[o->rounds / 2]) / 2;
		res->fault_min = fault[0];
		res->fault_max = fault[o->rounds - 1];
	}
	rc = 0;
	goto out;
out_resume:
	fprintf(stderr, "repl-floor: harvest failed\n");
	vm__resume_all(vm);
out:
	vm__destroy(vm);
	close(cfg.console_fd);
	free(bm);
	free(words);
	free(staging);
	free(sbuf.p);
	return rc;
}

static unsigned int env_uint(const char *name, unsigned int def, unsigned int lo, unsigned int hi)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "repl-floor: %s=%s: give a number from %u to %u\n", name, s, lo,
			hi);
		exit(2);
	}
	return (unsigned int)v;
}

int main(int argc, char **argv)
{
	struct opts o = {.raw = argc > 1 && !strcmp(argv[1], "--raw")};
	const char *sets = getenv("REPL_FLOOR_PAGES");
	char buf[256], *tok, *save = NULL;

	o.guests = getenv("TWIN_GUESTS_DIR");
	if (!o.guests) {
		fprintf(stderr,
			"repl-floor: set TWIN_GUESTS_DIR to the directory with memwriter.elf\n");
		return 2;
	}
	snprintf(buf, sizeof(buf), "%s", sets && *sets ? sets : "16 64 256 1024 4096");
	for (tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		char *end;
		unsigned long v = strtoul(tok, &end, 10);

		if (*end || !v || v > 65536 || o.nsets == MAX_SETS) {
			fprintf(stderr,
				"repl-floor: REPL_FLOOR_PAGES: '%s' is not 1..65536 (at most %d "
				"sets)\n",
				tok, MAX_SETS);
			return 2;
		}
		o.sets[o.nsets++] = (unsigned int)v;
	}
	o.mem = (uint64_t)env_uint("REPL_FLOOR_MEM_MB", 256, 64, 65536) << 20;
	o.interval_ns = env_uint("REPL_FLOOR_INTERVAL_MS", 50, 1, 10000) * 1000000ULL;
	o.epochs = env_uint("REPL_FLOOR_EPOCHS", 21, 1, MAX_EPOCHS);
	o.rounds = env_uint("REPL_FAULT_ROUNDS", 5, 1, 64);
	if (!o.raw) {
		printf(
		    "Replication pause floor (memwriter pages=ws=N rate=0, %llu MiB, 1 vCPU; "
		    "median of %u epochs %llu ms apart) and the lab's write-fault cost (median of "
		    "%u rounds)\n",
		    (unsigned long long)(o.mem >> 20), o.epochs,
		    (unsigned long long)(o.interval_ns / 1000000), o.rounds);
		printf("%6s %8s %11s %10s %10s %10s %10s %13s %10s\n", "N", "dirty", "harvest_us",
		       "memcpy_us", "floor_us", "park_us", "state_us", "fault_us/page", "fault_ms");
	}
	for (unsigned int i = 0; i < o.nsets; i++) {
		struct result r;

		if (measure(&o, o.sets[i], &r)) {
			fprintf(stderr, "repl-floor: measurement failed for N=%u\n", o.sets[i]);
			return 1;
		}
		if (o.raw)
			printf("floor n=%u dirty=%llu harvest_us=%.1f memcpy_us=%.1f floor_us=%.1f "
			       "park_us=%.1f state_us=%.1f fault_us_page=%.2f fault_min=%.2f "
			       "fault_max=%.2f "
			       "fault_ms=%.3f\n",
			       o.sets[i], (unsigned long long)r.dirty, r.harvest_ns / 1e3,
			       r.memcpy_ns / 1e3, r.floor_ns / 1e3, r.park_ns / 1e3,
			       r.state_ns / 1e3, r.fault_ns_page / 1e3, r.fault_min / 1e3,
			       r.fault_max / 1e3, r.fault_ns_page * o.sets[i] / 1e6);
		else
			printf("%6u %8llu %11.1f %10.1f %10.1f %10.1f %10.1f %13.2f %10.3f\n",
			       o.sets[i], (unsigned long long)r.dirty, r.harvest_ns / 1e3,
			       r.memcpy_ns / 1e3, r.floor_ns / 1e3, r.park_ns / 1e3,
			       r.state_ns / 1e3, r.fault_ns_page / 1e3,
			       r.fault_ns_page * o.sets[i] / 1e6);
		fflush(stdout);
	}
	return 0;
}
