/* Fuzz target for the bzImage loader: every input must give a documented result, RAM intact. */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ixen-core tests/fuzz/fuzz_bzimage.c \
 *     xen-core/bzimage.c xen-core/e820.c xen-core/util.c -o fuzz-bzimage
 *   mkdir -p /tmp/bz-corpus && cp -r tests/fuzz/corpus/bzimage/. /tmp/bz-corpus/
 *   ./fuzz-bzimage -max_total_time=60 -max_len=4096 /tmp/bz-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bzimage.h"
#include "e820.h"
#include "util.h"
#include "fuzz_target.h"

/* RAM for the kernel, its initrd and the boot data below 1 MiB. */
#define RAM_SIZE    (2u << 20)
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

	if (img->load_addr < LAYOUT_HIGH_START || kend > RAM_SIZE ||
	    img->entry64 != img->load_addr + BZIMAGE_ENTRY64_OFF)
		return "kernel placed outside [1 MiB, RAM size) or a wrong entry";
	if (img->initrd_addr < img->load_addr + h->init_size || iend > RAM_SIZE ||
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
	    !ram_same(kend, img->initrd_addr) || !ram_same(iend, RAM_SIZE))
		return "loader wrote outside the boot area, kernel and initrd";
	return NULL;
}

/* Seed prefixes, in the order of the results they announce. */
static const char *const classes[] = {"ok-", "enoexec-", "einval-", "erange-", "e2big-"};
static const int class_rc[] = {0, -ENOEXEC, -EINVAL, -ERANGE, -E2BIG};

static int class_of(int rc)
{
	for (int i = 0; i < (int)ARRAY_SIZE(class_rc); i++)
		if (class_rc[i] == rc)
			return i;
	return -1;
}

/*
 * Load data[0..size) with bzimage__load (fixed cmdline and initrd) and check
 * its contract: the result is 0, -ENOEXEC, -EINVAL, -ERANGE or -E2BIG; an
 * error leaves RAM untouched and a one-line message; a success copies the
 * kernel to its load address at or above 1 MiB, the initrd above the
 * kernel's init_size, and writes nothing else but the cmdline and zero page.
 */
static const char *check(const uint8_t *data, size_t size, int *cls)
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
	int rc;

	if (!ram) {
		ram = malloc(RAM_SIZE);
		ram_ref = malloc(RAM_SIZE);
		if (!ram || !ram_ref)
			return "out of memory for the fuzz RAM";
		memset(ram, RAM_FILL, RAM_SIZE);
		memset(ram_ref, RAM_FILL, RAM_SIZE);
		for (int i = 0; i < INITRD_SIZE; i++)
			initrd[i] = (uint8_t)(i * 13 + 5);
	}
	in.map_entries = e820__build(RAM_SIZE, map, E820_MAX_ENTRIES);
	/* Poison err so that a missing or unterminated message shows. */
	memset(err, 'x', sizeof(err));

	rc = bzimage__load(&in, ram, RAM_SIZE, &img, err, sizeof(err));
	*cls = class_of(rc);
	if (*cls < 0) {
		broken = "result is not 0, -ENOEXEC, -EINVAL, -ERANGE or -E2BIG";
	} else if (rc != 0) {
		if (!memchr(err, '\0', sizeof(err)) || err[0] == '\0' || err[0] == 'x')
			broken = "error without a NUL-terminated one-line message";
		else if (strchr(err, '\n'))
			broken = "error message spans more than one line";
		else if (!ram_same(0, RAM_SIZE))
			broken = "rejected input, yet RAM was written";
	} else {
		broken = check_loaded(data, &img);
	}
	/* The next input starts from clean RAM. */
	if (rc == 0 || broken)
		memset(ram, RAM_FILL, RAM_SIZE);
	return broken;
}

const struct fuzz_target fuzz_target = {
    .name = "bzimage",
    .classes = classes,
    .nclasses = ARRAY_SIZE(classes),
    .check = check,
};
