/* PAGE_DATA batches (STREAM.md): built page by page on the sender, checked whole on the receiver.
 */
#ifndef MIGRATE_PAGE_DATA_H
#define MIGRATE_PAGE_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "stream.h"

struct z_stream_s; /* zlib's z_stream */

struct page_batch {
	uint8_t *buf; /* batch header, then pages; NULL until the first add */
	size_t len;
	uint32_t count;
	uint64_t last_pfn;
};

/* Idempotent pair. */
void page_batch__init(struct page_batch *b);
void page_batch__dispose(struct page_batch *b);
/*
 * A sender's per-page compressor: zero, then its compression (lz4, zlib, or
 * none), then raw, whichever is shortest.  zlib keeps one deflate state, so an
 * encoder belongs to one thread.
 */
struct page_encoder {
	uint8_t encoding;     /* STREAM_PAGE_LZ4, STREAM_PAGE_ZLIB, or STREAM_PAGE_RAW for none */
	struct z_stream_s *z; /* zlib only */
};

/* Idempotent pair; init: 0, -EINVAL (another encoding) or -ENOMEM. */
int page_encoder__init(struct page_encoder *e, uint8_t encoding);
void page_encoder__dispose(struct page_encoder *e);
/*
 * Encodes page: returns its encoding, with *data and *len the bytes to send
 * (scratch, STREAM_LZ4_BOUND bytes, holds compressed data; raw points at page;
 * zero has none).
 */
int page_encoder__encode(struct page_encoder *e, const uint8_t *page, uint8_t *scratch,
			 const uint8_t **data, uint32_t *len);

/* One guest page, sent as zero, lz4 or raw, whichever is shortest.  -ENOSPC when full. */
int page_batch__add(struct page_batch *b, uint64_t pfn, const uint8_t *page);
/* A page already encoded (a delta, say); pfns must increase.  -EINVAL, -ENOSPC. */
int page_batch__add_encoded(struct page_batch *b, uint64_t pfn, uint8_t encoding, const void *data,
			    uint32_t len);
/* Writes the batch as one PAGE_DATA record and empties it; an empty batch writes nothing. */
int page_batch__write(struct page_batch *b, struct stream_writer *w);

/*
 * The XOR+RLE delta of page against old into out (at most STREAM_PAGE_SIZE - 1
 * bytes): its length, or -ENOSPC when a delta would not be shorter than a raw page.
 */
int page_data__delta_encode(const uint8_t *old, const uint8_t *page, uint8_t *out);

/*
 * Checks a PAGE_DATA body against every batch rule for a guest of guest_pages
 * pages.  Returns the page count, or -EBADMSG with err set.
 */
int page_data__check(const uint8_t *body, uint32_t len, uint64_t guest_pages, char *err,
		     size_t errlen);

/*
 * Where page pfn goes: the guest's page, or NULL to refuse it.  for_delta says
 * the page will be patched in place, so it must hold the last copy sent.
 */
typedef uint8_t *(*page_data_dest_fn)(void *ctx, uint64_t pfn, int for_delta);

/*
 * Checks the whole batch, then decodes each page into dest(pfn).  Returns the
 * page count or -errno with err set; a bad lz4 or zlib block or a refused page
 * stops it with the earlier pages of the batch already written.
 */
int page_data__apply(const uint8_t *body, uint32_t len, uint64_t guest_pages,
		     page_data_dest_fn dest, void *ctx, char *err, size_t errlen);

#endif
