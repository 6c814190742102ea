/* The model's membership: STATE_SYNC rounds at each confchg, held messages, dispatch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl_msg.h"
#include "model.h"
#include "model_priv.h"

/* ---- Membership ---- */

/* After a sync round, in a quorate partition: hosts that left are confirmed gone. */
static void apply_membership(struct model *m)
{
	for (int i = 0; i < CL_MAX_HOSTS; i++) {
		struct cl_host *h = &m->s.cluster.hosts[i];

		if (!h->nodeid || h->state != CL_HOST_ONLINE || model_is_member(m, h->nodeid))
			continue;
		model_host_set(m, h, CL_HOST_OFFLINE, "left the membership");
		for (int k = 0; k < CL_MAX_VMS; k++) {
			struct cl_vm *v = &m->s.cluster.vms[k];

			if (!v->name[0])
				continue;
			if (v->primary == h->nodeid)
				model_primary_died(m, v, true, "its host left the membership");
			else if (v->backup == h->nodeid)
				model_backup_died(m, v, "its host left the membership");
		}
	}
}

void model_send_host_info(struct model *m)
{
	struct cl_msg msg = {.type = CL_MSG_HOST_INFO};
	struct cl_local *l = &m->s.local;

	snprintf(msg.host.name, sizeof(msg.host.name), "%s", l->name);
	snprintf(msg.host.repl_addr, sizeof(msg.host.repl_addr), "%s", l->repl_addr);
	msg.host.port_base = l->port_base;
	msg.host.free_mib = l->free_mib;
	m->sent_free_mib = l->free_mib;
	model_send_msg(m, &msg);
}

static bool won_midway(const struct cl_local *l);

/* Our state for a STATE_SYNC round (and our host info, applied after it). */
void model_send_state(struct model *m)
{
	struct cl_msg msg = {.type = CL_MSG_STATE_SYNC};

	msg.sync.nmembers = m->s.local.nmembers;
	memcpy(msg.sync.members, m->s.local.members, sizeof(msg.sync.members));
	msg.sync.initialized = m->s.local.initialized;
	msg.sync.midway = won_midway(&m->s.local);
	msg.sync.cluster = &m->s.cluster;
	model_send_msg(m, &msg);
	model_send_host_info(m);
}

/*
 * A round begins at a point of the CPG stream, the same at every member: a confchg, or
 * the first STATE_SYNC delivered outside a round.  Until it completes, other messages
 * wait.
 */
static void round_begin(struct model *m)
{
	m->s.local.syncing = true;
	m->sync_midway = false;
	memset(m->sync_got, 0, sizeof(m->sync_got));
	free(m->sync_best);
	m->sync_best = NULL;
}

/* Whether votequorum's verdict is about the configuration we deliver in. */
static bool verdict_current(const struct cl_local *l)
{
	return l->vq_ring && l->ring_seq && l->vq_ring == l->ring_seq;
}

/* cl_local.stream_quorate says why. */
void model_update_stream_quorate(struct model *m)
{
	struct cl_local *l = &m->s.local;

	l->stream_quorate = verdict_current(l) ||
			    (l->expected_votes && 2u * (uint32_t)l->nmembers > l->expected_votes);
}

/*
 * This host's partition won its quorum midway through the ring: votequorum's first verdict
 * on the ring said not quorate, its latest says quorate.
 */
static bool won_midway(const struct cl_local *l)
{
	return verdict_current(l) && l->vq_quorate && l->vq_first_ring == l->ring_seq &&
	       !l->vq_first_quorate;
}

/*
 * What a quorate round stamps on the state (cl_cluster.ring says why): the midway bit is
 * any member's word in the round's STATE_SYNCs, so every member stamps the same (a
 * clusterd that joined late heard only the latest verdict).
 */
static uint64_t quorate_ring(const struct model *m)
{
	return m->s.local.ring_seq << 1 | (m->sync_midway ? 1 : 0);
}

