/*
 * What the backup writes back on the replication connection (STREAM.md, "Replication"):
 * fixed 256-byte replies, after the initial sync's READY and ack.
 */
#ifndef REPLICATION_REPL_WIRE_H
#define REPLICATION_REPL_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include "stream.h"

#define REPL_REPLY_MAGIC "TWINREP1"

enum repl_reply_kind {
	REPL_REPLY_ACK = 1,	  /* epoch is committed: the primary may release its output */
	REPL_REPLY_HEARTBEAT = 2, /* answers a HEARTBEAT record; epoch = the last committed */
	REPL_REPLY_FAIL = 3,	  /* the backup gives up (status -errno, message why); it closes */
};

struct repl_reply {
	char magic[8]; /* REPL_REPLY_MAGIC, no NUL */
	uint32_t kind;
	int32_t status; /* 0, or FAIL: a -errno in -4095..-1 */
	uint64_t epoch;
	char message[232]; /* FAIL: NUL-terminated, zero-padded; else all zero */
};
_Static_assert(sizeof(struct repl_reply) == 256, "a reply is 256 bytes");

/* 0 or the writer's -errno; msg may be NULL (truncated to fit). */
int repl_reply__write(stream_write_fn w, void *ctx, enum repl_reply_kind kind, int status,
		      uint64_t epoch, const char *msg);
/*
 * Reads exactly one reply and checks it (magic, kind, status range, reserved zero, message
 * terminated).  0; -EPIPE at a clean end before any byte; -EBADMSG with err naming the field
 * for a bad reply or one cut short; the reader's -errno.
 */
int repl_reply__read(stream_read_fn r, void *ctx, struct repl_reply *out, char *err,
		     size_t errlen);

#endif
