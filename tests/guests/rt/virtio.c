/* The guest kit's virtio-pci modern transport: capabilities, status, features, queue setup. */
#include "rt.h"

#include "virtio.h"

#define PCI_CAP_VENDOR 0x09
#define CAP_COMMON     1
#define CAP_NOTIFY     2
#define CAP_DEVICE     4

/* struct virtio_pci_common_cfg offsets (virtio 1.0, 4.1.4.3). */
#define CC_DFSELECT   0
#define CC_DF	      4
#define CC_GFSELECT   8
#define CC_GF	      12
#define CC_NUM_QUEUES 18
#define CC_STATUS     20
#define CC_Q_SELECT   22
#define CC_Q_SIZE     24
#define CC_Q_ENABLE   28
#define CC_Q_NOFF     30
#define CC_Q_DESC     32
#define CC_Q_AVAIL    40
#define CC_Q_USED     48

#define R8(p, o)  (*(volatile uint8_t *)((p) + (o)))
#define R16(p, o) (*(volatile uint16_t *)((p) + (o)))
#define R32(p, o) (*(volatile uint32_t *)((p) + (o)))

static void set_status(struct virtio_dev *dev, uint8_t bits)
{
	R8(dev->common, CC_STATUS) = R8(dev->common, CC_STATUS) | bits;
}

uint8_t virtio__status(struct virtio_dev *dev)
{
	return R8(dev->common, CC_STATUS);
}

/* Resolve a vendor capability (bar, offset, length) to an address inside a sized memory BAR. */
static volatile uint8_t *cap_addr(struct pci_dev *p, uint8_t cap)
{
	uint8_t bar = pci__read8(p, cap + 4);
	uint32_t off = pci__read32(p, cap + 8), len = pci__read32(p, cap + 12);

	if (bar >= PCI_NUM_BARS || !p->bar[bar] || (uint64_t)off + len > p->bar_size[bar])
		return NULL;
	return (volatile uint8_t *)(uintptr_t)(p->bar[bar] + off);
}

static int map_caps(struct virtio_dev *dev)
{
	struct pci_dev *p = dev->pci;

	for (uint8_t c = pci__next_cap(p, PCI_CAP_VENDOR, 0); c;
	     c = pci__next_cap(p, PCI_CAP_VENDOR, c)) {
		switch (pci__read8(p, c + 3)) {
		case CAP_COMMON:
			if (!dev->common)
				dev->common = cap_addr(p, c);
			break;
		case CAP_NOTIFY:
			if (!dev->notify_base) {
				dev->notify_base = cap_addr(p, c);
				dev->notify_mult = pci__read32(p, c + 16);
			}
			break;
		case CAP_DEVICE:
			if (!dev->device_cfg)
				dev->device_cfg = cap_addr(p, c);
			break;
		}
	}
	return dev->common && dev->notify_base ? 0 : -ENODEV;
}

int virtio__probe(struct virtio_dev *dev, unsigned int type, unsigned int n, uint64_t want)
{
	uint64_t offered, end;
	int rc;

	memset(dev, 0, sizeof(*dev));
	pci__init();
	dev->pci = pci__find(VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_MODERN_BASE + type), n);
	if (!dev->pci)
		return -ENODEV;
	rc = map_caps(dev);
	if (rc)
		return rc;
	R8(dev->common, CC_STATUS) = 0;
	/* Reset completes when status reads 0; a device that never gets there is unusable. */
	for (end = clock__us() + 1000000; R8(dev->common, CC_STATUS); cpu__relax())
		if (clock__us() > end)
			return -EIO;
	set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	R32(dev->common, CC_DFSELECT) = 0;
	offered = R32(dev->common, CC_DF);
	R32(dev->common, CC_DFSELECT) = 1;
	offered |= (uint64_t)R32(dev->common, CC_DF) << 32;
	dev->features = offered & (want | VIRTIO_F_VERSION_1);
	if (!(dev->features & VIRTIO_F_VERSION_1))
		goto refused;
	R32(dev->common, CC_GFSELECT) = 0;
	R32(dev->common, CC_GF) = (uint32_t)dev->features;
	R32(dev->common, CC_GFSELECT) = 1;
	R32(dev->common, CC_GF) = (uint32_t)(dev->features >> 32);
	set_status(dev, VIRTIO_STATUS_FEATURES_OK);
	if (!(virtio__status(dev) & VIRTIO_STATUS_FEATURES_OK))
		goto refused;
	return 0;
refused:
	set_status(dev, VIRTIO_STATUS_FAILED);
	return -EIO;
}

int virtio__setup_queue(struct virtio_dev *dev, uint16_t index, struct virtq *vq,
			struct vring_mem *mem)
{
	volatile uint8_t *cc = dev->common;
	uint16_t max, size = VQ_MAX;

	if (index >= R16(cc, CC_NUM_QUEUES))
		return -ENODEV;
	R16(cc, CC_Q_SELECT) = index;
	max = R16(cc, CC_Q_SIZE);
	if (!max)
		return -ENODEV;
	while (size > max) /* a power of 2 no larger than the device's maximum */
		size >>= 1;
	virtq__init(vq, mem, size, index,
		    (volatile uint16_t *)(dev->notify_base +
					  (uint32_t)R16(cc, CC_Q_NOFF) * dev->notify_mult),
		    !!(dev->features & VIRTIO_RING_F_EVENT_IDX));
	R16(cc, CC_Q_SIZE) = vq->size;
	R32(cc, CC_Q_DESC) = (uint32_t)(uintptr_t)mem->desc;
	R32(cc, CC_Q_DESC + 4) = 0;
	R32(cc, CC_Q_AVAIL) = (uint32_t)(uintptr_t)&mem->avail;
	R32(cc, CC_Q_AVAIL + 4) = 0;
	R32(cc, CC_Q_USED) = (uint32_t)(uintptr_t)&mem->used;
	R32(cc, CC_Q_USED + 4) = 0;
	R16(cc, CC_Q_ENABLE) = 1;
	return 0;
}

void virtio__ready(struct virtio_dev *dev)
{
	set_status(dev, VIRTIO_STATUS_DRIVER_OK);
}

void virtio__idle(uint32_t max_us)
{
	if (platform__get() == PLATFORM_TWIN)
		platform__wait_us(max_us);
	else
		cpu__relax();
}

void virtio__idle_on(struct virtq *vq, uint32_t max_us)
{
	/* Only Twin's WAIT_US is woken by a notification: under QEMU, asking for one is waste. */
	if (platform__get() != PLATFORM_TWIN)
		cpu__relax();
	else if (!virtq__arm(vq))
		platform__wait_us(max_us);
}
