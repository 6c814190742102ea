/* The host-cpus, host-cpu-offline and host-cpu-online commands: re-pinning every twin-vmm here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "clog.h"
#include "cpu_list.h"
#include "cpu_pin.h"
#include "host_cpus.h"
#include "supervisor.h"

/*
 * set-cpus and query-cpus answer at once, but may wait behind a slow command (twin-vmm serves
 * one at a time): the CLI is answered by REPLY_MS, clusterd pinning any twin-vmm that has not
 * re-pinned itself by then.  Its set-cpus stays queued (VMM_CPUS_MS), so on the control
 * connection to that twin-vmm (fence and unfence have their own) it still runs before any
 * later set-cpus: never a stale set last.
 */
#define REPLY_MS    3000
#define VMM_CPUS_MS 60000
#define MAX_VMMS    (2 * CL_MAX_VMS)

struct vmm_part;

/*
 * One request's fan-out to the twin-vmms here: answered when the last one has, or at the
 * deadline; freed when the reply is out and every call has come back (refs).
 */
struct fanout {
	struct local_ctx *ctx;
	uint64_t id;
	enum cl_cmd cmd;
	json_t *ret; /* the reply being built; NULL once sent */
	json_t *vms; /* its "vms" array */
	char allowed[CPU_LIST_MAX];
	cpu_set_t set;		/* allowed, parsed */
	unsigned int waiting;	/* parts not answered yet */
	unsigned int refs;	/* calls in flight, plus one until the reply is sent */
	struct event *deadline; /* REPLY_MS */
	struct vmm_part *parts; /* every part, freed with the fan-out */
};

/* One twin-vmm's part of a fan-out. */
struct vmm_part {
	struct vmm_part *next;
	struct fanout *f;
	json_t *vm; /* its object in f->vms (borrowed; only until the reply) */
	pid_t pid;
	bool answered;
};

struct vmm_list {
	struct {
		char vm[CL_NAME_MAX + 1];
		enum cl_role role;
		pid_t pid;
	} v[MAX_VMMS];
	unsigned int n;
};

static void collect(void *arg, const char *vm, enum cl_role role, pid_t pid)
{
	struct vmm_list *l = arg;

	if (l->n == MAX_VMMS)
		return;
	snprintf(l->v[l->n].vm, sizeof(l->v[l->n].vm), "%s", vm);
	l->v[l->n].role = role;
	l->v[l->n].pid = pid;
	l->n++;
}

/* host-cpus: each CPU's "vcpus", the vCPU threads (of every VM here) allowed to run there. */
static void add_vcpus_per_cpu(json_t *ret)
{
	json_t *cpu, *vm, *vcpu;
	size_t i, j, k;

	json_array_foreach(json_object_get(ret, "cpus"), i, cpu)
	{
		json_int_t n = json_integer_value(json_object_get(cpu, "cpu"));
		json_t *here = json_array();

		json_array_foreach(json_object_get(ret, "vms"), j, vm)
		{
			json_array_foreach(json_object_get(vm, "vcpus"), k, vcpu)
			{
				cpu_set_t set;
				const char *list = json_string_value(json_object_get(vcpu, "cpus"));

				if (list && !cpu_list__parse(list, &set) && n < CPU_SETSIZE &&
				    CPU_ISSET(n, &set))
					json_array_append_new(
					    here, json_pack("{s:O, s:O, s:O}", "vm",
							    json_object_get(vm, "vm"), "vcpu",
							    json_object_get(vcpu, "vcpu"), "tid",
							    json_object_get(vcpu, "tid")));
			}
		}
		json_object_set_new(cpu, "vcpus", here);
	}
}

static void unref(struct fanout *f)
{
	if (--f->refs)
		return;
	while (f->parts) {
		struct vmm_part *p = f->parts;

		f->parts = p->next;
		free(p);
	}
	if (f->deadline)
		event_free(f->deadline);
	json_decref(f->ret);
	free(f);
}

static void send_reply(struct fanout *f)
{
	if (f->deadline)
		event_del(f->deadline);
	if (f->cmd == CL_CMD_HOST_CPUS)
		add_vcpus_per_cpu(f->ret);
	local_cmd__reply(f->ctx, f->id, f->ret);
	f->ret = NULL;
	unref(f);
}

