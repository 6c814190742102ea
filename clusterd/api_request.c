/* The clusterd socket's protocol: a table of commands and their arguments, checked strictly. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "api_request.h"
#include "vmcfg.h"

struct command {
	enum cl_cmd cmd;
	const char *const *args; /* the argument names it takes, NULL-terminated */
	bool needs_vm;
};

static const char *const no_args[] = {NULL};
static const char *const vm_arg[] = {"vm", NULL};
static const char *const start_args[] = {"config", "path", NULL};
static const char *const protect_args[] = {"vm", "peer", "mode", "interval_ms", NULL};
static const char *const failover_args[] = {"vm", "force", NULL};
static const char *const drill_args[] = {"vm", "host", NULL};
static const char *const host_arg[] = {"host", NULL};
static const char *const cpu_offline_args[] = {"cpu", "hotplug", NULL};
static const char *const cpu_arg[] = {"cpu", NULL};
static const char *const mem_move_args[] = {"pfn", "vm", "gpa", NULL};
static const char *const pfn_arg[] = {"pfn", NULL};
static const char *const peek_args[] = {"vm", "gpa", "len", NULL};
static const char *const regs_args[] = {"vm", "vcpu", NULL};

static const struct command commands[] = {
    {CL_CMD_VM_START, start_args, false},
    {CL_CMD_VM_STOP, vm_arg, true},
    {CL_CMD_VM_LIST, no_args, false},
    {CL_CMD_PROTECT, protect_args, true},
    {CL_CMD_UNPROTECT, vm_arg, true},
    {CL_CMD_FAILOVER, failover_args, true},
    {CL_CMD_STATUS, vm_arg, false},
    {CL_CMD_CLUSTER_STATUS, no_args, false},
    {CL_CMD_DRILL, drill_args, true},
    {CL_CMD_VM_FORGET, vm_arg, true},
    {CL_CMD_HOST_FORGET, host_arg, false},
    {CL_CMD_HOST_CPUS, no_args, false},
    {CL_CMD_HOST_CPU_OFFLINE, cpu_offline_args, false},
    {CL_CMD_HOST_CPU_ONLINE, cpu_arg, false},
    {CL_CMD_HOST_MEM_OFFLINE, mem_move_args, false},
    {CL_CMD_HOST_MEM_ONLINE, mem_move_args, false},
    {CL_CMD_HOST_MEM_STATUS, pfn_arg, false},
    {CL_CMD_VM_PEEK, peek_args, true},
    {CL_CMD_VM_REGS, regs_args, true},
};

static int __attribute__((format(printf, 3, 4)))
fail(struct api_error *e, const char *cls, const char *fmt, ...)
{
	va_list ap;

	e->cls = cls;
	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
	/* What the client sent is echoed: its control characters never reach a terminal. */
	for (char *c = e->desc; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return -EINVAL;
}

static int check_args(const struct command *c, json_t *args, struct api_error *e)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v)
	{
		bool known = false;

		for (const char *const *a = c->args; *a; a++)
			known |= !strcmp(*a, key);
		if (!known)
			return fail(e, "InvalidParameter", "%s: unknown argument \"%.64s\"",
				    cl_cmd__to_str(c->cmd), key);
	}
	return 0;
}

static int string_arg(json_t *args, const char *cmd, const char *key, char *out, size_t size,
		      bool required, struct api_error *e)
{
	json_t *v = json_object_get(args, key);

	if (!v && !required)
		return 0;
	if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= size)
		return fail(e, "InvalidParameter", "%s: \"%s\" must be a string of 1 to %zu bytes",
			    cmd, key, size - 1);
	strcpy(out, json_string_value(v));
	return 0;
}

static int bool_arg(json_t *args, const char *cmd, const char *key, bool *out, struct api_error *e)
{
	json_t *v = json_object_get(args, key);

	if (v && !json_is_boolean(v))
		return fail(e, "InvalidParameter", "%s: \"%s\" must be true or false", cmd, key);
	*out = json_is_true(v);
	return 0;
}

/* An integer argument from min to max: 0 and *set; absent: 0 (an error if required). */
static int uint_arg(json_t *args, const char *cmd, const char *key, uint64_t min, uint64_t max,
		    bool required, uint64_t *out, bool *set, struct api_error *e)
{
	json_t *v = json_object_get(args, key);

	if (!v && !required)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
		return fail(e, "InvalidParameter",
			    "%s: \"%s\" must be an integer from %llu to %llu", cmd, key,
			    (unsigned long long)min, (unsigned long long)max);
	*out = json_integer_value(v);
	if (set)
		*set = true;
	return 0;
}

