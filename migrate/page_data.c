/* PAGE_DATA batches: zero/lz4/zlib/raw encoding, the XOR+RLE delta, the receiver's batch checks. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lz4.h>
#define ZLIB_CONST
#include <zlib.h>
#include "page_data.h"
#include "util.h"

_Static_assert(LZ4_COMPRESSBOUND(STREAM_PAGE_SIZE) == STREAM_LZ4_BOUND, "lz4 bound of a page");

/*
 * zlib level 1: on guest pages it is 3-5x faster than the default level 6 for
 * a few percent more bytes (bench/encoding-bench); zlib is for slow links, but
 * not so slow that the encoder becomes the bottleneck.
 */
#define PAGE_ZLIB_LEVEL 1
/* Raw deflate (negative window bits); a page never refers back past 4 KiB. */
#define PAGE_ZLIB_DEFLATE_BITS (-12)
#define PAGE_ZLIB_INFLATE_BITS (-15) /* accepts any raw deflate window */

#define PAGE_SLOT_MAX (sizeof(struct stream_page_header) + STREAM_LZ4_BOUND + STREAM_ALIGN)
#define BATCH_BUF_MAX (sizeof(struct stream_batch_header) + STREAM_MAX_BATCH * PAGE_SLOT_MAX)

static size_t align8(size_t n)
{
	return (n + STREAM_ALIGN - 1) & ~(size_t)(STREAM_ALIGN - 1);
}

void page_batch__init(struct page_batch *b)
{
	b->buf = NULL;
	b->len = sizeof(struct stream_batch_header);
	b->count = 0;
	b->last_pfn = 0;
}

void page_batch__dispose(struct page_batch *b)
{
	free(b->buf);
	page_batch__init(b);
}

int page_batch__add_encoded(struct page_batch *b, uint64_t pfn, uint8_t encoding, const void *data,
			    uint32_t len)
{
	struct stream_page_header h = {.pfn = pfn, .encoding = encoding, .length = len};

	if (len > STREAM_LZ4_BOUND || (b->count && pfn <= b->last_pfn))
		return -EINVAL;
	if (b->count == STREAM_MAX_BATCH)
		return -ENOSPC;
	/* One allocation of the largest batch; a sender reuses it for every batch. */
	if (!b->buf) {
		b->buf = calloc(1, BATCH_BUF_MAX);
		if (!b->buf)
			return -ENOMEM;
	}
	memcpy(b->buf + b->len, &h, sizeof(h));
	if (len) /* a zero page has no data, and may pass NULL */
		memcpy(b->buf + b->len + sizeof(h), data, len);
	memset(b->buf + b->len + sizeof(h) + len, 0, align8(len) - len);
	b->len += sizeof(h) + align8(len);
	b->count++;
	b->last_pfn = pfn;
	return 0;
}

static int is_zero(const uint8_t *page)
{
	static const uint8_t zero_page[STREAM_PAGE_SIZE];

	return memcmp(page, zero_page, STREAM_PAGE_SIZE) == 0;
}

