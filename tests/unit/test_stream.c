/* Check suite for the Twin stream: round trips, and truncated, oversize, unknown and corrupt input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "stream.h"
#include "page_data.h"
#include "stream_sink.h"

#define GUEST_PAGES 64

static struct sink out;
static struct stream_writer w;
static struct stream_reader r;
static struct stream_mem src;

static void setup(void)
{
	memset(&out, 0, sizeof(out));
	stream_writer__init(&w, sink_write, &out);
}

static void teardown(void)
{
	stream_reader__dispose(&r);
	free(out.data);
}

static void open_reader(size_t len)
{
	src = (struct stream_mem){.data = out.data, .size = len};
	stream_reader__init(&r, stream__mem_read, &src);
}

static int put_record(uint32_t type, const void *body, size_t len)
{
	return stream_writer__record(&w, type, &body, &len, 1);
}

/* Every record type written, read back in order with its body, padding included. */
START_TEST(test_round_trip_all_types)
{
	static const uint32_t types[] = {STREAM_REC_PAGE_DATA, STREAM_REC_VCPU_STATE,
					 STREAM_REC_VM_STATE, STREAM_REC_DEVICE_STATE,
					 STREAM_REC_DISK_WRITES};
	uint8_t body[8 + 13];
	struct stream_record rec;

	memset(body, 0, 8);
	for (size_t i = 8; i < sizeof(body); i++)
		body[i] = (uint8_t)i;
	ck_assert_int_eq(stream_writer__header(&w, STREAM_FLAG_LIVE), 0);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		ck_assert_int_eq(put_record(types[i], body, 8 + i), 0);
	ck_assert_int_eq(stream_writer__checkpoint(&w, 7), 0);
	ck_assert_int_eq(stream_writer__end(&w), 0);
	ck_assert_uint_eq(out.len % STREAM_ALIGN, 0);
	ck_assert_uint_eq(out.len, w.offset);

	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_uint_eq(r.flags, STREAM_FLAG_LIVE);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
		ck_assert_uint_eq(rec.type, types[i]);
		ck_assert_uint_eq(rec.length, 8 + i);
		ck_assert_uint_eq(rec.offset % STREAM_ALIGN, 0);
		ck_assert_mem_eq(rec.body, body, 8 + i);
	}
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_uint_eq(rec.type, STREAM_REC_CHECKPOINT);
	ck_assert_uint_eq(r.last_epoch, 7);
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_uint_eq(rec.type, STREAM_REC_END);
	ck_assert_uint_eq(src.pos, out.len);
	ck_assert_int_eq(stream_reader__next(&r, &rec), -EINVAL);
}
END_TEST

/* A header with one field corrupted, each refused with its own message. */
static void check_bad_header(size_t off, uint32_t value, int want_rc, const char *want_msg)
{
	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	memcpy(out.data + off, &value, sizeof(value));
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), want_rc);
	ck_assert_msg(strstr(r.err, want_msg), "error '%s' lacks '%s'", r.err, want_msg);
}

START_TEST(test_bad_magic)
{
	check_bad_header(0, 0x4e495755, -EBADMSG, "not a Twin stream");
}
END_TEST

START_TEST(test_bad_version)
{
	check_bad_header(8, 2, -EPROTONOSUPPORT, "version 2");
}
END_TEST

START_TEST(test_swapped_byte_order)
{
	check_bad_header(12, STREAM_BYTE_ORDER_REV, -EPROTONOSUPPORT, "big-endian");
}
END_TEST

START_TEST(test_corrupt_byte_order)
{
	check_bad_header(12, 0x01020305, -EBADMSG, "byte order");
}
END_TEST

START_TEST(test_unknown_flag)
{
	check_bad_header(16, 1u << 7, -EPROTONOSUPPORT, "flags");
}
END_TEST

START_TEST(test_reserved_header)
{
	check_bad_header(20, 1, -EBADMSG, "reserved");
}
END_TEST

