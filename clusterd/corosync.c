/* twin-clusterd's Corosync link: CPG and quorum handles, their fds as libevent read events. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <corosync/cmap.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <corosync/votequorum.h>
#include "clog.h"
#include "corosync.h"

/*
 * CS_ERR_TRY_AGAIN backoff of the set-up and query calls (RETRY, which sleeps): 1, 2, 4 ...
 * 128 ms, then give up (about 0.25 s in all).  Corosync says it while it syncs a new
 * membership or its queues are full; a longer sleep would stall the event loop.  Sends
 * never sleep: they queue (below).
 */
#define RETRY_FIRST_MS 1
#define RETRY_LAST_MS  128

/* Messages CPG refused for now (CS_ERR_TRY_AGAIN), sent in order from a timer. */
#define SEND_QUEUE_MAX	  4096
#define SEND_RETRY_MAX_MS 100

struct queued {
	struct queued *next;
	size_t len;
	uint8_t data[];
};

/* A CPG confchg that waits for the totem confchg of its ring (on_confchg says why). */
struct held {
	struct held *next;
	uint32_t m[COROSYNC_MAX_MEMBERS], l[COROSYNC_MAX_MEMBERS], j[COROSYNC_MAX_MEMBERS];
	size_t nm, nl, nj;
};

struct corosync {
	const struct corosync_ops *ops;
	cpg_handle_t cpg;
	quorum_handle_t quorum;
	votequorum_handle_t vq;
	uint32_t nodeid;
	struct event *cpg_ev, *quorum_ev;
	bool joined;
	bool lost; /* reported once */
	struct queued *head, **tail;
	unsigned int queued, retry_ms;
	struct event *retry_ev;
	uint64_t ring_seq; /* the latest totem confchg's ring id seq */
	bool ring_known;   /* a totem confchg came */
	struct held *held, **held_tail;
	/* The group's members as last passed on (a ring change alone repeats them). */
	uint32_t members[COROSYNC_MAX_MEMBERS];
	size_t nmembers;
	bool have_members;
};

static void flush_queue(evutil_socket_t fd, short what, void *arg);

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* Runs call until it stops saying CS_ERR_TRY_AGAIN or the backoff is spent. */
#define RETRY(call)                                                                                \
	({                                                                                         \
		cs_error_t r_;                                                                     \
		for (unsigned int ms_ = RETRY_FIRST_MS;; ms_ *= 2) {                               \
			r_ = (call);                                                               \
			if (r_ != CS_ERR_TRY_AGAIN || ms_ > RETRY_LAST_MS)                         \
				break;                                                             \
			sleep_ms(ms_);                                                             \
		}                                                                                  \
		r_;                                                                                \
	})

static void lose(struct corosync *c, const char *what, cs_error_t r)
{
	char why[128];

	if (c->lost)
		return;
	c->lost = true;
	if (c->cpg_ev)
		event_del(c->cpg_ev);
	if (c->quorum_ev)
		event_del(c->quorum_ev);
	snprintf(why, sizeof(why), "%s failed: %s (%d)", what, cs_strerror(r), r);
	c->ops->lost(c->ops->opaque, why);
}

static void report_quorum(struct corosync *c, bool quorate, uint64_t ring_seq)
{
	struct votequorum_info info = {0};
	cs_error_t r = RETRY(votequorum_getinfo(c->vq, c->nodeid, &info));

	if (r != CS_OK) {
		/* Still the quorate bit: it decides fencing; the votes only inform. */
		clog__warn("votequorum_getinfo failed: %s: votes unknown", cs_strerror(r));
	}
	c->ops->quorum(c->ops->opaque, quorate, info.total_votes, info.node_expected_votes,
		       ring_seq);
}

static void on_quorum(quorum_handle_t h, uint32_t quorate, uint64_t ring_seq, uint32_t nview,
		      uint32_t *view)
{
	struct corosync *c;

	if (quorum_context_get(h, (const void **)&c) != CS_OK)
		return;
	clog__debug("quorum: %s, ring %llu, %u nodes", quorate ? "quorate" : "NOT quorate",
		    (unsigned long long)ring_seq, nview);
	report_quorum(c, quorate, ring_seq);
}

/*
 * Passes the held confchgs on, in order, with the ring seq known now.  why: what came
 * before their totem confchg (then the seq may be an older ring's: logged).
 */
static void release_held(struct corosync *c, const char *why)
{
	if (c->held && why)
		clog__warn("corosync: %s came before the totem confchg: a confchg goes with ring "
			   "%llu, maybe an older one",
			   why, (unsigned long long)c->ring_seq);
	while (c->held) {
		struct held *x = c->held;

		c->held = x->next;
		if (!c->held)
			c->held_tail = &c->held;
		memcpy(c->members, x->m, x->nm * sizeof(x->m[0]));
		c->nmembers = x->nm;
		c->have_members = true;
		c->ops->confchg(c->ops->opaque, x->m, x->nm, x->l, x->nl, x->j, x->nj, c->ring_seq);
		free(x);
	}
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
		       void *msg, size_t len)
{
	struct corosync *c;

	if (cpg_context_get(h, (void **)&c) != CS_OK)
		return;
	release_held(c, "a message");
	c->ops->deliver(c->ops->opaque, nodeid, msg, len);
}

