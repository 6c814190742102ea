/* make-check driver for a fuzz target (FUZZ_CHECK): seed corpus, then deterministic mutants. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "fuzz.h"

#define MAX_SEEDS      64
#define FUZZ_MAX_INPUT 4096
#define MUTANTS	       20000
#define PRNG_SEED      0x5477696e2d454c46ull /* fixed: every run tries the same mutants */
/* The target this driver is built for; the ELF loader's unless the build says otherwise. */
#ifndef FUZZ_CHECK
#define FUZZ_CHECK fuzz_elf_loader__check
#define FUZZ_NAME  "elf-loader"
#endif
#define CRASH_FILE "fuzz-" FUZZ_NAME "-failure.bin"
#define NCLASSES   5 /* 0, -ENOEXEC, -EINVAL, -ERANGE, -E2BIG */

struct seed {
	char name[256];
	uint8_t data[FUZZ_MAX_INPUT];
	size_t size;
	int expect;
};

static struct seed seeds[MAX_SEEDS];
static int nseeds;
static uint64_t prng = PRNG_SEED;

/* xorshift64*: tiny, and the same sequence on every libc. */
static uint64_t rnd(void)
{
	prng ^= prng >> 12;
	prng ^= prng << 25;
	prng ^= prng >> 27;
	return prng * 0x2545f4914f6cdd1dull;
}

/* The seed's name says what the loader must return for it. */
static bool expected_result(const char *name, int *expect)
{
	static const struct {
		const char *prefix;
		int rc;
	} prefixes[] = {{"ok-", 0},
			{"enoexec-", -ENOEXEC},
			{"einval-", -EINVAL},
			{"erange-", -ERANGE},
			{"e2big-", -E2BIG}};

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(name, prefixes[i].prefix, strlen(prefixes[i].prefix)) == 0) {
			*expect = prefixes[i].rc;
			return true;
		}
	return false;
}

static int load_seeds(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		fprintf(stderr, "fuzz-driver: cannot open corpus %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		struct seed *s = &seeds[nseeds];
		char path[4096];
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		if (nseeds == MAX_SEEDS || !expected_result(de->d_name, &s->expect)) {
			fprintf(stderr,
				"fuzz-driver: %s/%s: too many seeds, or no "
				"ok-/enoexec-/einval-/erange-/e2big- "
				"prefix naming the expected result\n",
				dir, de->d_name);
			closedir(d);
			return -1;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		snprintf(s->name, sizeof(s->name), "%s", de->d_name);
		f = fopen(path, "rb");
		if (!f) {
			fprintf(stderr, "fuzz-driver: cannot open %s: %s\n", path, strerror(errno));
			closedir(d);
			return -1;
		}
		s->size = fread(s->data, 1, sizeof(s->data), f);
		fclose(f);
		nseeds++;
	}
	closedir(d);
	return nseeds ? 0 : -1;
}

/* The histogram slot of a result the check accepted. */
static int class_of(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case -ENOEXEC:
		return 1;
	case -EINVAL:
		return 2;
	case -ERANGE:
		return 3;
	default:
		return 4;
	}
}

static void put(uint8_t *buf, size_t len, size_t off, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width && off + i < len; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

/* One to four structure-blind edits; the interesting values aim at size and offset fields. */
static size_t mutate(uint8_t *buf, size_t len)
{
	static const uint64_t interesting[] = {
	    0,		1,	  0x7f,	    0x80,     0xff,  0xffff,	 0x7fffffff,	0x80000000,
	    0xffffffff, 0x100000, 0x10ffff, 0x110000, ~0ull, 1ull << 63, ~0ull - 0xfff, 0x38};
	int edits = 1 + rnd() % 4;

	for (int i = 0; i < edits && len; i++) {
		size_t off = rnd() % len;
		uint64_t v = interesting[rnd() % ARRAY_SIZE(interesting)];

		switch (rnd() % 6) {
		case 0:
			buf[off] ^= 1u << (rnd() % 8);
			break;
		case 1:
			buf[off] = (uint8_t)v;
			break;
		case 2:
			put(buf, len, off & ~3ul, v, 4);
			break;
		case 3:
			put(buf, len, off & ~7ul, v, 8);
			break;
		case 4:
			len = off; /* truncate */
			break;
		case 5:
			while (len < FUZZ_MAX_INPUT && off--)
				buf[len++] = (uint8_t)rnd();
			break;
		}
	}
	return len;
}

static int report(const char *what, const char *broken, int rc, const uint8_t *data, size_t size)
{
	FILE *f = fopen(CRASH_FILE, "wb");

	if (f) {
		fwrite(data, 1, size, f);
		fclose(f);
	}
	fprintf(stderr, "fuzz-driver: %s: %s (result %d); input saved to %s\n", what, broken, rc,
		CRASH_FILE);
	return 1;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : FUZZ_CORPUS_DIR;
	static uint8_t buf[FUZZ_MAX_INPUT];
	int hist[NCLASSES] = {0};
	bool seeded[NCLASSES] = {false};
	const char *broken;
	char what[320];
	int rc;

	if (load_seeds(dir))
		return 1;
	for (int i = 0; i < nseeds; i++) {
		struct seed *s = &seeds[i];

		seeded[class_of(s->expect)] = true;
		broken = FUZZ_CHECK(s->data, s->size, &rc);
		if (!broken && rc != s->expect)
			broken = "result differs from the one the seed's name expects";
		if (broken) {
			snprintf(what, sizeof(what), "seed %s (expected %d)", s->name, s->expect);
			return report(what, broken, rc, s->data, s->size);
		}
	}

	for (int m = 0; m < MUTANTS; m++) {
		struct seed *s = &seeds[rnd() % nseeds];
		size_t len;

		memcpy(buf, s->data, s->size);
		len = mutate(buf, s->size);
		broken = FUZZ_CHECK(buf, len, &rc);
		if (broken) {
			snprintf(what, sizeof(what), "mutant %d of seed %s", m, s->name);
			return report(what, broken, rc, buf, len);
		}
		hist[class_of(rc)]++;
	}
	printf("fuzz-driver: %d seeds ok; %d mutants: %d loaded, %d ENOEXEC, %d EINVAL, %d "
	       "ERANGE, %d E2BIG\n",
	       nseeds, MUTANTS, hist[0], hist[1], hist[2], hist[3], hist[4]);
	/* A class the seeds show but no mutant reaches would mean the mutator tests nothing. */
	for (size_t i = 0; i < ARRAY_SIZE(hist); i++)
		if (seeded[i] && hist[i] == 0) {
			fprintf(stderr,
				"fuzz-driver: no mutant gave result class %zu: mutator is broken\n",
				i);
			return 1;
		}
	return 0;
}
