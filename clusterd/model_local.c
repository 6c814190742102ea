/* The model's local side: this host's vmms follow the replicated state; events; the barrier. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "cl_msg.h"
#include "model.h"
#include "model_priv.h"
#include "placement.h"

/*
 * Whether an output-releasing act for lv may go now: a barrier sent at or after the
 * state version at which the act was first wanted has come back.  If not, one is on
 * its way.
 */
static bool go(struct model *m, struct cl_local_vmm *lv)
{
	struct cl_msg msg = {.type = CL_MSG_BARRIER};

	m->go_calls++;
	if (!model_safe(m))
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
		model_send_msg(m, &msg);
	}
	return false;
}

void model_barrier_reset(struct model *m)
{
	m->barrier_seq = 0;
	m->passed_version = UINT64_MAX;
	for (int i = 0; i < CL_MAX_VMS; i++)
		m->s.local.vmms[i].gate_set = false;
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
	model_send_msg(m, &msg);
}

/*
 * Reports a partition without quorum dropped (or that never got there): sent again
 * after each round in a quorate partition.  The generations make repeats harmless.
 */
void model_resend_reports(struct model *m)
{
	uint32_t me = m->s.local.nodeid;

	for (int i = 0; i < CL_MAX_VMS; i++) {
		struct cl_local_vmm *lv = &m->s.local.vmms[i];
		struct cl_vm *v = lv->vm[0] ? model_vm_by_name(m, lv->vm) : NULL;

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
		else if (lv->role == CL_ROLE_PRIMARY && lv->stall_sent &&
			 lv->stall_sent == lv->protect_gen && v->backup &&
			 v->backup_gen == lv->protect_gen && v->stalled_gen != lv->protect_gen)
			/* a stall no quorate partition heard: the twin-vmm says it only once */
			send_report(m, v->name, CL_REP_STALLED, CL_ROLE_PRIMARY, lv->protect_gen);
	}
}

void model_on_local(struct model *m, const struct cl_local_event *ev)
{
	struct cl_local_vmm *lv = model_local_by_name(m, ev->vm);
	struct cl_vm *v = model_vm_by_name(m, ev->vm);

	if (ev->type == CL_EV_HOST_MEMORY) {
		uint32_t d = ev->free_mib > m->sent_free_mib ? ev->free_mib - m->sent_free_mib
							     : m->sent_free_mib - ev->free_mib;

		m->s.local.free_mib = ev->free_mib;
		if (d >= MEMORY_STEP_MIB && model_is_member(m, m->s.local.nodeid))
			model_send_host_info(m);
		return;
	}
	if (!lv || !lv->alive) {
		model_note(m, "vm %s: event %d for no vmm of ours: ignored", ev->vm, (int)ev->type);
		return;
	}
	switch (ev->type) {
	case CL_EV_VMM_STARTED:
		lv->started = true;
		send_report(m, lv->vm, CL_REP_STARTED, lv->role, lv->gen);
		break;
	case CL_EV_VMM_EXITED:
		model_note(m, "vm %s: the %s vmm exited (status %d)%s", lv->vm,
			   cl_role__to_str(lv->role), ev->status, lv->killed ? ", as told" : "");
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
		if (lv->role != CL_ROLE_PRIMARY || !lv->protect_gen ||
		    lv->stall_sent == lv->protect_gen)
			break;
		model_note(m,
			   "vm %s: the replication peer is silent; that licenses nothing: the "
			   "backup's host ends the backup, and its confirmed death degrades",
			   lv->vm);
		lv->stall_sent = lv->protect_gen;
		send_report(m, lv->vm, CL_REP_STALLED, CL_ROLE_PRIMARY, lv->protect_gen);
		break;
	default:
		break;
	}
}

/* ---- CLI requests ---- */

