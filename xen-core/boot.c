/* Boot of a fresh VM: a PVH ELF or a bzImage, its initrd, the boot data and the BSP state. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "boot.h"
#include "boot_cpu.h"
#include "bzimage.h"
#include "e820.h"
#include "elf_loader.h"
#include "pci.h"
#include "pvh.h"
#include "util.h"
#include "vm.h"

#define PAGE_SIZE 4096ULL

/* A file mapped read-only; data points at a 1-byte dummy for an empty file (mmap refuses 0). */
struct mapped {
	const void *data;
	size_t size;
	int fd;
	bool mapped;
};

/* what names the file in errors ("kernel", "initrd"); opt is the twin-vmm option for it. */
static int map_file(const char *path, const char *what, const char *opt, uint64_t limit,
		    struct mapped *m, char *err, size_t errlen)
{
	static const char empty[1];
	struct stat st;
	int rc = 0;

	*m = (struct mapped){.data = empty, .fd = -1};
	/* O_NONBLOCK: opening a FIFO or a tty must not wait for a writer before we refuse it. */
	m->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (m->fd < 0 || fstat(m->fd, &st) < 0) {
		rc = -errno;
		util__set_err(err, errlen, "%s %s: %s: check %s", what, path, strerror(-rc), opt);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		util__set_err(err, errlen, "%s %s: not a regular file: check %s", what, path, opt);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	/* A file larger than RAM can never load; do not map it. */
	if ((uint64_t)st.st_size > limit) {
		util__set_err(err, errlen,
			      "%s %s: %lld bytes is larger than guest RAM: raise --mem", what, path,
			      (long long)st.st_size);
		return -ERANGE;
	}
	m->size = st.st_size;
	if (!m->size)
		return 0;
	/* Mapped, not copied: the loaders copy straight into guest RAM. */
	m->data = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, m->fd, 0);
	if (m->data == MAP_FAILED) {
		rc = -errno;
		m->data = empty;
		util__set_err(err, errlen, "%s %s: mmap failed: %s", what, path, strerror(-rc));
		return rc;
	}
	m->mapped = true;
	return 0;
}

static void unmap_file(struct mapped *m)
{
	if (m->mapped)
		munmap((void *)m->data, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->mapped = false;
	m->fd = -1;
}

/* Prefixes err (about the file's contents) with the file's name. */
static void name_err(const char *name, char *err, size_t errlen)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s: %s", name, err);
	util__set_err(err, errlen, "%s", tmp);
}

static int build_map(struct vm *vm, struct e820_entry *map, char *err, size_t errlen)
{
	int n = e820__build(vm->mem.size, map, E820_MAX_ENTRIES);

	if (n < 0)
		util__set_err(err, errlen, "building the e820 map for %llu bytes failed: %s",
			      (unsigned long long)vm->mem.size, strerror(-n));
	return n;
}

/* PVH: the initrd goes page-aligned at the top of low RAM, above the kernel image. */
static int load_pvh(struct vm *vm, const void *kernel, size_t size, const char *name,
		    const struct mapped *initrd, const char *cmdline, char *err, size_t errlen)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct elf_image img;
	uint8_t *ram = vm->mem.base;
	uint64_t low = vm->mem.low_size, initrd_addr = 0;
	int n, rc;

	rc = elf_loader__load_pvh(kernel, size, ram, low, &img, err, errlen);
	if (rc) {
		name_err(name, err, errlen);
		return rc;
	}
	if (initrd) {
		uint64_t floor = (img.highest_paddr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);

		if (initrd->size > low - floor) {
			util__set_err(
			    err, errlen,
			    "initrd: %zu bytes do not fit between the kernel's end 0x%llx "
			    "and 0x%llx: raise --mem or shrink the initrd",
			    initrd->size, (unsigned long long)floor, (unsigned long long)low);
			return -ERANGE;
		}
		initrd_addr = (low - initrd->size) & ~(PAGE_SIZE - 1);
		memcpy(ram + initrd_addr, initrd->data, initrd->size);
	}
	n = build_map(vm, map, err, errlen);
	if (n < 0)
		return n;
	rc = pvh__write_start_info(ram, low, map, n, cmdline, err, errlen);
	if (!rc && initrd)
		rc = pvh__add_module(ram, low, initrd_addr, initrd->size, err, errlen);
	if (!rc)
		rc = pci__write_mptable(vm, ram, low, err, errlen);
	if (rc)
		return rc;
	rc = vm__setup_boot_cpu(vm, img.pvh_entry);
	if (rc)
		util__set_err(err, errlen, "setting the boot vCPU's PVH entry state failed: %s",
			      strerror(-rc));
	return rc;
}

