/* Fuzz target for the split virtqueue parser: any ring contents give a documented result. */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DFUZZ_WITH_LIBFUZZER -D_GNU_SOURCE \
 *     -Ixen-core tests/fuzz/fuzz_virtqueue.c xen-core/virtqueue.c xen-core/memory.c \
 *     xen-core/e820.c xen-core/log.c xen-core/util.c -o fuzz-virtqueue
 *   ./fuzz-virtqueue -max_total_time=60 -max_len=16384 /tmp/vq-corpus
 * (seed /tmp/vq-corpus with `tests/fuzz-virtqueue-check --write-seeds /tmp/vq-corpus`).
 * make check runs the built-in seeds and 20000 mutants without libFuzzer (main below).
 *
 * Input: byte 0 picks the queue size (1 << (b % 9)), byte 1 bit 0 event idx,
 * bytes 2-3 the device's starting avail index; the rest is guest RAM from
 * GPA 0, where the descriptor table, driver and device areas live.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "virtqueue.h"
#include "vm.h"

#define RAM_SIZE     (64u << 10)
#define HEADER	     4
#define MAX_INPUT    (HEADER + 16384)
#define DESC_GPA     0x0000u
#define AVAIL_GPA    0x1000u
#define USED_GPA     0x2000u
#define MUTANTS	     20000
#define PRNG_SEED    0x5477696e2d565121ull /* fixed: every run tries the same mutants */
#define FAILURE_FILE "fuzz-virtqueue-failure.bin"

static struct vm *vm;
static uint8_t *ref; /* RAM as the input left it */
static struct vq_chain chain;

/* Outcome counts, so the driver can tell that mutants reach both good and broken paths. */
struct outcome {
	unsigned int popped, broken;
};

static bool in_ram(const struct iovec *iov)
{
	const uint8_t *p = iov->iov_base;

	return p >= vm->mem.base && iov->iov_len <= RAM_SIZE &&
	       (size_t)(p - vm->mem.base) <= RAM_SIZE - iov->iov_len;
}

/* Checks one chain against the parser's promises; NULL if all hold. */
static const char *check_chain(const struct virtqueue *vq)
{
	uint64_t out = 0, in = 0;

	if (chain.head >= vq->size)
		return "chain head outside the descriptor table";
	if (chain.nr_out + chain.nr_in == 0 || chain.nr_out + chain.nr_in > vq->size)
		return "chain has no descriptor or more than the queue size";
	for (unsigned int i = 0; i < chain.nr_out + chain.nr_in; i++) {
		if (!in_ram(&chain.iov[i]))
			return "iovec outside guest RAM";
		*(i < chain.nr_out ? &out : &in) += chain.iov[i].iov_len;
	}
	if (out != chain.out_len || in != chain.in_len)
		return "out_len/in_len differ from the iovec sums";
	if (out > VIRTQUEUE_MAX_CHAIN_BYTES || in > VIRTQUEUE_MAX_CHAIN_BYTES)
		return "chain exceeds VIRTQUEUE_MAX_CHAIN_BYTES";
	return NULL;
}

/* Runs one input through start, pop, push and should_notify; NULL, or the broken rule. */
static const char *fuzz_virtqueue__check(const uint8_t *data, size_t size, struct outcome *o)
{
	struct virtqueue vq;
	uint16_t qsize, start_idx;
	size_t used_len;
	int rc;

	if (!vm) {
		vm = calloc(1, sizeof(*vm));
		ref = malloc(RAM_SIZE);
		if (!vm || !ref || !(vm->mem.base = malloc(RAM_SIZE)))
			return "out of memory for the fuzz RAM";
		vm->mem.size = vm->mem.low_size = RAM_SIZE;
	}
	if (size < HEADER)
		return NULL;
	qsize = (uint16_t)(1u << (data[0] % 9));
	start_idx = (uint16_t)(data[2] | data[3] << 8);
	memset(vm->mem.base, 0, RAM_SIZE);
	memcpy(vm->mem.base, data + HEADER, size - HEADER < RAM_SIZE ? size - HEADER : RAM_SIZE);
	memcpy(ref, vm->mem.base, RAM_SIZE);

	if (virtqueue__start(&vq, vm, qsize, DESC_GPA, AVAIL_GPA, USED_GPA, data[1] & 1))
		return "a well-placed queue failed to start";
	vq.last_avail_idx = start_idx;
	/* A guest can offer at most qsize chains at once: more pops must find it empty. */
	for (unsigned int n = 0; n <= qsize; n++) {
		uint16_t before = vq.last_avail_idx;
		const char *broken;

		memset(&chain, 0xa5, sizeof(chain));
		rc = virtqueue__pop(&vq, &chain);
		if (rc == 0)
			break;
		if (rc == VIRTQUEUE_BROKEN) {
			if (vq.last_avail_idx != before)
				return "a broken ring consumed an entry";
			if (!memchr(vq.error, '\0', sizeof(vq.error)) || !vq.error[0] ||
			    strchr(vq.error, '\n'))
				return "broken without a one-line reason";
			o->broken++;
			break;
		}
		if (rc != 1)
			return "pop returned neither 0, 1 nor VIRTQUEUE_BROKEN";
		if (vq.last_avail_idx != (uint16_t)(before + 1))
			return "a pop did not consume exactly one entry";
		if (n == qsize)
			return "more chains popped than the ring can hold";
		broken = check_chain(&vq);
		if (broken)
			return broken;
		o->popped++;
		virtqueue__push(&vq, chain.head, chain.in_len);
		virtqueue__should_notify(&vq);
	}
	/* Only the device area may have changed (used ring, used idx, avail_event). */
	used_len = 6 + 8u * qsize;
	if (memcmp(vm->mem.base, ref, USED_GPA) ||
	    memcmp(vm->mem.base + USED_GPA + used_len, ref + USED_GPA + used_len,
		   RAM_SIZE - USED_GPA - used_len))
		return "the parser wrote guest RAM outside the device area";
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome o = {0};
	const char *broken = fuzz_virtqueue__check(data, size, &o);

	if (broken) {
		fprintf(stderr, "fuzz_virtqueue: %s\n", broken);
		abort();
	}
	return 0;
}

