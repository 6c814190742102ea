/* virtio-pci: common/notify/ISR/device regions (modern) and the 0.9.5 I/O block (legacy). */
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>
#include "debugdev.h"
#include "dirty.h"
#include "ioloop.h"
#include "log.h"
#include "memory.h"
#include "util.h"
#include "virtio_pci.h"
#include "vm.h"

/* BARs: legacy registers in I/O BAR 0, the modern regions in memory BAR 1. */
#define LEGACY_BAR 0
#define MODERN_BAR 1

/* Modern BAR layout: one page per region, so each can be mapped and trapped on its own. */
#define MODERN_COMMON	  0x0000
#define MODERN_ISR	  0x1000
#define MODERN_DEVICE	  0x2000
#define MODERN_NOTIFY	  0x3000
#define MODERN_BAR_SIZE	  0x4000
#define NOTIFY_MULTIPLIER 4 /* queue q's notify address: MODERN_NOTIFY + 4 * q */
#define MODERN_CONFIG_MAX 0x1000

/* virtio_pci_cap.cfg_type (virtio 1.x, 4.1.4). */
#define PCI_CAP_ID_VNDR	      0x09
#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR    3
#define VIRTIO_PCI_CAP_DEVICE 4
#define VIRTIO_PCI_CAP_LEN    16
#define VIRTIO_PCI_NOTIFY_LEN 20

/* struct virtio_pci_common_cfg offsets (virtio 1.x, 4.1.4.3). */
#define COMMON_DFSELECT	     0x00
#define COMMON_DF	     0x04
#define COMMON_GFSELECT	     0x08
#define COMMON_GF	     0x0c
#define COMMON_MSIX	     0x10
#define COMMON_NUMQ	     0x12
#define COMMON_STATUS	     0x14
#define COMMON_CFGGENERATION 0x15
#define COMMON_Q_SELECT	     0x16
#define COMMON_Q_SIZE	     0x18
#define COMMON_Q_MSIX	     0x1a
#define COMMON_Q_ENABLE	     0x1c
#define COMMON_Q_NOFF	     0x1e
#define COMMON_Q_DESC	     0x20
#define COMMON_Q_AVAIL	     0x28
#define COMMON_Q_USED	     0x30
#define COMMON_SIZE	     0x38
#define VIRTIO_MSI_NO_VECTOR 0xffff /* no MSI-X: INTx only */

/* Legacy register block (virtio 0.9.5, without MSI-X). */
#define LEGACY_HOST_FEATURES  0
#define LEGACY_GUEST_FEATURES 4
#define LEGACY_QUEUE_PFN      8
#define LEGACY_QUEUE_NUM      12
#define LEGACY_QUEUE_SEL      14
#define LEGACY_QUEUE_NOTIFY   16
#define LEGACY_STATUS	      18
#define LEGACY_ISR	      19
#define LEGACY_CONFIG	      20
#define LEGACY_PAGE	      4096 /* legacy rings: PFN units and used ring alignment */

#define ISR_QUEUE  1
#define ISR_CONFIG 2

static const struct {
	uint16_t id;
	uint16_t legacy_device; /* transitional PCI device id */
	uint32_t class_code;
} id_table[] = {
    {VIRTIO_ID_NET, 0x1000, 0x020000},	   /* Ethernet */
    {VIRTIO_ID_BLOCK, 0x1001, 0x018000},   /* other mass storage */
    {VIRTIO_ID_CONSOLE, 0x1003, 0x078000}, /* other communication */
};

static struct virtio_dev *vdev_of(struct pci_device *dev)
{
	return dev->opaque;
}

static uint64_t offered_features(const struct virtio_dev *vdev)
{
	return vdev->features | 1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << VIRTIO_F_VERSION_1;
}

bool virtio_dev__has_feature(const struct virtio_dev *vdev, unsigned int bit)
{
	return bit < 64 && (vdev->driver_features >> bit & 1);
}

/*
 * ---- Quiescing: register writes that change queues or status exclude the I/O thread. ----
 * The I/O thread reads only ready flags (atomic), the virtqueue of a ready
 * queue, and isr/status under vdev->lock.  So only writes that can make a
 * queue ready or stop it (status, queue_enable, legacy PFN and status) wait
 * for it to pause.  Selectors, features (frozen at DRIVER_OK, before any queue
 * is ready) and the size and addresses of a queue not yet enabled need only
 * vdev->lock, and do not wait out a long I/O callback.
 */

static void lock_regs(struct virtio_dev *vdev, bool quiesce)
{
	if (quiesce)
		ioloop__pause(vdev->vm->ioloop); /* before the lock: callbacks take it too */
	pthread_mutex_lock(&vdev->lock);
}

static void unlock_regs(struct virtio_dev *vdev, bool quiesce)
{
	pthread_mutex_unlock(&vdev->lock);
	if (quiesce)
		ioloop__resume(vdev->vm->ioloop);
}

/* Under lock: stops every queue and sets NEEDS_RESET; true if this is news (log it). */
static bool mark_broken_locked(struct virtio_dev *vdev)
{
	if (vdev->broken)
		return false;
	vdev->broken = true;
	vdev->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		__atomic_store_n(&vdev->queues[q].ready, false, __ATOMIC_RELEASE);
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
		vdev->isr |= ISR_CONFIG;
		pci__set_irq(&vdev->pci, true);
	}
	return true;
}

/* Without lock, once per breakage: the log line. */
static void report_broken(struct virtio_dev *vdev, const char *reason)
{
	log__error("%s: broken: %s; the guest must reset the device", vdev->name, reason);
}

