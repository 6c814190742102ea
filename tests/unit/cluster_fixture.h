/* N simulated twin-clusterd hosts: the real model over a fake CPG, votequorum and twin-vmm. */
#ifndef TESTS_UNIT_CLUSTER_FIXTURE_H
#define TESTS_UNIT_CLUSTER_FIXTURE_H

/*
 * In the spirit of corosync's vqsim.  Each host has its own inbox; a CPG message goes into
 * the inbox of every member of the sender's partition in one global order (agreed order),
 * confchg and quorum notifications into each member's.  A step takes the head of one inbox
 * (the next host in turn, or a random one) and hands it to that host's model; the actions
 * come back to the fake transport and the fake twin-vmms, whose answers (started, synced,
 * activated, exited) go into the same inbox.  A partition: the losing side learns of it
 * first (its corosync gives up within the token, the winners need the token and consensus
 * more); in-flight messages may be lost across the new boundary, the same way for every
 * member of a side.  check_invariants() runs after every step.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl_msg.h"
#include "model.h"

#define SIM_MAX 5

enum sim_ev_type { SIM_MSG, SIM_CONFCHG, SIM_QUORUM, SIM_LOCAL };

struct sim_ev {
	enum sim_ev_type type;
	uint64_t msg_id; /* SIM_MSG */
	uint32_t from;
	char *data;
	size_t len;
	bool quorate;	    /* SIM_CONFCHG: the configuration has quorum (votes) */
	struct cl_input in; /* the others */
};

struct sim_vmm {
	char vm[CL_NAME_MAX + 1]; /* "": none */
	enum cl_role role;	  /* as spawned; a backup that activated says primary */
	enum cl_role spawned;	  /* as spawned (the daemon's key until ACTIVATED is told) */
	bool fenced;
	bool replicating; /* protect sent, not ended */
	int fences, unfences, degrades, unprotects;
};

struct sim_reply {
	uint64_t id;
	bool ok;
	char cls[32];
	char text[512];
};

struct sim_node {
	struct model *m;
	uint32_t id;
	bool up;	  /* its clusterd runs (a CPG member) */
	bool cs_only;	  /* clusterd down, its corosync up: it still votes */
	uint32_t cs_seen; /* the corosync members (bits) of its last ring pushed */
	int part;
	uint32_t seen[SIM_MAX]; /* the last confchg's members */
	int nseen;
	struct sim_ev *inbox;
	size_t n, cap;
	struct sim_vmm vmms[CL_MAX_VMS];
	struct sim_reply replies[64];
	int nreplies;
	/* What the test wants the fake vmm to answer a protect with. */
	bool fail_syncs;
	/*
	 * Whether the configuration this node delivers in (its last confchg) is a majority.
	 * Acts that release output are checked against it: the partition may already have
	 * changed under messages of the old configuration still queued (the token's window,
	 * which output commit covers).
	 */
	bool view_quorate;
	uint64_t view_ring;	   /* the ring of its last confchg */
	uint64_t view_ring_pushed; /* ... of the last one pushed to its inbox */
	bool q_sent;		   /* the last quorate verdict pushed to it */
	char *disk;	   /* the last CL_ACT_PERSIST: survives a host's death, not its disk's */
	uint64_t last_msg; /* the last message it delivered */
};

struct sim {
	int n;
	struct sim_node nodes[SIM_MAX];
	uint64_t next_msg_id;
	uint64_t ring; /* corosync's ring seq: one more at each membership change */
	uint64_t now_ms;
	unsigned seed, seed0; /* the generator, and where it started (to replay) */
	bool random;	      /* random scheduling and losses */
	uint64_t steps;
	int transitions, activations, failovers_refused;
	bool forced;	     /* a forced failover ran: activation outside quorum allowed */
	bool two_actives_ok; /* ... while its old primary ran: the operator's risk */
	/*
	 * Votes: one a host, plus a qdevice's (ffsplit-like: the largest partition, on a tie
	 * the one with the lowest nodeid) when qdevice is set.
	 */
	bool qdevice;
	bool verbose;
};

static inline unsigned sim_rand(struct sim *s)
{
	s->seed = s->seed * 1103515245u + 12345u;
	return (s->seed >> 16) & 0x7fff;
}

static inline struct sim_node *sim_node(struct sim *s, uint32_t id)
{
	ck_assert(id >= 1 && (int)id <= s->n);
	return &s->nodes[id - 1];
}

