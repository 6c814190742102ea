/* The ELF/PVH loader fuzz target's interface, shared by libFuzzer and the make-check driver. */
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

/* libFuzzer's entry point: aborts when fuzz_elf_loader__check finds a broken rule. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
