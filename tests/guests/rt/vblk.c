/* The guest kit's virtio-blk driver: one request queue, chains header/data/status, polled. */
#include "rt.h"

#include "vblk.h"
#include "virtio.h"

#define VIRTIO_BLK_F_RO	   (1ull << 5)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)
#define VBLK_TIMEOUT_US	   5000000

struct vblk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

static struct virtio_dev dev;
static struct virtq vq;
static struct vring_mem vq_mem;
/* Per chain head: its header and status byte (the head is unique while in flight). */
static struct vblk_hdr hdrs[VQ_MAX];
static uint8_t statuses[VQ_MAX];

int vblk__init(void)
{
	int rc = virtio__probe(&dev, VIRTIO_ID_BLOCK, 0,
			       VIRTIO_RING_F_EVENT_IDX | VIRTIO_BLK_F_RO | VIRTIO_BLK_F_FLUSH);

	if (!rc)
		rc = virtio__setup_queue(&dev, 0, &vq, &vq_mem);
	if (rc)
		return rc;
	virtio__ready(&dev);
	return 0;
}

uint64_t vblk__sectors(void)
{
	/* config: u64 capacity at 0, read as two halves (4.1.3.1: no 64-bit access needed) */
	volatile uint32_t *c = (volatile uint32_t *)dev.device_cfg;

	return c ? ((uint64_t)c[1] << 32) | c[0] : 0;
}

int vblk__read_only(void)
{
	return !!(dev.features & VIRTIO_BLK_F_RO);
}

int vblk__submit(int type, uint64_t sector, void *buf, uint32_t len)
{
	struct vq_buf b[3];
	unsigned int n = 0;
	uint16_t head;

	if (vq.num_free < (type == VBLK_T_FLUSH ? 2 : 3))
		return -ENOSPC;
	head = vq.free_head;
	hdrs[head] = (struct vblk_hdr){.type = (uint32_t)type, .sector = sector};
	statuses[head] = 0xff;
	b[n++] = (struct vq_buf){hdrs + head, sizeof(hdrs[0]), 0};
	if (type != VBLK_T_FLUSH)
		b[n++] = (struct vq_buf){buf, len, type != VBLK_T_OUT};
	b[n++] = (struct vq_buf){statuses + head, 1, 1};
	return virtq__add(&vq, b, n);
}

void vblk__kick(void)
{
	virtq__kick(&vq);
}

int vblk__reap(uint8_t *status)
{
	int head = virtq__get_used(&vq, NULL);

	if (head >= 0 && status)
		*status = statuses[head];
	return head;
}

unsigned int vblk__in_flight(void)
{
	return virtq__in_flight(&vq);
}

uint64_t vblk__notifies(void)
{
	return vq.notifies;
}

int vblk__wait(uint64_t timeout_us)
{
	uint64_t end = clock__us() + timeout_us;

	vblk__kick();
	while (virtq__in_flight(&vq) && !virtq__has_used(&vq)) {
		if (clock__us() > end)
			return -ETIMEDOUT;
		virtio__idle(10000);
	}
	return 0;
}

static int sync_request(int type, uint64_t sector, void *buf, uint32_t len)
{
	uint8_t status = 0xff;
	int tag = vblk__submit(type, sector, buf, len), done;
	uint64_t end = clock__us() + VBLK_TIMEOUT_US;

	if (tag < 0)
		return tag;
	vblk__kick();
	while ((done = vblk__reap(&status)) != tag) {
		if (clock__us() > end)
			return -ETIMEDOUT;
		if (done < 0)
			virtio__idle(10000);
	}
	return status == VBLK_S_OK ? 0 : -EIO;
}

int vblk__rw(int type, uint64_t sector, void *buf, uint32_t len)
{
	return sync_request(type, sector, buf, len);
}

int vblk__flush(void)
{
	return sync_request(VBLK_T_FLUSH, 0, NULL, 0);
}

int vblk__get_id(char id[VBLK_ID_BYTES])
{
	return sync_request(VBLK_T_GET_ID, 0, id, VBLK_ID_BYTES);
}
