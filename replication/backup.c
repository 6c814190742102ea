/* The backup's engine: epochs committed and acked on a reader thread, heartbeats, failover. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "backup.h"
#include "epoch_buffer.h"
#include "log.h"
#include "repl_stats.h"
#include "repl_wire.h"
#include "util.h"

/*
 * An epoch may hold this much (pages, state and disk writes) before the backup gives up
 * (FAIL, "cannot keep up"): 1 GiB, far beyond what 25 ms of dirtying produces.
 */
#define BACKUP_EPOCH_CAP (1ULL << 30)

/* Why the reader stopped reading, decided once, under the lock. */
enum stop_why {
	STOP_GONE,    /* EOF, a cut connection or the watchdog: the primary is gone */
	STOP_REFUSED, /* a bad record or a failed commit: FAIL sent */
	STOP_END,     /* END: unprotected */
	STOP_CUT,     /* repl_backup__activate or __free cut the stream: they take over */
};

struct repl_backup {
	struct channel *ch;
	struct stream_reader *r;
	struct epoch_buffer *eb;
	struct repl_backup_params p;
	/* The caller's read function, wrapped while the reader runs (watched_read). */
	stream_read_fn read;
	void *read_ctx;
	bool io_failed; /* the reader's thread only: a read hit EOF or an error, a write failed */
	int efd;
	pthread_t reader, watchdog;
	bool reader_joined;

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t wake;  /* the watchdog: stop, or silence to re-measure */
	bool stopping;	      /* the watchdog ends */
	bool cut;	      /* the control thread cut the stream (activate, free) */
	bool timed_out;	      /* the watchdog cut the stream */
	enum repl_backup_end end;
	enum repl_state state;
	uint64_t epoch, epochs;
	struct repl_window commit_ns;
	uint64_t last_heard_ns;
	char peer[REPL_PEER_MAX];
	char error[REPL_ERR_MAX];
};

static void heard(struct repl_backup *b)
{
	pthread_mutex_lock(&b->lock);
	b->last_heard_ns = util__mono_ns();
	pthread_mutex_unlock(&b->lock);
}

/*
 * The connection, watched: any byte read is a sign of life for the watchdog, and a read
 * that returned 0 or an error, or a failed write, means the connection failed, not a record
 * (the stream reader reports both as its own errors).
 */
static ssize_t watched_read(void *ctx, void *buf, size_t len)
{
	struct repl_backup *b = ctx;
	ssize_t n = b->read(b->read_ctx, buf, len);

	if (n > 0)
		heard(b);
	else
		b->io_failed = true;
	return n;
}

static int watched_write(void *ctx, const void *buf, size_t len)
{
	struct repl_backup *b = ctx;
	int rc = channel__write(b->ch, buf, len);

	if (rc)
		b->io_failed = true;
	return rc;
}