#ifndef FUZZ_WITH_LIBFUZZER
/* ---- make-check driver: built-in seeds, then deterministic mutants ---- */

struct seed {
	const char *name;
	uint8_t data[MAX_INPUT];
	size_t size;
};

static uint64_t prng = PRNG_SEED;

/* xorshift64*: tiny, and the same sequence on every libc. */
static uint64_t rnd(void)
{
	prng ^= prng >> 12;
	prng ^= prng << 25;
	prng ^= prng >> 27;
	return prng * 0x2545f4914f6cdd1dull;
}

static void put(uint8_t *buf, size_t off, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

static void seed_desc(struct seed *s, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		      uint16_t next)
{
	uint8_t *d = s->data + HEADER + DESC_GPA + 16 * i;

	put(d, 0, addr, 8);
	put(d, 8, len, 4);
	put(d, 12, flags, 2);
	put(d, 14, next, 2);
}

static void seed_avail(struct seed *s, uint16_t idx, const uint16_t *ring, unsigned int n)
{
	put(s->data, HEADER + AVAIL_GPA + 2, idx, 2);
	for (unsigned int i = 0; i < n; i++)
		put(s->data, HEADER + AVAIL_GPA + 4 + 2 * i, ring[i], 2);
}

/* Queue size 8; buffers in the upper half of RAM; ring contents per case. */
static void build_seeds(struct seed *seeds, unsigned int *n)
{
	static const uint16_t heads[] = {0, 3, 5, 7};
	struct seed *s;

	s = &seeds[(*n)++]; /* one chain: header out, data in */
	s->name = "good-two-part";
	s->data[0] = 3;
	seed_desc(s, 0, 0x8000, 16, VIRTQ_DESC_F_NEXT, 1);
	seed_desc(s, 1, 0x9000, 1500, VIRTQ_DESC_F_WRITE, 0);
	seed_avail(s, 1, heads, 1);
	s->size = HEADER + USED_GPA + 0x100;

	s = &seeds[(*n)++]; /* four chains, event idx */
	s->name = "good-event-idx";
	s->data[0] = 3;
	s->data[1] = 1;
	for (unsigned int i = 0; i < 8; i++)
		seed_desc(s, i, 0x8000 + 0x100 * i, 0x100,
			  (i & 1) ? VIRTQ_DESC_F_WRITE : VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	seed_avail(s, 4, (const uint16_t[]){0, 2, 4, 6}, 4);
	s->size = HEADER + USED_GPA + 0x100;

	s = &seeds[(*n)++]; /* wrapping indices */
	s->name = "good-wrap";
	s->data[0] = 3;
	s->data[2] = 0xff;
	s->data[3] = 0xff;
	seed_desc(s, 0, 0x8000, 64, 0, 0);
	seed_avail(s, 1, heads, 1);
	put(s->data, HEADER + AVAIL_GPA + 4 + 2 * 7, 0, 2);
	s->size = HEADER + USED_GPA + 0x100;

	s = &seeds[(*n)++];
	s->name = "broken-loop";
	s->data[0] = 3;
	seed_desc(s, 0, 0x8000, 64, VIRTQ_DESC_F_NEXT, 1);
	seed_desc(s, 1, 0x8000, 64, VIRTQ_DESC_F_NEXT, 0);
	seed_avail(s, 1, heads, 1);
	s->size = HEADER + USED_GPA;

	s = &seeds[(*n)++];
	s->name = "broken-out-of-ram";
	s->data[0] = 3;
	seed_desc(s, 0, RAM_SIZE - 8, 64, 0, 0);
	seed_avail(s, 1, heads, 1);
	s->size = HEADER + USED_GPA;

	s = &seeds[(*n)++];
	s->name = "broken-indirect";
	s->data[0] = 3;
	seed_desc(s, 0, 0x8000, 64, VIRTQ_DESC_F_INDIRECT, 0);
	seed_avail(s, 1, heads, 1);
	s->size = HEADER + USED_GPA;
}

static size_t mutate(uint8_t *buf, size_t len)
{
	static const uint64_t interesting[] = {0,
					       1,
					       2,
					       3,
					       4,
					       7,
					       8,
					       0x7f,
					       0x80,
					       0xff,
					       0x100,
					       0xffff,
					       0x8000,
					       0xfff0,
					       RAM_SIZE - 1,
					       RAM_SIZE,
					       RAM_SIZE - 16,
					       0x7fffffff,
					       0x80000000,
					       0xffffffff,
					       ~0ull,
					       1ull << 63};
	int edits = 1 + rnd() % 4;

	for (int i = 0; i < edits; i++) {
		/* Aim at the header and ring areas more often than at the buffers. */
		size_t span = rnd() % 2 ? HEADER + USED_GPA + 0x100 : len;
		size_t off = rnd() % (span < len ? span : len);
		uint64_t v = interesting[rnd() % (sizeof(interesting) / sizeof(interesting[0]))];

		switch (rnd() % 5) {
		case 0:
			buf[off] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1:
			buf[off] = (uint8_t)v;
			break;
		case 2:
			if (off + 2 <= len)
				put(buf, off & ~1ul, v, 2);
			break;
		case 3:
			if ((off & ~3ul) + 4 <= len)
				put(buf, off & ~3ul, v, 4);
			break;
		case 4:
			if ((off & ~7ul) + 8 <= len)
				put(buf, off & ~7ul, v, 8);
			break;
		}
	}
	return len;
}

static int report(const char *what, const char *broken, const uint8_t *data, size_t size)
{
	FILE *f = fopen(FAILURE_FILE, "wb");

	if (f) {
		fwrite(data, 1, size, f);
		fclose(f);
	}
	fprintf(stderr, "fuzz-virtqueue: %s: %s; input saved to %s\n", what, broken, FAILURE_FILE);
	return 1;
}

static int write_seeds(const char *dir, struct seed *seeds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, seeds[i].name);
		f = fopen(path, "wb");
		if (!f || fwrite(seeds[i].data, 1, seeds[i].size, f) != seeds[i].size) {
			fprintf(stderr, "fuzz-virtqueue: cannot write %s: %s\n", path,
				strerror(errno));
			if (f)
				fclose(f);
			return 1;
		}
		fclose(f);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct seed seeds[8];
	static uint8_t buf[MAX_INPUT];
	struct outcome total = {0};
	unsigned int nseeds = 0;
	const char *broken;
	char what[128];

	build_seeds(seeds, &nseeds);
	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
		return write_seeds(argv[2], seeds, nseeds);
	for (unsigned int i = 0; i < nseeds; i++) {
		struct outcome o = {0};

		broken = fuzz_virtqueue__check(seeds[i].data, seeds[i].size, &o);
		/* The seed's name says which way it must go. */
		if (!broken && (strncmp(seeds[i].name, "good-", 5) == 0) != (o.popped && !o.broken))
			broken = "result differs from the one the seed's name expects";
		if (broken) {
			snprintf(what, sizeof(what), "seed %s", seeds[i].name);
			return report(what, broken, seeds[i].data, seeds[i].size);
		}
	}
	for (int m = 0; m < MUTANTS; m++) {
		struct seed *s = &seeds[rnd() % nseeds];
		size_t len;

		memcpy(buf, s->data, s->size);
		len = mutate(buf, s->size);
		broken = fuzz_virtqueue__check(buf, len, &total);
		if (broken) {
			snprintf(what, sizeof(what), "mutant %d of seed %s", m, s->name);
			return report(what, broken, buf, len);
		}
	}
	printf("fuzz-virtqueue: %u seeds ok; %d mutants: %u chains popped, %u broken rings\n",
	       nseeds, MUTANTS, total.popped, total.broken);
	if (!total.popped || !total.broken) {
		fprintf(stderr, "fuzz-virtqueue: mutants never popped or never broke: the "
				"mutator is broken\n");
		return 1;
	}
	return 0;
}
#endif
