/* twin-clusterd's host memory commands: asks the local twin-vmms in turn, merges their answers. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
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

/*
 * A quarantined frame's hold pipe, opened by clusterd (page_offline.h): its buffer's page
 * reference keeps the frame allocated after the twin-vmm that retired it exits.
 */
struct kept {
	struct target t; /* the twin-vmm that retired it: that process */
	uint64_t pfn, gpa, new_pfn, since, ino;
	int fd;
	bool orphan; /* t's twin-vmm exited: clusterd alone holds the frame */
};

struct host_mem {
	struct event_base *base;
	struct supervisor *sup;
	struct event *timer; /* the periodic refresh */
	bool refreshing;
	struct cached *cache;
	size_t ncache;
	struct kept *kept; /* oldest first */
	size_t nkept;
};

#define ORPHAN_STATE "held by clusterd: the VM's twin-vmm exited"

struct live_find {
	const struct target *t;
	bool found;
};

static void find_live(void *arg, const char *vm, enum cl_role role, pid_t pid)
{
	struct live_find *lf = arg;

	lf->found |= !strcmp(lf->t->vm, vm) && lf->t->role == role && lf->t->pid == pid;
}

/* Whether t's twin-vmm (that very process) is still live here. */
static bool vmm_live(struct host_mem *m, const struct target *t)
{
	struct live_find lf = {.t = t};

	supervisor__each(m->sup, find_live, &lf);
	return lf.found;
}

static void kept_drop(struct host_mem *m, size_t i, const char *why)
{
	struct kept *k = &m->kept[i];

	clog__info("host mem: PFN 0x%" PRIx64 " (GPA 0x%" PRIx64 " of VM %s, twin-vmm pid %d) "
		   "no longer held by clusterd: %s",
		   k->pfn, k->gpa, k->t.vm, (int)k->t.pid, why);
	close(k->fd);
	memmove(k, k + 1, (m->nkept - i - 1) * sizeof(*k));
	m->nkept--;
}

/* A live twin-vmm's frame: never an orphan's, should a new twin-vmm reuse its pid. */
static struct kept *kept_find(struct host_mem *m, pid_t pid, uint64_t pfn)
{
	for (size_t i = 0; i < m->nkept; i++)
		if (!m->kept[i].orphan && m->kept[i].t.pid == pid && m->kept[i].pfn == pfn)
			return &m->kept[i];
	return NULL;
}

/* Marks (and logs) the frames whose twin-vmm has exited since the last look. */
static void mark_orphans(struct host_mem *m)
{
	for (size_t i = 0; i < m->nkept; i++) {
		struct kept *k = &m->kept[i];

		if (k->orphan || vmm_live(m, &k->t))
			continue;
		k->orphan = true;
		clog__warn("host mem: VM %s's twin-vmm (pid %d) exited: PFN 0x%" PRIx64
			   " (its GPA 0x%" PRIx64 ") stays held by clusterd; twin host mem-online "
			   "0x%" PRIx64 " gives it back to the kernel",
			   k->t.vm, (int)k->t.pid, k->pfn, k->gpa, k->pfn);
	}
}

static uint64_t u64(json_t *o, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(o, key));
}

int host_mem__open_hold(pid_t pid, int fd, uint64_t ino, int *out)
{
	char path[64];
	struct stat st;
	int rc = 0, got;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	/* O_NONBLOCK: opening a FIFO that has no writer never waits. */
	got = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (got < 0)
		return -errno;
	if (fstat(got, &st))
		rc = -errno;
	else if (!S_ISFIFO(st.st_mode) || (uint64_t)st.st_ino != ino)
		rc = -ESTALE;
	if (rc)
		close(got);
	else
		*out = got;
	return rc;
}

/*
 * Opens the hold pipe that t's query-mem entry (or mem-offline reply) e names, unless
 * clusterd has it already.
 */