static inline void sim_push(struct sim_node *nd, const struct sim_ev *ev)
{
	if (nd->n == nd->cap) {
		nd->cap = nd->cap ? nd->cap * 2 : 64;
		nd->inbox = realloc(nd->inbox, nd->cap * sizeof(*nd->inbox));
		ck_assert_ptr_nonnull(nd->inbox);
	}
	nd->inbox[nd->n++] = *ev;
}

static inline void sim_local(struct sim_node *nd, enum cl_event type, const char *vm,
			     enum cl_role role)
{
	struct sim_ev ev = {.type = SIM_LOCAL};

	ev.in.type = CL_IN_LOCAL;
	ev.in.ev.type = type;
	snprintf(ev.in.ev.vm, sizeof(ev.in.ev.vm), "%s", vm);
	ev.in.ev.role = role;
	sim_push(nd, &ev);
}

static inline int sim_part_size(struct sim *s, int part)
{
	int k = 0;

	for (int i = 0; i < s->n; i++)
		k += (s->nodes[i].up || s->nodes[i].cs_only) && s->nodes[i].part == part;
	return k;
}

/* The partition the qdevice votes for (-1: none, no host up). */
static inline int sim_qdevice_part(struct sim *s)
{
	int best = -1, best_size = 0;

	for (int i = 0; i < s->n; i++) {
		int size =
		    s->nodes[i].up || s->nodes[i].cs_only ? sim_part_size(s, s->nodes[i].part) : 0;

		if (size > best_size) { /* nodes in id order: a tie keeps the lowest id's */
			best = s->nodes[i].part;
			best_size = size;
		}
	}
	return best;
}

static inline int sim_expected_votes(struct sim *s)
{
	return s->n + (s->qdevice ? 1 : 0);
}

static inline int sim_part_votes(struct sim *s, int part)
{
	return sim_part_size(s, part) + (s->qdevice && sim_qdevice_part(s) == part ? 1 : 0);
}

static inline bool sim_quorate(struct sim *s, struct sim_node *nd)
{
	return nd->up && 2 * sim_part_votes(s, nd->part) > sim_expected_votes(s);
}

static inline struct sim_vmm *sim_vmm(struct sim_node *nd, const char *vm)
{
	for (int i = 0; i < CL_MAX_VMS; i++)
		if (!strcmp(nd->vmms[i].vm, vm))
			return &nd->vmms[i];
	return NULL;
}

/* The fake twin-vmm exits (killed, quit or crashed): the daemon reports its exit. */
static inline void sim_vmm_exit(struct sim_node *nd, struct sim_vmm *x, int status)
{
	struct sim_ev ev = {.type = SIM_LOCAL};

	ev.in.type = CL_IN_LOCAL;
	ev.in.ev.type = CL_EV_VMM_EXITED;
	snprintf(ev.in.ev.vm, sizeof(ev.in.ev.vm), "%s", x->vm);
	ev.in.ev.role = x->role;
	ev.in.ev.status = status;
	memset(x, 0, sizeof(*x));
	sim_push(nd, &ev);
}

static inline bool sim_exit_pending(struct sim_node *nd, const char *vm)
{
	for (size_t i = 0; i < nd->n; i++)
		if (nd->inbox[i].type == SIM_LOCAL && nd->inbox[i].in.ev.type == CL_EV_VMM_EXITED &&
		    !strcmp(nd->inbox[i].in.ev.vm, vm))
			return true;
	return false;
}

static inline void sim_send(struct sim *s, struct sim_node *from, const char *data, size_t len)
{
	uint64_t id = ++s->next_msg_id;

	for (int i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->nodes[i];
		struct sim_ev ev = {.type = SIM_MSG, .msg_id = id, .from = from->id, .len = len};

		if (!nd->up || nd->part != from->part)
			continue;
		ev.data = malloc(len);
		memcpy(ev.data, data, len);
		sim_push(nd, &ev);
	}
}

