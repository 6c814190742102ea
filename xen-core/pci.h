/* PCI bus 0: config space (conf1 ports and ECAM), BAR windows and INTx for emulated devices. */
#ifndef XEN_CORE_PCI_H
#define XEN_CORE_PCI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct pci_bus;
struct pci_device;
struct mp_pci_irq;

#define PCI_MAX_SLOTS 32 /* bus 0 only, function 0 only; slot 0 is the host bridge */
#define PCI_NR_BARS   6
#define PCI_CFG_SIZE  256 /* ECAM offsets 0x100-0xfff read 0 (no extended capabilities) */

/* Config space header offsets (type 0) and bits used by xen-core. */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_CLASS_DEVICE	0x0a /* class << 8 | subclass */
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_CAP_START		0x40 /* capabilities live from here to PCI_CFG_SIZE */

#define PCI_COMMAND_IO	    0x0001
#define PCI_COMMAND_MEMORY  0x0002
#define PCI_COMMAND_MASTER  0x0004
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_BAR_IO_FLAG	    0x1 /* low bits of a BAR register: I/O space */
#define PCI_INTX_PIN_A	    1

/* Windows BARs are placed in (twin-vmm assigns them; guests may move them inside). */
#define PCI_PIO_START 0xc000u
#define PCI_PIO_END   0xd000u

enum pci_bar_type {
	PCI_BAR_UNUSED = 0,
	PCI_BAR_MEM32, /* 32-bit non-prefetchable memory BAR in the MMIO window */
	PCI_BAR_IO,    /* I/O port BAR in [PCI_PIO_START, PCI_PIO_END) */
};

/* The address a BAR decodes at when it decodes nowhere (decoding off, or outside its window). */
#define PCI_BAR_UNMAPPED UINT64_MAX

struct pci_bar {
	enum pci_bar_type type;
	uint32_t size; /* power of two: >= 16 for memory, >= 4 for I/O, <= 256 for I/O */
	uint64_t addr; /* where it decodes now, or PCI_BAR_UNMAPPED; under the bus lock */
};

/*
 * A device's handlers.  All run on the vCPU thread that made the access.
 * bar_read/bar_write run under the bus lock held for reading (BARs cannot
 * move meanwhile; other vCPUs may access the same device concurrently, so the
 * device locks its own state); offset is from the BAR's base, len 1, 2, 4 or 8,
 * data little endian.  config_write and bar_moved run under the bus lock held
 * for writing.  Any op may be NULL.
 */
struct pci_device_ops {
	void (*bar_read)(struct pci_device *dev, unsigned int bar, uint64_t offset, void *data,
			 uint32_t len);
	void (*bar_write)(struct pci_device *dev, unsigned int bar, uint64_t offset,
			  const void *data, uint32_t len);
	/* After the guest's write of len bytes at offset went into cfg (through wmask). */
	void (*config_write)(struct pci_device *dev, uint32_t offset, uint32_t len);
	/*
	 * The BAR's decoded address changed (guest reprogrammed it or toggled
	 * decoding in COMMAND): old or new may be PCI_BAR_UNMAPPED.  Devices
	 * move their ioeventfds here.
	 */
	void (*bar_moved)(struct pci_device *dev, unsigned int bar, uint64_t old_addr,
			  uint64_t new_addr);
	/* vm__destroy, after the I/O thread stopped: release the device (may free it). */
	void (*release)(struct pci_device *dev);
};

struct pci_device {
	/* Filled by the device before pci__register. */
	const char *name;		  /* for logs */
	uint8_t cfg[PCI_CFG_SIZE];	  /* little endian; set IDs, class, capabilities */
	uint8_t wmask[PCI_CFG_SIZE];	  /* bits the guest may change; COMMAND and BARs are set by
					   * pci__register */
	struct pci_bar bars[PCI_NR_BARS]; /* type and size; pci__register assigns addr */
	bool intx;			  /* uses INTA# */
	const struct pci_device_ops *ops;
	void *opaque; /* the device's own state */

	/* Set by pci__register. */
	struct vm *vm;
	unsigned int slot;
	unsigned int gsi; /* IOAPIC input of INTA#, when intx */
	int irq_fd;	  /* KVM_IRQFD trigger, -1 without intx */
	int resample_fd;  /* KVM_IRQFD resample: the guest EOI'd while the line was high */
	bool irq_level;	  /* the device's wish; atomic */
	uint8_t cap_last; /* pci__add_cap: offset of the last capability, 0 if none */
	uint32_t cap_end; /* pci__add_cap: first free byte after it, 0 if none */
};

/* Fills the IDs and class of a type-0 header (header type 0, single function). */
void pci__init_header(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
		      uint16_t subsys_vendor, uint16_t subsys_id, uint8_t revision);
