/* Replication behind twin-vmm's control socket: the primary's protection, the backup's failover. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "backup.h"
#include "log.h"
#include "primary.h"
#include "repl_control.h"
#include "util.h"

/* A failover waits this long for the main thread to start the VM (a few ms in practice). */
#define FAILOVER_START_TIMEOUT_S 30

/*
 * lock guards every field: the control server's thread and the main thread share them.
 * The engines' own calls may block (stop waits for the backup's last ack): they run under
 * lock, which only the main thread's exit path and the one control thread contend for.
 */
struct repl_control {
	struct vm *vm;
	pthread_mutex_t lock;
	pthread_cond_t started;	      /* activated() answered a failover */
	struct repl_primary *primary; /* the last protect's engine; NULL before any */
	bool is_backup;		      /* twin-vmm backup's: no VM runs before a failover */
	struct repl_backup *backup;   /* its engine, once the initial sync is acked */
	bool runs;		      /* the backup failed over: its VM runs */
	bool answered;		      /* activated() was called */
	bool exiting;		      /* before_exit ran: no new protection */
	bool reported;		      /* the primary engine's end was logged */
	bool fenced;		      /* no output released, for this engine and the next */
	int start_rc;
	char start_err[256];
	int wake_fd; /* failover or a new protect -> the main thread */
	/* The protect request's strings, kept: the engine connects on its own thread. */
	char uri[256], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], psk[PATH_MAX];
};

int repl_control__new(struct vm *vm, bool backup, struct repl_control **out)
{
	struct repl_control *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (r->wake_fd < 0) {
		int rc = -errno;

		free(r);
		return rc;
	}
	r->vm = vm;
	r->is_backup = backup;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->started, NULL);
	*out = r;
	return 0;
}

/* Under lock: the primary engine's state (none without one). */
static enum repl_state primary_state(struct repl_control *r, struct repl_status *st)
{
	if (!r->primary)
		return REPL_STATE_NONE;
	repl_primary__status(r->primary, st);
	return st->state;
}

/* The engine's thread is at work (or ended degraded and must still be stopped). */
static bool engaged(enum repl_state s)
{
	return s == REPL_STATE_SYNCING || s == REPL_STATE_PROTECTED || s == REPL_STATE_STALLED ||
	       s == REPL_STATE_DEGRADED;
}

/* The engine owns the dirty log and holds output: no migration, no second protect. */
static bool busy(enum repl_state s)
{
	return s == REPL_STATE_SYNCING || s == REPL_STATE_PROTECTED || s == REPL_STATE_STALLED;
}

static void wake(struct repl_control *r)
{
	uint64_t one = 1;

	if (write(r->wake_fd, &one, sizeof(one)) != sizeof(one))
		log__error("replication: cannot wake the main loop: %s", strerror(errno));
}

/* Copies s into buf: the request's strings die with its reply; NULL stays NULL. */
static const char *keep(char *buf, size_t size, const char *s)
{
	if (!s)
		return NULL;
	snprintf(buf, size, "%s", s);
	return buf;
}

