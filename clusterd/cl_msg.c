/* twin-clusterd's CPG messages: JSON encode, strict decode, and the status JSON. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cl_msg.h"
#include "placement.h"

static const char *const msg_types[CL_MSG_NTYPES] = {
    [CL_MSG_HOST_INFO] = "host-info", [CL_MSG_STATE_SYNC] = "state-sync",
    [CL_MSG_REQUEST] = "request",     [CL_MSG_REPLY] = "reply",
    [CL_MSG_VM_REPORT] = "vm-report", [CL_MSG_BARRIER] = "barrier",
};

static const char *const reports[CL_REP_NKINDS] = {
    [CL_REP_STARTED] = "started",	  [CL_REP_SYNC_DONE] = "sync-done",
    [CL_REP_SYNC_FAILED] = "sync-failed", [CL_REP_ACTIVATED] = "activated",
    [CL_REP_STOPPED] = "stopped",	  [CL_REP_VMM_DIED] = "vmm-died",
    [CL_REP_STALLED] = "stalled",
};

static const char *const roles[] = {"none", "primary", "backup"};
static const char *const modes[] = {"epoch", "event", "hybrid"};
static const char *const host_states[] = {"offline", "online"};

const char *cl_msg_type__to_str(enum cl_msg_type t)
{
	return (unsigned)t < CL_MSG_NTYPES ? msg_types[t] : "?";
}

const char *cl_report__to_str(enum cl_report r)
{
	return (unsigned)r < CL_REP_NKINDS ? reports[r] : "?";
}

bool cl_msg__text_ok(const char *text, size_t max)
{
	size_t n = 0;

	for (const char *p = text; *p; p++, n++)
		if (!((*p >= 0x20 && *p < 0x7f) || *p == '\n' || *p == '\t'))
			return false;
	return n < max;
}

bool cl_msg__name_ok(const char *name, bool host)
{
	size_t n = strlen(name);

	if (n == 0 || n > CL_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';

		if (host)
			ok = ok || (*p >= 'A' && *p <= 'Z') || *p == '.' || *p == '_';
		if (!ok)
			return false;
	}
	return true;
}

/* ---- Encoding ---- */

static json_t *host_json(const struct cl_host *h, int slot)
{
	return json_pack("{s:i, s:I, s:s, s:s, s:i, s:I, s:s, s:I}", "i", slot, "node",
			 (json_int_t)h->nodeid, "name", h->name, "addr", h->repl_addr, "port_base",
			 (int)h->port_base, "free_mib", (json_int_t)h->free_mib, "state",
			 host_states[h->state], "info_version", (json_int_t)h->info_version);
}

static json_t *vm_json(const struct cl_vm *v, int slot)
{
	return json_pack("{s:i, s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:I, s:b, s:b, s:b, s:b, s:I, "
			 "s:I, s:I, s:I, s:I, s:I, s:b, s:I}",
			 "i", slot, "name", v->name, "config", v->config, "memory_mib",
			 (json_int_t)v->memory_mib, "state", cl_vm_state__to_str(v->state),
			 "primary", (json_int_t)v->primary, "backup", (json_int_t)v->backup, "mode",
			 modes[v->mode], "interval_ms", (json_int_t)v->interval_ms, "want_protect",
			 v->want_protect, "backup_ready", v->backup_ready, "awaiting_operator",
			 v->awaiting_operator, "forced", v->forced, "gen",
			 (json_int_t)v->generation, "primary_gen", (json_int_t)v->primary_gen,
			 "backup_gen", (json_int_t)v->backup_gen, "synced_version",
			 (json_int_t)v->synced_version, "stalled_gen", (json_int_t)v->stalled_gen,
			 "stall_ends", (json_int_t)v->stall_ends, "stall_hold", v->stall_hold,
			 "failovers", (json_int_t)v->failovers);
}