/* Cuts the stream once nothing was heard for timeout_ns: the reader's read then fails. */
static void *watchdog_main(void *arg)
{
	struct repl_backup *b = arg;

	pthread_mutex_lock(&b->lock);
	while (!b->stopping) {
		uint64_t deadline = b->last_heard_ns + b->p.timeout_ns;
		struct timespec ts;

		if (deadline < b->last_heard_ns) /* a timeout too long to mean anything: never */
			deadline = UINT64_MAX;

		if (util__mono_ns() >= deadline) {
			b->timed_out = true;
			pthread_mutex_unlock(&b->lock);
			channel__abort(b->ch);
			return NULL;
		}
		/* The condvar runs on CLOCK_MONOTONIC (backup_new). */
		ts.tv_sec = (time_t)(deadline / 1000000000u);
		ts.tv_nsec = (long)(deadline % 1000000000u);
		pthread_cond_timedwait(&b->wake, &b->lock, &ts);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* The end is decided: the event fd becomes readable and stays so. */
static void set_end(struct repl_backup *b, enum repl_backup_end end, enum repl_state state)
{
	uint64_t one = 1;

	pthread_mutex_lock(&b->lock);
	b->end = end;
	b->state = state;
	pthread_mutex_unlock(&b->lock);
	log__info("backup: %s (%s)",
		  end == REPL_BACKUP_ACTIVATE	   ? "activated"
		  : end == REPL_BACKUP_UNPROTECTED ? "the primary unprotected"
						   : "the primary is lost",
		  repl_state__to_str(state));
	if (write(b->efd, &one, sizeof(one)) != sizeof(one))
		log__error("backup: signalling the end failed: %s", strerror(errno));
}

/* Why the backup stopped or failed, for its status; a long reason is cut to fit. */
static void set_error(struct repl_backup *b, const char *msg)
{
	pthread_mutex_lock(&b->lock);
	snprintf(b->error, sizeof(b->error), "%.*s", (int)sizeof(b->error) - 1, msg);
	pthread_mutex_unlock(&b->lock);
}

/*
 * Failover on this side: the open epoch dropped, the last committed state into the VM.
 * 0, or -errno with err (the VM must not run).
 */
static int take_over(struct repl_backup *b, char *err, size_t errlen)
{
	int rc = epoch_buffer__discard(b->eb);

	if (rc)
		return util__fail(err, errlen, rc, "dropping the open epoch failed: %s",
				  strerror(-rc));
	return epoch_buffer__restore_state(b->eb, err, errlen);
}

/* CHECKPOINT(epoch): commit, then ACK.  0, or -errno with why (the FAIL message). */
static int checkpoint(struct repl_backup *b, const struct stream_record *rec, char *why,
		      size_t whylen)
{
	struct stream_checkpoint c;
	struct epoch_buffer_stats st;
	int rc;

	/* The stream reader checked its size; epoch_buffer__commit checks that it increases. */
	memcpy(&c, rec->body, sizeof(c));
	rc = epoch_buffer__commit(b->eb, c.epoch, why, whylen);
	if (rc)
		return rc;
	st = epoch_buffer__stats(b->eb);
	pthread_mutex_lock(&b->lock);
	b->epoch = c.epoch;
	b->epochs++;
	repl_window__add(&b->commit_ns, st.last_commit_ns);
	pthread_mutex_unlock(&b->lock);
	rc = repl_reply__write(watched_write, b, REPL_REPLY_ACK, 0, c.epoch, NULL);
	return rc ? util__fail(why, whylen, rc, "acking epoch %llu failed: %s",
			       (unsigned long long)c.epoch, strerror(-rc))
		  : 0;
}

/* One record: 0 to read on, 1 at END, or -errno with why. */
static int handle(struct repl_backup *b, const struct stream_record *rec, char *why, size_t whylen)
{
	uint64_t epoch;
	int rc;

	switch (rec->type) {
	case STREAM_REC_CHECKPOINT:
		return checkpoint(b, rec, why, whylen);
	case STREAM_REC_HEARTBEAT:
		pthread_mutex_lock(&b->lock);
		epoch = b->epoch;
		pthread_mutex_unlock(&b->lock);
		rc = repl_reply__write(watched_write, b, REPL_REPLY_HEARTBEAT, 0, epoch, NULL);
		return rc ? util__fail(why, whylen, rc, "answering a heartbeat failed: %s",
				       strerror(-rc))
			  : 0;
	case STREAM_REC_END:
		return 1;
	default:
		return epoch_buffer__record(b->eb, rec, why, whylen);
	}
}

/* The reader stopped on rc: why, from what cut it or what the connection did. */
static enum stop_why classify(struct repl_backup *b, int rc)
{
	enum stop_why why;

	pthread_mutex_lock(&b->lock);
	if (b->cut)
		why = STOP_CUT;
	else if (rc == 1)
		why = STOP_END;
	else if (b->timed_out || b->io_failed)
		why = STOP_GONE;
	else
		why = STOP_REFUSED;
	pthread_mutex_unlock(&b->lock);
	return why;
}

/* The primary is gone: with auto_failover take over at once, else wait for the command. */
static void primary_gone(struct repl_backup *b, const char *what)
{
	char err[REPL_ERR_MAX];
	int rc;

	log__error("backup: the primary is gone after epoch %llu: %s",
		   (unsigned long long)epoch_buffer__stats(b->eb).epoch, what);
	set_error(b, what);
	if (!b->p.auto_failover) {
		set_end(b, REPL_BACKUP_LOST, REPL_STATE_DEGRADED);
		return;
	}
	log__warn("backup: --auto-failover: activating (unsafe if this is a network partition: "
		  "the primary may still run)");
	rc = take_over(b, err, sizeof(err));
	if (rc) {
		log__error("backup: automatic failover failed, the VM cannot run: %s", err);
		set_error(b, err);
		set_end(b, REPL_BACKUP_LOST, REPL_STATE_DEGRADED);
		return;
	}
	set_end(b, REPL_BACKUP_ACTIVATE, REPL_STATE_FAILED_OVER);
}

static void *reader_main(void *arg)
{
	struct repl_backup *b = arg;
	char why[512] = "", msg[sizeof(why)];
	int rc;

	b->r->read = watched_read;
	b->r->ctx = b;
	do {
		struct stream_record rec;

		rc = stream_reader__next(b->r, &rec);
		if (rc) {
			snprintf(why, sizeof(why), "%s", b->r->err);
			break;
		}
		rc = handle(b, &rec, why, sizeof(why));
		heard(b); /* the time spent here is ours, not the primary's silence */
		/* The reason first: a FAIL's message (repl_wire.h) is shorter than why. */
		if (rc < 0) {
			snprintf(msg, sizeof(msg), "%s (record %s at stream byte %llu)", why,
				 stream__type_to_str(rec.type), (unsigned long long)rec.offset);
			snprintf(why, sizeof(why), "%s", msg);
		}
	} while (rc == 0);
	b->r->read = b->read;
	b->r->ctx = b->read_ctx;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);

	switch (classify(b, rc)) {
	case STOP_CUT:
		break;
	case STOP_END:
		epoch_buffer__discard(b->eb); /* records after the last CHECKPOINT never commit */
		set_end(b, REPL_BACKUP_UNPROTECTED, REPL_STATE_UNPROTECTED);
		break;
	case STOP_GONE:
		if (b->timed_out)
			snprintf(msg, sizeof(msg), "nothing heard from the primary for %llu ms",
				 (unsigned long long)(b->p.timeout_ns / 1000000));
		else
			snprintf(msg, sizeof(msg), "the connection ended or failed: %s", why);
		primary_gone(b, msg);
		break;
	default:
		/* The primary is alive but its stream is not acceptable: tell it, stop. */
		log__error("backup: REFUSING the primary's stream after epoch %llu, replication "
			   "stops (the last committed epoch is kept): %s",
			   (unsigned long long)epoch_buffer__stats(b->eb).epoch, why);
		set_error(b, why);
		repl_reply__write(watched_write, b, REPL_REPLY_FAIL,
				  rc < 0 && rc >= -4095 ? rc : -EPROTO,
				  epoch_buffer__stats(b->eb).epoch, why);
		channel__abort(b->ch);
		set_end(b, REPL_BACKUP_LOST, REPL_STATE_DEGRADED);
	}
	return NULL;
}

static int backup_new(struct vm *vm, struct channel *ch, struct stream_reader *r,
		      const struct repl_backup_params *p, const char *peer,
		      struct repl_backup **out, char *err, size_t errlen)
{
	struct repl_backup *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;

	if (!b)
		return util__fail(err, errlen, -ENOMEM, "no memory for the backup");
	b->ch = ch;
	b->r = r;
	b->p = *p;
	if (!b->p.timeout_ns)
		b->p.timeout_ns = REPL_TIMEOUT_DEFAULT_NS;
	b->read = r->read;
	b->read_ctx = r->ctx;
	b->state = REPL_STATE_PROTECTED;
	b->last_heard_ns = util__mono_ns();
	snprintf(b->peer, sizeof(b->peer), "%s", peer ? peer : "");
	repl_window__init(&b->commit_ns);
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->wake, &ca);
	pthread_condattr_destroy(&ca);
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*out = b;
	if (b->efd < 0)
		return util__fail(err, errlen, -errno, "backup: eventfd failed: %s",
				  strerror(errno));
	return epoch_buffer__new(&b->eb, vm, BACKUP_EPOCH_CAP, err, errlen);
}

