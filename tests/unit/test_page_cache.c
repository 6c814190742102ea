/* The delta cache: hits, direct-mapped eviction, bounds, and deltas against what it holds. */
#include <errno.h>
#include <string.h>
#include "page_cache.h"
#include "page_data.h"
#include "suites.h"

static void fill(uint8_t *page, uint8_t v)
{
	memset(page, v, STREAM_PAGE_SIZE);
}

/* A page comes back as inserted, a copy (the caller's buffer may change), until evicted. */
START_TEST(test_insert_lookup)
{
	struct page_cache c;
	uint8_t page[STREAM_PAGE_SIZE];

	page_cache__init(&c);
	ck_assert_ptr_null(page_cache__lookup(&c, 0)); /* empty: holds nothing */
	ck_assert_int_eq(page_cache__alloc(&c, 4 * STREAM_PAGE_SIZE), 0);
	ck_assert_uint_eq(c.nslots, 4);
	ck_assert_ptr_null(page_cache__lookup(&c, 0)); /* pfn 0 is not "empty slot" */
	fill(page, 0xa5);
	page_cache__insert(&c, 7, page);
	fill(page, 0x11);
	ck_assert_ptr_nonnull(page_cache__lookup(&c, 7));
	ck_assert_uint_eq(page_cache__lookup(&c, 7)[100], 0xa5);
	ck_assert_ptr_null(page_cache__lookup(&c, 3));
	page_cache__insert(&c, 7, page); /* an update replaces in place */
	ck_assert_uint_eq(page_cache__lookup(&c, 7)[0], 0x11);
	page_cache__dispose(&c);
	page_cache__dispose(&c); /* idempotent */
	ck_assert_ptr_null(page_cache__lookup(&c, 7));
}
END_TEST

/* pfn and pfn + nslots share a slot: the later insert evicts; other slots are untouched. */
START_TEST(test_direct_mapped_eviction)
{
	struct page_cache c;
	uint8_t page[STREAM_PAGE_SIZE];

	page_cache__init(&c);
	ck_assert_int_eq(page_cache__alloc(&c, 8 * STREAM_PAGE_SIZE + 100), 0);
	ck_assert_uint_eq(c.nslots, 8); /* whole pages only */
	for (uint64_t pfn = 0; pfn < 8; pfn++) {
		fill(page, (uint8_t)pfn);
		page_cache__insert(&c, pfn, page);
	}
	for (uint64_t pfn = 0; pfn < 8; pfn++) /* a contiguous set the size of the cache fits */
		ck_assert_uint_eq(page_cache__lookup(&c, pfn)[0], pfn);
	fill(page, 0xee);
	page_cache__insert(&c, 3 + 8, page);
	ck_assert_ptr_null(page_cache__lookup(&c, 3));
	ck_assert_uint_eq(page_cache__lookup(&c, 11)[0], 0xee);
	ck_assert_uint_eq(page_cache__lookup(&c, 2)[0], 2);
	ck_assert_uint_eq(page_cache__lookup(&c, 4)[0], 4);
	page_cache__dispose(&c);
}
END_TEST

START_TEST(test_bounds)
{
	struct page_cache c;

	page_cache__init(&c);
	ck_assert_int_eq(page_cache__alloc(&c, STREAM_PAGE_SIZE - 1), -EINVAL);
	ck_assert_int_eq(page_cache__alloc(&c, 0), -EINVAL);
	ck_assert_uint_eq(c.nslots, 0);
	ck_assert_int_eq(page_cache__alloc(&c, STREAM_PAGE_SIZE), 0);
	ck_assert_uint_eq(c.nslots, 1);
	page_cache__dispose(&c);
}
END_TEST

static uint8_t *only_pfn5(void *ctx, uint64_t pfn, int for_delta)
{
	return pfn == 5 ? ctx : NULL;
}

/* The sender's use: a cached page and a small change give a delta that restores the change. */
START_TEST(test_delta_against_cache)
{
	static uint8_t page[STREAM_PAGE_SIZE], dst[STREAM_PAGE_SIZE], delta[STREAM_PAGE_SIZE];
	struct page_cache c;
	struct page_batch b;
	char err[256];
	int n;

	page_cache__init(&c);
	ck_assert_int_eq(page_cache__alloc(&c, 16 * STREAM_PAGE_SIZE), 0);
	for (unsigned int i = 0; i < STREAM_PAGE_SIZE; i++)
		page[i] = (uint8_t)(i * 7);
	page_cache__insert(&c, 5, page);
	memcpy(dst, page, sizeof(dst)); /* the receiver's copy */
	page[10] ^= 0xff;
	memset(page + 2000, 0x42, 64);
	n = page_data__delta_encode(page_cache__lookup(&c, 5), page, delta);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, 100);
	/* Applied to the receiver's copy, it gives the new page. */
	page_batch__init(&b);
	ck_assert_int_eq(page_batch__add_encoded(&b, 5, STREAM_PAGE_DELTA, delta, (uint32_t)n), 0);
	memcpy(b.buf, &(struct stream_batch_header){.count = 1}, 8); /* as page_batch__write does */
	ck_assert_int_eq(
	    page_data__apply(b.buf, (uint32_t)b.len, 16, only_pfn5, dst, err, sizeof(err)), 1);
	ck_assert_int_eq(memcmp(dst, page, STREAM_PAGE_SIZE), 0);
	page_batch__dispose(&b);
	page_cache__dispose(&c);
}
END_TEST

Suite *page_cache_suite(void)
{
	Suite *s = suite_create("page_cache");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_insert_lookup);
	tcase_add_test(tc, test_direct_mapped_eviction);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_delta_against_cache);
	suite_add_tcase(s, tc);
	return s;
}
