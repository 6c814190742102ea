/* The sender's page encoder and PAGE_DATA encoding 4 (zlib): round trips and refused blocks. */
#include <errno.h>
#include <string.h>
#define ZLIB_CONST
#include <zlib.h>
#include "page_data.h"
#include "suites.h"

#define GUEST_PAGES 8

static uint8_t guest[GUEST_PAGES][STREAM_PAGE_SIZE];

static uint8_t *to_guest(void *ctx, uint64_t pfn, int for_delta)
{
	return guest[pfn];
}

/* A page like memwriter's: word i = base + i. */
static void pattern_page(uint8_t *page, uint64_t base)
{
	for (unsigned int i = 0; i < STREAM_PAGE_SIZE / 8; i++) {
		uint64_t v = base + i;

		memcpy(page + 8 * i, &v, 8);
	}
}

static void text_page(uint8_t *page)
{
	static const char words[] = "the quick brown fox jumps over the lazy dog; ";

	for (unsigned int i = 0; i < STREAM_PAGE_SIZE; i++)
		page[i] = (uint8_t)words[i % (sizeof(words) - 1)];
}

/* A one-page batch of (encoding, data, len), checked and applied to guest[pfn]. */
static int apply_one(uint64_t pfn, int enc, const void *data, uint32_t len, char *err,
		     size_t errlen)
{
	struct page_batch b;
	int rc;

	page_batch__init(&b);
	ck_assert_int_eq(page_batch__add_encoded(&b, pfn, (uint8_t)enc, data, len), 0);
	memcpy(b.buf, &(struct stream_batch_header){.count = 1}, 8); /* as page_batch__write does */
	rc = page_data__apply(b.buf, (uint32_t)b.len, GUEST_PAGES, to_guest, NULL, err, errlen);
	page_batch__dispose(&b);
	return rc;
}

/* Each encoder picks zero, its compression or raw, and every choice decodes to the page. */
START_TEST(test_encoders_round_trip)
{
	static const uint8_t encodings[] = {STREAM_PAGE_LZ4, STREAM_PAGE_ZLIB, STREAM_PAGE_RAW};
	static uint8_t pages[4][STREAM_PAGE_SIZE], scratch[STREAM_LZ4_BOUND];
	uint64_t x = 88172645463325252ULL;
	char err[256];

	text_page(pages[1]);
	pattern_page(pages[2], 0x9e3779b97f4a7c15ULL);
	for (unsigned int i = 0; i < STREAM_PAGE_SIZE; i++) { /* incompressible: xorshift */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pages[3][i] = (uint8_t)(x >> 32);
	}
	for (unsigned int e = 0; e < sizeof(encodings); e++) {
		struct page_encoder enc;

		ck_assert_int_eq(page_encoder__init(&enc, encodings[e]), 0);
		for (unsigned int p = 0; p < 4; p++) {
			const uint8_t *data;
			uint32_t len;
			int got = page_encoder__encode(&enc, pages[p], scratch, &data, &len);

			if (p == 0)
				ck_assert_int_eq(got, STREAM_PAGE_ZERO);
			else if (p == 1 && encodings[e] != STREAM_PAGE_RAW)
				ck_assert_int_eq(got, encodings[e]); /* text compresses */
			else if (p == 3 || encodings[e] == STREAM_PAGE_RAW)
				ck_assert_int_eq(got, STREAM_PAGE_RAW);
			if (got != STREAM_PAGE_RAW)
				ck_assert_uint_lt(len, STREAM_PAGE_SIZE);
			memset(guest[p], 0xcc, STREAM_PAGE_SIZE);
			ck_assert_msg(apply_one(p, got, data, len, err, sizeof(err)) == 1, "%s",
				      err);
			ck_assert_msg(!memcmp(guest[p], pages[p], STREAM_PAGE_SIZE),
				      "encoding %u page %u", encodings[e], p);
		}
		page_encoder__dispose(&enc);
		page_encoder__dispose(&enc);
	}
}
END_TEST

START_TEST(test_encoder_init)
{
	struct page_encoder enc;

	ck_assert_int_eq(page_encoder__init(&enc, STREAM_PAGE_DELTA), -EINVAL);
	ck_assert_int_eq(page_encoder__init(&enc, 9), -EINVAL);
}
END_TEST

/* Raw deflate of in (inlen bytes) into out: its length. */
static uint32_t deflate_raw(const uint8_t *in, uint32_t inlen, uint8_t *out, uint32_t cap)
{
	z_stream z = {.zalloc = Z_NULL};
	uint32_t n;

	ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = in;
	z.avail_in = inlen;
	z.next_out = out;
	z.avail_out = cap;
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

/*
 * A zlib page must inflate to exactly one page from all of its bytes: short,
 * long, trailing bytes, garbage and a bad length are refused, and the guest's
 * page is left as it was.
 */
START_TEST(test_zlib_refusals)
{
	static uint8_t src[2 * STREAM_PAGE_SIZE], z[STREAM_PAGE_SIZE];
	char err[256];
	uint32_t n;

	text_page(src);
	text_page(src + STREAM_PAGE_SIZE);
	memset(guest[1], 0x77, STREAM_PAGE_SIZE);

	n = deflate_raw(src, STREAM_PAGE_SIZE - 1, z, sizeof(z)); /* one byte short */
	ck_assert_int_eq(apply_one(1, STREAM_PAGE_ZLIB, z, n, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "zlib block does not decompress to one page"));
	ck_assert_ptr_nonnull(strstr(err, "pfn 0x1"));

	n = deflate_raw(src, STREAM_PAGE_SIZE + 1, z, sizeof(z)); /* one byte long */
	ck_assert_int_eq(apply_one(1, STREAM_PAGE_ZLIB, z, n, err, sizeof(err)), -EBADMSG);

	n = deflate_raw(src, STREAM_PAGE_SIZE, z, sizeof(z));
	z[n] = 0; /* a trailing byte */
	ck_assert_int_eq(apply_one(1, STREAM_PAGE_ZLIB, z, n + 1, err, sizeof(err)), -EBADMSG);
	z[0] ^= 0xff; /* corrupt */
	ck_assert_int_eq(apply_one(1, STREAM_PAGE_ZLIB, z, n, err, sizeof(err)), -EBADMSG);
	for (unsigned int i = 0; i < STREAM_PAGE_SIZE; i++)
		ck_assert_uint_eq(guest[1][i], 0x77);

	ck_assert_int_eq(apply_one(1, STREAM_PAGE_ZLIB, z, STREAM_PAGE_SIZE, err, sizeof(err)),
			 -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "zlib length out of range"));

	z[0] ^= 0xff; /* the whole page, exactly: accepted */
	ck_assert_msg(apply_one(1, STREAM_PAGE_ZLIB, z, n, err, sizeof(err)) == 1, "%s", err);
	ck_assert_int_eq(memcmp(guest[1], src, STREAM_PAGE_SIZE), 0);
}
END_TEST

Suite *page_encoder_suite(void)
{
	Suite *s = suite_create("page_encoder");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_encoders_round_trip);
	tcase_add_test(tc, test_encoder_init);
	tcase_add_test(tc, test_zlib_refusals);
	suite_add_tcase(s, tc);
	return s;
}
