/* Writes the Intel MP 1.4 table (floating pointer + config table) into the guest's BIOS area. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "layout.h"
#include "util.h"
#include "mptable.h"

#define MP_ISA_IRQS    16
#define MP_CASCADE_IRQ 2
#define MP_IOAPIC_PINS 24 /* KVM's in-kernel IOAPIC */
/* Family 6, model 0, stepping 0; FPU and APIC present.  Guests use CPUID instead. */
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES	 ((1u << 0) | (1u << 9))

#define MP_TABLE_MAX                                                                               \
	(sizeof(struct mp_floating) + sizeof(struct mp_config) +                                   \
	 MPTABLE_MAX_CPUS * sizeof(struct mp_processor) + 2 * sizeof(struct mp_bus) +              \
	 sizeof(struct mp_ioapic) +                                                                \
	 (MP_ISA_IRQS + 2 + MPTABLE_MAX_PCI_IRQS) * sizeof(struct mp_intsrc))
_Static_assert(LAYOUT_MPTABLE + MP_TABLE_MAX <= LAYOUT_HIGH_START, "MP table leaves BIOS area");

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return (uint8_t)-sum;
}

static void put_intsrc(uint8_t **p, uint8_t type, uint8_t irq_type, uint16_t flags, uint8_t src_bus,
		       uint8_t src_irq, uint8_t dst_apic, uint8_t dst_pin)
{
	struct mp_intsrc e = {
	    .type = type,
	    .irq_type = irq_type,
	    .flags = flags,
	    .src_bus = src_bus,
	    .src_irq = src_irq,
	    .dst_apic = dst_apic,
	    .dst_pin = dst_pin,
	};

	memcpy(*p, &e, sizeof(e));
	*p += sizeof(e);
}

static void put_bus(uint8_t **p, uint8_t id, const char type[6])
{
	struct mp_bus bus = {.type = MP_ENTRY_BUS, .bus_id = id};

	memcpy(bus.bus_type, type, sizeof(bus.bus_type));
	memcpy(*p, &bus, sizeof(bus));
	*p += sizeof(bus);
}

