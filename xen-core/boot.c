/* PVH boot of a fresh VM: loader, boot data writers and BSP state, in the right order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "boot.h"
#include "e820.h"
#include "elf_loader.h"
#include "mptable.h"
#include "pvh.h"
#include "vm.h"

/* name prefixes the loader's error, which is about the file; the others are not. */
static int load(struct vm *vm, const void *kernel, size_t size, const char *name,
		const char *cmdline, char *err, size_t errlen)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct elf_image img;
	void *ram = vm->mem.base;
	uint64_t low = vm->mem.low_size;
	int n, rc;

	rc = elf_loader__load_pvh(kernel, size, ram, low, &img, err, errlen);
	if (rc) {
		char tmp[512];

		snprintf(tmp, sizeof(tmp), "%s: %s", name, err);
		snprintf(err, errlen, "%s", tmp);
		goto out;
	}
	n = e820__build(vm->mem.size, map, E820_MAX_ENTRIES);
	if (n < 0) {
		rc = n;
		snprintf(err, errlen, "building the e820 map for %llu bytes failed: %s",
			 (unsigned long long)vm->mem.size, strerror(-rc));
		goto out;
	}
	rc = pvh__write_start_info(ram, low, map, n, cmdline, err, errlen);
	if (rc)
		goto out;
	rc = mptable__write(ram, low, vm->nr_vcpus, err, errlen);
	if (rc)
		goto out;
	rc = vm__setup_boot_cpu(vm, img.pvh_entry);
	if (rc)
		snprintf(err, errlen, "setting the boot vCPU's PVH entry state failed: %s",
			 strerror(-rc));
out:
	return rc;
}

int boot__load_pvh(struct vm *vm, const void *kernel, size_t size, const char *cmdline, char *err,
		   size_t errlen)
{
	return load(vm, kernel, size, "kernel", cmdline, err, errlen);
}

int boot__load_pvh_file(struct vm *vm, const char *path, const char *cmdline, char *err,
			size_t errlen)
{
	static const char empty[1];
	char name[256];
	struct stat st;
	const void *file = MAP_FAILED;
	int fd, rc = 0;

	/* O_NONBLOCK: opening a FIFO or a tty must not wait for a writer before we refuse it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "kernel %s: %s: check --kernel", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		snprintf(err, errlen, "kernel %s: not a regular file: give a PVH ELF file", path);
		goto out;
	}
	/* A kernel larger than RAM can never load; do not map it. */
	if ((uint64_t)st.st_size > vm->mem.size) {
		rc = -ERANGE;
		snprintf(err, errlen, "kernel %s: %lld bytes is larger than guest RAM: raise --mem",
			 path, (long long)st.st_size);
		goto out;
	}
	snprintf(name, sizeof(name), "kernel %s", path);
	/* mmap cannot map 0 bytes; the loader still has to say why an empty file is no ELF. */
	if (!st.st_size) {
		rc = load(vm, empty, 0, name, cmdline, err, errlen);
		goto out;
	}
	/* Mapped, not copied: the loader copies each segment straight into guest RAM. */
	file = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (file == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "kernel %s: mmap failed: %s", path, strerror(-rc));
		goto out;
	}
	rc = load(vm, file, st.st_size, name, cmdline, err, errlen);
out:
	if (file != MAP_FAILED)
		munmap((void *)file, st.st_size);
	if (fd >= 0)
		close(fd);
	return rc;
}