/* "vm X: a -> b (why)": every transition logged is in the table. */
static inline void sim_check_log(struct sim *s, struct sim_node *nd, const char *line)
{
	char vm[64], from[32], to[32];

	if (s->verbose)
		printf("[%u] %s\n", nd->id, line);
	if (sscanf(line, "vm %63[^:]: %31s -> %31s (", vm, from, to) == 3 &&
	    !strstr(line, "refused")) {
		int f = -1, t = -1;

		for (int k = 0; k < CL_VM_NSTATES; k++) {
			if (!strcmp(from, cl_vm_state__to_str(k)))
				f = k;
			if (!strcmp(to, cl_vm_state__to_str(k)))
				t = k;
		}
		ck_assert_msg(f >= 0 && t >= 0 && model__vm_allowed(f, t),
			      "node %u logged a transition outside the table: %s", nd->id, line);
		s->transitions++;
	}
	if (strstr(line, "automatic failover refused"))
		s->failovers_refused++;
}

static inline void sim_act(struct sim *s, struct sim_node *nd, const struct cl_action *a)
{
	struct sim_vmm *x = sim_vmm(nd, a->vm);

	switch (a->type) {
	case CL_ACT_SEND:
		sim_send(s, nd, a->data, a->len);
		break;
	case CL_ACT_SPAWN_PRIMARY:
	case CL_ACT_SPAWN_BACKUP:
		ck_assert_msg(!x, "node %u spawns a second vmm of %s", nd->id, a->vm);
		x = sim_vmm(nd, "");
		ck_assert_ptr_nonnull(x);
		snprintf(x->vm, sizeof(x->vm), "%s", a->vm);
		x->role = a->type == CL_ACT_SPAWN_PRIMARY ? CL_ROLE_PRIMARY : CL_ROLE_BACKUP;
		x->spawned = x->role;
		ck_assert(a->data && strstr(a->data, "name ="));
		sim_local(nd, CL_EV_VMM_STARTED, a->vm, x->role);
		break;
	case CL_ACT_KILL:
		ck_assert_int_eq(a->signal, 9);
		if (x)
			sim_vmm_exit(nd, x, 9);
		break;
	case CL_ACT_VMM:
		/* A vmm that exited, its exit not yet told: the command fails, the exit follows. */
		if (!x) {
			ck_assert_msg(sim_exit_pending(nd, a->vm), "node %u: %s to no vmm of %s",
				      nd->id, cl_vmm_cmd__to_str(a->vmm_cmd), a->vm);
			break;
		}
		ck_assert_msg(a->role == x->role || a->role == x->spawned,
			      "node %u: %s for the %s vmm of %s, which is a %s", nd->id,
			      cl_vmm_cmd__to_str(a->vmm_cmd), cl_role__to_str(a->role), a->vm,
			      cl_role__to_str(x->role));
		switch (a->vmm_cmd) {
		case CL_VMM_PROTECT: {
			uint32_t peer = 0;
			struct sim_vmm *b;

			ck_assert_int_eq(x->role, CL_ROLE_PRIMARY);
			ck_assert(!x->fenced);
			sscanf(a->peer_addr, "10.0.0.%u", &peer);
			b = peer >= 1 && (int)peer <= s->n ? sim_vmm(sim_node(s, peer), a->vm)
							   : NULL;
			x->replicating = true;
			/* The backup must listen where it was told: port_base 7400 + VM index. */
			if (b && b->role == CL_ROLE_BACKUP && a->port >= 7400 &&
			    sim_node(s, peer)->part == nd->part && !nd->fail_syncs)
				sim_local(nd, CL_EV_VMM_PROTECTED, a->vm, CL_ROLE_PRIMARY);
			else
				sim_local(nd, CL_EV_SYNC_FAILED, a->vm, CL_ROLE_PRIMARY);
			break;
		}
		case CL_VMM_FAILOVER:
			ck_assert_int_eq(x->role, CL_ROLE_BACKUP);
			/* The safety rule: a backup activates only in a quorate partition. */
			ck_assert_msg(s->forced || nd->view_quorate,
				      "node %u activates %s outside a quorate partition", nd->id,
				      a->vm);
			x->role = CL_ROLE_PRIMARY;
			s->activations++;
			sim_local(nd, CL_EV_ACTIVATED, a->vm, CL_ROLE_BACKUP);
			break;
		case CL_VMM_DEGRADE:
		case CL_VMM_UNPROTECT:
			ck_assert_int_eq(x->role, CL_ROLE_PRIMARY);
			ck_assert_msg(nd->view_quorate, "node %u releases %s's output unquorate",
				      nd->id, a->vm);
			x->replicating = false;
			x->degrades += a->vmm_cmd == CL_VMM_DEGRADE;
			x->unprotects += a->vmm_cmd == CL_VMM_UNPROTECT;
			break;
		case CL_VMM_FENCE:
			x->fenced = true;
			x->fences++;
			break;
		case CL_VMM_UNFENCE:
			ck_assert(nd->view_quorate);
			x->fenced = false;
			x->unfences++;
			break;
		case CL_VMM_QUIT:
			sim_vmm_exit(nd, x, 0);
			break;
		}
		break;
	case CL_ACT_REPLY: {
		struct sim_reply *r = &nd->replies[nd->nreplies++ % 64];

		r->id = a->req_id;
		r->ok = a->ok;
		snprintf(r->cls, sizeof(r->cls), "%s", a->err_class);
		snprintf(r->text, sizeof(r->text), "%s", a->data ? a->data : "");
		if (s->verbose)
			printf("[%u] reply %llu: %s %s\n", nd->id, (unsigned long long)a->req_id,
			       a->ok ? "ok" : a->err_class, r->text);
		break;
	}
	case CL_ACT_LOG:
		sim_check_log(s, nd, a->data);
		break;
	case CL_ACT_PERSIST:
		free(nd->disk);
		nd->disk = strdup(a->data);
		break;
	}
}

