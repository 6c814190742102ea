/* The guest kit's split virtqueues (virtio 1.0, 2.4): chains, publishing, event-idx notifies. */
#include "rt.h"

#include "virtio.h"

/* Stores to the ring must be visible before the index that publishes them, and
 * the index before we read the device's avail_event: x86 needs a full fence
 * only for the store-then-load case. */
static inline void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}

static inline void full_fence(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

/*
 * Whether the device should notify us for the chains it uses next: without
 * EVENT_IDX the flag, with it a used_event at last_used (the very next
 * chain) or half the ring index space away (none).
 */
static void set_wake(struct virtq *vq, int on)
{
	*(volatile uint16_t *)&vq->mem->avail.flags = on ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
	*(volatile uint16_t *)virtq__used_event(vq) = (uint16_t)(vq->last_used + (on ? 0 : 0x8000));
}

void virtq__init(struct virtq *vq, struct vring_mem *mem, uint16_t size, uint16_t index,
		 volatile uint16_t *notify, int event_idx)
{
	memset(vq, 0, sizeof(*vq));
	memset(mem, 0, sizeof(*mem));
	vq->mem = mem;
	vq->size = size;
	vq->index = index;
	vq->notify = notify;
	vq->event_idx = event_idx;
	vq->num_free = size;
	for (uint16_t i = 0; i + 1 < size; i++)
		mem->desc[i].next = i + 1;
	/* A wakeup for every used chain until the driver says otherwise. */
	set_wake(vq, 1);
}

void virtq__wake_on_arm(struct virtq *vq)
{
	vq->wake_on_arm = 1;
	set_wake(vq, 0);
}

int virtq__arm(struct virtq *vq)
{
	set_wake(vq, 1);
	/* The request must be visible before we look, or a chain used in between is missed. */
	full_fence();
	return virtq__has_used(vq);
}

int virtq__add(struct virtq *vq, const struct vq_buf *bufs, unsigned int n)
{
	uint16_t head = vq->free_head, d = head;

	if (!n || n > vq->num_free)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		struct vring_desc *desc = &vq->mem->desc[d];

		desc->addr = (uint64_t)(uintptr_t)bufs[i].addr;
		desc->len = bufs[i].len;
		desc->flags = (uint16_t)((bufs[i].writable ? VRING_DESC_F_WRITE : 0) |
					 (i + 1 < n ? VRING_DESC_F_NEXT : 0));
		if (i + 1 < n)
			d = desc->next;
	}
	vq->free_head = vq->mem->desc[d].next;
	vq->num_free -= (uint16_t)n;
	vq->chain_len[head] = (uint16_t)n;
	vq->mem->avail.ring[vq->avail_idx & (vq->size - 1)] = head;
	vq->avail_idx++;
	return head;
}

/* virtio 1.0 2.4.7.2: notify iff new_idx passed event since old_idx. */
static int need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

void virtq__kick(struct virtq *vq)
{
	uint16_t old = vq->kicked_idx, now = vq->avail_idx;
	int notify;

	if (old == now)
		return;
	barrier();
	*(volatile uint16_t *)&vq->mem->avail.idx = now;
	full_fence();
	if (vq->event_idx)
		notify = need_event(*virtq__avail_event(vq), now, old);
	else
		notify = !(*(volatile uint16_t *)&vq->mem->used.flags & VRING_USED_F_NO_NOTIFY);
	vq->kicked_idx = now;
	if (notify) {
		*vq->notify = vq->index;
		vq->notifies++;
	}
}

int virtq__has_used(const struct virtq *vq)
{
	return *(volatile const uint16_t *)&vq->mem->used.idx != vq->last_used;
}

int virtq__get_used(struct virtq *vq, uint32_t *len)
{
	struct vring_used_elem e;
	uint16_t d, n;

	if (!virtq__has_used(vq))
		return -1;
	barrier();
	e = vq->mem->used.ring[vq->last_used & (vq->size - 1)];
	vq->last_used++;
	/* An armed wakeup is spent; else used_event moves along, as virtq__arm does. */
	set_wake(vq, !vq->wake_on_arm);
	if (!vq->wake_on_arm)
		full_fence();
	if (e.id >= vq->size || !vq->chain_len[e.id])
		return -1; /* a device bug; never free what we did not give */
	n = vq->chain_len[e.id];
	vq->chain_len[e.id] = 0;
	vq->num_free += n;
	for (d = (uint16_t)e.id; --n; d = vq->mem->desc[d].next)
		;
	vq->mem->desc[d].next = vq->free_head;
	vq->free_head = (uint16_t)e.id;
	if (len)
		*len = e.len;
	return (int)e.id;
}