/* Every expected vote is here (a qdevice's too): no host can be missing from a cold start. */
static bool all_votes_here(const struct model *m)
{
	const struct cl_local *l = &m->s.local;

	if (!l->expected_votes)
		return false;
	if (verdict_current(l))
		return l->votes >= l->expected_votes;
	return (uint32_t)l->nmembers >= l->expected_votes;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- Our targeted requests: one answer each, whatever the membership does ---- */

bool model_pending_add(struct model *m, uint64_t id, uint32_t target)
{
	if (m->npending == PENDING_MAX)
		return false;
	m->pending[m->npending].id = id;
	m->pending[m->npending++].target = target;
	return true;
}

/* Whether id was pending (it is not any more). */
static bool pending_take(struct model *m, uint64_t id)
{
	for (int i = 0; i < m->npending; i++)
		if (m->pending[i].id == id) {
			m->pending[i] = m->pending[--m->npending];
			return true;
		}
	return false;
}

/* A targeted request whose target left can get no answer: say so now, not at a timeout. */
static void fail_pending_of_gone(struct model *m)
{
	for (int i = 0; i < m->npending; i++) {
		uint64_t id = m->pending[i].id;
		uint32_t target = m->pending[i].target;

		if (model_is_member(m, target))
			continue;
		pending_take(m, id);
		i--;
		model_reply_err(m, id, "GenericError",
				"the membership changed: %s left before it answered (twin status "
				"shows what happened): retry",
				model_host_name(m, target));
	}
}

/*
 * A message dropped (a round cut short, or too many held): a request of ours is refused,
 * and so is one whose answer to us was in it, so the origin hears now, not at a timeout.
 */
static void refuse_dropped(struct model *m, uint32_t from, const struct cl_msg *msg,
			   const char *why)
{
	uint32_t me = m->s.local.nodeid;

	if (msg->type == CL_MSG_REQUEST && from == me) {
		pending_take(m, msg->request.req->id);
		model_reply_err(m, msg->request.req->id, "GenericError", "%s: %s: retry",
				cl_cmd__to_str(msg->request.req->cmd), why);
	} else if (msg->type == CL_MSG_REPLY && msg->reply.origin == me &&
		   pending_take(m, msg->reply.id)) {
		model_reply_err(m, msg->reply.id, "GenericError",
				"%s: its answer from %s was lost; it may have run (twin status "
				"shows): retry if not",
				why, model_host_name(m, from));
	}
}

/*
 * Messages held by a round the confchg cuts short: joiners never saw them, so nobody
 * applies them.  Reports are sent again after the next round, host info too; requests and
 * answers of ours are refused (refuse_dropped).
 */
static void drop_deferred(struct model *m)
{
	for (int i = 0; i < m->ndefer; i++) {
		struct cl_msg *msg = &m->defer[i].msg;

		refuse_dropped(m, m->defer[i].from, msg,
			       "the membership changed before it applied");
		cl_msg__dispose(msg);
	}
	m->ndefer = 0;
}

void model_on_confchg(struct model *m, const struct cl_input *in)
{
	struct cl_local *l = &m->s.local;
	int n = in->confchg.nmembers;

	if (n < 0 || n > CL_MAX_HOSTS)
		n = 0;
	model_barrier_reset(m);
	drop_deferred(m);
	l->nmembers = n;
	l->ring_seq = in->confchg.ring_seq;
	memcpy(l->members, in->confchg.members, (size_t)n * sizeof(uint32_t));
	qsort(l->members, (size_t)n, sizeof(uint32_t), cmp_u32);
	model_update_stream_quorate(m);
	fail_pending_of_gone(m);
	/* A node that left and joined at once (restarted) reports its lost vmms itself. */
	for (int i = 0; i < in->confchg.nleft && i < CL_MAX_HOSTS; i++)
		model_note(m, "membership: %s left", model_host_name(m, in->confchg.left[i]));
	for (int i = 0; i < in->confchg.njoined && i < CL_MAX_HOSTS; i++)
		model_note(m, "membership: node %u joined", in->confchg.joined[i]);
	model_note(m, "membership: %d members, %s", n,
		   model_quorate(m) ? "quorate" : "NOT quorate");
	if (!model_is_member(m, l->nodeid)) {
		l->syncing = false;
		return;
	}
	round_begin(m);
	model_send_state(m);
}

static void apply_msg(struct model *m, uint32_t from, const struct cl_msg *msg);
/* The round is complete: every member adopts the same state, then the held messages. */
static void sync_finish(struct model *m)
{
	struct deferred held[DEFER_MAX];
	int n = m->ndefer;

	if (m->sync_best) {
		if (m->sync_best->version != m->s.cluster.version ||
		    m->sync_best_node != m->s.local.nodeid)
			model_note(m, "sync: adopting version %llu from %s (ours %llu)",
				   (unsigned long long)m->sync_best->version,
				   model_host_name(m, m->sync_best_node),
				   (unsigned long long)m->s.cluster.version);
		m->s.cluster = *m->sync_best;
		m->dirty = true;
		free(m->sync_best);
		m->sync_best = NULL;
		if (m->sync_best_initialized)
			m->s.local.initialized = true;
	}
	m->s.local.syncing = false;
	/*
	 * A member whose votequorum is late decides otherwise here; its verdict, when it
	 * comes, flips its quorum and starts a round that hands it the history.
	 */
	if (!m->s.local.initialized && all_votes_here(m)) {
		m->s.local.initialized = true;
		model_note(m, "cold start: all %u expected votes are here, none with a history",
			   m->s.local.expected_votes);
	}
	if (model_quorate(m)) {
		uint64_t ring = quorate_ring(m);

		if (ring > m->s.cluster.ring) {
			m->s.cluster.ring = ring;
			m->dirty = true;
		}
		apply_membership(m);
	}
	memcpy(held, m->defer, (size_t)n * sizeof(held[0]));
	m->ndefer = 0;
	for (int i = 0; i < n; i++) {
		/* A message may start another round: the rest waits again, in order. */
		if (m->s.local.syncing)
			m->defer[m->ndefer++] = held[i];
		else {
			apply_msg(m, held[i].from, &held[i].msg);
			cl_msg__dispose(&held[i].msg);
		}
	}
	if (!m->s.local.syncing && model_quorate(m))
		model_resend_reports(m);
}

/* A history beats none; then the latest quorate ring; then the highest version; then
 * the lowest nodeid. */
static bool better(bool init, const struct cl_cluster *c, uint32_t node, bool best_init,
		   const struct cl_cluster *best, uint32_t best_node)
{
	if (init != best_init)
		return init;
	if (c->ring != best->ring)
		return c->ring > best->ring;
	if (c->version != best->version)
		return c->version > best->version;
	return node < best_node;
}

static void on_state_sync(struct model *m, uint32_t from, const struct cl_msg *msg)
{
	struct cl_local *l = &m->s.local;
	int idx = -1;

	if (msg->sync.nmembers != l->nmembers ||
	    memcmp(msg->sync.members, l->members, (size_t)l->nmembers * sizeof(uint32_t))) {
		model_note(m, "sync: a state from %s for another membership: ignored",
			   model_host_name(m, from));
		return;
	}
	for (int i = 0; i < l->nmembers; i++)
		if (l->members[i] == from)
			idx = i;
	if (idx < 0)
		return;
	if (!l->syncing) { /* a member asked for a round (its quorum changed) */
		round_begin(m);
		if (from != l->nodeid)
			model_send_state(m);
	}
	m->sync_got[idx] = true;
	m->sync_midway = m->sync_midway || msg->sync.midway;
	if (!m->sync_best || better(msg->sync.initialized, msg->sync.cluster, from,
				    m->sync_best_initialized, m->sync_best, m->sync_best_node)) {
		if (!m->sync_best)
			m->sync_best = malloc(sizeof(*m->sync_best));
		if (!m->sync_best) {
			m->err = -ENOMEM;
			return;
		}
		*m->sync_best = *msg->sync.cluster;
		m->sync_best_node = from;
		m->sync_best_initialized = msg->sync.initialized;
	}
	for (int i = 0; i < l->nmembers; i++)
		if (!m->sync_got[i])
			return;
	sync_finish(m);
}

/* Whether msg changes the replicated state (only in a quorate partition). */
static bool gated(const struct cl_msg *msg)
{
	return msg->type == CL_MSG_HOST_INFO || msg->type == CL_MSG_VM_REPORT ||
	       (msg->type == CL_MSG_REQUEST && !msg->request.target &&
		!(msg->request.req->cmd == CL_CMD_FAILOVER && msg->request.req->force));
}

static void apply_msg(struct model *m, uint32_t from, const struct cl_msg *msg)
{
	if (gated(msg) && !model_quorate(m)) {
		model_note(m, "%s from %s: not applied, no quorum", cl_msg_type__to_str(msg->type),
			   model_host_name(m, from));
		if (msg->type == CL_MSG_REQUEST && from == m->s.local.nodeid)
			model_reply_err(m, msg->request.req->id, "NoQuorum",
					"%s: the partition lost quorum before it applied",
					cl_cmd__to_str(msg->request.req->cmd));
		return;
	}
	switch (msg->type) {
	case CL_MSG_HOST_INFO:
		model_on_host_info(m, msg);
		break;
	case CL_MSG_REQUEST:
		if (!msg->request.target)
			model_on_request(m, from, msg->request.req);
		else if (msg->request.target == m->s.local.nodeid)
			model_on_targeted(m, from, msg->request.req);
		break;
	case CL_MSG_REPLY:
		if (msg->reply.origin != m->s.local.nodeid || !pending_take(m, msg->reply.id))
			break;
		if (msg->reply.ok)
			model_reply_ok(m, msg->reply.id, strdup(msg->reply.text));
		else
			model_reply_err(m, msg->reply.id, msg->reply.err_class, "%s",
					msg->reply.text);
		break;
	case CL_MSG_VM_REPORT:
		model_on_report(m, msg);
		break;
	default:
		break;
	}
}

int model_on_message(struct model *m, const struct cl_input *in)
{
	struct cl_msg msg;
	char err[160];

	if (cl_msg__decode(in->msg.data, in->msg.len, &msg, err, sizeof(err))) {
		model_note(m, "a message from node %u refused: %s", in->msg.from, err);
		cl_msg__dispose(&msg);
		return -EBADMSG;
	}
	if (msg.node != in->msg.from) {
		model_note(m, "a %s message from node %u claims node %u: refused",
			   cl_msg_type__to_str(msg.type), in->msg.from, msg.node);
		cl_msg__dispose(&msg);
		return -EBADMSG;
	}
	if (msg.type == CL_MSG_STATE_SYNC) {
		on_state_sync(m, in->msg.from, &msg);
	} else if (msg.type == CL_MSG_BARRIER) {
		if (msg.node == m->s.local.nodeid && msg.barrier == m->barrier_seq) {
			m->barrier_seq = 0;
			if (model_safe(m))
				m->passed_version = m->barrier_version;
		}
	} else if (m->s.local.syncing) {
		if (m->ndefer == DEFER_MAX) {
			/* Every member drops the same one: the stream stays identical. */
			model_note(m, "sync: %d messages held already: a %s dropped", DEFER_MAX,
				   cl_msg_type__to_str(msg.type));
			refuse_dropped(m, in->msg.from, &msg,
				       "the cluster is busy resynchronizing");
		} else {
			m->defer[m->ndefer++] = (struct deferred){in->msg.from, msg};
			return 0;
		}
	} else {
		apply_msg(m, in->msg.from, &msg);
	}
	cl_msg__dispose(&msg);
	return 0;
}