void virtio_dev__set_broken(struct virtio_dev *vdev, const char *fmt, ...)
{
	char reason[256];
	va_list ap;
	bool first;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&vdev->lock);
	first = mark_broken_locked(vdev);
	pthread_mutex_unlock(&vdev->lock);
	if (first)
		report_broken(vdev, reason);
}

/* Under lock: starts q's rings; a bad layout breaks the device.  reason set on failure. */
static int start_queue_locked(struct virtio_dev *vdev, unsigned int q, char *reason, size_t len)
{
	struct virtio_queue *vq = &vdev->queues[q];
	int rc;

	if (vq->size > vdev->queue_max_size) {
		snprintf(reason, len, "queue %u: size %u is above the maximum %u", q, vq->size,
			 vdev->queue_max_size);
		return VIRTQUEUE_BROKEN;
	}
	rc = virtqueue__start(&vq->vq, vdev->vm, vq->size, vq->desc_gpa, vq->avail_gpa,
			      vq->used_gpa, virtio_dev__has_feature(vdev, VIRTIO_RING_F_EVENT_IDX));
	if (rc) {
		snprintf(reason, len, "queue %u: %s", q, vq->vq.error);
		return rc;
	}
	vq->enabled = true;
	return 0;
}

static void kick_queue(struct virtio_dev *vdev, unsigned int q)
{
	uint64_t one = 1;

	if (write(vdev->queues[q].notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log__warn("%s: signalling queue %u failed: %s", vdev->name, q, strerror(errno));
}

/* Under lock: makes enabled queues ready once DRIVER_OK, and kicks them to look at work. */
static void update_ready_locked(struct virtio_dev *vdev)
{
	bool ok = (vdev->status & VIRTIO_STATUS_DRIVER_OK) && !vdev->broken;

	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		bool ready = ok && vq->enabled;

		if (ready && !vq->ready) {
			/* 0.9.5 drivers may write features after the PFN: use the final ones. */
			vq->vq.event_idx = virtio_dev__has_feature(vdev, VIRTIO_RING_F_EVENT_IDX);
			kick_queue(vdev, q);
		}
		__atomic_store_n(&vq->ready, ready, __ATOMIC_RELEASE);
	}
}

/* Under lock, I/O paused: back to the state after power-on, except the notify plumbing. */
static void reset_locked(struct virtio_dev *vdev)
{
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];

		__atomic_store_n(&vq->ready, false, __ATOMIC_RELEASE);
		vq->enabled = false;
		vq->size = vdev->queue_max_size;
		vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
		memset(&vq->vq, 0, sizeof(vq->vq));
	}
	vdev->status = 0;
	vdev->driver_features = 0;
	vdev->dev_feature_sel = vdev->drv_feature_sel = 0;
	vdev->queue_sel = 0;
	vdev->isr = 0;
	vdev->broken = false;
	pci__set_irq(&vdev->pci, false);
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
}

/*
 * Under lock, I/O paused: the driver wrote status.  0 resets.  FEATURES_OK
 * sticks only if the accepted features are a subset of the offer (with
 * VERSION_1 on the modern interface).  reason is set if the device broke.
 */