static json_t *cluster_obj(const struct cl_cluster *c)
{
	json_t *hosts = json_array(), *vms = json_array();

	for (int i = 0; i < CL_MAX_HOSTS; i++)
		if (c->hosts[i].nodeid)
			json_array_append_new(hosts, host_json(&c->hosts[i], i));
	for (int i = 0; i < CL_MAX_VMS; i++)
		if (c->vms[i].name[0])
			json_array_append_new(vms, vm_json(&c->vms[i], i));
	return json_pack("{s:I, s:I, s:I, s:o, s:o}", "version", (json_int_t)c->version, "ring",
			 (json_int_t)c->ring, "gen_floor", (json_int_t)c->gen_floor, "hosts", hosts,
			 "vms", vms);
}

static json_t *request_obj(const struct cl_request *r)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:I, s:b, s:b, s:s, s:I, s:s, s:b, s:b, s:s}", "id",
			 (json_int_t)r->id, "cmd", cl_cmd__to_str(r->cmd), "vm", r->vm, "config",
			 r->config, "memory_mib", (json_int_t)r->memory_mib, "protect", r->protect,
			 "mode_set", r->mode_set, "mode", modes[r->mode], "interval_ms",
			 (json_int_t)r->interval_ms, "peer", r->peer, "force", r->force, "host",
			 r->host, "host_name", r->host_name);
}

static json_t *body_obj(const struct cl_msg *m)
{
	json_t *members;

	switch (m->type) {
	case CL_MSG_HOST_INFO:
		return json_pack("{s:s, s:s, s:i, s:I}", "name", m->host.name, "addr",
				 m->host.repl_addr, "port_base", (int)m->host.port_base, "free_mib",
				 (json_int_t)m->host.free_mib);
	case CL_MSG_STATE_SYNC:
		members = json_array();
		for (int i = 0; i < m->sync.nmembers; i++)
			json_array_append_new(members, json_integer(m->sync.members[i]));
		return json_pack("{s:o, s:b, s:b, s:o}", "members", members, "initialized",
				 m->sync.initialized, "midway", m->sync.midway, "state",
				 cluster_obj(m->sync.cluster));
	case CL_MSG_REQUEST:
		return json_pack("{s:I, s:o}", "target", (json_int_t)m->request.target, "req",
				 request_obj(m->request.req));
	case CL_MSG_REPLY:
		return json_pack("{s:I, s:I, s:b, s:s, s:s}", "origin", (json_int_t)m->reply.origin,
				 "id", (json_int_t)m->reply.id, "ok", m->reply.ok, "class",
				 m->reply.err_class, "text", m->reply.text ? m->reply.text : "");
	case CL_MSG_VM_REPORT:
		return json_pack("{s:s, s:s, s:s, s:I}", "vm", m->report.vm, "what",
				 reports[m->report.what], "role", roles[m->report.role], "gen",
				 (json_int_t)m->report.gen);
	case CL_MSG_BARRIER:
		return json_pack("{s:I}", "seq", (json_int_t)m->barrier);
	default:
		return NULL;
	}
}

int cl_msg__encode(const struct cl_msg *msg, char **out, size_t *len)
{
	json_t *o;
	char *s;

	if ((unsigned)msg->type >= CL_MSG_NTYPES ||
	    (msg->type == CL_MSG_STATE_SYNC && !msg->sync.cluster) ||
	    (msg->type == CL_MSG_REQUEST && !msg->request.req))
		return -EINVAL;
	o = body_obj(msg);
	if (!o)
		return -ENOMEM;
	if (json_object_set_new(o, "v", json_integer(CL_MSG_VERSION)) ||
	    json_object_set_new(o, "type", json_string(msg_types[msg->type])) ||
	    json_object_set_new(o, "node", json_integer(msg->node))) {
		json_decref(o);
		return -ENOMEM;
	}
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	if (strlen(s) > CL_MSG_MAX) {
		free(s);
		return -E2BIG;
	}
	*out = s;
	*len = strlen(s);
	return 0;
}

