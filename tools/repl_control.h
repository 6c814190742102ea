/* Replication behind twin-vmm's control socket: the primary's protection, the backup's failover. */
#ifndef TOOLS_REPL_CONTROL_H
#define TOOLS_REPL_CONTROL_H
#include <stdbool.h>
#include <stddef.h>
#include "control.h"

struct vm;
struct repl_backup;
struct repl_control;

/*
 * Threads: the control server's calls protect, unprotect, set, status, failover, fence and
 * degrade, one at a time; the main thread calls before_exit, activated and free.  backup:
 * twin-vmm backup's, whose VM runs only after a failover.  0 or -errno.
 */
int repl_control__new(struct vm *vm, bool backup, struct repl_control **out);
/* Unprotects first if still protecting, frees the engines; NULL is a no-op.  Before vm__destroy. */
void repl_control__free(struct repl_control *r);

/*
 * Primary.  One protection at a time: a new protect after degraded, failed or unprotected
 * frees the old engine (its status stays for query-replication until then).
 */
int repl_control__protect(struct repl_control *r, const struct control_protect *p, char *err,
			  size_t errlen);
int repl_control__unprotect(struct repl_control *r, char *err, size_t errlen);
int repl_control__set(struct repl_control *r, const struct control_repl_set *s, char *err,
		      size_t errlen);
/* The engine's status, the backup's, or state none. */
void repl_control__status(struct repl_control *r, struct repl_status *out);
/*
 * Why a save or migration (what) cannot run now: the VM is syncing or protected (its dirty
 * log belongs to the engine).  0, or -EBUSY with err naming the fix.
 */
int repl_control__refuse_migration(struct repl_control *r, const char *what, char *err,
				   size_t errlen);
/*
 * Main thread: the running engine's event fd (readable once it ended on its own: degraded,
 * or the sync failed), -1 if none or already reported.  Poll it with wake_fd, which a new
 * protect makes readable so that the new engine's fd is polled instead.
 */
int repl_control__engine_fd(struct repl_control *r);
/* Main thread, on either fd: clears the wake and reports an engine that ended (warning). */
void repl_control__check(struct repl_control *r);
/* Main thread, before stopping the VM: quit while protected unprotects first (logged). */
void repl_control__before_exit(struct repl_control *r);

/*
 * Fenced (on) or not: the engine's acks release nothing while fenced, nor the next engine's
 * (a protect is refused meanwhile); query-replication says "fenced".  Pausing the VM is the
 * caller's.
 */
void repl_control__fence(struct repl_control *r, bool on);
/* The degrade command (repl_primary__degrade), refused while fenced or unprotected. */
int repl_control__degrade(struct repl_control *r, char *err, size_t errlen);

/* Backup, once the initial sync is acked.  Takes b (freed by repl_control__free). */
void repl_control__set_backup(struct repl_control *r, struct repl_backup *b);
/* True while a backup whose VM does not run yet. */
bool repl_control__is_backup(struct repl_control *r);
/*
 * The failover command: activates the backup, wakes the main thread (wake_fd), and waits
 * until it reports the VM running (repl_control__activated).  0 or -errno with err.
 */
int repl_control__failover(struct repl_control *r, char *err, size_t errlen);
/* Readable once failover has activated the backup (the main thread then starts the VM), or
 * a new protect replaced the engine. */
int repl_control__wake_fd(const struct repl_control *r);
/*
 * Main thread: the VM runs (rc 0) or will not (rc -errno, why); answers a failover waiting.
 * After rc 0 this twin-vmm is an ordinary running VM: every command is served.
 */
void repl_control__activated(struct repl_control *r, int rc, const char *why);

#endif