static void write_status_locked(struct virtio_dev *vdev, uint8_t v, bool modern)
{
	uint8_t old = vdev->status;

	if (v == 0) {
		reset_locked(vdev);
		return;
	}
	v = (uint8_t)((v & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) |
		      (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t extra = vdev->driver_features & ~offered_features(vdev);

		if (extra || (modern && !virtio_dev__has_feature(vdev, VIRTIO_F_VERSION_1))) {
			log__warn("%s: driver accepted features 0x%llx (offered 0x%llx)%s: "
				  "FEATURES_OK refused",
				  vdev->name, (unsigned long long)vdev->driver_features,
				  (unsigned long long)offered_features(vdev),
				  extra ? "" : " without VERSION_1");
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	vdev->status = v;
	/* Clearing DRIVER_OK without a reset is a driver bug: it stops the queues. */
	if ((v ^ old) & VIRTIO_STATUS_DRIVER_OK)
		update_ready_locked(vdev);
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
	    vdev->ops->driver_ok)
		vdev->ops->driver_ok(vdev);
}

/* Under lock, I/O paused: enable (start) or disable queue q; false if the layout is bad. */
static bool set_queue_enabled_locked(struct virtio_dev *vdev, unsigned int q, bool on, char *reason,
				     size_t len)
{
	struct virtio_queue *vq = &vdev->queues[q];

	if (!on) {
		vq->enabled = false;
		update_ready_locked(vdev);
		return true;
	}
	if (start_queue_locked(vdev, q, reason, len))
		return false;
	update_ready_locked(vdev);
	return true;
}

static void config_read_locked(struct virtio_dev *vdev, uint64_t off, void *data, uint32_t len)
{
	if (off < vdev->config_len && len <= vdev->config_len - off)
		memcpy(data, (uint8_t *)vdev->config + off, len);
	else
		memset(data, 0, len);
}

static void config_write_locked(struct virtio_dev *vdev, uint64_t off, const void *data,
				uint32_t len)
{
	if (vdev->ops->config_write && off < vdev->config_len && len <= vdev->config_len - off)
		vdev->ops->config_write(vdev, (uint32_t)off, data, len);
}

/* ISR read: returns and clears the bits, and lets INTx drop (virtio 1.x, 4.1.4.5). */
static uint8_t isr_read(struct virtio_dev *vdev)
{
	uint8_t v;

	pthread_mutex_lock(&vdev->lock);
	v = vdev->isr;
	vdev->isr = 0;
	if (v)
		pci__set_irq(&vdev->pci, false);
	pthread_mutex_unlock(&vdev->lock);
	return v;
}

static void notify_write(struct virtio_dev *vdev, uint64_t q)
{
	__atomic_fetch_add(&vdev->vcpu_notifies, 1, __ATOMIC_RELAXED);
	if (q < vdev->nr_queues)
		kick_queue(vdev, (unsigned int)q);
}

/* ---- Modern interface: the common configuration region. ---- */

static void put_le(uint8_t *buf, uint32_t off, uint64_t v, unsigned int width)
{
	for (unsigned int i = 0; i < width; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

static void common_read(struct virtio_dev *vdev, uint64_t off, void *data, uint32_t len)
{
	uint8_t img[COMMON_SIZE] = {0};
	struct virtio_queue *vq;
	uint64_t f;

	pthread_mutex_lock(&vdev->lock);
	f = offered_features(vdev);
	vq = vdev->queue_sel < vdev->nr_queues ? &vdev->queues[vdev->queue_sel] : NULL;
	put_le(img, COMMON_DFSELECT, vdev->dev_feature_sel, 4);
	put_le(img, COMMON_DF, vdev->dev_feature_sel < 2 ? f >> (32 * vdev->dev_feature_sel) : 0,
	       4);
	put_le(img, COMMON_GFSELECT, vdev->drv_feature_sel, 4);
	put_le(img, COMMON_GF,
	       vdev->drv_feature_sel < 2 ? vdev->driver_features >> (32 * vdev->drv_feature_sel)
					 : 0,
	       4);
	put_le(img, COMMON_MSIX, VIRTIO_MSI_NO_VECTOR, 2);
	put_le(img, COMMON_NUMQ, vdev->nr_queues, 2);
	img[COMMON_STATUS] = vdev->status;
	img[COMMON_CFGGENERATION] = vdev->config_generation;
	put_le(img, COMMON_Q_SELECT, vdev->queue_sel, 2);
	/* A queue_select past the last queue reads size 0: "not available". */
	if (vq) {
		put_le(img, COMMON_Q_SIZE, vq->size, 2);
		put_le(img, COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR, 2);
		put_le(img, COMMON_Q_ENABLE, vq->enabled, 2);
		put_le(img, COMMON_Q_NOFF, vdev->queue_sel, 2);
		put_le(img, COMMON_Q_DESC, vq->desc_gpa, 8);
		put_le(img, COMMON_Q_AVAIL, vq->avail_gpa, 8);
		put_le(img, COMMON_Q_USED, vq->used_gpa, 8);
	}
	pthread_mutex_unlock(&vdev->lock);
	if (off < COMMON_SIZE && len <= COMMON_SIZE - off)
		memcpy(data, img + off, len);
	else
		memset(data, 0, len);
}

/* Merges a 4- or 8-byte write at off into the 64-bit register at base (halves or whole). */
static void write_u64_part(uint64_t *reg, uint64_t base, uint64_t off, uint64_t v, uint32_t len)
{
	if (len == 8 && off == base)
		*reg = v;
	else if (len == 4 && off == base)
		*reg = (*reg & ~0xffffffffull) | (uint32_t)v;
	else if (len == 4 && off == base + 4)
		*reg = (*reg & 0xffffffffull) | v << 32;
}

static void common_write(struct virtio_dev *vdev, uint64_t off, const void *data, uint32_t len)
{
	bool quiesce = off == COMMON_STATUS || off == COMMON_Q_ENABLE;
	struct virtio_queue *vq;
	char reason[192] = "";
	uint64_t v = 0;
	bool first = false;

	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	v = le64toh(v);
	lock_regs(vdev, quiesce);
	vq = vdev->queue_sel < vdev->nr_queues ? &vdev->queues[vdev->queue_sel] : NULL;
	switch (off) {
	case COMMON_DFSELECT:
		vdev->dev_feature_sel = (uint32_t)v;
		break;
	case COMMON_GFSELECT:
		vdev->drv_feature_sel = (uint32_t)v;
		break;
	case COMMON_GF:
		/* Features are frozen once FEATURES_OK (or, skipping it, DRIVER_OK) is set. */
		if (vdev->drv_feature_sel < 2 &&
		    !(vdev->status & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK))) {
			unsigned int shift = 32 * vdev->drv_feature_sel;

			vdev->driver_features =
			    (vdev->driver_features & ~(0xffffffffull << shift)) |
			    (uint64_t)(uint32_t)v << shift;
		}
		break;
	case COMMON_STATUS:
		write_status_locked(vdev, (uint8_t)v, true);
		break;
	case COMMON_Q_SELECT:
		vdev->queue_sel = (uint16_t)v;
		break;
	case COMMON_Q_SIZE:
		if (vq && !vq->enabled)
			vq->size = (uint16_t)v;
		break;
	case COMMON_Q_ENABLE:
		/* A second 1 (a driver bug, 4.1.4.3) must not restart the ring under the driver. */
		if (!vq || ((v & 1) && vq->enabled))
			break;
		if (!set_queue_enabled_locked(vdev, vdev->queue_sel, v & 1, reason, sizeof(reason)))
			first = mark_broken_locked(vdev);
		break;
	default:
		/* MSI-X vectors stay NO_VECTOR; read-only fields ignore writes. */
		if (vq && !vq->enabled) {
			write_u64_part(&vq->desc_gpa, COMMON_Q_DESC, off, v, len);
			write_u64_part(&vq->avail_gpa, COMMON_Q_AVAIL, off, v, len);
			write_u64_part(&vq->used_gpa, COMMON_Q_USED, off, v, len);
		}
		break;
	}
	unlock_regs(vdev, quiesce);
	if (first)
		report_broken(vdev, reason);
}

static void modern_read(struct virtio_dev *vdev, uint64_t off, void *data, uint32_t len)
{
	if (off < MODERN_ISR) {
		common_read(vdev, off - MODERN_COMMON, data, len);
	} else if (off < MODERN_DEVICE) {
		memset(data, 0, len);
		if (off == MODERN_ISR)
			*(uint8_t *)data = isr_read(vdev);
	} else if (off < MODERN_NOTIFY) {
		pthread_mutex_lock(&vdev->lock);
		config_read_locked(vdev, off - MODERN_DEVICE, data, len);
		pthread_mutex_unlock(&vdev->lock);
	} else {
		memset(data, 0, len);
	}
}

static void modern_write(struct virtio_dev *vdev, uint64_t off, const void *data, uint32_t len)
{
	if (off < MODERN_ISR) {
		common_write(vdev, off - MODERN_COMMON, data, len);
	} else if (off >= MODERN_DEVICE && off < MODERN_NOTIFY) {
		pthread_mutex_lock(&vdev->lock);
		config_write_locked(vdev, off - MODERN_DEVICE, data, len);
		pthread_mutex_unlock(&vdev->lock);
	} else if (off >= MODERN_NOTIFY) {
		/* Reached only without a KVM ioeventfd for this address. */
		notify_write(vdev, (off - MODERN_NOTIFY) / NOTIFY_MULTIPLIER);
	}
}

/* ---- Legacy interface: the 0.9.5 register block in I/O space. ---- */

static void legacy_read(struct virtio_dev *vdev, uint64_t off, void *data, uint32_t len)
{
	uint8_t img[LEGACY_CONFIG] = {0};
	struct virtio_queue *vq;

	if (off >= LEGACY_CONFIG) {
		pthread_mutex_lock(&vdev->lock);
		config_read_locked(vdev, off - LEGACY_CONFIG, data, len);
		pthread_mutex_unlock(&vdev->lock);
		return;
	}
	if (off == LEGACY_ISR) {
		memset(data, 0, len);
		*(uint8_t *)data = isr_read(vdev);
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	vq = vdev->queue_sel < vdev->nr_queues ? &vdev->queues[vdev->queue_sel] : NULL;
	put_le(img, LEGACY_HOST_FEATURES, (uint32_t)offered_features(vdev), 4);
	put_le(img, LEGACY_GUEST_FEATURES, (uint32_t)vdev->driver_features, 4);
	if (vq) {
		put_le(img, LEGACY_QUEUE_PFN, vq->enabled ? vq->desc_gpa / LEGACY_PAGE : 0, 4);
		put_le(img, LEGACY_QUEUE_NUM, vdev->queue_max_size, 2);
	}
	put_le(img, LEGACY_QUEUE_SEL, vdev->queue_sel, 2);
	img[LEGACY_STATUS] = vdev->status;
	pthread_mutex_unlock(&vdev->lock);
	if (len <= LEGACY_CONFIG - off)
		memcpy(data, img + off, len);
	else
		memset(data, 0xff, len);
}

/* Legacy rings are contiguous from the PFN: descriptors, avail, then used on the next page. */
static void legacy_layout(struct virtio_queue *vq, uint64_t pfn, uint16_t size)
{
	vq->size = size;
	vq->desc_gpa = pfn * LEGACY_PAGE;
	vq->avail_gpa = vq->desc_gpa + 16ull * size;
	vq->used_gpa =
	    (vq->avail_gpa + 6ull + 2ull * size + LEGACY_PAGE - 1) & ~(uint64_t)(LEGACY_PAGE - 1);
}

static void legacy_write(struct virtio_dev *vdev, uint64_t off, const void *data, uint32_t len)
{
	bool quiesce = off == LEGACY_QUEUE_PFN || off == LEGACY_STATUS;
	struct virtio_queue *vq;
	char reason[192] = "";
	uint32_t v = 0;
	bool first = false;

	if (off >= LEGACY_CONFIG) {
		pthread_mutex_lock(&vdev->lock);
		config_write_locked(vdev, off - LEGACY_CONFIG, data, len);
		pthread_mutex_unlock(&vdev->lock);
		return;
	}
	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	v = le32toh(v);
	if (off == LEGACY_QUEUE_NOTIFY) {
		notify_write(vdev, (uint16_t)v); /* without a KVM ioeventfd */
		return;
	}
	lock_regs(vdev, quiesce);
	vq = vdev->queue_sel < vdev->nr_queues ? &vdev->queues[vdev->queue_sel] : NULL;
	switch (off) {
	case LEGACY_GUEST_FEATURES:
		/* Legacy has no FEATURES_OK: take what is offered, until DRIVER_OK. */
		if (!(vdev->status & VIRTIO_STATUS_DRIVER_OK))
			vdev->driver_features = v & (uint32_t)offered_features(vdev);
		break;
	case LEGACY_QUEUE_PFN:
		if (!vq)
			break;
		if (v == 0) {
			set_queue_enabled_locked(vdev, vdev->queue_sel, false, NULL, 0);
			break;
		}
		legacy_layout(vq, v, vdev->queue_max_size);
		if (!set_queue_enabled_locked(vdev, vdev->queue_sel, true, reason, sizeof(reason)))
			first = mark_broken_locked(vdev);
		break;
	case LEGACY_QUEUE_SEL:
		vdev->queue_sel = (uint16_t)v;
		break;
	case LEGACY_STATUS:
		write_status_locked(vdev, (uint8_t)v, false);
		break;
	}
	unlock_regs(vdev, quiesce);
	if (first)
		report_broken(vdev, reason);
}

/* ---- PCI glue ---- */

static void bar_read(struct pci_device *dev, unsigned int bar, uint64_t off, void *data,
		     uint32_t len)
{
	if (bar == MODERN_BAR)
		modern_read(vdev_of(dev), off, data, len);
	else
		legacy_read(vdev_of(dev), off, data, len);
}

static void bar_write(struct pci_device *dev, unsigned int bar, uint64_t off, const void *data,
		      uint32_t len)
{
	if (bar == MODERN_BAR)
		modern_write(vdev_of(dev), off, data, len);
	else
		legacy_write(vdev_of(dev), off, data, len);
}

/* Assigns or removes one KVM ioeventfd; legacy ones match the queue index written. */
static int ioeventfd(struct virtio_dev *vdev, unsigned int q, uint64_t addr, bool pio, bool assign)
{
	struct kvm_ioeventfd io = {
	    .addr = addr,
	    .len = pio || !vdev->ioeventfd_any_len ? 2 : 0,
	    .fd = vdev->queues[q].notify_fd,
	    .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
		     (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	    .datamatch = pio ? q : 0,
	};

	return ioctl(vdev->vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/*
 * Bus lock held for writing: the guest moved a BAR, so move the notify
 * ioeventfds with it.  One that cannot be placed leaves that queue's
 * notifies to the vCPU-thread path, which works the same, only slower.
 */
static void bar_moved(struct pci_device *dev, unsigned int bar, uint64_t old, uint64_t now)
{
	struct virtio_dev *vdev = vdev_of(dev);
	bool pio = bar == LEGACY_BAR && vdev->legacy;

	if (!vdev->ioeventfd)
		return;
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		uint64_t *at = pio ? &vq->ioeventfd_pio : &vq->ioeventfd_mmio;
		uint64_t addr =
		    pio ? now + LEGACY_QUEUE_NOTIFY : now + MODERN_NOTIFY + NOTIFY_MULTIPLIER * q;
		int rc;

		if (*at != PCI_BAR_UNMAPPED && ioeventfd(vdev, q, *at, pio, false))
			log__warn("%s: removing the ioeventfd of queue %u failed: %s", vdev->name,
				  q, strerror(errno));
		*at = PCI_BAR_UNMAPPED;
		if (now == PCI_BAR_UNMAPPED)
			continue;
		rc = ioeventfd(vdev, q, addr, pio, true);
		if (rc)
			log__warn("%s: KVM_IOEVENTFD for queue %u at 0x%llx failed: %s; its "
				  "notifies take the slower path through the vCPU thread",
				  vdev->name, q, (unsigned long long)addr, strerror(-rc));
		else
			*at = addr;
	}
}

/* I/O thread: the guest notified a queue (through KVM or the vCPU thread). */
static void queue_event(void *opaque, uint32_t events)
{
	struct virtio_queue *vq = opaque;
	uint64_t n;

	if (read(vq->notify_fd, &n, sizeof(n)) < 0)
		return; /* EAGAIN: nothing new */
	if (__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE))
		vq->vdev->ops->queue_notify(vq->vdev, vq->index);
}

static void release(struct pci_device *dev)
{
	struct virtio_dev *vdev = vdev_of(dev);

	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];

		if (vq->notify_fd < 0)
			continue;
		if (vq->ioeventfd_mmio != PCI_BAR_UNMAPPED)
			ioeventfd(vdev, q, vq->ioeventfd_mmio, false, false);
		if (vq->ioeventfd_pio != PCI_BAR_UNMAPPED)
			ioeventfd(vdev, q, vq->ioeventfd_pio, true, false);
		ioloop__del(vdev->vm->ioloop, vq->notify_fd);
		close(vq->notify_fd);
		vq->notify_fd = -1;
	}
	pthread_mutex_destroy(&vdev->lock);
	if (vdev->ops->release)
		vdev->ops->release(vdev);
}

static const struct pci_device_ops virtio_pci_ops = {
    .bar_read = bar_read,
    .bar_write = bar_write,
    .bar_moved = bar_moved,
    .release = release,
};

/* One vendor capability pointing at [offset, offset + length) of the modern BAR. */
static int add_cap(struct virtio_dev *vdev, uint8_t type, uint32_t offset, uint32_t length,
		   uint32_t cap_len)
{
	struct pci_device *dev = &vdev->pci;
	int at = pci__add_cap(dev, PCI_CAP_ID_VNDR, cap_len);

	if (at < 0)
		return at;
	dev->cfg[at + 2] = (uint8_t)cap_len;
	dev->cfg[at + 3] = type;
	dev->cfg[at + 4] = MODERN_BAR;
	put_le(dev->cfg, (uint32_t)at + 8, offset, 4);
	put_le(dev->cfg, (uint32_t)at + 12, length, 4);
	if (type == VIRTIO_PCI_CAP_NOTIFY)
		put_le(dev->cfg, (uint32_t)at + 16, NOTIFY_MULTIPLIER, 4);
	return 0;
}

static int check_dev(const struct virtio_dev *vdev, size_t *id)
{
	uint16_t qmax = vdev->queue_max_size;

	for (*id = 0; *id < ARRAY_SIZE(id_table); (*id)++)
		if (id_table[*id].id == vdev->device_id)
			break;
	if (*id == ARRAY_SIZE(id_table)) {
		log__error("%s: virtio device id %u is not one twin-vmm knows", vdev->name,
			   vdev->device_id);
		return -EINVAL;
	}
	if (!vdev->ops || !vdev->ops->queue_notify || vdev->nr_queues == 0 ||
	    vdev->nr_queues > VIRTIO_MAX_QUEUES || qmax == 0 || qmax > VIRTQUEUE_MAX_SIZE ||
	    (qmax & (qmax - 1)) ||
	    vdev->config_len > (vdev->legacy ? 256 - LEGACY_CONFIG : MODERN_CONFIG_MAX) ||
	    (vdev->features >> 24)) {
		log__error("%s: bad virtio device description: needs queue_notify, 1-%d queues, "
			   "a power-of-two queue size up to %d, config up to %d bytes (%d with "
			   "legacy), feature bits below 24",
			   vdev->name, VIRTIO_MAX_QUEUES, VIRTQUEUE_MAX_SIZE, MODERN_CONFIG_MAX,
			   256 - LEGACY_CONFIG);
		return -EINVAL;
	}
	return 0;
}

/* The legacy I/O BAR: registers plus device config, as a power of two. */
static uint32_t legacy_bar_size(const struct virtio_dev *vdev)
{
	uint32_t size = 32;

	while (size < LEGACY_CONFIG + vdev->config_len)
		size *= 2;
	return size;
}

int virtio_dev__register(struct vm *vm, struct virtio_dev *vdev)
{
	struct pci_device *dev = &vdev->pci;
	size_t id;
	int rc;

	rc = check_dev(vdev, &id);
	if (rc)
		return rc;
	vdev->vm = vm;
	pthread_mutex_init(&vdev->lock, NULL);
	vdev->ioeventfd = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD) > 0;
	vdev->ioeventfd_any_len =
	    ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		struct virtio_queue *vq = &vdev->queues[q];

		vq->vdev = vdev;
		vq->index = q;
		vq->notify_fd = -1;
		vq->ioeventfd_mmio = vq->ioeventfd_pio = PCI_BAR_UNMAPPED;
		vq->size = vdev->queue_max_size;
	}
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];

		vq->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vq->notify_fd < 0) {
			rc = -errno;
			log__error("%s: creating the notify eventfd of queue %u failed: %s",
				   vdev->name, q, strerror(-rc));
			goto fail;
		}
		rc = ioloop__add(vm->ioloop, vq->notify_fd, EPOLLIN, queue_event, vq);
		if (rc) {
			close(vq->notify_fd);
			vq->notify_fd = -1;
			goto fail;
		}
	}

	memset(dev, 0, sizeof(*dev));
	dev->name = vdev->name;
	dev->ops = &virtio_pci_ops;
	dev->opaque = vdev;
	dev->intx = true;
	/* Transitional devices have revision 0, modern-only ones 1 (virtio 1.x, 4.1.2). */
	pci__init_header(
	    dev, VIRTIO_PCI_VENDOR,
	    vdev->legacy ? id_table[id].legacy_device : VIRTIO_PCI_DEVICE_BASE + vdev->device_id,
	    id_table[id].class_code, VIRTIO_PCI_VENDOR, vdev->device_id, vdev->legacy ? 0 : 1);
	dev->bars[MODERN_BAR] = (struct pci_bar){.type = PCI_BAR_MEM32, .size = MODERN_BAR_SIZE};
	if (vdev->legacy)
		dev->bars[LEGACY_BAR] =
		    (struct pci_bar){.type = PCI_BAR_IO, .size = legacy_bar_size(vdev)};
	rc = add_cap(vdev, VIRTIO_PCI_CAP_COMMON, MODERN_COMMON, COMMON_SIZE, VIRTIO_PCI_CAP_LEN);
	if (!rc)
		rc = add_cap(vdev, VIRTIO_PCI_CAP_NOTIFY, MODERN_NOTIFY,
			     NOTIFY_MULTIPLIER * vdev->nr_queues, VIRTIO_PCI_NOTIFY_LEN);
	if (!rc)
		rc = add_cap(vdev, VIRTIO_PCI_CAP_ISR, MODERN_ISR, 1, VIRTIO_PCI_CAP_LEN);
	if (!rc && vdev->config_len)
		rc = add_cap(vdev, VIRTIO_PCI_CAP_DEVICE, MODERN_DEVICE, vdev->config_len,
			     VIRTIO_PCI_CAP_LEN);
	if (rc) {
		log__error("%s: its virtio capabilities do not fit in config space", vdev->name);
		goto fail;
	}
	rc = pci__register(vm, dev);
	if (rc)
		goto fail;
	return 0;