static void adopt(struct host_mem *m, const struct target *t, json_t *e)
{
	json_t *jfd = json_object_get(e, "hold_fd");
	uint64_t pfn = u64(e, "old_pfn"), ino = u64(e, "hold_ino");
	struct kept *k = kept_find(m, t->pid, pfn), *grown;
	char path[64];
	int fd = -1, rc;

	if (k && k->ino == ino)
		return;
	if (k) /* brought online and retired again since: a new pipe */
		kept_drop(m, (size_t)(k - m->kept), "its twin-vmm holds it with a new pipe");
	if (!json_is_integer(jfd) || json_integer_value(jfd) < 0 || !ino)
		return; /* twin-vmm could not hold it: nothing to keep (its log says why) */
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)t->pid, (int)json_integer_value(jfd));
	rc = host_mem__open_hold(t->pid, (int)json_integer_value(jfd), ino, &fd);
	if (rc == -ESTALE) {
		clog__warn("host mem: refused to keep PFN 0x%" PRIx64 " of VM %s: %s is not the "
			   "hold pipe twin-vmm named (a FIFO with inode %" PRIu64 "): a twin-vmm "
			   "bug or a race with its fds; the next refresh tries again",
			   pfn, t->vm, path, ino);
		return;
	}
	if (rc) {
		clog__warn("host mem: cannot keep PFN 0x%" PRIx64 " of VM %s held: opening %s "
			   "failed: %s; it stays held only while that twin-vmm runs (clusterd "
			   "needs root, or CAP_SYS_PTRACE over the twin-vmm)",
			   pfn, t->vm, path, strerror(-rc));
		return;
	}
	grown = realloc(m->kept, (m->nkept + 1) * sizeof(*grown));
	if (!grown) {
		clog__warn("host mem: out of memory to keep PFN 0x%" PRIx64 " held", pfn);
		close(fd);
		return;
	}
	m->kept = grown;
	m->kept[m->nkept++] = (struct kept){
	    .t = *t,
	    .pfn = pfn,
	    .gpa = u64(e, "gpa"),
	    .new_pfn = u64(e, "new_pfn"),
	    .since = json_object_get(e, "since") ? u64(e, "since") : (uint64_t)time(NULL),
	    .ino = ino,
	    .fd = fd};
	clog__info("host mem: PFN 0x%" PRIx64 " (GPA 0x%" PRIx64 " of VM %s) held by clusterd "
		   "too (%s): it stays out of use if that twin-vmm exits",
		   pfn, u64(e, "gpa"), t->vm, path);
}

/* t answered query-mem with list: its frames not in it were brought back online. */
static void reconcile(struct host_mem *m, const struct target *t, json_t *list)
{
	json_t *e;
	size_t i, j;

	mark_orphans(m);
	for (i = m->nkept; i-- > 0;) {
		bool listed = false;

		if (m->kept[i].orphan || m->kept[i].t.pid != t->pid ||
		    strcmp(m->kept[i].t.vm, t->vm))
			continue;
		json_array_foreach(list, j, e) listed |= u64(e, "old_pfn") == m->kept[i].pfn;
		if (!listed)
			kept_drop(m, i, "its twin-vmm brought the page back online");
	}
	json_array_foreach(list, j, e) adopt(m, t, e);
}

/* The frames clusterd alone holds, as mem-status entries (only pfn's if pfn_set). */
static void orphans_status(struct host_mem *m, bool pfn_set, uint64_t pfn, json_t *out)
{
	mark_orphans(m);
	for (size_t i = 0; i < m->nkept; i++) {
		const struct kept *k = &m->kept[i];

		if (!k->orphan || (pfn_set && k->pfn != pfn && k->new_pfn != pfn))
			continue;
		json_array_append_new(
		    out, json_pack("{s:I, s:I, s:I, s:I, s:b, s:s, s:s, s:s, s:i}", "gpa",
				   (json_int_t)k->gpa, "old_pfn", (json_int_t)k->pfn, "new_pfn",
				   (json_int_t)k->new_pfn, "since", (json_int_t)k->since, "held",
				   true, "vm", k->t.vm, "role", cl_role__to_str(k->t.role), "state",
				   ORPHAN_STATE, "exited_pid", (int)k->t.pid));
	}
}

