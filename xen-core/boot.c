/* PVH boot of a fresh VM: loader, boot data writers and BSP state, in the right order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	char name[256];
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "kernel %s: %s: check --kernel", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "kernel %s: not a regular file: give a PVH ELF file", path);
		goto out;
	}
	/* A kernel larger than RAM can never load; do not read it. */
	if ((uint64_t)st.st_size > vm->mem.size) {
		rc = -ERANGE;
		snprintf(err, errlen, "kernel %s: %lld bytes is larger than guest RAM: raise --mem",
			 path, (long long)st.st_size);
		goto out;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "kernel %s: out of memory reading it", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			snprintf(err, errlen, "kernel %s: read failed: %s", path, strerror(-rc));
			goto out;
		}
		got += r;
	}
	snprintf(name, sizeof(name), "kernel %s", path);
	rc = load(vm, buf, got, name, cmdline, err, errlen);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}
