/* twin-clusterd's host memory commands: asks the local twin-vmms in turn, merges their answers. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "clog.h"
#include "host_mem.h"
#include "local_cmd.h"
#include "model.h"
#include "supervisor.h"

/* A retirement by PFN scans the VM's pagemap: 3-13 ms per GiB of guest RAM (page_offline.h). */
#define HOST_MEM_CALL_MS 10000

struct target {
	char vm[CL_NAME_MAX + 1];
	enum cl_role role;
	pid_t pid;
};

/* What a live twin-vmm last said it has quarantined. */
struct cached {
	struct target t;
	unsigned int count;
};

struct host_mem {
	struct event_base *base;
	struct supervisor *sup;
	struct event *timer; /* the periodic refresh */
	bool refreshing;
	struct cached *cache;
	size_t ncache;
};

/* One command in progress over the targets, one at a time. */
struct job {
	struct host_mem *m;
	struct local_ctx *ctx; /* NULL: the periodic refresh, nobody to answer */
	uint64_t id;
	enum cl_cmd cmd;
	json_t *args;	      /* sent to each (copied) */
	bool pfn_set;	      /* status: only this frame */
	uint64_t pfn;	      /* offline/online: the frame asked; status: the filter */
	json_t *offline;      /* status: merged */
	json_t *errors;	      /* status: twin-vmms that did not answer */
	unsigned int skipped; /* not connected yet: not asked */
	struct target *t;
	size_t n, next;
};

static void add_target(void *arg, const char *vm, enum cl_role role, pid_t pid)
{
	struct job *j = arg;
	struct target *t = realloc(j->t, (j->n + 1) * sizeof(*t));

	if (!t)
		return; /* that one goes unasked: the reply says how many were */
	j->t = t;
	t += j->n++;
	snprintf(t->vm, sizeof(t->vm), "%s", vm);
	t->role = role;
	t->pid = pid;
}

static struct cached *cache_entry(struct host_mem *m, const struct target *t)
{
	struct cached *c;

	for (size_t i = 0; i < m->ncache; i++)
		if (!strcmp(m->cache[i].t.vm, t->vm) && m->cache[i].t.role == t->role)
			return &m->cache[i];
	c = realloc(m->cache, (m->ncache + 1) * sizeof(*c));
	if (!c)
		return NULL;
	m->cache = c;
	c += m->ncache++;
	*c = (struct cached){.t = *t};
	return c;
}

static void cache_set(struct host_mem *m, const struct target *t, unsigned int count)
{
	struct cached *c = cache_entry(m, t);

	if (c) {
		c->t.pid = t->pid; /* a restarted vmm starts from its own answer */
		c->count = count;
	}
}

static void job_free(struct job *j)
{
	if (j->cmd == CL_CMD_HOST_MEM_STATUS && !j->ctx)
		j->m->refreshing = false;
	json_decref(j->args);
	json_decref(j->offline);
	json_decref(j->errors);
	free(j->t);
	free(j);
}

static struct job *job_new(struct host_mem *m, struct local_ctx *ctx, uint64_t id, enum cl_cmd cmd)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->m = m;
	j->ctx = ctx;
	j->id = id;
	j->cmd = cmd;
	j->offline = json_array();
	j->errors = json_array();
	if (!j->offline || !j->errors) {
		job_free(j);
		return NULL;
	}
	return j;
}

static const char *vmm_command(enum cl_cmd cmd)
{
	return cmd == CL_CMD_HOST_MEM_OFFLINE  ? "mem-offline"
	       : cmd == CL_CMD_HOST_MEM_ONLINE ? "mem-online"
					       : "query-mem";
}

static void next(struct job *j);

/* The frame's owner answered (an offline or online), or none owns it. */
static void finish_page(struct job *j, const struct target *t, json_t *ret)
{
	json_t *r = json_deep_copy(ret);
	struct cached *c = cache_entry(j->m, t);

	/* Until the next refresh tells. */
	if (c && j->cmd == CL_CMD_HOST_MEM_OFFLINE)
		c->count++;
	else if (c && c->count)
		c->count--;
	if (r) {
		json_object_set_new(r, "vm", json_string(t->vm));
		json_object_set_new(r, "role", json_string(cl_role__to_str(t->role)));
	}
	clog__info("host mem: %s of %s done by %s's %s twin-vmm", vmm_command(j->cmd),
		   json_object_get(j->args, "pfn") ? "a PFN" : "a GPA", t->vm,
		   cl_role__to_str(t->role));
	if (r)
		local_cmd__reply(j->ctx, j->id, r);
	else
		local_cmd__fail(j->ctx, j->id, "GenericError", "out of memory for the reply");
	job_free(j);
}

