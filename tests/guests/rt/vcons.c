/* The guest kit's virtio-console driver: port 0 transmitq, polled, no multiport. */
#include "rt.h"

#include "vcons.h"
#include "virtio.h"

#define VCONS_TXQ   1	 /* transmitq of port 0 */
#define VCONS_CHUNK 512u /* bytes per buffer; a chain's head picks its buffer */

static struct virtio_dev dev;
static struct virtq txq;
static struct vring_mem txq_mem;
static char tx_bufs[VQ_MAX][VCONS_CHUNK];
static int active;

int vcons__init(void)
{
	int rc = virtio__probe(&dev, VIRTIO_ID_CONSOLE, 0, VIRTIO_RING_F_EVENT_IDX);

	if (!rc)
		rc = virtio__setup_queue(&dev, VCONS_TXQ, &txq, &txq_mem);
	if (rc)
		return rc;
	virtio__ready(&dev);
	active = 1;
	return 0;
}

int vcons__active(void)
{
	return active;
}

static void reclaim(void)
{
	while (virtq__get_used(&txq, NULL) >= 0)
		;
}

void vcons__write(const char *s, size_t n)
{
	while (n) {
		uint32_t chunk = n < VCONS_CHUNK ? (uint32_t)n : VCONS_CHUNK;
		struct vq_buf b = {.len = chunk};
		int head;

		reclaim();
		if (!txq.num_free) {
			virtq__kick(&txq);
			virtio__idle(1000);
			continue;
		}
		/* The head is free, so its buffer is too: fill it before publishing. */
		head = txq.free_head;
		memcpy(tx_bufs[head], s, chunk);
		b.addr = tx_bufs[head];
		virtq__add(&txq, &b, 1);
		s += chunk;
		n -= chunk;
	}
	virtq__kick(&txq);
}

/* Reads the ring only: safe from the fault handler, whatever the faulting CPU was doing. */
void vcons__drain(uint32_t max_us)
{
	uint64_t end = clock__us() + max_us;

	if (!active)
		return;
	while (*(volatile uint16_t *)&txq.mem->used.idx != txq.kicked_idx && clock__us() < end)
		virtio__idle(1000);
}
