/* twin-clusterd's decisions: the state tables, the safety rule, sync and placement, pure. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl_msg.h"
#include "model.h"
#include "placement.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Messages held while a STATE_SYNC round runs: applied, in order, once it completes. */
#define DEFER_MAX 256
/* How long the leader waits before asking again to protect a VM that wants a backup. */
#define RETRY_MS 3000
/* A free-memory change worth a HOST_INFO. */
#define MEMORY_STEP_MIB	    64
#define DEFAULT_INTERVAL_MS 25

struct deferred {
	uint32_t from;
	struct cl_msg msg;
};

struct model {
	struct cl_state s;
	struct cl_actions *out; /* the current model__input's */
	/* The STATE_SYNC round: who answered, and the best state so far. */
	bool sync_got[CL_MAX_HOSTS];
	struct cl_cluster *sync_best;
	uint32_t sync_best_node;
	bool sync_best_initialized;
	struct deferred defer[DEFER_MAX];
	int ndefer;
	/* The leader's protect retries: local time only, the decision travels as a REQUEST. */
	uint64_t now_ms;
	uint64_t retry_at[CL_MAX_VMS];
	uint32_t sent_free_mib;
	/*
	 * The barrier before every act that lets output out (failover, degrade, unprotect,
	 * unfence): our own BARRIER, sent after the decision, delivered back with no confchg
	 * between, proves the decision's configuration still held after it.  A node cut off
	 * right after a decision would otherwise act on old-configuration messages before its
	 * own confchg arrives.
	 */
	uint64_t next_barrier;
	uint64_t barrier_seq;	  /* of the one in flight (0: none) */
	uint64_t barrier_version; /* the state version when it was sent */
	uint64_t passed_version;  /* the version a barrier passed at (UINT64_MAX: none) */
	uint64_t go_calls;	  /* go() calls: an act no longer wanted drops its gate */
	int err;		  /* the first -ENOMEM while emitting */
};

/* ---- Names ---- */

static const char *const vm_states[CL_VM_NSTATES] = {
    [CL_VM_STOPPED] = "stopped",	   [CL_VM_STARTING] = "starting",
    [CL_VM_RUNNING] = "running",	   [CL_VM_PROTECTING] = "protecting",
    [CL_VM_PROTECTED] = "protected",	   [CL_VM_DEGRADED] = "degraded",
    [CL_VM_FAILING_OVER] = "failing-over", [CL_VM_STOPPING] = "stopping",
};

static const char *const cmds[CL_CMD_NCMDS] = {
    [CL_CMD_VM_START] = "vm-start",   [CL_CMD_VM_STOP] = "vm-stop",
    [CL_CMD_VM_LIST] = "vm-list",     [CL_CMD_PROTECT] = "protect",
    [CL_CMD_UNPROTECT] = "unprotect", [CL_CMD_FAILOVER] = "failover",
    [CL_CMD_STATUS] = "status",	      [CL_CMD_CLUSTER_STATUS] = "cluster-status",
    [CL_CMD_DRILL] = "drill",
};

static const char *const mode_names[] = {"epoch", "event", "hybrid"};

const char *cl_vm_state__to_str(enum cl_vm_state s)
{
	return (unsigned)s < CL_VM_NSTATES ? vm_states[s] : "?";
}

const char *cl_host_state__to_str(enum cl_host_state s)
{
	return s == CL_HOST_ONLINE ? "online" : "offline";
}

const char *cl_mode__to_str(enum cl_mode m)
{
	return (unsigned)m < ARRAY_LEN(mode_names) ? mode_names[m] : "?";
}

int cl_mode__from_str(const char *s, enum cl_mode *out)
{
	for (size_t i = 0; i < ARRAY_LEN(mode_names); i++)
		if (!strcmp(s, mode_names[i])) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

const char *cl_role__to_str(enum cl_role r)
{
	static const char *const names[] = {"none", "primary", "backup"};

	return (unsigned)r < ARRAY_LEN(names) ? names[r] : "?";
}

const char *cl_cmd__to_str(enum cl_cmd c)
{
	return (unsigned)c < CL_CMD_NCMDS ? cmds[c] : "?";
}

int cl_cmd__from_str(const char *s, enum cl_cmd *out)
{
	for (int i = 0; i < CL_CMD_NCMDS; i++)
		if (!strcmp(s, cmds[i])) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

const char *cl_action_type__to_str(enum cl_action_type t)
{
	static const char *const names[] = {"send", "spawn-primary", "spawn-backup", "vmm",
					    "kill", "reply",	     "log"};

	return (unsigned)t < ARRAY_LEN(names) ? names[t] : "?";
}

const char *cl_vmm_cmd__to_str(enum cl_vmm_cmd c)
{
	static const char *const names[] = {"protect", "failover",  "degrade", "fence",
					    "unfence", "unprotect", "quit"};

	return (unsigned)c < ARRAY_LEN(names) ? names[c] : "?";
}

/* ---- The VM state table ---- */

static const struct {
	enum cl_vm_state from, to;
} vm_table[] = {
    {CL_VM_STOPPED, CL_VM_STARTING},	   /* vm start */
    {CL_VM_STARTING, CL_VM_RUNNING},	   /* the primary reported started */
    {CL_VM_RUNNING, CL_VM_PROTECTING},	   /* protect: a backup assigned */
    {CL_VM_DEGRADED, CL_VM_PROTECTING},	   /* re-protection */
    {CL_VM_PROTECTING, CL_VM_PROTECTED},   /* the initial sync done */
    {CL_VM_PROTECTING, CL_VM_RUNNING},	   /* sync failed, backup died, unprotect */
    {CL_VM_PROTECTED, CL_VM_FAILING_OVER}, /* the primary's death confirmed, quorate */
    {CL_VM_FAILING_OVER, CL_VM_RUNNING},   /* the backup activated */
    {CL_VM_PROTECTED, CL_VM_DEGRADED},	   /* the backup's death confirmed, quorate */
    {CL_VM_PROTECTED, CL_VM_RUNNING},	   /* unprotect */
    {CL_VM_DEGRADED, CL_VM_RUNNING},	   /* unprotect */
    /* vm stop */
    {CL_VM_STARTING, CL_VM_STOPPING},
    {CL_VM_RUNNING, CL_VM_STOPPING},
    {CL_VM_PROTECTING, CL_VM_STOPPING},
    {CL_VM_PROTECTED, CL_VM_STOPPING},
    {CL_VM_DEGRADED, CL_VM_STOPPING},
    {CL_VM_FAILING_OVER, CL_VM_STOPPING},
    {CL_VM_STOPPING, CL_VM_STOPPED},
    /* the primary died with no synced backup to take over: the VM is lost */
    {CL_VM_STARTING, CL_VM_STOPPED},
    {CL_VM_RUNNING, CL_VM_STOPPED},
    {CL_VM_PROTECTING, CL_VM_STOPPED},
    {CL_VM_DEGRADED, CL_VM_STOPPED},
    {CL_VM_FAILING_OVER, CL_VM_STOPPED},
    {CL_VM_PROTECTED, CL_VM_STOPPED}, /* both died while failover awaited the operator */
};

/* The host state table: a host is online from its HOST_INFO until it leaves. */
static const struct {
	enum cl_host_state from, to;
} host_table[] = {
    {CL_HOST_OFFLINE, CL_HOST_ONLINE}, /* host info from a member */
    {CL_HOST_ONLINE, CL_HOST_OFFLINE}, /* left the membership */
};

bool model__host_allowed(enum cl_host_state from, enum cl_host_state to)
{
	for (size_t i = 0; i < ARRAY_LEN(host_table); i++)
		if (host_table[i].from == from && host_table[i].to == to)
			return true;
	return false;
}

bool model__vm_allowed(enum cl_vm_state from, enum cl_vm_state to)
{
	for (size_t i = 0; i < ARRAY_LEN(vm_table); i++)
		if (vm_table[i].from == from && vm_table[i].to == to)
			return true;
	return false;
}

/* ---- Actions ---- */

void cl_actions__init(struct cl_actions *a)
{
	a->v = NULL;
	a->n = a->cap = 0;
}

void cl_actions__dispose(struct cl_actions *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].data);
	free(a->v);
	cl_actions__init(a);
}