/* A persist comes after every fence and kill of its list and before everything else. */
static inline void sim_check_persist_order(struct sim_node *nd, const struct cl_actions *out)
{
	size_t at = out->n;

	for (size_t i = 0; i < out->n; i++)
		if (out->v[i].type == CL_ACT_PERSIST) {
			ck_assert_msg(at == out->n, "node %u: two persists in one list", nd->id);
			at = i;
		}
	for (size_t i = 0; at < out->n && i < out->n; i++) {
		bool quiet = out->v[i].type == CL_ACT_KILL ||
			     (out->v[i].type == CL_ACT_VMM && out->v[i].vmm_cmd == CL_VMM_FENCE);

		ck_assert_msg(i == at || quiet == (i < at),
			      "node %u: action %zu (%s) on the wrong side of the persist (%zu)",
			      nd->id, i, cl_action_type__to_str(out->v[i].type), at);
	}
}

static inline void sim_input(struct sim *s, struct sim_node *nd, const struct cl_input *in)
{
	struct cl_actions out;
	int rc;

	cl_actions__init(&out);
	rc = model__input(nd->m, in, &out);
	ck_assert_msg(rc == 0, "node %u: model__input: %d", nd->id, rc);
	sim_check_persist_order(nd, &out);
	for (size_t i = 0; i < out.n; i++)
		sim_act(s, nd, &out.v[i]);
	cl_actions__dispose(&out);
}

/* Two active copies of a VM (running as primary, not fenced) anywhere: the one sin. */
static inline void sim_check_invariants(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		struct sim_node *a = &s->nodes[i];

		ck_assert_msg(!a->up || model__state(a->m)->refused == 0,
			      "node %u refused a transition of its own", a->id);
		for (int k = 0; a->up && k < CL_MAX_VMS; k++) {
			const struct sim_vmm *x = &a->vmms[k];

			if (!x->vm[0] || x->role != CL_ROLE_PRIMARY || x->fenced)
				continue;
			for (int j = i + 1; j < s->n && !s->two_actives_ok; j++) {
				struct sim_vmm *y =
				    s->nodes[j].up ? sim_vmm(&s->nodes[j], x->vm) : NULL;

				ck_assert_msg(!y || y->role != CL_ROLE_PRIMARY || y->fenced,
					      "two active primaries of %s: nodes %u and %u (seed "
					      "%u, step %llu)",
					      x->vm, a->id, s->nodes[j].id, s->seed0,
					      (unsigned long long)s->steps);
			}
		}
	}
}

static inline void sim_free_ev(struct sim_ev *ev)
{
	free(ev->data);
}