START_TEST(test_truncated_header)
{
	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	open_reader(sizeof(struct stream_header) - 1);
	ck_assert_int_eq(stream_reader__header(&r), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(r.err, "truncated"));
	ck_assert_ptr_nonnull(strstr(r.err, "header"));
}
END_TEST

/* Header + one 12-byte VM_STATE record, cut at every byte after the header (no END either). */
START_TEST(test_truncated_record)
{
	uint8_t body[12] = {0};
	struct stream_record rec;
	size_t hdr = sizeof(struct stream_header);

	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(put_record(STREAM_REC_VM_STATE, body, sizeof(body)), 0);
	ck_assert_uint_eq(out.len, hdr + 8 + 16);
	for (size_t cut = hdr; cut < out.len; cut++) {
		const char *want = cut < hdr + 8    ? "record header"
				   : cut < hdr + 20 ? "record body"
						    : "padding";

		stream_reader__dispose(&r);
		open_reader(cut);
		ck_assert_int_eq(stream_reader__header(&r), 0);
		ck_assert_int_eq(stream_reader__next(&r, &rec), -EBADMSG);
		ck_assert_msg(strstr(r.err, "truncated") && strstr(r.err, want),
			      "cut at %zu: '%s' lacks '%s'", cut, r.err, want);
	}
}
END_TEST

/* A length over the limit is refused before its body is read or allocated. */
START_TEST(test_oversize_length)
{
	struct stream_rec_header h = {.type = STREAM_REC_PAGE_DATA,
				      .length = STREAM_MAX_RECORD + 1};
	struct stream_record rec;

	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(sink_write(&out, &h, sizeof(h)), 0);
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(r.err, "limit"));
	ck_assert_ptr_null(r.buf);
	{
		const void *p = "";
		size_t big = STREAM_MAX_RECORD + 1;

		ck_assert_int_eq(stream_writer__record(&w, STREAM_REC_VM_STATE, &p, &big, 1),
				 -EMSGSIZE);
	}
}
END_TEST

START_TEST(test_unknown_mandatory)
{
	struct stream_record rec;

	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(put_record(0x77, "abc", 3), 0);
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), -EPROTONOSUPPORT);
	ck_assert_ptr_nonnull(strstr(r.err, "unknown mandatory record type 0x00000077"));
}
END_TEST

/* Unknown optional records, one of a known type number, are passed over. */
START_TEST(test_unknown_optional_skipped)
{
	struct stream_record rec;

	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(put_record(STREAM_REC_OPTIONAL | 0x77, "abcde", 5), 0);
	ck_assert_int_eq(put_record(STREAM_REC_OPTIONAL | STREAM_REC_END, "x", 1), 0);
	ck_assert_int_eq(stream_writer__checkpoint(&w, 1), 0);
	ck_assert_int_eq(stream_writer__end(&w), 0);
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_uint_eq(rec.type, STREAM_REC_CHECKPOINT);
	ck_assert_uint_eq(r.skipped, 2);
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_uint_eq(rec.type, STREAM_REC_END);
}
END_TEST

START_TEST(test_nonzero_padding)
{
	struct stream_record rec;

	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(put_record(STREAM_REC_DEVICE_STATE, "12345678a", 9), 0);
	out.data[out.len - 1] = 1;
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(r.err, "padding"));
}
END_TEST

