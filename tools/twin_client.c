/* The twin CLI's client of clusterd's socket: one JSON request line, one reply line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "twin_client.h"

void twin__error(const char *fmt, ...)
{
	va_list ap;

	fputs("twin: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int twin_client__connect(struct twin_client *c, const char *path)
{
	int rc = json_lines__connect(&c->lines, path, TWIN_CLIENT_LINE_MAX);

	c->path = path;
	if (rc == -ENOMEM)
		twin__error("out of memory");
	else if (rc == -EACCES)
		twin__error("--socket %s: cannot connect: permission denied: twin-clusterd lets in "
			    "root and the socket's group (clusterd.conf [api] viewer_group or "
			    "admin_group; ls -l %s shows it): join that group or run twin as root",
			    path, path);
	else if (rc)
		twin__error("--socket %s: cannot connect: %s: is twin-clusterd running on this "
			    "host? (its socket is [host] socket in clusterd.conf; --socket or "
			    "$TWIN_SOCKET name another)",
			    path, strerror(-rc));
	return rc ? -1 : 0;
}

void twin_client__close(struct twin_client *c)
{
	json_lines__close(&c->lines);
}

/* The next line from clusterd, parsed; NULL with the reason said (closed, timeout, garbage). */
static json_t *read_json(struct twin_client *c)
{
	enum json_lines_fail fail;
	char why[160], msg[256];
	const char *body;
	json_t *j = json_lines__read(&c->lines, TWIN_CLIENT_TIMEOUT_MS, &fail, why, sizeof(why));

	if (j)
		return j;
	body = json_lines__fail_str(&c->lines, fail, why, TWIN_CLIENT_TIMEOUT_MS, "twin-clusterd",
				    msg, sizeof(msg));
	if (body) /* NULL: the caller's own stop (Ctrl-C), it says nothing */
		twin__error("--socket %s: %s%s", c->path, body,
			    fail == JSON_LINES_TIMEOUT
				? ": is twin-clusterd stuck? (see its clusterd.log)"
			    : fail == JSON_LINES_CLOSED ? ": see its clusterd.log"
							: "");
	return NULL;
}

/* The reply to the request just sent: a greeting line before it (if any) is skipped. */
static json_t *read_reply(struct twin_client *c)
{
	for (;;) {
		json_t *j = read_json(c);

		if (!j || json_object_get(j, "return") || json_object_get(j, "error") ||
		    !json_object_get(j, "twin"))
			return j;
		json_decref(j);
	}
}

json_t *twin_client__call(struct twin_client *c, const char *cmd, json_t *args)
{
	int rc = json_lines__send(&c->lines, cmd, args);
	json_t *rep, *ret, *err;

	if (rc) {
		twin__error("--socket %s: cannot send %s: %s", c->path, cmd, strerror(-rc));
		return NULL;
	}
	rep = read_reply(c);
	if (!rep)
		return NULL;
	ret = json_incref(json_object_get(rep, "return"));
	err = json_object_get(rep, "error");
	/* clusterd's descriptions start with the command's name already. */
	if (!ret)
		twin__error("%s (%s)",
			    json_string_value(json_object_get(err, "desc")) ?: "no reason given",
			    json_string_value(json_object_get(err, "class")) ?: "no error class");
	json_decref(rep);
	return ret;
}