/* One inbox head of node nd. */
static inline void sim_step_node(struct sim *s, struct sim_node *nd)
{
	struct sim_ev ev = nd->inbox[0];

	memmove(nd->inbox, nd->inbox + 1, --nd->n * sizeof(*nd->inbox));
	if (ev.type == SIM_MSG) {
		nd->last_msg = ev.msg_id;
		struct cl_input in = {.type = CL_IN_MESSAGE};

		in.msg.from = ev.from;
		in.msg.data = (const uint8_t *)ev.data;
		in.msg.len = ev.len;
		sim_input(s, nd, &in);
	} else {
		if (ev.type == SIM_CONFCHG) {
			nd->view_quorate = ev.quorate;
			nd->view_ring = ev.in.confchg.ring_seq;
		} else if (ev.type == SIM_QUORUM && ev.in.quorum.ring_seq == nd->view_ring) {
			nd->view_quorate = ev.in.quorum.quorate;
		}
		sim_input(s, nd, &ev.in);
	}
	if (s->verbose)
		printf("[%u] <- %s %.60s v%llu\n", nd->id,
		       ev.type == SIM_MSG	? "msg"
		       : ev.type == SIM_LOCAL	? "local"
		       : ev.type == SIM_CONFCHG ? "confchg"
						: "quorum",
		       ev.type == SIM_MSG ? ev.data : "",
		       (unsigned long long)model__state(nd->m)->cluster.version);
	sim_free_ev(&ev);
	s->steps++;
	sim_check_invariants(s);
}

static inline bool sim_busy(struct sim *s)
{
	for (int i = 0; i < s->n; i++)
		if (s->nodes[i].up && s->nodes[i].n)
			return true;
	return false;
}

/* One step: the next node with work (random one if s->random). */
static inline bool sim_step(struct sim *s)
{
	int cand[SIM_MAX], k = 0;

	for (int i = 0; i < s->n; i++)
		if (s->nodes[i].up && s->nodes[i].n)
			cand[k++] = i;
	if (!k)
		return false;
	sim_step_node(s, &s->nodes[cand[s->random ? sim_rand(s) % k : s->steps % k]]);
	return true;
}

static inline void sim_tick_all(struct sim *s, uint64_t ms)
{
	s->now_ms += ms;
	for (int i = 0; i < s->n; i++) {
		struct cl_input in = {.type = CL_IN_TICK, .now_ms = s->now_ms};

		if (s->nodes[i].up)
			sim_input(s, &s->nodes[i], &in);
	}
}

/* Runs until nothing is left to do, ticking time so retries happen. */
static inline void sim_settle(struct sim *s)
{
	for (int round = 0; round < 20; round++) {
		uint64_t guard = 0;

		while (sim_step(s))
			ck_assert_msg(++guard < 200000, "no quiescence (seed %u)", s->seed0);
		sim_tick_all(s, 1000);
		if (!sim_busy(s) && round >= 4)
			break;
	}
}

/*
 * The membership changed: each node of each partition gets quorum, then confchg, with a
 * new ring; a node whose membership stayed gets a verdict of its ring if its votes changed
 * (a qdevice's vote moving).
 */
/* The ring partition part is in now: its members' (a new ring if none has one). */
static inline uint64_t sim_part_ring(struct sim *s, int part)
{
	uint64_t ring = 0;

	for (int j = 0; j < s->n; j++)
		if (s->nodes[j].up && s->nodes[j].part == part &&
		    s->nodes[j].view_ring_pushed > ring)
			ring = s->nodes[j].view_ring_pushed;
	return ring ? ring : ++s->ring;
}