/* cpg_address lists as nodeid lists; at most COROSYNC_MAX_MEMBERS (more: a warning). */
static size_t nodeids(const struct cpg_address *a, size_t n, uint32_t *out)
{
	if (n > COROSYNC_MAX_MEMBERS) {
		clog__warn("confchg: %zu entries, only %d kept", n, COROSYNC_MAX_MEMBERS);
		n = COROSYNC_MAX_MEMBERS;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = a[i].nodeid;
	return n;
}

/* An entry that only a totem membership change makes: another host's corosync came or went. */
static bool ring_change(const struct cpg_address *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].reason == CPG_REASON_NODEUP || a[i].reason == CPG_REASON_NODEDOWN)
			return true;
	return false;
}

/*
 * Why confchgs wait: the model wants the ring seq of the configuration a confchg makes,
 * the same at every member (it orders STATE_SYNC rounds by it), but Corosync (3.1,
 * exec/cpg.c cpg_sync_activate) sends a ring's CPG confchgs first (NODEDOWN leaves,
 * NODEUP joins, dropped zombies) and its totem confchg last, and the initial totem conf
 * only after our own join's confchg.  Passing the seq known at the confchg would give
 * it the previous ring's, which differs between the hosts of a merge.  So a confchg of
 * a ring change (a NODEUP/NODEDOWN entry), one before any totem confchg, and any after
 * one already held wait for the next totem confchg and go with its seq.  A process
 * joining or leaving within a ring (JOIN/LEAVE/PROCDOWN) has no totem confchg: it goes
 * at once with the current ring's seq.  Nothing else is delivered between a ring's
 * confchgs and its totem confchg; if a message is, the held ones go first (order).
 */
static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
		       const struct cpg_address *members, size_t nmembers,
		       const struct cpg_address *left, size_t nleft,
		       const struct cpg_address *joined, size_t njoined)
{
	struct corosync *c;
	struct held *x;

	if (cpg_context_get(h, (void **)&c) != CS_OK)
		return;
	x = malloc(sizeof(*x));
	if (!x) {
		lose(c, "confchg (out of memory)", CS_ERR_NO_MEMORY);
		return;
	}
	x->next = NULL;
	x->nm = nodeids(members, nmembers, x->m);
	x->nl = nodeids(left, nleft, x->l);
	x->nj = nodeids(joined, njoined, x->j);
	*c->held_tail = x;
	c->held_tail = &x->next;
	if (c->ring_known && x == c->held && !ring_change(left, nleft) &&
	    !ring_change(joined, njoined))
		release_held(c, NULL);
}

static void on_totem_confchg(cpg_handle_t h, struct cpg_ring_id ring_id, uint32_t nmembers,
			     const uint32_t *members)
{
	struct corosync *c;

	if (cpg_context_get(h, (void **)&c) != CS_OK)
		return;
	clog__debug("corosync: totem ring %llu, %u nodes", (unsigned long long)ring_id.seq,
		    nmembers);
	/*
	 * A ring change that left group "twin" as it was (a host whose corosync runs without
	 * clusterd came or went): the model still hears of the new ring, with the same members,
	 * or votequorum's verdicts about it would not count there.
	 */
	if (!c->held && c->have_members && c->ring_known && ring_id.seq != c->ring_seq) {
		c->ring_seq = ring_id.seq;
		c->ops->confchg(c->ops->opaque, c->members, c->nmembers, NULL, 0, NULL, 0,
				c->ring_seq);
		return;
	}
	c->ring_seq = ring_id.seq;
	c->ring_known = true;
	release_held(c, NULL);
}

static void dispatch_cpg(evutil_socket_t fd, short what, void *arg)
{
	struct corosync *c = arg;
	cs_error_t r = cpg_dispatch(c->cpg, CS_DISPATCH_ALL);

	/* TRY_AGAIN: nothing ready after all; the fd stays readable if something is. */
	if (r != CS_OK && r != CS_ERR_TRY_AGAIN)
		lose(c, "cpg_dispatch", r);
}

static void dispatch_quorum(evutil_socket_t fd, short what, void *arg)
{
	struct corosync *c = arg;
	cs_error_t r = quorum_dispatch(c->quorum, CS_DISPATCH_ALL);

	if (r != CS_OK && r != CS_ERR_TRY_AGAIN)
		lose(c, "quorum_dispatch", r);
}