int repl_backup__start(struct vm *vm, struct channel *ch, struct stream_reader *r,
		       const struct repl_backup_params *p, const char *peer,
		       struct repl_backup **out, char *err, size_t errlen)
{
	struct repl_backup *b = NULL;
	int rc;

	*out = NULL;
	rc = backup_new(vm, ch, r, p, peer, &b, err, errlen);
	if (rc == 0 && (rc = -pthread_create(&b->watchdog, NULL, watchdog_main, b)))
		util__set_err(err, errlen, "backup: starting the watchdog failed: %s",
			      strerror(-rc));
	if (rc == 0 && (rc = -pthread_create(&b->reader, NULL, reader_main, b))) {
		util__set_err(err, errlen, "backup: starting the reader failed: %s", strerror(-rc));
		pthread_mutex_lock(&b->lock);
		b->stopping = true;
		pthread_cond_signal(&b->wake);
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->watchdog, NULL);
	}
	if (rc) {
		if (b) {
			b->ch = NULL; /* no thread to stop; on failure the caller keeps ch and r */
			b->r = NULL;
		}
		repl_backup__free(b);
		return rc;
	}
	log__info("backup: protecting, epoch 0 committed, primary %s", b->peer);
	*out = b;
	return 0;
}

int repl_backup__event_fd(const struct repl_backup *b)
{
	return b->efd;
}

