/* A fuzz target as fuzz-target-driver.c runs it in make check: seed classes and a contract. */
#ifndef TESTS_FUZZ_FUZZ_TARGET_H
#define TESTS_FUZZ_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

struct fuzz_target {
	const char *name;
	/* Seed file name prefixes; a seed must give the class its prefix names. */
	const char *const *classes;
	int nclasses;
	/*
	 * Runs one input and checks the target's contract.  Stores the input's
	 * class (an index into classes) in *cls.  Returns NULL, or a static
	 * string naming the broken rule.
	 */
	const char *(*check)(const uint8_t *data, size_t size, int *cls);
	/* Optional: the largest input, seed or mutant (0: FUZZ_DEFAULT_MAX_INPUT). */
	size_t max_input;
	/*
	 * Optional: values of the input's little-endian size, offset and index
	 * fields; the mutator then also writes them as aligned 2-, 4- or 8-byte
	 * words.
	 */
	const uint64_t *words;
	int nwords;
};

#define FUZZ_DEFAULT_MAX_INPUT 2048
#define FUZZ_INPUT_CAP	       (32u << 10) /* the largest max_input the driver takes */

/* Each target file defines this one. */
extern const struct fuzz_target fuzz_target;

/* libFuzzer's entry point, for every target in libfuzzer-entry.c: aborts on a broken rule. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
