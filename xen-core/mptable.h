/* The Intel MultiProcessor Specification 1.4 table through which guests find their vCPUs. */
#ifndef XEN_CORE_MPTABLE_H
#define XEN_CORE_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MPTABLE_MAX_CPUS 64

/* Entry types and on-RAM layout (MP spec 1.4, chapter 4), for writers and readers. */
#define MP_ENTRY_PROCESSOR 0
#define MP_ENTRY_BUS	   1
#define MP_ENTRY_IOAPIC	   2
#define MP_ENTRY_IOINT	   3
#define MP_ENTRY_LINT	   4

#define MP_CPU_ENABLED	  0x01
#define MP_CPU_BSP	  0x02
#define MP_IOAPIC_ENABLED 0x01
#define MP_INT_INT	  0
#define MP_INT_NMI	  1
#define MP_INT_EXTINT	  3
#define MP_LINT_ALL_APICS 0xff

#define MP_SPEC_REV	  4    /* 1.4 */
#define MP_LAPIC_VERSION  0x14 /* integrated APIC */
#define MP_IOAPIC_VERSION 0x11 /* what KVM's in-kernel IOAPIC reports */
#define MP_ISA_BUS_ID	  0
#define MP_PCI_BUS_ID	  1 /* the first PCI bus entry: Linux maps it to PCI bus 0 */
/* PCI INTx: level triggered, active high (KVM's IOAPIC does not invert polarity). */
#define MP_IRQ_PCI_FLAGS 0x000d

struct mp_floating {
	char signature[4]; /* "_MP_" */
	uint32_t config_paddr;
	uint8_t length; /* in 16-byte units: 1 */
	uint8_t spec_rev;
	uint8_t checksum;   /* all 16 bytes sum to 0 */
	uint8_t feature[5]; /* feature[0] == 0: a config table is present */
} __attribute__((packed));

struct mp_config {
	char signature[4]; /* "PCMP" */
	uint16_t length;   /* header and base entries */
	uint8_t spec_rev;
	uint8_t checksum; /* the base table sums to 0 */
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table_paddr;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_paddr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type; /* MP_ENTRY_PROCESSOR */
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags; /* MP_CPU_* */
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type; /* MP_ENTRY_BUS */
	uint8_t bus_id;
	char bus_type[6]; /* "ISA   " */
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type; /* MP_ENTRY_IOAPIC */
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags; /* MP_IOAPIC_ENABLED */
	uint32_t paddr;
} __attribute__((packed));

/* I/O interrupt and local interrupt entries share this layout. */
struct mp_intsrc {
	uint8_t type;	  /* MP_ENTRY_IOINT or MP_ENTRY_LINT */
	uint8_t irq_type; /* MP_INT_* */
	uint16_t flags;	  /* polarity, trigger; 0 = conforms to the bus */
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic; /* IOAPIC id, or local APIC id / MP_LINT_ALL_APICS */
	uint8_t dst_pin;  /* INTIN# or LINTIN# */
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer layout");
_Static_assert(sizeof(struct mp_config) == 44, "MP config header layout");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry layout");
_Static_assert(sizeof(struct mp_bus) == 8, "MP bus entry layout");
_Static_assert(sizeof(struct mp_ioapic) == 8, "MP IOAPIC entry layout");
_Static_assert(sizeof(struct mp_intsrc) == 8, "MP interrupt entry layout");

/*
 * Write an MP 1.4 floating pointer at LAYOUT_MPTABLE and the config table
 * right after it: one processor entry per vCPU (APIC IDs 0..ncpus-1, CPU 0
 * is the BSP), an ISA bus, the IOAPIC (id ncpus, at LAYOUT_IOAPIC), I/O
 * interrupt entries for ISA IRQs 0..15 except the cascade IRQ 2 (IRQ 0 ->
 * pin 2, the others identity), LINT0 ExtINT and LINT1 NMI to all local
 * APICs.  Checksums are valid.  ram is the host pointer to GPA 0.  Returns
 * 0, or -EINVAL if ncpus is 0 or above MPTABLE_MAX_CPUS or low_size does not
 * cover the BIOS area.
 */
int mptable__write(void *ram, uint64_t low_size, int ncpus, char *err, size_t errlen);

/* One PCI INTx route: bus 0 slot, pin (1 = INTA#) and the IOAPIC input it drives. */
struct mp_pci_irq {
	uint8_t slot;
	uint8_t pin;
	uint8_t gsi;
};
#define MPTABLE_MAX_PCI_IRQS 32

/*
 * mptable__write plus a PCI bus (MP_PCI_BUS_ID) and one I/O interrupt entry
 * per route (source IRQ slot << 2 | (pin - 1), MP_IRQ_PCI_FLAGS), so Linux
 * without ACPI finds its PCI interrupts.  -EINVAL as mptable__write, or if
 * nr_irqs exceeds MPTABLE_MAX_PCI_IRQS or a route is malformed.
 * Routes come from pci__irq_routes.
 */
int mptable__write_pci(void *ram, uint64_t low_size, int ncpus, const struct mp_pci_irq *irqs,
		       unsigned int nr_irqs, char *err, size_t errlen);

#endif
