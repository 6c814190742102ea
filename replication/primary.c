/*
 * The primary's replication engine: one thread runs the initial sync, then the checkpoint loop
 * (epoch, event or hybrid), heartbeats and the unprotect; a reply reader thread takes the
 * backup's acks and releases the output they commit.
 *
 * Threads and locks.  r->lock guards everything marked so below and is never held across I/O,
 * a VM pause, an I/O-loop pause or a NIC attach: the I/O thread takes it from the trigger hooks
 * (with the NIC's ob_lock held), and the reader takes output buffer locks under it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "checkpoint.h"
#include "dirty.h"
#include "ioloop.h"
#include "log.h"
#include "output_buffer.h"
#include "pci.h"
#include "primary.h"
#include "progress.h"
#include "repl_stats.h"
#include "repl_wire.h"
#include "util.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "vm.h"

/*
 * Epochs written and not yet acked, at most: a backup this far behind is stalled (its
 * timeout then decides), and the ring of their send times stays small.
 */
#define UNACKED_MAX 64
/* The degrade command waits this long for the engine (it detaches and joins two threads). */
#define DEGRADE_TIMEOUT_NS 10000000000ULL
/* An unprotect's END to a late backup: its write may block this long before the cut. */
#define END_GRACE_NS 500000000ULL

struct repl_primary {
	struct vm *vm;
	struct repl_params p;
	char peer[REPL_PEER_MAX];
	struct channel_security sec; /* strings owned (copied at start) */
	struct migrate_job *job;
	int event_fd;
	pthread_t thread, reader, watchdog;
	bool thread_joined, reader_started, watchdog_started;

	/* The engine thread's own (set before the reader starts, read-only to it after). */
	struct channel *ch;
	struct stream_writer w;
	struct checkpoint cp;
	struct virtio_net *nets[PCI_MAX_SLOTS];
	struct output_buffer *obs[PCI_MAX_SLOTS];
	unsigned int nr_nets;
	struct virtio_blk *disks[PCI_MAX_SLOTS];
	unsigned int nr_disks;
	bool logging; /* dirty logging and disk tracking on, left so by the sync */

	/* I/O hooks: a checkpoint is wanted (event, hybrid), or the output buffer is full. */
	atomic_bool io_pending, full_pending;
	atomic_int mode; /* enum repl_mode, read by the hooks */

	pthread_mutex_t lock;
	pthread_cond_t cond;	  /* any change below: a reply, a trigger, stop, the reader's end */
	enum repl_state state;	  /* lock */
	char error[REPL_ERR_MAX]; /* lock */
	char fault[REPL_ERR_MAX]; /* lock: why the link is bad, set once, by any thread */
	bool stop;		  /* lock */
	bool attached;		  /* lock: the buffers hold output; acks release it */
	bool fenced;		  /* lock: acks release nothing, nothing degrades */
	bool degrade_req;	  /* lock: clusterd's degrade (cluster-managed) */
	bool cut;		  /* lock: held output dropped, never released; detached at free */
	bool reader_done;	  /* lock */
	bool links_done;	  /* lock: the watchdog ends */
	bool ending;		  /* lock: finish wrote or writes END: the backup's close is due */
	uint64_t finish_by;	  /* lock: nonzero: finish deals with a late ack until then */
	uint64_t interval_ns, min_spacing_ns; /* lock */
	uint64_t epoch, written, acked;	      /* lock: captured, CHECKPOINT written, acked */
	uint64_t let_out;		      /* lock: the buffers released epochs <= this */
	uint64_t written_ns[UNACKED_MAX], close_ns[UNACKED_MAX]; /* lock: by epoch % UNACKED_MAX */
	uint64_t last_heard_ns, last_write_ns, last_cp_ns;	 /* lock */
	struct repl_window pause, ack, held;			 /* lock */
	uint64_t epochs, pages_total, bytes_epochs, pages_last, bytes_last, disk_last; /* lock */
};

/* Lock held.  Every transition is logged; a stall is clusterd's to act on, and said loudly. */
static void set_state(struct repl_primary *r, enum repl_state s)
{
	if (r->state == s)
		return;
	if (s == REPL_STATE_STALLED)
		log__warn("replication: STALLED (output held until clusterd degrades or fences "
			  "the VM): %s",
			  r->error);
	log__info("replication: %s -> %s%s%s", repl_state__to_str(r->state), repl_state__to_str(s),
		  r->error[0] ? ": " : "", r->error);
	r->state = s;
	pthread_cond_broadcast(&r->cond);
}

/* Any thread: the link is bad (the first reason wins); the engine degrades at once. */
static void fault(struct repl_primary *r, const char *why)
{
	pthread_mutex_lock(&r->lock);
	if (!r->fault[0])
		snprintf(r->fault, sizeof(r->fault), "%s", why);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	/* Unblocks the engine's write (a dead backup never drains the socket). */
	if (r->ch)
		channel__abort(r->ch);
}

static void signal_event(struct repl_primary *r)
{
	uint64_t one = 1;

	if (write(r->event_fd, &one, sizeof(one)) != sizeof(one))
		log__warn("replication: signalling the event fd failed: %s", strerror(errno));
}

