/* PAGE_DATA encodings compared on guest-like pages: wire bytes, encode and decode speed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define ZLIB_CONST
#include <zlib.h>
#include "page_data.h"

#define NPAGES	    4096		  /* 16 MiB a data set */
#define RUNS	    5			  /* best of: the host is shared */
#define PATTERN_MUL 0x9e3779b97f4a7c15ULL /* memwriter's (tests/guests/memwriter.c) */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* memwriter: word 0 the iteration, word i iteration * PATTERN_MUL + i. */
static void page_memwriter(uint8_t *p, uint64_t n, uint64_t iter)
{
	uint64_t *w = (uint64_t *)p;

	for (unsigned int i = 1; i < STREAM_PAGE_SIZE / 8; i++)
		w[i] = iter * PATTERN_MUL + i;
	w[0] = iter; /* every page alike, as in the guest */
}

/* Text: words drawn at random, as in a page cache or a log. */
static void page_text(uint8_t *p, uint64_t n, uint64_t iter)
{
	static const char *const words[] = {"the ",	"migration ", "of ",	"a ",	 "guest ",
					    "page ",	"dirty ",     "round ", "and ",	 "kernel ",
					    "buffer\n", "error: ",    "42 ",	"0x1f ", "to "};
	size_t o = 0;

	while (o < STREAM_PAGE_SIZE) {
		const char *w = words[next_rand() % (sizeof(words) / sizeof(words[0]))];
		size_t l = strlen(w);

		if (l > STREAM_PAGE_SIZE - o)
			l = STREAM_PAGE_SIZE - o;
		memcpy(p + o, w, l);
		o += l;
	}
}

/* Zero-ish: a few scattered words set, as in page tables, bss and fresh heap. */
static void page_sparse(uint8_t *p, uint64_t n, uint64_t iter)
{
	memset(p, 0, STREAM_PAGE_SIZE);
	for (int k = 0; k < 8; k++)
		((uint64_t *)p)[next_rand() % (STREAM_PAGE_SIZE / 8)] = next_rand();
}

/* Incompressible: encrypted or already compressed data. */
static void page_random(uint8_t *p, uint64_t n, uint64_t iter)
{
	for (unsigned int i = 0; i < STREAM_PAGE_SIZE / 8; i++)
		((uint64_t *)p)[i] = next_rand();
}

/* Code and data: this program's own image, page by page. */
static uint8_t *exe;
static size_t exe_pages;

static void page_code(uint8_t *p, uint64_t n, uint64_t iter)
{
	memcpy(p, exe + (n % exe_pages) * STREAM_PAGE_SIZE, STREAM_PAGE_SIZE);
}

struct data_set {
	const char *name;
	void (*make)(uint8_t *p, uint64_t n, uint64_t iter);
	/* The same page dirtied again: the resend a delta is for. */
	void (*update)(uint8_t *p, uint64_t n);
};

static void update_memwriter(uint8_t *p, uint64_t n)
{
	page_memwriter(p, n, ((uint64_t *)p)[0] + 1); /* the next iteration rewrites it all */
}

static void update_counters(uint8_t *p, uint64_t n)
{
	for (int k = 0; k < 4; k++) /* a few counters bumped */
		((uint64_t *)p)[(n * 7 + (uint64_t)k * 61) % (STREAM_PAGE_SIZE / 8)]++;
}

static const struct data_set sets[] = {
    {"memwriter", page_memwriter, update_memwriter}, {"text", page_text, update_counters},
    {"zero-ish", page_sparse, update_counters},	     {"code", page_code, update_counters},
    {"random", page_random, update_counters},
};

struct result {
	uint64_t bytes; /* on the wire: page headers, data and padding */
	double enc_mbs, dec_mbs;
};

static uint8_t *guest_out;

static uint8_t *to_out(void *ctx, uint64_t pfn, int for_delta)
{
	return guest_out + pfn * STREAM_PAGE_SIZE;
}

/* Decodes the batches in bufs (n pages), as a receiver does, returning ns. */
static uint64_t decode(uint8_t **bufs, size_t *lens, int nbatches)
{
	uint64_t t0 = now_ns();
	char err[256];

	for (int b = 0; b < nbatches; b++)
		if (page_data__apply(bufs[b], (uint32_t)lens[b], NPAGES, to_out, NULL, err,
				     sizeof(err)) < 0) {
			fprintf(stderr, "encoding-bench: decode failed: %s\n", err);
			exit(1);
		}
	return now_ns() - t0;
}

/* Encodes pages (olds: the receiver's copies, for delta) with one encoding; checks the decode. */
static struct result run(const uint8_t *pages, const uint8_t *olds, int codec, int zlevel)
{
	static uint8_t scratch[STREAM_LZ4_BOUND], delta[STREAM_PAGE_SIZE];
	const int nbatches = NPAGES / STREAM_MAX_BATCH;
	struct page_batch batches[NPAGES / STREAM_MAX_BATCH];
	uint8_t *bufs[NPAGES / STREAM_MAX_BATCH];
	size_t lens[NPAGES / STREAM_MAX_BATCH];
	struct result r = {0};
	uint64_t best_enc = UINT64_MAX, best_dec = UINT64_MAX;
	struct page_encoder enc;
	z_stream z = {.zalloc = Z_NULL};