char *cl_msg__cluster_json(const struct cl_cluster *c, bool pretty)
{
	json_t *o = cluster_obj(c);
	char *s = o ? json_dumps(o, pretty ? JSON_INDENT(1) : JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

/* ---- Strict decoding ---- */

struct dec {
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static bool fail(struct dec *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, d->errlen, fmt, ap);
	va_end(ap);
	/* One line of plain text, whatever the input's keys and tokens held. */
	for (char *p = d->err; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return false;
}

/*
 * Keys added to the state and the requests after their first layout: a state persisted
 * (or a peer's message) from before them decodes with their defaults (0, false, ""),
 * so an upgrade keeps every host's history.
 */
static const char *const later_keys[] = {
    "gen_floor",  "info_version", "synced_version", "stalled_gen", "stall_ends",
    "stall_hold", "failovers",	  "host_name",	    "midway",	   NULL};

static bool is_later_key(const char *key)
{
	for (size_t i = 0; later_keys[i]; i++)
		if (!strcmp(key, later_keys[i]))
			return true;
	return false;
}

/* Absent, and allowed to be (a later key): its field keeps its zero default. */
static bool absent(json_t *o, const char *key)
{
	return is_later_key(key) && !json_object_get(o, key);
}

/*
 * Every key of o is in allowed (NULL-terminated) and every allowed key is there (a later
 * key may be missing).
 */
static bool keys_exact(json_t *o, const char *const *allowed, const char *what, struct dec *d)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	if (!json_is_object(o))
		return fail(d, "%s: not a JSON object", what);
	json_object_foreach(o, key, v)
	{
		size_t i;

		for (i = 0; allowed[i]; i++)
			if (!strcmp(key, allowed[i]))
				break;
		if (!allowed[i])
			return fail(d, "%s: unknown key \"%.32s\"", what, key);
	}
	while (allowed[n])
		n++;
	for (size_t i = 0; i < n; i++)
		if (!json_object_get(o, allowed[i]) && !is_later_key(allowed[i]))
			return fail(d, "%s: missing key \"%s\"", what, allowed[i]);
	return true;
}

static bool get_uint(json_t *o, const char *key, uint64_t max, uint64_t *out, const char *what,
		     struct dec *d)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return fail(d, "%s: \"%s\" is not an integer in 0..%llu", what, key,
			    (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static bool get_u32(json_t *o, const char *key, uint64_t max, uint32_t *out, const char *what,
		    struct dec *d)
{
	uint64_t x;

	if (!get_uint(o, key, max, &x, what, d))
		return false;
	*out = (uint32_t)x;
	return true;
}

static bool get_bool(json_t *o, const char *key, bool *out, const char *what, struct dec *d)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		return fail(d, "%s: \"%s\" is not a boolean", what, key);
	*out = json_is_true(v);
	return true;
}

/* A string without NULs that fits buf (size with the NUL). */
static bool get_str(json_t *o, const char *key, char *buf, size_t size, const char *what,
		    struct dec *d)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!json_is_string(v))
		return fail(d, "%s: \"%s\" is not a string", what, key);
	n = json_string_length(v);
	if (n >= size || strlen(json_string_value(v)) != n)
		return fail(d, "%s: \"%s\" is longer than %zu bytes or holds a NUL", what, key,
			    size - 1);
	memcpy(buf, json_string_value(v), n + 1);
	return true;
}

static bool get_enum(json_t *o, const char *key, const char *const *names, int n, int *out,
		     const char *what, struct dec *d)
{
	const char *s = json_string_value(json_object_get(o, key));

	for (int i = 0; s && i < n; i++)
		if (names[i] && !strcmp(s, names[i])) {
			*out = i;
			return true;
		}
	return fail(d, "%s: \"%s\" is not one of its names", what, key);
}

static bool get_name(json_t *o, const char *key, char *buf, bool host, bool empty_ok,
		     const char *what, struct dec *d)
{
	if (!get_str(o, key, buf, CL_NAME_MAX + 1, what, d))
		return false;
	if (!(empty_ok && !buf[0]) && !cl_msg__name_ok(buf, host))
		return fail(d, "%s: \"%s\" is not a %s name", what, key, host ? "host" : "VM");
	return true;
}

static bool dec_host(json_t *o, struct cl_host *h, int *slot, struct dec *d)
{
	static const char *const keys[] = {"i",	       "node",	"name",		"addr", "port_base",
					   "free_mib", "state", "info_version", NULL};
	uint32_t i, port;
	int st;

	if (!keys_exact(o, keys, "host", d) || !get_u32(o, "i", CL_MAX_HOSTS - 1, &i, "host", d) ||
	    !get_u32(o, "node", UINT32_MAX, &h->nodeid, "host", d) ||
	    !get_name(o, "name", h->name, true, false, "host", d) ||
	    !get_str(o, "addr", h->repl_addr, sizeof(h->repl_addr), "host", d) ||
	    !get_u32(o, "port_base", UINT16_MAX, &port, "host", d) ||
	    !get_u32(o, "free_mib", UINT32_MAX, &h->free_mib, "host", d) ||
	    !get_enum(o, "state", host_states, 2, &st, "host", d) ||
	    !(absent(o, "info_version") ||
	      get_uint(o, "info_version", INT64_MAX, &h->info_version, "host", d)))
		return false;
	if (!h->nodeid)
		return fail(d, "host: node 0");
	h->port_base = (uint16_t)port;
	h->state = st;
	*slot = (int)i;
	return true;
}

static bool dec_vm(json_t *o, struct cl_vm *v, int *slot, struct dec *d)
{
	static const char *const keys[] = {"i",
					   "name",
					   "config",
					   "memory_mib",
					   "state",
					   "primary",
					   "backup",
					   "mode",
					   "interval_ms",
					   "want_protect",
					   "backup_ready",
					   "gen",
					   "primary_gen",
					   "backup_gen",
					   "awaiting_operator",
					   "forced",
					   "synced_version",
					   "stalled_gen",
					   "stall_ends",
					   "stall_hold",
					   "failovers",
					   NULL};
	static const char *states[CL_VM_NSTATES];
	uint32_t i;
	int st, mode;

	for (int k = 0; k < CL_VM_NSTATES; k++)
		states[k] = cl_vm_state__to_str(k);
	if (!keys_exact(o, keys, "vm", d) || !get_u32(o, "i", CL_MAX_VMS - 1, &i, "vm", d) ||
	    !get_name(o, "name", v->name, false, false, "vm", d) ||
	    !get_str(o, "config", v->config, sizeof(v->config), "vm", d) ||
	    !get_u32(o, "memory_mib", CL_MEMORY_MAX_MIB, &v->memory_mib, "vm", d) ||
	    !get_enum(o, "state", states, CL_VM_NSTATES, &st, "vm", d) ||
	    !get_u32(o, "primary", UINT32_MAX, &v->primary, "vm", d) ||
	    !get_u32(o, "backup", UINT32_MAX, &v->backup, "vm", d) ||
	    !get_enum(o, "mode", modes, 3, &mode, "vm", d) ||
	    !get_u32(o, "interval_ms", CL_INTERVAL_MAX_MS, &v->interval_ms, "vm", d) ||
	    !get_bool(o, "want_protect", &v->want_protect, "vm", d) ||
	    !get_bool(o, "backup_ready", &v->backup_ready, "vm", d) ||
	    !get_bool(o, "awaiting_operator", &v->awaiting_operator, "vm", d) ||
	    !get_bool(o, "forced", &v->forced, "vm", d) ||
	    !get_u32(o, "gen", UINT32_MAX, &v->generation, "vm", d) ||
	    !get_u32(o, "primary_gen", UINT32_MAX, &v->primary_gen, "vm", d) ||
	    !get_u32(o, "backup_gen", UINT32_MAX, &v->backup_gen, "vm", d) ||
	    !(absent(o, "synced_version") ||
	      get_uint(o, "synced_version", INT64_MAX, &v->synced_version, "vm", d)) ||
	    !(absent(o, "stalled_gen") ||
	      get_u32(o, "stalled_gen", UINT32_MAX, &v->stalled_gen, "vm", d)) ||
	    !(absent(o, "stall_ends") ||
	      get_u32(o, "stall_ends", UINT32_MAX, &v->stall_ends, "vm", d)) ||
	    !(absent(o, "stall_hold") || get_bool(o, "stall_hold", &v->stall_hold, "vm", d)) ||
	    !(absent(o, "failovers") ||
	      get_u32(o, "failovers", UINT32_MAX, &v->failovers, "vm", d)))
		return false;
	if (!cl_msg__text_ok(v->config, sizeof(v->config)))
		return fail(d, "vm: \"config\" holds a control character");
	if (v->primary && v->primary == v->backup)
		return fail(d, "vm: the primary is also the backup");
	v->state = st;
	v->mode = mode;
	*slot = (int)i;
	return true;
}

static bool dec_cluster(json_t *o, struct cl_cluster *c, struct dec *d)
{
	static const char *const keys[] = {"version", "ring", "gen_floor", "hosts", "vms", NULL};
	json_t *hosts, *vms, *e;
	size_t k;

	if (!keys_exact(o, keys, "state", d) ||
	    !get_uint(o, "version", INT64_MAX, &c->version, "state", d) ||
	    !get_uint(o, "ring", INT64_MAX, &c->ring, "state", d))
		return false;
	if (absent(o, "gen_floor")) {
		/* the first layout's ring was corosync's seq, not twice it (cl_cluster) */
		if (c->ring > INT64_MAX / 2)
			return fail(d, "state: \"ring\" out of range");
		c->ring *= 2;
	} else if (!get_u32(o, "gen_floor", UINT32_MAX, &c->gen_floor, "state", d)) {
		return false;
	}
	hosts = json_object_get(o, "hosts");
	vms = json_object_get(o, "vms");
	if (!json_is_array(hosts) || json_array_size(hosts) > CL_MAX_HOSTS || !json_is_array(vms) ||
	    json_array_size(vms) > CL_MAX_VMS)
		return fail(d, "state: \"hosts\" or \"vms\" is not an array of at most %d/%d",
			    CL_MAX_HOSTS, CL_MAX_VMS);
	json_array_foreach(hosts, k, e)
	{
		struct cl_host h = {0};
		int slot = 0;

		if (!dec_host(e, &h, &slot, d))
			return false;
		if (c->hosts[slot].nodeid)
			return fail(d, "host: slot %d twice", slot);
		for (int j = 0; j < CL_MAX_HOSTS; j++)
			if (c->hosts[j].nodeid == h.nodeid)
				return fail(d, "host: node %u twice", h.nodeid);
		c->hosts[slot] = h;
	}
	json_array_foreach(vms, k, e)
	{
		struct cl_vm *v = calloc(1, sizeof(*v));
		int slot = 0;
		bool ok = v && dec_vm(e, v, &slot, d);

		if (ok && c->vms[slot].name[0])
			ok = fail(d, "vm: slot %d twice", slot);
		for (int j = 0; ok && j < CL_MAX_VMS; j++)
			if (!strcmp(c->vms[j].name, v->name))
				ok = fail(d, "vm: \"%s\" twice", v->name);
		if (ok)
			c->vms[slot] = *v;
		else if (!v)
			fail(d, "out of memory");
		free(v);
		if (!ok)
			return false;
	}
	return true;
}

static bool dec_request(json_t *o, struct cl_request *r, struct dec *d)
{
	static const char *const keys[] = {
	    "id",   "cmd",	   "vm",   "config", "memory_mib", "protect",	"mode_set",
	    "mode", "interval_ms", "peer", "force",  "host",	   "host_name", NULL};
	static const char *cmds[CL_CMD_NCMDS];
	int cmd, mode;

	for (int k = 0; k < CL_CMD_NCMDS; k++)
		cmds[k] = cl_cmd__to_str(k);
	if (!keys_exact(o, keys, "request", d) ||
	    !get_uint(o, "id", INT64_MAX, &r->id, "request", d) ||
	    !get_enum(o, "cmd", cmds, CL_CMD_NCMDS, &cmd, "request", d) ||
	    !get_name(o, "vm", r->vm, false, true, "request", d) ||
	    !get_str(o, "config", r->config, sizeof(r->config), "request", d) ||
	    !get_u32(o, "memory_mib", CL_MEMORY_MAX_MIB, &r->memory_mib, "request", d) ||
	    !get_bool(o, "protect", &r->protect, "request", d) ||
	    !get_bool(o, "mode_set", &r->mode_set, "request", d) ||
	    !get_enum(o, "mode", modes, 3, &mode, "request", d) ||
	    !get_u32(o, "interval_ms", CL_INTERVAL_MAX_MS, &r->interval_ms, "request", d) ||
	    !get_name(o, "peer", r->peer, true, true, "request", d) ||
	    !get_bool(o, "force", &r->force, "request", d) ||
	    !get_bool(o, "host", &r->host, "request", d) ||
	    !(absent(o, "host_name") ||
	      get_name(o, "host_name", r->host_name, true, true, "request", d)))
		return false;
	if (!cl_msg__text_ok(r->config, sizeof(r->config)))
		return fail(d, "request: \"config\" holds a control character");
	r->cmd = cmd;
	r->mode = mode;
	return true;
}

static bool dec_members(json_t *a, struct cl_msg *m, struct dec *d)
{
	size_t k;
	json_t *e;

	if (!json_is_array(a) || json_array_size(a) < 1 || json_array_size(a) > CL_MAX_HOSTS)
		return fail(d, "state-sync: \"members\" is not an array of 1..%d", CL_MAX_HOSTS);
	json_array_foreach(a, k, e)
	{
		if (!json_is_integer(e) || json_integer_value(e) <= 0 ||
		    json_integer_value(e) > UINT32_MAX)
			return fail(d, "state-sync: a member is not a nodeid");
		m->sync.members[k] = (uint32_t)json_integer_value(e);
		if (k && m->sync.members[k] <= m->sync.members[k - 1])
			return fail(d, "state-sync: \"members\" is not sorted and unique");
	}
	m->sync.nmembers = (int)json_array_size(a);
	return true;
}

static bool dec_body(json_t *o, struct cl_msg *m, struct dec *d)
{
	static const char *const k_host[] = {"v",    "type",	  "node",     "name",
					     "addr", "port_base", "free_mib", NULL};
	static const char *const k_sync[] = {"v",	    "type",   "node",  "members",
					     "initialized", "midway", "state", NULL};
	static const char *const k_req[] = {"v", "type", "node", "target", "req", NULL};
	static const char *const k_reply[] = {"v",  "type",  "node", "origin", "id",
					      "ok", "class", "text", NULL};
	static const char *const k_rep[] = {"v", "type", "node", "vm", "what", "role", "gen", NULL};
	static const char *const k_bar[] = {"v", "type", "node", "seq", NULL};
	uint32_t port;
	int what, role;

	switch (m->type) {
	case CL_MSG_HOST_INFO:
		if (!keys_exact(o, k_host, "host-info", d) ||
		    !get_name(o, "name", m->host.name, true, false, "host-info", d) ||
		    !get_str(o, "addr", m->host.repl_addr, sizeof(m->host.repl_addr), "host-info",
			     d) ||
		    !get_u32(o, "port_base", UINT16_MAX, &port, "host-info", d) ||
		    !get_u32(o, "free_mib", UINT32_MAX, &m->host.free_mib, "host-info", d))
			return false;
		m->host.nodeid = m->node;
		m->host.port_base = (uint16_t)port;
		return true;
	case CL_MSG_STATE_SYNC:
		if (!keys_exact(o, k_sync, "state-sync", d) ||
		    !dec_members(json_object_get(o, "members"), m, d) ||
		    !get_bool(o, "initialized", &m->sync.initialized, "state-sync", d) ||
		    !(absent(o, "midway") ||
		      get_bool(o, "midway", &m->sync.midway, "state-sync", d)))
			return false;
		m->sync.cluster = calloc(1, sizeof(*m->sync.cluster));
		if (!m->sync.cluster)
			return fail(d, "out of memory");
		return dec_cluster(json_object_get(o, "state"), m->sync.cluster, d);
	case CL_MSG_REQUEST:
		if (!keys_exact(o, k_req, "request", d) ||
		    !get_u32(o, "target", UINT32_MAX, &m->request.target, "request", d))
			return false;
		m->request.req = calloc(1, sizeof(*m->request.req));
		if (!m->request.req)
			return fail(d, "out of memory");
		return dec_request(json_object_get(o, "req"), m->request.req, d);
	case CL_MSG_REPLY:
		if (!keys_exact(o, k_reply, "reply", d) ||
		    !get_u32(o, "origin", UINT32_MAX, &m->reply.origin, "reply", d) ||
		    !get_uint(o, "id", INT64_MAX, &m->reply.id, "reply", d) ||
		    !get_bool(o, "ok", &m->reply.ok, "reply", d) ||
		    !get_str(o, "class", m->reply.err_class, sizeof(m->reply.err_class), "reply",
			     d))
			return false;
		if (!json_is_string(json_object_get(o, "text")))
			return fail(d, "reply: \"text\" is not a string");
		m->reply.text = strdup(json_string_value(json_object_get(o, "text")));
		return m->reply.text ? true : fail(d, "out of memory");
	case CL_MSG_VM_REPORT:
		if (!keys_exact(o, k_rep, "vm-report", d) ||
		    !get_name(o, "vm", m->report.vm, false, false, "vm-report", d) ||
		    !get_enum(o, "what", reports, CL_REP_NKINDS, &what, "vm-report", d) ||
		    !get_enum(o, "role", roles, 3, &role, "vm-report", d) ||
		    !get_u32(o, "gen", UINT32_MAX, &m->report.gen, "vm-report", d))
			return false;
		if (role == CL_ROLE_NONE)
			return fail(d, "vm-report: role none");
		m->report.what = what;
		m->report.role = role;
		return true;
	case CL_MSG_BARRIER:
		return keys_exact(o, k_bar, "barrier", d) &&
		       get_uint(o, "seq", INT64_MAX, &m->barrier, "barrier", d);
	default:
		return fail(d, "unknown type");
	}
}

int cl_msg__decode(const void *data, size_t len, struct cl_msg *msg, char *err, size_t errlen)
{
	struct dec d = {err, errlen};
	json_error_t jerr;
	json_t *o;
	uint64_t v;
	int type;
	bool ok;

	memset(msg, 0, sizeof(*msg));
	if (errlen)
		err[0] = '\0';
	if (len > CL_MSG_MAX) {
		fail(&d, "message of %zu bytes: more than %u", len, CL_MSG_MAX);
		return -EBADMSG;
	}
	o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		fail(&d, "not JSON: %.80s", jerr.text);
		return -EBADMSG;
	}
	ok = json_is_object(o) || fail(&d, "not a JSON object");
	ok = ok && get_uint(o, "v", UINT32_MAX, &v, "message", &d);
	ok = ok && (v == CL_MSG_VERSION ||
		    fail(&d, "version %llu, not %d", (unsigned long long)v, CL_MSG_VERSION));
	ok = ok && get_enum(o, "type", msg_types, CL_MSG_NTYPES, &type, "message", &d);
	ok = ok && get_u32(o, "node", UINT32_MAX, &msg->node, "message", &d);
	ok = ok && (msg->node || fail(&d, "node 0"));
	if (ok) {
		msg->type = type;
		ok = dec_body(o, msg, &d);
	}
	json_decref(o);
	return ok ? 0 : -EBADMSG;
}