enum repl_backup_end repl_backup__end(struct repl_backup *b)
{
	enum repl_backup_end e;

	pthread_mutex_lock(&b->lock);
	e = b->end;
	pthread_mutex_unlock(&b->lock);
	return e;
}

/* Stops both threads (the stream cut first) and waits for them; once. */
static void join_threads(struct repl_backup *b)
{
	if (b->reader_joined)
		return;
	pthread_mutex_lock(&b->lock);
	b->cut = true;
	pthread_mutex_unlock(&b->lock);
	channel__abort(b->ch);
	pthread_join(b->reader, NULL);
	pthread_join(b->watchdog, NULL); /* the reader told it to stop */
	b->reader_joined = true;
}

int repl_backup__activate(struct repl_backup *b, char *err, size_t errlen)
{
	enum repl_backup_end end;
	int rc;

	join_threads(b); /* the reader's own end, auto-failover included, is final after */
	end = repl_backup__end(b);
	if (end == REPL_BACKUP_ACTIVATE)
		return util__fail(err, errlen, -EALREADY, "the backup is already activated");
	if (end == REPL_BACKUP_UNPROTECTED)
		return util__fail(err, errlen, -EINVAL,
				  "the primary unprotected its VM and still runs it: this backup "
				  "must not run it too");
	log__warn("backup: failover: activating from epoch %llu",
		  (unsigned long long)epoch_buffer__stats(b->eb).epoch);
	rc = take_over(b, err, errlen);
	if (rc) {
		log__error("backup: failover failed, the VM cannot run: %s", err);
		set_error(b, err);
		if (end == REPL_BACKUP_RUNNING) /* the stream is cut: nothing more comes */
			set_end(b, REPL_BACKUP_LOST, REPL_STATE_DEGRADED);
		return rc;
	}
	set_end(b, REPL_BACKUP_ACTIVATE, REPL_STATE_FAILED_OVER);
	return 0;
}

void repl_backup__status(struct repl_backup *b, struct repl_status *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&b->lock);
	out->state = b->state;
	out->primary = false;
	out->epoch = b->epoch;
	out->acked_epoch = b->epoch;
	out->epochs = b->epochs;
	repl_window__quantiles(&b->commit_ns, &out->commit_ns);
	out->peer_silent_ns = util__mono_ns() - b->last_heard_ns;
	snprintf(out->peer, sizeof(out->peer), "%s", b->peer);
	snprintf(out->error, sizeof(out->error), "%s", b->error);
	pthread_mutex_unlock(&b->lock);
}

void repl_backup__free(struct repl_backup *b)
{
	if (!b)
		return;
	if (b->ch)
		join_threads(b);
	epoch_buffer__free(b->eb);
	if (b->r)
		stream_reader__dispose(b->r);
	channel__close(b->ch);
	if (b->efd >= 0)
		close(b->efd);
	pthread_cond_destroy(&b->wake);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
