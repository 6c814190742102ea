/* Split virtqueues (virtio 1.x, 2.7): pop descriptor chains from a hostile guest, push used. */
#ifndef XEN_CORE_VIRTQUEUE_H
#define XEN_CORE_VIRTQUEUE_H
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm;

#define VIRTQUEUE_MAX_SIZE 256 /* largest queue size a device may offer */
/* A chain moving more bytes than this in either direction is a broken guest. */
#define VIRTQUEUE_MAX_CHAIN_BYTES (4u << 20)

/* Descriptor flags and ring flags (virtio 1.x, 2.7.5-2.7.10). */
#define VIRTQ_DESC_F_NEXT	   1
#define VIRTQ_DESC_F_WRITE	   2
#define VIRTQ_DESC_F_INDIRECT	   4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/*
 * One queue as the driver configured it, plus the device's position in it.
 * The rings live in guest RAM; every access goes through memory__gpa_to_hva
 * on vm (unit tests pass a struct vm whose only filled part is mem).  A
 * queue is used by one thread at a time (the I/O thread once running).
 */
struct virtqueue {
	const struct vm *vm;
	uint16_t size;	    /* entries, a power of two <= VIRTQUEUE_MAX_SIZE */
	uint64_t desc_gpa;  /* descriptor table: size * 16 bytes */
	uint64_t avail_gpa; /* driver area: 6 + 2 * size bytes (with used_event) */
	uint64_t used_gpa;  /* device area: 6 + 8 * size bytes (with avail_event) */
	bool event_idx;	    /* VIRTIO_RING_F_EVENT_IDX negotiated */

	uint16_t last_avail_idx; /* next avail entry to pop */
	uint16_t used_idx;	 /* next used entry to fill; published with every push */
	uint16_t signalled_used; /* used_idx when the driver was last notified */
	bool signalled_valid;	 /* signalled_used means something (false after start) */

	/* Host views of the rings, set by virtqueue__start once they are known to be in RAM. */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	char error[160]; /* why the last pop or start failed */
};

/*
 * A popped descriptor chain: iov[0..nr_out) are device-readable, then
 * iov[nr_out..nr_out + nr_in) device-writable.  The iovecs point into guest
 * RAM, which the guest may change at any time: copy a request header before
 * checking it.
 */
struct vq_chain {
	uint16_t head; /* descriptor index to hand back to virtqueue__push */
	uint16_t nr_out;
	uint16_t nr_in;
	uint32_t out_len; /* sum of the readable lengths */
	uint32_t in_len;  /* sum of the writable lengths: the most push may report */
	struct iovec iov[VIRTQUEUE_MAX_SIZE];
};

/*
 * Returned by pop and start when the guest broke the rules; vq->error says
 * how.  The transport then marks the device broken (DEVICE_NEEDS_RESET).
 */
#define VIRTQUEUE_BROKEN (-EPROTO)

/*
 * Sets up the queue from the driver's size and addresses: checks the size
 * is a power of two in 1..VIRTQUEUE_MAX_SIZE, the rings are aligned (16/2/4)
 * and lie wholly in RAM, and resets the indices.  0 or VIRTQUEUE_BROKEN.
 */
int virtqueue__start(struct virtqueue *vq, const struct vm *vm, uint16_t size, uint64_t desc_gpa,
		     uint64_t avail_gpa, uint64_t used_gpa, bool event_idx);

/*
 * Takes the next available chain.  Returns 1 with *chain filled, 0 if the
 * ring is empty (and, with event_idx, asks the driver to notify on its next
 * buffer), or VIRTQUEUE_BROKEN without consuming anything if: avail idx ran
 * more than size ahead, the head or a next index is >= size, a descriptor
 * lies outside RAM, the chain is longer than size (loop), a readable
 * descriptor follows a writable one, a direction exceeds
 * VIRTQUEUE_MAX_CHAIN_BYTES, or a descriptor is INDIRECT (never offered).
 */
int virtqueue__pop(struct virtqueue *vq, struct vq_chain *chain);

/*
 * Returns chain head to the driver with written bytes written to its
 * writable part (the device ensures written <= chain in_len) and publishes
 * the used index.
 */
void virtqueue__push(struct virtqueue *vq, uint16_t head, uint32_t written);

/*
 * After pushes: whether the driver wants an interrupt for them (used_event
 * with event_idx, else VIRTQ_AVAIL_F_NO_INTERRUPT clear).  Records the point
 * of notification, so call it once per batch and notify when it says so.
 */
bool virtqueue__should_notify(struct virtqueue *vq);

#endif
