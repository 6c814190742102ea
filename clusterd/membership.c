/* Corosync memberships for the model: those over CL_MAX_HOSTS become a quorum loss. */
#include <string.h>
#include "clog.h"
#include "membership.h"

/* A list that fits (the members do; left and joined past an overflow may not: only logged). */
static int copy_ids(uint32_t *dst, const uint32_t *src, size_t n)
{
	if (n > CL_MAX_HOSTS)
		n = CL_MAX_HOSTS;
	if (n)
		memcpy(dst, src, n * sizeof(*src));
	return (int)n;
}

int membership__confchg(struct membership *m, const uint32_t *members, size_t nmembers,
			const uint32_t *left, size_t nleft, const uint32_t *joined, size_t njoined,
			uint64_t ring_seq, struct cl_input out[2])
{
	struct cl_input *in = &out[0];

	if (nmembers > CL_MAX_HOSTS) {
		if (m->overflow)
			return 0;
		m->overflow = true;
		clog__error(
		    "corosync: %zu members, over the %d hosts a Twin cluster holds: treated "
		    "as a quorum loss (every primary here is fenced) until the membership "
		    "fits again: remove nodes from corosync.conf's nodelist",
		    nmembers, CL_MAX_HOSTS);
		*in = (struct cl_input){.type = CL_IN_QUORUM};
		if (m->have_quorum)
			*in = m->quorum;
		in->quorum.quorate = false;
		return 1;
	}
	*in = (struct cl_input){.type = CL_IN_CONFCHG};
	in->confchg.nmembers = copy_ids(in->confchg.members, members, nmembers);
	in->confchg.nleft = copy_ids(in->confchg.left, left, nleft);
	in->confchg.njoined = copy_ids(in->confchg.joined, joined, njoined);
	in->confchg.ring_seq = ring_seq;
	if (!m->overflow)
		return 1;
	m->overflow = false;
	clog__warn("corosync: %zu members: the membership fits again, quorum as votequorum says",
		   nmembers);
	if (!m->have_quorum)
		return 1;
	out[1] = m->quorum;
	return 2;
}

void membership__quorum(struct membership *m, struct cl_input *in)
{
	m->quorum = *in;
	m->have_quorum = true;
	if (m->overflow)
		in->quorum.quorate = false;
}

bool membership__deliver(const struct membership *m)
{
	return !m->overflow;
}