/* Known records with wrong fixed parts: END with a body, short prefixes, epochs going back. */
START_TEST(test_bad_known_records)
{
	static const struct {
		uint32_t type;
		uint32_t len;
	} bad[] = {{STREAM_REC_END, 1},		 {STREAM_REC_CHECKPOINT, 4},
		   {STREAM_REC_VCPU_STATE, 4},	 {STREAM_REC_VM_STATE, 7},
		   {STREAM_REC_DEVICE_STATE, 0}, {STREAM_REC_PAGE_DATA, 7},
		   {STREAM_REC_VM_CONFIG, 31}};
	static const uint8_t zero[sizeof(struct stream_vm_config)]; /* the longest body below */
	struct stream_record rec;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		free(out.data);
		setup();
		stream_reader__dispose(&r);
		ck_assert_int_eq(stream_writer__header(&w, 0), 0);
		ck_assert_int_eq(put_record(bad[i].type, zero, bad[i].len), 0);
		open_reader(out.len);
		ck_assert_int_eq(stream_reader__header(&r), 0);
		ck_assert_int_eq(stream_reader__next(&r, &rec), -EBADMSG);
		ck_assert_ptr_nonnull(strstr(r.err, stream__type_to_str(bad[i].type)));
	}
	free(out.data);
	setup();
	stream_reader__dispose(&r);
	ck_assert_int_eq(stream_writer__header(&w, STREAM_FLAG_CHECKPOINTED), 0);
	ck_assert_int_eq(stream_writer__checkpoint(&w, 5), 0);
	ck_assert_int_eq(stream_writer__checkpoint(&w, 5), 0);
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(r.err, "epochs must increase"));
}
END_TEST

/* VM_CONFIG is read as the first record only: after any other, or a second one, it is refused. */
START_TEST(test_vm_config_first)
{
	static const uint8_t config[sizeof(struct stream_vm_config)];
	struct stream_record rec;

	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(put_record(STREAM_REC_VM_CONFIG, config, sizeof(config)), 0);
	ck_assert_int_eq(put_record(STREAM_REC_VM_CONFIG, config, sizeof(config)), 0);
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_uint_eq(rec.type, STREAM_REC_VM_CONFIG);
	ck_assert_uint_eq(rec.length, sizeof(config));
	ck_assert_int_eq(stream_reader__next(&r, &rec), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(r.err, "VM_CONFIG at byte 64 follows other records"));

	free(out.data);
	setup();
	stream_reader__dispose(&r);
	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(stream_writer__checkpoint(&w, 1), 0);
	ck_assert_int_eq(put_record(STREAM_REC_VM_CONFIG, config, sizeof(config)), 0);
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(r.err, "must be the first record"));
}
END_TEST

/* A file source must end at END: nothing after it, or an error naming where the extra bytes start.
 */
START_TEST(test_data_after_end)
{
	struct stream_record rec;
	char want[64];
	size_t end_len;

	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(stream_writer__end(&w), 0);
	end_len = out.len;
	ck_assert_int_eq(stream_writer__checkpoint(&w, 1), 0); /* the trailing garbage */
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__expect_eof(&r), -EINVAL); /* END not read yet */
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_uint_eq(rec.type, STREAM_REC_END);
	ck_assert_int_eq(stream_reader__expect_eof(&r), -EBADMSG);
	snprintf(want, sizeof(want), "data after END at byte %zu", end_len);
	ck_assert_msg(strstr(r.err, want), "%s", r.err);

	stream_reader__dispose(&r);
	open_reader(end_len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_int_eq(stream_reader__expect_eof(&r), 0);
}
END_TEST

/* The guest's pages as a receiver sees them; delta_ok marks pages already received. */
static uint8_t guest[GUEST_PAGES][STREAM_PAGE_SIZE];
static int delta_ok[GUEST_PAGES];

static uint8_t *guest_page(void *ctx, uint64_t pfn, int for_delta)
{
	if (for_delta && !delta_ok[pfn])
		return NULL;
	return guest[pfn];
}

static void fill(uint8_t *page, unsigned seed)
{
	for (unsigned i = 0; i < STREAM_PAGE_SIZE; i++)
		page[i] = (uint8_t)((i * 7 + seed) ^ (i >> 5));
}

