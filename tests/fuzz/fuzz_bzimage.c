/* Fuzz target for the bzImage loader: every input must give a documented result, RAM intact. */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ixen-core tests/fuzz/fuzz_bzimage.c \
 *     xen-core/bzimage.c xen-core/e820.c xen-core/util.c -o fuzz-bzimage
 *   mkdir -p /tmp/bz-corpus && cp -r tests/fuzz/corpus/bzimage/. /tmp/bz-corpus/
 *   ./fuzz-bzimage -max_total_time=60 -max_len=4096 /tmp/bz-corpus
 * make check runs the same checks without libFuzzer through fuzz-driver.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bzimage.h"
#include "e820.h"
#include "fuzz.h"

#define RAM_FILL    0xee
#define CMDLINE	    "console=ttyS0"
#define INITRD_SIZE 300

static uint8_t *ram;	 /* guest RAM handed to the loader */
static uint8_t *ram_ref; /* what RAM must hold where the loader did not write */
static uint8_t initrd[INITRD_SIZE];
static char err[128];

static bool ram_same(uint64_t from, uint64_t to)
{
	return from >= to || memcmp(ram + from, ram_ref + from, to - from) == 0;
}

/* After a good load: only the boot area, the kernel and the initrd may differ. */
static const char *check_loaded(const uint8_t *data, const struct bzimage_image *img)
{
	const struct bzimage_setup_header *h = (const void *)(data + BZIMAGE_HDR_OFFSET);
	uint64_t sects = h->setup_sects ? h->setup_sects : 4;
	uint64_t ksize = (uint64_t)h->syssize * 16, kend = img->load_addr + ksize;
	uint64_t iend = img->initrd_addr + INITRD_SIZE;
	struct bzimage_boot_params zp;

	if (img->load_addr < LAYOUT_HIGH_START || kend > FUZZ_BZ_RAM_SIZE ||
	    img->entry64 != img->load_addr + BZIMAGE_ENTRY64_OFF)
		return "kernel placed outside [1 MiB, RAM size) or a wrong entry";
	if (img->initrd_addr < img->load_addr + h->init_size || iend > FUZZ_BZ_RAM_SIZE ||
	    img->initrd_addr % 4096)
		return "initrd overlaps the kernel's init_size, leaves RAM or is unaligned";
	if (memcmp(ram + img->load_addr, data + (sects + 1) * 512, ksize) ||
	    memcmp(ram + img->initrd_addr, initrd, INITRD_SIZE))
		return "kernel or initrd bytes in RAM differ from the input";
	memcpy(&zp, ram + BZIMAGE_ZERO_PAGE, sizeof(zp));
	if (zp.hdr.header != BZIMAGE_HDR_MAGIC || zp.hdr.ramdisk_image != img->initrd_addr ||
	    zp.hdr.ramdisk_size != INITRD_SIZE || zp.hdr.cmd_line_ptr != BZIMAGE_CMDLINE ||
	    strcmp((const char *)ram + BZIMAGE_CMDLINE, CMDLINE))
		return "zero page or cmdline does not describe the load";
	if (!ram_same(0, BZIMAGE_CMDLINE) ||
	    !ram_same(BZIMAGE_ZERO_PAGE + sizeof(zp), img->load_addr) ||
	    !ram_same(kend, img->initrd_addr) || !ram_same(iend, FUZZ_BZ_RAM_SIZE))
		return "loader wrote outside the boot area, kernel and initrd";
	return NULL;
}

const char *fuzz_bzimage__check(const uint8_t *data, size_t size, int *rc)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	struct bzimage_image img = {0};
	struct bzimage_load in = {
	    .kernel = data,
	    .kernel_size = size,
	    .initrd = initrd,
	    .initrd_size = INITRD_SIZE,
	    .cmdline = CMDLINE,
	    .map = map,
	};
	const char *broken = NULL;

	if (!ram) {
		ram = malloc(FUZZ_BZ_RAM_SIZE);
		ram_ref = malloc(FUZZ_BZ_RAM_SIZE);
		if (!ram || !ram_ref)
			return "out of memory for the fuzz RAM";
		memset(ram, RAM_FILL, FUZZ_BZ_RAM_SIZE);
		memset(ram_ref, RAM_FILL, FUZZ_BZ_RAM_SIZE);
		for (int i = 0; i < INITRD_SIZE; i++)
			initrd[i] = (uint8_t)(i * 13 + 5);
	}
	in.map_entries = e820__build(FUZZ_BZ_RAM_SIZE, map, E820_MAX_ENTRIES);
	/* Poison err so that a missing or unterminated message shows. */
	memset(err, 'x', sizeof(err));

	*rc = bzimage__load(&in, ram, FUZZ_BZ_RAM_SIZE, &img, err, sizeof(err));
	if (*rc != 0) {
		if (*rc != -ENOEXEC && *rc != -EINVAL && *rc != -ERANGE && *rc != -E2BIG)
			broken = "result is not 0, -ENOEXEC, -EINVAL, -ERANGE or -E2BIG";
		else if (!memchr(err, '\0', sizeof(err)) || err[0] == '\0' || err[0] == 'x')
			broken = "error without a NUL-terminated one-line message";
		else if (strchr(err, '\n'))
			broken = "error message spans more than one line";
		else if (!ram_same(0, FUZZ_BZ_RAM_SIZE))
			broken = "rejected input, yet RAM was written";
	} else {
		broken = check_loaded(data, &img);
	}
	/* The next input starts from clean RAM. */
	if (*rc == 0 || broken)
		memset(ram, RAM_FILL, FUZZ_BZ_RAM_SIZE);
	return broken;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc;
	const char *broken = fuzz_bzimage__check(data, size, &rc);

	if (broken) {
		fprintf(stderr, "fuzz_bzimage: %s (result %d)\n", broken, rc);
		abort();
	}
	return 0;
}