/* host-mem-offline, host-mem-online: a host frame, or a VM's guest address, not both. */
static int mem_move_request(json_t *args, const char *name, struct cl_request *req,
			    struct api_error *e)
{
	if (uint_arg(args, name, "pfn", 0, API_PFN_MAX, false, &req->pfn, &req->pfn_set, e) ||
	    uint_arg(args, name, "gpa", 0, API_GPA_MAX, false, &req->gpa, &req->gpa_set, e))
		return -EINVAL;
	if (req->pfn_set && (req->gpa_set || req->vm[0]))
		return fail(e, "InvalidParameter",
			    "%s: give \"pfn\", or \"vm\" and \"gpa\", not both", name);
	if (!req->pfn_set && (!req->gpa_set || !req->vm[0]))
		return fail(e, "InvalidParameter",
			    "%s: give \"pfn\" (a host frame), or \"vm\" and \"gpa\" (a guest "
			    "address)",
			    name);
	return 0;
}

/* The new local commands' and forget's arguments. */
static int host_request(const struct command *c, json_t *args, struct cl_request *req,
			struct api_error *e)
{
	const char *name = cl_cmd__to_str(c->cmd);
	bool set = false;
	uint64_t n = 0;

	switch (c->cmd) {
	case CL_CMD_HOST_FORGET:
		return string_arg(args, name, "host", req->host_name, sizeof(req->host_name), true,
				  e);
	case CL_CMD_HOST_CPU_OFFLINE:
		if (bool_arg(args, name, "hotplug", &req->hotplug, e))
			return -EINVAL;
		/* fallthrough */
	case CL_CMD_HOST_CPU_ONLINE:
		if (uint_arg(args, name, "cpu", 0, API_CPU_MAX - 1, true, &n, NULL, e))
			return -EINVAL;
		req->cpu = n;
		return 0;
	case CL_CMD_HOST_MEM_OFFLINE:
	case CL_CMD_HOST_MEM_ONLINE:
		return mem_move_request(args, name, req, e);
	case CL_CMD_HOST_MEM_STATUS:
		return uint_arg(args, name, "pfn", 0, API_PFN_MAX, false, &req->pfn, &req->pfn_set,
				e);
	case CL_CMD_VM_PEEK:
		if (uint_arg(args, name, "gpa", 0, API_GPA_MAX, true, &req->gpa, &req->gpa_set,
			     e) ||
		    uint_arg(args, name, "len", 1, API_PEEK_MAX, true, &n, NULL, e))
			return -EINVAL;
		req->len = n;
		return 0;
	case CL_CMD_VM_REGS:
		if (uint_arg(args, name, "vcpu", 0, API_VCPU_MAX, false, &n, &set, e))
			return -EINVAL;
		req->vcpu = set ? (int32_t)n : -1;
		return 0;
	default:
		return 0;
	}
}

/*
 * The VM config of vm-start: its text (the CLI sends it with the file's path, which then
 * names it in errors), or only a path clusterd reads (a bare NAME: VM_CONFIGS/NAME.cfg).
 */
static int start_request(json_t *args, const char *vm_configs, struct cl_request *req,
			 struct api_error *e)
{
	json_t *text = json_object_get(args, "config"), *path = json_object_get(args, "path");
	const char *p = json_string_value(path);
	char file[4096], err[512], *loaded = NULL;
	struct vmcfg cfg;
	enum cl_mode mode;
	int rc;

	if (!text && !path)
		return fail(e, "InvalidParameter",
			    "vm-start: give \"config\" (the text) or \"path\" (a file)");
	if (path && (!p || !*p))
		return fail(e, "InvalidParameter", "vm-start: \"path\" must be a file name");
	if (text && !json_is_string(text))
		return fail(e, "InvalidParameter", "vm-start: \"config\" must be a string");
	if (text) {
		rc = vmcfg__parse_text(json_string_value(text), json_string_length(text),
				       p ?: "(config)", &cfg, err, sizeof(err));
	} else if (strchr(p, '/') && p[0] != '/') {
		return fail(e, "InvalidParameter",
			    "vm-start: \"path\" %.256s must be absolute: clusterd does not share "
			    "the client's working directory",
			    p);
	} else {
		if (strchr(p, '/'))
			snprintf(file, sizeof(file), "%s", p);
		else
			snprintf(file, sizeof(file), "%s/%s.cfg", vm_configs, p);
		rc = vmcfg__load(file, &cfg, &loaded, err, sizeof(err));
	}
	if (rc) {
		free(loaded);
		return fail(e, "InvalidParameter", "vm-start: %s", err);
	}
	if (strlen(loaded ?: json_string_value(text)) >= sizeof(req->config)) {
		free(loaded);
		return fail(e, "InvalidParameter",
			    "vm-start: the config is over %zu bytes: the cluster carries at most "
			    "that: shorten it",
			    sizeof(req->config) - 1);
	}
	strcpy(req->config, loaded ?: json_string_value(text));
	free(loaded);
	snprintf(req->vm, sizeof(req->vm), "%s", cfg.name);
	req->memory_mib = cfg.memory_mib;
	req->protect = cfg.protect;
	req->mode_set = !cl_mode__from_str(vmcfg__mode_to_str(cfg.mode), &mode);
	req->mode = mode;
	req->interval_ms = cfg.interval_ms;
	return 0;
}