/*
 * A twin-vmm that could not re-pin itself (not connected yet: a backup before its initial
 * sync; or it failed): clusterd pins its threads from outside.  The result goes in vm.
 */
static void pin_from_here(struct fanout *f, json_t *vm, pid_t pid, const char *why)
{
	int rc = cpu_pin__process(pid, &f->set);

	json_object_set_new(vm, "repinned_by", json_string("clusterd"));
	if (rc) {
		clog__error("cpus: cannot pin twin-vmm pid %d to CPUs %s: %s (%s)%s", (int)pid,
			    f->allowed, strerror(-rc), why,
			    rc == -EINVAL ? CPU_PIN_EINVAL_HINT : "");
		json_object_set_new(vm, "error", json_string(strerror(-rc)));
	}
}

/* host-cpus of a twin-vmm not connected: its main thread's CPUs, as clusterd sees them. */
static void set_allowed_from_here(json_t *vm, pid_t pid)
{
	char list[CPU_LIST_MAX];
	cpu_set_t set;

	if (sched_getaffinity(pid, sizeof(set), &set))
		return;
	cpu_list__format(&set, list, sizeof(list));
	json_object_set_new(vm, "allowed", json_string(list));
}

static void on_vmm_reply(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm_part *p = arg;
	struct fanout *f = p->f;

	/* Past the deadline: clusterd pinned it, the reply is out. */
	if (!f->ret) {
		unref(f);
		return;
	}
	p->answered = true;
	if (ret) {
		json_object_set(p->vm, "allowed", json_object_get(ret, "allowed"));
		json_object_set(p->vm, "vcpus", json_object_get(ret, "vcpus"));
		if (f->cmd != CL_CMD_HOST_CPUS)
			json_object_set_new(p->vm, "repinned_by", json_string("twin-vmm"));
	} else if (f->cmd != CL_CMD_HOST_CPUS) {
		clog__warn("cpus: twin-vmm pid %d: set-cpus failed: %s: pinning it from clusterd",
			   (int)p->pid, error);
		pin_from_here(f, p->vm, p->pid, error);
	} else {
		json_object_set_new(p->vm, "error", json_string(error));
	}
	if (!--f->waiting)
		send_reply(f);
	unref(f);
}

/* REPLY_MS passed: clusterd pins the twin-vmms that did not answer (their calls go on). */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct fanout *f = arg;

	for (struct vmm_part *p = f->parts; p; p = p->next) {
		if (p->answered)
			continue;
		if (f->cmd == CL_CMD_HOST_CPUS) {
			json_object_set_new(p->vm, "error",
					    json_string("no answer to query-cpus in time: busy?"));
			continue;
		}
		clog__warn("cpus: twin-vmm pid %d: no answer to set-cpus within %d ms: pinning it "
			   "from clusterd",
			   (int)p->pid, REPLY_MS);
		pin_from_here(f, p->vm, p->pid, "no answer in time");
	}
	send_reply(f);
}