/* I/O thread hooks: wake the engine for a checkpoint now (event and hybrid modes only). */
static void io_trigger(void *opaque)
{
	struct repl_primary *r = opaque;

	if (atomic_load(&r->mode) == REPL_MODE_EPOCH || atomic_exchange(&r->io_pending, true))
		return;
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/*
 * An early checkpoint, in any mode: an output buffer dropped a frame (the ack makes room),
 * or the epoch's disk writes passed disk_epoch_limit.
 */
static void early_checkpoint(void *opaque)
{
	struct repl_primary *r = opaque;

	if (atomic_exchange(&r->full_pending, true))
		return;
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* I/O thread hook: a guest disk write completed. */
static void disk_written(void *opaque)
{
	struct repl_primary *r = opaque;
	uint64_t bytes = 0;

	for (unsigned int i = 0; i < r->nr_disks; i++)
		bytes += virtio_blk__tracked_bytes(r->disks[i]);
	if (bytes >= r->p.disk_epoch_limit)
		early_checkpoint(r);
	io_trigger(r);
}

static int check_params(const struct repl_params *p, char *err, size_t errlen)
{
	if ((unsigned)p->mode > REPL_MODE_HYBRID)
		return util__fail(err, errlen, -EINVAL, "unknown replication mode %d",
				  (int)p->mode);
	if (p->mode != REPL_MODE_EVENT && !p->interval_ns)
		return util__fail(
		    err, errlen, -EINVAL,
		    "an interval of 0: give interval_ms (--interval) of 1 ms or more");
	if (p->mode == REPL_MODE_HYBRID && p->min_spacing_ns > p->interval_ns)
		return util__fail(
		    err, errlen, -EINVAL,
		    "min_spacing_ms (--min-spacing) is longer than interval_ms "
		    "(--interval): hybrid mode's I/O checkpoints must come more often "
		    "than its timed ones; give a shorter min_spacing_ms");
	if (!p->timeout_ns)
		return util__fail(err, errlen, -EINVAL,
				  "a timeout of 0: give timeout_ms (--timeout) in ms");
	if (!p->disk_epoch_limit)
		return util__fail(err, errlen, -EINVAL,
				  "a disk epoch limit of 0 bytes checkpoints at every write: leave "
				  "it at its default (repl_params__defaults)");
	if (!p->output_limit)
		return util__fail(err, errlen, -EINVAL,
				  "an output limit of 0 bytes holds no frame: leave the output "
				  "limit at its default (repl_params__defaults)");
	return 0;
}

/* Lock held: the acked epochs' output goes out, unless fenced (unfence catches up). */
static void let_out_acked(struct repl_primary *r)
{
	if (!r->attached || r->fenced || r->let_out >= r->acked)
		return;
	for (unsigned int i = 0; i < r->nr_nets; i++)
		output_buffer__release(r->obs[i], r->acked);
	r->let_out = r->acked;
}

/* ACK(n): every epoch <= n is the backup's (reader, lock held). */
static void release(struct repl_primary *r, uint64_t n)
{
	uint64_t now = progress__now_ns();

	for (uint64_t e = r->acked + 1; e <= n; e++) {
		if (r->written_ns[e % UNACKED_MAX])
			repl_window__add(&r->ack, now - r->written_ns[e % UNACKED_MAX]);
		repl_window__add(&r->held, now - r->close_ns[e % UNACKED_MAX]);
		r->written_ns[e % UNACKED_MAX] = 0;
	}
	r->acked = n;
	let_out_acked(r);
}

/* The reply reader: ACK(N) releases epoch N's output; any reply says the backup lives. */
static void *reader_main(void *arg)
{
	struct repl_primary *r = arg;
	char why[REPL_ERR_MAX], err[REPL_ERR_MAX];

	for (;;) {
		struct repl_reply rep;
		int rc = repl_reply__read(channel__read, r->ch, &rep, err, sizeof(err));

		pthread_mutex_lock(&r->lock);
		if (rc) {
			bool expected = r->stop && (r->state != REPL_STATE_PROTECTED || r->ending);

			r->reader_done = true;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
			if (!expected) /* not the close after our END */
				fault(r, err);
			return NULL;
		}
		r->last_heard_ns = progress__now_ns();
		why[0] = '\0';
		if (rep.kind == REPL_REPLY_ACK && (rep.epoch <= r->acked || rep.epoch > r->epoch))
			snprintf(why, sizeof(why),
				 "the backup acked epoch %llu, which is not awaited (acked %llu, "
				 "taken %llu)",
				 (unsigned long long)rep.epoch, (unsigned long long)r->acked,
				 (unsigned long long)r->epoch);
		else if (rep.kind == REPL_REPLY_ACK)
			release(r, rep.epoch);
		else if (rep.kind == REPL_REPLY_FAIL)
			snprintf(why, sizeof(why), "the backup failed: %s (%s)", rep.message,
				 strerror(-rep.status));
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->lock);
		if (why[0]) {
			fault(r, why);
			pthread_mutex_lock(&r->lock);
			r->reader_done = true;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
			return NULL;
		}
	}
}

/* The disks' write hooks off; the I/O loop paused, so none runs meanwhile. */
static void clear_blk_hooks(struct repl_primary *r)
{
	ioloop__pause(r->vm->ioloop);
	for (unsigned int i = 0; i < r->nr_disks; i++)
		virtio_blk__set_write_hook(r->disks[i], NULL, NULL);
	ioloop__resume(r->vm->ioloop);
}

/*
 * The VM and its I/O loop paused after the sync: every NIC's frames held from now on (epoch
 * 1 is open), the disk hooks set.  0 or -errno with err.
 */
static int arm(struct repl_primary *r, char *err, size_t errlen)
{
	struct output_buffer_full full = {.fn = early_checkpoint, .opaque = r};
	int rc;

	r->nr_nets = virtio_net__list(r->vm, r->nets, PCI_MAX_SLOTS);
	for (unsigned int i = 0; i < r->nr_nets; i++) {
		rc = output_buffer__create(r->p.output_limit, full, &r->obs[i]);
		if (rc)
			return util__fail(err, errlen, rc, "creating an output buffer failed: %s",
					  strerror(-rc));
		output_buffer__set_trigger(
		    r->obs[i], (struct output_buffer_trigger){.fn = io_trigger, .opaque = r});
		rc = virtio_net__set_output_buffer(r->nets[i], r->obs[i]);
		if (rc)
			return util__fail(err, errlen, rc, "attaching an output buffer failed: %s",
					  strerror(-rc));
	}
	r->nr_disks = virtio_blk__list(r->vm, r->disks, PCI_MAX_SLOTS);
	for (unsigned int i = 0; i < r->nr_disks; i++) /* I/O loop paused: safe to set */
		virtio_blk__set_write_hook(r->disks[i], disk_written, r);
	pthread_mutex_lock(&r->lock);
	r->attached = true;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Held output out (all of it) and back to passing straight through; the hooks off. */
static void disarm(struct repl_primary *r)
{
	pthread_mutex_lock(&r->lock);
	r->attached = false; /* the reader releases no more */
	pthread_mutex_unlock(&r->lock);
	for (unsigned int i = 0; i < r->nr_nets; i++)
		if (r->obs[i])
			virtio_net__set_output_buffer(r->nets[i], NULL); /* lets out all it holds */
	clear_blk_hooks(r);
}

/* The guest no longer pays for tracking once nobody harvests it. */
static void tracking_off(struct repl_primary *r)
{
	struct virtio_blk *disks[PCI_MAX_SLOTS];
	unsigned int n = virtio_blk__list(r->vm, disks, PCI_MAX_SLOTS);
	int rc;

	if (!r->logging)
		return;
	r->logging = false;
	for (unsigned int i = 0; i < n; i++)
		virtio_blk__track(disks[i], false);
	rc = dirty__disable(r->vm);
	if (rc)
		log__warn("replication: turning dirty logging off failed: %s; the guest runs a "
			  "little slower until twin-vmm restarts",
			  strerror(-rc));
}

/*
 * Lock held: the reason the backup counts as gone by now, or NULL.  The backup answers nothing
 * while it commits (its fdatasync included), so with an epoch awaiting its ack only the ack
 * clock counts, from when its CHECKPOINT was written whole: silence is the backup at work.
 */
static const char *timed_out(struct repl_primary *r, uint64_t now, char *why, size_t len)
{
	uint64_t sent = r->written > r->acked ? r->written_ns[(r->acked + 1) % UNACKED_MAX] : 0;

	if (sent && now - sent > r->p.timeout_ns)
		snprintf(why, len, "the backup did not ack epoch %llu within %llu ms",
			 (unsigned long long)(r->acked + 1),
			 (unsigned long long)(r->p.timeout_ns / 1000000));
	else if (!sent && now - r->last_heard_ns > r->p.timeout_ns)
		snprintf(why, len, "the backup was silent for %llu ms",
			 (unsigned long long)(r->p.timeout_ns / 1000000));
	else
		return NULL;
	return why;
}

static void deadline_to_ts(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000ULL);
	ts->tv_nsec = (long)(ns % 1000000000ULL);
}

/*
 * The timeouts, on a thread of their own: the engine may sit blocked in a write to a backup
 * that stopped reading, and the reader in a read; the fault's abort frees both.  A
 * cluster-managed VM is only marked stalled, the link kept: heartbeat loss alone licenses no
 * release (DESIGN.md §8), and the backup may answer again.
 */
static void *watchdog_main(void *arg)
{
	struct repl_primary *r = arg;
	char why[REPL_ERR_MAX];
	struct timespec ts;

	pthread_mutex_lock(&r->lock);
	while (!r->links_done && !r->fault[0] &&
	       (r->state == REPL_STATE_PROTECTED || r->state == REPL_STATE_STALLED)) {
		uint64_t now = progress__now_ns();

		const char *late = timed_out(r, now, why, sizeof(why));

		/* Unprotecting: until finish_by a late ack is finish's to handle (it sends END). */
		if (late && r->finish_by && now < r->finish_by) {
			deadline_to_ts(now + r->p.timeout_ns / 10 + 1, &ts);
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
			continue;
		}
		/* Stopping, a stalled backup cannot hold up the exit: the cut frees the engine. */
		if (late && (!r->p.cluster || r->stop)) {
			pthread_mutex_unlock(&r->lock);
			fault(r, why);
			return NULL;
		}
		if (late && r->state == REPL_STATE_PROTECTED) {
			snprintf(r->error, sizeof(r->error), "%s", why);
			set_state(r, REPL_STATE_STALLED);
		} else if (!late && r->state == REPL_STATE_STALLED) {
			r->error[0] = '\0'; /* the backup answers again */
			set_state(r, REPL_STATE_PROTECTED);
		}
		/* A tenth of the timeout: detection within 1.1 timeouts, a few wakes a second. */
		deadline_to_ts(now + r->p.timeout_ns / 10 + 1, &ts);
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/* Ends the reader and the watchdog: the reader returns once the channel is cut. */
static void links_join(struct repl_primary *r)
{
	pthread_mutex_lock(&r->lock);
	r->links_done = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (r->watchdog_started)
		pthread_join(r->watchdog, NULL);
	r->watchdog_started = false;
	if (!r->reader_started)
		return;
	channel__abort(r->ch);
	pthread_join(r->reader, NULL);
	r->reader_started = false;
}

/* Degraded: output flows, tracking stops, the channel goes; the VM runs on. */
static void degrade(struct repl_primary *r)
{
	disarm(r);
	tracking_off(r);
	links_join(r);
	pthread_mutex_lock(&r->lock);
	snprintf(r->error, sizeof(r->error), "%s", r->fault);
	set_state(r, REPL_STATE_DEGRADED);
	pthread_mutex_unlock(&r->lock);
	signal_event(r);
}

/*
 * A fault while the output may not go out yet: a cluster-managed VM waits for clusterd's
 * degrade, a fenced one for its unfence.  The link is gone, the output stays held (bounded
 * by the output limit: later frames drop), the guest runs.  True: degrade now; false: stop.
 */
static bool stall(struct repl_primary *r)
{
	bool go;

	pthread_mutex_lock(&r->lock);
	go = !r->p.cluster && !r->fenced; /* issue 5's pair: degraded at once */
	pthread_mutex_unlock(&r->lock);
	if (go)
		return true;
	links_join(r);
	pthread_mutex_lock(&r->lock);
	snprintf(r->error, sizeof(r->error), "%s", r->fault);
	set_state(r, REPL_STATE_STALLED);
	while (!r->stop && (r->fenced || (r->p.cluster && !r->degrade_req)))
		pthread_cond_wait(&r->cond, &r->lock);
	go = !r->stop;
	pthread_mutex_unlock(&r->lock);
	return go;
}

/*
 * Stopping (twin-vmm exits) with output that may not go out (fenced, or a cluster-managed
 * backup unconfirmed): it is dropped, never released.  The buffers stay attached, holding,
 * until repl_primary__free drops what came since and detaches them.
 */
static void drop_held(struct repl_primary *r)
{
	bool fenced;

	pthread_mutex_lock(&r->lock);
	r->attached = false; /* the reader releases no more */
	fenced = r->fenced;
	pthread_mutex_unlock(&r->lock);
	for (unsigned int i = 0; i < r->nr_nets; i++)
		output_buffer__discard(r->obs[i]);
	clear_blk_hooks(r);
	log__warn("replication: stopped %s: its held output is dropped, not released",
		  fenced ? "while fenced" : "with the backup unconfirmed");
}

/*
 * Every vCPU thread has returned (a guest power-off or debug exit, before twin-vmm stops the
 * replication): nothing runs to checkpoint any more, and its last exit's I/O stays pending,
 * so a capture is refused.  The epochs sent so far are the guest's last state.
 */
static bool guest_ended(struct repl_primary *r)
{
	struct pollfd p = {.fd = vm__done_fd(r->vm), .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

/* Lock held: when the next checkpoint is due (UINT64_MAX: not on its own). */
static uint64_t checkpoint_due(struct repl_primary *r, uint64_t now)
{
	enum repl_mode m = (enum repl_mode)atomic_load(&r->mode);
	uint64_t timed = r->last_cp_ns + r->interval_ns, io = UINT64_MAX;

	if (guest_ended(r))
		return UINT64_MAX;
	if (atomic_load(&r->full_pending))
		return now;
	if (m != REPL_MODE_EPOCH && atomic_load(&r->io_pending))
		io = m == REPL_MODE_HYBRID ? r->last_cp_ns + r->min_spacing_ns : now;
	if (m == REPL_MODE_EVENT)
		return io;
	return timed < io ? timed : io;
}

/* One checkpoint: the pause, then the epoch on the channel.  Lock not held.  0 or -errno. */
static int take_checkpoint(struct repl_primary *r, char *err, size_t errlen)
{
	uint64_t n, t0 = progress__now_ns();
	int rc;

	atomic_store(&r->io_pending, false);
	atomic_store(&r->full_pending, false);
	pthread_mutex_lock(&r->lock);
	n = r->epoch + 1;
	r->last_cp_ns = t0;
	pthread_mutex_unlock(&r->lock);
	rc = checkpoint__capture(&r->cp, n, r->obs, r->nr_nets, err, errlen);
	if (rc && guest_ended(r)) /* it ended under the capture: nothing to send, not a fault */
		return 0;
	pthread_mutex_lock(&r->lock);
	if (!rc) { /* closed on every NIC: an ack of n may now come and release it */
		r->epoch = n;
		r->close_ns[n % UNACKED_MAX] = r->cp.close_ns;
		repl_window__add(&r->pause, r->cp.pause_ns);
	}
	pthread_mutex_unlock(&r->lock);
	if (rc)
		return rc;
	rc = checkpoint__stream(&r->cp, &r->w, err, errlen);
	if (!rc)
		rc = checkpoint__close(&r->cp, &r->w, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&r->lock);
	/*
	 * The ack clock starts once CHECKPOINT(n) is written whole: the backup commits only
	 * then.  Its ack may have beaten us here (n already released): no stale stamp then.
	 */
	r->last_write_ns = progress__now_ns();
	if (r->acked < n)
		r->written_ns[n % UNACKED_MAX] = r->last_write_ns;
	r->written = n;
	r->epochs++;
	r->pages_last = r->cp.nr;
	r->pages_total += r->cp.nr;
	r->bytes_last = r->cp.bytes;
	r->bytes_epochs += r->cp.bytes;
	r->disk_last = r->cp.disk_bytes;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int heartbeat(struct repl_primary *r, char *err, size_t errlen)
{
	int rc = stream_writer__record(&r->w, STREAM_REC_HEARTBEAT, NULL, NULL, 0);

	if (rc)
		return util__fail(err, errlen, rc, "writing a heartbeat failed: %s", strerror(-rc));
	pthread_mutex_lock(&r->lock);
	r->last_write_ns = progress__now_ns();
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/*
 * Protected: checkpoints when due, heartbeats in silences, until stop (returns 0) or a
 * fault (returns -EPIPE: r->fault says why).
 */
static int protect_loop(struct repl_primary *r)
{
	char err[REPL_ERR_MAX];
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	while (!r->stop && !r->fault[0]) {
		uint64_t now = progress__now_ns(), due = checkpoint_due(r, now);
		uint64_t beat = r->last_write_ns + REPL_HEARTBEAT_NS, wake;
		uint64_t unacked = r->epoch - r->acked;
		struct timespec ts;

		if (due <= now && unacked < UNACKED_MAX) {
			pthread_mutex_unlock(&r->lock);
			rc = take_checkpoint(r, err, sizeof(err));
		} else if (beat <= now) {
			pthread_mutex_unlock(&r->lock);
			rc = heartbeat(r, err, sizeof(err));
		} else {
			/* Whichever comes first (the watchdog sees to the timeouts). */
			wake = beat;
			if (due < wake && unacked < UNACKED_MAX)
				wake = due;
			deadline_to_ts(wake, &ts);
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
			continue;
		}
		if (rc) {
			fault(r, err);
			pthread_mutex_lock(&r->lock);
			break;
		}
		pthread_mutex_lock(&r->lock);
	}
	rc = r->fault[0] ? -EPIPE : 0;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/*
 * Unprotect, the backup alive: a last checkpoint (none once the guest ended, the link
 * faulted, or UNACKED_MAX epochs stay unacked for the timeout) and the acks of every epoch
 * sent (bounded by the timeout), then END.  0 or -errno with err; the caller releases the
 * output either way.
 */
static int finish(struct repl_primary *r, char *err, size_t errlen)
{
	uint64_t deadline;
	struct timespec ts;
	bool last, taken = false;
	int rc = 0;

	/*
	 * From here the watchdog leaves a late ack to us until finish_by (our deadline plus
	 * END_GRACE_NS): a late backup still gets END, so it exits instead of failing over.
	 * A write that blocks past finish_by (a backup that stopped reading) is cut by it.
	 */
	pthread_mutex_lock(&r->lock);
	deadline = progress__now_ns() + r->p.timeout_ns;
	r->finish_by = deadline + END_GRACE_NS;
	/* As protect_loop: epoch acked + UNACKED_MAX + 1 would reuse acked + 1's ring slot. */
	deadline_to_ts(deadline, &ts);
	while (r->epoch - r->acked >= UNACKED_MAX && !r->fault[0] && progress__now_ns() < deadline)
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	/* A faulted link only blocks the write until the channel fails: no last checkpoint. */
	last = !r->fault[0] && r->epoch - r->acked < UNACKED_MAX;
	pthread_mutex_unlock(&r->lock);
	if (last && !guest_ended(r)) {
		rc = take_checkpoint(r, err, errlen);
		taken = !rc;
	}
	if (rc)
		return rc;
	pthread_mutex_lock(&r->lock);
	if (taken) { /* a fresh epoch gets the whole timeout for its ack */
		deadline = progress__now_ns() + r->p.timeout_ns;
		r->finish_by = deadline + END_GRACE_NS;
	}
	deadline_to_ts(deadline, &ts);
	while (r->acked < r->written && !r->fault[0] && progress__now_ns() < deadline)
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	if (r->fault[0])
		rc = util__fail(err, errlen, -EPIPE, "%s", r->fault);
	else if (r->acked < r->written)
		rc = util__fail(err, errlen, -ETIMEDOUT,
				"the backup did not ack epoch %llu within %llu ms",
				(unsigned long long)(r->acked + 1),
				(unsigned long long)(r->p.timeout_ns / 1000000));
	/* From here the reader's end of input is the backup leaving, as asked. */
	r->ending = true;
	if (rc != -ETIMEDOUT) /* else the watchdog, still watching, bounds END's write */
		set_state(r, REPL_STATE_UNPROTECTED);
	pthread_mutex_unlock(&r->lock);
	if (rc == -EPIPE) {
		/* A faulted channel is aborted already: the backup sees the cut. */
		log__warn("replication: unprotect without END (%s): the backup sees the link "
			  "lost and, with --auto-failover, activates a second copy of this VM; "
			  "stop it there",
			  err);
		return rc;
	}
	if (rc) { /* late, not gone: END still tells it to exit, holding what it committed */
		if (stream_writer__end(&r->w))
			log__warn(
			    "replication: unprotect: %s, and END could not be written: the "
			    "backup sees the link lost and, with --auto-failover, activates a "
			    "second copy of this VM; stop it there",
			    err);
		pthread_mutex_lock(&r->lock);
		set_state(r, REPL_STATE_UNPROTECTED);
		pthread_mutex_unlock(&r->lock);
		return rc;
	}
	rc = stream_writer__end(&r->w);
	if (rc)
		return util__fail(err, errlen, rc, "writing END failed: %s", strerror(-rc));
	/* The backup closes after END: wait for that (bounded) before cutting the channel. */
	pthread_mutex_lock(&r->lock);
	deadline_to_ts(progress__now_ns() + r->p.timeout_ns, &ts);
	while (!r->reader_done && pthread_cond_timedwait(&r->cond, &r->lock, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* The initial sync; on success the VM is paused with tracking on.  0 or -errno (error set). */
static int sync_backup(struct repl_primary *r)
{
	struct migrate_params mp = {
	    .live = true,
	    .checkpointed = true,
	    .downtime_ns = r->p.downtime_ns,
	    .compress = r->p.compress,
	    .xbzrle_cache = r->p.xbzrle_cache,
	};
	struct migrate_status st;
	struct channel *ch = NULL;
	char err[REPL_ERR_MAX];
	int rc = channel__connect(r->peer, &r->sec, &ch, err, sizeof(err));

	pthread_mutex_lock(&r->lock);
	if (!rc && r->stop)
		rc = util__fail(err, sizeof(err), -ECANCELED, "cancelled");
	if (rc)
		util__set_err(r->error, sizeof(r->error), "connecting to the backup %s: %s",
			      r->peer, err);
	r->ch = ch; /* published under the lock: stop may abort it */
	pthread_mutex_unlock(&r->lock);
	if (rc)
		return rc;
	log__info("replication: connected to %s over %s", r->peer, channel__describe(ch));
	stream_writer__init(&r->w, channel__write, ch);
	rc = migrate__send(r->vm, &mp, &r->w, channel__read, ch, r->job);
	if (rc) {
		channel__abort(ch); /* the backup sees the end at once */
		migrate_job__status(r->job, &st);
		pthread_mutex_lock(&r->lock);
		util__set_err(r->error, sizeof(r->error), "the initial sync failed: %s", st.error);
		pthread_mutex_unlock(&r->lock);
		return rc;
	}
	r->logging = true;
	return 0;
}

/*
 * After a successful sync, the VM paused: the epochs' machinery, then the VM runs again.
 * 0, or -errno with r->fault set: the caller degrades (or stalls), never finishes.
 */
static int start_epochs(struct repl_primary *r)
{
	char err[REPL_ERR_MAX];
	uint64_t now;
	int rc =
	    checkpoint__init(&r->cp, r->vm, r->p.compress, r->p.xbzrle_cache, err, sizeof(err));

	if (!rc)
		rc = arm(r, err, sizeof(err));
	ioloop__resume(r->vm->ioloop);
	vm__resume_all(r->vm);
	now = progress__now_ns();
	pthread_mutex_lock(&r->lock);
	r->last_heard_ns = r->last_write_ns = r->last_cp_ns = now;
	if (!rc)
		set_state(r, REPL_STATE_PROTECTED);
	pthread_mutex_unlock(&r->lock);
	if (rc) {
		fault(r, err); /* and the cut: the backup waits for CHECKPOINT(1) otherwise */
		return rc;
	}
	rc = pthread_create(&r->reader, NULL, reader_main, r);
	if (rc) {
		fault(r, "starting the reply reader failed");
		return -rc;
	}
	r->reader_started = true;
	rc = pthread_create(&r->watchdog, NULL, watchdog_main, r);
	if (rc) {
		fault(r, "starting the replication watchdog failed");
		return -rc;
	}
	r->watchdog_started = true;
	return 0;
}

static void *engine_main(void *arg)
{
	struct repl_primary *r = arg;
	char err[REPL_ERR_MAX];
	bool stopped;
	int rc = sync_backup(r);

	if (rc) {
		pthread_mutex_lock(&r->lock);
		stopped = r->stop;
		set_state(r, stopped ? REPL_STATE_UNPROTECTED : REPL_STATE_FAILED);
		pthread_mutex_unlock(&r->lock);
		if (!stopped)
			signal_event(r);
		return NULL;
	}
	rc = start_epochs(r);
	if (!rc)
		rc = protect_loop(r);
	if (rc && stall(r)) {
		degrade(r);
		return NULL;
	}
	if (!rc)
		rc = finish(r, err, sizeof(err));
	pthread_mutex_lock(&r->lock);
	if (rc && r->fault[0])
		snprintf(err, sizeof(err), "%s", r->fault);
	if (r->fenced || (rc && r->p.cluster))
		r->cut = true;
	pthread_mutex_unlock(&r->lock);
	if (r->cut)
		drop_held(r);
	else
		disarm(r);
	tracking_off(r);
	links_join(r);
	pthread_mutex_lock(&r->lock);
	if (rc)
		snprintf(r->error, sizeof(r->error), "%s", err);
	set_state(r, REPL_STATE_UNPROTECTED);
	pthread_mutex_unlock(&r->lock);
	return (void *)(intptr_t)rc;
}

static bool vm_paused(struct vm *vm)
{
	bool paused;

	pthread_mutex_lock(&vm->lock);
	paused = vm->pause_depth > 0;
	pthread_mutex_unlock(&vm->lock);
	return paused;
}

/* Each host needs its own image: a disk opened shared (without its lock) cannot be copied. */
static int check_vm(struct vm *vm, char *err, size_t errlen)
{
	struct virtio_blk *disks[PCI_MAX_SLOTS];
	unsigned int n = virtio_blk__list(vm, disks, PCI_MAX_SLOTS);

	if (vm_paused(vm))
		return util__fail(err, errlen, -EINVAL,
				  "the VM is paused: resume it (cont) before protecting it");
	for (unsigned int i = 0; i < n; i++)
		if (!virtio_blk__readonly(disks[i]) && !virtio_blk__locked(disks[i]))
			return util__fail(
			    err, errlen, -EINVAL,
			    "the disk %s is on shared storage (opened without its "
			    "lock): replication needs each host's own image; give the "
			    "VM a local copy",
			    virtio_blk__path(disks[i]));
	return 0;
}

static char *dup_opt(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = true;
	return d;
}

static void free_sec(struct channel_security *s)
{
	free((char *)s->cert);
	free((char *)s->key);
	free((char *)s->ca);
	free((char *)s->psk_file);
}

static void primary_free(struct repl_primary *r)
{
	for (unsigned int i = 0; r->cut && i < r->nr_nets; i++) {
		output_buffer__discard(r->obs[i]); /* what came since drop_held: the VM stopped */
		virtio_net__set_output_buffer(r->nets[i], NULL);
	}
	for (unsigned int i = 0; i < r->nr_nets; i++)
		output_buffer__destroy(r->obs[i]);
	checkpoint__dispose(&r->cp);
	channel__close(r->ch);
	migrate_job__free(r->job);
	if (r->event_fd >= 0)
		close(r->event_fd);
	free_sec(&r->sec);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int repl_primary__start(struct vm *vm, const struct repl_params *p, const char *peer,
			const struct channel_security *sec, struct repl_primary **out, char *err,
			size_t errlen)
{
	struct repl_primary *r;
	pthread_condattr_t ca;
	bool oom = false;
	int rc = check_params(p, err, errlen);

	if (!rc)
		rc = check_vm(vm, err, errlen);
	if (!rc && strlen(peer) >= REPL_PEER_MAX)
		rc = util__fail(err, errlen, -EINVAL, "the peer address %s is too long", peer);
	if (!rc)
		rc = channel__check_security(sec, err, errlen);
	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return util__fail(err, errlen, -ENOMEM, "out of memory");
	r->vm = vm;
	r->p = *p;
	r->event_fd = -1;
	snprintf(r->peer, sizeof(r->peer), "%s", peer);
	r->sec = (struct channel_security){
	    .cert = dup_opt(sec->cert, &oom),
	    .key = dup_opt(sec->key, &oom),
	    .ca = dup_opt(sec->ca, &oom),
	    .psk_file = dup_opt(sec->psk_file, &oom),
	    .insecure = sec->insecure,
	};
	r->interval_ns = p->interval_ns;
	r->min_spacing_ns = p->min_spacing_ns;
	atomic_init(&r->mode, (int)p->mode);
	atomic_init(&r->io_pending, false);
	atomic_init(&r->full_pending, false);
	repl_window__init(&r->pause);
	repl_window__init(&r->ack);
	repl_window__init(&r->held);
	pthread_mutex_init(&r->lock, NULL);
	/* Deadlines are CLOCK_MONOTONIC, as progress__now_ns. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	r->state = REPL_STATE_SYNCING;
	r->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (oom || r->event_fd < 0 || migrate_job__new(&r->job)) {
		primary_free(r);
		return util__fail(err, errlen, -ENOMEM, "out of resources starting replication");
	}
	rc = pthread_create(&r->thread, NULL, engine_main, r);
	if (rc) {
		primary_free(r);
		return util__fail(err, errlen, -rc, "starting the replication thread failed: %s",
				  strerror(rc));
	}
	log__info("replication: protecting toward %s, mode %s", peer, repl_mode__to_str(p->mode));
	*out = r;
	return 0;
}

void repl_primary__status(struct repl_primary *r, struct repl_status *out)
{
	uint64_t now = progress__now_ns();

	memset(out, 0, sizeof(*out));
	migrate_job__status(r->job, &out->sync);
	pthread_mutex_lock(&r->lock);
	out->state = r->state;
	out->fenced = r->fenced;
	out->cluster = r->p.cluster;
	out->primary = true;
	out->mode = (enum repl_mode)atomic_load(&r->mode);
	out->interval_ns = r->interval_ns;
	out->min_spacing_ns = r->min_spacing_ns;
	out->epoch = r->epoch;
	out->acked_epoch = r->acked;
	out->epochs = r->epochs;
	repl_window__quantiles(&r->pause, &out->pause_ns);
	repl_window__quantiles(&r->ack, &out->ack_latency_ns);
	repl_window__quantiles(&r->held, &out->output_held_ns);
	out->dirty_pages_last = r->pages_last;
	out->dirty_pages_mean = r->epochs ? r->pages_total / r->epochs : 0;
	out->epoch_bytes_last = r->bytes_last;
	out->epoch_bytes_mean = r->epochs ? r->bytes_epochs / r->epochs : 0;
	out->disk_bytes_last = r->disk_last;
	out->bytes_total = out->sync.bytes + r->bytes_epochs;
	if (r->state == REPL_STATE_PROTECTED || r->state == REPL_STATE_STALLED)
		out->peer_silent_ns = now - r->last_heard_ns;
	for (unsigned int i = 0; (r->attached || r->cut) && i < r->nr_nets; i++) {
		struct output_buffer_stats st;

		output_buffer__stats(r->obs[i], &st);
		out->held_bytes += st.held_bytes;
		out->held_frames += st.held_frames;
		out->overflow_drops += st.overflow_drops;
		out->released_frames += st.released_frames;
	}
	snprintf(out->peer, sizeof(out->peer), "%s", r->peer);
	snprintf(out->error, sizeof(out->error), "%s", r->error);
	pthread_mutex_unlock(&r->lock);
}

enum repl_state repl_primary__state(struct repl_primary *r, struct repl_status *out)
{
	pthread_mutex_lock(&r->lock);
	out->state = r->state;
	out->mode = (enum repl_mode)atomic_load(&r->mode);
	snprintf(out->peer, sizeof(out->peer), "%s", r->peer);
	snprintf(out->error, sizeof(out->error), "%s", r->error);
	pthread_mutex_unlock(&r->lock);
	return out->state;
}

int repl_primary__set(struct repl_primary *r, enum repl_mode mode, uint64_t interval_ns,
		      uint64_t min_spacing_ns, char *err, size_t errlen)
{
	struct repl_params p;
	int rc;

	pthread_mutex_lock(&r->lock);
	p = r->p;
	p.mode = mode;
	p.interval_ns = interval_ns ? interval_ns : r->interval_ns;
	p.min_spacing_ns = min_spacing_ns ? min_spacing_ns : r->min_spacing_ns;
	rc = check_params(&p, err, errlen);
	if (!rc) {
		r->p = p;
		r->interval_ns = p.interval_ns;
		r->min_spacing_ns = p.min_spacing_ns;
		atomic_store(&r->mode, (int)mode);
		/*
		 * Frames already held in the open epoch fired no trigger (epoch mode ignores
		 * it, and the next one fires only into an empty epoch): one checkpoint now
		 * closes them, or event mode would hold them until the next frame's ack.
		 */
		if (mode != REPL_MODE_EPOCH)
			atomic_store(&r->io_pending, true);
		log__info("replication: mode %s, interval %llu ms, min spacing %llu ms",
			  repl_mode__to_str(mode), (unsigned long long)(p.interval_ns / 1000000),
			  (unsigned long long)(p.min_spacing_ns / 1000000));
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void repl_primary__fence(struct repl_primary *r, bool on)
{
	pthread_mutex_lock(&r->lock);
	if (r->fenced != on)
		log__info("replication: %s", on ? "fenced: acks release no output"
						: "unfenced: acked output goes out again");
	r->fenced = on;
	let_out_acked(r);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

int repl_primary__degrade(struct repl_primary *r, char *err, size_t errlen)
{
	struct timespec ts;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	if (r->fenced)
		rc = util__fail(err, errlen, -EPERM,
				"degrade: the VM is fenced (this host is outside quorum): nothing "
				"may be released; unfence it first");
	else if (!r->p.cluster)
		rc = util__fail(err, errlen, -EINVAL,
				"degrade: the VM is not cluster-managed: without protect --cluster "
				"it degrades on its own");
	else if (r->state != REPL_STATE_STALLED && r->state != REPL_STATE_PROTECTED)
		rc = util__fail(err, errlen, -EINVAL,
				"degrade: the replication is %s: only a stalled or protected VM "
				"degrades",
				repl_state__to_str(r->state));
	if (rc) {
		pthread_mutex_unlock(&r->lock);
		return rc;
	}
	r->degrade_req = true;
	if (!r->fault[0])
		snprintf(r->fault, sizeof(r->fault), "degraded by clusterd%s%.200s",
			 r->error[0] ? " after: " : "", r->error);
	log__info("replication: degrade asked (%s)", r->fault);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	/* Unblocks the engine's write to a backup that stopped reading. */
	if (r->ch)
		channel__abort(r->ch);
	pthread_mutex_lock(&r->lock);
	deadline_to_ts(progress__now_ns() + DEGRADE_TIMEOUT_NS, &ts);
	while (r->state != REPL_STATE_DEGRADED &&
	       pthread_cond_timedwait(&r->cond, &r->lock, &ts) != ETIMEDOUT)
		;
	if (r->state != REPL_STATE_DEGRADED)
		rc = util__fail(err, errlen, -ETIMEDOUT,
				"degrade: the engine did not degrade within %llu s: see the log",
				DEGRADE_TIMEOUT_NS / 1000000000ULL);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int repl_primary__event_fd(const struct repl_primary *r)
{
	return r->event_fd;
}

int repl_primary__stop(struct repl_primary *r, char *err, size_t errlen)
{
	void *ret = NULL;
	int rc;

	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_broadcast(&r->cond);
	/* A sync in progress is cancelled; a sender blocked in I/O only sees the cut. */
	if (r->state == REPL_STATE_SYNCING && migrate_job__cancel(r->job) && r->ch)
		channel__abort(r->ch);
	pthread_mutex_unlock(&r->lock);
	if (!r->thread_joined) {
		pthread_join(r->thread, &ret);
		r->thread_joined = true;
	}
	rc = (int)(intptr_t)ret;
	pthread_mutex_lock(&r->lock);
	if (r->state == REPL_STATE_DEGRADED || r->state == REPL_STATE_FAILED)
		set_state(r, REPL_STATE_UNPROTECTED); /* the error says what happened before */
	if (rc)
		util__set_err(err, errlen, "unprotect: %s", r->error);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void repl_primary__free(struct repl_primary *r)
{
	if (!r)
		return;
	repl_primary__stop(r, NULL, 0);
	primary_free(r);
}
