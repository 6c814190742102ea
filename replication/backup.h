/*
 * The backup's replication engine: a shadow VM (no vCPU runs) fed epoch by epoch from the
 * primary's stream after the initial sync, acking each commit; failover activates it.
 */
#ifndef REPLICATION_BACKUP_H
#define REPLICATION_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include "channel.h"
#include "replication.h"
#include "stream.h"

struct vm;
struct repl_backup;

struct repl_backup_params {
	uint64_t timeout_ns; /* the primary unheard this long is gone (REPL_TIMEOUT_DEFAULT_NS) */
	/*
	 * Activate on its own when the primary is gone.  For a two-host pair without a cluster,
	 * as in Remus: UNSAFE under a network partition (both copies would run).
	 */
	bool auto_failover;
};

/* Why the backup's thread ended (repl_backup__event_fd). */
enum repl_backup_end {
	REPL_BACKUP_RUNNING,	 /* not ended */
	/*
	 * Failover, asked (repl_backup__activate) or automatic: the last committed state is
	 * restored; the caller runs vm__start, then devstate__announce.
	 */
	REPL_BACKUP_ACTIVATE,
	REPL_BACKUP_UNPROTECTED, /* the primary sent END: the caller exits 0 */
	REPL_BACKUP_LOST,	 /* the primary is gone, no auto-failover: wait for failover/quit */
};

/*
 * After the initial sync: vm holds epoch 0 (migrate__receive returned at CHECKPOINT(0) on
 * this CHECKPOINTED stream r) and its ack is written.  Takes r and ch (closed by _free) and
 * reads epochs on a thread of its own: stage, commit at CHECKPOINT (pages and disk writes
 * applied and durable; the state kept for activation), ACK; answer heartbeats.
 */
int repl_backup__start(struct vm *vm, struct channel *ch, struct stream_reader *r,
		       const struct repl_backup_params *p, const char *peer,
		       struct repl_backup **out, char *err, size_t errlen);

/* Readable once repl_backup__end is no longer RUNNING. */
int repl_backup__event_fd(const struct repl_backup *b);
enum repl_backup_end repl_backup__end(struct repl_backup *b);

/*
 * The failover command: ends the stream (cut), discards a partly received epoch, restores
 * the last committed state into the VM; the end becomes ACTIVATE.  Also after LOST.
 * -EALREADY once activated, else 0 or -errno with err (the VM is not runnable: it must not
 * start; the end stays).  Any thread but the backup's.
 */
int repl_backup__activate(struct repl_backup *b, char *err, size_t errlen);

void repl_backup__status(struct repl_backup *b, struct repl_status *out);

/* Stops the thread, closes the connection, frees; NULL is a no-op.  Before vm__destroy. */
void repl_backup__free(struct repl_backup *b);

#endif
