/* The backup's 256-byte replies (repl_wire.h): written whole, read back with each field checked. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "repl_wire.h"
#include "util.h"

int repl_reply__write(stream_write_fn w, void *ctx, enum repl_reply_kind kind, int status,
		      uint64_t epoch, const char *msg)
{
	struct repl_reply rep;

	memset(&rep, 0, sizeof(rep)); /* the message's padding is on the wire: zero it */
	memcpy(rep.magic, REPL_REPLY_MAGIC, sizeof(rep.magic));
	rep.kind = kind;
	rep.status = status;
	rep.epoch = epoch;
	if (msg)
		snprintf(rep.message, sizeof(rep.message), "%s", msg);
	return w(ctx, &rep, sizeof(rep));
}

/* The message: NUL-terminated, zero after the NUL; only FAIL may carry one. */
static int check_message(const struct repl_reply *rep, char *err, size_t errlen)
{
	const char *nul = memchr(rep->message, '\0', sizeof(rep->message));

	if (!nul)
		return util__fail(err, errlen, -EBADMSG,
				  "replication reply: message is not NUL-terminated");
	for (const char *p = nul; p < rep->message + sizeof(rep->message); p++)
		if (*p)
			return util__fail(err, errlen, -EBADMSG,
					  "replication reply: message padding is not zero");
	if (rep->kind != REPL_REPLY_FAIL && nul != rep->message)
		return util__fail(err, errlen, -EBADMSG,
				  "replication reply: a %s carries a message",
				  rep->kind == REPL_REPLY_ACK ? "ACK" : "HEARTBEAT");
	return 0;
}

int repl_reply__read(stream_read_fn r, void *ctx, struct repl_reply *out, char *err, size_t errlen)
{
	size_t got = 0;

	while (got < sizeof(*out)) {
		ssize_t n = r(ctx, (uint8_t *)out + got, sizeof(*out) - got);

		if (n < 0)
			return util__fail(err, errlen, (int)n, "replication reply: read error: %s",
					  strerror((int)-n));
		if (n == 0 && got == 0)
			return util__fail(err, errlen, -EPIPE,
					  "replication reply: the backup closed the connection");
		if (n == 0)
			return util__fail(err, errlen, -EBADMSG,
					  "replication reply: cut short at %zu of %zu bytes", got,
					  sizeof(*out));
		got += (size_t)n;
	}
	if (memcmp(out->magic, REPL_REPLY_MAGIC, sizeof(out->magic)) != 0)
		return util__fail(err, errlen, -EBADMSG,
				  "replication reply: bad magic: the peer is not a Twin backup "
				  "of this version");
	if (out->kind < REPL_REPLY_ACK || out->kind > REPL_REPLY_FAIL)
		return util__fail(err, errlen, -EBADMSG, "replication reply: unknown kind %u",
				  out->kind);
	if (out->kind == REPL_REPLY_FAIL ? out->status < -4095 || out->status > -1
					 : out->status != 0)
		return util__fail(err, errlen, -EBADMSG,
				  "replication reply: status %d out of range for its kind",
				  out->status);
	return check_message(out, err, errlen);
}
