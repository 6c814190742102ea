/* make-check driver for a struct fuzz_target: its seed corpus, then fixed pseudo-random mutants. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_target.h"

#define MAX_SEEDS   64
#define MAX_CLASSES 8
#define MUTANTS	    20000
#define PRNG_SEED   0x5477696e2d4e4554ull /* fixed: every run tries the same mutants */

struct seed {
	char name[256];
	uint8_t data[FUZZ_INPUT_CAP];
	size_t size;
	int cls;
};

static struct seed seeds[MAX_SEEDS];
static int nseeds;
static size_t max_input;
static uint64_t prng = PRNG_SEED;

/* xorshift64*: tiny, and the same sequence on every libc. */
static uint64_t rnd(void)
{
	prng ^= prng >> 12;
	prng ^= prng << 25;
	prng ^= prng >> 27;
	return prng * 0x2545f4914f6cdd1dull;
}

static int class_of_name(const char *name)
{
	for (int i = 0; i < fuzz_target.nclasses; i++)
		if (strncmp(name, fuzz_target.classes[i], strlen(fuzz_target.classes[i])) == 0)
			return i;
	return -1;
}

static int seed_order(const void *a, const void *b)
{
	return strcmp(((const struct seed *)a)->name, ((const struct seed *)b)->name);
}

static int load_seeds(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		fprintf(stderr, "fuzz %s: cannot open corpus %s: %s\n", fuzz_target.name, dir,
			strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		struct seed *s = &seeds[nseeds];
		char path[4096];
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		if (nseeds == MAX_SEEDS || (s->cls = class_of_name(de->d_name)) < 0) {
			fprintf(stderr,
				"fuzz %s: %s/%s: too many seeds, or no prefix naming its class "
				"(rename it)\n",
				fuzz_target.name, dir, de->d_name);
			closedir(d);
			return -1;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		snprintf(s->name, sizeof(s->name), "%s", de->d_name);
		f = fopen(path, "rb");
		if (!f) {
			fprintf(stderr, "fuzz %s: cannot open %s: %s\n", fuzz_target.name, path,
				strerror(errno));
			closedir(d);
			return -1;
		}
		s->size = fread(s->data, 1, max_input + 1, f);
		fclose(f);
		if (s->size > max_input) {
			fprintf(stderr, "fuzz %s: %s is larger than the target's %zu-byte inputs\n",
				fuzz_target.name, path, max_input);
			closedir(d);
			return -1;
		}
		nseeds++;
	}
	closedir(d);
	/* readdir order differs between file systems; targets may keep state across inputs. */
	qsort(seeds, nseeds, sizeof(seeds[0]), seed_order);
	return nseeds ? 0 : -1;
}

static void put_le(uint8_t *buf, size_t off, uint64_t v, size_t width)
{
	for (size_t i = 0; i < width; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

/*
 * One to four structure-blind edits: bit flips, boundary bytes and big-endian words, cuts,
 * random tails, and the target's own little-endian field values if it names any.
 */
static size_t mutate(uint8_t *buf, size_t len)
{
	static const uint16_t interesting[] = {0,      1,      0x7f,   0x80, 0xff,   0xffff, 0x0800,
					       0x0806, 0x4000, 0x2000, 0x45, 0x1e61, ' ',    '9'};
	int edits = 1 + rnd() % 4;

	for (int i = 0; i < edits && len; i++) {
		size_t off = rnd() % len;
		uint16_t v = interesting[rnd() % (sizeof(interesting) / sizeof(interesting[0]))];

		/* Six edit kinds without words, so those targets keep their mutants. */
		switch (rnd() % (fuzz_target.nwords ? 7 : 6)) {
		case 0:
			buf[off] ^= 1u << (rnd() % 8);
			break;
		case 1:
			buf[off] = (uint8_t)v;
			break;
		case 2:
			buf[off] = (uint8_t)(v >> 8);
			if (off + 1 < len)
				buf[off + 1] = (uint8_t)v;
			break;
		case 3:
			buf[off] = (uint8_t)rnd();
			break;
		case 4:
			len = off; /* truncate */
			break;
		case 5:
			while (len < max_input && off--)
				buf[len++] = (uint8_t)rnd();
			break;
		case 6: {
			size_t width = (size_t)2 << (rnd() % 3);

			if ((off & ~(width - 1)) + width <= len)
				put_le(buf, off & ~(width - 1),
				       fuzz_target.words[rnd() % fuzz_target.nwords], width);
			break;
		}
		}
	}
	return len;
}

static int report(const char *what, const char *broken, const uint8_t *data, size_t size)
{
	char file[128];
	FILE *f;

	snprintf(file, sizeof(file), "fuzz-%s-failure.bin", fuzz_target.name);
	f = fopen(file, "wb");
	if (f) {
		fwrite(data, 1, size, f);
		fclose(f);
	}
	fprintf(stderr, "fuzz %s: %s: %s; input saved to %s\n", fuzz_target.name, what, broken,
		file);
	return 1;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : FUZZ_CORPUS_DIR;
	static uint8_t buf[FUZZ_INPUT_CAP];
	int hist[MAX_CLASSES] = {0};
	const char *broken;
	char what[320];
	int cls;

	max_input = fuzz_target.max_input ? fuzz_target.max_input : FUZZ_DEFAULT_MAX_INPUT;
	if (fuzz_target.nclasses > MAX_CLASSES || max_input > FUZZ_INPUT_CAP) {
		fprintf(stderr,
			"fuzz %s: over %d classes or %u-byte inputs: raise the driver's limits\n",
			fuzz_target.name, MAX_CLASSES, FUZZ_INPUT_CAP);
		return 1;
	}
	if (load_seeds(dir))
		return 1;
	for (int i = 0; i < nseeds; i++) {
		struct seed *s = &seeds[i];

		cls = -1;
		broken = fuzz_target.check(s->data, s->size, &cls);
		if (!broken && cls != s->cls)
			broken = "class differs from the one the seed's name announces";
		if (broken) {
			snprintf(what, sizeof(what), "seed %s (class %d)", s->name, cls);
			return report(what, broken, s->data, s->size);
		}
	}
	for (int m = 0; m < MUTANTS; m++) {
		struct seed *s = &seeds[rnd() % nseeds];
		size_t len;

		memcpy(buf, s->data, s->size);
		len = mutate(buf, s->size);
		cls = -1;
		broken = fuzz_target.check(buf, len, &cls);
		if (!broken && (cls < 0 || cls >= fuzz_target.nclasses))
			broken = "class out of range";
		if (broken) {
			snprintf(what, sizeof(what), "mutant %d of seed %s", m, s->name);
			return report(what, broken, buf, len);
		}
		hist[cls]++;
	}
	printf("fuzz %s: %d seeds ok; %d mutants:", fuzz_target.name, nseeds, MUTANTS);
	for (int i = 0; i < fuzz_target.nclasses; i++)
		printf(" %d %s", hist[i], fuzz_target.classes[i]);
	printf("\n");
	/* A class no mutant reaches would mean the mutator tests less than it seems. */
	for (int i = 0; i < fuzz_target.nclasses; i++)
		if (hist[i] == 0) {
			fprintf(stderr, "fuzz %s: no mutant gave class %s: mutator is broken\n",
				fuzz_target.name, fuzz_target.classes[i]);
			return 1;
		}
	return 0;
}