int cl_msg__cluster_from_json(const char *text, size_t len, struct cl_cluster *c, char *err,
			      size_t errlen)
{
	struct dec d = {err, errlen};
	json_error_t jerr;
	json_t *o;
	bool ok;

	memset(c, 0, sizeof(*c));
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		fail(&d, "not JSON: %.80s", jerr.text);
		return -EBADMSG;
	}
	ok = dec_cluster(o, c, &d);
	json_decref(o);
	if (!ok)
		memset(c, 0, sizeof(*c));
	return ok ? 0 : -EBADMSG;
}

void cl_msg__dispose(struct cl_msg *msg)
{
	switch (msg->type) {
	case CL_MSG_STATE_SYNC:
		free(msg->sync.cluster);
		msg->sync.cluster = NULL;
		break;
	case CL_MSG_REQUEST:
		free(msg->request.req);
		msg->request.req = NULL;
		break;
	case CL_MSG_REPLY:
		free(msg->reply.text);
		msg->reply.text = NULL;
		break;
	default:
		break;
	}
}

/* ---- Status JSON ---- */

static json_t *host_name_or_null(const struct cl_cluster *c, uint32_t node)
{
	for (int i = 0; node && i < CL_MAX_HOSTS; i++)
		if (c->hosts[i].nodeid == node)
			return json_string(c->hosts[i].name);
	return node ? json_sprintf("node %u", node) : json_null();
}

