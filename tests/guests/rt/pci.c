/* The guest kit's PCI: bus 0 through ECAM (MMIO, since ring 3 has no port I/O), BARs, capabilities.
 */
#include "rt.h"

#include "pci.h"

static struct pci_dev devs[PCI_MAX_DEVS];
static int ndevs = -1;
static uint64_t ecam;

static volatile void *cfg(const struct pci_dev *d, uint16_t off)
{
	return (volatile void *)(uintptr_t)(ecam + ((uint64_t)d->slot << 15) + off);
}

uint8_t pci__read8(const struct pci_dev *d, uint16_t off)
{
	return *(volatile uint8_t *)cfg(d, off);
}

uint16_t pci__read16(const struct pci_dev *d, uint16_t off)
{
	return *(volatile uint16_t *)cfg(d, off);
}

uint32_t pci__read32(const struct pci_dev *d, uint16_t off)
{
	return *(volatile uint32_t *)cfg(d, off);
}

void pci__write16(const struct pci_dev *d, uint16_t off, uint16_t v)
{
	*(volatile uint16_t *)cfg(d, off) = v;
}

void pci__write32(const struct pci_dev *d, uint16_t off, uint32_t v)
{
	*(volatile uint32_t *)cfg(d, off) = v;
}

uint64_t pci__ecam_base(void)
{
	return ecam;
}

/* Size BAR i (memory decode is off while we write all ones); returns the next BAR index. */
static int size_bar(struct pci_dev *d, int i)
{
	uint16_t reg = PCI_CFG_BAR0 + 4 * i;
	uint32_t lo = pci__read32(d, reg), hi = 0, mlo, mhi = 0xffffffff;
	int is64 = (lo & 0x7) == 0x4;
	uint64_t mask;

	if (lo & 1) /* I/O BAR: useless from ring 3 */
		return i + 1;
	pci__write32(d, reg, 0xffffffff);
	mlo = pci__read32(d, reg);
	pci__write32(d, reg, lo);
	if (is64) {
		hi = pci__read32(d, reg + 4);
		pci__write32(d, reg + 4, 0xffffffff);
		mhi = pci__read32(d, reg + 4);
		pci__write32(d, reg + 4, hi);
	}
	mask = ((uint64_t)mhi << 32) | (mlo & ~0xfu);
	if (!is64)
		mask |= 0xffffffff00000000ull;
	if (mask && (mlo & ~0xfu)) {
		d->bar_size[i] = ~mask + 1;
		d->bar[i] = ((uint64_t)hi << 32) | (lo & ~0xfu);
	}
	return i + (is64 ? 2 : 1);
}

static void assign_bar(struct pci_dev *d, int i, uint64_t *next)
{
	uint16_t reg = PCI_CFG_BAR0 + 4 * i;
	uint64_t size = d->bar_size[i], at = (*next + size - 1) & ~(size - 1);

	if (at + size > RT_PCI_MMIO_END) {
		console__printf("pci: no room for BAR%d of 00:%02x.0 (%lu bytes)\n", i, d->slot,
				size);
		d->bar_size[i] = 0;
		return;
	}
	pci__write32(d, reg, (uint32_t)at | (pci__read32(d, reg) & 0xf));
	if ((pci__read32(d, reg) & 0x7) == 0x4)
		pci__write32(d, reg + 4, 0);
	d->bar[i] = at;
	*next = at + size;
}

int pci__init(void)
{
	uint64_t next = RT_PCI_MMIO_BASE;

	if (ndevs >= 0)
		return ndevs;
	ndevs = 0;
	if (args__u64("ecam", TWIN_PCI_ECAM_DEFAULT, &ecam))
		return 0;
	for (unsigned int slot = 0; slot < 32; slot++) {
		struct pci_dev *d = &devs[ndevs];
		uint32_t id;

		d->slot = (uint8_t)slot;
		id = pci__read32(d, PCI_CFG_VENDOR);
		if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0)
			continue;
		d->vendor = (uint16_t)id;
		d->device = (uint16_t)(id >> 16);
		pci__write16(d, PCI_CFG_COMMAND, 0);
		for (int i = 0; i < PCI_NUM_BARS;)
			i = size_bar(d, i);
		ndevs++;
	}
	/* Firmware (twin-vmm) may have placed some BARs: allocate above them all. */
	for (int n = 0; n < ndevs; n++)
		for (int i = 0; i < PCI_NUM_BARS; i++)
			if (devs[n].bar[i] >= next && devs[n].bar[i] < RT_PCI_MMIO_END)
				next = devs[n].bar[i] + devs[n].bar_size[i];
	for (int n = 0; n < ndevs; n++) {
		for (int i = 0; i < PCI_NUM_BARS; i++)
			if (devs[n].bar_size[i] && !devs[n].bar[i])
				assign_bar(&devs[n], i, &next);
		pci__write16(&devs[n], PCI_CFG_COMMAND, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	}
	return ndevs;
}

struct pci_dev *pci__find(uint16_t vendor, uint16_t device, unsigned int n)
{
	for (int i = 0; i < ndevs; i++)
		if (devs[i].vendor == vendor && devs[i].device == device && !n--)
			return &devs[i];
	return NULL;
}

uint8_t pci__next_cap(const struct pci_dev *d, uint8_t id, uint8_t start)
{
	uint8_t at;
	int guard = 48; /* a looping list must not hang us */

	if (start)
		at = pci__read8(d, start + 1);
	else if (pci__read16(d, PCI_CFG_STATUS) & PCI_STATUS_CAP_LIST)
		at = pci__read8(d, PCI_CFG_CAP_PTR);
	else
		return 0;
	for (; at >= 0x40 && guard--; at = pci__read8(d, at + 1))
		if (pci__read8(d, at) == id)
			return at;
	return 0;
}
