/* PCI bus 0: the host bridge, conf1 and ECAM config access, BAR placement and dispatch, INTx. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>
#include "ioloop.h"
#include "layout.h"
#include "log.h"
#include "mptable.h"
#include "pci.h"
#include "util.h"
#include "vm.h"

#define CONF1_ADDR_PORT 0xcf8
#define CONF1_DATA_PORT 0xcfc
#define CONF1_ENABLE	0x80000000u

/* Host bridge IDs: QEMU's generic PCIe host bridge, which guests know as harmless. */
#define HOST_BRIDGE_VENDOR 0x1b36
#define HOST_BRIDGE_DEVICE 0x0008
#define CLASS_HOST_BRIDGE  0x060000

/* PCI INTx on IOAPIC inputs 16-23, which KVM routes to the IOAPIC only; slots share them. */
#define PCI_GSI_BASE  16
#define PCI_GSI_COUNT 8

struct pci_bus {
	struct vm *vm;
	/*
	 * Readers: BAR accesses (vCPUs, concurrently).  Writers: config writes,
	 * which may move BARs.  Config reads take it for reading.
	 */
	pthread_rwlock_t lock;
	uint32_t conf1_addr; /* the 0xcf8 register; atomic */
	struct pci_device *slots[PCI_MAX_SLOTS];
	struct pci_device host_bridge;
	uint64_t next_mmio; /* firmware-like bump allocation, before vm__start */
	uint64_t next_pio;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

void pci__init_header(struct pci_device *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
		      uint16_t subsys_vendor, uint16_t subsys_id, uint8_t revision)
{
	put16(dev->cfg + PCI_VENDOR_ID, vendor);
	put16(dev->cfg + PCI_DEVICE_ID, device);
	dev->cfg[PCI_REVISION_ID] = revision;
	dev->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	put16(dev->cfg + PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	dev->cfg[PCI_HEADER_TYPE] = 0;
	put16(dev->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	put16(dev->cfg + PCI_SUBSYSTEM_ID, subsys_id);
}

int pci__add_cap(struct pci_device *dev, uint8_t cap_id, uint32_t len)
{
	uint8_t *cfg = dev->cfg;
	uint32_t at = dev->cap_end ? dev->cap_end : PCI_CAP_START;

	if (len < 2 || at + len > PCI_CFG_SIZE)
		return -ENOSPC;
	cfg[at] = cap_id;
	cfg[at + 1] = 0;
	if (dev->cap_last)
		cfg[dev->cap_last + 1] = (uint8_t)at;
	else
		cfg[PCI_CAPABILITY_LIST] = (uint8_t)at;
	dev->cap_last = (uint8_t)at;
	dev->cap_end = (at + len + 3) & ~3u; /* capabilities are dword aligned */
	put16(cfg + PCI_STATUS, get16(cfg + PCI_STATUS) | PCI_STATUS_CAP_LIST);
	return (int)at;
}

static uint32_t bar_flags(const struct pci_bar *bar)
{
	return bar->type == PCI_BAR_IO ? PCI_BAR_IO_FLAG : 0;
}

/* Where BAR i decodes given config space cfg: only inside its window, only when enabled. */
static uint64_t bar_decoded_addr(const struct pci_device *dev, const uint8_t *cfg, unsigned int i)
{
	const struct pci_bar *bar = &dev->bars[i];
	uint16_t cmd = get16(cfg + PCI_COMMAND);
	uint64_t a = get32(cfg + PCI_BAR0 + 4 * i) & ~(uint64_t)(bar->size - 1);

	switch (bar->type) {
	case PCI_BAR_MEM32:
		if ((cmd & PCI_COMMAND_MEMORY) && a >= LAYOUT_PCI_MMIO_START &&
		    a + bar->size <= LAYOUT_PCI_MMIO_END)
			return a;
		break;
	case PCI_BAR_IO:
		if ((cmd & PCI_COMMAND_IO) && a >= PCI_PIO_START && a + bar->size <= PCI_PIO_END)
			return a;
		break;
	case PCI_BAR_UNUSED:
		break;
	}
	return PCI_BAR_UNMAPPED;
}

/* Bus lock held for writing: bring bars[].addr in line with config space and tell the device. */
static void update_bars(struct pci_device *dev)
{
	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		uint64_t old = dev->bars[i].addr, now = bar_decoded_addr(dev, dev->cfg, i);

		if (dev->bars[i].type == PCI_BAR_UNUSED || old == now)
			continue;
		dev->bars[i].addr = now;
		log__debug("%s: BAR %u now at 0x%llx", dev->name, i, (unsigned long long)now);
		if (dev->ops && dev->ops->bar_moved)
			dev->ops->bar_moved(dev, i, old, now);
	}
}

static struct pci_device *device_at(struct pci_bus *bus, unsigned int slot, unsigned int fn)
{
	return slot < PCI_MAX_SLOTS && fn == 0 ? bus->slots[slot] : NULL;
}

static bool valid_access(uint32_t reg, uint32_t len)
{
	return (len == 1 || len == 2 || len == 4) && reg <= 0xfff && (reg & 3) + len <= 4;
}

void pci__config_read(struct pci_bus *bus, unsigned int slot, unsigned int fn, uint32_t reg,
		      void *data, uint32_t len)
{
	struct pci_device *dev;

	memset(data, 0xff, len);
	if (!valid_access(reg, len))
		return;
	pthread_rwlock_rdlock(&bus->lock);
	dev = device_at(bus, slot, fn);
	if (dev) {
		if (reg < PCI_CFG_SIZE)
			memcpy(data, dev->cfg + reg, len);
		else
			memset(data, 0, len);
	}
	pthread_rwlock_unlock(&bus->lock);
}

void pci__config_write(struct pci_bus *bus, unsigned int slot, unsigned int fn, uint32_t reg,
		       const void *data, uint32_t len)
{
	const uint8_t *v = data;
	struct pci_device *dev;

	if (!valid_access(reg, len) || reg >= PCI_CFG_SIZE)
		return;
	pthread_rwlock_wrlock(&bus->lock);
	dev = device_at(bus, slot, fn);
	if (!dev)
		goto out;
	for (uint32_t i = 0; i < len; i++) {
		uint8_t m = dev->wmask[reg + i];

		dev->cfg[reg + i] = (uint8_t)((dev->cfg[reg + i] & ~m) | (v[i] & m));
	}
	if (reg < PCI_BAR0 + 4 * PCI_NR_BARS && reg + len > PCI_COMMAND)
		update_bars(dev);
	if (dev->ops && dev->ops->config_write)
		dev->ops->config_write(dev, reg, len);
out:
	pthread_rwlock_unlock(&bus->lock);
}

/* Config mechanism #1: 0xcf8 holds enable | bus | slot | fn | reg, 0xcfc-0xcff the data. */
static bool conf1_target(struct pci_bus *bus, uint64_t port, unsigned int *slot, unsigned int *fn,
			 uint32_t *reg)
{
	uint32_t a = __atomic_load_n(&bus->conf1_addr, __ATOMIC_ACQUIRE);

	if (!(a & CONF1_ENABLE) || ((a >> 16) & 0xff) != 0)
		return false;
	*slot = (a >> 11) & 0x1f;
	*fn = (a >> 8) & 7;
	*reg = (a & 0xfc) | (uint32_t)(port - CONF1_DATA_PORT);
	return true;
}

static void conf1_read(struct vcpu *vcpu, void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pci_bus *bus = opaque;
	uint64_t port = CONF1_ADDR_PORT + offset;
	unsigned int slot, fn;
	uint32_t reg;

	memset(data, 0xff, len);
	if (port == CONF1_ADDR_PORT && len == 4) {
		uint32_t a = __atomic_load_n(&bus->conf1_addr, __ATOMIC_ACQUIRE);

		memcpy(data, &a, 4);
	} else if (port >= CONF1_DATA_PORT && conf1_target(bus, port, &slot, &fn, &reg)) {
		pci__config_read(bus, slot, fn, reg, data, len);
	}
}

static void conf1_write(struct vcpu *vcpu, void *opaque, uint64_t offset, const void *data,
			uint32_t len)
{
	struct pci_bus *bus = opaque;
	uint64_t port = CONF1_ADDR_PORT + offset;
	unsigned int slot, fn;
	uint32_t reg, a;

	/* Only dword writes reach the address register (Linux probes with a byte to 0xcfb). */
	if (port == CONF1_ADDR_PORT && len == 4) {
		memcpy(&a, data, 4);
		__atomic_store_n(&bus->conf1_addr, a & 0x80fffffcu, __ATOMIC_RELEASE);
	} else if (port >= CONF1_DATA_PORT && conf1_target(bus, port, &slot, &fn, &reg)) {
		pci__config_write(bus, slot, fn, reg, data, len);
	}
}

static const struct io_ops conf1_ops = {.read = conf1_read, .write = conf1_write};

/* ECAM: offset = slot << 15 | fn << 12 | reg; 8-byte accesses are two dwords. */
static void ecam_read(struct vcpu *vcpu, void *opaque, uint64_t offset, void *data, uint32_t len)
{
	uint32_t n = len == 8 ? 4 : len;

	for (uint32_t i = 0; i < len; i += n)
		pci__config_read(opaque, (offset >> 15) & 0x1f, (offset >> 12) & 7,
				 (offset & 0xfff) + i, (uint8_t *)data + i, n);
}

static void ecam_write(struct vcpu *vcpu, void *opaque, uint64_t offset, const void *data,
		       uint32_t len)
{
	uint32_t n = len == 8 ? 4 : len;

	for (uint32_t i = 0; i < len; i += n)
		pci__config_write(opaque, (offset >> 15) & 0x1f, (offset >> 12) & 7,
				  (offset & 0xfff) + i, (const uint8_t *)data + i, n);
}

static const struct io_ops ecam_ops = {.read = ecam_read, .write = ecam_write};

/* Bus lock held for reading: the device and BAR decoding addr of type, if any. */
static struct pci_device *find_bar(struct pci_bus *bus, enum pci_bar_type type, uint64_t addr,
				   unsigned int *bar)
{
	for (unsigned int s = 0; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *dev = bus->slots[s];

		if (!dev)
			continue;
		for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
			const struct pci_bar *b = &dev->bars[i];

			if (b->type == type && b->addr != PCI_BAR_UNMAPPED && addr >= b->addr &&
			    addr - b->addr < b->size) {
				*bar = i;
				return dev;
			}
		}
	}
	return NULL;
}

static void bar_access(struct pci_bus *bus, enum pci_bar_type type, uint64_t addr, void *data,
		       uint32_t len, bool is_write)
{
	struct pci_device *dev;
	unsigned int i;

	pthread_rwlock_rdlock(&bus->lock);
	dev = find_bar(bus, type, addr, &i);
	if (!dev) {
		if (!is_write)
			memset(data, 0xff, len);
		if (log__once(type == PCI_BAR_IO ? LOG_KIND_PIO : LOG_KIND_MMIO, addr))
			log__warn("guest %s at 0x%llx in the PCI %s window hits no BAR: ignored",
				  is_write ? "write" : "read", (unsigned long long)addr,
				  type == PCI_BAR_IO ? "I/O" : "memory");
	} else if (is_write) {
		if (dev->ops->bar_write)
			dev->ops->bar_write(dev, i, addr - dev->bars[i].addr, data, len);
	} else if (dev->ops->bar_read) {
		dev->ops->bar_read(dev, i, addr - dev->bars[i].addr, data, len);
	} else {
		memset(data, 0xff, len);
	}
	pthread_rwlock_unlock(&bus->lock);
}

static void mmio_window_read(struct vcpu *vcpu, void *opaque, uint64_t offset, void *data,
			     uint32_t len)
{
	bar_access(opaque, PCI_BAR_MEM32, LAYOUT_PCI_MMIO_START + offset, data, len, false);
}

static void mmio_window_write(struct vcpu *vcpu, void *opaque, uint64_t offset, const void *data,
			      uint32_t len)
{
	bar_access(opaque, PCI_BAR_MEM32, LAYOUT_PCI_MMIO_START + offset, (void *)data, len, true);
}

static void pio_window_read(struct vcpu *vcpu, void *opaque, uint64_t offset, void *data,
			    uint32_t len)
{
	bar_access(opaque, PCI_BAR_IO, PCI_PIO_START + offset, data, len, false);
}

static void pio_window_write(struct vcpu *vcpu, void *opaque, uint64_t offset, const void *data,
			     uint32_t len)
{
	bar_access(opaque, PCI_BAR_IO, PCI_PIO_START + offset, (void *)data, len, true);
}

static const struct io_ops mmio_window_ops = {.read = mmio_window_read, .write = mmio_window_write};
static const struct io_ops pio_window_ops = {.read = pio_window_read, .write = pio_window_write};

int pci__init(struct vm *vm)
{
	static const struct {
		bool pio;
		uint64_t base, len;
		const struct io_ops *ops;
		const char *what;
	} ranges[] = {
	    {true, CONF1_ADDR_PORT, 8, &conf1_ops, "config ports 0xcf8-0xcff"},
	    {true, PCI_PIO_START, PCI_PIO_END - PCI_PIO_START, &pio_window_ops, "I/O BAR window"},
	    {false, LAYOUT_PCI_ECAM, LAYOUT_PCI_ECAM_SIZE, &ecam_ops, "ECAM"},
	    {false, LAYOUT_PCI_MMIO_START, LAYOUT_PCI_MMIO_END - LAYOUT_PCI_MMIO_START,
	     &mmio_window_ops, "memory BAR window"},
	};
	struct pci_bus *bus;
	int rc;

	bus = calloc(1, sizeof(*bus));
	if (!bus) {
		log__error("allocating the PCI bus failed: out of memory");
		return -ENOMEM;
	}
	bus->vm = vm;
	pthread_rwlock_init(&bus->lock, NULL);
	bus->next_mmio = LAYOUT_PCI_MMIO_START;
	bus->next_pio = PCI_PIO_START;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		rc = iobus__register(ranges[i].pio ? &vm->pio : &vm->mmio, ranges[i].base,
				     ranges[i].len, ranges[i].ops, bus);
		if (rc) {
			log__error("PCI: registering the %s failed: %s", ranges[i].what,
				   strerror(-rc));
			pthread_rwlock_destroy(&bus->lock);
			free(bus);
			return rc;
		}
	}
	bus->host_bridge.name = "PCI host bridge";
	pci__init_header(&bus->host_bridge, HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
			 CLASS_HOST_BRIDGE, 0, 0, 0);
	bus->slots[0] = &bus->host_bridge;
	bus->host_bridge.irq_fd = bus->host_bridge.resample_fd = -1;
	vm->pci = bus;
	return 0;
}

