/* Corosync's membership on its way to the model: one the model cannot hold is a quorum loss. */
#ifndef CLUSTERD_MEMBERSHIP_H
#define CLUSTERD_MEMBERSHIP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model.h"

/*
 * The model keeps CL_MAX_HOSTS members.  Cutting a longer membership short would make a real
 * member "not a member" to every model (failed over while it runs) and, on its own host,
 * would skip its fencing.  So a membership over the bound stands for a quorum loss: the model
 * hears "not quorate" (it fences every primary here) and nothing more until a membership fits
 * again: no messages, no confchgs.  The confchg that fits is passed on first, then
 * votequorum's last word, so the model resyncs from the members' state before it may act.
 * start-up refuses a Corosync nodelist over the bound; this is for one grown at runtime.
 * All on the event-loop thread.
 */
struct membership {
	bool overflow;		/* the last confchg did not fit */
	bool have_quorum;	/* quorum below holds votequorum's last word */
	struct cl_input quorum; /* ... as CL_IN_QUORUM, unmasked */
};

/*
 * A confchg of nmembers members (left, joined likewise): fills out[] with the inputs to feed
 * the model, in order, and returns how many (0 to 2).
 */
int membership__confchg(struct membership *m, const uint32_t *members, size_t nmembers,
			const uint32_t *left, size_t nleft, const uint32_t *joined, size_t njoined,
			uint64_t ring_seq, struct cl_input out[2]);

/* votequorum's word, a CL_IN_QUORUM input: kept, and masked to "not quorate" while overflowed. */
void membership__quorum(struct membership *m, struct cl_input *in);

/* Whether a delivered CPG message goes to the model (not while overflowed). */
bool membership__deliver(const struct membership *m);

#endif
