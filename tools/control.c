/* twin-vmm's control protocol: parses a request, dispatches it, builds the reply. */
#include <string.h>
#include <jansson.h>
#include "config.h"
#include "control.h"

#define NOT_YET "not implemented yet (issue 4)"

struct command {
	const char *name;
	bool takes_arguments; /* else a non-empty "arguments" is InvalidParameter */
	/* Returns the "return" object, or NULL after filling *err_class and *err_desc. */
	json_t *(*run)(const struct control_ops *ops, const char **err_class,
		       const char **err_desc);
};

static json_t *status_object(const struct control_ops *ops)
{
	bool running = ops->running(ops->opaque);

	return json_pack("{s:s, s:b}", "status", running ? "running" : "paused", "running",
			 running);
}

static json_t *cmd_query_status(const struct control_ops *ops, const char **cls, const char **desc)
{
	return status_object(ops);
}

/* Like QMP, stop on a paused VM and cont on a running one succeed and change nothing. */
static json_t *cmd_stop(const struct control_ops *ops, const char **cls, const char **desc)
{
	if (ops->running(ops->opaque))
		ops->stop(ops->opaque);
	return json_object();
}

static json_t *cmd_cont(const struct control_ops *ops, const char **cls, const char **desc)
{
	if (!ops->running(ops->opaque))
		ops->cont(ops->opaque);
	return json_object();
}

static json_t *cmd_quit(const struct control_ops *ops, const char **cls, const char **desc)
{
	ops->quit(ops->opaque);
	return json_object();
}

/* save, migrate and friends are named now so clients see a clear answer, not CommandNotFound. */
static json_t *cmd_not_yet(const struct control_ops *ops, const char **cls, const char **desc)
{
	*cls = "NotSupported";
	*desc = NOT_YET;
	return NULL;
}

/* save and migrate will take arguments (a file, a URI); they are not checked until then. */
static const struct command commands[] = {
    {"query-status", false, cmd_query_status},
    {"stop", false, cmd_stop},
    {"cont", false, cmd_cont},
    {"quit", false, cmd_quit},
    {"save", true, cmd_not_yet},
    {"migrate", true, cmd_not_yet},
    {"query-migrate", false, cmd_not_yet},
    {"migrate-cancel", false, cmd_not_yet},
};

static char *reply(json_t *body_key_value, const char *key, json_t *id)
{
	json_t *r = json_object();
	char *s = NULL;

	if (!r || !body_key_value)
		goto out;
	json_object_set(r, key, body_key_value);
	if (id)
		json_object_set(r, "id", id);
	s = json_dumps(r, JSON_COMPACT);
out:
	json_decref(r);
	json_decref(body_key_value);
	return s;
}

static char *error_reply(const char *cls, const char *desc, json_t *id)
{
	return reply(json_pack("{s:s, s:s}", "class", cls, "desc", desc), "error", id);
}

char *control__greeting(void)
{
	return reply(
	    json_pack("{s:s, s:i}", "version", PACKAGE_VERSION, "protocol", CONTROL_PROTOCOL),
	    "twin", NULL);
}

char *control__handle_line(const struct control_ops *ops, const char *line, size_t len)
{
	const char *cls = "GenericError", *desc;
	const struct command *cmd = NULL;
	json_t *req = NULL, *id = NULL, *exec, *args, *ret;
	json_error_t jerr;
	char *out;
	char buf[256];

	if (len > CONTROL_LINE_MAX) {
		snprintf(buf, sizeof(buf), "request line longer than %d bytes: send shorter lines",
			 CONTROL_LINE_MAX);
		return error_reply(cls, buf, NULL);
	}
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		snprintf(buf, sizeof(buf), "request is not JSON: %.160s at column %d", jerr.text,
			 jerr.column);
		return error_reply(cls, buf, NULL);
	}
	if (!json_is_object(req)) {
		out = error_reply(cls, "request is not a JSON object: send {\"execute\": NAME}",
				  NULL);
		goto out;
	}
	id = json_object_get(req, "id");
	exec = json_object_get(req, "execute");
	args = json_object_get(req, "arguments");
	if (!exec) {
		out = error_reply(cls, "request has no \"execute\": name a command", id);
		goto out;
	}
	if (!json_is_string(exec)) {
		out = error_reply("InvalidParameter", "\"execute\" must be a string", id);
		goto out;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(json_string_value(exec), commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		snprintf(buf, sizeof(buf), "the command %.64s was not found: see README",
			 json_string_value(exec));
		out = error_reply("CommandNotFound", buf, id);
		goto out;
	}
	if (args && !json_is_object(args)) {
		out = error_reply("InvalidParameter", "\"arguments\" must be an object", id);
		goto out;
	}
	if (args && json_object_size(args) && !cmd->takes_arguments) {
		snprintf(buf, sizeof(buf), "%s takes no arguments: drop \"arguments\"", cmd->name);
		out = error_reply("InvalidParameter", buf, id);
		goto out;
	}
	desc = NULL;
	ret = cmd->run(ops, &cls, &desc);
	out = ret ? reply(ret, "return", id) : error_reply(cls, desc, id);
out:
	json_decref(req);
	return out;
}
