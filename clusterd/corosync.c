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

static void report_quorum(struct corosync *c, bool quorate)
{
	struct votequorum_info info = {0};
	cs_error_t r = RETRY(votequorum_getinfo(c->vq, c->nodeid, &info));

	if (r != CS_OK) {
		/* Still the quorate bit: it decides fencing; the votes only inform. */
		clog__warn("votequorum_getinfo failed: %s: votes unknown", cs_strerror(r));
	}
	c->ops->quorum(c->ops->opaque, quorate, info.total_votes, info.node_expected_votes);
}

static void on_quorum(quorum_handle_t h, uint32_t quorate, uint64_t ring_seq, uint32_t nview,
		      uint32_t *view)
{
	struct corosync *c;

	if (quorum_context_get(h, (const void **)&c) != CS_OK)
		return;
	clog__debug("quorum: %s, ring %llu, %u nodes", quorate ? "quorate" : "NOT quorate",
		    (unsigned long long)ring_seq, nview);
	report_quorum(c, quorate);
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
		       void *msg, size_t len)
{
	struct corosync *c;

	if (cpg_context_get(h, (void **)&c) == CS_OK)
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

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
		       const struct cpg_address *members, size_t nmembers,
		       const struct cpg_address *left, size_t nleft,
		       const struct cpg_address *joined, size_t njoined)
{
	uint32_t m[COROSYNC_MAX_MEMBERS], l[COROSYNC_MAX_MEMBERS], j[COROSYNC_MAX_MEMBERS];
	struct corosync *c;

	if (cpg_context_get(h, (void **)&c) != CS_OK)
		return;
	nmembers = nodeids(members, nmembers, m);
	nleft = nodeids(left, nleft, l);
	njoined = nodeids(joined, njoined, j);
	c->ops->confchg(c->ops->opaque, m, nmembers, l, nleft, j, njoined);
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

static cpg_callbacks_t cpg_callbacks = {
    .cpg_deliver_fn = on_deliver,
    .cpg_confchg_fn = on_confchg,
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
	r = RETRY(cpg_initialize(&c->cpg, &cpg_callbacks));
	if (r != CS_OK) {
		rc = fail(r, "cpg_initialize", err, errlen);
		free(c);
		return rc;
	}
	cpg_context_set(c->cpg, c);
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
	report_quorum(c, quorate);
	/* Without trackstart no quorum callback ever comes. */
	if ((r = RETRY(quorum_trackstart(c->quorum, CS_TRACK_CHANGES))) != CS_OK)
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
	if (c->joined && !c->lost)
		cpg_leave(c->cpg, &group);
	votequorum_finalize(c->vq);
	quorum_finalize(c->quorum);
	cpg_finalize(c->cpg);
	free(c);
}
