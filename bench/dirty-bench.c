/* Dirty-harvest cost per method at 256 MiB and 1 GiB, with a measured number of dirty pages. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "boot.h"
#include "dirty.h"
#include "vm.h"
#include "util.h"

#define RUNS	    9
#define INTERVAL_MS 100
/* Big enough that no ring fills within an interval, so the harvest does all the work. */
#define BENCH_RING_ENTRIES 65536

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct result {
	uint64_t median_ns, min_ns, max_ns, median_pages;
};

/*
 * Boots memwriter dirtying a working set of ws pages as fast as it can, and
 * every INTERVAL_MS pauses the vCPU and times one harvest.  The first harvest
 * (everything since enable) is discarded.
 */
static int measure(const char *guests, uint64_t mem, enum dirty_method m, unsigned int ws,
		   struct result *res)
{
	struct vm_config cfg = {
	    .mem_size = mem,
	    .nr_vcpus = 1,
	    .dirty_method = m,
	    .dirty_ring_entries = BENCH_RING_ENTRIES,
	};
	uint64_t ns[RUNS], pages[RUNS], *bm = NULL;
	char path[4096], cmdline[128], err[512];
	struct vm *vm = NULL;
	int rc = -1;

	/* The guest's console is not part of the table. */
	cfg.console_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (cfg.console_fd < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/memwriter.elf", guests);
	snprintf(cmdline, sizeof(cmdline), "pages=%u ws=%u rate=0 vcpus=1 iters=100000000", ws, ws);
	if (vm__create(&cfg, &vm))
		goto out;
	if (boot__load_pvh_file(vm, path, cmdline, err, sizeof(err))) {
		fprintf(stderr, "dirty-bench: %s\n", err);
		goto out;
	}
	bm = calloc(dirty__bitmap_bits(vm) / 64, 8);
	if (!bm || dirty__enable(vm) || vm__start(vm))
		goto out;
	for (int i = -1; i < RUNS; i++) {
		struct pollfd p = {.fd = vm__done_fd(vm), .events = POLLIN};
		uint64_t t0;
		int64_t n;

		if (poll(&p, 1, INTERVAL_MS) != 0) {
			fprintf(stderr, "dirty-bench: memwriter stopped early\n");
			goto out;
		}
		vm__pause_all(vm);
		t0 = now_ns();
		n = dirty__harvest(vm, bm);
		if (i >= 0) {
			ns[i] = now_ns() - t0;
			pages[i] = n;
		}
		vm__resume_all(vm);
		if (n < 0)
			goto out;
	}
	qsort(ns, RUNS, sizeof(ns[0]), cmp_u64);
	qsort(pages, RUNS, sizeof(pages[0]), cmp_u64);
	res->median_ns = ns[RUNS / 2];
	res->min_ns = ns[0];
	res->max_ns = ns[RUNS - 1];
	res->median_pages = pages[RUNS / 2];
	rc = 0;
out:
	vm__destroy(vm);
	close(cfg.console_fd);
	free(bm);
	return rc;
}

int main(void)
{
	static const uint64_t mems[] = {256ULL << 20, 1ULL << 30};
	static const unsigned int sets[] = {16, 4096, 32768};
	static const enum dirty_method methods[] = {DIRTY_METHOD_GET_LOG, DIRTY_METHOD_CLEAR_LOG,
						    DIRTY_METHOD_RING};
	const char *guests = getenv("TWIN_GUESTS_DIR");

	if (!guests) {
		fprintf(stderr,
			"dirty-bench: set TWIN_GUESTS_DIR to the directory with memwriter.elf\n");
		return 2;
	}
	printf("Dirty harvest cost (vCPU paused, median of %d harvests %d ms apart; memwriter "
	       "rate=0)\n",
	       RUNS, INTERVAL_MS);
	printf("%-6s %-10s %8s %12s %12s %12s %12s\n", "RAM", "method", "ws", "dirty(med)",
	       "median_us", "min_us", "max_us");
	for (size_t a = 0; a < ARRAY_SIZE(mems); a++)
		for (size_t b = 0; b < ARRAY_SIZE(sets); b++)
			for (size_t c = 0; c < ARRAY_SIZE(methods); c++) {
				struct result r;

				if (measure(guests, mems[a], methods[c], sets[b], &r)) {
					fprintf(stderr, "dirty-bench: measurement failed\n");
					return 1;
				}
				printf("%4lluM %-10s %8u %12llu %12.1f %12.1f %12.1f\n",
				       (unsigned long long)(mems[a] >> 20),
				       dirty__method_to_str(methods[c]), sets[b],
				       (unsigned long long)r.median_pages, r.median_ns / 1e3,
				       r.min_ns / 1e3, r.max_ns / 1e3);
				fflush(stdout);
			}
	return 0;
}