/* Asks every twin-vmm here: query-cpus (host-cpus) or set-cpus to the allowed set. */
static void fan_out(struct fanout *f)
{
	struct timeval limit = {REPLY_MS / 1000, REPLY_MS % 1000 * 1000};
	struct supervisor *s = f->ctx->sup;
	struct vmm_list *l = calloc(1, sizeof(*l));

	f->refs = 1;
	f->waiting = 1; /* while the calls are being made */
	if (l)
		supervisor__each(s, collect, l);
	for (unsigned int i = 0; l && i < l->n; i++) {
		struct vmm_part *p = calloc(1, sizeof(*p));
		json_t *vm = json_pack("{s:s, s:s, s:i}", "vm", l->v[i].vm, "role",
				       cl_role__to_str(l->v[i].role), "pid", (int)l->v[i].pid);
		json_t *args =
		    f->cmd == CL_CMD_HOST_CPUS ? NULL : json_pack("{s:s}", "cpus", f->allowed);
		int rc;

		if (!p || !vm) {
			free(p);
			json_decref(vm);
			json_decref(args);
			continue;
		}
		json_array_append_new(f->vms, vm);
		p->f = f;
		p->vm = vm;
		p->pid = l->v[i].pid;
		p->next = f->parts;
		f->parts = p;
		f->waiting++;
		f->refs++;
		rc = supervisor__call(s, l->v[i].vm, l->v[i].role,
				      f->cmd == CL_CMD_HOST_CPUS ? "query-cpus" : "set-cpus", args,
				      VMM_CPUS_MS, on_vmm_reply, p);
		if (!rc)
			continue;
		/*
		 * Not connected yet (a backup syncs first; or just spawned, and its own --cpus
		 * may still undo this): pinned from here for now, and the supervisor sends it
		 * set-cpus as it connects.  The reply says so, not that it is done.
		 */
		if (f->cmd != CL_CMD_HOST_CPUS) {
			pin_from_here(f, vm, p->pid, "its control socket is not connected yet");
			json_object_set_new(vm, "repinned_by", json_string("connect"));
		} else {
			set_allowed_from_here(vm, p->pid);
			json_object_set_new(vm, "vcpus", json_array());
		}
		p->answered = true;
		f->waiting--;
		f->refs--;
	}
	free(l);
	/* An answer may have come already, inside supervisor__call. */
	if (!--f->waiting) {
		send_reply(f);
		return;
	}
	f->deadline = evtimer_new(f->ctx->base, on_deadline, f);
	if (!f->deadline || evtimer_add(f->deadline, &limit))
		on_deadline(-1, 0, f);
}

static void run_offline_online(struct local_ctx *ctx, const struct cl_request *req,
			       struct fanout *f)
{
	bool off = req->cmd == CL_CMD_HOST_CPU_OFFLINE;
	char err[512];
	int rc = off ? host_cpus__offline(ctx->cpus, req->cpu, req->hotplug, err, sizeof(err))
		     : host_cpus__online(ctx->cpus, req->cpu, err, sizeof(err));

	if (rc) {
		local_cmd__fail(ctx, req->id, rc == -ENODEV ? "InvalidParameter" : "GenericError",
				"%s", err);
		f->refs = 1;
		unref(f);
		return;
	}
	host_cpus__allowed(ctx->cpus, &f->set);
	cpu_list__format(&f->set, f->allowed, sizeof(f->allowed));
	/* clusterd first: the twin-vmms it spawns from now on start on the set. */
	host_cpus__apply(ctx->cpus, ctx->sup);
	clog__info("cpus: CPU %u %s for Twin: re-pinning every twin-vmm here to CPUs %s", req->cpu,
		   off ? "offline" : "online", f->allowed);
	json_object_update_new(f->ret,
			       json_pack("{s:i, s:b, s:b, s:s}", "cpu", req->cpu, "offline", off,
					 "hotplug", off && req->hotplug, "allowed", f->allowed));
	fan_out(f);
}

void host_cpus__apply(const struct host_cpus *h, struct supervisor *sup)
{
	char list[CPU_LIST_MAX];
	cpu_set_t set;
	int rc;

	host_cpus__allowed(h, &set);
	cpu_list__format(&set, list, sizeof(list));
	rc = cpu_pin__process(0, &set);
	if (rc)
		clog__error("cpus: cannot pin clusterd to CPUs %s: %s%s", list, strerror(-rc),
			    rc == -EINVAL ? CPU_PIN_EINVAL_HINT : "");
	rc = supervisor__set_vmm_cpus(sup, list);
	if (rc)
		clog__warn(
		    "cpus: new twin-vmms get no --cpus %s (%s): they inherit clusterd's CPUs", list,
		    strerror(-rc));
}

void host_cpus__run(struct local_ctx *ctx, const struct cl_request *req)
{
	struct fanout *f = calloc(1, sizeof(*f));

	if (f)
		f->ret = json_object();
	if (!f || !f->ret) {
		free(f);
		local_cmd__fail(ctx, req->id, "GenericError", "clusterd is out of memory");
		return;
	}
	f->ctx = ctx;
	f->id = req->id;
	f->cmd = req->cmd;
	f->vms = json_array();
	json_object_set_new(f->ret, "vms", f->vms);
	if (req->cmd == CL_CMD_HOST_CPUS) {
		json_object_update_new(f->ret, host_cpus__json(ctx->cpus));
		fan_out(f);
		return;
	}
	/* The set after the change: known once host_cpus has made it (it may refuse). */
	run_offline_online(ctx, req, f);
}
