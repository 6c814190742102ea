/* Bounded queue service: a device handles at most a batch of chains per notify, then re-kicks. */
#ifndef XEN_CORE_VIRTIO_SERVE_H
#define XEN_CORE_VIRTIO_SERVE_H
#include <stddef.h>
#include <stdint.h>

struct virtio_dev;
struct vq_chain;

/*
 * Chains one queue_notify call serves at most: an I/O loop pause (taken for
 * status, queue_enable and legacy PFN/status writes, and by migration) and the
 * VM's other devices wait for at most one batch, however fast a guest refills
 * its ring from another vCPU.
 */
#define VIRTIO_SERVE_BATCH 64

/*
 * Handles one popped chain: 0 with *written (the bytes written into the
 * chain), or -EPROTO with the reason in why (the device is then broken).
 */
typedef int virtio_serve_fn(struct virtio_dev *vdev, const struct vq_chain *chain,
			    uint32_t *written, char *why, size_t whylen);

/*
 * I/O thread, from queue_notify: pops up to batch chains of queue q into
 * *chain (the device's scratch), hands each to fn and pushes it, and notifies
 * once if any were served.  A chain fn refuses breaks the device and ends the
 * call.  When the batch runs out, q's notify eventfd is signalled, so the I/O
 * loop calls queue_notify again after its other ready fds (and any pause):
 * the rest is served later, never lost.  Returns the chains served.
 */
unsigned int virtio_serve__queue(struct virtio_dev *vdev, unsigned int q, struct vq_chain *chain,
				 unsigned int batch, virtio_serve_fn *fn);

#endif