/* new_ring false: clusterds joined or left while every corosync stayed (a CPG-only change). */
static inline void sim_membership_change(struct sim *s, bool new_ring)
{
	if (new_ring)
		s->ring++;
	for (int i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->nodes[i];
		struct sim_ev q = {.type = SIM_QUORUM}, c = {.type = SIM_CONFCHG};
		uint32_t now[SIM_MAX];
		int nnow = 0;
		bool same, verdict;
		uint64_t ring;
		uint32_t cs_now;

		if (!nd->up)
			continue;
		for (int j = 0; j < s->n; j++)
			if (s->nodes[j].up && s->nodes[j].part == nd->part)
				now[nnow++] = s->nodes[j].id;
		cs_now = 0;
		for (int j = 0; j < s->n; j++)
			if ((s->nodes[j].up || s->nodes[j].cs_only) && s->nodes[j].part == nd->part)
				cs_now |= 1u << j;
		/* a corosync joining or leaving makes a new ring even if no clusterd did */
		same = nnow == nd->nseen && !memcmp(now, nd->seen, sizeof(uint32_t) * nnow) &&
		       (!new_ring || cs_now == nd->cs_seen);
		nd->cs_seen = cs_now;
		q.in.type = CL_IN_QUORUM;
		q.in.quorum.quorate = sim_quorate(s, nd);
		q.in.quorum.votes = (uint32_t)sim_part_votes(s, nd->part);
		q.in.quorum.expected_votes = (uint32_t)sim_expected_votes(s);
		ring = new_ring ? s->ring : sim_part_ring(s, nd->part);
		q.in.quorum.ring_seq = same ? nd->view_ring_pushed : ring;
		if (same) {
			if (q.in.quorum.quorate != nd->q_sent) {
				nd->q_sent = q.in.quorum.quorate;
				sim_push(nd, &q);
			}
			continue;
		}
		/*
		 * A verdict comes with a new ring, a change of votes, or to a fresh clusterd
		 * (its current one, CS_TRACK_CURRENT); not when only clusterds came or went.
		 */
		verdict = new_ring || !nd->view_ring_pushed || q.in.quorum.quorate != nd->q_sent;
		nd->q_sent = q.in.quorum.quorate;
		nd->view_ring_pushed = ring;
		c.quorate = q.in.quorum.quorate;
		c.in.type = CL_IN_CONFCHG;
		c.in.confchg.nmembers = nnow;
		c.in.confchg.ring_seq = ring;
		memcpy(c.in.confchg.members, now, sizeof(uint32_t) * nnow);
		for (int a = 0; a < nd->nseen; a++) {
			bool in_now = false;

			for (int b = 0; b < nnow; b++)
				in_now = in_now || now[b] == nd->seen[a];
			if (!in_now)
				c.in.confchg.left[c.in.confchg.nleft++] = nd->seen[a];
		}
		for (int b = 0; b < nnow; b++) {
			bool was = false;

			for (int a = 0; a < nd->nseen; a++)
				was = was || now[b] == nd->seen[a];
			if (!was)
				c.in.confchg.joined[c.in.confchg.njoined++] = now[b];
		}
		memcpy(nd->seen, now, sizeof(now));
		nd->nseen = nnow;
		if (verdict)
			sim_push(nd, &q);
		sim_push(nd, &c);
	}
}

static inline void sim_membership(struct sim *s)
{
	sim_membership_change(s, true);
}

/* The last message a member of partition part has delivered (ids are the agreed order). */
static inline uint64_t sim_side_done(struct sim *s, int part)
{
	uint64_t done = 0;

	for (int j = 0; j < s->n; j++)
		if (s->nodes[j].up && s->nodes[j].part == part && s->nodes[j].last_msg > done)
			done = s->nodes[j].last_msg;
	return done;
}

/*
 * Messages in flight when the membership changes: each new side delivers a prefix of the
 * old configuration's agreed order, the same prefix at all its members (EVS).  The cut
 * falls, past what a member already delivered, at a message from a sender now across the
 * boundary (or dead) that the side loses (always, or by the seed).
 */
static inline void sim_cut_inflight(struct sim *s)
{
	for (int p = 0; p < s->n; p++) {
		struct sim_node *first = &s->nodes[p];
		uint64_t done, cut = UINT64_MAX;
		bool seen = false;

		for (int j = 0; j < p; j++)
			seen = seen || (s->nodes[j].up && s->nodes[j].part == first->part);
		if (!first->up || seen)
			continue; /* one pass per partition */
		done = sim_side_done(s, first->part);
		for (int i = 0; i < s->n; i++) {
			struct sim_node *nd = &s->nodes[i];

			if (!nd->up || nd->part != first->part)
				continue;
			for (size_t r = 0; r < nd->n; r++) {
				struct sim_ev *ev = &nd->inbox[r];
				struct sim_node *from;

				if (ev->type != SIM_MSG || ev->msg_id <= done || ev->msg_id >= cut)
					continue;
				from = sim_node(s, ev->from);
				if ((from->up && from->part == nd->part) ||
				    (s->random &&
				     !(((ev->msg_id * 2654435761u + (unsigned)nd->part + s->seed) >>
					7) &
				       1)))
					continue;
				cut = ev->msg_id;
			}
		}
		for (int i = 0; i < s->n; i++) {
			struct sim_node *nd = &s->nodes[i];
			size_t w = 0;

			if (!nd->up || nd->part != first->part)
				continue;
			for (size_t r = 0; r < nd->n; r++) {
				struct sim_ev *ev = &nd->inbox[r];

				if (ev->type == SIM_MSG && ev->msg_id >= cut)
					sim_free_ev(ev);
				else
					nd->inbox[w++] = *ev;
			}
			nd->n = w;
		}
	}
}