static cpg_model_v1_data_t cpg_model = {
    .model = CPG_MODEL_V1,
    .cpg_deliver_fn = on_deliver,
    .cpg_confchg_fn = on_confchg,
    .cpg_totem_confchg_fn = on_totem_confchg,
    .flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
};

static quorum_callbacks_t quorum_callbacks = {.quorum_notify_fn = on_quorum};

static int fail(cs_error_t r, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "corosync: %s failed: %s (%d): is corosync running in this host's network "
		 "namespace (corosync-quorumtool -s)?",
		 what, cs_strerror(r), r);
	return r == CS_ERR_NO_MEMORY ? -ENOMEM : -ENOTCONN;
}

int corosync__open(const struct corosync_ops *ops, struct corosync **out, uint32_t *nodeid,
		   char *err, size_t errlen)
{
	struct corosync *c = calloc(1, sizeof(*c));
	uint32_t quorum_type;
	cs_error_t r;
	int rc;

	if (!c)
		return -ENOMEM;
	c->ops = ops;
	c->held_tail = &c->held;
	r = RETRY(cpg_model_initialize(&c->cpg, CPG_MODEL_V1, (cpg_model_data_t *)&cpg_model, c));
	if (r != CS_OK) {
		rc = fail(r, "cpg_model_initialize", err, errlen);
		free(c);
		return rc;
	}
	if ((r = RETRY(cpg_local_get(c->cpg, &c->nodeid))) != CS_OK) {
		rc = fail(r, "cpg_local_get", err, errlen);
		goto fail_cpg;
	}
	if ((r = RETRY(quorum_initialize(&c->quorum, &quorum_callbacks, &quorum_type))) != CS_OK) {
		rc = fail(r, "quorum_initialize", err, errlen);
		goto fail_cpg;
	}
	quorum_context_set(c->quorum, c);
	if ((r = RETRY(votequorum_initialize(&c->vq, NULL))) != CS_OK) {
		rc = fail(r, "votequorum_initialize (is the quorum provider votequorum?)", err,
			  errlen);
		quorum_finalize(c->quorum);
		goto fail_cpg;
	}
	*nodeid = c->nodeid;
	*out = c;
	return 0;
fail_cpg:
	cpg_finalize(c->cpg);
	free(c);
	return rc;
}

int corosync__join(struct corosync *c, struct event_base *base, char *err, size_t errlen)
{
	struct cpg_name group = {.length = strlen(COROSYNC_GROUP)};
	int cpg_fd, quorum_fd, quorate = 0;
	cs_error_t r;

	memcpy(group.value, COROSYNC_GROUP, group.length);
	c->tail = &c->head;
	c->retry_ev = evtimer_new(base, flush_queue, c);
	if (!c->retry_ev) {
		snprintf(err, errlen, "corosync: out of memory");
		return -ENOMEM;
	}
	/* The quorum first: the model must know it before the first confchg. */
	if ((r = RETRY(quorum_getquorate(c->quorum, &quorate))) != CS_OK)
		return fail(r, "quorum_getquorate", err, errlen);
	report_quorum(c, quorate, 0);
	/*
	 * Without trackstart no quorum callback ever comes; CURRENT adds one at once, tagged
	 * with the current ring (votequorum then speaks at every ring's sync).
	 */
	if ((r = RETRY(quorum_trackstart(c->quorum, CS_TRACK_CURRENT | CS_TRACK_CHANGES))) != CS_OK)
		return fail(r, "quorum_trackstart", err, errlen);
	if ((r = RETRY(cpg_fd_get(c->cpg, &cpg_fd))) != CS_OK ||
	    (r = RETRY(quorum_fd_get(c->quorum, &quorum_fd))) != CS_OK)
		return fail(r, "cpg_fd_get/quorum_fd_get", err, errlen);
	c->cpg_ev = event_new(base, cpg_fd, EV_READ | EV_PERSIST, dispatch_cpg, c);
	c->quorum_ev = event_new(base, quorum_fd, EV_READ | EV_PERSIST, dispatch_quorum, c);
	if (!c->cpg_ev || !c->quorum_ev || event_add(c->cpg_ev, NULL) ||
	    event_add(c->quorum_ev, NULL)) {
		snprintf(err, errlen, "corosync: cannot watch its descriptors: out of memory");
		return -ENOMEM;
	}
	if ((r = RETRY(cpg_join(c->cpg, &group))) != CS_OK)
		return fail(r, "cpg_join " COROSYNC_GROUP, err, errlen);
	c->joined = true;
	clog__info("corosync: nodeid %u joined CPG group " COROSYNC_GROUP ", quorum %s", c->nodeid,
		   quorate ? "quorate" : "NOT quorate");
	return 0;
}

static cs_error_t mcast(struct corosync *c, const void *data, size_t len)
{
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};

	return cpg_mcast_joined(c->cpg, CPG_TYPE_AGREED, &iov, 1);
}

