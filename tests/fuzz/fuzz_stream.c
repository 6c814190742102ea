/* Fuzz target for the stream reader and PAGE_DATA: clear errors, no overrun, lossless round trip.
 */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Imigrate tests/fuzz/fuzz_stream.c \
 *     migrate/stream.c migrate/page_data.c -llz4 -o fuzz-stream
 *   mkdir -p /tmp/stream-corpus && cp -r tests/fuzz/corpus/stream/. /tmp/stream-corpus/
 *   ./fuzz-stream -max_total_time=60 -max_len=16384 /tmp/stream-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stream.h"
#include "page_data.h"
#include "fuzz_target.h"

#define GUEST_PAGES 16
#define MAX_INPUT   16384

enum { CLS_END, CLS_CORRUPT, CLS_UNSUPPORTED, CLS_BADPAGE };

static const char *const classes[] = {"end-", "corrupt-", "unsupported-", "badpage-"};

static const uint64_t words[] = {
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    15,
    16,
    17,
    1023,
    1024,
    1025,
    4095,
    4096,
    4097,
    4128,
    4129,
    STREAM_VERSION + 1,
    STREAM_BYTE_ORDER,
    STREAM_BYTE_ORDER_REV,
    STREAM_MAX_RECORD,
    STREAM_MAX_RECORD + 1,
    STREAM_REC_OPTIONAL,
    STREAM_REC_OPTIONAL | 0x40,
    0x7fffffff,
    0xffffffff,
    0xffffffffffffffffull,
};

static uint8_t guest[GUEST_PAGES][STREAM_PAGE_SIZE];
static uint8_t received[GUEST_PAGES];

static uint8_t *dest(void *ctx, uint64_t pfn, int for_delta)
{
	if (pfn >= GUEST_PAGES)
		abort(); /* page_data__check let a pfn beyond the guest through */
	if (for_delta && !received[pfn])
		return NULL;
	received[pfn] = 1;
	return guest[pfn];
}

/* The writer's bytes, to compare with the input the reader accepted. */
struct sink {
	uint8_t buf[MAX_INPUT];
	size_t len;
	int overflow;
};

static int sink_write(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;

	if (len > sizeof(s->buf) - s->len) {
		s->overflow = 1;
		return -ENOSPC;
	}
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	return 0;
}

static const char *bad_message(const char *err)
{
	size_t n = strnlen(err, STREAM_ERR_MAX);

	if (n == 0 || n == STREAM_ERR_MAX)
		return "error without a NUL-terminated message";
	if (strchr(err, '\n'))
		return "error message spans lines";
	return NULL;
}

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	static struct sink out;
	struct stream_mem src = {.data = data, .size = size};
	struct stream_reader r;
	struct stream_writer w;
	struct stream_record rec;
	const char *why = NULL;
	char err[STREAM_ERR_MAX];
	int rc;

	memset(received, 0, sizeof(received));
	out.len = 0;
	out.overflow = 0;
	stream_reader__init(&r, stream__mem_read, &src);
	stream_writer__init(&w, sink_write, &out);
	rc = stream_reader__header(&r);
	if (rc == 0)
		rc = stream_writer__header(&w, r.flags) ? -EFAULT : 0;
	while (rc == 0) {
		const void *part;
		size_t len;

		rc = stream_reader__next(&r, &rec);
		if (rc)
			break;
		if (rec.offset % STREAM_ALIGN || rec.length > STREAM_MAX_RECORD ||
		    rec.type > STREAM_REC_LAST || rec.offset + rec.length > size) {
			why = "a record the reader returned breaks its own limits";
			goto out;
		}
		part = rec.body;
		len = rec.length;
		if (stream_writer__record(&w, rec.type, &part, &len, 1) && !out.overflow) {
			why = "the writer refused a record the reader accepted";
			goto out;
		}
		if (rec.type == STREAM_REC_PAGE_DATA) {
			int n = page_data__apply(rec.body, rec.length, GUEST_PAGES, dest, NULL, err,
						 sizeof(err));

			if (n < 0) {
				*cls = CLS_BADPAGE;
				why = bad_message(err);
				goto out;
			}
			if (n == 0 || n > (int)STREAM_MAX_BATCH) {
				why = "a batch of no pages, or over the limit, was applied";
				goto out;
			}
		}
		if (rec.type == STREAM_REC_END) {
			*cls = CLS_END;
			/* Everything read, minus what was skipped, is what the writer writes back.
			 */
			if (!r.skipped && (out.len != r.offset || memcmp(out.buf, data, out.len)))
				why = "the records read do not write back to the same bytes";
			if (r.offset > size)
				why = "the reader went past its input";
			goto out;
		}
	}
	if (rc == -EBADMSG)
		*cls = CLS_CORRUPT;
	else if (rc == -EPROTONOSUPPORT)
		*cls = CLS_UNSUPPORTED;
	else
		why = "an error other than -EBADMSG or -EPROTONOSUPPORT";
	if (!why)
		why = bad_message(r.err);
out:
	stream_reader__dispose(&r);
	return why;
}

const struct fuzz_target fuzz_target = {
    .name = "stream",
    .classes = classes,
    .nclasses = 4,
    .check = check,
    .max_input = MAX_INPUT,
    .words = words,
    .nwords = sizeof(words) / sizeof(words[0]),
};