/*
 * Everything a losing side sees of the change, at once (before the winners can act): its
 * confchgs and votequorum's verdicts.
 */
static inline void sim_losers_first(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->nodes[i];

		if (!nd->up || sim_quorate(s, nd))
			continue;
		for (;;) {
			bool pending = false;

			for (size_t k = 0; k < nd->n; k++)
				pending = pending || nd->inbox[k].type == SIM_CONFCHG ||
					  nd->inbox[k].type == SIM_QUORUM;
			if (!pending)
				break;
			sim_step_node(s, nd);
		}
	}
}

/* parts[i]: node i+1's partition. */
static inline void sim_partition(struct sim *s, const int *parts)
{
	if (s->verbose) {
		printf("sim: partition");
		for (int i = 0; i < s->n; i++)
			printf(" h%d:%d", i + 1, parts[i]);
		printf("\n");
	}
	for (int i = 0; i < s->n; i++)
		s->nodes[i].part = parts[i];
	sim_cut_inflight(s);
	sim_membership(s);
	sim_losers_first(s);
}

static inline void sim_heal(struct sim *s)
{
	int parts[SIM_MAX] = {0};

	sim_partition(s, parts);
}

static inline void sim_boot(struct sim *s, uint32_t id)
{
	struct sim_node *nd = sim_node(s, id);
	char name[16], addr[32];
	struct cl_input mem = {.type = CL_IN_LOCAL};

	snprintf(name, sizeof(name), "h%u", id);
	snprintf(addr, sizeof(addr), "10.0.0.%u", id);
	nd->m = model__new(id, name, addr, 7400);
	ck_assert_ptr_nonnull(nd->m);
	if (nd->disk) {
		char err[160];

		ck_assert_msg(!model__restore(nd->m, nd->disk, strlen(nd->disk), err, sizeof(err)),
			      "node %u: its persisted state: %s", id, err);
	}
	nd->up = true;
	nd->cs_only = false;
	nd->nseen = 0;
	nd->last_msg = 0;
	nd->view_ring_pushed = nd->view_ring = 0;
	nd->view_quorate = nd->q_sent = false;
	memset(nd->vmms, 0, sizeof(nd->vmms));
	mem.ev.type = CL_EV_HOST_MEMORY;
	mem.ev.free_mib = 4096;
	sim_input(s, nd, &mem);
}

/*
 * clusterd dies, and its twin-vmms with it (PR_SET_PDEATHSIG); corosync_too: the whole
 * host.  Without it the host's corosync lives on: its vote stays, the ring too, and the
 * others see its clusterd leave the group.
 */
static inline void sim_down(struct sim *s, uint32_t id, bool corosync_too)
{
	struct sim_node *nd = sim_node(s, id);

	nd->up = false;
	nd->cs_only = !corosync_too;
	for (size_t i = 0; i < nd->n; i++)
		sim_free_ev(&nd->inbox[i]);
	nd->n = 0;
	model__free(nd->m);
	nd->m = NULL;
	memset(nd->vmms, 0, sizeof(nd->vmms));
	sim_cut_inflight(s);
	sim_membership_change(s, corosync_too);
	sim_losers_first(s);
}

static inline void sim_kill_host(struct sim *s, uint32_t id)
{
	sim_down(s, id, true);
}

/* clusterd alone dies on host id; its corosync runs on. */
static inline void sim_crash_clusterd(struct sim *s, uint32_t id)
{
	sim_down(s, id, false);
}

/* ... and comes back, with what it persisted, joining its corosync's ring. */
static inline void sim_restart_clusterd(struct sim *s, uint32_t id)
{
	struct sim_node *nd = sim_node(s, id);
	int part = nd->part;

	ck_assert(nd->cs_only);
	sim_boot(s, id);
	nd->part = part;
	sim_membership_change(s, false);
	sim_losers_first(s);
}

static inline void sim_restart_host(struct sim *s, uint32_t id, int part)
{
	sim_boot(s, id);
	sim_node(s, id)->part = part;
	sim_membership(s);
	sim_losers_first(s);
}

