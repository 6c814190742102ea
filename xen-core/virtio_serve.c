/* Serves a virtqueue in bounded batches, re-signalling itself so no work is left behind. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "virtio_pci.h"
#include "virtio_serve.h"

/* As a guest notify would: the I/O loop finds q's eventfd readable on its next round. */
static void rekick(struct virtio_dev *vdev, unsigned int q)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, so the eventfd is readable anyway. */
	if (write(vdev->queues[q].notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log__warn("%s: re-signalling queue %u failed: %s; the rest waits for the next "
			  "guest notify",
			  vdev->name, q, strerror(errno));
}

unsigned int virtio_serve__queue(struct virtio_dev *vdev, unsigned int q, struct vq_chain *chain,
				 unsigned int batch, virtio_serve_fn *fn)
{
	unsigned int served = 0;
	uint32_t written;
	char why[160];

	while (served < batch && virtio_dev__pop(vdev, q, chain) > 0) {
		if (fn(vdev, chain, &written, why, sizeof(why))) {
			virtio_dev__set_broken(vdev, "%s", why);
			break;
		}
		virtio_dev__push(vdev, q, chain, written);
		served++;
	}
	if (served)
		virtio_dev__notify_used(vdev, q);
	if (served == batch)
		rekick(vdev, q);
	return served;
}