fail:
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		if (vdev->queues[q].notify_fd < 0)
			continue;
		ioloop__del(vm->ioloop, vdev->queues[q].notify_fd);
		close(vdev->queues[q].notify_fd);
		vdev->queues[q].notify_fd = -1;
	}
	pthread_mutex_destroy(&vdev->lock);
	return rc;
}

/* ---- The device's side, on the I/O thread. ---- */

/* The device area (used ring and avail_event), which the device writes. */
static void mark_used_ring(struct virtio_dev *vdev, const struct virtqueue *vq)
{
	dirty__mark(vdev->vm, vq->used_gpa, 6ull + 8ull * vq->size);
}

int virtio_dev__pop(struct virtio_dev *vdev, unsigned int q, struct vq_chain *chain)
{
	struct virtio_queue *vq;
	int rc;

	if (q >= vdev->nr_queues)
		return 0;
	vq = &vdev->queues[q];
	if (!__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE))
		return 0;
	rc = virtqueue__pop(&vq->vq, chain);
	if (rc == VIRTQUEUE_BROKEN)
		virtio_dev__set_broken(vdev, "queue %u: %s", q, vq->vq.error);
	else if (vq->vq.event_idx)
		mark_used_ring(vdev, &vq->vq); /* an empty ring wrote avail_event */
	return rc;
}

