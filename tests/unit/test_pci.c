/* Check suite for PCI bus 0: conf1 and ECAM reach one config space, BARs size and move. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "iobus.h"
#include "layout.h"
#include "mptable.h"
#include "pci.h"
#include "suites.h"
#include "vm.h"

#define MEM_BAR_SIZE 0x1000u
#define IO_BAR_SIZE  0x20u
#define SMALL_SIZE   0x10u

/* A device with a 4 KiB memory BAR 0, a 32-byte I/O BAR 1 and a 16-byte memory BAR 3. */
struct probe {
	struct pci_device pci;
	unsigned int moves[PCI_NR_BARS];
	uint64_t last_old[PCI_NR_BARS], last_new[PCI_NR_BARS];
	unsigned int last_bar;
	uint64_t last_offset;
	uint32_t last_value;
	unsigned int config_writes;
};

static struct vm *vm;
static struct probe probe;

static void probe_bar_read(struct pci_device *dev, unsigned int bar, uint64_t offset, void *data,
			   uint32_t len)
{
	struct probe *p = dev->opaque;
	uint32_t v = 0xb0000000u | bar << 16 | (uint32_t)offset;

	p->last_bar = bar;
	p->last_offset = offset;
	memcpy(data, &v, len < 4 ? len : 4);
}

static void probe_bar_write(struct pci_device *dev, unsigned int bar, uint64_t offset,
			    const void *data, uint32_t len)
{
	struct probe *p = dev->opaque;

	p->last_bar = bar;
	p->last_offset = offset;
	p->last_value = 0;
	memcpy(&p->last_value, data, len < 4 ? len : 4);
}

static void probe_config_write(struct pci_device *dev, uint32_t offset, uint32_t len)
{
	((struct probe *)dev->opaque)->config_writes++;
}

static void probe_bar_moved(struct pci_device *dev, unsigned int bar, uint64_t old, uint64_t now)
{
	struct probe *p = dev->opaque;

	p->moves[bar]++;
	p->last_old[bar] = old;
	p->last_new[bar] = now;
}

static const struct pci_device_ops probe_ops = {
    .bar_read = probe_bar_read,
    .bar_write = probe_bar_write,
    .config_write = probe_config_write,
    .bar_moved = probe_bar_moved,
};

static uint32_t mmio_read(uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	iobus__access(&vm->mmio, NULL, addr, &v, len, 0);
	return (uint32_t)v;
}

static uint32_t pio_read(uint64_t port, uint32_t len)
{
	uint32_t v = 0;

	iobus__access(&vm->pio, NULL, port, &v, len, 0);
	return v;
}

static void pio_write(uint64_t port, uint32_t v, uint32_t len)
{
	iobus__access(&vm->pio, NULL, port, &v, len, 1);
}

