/* The guest kit's PCI: bus 0 through ECAM, BAR sizing and assignment, capability lists. */
#ifndef GUESTS_RT_PCI_H
#define GUESTS_RT_PCI_H

#include <stdint.h>

#define PCI_MAX_DEVS 32
#define PCI_NUM_BARS 6

#define PCI_CFG_VENDOR	    0x00
#define PCI_CFG_COMMAND	    0x04
#define PCI_CFG_STATUS	    0x06
#define PCI_CFG_BAR0	    0x10
#define PCI_CFG_CAP_PTR	    0x34
#define PCI_CMD_MEMORY	    0x2
#define PCI_CMD_MASTER	    0x4
#define PCI_STATUS_CAP_LIST 0x10

struct pci_dev {
	uint8_t slot; /* bus 0, function 0 */
	uint16_t vendor, device;
	uint64_t bar[PCI_NUM_BARS];	 /* memory BAR addresses, 0 when absent or I/O */
	uint64_t bar_size[PCI_NUM_BARS]; /* sizes; the upper half of a 64-bit BAR is 0 */
};

/*
 * Enumerate bus 0 once: size every memory BAR, assign those that read 0 in
 * RT_PCI_MMIO_BASE..END and enable memory space and bus mastering.  The
 * ECAM is `ecam=` or TWIN_PCI_ECAM_DEFAULT (twin-vmm's and QEMU microvm's).
 * Returns the number of devices (0 also for a bad `ecam=`).
 */
int pci__init(void);
/* The n-th device with this vendor and device ID, or NULL. */
struct pci_dev *pci__find(uint16_t vendor, uint16_t device, unsigned int n);
/* Offset of the first capability of type id at or after offset start (0: from the list head), or 0.
 */
uint8_t pci__next_cap(const struct pci_dev *d, uint8_t id, uint8_t start);
uint64_t pci__ecam_base(void);

uint8_t pci__read8(const struct pci_dev *d, uint16_t off);
uint16_t pci__read16(const struct pci_dev *d, uint16_t off);
uint32_t pci__read32(const struct pci_dev *d, uint16_t off);
void pci__write16(const struct pci_dev *d, uint16_t off, uint16_t v);
void pci__write32(const struct pci_dev *d, uint16_t off, uint32_t v);

#endif