static void finish_unowned(struct job *j)
{
	char more[160] = "";

	if (j->skipped)
		snprintf(more, sizeof(more),
			 " (%u twin-vmm%s not connected yet %s not asked: retry in a moment)",
			 j->skipped, j->skipped > 1 ? "s" : "", j->skipped > 1 ? "were" : "was");
	if (j->cmd == CL_CMD_HOST_MEM_OFFLINE)
		local_cmd__fail(j->ctx, j->id, "NotOwner",
				"PFN 0x%" PRIx64
				" backs no Twin VM on this host: Twin retires only "
				"frames of its own VMs%s",
				j->pfn, more);
	else
		local_cmd__fail(j->ctx, j->id, "NotOwner",
				"PFN 0x%" PRIx64 " is not a frame Twin took offline on this host "
				"(twin host mem-status lists them)%s",
				j->pfn, more);
	job_free(j);
}

static void finish_status(struct job *j)
{
	json_t *r;

	if (!j->ctx) {
		job_free(j);
		return;
	}
	r = json_pack("{s:O, s:O}", "offline", j->offline, "errors", j->errors);
	if (r)
		local_cmd__reply(j->ctx, j->id, r);
	else
		local_cmd__fail(j->ctx, j->id, "GenericError", "out of memory for the reply");
	job_free(j);
}

/* query-mem's entries, tagged with their VM, into j->offline (only j->pfn's if set). */
static void merge_status(struct job *j, const struct target *t, json_t *ret)
{
	json_t *list = json_object_get(ret, "offline"), *e;
	size_t i;

	cache_set(j->m, t, (unsigned int)json_array_size(list));
	json_array_foreach(list, i, e)
	{
		uint64_t old_pfn = (uint64_t)json_integer_value(json_object_get(e, "old_pfn"));
		uint64_t new_pfn = (uint64_t)json_integer_value(json_object_get(e, "new_pfn"));
		json_t *c;

		if (j->pfn_set && old_pfn != j->pfn && new_pfn != j->pfn)
			continue;
		c = json_deep_copy(e);
		if (!c)
			continue;
		json_object_set_new(c, "vm", json_string(t->vm));
		json_object_set_new(c, "role", json_string(cl_role__to_str(t->role)));
		json_array_append_new(j->offline, c);
	}
}

static void on_reply(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct job *j = arg;
	const struct target *t = &j->t[j->next - 1];

	if (j->cmd == CL_CMD_HOST_MEM_STATUS) {
		if (ret)
			merge_status(j, t, ret);
		else
			json_array_append_new(j->errors,
					      json_pack("{s:s, s:s, s:s}", "vm", t->vm, "role",
							cl_role__to_str(t->role), "error",
							error ? error : "no answer"));
		next(j);
		return;
	}
	if (ret) {
		finish_page(j, t, ret);
		return;
	}
	/* twin-vmm's classes (tools/control.c mem_failed): NotOwner is "not my frame". */
	if (cls && !strcmp(cls, "NotOwner") && json_object_get(j->args, "pfn")) {
		next(j);
		return;
	}
	/* The owner refused, or the request is wrong on any VM: that is the answer. */
	if (cls && !strcmp(cls, "InvalidParameter"))
		local_cmd__fail(j->ctx, j->id, "InvalidParameter", "%s", error);
	else
		local_cmd__fail(j->ctx, j->id, "GenericError", "VM %s (%s twin-vmm here): %s",
				t->vm, cl_role__to_str(t->role), error ? error : "no answer");
	job_free(j);
}