void model_on_request_in(struct model *m, const struct cl_request *q)
{
	struct cl_msg msg = {.type = CL_MSG_REQUEST};
	struct cl_request qq = *q;
	struct cl_vm *v = model_vm_by_name(m, q->vm);

	switch (q->cmd) {
	case CL_CMD_VM_LIST:
		return model_reply_ok(m, q->id, cl_msg__vm_list_json(&m->s.cluster));
	case CL_CMD_CLUSTER_STATUS:
		return model_reply_ok(m, q->id, cl_msg__cluster_status_json(&m->s));
	case CL_CMD_STATUS:
		if (!q->vm[0])
			return model_reply_ok(m, q->id, cl_msg__vm_list_json(&m->s.cluster));
		if (!v)
			return model_reply_err(
			    m, q->id, "GenericError",
			    "status: no VM named \"%s\" (twin vm list shows them)", q->vm);
		return model_reply_ok(m, q->id, model_vm_reply(m, v));
	default:
		break;
	}
	if ((unsigned)q->cmd >= CL_CMD_NCMDS || !q->id)
		return model_reply_err(m, q->id, "GenericError", "a request without id or command");
	if (q->cmd > CL_CMD_HOST_FORGET)
		return model_reply_err(
		    m, q->id, "GenericError",
		    "%s is this host's own business, not the cluster's (an internal "
		    "error: the daemon routes it)",
		    cl_cmd__to_str(q->cmd));
	if (!(q->cmd == CL_CMD_FAILOVER && q->force) && !m->s.local.initialized)
		return model_reply_err(m, q->id, "NoQuorum",
				       "%s: no host here holds the cluster's history (restarted?): "
				       "waiting for one that does, or for all %u expected hosts",
				       cl_cmd__to_str(q->cmd), m->s.local.expected_votes);
	if (!(q->cmd == CL_CMD_FAILOVER && q->force) && !model_quorate(m))
		return model_reply_err(
		    m, q->id, "NoQuorum",
		    "%s: this host's partition is not quorate (%d members, votes "
		    "%u, expected %u): changes need a quorate partition",
		    cl_cmd__to_str(q->cmd), m->s.local.nmembers, m->s.local.votes,
		    m->s.local.expected_votes);
	if (!model_is_member(m, m->s.local.nodeid))
		return model_reply_err(m, q->id, "GenericError",
				       "%s: this host has not joined the cluster yet",
				       cl_cmd__to_str(q->cmd));
	if (q->cmd == CL_CMD_DRILL) {
		if (!v || !v->primary)
			return model_reply_err(m, q->id, "GenericError",
					       "drill: \"%s\" is not a VM with a primary", q->vm);
		if (v->state != CL_VM_PROTECTED)
			return model_reply_err(m, q->id, "GenericError",
					       "drill: %s is %s: a drill needs it protected", q->vm,
					       cl_vm_state__to_str(v->state));
		msg.request.target = v->primary;
		if (!model_pending_add(m, q->id, v->primary))
			return model_reply_err(m, q->id, "GenericError",
					       "drill: %d drills wait for an answer already: retry",
					       PENDING_MAX);
	}
	if (q->cmd == CL_CMD_VM_START && !cl_msg__text_ok(q->config, CL_CONFIG_MAX))
		return model_reply_err(m, q->id, "GenericError",
				       "vm start: the config holds control characters");
	msg.request.req = &qq;
	model_send_msg(m, &msg);
}

/* ---- Tick: the leader's re-protection retries ---- */

/* RETRY_MS, doubled for each backup in a row a stall ended, at most STALL_BACKOFF_MAX_MS. */
uint32_t model_stall_backoff_ms(const struct cl_vm *v)
{
	uint64_t ms = (uint64_t)RETRY_MS << (v->stall_ends < 10 ? v->stall_ends : 10);

	return ms < STALL_BACKOFF_MAX_MS ? (uint32_t)ms : STALL_BACKOFF_MAX_MS;
}