	if (page_encoder__init(&enc, codec == STREAM_PAGE_DELTA ? STREAM_PAGE_LZ4 : (uint8_t)codec))
		exit(1);
	if (zlevel && deflateInit2(&z, zlevel, Z_DEFLATED, -12, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		exit(1);
	for (int i = 0; i < nbatches; i++)
		page_batch__init(&batches[i]);
	for (int run = 0; run < RUNS; run++) {
		uint64_t t0 = now_ns(), t;

		r.bytes = 0;
		for (uint64_t n = 0; n < NPAGES; n++) {
			const uint8_t *p = pages + n * STREAM_PAGE_SIZE, *data;
			struct page_batch *b = &batches[n / STREAM_MAX_BATCH];
			uint32_t len;
			int e = page_encoder__encode(&enc, p, scratch, &data, &len);

			if (zlevel &&
			    e != STREAM_PAGE_ZERO) { /* another zlib level, for comparison */
				deflateReset(&z);
				z.next_in = p;
				z.avail_in = STREAM_PAGE_SIZE;
				z.next_out = scratch;
				z.avail_out = STREAM_PAGE_SIZE - 1;
				if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
					e = STREAM_PAGE_ZLIB;
					data = scratch;
					len = STREAM_PAGE_SIZE - 1 - z.avail_out;
				}
			}
			if (codec == STREAM_PAGE_DELTA) { /* as send.c: delta when shorter */
				int d =
				    page_data__delta_encode(olds + n * STREAM_PAGE_SIZE, p, delta);

				if (d > 0 && (uint32_t)d < len) {
					e = STREAM_PAGE_DELTA;
					data = delta;
					len = (uint32_t)d;
				}
			}
			if (page_batch__add_encoded(b, n, (uint8_t)e, data, len))
				exit(1);
		}
		t = now_ns() - t0;
		best_enc = t < best_enc ? t : best_enc;
		for (int i = 0; i < nbatches; i++) {
			struct stream_batch_header h = {.count = batches[i].count};

			memcpy(batches[i].buf, &h, sizeof(h)); /* as page_batch__write does */
			bufs[i] = batches[i].buf;
			lens[i] = batches[i].len;
			r.bytes += batches[i].len;
		}
		memcpy(guest_out, olds, (size_t)NPAGES * STREAM_PAGE_SIZE);
		t = decode(bufs, lens, nbatches);
		best_dec = t < best_dec ? t : best_dec;
		if (memcmp(guest_out, pages, (size_t)NPAGES * STREAM_PAGE_SIZE)) {
			fprintf(stderr, "encoding-bench: decoded pages differ\n");
			exit(1);
		}
		for (int i = 0; i < nbatches; i++) { /* empty for the next run */
			batches[i].len = sizeof(struct stream_batch_header);
			batches[i].count = 0;
		}
	}
	for (int i = 0; i < nbatches; i++)
		page_batch__dispose(&batches[i]);
	page_encoder__dispose(&enc);
	if (zlevel)
		deflateEnd(&z);
	r.enc_mbs = (double)NPAGES * STREAM_PAGE_SIZE / 1048576.0 / ((double)best_enc / 1e9);
	r.dec_mbs = (double)NPAGES * STREAM_PAGE_SIZE / 1048576.0 / ((double)best_dec / 1e9);
	return r;
}

static int load_exe(void)
{
	FILE *f = fopen("/proc/self/exe", "rb");
	long size;

	if (!f)
		return -errno;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	exe_pages = (size_t)size / STREAM_PAGE_SIZE;
	exe = malloc(exe_pages * STREAM_PAGE_SIZE);
	if (!exe_pages || !exe || fread(exe, STREAM_PAGE_SIZE, exe_pages, f) != exe_pages) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return 0;
}

int main(void)
{
	static const struct {
		const char *name;
		int codec, zlevel;
	} codecs[] = {
	    {"none", STREAM_PAGE_RAW, 0},	 {"lz4", STREAM_PAGE_LZ4, 0},
	    {"zlib-1", STREAM_PAGE_ZLIB, 0},	 {"zlib-6", STREAM_PAGE_RAW, 6},
	    {"lz4+delta", STREAM_PAGE_DELTA, 0},
	};
	size_t bytes = (size_t)NPAGES * STREAM_PAGE_SIZE;
	uint8_t *pages = malloc(bytes), *olds = malloc(bytes);

	guest_out = malloc(bytes);
	if (!pages || !olds || !guest_out || load_exe()) {
		fprintf(stderr, "encoding-bench: out of memory, or /proc/self/exe unreadable\n");
		return 1;
	}
	printf("PAGE_DATA encodings, %d pages a set, best of %d runs; bytes/page on the wire "
	       "(16-byte page header and padding included)\n",
	       NPAGES, RUNS);
	printf("%-10s %-10s %10s %7s %10s %10s\n", "pages", "encoding", "bytes/page", "ratio",
	       "enc MB/s", "dec MB/s");
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		for (uint64_t n = 0; n < NPAGES; n++) {
			sets[s].make(olds + n * STREAM_PAGE_SIZE, n, 7);
			memcpy(pages + n * STREAM_PAGE_SIZE, olds + n * STREAM_PAGE_SIZE,
			       STREAM_PAGE_SIZE);
			sets[s].update(pages + n * STREAM_PAGE_SIZE, n);
		}
		for (size_t c = 0; c < sizeof(codecs) / sizeof(codecs[0]); c++) {
			struct result r = run(pages, olds, codecs[c].codec, codecs[c].zlevel);
			double per_page = (double)r.bytes / NPAGES;

			printf("%-10s %-10s %10.0f %6.2fx %10.0f %10.0f\n", sets[s].name,
			       codecs[c].name, per_page, STREAM_PAGE_SIZE / per_page, r.enc_mbs,
			       r.dec_mbs);
		}
	}
	free(pages);
	free(olds);
	free(guest_out);
	free(exe);
	return 0;
}