/* Zero, compressible, incompressible and delta pages through writer, reader and apply. */
START_TEST(test_page_data_round_trip)
{
	static uint8_t src_pages[4][STREAM_PAGE_SIZE], old[STREAM_PAGE_SIZE];
	uint8_t delta[STREAM_PAGE_SIZE];
	struct page_batch b;
	struct stream_record rec;
	char err[STREAM_ERR_MAX];
	int dlen;

	memset(src_pages[0], 0, STREAM_PAGE_SIZE);
	fill(src_pages[1], 3);
	srand(1);
	for (unsigned i = 0; i < STREAM_PAGE_SIZE; i++)
		src_pages[2][i] = (uint8_t)rand();
	fill(old, 9);
	memcpy(src_pages[3], old, STREAM_PAGE_SIZE);
	memcpy(src_pages[3] + 100, "changed", 7);
	src_pages[3][4095] ^= 0xff;
	dlen = page_data__delta_encode(old, src_pages[3], delta);
	ck_assert_int_gt(dlen, 0);
	ck_assert_int_lt(dlen, 32);
	ck_assert_int_eq(page_data__delta_encode(old, src_pages[2], delta), -ENOSPC);
	dlen = page_data__delta_encode(old, src_pages[3], delta);

	page_batch__init(&b);
	ck_assert_int_eq(page_batch__add(&b, 1, src_pages[0]), 0);
	ck_assert_int_eq(page_batch__add(&b, 2, src_pages[1]), 0);
	ck_assert_int_eq(page_batch__add(&b, 40, src_pages[2]), 0);
	ck_assert_int_eq(page_batch__add(&b, 40, src_pages[2]), -EINVAL);
	ck_assert_int_eq(
	    page_batch__add_encoded(&b, GUEST_PAGES - 1, STREAM_PAGE_DELTA, delta, (uint32_t)dlen),
	    0);
	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(page_batch__write(&b, &w), 0);
	ck_assert_uint_eq(b.count, 0);
	page_batch__dispose(&b);

	memset(guest, 0xaa, sizeof(guest));
	memcpy(guest[GUEST_PAGES - 1], old, STREAM_PAGE_SIZE);
	memset(delta_ok, 0, sizeof(delta_ok));
	open_reader(out.len);
	ck_assert_int_eq(stream_reader__header(&r), 0);
	ck_assert_int_eq(stream_reader__next(&r, &rec), 0);
	ck_assert_uint_eq(rec.type, STREAM_REC_PAGE_DATA);
	ck_assert_int_eq(page_data__check(rec.body, rec.length, GUEST_PAGES, err, sizeof(err)), 4);
	/* A delta for a page the receiver never got is refused. */
	ck_assert_int_eq(
	    page_data__apply(rec.body, rec.length, GUEST_PAGES, guest_page, NULL, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "has not sent"));
	delta_ok[GUEST_PAGES - 1] = 1;
	ck_assert_int_eq(
	    page_data__apply(rec.body, rec.length, GUEST_PAGES, guest_page, NULL, err, sizeof(err)),
	    4);
	ck_assert_mem_eq(guest[1], src_pages[0], STREAM_PAGE_SIZE);
	ck_assert_mem_eq(guest[2], src_pages[1], STREAM_PAGE_SIZE);
	ck_assert_mem_eq(guest[40], src_pages[2], STREAM_PAGE_SIZE);
	ck_assert_mem_eq(guest[GUEST_PAGES - 1], src_pages[3], STREAM_PAGE_SIZE);
	ck_assert_uint_eq(guest[0][0], 0xaa);
}
END_TEST

/* A batch of n zero pages at pfns 0..n-1, built by hand so that its rules can be broken. */
static size_t zero_batch(uint8_t *buf, uint32_t n)
{
	struct stream_batch_header bh = {.count = n};

	memcpy(buf, &bh, sizeof(bh));
	for (uint32_t i = 0; i < n; i++) {
		struct stream_page_header h = {.pfn = i, .encoding = STREAM_PAGE_ZERO};

		memcpy(buf + sizeof(bh) + i * sizeof(h), &h, sizeof(h));
	}
	return sizeof(bh) + n * sizeof(struct stream_page_header);
}

static void check_bad_batch(const uint8_t *buf, size_t len, uint64_t pages, const char *want)
{
	char err[STREAM_ERR_MAX];

	ck_assert_int_eq(page_data__check(buf, (uint32_t)len, pages, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, want), "error '%s' lacks '%s'", err, want);
}

