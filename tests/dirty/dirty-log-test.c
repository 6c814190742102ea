/* Dirty-tracking test after KVM's dirty_log_test: no changed page is missing from a harvest. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "boot.h"
#include "dirty.h"
#include "layout.h"
#include "vm.h"
#include "../guests/rt/layout.h" /* RT_MEMWRITER_BASE */
#include "util.h"

#define PAGE	 4096ULL
#define MEM_SIZE (64ULL << 20)
#define ROUND_MS 3
/*
 * memwriter on 2 vCPUs x 1024 pages, paced so the run spans many harvests.
 * pages == ws: every iteration rewrites the whole working set once.
 */
#define VCPUS	 2
#define WS_PAGES 1024
#define STR_(x)	 #x
#define STR(x)	 STR_(x)
#define CMDLINE                                                                                    \
	"pages=" STR(WS_PAGES) " ws=" STR(WS_PAGES) " rate=150 vcpus=" STR(VCPUS) " iters=200"
#define MIN_ROUNDS 10

struct run_stats {
	unsigned int rounds;
	uint64_t changed, dirty, missing, deferred_checked;
	uint64_t ring_full;
	uint64_t bad_iter;	   /* pages breaking the iteration invariant */
	uint64_t last_iter[VCPUS]; /* each vCPU's iteration at the last paused round */
	int status;
};

static int bit(const uint64_t *bm, uint64_t pfn)
{
	return (bm[pfn / 64] >> (pfn % 64)) & 1;
}

static void set_bit(uint64_t *bm, uint64_t pfn)
{
	bm[pfn / 64] |= 1ULL << (pfn % 64);
}

/* pfn of the idx-th RAM page (slot 0 pages, then slot 1 from 4 GiB). */
static uint64_t ram_pfn(const struct vm *vm, uint64_t idx)
{
	uint64_t low = vm->mem.low_size / PAGE;

	return idx < low ? idx : LAYOUT_PCI_HOLE_END / PAGE + (idx - low);
}

/*
 * dirty_log_test's invariant, in a paused round before copy is updated: in
 * each vCPU's working set, with cur the highest iteration word there (the
 * iteration that vCPU is on), every page holds cur or cur - 1; a page never
 * goes back to an older iteration than our copy of it; a page whose
 * iteration moved is dirty (the clean ones kept theirs); and cur never goes
 * back between rounds.
 */
static void check_iterations(struct vm *vm, const uint8_t *copy, const uint64_t *bm,
			     struct run_stats *st)
{
	for (unsigned int c = 0; c < VCPUS; c++) {
		uint64_t gpa0 = RT_MEMWRITER_BASE + (uint64_t)c * WS_PAGES * PAGE, cur = 0;
		const uint8_t *ws = memory__gpa_to_hva(vm, gpa0, WS_PAGES * PAGE);

		for (uint64_t j = 0; j < WS_PAGES; j++) {
			uint64_t w = *(const uint64_t *)(ws + j * PAGE);

			cur = w > cur ? w : cur;
		}
		if (cur < st->last_iter[c]) {
			st->bad_iter++;
			fprintf(stderr,
				"dirty-log-test: vCPU %u went back from iteration %llu to %llu\n",
				c, (unsigned long long)st->last_iter[c], (unsigned long long)cur);
		}
		st->last_iter[c] = cur;
		for (uint64_t j = 0; j < WS_PAGES; j++) {
			uint64_t gpa = gpa0 + j * PAGE;
			uint64_t w = *(const uint64_t *)(ws + j * PAGE);
			uint64_t old =
			    *(const uint64_t *)(copy + gpa); /* low RAM: copy index = GPA */
			int ok = w == cur || w + 1 == cur;

			ok = ok && w >= old && (w == old || bit(bm, gpa / PAGE));
			if (ok)
				continue;
			st->bad_iter++;
			fprintf(
			    stderr,
			    "dirty-log-test: round %u: GPA 0x%llx holds iteration %llu (was %llu, "
			    "vCPU %u is on %llu, %s)\n",
			    st->rounds, (unsigned long long)gpa, (unsigned long long)w,
			    (unsigned long long)old, c, (unsigned long long)cur,
			    bit(bm, gpa / PAGE) ? "dirty" : "clean");
		}
	}
}

/*
 * One harvest and check.  Paused rounds harvest and copy with every vCPU
 * parked, so each changed page must be in this harvest.  Running rounds
 * harvest and copy while the guest writes: a page changed after the harvest
 * but before our copy legitimately shows up in the next harvest, so those
 * are deferred and must be in the next one.
 */
static int round_check(struct vm *vm, uint8_t *copy, uint64_t *bm, uint64_t *deferred,
		       uint64_t *next_deferred, int paused, struct run_stats *st)
{
	uint64_t words = dirty__bitmap_bits(vm) / 64;
	uint64_t npages = vm->mem.size / PAGE;
	int64_t n;

	if (paused)
		vm__pause_all(vm);
	n = dirty__harvest(vm, bm);
	if (n < 0) {
		fprintf(stderr, "dirty-log-test: harvest failed: %s\n", strerror((int)-n));
		if (paused)
			vm__resume_all(vm);
		return -1;
	}
	st->dirty += n;
	if (paused)
		check_iterations(vm, copy, bm, st);
	memset(next_deferred, 0, words * 8);
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t pfn = ram_pfn(vm, i);
		uint8_t *ram = vm->mem.base + i * PAGE;

		if (bit(deferred, pfn)) {
			st->deferred_checked++;
			if (!bit(bm, pfn)) {
				st->missing++;
				fprintf(stderr,
					"dirty-log-test: pfn 0x%llx changed during round %u "
					"but is in neither that harvest nor the next\n",
					(unsigned long long)pfn, st->rounds);
			}
		}
		if (!memcmp(copy + i * PAGE, ram, PAGE))
			continue;
		memcpy(copy + i * PAGE, ram, PAGE);
		st->changed++;
		if (bit(bm, pfn))
			continue;
		if (paused) {
			st->missing++;
			fprintf(stderr,
				"dirty-log-test: pfn 0x%llx (iteration word %llu) changed "
				"but is not in harvest %u\n",
				(unsigned long long)pfn,
				(unsigned long long)*(uint64_t *)(copy + i * PAGE), st->rounds);
		} else {
			set_bit(next_deferred, pfn);
		}
	}
	if (paused)
		vm__resume_all(vm);
	st->rounds++;
	return 0;
}