void model_on_tick(struct model *m, uint64_t now)
{
	struct cl_local *l = &m->s.local;

	if (!model_safe(m) || !l->nmembers || l->members[0] != l->nodeid)
		return;
	for (int i = 0; i < CL_MAX_VMS; i++) {
		struct cl_vm *v = &m->s.cluster.vms[i];
		struct cl_msg msg = {.type = CL_MSG_REQUEST};
		struct cl_request q = {.cmd = CL_CMD_PROTECT};
		uint32_t wait = v->stall_hold ? model_stall_backoff_ms(v) : RETRY_MS;

		if (!v->name[0] || !v->want_protect || v->backup ||
		    (v->state != CL_VM_RUNNING && v->state != CL_VM_DEGRADED)) {
			m->retry_at[i] = 0;
			continue;
		}
		if (!m->retry_at[i] || m->retry_gen[i] != v->generation) {
			/* wanting a backup anew (a new one was assigned since): wait from now */
			m->retry_at[i] = now + wait;
			m->retry_gen[i] = v->generation;
			continue;
		}
		if (now < m->retry_at[i] || !placement__pick_backup(&m->s.cluster, v))
			continue;
		m->retry_at[i] = now + wait;
		memcpy(q.vm, v->name, sizeof(q.vm));
		msg.request.req = &q;
		model_send_msg(m, &msg);
	}
}

/* ---- Local reconciliation: this host's vmms follow the replicated state ---- */

/* A control-socket command to our vmm lv (its role says which process). */
static void vmm_cmd(struct model *m, const struct cl_local_vmm *lv, enum cl_vmm_cmd cmd)
{
	struct cl_action *act = model_emit(m, CL_ACT_VMM, lv->vm);

	if (act) {
		act->vmm_cmd = cmd;
		act->role = lv->role;
	}
}

void model_kill_vmm(struct model *m, struct cl_local_vmm *lv, const char *why)
{
	struct cl_action *act;

	if (lv->killed)
		return;
	model_note(m, "vm %s: SIGKILL to our %s vmm: %s", lv->vm, cl_role__to_str(lv->role), why);
	act = model_emit(m, CL_ACT_KILL, lv->vm);
	if (act) {
		act->role = lv->role;
		act->signal = SIGKILL;
	}
	lv->killed = true;
}

static void spawn(struct model *m, struct cl_vm *v, enum cl_role role, uint32_t gen)
{
	struct cl_local_vmm *lv = model_local_new(m, v->name);
	struct cl_action *act;

	if (!lv)
		return;
	lv->role = role;
	lv->gen = gen;
	lv->alive = true;
	act = model_emit(m, role == CL_ROLE_PRIMARY ? CL_ACT_SPAWN_PRIMARY : CL_ACT_SPAWN_BACKUP,
			 v->name);
	if (!act)
		return;
	act->role = role;
	act->port = (uint16_t)(m->s.local.port_base + model_vm_index(m, v));
	model_set_data(m, act, strdup(v->config));
	model_note(m, "vm %s: spawning its %s vmm (generation %u)", v->name, cl_role__to_str(role),
		   gen);
}

/* Our primary vmm of v, alive, unfenced: the replication commands it is owed. */
static void drive_primary(struct model *m, struct cl_vm *v, struct cl_local_vmm *lv)
{
	struct cl_host *b = model_host_by_node(m, v->backup);

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
		model_note(m, "vm %s: %s: its backup is gone", v->name, cl_vmm_cmd__to_str(cmd));
		lv->protect_gen = 0;
		lv->synced = false;
	}
	if (v->state == CL_VM_PROTECTING && v->backup_ready && lv->started && !lv->protect_gen &&
	    b) {
		struct cl_action *act = model_emit(m, CL_ACT_VMM, v->name);

		if (!act)
			return;
		act->vmm_cmd = CL_VMM_PROTECT;
		act->role = CL_ROLE_PRIMARY;
		snprintf(act->peer_addr, sizeof(act->peer_addr), "%s", b->repl_addr);
		act->port = (uint16_t)(b->port_base + model_vm_index(m, v));
		act->mode = v->mode;
		act->interval_ms = v->interval_ms;
		lv->protect_gen = v->backup_gen;
		lv->synced = false;
		model_note(m, "vm %s: protect toward %s (%s:%u)", v->name, b->name, b->repl_addr,
			   act->port);
	}
}

