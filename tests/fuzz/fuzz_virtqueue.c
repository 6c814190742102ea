/* Fuzz target for the split virtqueue parser: any ring contents give a documented result. */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -Ixen-core tests/fuzz/fuzz_virtqueue.c xen-core/virtqueue.c xen-core/memory.c \
 *     xen-core/e820.c xen-core/log.c xen-core/util.c -o fuzz-virtqueue
 *   mkdir -p /tmp/vq-corpus && cp -r tests/fuzz/corpus/virtqueue/. /tmp/vq-corpus/
 *   ./fuzz-virtqueue -max_total_time=60 -max_len=16388 /tmp/vq-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 *
 * Input: byte 0 picks the queue size (1 << (b % 9)), byte 1 bit 0 event idx,
 * bytes 2-3 the device's starting avail index; the rest is guest RAM from
 * GPA 0, where the descriptor table, driver and device areas live.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"
#include "util.h"
#include "virtqueue.h"
#include "vm.h"

#define RAM_SIZE  (64u << 10)
#define HEADER	  4
#define DESC_GPA  0x0000u
#define AVAIL_GPA 0x1000u
#define USED_GPA  0x2000u

static struct vm *vm;
static uint8_t *ref; /* RAM as the input left it */
static struct vq_chain chain;

/* How the ring went, as the seed's name announces it: the driver checks every class is reached. */
enum { GOOD, BROKEN, EMPTY };
static const char *const classes[] = {
    [GOOD] = "good-",	  /* one chain or more popped, none broken */
    [BROKEN] = "broken-", /* a chain broke the ring */
    [EMPTY] = "empty-",	  /* nothing to pop */
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
static const char *check(const uint8_t *data, size_t size, int *cls)
{
	struct virtqueue vq;
	uint16_t qsize, start_idx;
	size_t used_len;
	int rc;

	*cls = EMPTY;
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
			*cls = BROKEN;
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
		*cls = GOOD;
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

/* Queue sizes, ring indices, GPAs and lengths at their edges. */
static const uint64_t words[] = {0,
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

const struct fuzz_target fuzz_target = {
    .name = "virtqueue",
    .classes = classes,
    .nclasses = ARRAY_SIZE(classes),
    .check = check,
    .max_input = HEADER + 16384,
    .words = words,
    .nwords = ARRAY_SIZE(words),
};