/* A new action (zeroed) at the end of the output, or NULL with m->err set. */
static struct cl_action *emit(struct model *m, enum cl_action_type type, const char *vm)
{
	struct cl_actions *a = m->out;
	struct cl_action *act;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct cl_action *v = realloc(a->v, cap * sizeof(*v));

		if (!v) {
			m->err = -ENOMEM;
			return NULL;
		}
		a->v = v;
		a->cap = cap;
	}
	act = &a->v[a->n++];
	memset(act, 0, sizeof(*act));
	act->type = type;
	if (vm)
		snprintf(act->vm, sizeof(act->vm), "%s", vm);
	return act;
}

static void set_data(struct model *m, struct cl_action *act, char *text)
{
	if (!text) {
		m->err = -ENOMEM;
		return;
	}
	act->data = text;
	act->len = strlen(text);
}

__attribute__((format(printf, 2, 3))) static void note(struct model *m, const char *fmt, ...)
{
	struct cl_action *act = emit(m, CL_ACT_LOG, NULL);
	char *s = NULL;
	va_list ap;

	if (!act)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	set_data(m, act, s);
}

static void send_msg(struct model *m, struct cl_msg *msg)
{
	struct cl_action *act;

	char *data;
	size_t len;
	int rc;

	msg->node = m->s.local.nodeid;
	rc = cl_msg__encode(msg, &data, &len);
	if (rc) {
		note(m, "cannot encode a %s message: %s", cl_msg_type__to_str(msg->type),
		     strerror(-rc));
		if (rc == -ENOMEM)
			m->err = rc;
		return;
	}
	act = emit(m, CL_ACT_SEND, NULL);
	if (!act) {
		free(data);
		return;
	}
	act->data = data;
	act->len = len;
}

static void reply_ok(struct model *m, uint64_t id, char *json)
{
	struct cl_action *act;

	if (!id) { /* the leader's own request: nobody waits */
		free(json);
		return;
	}
	act = emit(m, CL_ACT_REPLY, NULL);
	if (!act) {
		free(json);
		return;
	}
	act->req_id = id;
	act->ok = true;
	set_data(m, act, json);
}

__attribute__((format(printf, 4, 5))) static void reply_err(struct model *m, uint64_t id,
							    const char *cls, const char *fmt, ...)
{
	struct cl_action *act;
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s)
		note(m, "request %llu refused: %s", (unsigned long long)id, s);
	act = id ? emit(m, CL_ACT_REPLY, NULL) : NULL;
	if (!act) {
		free(s);
		return;
	}
	act->req_id = id;
	snprintf(act->err_class, sizeof(act->err_class), "%s", cls);
	set_data(m, act, s);
}

/* ---- Lookups ---- */

static struct cl_host *host_by_node(struct model *m, uint32_t node)
{
	for (int i = 0; node && i < CL_MAX_HOSTS; i++)
		if (m->s.cluster.hosts[i].nodeid == node)
			return &m->s.cluster.hosts[i];
	return NULL;
}

static const char *host_name(struct model *m, uint32_t node)
{
	static char buf[2][24];
	static int k;
	struct cl_host *h = host_by_node(m, node);

	if (h)
		return h->name;
	k ^= 1;
	snprintf(buf[k], sizeof(buf[k]), node ? "node %u" : "none", node);
	return buf[k];
}

static struct cl_vm *vm_by_name(struct model *m, const char *name)
{
	for (int i = 0; name[0] && i < CL_MAX_VMS; i++)
		if (!strcmp(m->s.cluster.vms[i].name, name))
			return &m->s.cluster.vms[i];
	return NULL;
}

static int vm_index(struct model *m, const struct cl_vm *v)
{
	return (int)(v - m->s.cluster.vms);
}

static struct cl_local_vmm *local_by_name(struct model *m, const char *name)
{
	for (int i = 0; i < CL_MAX_VMS; i++)
		if (m->s.local.vmms[i].vm[0] && !strcmp(m->s.local.vmms[i].vm, name))
			return &m->s.local.vmms[i];
	return NULL;
}

static struct cl_local_vmm *local_new(struct model *m, const char *name)
{
	struct cl_local_vmm *lv = local_by_name(m, name);

	for (int i = 0; !lv && i < CL_MAX_VMS; i++)
		if (!m->s.local.vmms[i].vm[0])
			lv = &m->s.local.vmms[i];
	if (lv) {
		memset(lv, 0, sizeof(*lv));
		snprintf(lv->vm, sizeof(lv->vm), "%s", name);
	}
	return lv;
}

static bool is_member(struct model *m, uint32_t node)
{
	for (int i = 0; i < m->s.local.nmembers; i++)
		if (m->s.local.members[i] == node)
			return true;
	return false;
}

/* Quorate: votequorum says so, the CPG membership is a strict majority, and we remember. */
static bool quorate(const struct model *m)
{
	return m->s.local.vq_quorate && m->s.local.stream_quorate && m->s.local.initialized;
}

/* Safe to act on the replicated state: quorate and the state is this partition's. */
static bool safe(const struct model *m)
{
	return quorate(m) && !m->s.local.syncing;
}

static void send_msg(struct model *m, struct cl_msg *msg);

/*
 * Whether an output-releasing act for lv may go now: a barrier sent at or after the
 * state version at which the act was first wanted has come back.  If not, one is on
 * its way.
 */
static bool go(struct model *m, struct cl_local_vmm *lv)
{
	struct cl_msg msg = {.type = CL_MSG_BARRIER};

	m->go_calls++;
	if (!safe(m))
		return false;
	if (!lv->gate_set) {
		lv->gate_set = true;
		lv->gate_version = m->s.cluster.version;
	}
	if (m->passed_version != UINT64_MAX && m->passed_version >= lv->gate_version) {
		lv->gate_set = false;
		return true;
	}
	if (!m->barrier_seq) {
		msg.barrier = m->barrier_seq = ++m->next_barrier;
		m->barrier_version = m->s.cluster.version;
		send_msg(m, &msg);
	}
	return false;
}

static void barrier_reset(struct model *m)
{
	m->barrier_seq = 0;
	m->passed_version = UINT64_MAX;
	for (int i = 0; i < CL_MAX_VMS; i++)
		m->s.local.vmms[i].gate_set = false;
}

/* ---- Transitions (every change of the replicated state bumps its version) ---- */

static void changed(struct model *m)
{
	m->s.cluster.version++;
}

static bool vm_set(struct model *m, struct cl_vm *v, enum cl_vm_state to, const char *why)
{
	if (!model__vm_allowed(v->state, to)) {
		m->s.refused++;
		note(m, "vm %s: transition %s -> %s refused: not in the state table (%s)", v->name,
		     vm_states[v->state], vm_states[to], why);
		return false;
	}
	note(m, "vm %s: %s -> %s (%s)", v->name, vm_states[v->state], vm_states[to], why);
	v->state = to;
	if (to == CL_VM_STOPPED || to == CL_VM_RUNNING || to == CL_VM_DEGRADED) {
		v->backup_ready = false;
		v->forced = false;
	}
	if (to == CL_VM_STOPPED) {
		v->primary = v->backup = 0;
		v->awaiting_operator = false;
	}
	changed(m);
	return true;
}

static void host_set(struct model *m, struct cl_host *h, enum cl_host_state to, const char *why)
{
	if (h->state == to)
		return;
	if (!model__host_allowed(h->state, to)) {
		m->s.refused++;
		note(m, "host %s: transition %s -> %s refused: not in the host table (%s)", h->name,
		     cl_host_state__to_str(h->state), cl_host_state__to_str(to), why);
		return;
	}
	note(m, "host %s (node %u): %s -> %s (%s)", h->name, h->nodeid,
	     cl_host_state__to_str(h->state), cl_host_state__to_str(to), why);
	h->state = to;
	changed(m);
}

/* Assigns a backup: protecting toward node. */
static bool protect_to(struct model *m, struct cl_vm *v, uint32_t node, const char *why)
{
	if (!vm_set(m, v, CL_VM_PROTECTING, why))
		return false;
	v->backup = node;
	v->backup_gen = ++v->generation;
	v->backup_ready = false;
	note(m, "vm %s: backup on %s (generation %u)", v->name, host_name(m, node), v->generation);
	return true;
}

