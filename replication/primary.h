/*
 * The primary's replication engine: the initial sync into the backup, then checkpoints
 * (epoch, event or hybrid mode) with output commit, heartbeat, degraded mode, and the
 * cluster's hooks: stalled instead of degraded, fence and degrade on clusterd's word.
 */
#ifndef REPLICATION_PRIMARY_H
#define REPLICATION_PRIMARY_H

#include <stdbool.h>
#include <stddef.h>
#include "channel.h"
#include "replication.h"

struct vm;
struct repl_primary;

/*
 * Starts protecting a running VM toward the backup at peer (HOST:PORT) on a thread of its
 * own and returns at once (status SYNCING): connect with sec, the initial sync (a live
 * migration whose stream is CHECKPOINTED and ends with CHECKPOINT(0) instead of END), then
 * the checkpoints.  Refused at once (-EINVAL, err says why and the fix): bad params, a VM
 * that is paused, a disk on shared storage (each host needs its own image).  0 or -errno.
 *
 * p->timeout_ns bounds an epoch's ack from when its CHECKPOINT is written whole, and the
 * backup's silence while no epoch awaits its ack.  The backup answers nothing while it
 * commits an epoch, fdatasync of every disk written included: the timeout must cover the
 * slowest commit (a large disk epoch on a slow disk), or a healthy pair degrades.
 */
int repl_primary__start(struct vm *vm, const struct repl_params *p, const char *peer,
			const struct channel_security *sec, struct repl_primary **out, char *err,
			size_t errlen);

/* Any thread: a consistent snapshot. */
void repl_primary__status(struct repl_primary *r, struct repl_status *out);

/*
 * Any thread, cheap (no quantiles, no buffer stats): fills only out's state, mode, peer and
 * error, and returns the state.
 */
enum repl_state repl_primary__state(struct repl_primary *r, struct repl_status *out);

/*
 * Switches mode and timing on a protected VM from the next checkpoint on (0 keeps an
 * interval).  -EINVAL with err for a bad value.
 */
int repl_primary__set(struct repl_primary *r, enum repl_mode mode, uint64_t interval_ns,
		      uint64_t min_spacing_ns, char *err, size_t errlen);

/*
 * Fenced (DESIGN.md §8: this host is outside quorum): acks release no output and nothing
 * degrades, the output stays held (bounded); unfenced: what was acked meanwhile goes out.
 * Pausing the VM is the caller's.  Any state; fast (a flag under the engine's lock).
 */
void repl_primary__fence(struct repl_primary *r, bool on);

/*
 * clusterd confirmed the backup's death: a cluster-managed VM, stalled or protected, releases
 * all held output, its replication torn down; returns once degraded.  -EPERM while fenced,
 * -EINVAL if not cluster-managed or in another state; err says why.
 */
int repl_primary__degrade(struct repl_primary *r, char *err, size_t errlen);

/*
 * Readable (poll) once the engine's thread has ended on its own: the initial sync failed
 * (state FAILED), or the epochs failed to start or the link failed after (state DEGRADED).
 * A cluster-managed or fenced VM whose link fails is STALLED instead, and signals nothing
 * until clusterd's degrade.  The VM runs either way.
 */
int repl_primary__event_fd(const struct repl_primary *r);

/*
 * Unprotect: a last checkpoint and its ack (bounded by the timeout), END (the backup exits),
 * every held frame released, dirty logging and disk tracking off, the thread joined.  State
 * UNPROTECTED.  Cancels an initial sync in progress.  Never loses output.  0 or -errno (the
 * output is released and the VM runs in any case).
 */
int repl_primary__stop(struct repl_primary *r, char *err, size_t errlen);


/* repl_primary__stop if still running, then frees; NULL is a no-op.  Before vm__destroy. */
void repl_primary__free(struct repl_primary *r);

#endif