/* mem-online of a frame clusterd alone holds: closes its pipe.  False: none such. */
static bool release_orphan(struct local_ctx *ctx, uint64_t id, struct host_mem *m, const char *vm,
			   uint64_t pfn, uint64_t gpa)
{
	mark_orphans(m);
	for (size_t i = 0; i < m->nkept; i++) {
		const struct kept *k = &m->kept[i];
		json_t *r;

		if (!k->orphan || (vm ? strcmp(k->t.vm, vm) || k->gpa != gpa : k->pfn != pfn))
			continue;
		r = json_pack("{s:I, s:I, s:s, s:s, s:b}", "gpa", (json_int_t)k->gpa, "pfn",
			      (json_int_t)k->pfn, "vm", k->t.vm, "role", cl_role__to_str(k->t.role),
			      "released", true);
		kept_drop(m, i,
			  "released by mem-online (its twin-vmm had exited): the kernel "
			  "may reuse it");
		if (r)
			local_cmd__reply(ctx, id, r);
		else
			local_cmd__fail(ctx, id, "GenericError", "out of memory for the reply");
		return true;
	}
	return false;
}

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
	if (j->cmd == CL_CMD_HOST_MEM_OFFLINE) {
		adopt(j->m, t, ret);
	} else {
		struct kept *k = kept_find(j->m, t->pid, u64(ret, "pfn"));

		if (k)
			kept_drop(j->m, (size_t)(k - j->m->kept), "brought back online in its VM");
	}
	json_object_del(r, "hold_fd"); /* twin-vmm's fd numbers mean nothing to the caller */
	json_object_del(r, "hold_ino");
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
		mark_orphans(j->m);
		job_free(j);
		return;
	}
	orphans_status(j->m, j->pfn_set, j->pfn, j->offline);
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
	reconcile(j->m, t, list);
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
		json_object_set_new(c, "clusterd_holds",
				    json_boolean(kept_find(j->m, t->pid, old_pfn) != NULL));
		json_object_del(c, "hold_fd");
		json_object_del(c, "hold_ino");
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
	if (pick == j->n && j->cmd == CL_CMD_HOST_MEM_ONLINE &&
	    release_orphan(j->ctx, j->id, j->m, vm, 0, u64(j->args, "gpa"))) {
		job_free(j);
		return;
	}
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
	if (req->pfn_set && req->cmd == CL_CMD_HOST_MEM_ONLINE &&
	    release_orphan(ctx, req->id, m, NULL, req->pfn, 0))
		job_free(j);
	else if (req->pfn_set)
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
	mark_orphans(m);
	for (size_t i = 0; i < m->nkept; i++) {
		const struct kept *k = &m->kept[i];

		clog__warn("host mem: clusterd exits: PFN 0x%" PRIx64 " (GPA 0x%" PRIx64
			   " of VM %s) is no longer held by clusterd: %s; "
			   "memmap= at boot or soft_offline_page keeps it out of use for good",
			   k->pfn, k->gpa, k->t.vm,
			   k->orphan ? "it goes back to the kernel now"
				     : "its twin-vmm still holds it, until that exits");
		close(k->fd);
	}
	free(m->kept);
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

	if (!m)
		return 0;
	supervisor__each(m->sup, count_live, &lc);
	/* Plus the frames clusterd alone holds: their twin-vmm is not counted above. */
	for (size_t i = 0; i < m->nkept; i++) {
		struct live_find lf = {.t = &m->kept[i].t};

		supervisor__each(m->sup, find_live, &lf);
		lc.n += !lf.found;
	}
	return lc.n;
}