int repl_control__protect(struct repl_control *r, const struct control_protect *p, char *err,
			  size_t errlen)
{
	struct channel_security sec;
	struct repl_status st;
	enum repl_state s;
	int rc = 0;

	if (strlen(p->uri) >= sizeof(r->uri))
		return util__fail(err, errlen, -ENAMETOOLONG,
				  "protect: the uri is too long: use a shorter host name");
	pthread_mutex_lock(&r->lock);
	s = primary_state(r, &st);
	if (r->exiting) {
		rc = util__fail(err, errlen, -ESHUTDOWN, "protect: twin-vmm is exiting");
	} else if (r->fenced) {
		rc = util__fail(err, errlen, -EPERM, "protect: the VM is fenced: unfence it first");
	} else if (busy(s)) {
		rc = util__fail(err, errlen, -EBUSY,
				"protect: the VM is already %s toward %.128s: unprotect first",
				repl_state__to_str(s), st.peer);
	}
	if (rc)
		goto out;
	/* Degraded, failed or unprotected: that engine is done with; its status goes. */
	repl_primary__free(r->primary);
	r->primary = NULL;
	keep(r->uri, sizeof(r->uri), p->uri);
	sec = (struct channel_security){
	    .cert = keep(r->cert, sizeof(r->cert), p->security.cert),
	    .key = keep(r->key, sizeof(r->key), p->security.key),
	    .ca = keep(r->ca, sizeof(r->ca), p->security.ca),
	    .psk_file = keep(r->psk, sizeof(r->psk), p->security.psk_file),
	    .insecure = p->security.insecure,
	};
	rc = repl_primary__start(r->vm, &p->params, r->uri, &sec, &r->primary, err, errlen);
	if (rc) {
		r->primary = NULL;
		goto out;
	}
	r->reported = false;
	wake(r);
	log__info("control: protecting the VM toward %s (%s mode%s)", r->uri,
		  repl_mode__to_str(p->params.mode), p->params.cluster ? ", cluster-managed" : "");
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int repl_control__unprotect(struct repl_control *r, char *err, size_t errlen)
{
	struct repl_status st;
	enum repl_state s;
	int rc;

	pthread_mutex_lock(&r->lock);
	s = primary_state(r, &st);
	if (!engaged(s)) {
		rc =
		    util__fail(err, errlen, -EINVAL,
			       "unprotect: the VM is not protected (replication state %s%s%.128s): "
			       "nothing to stop",
			       repl_state__to_str(s), st.error[0] && r->primary ? ": " : "",
			       r->primary ? st.error : "");
		goto out;
	}
	/* Either would let out output the backup may not hold (DESIGN.md §8). */
	if (r->fenced || s == REPL_STATE_STALLED) {
		rc = util__fail(err, errlen, -EPERM,
				"unprotect: the VM is %s: its held output may not go out; %s",
				r->fenced ? "fenced" : "stalled",
				r->fenced ? "unfence it first"
					  : "degrade it once the backup's death is confirmed");
		goto out;
	}
	rc = repl_primary__stop(r->primary, err, errlen);
	if (rc)
		log__warn("control: unprotect: %s; the VM runs unprotected", err);
	else
		log__info("control: unprotected: the backup at %s exits", st.peer);
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int repl_control__set(struct repl_control *r, const struct control_repl_set *s, char *err,
		      size_t errlen)
{
	struct repl_status st;
	enum repl_state state;
	int rc;

	pthread_mutex_lock(&r->lock);
	state = primary_state(r, &st);
	if (state != REPL_STATE_SYNCING && state != REPL_STATE_PROTECTED) {
		rc = util__fail(err, errlen, -EINVAL,
				"set-replication: the VM is not protected (replication state %s): "
				"protect it first",
				repl_state__to_str(state));
		goto out;
	}
	rc = repl_primary__set(r->primary, s->mode_set ? s->mode : st.mode, s->interval_ns,
			       s->min_spacing_ns, err, errlen);
	if (!rc)
		log__info("control: replication set to %s mode",
			  repl_mode__to_str(s->mode_set ? s->mode : st.mode));
out:
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void repl_control__status(struct repl_control *r, struct repl_status *out)
{
	struct repl_params d;

	pthread_mutex_lock(&r->lock);
	if (r->primary) {
		repl_primary__status(r->primary, out);
		out->fenced = r->fenced;
	} else if (r->backup) {
		repl_backup__status(r->backup, out);
	} else {
		repl_params__defaults(&d);
		*out = (struct repl_status){
		    .state = REPL_STATE_NONE,
		    .primary = true,
		    .mode = d.mode,
		    .interval_ns = d.interval_ns,
		    .min_spacing_ns = d.min_spacing_ns,
		    .fenced = r->fenced,
		};
	}
	pthread_mutex_unlock(&r->lock);
}

int repl_control__refuse_migration(struct repl_control *r, const char *what, char *err,
				   size_t errlen)
{
	struct repl_status st;
	enum repl_state s;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	s = primary_state(r, &st);
	/* Its dirty log and disk tracking are the engine's until it ends. */
	if (busy(s))
		rc = util__fail(err, errlen, -EBUSY,
				"%s: the VM is %s toward %.128s: unprotect first", what,
				repl_state__to_str(s), st.peer);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int repl_control__engine_fd(struct repl_control *r)
{
	int fd;

	pthread_mutex_lock(&r->lock);
	fd = r->primary && !r->reported ? repl_primary__event_fd(r->primary) : -1;
	pthread_mutex_unlock(&r->lock);
	return fd;
}

void repl_control__check(struct repl_control *r)
{
	struct repl_status st;
	struct pollfd p = {.fd = r->wake_fd, .events = POLLIN};
	uint64_t n;

	if (poll(&p, 1, 0) == 1 && read(r->wake_fd, &n, sizeof(n)) < 0)
		log__error("replication: cannot clear the wake: %s", strerror(errno));
	pthread_mutex_lock(&r->lock);
	p.fd = r->primary && !r->reported ? repl_primary__event_fd(r->primary) : -1;
	if (p.fd >= 0 && poll(&p, 1, 0) == 1) {
		/* Ended on its own: the operator must hear of it, not only query-replication. */
		r->reported = true;
		repl_primary__status(r->primary, &st);
		if (st.state == REPL_STATE_DEGRADED)
			log__warn(
			    "replication: DEGRADED: %s; the VM runs unprotected, its output no "
			    "longer held: protect it again toward a backup",
			    st.error);
		else if (st.state == REPL_STATE_FAILED)
			log__warn("replication: protect toward %s %s: %s; the VM runs unprotected",
				  st.peer, repl_state__to_str(st.state), st.error);
	}
	pthread_mutex_unlock(&r->lock);
}

void repl_control__before_exit(struct repl_control *r)
{
	struct repl_status st;
	char err[256];

	pthread_mutex_lock(&r->lock);
	r->exiting = true;
	/* A failover still waiting must not hold the control thread (joined at exit). */
	if (!r->answered) {
		r->answered = true;
		r->start_rc = -ESHUTDOWN;
		snprintf(r->start_err, sizeof(r->start_err), "twin-vmm is exiting");
		pthread_cond_broadcast(&r->started);
	}
	/* Quit while protected: END tells the backup to exit 0 instead of mourning a loss. */
	if (engaged(primary_state(r, &st))) {
		log__info("control: exiting while protected: unprotecting first");
		if (repl_primary__stop(r->primary, err, sizeof(err)))
			log__warn("control: unprotect at exit: %s", err);
	}
	pthread_mutex_unlock(&r->lock);
}

void repl_control__fence(struct repl_control *r, bool on)
{
	pthread_mutex_lock(&r->lock);
	r->fenced = on;
	if (r->primary)
		repl_primary__fence(r->primary, on);
	pthread_mutex_unlock(&r->lock);
}

int repl_control__degrade(struct repl_control *r, char *err, size_t errlen)
{
	struct repl_status st;
	enum repl_state s;
	int rc;

	pthread_mutex_lock(&r->lock);
	s = primary_state(r, &st);
	if (r->fenced)
		rc = util__fail(err, errlen, -EPERM,
				"degrade: the VM is fenced (this host is outside quorum): nothing "
				"may be released; unfence it first");
	else if (!r->primary)
		rc = util__fail(err, errlen, -EINVAL,
				"degrade: the VM is not protected (replication state %s)",
				repl_state__to_str(s));
	else
		rc = repl_primary__degrade(r->primary, err, errlen);
	if (!rc)
		log__warn("control: DEGRADED by clusterd: the held output went out; the VM runs "
			  "unprotected");
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void repl_control__set_backup(struct repl_control *r, struct repl_backup *b)
{
	pthread_mutex_lock(&r->lock);
	r->backup = b;
	pthread_mutex_unlock(&r->lock);
}

bool repl_control__is_backup(struct repl_control *r)
{
	bool backup;

	pthread_mutex_lock(&r->lock);
	backup = r->is_backup && !r->runs;
	pthread_mutex_unlock(&r->lock);
	return backup;
}

int repl_control__failover(struct repl_control *r, char *err, size_t errlen)
{
	struct timespec deadline;
	int rc;

	pthread_mutex_lock(&r->lock);
	if (!r->is_backup) {
		pthread_mutex_unlock(&r->lock);
		return util__fail(err, errlen, -EINVAL,
				  "failover: this twin-vmm is not a backup: failover is for a "
				  "twin-vmm backup (this one runs the VM already)");
	}
	if (!r->backup) {
		pthread_mutex_unlock(&r->lock);
		return util__fail(err, errlen, -EAGAIN,
				  "failover: the initial sync is not complete: there is no "
				  "committed state to run yet; wait for it");
	}
	if (r->runs) {
		pthread_mutex_unlock(&r->lock);
		return util__fail(err, errlen, -EALREADY,
				  "failover: done already: the VM runs here");
	}
	pthread_mutex_unlock(&r->lock);
	/* -EALREADY: auto-failover got there first; the main thread is starting the VM. */
	rc = repl_backup__activate(r->backup, err, errlen);
	if (rc && rc != -EALREADY)
		return rc;
	wake(r);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += FAILOVER_START_TIMEOUT_S;
	pthread_mutex_lock(&r->lock);
	while (!r->answered)
		if (pthread_cond_timedwait(&r->started, &r->lock, &deadline) == ETIMEDOUT)
			break;
	if (!r->answered)
		rc = util__fail(err, errlen, -ETIMEDOUT,
				"failover: the VM did not start within %d s: see twin-vmm's log",
				FAILOVER_START_TIMEOUT_S);
	else if (r->start_rc)
		rc = util__fail(err, errlen, r->start_rc, "failover: %s", r->start_err);
	else
		rc = 0;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int repl_control__wake_fd(const struct repl_control *r)
{
	return r->wake_fd;
}

void repl_control__activated(struct repl_control *r, int rc, const char *why)
{
	pthread_mutex_lock(&r->lock);
	r->answered = true;
	r->runs = !rc;
	r->start_rc = rc;
	snprintf(r->start_err, sizeof(r->start_err), "%s", why ? why : "");
	pthread_cond_broadcast(&r->started);
	pthread_mutex_unlock(&r->lock);
}

void repl_control__free(struct repl_control *r)
{
	if (!r)
		return;
	if (!r->exiting)
		repl_control__before_exit(r);
	repl_primary__free(r->primary);
	repl_backup__free(r->backup);
	pthread_cond_destroy(&r->started);
	pthread_mutex_destroy(&r->lock);
	close(r->wake_fd);
	free(r);
}