static uint8_t bbuf[8 + (STREAM_MAX_BATCH + 1) * 16 + 4096];

static struct stream_page_header *page_hdr(uint32_t i)
{
	return (struct stream_page_header *)(bbuf + 8 + i * 16);
}

START_TEST(test_page_data_pfn_beyond_guest)
{
	size_t len = zero_batch(bbuf, 4);
	char err[STREAM_ERR_MAX];

	ck_assert_int_eq(page_data__check(bbuf, (uint32_t)len, 4, err, sizeof(err)), 4);
	check_bad_batch(bbuf, len, 3, "beyond the guest");
	page_hdr(3)->pfn = UINT64_MAX;
	check_bad_batch(bbuf, len, GUEST_PAGES, "beyond the guest");
}
END_TEST

START_TEST(test_page_data_counts)
{
	size_t len = zero_batch(bbuf, 4);
	uint32_t count;

	/* A count that claims more pages than the body holds, up to the 32-bit limit. */
	count = 5;
	memcpy(bbuf, &count, 4);
	check_bad_batch(bbuf, len, GUEST_PAGES, "ends inside its header");
	count = UINT32_MAX;
	memcpy(bbuf, &count, 4);
	check_bad_batch(bbuf, len, GUEST_PAGES, "not between 1 and");
	count = 0;
	memcpy(bbuf, &count, 4);
	check_bad_batch(bbuf, len, GUEST_PAGES, "not between 1 and");
	/* Fewer pages than the body holds. */
	count = 3;
	memcpy(bbuf, &count, 4);
	check_bad_batch(bbuf, len, GUEST_PAGES, "left after");
	/* Oversized batch: one page over STREAM_MAX_BATCH. */
	len = zero_batch(bbuf, STREAM_MAX_BATCH + 1);
	check_bad_batch(bbuf, len, 1u << 20, "not between 1 and");
	check_bad_batch(bbuf, 7, GUEST_PAGES, "shorter than its header");
}
END_TEST

START_TEST(test_page_data_duplicate_pfn)
{
	size_t len = zero_batch(bbuf, 4);

	page_hdr(2)->pfn = 1;
	check_bad_batch(bbuf, len, GUEST_PAGES, "must increase");
	page_hdr(2)->pfn = 0;
	check_bad_batch(bbuf, len, GUEST_PAGES, "must increase");
}
END_TEST

START_TEST(test_page_data_bad_pages)
{
	size_t len = zero_batch(bbuf, 2);

	page_hdr(1)->encoding = 9;
	check_bad_batch(bbuf, len, GUEST_PAGES, "unknown encoding");
	page_hdr(1)->encoding = STREAM_PAGE_RAW;
	check_bad_batch(bbuf, len, GUEST_PAGES, "not 4096");
	page_hdr(1)->encoding = STREAM_PAGE_ZERO;
	page_hdr(1)->reserved[1] = 1;
	check_bad_batch(bbuf, len, GUEST_PAGES, "reserved");
	page_hdr(1)->reserved[1] = 0;
	page_hdr(1)->length = 8;
	check_bad_batch(bbuf, len + 8, GUEST_PAGES, "carries data");
	page_hdr(1)->length = UINT32_MAX;
	check_bad_batch(bbuf, len, GUEST_PAGES, "left in the record");
}
END_TEST

