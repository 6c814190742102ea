/* Fuzz target for the backup's replies (repl_wire.h): clear refusals, lossless round trip. */
/*
 * make check runs it through fuzz-target-driver.c; the --enable-libfuzzer build has
 * fuzz-repl-reply (tests/fuzz/README.md).
 */
#include <errno.h>
#include <string.h>
#include "repl_wire.h"
#include "fuzz_target.h"

#define MAX_INPUT (8 * sizeof(struct repl_reply))

enum { CLS_END, CLS_CUT, CLS_BAD };

static const char *const classes[] = {"end-", "cut-", "bad-"};

static const uint64_t words[] = {0, 1, 2, 3, 4, 7, 231, 232, 0xfffff001, 0xffffffff};

struct sink {
	uint8_t buf[sizeof(struct repl_reply)];
	size_t len;
};

static int sink_write(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;

	if (len > sizeof(s->buf))
		return -ENOSPC;
	memcpy(s->buf, buf, len);
	s->len = len;
	return 0;
}

/* Replies back to back until one fails: a clean end, a reply cut short, or a bad one. */
static const char *check(const uint8_t *data, size_t size, int *cls)
{
	struct stream_mem src = {.data = data, .size = size};
	struct repl_reply rep;
	char err[256];
	int rc;

	for (;;) {
		size_t at = src.pos;
		struct sink s = {.len = 0};

		err[0] = '\0';
		rc = repl_reply__read(stream__mem_read, &src, &rep, err, sizeof(err));
		if (rc)
			break;
		/* An accepted reply is what the writer makes of its fields, byte for byte. */
		if (repl_reply__write(sink_write, &s, rep.kind, rep.status, rep.epoch,
				      rep.message[0] ? rep.message : NULL) ||
		    s.len != sizeof(rep) || memcmp(s.buf, data + at, sizeof(rep)))
			return "an accepted reply does not write back to the same bytes";
	}
	if (rc == -EPIPE)
		*cls = CLS_END;
	else if (rc == -EBADMSG)
		*cls = strstr(err, "cut short") ? CLS_CUT : CLS_BAD;
	else
		return "an error other than -EPIPE or -EBADMSG";
	if (!err[0] || strchr(err, '\n'))
		return "an error without a one-line message";
	return NULL;
}

const struct fuzz_target fuzz_target = {
    .name = "repl_reply",
    .classes = classes,
    .nclasses = 3,
    .check = check,
    .max_input = MAX_INPUT,
    .words = words,
    .nwords = sizeof(words) / sizeof(words[0]),
};
