/* The model's replicated state: its transitions (the safety rule) and what messages do to it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl_msg.h"
#include "model.h"
#include "model_priv.h"
#include "placement.h"

/* ---- Transitions (every change of the replicated state bumps its version) ---- */

static void changed(struct model *m)
{
	m->s.cluster.version++;
	m->dirty = true;
}

static bool vm_set(struct model *m, struct cl_vm *v, enum cl_vm_state to, const char *why)
{
	if (!model__vm_allowed(v->state, to)) {
		m->s.refused++;
		model_note(m, "vm %s: transition %s -> %s refused: not in the state table (%s)",
			   v->name, cl_vm_state__to_str(v->state), cl_vm_state__to_str(to), why);
		return false;
	}
	model_note(m, "vm %s: %s -> %s (%s)", v->name, cl_vm_state__to_str(v->state),
		   cl_vm_state__to_str(to), why);
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

void model_host_set(struct model *m, struct cl_host *h, enum cl_host_state to, const char *why)
{
	if (h->state == to)
		return;
	if (!model__host_allowed(h->state, to)) {
		m->s.refused++;
		model_note(m, "host %s: transition %s -> %s refused: not in the host table (%s)",
			   h->name, cl_host_state__to_str(h->state), cl_host_state__to_str(to),
			   why);
		return;
	}
	model_note(m, "host %s (node %u): %s -> %s (%s)", h->name, h->nodeid,
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
	model_note(m, "vm %s: backup on %s (generation %u)", v->name, model_host_name(m, node),
		   v->generation);
	return true;
}

/* Re-protection: a VM that wants a backup and has none gets one by placement. */
static void reprotect(struct model *m, struct cl_vm *v, const char *why)
{
	uint32_t node;

	if (!v->want_protect || v->backup || v->stall_hold ||
	    (v->state != CL_VM_RUNNING && v->state != CL_VM_DEGRADED))
		return;
	node = placement__pick_backup(&m->s.cluster, v);
	if (!node) {
		model_note(
		    m,
		    "vm %s: no host fits a backup (online, not %s, %u MiB free after what it "
		    "promised): will retry",
		    v->name, model_host_name(m, v->primary), v->memory_mib);
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
	model_note(m, "vm %s: %s activates as the primary (was %s; generation %u)%s", v->name,
		   model_host_name(m, v->primary), model_host_name(m, old), v->generation,
		   forced ? ": FORCED by the operator, without confirmation" : "");
}

/*
 * The primary's death is confirmed (a vmm-died report or its host left); quorate.  A host
 * that left may still run an only copy (fenced): without a synced backup, the VM waits
 * for it to return rather than being declared lost.
 */
void model_primary_died(struct model *m, struct cl_vm *v, bool host_left, const char *why)
{
	switch (v->state) {
	case CL_VM_PROTECTED:
		if (m->s.local.expected_votes < 3) {
			if (!v->awaiting_operator) {
				v->awaiting_operator = true;
				changed(m);
			}
			model_note(m,
				   "vm %s: primary on %s died (%s); automatic failover refused: "
				   "expected votes %u < 3, a partition cannot be told from a death "
				   "(twin failover %s --force, if you know the primary is gone)",
				   v->name, model_host_name(m, v->primary), why,
				   m->s.local.expected_votes, v->name);
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
		model_note(m,
			   "vm %s: its primary's host %s left while %s: no synced backup; it waits "
			   "for the host (or twin vm stop %s)",
			   v->name, model_host_name(m, v->primary), cl_vm_state__to_str(v->state),
			   v->name);
		return;
	}
	model_note(m, "vm %s: primary on %s died (%s) while %s: no synced backup to take over",
		   v->name, model_host_name(m, v->primary), why, cl_vm_state__to_str(v->state));
	vm_set(m, v, CL_VM_STOPPED, why);
}

/*
 * A backup that a stall ended (its death follows a STALLED report about it): the next one
 * waits for the leader's backoff, so a flapping link does not loop full syncs.
 */
static void hold_after_stall(struct model *m, struct cl_vm *v)
{
	if (!v->stalled_gen || v->stalled_gen != v->backup_gen)
		return;
	v->stall_ends++;
	v->stall_hold = true;
	model_note(m, "vm %s: its backup ended by a stall (%u in a row): re-protection waits %u s",
		   v->name, v->stall_ends, model_stall_backoff_ms(v) / 1000);
}

/* The backup's death is confirmed; quorate. */
void model_backup_died(struct model *m, struct cl_vm *v, const char *why)
{
	switch (v->state) {
	case CL_VM_PROTECTING:
		hold_after_stall(m, v);
		v->backup = 0;
		vm_set(m, v, CL_VM_RUNNING, why);
		return;
	case CL_VM_PROTECTED:
		if (v->awaiting_operator) { /* both copies gone */
			vm_set(m, v, CL_VM_STOPPED, why);
			return;
		}
		hold_after_stall(m, v);
		v->backup = 0;
		vm_set(m, v, CL_VM_DEGRADED, why);
		reprotect(m, v, "re-protection after the backup's death");
		return;
	default:
		v->backup = 0;
		changed(m);
	}
}

/* ---- Messages ---- */

void model_on_host_info(struct model *m, const struct cl_msg *msg)
{
	struct cl_host *h = model_host_by_node(m, msg->node);

	if (!model_is_member(m, msg->node))
		return;
	for (int i = 0; !h && i < CL_MAX_HOSTS; i++)
		if (!m->s.cluster.hosts[i].nodeid)
			h = &m->s.cluster.hosts[i];
	if (!h) {
		model_note(m, "host %s (node %u): no room (%d hosts at most)", msg->host.name,
			   msg->node, CL_MAX_HOSTS);
		return;
	}
	if (!h->nodeid)
		model_note(m, "host %s (node %u): new, replication address %s", msg->host.name,
			   msg->node, msg->host.repl_addr);
	*h = (struct cl_host){.nodeid = msg->node,
			      .port_base = msg->host.port_base,
			      .free_mib = msg->host.free_mib,
			      .state = h->state};
	memcpy(h->name, msg->host.name, sizeof(h->name));
	memcpy(h->repl_addr, msg->host.repl_addr, sizeof(h->repl_addr));
	changed(m);
	model_host_set(m, h, CL_HOST_ONLINE, "host info");
	h->info_version = m->s.cluster.version;
	reprotect_all(m, "a host is available");
}

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

void model_on_report(struct model *m, const struct cl_msg *msg)
{
	const typeof(msg->report) *r = &msg->report;
	struct cl_vm *v = model_vm_by_name(m, r->vm);
	const char *host = model_host_name(m, msg->node);

	if (!v || !report_current(v, msg)) {
		model_note(m, "vm %s: stale report %s from %s's %s (generation %u): ignored", r->vm,
			   cl_report__to_str(r->what), host, cl_role__to_str(r->role), r->gen);
		return;
	}
	switch (r->what) {
	case CL_REP_STARTED:
		if (r->role == CL_ROLE_BACKUP) {
			if (v->state == CL_VM_PROTECTING && !v->backup_ready) {
				v->backup_ready = true;
				changed(m);
				model_note(m, "vm %s: backup on %s listens", v->name, host);
			}
		} else if (v->state == CL_VM_STARTING &&
			   vm_set(m, v, CL_VM_RUNNING, "the primary started")) {
			reprotect(m, v, "protect = yes");
		}
		break;
	case CL_REP_SYNC_DONE:
		if (vm_set(m, v, CL_VM_PROTECTED, "the initial sync is done"))
			v->synced_version = m->s.cluster.version;
		break;
	case CL_REP_SYNC_FAILED:
		v->backup = 0;
		vm_set(m, v, CL_VM_RUNNING, "the initial sync failed");
		break;
	case CL_REP_ACTIVATED:
		if (v->state == CL_VM_FAILING_OVER &&
		    vm_set(m, v, CL_VM_RUNNING, "the backup activated")) {
			v->failovers++;
			v->stall_ends = 0; /* a new primary: the old pair's link is history */
			v->stall_hold = false;
			reprotect(m, v, "re-protection after failover");
		}
		break;
	case CL_REP_STOPPED:
		if (r->role == CL_ROLE_PRIMARY && v->state == CL_VM_STOPPING)
			vm_set(m, v, CL_VM_STOPPED, "the primary stopped");
		else if (r->role == CL_ROLE_PRIMARY)
			model_primary_died(m, v, false, "its vmm exited");
		break;
	case CL_REP_VMM_DIED:
		if (r->role == CL_ROLE_PRIMARY)
			model_primary_died(m, v, false, "its host reported the vmm's death");
		else
			model_backup_died(m, v, "its host reported the vmm's death");
		break;
	case CL_REP_STALLED:
		/*
		 * The pair's link is broken while both hosts are members: end the backup
		 * (which keeps one active copy); its host then reports that death, and
		 * only that licenses the degrade.  The re-protection waits (stall_hold).
		 */
		model_note(m, "vm %s: the primary hears its backup on %s no more", v->name,
			   model_host_name(m, v->backup));
		if (v->stalled_gen != r->gen) {
			v->stalled_gen = r->gen;
			changed(m);
		}
		if (v->backup == m->s.local.nodeid) {
			struct cl_local_vmm *lv = model_local_by_name(m, v->name);

			if (lv && lv->alive && lv->role == CL_ROLE_BACKUP)
				model_kill_vmm(m, lv, "its primary hears it no more");
		}
		break;
	default:
		break;
	}
}

/* ---- Requests ---- */

char *model_vm_reply(struct model *m, const struct cl_vm *v)
{
	return cl_msg__vm_json(&m->s.cluster, v);
}

static void req_vm_start(struct model *m, uint32_t origin, const struct cl_request *q)
{
	struct cl_vm *v = model_vm_by_name(m, q->vm);
	struct cl_host *h = model_host_by_node(m, origin);

	if (!cl_msg__name_ok(q->vm, false))
		return model_reply_err(m, q->id, "GenericError",
				       "vm start: \"%s\" is not a VM name: use [a-z0-9-], 1 to %d "
				       "characters",
				       q->vm, CL_NAME_MAX);
	if (v && v->state != CL_VM_STOPPED)
		return model_reply_err(
		    m, q->id, "GenericError",
		    "vm start: %s is already %s: stop it first (twin vm stop %s)", q->vm,
		    cl_vm_state__to_str(v->state), q->vm);
	if (!q->memory_mib || !q->config[0] || !cl_msg__text_ok(q->config, CL_CONFIG_MAX))
		return model_reply_err(m, q->id, "GenericError",
				       "vm start: %s: no memory or a bad config text", q->vm);
	if (!h || h->state != CL_HOST_ONLINE)
		return model_reply_err(
		    m, q->id, "GenericError",
		    "vm start: this host is not known to the cluster yet: retry");
	for (int i = 0; !v && i < CL_MAX_VMS; i++)
		if (!m->s.cluster.vms[i].name[0])
			v = &m->s.cluster.vms[i];
	/* All slots taken: a stopped VM's record holds nothing a later start needs. */
	for (int i = 0; !v && i < CL_MAX_VMS; i++)
		if (m->s.cluster.vms[i].state == CL_VM_STOPPED) {
			v = &m->s.cluster.vms[i];
			model_note(m, "vm start: %s takes the slot of %s, stopped: forgotten",
				   q->vm, v->name);
		}
	if (!v)
		return model_reply_err(
		    m, q->id, "GenericError",
		    "vm start: %d VMs already, none stopped: stop one and forget "
		    "it (twin vm forget VM) first",
		    CL_MAX_VMS);
	*v = (struct cl_vm){.state = CL_VM_STOPPED,
			    .generation = v->generation > m->s.cluster.gen_floor
					      ? v->generation
					      : m->s.cluster.gen_floor};
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
	model_reply_ok(m, q->id, model_vm_reply(m, v));
}

static void req_vm_stop(struct model *m, const struct cl_request *q, struct cl_vm *v)
{
	if (v->state == CL_VM_STOPPED || v->state == CL_VM_STOPPING)
		return model_reply_err(m, q->id, "GenericError", "vm stop: %s is already %s",
				       v->name, cl_vm_state__to_str(v->state));
	if (!vm_set(m, v, CL_VM_STOPPING, "vm stop"))
		return;
	v->backup = 0;
	v->want_protect = false;
	if (!model_host_by_node(m, v->primary) ||
	    model_host_by_node(m, v->primary)->state != CL_HOST_ONLINE)
		vm_set(m, v, CL_VM_STOPPED, "vm stop: its primary's host is gone");
	model_reply_ok(m, q->id, model_vm_reply(m, v));
}

/* by_operator: a CLI's request (the leader's retries have no id), the same at every member. */
static void req_protect(struct model *m, const struct cl_request *q, struct cl_vm *v,
			bool by_operator)
{
	uint32_t node = 0;

	if (v->state != CL_VM_RUNNING && v->state != CL_VM_DEGRADED)
		return model_reply_err(
		    m, q->id, "GenericError",
		    "protect: %s is %s; protect needs it running without a backup", v->name,
		    cl_vm_state__to_str(v->state));
	if (q->peer[0]) {
		for (int i = 0; i < CL_MAX_HOSTS; i++)
			if (m->s.cluster.hosts[i].nodeid &&
			    !strcmp(m->s.cluster.hosts[i].name, q->peer))
				node = m->s.cluster.hosts[i].nodeid;
		if (!node || model_host_by_node(m, node)->state != CL_HOST_ONLINE ||
		    node == v->primary)
			return model_reply_err(
			    m, q->id, "GenericError",
			    "protect: --peer %s is not an online host other than the "
			    "primary's (%s): see twin cluster status",
			    q->peer, model_host_name(m, v->primary));
	} else {
		node = placement__pick_backup(&m->s.cluster, v);
		if (!node)
			return model_reply_err(
			    m, q->id, "GenericError",
			    "protect: no host fits a backup of %s (online, not %s, "
			    "%u MiB free after what it promised): add a host or free memory",
			    v->name, model_host_name(m, v->primary), v->memory_mib);
	}
	if (q->mode_set)
		v->mode = q->mode;
	if (q->interval_ms)
		v->interval_ms = q->interval_ms;
	v->want_protect = true;
	v->stall_hold = false;
	if (by_operator) /* the operator's protect starts the stall count afresh */
		v->stall_ends = 0;
	if (protect_to(m, v, node, by_operator ? "protect" : "re-protection retry"))
		model_reply_ok(m, q->id, model_vm_reply(m, v));
}

static void req_unprotect(struct model *m, const struct cl_request *q, struct cl_vm *v)
{
	if (v->state != CL_VM_PROTECTING && v->state != CL_VM_PROTECTED &&
	    v->state != CL_VM_DEGRADED)
		return model_reply_err(m, q->id, "GenericError",
				       "unprotect: %s is %s, not protected", v->name,
				       cl_vm_state__to_str(v->state));
	if (v->state == CL_VM_PROTECTED && v->awaiting_operator)
		return model_reply_err(m, q->id, "GenericError",
				       "unprotect: %s's primary is dead: fail over instead",
				       v->name);
	v->want_protect = false;
	v->backup = 0;
	v->stall_hold = false;
	v->stall_ends = 0;
	if (vm_set(m, v, CL_VM_RUNNING, "unprotect"))
		model_reply_ok(m, q->id, model_vm_reply(m, v));
}

static void req_failover(struct model *m, uint32_t origin, const struct cl_request *q,
			 struct cl_vm *v)
{
	if (v->state != CL_VM_PROTECTED)
		return model_reply_err(
		    m, q->id, "GenericError",
		    "failover: %s is %s; only a protected VM (backup in sync) can "
		    "fail over",
		    v->name, cl_vm_state__to_str(v->state));
	if (q->force) {
		model_note(m,
			   "vm %s: FAILOVER --force from %s: no quorum or death confirmation is "
			   "checked; if the primary on %s still runs, two copies may serve",
			   v->name, model_host_name(m, origin), model_host_name(m, v->primary));
		fail_over(m, v, true, "failover --force");
		model_reply_ok(m, q->id, model_vm_reply(m, v));
		return;
	}
	if (m->s.local.expected_votes < 3)
		return model_reply_err(
		    m, q->id, "NoQuorum",
		    "failover: expected votes %u < 3: a partition cannot be told "
		    "from a death; add a host (or a qdevice), or use --force if you "
		    "know the primary is gone",
		    m->s.local.expected_votes);
	if (v->awaiting_operator) {
		fail_over(m, v, false, "failover: the primary's death was confirmed");
		model_reply_ok(m, q->id, model_vm_reply(m, v));
		return;
	}
	/* A live primary: its host kills it, and its confirmed death activates the backup. */
	model_note(m, "vm %s: failover: %s kills the primary's vmm", v->name,
		   model_host_name(m, v->primary));
	if (v->primary == m->s.local.nodeid) {
		struct cl_local_vmm *lv = model_local_by_name(m, v->name);

		if (lv && lv->alive && lv->role == CL_ROLE_PRIMARY) {
			struct cl_action *act = model_emit(m, CL_ACT_KILL, v->name);

			if (act) {
				act->role = CL_ROLE_PRIMARY;
				act->signal = SIGKILL;
			}
			lv->killed = true;
		}
	}
	model_reply_ok(m, q->id, model_vm_reply(m, v));
}

/* vm forget: a stopped VM's record goes; its generations are never given again. */
static void req_vm_forget(struct model *m, const struct cl_request *q, struct cl_vm *v)
{
	char *text = NULL;

	if (v->state != CL_VM_STOPPED)
		return model_reply_err(m, q->id, "GenericError",
				       "vm forget: %s is %s: stop it first (twin vm stop %s)",
				       v->name, cl_vm_state__to_str(v->state), v->name);
	if (asprintf(&text, "{\"vm\":\"%s\",\"forgotten\":true}", v->name) < 0)
		text = NULL;
	model_note(m, "vm %s: forgotten (generation %u)", v->name, v->generation);
	if (v->generation > m->s.cluster.gen_floor)
		m->s.cluster.gen_floor = v->generation;
	*v = (struct cl_vm){0};
	changed(m);
	model_reply_ok(m, q->id, text);
}

/* host forget: an offline host with no VM roles leaves the state (it may join again). */
static void req_host_forget(struct model *m, const struct cl_request *q)
{
	struct cl_host *h = NULL;
	char *text = NULL;

	for (int i = 0; i < CL_MAX_HOSTS; i++)
		if (m->s.cluster.hosts[i].nodeid &&
		    !strcmp(m->s.cluster.hosts[i].name, q->host_name))
			h = &m->s.cluster.hosts[i];
	if (!h)
		return model_reply_err(
		    m, q->id, "GenericError",
		    "host forget: no host named \"%s\" (twin cluster status shows them)",
		    q->host_name);
	if (h->state != CL_HOST_OFFLINE || model_is_member(m, h->nodeid))
		return model_reply_err(m, q->id, "GenericError",
				       "host forget: %s is online: only a host that left can be "
				       "forgotten (stop its clusterd first)",
				       h->name);
	for (int i = 0; i < CL_MAX_VMS; i++) {
		const struct cl_vm *v = &m->s.cluster.vms[i];

		if (v->name[0] && (v->primary == h->nodeid || v->backup == h->nodeid))
			return model_reply_err(
			    m, q->id, "GenericError",
			    "host forget: %s is still %s's %s: stop that VM (twin vm stop %s) or "
			    "let it fail over first",
			    h->name, v->name, v->primary == h->nodeid ? "primary" : "backup",
			    v->name);
	}
	if (asprintf(&text, "{\"host\":\"%s\",\"forgotten\":true}", h->name) < 0)
		text = NULL;
	model_note(m, "host %s (node %u): forgotten", h->name, h->nodeid);
	*h = (struct cl_host){0};
	changed(m);
	model_reply_ok(m, q->id, text);
}

/* A request every member applies (in a quorate partition, failover --force excepted). */
void model_on_request(struct model *m, uint32_t origin, const struct cl_request *q)
{
	struct cl_vm *v;
	uint64_t id = origin == m->s.local.nodeid ? q->id : 0; /* only the origin answers */
	struct cl_request qq = *q;

	qq.id = id;
	if (q->cmd == CL_CMD_VM_START)
		return req_vm_start(m, origin, &qq);
	if (q->cmd == CL_CMD_HOST_FORGET)
		return req_host_forget(m, &qq);
	v = model_vm_by_name(m, q->vm);
	if (!v)
		return model_reply_err(m, id, "GenericError",
				       "%s: no VM named \"%s\" (twin vm list shows them)",
				       cl_cmd__to_str(q->cmd), q->vm);
	switch (q->cmd) {
	case CL_CMD_VM_STOP:
		return req_vm_stop(m, &qq, v);
	case CL_CMD_PROTECT:
		return req_protect(m, &qq, v, q->id != 0);
	case CL_CMD_UNPROTECT:
		return req_unprotect(m, &qq, v);
	case CL_CMD_FAILOVER:
		return req_failover(m, origin, &qq, v);
	case CL_CMD_VM_FORGET:
		return req_vm_forget(m, &qq, v);
	default:
		return model_reply_err(m, id, "GenericError", "%s is not a cluster-wide request",
				       cl_cmd__to_str(q->cmd));
	}
}

/* A request for this host alone: drill kills our primary vmm; the answer goes back. */
void model_on_targeted(struct model *m, uint32_t origin, const struct cl_request *q)
{
	struct cl_msg rep = {.type = CL_MSG_REPLY};
	struct cl_local_vmm *lv = model_local_by_name(m, q->vm);
	char *text;

	rep.reply.origin = origin;
	rep.reply.id = q->id;
	if (q->cmd == CL_CMD_DRILL && lv && lv->alive && lv->role == CL_ROLE_PRIMARY) {
		struct cl_action *act = model_emit(m, CL_ACT_KILL, q->vm);

		if (act) {
			act->role = CL_ROLE_PRIMARY;
			act->signal = SIGKILL;
			act->host = q->host;
		}
		lv->killed = true;
		model_note(m, "vm %s: drill: SIGKILL to the primary's vmm%s", q->vm,
			   q->host ? ", then to this whole host" : "");
		rep.reply.ok = true;
		if (asprintf(&text,
			     "{\"vm\":\"%s\",\"host\":\"%s\",\"killed\":true,\"whole_host\":%s}",
			     q->vm, m->s.local.name, q->host ? "true" : "false") < 0)
			text = NULL;
	} else {
		snprintf(rep.reply.err_class, sizeof(rep.reply.err_class), "GenericError");
		if (asprintf(&text, "%s: %s runs no primary vmm of %s", cl_cmd__to_str(q->cmd),
			     m->s.local.name, q->vm) < 0)
			text = NULL;
	}
	if (!text) {
		m->err = -ENOMEM;
		return;
	}
	rep.reply.text = text;
	model_send_msg(m, &rep);
	free(text);
}