/* Deltas that overrun the page, end mid-run or carry malformed lengths are refused. */
START_TEST(test_page_data_bad_delta)
{
	static const struct {
		uint8_t d[8];
		uint32_t len;
		const char *want;
	} bad[] = {
	    {{0x80, 0x20, 0x01, 0xff}, 4, "past the end"},   /* skip 4096, run 1 */
	    {{0xff, 0x1f, 0x02, 0xff}, 4, "past the end"},   /* skip 4095, run 2 */
	    {{0x00, 0x05, 0x01, 0x02}, 4, "data left"},	     /* run 5, 2 bytes given */
	    {{0x00, 0x00, 0x00, 0x00}, 4, "empty run"},	     /* run 0 */
	    {{0x80, 0x80, 0x01, 0x01}, 4, "malformed skip"}, /* 3-byte uleb */
	    {{0x00, 0x80}, 2, "malformed run"},		     /* cut inside a uleb */
	};
	struct stream_page_header h = {.pfn = 0, .encoding = STREAM_PAGE_DELTA};
	struct stream_batch_header bh = {.count = 1};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h.length = bad[i].len;
		memset(bbuf, 0, 40);
		memcpy(bbuf, &bh, 8);
		memcpy(bbuf + 8, &h, 16);
		memcpy(bbuf + 24, bad[i].d, bad[i].len);
		check_bad_batch(bbuf, 32, GUEST_PAGES, bad[i].want);
	}
}
END_TEST

START_TEST(test_page_data_bad_lz4)
{
	struct stream_page_header h = {.pfn = 0, .encoding = STREAM_PAGE_LZ4, .length = 8};
	struct stream_batch_header bh = {.count = 1};
	char err[STREAM_ERR_MAX];

	memcpy(bbuf, &bh, 8);
	memcpy(bbuf + 8, &h, 16);
	memcpy(bbuf + 24, "\x10garbage", 8);
	memset(guest[0], 0x55, STREAM_PAGE_SIZE);
	ck_assert_int_eq(page_data__check(bbuf, 32, GUEST_PAGES, err, sizeof(err)), 1);
	ck_assert_int_eq(
	    page_data__apply(bbuf, 32, GUEST_PAGES, guest_page, NULL, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "lz4"));
	ck_assert_uint_eq(guest[0][0], 0x55);
	ck_assert_uint_eq(guest[0][4095], 0x55);
}
END_TEST

/* A full batch fills exactly STREAM_MAX_BATCH pages, then says so. */
START_TEST(test_page_batch_full)
{
	static const uint8_t zero[STREAM_PAGE_SIZE];
	struct page_batch b;

	page_batch__init(&b);
	for (uint32_t i = 0; i < STREAM_MAX_BATCH; i++)
		ck_assert_int_eq(page_batch__add(&b, i, zero), 0);
	ck_assert_int_eq(page_batch__add(&b, STREAM_MAX_BATCH, zero), -ENOSPC);
	page_batch__dispose(&b);
	page_batch__dispose(&b);
}
END_TEST

Suite *stream_suite(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip_all_types);
	tcase_add_test(tc, test_data_after_end);
	tcase_add_test(tc, test_bad_magic);
	tcase_add_test(tc, test_bad_version);
	tcase_add_test(tc, test_swapped_byte_order);
	tcase_add_test(tc, test_corrupt_byte_order);
	tcase_add_test(tc, test_unknown_flag);
	tcase_add_test(tc, test_reserved_header);
	tcase_add_test(tc, test_truncated_header);
	tcase_add_test(tc, test_truncated_record);
	tcase_add_test(tc, test_oversize_length);
	tcase_add_test(tc, test_unknown_mandatory);
	tcase_add_test(tc, test_unknown_optional_skipped);
	tcase_add_test(tc, test_nonzero_padding);
	tcase_add_test(tc, test_bad_known_records);
	tcase_add_test(tc, test_vm_config_first);
	tcase_add_test(tc, test_page_data_round_trip);
	tcase_add_test(tc, test_page_data_pfn_beyond_guest);
	tcase_add_test(tc, test_page_data_counts);
	tcase_add_test(tc, test_page_data_duplicate_pfn);
	tcase_add_test(tc, test_page_data_bad_pages);
	tcase_add_test(tc, test_page_data_bad_delta);
	tcase_add_test(tc, test_page_data_bad_lz4);
	tcase_add_test(tc, test_page_batch_full);
	suite_add_tcase(s, tc);
	return s;
}