static int protect_request(json_t *args, struct cl_request *req, struct api_error *e)
{
	json_t *mode = json_object_get(args, "mode"), *iv = json_object_get(args, "interval_ms");

	if (string_arg(args, "protect", "peer", req->peer, sizeof(req->peer), false, e))
		return -EINVAL;
	if (mode) {
		if (!json_is_string(mode) || cl_mode__from_str(json_string_value(mode), &req->mode))
			return fail(e, "InvalidParameter",
				    "protect: \"mode\" must be \"epoch\", \"event\" or \"hybrid\"");
		req->mode_set = true;
	}
	if (iv) {
		if (!json_is_integer(iv) || json_integer_value(iv) < 1 ||
		    json_integer_value(iv) > CL_INTERVAL_MAX_MS)
			return fail(e, "InvalidParameter",
				    "protect: \"interval_ms\" must be an integer from 1 to %d",
				    CL_INTERVAL_MAX_MS);
		req->interval_ms = json_integer_value(iv);
	}
	return 0;
}

static int decode(const struct command *c, json_t *args, const char *vm_configs,
		  struct cl_request *req, struct api_error *e)
{
	const char *name = cl_cmd__to_str(c->cmd);

	if (check_args(c, args, e))
		return -EINVAL;
	if (string_arg(args, name, "vm", req->vm, sizeof(req->vm), c->needs_vm, e))
		return -EINVAL;
	switch (c->cmd) {
	case CL_CMD_VM_START:
		return start_request(args, vm_configs, req, e);
	case CL_CMD_PROTECT:
		return protect_request(args, req, e);
	case CL_CMD_FAILOVER:
		return bool_arg(args, name, "force", &req->force, e);
	case CL_CMD_DRILL:
		return bool_arg(args, name, "host", &req->host, e);
	default:
		return host_request(c, args, req, e);
	}
}

int api_request__parse(const char *line, size_t len, const char *vm_configs, struct cl_request *req,
		       json_t **id, struct api_error *e)
{
	uint64_t keep_id = req->id;
	json_t *r, *exec, *args;
	json_error_t jerr;
	enum cl_cmd cmd;
	int rc = -EINVAL;

	*id = NULL;
	if (len > API_LINE_MAX)
		return fail(e, "GenericError", "request line longer than %d bytes", API_LINE_MAX);
	r = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(r)) {
		json_decref(r);
		return fail(e, "GenericError",
			    "the request is not a JSON object: send {\"execute\": CMD, "
			    "\"arguments\": {...}}");
	}
	*id = json_incref(json_object_get(r, "id"));
	exec = json_object_get(r, "execute");
	args = json_object_get(r, "arguments");
	if (!json_is_string(exec)) {
		fail(e, "GenericError", "the request has no \"execute\" string: name a command");
	} else if (cl_cmd__from_str(json_string_value(exec), &cmd)) {
		fail(e, "CommandNotFound",
		     "the command %.64s was not found: use vm-start, vm-stop, vm-list, protect, "
		     "unprotect, failover, status, cluster-status, drill, vm-forget, host-forget, "
		     "host-cpus, host-cpu-offline, host-cpu-online, host-mem-offline, "
		     "host-mem-online, host-mem-status, vm-peek or vm-regs",
		     json_string_value(exec));
	} else if (args && !json_is_object(args)) {
		fail(e, "InvalidParameter", "\"arguments\" must be an object");
	} else {
		*req = (struct cl_request){.id = keep_id, .cmd = cmd};
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (commands[i].cmd == cmd)
				rc = decode(&commands[i], args, vm_configs, req, e);
	}
	json_decref(r);
	return rc;
}

static char *line_of(json_t *body, const char *key, json_t *id)
{
	json_t *r = json_object();
	char *s = NULL;

	if (r && body) {
		json_object_set(r, key, body);
		if (id)
			json_object_set(r, "id", id);
		s = json_dumps(r, JSON_COMPACT);
	}
	json_decref(r);
	json_decref(body);
	return s;
}

char *api_request__reply(json_t *ret, json_t *id)
{
	return line_of(ret, "return", id);
}

char *api_request__error(const char *cls, const char *desc, json_t *id)
{
	return line_of(json_pack("{s:s, s:s}", "class", cls, "desc", desc), "error", id);
}

char *api_request__greeting(void)
{
	return line_of(json_pack("{s:s, s:i, s:s}", "version", PACKAGE_VERSION, "protocol",
				 API_PROTOCOL, "service", "clusterd"),
		       "twin", NULL);
}
