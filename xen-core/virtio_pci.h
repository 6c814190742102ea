/* The virtio-pci transport: modern 1.0 (memory BAR) and legacy 0.9.5 (I/O BAR) for devices. */
#ifndef XEN_CORE_VIRTIO_PCI_H
#define XEN_CORE_VIRTIO_PCI_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "pci.h"
#include "virtqueue.h"

struct vm;
struct virtio_dev;

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* modern device id: base + virtio device id */
#define VIRTIO_MAX_QUEUES      8

/* Virtio device ids (virtio 1.x, 5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3

/* Transport feature bits; devices offer only their own bits (below 24). */
#define VIRTIO_RING_F_INDIRECT_DESC 28 /* never offered: virtqueue pops reject INDIRECT */
#define VIRTIO_RING_F_EVENT_IDX	    29 /* always offered */
#define VIRTIO_F_VERSION_1	    32 /* always offered on the modern interface */

/* Device status bits (virtio 1.x, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 1
#define VIRTIO_STATUS_DRIVER		 2
#define VIRTIO_STATUS_DRIVER_OK		 4
#define VIRTIO_STATUS_FEATURES_OK	 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64

/*
 * What a device implements.  Threads: queue_notify runs on the VM's I/O
 * thread (always: with KVM ioeventfd the guest's notify write goes straight
 * to an eventfd the I/O loop watches; without it the vCPU thread's MMIO/PIO
 * handler signals the same eventfd).  config_write runs on a vCPU thread
 * under vdev->lock.  driver_ok and reset run on a vCPU thread with the I/O
 * loop paused and vdev->lock held, so they never overlap queue_notify or any
 * other I/O-thread callback.  Any may be NULL except queue_notify.
 */
struct virtio_dev_ops {
	/* The driver notified queue q (also once per enabled queue at DRIVER_OK). */
	void (*queue_notify)(struct virtio_dev *vdev, unsigned int q);
	/*
	 * The driver wrote len bytes at offset of the device config: the
	 * device stores what it lets the driver change (NULL: read-only config).
	 */
	void (*config_write)(struct virtio_dev *vdev, uint32_t offset, const void *data,
			     uint32_t len);
	/* DRIVER_OK was set: vdev->driver_features is final and queues are started. */
	void (*driver_ok)(struct virtio_dev *vdev);
	/* The driver reset the device: drop in-flight requests; queues are already stopped. */
	void (*reset)(struct virtio_dev *vdev);
	/* vm__destroy, after the I/O thread stopped: free the device. */
	void (*release)(struct virtio_dev *vdev);
};

/* One queue's transport state; under vdev->lock except where noted. */
struct virtio_queue {
	struct virtqueue vq; /* I/O thread only once ready */
	bool ready;	     /* enabled, DRIVER_OK and not broken; atomic */
	bool enabled;	     /* the driver enabled it (modern queue_enable, legacy PFN) */
	uint16_t size;	     /* driver's choice, <= queue_max_size */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct virtio_dev *vdev; /* back pointers for the notify callback */
	unsigned int index;
	int notify_fd; /* eventfd: guest notify -> I/O thread */
	/* Where notify_fd is a KVM ioeventfd now, or PCI_BAR_UNMAPPED. */
	uint64_t ioeventfd_mmio;
	uint64_t ioeventfd_pio;
};

struct virtio_dev {
	/* Filled by the device before virtio_dev__register. */
	const char *name;	 /* for logs, e.g. "virtio-net 0" */
	uint16_t device_id;	 /* VIRTIO_ID_* */
	uint64_t features;	 /* device-specific feature bits offered (bits 0-23) */
	unsigned int nr_queues;	 /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size; /* power of two, <= VIRTQUEUE_MAX_SIZE */
	void *config;		 /* device config, little endian; change it under lock */
	uint32_t config_len;	 /* bytes: at most 4096, or 236 with legacy */
	bool legacy;		 /* transitional: also a legacy I/O BAR, device id 0x1000+ */
	const struct virtio_dev_ops *ops;

	/*
	 * Transport state.  lock guards status, features, queue setup, isr and
	 * config: devices hold it when changing config (then call
	 * virtio_dev__config_changed after unlocking).  The INTx level changes
	 * with isr under lock (pci__set_irq takes no lock), so it is always
	 * isr != 0: no lost or endless interrupt.
	 */
	pthread_mutex_t lock;
	struct pci_device pci;
	struct vm *vm;
	uint8_t status;
	uint64_t driver_features; /* what the driver accepted; final once FEATURES_OK */
	bool ioeventfd;		  /* KVM offers ioeventfds */
	bool ioeventfd_any_len;	  /* ... that match any access length */
	/* Notifies that trapped to a vCPU thread (no ioeventfd there); atomic, for tests. */
	unsigned long vcpu_notifies;
	uint32_t dev_feature_sel, drv_feature_sel;
	uint16_t queue_sel;
	uint8_t isr;		   /* bit 0: used buffers, bit 1: config change; read clears */
	uint8_t config_generation; /* bumped by virtio_dev__config_changed */
	bool broken;		   /* logged once; cleared by reset */
	struct virtio_queue queues[VIRTIO_MAX_QUEUES];
};

/*
 * Before vm__start: makes vdev a PCI function (modern caps COMMON_CFG,
 * NOTIFY, ISR and DEVICE_CFG in a 16 KiB memory BAR; with legacy, also the
 * 0.9.5 register block in an I/O BAR 0 and device id 0x1000 + legacy id),
 * with INTA#, one notify eventfd per queue watched by the I/O loop, and KVM
 * ioeventfds on the notify addresses when KVM offers them.  The VM owns
 * vdev from then on: ops->release frees it in vm__destroy.  -errno, logged.
 */
int virtio_dev__register(struct vm *vm, struct virtio_dev *vdev);

/* True once the driver accepted feature bit (final after FEATURES_OK, or DRIVER_OK). */
bool virtio_dev__has_feature(const struct virtio_dev *vdev, unsigned int bit);

/*
 * I/O thread: the next chain of queue q.  1 with *chain, 0 if empty or the
 * queue is not ready, or -EPROTO after the guest broke the ring (the device
 * is then marked broken and the queue stays stopped until reset).
 */
int virtio_dev__pop(struct virtio_dev *vdev, unsigned int q, struct vq_chain *chain);
/* I/O thread: returns a chain with written bytes; call notify_used after a batch. */
void virtio_dev__push(struct virtio_dev *vdev, unsigned int q, uint16_t head, uint32_t written);
/*
 * I/O thread, after pushes to q: unless the driver suppressed notifications
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX), raises INTx
 * with ISR bit 0 and calls debugdev__kick (wakes vCPUs idling in WAIT_US:
 * the test guests never take interrupts, they ask for a notification).
 */
void virtio_dev__notify_used(struct virtio_dev *vdev, unsigned int q);
/* Any thread, without vdev->lock: config changed; bumps the generation and interrupts. */
void virtio_dev__config_changed(struct virtio_dev *vdev);
/*
 * Any thread, without vdev->lock: the guest broke the protocol.  Stops every
 * queue, sets DEVICE_NEEDS_RESET (with a config interrupt once DRIVER_OK),
 * and logs "NAME: broken: REASON; the guest must reset the device" once until
 * the next reset.
 */
void virtio_dev__set_broken(struct virtio_dev *vdev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
