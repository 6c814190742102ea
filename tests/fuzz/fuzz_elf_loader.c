/* Fuzz target for the PVH ELF loader: every input must give a documented result, RAM intact. */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ixen-core \
 *     tests/fuzz/fuzz_elf_loader.c xen-core/elf_loader.c xen-core/util.c -o fuzz-elf-loader
 *   mkdir -p /tmp/elf-corpus && cp -r tests/fuzz/corpus/elf_loader/. /tmp/elf-corpus/
 *   ./fuzz-elf-loader -max_total_time=60 -max_len=4096 /tmp/elf-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "elf_loader.h"
#include "fuzz_target.h"
#include "util.h"

/* Guest low RAM the target loads into: 1 MiB + 64 KiB, so mutants hit the top edge often. */
#define FUZZ_RAM_SIZE ((1u << 20) + (64u << 10))
#define RAM_FILL      0xee
#define MIB	      (1ull << 20)

static uint8_t *ram;	 /* guest RAM handed to the loader */
static uint8_t *ram_ref; /* what RAM must hold where the loader did not write */
static char err[128];

static bool ram_same(uint64_t from, uint64_t to)
{
	return from >= to || memcmp(ram + from, ram_ref + from, to - from) == 0;
}

/*
 * Loads data[0..size) with elf_loader__load_pvh and checks its contract: the result is 0,
 * -ENOEXEC, -EINVAL or -ERANGE; an error leaves RAM untouched and a one-line message; a
 * success reports a sane image and writes nothing outside [lowest_paddr, highest_paddr).
 * Stores the loader's result in *rc.  Returns NULL, or a static string naming the rule.
 */
static const char *load_and_check(const uint8_t *data, size_t size, int *rc)
{
	struct elf_image out = {0};
	const char *broken = NULL;

	if (!ram) {
		ram = malloc(FUZZ_RAM_SIZE);
		ram_ref = malloc(FUZZ_RAM_SIZE);
		if (!ram || !ram_ref)
			return "out of memory for the fuzz RAM";
		memset(ram, RAM_FILL, FUZZ_RAM_SIZE);
		memset(ram_ref, RAM_FILL, FUZZ_RAM_SIZE);
	}
	/* Poison err so that a missing or unterminated message shows. */
	memset(err, 'x', sizeof(err));

	*rc = elf_loader__load_pvh(data, size, ram, FUZZ_RAM_SIZE, &out, err, sizeof(err));
	if (*rc != 0) {
		if (*rc != -ENOEXEC && *rc != -EINVAL && *rc != -ERANGE)
			broken = "result is not 0, -ENOEXEC, -EINVAL or -ERANGE";
		else if (!memchr(err, '\0', sizeof(err)) || err[0] == '\0' || err[0] == 'x')
			broken = "error without a NUL-terminated one-line message";
		else if (strchr(err, '\n'))
			broken = "error message spans more than one line";
		else if (!ram_same(0, FUZZ_RAM_SIZE))
			broken = "rejected input, yet RAM was written";
		goto out;
	}

	if (out.lowest_paddr < MIB || out.highest_paddr > FUZZ_RAM_SIZE ||
	    out.lowest_paddr >= out.highest_paddr)
		broken = "loaded image lies outside [1 MiB, RAM size) or is empty";
	else if (out.pvh_entry < out.lowest_paddr || out.pvh_entry >= out.highest_paddr)
		broken = "PVH entry lies outside the loaded image";
	else if (!ram_same(0, out.lowest_paddr) || !ram_same(out.highest_paddr, FUZZ_RAM_SIZE))
		broken = "loader wrote outside [lowest_paddr, highest_paddr)";
	/* Restore only what a good load may write, so the next input starts clean. */
	if (out.lowest_paddr < out.highest_paddr && out.highest_paddr <= FUZZ_RAM_SIZE)
		memset(ram + out.lowest_paddr, RAM_FILL, out.highest_paddr - out.lowest_paddr);
out:
	if (broken) /* leave clean RAM for whoever continues after a report */
		memset(ram, RAM_FILL, FUZZ_RAM_SIZE);
	return broken;
}

/* Classes in the order of the results they name. */
static const char *const classes[] = {"ok-", "enoexec-", "einval-", "erange-"};
static const int class_rc[] = {0, -ENOEXEC, -EINVAL, -ERANGE};

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	int rc;
	const char *broken = load_and_check(data, size, &rc);

	for (*cls = 0; *cls < (int)ARRAY_SIZE(class_rc) && class_rc[*cls] != rc; (*cls)++)
		;
	return broken;
}

/* The loader's size and offset fields: sign and 32-bit edges, and RAM's 1 MiB boundaries. */
static const uint64_t words[] = {
    0,		1,	  0x7f,	    0x80,     0xff,  0xffff,	 0x7fffffff,	0x80000000,
    0xffffffff, 0x100000, 0x10ffff, 0x110000, ~0ull, 1ull << 63, ~0ull - 0xfff, 0x38};

const struct fuzz_target fuzz_target = {
    .name = "elf-loader",
    .classes = classes,
    .nclasses = ARRAY_SIZE(classes),
    .check = check,
    .max_input = 4096,
    .words = words,
    .nwords = ARRAY_SIZE(words),
};