void virtio_dev__push(struct virtio_dev *vdev, unsigned int q, const struct vq_chain *chain,
		      uint32_t written)
{
	struct virtqueue *vq = &vdev->queues[q].vq;

	for (unsigned int i = chain->nr_out; i < chain->nr_out + chain->nr_in; i++)
		dirty__mark(vdev->vm, memory__hva_to_gpa(vdev->vm, chain->iov[i].iov_base),
			    chain->iov[i].iov_len);
	virtqueue__push(vq, chain->head, written);
	mark_used_ring(vdev, vq);
}

void virtio_dev__notify_used(struct virtio_dev *vdev, unsigned int q)
{
	/*
	 * The kick obeys the driver's suppression like the interrupt: a polling
	 * guest is not woken (one exit each) for completions it does not wait for.
	 */
	if (!virtqueue__should_notify(&vdev->queues[q].vq))
		return;
	pthread_mutex_lock(&vdev->lock);
	vdev->isr |= ISR_QUEUE;
	pci__set_irq(&vdev->pci, true);
	pthread_mutex_unlock(&vdev->lock);
	debugdev__kick(vdev->vm);
}

void virtio_dev__config_changed(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	vdev->config_generation++;
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK) {
		vdev->isr |= ISR_CONFIG;
		pci__set_irq(&vdev->pci, true);
	}
	pthread_mutex_unlock(&vdev->lock);
	debugdev__kick(vdev->vm);
}