/* Re-protection: a VM that wants a backup and has none gets one by placement. */
static void reprotect(struct model *m, struct cl_vm *v, const char *why)
{
	uint32_t node;

	if (!v->want_protect || v->backup ||
	    (v->state != CL_VM_RUNNING && v->state != CL_VM_DEGRADED))
		return;
	node = placement__pick_backup(&m->s.cluster, v, 0);
	if (!node) {
		note(m, "vm %s: no host fits a backup (online, not %s, %u MiB free): will retry",
		     v->name, host_name(m, v->primary), v->memory_mib);
		return;
	}
	protect_to(m, v, node, why);
}

static void reprotect_all(struct model *m, const char *why)
{
	for (int i = 0; i < CL_MAX_VMS; i++)
		if (m->s.cluster.vms[i].name[0])
			reprotect(m, &m->s.cluster.vms[i], why);
}

/*
 * The safety rule's activation: called only in a quorate partition (or forced), on the
 * primary's confirmed death.
 */
static void fail_over(struct model *m, struct cl_vm *v, bool forced, const char *why)
{
	uint32_t old = v->primary;

	if (!vm_set(m, v, CL_VM_FAILING_OVER, why))
		return;
	v->primary = v->backup;
	v->backup = 0;
	v->backup_ready = false;
	v->awaiting_operator = false;
	v->forced = forced;
	v->primary_gen = ++v->generation;
	note(m, "vm %s: %s activates as the primary (was %s; generation %u)%s", v->name,
	     host_name(m, v->primary), host_name(m, old), v->generation,
	     forced ? ": FORCED by the operator, without confirmation" : "");
}

/*
 * The primary's death is confirmed (a vmm-died report or its host left); quorate.  A host
 * that left may still run an only copy (fenced): without a synced backup, the VM waits
 * for it to return rather than being declared lost.
 */
static void primary_died(struct model *m, struct cl_vm *v, bool host_left, const char *why)
{
	switch (v->state) {
	case CL_VM_PROTECTED:
		if (m->s.local.expected_votes < 3) {
			if (!v->awaiting_operator) {
				v->awaiting_operator = true;
				changed(m);
			}
			note(m,
			     "vm %s: primary on %s died (%s); automatic failover refused: "
			     "expected votes %u < 3, a partition cannot be told from a death "
			     "(twin failover %s --force, if you know the primary is gone)",
			     v->name, host_name(m, v->primary), why, m->s.local.expected_votes,
			     v->name);
			return;
		}
		fail_over(m, v, false, why);
		return;
	case CL_VM_PROTECTING:
		if (host_left) { /* the backup is not in sync: drop it, wait for the host */
			v->backup = 0;
			vm_set(m, v, CL_VM_RUNNING, why);
			return;
		}
		break;
	case CL_VM_STOPPED:
		return;
	case CL_VM_STOPPING:
		vm_set(m, v, CL_VM_STOPPED, why);
		return;
	default:
		break;
	}
	if (host_left) {
		note(m,
		     "vm %s: its primary's host %s left while %s: no synced backup; it waits "
		     "for the host (or twin vm stop %s)",
		     v->name, host_name(m, v->primary), vm_states[v->state], v->name);
		return;
	}
	note(m, "vm %s: primary on %s died (%s) while %s: no synced backup to take over", v->name,
	     host_name(m, v->primary), why, vm_states[v->state]);
	vm_set(m, v, CL_VM_STOPPED, why);
}

/* The backup's death is confirmed; quorate. */
static void backup_died(struct model *m, struct cl_vm *v, const char *why)
{
	switch (v->state) {
	case CL_VM_PROTECTING:
		v->backup = 0;
		vm_set(m, v, CL_VM_RUNNING, why);
		return;
	case CL_VM_PROTECTED:
		if (v->awaiting_operator) { /* both copies gone */
			vm_set(m, v, CL_VM_STOPPED, why);
			return;
		}
		v->backup = 0;
		vm_set(m, v, CL_VM_DEGRADED, why);
		reprotect(m, v, "re-protection after the backup's death");
		return;
	default:
		v->backup = 0;
		changed(m);
	}
}

/* ---- Membership ---- */

/* After a sync round, in a quorate partition: hosts that left are confirmed gone. */
static void apply_membership(struct model *m)
{
	for (int i = 0; i < CL_MAX_HOSTS; i++) {
		struct cl_host *h = &m->s.cluster.hosts[i];

		if (!h->nodeid || h->state != CL_HOST_ONLINE || is_member(m, h->nodeid))
			continue;
		host_set(m, h, CL_HOST_OFFLINE, "left the membership");
		for (int k = 0; k < CL_MAX_VMS; k++) {
			struct cl_vm *v = &m->s.cluster.vms[k];

			if (!v->name[0])
				continue;
			if (v->primary == h->nodeid)
				primary_died(m, v, true, "its host left the membership");
			else if (v->backup == h->nodeid)
				backup_died(m, v, "its host left the membership");
		}
	}
}

static void send_host_info(struct model *m)
{
	struct cl_msg msg = {.type = CL_MSG_HOST_INFO};
	struct cl_local *l = &m->s.local;

	snprintf(msg.host.name, sizeof(msg.host.name), "%s", l->name);
	snprintf(msg.host.repl_addr, sizeof(msg.host.repl_addr), "%s", l->repl_addr);
	msg.host.port_base = l->port_base;
	msg.host.free_mib = l->free_mib;
	m->sent_free_mib = l->free_mib;
	send_msg(m, &msg);
}

/* Our state for a STATE_SYNC round (and our host info, applied after it). */
static void send_state(struct model *m)
{
	struct cl_msg msg = {.type = CL_MSG_STATE_SYNC};

	msg.sync.nmembers = m->s.local.nmembers;
	memcpy(msg.sync.members, m->s.local.members, sizeof(msg.sync.members));
	msg.sync.initialized = m->s.local.initialized;
	msg.sync.cluster = &m->s.cluster;
	send_msg(m, &msg);
	send_host_info(m);
}

/*
 * A round begins at a point of the CPG stream, the same at every member: a confchg, or
 * the first STATE_SYNC delivered outside a round.  Until it completes, other messages
 * wait.
 */
static void round_begin(struct model *m)
{
	m->s.local.syncing = true;
	memset(m->sync_got, 0, sizeof(m->sync_got));
	free(m->sync_best);
	m->sync_best = NULL;
}

