/* The direct-mapped cache of pages last sent (page_cache.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "page_cache.h"
#include "stream_format.h"

void page_cache__init(struct page_cache *c)
{
	c->nslots = 0;
	c->tags = NULL;
	c->pages = NULL;
}

int page_cache__alloc(struct page_cache *c, uint64_t bytes)
{
	uint64_t n = bytes / STREAM_PAGE_SIZE;

	page_cache__dispose(c);
	if (n == 0)
		return -EINVAL;
	c->tags = calloc(n, sizeof(*c->tags));
	c->pages = malloc(n * STREAM_PAGE_SIZE); /* untouched slots cost no host memory */
	if (!c->tags || !c->pages) {
		page_cache__dispose(c);
		return -ENOMEM;
	}
	c->nslots = n;
	return 0;
}

void page_cache__dispose(struct page_cache *c)
{
	free(c->tags);
	free(c->pages);
	page_cache__init(c);
}

const uint8_t *page_cache__lookup(const struct page_cache *c, uint64_t pfn)
{
	uint64_t slot;

	if (!c->nslots)
		return NULL;
	slot = pfn % c->nslots;
	return c->tags[slot] == pfn + 1 ? c->pages + slot * STREAM_PAGE_SIZE : NULL;
}

void page_cache__insert(struct page_cache *c, uint64_t pfn, const uint8_t *page)
{
	uint64_t slot;

	if (!c->nslots)
		return;
	slot = pfn % c->nslots;
	memcpy(c->pages + slot * STREAM_PAGE_SIZE, page, STREAM_PAGE_SIZE);
	c->tags[slot] = pfn + 1;
}
