/* Split virtqueue ring handling that checks everything the guest wrote before using it. */
#include <endian.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "memory.h"
#include "virtqueue.h"

/* Ring layouts (virtio 1.x, 2.7).  All little endian, all in guest RAM. */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* size entries, then used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* size entries, then avail_event */
};

_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc layout");
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem layout");

/* The guest writes these concurrently: every read of a shared index is one atomic load. */
static uint16_t load16(const uint16_t *p)
{
	return le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
}

static __attribute__((format(printf, 2, 3))) int broken(struct virtqueue *vq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->error, sizeof(vq->error), fmt, ap);
	va_end(ap);
	return VIRTQUEUE_BROKEN;
}

int virtqueue__start(struct virtqueue *vq, const struct vm *vm, uint16_t size, uint64_t desc_gpa,
		     uint64_t avail_gpa, uint64_t used_gpa, bool event_idx)
{
	memset(vq, 0, sizeof(*vq));
	vq->vm = vm;
	vq->size = size;
	vq->desc_gpa = desc_gpa;
	vq->avail_gpa = avail_gpa;
	vq->used_gpa = used_gpa;
	vq->event_idx = event_idx;
	if (size == 0 || size > VIRTQUEUE_MAX_SIZE || (size & (size - 1)))
		return broken(vq, "queue size %u is not a power of two in 1..%u", size,
			      VIRTQUEUE_MAX_SIZE);
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return broken(vq,
			      "rings misaligned: descriptors at 0x%llx (16), driver area at "
			      "0x%llx (2), device area at 0x%llx (4)",
			      (unsigned long long)desc_gpa, (unsigned long long)avail_gpa,
			      (unsigned long long)used_gpa);
	vq->desc = memory__gpa_to_hva(vm, desc_gpa, 16ull * size);
	vq->avail = memory__gpa_to_hva(vm, avail_gpa, 6ull + 2ull * size);
	vq->used = memory__gpa_to_hva(vm, used_gpa, 6ull + 8ull * size);
	if (!vq->desc || !vq->avail || !vq->used) {
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return broken(vq,
			      "rings outside guest RAM: descriptors at 0x%llx, driver area at "
			      "0x%llx, device area at 0x%llx for %u entries",
			      (unsigned long long)desc_gpa, (unsigned long long)avail_gpa,
			      (unsigned long long)used_gpa, size);
	}
	return 0;
}

static uint16_t *avail_event(struct virtqueue *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

/* Asks for a notification on the next buffer, then re-checks so none slips in between. */
static bool still_empty(struct virtqueue *vq)
{
	if (!vq->event_idx)
		return true;
	__atomic_store_n(avail_event(vq), htole16(vq->last_avail_idx), __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(&vq->avail->idx) == vq->last_avail_idx;
}

int virtqueue__pop(struct virtqueue *vq, struct vq_chain *chain)
{
	uint16_t avail_idx, ahead, head, i, next;
	unsigned int n = 0;

	if (!vq->avail)
		return 0;
	avail_idx = load16(&vq->avail->idx);
	if (avail_idx == vq->last_avail_idx) {
		if (still_empty(vq))
			return 0;
		avail_idx = load16(&vq->avail->idx);
	}
	ahead = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (ahead > vq->size)
		return broken(vq, "avail idx %u is %u entries past %u, more than the queue size %u",
			      avail_idx, ahead, vq->last_avail_idx, vq->size);
	/* The ring entry and descriptors were written before avail idx: read them after. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = load16(&vq->avail->ring[vq->last_avail_idx & (vq->size - 1)]);
	if (head >= vq->size)
		return broken(vq, "avail ring entry %u names descriptor %u of %u",
			      vq->last_avail_idx, head, vq->size);

	memset(chain, 0, offsetof(struct vq_chain, iov));
	chain->head = head;
	for (i = head;; n++) {
		struct virtq_desc d;
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
		void *hva;

		if (n == vq->size)
			return broken(vq,
				      "chain from descriptor %u is longer than the queue size %u "
				      "(a loop?)",
				      head, vq->size);
		/* One copy: the guest may rewrite the descriptor while we look at it. */
		memcpy(&d, &vq->desc[i], sizeof(d));
		addr = le64toh(d.addr);
		len = le32toh(d.len);
		flags = le16toh(d.flags);
		if (flags & VIRTQ_DESC_F_INDIRECT)
			return broken(vq, "descriptor %u is INDIRECT, which was not negotiated", i);
		hva = memory__gpa_to_hva(vq->vm, addr, len);
		if (!hva)
			return broken(vq, "descriptor %u: %u bytes at 0x%llx lie outside guest RAM",
				      i, len, (unsigned long long)addr);
		if (flags & VIRTQ_DESC_F_WRITE) {
			if (len > VIRTQUEUE_MAX_CHAIN_BYTES - chain->in_len)
				return broken(vq,
					      "chain from descriptor %u has more than %u "
					      "writable bytes",
					      head, VIRTQUEUE_MAX_CHAIN_BYTES);
			chain->in_len += len;
			chain->nr_in++;
		} else {
			if (chain->nr_in)
				return broken(vq,
					      "descriptor %u is readable but follows a "
					      "writable one",
					      i);
			if (len > VIRTQUEUE_MAX_CHAIN_BYTES - chain->out_len)
				return broken(vq,
					      "chain from descriptor %u has more than %u "
					      "readable bytes",
					      head, VIRTQUEUE_MAX_CHAIN_BYTES);
			chain->out_len += len;
			chain->nr_out++;
		}
		chain->iov[n] = (struct iovec){.iov_base = hva, .iov_len = len};
		if (!(flags & VIRTQ_DESC_F_NEXT))
			break;
		next = le16toh(d.next);
		if (next >= vq->size)
			return broken(vq, "descriptor %u chains to %u of %u", i, next, vq->size);
		i = next;
	}
	vq->last_avail_idx++;
	return 1;
}

void virtqueue__push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	struct virtq_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];

	e->id = htole32(head);
	e->len = htole32(written);
	vq->used_idx++;
	/* The element is visible before the index that hands it over. */
	__atomic_store_n(&vq->used->idx, htole16(vq->used_idx), __ATOMIC_RELEASE);
}

bool virtqueue__should_notify(struct virtqueue *vq)
{
	uint16_t old = vq->signalled_used, now = vq->used_idx, event;
	bool valid = vq->signalled_valid;

	/* Our used idx store must be visible before we read what the driver asked for. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->signalled_used = now;
	vq->signalled_valid = true;
	if (!vq->event_idx)
		return !(load16(&vq->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	/* vring_need_event: did used idx pass used_event since we last notified? */
	event = load16(&vq->avail->ring[vq->size]);
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}