/*
 * The state gives us a role whose vmm we never ran (this clusterd restarted, or the host
 * did, unnoticed by a partition that could not apply its leaving): it is dead.
 */
static void report_missing(struct model *m, struct cl_vm *v, enum cl_role role, uint32_t gen)
{
	struct cl_local_vmm *lv = model_local_new(m, v->name);

	if (!lv)
		return;
	lv->role = role;
	lv->gen = gen;
	model_note(
	    m, "vm %s: the cluster has us as its %s, but we run no vmm of it: reporting it dead",
	    v->name, cl_role__to_str(role));
	if (v->state == CL_VM_STOPPING && role == CL_ROLE_PRIMARY)
		send_report(m, v->name, CL_REP_STOPPED, role, gen);
	else
		send_report(m, v->name, CL_REP_VMM_DIED, role, gen);
}

static void reconcile_vm_roles(struct model *m, struct cl_vm *v)
{
	uint32_t me = m->s.local.nodeid;
	struct cl_local_vmm *lv = model_local_by_name(m, v->name);
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
			model_kill_vmm(m, lv,
				       want == CL_ROLE_NONE ? "the cluster gives this host no "
							      "role for it"
							    : "it is from an older generation");
			return;
		}
		if (activating) {
			if (!lv->failover_sent && (v->forced || go(m, lv))) {
				vmm_cmd(m, lv, CL_VMM_FAILOVER);
				lv->failover_sent = true;
				lv->forced = v->forced && !model_quorate(m);
				model_note(m, "vm %s: failover: our backup activates", v->name);
				if (lv->forced)
					model_note(
					    m,
					    "vm %s: FORCED ACTIVATION WITHOUT QUORUM: this copy "
					    "is not fenced for the lack of quorum until quorum "
					    "returns; if the old primary still runs, two copies "
					    "serve and the one the cluster keeps then wins",
					    v->name);
			}
			return;
		}
		if (lv->role == CL_ROLE_PRIMARY) {
			if (lv->fenced && go(m, lv)) {
				vmm_cmd(m, lv, CL_VMM_UNFENCE);
				lv->fenced = false;
				model_note(m,
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
	/* A new primary is a new active copy: only on a quorate partition's current word. */
	if (want == CL_ROLE_PRIMARY && v->state == CL_VM_STARTING) {
		if (model_safe(m))
			spawn(m, v, CL_ROLE_PRIMARY, gen);
	} else if (want == CL_ROLE_BACKUP && v->state == CL_VM_PROTECTING)
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
	lv = model_local_by_name(m, v->name);
	if (lv && m->go_calls == calls)
		lv->gate_set = false;
}

void model_reconcile(struct model *m)
{
	struct cl_local *l = &m->s.local;

	/*
	 * Quorum lost: fence every primary we run, at once, whatever the state says; but a
	 * forced activation outside quorum (the operator's word) until quorum returns.
	 */
	for (int i = 0; i < CL_MAX_VMS; i++) {
		struct cl_local_vmm *lv = &l->vmms[i];

		if (lv->forced && model_quorate(m)) {
			lv->forced = false;
			model_note(m,
				   "vm %s: quorum is back: the forced copy is fenced again if "
				   "quorum goes",
				   lv->vm);
		}
		if (lv->vm[0] && lv->alive && !lv->fenced && !lv->forced && !model_quorate(m) &&
		    (lv->role == CL_ROLE_PRIMARY || lv->failover_sent)) {
			vmm_cmd(m, lv, CL_VMM_FENCE);
			lv->fenced = true;
			model_note(m, "vm %s: fence: this host lost quorum", lv->vm);
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
		v = model_vm_by_name(m, lv->vm);
		if (lv->alive && !v)
			model_kill_vmm(m, lv, "the cluster has no such VM");
		else if (!lv->alive && (!v || v->state == CL_VM_STOPPED ||
					(v->primary != l->nodeid && v->backup != l->nodeid)))
			memset(lv, 0, sizeof(*lv));
	}
}
