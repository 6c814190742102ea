/* A growable memory buffer as a stream_writer's destination, for the stream suites. */
#ifndef TESTS_UNIT_STREAM_SINK_H
#define TESTS_UNIT_STREAM_SINK_H
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sink {
	uint8_t *data; /* free() it */
	size_t len;
};

/* stream_write_fn: appends len bytes. */
static inline int sink_write(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;
	uint8_t *nd = realloc(s->data, s->len + len);

	if (!nd)
		return -ENOMEM;
	memcpy(nd + s->len, buf, len);
	s->data = nd;
	s->len += len;
	return 0;
}

#endif
