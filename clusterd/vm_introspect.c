/* vm-peek, vm-regs: the VM's primary twin-vmm answers, when it runs on this host. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "supervisor.h"
#include "vm_introspect.h"

/* One request in flight to a twin-vmm: where its answer goes. */
struct pending {
	struct local_ctx *ctx;
	uint64_t id;
	const char *cmd; /* the command's name (vm-peek, vm-regs), for errors */
	char vm[CL_NAME_MAX + 1];
	char host[CL_NAME_MAX + 1];
};

static const char *host_name(const struct cl_state *st, uint32_t nodeid)
{
	for (int i = 0; i < CL_MAX_HOSTS; i++)
		if (st->cluster.hosts[i].nodeid == nodeid)
			return st->cluster.hosts[i].name;
	return "?";
}

/* On the event loop: twin-vmm's answer, passed on with the VM and host it came from. */
static void answered(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct pending *p = arg;

	if (ret) {
		json_t *copy = json_deep_copy(ret);

		if (copy) {
			json_object_set_new(copy, "vm", json_string(p->vm));
			json_object_set_new(copy, "host", json_string(p->host));
			local_cmd__reply(p->ctx, p->id, copy);
		} else {
			local_cmd__fail(p->ctx, p->id, "GenericError", "%s: out of memory", p->cmd);
		}
	} else {
		local_cmd__fail(p->ctx, p->id, "GenericError", "%s %s: twin-vmm on %s: %s", p->cmd,
				p->vm, p->host, error);
	}
	free(p);
}

/* Why req cannot run here: 0 when its primary runs on this host, else -1 (answered). */
static int refuse_elsewhere(struct local_ctx *ctx, const struct cl_request *req,
			    const struct cl_state *st, const char *cmd)
{
	const struct cl_vm *v = cl_state__find_vm(st, req->vm);

	if (!v) {
		local_cmd__fail(ctx, req->id, "GenericError",
				"%s: no VM named \"%s\" (twin vm list shows them)", cmd, req->vm);
		return -1;
	}
	if (!v->primary) {
		local_cmd__fail(ctx, req->id, "GenericError",
				"%s: %s is %s: no primary runs it; start it first (twin vm start)",
				cmd, req->vm, cl_vm_state__to_str(v->state));
		return -1;
	}
	/* Another host's twin-vmm is out of reach: only its own clusterd talks to it. */
	if (v->primary != st->local.nodeid) {
		local_cmd__fail(ctx, req->id, "WrongHost",
				"%s: %s's primary runs on host %s, not here (%s): run the command "
				"on %s",
				cmd, req->vm, host_name(st, v->primary), st->local.name,
				host_name(st, v->primary));
		return -1;
	}
	return 0;
}

void vm_introspect__run(struct local_ctx *ctx, const struct cl_request *req)
{
	const struct cl_state *st = model__state(ctx->model);
	const char *cmd = cl_cmd__to_str(req->cmd);
	struct pending *p;
	json_t *args = NULL;
	int rc;

	if (refuse_elsewhere(ctx, req, st, cmd))
		return;
	p = calloc(1, sizeof(*p));
	if (p && req->cmd == CL_CMD_VM_PEEK)
		args = json_pack("{s:I, s:I}", "gpa", (json_int_t)req->gpa, "len",
				 (json_int_t)req->len);
	else if (p && req->vcpu >= 0)
		args = json_pack("{s:i}", "vcpu", (int)req->vcpu);
	if (!p || (req->cmd == CL_CMD_VM_PEEK && !args)) {
		free(p);
		local_cmd__fail(ctx, req->id, "GenericError", "%s: out of memory", cmd);
		return;
	}
	*p = (struct pending){.ctx = ctx, .id = req->id, .cmd = cmd};
	memcpy(p->vm, req->vm, sizeof(p->vm));
	memcpy(p->host, st->local.name, sizeof(p->host));
	rc = supervisor__call(ctx->sup, req->vm, CL_ROLE_PRIMARY,
			      req->cmd == CL_CMD_VM_PEEK ? "peek" : "regs", args,
			      VM_INTROSPECT_TIMEOUT_MS, answered, p);
	if (!rc)
		return;
	free(p);
	if (rc == -ENOTCONN)
		local_cmd__fail(ctx, req->id, "GenericError",
				"%s: %s's twin-vmm here is starting (not connected yet): retry in "
				"a moment",
				cmd, req->vm);
	else
		local_cmd__fail(
		    ctx, req->id, "GenericError",
		    "%s: %s's primary twin-vmm does not run here (it exited?): see twin "
		    "status %s",
		    cmd, req->vm, req->vm);
}
