/* Guest RAM: memfd creation, host-capacity check, KVM memory slots and GPA translation. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "e820.h"
#include "layout.h"
#include "log.h"
#include "page_offline.h"
#include "vm.h"

uint64_t memory__host_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	uint64_t total = 0, kib;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %" SCNu64 " kB", &kib) == 1 ||
		    sscanf(line, "SwapFree: %" SCNu64 " kB", &kib) == 1)
			total += kib * 1024;
	}
	fclose(f);
	return total;
}

static int set_slot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
	    .slot = slot,
	    .flags = vm->mem.log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	return 0;
}

static int set_slots(struct vm *vm)
{
	struct memory *m = &vm->mem;
	int r = 0;

	if (m->low_size)
		r = set_slot(vm, MEMORY_SLOT_LOW, 0, m->low_size, m->base);
	if (!r && m->high_size)
		r = set_slot(vm, MEMORY_SLOT_HIGH, LAYOUT_PCI_HOLE_END, m->high_size,
			     m->base + m->low_size);
	return r;
}

int memory__init(struct vm *vm, uint64_t size)
{
	struct memory *m = &vm->mem;
	uint64_t avail = memory__host_available();
	int rc;

	m->fd = -1;
	m->base = MAP_FAILED;
	m->size = size;
	e820__split(size, &m->low_size, &m->high_size);
	/*
	 * Refuse up front rather than let the OOM killer decide later: pages are
	 * only allocated when touched, so mmap alone would succeed.
	 */
	if (avail && size > avail) {
		log__error("guest memory %" PRIu64 " MiB is more than this host can give "
			   "(%" PRIu64 " MiB available incl. swap): lower --mem",
			   size >> 20, avail >> 20);
		rc = -ENOMEM;
		goto out;
	}
	m->fd = memfd_create("twin-guest-ram", MFD_CLOEXEC);
	if (m->fd < 0) {
		rc = -errno;
		log__error("memfd_create for guest RAM failed: %s", strerror(-rc));
		goto out;
	}
	if (ftruncate(m->fd, size) < 0) {
		rc = -errno;
		log__error("sizing guest RAM memfd to %" PRIu64 " MiB failed: %s: lower --mem",
			   size >> 20, strerror(-rc));
		goto out;
	}
	m->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->base == MAP_FAILED) {
		rc = -errno;
		log__error("mapping %" PRIu64 " MiB of guest RAM failed: %s: lower --mem",
			   size >> 20, strerror(-rc));
		goto out;
	}
	rc = set_slots(vm);
	if (rc)
		log__error("KVM_SET_USER_MEMORY_REGION for %" PRIu64 " MiB of RAM failed: %s",
			   size >> 20, strerror(-rc));
out:
	return rc;
}

int memory__set_log_dirty(struct vm *vm, bool on)
{
	int rc;

	vm->mem.log_dirty = on;
	rc = set_slots(vm);
	if (rc)
		log__error("turning dirty logging %s on the RAM slots failed: %s",
			   on ? "on" : "off", strerror(-rc));
	return rc;
}

void *memory__gpa_to_hva(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	const struct memory *m = &vm->mem;

	if (gpa + len < gpa)
		return NULL;
	if (gpa + len <= m->low_size)
		return m->base + gpa;
	if (gpa >= LAYOUT_PCI_HOLE_END && gpa - LAYOUT_PCI_HOLE_END + len <= m->high_size)
		return m->base + m->low_size + (gpa - LAYOUT_PCI_HOLE_END);
	return NULL;
}

uint64_t memory__hva_to_gpa(const struct vm *vm, const void *hva)
{
	const struct memory *m = &vm->mem;
	uintptr_t off = (uintptr_t)hva - (uintptr_t)m->base;

	if ((uintptr_t)hva < (uintptr_t)m->base || off >= m->size)
		return UINT64_MAX;
	return off < m->low_size ? off : LAYOUT_PCI_HOLE_END + (off - m->low_size);
}

void memory__exit(struct vm *vm)
{
	struct memory *m = &vm->mem;

	page_offline__exit(vm);
	if (m->base != MAP_FAILED && m->base)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->base = MAP_FAILED;
	m->fd = -1;
}
