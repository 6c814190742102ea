/* The virtio-pci transport: modern 1.0 (memory BAR) and legacy 0.9.5 (I/O BAR) for devices. */
#ifndef XEN_CORE_VIRTIO_PCI_H
#define XEN_CORE_VIRTIO_PCI_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
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

	/*
	 * Device-specific state for save/restore (migrate/STREAM.md), a plain
	 * struct of state_size bytes appended to struct virtio_pci_state; 0 and
	 * NULL hooks when the device keeps none.  All run once per call of
	 * virtio_dev__save/restore, under vdev->lock, with the VM and the I/O
	 * loop paused.  state_check refuses (-EINVAL, err naming the device,
	 * the field and the fix) a state that does not fit this device, and
	 * changes nothing; state_restore runs only after every check passed.
	 */
	uint32_t state_size;
	void (*state_save)(struct virtio_dev *vdev, void *buf);
	int (*state_check)(struct virtio_dev *vdev, const void *buf, char *err, size_t errlen);
	void (*state_restore)(struct virtio_dev *vdev, const void *buf);
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

/* The DEVICE_STATE version of a virtio function's state (migrate/STREAM.md). */
#define VIRTIO_STATE_VERSION 1

/* One queue as the driver set it up, and the device's position in its rings. */
struct virtio_queue_state {
	uint8_t enabled;	 /* 0 or 1 */
	uint8_t event_idx;	 /* 0 or 1: the ring uses used_event/avail_event */
	uint8_t signalled_valid; /* 0 or 1: signalled_used means something */
	uint8_t reserved;
	uint16_t size;
	uint16_t last_avail_idx; /* next avail entry to pop, as saved (restore rewinds it) */
	uint16_t used_idx;	 /* next used entry to fill */
	uint16_t signalled_used; /* used_idx when the driver was last notified */
	uint32_t reserved2;
	uint64_t desc_gpa, avail_gpa, used_gpa;
};

/*
 * The transport's state as plain data (host byte order, little endian on
 * x86; no implicit padding).  The device's own part (ops->state_size bytes)
 * follows it in the DEVICE_STATE body.  Queues past nr_queues are all zero.
 */
struct virtio_pci_state {
	uint32_t version; /* VIRTIO_STATE_VERSION */
	uint16_t device_id;
	uint16_t nr_queues;
	uint64_t device_features; /* offered: the device's bits and the transport's */
	uint64_t driver_features; /* accepted */
	uint32_t dev_feature_sel, drv_feature_sel;
	uint16_t queue_sel;
	uint8_t status;
	uint8_t isr; /* INTx is asserted exactly while isr != 0 */
	uint8_t config_generation;
	uint8_t broken; /* 0 or 1 */
	uint8_t reserved[2];
	struct virtio_queue_state queues[VIRTIO_MAX_QUEUES];
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
/*
 * I/O thread: returns chain with written bytes; call notify_used after a
 * batch.  Marks what the device wrote for dirty tracking (dirty__mark): the
 * used ring and the chain's whole writable part (a device may write past
 * written, as virtio-blk's status byte at the end; an extra page costs only
 * a resend).
 */
void virtio_dev__push(struct virtio_dev *vdev, unsigned int q, const struct vq_chain *chain,
		      uint32_t written);
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

/* ---- State capture (devstate.c drives these for each virtio function on bus 0). ---- */

/* The virtio device behind a PCI function, or NULL if it is not a virtio one. */
struct virtio_dev *virtio_dev__of_pci(struct pci_device *dev);
/* Bytes of its state: struct virtio_pci_state plus the device's part. */
uint32_t virtio_dev__state_size(const struct virtio_dev *vdev);
/* VM and I/O loop paused.  size must be virtio_dev__state_size.  0 or -EINVAL. */
int virtio_dev__save(struct virtio_dev *vdev, void *buf, uint32_t size);
/*
 * Before vm__start, or with the VM paused (the I/O loop is paused here).
 * Checks everything first and refuses with -EINVAL and err (device, field,
 * fix) before changing anything: another size, version, device, offer of
 * features, a queue that is not a power of two up to the maximum or whose
 * rings leave RAM, more in flight than the queue holds, a bad flag, and
 * the device's own checks.  Then sets the registers and restarts each
 * enabled queue at its saved indices, except last_avail_idx, which is
 * rewound to used_idx: every device here completes chains in the order it
 * popped them (synchronously, on the I/O thread), so the chains popped but
 * not yet used are exactly avail entries [used_idx, last_avail_idx), and
 * the driver cannot reuse those entries before they are used.  Popping
 * them again re-runs each in-flight request once (a held RX buffer waits
 * for a frame again).  Queues stay stopped until virtio_dev__resume.
 * Leaves INTx asserted iff isr != 0.
 */
int virtio_dev__restore(struct virtio_dev *vdev, const void *buf, uint32_t size, char *err,
			size_t errlen);
/*
 * After the restore, before the vCPUs run: the enabled queues of a driver
 * that set DRIVER_OK (and did not break the device) become ready and are
 * kicked, so the I/O thread re-reads every avail ring.
 */
void virtio_dev__resume(struct virtio_dev *vdev);

#endif