/*
 * Appends a capability of len bytes (id, next pointer, body) to the list and
 * returns its offset in cfg, or -ENOSPC.  The body is the caller's to fill.
 */
int pci__add_cap(struct pci_device *dev, uint8_t cap_id, uint32_t len);

/*
 * Creates bus 0 with its host bridge in slot 0 and registers conf1 (ports
 * 0xcf8-0xcff), ECAM at LAYOUT_PCI_ECAM, the MMIO BAR window
 * [LAYOUT_PCI_MMIO_START, LAYOUT_PCI_MMIO_END) and the I/O BAR window on the
 * VM's buses.  Called from the device table (vm->pci).  -errno, logged.
 */
int pci__init(struct vm *vm);
/* Releases every device (ops->release), then the bus.  After the I/O thread stopped. */
void pci__exit(struct vm *vm);

/*
 * Before vm__start: puts dev in the next free slot, assigns each BAR the
 * next naturally aligned address of its window (like firmware; COMMAND gets
 * IO|MEMORY decoding on) and calls bar_moved for each, and with intx wires
 * INTA# to its GSI through KVM_IRQFD with a resample fd watched by the VM's
 * I/O loop.  -ENOSPC (slots or window full), -EINVAL (bad BAR), -errno
 * from KVM; logged.
 */
int pci__register(struct vm *vm, struct pci_device *dev);

/*
 * Drives INTA# (level triggered).  level 1 asserts it; level 0 lets it drop
 * at the guest's next EOI (KVM lowers the line on EOI and the resample
 * handler raises it again only while the level is still 1).  Any thread.
 * Without KVM_CAP_IRQFD_RESAMPLE it drives the line with KVM_IRQ_LINE.
 */
void pci__set_irq(struct pci_device *dev, bool level);

/*
 * Config space access as conf1 and ECAM make it: function fn of slot, reg
 * offset 0..0xfff, len 1, 2 or 4 within one dword.  Absent functions read
 * all-ones and ignore writes.  Any thread.
 */
void pci__config_read(struct pci_bus *bus, unsigned int slot, unsigned int fn, uint32_t reg,
		      void *data, uint32_t len);
void pci__config_write(struct pci_bus *bus, unsigned int slot, unsigned int fn, uint32_t reg,
		       const void *data, uint32_t len);

/* The DEVICE_STATE version of struct pci_state (migrate/STREAM.md). */
#define PCI_STATE_VERSION 1

/* One slot: its config space and where each BAR decodes (PCI_BAR_UNMAPPED if nowhere). */
struct pci_slot_state {
	uint8_t present; /* 0 or 1: a device sits in this slot */
	uint8_t reserved[7];
	uint8_t cfg[PCI_CFG_SIZE];
	uint64_t bar_addr[PCI_NR_BARS];
};

/*
 * Bus 0 as plain data: the conf1 address register and every slot, the host
 * bridge in slot 0.  The BAR addresses follow from cfg; they are saved so a
 * restore can check it decodes them where the source did.  The INTx level is
 * not here: the device that drives it restores it.
 */
struct pci_state {
	uint32_t version; /* PCI_STATE_VERSION */
	uint32_t conf1_addr;
	struct pci_slot_state slots[PCI_MAX_SLOTS];
};

/*
 * Save and restore bus 0 under the bus lock held for writing (any thread that
 * is not a vCPU in a config access; the caller pauses the VM).  The restoring
 * VM must have the same devices in the same slots: restore refuses, with
 * -EINVAL and one line in err and before changing anything, an unknown version,
 * a slot filled on one side only, a read-only config bit that differs (another
 * device or build) or a BAR that would decode elsewhere than saved.  It then
 * writes each config space and moves the BARs through the path guest writes
 * take (ops->bar_moved, which moves ioeventfds).  Both return 0 or -errno.
 */
int pci__save(struct vm *vm, struct pci_state *st);
int pci__restore(struct vm *vm, const struct pci_state *st, char *err, size_t errlen);

/* The device in slot of bus 0, or NULL (slot 0 is the host bridge).  Any thread. */
struct pci_device *pci__device(struct vm *vm, unsigned int slot);

/*
 * The INTx routes of the registered devices, for mptable__write_pci: copies
 * up to max and returns how many there are.  Before vm__start.
 */
unsigned int pci__irq_routes(const struct vm *vm, struct mp_pci_irq *routes, unsigned int max);

/*
 * mptable__write_pci for vm: its vCPUs, the PCI bus and the INTx route of
 * every registered device, so guests (Linux without ACPI, and the guest kit,
 * which probes ECAM only when the MP table lists a PCI bus) find them.  ram
 * maps GPA 0 and low_size bytes.  Boot code calls it after the devices
 * registered.  0 or -EINVAL with err set, as mptable__write.
 */
int pci__write_mptable(const struct vm *vm, void *ram, uint64_t low_size, char *err, size_t errlen);

#endif