static int run_method(const char *guests, enum dirty_method m, unsigned int ring_entries,
		      struct run_stats *st)
{
	struct vm_config cfg = {
	    .mem_size = MEM_SIZE,
	    .nr_vcpus = VCPUS,
	    .dirty_method = m,
	    .dirty_ring_entries = ring_entries,
	};
	char path[4096], err[512], out[8192];
	uint64_t *bm = NULL, *def = NULL, *next = NULL;
	uint8_t *copy = NULL;
	struct vm *vm = NULL;
	int con, rc = -1, done = 0;
	size_t words;
	ssize_t got;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/memwriter.elf", guests);
	con = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (con < 0) {
		perror("dirty-log-test: console tmpfile");
		goto out;
	}
	cfg.console_fd = con;
	if (vm__create(&cfg, &vm)) {
		fprintf(stderr, "dirty-log-test: creating the VM failed (see above)\n");
		goto out;
	}
	if (boot__load_pvh_file(vm, path, CMDLINE, err, sizeof(err))) {
		fprintf(stderr, "dirty-log-test: %s\n", err);
		goto out;
	}
	words = dirty__bitmap_bits(vm) / 64;
	bm = calloc(words, 8);
	def = calloc(words, 8);
	next = calloc(words, 8);
	copy = malloc(vm->mem.size);
	if (!bm || !def || !next || !copy)
		goto out;
	memcpy(copy, vm->mem.base, vm->mem.size);
	if (dirty__enable(vm) || vm__start(vm))
		goto out;
	while (!done) {
		struct pollfd p = {.fd = vm__done_fd(vm), .events = POLLIN};
		uint64_t *t;

		/* Paces the rounds and notices the end; not a synchronisation. */
		done = poll(&p, 1, ROUND_MS) > 0;
		if (round_check(vm, copy, bm, def, next, done || st->rounds % 2 == 0, st))
			goto out;
		t = def;
		def = next;
		next = t;
	}
	st->status = vm__join(vm);
	/* Everything has stopped: the last harvest covers the deferred pages. */
	if (round_check(vm, copy, bm, def, next, 1, st))
		goto out;
	if (m == DIRTY_METHOD_RING)
		st->ring_full = dirty__ring_full_count(vm);
	got = pread(con, out, sizeof(out) - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	if (!strstr(out, "memwriter: done")) {
		fprintf(stderr, "dirty-log-test: memwriter did not finish; its output:\n%s\n", out);
		goto out;
	}
	rc = 0;
out:
	vm__destroy(vm);
	free(bm);
	free(def);
	free(next);
	free(copy);
	if (con >= 0)
		close(con);
	return rc;
}

int main(void)
{
	static const struct {
		enum dirty_method m;
		unsigned int ring_entries;
		const char *what;
	} cases[] = {
	    {DIRTY_METHOD_GET_LOG, 0, "get-log"},
	    {DIRTY_METHOD_CLEAR_LOG, 0, "clear-log"},
	    {DIRTY_METHOD_RING, 0, "ring"},
	    /* 256 entries fill up between harvests: exercises the ring-full exit. */
	    {DIRTY_METHOD_RING, 256, "ring (256 entries)"},
	};
	const char *guests = getenv("TWIN_GUESTS_DIR");
	int failed = 0;

	if (!guests) {
		fprintf(stderr,
			"dirty-log-test: TWIN_GUESTS_DIR is not set: run it with make check\n");
		return 99;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct run_stats st;
		const char *why = NULL;

		if (run_method(guests, cases[i].m, cases[i].ring_entries, &st))
			why = "run failed";
		else if (st.status != 1)
			why = "memwriter did not exit OK (status 1)";
		else if (st.missing)
			why = "changed pages missing from the dirty set";
		else if (st.bad_iter)
			why = "pages breaking the iteration invariant";
		else if (st.rounds < MIN_ROUNDS)
			why = "too few harvest rounds to mean anything";
		else if (st.changed < 2048)
			why = "the guest changed too few pages to mean anything";
		else if (cases[i].ring_entries && !st.ring_full)
			why = "the small ring never filled up";
		printf("%s %-20s rounds=%u changed=%llu dirty=%llu deferred=%llu missing=%llu "
		       "ring_full=%llu bad_iter=%llu status=%d%s%s\n",
		       why ? "FAIL" : "ok  ", cases[i].what, st.rounds,
		       (unsigned long long)st.changed, (unsigned long long)st.dirty,
		       (unsigned long long)st.deferred_checked, (unsigned long long)st.missing,
		       (unsigned long long)st.ring_full, (unsigned long long)st.bad_iter, st.status,
		       why ? ": " : "", why ? why : "");
		failed |= why != NULL;
	}
	return failed ? 1 : 0;
}
