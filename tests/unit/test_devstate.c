/* Check suite for device state save/restore: each device round-trips into a fresh VM (needs KVM).
 */
#include <errno.h>
#include <string.h>
#include "iobus.h"
#include "layout.h"
#include "pci.h"
#include "serial8250.h"
#include "suites.h"
#include "vm.h"

static struct vm *new_vm(void)
{
	struct vm_config cfg = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = -1};
	struct vm *vm;

	ck_assert_int_eq(vm__create(&cfg, &vm), 0);
	return vm;
}

static void uart_out(struct vm *vm, unsigned int reg, uint8_t v)
{
	iobus__access(&vm->pio, NULL, SERIAL8250_PORT + reg, &v, 1, 1);
}

static uint8_t uart_in(struct vm *vm, unsigned int reg)
{
	uint8_t v;

	iobus__access(&vm->pio, NULL, SERIAL8250_PORT + reg, &v, 1, 0);
	return v;
}

/* Every register the guest set, and the pending THRE interrupt, survive save/restore. */
START_TEST(test_serial8250_round_trip)
{
	struct serial8250_state a, b;
	struct vm *src = new_vm(), *dst = new_vm();
	char err[256] = "";

	uart_out(src, 3, 0x83); /* LCR: DLAB, 8N1 */
	uart_out(src, 0, 0x03); /* DLL */
	uart_out(src, 1, 0x01); /* DLM */
	uart_out(src, 3, 0x1b); /* LCR: 8E1, DLAB off */
	uart_out(src, 2, 0x07); /* FCR: FIFO on */
	uart_out(src, 4, 0x1b); /* MCR: loopback, so no output */
	uart_out(src, 7, 0x5a); /* SCR */
	uart_out(src, 1, 0x02); /* IER: THRE interrupt, which becomes pending */
	ck_assert_int_eq(serial8250__save(src, &a), 0);
	ck_assert_uint_eq(a.version, SERIAL8250_STATE_VERSION);
	ck_assert_uint_eq(a.thri_pending, 1);
	ck_assert_int_eq(serial8250__restore(dst, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(serial8250__save(dst, &b), 0);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	/* The guest of the restored VM reads what it wrote. */
	ck_assert_uint_eq(uart_in(dst, 3), 0x1b);
	ck_assert_uint_eq(uart_in(dst, 4), 0x1b);
	ck_assert_uint_eq(uart_in(dst, 7), 0x5a);
	ck_assert_uint_eq(uart_in(dst, 1), 0x02);
	ck_assert_uint_eq(uart_in(dst, 2), 0xc2); /* FIFO on, THRE pending */
	ck_assert_uint_eq(uart_in(dst, 2), 0xc1); /* reading IIR cleared it */
	uart_out(dst, 3, 0x9b);
	ck_assert_uint_eq(uart_in(dst, 0), 0x03);
	ck_assert_uint_eq(uart_in(dst, 1), 0x01);
	vm__destroy(src);
	vm__destroy(dst);
}
END_TEST

/* A state the registers cannot produce is refused, and the UART keeps what it had. */
START_TEST(test_serial8250_corrupt_refused)
{
	struct serial8250_state good, bad, now;
	struct vm *vm = new_vm();
	char err[256] = "";

	uart_out(vm, 7, 0x42);
	ck_assert_int_eq(serial8250__save(vm, &good), 0);
	bad = good;
	bad.version = SERIAL8250_STATE_VERSION + 1;
	ck_assert_int_eq(serial8250__restore(vm, &bad, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "version"));
	bad = good;
	bad.ier = 0x10;
	ck_assert_int_eq(serial8250__restore(vm, &bad, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "IER 0x10"));
	bad = good;
	bad.mcr = 0x20;
	ck_assert_int_eq(serial8250__restore(vm, &bad, err, sizeof(err)), -EINVAL);
	bad = good;
	bad.thri_pending = 2;
	bad.scr = 0x99;
	ck_assert_int_eq(serial8250__restore(vm, &bad, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(serial8250__save(vm, &now), 0);
	ck_assert_mem_eq(&good, &now, sizeof(good));
	vm__destroy(vm);
}
END_TEST

/* A device with a 4 KiB memory BAR 0 and a 32-byte I/O BAR 1 that counts its BAR moves. */
struct probe {
	struct pci_device pci;
	unsigned int moves[PCI_NR_BARS];
};

static void probe_bar_moved(struct pci_device *dev, unsigned int bar, uint64_t old, uint64_t now)
{
	struct probe *p = dev->opaque;

	p->moves[bar]++;
}

static const struct pci_device_ops probe_ops = {.bar_moved = probe_bar_moved};

static void probe_register(struct vm *vm, struct probe *p)
{
	memset(p, 0, sizeof(*p));
	p->pci.name = "probe";
	p->pci.ops = &probe_ops;
	p->pci.opaque = p;
	p->pci.bars[0] = (struct pci_bar){.type = PCI_BAR_MEM32, .size = 0x1000};
	p->pci.bars[1] = (struct pci_bar){.type = PCI_BAR_IO, .size = 0x20};
	pci__init_header(&p->pci, 0x1af4, 0x10ff, 0xff0000, 0x1af4, 1, 0);
	ck_assert_int_eq(pci__register(vm, &p->pci), 0);
}

static uint32_t ecam_read(struct vm *vm, unsigned int slot, uint32_t reg)
{
	uint32_t v;

	iobus__access(&vm->mmio, NULL, LAYOUT_PCI_ECAM + ((uint64_t)slot << 15 | reg), &v, 4, 0);
	return v;
}

static void ecam_write(struct vm *vm, unsigned int slot, uint32_t reg, uint32_t v, uint32_t len)
{
	iobus__access(&vm->mmio, NULL, LAYOUT_PCI_ECAM + ((uint64_t)slot << 15 | reg), &v, len, 1);
}

/* Both VMs' config spaces as the guest reads them through ECAM, slots 0 and 1. */
static void assert_same_config(struct vm *a, struct vm *b)
{
	for (unsigned int slot = 0; slot < 2; slot++)
		for (uint32_t reg = 0; reg < PCI_CFG_SIZE; reg += 4)
			ck_assert_msg(ecam_read(a, slot, reg) == ecam_read(b, slot, reg),
				      "slot %u config 0x%02x differs", slot, reg);
}

/* A guest-moved BAR, a disabled one and the conf1 register survive, and BARs move on restore. */
START_TEST(test_pci_round_trip)
{
	static struct pci_state a, b;
	struct vm *src = new_vm(), *dst = new_vm();
	struct probe ps, pd;
	char err[256] = "";
	uint64_t bar0 = LAYOUT_PCI_MMIO_START + 0x40000;
	uint32_t conf1 = 0x80000810u;

	probe_register(src, &ps);
	probe_register(dst, &pd);
	ck_assert_uint_eq(ps.pci.slot, 1);
	ecam_write(src, 1, PCI_BAR0, (uint32_t)bar0, 4);
	ecam_write(src, 1, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	iobus__access(&src->pio, NULL, 0xcf8, &conf1, 4, 1);
	ck_assert_uint_eq(ps.pci.bars[0].addr, bar0);
	ck_assert_uint_eq(ps.pci.bars[1].addr, PCI_BAR_UNMAPPED);
	ck_assert_int_eq(pci__save(src, &a), 0);
	ck_assert_uint_eq(a.version, PCI_STATE_VERSION);
	pd.moves[0] = pd.moves[1] = 0;
	ck_assert_int_eq(pci__restore(dst, &a, err, sizeof(err)), 0);
	ck_assert_uint_eq(pd.pci.bars[0].addr, bar0);
	ck_assert_uint_eq(pd.pci.bars[1].addr, PCI_BAR_UNMAPPED);
	ck_assert_uint_eq(pd.moves[0], 1);
	ck_assert_uint_eq(pd.moves[1], 1);
	assert_same_config(src, dst);
	ck_assert_int_eq(pci__save(dst, &b), 0);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	vm__destroy(src);
	vm__destroy(dst);
}
END_TEST

/* Another device, a slot filled on one side or a BAR elsewhere than its config is refused. */
START_TEST(test_pci_mismatch_refused)
{
	static struct pci_state good, bad, now;
	struct vm *vm = new_vm();
	struct probe p;
	char err[256] = "";

	probe_register(vm, &p);
	ck_assert_int_eq(pci__save(vm, &good), 0);
	bad = good;
	bad.version = PCI_STATE_VERSION + 1;
	ck_assert_int_eq(pci__restore(vm, &bad, err, sizeof(err)), -EINVAL);
	bad = good;
	bad.slots[1].cfg[PCI_DEVICE_ID] ^= 1;
	ck_assert_int_eq(pci__restore(vm, &bad, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "probe: PCI state: read-only config byte 0x02"));
	bad = good;
	bad.slots[2].present = 1;
	ck_assert_int_eq(pci__restore(vm, &bad, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "slot 2 is filled"));
	bad = good;
	bad.slots[1].bar_addr[0] += 0x1000;
	ck_assert_int_eq(pci__restore(vm, &bad, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "BAR 0 saved at"));
	bad = good;
	bad.slots[1].cfg[PCI_COMMAND] = 0; /* would unmap, but slot 0's host bridge is corrupt */
	bad.slots[0].cfg[PCI_VENDOR_ID] ^= 1;
	ck_assert_int_eq(pci__restore(vm, &bad, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(pci__save(vm, &now), 0);
	ck_assert_mem_eq(&good, &now, sizeof(good));
	vm__destroy(vm);
}
END_TEST

Suite *devstate_suite(void)
{
	Suite *s = suite_create("devstate");
	TCase *uart = tcase_create("serial8250");
	TCase *pci = tcase_create("pci");

	tcase_add_test(uart, test_serial8250_round_trip);
	tcase_add_test(uart, test_serial8250_corrupt_refused);
	suite_add_tcase(s, uart);
	tcase_add_test(pci, test_pci_round_trip);
	tcase_add_test(pci, test_pci_mismatch_refused);
	suite_add_tcase(s, pci);
	return s;
}
