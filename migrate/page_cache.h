/* The sender's bounded cache of pages as last sent, the base of delta encoding (XBZRLE-like). */
#ifndef MIGRATE_PAGE_CACHE_H
#define MIGRATE_PAGE_CACHE_H

#include <stdint.h>

/*
 * Direct-mapped: pfn lives in slot pfn % nslots, and an insert evicts
 * whatever shared that slot.  A contiguous working set no larger than the
 * cache never collides, there is no metadata beyond one tag per slot, and a
 * lookup or insert is O(1).  A working set larger than the cache thrashes,
 * as it would under LRU with the cyclic access of a dirty round.
 */
struct page_cache {
	uint64_t nslots;
	uint64_t *tags; /* pfn + 1 of each slot's page; 0: empty */
	uint8_t *pages; /* nslots x STREAM_PAGE_SIZE */
};

/* Idempotent init/dispose pair; an empty cache holds nothing.  alloc: bytes / 4096 slots,
   -EINVAL below one page, -ENOMEM. */
void page_cache__init(struct page_cache *c);
int page_cache__alloc(struct page_cache *c, uint64_t bytes);
void page_cache__dispose(struct page_cache *c);
/* pfn's page as last inserted, or NULL if it was never inserted or has been evicted. */
const uint8_t *page_cache__lookup(const struct page_cache *c, uint64_t pfn);
/* Stores a copy of page as pfn's, evicting the slot's previous page. */
void page_cache__insert(struct page_cache *c, uint64_t pfn, const uint8_t *page);

#endif