static int load_bzimage(struct vm *vm, const void *kernel, size_t size, const char *name,
			const struct mapped *initrd, const char *cmdline, char *err, size_t errlen)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct bzimage_image img;
	struct bzimage_load in = {
	    .kernel = kernel,
	    .kernel_size = size,
	    .initrd = initrd ? initrd->data : NULL,
	    .initrd_size = initrd ? initrd->size : 0,
	    .cmdline = cmdline,
	    .map = map,
	};
	int rc;

	in.map_entries = build_map(vm, map, err, errlen);
	if (in.map_entries < 0)
		return in.map_entries;
	rc = bzimage__load(&in, vm->mem.base, vm->mem.low_size, &img, err, errlen);
	if (rc) {
		/* Errors about the image (they start "bzImage:") get the file's name. */
		if (strncmp(err, "bzImage:", 8) == 0)
			name_err(name, err, errlen);
		return rc;
	}
	/* Linux finds its CPUs, the IOAPIC and the PCI INTx routes here, as there is no ACPI. */
	rc = pci__write_mptable(vm, vm->mem.base, vm->mem.low_size, err, errlen);
	if (rc)
		return rc;
	return boot_cpu__setup_long_mode(vm, img.entry64, img.zero_page, err, errlen);
}

static bool is_elf(const void *file, size_t size)
{
	static const uint8_t magic[4] = {0x7f, 'E', 'L', 'F'};

	return size >= sizeof(magic) && memcmp(file, magic, sizeof(magic)) == 0;
}

static bool is_bzimage(const void *file, size_t size)
{
	const uint8_t *f = file;

	return size >= 0x206 && memcmp(f + 0x202, "HdrS", 4) == 0;
}

int boot__load_pvh(struct vm *vm, const void *kernel, size_t size, const char *cmdline, char *err,
		   size_t errlen)
{
	return load_pvh(vm, kernel, size, "kernel", NULL, cmdline, err, errlen);
}

int boot__load_pvh_file(struct vm *vm, const char *path, const char *cmdline, char *err,
			size_t errlen)
{
	char name[256];
	struct mapped k;
	int rc;

	rc = map_file(path, "kernel", "--kernel", vm->mem.size, &k, err, errlen);
	if (!rc) {
		snprintf(name, sizeof(name), "kernel %s", path);
		rc = load_pvh(vm, k.data, k.size, name, NULL, cmdline, err, errlen);
	}
	unmap_file(&k);
	return rc;
}

int boot__load_kernel_file(struct vm *vm, const char *kernel, const char *initrd,
			   const char *cmdline, char *err, size_t errlen)
{
	struct mapped k, i = {.fd = -1};
	char name[256];
	int rc;

	rc = map_file(kernel, "kernel", "--kernel", vm->mem.size, &k, err, errlen);
	if (rc)
		goto out;
	if (initrd) {
		rc = map_file(initrd, "initrd", "--initrd", vm->mem.size, &i, err, errlen);
		if (rc)
			goto out;
	}
	snprintf(name, sizeof(name), "kernel %s", kernel);
	if (is_elf(k.data, k.size)) {
		rc = load_pvh(vm, k.data, k.size, name, initrd ? &i : NULL, cmdline, err, errlen);
	} else if (is_bzimage(k.data, k.size)) {
		rc = load_bzimage(vm, k.data, k.size, name, initrd ? &i : NULL, cmdline, err,
				  errlen);
	} else {
		rc = -ENOEXEC;
		util__set_err(err, errlen,
			      "%s: not an ELF file and not a bzImage (no \"HdrS\" at 0x202): give "
			      "a PVH ELF or a Linux bzImage",
			      name);
	}
out:
	unmap_file(&i);
	unmap_file(&k);
	return rc;
}
