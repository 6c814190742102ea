/* twin-clusterd's twin-vmm processes: spawn per role, logs, control commands, reaping, restarts. */
#ifndef CLUSTERD_SUPERVISOR_H
#define CLUSTERD_SUPERVISOR_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <event2/event.h>
#include "conf.h"
#include "model.h"
#include "vmm_client.h"

/* A crashed unprotected primary is restarted in place at most this often per window. */
#define SUPERVISOR_RESTARTS	    3
#define SUPERVISOR_RESTART_WINDOW_S 300

/* Called on the event-loop thread, never from inside a supervisor__ call. */
struct supervisor_ops {
	/* What the model hears of a vmm: started, exited, protected, sync failed, ... */
	void (*event)(void *opaque, const struct cl_local_event *ev);
	/*
	 * Whether vm's primary, crashed here, may be restarted in place without the model
	 * hearing of it: only while it runs unprotected (no backup could take over).
	 */
	bool (*may_restart)(void *opaque, const char *vm);
	void *opaque;
};

struct supervisor;

/* Reaps through a SIGCHLD event on base.  0 or -errno. */
int supervisor__new(struct event_base *base, const struct clusterd_conf *conf,
		    const struct supervisor_ops *ops, struct supervisor **out);

/*
 * Starts twin-vmm for (vm, role) from its config text; a backup listens on port.  stdout and
 * stderr append to STATE_DIR/vms/VM/log.  Any failure is reported as the vmm's exit.
 */
void supervisor__spawn(struct supervisor *s, const char *vm, enum cl_role role, const char *config,
		       uint16_t port);

/* Carries out a CL_ACT_VMM action (protect, failover, degrade, fence, ...) on (vm, role). */
void supervisor__command(struct supervisor *s, const struct cl_action *a);

/* Sends sig to (vm, role)'s vmm; its exit is reported as usual, never restarted. */
void supervisor__kill(struct supervisor *s, const char *vm, enum cl_role role, int sig);

/* SIGKILLs every vmm (a stop or a lost Corosync link); their exits are reported as usual. */
void supervisor__kill_all(struct supervisor *s);

/*
 * The last query-replication answer of vm's primary here, plus "epochs_per_s" (borrowed; NULL
 * if none): polled every 200-500 ms from its protect on.
 */
json_t *supervisor__replication(struct supervisor *s, const char *vm);

/* The last failure of vm's twin-vmm here (protect, the sync, failover) since its last
 * successful sync, or NULL. */
const char *supervisor__error(struct supervisor *s, const char *vm);

/* How many vmms are alive (not yet reaped). */
unsigned int supervisor__alive(const struct supervisor *s);

/* Frees what is left; live vmms are not touched.  NULL: no-op. */
void supervisor__free(struct supervisor *s);

/* ---- For the local commands (local_cmd.h) ---- */

/*
 * Sends cmd with args (stolen; NULL for none) to (vm, role)'s connected twin-vmm (CL_ROLE_NONE:
 * whichever runs here).  done is called exactly once, on the loop, maybe before this returns:
 * with the reply, its error, or "exited" when the twin-vmm dies first.  -ENOENT: no such vmm
 * here; -ENOTCONN: not connected (yet); done is then never called.
 */
int supervisor__call(struct supervisor *s, const char *vm, enum cl_role role, const char *cmd,
		     json_t *args, int timeout_ms, vmm_client_done_fn done, void *arg);

/* Calls fn for every live vmm here (spawned, not being killed), in slot order. */
void supervisor__each(struct supervisor *s,
		      void (*fn)(void *arg, const char *vm, enum cl_role role, pid_t pid),
		      void *arg);

/*
 * The host CPUs new twin-vmms run on: `--cpus list` on their command line ("": none given, they
 * inherit clusterd's).  0, or -ENAMETOOLONG (the last list stays).
 */
int supervisor__set_vmm_cpus(struct supervisor *s, const char *list);

#endif
