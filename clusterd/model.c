/* twin-clusterd's decisions, pure: the API, the state tables' names, actions, lookups. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl_msg.h"
#include "model.h"
#include "model_priv.h"

/* ---- Names ---- */

static const char *const vm_states[CL_VM_NSTATES] = {
    [CL_VM_STOPPED] = "stopped",	   [CL_VM_STARTING] = "starting",
    [CL_VM_RUNNING] = "running",	   [CL_VM_PROTECTING] = "protecting",
    [CL_VM_PROTECTED] = "protected",	   [CL_VM_DEGRADED] = "degraded",
    [CL_VM_FAILING_OVER] = "failing-over", [CL_VM_STOPPING] = "stopping",
};

static const char *const cmds[CL_CMD_NCMDS] = {
    [CL_CMD_VM_START] = "vm-start",
    [CL_CMD_VM_STOP] = "vm-stop",
    [CL_CMD_VM_LIST] = "vm-list",
    [CL_CMD_PROTECT] = "protect",
    [CL_CMD_UNPROTECT] = "unprotect",
    [CL_CMD_FAILOVER] = "failover",
    [CL_CMD_STATUS] = "status",
    [CL_CMD_CLUSTER_STATUS] = "cluster-status",
    [CL_CMD_DRILL] = "drill",
    [CL_CMD_VM_FORGET] = "vm-forget",
    [CL_CMD_HOST_FORGET] = "host-forget",
    [CL_CMD_HOST_CPUS] = "host-cpus",
    [CL_CMD_HOST_CPU_OFFLINE] = "host-cpu-offline",
    [CL_CMD_HOST_CPU_ONLINE] = "host-cpu-online",
    [CL_CMD_HOST_MEM_OFFLINE] = "host-mem-offline",
    [CL_CMD_HOST_MEM_ONLINE] = "host-mem-online",
    [CL_CMD_HOST_MEM_STATUS] = "host-mem-status",
    [CL_CMD_VM_PEEK] = "vm-peek",
    [CL_CMD_VM_REGS] = "vm-regs",
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
					    "kill", "reply",	     "log",	     "persist"};

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
struct cl_action *model_emit(struct model *m, enum cl_action_type type, const char *vm)
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

void model_set_data(struct model *m, struct cl_action *act, char *text)
{
	if (!text) {
		m->err = -ENOMEM;
		return;
	}
	act->data = text;
	act->len = strlen(text);
}

__attribute__((format(printf, 2, 3))) void model_note(struct model *m, const char *fmt, ...)
{
	struct cl_action *act = model_emit(m, CL_ACT_LOG, NULL);
	char *s = NULL;
	va_list ap;

	if (!act)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	model_set_data(m, act, s);
}

void model_send_msg(struct model *m, struct cl_msg *msg)
{
	struct cl_action *act;

	char *data;
	size_t len;
	int rc;

	msg->node = m->s.local.nodeid;
	rc = cl_msg__encode(msg, &data, &len);
	if (rc) {
		model_note(m, "cannot encode a %s message: %s", cl_msg_type__to_str(msg->type),
			   strerror(-rc));
		if (rc == -ENOMEM)
			m->err = rc;
		return;
	}
	act = model_emit(m, CL_ACT_SEND, NULL);
	if (!act) {
		free(data);
		return;
	}
	act->data = data;
	act->len = len;
}

void model_reply_ok(struct model *m, uint64_t id, char *json)
{
	struct cl_action *act;

	if (!id) { /* the leader's own request: nobody waits */
		free(json);
		return;
	}
	act = model_emit(m, CL_ACT_REPLY, NULL);
	if (!act) {
		free(json);
		return;
	}
	act->req_id = id;
	act->ok = true;
	model_set_data(m, act, json);
}

__attribute__((format(printf, 4, 5))) void model_reply_err(struct model *m, uint64_t id,
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
		model_note(m, "request %llu refused: %s", (unsigned long long)id, s);
	act = id ? model_emit(m, CL_ACT_REPLY, NULL) : NULL;
	if (!act) {
		free(s);
		return;
	}
	act->req_id = id;
	snprintf(act->err_class, sizeof(act->err_class), "%s", cls);
	model_set_data(m, act, s);
}

/* ---- Lookups ---- */

struct cl_host *model_host_by_node(struct model *m, uint32_t node)
{
	for (int i = 0; node && i < CL_MAX_HOSTS; i++)
		if (m->s.cluster.hosts[i].nodeid == node)
			return &m->s.cluster.hosts[i];
	return NULL;
}

const char *model_host_name(struct model *m, uint32_t node)
{
	static char buf[2][24];
	static int k;
	struct cl_host *h = model_host_by_node(m, node);

	if (h)
		return h->name;
	k ^= 1;
	snprintf(buf[k], sizeof(buf[k]), node ? "node %u" : "none", node);
	return buf[k];
}

const struct cl_vm *cl_state__find_vm(const struct cl_state *st, const char *name)
{
	for (int i = 0; name[0] && i < CL_MAX_VMS; i++)
		if (!strcmp(st->cluster.vms[i].name, name))
			return &st->cluster.vms[i];
	return NULL;
}

struct cl_vm *model_vm_by_name(struct model *m, const char *name)
{
	return (struct cl_vm *)cl_state__find_vm(&m->s, name);
}