/* Asks the next target, or ends the job when none is left. */
static void next(struct job *j)
{
	while (j->next < j->n) {
		const struct target *t = &j->t[j->next++];
		json_t *args = j->args ? json_deep_copy(j->args) : NULL;
		int rc = supervisor__call(j->m->sup, t->vm, t->role, vmm_command(j->cmd), args,
					  HOST_MEM_CALL_MS, on_reply, j);

		if (!rc)
			return;
		/* Gone or not connected yet: not asked. */
		j->skipped += rc == -ENOTCONN;
		if (j->cmd == CL_CMD_HOST_MEM_STATUS && rc == -ENOTCONN)
			json_array_append_new(j->errors, json_pack("{s:s, s:s, s:s}", "vm", t->vm,
								   "role", cl_role__to_str(t->role),
								   "error", "not connected yet"));
	}
	if (j->cmd == CL_CMD_HOST_MEM_STATUS)
		finish_status(j);
	else
		finish_unowned(j);
}

/* --vm VM --gpa ADDR: that VM's twin-vmm here, its primary's if both roles are here. */
static void by_gpa(struct job *j, const char *vm)
{
	size_t pick = j->n;

	for (size_t i = 0; i < j->n; i++)
		if (!strcmp(j->t[i].vm, vm) && (pick == j->n || j->t[i].role == CL_ROLE_PRIMARY))
			pick = i;
	if (pick == j->n) {
		local_cmd__fail(j->ctx, j->id, "GenericError",
				"VM %s has no twin-vmm on this host: run the command on the host "
				"that runs it (twin status %s)",
				vm, vm);
		job_free(j);
		return;
	}
	j->t[0] = j->t[pick];
	j->n = 1;
	next(j);
}

void host_mem__run(struct local_ctx *ctx, const struct cl_request *req)
{
	struct host_mem *m = ctx->mem;
	struct job *j;

	if (!m) {
		local_cmd__fail(
		    ctx, req->id, "GenericError",
		    "%s: this twin-clusterd has no host memory state (host_mem__new was "
		    "not called): a build error, report it",
		    cl_cmd__to_str(req->cmd));
		return;
	}
	j = job_new(m, ctx, req->id, req->cmd);
	if (!j) {
		local_cmd__fail(ctx, req->id, "GenericError", "out of memory for the request");
		return;
	}
	j->pfn_set = req->pfn_set;
	j->pfn = req->pfn;
	supervisor__each(m->sup, add_target, j);
	if (req->cmd == CL_CMD_HOST_MEM_STATUS) {
		next(j);
		return;
	}
	j->args = req->pfn_set ? json_pack("{s:I}", "pfn", (json_int_t)req->pfn)
			       : json_pack("{s:I}", "gpa", (json_int_t)req->gpa);
	if (!j->args) {
		local_cmd__fail(ctx, req->id, "GenericError", "out of memory for the request");
		job_free(j);
		return;
	}
	if (req->pfn_set)
		next(j);
	else
		by_gpa(j, req->vm);
}

/* Every HOST_MEM_REFRESH_S: query-mem of each live twin-vmm into the cache. */
static void refresh(evutil_socket_t fd, short what, void *arg)
{
	struct host_mem *m = arg;
	struct job *j;

	if (m->refreshing)
		return;
	j = job_new(m, NULL, 0, CL_CMD_HOST_MEM_STATUS);
	if (!j)
		return;
	m->refreshing = true;
	supervisor__each(m->sup, add_target, j);
	next(j);
}

int host_mem__new(struct event_base *base, struct supervisor *sup, struct host_mem **out)
{
	struct host_mem *m = calloc(1, sizeof(*m));
	const struct timeval every = {.tv_sec = HOST_MEM_REFRESH_S};

	if (!m)
		return -ENOMEM;
	m->base = base;
	m->sup = sup;
	m->timer = event_new(base, -1, EV_PERSIST, refresh, m);
	if (!m->timer || event_add(m->timer, &every)) {
		host_mem__free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void host_mem__free(struct host_mem *m)
{
	if (!m)
		return;
	if (m->timer)
		event_free(m->timer);
	free(m->cache);
	free(m);
}

struct live_count {
	const struct host_mem *m;
	unsigned int n;
};

static void count_live(void *arg, const char *vm, enum cl_role role, pid_t pid)
{
	struct live_count *lc = arg;

	for (size_t i = 0; i < lc->m->ncache; i++) {
		const struct cached *c = &lc->m->cache[i];

		if (!strcmp(c->t.vm, vm) && c->t.role == role && c->t.pid == pid)
			lc->n += c->count;
	}
}

unsigned int host_mem__offline_count(const struct host_mem *m)
{
	struct live_count lc = {.m = m};

	if (m)
		supervisor__each(m->sup, count_live, &lc);
	return lc.n;
}
