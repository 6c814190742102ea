/* The twin CLI's client of clusterd's socket: one JSON request line, one reply line. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
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
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	*c = (struct twin_client){.path = path, .fd = -1};
	c->buf = malloc(TWIN_CLIENT_LINE_MAX);
	if (!c->buf) {
		twin__error("out of memory");
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		twin__error("--socket %s: cannot connect: %s: is twin-clusterd running on this "
			    "host? (its socket is [host] socket in clusterd.conf; --socket or "
			    "$TWIN_SOCKET name another)",
			    path, strerror(errno));
		twin_client__close(c);
		return -1;
	}
	return 0;
}

void twin_client__close(struct twin_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

/* The next line from clusterd, parsed; NULL with the reason said (closed, timeout, garbage). */
static json_t *read_json(struct twin_client *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		json_error_t jerr;
		ssize_t r;

		if (nl) {
			json_t *j = json_loadb(c->buf, nl - c->buf, 0, &jerr);

			c->len -= nl + 1 - c->buf;
			memmove(c->buf, nl + 1, c->len);
			if (!j)
				twin__error("--socket %s: a reply is not JSON: %s", c->path,
					    jerr.text);
			return j;
		}
		if (c->len == TWIN_CLIENT_LINE_MAX) {
			twin__error("--socket %s: a reply line is longer than %d bytes", c->path,
				    TWIN_CLIENT_LINE_MAX);
			return NULL;
		}
		r = poll(&p, 1, TWIN_CLIENT_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			twin__error(
			    "--socket %s: no reply within %d s: is twin-clusterd stuck? (see "
			    "its clusterd.log)",
			    c->path, TWIN_CLIENT_TIMEOUT_MS / 1000);
			return NULL;
		}
		r = r < 0 ? -1 : read(c->fd, c->buf + c->len, TWIN_CLIENT_LINE_MAX - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			twin__error("--socket %s: twin-clusterd closed the connection%s%s: see its "
				    "clusterd.log",
				    c->path, r ? ": " : "", r ? strerror(errno) : "");
			return NULL;
		}
		c->len += r;
	}
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
	json_t *req = json_pack("{s:s}", "execute", cmd), *rep, *ret, *err;
	char *line;
	size_t n;
	bool sent;

	if (args)
		json_object_set_new(req, "arguments", args);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line) {
		twin__error("out of memory");
		return NULL;
	}
	n = strlen(line);
	line[n] = '\n'; /* json_dumps's NUL becomes the line's end */
	sent = send(c->fd, line, n + 1, MSG_NOSIGNAL) == (ssize_t)(n + 1);
	free(line);
	if (!sent) {
		twin__error("--socket %s: cannot send %s: %s", c->path, cmd, strerror(errno));
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