int model_vm_index(struct model *m, const struct cl_vm *v)
{
	return (int)(v - m->s.cluster.vms);
}

struct cl_local_vmm *model_local_by_name(struct model *m, const char *name)
{
	for (int i = 0; i < CL_MAX_VMS; i++)
		if (m->s.local.vmms[i].vm[0] && !strcmp(m->s.local.vmms[i].vm, name))
			return &m->s.local.vmms[i];
	return NULL;
}

struct cl_local_vmm *model_local_new(struct model *m, const char *name)
{
	struct cl_local_vmm *lv = model_local_by_name(m, name);

	for (int i = 0; !lv && i < CL_MAX_VMS; i++)
		if (!m->s.local.vmms[i].vm[0])
			lv = &m->s.local.vmms[i];
	if (lv) {
		memset(lv, 0, sizeof(*lv));
		snprintf(lv->vm, sizeof(lv->vm), "%s", name);
	}
	return lv;
}

bool model_is_member(struct model *m, uint32_t node)
{
	for (int i = 0; i < m->s.local.nmembers; i++)
		if (m->s.local.members[i] == node)
			return true;
	return false;
}

/* Quorate: votequorum says so about our configuration, and we remember (cl_local). */
bool model_quorate(const struct model *m)
{
	return m->s.local.vq_quorate && m->s.local.stream_quorate && m->s.local.initialized;
}

/* Safe to act on the replicated state: quorate and the state is this partition's. */
bool model_safe(const struct model *m)
{
	return model_quorate(m) && !m->s.local.syncing;
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
	model_barrier_reset(m);
	return m;
}

/* What the daemon may do before the state is on disk: it lets no output out. */
static bool releases_nothing(const struct cl_action *act)
{
	return act->type == CL_ACT_KILL ||
	       (act->type == CL_ACT_VMM && act->vmm_cmd == CL_VMM_FENCE);
}

/*
 * The new state (CL_ACT_PERSIST) after this input's fences and kills, before the rest: a
 * slow disk delays no fence, and nothing that lets output out runs before the state it
 * follows from is stable.  The order within each part is kept.
 */
static void persist_after_fences(struct model *m)
{
	struct cl_actions *a = m->out;
	size_t n = a->n, k = 0;
	struct cl_action act;

	m->dirty = false;
	if (!model_emit(m, CL_ACT_PERSIST, NULL))
		return;
	model_set_data(m, &a->v[n], cl_msg__cluster_json(&m->s.cluster, false));
	act = a->v[n];
	for (size_t i = 0; i < n; i++) {
		struct cl_action x = a->v[i];

		if (!releases_nothing(&x))
			continue;
		memmove(&a->v[k + 1], &a->v[k], (i - k) * sizeof(x));
		a->v[k++] = x;
	}
	memmove(&a->v[k + 1], &a->v[k], (n - k) * sizeof(act));
	a->v[k] = act;
}

int model__restore(struct model *m, const char *json, size_t len, char *err, size_t errlen)
{
	struct cl_cluster *c = malloc(sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	rc = cl_msg__cluster_from_json(json, len, c, err, errlen);
	if (!rc) {
		m->s.cluster = *c;
		m->s.local.initialized = true;
	}
	free(c);
	return rc;
}

int model__input(struct model *m, const struct cl_input *in, struct cl_actions *out)
{
	bool was_vq = m->s.local.vq_quorate && m->s.local.stream_quorate;
	int rc = 0;

	m->out = out;
	m->err = 0;
	switch (in->type) {
	case CL_IN_MESSAGE:
		rc = model_on_message(m, in);
		break;
	case CL_IN_CONFCHG:
		model_on_confchg(m, in);
		break;
	case CL_IN_QUORUM:
		model_barrier_reset(m);
		m->s.local.vq_quorate = in->quorum.quorate;
		m->s.local.votes = in->quorum.votes;
		m->s.local.expected_votes = in->quorum.expected_votes;
		m->s.local.vq_ring = in->quorum.ring_seq;
		if (in->quorum.ring_seq != m->s.local.vq_first_ring) {
			m->s.local.vq_first_ring = in->quorum.ring_seq;
			m->s.local.vq_first_quorate = in->quorum.quorate;
		}
		model_update_stream_quorate(m);
		model_note(m, "quorum: %s (votes %u, expected %u, ring %llu)",
			   in->quorum.quorate ? "quorate" : "NOT quorate", in->quorum.votes,
			   in->quorum.expected_votes, (unsigned long long)in->quorum.ring_seq);
		/*
		 * Not in the CPG stream: members may have applied different messages around
		 * it.  A round (begun where our STATE_SYNC lands) puts them on one state.
		 */
		if ((m->s.local.vq_quorate && m->s.local.stream_quorate) != was_vq &&
		    !m->s.local.syncing && model_is_member(m, m->s.local.nodeid))
			model_send_state(m);
		break;
	case CL_IN_LOCAL:
		model_on_local(m, &in->ev);
		break;
	case CL_IN_REQUEST:
		model_on_request_in(m, in->req);
		break;
	case CL_IN_TICK:
		model_on_tick(m, in->now_ms);
		break;
	default:
		rc = -EINVAL;
	}
	model_reconcile(m);
	if (m->dirty)
		persist_after_fences(m);
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