/* ---- State capture and restore. ---- */

_Static_assert(sizeof(struct virtio_queue_state) == 40, "virtio_queue_state has no padding");
_Static_assert(sizeof(struct virtio_pci_state) == 40 + 40 * VIRTIO_MAX_QUEUES,
	       "virtio_pci_state has no padding");

struct virtio_dev *virtio_dev__of_pci(struct pci_device *dev)
{
	return dev && dev->ops == &virtio_pci_ops ? vdev_of(dev) : NULL;
}

uint32_t virtio_dev__state_size(const struct virtio_dev *vdev)
{
	return (uint32_t)sizeof(struct virtio_pci_state) + vdev->ops->state_size;
}

int virtio_dev__save(struct virtio_dev *vdev, void *buf, uint32_t size)
{
	struct virtio_pci_state st;

	if (size != virtio_dev__state_size(vdev))
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	st.version = VIRTIO_STATE_VERSION;
	st.device_id = vdev->device_id;
	st.nr_queues = (uint16_t)vdev->nr_queues;
	pthread_mutex_lock(&vdev->lock);
	st.device_features = offered_features(vdev);
	st.driver_features = vdev->driver_features;
	st.dev_feature_sel = vdev->dev_feature_sel;
	st.drv_feature_sel = vdev->drv_feature_sel;
	st.queue_sel = vdev->queue_sel;
	st.status = vdev->status;
	st.isr = vdev->isr;
	st.config_generation = vdev->config_generation;
	st.broken = vdev->broken;
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		const struct virtio_queue *vq = &vdev->queues[q];
		struct virtio_queue_state *qs = &st.queues[q];

		qs->enabled = vq->enabled;
		qs->size = vq->size;
		qs->desc_gpa = vq->desc_gpa;
		qs->avail_gpa = vq->avail_gpa;
		qs->used_gpa = vq->used_gpa;
		if (!vq->enabled)
			continue;
		qs->event_idx = vq->vq.event_idx;
		qs->last_avail_idx = vq->vq.last_avail_idx;
		qs->used_idx = vq->vq.used_idx;
		qs->signalled_used = vq->vq.signalled_used;
		qs->signalled_valid = vq->vq.signalled_valid;
	}
	memcpy(buf, &st, sizeof(st));
	if (vdev->ops->state_save)
		vdev->ops->state_save(vdev, (uint8_t *)buf + sizeof(st));
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* Can queue q's saved state go onto vdev?  Checks the ring layout the way a start would. */
static int check_queue(struct virtio_dev *vdev, unsigned int q, const struct virtio_queue_state *qs,
		       char *err, size_t errlen)
{
	struct virtqueue probe;
	uint16_t in_flight = (uint16_t)(qs->last_avail_idx - qs->used_idx);

	if (qs->enabled > 1 || qs->event_idx > 1 || qs->signalled_valid > 1 || qs->reserved ||
	    qs->reserved2) {
		util__set_err(err, errlen,
			      "%s: device state: queue %u has a flag other than 0 or 1 or a "
			      "reserved field set: the state is corrupt",
			      vdev->name, q);
		return -EINVAL;
	}
	if (!qs->enabled)
		return 0;
	if (qs->size > vdev->queue_max_size ||
	    virtqueue__start(&probe, vdev->vm, qs->size, qs->desc_gpa, qs->avail_gpa, qs->used_gpa,
			     qs->event_idx)) {
		util__set_err(err, errlen,
			      "%s: device state: queue %u (size %u, this device takes up to %u) "
			      "does not fit this VM: %s: restore onto a VM with the same memory "
			      "and devices",
			      vdev->name, q, qs->size, vdev->queue_max_size,
			      qs->size > vdev->queue_max_size ? "too large" : probe.error);
		return -EINVAL;
	}
	if (in_flight > qs->size) {
		util__set_err(err, errlen,
			      "%s: device state: queue %u has %u chains in flight (avail %u, used "
			      "%u), more than its %u entries: the state is corrupt",
			      vdev->name, q, in_flight, qs->last_avail_idx, qs->used_idx, qs->size);
		return -EINVAL;
	}
	return 0;
}