/* Sends the queue in order; CPG still busy: again later, the wait doubling up to a bound. */
static void flush_queue(evutil_socket_t fd, short what, void *arg)
{
	struct corosync *c = arg;
	struct timeval tv = {0};

	while (c->head && !c->lost) {
		struct queued *q = c->head;
		cs_error_t r = mcast(c, q->data, q->len);

		if (r == CS_ERR_TRY_AGAIN) {
			c->retry_ms = c->retry_ms ? c->retry_ms * 2 : RETRY_FIRST_MS;
			if (c->retry_ms > SEND_RETRY_MAX_MS)
				c->retry_ms = SEND_RETRY_MAX_MS;
			tv.tv_usec = c->retry_ms * 1000;
			evtimer_add(c->retry_ev, &tv);
			return;
		}
		c->head = q->next;
		if (!c->head)
			c->tail = &c->head;
		c->queued--;
		if (r == CS_ERR_TOO_BIG)
			clog__error("corosync: a %zu-byte message is too big for CPG", q->len);
		free(q);
		if (r != CS_OK && r != CS_ERR_TOO_BIG) {
			lose(c, "cpg_mcast_joined", r);
			return;
		}
	}
	c->retry_ms = 0;
}

int corosync__send(struct corosync *c, const void *data, size_t len)
{
	struct queued *q;
	cs_error_t r;

	if (c->lost)
		return -ENOTCONN;
	/* Behind queued ones it waits its turn: agreed order starts with the sending order. */
	r = c->head ? CS_ERR_TRY_AGAIN : mcast(c, data, len);
	switch (r) {
	case CS_OK:
		return 0;
	case CS_ERR_TRY_AGAIN:
		break;
	case CS_ERR_TOO_BIG:
		clog__error("corosync: a %zu-byte message is too big for CPG", len);
		return -EMSGSIZE;
	default:
		lose(c, "cpg_mcast_joined", r);
		return -ENOTCONN;
	}
	q = c->queued < SEND_QUEUE_MAX ? malloc(sizeof(*q) + len) : NULL;
	if (!q) {
		clog__error("corosync: CPG is busy and %u messages wait: a %zu-byte one is dropped",
			    c->queued, len);
		return -EAGAIN;
	}
	q->next = NULL;
	q->len = len;
	memcpy(q->data, data, len);
	*c->tail = q;
	c->tail = &q->next;
	if (!c->queued++) {
		struct timeval tv = {0, RETRY_FIRST_MS * 1000};

		c->retry_ms = RETRY_FIRST_MS;
		evtimer_add(c->retry_ev, &tv);
	}
	return 0;
}

int corosync__nodelist_size(struct corosync *c)
{
	char key[CMAP_KEYNAME_MAXLEN + 1];
	cmap_iter_handle_t iter;
	cmap_handle_t h;
	unsigned int i;
	int n = 0;

	if (RETRY(cmap_initialize(&h)) != CS_OK)
		return -ENOTCONN;
	if (cmap_iter_init(h, "nodelist.node.", &iter) != CS_OK) {
		cmap_finalize(h);
		return -ENOTCONN;
	}
	/* Keys nodelist.node.I.ring0_addr, .nodeid, .name: the highest I names the count. */
	while (cmap_iter_next(h, iter, key, NULL, NULL) == CS_OK)
		if (sscanf(key, "nodelist.node.%u.", &i) == 1 && (int)i >= n)
			n = (int)i + 1;
	cmap_iter_finalize(h, iter);
	cmap_finalize(h);
	return n;
}

uint32_t corosync__token_ms(struct corosync *c)
{
	cmap_handle_t h;
	uint32_t token = 0;

	if (RETRY(cmap_initialize(&h)) != CS_OK)
		return 0;
	if (cmap_get_uint32(h, "runtime.config.totem.token", &token) != CS_OK)
		token = 0;
	cmap_finalize(h);
	return token;
}

void corosync__stop(struct corosync *c)
{
	struct cpg_name group = {.length = strlen(COROSYNC_GROUP)};

	if (!c)
		return;
	memcpy(group.value, COROSYNC_GROUP, group.length);
	if (c->cpg_ev)
		event_free(c->cpg_ev);
	if (c->quorum_ev)
		event_free(c->quorum_ev);
	if (c->retry_ev)
		event_free(c->retry_ev);
	while (c->head) {
		struct queued *q = c->head;

		c->head = q->next;
		free(q);
	}
	while (c->held) {
		struct held *x = c->held;

		c->held = x->next;
		free(x);
	}
	if (c->joined && !c->lost)
		cpg_leave(c->cpg, &group);
	votequorum_finalize(c->vq);
	quorum_finalize(c->quorum);
	cpg_finalize(c->cpg);
	free(c);
}