static void release_intx(struct pci_device *dev)
{
	struct kvm_irqfd irqfd = {
	    .fd = (uint32_t)dev->irq_fd,
	    .gsi = dev->gsi,
	    .flags = KVM_IRQFD_FLAG_DEASSIGN,
	};

	if (dev->resample_fd >= 0 && dev->vm->ioloop)
		ioloop__del(dev->vm->ioloop, dev->resample_fd);
	if (dev->irq_fd >= 0 && ioctl(dev->vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		log__warn("%s: removing its KVM_IRQFD failed: %s", dev->name, strerror(errno));
	if (dev->irq_fd >= 0)
		close(dev->irq_fd);
	if (dev->resample_fd >= 0)
		close(dev->resample_fd);
	dev->irq_fd = dev->resample_fd = -1;
}

void pci__exit(struct vm *vm)
{
	struct pci_bus *bus = vm->pci;

	if (!bus)
		return;
	for (unsigned int s = 1; s < PCI_MAX_SLOTS; s++) {
		struct pci_device *dev = bus->slots[s];

		if (!dev)
			continue;
		bus->slots[s] = NULL;
		release_intx(dev);
		if (dev->ops && dev->ops->release)
			dev->ops->release(dev);
	}
	pthread_rwlock_destroy(&bus->lock);
	free(bus);
	vm->pci = NULL;
}

/* Fires the irqfd: KVM raises the line and keeps it up until the guest's EOI. */
static void raise_line(struct pci_device *dev)
{
	uint64_t one = 1;

	if (write(dev->irq_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log__warn("%s: raising INTx failed: %s", dev->name, strerror(errno));
}

/* I/O thread: the guest EOI'd INTx and KVM lowered the line; raise it again if still wanted. */
static void resample(void *opaque, uint32_t events)
{
	struct pci_device *dev = opaque;
	uint64_t n;

	if (read(dev->resample_fd, &n, sizeof(n)) < 0)
		return; /* EAGAIN: a second wake-up for one EOI */
	if (__atomic_load_n(&dev->irq_level, __ATOMIC_ACQUIRE))
		raise_line(dev);
}

static int setup_intx(struct pci_device *dev)
{
	struct vm *vm = dev->vm;
	struct kvm_irqfd irqfd = {.gsi = dev->gsi, .flags = KVM_IRQFD_FLAG_RESAMPLE};
	int rc;

	dev->cfg[PCI_INTERRUPT_PIN] = PCI_INTX_PIN_A;
	dev->cfg[PCI_INTERRUPT_LINE] = (uint8_t)dev->gsi;
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	/* Without resample fds, KVM_IRQ_LINE gives the same level semantics from userspace. */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE) <= 0) {
		log__info("%s: KVM lacks KVM_CAP_IRQFD_RESAMPLE: INTx through KVM_IRQ_LINE",
			  dev->name);
		return 0;
	}
	dev->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->irq_fd < 0 || dev->resample_fd < 0) {
		rc = -errno;
		log__error("%s: creating its INTx eventfds failed: %s", dev->name, strerror(-rc));
		goto fail;
	}
	irqfd.fd = (uint32_t)dev->irq_fd;
	irqfd.resamplefd = (uint32_t)dev->resample_fd;
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		rc = -errno;
		log__error("%s: KVM_IRQFD for GSI %u failed: %s", dev->name, dev->gsi,
			   strerror(-rc));
		goto fail;
	}
	rc = ioloop__add(vm->ioloop, dev->resample_fd, EPOLLIN, resample, dev);
	if (rc)
		goto fail_assigned;
	return 0;
fail_assigned:
	irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
	ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
fail:
	if (dev->irq_fd >= 0)
		close(dev->irq_fd);
	if (dev->resample_fd >= 0)
		close(dev->resample_fd);
	dev->irq_fd = dev->resample_fd = -1;
	return rc;
}