static inline void sim_init_votes(struct sim *s, int n, unsigned seed, bool random, bool qdevice)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->qdevice = qdevice;
	s->seed = s->seed0 = seed;
	s->random = random;
	s->verbose = getenv("CLSIM_VERBOSE") != NULL;
	for (int i = 0; i < n; i++) {
		s->nodes[i].id = (uint32_t)i + 1;
		sim_boot(s, (uint32_t)i + 1);
	}
	sim_membership(s);
	sim_settle(s);
}

static inline void sim_init(struct sim *s, int n, unsigned seed, bool random)
{
	sim_init_votes(s, n, seed, random, false);
}

static inline void sim_fini(struct sim *s)
{
	for (int i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->nodes[i];

		for (size_t k = 0; k < nd->n; k++)
			sim_free_ev(&nd->inbox[k]);
		free(nd->inbox);
		free(nd->disk);
		model__free(nd->m);
	}
}

/* A CLI request on node id; returns the request id (its reply lands in replies[]). */
static inline uint64_t sim_request(struct sim *s, uint32_t id, struct cl_request *q)
{
	static uint64_t next = 1;
	struct cl_input in = {.type = CL_IN_REQUEST, .req = q};

	q->id = next++;
	sim_input(s, sim_node(s, id), &in);
	return q->id;
}

static inline const struct sim_reply *sim_reply(struct sim *s, uint32_t id, uint64_t req)
{
	struct sim_node *nd = sim_node(s, id);

	for (int i = 0; i < nd->nreplies && i < 64; i++)
		if (nd->replies[i].id == req)
			return &nd->replies[i];
	return NULL;
}

static inline uint64_t sim_vm_start(struct sim *s, uint32_t id, const char *vm, bool protect)
{
	struct cl_request q = {.cmd = CL_CMD_VM_START, .memory_mib = 64, .protect = protect};

	snprintf(q.vm, sizeof(q.vm), "%s", vm);
	snprintf(q.config, sizeof(q.config), "name = %s\nmemory = 64\nkernel = /k\n", vm);
	return sim_request(s, id, &q);
}

static inline uint64_t sim_simple(struct sim *s, uint32_t id, enum cl_cmd cmd, const char *vm)
{
	struct cl_request q = {.cmd = cmd};

	snprintf(q.vm, sizeof(q.vm), "%s", vm);
	return sim_request(s, id, &q);
}

/* The VM as node id's replicated state has it (NULL: none). */
static inline const struct cl_vm *sim_vm(struct sim *s, uint32_t id, const char *vm)
{
	const struct cl_state *st = model__state(sim_node(s, id)->m);

	for (int i = 0; i < CL_MAX_VMS; i++)
		if (!strcmp(st->cluster.vms[i].name, vm))
			return &st->cluster.vms[i];
	return NULL;
}

/* Nodes whose fake vmm of vm runs as an unfenced primary. */
static inline int sim_active(struct sim *s, const char *vm, uint32_t *where)
{
	int k = 0;

	for (int i = 0; i < s->n; i++) {
		struct sim_vmm *x = s->nodes[i].up ? sim_vmm(&s->nodes[i], vm) : NULL;

		if (x && x->role == CL_ROLE_PRIMARY && !x->fenced) {
			k++;
			if (where)
				*where = s->nodes[i].id;
		}
	}
	return k;
}

/* Every up node of partition part holds the same replicated state, not syncing. */
static inline void sim_check_converged(struct sim *s, int part)
{
	char *ref = NULL;
	uint32_t ref_id = 0;

	for (int i = 0; i < s->n; i++) {
		struct sim_node *nd = &s->nodes[i];
		const struct cl_state *st;
		char *js;

		if (!nd->up || nd->part != part)
			continue;
		st = model__state(nd->m);
		ck_assert_msg(!st->local.syncing, "node %u still syncing (seed %u)", nd->id,
			      s->seed0);
		js = cl_msg__cluster_json(&st->cluster, false);
		ck_assert_ptr_nonnull(js);
		if (!ref) {
			ref = js;
			ref_id = nd->id;
			continue;
		}
		ck_assert_msg(!strcmp(ref, js), "nodes %u and %u differ (seed %u):\n%s\n%s", ref_id,
			      nd->id, s->seed0, ref, js);
		free(js);
	}
	free(ref);
}

#endif