/* Under lock: everything virtio_dev__restore refuses, before anything changes. */
static int check_state_locked(struct virtio_dev *vdev, const struct virtio_pci_state *st,
			      const void *dev_state, char *err, size_t errlen)
{
	int rc;

	if (st->version != VIRTIO_STATE_VERSION) {
		util__set_err(err, errlen,
			      "%s: device state version %u, this build knows %u: restore with "
			      "the Twin that saved it",
			      vdev->name, st->version, VIRTIO_STATE_VERSION);
		return -EINVAL;
	}
	if (st->device_id != vdev->device_id || st->nr_queues != vdev->nr_queues) {
		util__set_err(err, errlen,
			      "%s: device state is of virtio device %u with %u queues, this one is "
			      "%u with %u: restore onto a VM with the same devices",
			      vdev->name, st->device_id, st->nr_queues, vdev->device_id,
			      vdev->nr_queues);
		return -EINVAL;
	}
	if (vdev->ops->state_check) {
		rc = vdev->ops->state_check(vdev, dev_state, err, errlen);
		if (rc)
			return rc;
	}
	if (st->device_features != offered_features(vdev)) {
		util__set_err(err, errlen,
			      "%s: device state offered features 0x%llx, this device offers "
			      "0x%llx: give the destination the same device options",
			      vdev->name, (unsigned long long)st->device_features,
			      (unsigned long long)offered_features(vdev));
		return -EINVAL;
	}
	if (st->driver_features & ~st->device_features || st->broken > 1 || st->isr > 3 ||
	    st->status & 0x30 || !all_zero(st->reserved, sizeof(st->reserved)) ||
	    !all_zero(&st->queues[vdev->nr_queues],
		      sizeof(st->queues[0]) * (VIRTIO_MAX_QUEUES - vdev->nr_queues))) {
		util__set_err(err, errlen,
			      "%s: device state has accepted features beyond the offer, a bad "
			      "status, ISR or broken flag, or reserved fields set: the state is "
			      "corrupt",
			      vdev->name);
		return -EINVAL;
	}
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		rc = check_queue(vdev, q, &st->queues[q], err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

int virtio_dev__restore(struct virtio_dev *vdev, const void *buf, uint32_t size, char *err,
			size_t errlen)
{
	struct virtio_pci_state st;
	int rc;

	if (size != virtio_dev__state_size(vdev)) {
		util__set_err(err, errlen,
			      "%s: device state of %u bytes, this device's has %u: restore onto a "
			      "VM with the same devices",
			      vdev->name, size, virtio_dev__state_size(vdev));
		return -EINVAL;
	}
	memcpy(&st, buf, sizeof(st));
	lock_regs(vdev, true);
	rc = check_state_locked(vdev, &st, (const uint8_t *)buf + sizeof(st), err, errlen);
	if (rc)
		goto out;
	vdev->driver_features = st.driver_features;
	vdev->dev_feature_sel = st.dev_feature_sel;
	vdev->drv_feature_sel = st.drv_feature_sel;
	vdev->queue_sel = st.queue_sel;
	vdev->status = st.status;
	vdev->isr = st.isr;
	vdev->config_generation = st.config_generation;
	vdev->broken = st.broken;
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		const struct virtio_queue_state *qs = &st.queues[q];

		__atomic_store_n(&vq->ready, false, __ATOMIC_RELEASE);
		vq->enabled = qs->enabled;
		vq->size = qs->size;
		vq->desc_gpa = qs->desc_gpa;
		vq->avail_gpa = qs->avail_gpa;
		vq->used_gpa = qs->used_gpa;
		memset(&vq->vq, 0, sizeof(vq->vq));
		if (!qs->enabled)
			continue;
		/* Checked above, so this cannot fail. */
		virtqueue__start(&vq->vq, vdev->vm, qs->size, qs->desc_gpa, qs->avail_gpa,
				 qs->used_gpa, qs->event_idx);
		vq->vq.last_avail_idx = qs->used_idx; /* in-flight chains are popped again */
		vq->vq.used_idx = qs->used_idx;
		vq->vq.signalled_used = qs->signalled_used;
		vq->vq.signalled_valid = qs->signalled_valid;
	}
	pci__set_irq(&vdev->pci, vdev->isr != 0);
	if (vdev->ops->state_restore)
		vdev->ops->state_restore(vdev, (const uint8_t *)buf + sizeof(st));
	log__info("%s: device state restored", vdev->name);
out:
	unlock_regs(vdev, true);
	return rc;
}

void virtio_dev__resume(struct virtio_dev *vdev)
{
	lock_regs(vdev, true);
	/* From stopped, so every queue that becomes ready is kicked. */
	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		__atomic_store_n(&vdev->queues[q].ready, false, __ATOMIC_RELEASE);
	update_ready_locked(vdev);
	unlock_regs(vdev, true);
}