/* Naturally aligned bump allocation in [*next, end), like firmware does at boot. */
static int alloc_bar(uint64_t *next, uint64_t end, uint32_t size, uint64_t *addr)
{
	uint64_t a = (*next + size - 1) & ~(uint64_t)(size - 1);

	if (a + size > end)
		return -ENOSPC;
	*addr = a;
	*next = a + size;
	return 0;
}

static int setup_bars(struct pci_bus *bus, struct pci_device *dev)
{
	uint16_t cmd = 0;

	for (unsigned int i = 0; i < PCI_NR_BARS; i++) {
		struct pci_bar *bar = &dev->bars[i];
		uint64_t addr;
		int rc;

		bar->addr = PCI_BAR_UNMAPPED;
		if (bar->type == PCI_BAR_UNUSED)
			continue;
		if ((bar->size & (bar->size - 1)) ||
		    (bar->type == PCI_BAR_MEM32 && bar->size < 16) ||
		    (bar->type == PCI_BAR_IO && (bar->size < 4 || bar->size > 256))) {
			log__error("%s: BAR %u of %u bytes: a BAR is a power of two, 16 bytes or "
				   "more (memory) or 4-256 bytes (I/O)",
				   dev->name, i, bar->size);
			return -EINVAL;
		}
		if (bar->type == PCI_BAR_MEM32) {
			rc = alloc_bar(&bus->next_mmio, LAYOUT_PCI_MMIO_END, bar->size, &addr);
			cmd |= PCI_COMMAND_MEMORY;
		} else {
			rc = alloc_bar(&bus->next_pio, PCI_PIO_END, bar->size, &addr);
			cmd |= PCI_COMMAND_IO;
		}
		if (rc) {
			log__error("%s: BAR %u of %u bytes does not fit in the PCI %s window: "
				   "fewer or smaller devices",
				   dev->name, i, bar->size,
				   bar->type == PCI_BAR_IO ? "I/O" : "memory");
			return rc;
		}
		put32(dev->cfg + PCI_BAR0 + 4 * i, (uint32_t)addr | bar_flags(bar));
		put32(dev->wmask + PCI_BAR0 + 4 * i, ~(bar->size - 1));
	}
	put16(dev->cfg + PCI_COMMAND, cmd);
	put16(dev->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	return 0;
}

int pci__register(struct vm *vm, struct pci_device *dev)
{
	struct pci_bus *bus = vm->pci;
	unsigned int slot;
	int rc;

	for (slot = 1; slot < PCI_MAX_SLOTS && bus->slots[slot]; slot++)
		;
	if (slot == PCI_MAX_SLOTS) {
		log__error("%s: PCI bus 0 has no free slot: fewer devices", dev->name);
		return -ENOSPC;
	}
	dev->vm = vm;
	dev->slot = slot;
	dev->gsi = PCI_GSI_BASE + (slot - 1) % PCI_GSI_COUNT;
	dev->irq_fd = dev->resample_fd = -1;
	rc = setup_bars(bus, dev);
	if (rc)
		return rc;
	if (dev->intx) {
		rc = setup_intx(dev);
		if (rc)
			return rc;
	}
	pthread_rwlock_wrlock(&bus->lock);
	bus->slots[slot] = dev;
	update_bars(dev);
	pthread_rwlock_unlock(&bus->lock);
	log__info("%s: PCI slot %u, GSI %u", dev->name, slot, dev->gsi);
	return 0;
}

void pci__set_irq(struct pci_device *dev, bool level)
{
	struct kvm_irq_level line = {.irq = dev->gsi, .level = level};
	bool was = __atomic_exchange_n(&dev->irq_level, level, __ATOMIC_ACQ_REL);

	if (dev->irq_fd < 0) {
		if (ioctl(dev->vm->vm_fd, KVM_IRQ_LINE, &line) < 0)
			log__warn("%s: KVM_IRQ_LINE failed: %s", dev->name, strerror(errno));
		return;
	}
	/*
	 * Lowering waits for the EOI (see resample).  While the level stays 1 the
	 * line is already up, or resample raises it again: only a rise fires.
	 */
	if (level && !was)
		raise_line(dev);
}

unsigned int pci__irq_routes(const struct vm *vm, struct mp_pci_irq *routes, unsigned int max)
{
	const struct pci_bus *bus = vm->pci;
	unsigned int n = 0;

	for (unsigned int s = 1; bus && s < PCI_MAX_SLOTS; s++) {
		const struct pci_device *dev = bus->slots[s];

		if (!dev || !dev->intx)
			continue;
		if (n < max)
			routes[n] = (struct mp_pci_irq){
			    .slot = (uint8_t)s, .pin = PCI_INTX_PIN_A, .gsi = (uint8_t)dev->gsi};
		n++;
	}
	return n;
}

int pci__write_mptable(const struct vm *vm, void *ram, uint64_t low_size, char *err, size_t errlen)
{
	struct mp_pci_irq routes[MPTABLE_MAX_PCI_IRQS];
	unsigned int n = pci__irq_routes(vm, routes, MPTABLE_MAX_PCI_IRQS);

	/* More routes than fit makes mptable__write_pci refuse with a clear error. */
	return mptable__write_pci(ram, low_size, (int)vm->nr_vcpus, routes, n, err, errlen);
}

struct pci_device *pci__device(struct vm *vm, unsigned int slot)
{
	/* Slots are filled before vm__start and never emptied until pci__exit. */
	return slot < PCI_MAX_SLOTS ? vm->pci->slots[slot] : NULL;
}

int pci__save(struct vm *vm, struct pci_state *st)
{
	struct pci_bus *bus = vm->pci;

	memset(st, 0, sizeof(*st));
	st->version = PCI_STATE_VERSION;
	pthread_rwlock_wrlock(&bus->lock);
	st->conf1_addr = __atomic_load_n(&bus->conf1_addr, __ATOMIC_ACQUIRE);
	for (unsigned int slot = 0; slot < PCI_MAX_SLOTS; slot++) {
		const struct pci_device *dev = bus->slots[slot];
		struct pci_slot_state *ss = &st->slots[slot];

		if (!dev)
			continue;
		ss->present = 1;
		memcpy(ss->cfg, dev->cfg, PCI_CFG_SIZE);
		/* The host bridge's unused BARs were never placed: name them unmapped too. */
		for (unsigned int i = 0; i < PCI_NR_BARS; i++)
			ss->bar_addr[i] = dev->bars[i].type == PCI_BAR_UNUSED ? PCI_BAR_UNMAPPED
									      : dev->bars[i].addr;
	}
	pthread_rwlock_unlock(&bus->lock);
	return 0;
}

/* Bus lock held: can slot's saved state go onto the device there now? */
static int check_slot(struct pci_bus *bus, unsigned int slot, const struct pci_slot_state *ss,
		      char *err, size_t errlen)
{
	const struct pci_device *dev = bus->slots[slot];
	unsigned int i;

	if (ss->present > 1 || ss->present != !!dev) {
		util__set_err(err, errlen,
			      "PCI state: slot %u is %s in the state but %s here: restore onto a "
			      "VM with the same devices",
			      slot, ss->present ? "filled" : "empty", dev ? dev->name : "empty");
		return -EINVAL;
	}
	if (!dev)
		return 0;
	for (i = 0; i < PCI_CFG_SIZE; i++) {
		if ((ss->cfg[i] ^ dev->cfg[i]) & ~dev->wmask[i]) {
			util__set_err(err, errlen,
				      "%s: PCI state: read-only config byte 0x%02x is 0x%02x, here "
				      "0x%02x: another device or build",
				      dev->name, i, ss->cfg[i], dev->cfg[i]);
			return -EINVAL;
		}
	}
	for (i = 0; i < PCI_NR_BARS; i++) {
		uint64_t want = bar_decoded_addr(dev, ss->cfg, i);

		if (ss->bar_addr[i] != want) {
			util__set_err(err, errlen,
				      "%s: PCI state: BAR %u saved at 0x%llx but its config space "
				      "decodes it at 0x%llx: the state is corrupt",
				      dev->name, i, (unsigned long long)ss->bar_addr[i],
				      (unsigned long long)want);
			return -EINVAL;
		}
	}
	return 0;
}

int pci__restore(struct vm *vm, const struct pci_state *st, char *err, size_t errlen)
{
	struct pci_bus *bus = vm->pci;
	unsigned int slot;
	int rc = 0;

	if (st->version != PCI_STATE_VERSION) {
		util__set_err(err, errlen,
			      "PCI state: version %u, this build knows %u: restore with the Twin "
			      "that saved it",
			      st->version, PCI_STATE_VERSION);
		return -EINVAL;
	}
	pthread_rwlock_wrlock(&bus->lock);
	for (slot = 0; slot < PCI_MAX_SLOTS && !rc; slot++)
		rc = check_slot(bus, slot, &st->slots[slot], err, errlen);
	if (rc)
		goto out;
	for (slot = 0; slot < PCI_MAX_SLOTS; slot++) {
		struct pci_device *dev = bus->slots[slot];

		if (!dev)
			continue;
		memcpy(dev->cfg, st->slots[slot].cfg, PCI_CFG_SIZE);
		update_bars(dev);
	}
	__atomic_store_n(&bus->conf1_addr, st->conf1_addr, __ATOMIC_RELEASE);
	log__info("PCI state restored");
out:
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}
