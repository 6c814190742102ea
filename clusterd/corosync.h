/* twin-clusterd's Corosync link: CPG group "twin" and votequorum, dispatched from libevent. */
#ifndef CLUSTERD_COROSYNC_H
#define CLUSTERD_COROSYNC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#define COROSYNC_GROUP	     "twin"
#define COROSYNC_MAX_MEMBERS 64

/*
 * What Corosync tells us, called on the event-loop thread from inside a dispatch: in the
 * order Corosync delivers (agreed order for messages and configuration changes).
 */
struct corosync_ops {
	/* A message of group "twin" (our own ones too). */
	void (*deliver)(void *opaque, uint32_t from, const void *data, size_t len);
	/*
	 * The group's membership changed: the new members, who left, who joined (nodeids),
	 * and the seq of the totem ring id of that configuration (0: unknown).
	 */
	void (*confchg)(void *opaque, const uint32_t *members, size_t nmembers,
			const uint32_t *left, size_t nleft, const uint32_t *joined, size_t njoined,
			uint64_t ring_seq);
	/*
	 * votequorum's view, and the seq of the ring it is about (0: unknown): also called
	 * once from corosync__join, before joining (ring 0), and again for the current ring.
	 */
	void (*quorum)(void *opaque, bool quorate, uint32_t votes, uint32_t expected_votes,
		       uint64_t ring_seq);
	/*
	 * The connection to Corosync is gone (it died or shut us out): nothing more will be
	 * delivered.  The daemon must fence and end; the link is unusable from here.
	 */
	void (*lost)(void *opaque, const char *why);
	void *opaque;
};

struct corosync;

/*
 * Connects to the Corosync of this network namespace.  *nodeid: this host's Corosync nodeid.
 * Nothing is dispatched until corosync__join.  0, or -errno with one line in err (Corosync not
 * running names the fix).
 */
int corosync__open(const struct corosync_ops *ops, struct corosync **out, uint32_t *nodeid,
		   char *err, size_t errlen);

/*
 * Reports the quorum once (ops->quorum), starts tracking it, joins group "twin" and
 * dispatches from base from then on.  0, or -errno with one line in err.
 */
int corosync__join(struct corosync *c, struct event_base *base, char *err, size_t errlen);

/*
 * Multicasts data to the group in agreed order.  What Corosync's flow control refuses
 * (CS_ERR_TRY_AGAIN: a membership sync, full queues) waits in a queue, sent in order from the
 * loop with a doubling retry (1 to 100 ms); nothing blocks.  0 (sent or queued), or -EAGAIN
 * (the queue is full: dropped), -ENOTCONN (the link is lost), -EMSGSIZE.
 */
int corosync__send(struct corosync *c, const void *data, size_t len);

/* How many nodes corosync.conf's nodelist has (cmap nodelist.node.N.*), or -errno. */
int corosync__nodelist_size(struct corosync *c);

/* The totem token timeout in ms from cmap (runtime.config.totem.token), 0 if unknown. */
uint32_t corosync__token_ms(struct corosync *c);

/* Leaves the group (if joined) and disconnects; NULL is a no-op. */
void corosync__stop(struct corosync *c);

#endif
