/* The guest kit's virtio: modern (1.0) virtio-pci transport and split virtqueues, polled. */
#ifndef GUESTS_RT_VIRTIO_H
#define GUESTS_RT_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#include "pci.h"

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_MODERN_BASE 0x1040 /* + virtio device ID */
#define VIRTIO_ID_NET	       1
#define VIRTIO_ID_BLOCK	       2
#define VIRTIO_ID_CONSOLE      3

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER	  0x02
#define VIRTIO_STATUS_DRIVER_OK	  0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED	  0x80

#define VIRTIO_F_VERSION_1	(1ull << 32)
#define VIRTIO_RING_F_EVENT_IDX (1ull << 29)

#define VRING_DESC_F_NEXT	   1
#define VRING_DESC_F_WRITE	   2
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY	   1

/* Largest queue we use; the device's maximum may be smaller (both are powers of 2). */
#define VQ_MAX 256

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

/*
 * The memory of one split ring, for any size up to VQ_MAX.  The avail ring's
 * used_event and the used ring's avail_event sit right after ring[size], so
 * they are reached through virtq__used_event / virtq__avail_event.
 */
struct vring_mem {
	struct vring_desc desc[VQ_MAX];
	struct {
		uint16_t flags, idx;
		uint16_t ring[VQ_MAX + 1];
	} avail;
	struct {
		uint16_t flags, idx;
		struct vring_used_elem ring[VQ_MAX];
		uint16_t avail_event;
	} used __attribute__((aligned(4)));
} __attribute__((aligned(4096)));

struct virtq {
	struct vring_mem *mem;
	uint16_t size;
	uint16_t index;
	volatile uint16_t *notify;
	int event_idx;
	int wake_on_arm; /* 0: every used chain wakes us (the default); 1: only after virtq__arm */
	uint16_t free_head, num_free;
	uint16_t avail_idx;  /* next avail index we publish */
	uint16_t kicked_idx; /* avail index at the last notification */
	uint16_t last_used;
	uint16_t chain_len[VQ_MAX];
	uint64_t notifies; /* how many notifications we paid for */
};

/* One buffer of a chain: device-readable unless writable. */
struct vq_buf {
	const void *addr;
	uint32_t len;
	int writable;
};

struct virtio_dev {
	struct pci_dev *pci;
	volatile uint8_t *common;
	volatile uint8_t *device_cfg;
	volatile uint8_t *notify_base;
	uint32_t notify_mult;
	uint64_t features;
};

/*
 * Find the n-th modern virtio device of this type, map its capabilities,
 * reset it and negotiate: VERSION_1 is required, the rest of want is taken
 * where offered (dev->features holds the result).  0 or -errno (-ENODEV
 * absent, -EIO refused).
 */
int virtio__probe(struct virtio_dev *dev, unsigned int type, unsigned int n, uint64_t want);
/* Set up queue index with ring memory mem.  0 or -errno. */
int virtio__setup_queue(struct virtio_dev *dev, uint16_t index, struct virtq *vq,
			struct vring_mem *mem);
/* DRIVER_OK: the device may start using the queues. */
void virtio__ready(struct virtio_dev *dev);
uint8_t virtio__status(struct virtio_dev *dev);

/* Empty ring of size entries (a power of 2, at most VQ_MAX) in mem, notified through notify. */
void virtq__init(struct virtq *vq, struct vring_mem *mem, uint16_t size, uint16_t index,
		 volatile uint16_t *notify, int event_idx);
/* Add a chain (readable buffers first); returns its head, or -1 when the ring is full. */
int virtq__add(struct virtq *vq, const struct vq_buf *bufs, unsigned int n);
/* Publish added chains to the device, and notify it only if it asked to be (EVENT_IDX). */
void virtq__kick(struct virtq *vq);
/* Take one used chain: its head (freed) and *len, or -1 when none is used yet. */
int virtq__get_used(struct virtq *vq, uint32_t *len);
/* Whether the device has used chains we did not take yet. */
int virtq__has_used(const struct virtq *vq);
/*
 * Wakeups (Twin's WAIT_US kick, an interrupt) for used chains: by default every
 * one asks for one.  A polling driver that waits on this queue only sometimes
 * calls virtq__wake_on_arm once, then virtq__arm before each wait.
 */
void virtq__wake_on_arm(struct virtq *vq);
/*
 * Ask for a wakeup on the next used chain (until the next virtq__get_used).
 * Returns nonzero when a chain is already there: do not wait then, it may
 * have come before the device saw the request.
 */
int virtq__arm(struct virtq *vq);
/* Chains given to the device and not yet taken back. */
static inline unsigned int virtq__in_flight(const struct virtq *vq)
{
	return (unsigned int)(vq->size - vq->num_free);
}
static inline uint16_t *virtq__used_event(struct virtq *vq)
{
	return &vq->mem->avail.ring[vq->size];
}
static inline volatile uint16_t *virtq__avail_event(struct virtq *vq)
{
	return (volatile uint16_t *)&vq->mem->used.ring[vq->size];
}

/* Idle until some used ring may have changed: WAIT_US under Twin (woken by device kicks), a pause
 * loop under QEMU. */
void virtio__idle(uint32_t max_us);
/* virtio__idle for a queue in wake_on_arm mode: arms it first under Twin, and does not wait when
 * a used chain is already there. */
void virtio__idle_on(struct virtq *vq, uint32_t max_us);

#endif
