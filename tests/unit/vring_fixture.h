/* A split virtqueue in fake guest RAM, filled the way a driver would, for device unit tests. */
#ifndef TESTS_UNIT_VRING_FIXTURE_H
#define TESTS_UNIT_VRING_FIXTURE_H
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>
#include "virtqueue.h"
#include "vm.h"

#define VRING_RAM_SIZE	(1u << 20)
#define VRING_SIZE	16
#define VRING_DESC_GPA	0x1000
#define VRING_AVAIL_GPA 0x2000
#define VRING_USED_GPA	0x3000
#define VRING_BUF_GPA	0x10000 /* buffers are carved from here up */

/* One descriptor of a chain to build: len bytes, device-writable or not. */
struct vring_seg {
	uint32_t len;
	int writable;
};

/*
 * A driver's side of one queue: RAM (through a struct vm with only mem set,
 * as virtqueue.h allows), the device's virtqueue, and the next free
 * descriptor and buffer byte.
 */
struct vring {
	struct vm vm;
	struct virtqueue vq;
	uint16_t next_desc;
	uint64_t next_buf;
};

static inline uint8_t *vring_hva(struct vring *r, uint64_t gpa)
{
	return r->vm.mem.base + gpa;
}

static inline void vring_init(struct vring *r)
{
	memset(r, 0, sizeof(*r));
	r->vm.mem.base = calloc(1, VRING_RAM_SIZE);
	ck_assert_ptr_nonnull(r->vm.mem.base);
	r->vm.mem.size = VRING_RAM_SIZE;
	r->vm.mem.low_size = VRING_RAM_SIZE;
	r->next_buf = VRING_BUF_GPA;
	ck_assert_int_eq(virtqueue__start(&r->vq, &r->vm, VRING_SIZE, VRING_DESC_GPA,
					  VRING_AVAIL_GPA, VRING_USED_GPA, true),
			 0);
}

static inline void vring_dispose(struct vring *r)
{
	free(r->vm.mem.base);
}

/*
 * Posts a chain of n segments and returns the GPA of each segment's buffer
 * in gpa[] (filled with 0xee so unwritten bytes show).
 */
static inline void vring_post(struct vring *r, const struct vring_seg *segs, unsigned int n,
			      uint64_t *gpa)
{
	uint16_t head = r->next_desc;
	uint8_t *avail = vring_hva(r, VRING_AVAIL_GPA);
	uint16_t idx;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t *d = vring_hva(r, VRING_DESC_GPA + 16ull * r->next_desc);
		uint64_t addr = htole64(r->next_buf);
		uint32_t len = htole32(segs[i].len);
		uint16_t flags = htole16((i + 1 < n ? VIRTQ_DESC_F_NEXT : 0) |
					 (segs[i].writable ? VIRTQ_DESC_F_WRITE : 0));
		uint16_t next = htole16((r->next_desc + 1) % VRING_SIZE);

		memcpy(d, &addr, 8);
		memcpy(d + 8, &len, 4);
		memcpy(d + 12, &flags, 2);
		memcpy(d + 14, &next, 2);
		gpa[i] = r->next_buf;
		memset(vring_hva(r, r->next_buf), 0xee, segs[i].len);
		r->next_buf += (segs[i].len + 15) & ~15u;
		ck_assert_uint_lt(r->next_buf, VRING_RAM_SIZE);
		r->next_desc = (r->next_desc + 1) % VRING_SIZE;
	}
	memcpy(&idx, avail + 2, 2);
	idx = le16toh(idx);
	memcpy(avail + 4 + 2 * (idx % VRING_SIZE), &(uint16_t){htole16(head)}, 2);
	idx = htole16(idx + 1);
	memcpy(avail + 2, &idx, 2);
}

/* The used ring's idx and the length the device reported in entry i. */
static inline uint16_t vring_used_idx(struct vring *r)
{
	uint16_t idx;

	memcpy(&idx, vring_hva(r, VRING_USED_GPA + 2), 2);
	return le16toh(idx);
}

static inline uint32_t vring_used_len(struct vring *r, unsigned int i)
{
	uint32_t len;

	memcpy(&len, vring_hva(r, VRING_USED_GPA + 4 + 8 * (i % VRING_SIZE) + 4), 4);
	return le32toh(len);
}

#endif
