/* The fuzz targets' interfaces, shared by libFuzzer and the make-check driver. */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Guest low RAM the target loads into: 1 MiB + 64 KiB, so mutants hit the top edge often. */
#define FUZZ_RAM_SIZE ((1u << 20) + (64u << 10))

/*
 * Load data[0..size) with elf_loader__load_pvh and check its contract: the
 * result is 0, -ENOEXEC, -EINVAL or -ERANGE; an error leaves RAM untouched and
 * a one-line message; a success reports a sane image and writes nothing
 * outside [lowest_paddr, highest_paddr).  Stores the loader's result in *rc.
 * Returns NULL, or a static string naming the broken rule.
 */
const char *fuzz_elf_loader__check(const uint8_t *data, size_t size, int *rc);

/* bzImage loader target: RAM for the kernel, its initrd and the boot data below 1 MiB. */
#define FUZZ_BZ_RAM_SIZE (2u << 20)

/*
 * Load data[0..size) with bzimage__load (fixed cmdline and initrd) and check
 * its contract: the result is 0, -ENOEXEC, -EINVAL, -ERANGE or -E2BIG; an
 * error leaves RAM untouched and a one-line message; a success copies the
 * kernel to its load address at or above 1 MiB, the initrd above the
 * kernel's init_size, and writes nothing else but the cmdline and zero page.
 */
const char *fuzz_bzimage__check(const uint8_t *data, size_t size, int *rc);

/* libFuzzer's entry point: aborts when fuzz_elf_loader__check finds a broken rule. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