int page_encoder__init(struct page_encoder *e, uint8_t encoding)
{
	e->encoding = encoding;
	e->z = NULL;
	if (encoding == STREAM_PAGE_LZ4 || encoding == STREAM_PAGE_RAW)
		return 0;
	if (encoding != STREAM_PAGE_ZLIB)
		return -EINVAL;
	e->z = calloc(1, sizeof(*e->z));
	if (!e->z)
		return -ENOMEM;
	if (deflateInit2(e->z, PAGE_ZLIB_LEVEL, Z_DEFLATED, PAGE_ZLIB_DEFLATE_BITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(e->z);
		e->z = NULL;
		return -ENOMEM;
	}
	return 0;
}

void page_encoder__dispose(struct page_encoder *e)
{
	if (e->z) {
		deflateEnd(e->z);
		free(e->z);
	}
	e->z = NULL;
}

/* The lz4 block of page if shorter than a page, else 0. */
static uint32_t compress_lz4(const uint8_t *page, uint8_t *out)
{
	int n = LZ4_compress_default((const char *)page, (char *)out, STREAM_PAGE_SIZE,
				     STREAM_LZ4_BOUND);

	return n > 0 && (unsigned)n < STREAM_PAGE_SIZE ? (uint32_t)n : 0;
}

/* The raw deflate of page if shorter than a page, else 0. */
static uint32_t compress_zlib(z_stream *z, const uint8_t *page, uint8_t *out)
{
	if (deflateReset(z) != Z_OK)
		return 0;
	z->next_in = page;
	z->avail_in = STREAM_PAGE_SIZE;
	z->next_out = out;
	z->avail_out = STREAM_PAGE_SIZE - 1;
	if (deflate(z, Z_FINISH) != Z_STREAM_END) /* out of room: no shorter than raw */
		return 0;
	return STREAM_PAGE_SIZE - 1 - z->avail_out;
}

int page_encoder__encode(struct page_encoder *e, const uint8_t *page, uint8_t *scratch,
			 const uint8_t **data, uint32_t *len)
{
	uint32_t n = 0;

	if (is_zero(page)) {
		*data = NULL;
		*len = 0;
		return STREAM_PAGE_ZERO;
	}
	if (e->encoding == STREAM_PAGE_LZ4)
		n = compress_lz4(page, scratch);
	else if (e->encoding == STREAM_PAGE_ZLIB)
		n = compress_zlib(e->z, page, scratch);
	if (n) {
		*data = scratch;
		*len = n;
		return e->encoding;
	}
	*data = page;
	*len = STREAM_PAGE_SIZE;
	return STREAM_PAGE_RAW;
}

int page_batch__add(struct page_batch *b, uint64_t pfn, const uint8_t *page)
{
	struct page_encoder lz4 = {.encoding = STREAM_PAGE_LZ4}; /* lz4 keeps no state */
	uint8_t scratch[STREAM_LZ4_BOUND];
	const uint8_t *data;
	uint32_t len;
	int enc = page_encoder__encode(&lz4, page, scratch, &data, &len);

	return page_batch__add_encoded(b, pfn, (uint8_t)enc, data, len);
}

int page_batch__write(struct page_batch *b, struct stream_writer *w)
{
	struct stream_batch_header h = {.count = b->count};
	const void *part = b->buf;
	size_t len = b->len;
	int rc;

	if (!b->count)
		return 0;
	memcpy(b->buf, &h, sizeof(h));
	rc = stream_writer__record(w, STREAM_REC_PAGE_DATA, &part, &len, 1);
	b->len = sizeof(h);
	b->count = 0;
	return rc;
}

static size_t put_uleb(uint8_t *out, unsigned v)
{
	if (v < 0x80) {
		out[0] = (uint8_t)v;
		return 1;
	}
	out[0] = (uint8_t)(0x80 | (v & 0x7f));
	out[1] = (uint8_t)(v >> 7);
	return 2;
}

int page_data__delta_encode(const uint8_t *old, const uint8_t *page, uint8_t *out)
{
	const size_t cap = STREAM_PAGE_SIZE - 1;
	size_t o = 0, i = 0;

	while (i < STREAM_PAGE_SIZE) {
		size_t start = i, run_start;

		while (i < STREAM_PAGE_SIZE && old[i] == page[i])
			i++;
		if (i == STREAM_PAGE_SIZE)
			break;
		run_start = i;
		while (i < STREAM_PAGE_SIZE && old[i] != page[i])
			i++;
		/* Two uleb128s of at most 2 bytes each, then the run. */
		if (o + 4 + (i - run_start) > cap)
			return -ENOSPC;
		o += put_uleb(out + o, (unsigned)(run_start - start));
		o += put_uleb(out + o, (unsigned)(i - run_start));
		for (size_t k = run_start; k < i; k++)
			out[o++] = old[k] ^ page[k];
	}
	return (int)o;
}

/* A uleb128 of one or two bytes; returns its length or 0 when malformed or cut short. */
static size_t get_uleb(const uint8_t *in, size_t left, unsigned *v)
{
	if (left < 1)
		return 0;
	*v = in[0] & 0x7f;
	if (!(in[0] & 0x80))
		return 1;
	if (left < 2 || (in[1] & 0x80))
		return 0;
	*v |= (unsigned)in[1] << 7;
	return 2;
}

/* Walks a delta; with dst, XORs it in.  Returns NULL or what is wrong with it. */
static const char *delta_walk(const uint8_t *d, uint32_t len, uint8_t *dst)
{
	size_t i = 0, pos = 0;

	while (i < len) {
		unsigned skip, run;
		size_t n = get_uleb(d + i, len - i, &skip);

		if (!n)
			return "malformed skip length";
		i += n;
		n = get_uleb(d + i, len - i, &run);
		if (!n)
			return "malformed run length";
		i += n;
		if (run == 0)
			return "empty run";
		if (skip > STREAM_PAGE_SIZE - pos || run > STREAM_PAGE_SIZE - pos - skip)
			return "runs past the end of the page";
		if (run > len - i)
			return "run longer than the data left";
		pos += skip;
		if (dst)
			for (unsigned k = 0; k < run; k++)
				dst[pos + k] ^= d[i + k];
		pos += run;
		i += run;
	}
	return NULL;
}

/* What is wrong with one page's header and data, or NULL. */
static const char *check_page(const struct stream_page_header *h, const uint8_t *data)
{
	if (h->reserved[0] || h->reserved[1] || h->reserved[2])
		return "reserved bytes are not zero";
	switch (h->encoding) {
	case STREAM_PAGE_RAW:
		return h->length == STREAM_PAGE_SIZE ? NULL : "raw page is not 4096 bytes";
	case STREAM_PAGE_ZERO:
		return h->length == 0 ? NULL : "zero page carries data";
	case STREAM_PAGE_LZ4:
		return h->length > 0 && h->length <= STREAM_LZ4_BOUND ? NULL
								      : "lz4 length out of range";
	case STREAM_PAGE_DELTA:
		if (h->length == 0 || h->length >= STREAM_PAGE_SIZE)
			return "delta length out of range";
		return delta_walk(data, h->length, NULL);
	case STREAM_PAGE_ZLIB:
		return h->length > 0 && h->length < STREAM_PAGE_SIZE ? NULL
								     : "zlib length out of range";
	default:
		return "unknown encoding";
	}
}

int page_data__check(const uint8_t *body, uint32_t len, uint64_t guest_pages, char *err,
		     size_t errlen)
{
	struct stream_batch_header bh;
	size_t off = sizeof(bh);
	uint64_t prev = 0;

	if (len < sizeof(bh))
		return util__fail(err, errlen, -EBADMSG,
				  "PAGE_DATA: %u bytes, shorter than its header", len);
	memcpy(&bh, body, sizeof(bh));
	if (bh.count == 0 || bh.count > STREAM_MAX_BATCH)
		return util__fail(err, errlen, -EBADMSG,
				  "PAGE_DATA: %u pages, not between 1 and %u", bh.count,
				  STREAM_MAX_BATCH);
	if (bh.reserved)
		return util__fail(err, errlen, -EBADMSG, "PAGE_DATA: reserved field is not zero");
	for (uint32_t i = 0; i < bh.count; i++) {
		struct stream_page_header h;
		const char *why;
		size_t padded;

		if (len - off < sizeof(h))
			return util__fail(err, errlen, -EBADMSG,
					  "PAGE_DATA: page %u of %u: body ends inside its header",
					  i, bh.count);
		memcpy(&h, body + off, sizeof(h));
		off += sizeof(h);
		if (h.pfn >= guest_pages)
			return util__fail(
			    err, errlen, -EBADMSG,
			    "PAGE_DATA: page %u: pfn 0x%llx beyond the guest's %llu pages; "
			    "is the destination VM smaller than the source?",
			    i, (unsigned long long)h.pfn, (unsigned long long)guest_pages);
		if (i && h.pfn <= prev)
			return util__fail(
			    err, errlen, -EBADMSG,
			    "PAGE_DATA: page %u: pfn 0x%llx after pfn 0x%llx; pfns in a "
			    "batch must increase",
			    i, (unsigned long long)h.pfn, (unsigned long long)prev);
		prev = h.pfn;
		if (h.length > len - off)
			return util__fail(err, errlen, -EBADMSG,
					  "PAGE_DATA: page %u (pfn 0x%llx): %u bytes of data, "
					  "only %zu left in the record",
					  i, (unsigned long long)h.pfn, h.length, len - off);
		why = check_page(&h, body + off);
		if (why)
			return util__fail(err, errlen, -EBADMSG,
					  "PAGE_DATA: page %u (pfn 0x%llx): %s", i,
					  (unsigned long long)h.pfn, why);
		padded = align8(h.length);
		if (padded > len - off)
			return util__fail(err, errlen, -EBADMSG,
					  "PAGE_DATA: page %u: body ends inside its padding", i);
		for (size_t k = h.length; k < padded; k++)
			if (body[off + k])
				return util__fail(err, errlen, -EBADMSG,
						  "PAGE_DATA: page %u: non-zero padding", i);
		off += padded;
	}
	if (off != len)
		return util__fail(err, errlen, -EBADMSG, "PAGE_DATA: %zu bytes left after %u pages",
				  len - off, bh.count);
	return (int)bh.count;
}

/* Inflates one raw deflate block that must give exactly one page and use all its input. */
static bool inflate_page(z_stream *z, const uint8_t *in, uint32_t len, uint8_t *out)
{
	if (inflateReset(z) != Z_OK)
		return false;
	z->next_in = in;
	z->avail_in = len;
	z->next_out = out;
	z->avail_out = STREAM_PAGE_SIZE;
	return inflate(z, Z_FINISH) == Z_STREAM_END && z->avail_out == 0 && z->avail_in == 0;
}

int page_data__apply(const uint8_t *body, uint32_t len, uint64_t guest_pages,
		     page_data_dest_fn dest, void *ctx, char *err, size_t errlen)
{
	int count = page_data__check(body, len, guest_pages, err, errlen);
	size_t off = sizeof(struct stream_batch_header);
	z_stream z = {.zalloc = Z_NULL};
	bool z_ready = false;
	int rc = count;

	if (count < 0)
		return count;
	for (int i = 0; i < count; i++) {
		struct stream_page_header h;
		uint8_t tmp[STREAM_PAGE_SIZE];
		const char *bad = NULL;
		uint8_t *page;

		memcpy(&h, body + off, sizeof(h));
		off += sizeof(h);
		page = dest(ctx, h.pfn, h.encoding == STREAM_PAGE_DELTA);
		if (!page) {
			snprintf(err, errlen, "PAGE_DATA: page %d: pfn 0x%llx refused%s", i,
				 (unsigned long long)h.pfn,
				 h.encoding == STREAM_PAGE_DELTA
				     ? ": a delta for a page this stream has not sent"
				     : "");
			rc = -EBADMSG;
			goto out;
		}
		switch (h.encoding) {
		case STREAM_PAGE_RAW:
			memcpy(page, body + off, STREAM_PAGE_SIZE);
			break;
		case STREAM_PAGE_ZERO:
			memset(page, 0, STREAM_PAGE_SIZE);
			break;
		case STREAM_PAGE_LZ4:
			/* Into a scratch page, so a bad block leaves the guest's page whole. */
			if (LZ4_decompress_safe((const char *)body + off, (char *)tmp,
						(int)h.length,
						STREAM_PAGE_SIZE) != (int)STREAM_PAGE_SIZE)
				bad = "lz4";
			else
				memcpy(page, tmp, STREAM_PAGE_SIZE);
			break;
		case STREAM_PAGE_ZLIB:
			/* One inflate state per batch, made at its first zlib page. */
			if (!z_ready && inflateInit2(&z, PAGE_ZLIB_INFLATE_BITS) != Z_OK) {
				snprintf(err, errlen, "PAGE_DATA: page %d: out of memory for zlib",
					 i);
				rc = -ENOMEM;
				goto out;
			}
			z_ready = true;
			if (!inflate_page(&z, body + off, h.length, tmp))
				bad = "zlib";
			else
				memcpy(page, tmp, STREAM_PAGE_SIZE);
			break;
		case STREAM_PAGE_DELTA:
			delta_walk(body + off, h.length, page); /* checked above */
			break;
		}
		if (bad) {
			snprintf(err, errlen,
				 "PAGE_DATA: page %d (pfn 0x%llx): %s block does not decompress to "
				 "one page",
				 i, (unsigned long long)h.pfn, bad);
			rc = -EBADMSG;
			goto out;
		}
		off += align8(h.length);
	}
out:
	if (z_ready)
		inflateEnd(&z);
	return rc;
}