static void update_stream_quorate(struct model *m)
{
	struct cl_local *l = &m->s.local;

	l->stream_quorate = l->expected_votes && 2u * (uint32_t)l->nmembers > l->expected_votes;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Messages held by a round the confchg cuts short: joiners never saw them, so nobody
 * applies them.  Reports are sent again after the next round, host info too; a request
 * is refused to its origin.
 */
static void drop_deferred(struct model *m)
{
	for (int i = 0; i < m->ndefer; i++) {
		struct cl_msg *msg = &m->defer[i].msg;

		if (msg->type == CL_MSG_REQUEST && m->defer[i].from == m->s.local.nodeid)
			reply_err(m, msg->request.req->id, "GenericError",
				  "%s: the membership changed before it applied: retry",
				  cmds[msg->request.req->cmd]);
		cl_msg__dispose(msg);
	}
	m->ndefer = 0;
}

static void on_confchg(struct model *m, const struct cl_input *in)
{
	struct cl_local *l = &m->s.local;
	int n = in->confchg.nmembers;

	if (n < 0 || n > CL_MAX_HOSTS)
		n = 0;
	barrier_reset(m);
	drop_deferred(m);
	l->nmembers = n;
	memcpy(l->members, in->confchg.members, (size_t)n * sizeof(uint32_t));
	qsort(l->members, (size_t)n, sizeof(uint32_t), cmp_u32);
	update_stream_quorate(m);
	/* A node that left and joined at once (restarted) reports its lost vmms itself. */
	for (int i = 0; i < in->confchg.nleft && i < CL_MAX_HOSTS; i++)
		note(m, "membership: %s left", host_name(m, in->confchg.left[i]));
	for (int i = 0; i < in->confchg.njoined && i < CL_MAX_HOSTS; i++)
		note(m, "membership: node %u joined", in->confchg.joined[i]);
	note(m, "membership: %d members, %s", n, quorate(m) ? "quorate" : "NOT quorate");
	if (!is_member(m, l->nodeid)) {
		l->syncing = false;
		return;
	}
	round_begin(m);
	send_state(m);
}

static void apply_msg(struct model *m, uint32_t from, const struct cl_msg *msg);
static void resend_reports(struct model *m);

/* The round is complete: every member adopts the same state, then the held messages. */
static void sync_finish(struct model *m)
{
	struct deferred held[DEFER_MAX];
	int n = m->ndefer;

	if (m->sync_best) {
		if (m->sync_best->version != m->s.cluster.version ||
		    m->sync_best_node != m->s.local.nodeid)
			note(m, "sync: adopting version %llu from %s (ours %llu)",
			     (unsigned long long)m->sync_best->version,
			     host_name(m, m->sync_best_node),
			     (unsigned long long)m->s.cluster.version);
		m->s.cluster = *m->sync_best;
		free(m->sync_best);
		m->sync_best = NULL;
		if (m->sync_best_initialized)
			m->s.local.initialized = true;
	}
	m->s.local.syncing = false;
	/* In-stream facts only: every member of the round decides the same. */
	if (!m->s.local.initialized && m->s.local.expected_votes &&
	    (uint32_t)m->s.local.nmembers >= m->s.local.expected_votes) {
		m->s.local.initialized = true;
		note(m, "cold start: all %u expected hosts are here, none with a history",
		     m->s.local.expected_votes);
	}
	if (quorate(m))
		apply_membership(m);
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
	if (!m->s.local.syncing && quorate(m))
		resend_reports(m);
}

static void on_state_sync(struct model *m, uint32_t from, const struct cl_msg *msg)
{
	struct cl_local *l = &m->s.local;
	int idx = -1;

	if (msg->sync.nmembers != l->nmembers ||
	    memcmp(msg->sync.members, l->members, (size_t)l->nmembers * sizeof(uint32_t))) {
		note(m, "sync: a state from %s for another membership: ignored",
		     host_name(m, from));
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
			send_state(m);
	}
	m->sync_got[idx] = true;
	/* A history beats none; then the highest version; then the lowest nodeid. */
	if (!m->sync_best || msg->sync.initialized > m->sync_best_initialized ||
	    (msg->sync.initialized == m->sync_best_initialized &&
	     (msg->sync.cluster->version > m->sync_best->version ||
	      (msg->sync.cluster->version == m->sync_best->version && from < m->sync_best_node)))) {
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

/* ---- Messages ---- */

static void on_host_info(struct model *m, const struct cl_msg *msg)
{
	struct cl_host *h = host_by_node(m, msg->node);

	if (!is_member(m, msg->node))
		return;
	for (int i = 0; !h && i < CL_MAX_HOSTS; i++)
		if (!m->s.cluster.hosts[i].nodeid)
			h = &m->s.cluster.hosts[i];
	if (!h) {
		note(m, "host %s (node %u): no room (%d hosts at most)", msg->host.name, msg->node,
		     CL_MAX_HOSTS);
		return;
	}
	if (!h->nodeid)
		note(m, "host %s (node %u): new, replication address %s", msg->host.name, msg->node,
		     msg->host.repl_addr);
	*h = (struct cl_host){.nodeid = msg->node,
			      .port_base = msg->host.port_base,
			      .free_mib = msg->host.free_mib,
			      .state = h->state};
	memcpy(h->name, msg->host.name, sizeof(h->name));
	memcpy(h->repl_addr, msg->host.repl_addr, sizeof(h->repl_addr));
	changed(m);
	host_set(m, h, CL_HOST_ONLINE, "host info");
	reprotect_all(m, "a host is available");
}

static void kill_vmm(struct model *m, struct cl_local_vmm *lv, const char *why);

/* Whether report comes from the vmm the replicated state has in that role. */
static bool report_current(const struct cl_vm *v, const struct cl_msg *msg)
{
	const typeof(msg->report) *r = &msg->report;

	if (r->role == CL_ROLE_PRIMARY) {
		if (v->primary != msg->node)
			return false;
		if (r->what == CL_REP_SYNC_DONE || r->what == CL_REP_SYNC_FAILED)
			return v->state == CL_VM_PROTECTING && r->gen == v->backup_gen;
		if (r->what == CL_REP_STALLED)
			return v->backup && r->gen == v->backup_gen;
		return r->gen == v->primary_gen;
	}
	return v->backup == msg->node && r->gen == v->backup_gen;
}

static void on_report(struct model *m, const struct cl_msg *msg)
{
	const typeof(msg->report) *r = &msg->report;
	struct cl_vm *v = vm_by_name(m, r->vm);
	const char *host = host_name(m, msg->node);

	if (!v || !report_current(v, msg)) {
		note(m, "vm %s: stale report %s from %s's %s (generation %u): ignored", r->vm,
		     cl_report__to_str(r->what), host, cl_role__to_str(r->role), r->gen);
		return;
	}
	switch (r->what) {
	case CL_REP_STARTED:
		if (r->role == CL_ROLE_BACKUP) {
			if (v->state == CL_VM_PROTECTING && !v->backup_ready) {
				v->backup_ready = true;
				changed(m);
				note(m, "vm %s: backup on %s listens", v->name, host);
			}
		} else if (v->state == CL_VM_STARTING &&
			   vm_set(m, v, CL_VM_RUNNING, "the primary started")) {
			reprotect(m, v, "protect = yes");
		}
		break;
	case CL_REP_SYNC_DONE:
		vm_set(m, v, CL_VM_PROTECTED, "the initial sync is done");
		break;
	case CL_REP_SYNC_FAILED:
		v->backup = 0;
		vm_set(m, v, CL_VM_RUNNING, "the initial sync failed");
		break;
	case CL_REP_ACTIVATED:
		if (v->state == CL_VM_FAILING_OVER &&
		    vm_set(m, v, CL_VM_RUNNING, "the backup activated"))
			reprotect(m, v, "re-protection after failover");
		break;
	case CL_REP_STOPPED:
		if (r->role == CL_ROLE_PRIMARY && v->state == CL_VM_STOPPING)
			vm_set(m, v, CL_VM_STOPPED, "the primary stopped");
		else if (r->role == CL_ROLE_PRIMARY)
			primary_died(m, v, false, "its vmm exited");
		break;
	case CL_REP_VMM_DIED:
		if (r->role == CL_ROLE_PRIMARY)
			primary_died(m, v, false, "its host reported the vmm's death");
		else
			backup_died(m, v, "its host reported the vmm's death");
		break;
	case CL_REP_STALLED:
		/*
		 * The pair's link is broken while both hosts are members: end the backup
		 * (which keeps one active copy); its host then reports that death, and
		 * only that licenses the degrade and the re-protection.
		 */
		note(m, "vm %s: the primary hears its backup on %s no more", v->name,
		     host_name(m, v->backup));
		if (v->backup == m->s.local.nodeid) {
			struct cl_local_vmm *lv = local_by_name(m, v->name);

			if (lv && lv->alive && lv->role == CL_ROLE_BACKUP)
				kill_vmm(m, lv, "its primary hears it no more");
		}
		break;
	default:
		break;
	}
}

/* ---- Requests ---- */

static char *vm_reply(struct model *m, const struct cl_vm *v)
{
	return cl_msg__vm_json(&m->s.cluster, v);
}

static void req_vm_start(struct model *m, uint32_t origin, const struct cl_request *q)
{
	struct cl_vm *v = vm_by_name(m, q->vm);
	struct cl_host *h = host_by_node(m, origin);

	if (!cl_msg__name_ok(q->vm, false))
		return reply_err(m, q->id, "GenericError",
				 "vm start: \"%s\" is not a VM name: use [a-z0-9-], 1 to %d "
				 "characters",
				 q->vm, CL_NAME_MAX);
	if (v && v->state != CL_VM_STOPPED)
		return reply_err(m, q->id, "GenericError",
				 "vm start: %s is already %s: stop it first (twin vm stop %s)",
				 q->vm, vm_states[v->state], q->vm);
	if (!q->memory_mib || !q->config[0] || !cl_msg__text_ok(q->config, CL_CONFIG_MAX))
		return reply_err(m, q->id, "GenericError",
				 "vm start: %s: no memory or a bad config text", q->vm);
	if (!h || h->state != CL_HOST_ONLINE)
		return reply_err(m, q->id, "GenericError",
				 "vm start: this host is not known to the cluster yet: retry");
	for (int i = 0; !v && i < CL_MAX_VMS; i++)
		if (!m->s.cluster.vms[i].name[0])
			v = &m->s.cluster.vms[i];
	if (!v)
		return reply_err(m, q->id, "GenericError",
				 "vm start: %d VMs already: stop and forget one first", CL_MAX_VMS);
	*v = (struct cl_vm){.state = CL_VM_STOPPED, .generation = v->generation};
	memcpy(v->name, q->vm, sizeof(v->name));
	memcpy(v->config, q->config, sizeof(v->config));
	v->memory_mib = q->memory_mib;
	v->mode = q->mode_set ? q->mode : CL_MODE_EPOCH;
	v->interval_ms = q->interval_ms ? q->interval_ms : DEFAULT_INTERVAL_MS;
	v->want_protect = q->protect;
	if (!vm_set(m, v, CL_VM_STARTING, "vm start"))
		return;
	v->primary = origin;
	v->primary_gen = ++v->generation;
	reply_ok(m, q->id, vm_reply(m, v));
}

static void req_vm_stop(struct model *m, const struct cl_request *q, struct cl_vm *v)
{
	if (v->state == CL_VM_STOPPED || v->state == CL_VM_STOPPING)
		return reply_err(m, q->id, "GenericError", "vm stop: %s is already %s", v->name,
				 vm_states[v->state]);
	if (!vm_set(m, v, CL_VM_STOPPING, "vm stop"))
		return;
	v->backup = 0;
	v->want_protect = false;
	if (!host_by_node(m, v->primary) || host_by_node(m, v->primary)->state != CL_HOST_ONLINE)
		vm_set(m, v, CL_VM_STOPPED, "vm stop: its primary's host is gone");
	reply_ok(m, q->id, vm_reply(m, v));
}

static void req_protect(struct model *m, const struct cl_request *q, struct cl_vm *v)
{
	uint32_t node = 0;

	if (v->state != CL_VM_RUNNING && v->state != CL_VM_DEGRADED)
		return reply_err(m, q->id, "GenericError",
				 "protect: %s is %s; protect needs it running without a backup",
				 v->name, vm_states[v->state]);
	if (q->peer[0]) {
		for (int i = 0; i < CL_MAX_HOSTS; i++)
			if (m->s.cluster.hosts[i].nodeid &&
			    !strcmp(m->s.cluster.hosts[i].name, q->peer))
				node = m->s.cluster.hosts[i].nodeid;
		if (!node || host_by_node(m, node)->state != CL_HOST_ONLINE || node == v->primary)
			return reply_err(m, q->id, "GenericError",
					 "protect: --peer %s is not an online host other than the "
					 "primary's (%s): see twin cluster status",
					 q->peer, host_name(m, v->primary));
	} else {
		node = placement__pick_backup(&m->s.cluster, v, 0);
		if (!node)
			return reply_err(m, q->id, "GenericError",
					 "protect: no host fits a backup of %s (online, not %s, "
					 "%u MiB free): add a host or free memory",
					 v->name, host_name(m, v->primary), v->memory_mib);
	}
	if (q->mode_set)
		v->mode = q->mode;
	if (q->interval_ms)
		v->interval_ms = q->interval_ms;
	v->want_protect = true;
	if (protect_to(m, v, node, q->id ? "protect" : "re-protection retry"))
		reply_ok(m, q->id, vm_reply(m, v));
}

static void req_unprotect(struct model *m, const struct cl_request *q, struct cl_vm *v)
{
	if (v->state != CL_VM_PROTECTING && v->state != CL_VM_PROTECTED &&
	    v->state != CL_VM_DEGRADED)
		return reply_err(m, q->id, "GenericError", "unprotect: %s is %s, not protected",
				 v->name, vm_states[v->state]);
	if (v->state == CL_VM_PROTECTED && v->awaiting_operator)
		return reply_err(m, q->id, "GenericError",
				 "unprotect: %s's primary is dead: fail over instead", v->name);
	v->want_protect = false;
	v->backup = 0;
	if (vm_set(m, v, CL_VM_RUNNING, "unprotect"))
		reply_ok(m, q->id, vm_reply(m, v));
}

static void req_failover(struct model *m, uint32_t origin, const struct cl_request *q,
			 struct cl_vm *v)
{
	if (v->state != CL_VM_PROTECTED)
		return reply_err(m, q->id, "GenericError",
				 "failover: %s is %s; only a protected VM (backup in sync) can "
				 "fail over",
				 v->name, vm_states[v->state]);
	if (q->force) {
		note(m,
		     "vm %s: FAILOVER --force from %s: no quorum or death confirmation is "
		     "checked; if the primary on %s still runs, two copies may serve",
		     v->name, host_name(m, origin), host_name(m, v->primary));
		fail_over(m, v, true, "failover --force");
		reply_ok(m, q->id, vm_reply(m, v));
		return;
	}
	if (m->s.local.expected_votes < 3)
		return reply_err(m, q->id, "NoQuorum",
				 "failover: expected votes %u < 3: a partition cannot be told "
				 "from a death; add a host (or a qdevice), or use --force if you "
				 "know the primary is gone",
				 m->s.local.expected_votes);
	if (v->awaiting_operator) {
		fail_over(m, v, false, "failover: the primary's death was confirmed");
		reply_ok(m, q->id, vm_reply(m, v));
		return;
	}
	/* A live primary: its host kills it, and its confirmed death activates the backup. */
	note(m, "vm %s: failover: %s kills the primary's vmm", v->name, host_name(m, v->primary));
	if (v->primary == m->s.local.nodeid) {
		struct cl_local_vmm *lv = local_by_name(m, v->name);

		if (lv && lv->alive && lv->role == CL_ROLE_PRIMARY) {
			struct cl_action *act = emit(m, CL_ACT_KILL, v->name);

			if (act) {
				act->role = CL_ROLE_PRIMARY;
				act->signal = SIGKILL;
			}
			lv->killed = true;
		}
	}
	reply_ok(m, q->id, vm_reply(m, v));
}

/* A request every member applies (in a quorate partition, failover --force excepted). */
static void on_request(struct model *m, uint32_t origin, const struct cl_request *q)
{
	struct cl_vm *v;
	uint64_t id = origin == m->s.local.nodeid ? q->id : 0; /* only the origin answers */
	struct cl_request qq = *q;

	qq.id = id;
	if (q->cmd == CL_CMD_VM_START)
		return req_vm_start(m, origin, &qq);
	v = vm_by_name(m, q->vm);
	if (!v)
		return reply_err(m, id, "GenericError",
				 "%s: no VM named \"%s\" (twin vm list shows them)", cmds[q->cmd],
				 q->vm);
	switch (q->cmd) {
	case CL_CMD_VM_STOP:
		return req_vm_stop(m, &qq, v);
	case CL_CMD_PROTECT:
		return req_protect(m, &qq, v);
	case CL_CMD_UNPROTECT:
		return req_unprotect(m, &qq, v);
	case CL_CMD_FAILOVER:
		return req_failover(m, origin, &qq, v);
	default:
		return reply_err(m, id, "GenericError", "%s is not a cluster-wide request",
				 cmds[q->cmd]);
	}
}

/* A request for this host alone: drill kills our primary vmm; the answer goes back. */
static void on_targeted(struct model *m, uint32_t origin, const struct cl_request *q)
{
	struct cl_msg rep = {.type = CL_MSG_REPLY};
	struct cl_local_vmm *lv = local_by_name(m, q->vm);
	char *text;

	rep.reply.origin = origin;
	rep.reply.id = q->id;
	if (q->cmd == CL_CMD_DRILL && lv && lv->alive && lv->role == CL_ROLE_PRIMARY) {
		struct cl_action *act = emit(m, CL_ACT_KILL, q->vm);

		if (act) {
			act->role = CL_ROLE_PRIMARY;
			act->signal = SIGKILL;
			act->host = q->host;
		}
		lv->killed = true;
		note(m, "vm %s: drill: SIGKILL to the primary's vmm%s", q->vm,
		     q->host ? ", then to this whole host" : "");
		rep.reply.ok = true;
		if (asprintf(&text,
			     "{\"vm\":\"%s\",\"host\":\"%s\",\"killed\":true,\"whole_host\":%s}",
			     q->vm, m->s.local.name, q->host ? "true" : "false") < 0)
			text = NULL;
	} else {
		snprintf(rep.reply.err_class, sizeof(rep.reply.err_class), "GenericError");
		if (asprintf(&text, "%s: %s runs no primary vmm of %s", cmds[q->cmd],
			     m->s.local.name, q->vm) < 0)
			text = NULL;
	}
	if (!text) {
		m->err = -ENOMEM;
		return;
	}
	rep.reply.text = text;
	send_msg(m, &rep);
	free(text);
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
	if (gated(msg) && !quorate(m)) {
		note(m, "%s from %s: not applied, no quorum", cl_msg_type__to_str(msg->type),
		     host_name(m, from));
		if (msg->type == CL_MSG_REQUEST && from == m->s.local.nodeid)
			reply_err(m, msg->request.req->id, "NoQuorum",
				  "%s: the partition lost quorum before it applied",
				  cmds[msg->request.req->cmd]);
		return;
	}
	switch (msg->type) {
	case CL_MSG_HOST_INFO:
		on_host_info(m, msg);
		break;
	case CL_MSG_REQUEST:
		if (!msg->request.target)
			on_request(m, from, msg->request.req);
		else if (msg->request.target == m->s.local.nodeid)
			on_targeted(m, from, msg->request.req);
		break;
	case CL_MSG_REPLY:
		if (msg->reply.origin != m->s.local.nodeid)
			break;
		if (msg->reply.ok)
			reply_ok(m, msg->reply.id, strdup(msg->reply.text));
		else
			reply_err(m, msg->reply.id, msg->reply.err_class, "%s", msg->reply.text);
		break;
	case CL_MSG_VM_REPORT:
		on_report(m, msg);
		break;
	default:
		break;
	}
}

static int on_message(struct model *m, const struct cl_input *in)
{
	struct cl_msg msg;
	char err[160];

	if (cl_msg__decode(in->msg.data, in->msg.len, &msg, err, sizeof(err))) {
		note(m, "a message from node %u refused: %s", in->msg.from, err);
		cl_msg__dispose(&msg);
		return -EBADMSG;
	}
	if (msg.node != in->msg.from) {
		note(m, "a %s message from node %u claims node %u: refused",
		     cl_msg_type__to_str(msg.type), in->msg.from, msg.node);
		cl_msg__dispose(&msg);
		return -EBADMSG;
	}
	if (msg.type == CL_MSG_STATE_SYNC) {
		on_state_sync(m, in->msg.from, &msg);
	} else if (msg.type == CL_MSG_BARRIER) {
		if (msg.node == m->s.local.nodeid && msg.barrier == m->barrier_seq) {
			m->barrier_seq = 0;
			if (safe(m))
				m->passed_version = m->barrier_version;
		}
	} else if (m->s.local.syncing) {
		if (m->ndefer == DEFER_MAX) {
			/* Every member drops the same one: the stream stays identical. */
			note(m, "sync: %d messages held already: a %s dropped", DEFER_MAX,
			     cl_msg_type__to_str(msg.type));
			if (msg.type == CL_MSG_REQUEST && in->msg.from == m->s.local.nodeid)
				reply_err(m, msg.request.req->id, "GenericError",
					  "the cluster is busy resynchronizing: retry");
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

/* ---- Local events ---- */

static void send_report(struct model *m, const char *vm, enum cl_report what, enum cl_role role,
			uint32_t gen)
{
	struct cl_msg msg = {.type = CL_MSG_VM_REPORT};

	snprintf(msg.report.vm, sizeof(msg.report.vm), "%s", vm);
	msg.report.what = what;
	msg.report.role = role;
	msg.report.gen = gen;
	send_msg(m, &msg);
}

/*
 * Reports a partition without quorum dropped (or that never got there): sent again
 * after each round in a quorate partition.  The generations make repeats harmless.
 */
static void resend_reports(struct model *m)
{
	uint32_t me = m->s.local.nodeid;

	for (int i = 0; i < CL_MAX_VMS; i++) {
		struct cl_local_vmm *lv = &m->s.local.vmms[i];
		struct cl_vm *v = lv->vm[0] ? vm_by_name(m, lv->vm) : NULL;

		if (!v)
			continue;
		if (!lv->alive && lv->role == CL_ROLE_PRIMARY && v->primary == me &&
		    lv->gen == v->primary_gen)
			send_report(m, v->name,
				    v->state == CL_VM_STOPPING ? CL_REP_STOPPED : CL_REP_VMM_DIED,
				    lv->role, lv->gen);
		else if (!lv->alive && lv->role == CL_ROLE_BACKUP && v->backup == me &&
			 lv->gen == v->backup_gen)
			send_report(m, v->name, CL_REP_VMM_DIED, lv->role, lv->gen);
		else if (!lv->alive)
			continue;
		else if (lv->started && lv->role == CL_ROLE_PRIMARY && v->state == CL_VM_STARTING)
			send_report(m, v->name, CL_REP_STARTED, lv->role, lv->gen);
		else if (lv->started && lv->role == CL_ROLE_BACKUP &&
			 v->state == CL_VM_PROTECTING && !v->backup_ready)
			send_report(m, v->name, CL_REP_STARTED, lv->role, lv->gen);
		else if (lv->synced && v->state == CL_VM_PROTECTING &&
			 lv->protect_gen == v->backup_gen)
			send_report(m, v->name, CL_REP_SYNC_DONE, CL_ROLE_PRIMARY, lv->protect_gen);
		else if (lv->role == CL_ROLE_PRIMARY && v->state == CL_VM_FAILING_OVER &&
			 v->primary == me && lv->gen == v->primary_gen)
			send_report(m, v->name, CL_REP_ACTIVATED, lv->role, lv->gen);
	}
}

static void on_local(struct model *m, const struct cl_local_event *ev)
{
	struct cl_local_vmm *lv = local_by_name(m, ev->vm);
	struct cl_vm *v = vm_by_name(m, ev->vm);

	if (ev->type == CL_EV_HOST_MEMORY) {
		uint32_t d = ev->free_mib > m->sent_free_mib ? ev->free_mib - m->sent_free_mib
							     : m->sent_free_mib - ev->free_mib;

		m->s.local.free_mib = ev->free_mib;
		if (d >= MEMORY_STEP_MIB && is_member(m, m->s.local.nodeid))
			send_host_info(m);
		return;
	}
	if (!lv || !lv->alive) {
		note(m, "vm %s: event %d for no vmm of ours: ignored", ev->vm, (int)ev->type);
		return;
	}
	switch (ev->type) {
	case CL_EV_VMM_STARTED:
		lv->started = true;
		send_report(m, lv->vm, CL_REP_STARTED, lv->role, lv->gen);
		break;
	case CL_EV_VMM_EXITED:
		note(m, "vm %s: the %s vmm exited (status %d)%s", lv->vm, cl_role__to_str(lv->role),
		     ev->status, lv->killed ? ", as told" : "");
		lv->alive = false;
		if (lv->failover_sent && lv->role == CL_ROLE_BACKUP && v &&
		    v->primary == m->s.local.nodeid) /* it died activating: the primary died */
			send_report(m, lv->vm, CL_REP_VMM_DIED, CL_ROLE_PRIMARY, v->primary_gen);
		else if (lv->role == CL_ROLE_PRIMARY && v && v->state == CL_VM_STOPPING)
			send_report(m, lv->vm, CL_REP_STOPPED, lv->role, lv->gen);
		else
			send_report(m, lv->vm, CL_REP_VMM_DIED, lv->role, lv->gen);
		break;
	case CL_EV_VMM_PROTECTED:
		lv->synced = true;
		send_report(m, lv->vm, CL_REP_SYNC_DONE, CL_ROLE_PRIMARY, lv->protect_gen);
		break;
	case CL_EV_SYNC_FAILED:
		send_report(m, lv->vm, CL_REP_SYNC_FAILED, CL_ROLE_PRIMARY, lv->protect_gen);
		lv->protect_gen = 0;
		lv->synced = false;
		break;
	case CL_EV_ACTIVATED:
		if (lv->role != CL_ROLE_BACKUP || !v || v->primary != m->s.local.nodeid)
			break;
		lv->role = CL_ROLE_PRIMARY;
		lv->gen = v->primary_gen;
		lv->protect_gen = 0;
		lv->synced = false;
		send_report(m, lv->vm, CL_REP_ACTIVATED, CL_ROLE_PRIMARY, lv->gen);
		break;
	case CL_EV_VMM_STALLED:
		note(m,
		     "vm %s: the replication peer is silent; that licenses nothing: waiting "
		     "for a confirmed death (a vmm-died report or its host leaving)",
		     lv->vm);
		if (lv->role == CL_ROLE_PRIMARY && lv->protect_gen)
			send_report(m, lv->vm, CL_REP_STALLED, CL_ROLE_PRIMARY, lv->protect_gen);
		break;
	default:
		break;
	}
}

/* ---- CLI requests ---- */

static void on_request_in(struct model *m, const struct cl_request *q)
{
	struct cl_msg msg = {.type = CL_MSG_REQUEST};
	struct cl_request qq = *q;
	struct cl_vm *v = vm_by_name(m, q->vm);

	switch (q->cmd) {
	case CL_CMD_VM_LIST:
		return reply_ok(m, q->id, cl_msg__vm_list_json(&m->s.cluster));
	case CL_CMD_CLUSTER_STATUS:
		return reply_ok(m, q->id, cl_msg__cluster_status_json(&m->s));
	case CL_CMD_STATUS:
		if (!q->vm[0])
			return reply_ok(m, q->id, cl_msg__vm_list_json(&m->s.cluster));
		if (!v)
			return reply_err(m, q->id, "GenericError",
					 "status: no VM named \"%s\" (twin vm list shows them)",
					 q->vm);
		return reply_ok(m, q->id, vm_reply(m, v));
	default:
		break;
	}
	if ((unsigned)q->cmd >= CL_CMD_NCMDS || !q->id)
		return reply_err(m, q->id, "GenericError", "a request without id or command");
	if (!(q->cmd == CL_CMD_FAILOVER && q->force) && !m->s.local.initialized)
		return reply_err(m, q->id, "NoQuorum",
				 "%s: no host here holds the cluster's history (restarted?): "
				 "waiting for one that does, or for all %u expected hosts",
				 cmds[q->cmd], m->s.local.expected_votes);
	if (!(q->cmd == CL_CMD_FAILOVER && q->force) && !quorate(m))
		return reply_err(m, q->id, "NoQuorum",
				 "%s: this host's partition is not quorate (%d members, votes "
				 "%u, expected %u): changes need a quorate partition",
				 cmds[q->cmd], m->s.local.nmembers, m->s.local.votes,
				 m->s.local.expected_votes);
	if (!is_member(m, m->s.local.nodeid))
		return reply_err(m, q->id, "GenericError",
				 "%s: this host has not joined the cluster yet", cmds[q->cmd]);
	if (q->cmd == CL_CMD_DRILL) {
		if (!v || !v->primary)
			return reply_err(m, q->id, "GenericError",
					 "drill: \"%s\" is not a VM with a primary", q->vm);
		if (v->state != CL_VM_PROTECTED)
			return reply_err(m, q->id, "GenericError",
					 "drill: %s is %s: a drill needs it protected", q->vm,
					 vm_states[v->state]);
		msg.request.target = v->primary;
	}
	if (q->cmd == CL_CMD_VM_START && !cl_msg__text_ok(q->config, CL_CONFIG_MAX))
		return reply_err(m, q->id, "GenericError",
				 "vm start: the config holds control characters");
	msg.request.req = &qq;
	send_msg(m, &msg);
}

/* ---- Tick: the leader's re-protection retries ---- */

static void on_tick(struct model *m, uint64_t now)
{
	struct cl_local *l = &m->s.local;

	m->now_ms = now;
	if (!safe(m) || !l->nmembers || l->members[0] != l->nodeid)
		return;
	for (int i = 0; i < CL_MAX_VMS; i++) {
		struct cl_vm *v = &m->s.cluster.vms[i];
		struct cl_msg msg = {.type = CL_MSG_REQUEST};
		struct cl_request q = {.cmd = CL_CMD_PROTECT};

		if (!v->name[0] || !v->want_protect || v->backup ||
		    (v->state != CL_VM_RUNNING && v->state != CL_VM_DEGRADED))
			continue;
		if (!m->retry_at[i]) {
			m->retry_at[i] = now + RETRY_MS;
			continue;
		}
		if (now < m->retry_at[i] || !placement__pick_backup(&m->s.cluster, v, 0))
			continue;
		m->retry_at[i] = now + RETRY_MS;
		memcpy(q.vm, v->name, sizeof(q.vm));
		msg.request.req = &q;
		send_msg(m, &msg);
	}
}

/* ---- Local reconciliation: this host's vmms follow the replicated state ---- */

/* A control-socket command to our vmm lv (its role says which process). */
static void vmm_cmd(struct model *m, const struct cl_local_vmm *lv, enum cl_vmm_cmd cmd)
{
	struct cl_action *act = emit(m, CL_ACT_VMM, lv->vm);

	if (act) {
		act->vmm_cmd = cmd;
		act->role = lv->role;
	}
}

static void kill_vmm(struct model *m, struct cl_local_vmm *lv, const char *why)
{
	struct cl_action *act;

	if (lv->killed)
		return;
	note(m, "vm %s: SIGKILL to our %s vmm: %s", lv->vm, cl_role__to_str(lv->role), why);
	act = emit(m, CL_ACT_KILL, lv->vm);
	if (act) {
		act->role = lv->role;
		act->signal = SIGKILL;
	}
	lv->killed = true;
}

static void spawn(struct model *m, struct cl_vm *v, enum cl_role role, uint32_t gen)
{
	struct cl_local_vmm *lv = local_new(m, v->name);
	struct cl_action *act;

	if (!lv)
		return;
	lv->role = role;
	lv->gen = gen;
	lv->alive = true;
	act =
	    emit(m, role == CL_ROLE_PRIMARY ? CL_ACT_SPAWN_PRIMARY : CL_ACT_SPAWN_BACKUP, v->name);
	if (!act)
		return;
	act->role = role;
	act->port = (uint16_t)(m->s.local.port_base + vm_index(m, v));
	set_data(m, act, strdup(v->config));
	note(m, "vm %s: spawning its %s vmm (generation %u)", v->name, cl_role__to_str(role), gen);
}

/* Our primary vmm of v, alive, unfenced: the replication commands it is owed. */
static void drive_primary(struct model *m, struct cl_vm *v, struct cl_local_vmm *lv)
{
	struct cl_host *b = host_by_node(m, v->backup);

	if (v->state == CL_VM_STOPPING) {
		if (!lv->killed) {
			vmm_cmd(m, lv, CL_VMM_QUIT);
			lv->killed = true;
		}
		return;
	}
	/*
	 * Replication toward a backup the state no longer has: end it, which releases
	 * output, so only while safe.  A synced pair whose backup died degrades; an
	 * unprotect, a failed sync or a sync cut short unprotects.
	 */
	if (lv->protect_gen && (!v->backup || lv->protect_gen != v->backup_gen)) {
		enum cl_vmm_cmd cmd =
		    lv->synced && v->state != CL_VM_RUNNING ? CL_VMM_DEGRADE : CL_VMM_UNPROTECT;

		if (!go(m, lv))
			return;
		vmm_cmd(m, lv, cmd);
		note(m, "vm %s: %s: its backup is gone", v->name, cl_vmm_cmd__to_str(cmd));
		lv->protect_gen = 0;
		lv->synced = false;
	}
	if (v->state == CL_VM_PROTECTING && v->backup_ready && lv->started && !lv->protect_gen &&
	    b) {
		struct cl_action *act = emit(m, CL_ACT_VMM, v->name);

		if (!act)
			return;
		act->vmm_cmd = CL_VMM_PROTECT;
		act->role = CL_ROLE_PRIMARY;
		snprintf(act->peer_addr, sizeof(act->peer_addr), "%s", b->repl_addr);
		act->port = (uint16_t)(b->port_base + vm_index(m, v));
		act->mode = v->mode;
		act->interval_ms = v->interval_ms;
		lv->protect_gen = v->backup_gen;
		lv->synced = false;
		note(m, "vm %s: protect toward %s (%s:%u)", v->name, b->name, b->repl_addr,
		     act->port);
	}
}

/*
 * The state gives us a role whose vmm we never ran (this clusterd restarted, or the host
 * did, unnoticed by a partition that could not apply its leaving): it is dead.
 */
static void report_missing(struct model *m, struct cl_vm *v, enum cl_role role, uint32_t gen)
{
	struct cl_local_vmm *lv = local_new(m, v->name);

	if (!lv)
		return;
	lv->role = role;
	lv->gen = gen;
	note(m, "vm %s: the cluster has us as its %s, but we run no vmm of it: reporting it dead",
	     v->name, cl_role__to_str(role));
	if (v->state == CL_VM_STOPPING && role == CL_ROLE_PRIMARY)
		send_report(m, v->name, CL_REP_STOPPED, role, gen);
	else
		send_report(m, v->name, CL_REP_VMM_DIED, role, gen);
}

static void reconcile_vm_roles(struct model *m, struct cl_vm *v)
{
	uint32_t me = m->s.local.nodeid;
	struct cl_local_vmm *lv = local_by_name(m, v->name);
	enum cl_role want = CL_ROLE_NONE;
	uint32_t gen = 0;

	if (v->state != CL_VM_STOPPED && v->primary == me) {
		want = CL_ROLE_PRIMARY;
		gen = v->primary_gen;
	} else if (v->state != CL_VM_STOPPED && v->backup == me) {
		want = CL_ROLE_BACKUP;
		gen = v->backup_gen;
	}
	if (lv && lv->alive) {
		/* The failover: our backup of the last assignment is the primary now. */
		bool activating = want == CL_ROLE_PRIMARY && lv->role == CL_ROLE_BACKUP &&
				  v->state == CL_VM_FAILING_OVER && lv->gen == v->backup_gen;

		if (!activating && (want != lv->role || lv->gen != gen)) {
			kill_vmm(m, lv,
				 want == CL_ROLE_NONE ? "the cluster gives this host no "
							"role for it"
						      : "it is from an older generation");
			return;
		}
		if (activating) {
			if (!lv->failover_sent && (v->forced || go(m, lv))) {
				vmm_cmd(m, lv, CL_VMM_FAILOVER);
				lv->failover_sent = true;
				note(m, "vm %s: failover: our backup activates", v->name);
			}
			return;
		}
		if (lv->role == CL_ROLE_PRIMARY) {
			if (lv->fenced && go(m, lv)) {
				vmm_cmd(m, lv, CL_VMM_UNFENCE);
				lv->fenced = false;
				note(m,
				     "vm %s: unfence: quorum is back and we are still its "
				     "primary",
				     v->name);
			}
			if (!lv->fenced)
				drive_primary(m, v, lv);
		}
		return;
	}
	if (lv && lv->role == want && lv->gen == gen)
		return; /* spawned for this generation already: its death is reported */
	if (want == CL_ROLE_PRIMARY && v->state == CL_VM_STARTING)
		spawn(m, v, CL_ROLE_PRIMARY, gen);
	else if (want == CL_ROLE_BACKUP && v->state == CL_VM_PROTECTING)
		spawn(m, v, CL_ROLE_BACKUP, gen);
	else if (want != CL_ROLE_NONE)
		report_missing(m, v, want, gen);
}

/* A gate is anchored where its act became wanted, continuously: a pause re-anchors it. */
static void reconcile_vm(struct model *m, struct cl_vm *v)
{
	uint64_t calls = m->go_calls;
	struct cl_local_vmm *lv;

	reconcile_vm_roles(m, v);
	lv = local_by_name(m, v->name);
	if (lv && m->go_calls == calls)
		lv->gate_set = false;
}

static void reconcile(struct model *m)
{
	struct cl_local *l = &m->s.local;

	/* Quorum lost: fence every primary we run, at once, whatever the state says. */
	for (int i = 0; i < CL_MAX_VMS; i++) {
		struct cl_local_vmm *lv = &l->vmms[i];

		if (lv->vm[0] && lv->alive && !lv->fenced && !quorate(m) &&
		    (lv->role == CL_ROLE_PRIMARY || lv->failover_sent)) {
			vmm_cmd(m, lv, CL_VMM_FENCE);
			lv->fenced = true;
			note(m, "vm %s: fence: this host lost quorum", lv->vm);
		}
	}
	if (l->syncing)
		return;
	for (int i = 0; i < CL_MAX_VMS; i++)
		if (m->s.cluster.vms[i].name[0])
			reconcile_vm(m, &m->s.cluster.vms[i]);
	/* Our vmms of VMs the state does not have: stale; records of dead ones: dropped. */
	for (int i = 0; i < CL_MAX_VMS; i++) {
		struct cl_local_vmm *lv = &l->vmms[i];
		struct cl_vm *v;

		if (!lv->vm[0])
			continue;
		v = vm_by_name(m, lv->vm);
		if (lv->alive && !v)
			kill_vmm(m, lv, "the cluster has no such VM");
		else if (!lv->alive && (!v || v->state == CL_VM_STOPPED ||
					(v->primary != l->nodeid && v->backup != l->nodeid)))
			memset(lv, 0, sizeof(*lv));
	}
}

/* ---- The API ---- */

struct model *model__new(uint32_t nodeid, const char *name, const char *repl_addr,
			 uint16_t port_base)
{
	struct model *m;

	if (!nodeid || !name || !cl_msg__name_ok(name, true) || !repl_addr ||
	    strlen(repl_addr) >= CL_ADDR_MAX)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->s.local.nodeid = nodeid;
	snprintf(m->s.local.name, sizeof(m->s.local.name), "%s", name);
	snprintf(m->s.local.repl_addr, sizeof(m->s.local.repl_addr), "%s", repl_addr);
	m->s.local.port_base = port_base;
	barrier_reset(m);
	return m;
}

int model__input(struct model *m, const struct cl_input *in, struct cl_actions *out)
{
	bool was_vq = m->s.local.vq_quorate && m->s.local.stream_quorate;
	int rc = 0;

	m->out = out;
	m->err = 0;
	switch (in->type) {
	case CL_IN_MESSAGE:
		rc = on_message(m, in);
		break;
	case CL_IN_CONFCHG:
		on_confchg(m, in);
		break;
	case CL_IN_QUORUM:
		barrier_reset(m);
		m->s.local.vq_quorate = in->quorum.quorate;
		m->s.local.votes = in->quorum.votes;
		m->s.local.expected_votes = in->quorum.expected_votes;
		update_stream_quorate(m);
		note(m, "quorum: %s (votes %u, expected %u)",
		     in->quorum.quorate ? "quorate" : "NOT quorate", in->quorum.votes,
		     in->quorum.expected_votes);
		/*
		 * Not in the CPG stream: members may have applied different messages around
		 * it.  A round (begun where our STATE_SYNC lands) puts them on one state.
		 */
		if ((m->s.local.vq_quorate && m->s.local.stream_quorate) != was_vq &&
		    !m->s.local.syncing && is_member(m, m->s.local.nodeid))
			send_state(m);
		break;
	case CL_IN_LOCAL:
		on_local(m, &in->ev);
		break;
	case CL_IN_REQUEST:
		on_request_in(m, in->req);
		break;
	case CL_IN_TICK:
		on_tick(m, in->now_ms);
		break;
	default:
		rc = -EINVAL;
	}
	reconcile(m);
	m->out = NULL;
	return m->err ? m->err : rc;
}

const struct cl_state *model__state(const struct model *m)
{
	return &m->s;
}

void model__free(struct model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->ndefer; i++)
		cl_msg__dispose(&m->defer[i].msg);
	free(m->sync_best);
	free(m);
}
