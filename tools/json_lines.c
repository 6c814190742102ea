/* One request line out, reply lines in, over a unix stream socket, blocking with a deadline. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "json_lines.h"

int json_lines__connect(struct json_lines *l, const char *path, size_t cap)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int rc;

	*l = (struct json_lines){.fd = -1, .cap = cap};
	l->buf = malloc(cap);
	if (!l->buf)
		return -ENOMEM;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd >= 0 && !connect(l->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return 0;
	rc = -errno;
	json_lines__close(l);
	return rc;
}

int json_lines__send(struct json_lines *l, const char *cmd, json_t *args)
{
	json_t *req = json_pack("{s:s}", "execute", cmd);
	char *line;
	size_t n;
	int rc = 0;

	if (args)
		json_object_set_new(req, "arguments", args);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line)
		return -ENOMEM;
	n = strlen(line);
	line[n] = '\n'; /* json_dumps's NUL becomes the line's end */
	if (send(l->fd, line, n + 1, MSG_NOSIGNAL) != (ssize_t)(n + 1))
		rc = errno ? -errno : -EIO;
	free(line);
	return rc;
}

json_t *json_lines__read(struct json_lines *l, int timeout_ms, enum json_lines_fail *fail,
			 char *why, size_t whylen)
{
	for (;;) {
		char *nl = memchr(l->buf, '\n', l->len);
		struct pollfd p = {.fd = l->fd, .events = POLLIN};
		struct timespec wait = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
		json_error_t jerr;
		ssize_t r;

		if (nl) {
			json_t *j = json_loadb(l->buf, nl - l->buf, 0, &jerr);

			l->len -= nl + 1 - l->buf;
			memmove(l->buf, nl + 1, l->len);
			if (!j) {
				*fail = JSON_LINES_NOT_JSON;
				snprintf(why, whylen, "%s", jerr.text);
			}
			return j;
		}
		if (l->len == l->cap) {
			*fail = JSON_LINES_TOO_LONG;
			return NULL;
		}
		r = ppoll(&p, 1, timeout_ms < 0 ? NULL : &wait, l->wait_mask);
		if (r < 0 && errno == EINTR && l->stop && *l->stop) {
			*fail = JSON_LINES_STOPPED;
			return NULL;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			*fail = JSON_LINES_TIMEOUT;
			return NULL;
		}
		r = r < 0 ? -1 : read(l->fd, l->buf + l->len, l->cap - l->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*fail = JSON_LINES_CLOSED;
			snprintf(why, whylen, "%s", r ? strerror(errno) : "");
			return NULL;
		}
		l->len += r;
	}
}

const char *json_lines__fail_str(const struct json_lines *l, enum json_lines_fail fail,
				 const char *why, int timeout_ms, const char *peer, char *buf,
				 size_t len)
{
	switch (fail) {
	case JSON_LINES_NOT_JSON:
		snprintf(buf, len, "a reply is not JSON: %s", why);
		return buf;
	case JSON_LINES_TOO_LONG:
		snprintf(buf, len, "a reply line is longer than %zu bytes", l->cap);
		return buf;
	case JSON_LINES_TIMEOUT:
		snprintf(buf, len, "no reply within %d s", timeout_ms / 1000);
		return buf;
	case JSON_LINES_CLOSED:
		snprintf(buf, len, "%s closed the connection%s%s", peer, *why ? ": " : "", why);
		return buf;
	case JSON_LINES_STOPPED:
		break;
	}
	return NULL;
}

void json_lines__close(struct json_lines *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->buf);
	l->buf = NULL;
}