static uint32_t conf1_read(unsigned int slot, uint32_t reg, uint32_t len)
{
	pio_write(0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
	return pio_read(0xcfc + (reg & 3), len);
}

static void conf1_write(unsigned int slot, uint32_t reg, uint32_t v, uint32_t len)
{
	pio_write(0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
	pio_write(0xcfc + (reg & 3), v, len);
}

static uint64_t ecam(unsigned int slot, unsigned int fn, uint32_t reg)
{
	return LAYOUT_PCI_ECAM + ((uint64_t)slot << 15 | fn << 12 | reg);
}

static uint32_t ecam_read(unsigned int slot, uint32_t reg, uint32_t len)
{
	return mmio_read(ecam(slot, 0, reg), len);
}

static void ecam_write(unsigned int slot, uint32_t reg, uint32_t v, uint32_t len)
{
	iobus__access(&vm->mmio, NULL, ecam(slot, 0, reg), &v, len, 1);
}

static void pci_setup(void)
{
	vm = calloc(1, sizeof(*vm));
	ck_assert_ptr_nonnull(vm);
	vm->kvm_fd = vm->vm_fd = -1;
	iobus__init(&vm->pio, "port", LOG_KIND_PIO);
	iobus__init(&vm->mmio, "mmio", LOG_KIND_MMIO);
	ck_assert_int_eq(pci__init(vm), 0);

	memset(&probe, 0, sizeof(probe));
	probe.pci.name = "probe";
	probe.pci.ops = &probe_ops;
	probe.pci.opaque = &probe;
	pci__init_header(&probe.pci, 0x1234, 0x5678, 0x0b4000, 0x1af4, 0x42, 7);
	probe.pci.wmask[PCI_INTERRUPT_LINE] = 0xff;
	probe.pci.bars[0] = (struct pci_bar){.type = PCI_BAR_MEM32, .size = MEM_BAR_SIZE};
	probe.pci.bars[1] = (struct pci_bar){.type = PCI_BAR_IO, .size = IO_BAR_SIZE};
	probe.pci.bars[3] = (struct pci_bar){.type = PCI_BAR_MEM32, .size = SMALL_SIZE};
	ck_assert_int_eq(pci__register(vm, &probe.pci), 0);
	ck_assert_uint_eq(probe.pci.slot, 1);
}

static void pci_teardown(void)
{
	pci__exit(vm);
	ck_assert_ptr_null(vm->pci);
	free(vm);
}

START_TEST(test_host_bridge_both_paths)
{
	/* QEMU's generic host bridge IDs, class 06/00/00: what Linux's conf1 sanity check wants. */
	ck_assert_uint_eq(conf1_read(0, PCI_VENDOR_ID, 4), 0x00081b36);
	ck_assert_uint_eq(ecam_read(0, PCI_VENDOR_ID, 4), 0x00081b36);
	ck_assert_uint_eq(conf1_read(0, PCI_CLASS_DEVICE, 2), 0x0600);
	ck_assert_uint_eq(ecam_read(0, PCI_CLASS_DEVICE, 2), 0x0600);
	ck_assert_uint_eq(conf1_read(1, PCI_DEVICE_ID, 2), 0x5678);
	ck_assert_uint_eq(conf1_read(1, PCI_REVISION_ID, 1), 7);
	ck_assert_uint_eq(ecam_read(1, PCI_SUBSYSTEM_ID, 2), 0x42);
	/* Byte and word lanes of 0xcfc-0xcff select bytes inside the dword. */
	ck_assert_uint_eq(conf1_read(1, PCI_VENDOR_ID + 1, 1), 0x12);
	ck_assert_uint_eq(conf1_read(1, PCI_DEVICE_ID, 1), 0x78);
	ck_assert_uint_eq(conf1_read(1, PCI_CLASS_DEVICE, 2), 0x0b40);
}
END_TEST

START_TEST(test_one_config_space)
{
	unsigned int writes = probe.config_writes;

	conf1_write(1, PCI_INTERRUPT_LINE, 0x5a, 1);
	ck_assert_uint_eq(ecam_read(1, PCI_INTERRUPT_LINE, 1), 0x5a);
	ecam_write(1, PCI_INTERRUPT_LINE, 0xa5, 1);
	ck_assert_uint_eq(conf1_read(1, PCI_INTERRUPT_LINE, 1), 0xa5);
	ck_assert_uint_eq(probe.config_writes, writes + 2);
	/* An 8-byte ECAM access is two dwords. */
	{
		uint64_t v = 0;

		iobus__access(&vm->mmio, NULL, ecam(1, 0, 0), &v, 8, 0);
		ck_assert_uint_eq(v, 0x0000000356781234ull); /* IDs, then COMMAND IO|MEMORY */
	}
}
END_TEST

START_TEST(test_absent_functions)
{
	/* Empty slots, other functions and other buses read all-ones on both paths. */
	ck_assert_uint_eq(conf1_read(5, PCI_VENDOR_ID, 4), 0xffffffff);
	ck_assert_uint_eq(ecam_read(5, PCI_VENDOR_ID, 4), 0xffffffff);
	ck_assert_uint_eq(ecam_read(31, PCI_VENDOR_ID, 2), 0xffff);
	ck_assert_uint_eq(mmio_read(ecam(0, 1, PCI_VENDOR_ID), 4), 0xffffffff);
	pio_write(0xcf8, 0x80000000u | 1 << 16, 4); /* bus 1 */
	ck_assert_uint_eq(pio_read(0xcfc, 4), 0xffffffff);
	pio_write(0xcf8, 1 << 11, 4); /* enable bit clear */
	ck_assert_uint_eq(pio_read(0xcfc, 4), 0xffffffff);
	/* Writes to absent functions go nowhere. */
	conf1_write(5, PCI_INTERRUPT_LINE, 0x11, 1);
	ck_assert_uint_eq(conf1_read(5, PCI_INTERRUPT_LINE, 1), 0xff);
	/* A present device has no extended capabilities: 0x100 and up read 0. */
	ck_assert_uint_eq(ecam_read(1, 0x100, 4), 0);
	ck_assert_uint_eq(ecam_read(1, 0xffc, 4), 0);
	/* Misaligned accesses crossing a dword read all-ones. */
	ck_assert_uint_eq(ecam_read(1, 3, 2), 0xffff);
}
END_TEST

START_TEST(test_conf1_address_register)
{
	pio_write(0xcf8, 0x80001234, 4);
	ck_assert_uint_eq(pio_read(0xcf8, 4), 0x80001234);
	/* Linux's type-1 probe writes a byte to 0xcfb: it must not change the address. */
	pio_write(0xcfb, 0x01, 1);
	ck_assert_uint_eq(pio_read(0xcf8, 4), 0x80001234);
	/* The low two bits and bits 24-30 are reserved and read 0. */
	pio_write(0xcf8, 0xffffffff, 4);
	ck_assert_uint_eq(pio_read(0xcf8, 4), 0x80fffffc);
}
END_TEST

START_TEST(test_write_masks)
{
	/* IDs, class, header type and status are read-only. */
	conf1_write(1, PCI_VENDOR_ID, 0xffffffff, 4);
	ck_assert_uint_eq(conf1_read(1, PCI_VENDOR_ID, 4), 0x56781234);
	ecam_write(1, PCI_REVISION_ID, 0, 4);
	ck_assert_uint_eq(ecam_read(1, PCI_CLASS_DEVICE, 2), 0x0b40);
	ecam_write(1, PCI_STATUS, 0xffff, 2);
	ck_assert_uint_eq(ecam_read(1, PCI_STATUS, 2), 0);
	/* COMMAND keeps only IO, MEMORY and MASTER. */
	ecam_write(1, PCI_COMMAND, 0xffff, 2);
	ck_assert_uint_eq(ecam_read(1, PCI_COMMAND, 2),
			  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* The host bridge ignores everything. */
	conf1_write(0, PCI_COMMAND, 0xffff, 2);
	ck_assert_uint_eq(conf1_read(0, PCI_COMMAND, 2), 0);
}
END_TEST

START_TEST(test_bars_preassigned)
{
	uint32_t bar0 = conf1_read(1, PCI_BAR0, 4), bar1 = conf1_read(1, PCI_BAR0 + 4, 4);
	uint32_t bar3 = conf1_read(1, PCI_BAR0 + 12, 4);

	ck_assert_uint_ge(bar0, LAYOUT_PCI_MMIO_START);
	ck_assert_uint_le(bar0 + MEM_BAR_SIZE, LAYOUT_PCI_MMIO_END);
	ck_assert_uint_eq(bar0 & (MEM_BAR_SIZE - 1), 0);
	ck_assert_uint_eq(bar1 & 3, PCI_BAR_IO_FLAG);
	ck_assert_uint_ge(bar1 & ~3u, PCI_PIO_START);
	ck_assert_uint_eq(bar1 & (IO_BAR_SIZE - 1) & ~3u, 0);
	ck_assert_uint_eq(bar3 & (SMALL_SIZE - 1), 0);
	ck_assert_uint_ne(bar3, bar0);
	ck_assert_uint_eq(conf1_read(1, PCI_BAR0 + 8, 4), 0); /* unused */
	ck_assert_uint_eq(conf1_read(1, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	/* The device heard where each BAR went, once. */
	ck_assert_uint_eq(probe.moves[0], 1);
	ck_assert_uint_eq(probe.last_old[0], PCI_BAR_UNMAPPED);
	ck_assert_uint_eq(probe.last_new[0], bar0);
	ck_assert_uint_eq(probe.last_new[1], bar1 & ~3u);
	ck_assert_uint_eq(probe.moves[2], 0);
	/* Accesses dispatch by BAR with the offset from its base. */
	ck_assert_uint_eq(mmio_read(bar0 + 0x124, 4), 0xb0000124);
	ck_assert_uint_eq(pio_read((bar1 & ~3u) + 0x10, 2), 0x0010);
	ck_assert_uint_eq(probe.last_bar, 1);
	ck_assert_uint_eq(mmio_read(bar3 + 4, 4), 0xb0030004);
	/* Window space no BAR decodes reads all-ones. */
	ck_assert_uint_eq(mmio_read(LAYOUT_PCI_MMIO_END - 0x1000, 4), 0xffffffff);
}
END_TEST

START_TEST(test_bar_sizing)
{
	uint32_t bar0 = ecam_read(1, PCI_BAR0, 4), bar1 = ecam_read(1, PCI_BAR0 + 4, 4);

	/* Firmware and Linux size a BAR by writing all-ones and reading the mask back. */
	ecam_write(1, PCI_COMMAND, 0, 2);
	ecam_write(1, PCI_BAR0, 0xffffffff, 4);
	ck_assert_uint_eq(ecam_read(1, PCI_BAR0, 4), ~(MEM_BAR_SIZE - 1));
	conf1_write(1, PCI_BAR0 + 4, 0xffffffff, 4);
	ck_assert_uint_eq(conf1_read(1, PCI_BAR0 + 4, 4), ~(IO_BAR_SIZE - 1) | PCI_BAR_IO_FLAG);
	conf1_write(1, PCI_BAR0 + 8, 0xffffffff, 4);
	ck_assert_uint_eq(conf1_read(1, PCI_BAR0 + 8, 4), 0); /* unused BARs size 0 */
	ecam_write(1, PCI_BAR0 + 12, 0xffffffff, 4);
	ck_assert_uint_eq(ecam_read(1, PCI_BAR0 + 12, 4), ~(SMALL_SIZE - 1));
	/* Restore and re-enable decoding: back where it was. */
	ecam_write(1, PCI_BAR0, bar0, 4);
	ecam_write(1, PCI_BAR0 + 4, bar1, 4);
	ecam_write(1, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	ck_assert_uint_eq(probe.last_new[0], bar0);
	ck_assert_uint_eq(mmio_read(bar0 + 8, 4), 0xb0000008);
}
END_TEST

START_TEST(test_bar_move_and_decode)
{
	uint32_t bar0 = ecam_read(1, PCI_BAR0, 4);
	uint32_t to = LAYOUT_PCI_MMIO_START + 0x100000;
	uint32_t v = 0xcafe;
	unsigned int moves = probe.moves[0];

	/* Moving with decoding on: the device is told, accesses follow the BAR. */
	ecam_write(1, PCI_BAR0, to, 4);
	ck_assert_uint_eq(probe.moves[0], moves + 1);
	ck_assert_uint_eq(probe.last_old[0], bar0);
	ck_assert_uint_eq(probe.last_new[0], to);
	ck_assert_uint_eq(mmio_read(to + 0x10, 4), 0xb0000010);
	ck_assert_uint_eq(mmio_read(bar0 + 0x10, 4), 0xffffffff);
	iobus__access(&vm->mmio, NULL, to + 0x20, &v, 2, 1);
	ck_assert_uint_eq(probe.last_offset, 0x20);
	ck_assert_uint_eq(probe.last_value, 0xcafe);
	/* Decoding off unmaps the BAR. */
	ecam_write(1, PCI_COMMAND, PCI_COMMAND_IO, 2);
	ck_assert_uint_eq(probe.last_new[0], PCI_BAR_UNMAPPED);
	ck_assert_uint_eq(mmio_read(to + 0x10, 4), 0xffffffff);
	ecam_write(1, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	ck_assert_uint_eq(probe.last_new[0], to);
	/* Outside the BAR window it decodes nowhere (the window is all twin-vmm traps). */
	ecam_write(1, PCI_BAR0, 0x1000, 4);
	ck_assert_uint_eq(probe.last_new[0], PCI_BAR_UNMAPPED);
	ecam_write(1, PCI_BAR0, LAYOUT_PCI_MMIO_END - MEM_BAR_SIZE, 4);
	ck_assert_uint_eq(probe.last_new[0], LAYOUT_PCI_MMIO_END - MEM_BAR_SIZE);
	/* A write that changes nothing tells nothing. */
	moves = probe.moves[0];
	ecam_write(1, PCI_BAR0, LAYOUT_PCI_MMIO_END - MEM_BAR_SIZE, 4);
	ck_assert_uint_eq(probe.moves[0], moves);
}
END_TEST

START_TEST(test_register_limits)
{
	static struct pci_device devs[PCI_MAX_SLOTS];
	struct pci_device big = {.name = "big"};
	struct pci_device odd = {.name = "odd"};
	unsigned int n = 0;

	odd.bars[0] = (struct pci_bar){.type = PCI_BAR_MEM32, .size = 0x3000};
	ck_assert_int_eq(pci__register(vm, &odd), -EINVAL);
	big.bars[0] = (struct pci_bar){.type = PCI_BAR_MEM32, .size = 0x40000000};
	ck_assert_int_eq(pci__register(vm, &big), -ENOSPC);
	/* Slots 2..31 are left; then the bus is full. */
	for (unsigned int i = 0; i < PCI_MAX_SLOTS; i++) {
		devs[i].name = "filler";
		if (pci__register(vm, &devs[i]) == 0)
			n++;
	}
	ck_assert_uint_eq(n, PCI_MAX_SLOTS - 2);
	/* pci__exit must not release what the test owns: no ops. */
}
END_TEST

START_TEST(test_cap_list)
{
	struct pci_device d = {.name = "caps"};
	int a = pci__add_cap(&d, 0x09, 16), b = pci__add_cap(&d, 0x09, 20);

	ck_assert_int_eq(a, PCI_CAP_START);
	ck_assert_int_eq(b, PCI_CAP_START + 16);
	ck_assert_uint_eq(d.cfg[PCI_CAPABILITY_LIST], a);
	ck_assert_uint_eq(d.cfg[a + 1], b);
	ck_assert_uint_eq(d.cfg[b + 1], 0);
	ck_assert_uint_eq(d.cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	/* dword aligned after an odd length; full config space refuses. */
	ck_assert_int_eq(pci__add_cap(&d, 0x09, 3), PCI_CAP_START + 36);
	ck_assert_int_eq(pci__add_cap(&d, 0x09, 200), -ENOSPC);
}
END_TEST

/* Walk an MP table as Linux does and collect the PCI bus and its interrupt entries. */
START_TEST(test_mptable_pci_routes)
{
	const struct mp_pci_irq routes[] = {{.slot = 1, .pin = 1, .gsi = 16},
					    {.slot = 9, .pin = 1, .gsi = 16},
					    {.slot = 3, .pin = 2, .gsi = 19}};
	uint8_t *ram = calloc(1, 2 << 20);
	const struct mp_floating *mpf = (const void *)(ram + LAYOUT_MPTABLE);
	const struct mp_config *cfg;
	const uint8_t *p, *end;
	struct mp_pci_irq bad = {.slot = 1, .pin = 0, .gsi = 16};
	unsigned int pci_ints = 0, buses = 0;
	uint8_t sum = 0;
	char err[256];

	ck_assert_int_eq(mptable__write_pci(ram, 2 << 20, 2, routes, 3, err, sizeof(err)), 0);
	cfg = (const void *)(ram + mpf->config_paddr);
	for (unsigned int i = 0; i < cfg->length; i++)
		sum += ((const uint8_t *)cfg)[i];
	ck_assert_uint_eq(sum, 0);
	p = (const uint8_t *)(cfg + 1);
	end = (const uint8_t *)cfg + cfg->length;
	for (unsigned int n = 0; n < cfg->entry_count; n++) {
		ck_assert(p < end);
		if (p[0] == MP_ENTRY_PROCESSOR) {
			p += sizeof(struct mp_processor);
			continue;
		}
		if (p[0] == MP_ENTRY_BUS) {
			const struct mp_bus *b = (const void *)p;

			if (b->bus_id == MP_PCI_BUS_ID)
				ck_assert_int_eq(memcmp(b->bus_type, "PCI   ", 6), 0);
			buses++;
		} else if (p[0] == MP_ENTRY_IOINT) {
			const struct mp_intsrc *i = (const void *)p;

			if (i->src_bus == MP_PCI_BUS_ID) {
				const struct mp_pci_irq *r = &routes[pci_ints++];

				ck_assert_uint_eq(i->src_irq, r->slot << 2 | (r->pin - 1));
				ck_assert_uint_eq(i->dst_pin, r->gsi);
				ck_assert_uint_eq(i->flags, MP_IRQ_PCI_FLAGS);
			}
		}
		p += 8;
	}
	ck_assert_ptr_eq(p, end);
	ck_assert_uint_eq(buses, 2);
	ck_assert_uint_eq(pci_ints, 3);
	ck_assert_int_eq(mptable__write_pci(ram, 2 << 20, 2, &bad, 1, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "pins 1-4"));
	bad = (struct mp_pci_irq){.slot = 1, .pin = 1, .gsi = 24};
	ck_assert_int_eq(mptable__write_pci(ram, 2 << 20, 2, &bad, 1, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(
	    mptable__write_pci(ram, 2 << 20, 2, routes, MPTABLE_MAX_PCI_IRQS + 1, err, sizeof(err)),
	    -EINVAL);
	free(ram);
}
END_TEST

#define IRR_POLLS 1000000

/* Whether the in-kernel IOAPIC has input gsi asserted (its IRR bit). */
static bool ioapic_irr(struct vm *v, unsigned int gsi)
{
	struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_IOAPIC};

	ck_assert_int_eq(ioctl(v->vm_fd, KVM_GET_IRQCHIP, &chip), 0);
	return chip.chip.ioapic.irr >> gsi & 1;
}

/* With KVM: INTx gets its irqfd and shows up in the routes the MP table takes. */
START_TEST(test_intx_with_kvm)
{
	struct vm_config c = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = -1};
	struct pci_device d = {.name = "intx", .intx = true};
	struct mp_pci_irq r[4];
	const struct mp_floating *mpf;
	const struct mp_config *cfg;
	const uint8_t *p;
	struct vm *kvm;
	char err[256];
	int found = 0;

	ck_assert_int_eq(vm__create(&c, &kvm), 0);
	ck_assert_int_eq(pci__register(kvm, &d), 0);
	ck_assert_uint_eq(d.slot, 1);
	ck_assert_uint_ge(d.gsi, 16);
	ck_assert_uint_lt(d.gsi, 24);
	ck_assert_uint_eq(d.cfg[PCI_INTERRUPT_PIN], PCI_INTX_PIN_A);
	ck_assert_uint_eq(d.cfg[PCI_INTERRUPT_LINE], d.gsi);
	ck_assert_uint_eq(pci__irq_routes(kvm, r, 4), 1);
	ck_assert_uint_eq(r[0].slot, 1);
	ck_assert_uint_eq(r[0].gsi, d.gsi);
	if (ioctl(kvm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE) > 0) {
		ck_assert_int_ge(d.irq_fd, 0);
		ck_assert_int_ge(d.resample_fd, 0);
	}
	/* The irqfd reaches the IOAPIC input (KVM injects from a work item: poll for it). */
	ck_assert(!ioapic_irr(kvm, d.gsi));
	pci__set_irq(&d, true);
	for (int i = 0; i < IRR_POLLS && !ioapic_irr(kvm, d.gsi); i++)
		sched_yield();
	ck_assert(ioapic_irr(kvm, d.gsi));
	pci__set_irq(&d, false);
	/* The MP table boot writes lists the device's route. */
	ck_assert_int_eq(
	    pci__write_mptable(kvm, kvm->mem.base, kvm->mem.low_size, err, sizeof(err)), 0);
	mpf = (const void *)(kvm->mem.base + LAYOUT_MPTABLE);
	cfg = (const void *)(kvm->mem.base + mpf->config_paddr);
	for (p = (const uint8_t *)(cfg + 1); p < (const uint8_t *)cfg + cfg->length;
	     p += p[0] == MP_ENTRY_PROCESSOR ? sizeof(struct mp_processor) : 8) {
		const struct mp_intsrc *i = (const void *)p;

		if (p[0] == MP_ENTRY_IOINT && i->src_bus == MP_PCI_BUS_ID)
			found += i->src_irq == (1 << 2) && i->dst_pin == d.gsi;
	}
	ck_assert_int_eq(found, 1);
	vm__destroy(kvm);
}
END_TEST

Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = tcase_create("bus 0");
	TCase *kvm = tcase_create("with KVM");

	tcase_add_checked_fixture(tc, pci_setup, pci_teardown);
	tcase_add_test(tc, test_host_bridge_both_paths);
	tcase_add_test(tc, test_one_config_space);
	tcase_add_test(tc, test_absent_functions);
	tcase_add_test(tc, test_conf1_address_register);
	tcase_add_test(tc, test_write_masks);
	tcase_add_test(tc, test_bars_preassigned);
	tcase_add_test(tc, test_bar_sizing);
	tcase_add_test(tc, test_bar_move_and_decode);
	tcase_add_test(tc, test_register_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("helpers");
	tcase_add_test(tc, test_cap_list);
	tcase_add_test(tc, test_mptable_pci_routes);
	suite_add_tcase(s, tc);
	tcase_set_timeout(kvm, 30);
	tcase_add_test(kvm, test_intx_with_kvm);
	suite_add_tcase(s, kvm);
	return s;
}
