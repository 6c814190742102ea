/* Twin stream framing: a writer and a reader of the header and records (STREAM.md). */
#ifndef MIGRATE_STREAM_H
#define MIGRATE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "stream_format.h"

#define STREAM_ERR_MAX 192

/* Writes all len bytes or fails: returns 0 or -errno. */
typedef int (*stream_write_fn)(void *ctx, const void *buf, size_t len);
/* Reads up to len bytes: returns the count (0 at end of input) or -errno. */
typedef ssize_t (*stream_read_fn)(void *ctx, void *buf, size_t len);

/* A memory buffer as a read source (tests, fuzzing, a stream already in memory). */
struct stream_mem {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

ssize_t stream__mem_read(void *ctx, void *buf, size_t len);
/* ctx is a pointer to an int fd; both retry EINTR and short transfers. */
ssize_t stream__fd_read(void *ctx, void *buf, size_t len);
int stream__fd_write(void *ctx, const void *buf, size_t len);

struct stream_writer {
	stream_write_fn write;
	void *ctx;
	uint64_t offset; /* bytes written so far */
};

void stream_writer__init(struct stream_writer *w, stream_write_fn write, void *ctx);
int stream_writer__header(struct stream_writer *w, uint32_t flags);
/* One record: header, the n parts of the body in order, then padding. */
int stream_writer__record(struct stream_writer *w, uint32_t type, const void *const *parts,
			  const size_t *lens, int n);
int stream_writer__checkpoint(struct stream_writer *w, uint64_t epoch);
int stream_writer__end(struct stream_writer *w);

struct stream_record {
	uint32_t type;
	uint32_t length;
	const uint8_t *body; /* valid until the next stream_reader__next */
	uint64_t offset;     /* of the record header in the stream */
};

struct stream_reader {
	stream_read_fn read;
	void *ctx;
	uint64_t offset;
	uint32_t flags; /* the header's, once read */
	uint8_t *buf;
	size_t cap;
	int ended;
	int have_epoch;
	uint64_t last_epoch;
	uint64_t records; /* known records returned */
	uint64_t skipped; /* unknown optional records passed over */
	char err[STREAM_ERR_MAX];
};

/* Idempotent pair; dispose frees the body buffer. */
void stream_reader__init(struct stream_reader *r, stream_read_fn read, void *ctx);
void stream_reader__dispose(struct stream_reader *r);
/* Reads and checks the header: 0, or -EBADMSG/-EPROTO/-EIO-style errors with r->err set. */
int stream_reader__header(struct stream_reader *r);
/*
 * The next record the caller must handle: unknown optional records are
 * skipped, an unknown mandatory one is refused.  END is returned once;
 * reading on after it is an error.
 */
int stream_reader__next(struct stream_reader *r, struct stream_record *rec);
/*
 * After END, for a source that ends with the stream (a file): 0 if the next
 * read returns no byte, else -EBADMSG naming the byte offset of what follows
 * END (a live channel carries the ack after END: do not call it there).
 */
int stream_reader__expect_eof(struct stream_reader *r);

const char *stream__type_to_str(uint32_t type);

#endif