static json_t *vm_status(const struct cl_cluster *c, const struct cl_vm *v)
{
	return json_pack(
	    "{s:s, s:s, s:o, s:o, s:s, s:I, s:b, s:b, s:b, s:I, s:I, s:I}", "name", v->name,
	    "state", cl_vm_state__to_str(v->state), "primary", host_name_or_null(c, v->primary),
	    "backup", host_name_or_null(c, v->backup), "mode", modes[v->mode], "interval_ms",
	    (json_int_t)v->interval_ms, "protect", v->want_protect, "backup_ready", v->backup_ready,
	    "awaiting_operator", v->awaiting_operator, "generation", (json_int_t)v->generation,
	    "memory_mib", (json_int_t)v->memory_mib, "failovers", (json_int_t)v->failovers);
}

static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

char *cl_msg__vm_json(const struct cl_cluster *c, const struct cl_vm *vm)
{
	return dump(vm_status(c, vm));
}

char *cl_msg__vm_list_json(const struct cl_cluster *c)
{
	json_t *a = json_array();

	for (int i = 0; i < CL_MAX_VMS; i++)
		if (c->vms[i].name[0])
			json_array_append_new(a, vm_status(c, &c->vms[i]));
	return dump(a);
}

char *cl_msg__cluster_status_json(const struct cl_state *s)
{
	const struct cl_cluster *c = &s->cluster;
	json_t *members = json_array(), *hosts = json_array();

	for (int i = 0; i < s->local.nmembers; i++)
		json_array_append_new(
		    members, json_pack("{s:I, s:o}", "node", (json_int_t)s->local.members[i],
				       "name", host_name_or_null(c, s->local.members[i])));
	for (int i = 0; i < CL_MAX_HOSTS; i++) {
		const struct cl_host *h = &c->hosts[i];

		if (!h->nodeid)
			continue;
		json_array_append_new(hosts,
				      json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:i}", "name",
						h->name, "node", (json_int_t)h->nodeid, "state",
						host_states[h->state], "addr", h->repl_addr,
						"free_mib", (json_int_t)h->free_mib, "promised_mib",
						(json_int_t)placement__promised_mib(c, h->nodeid),
						"protected_vms", placement__load(c, h->nodeid)));
	}
	return dump(
	    json_pack("{s:I, s:s, s:b, s:b, s:b, s:I, s:I, s:o, s:b, s:I, s:o}", "node",
		      (json_int_t)s->local.nodeid, "name", s->local.name, "quorate",
		      s->local.vq_quorate && s->local.stream_quorate && s->local.initialized,
		      "initialized", s->local.initialized, "votequorum_quorate",
		      s->local.vq_quorate, "votes", (json_int_t)s->local.votes, "expected_votes",
		      (json_int_t)s->local.expected_votes, "members", members, "syncing",
		      s->local.syncing, "version", (json_int_t)c->version, "hosts", hosts));
}