/* pci: list the PCI bus and its routes (mptable__write keeps the ISA-only table). */
static int write_table(void *ram, uint64_t low_size, int ncpus, bool pci,
		       const struct mp_pci_irq *irqs, unsigned int nr_irqs, char *err,
		       size_t errlen)
{
	uint8_t *start = (uint8_t *)ram + LAYOUT_MPTABLE;
	uint8_t *cfg = start + sizeof(struct mp_floating);
	uint8_t *p = cfg + sizeof(struct mp_config);
	struct mp_floating mpf;
	struct mp_config hdr;
	struct mp_ioapic ioapic;
	uint8_t ioapic_id = (uint8_t)ncpus;
	uint16_t count = 0;
	int rc;

	if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS) {
		util__set_err(err, errlen,
			      "%d vCPUs requested: the MP table holds 1 to %d; "
			      "choose a vCPU count in that range",
			      ncpus, MPTABLE_MAX_CPUS);
		rc = -EINVAL;
		goto out;
	}
	if (low_size < LAYOUT_HIGH_START) {
		util__set_err(err, errlen,
			      "guest low RAM of %llu bytes does not cover the BIOS area "
			      "holding the MP table: give the guest at least 1 MiB",
			      (unsigned long long)low_size);
		rc = -EINVAL;
		goto out;
	}
	if (nr_irqs > MPTABLE_MAX_PCI_IRQS) {
		util__set_err(err, errlen,
			      "%u PCI interrupt routes: the MP table holds at most %d; "
			      "use fewer PCI devices",
			      nr_irqs, MPTABLE_MAX_PCI_IRQS);
		rc = -EINVAL;
		goto out;
	}
	for (unsigned int i = 0; i < nr_irqs; i++) {
		if (irqs[i].slot >= 32 || irqs[i].pin < 1 || irqs[i].pin > 4 ||
		    irqs[i].gsi >= MP_IOAPIC_PINS) {
			util__set_err(err, errlen,
				      "PCI interrupt route %u names slot %u pin %u GSI %u: slots "
				      "are 0-31, pins 1-4 (INTA#-INTD#), GSIs 0-%d",
				      i, irqs[i].slot, irqs[i].pin, irqs[i].gsi,
				      MP_IOAPIC_PINS - 1);
			rc = -EINVAL;
			goto out;
		}
	}

	for (int i = 0; i < ncpus; i++) {
		struct mp_processor cpu = {
		    .type = MP_ENTRY_PROCESSOR,
		    .apic_id = (uint8_t)i,
		    .apic_version = MP_LAPIC_VERSION,
		    .flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
		    .signature = MP_CPU_SIGNATURE,
		    .features = MP_CPU_FEATURES,
		};

		memcpy(p, &cpu, sizeof(cpu));
		p += sizeof(cpu);
		count++;
	}

	put_bus(&p, MP_ISA_BUS_ID, "ISA   ");
	count++;
	if (pci) {
		put_bus(&p, MP_PCI_BUS_ID, "PCI   ");
		count++;
	}

	ioapic = (struct mp_ioapic){
	    .type = MP_ENTRY_IOAPIC,
	    .apic_id = ioapic_id,
	    .apic_version = MP_IOAPIC_VERSION,
	    .flags = MP_IOAPIC_ENABLED,
	    .paddr = (uint32_t)LAYOUT_IOAPIC,
	};
	memcpy(p, &ioapic, sizeof(ioapic));
	p += sizeof(ioapic);
	count++;

	/* The PIT's IRQ 0 arrives on IOAPIC pin 2, as on PC hardware and KVM's irqchip. */
	for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++) {
		if (irq == MP_CASCADE_IRQ)
			continue;
		put_intsrc(&p, MP_ENTRY_IOINT, MP_INT_INT, 0, MP_ISA_BUS_ID, irq, ioapic_id,
			   irq == 0 ? 2 : irq);
		count++;
	}
	/* A PCI source IRQ is slot << 2 | pin, pin 0 being INTA# (MP spec 1.4, D.3). */
	for (unsigned int i = 0; i < nr_irqs; i++) {
		put_intsrc(&p, MP_ENTRY_IOINT, MP_INT_INT, MP_IRQ_PCI_FLAGS, MP_PCI_BUS_ID,
			   (uint8_t)(irqs[i].slot << 2 | (irqs[i].pin - 1)), ioapic_id,
			   irqs[i].gsi);
		count++;
	}
	put_intsrc(&p, MP_ENTRY_LINT, MP_INT_EXTINT, 0, MP_ISA_BUS_ID, 0, MP_LINT_ALL_APICS, 0);
	put_intsrc(&p, MP_ENTRY_LINT, MP_INT_NMI, 0, MP_ISA_BUS_ID, 0, MP_LINT_ALL_APICS, 1);
	count += 2;

	hdr = (struct mp_config){
	    .length = (uint16_t)(p - cfg),
	    .spec_rev = MP_SPEC_REV,
	    .entry_count = count,
	    .lapic_paddr = (uint32_t)LAYOUT_LAPIC,
	};
	memcpy(hdr.signature, "PCMP", 4);
	memcpy(hdr.oem_id, "TWIN    ", 8);
	memcpy(hdr.product_id, "TWIN-VMM    ", 12);
	memcpy(cfg, &hdr, sizeof(hdr));
	cfg[offsetof(struct mp_config, checksum)] = checksum(cfg, hdr.length);

	mpf = (struct mp_floating){
	    .config_paddr = (uint32_t)(LAYOUT_MPTABLE + sizeof(struct mp_floating)),
	    .length = 1,
	    .spec_rev = MP_SPEC_REV,
	};
	memcpy(mpf.signature, "_MP_", 4);
	mpf.checksum = checksum((const uint8_t *)&mpf, sizeof(mpf));
	memcpy(start, &mpf, sizeof(mpf));
	rc = 0;
out:
	return rc;
}

int mptable__write(void *ram, uint64_t low_size, int ncpus, char *err, size_t errlen)
{
	return write_table(ram, low_size, ncpus, false, NULL, 0, err, errlen);
}

int mptable__write_pci(void *ram, uint64_t low_size, int ncpus, const struct mp_pci_irq *irqs,
		       unsigned int nr_irqs, char *err, size_t errlen)
{
	return write_table(ram, low_size, ncpus, true, irqs, nr_irqs, err, errlen);
}
