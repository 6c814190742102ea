/* An asynchronous twin-vmm control client: one bufferevent, a FIFO of requests, one in flight. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include "vmm_client.h"

/* twin-vmm's control line bound (tools/control.h CONTROL_LINE_MAX), with room for replies. */
#define REPLY_LINE_MAX (64 * 1024)
/* The greeting comes at once from a live twin-vmm. */
#define GREETING_TIMEOUT_MS 5000

struct request {
	struct request *next;
	char *line; /* the request, newline-terminated */
	int timeout_ms;
	vmm_client_done_fn done;
	void *arg;
};

struct vmm_client {
	struct bufferevent *bev;
	bool greeted, broken;
	struct request *head, *tail; /* head: in flight once sent */
	bool in_flight;
	void (*closed)(void *opaque);
	void *opaque;
};

static void set_timeout(struct vmm_client *c, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	bufferevent_set_timeouts(c->bev, ms ? &tv : NULL, NULL);
}

static void send_next(struct vmm_client *c)
{
	struct request *r = c->head;

	if (!c->greeted || c->broken || c->in_flight || !r)
		return;
	c->in_flight = true;
	set_timeout(c, r->timeout_ms);
	bufferevent_write(c->bev, r->line, strlen(r->line));
}

static struct request *pop(struct vmm_client *c)
{
	struct request *r = c->head;

	c->head = r->next;
	if (!c->head)
		c->tail = NULL;
	c->in_flight = false;
	return r;
}

static void free_request(struct request *r)
{
	free(r->line);
	free(r);
}

/* The connection is unusable: every queued request fails, then closed() is said once. */
static void break_connection(struct vmm_client *c, const char *why)
{
	if (c->broken)
		return;
	c->broken = true;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	while (c->head) {
		struct request *r = pop(c);

		if (r->done)
			r->done(r->arg, NULL, NULL, why);
		free_request(r);
	}
	if (c->closed)
		c->closed(c->opaque);
}

static void handle_line(struct vmm_client *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(line, len, 0, &jerr), *ret, *err;
	struct request *r;

	if (!j) {
		break_connection(c, "a reply is not JSON");
		return;
	}
	if (!c->greeted) {
		c->greeted = json_is_object(json_object_get(j, "twin"));
		json_decref(j);
		if (!c->greeted)
			break_connection(c, "the greeting is not twin-vmm's");
		else
			set_timeout(c, 0);
		return;
	}
	if (!c->in_flight) {
		json_decref(j);
		break_connection(c, "a reply came without a request");
		return;
	}
	r = pop(c);
	set_timeout(c, 0);
	ret = json_object_get(j, "return");
	err = json_object_get(j, "error");
	if (r->done)
		r->done(r->arg, ret,
			ret ? NULL : json_string_value(json_object_get(err, "class")) ?: "GenericError",
			ret ? NULL
			    : json_string_value(json_object_get(err, "desc"))
				  ?: "an error without a description");
	free_request(r);
	json_decref(j);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct vmm_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->broken) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

		if (!line) {
			if (evbuffer_get_length(in) > REPLY_LINE_MAX)
				break_connection(c, "a reply line is too long");
			break;
		}
		handle_line(c, line, len);
		free(line);
		send_next(c);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct vmm_client *c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		break_connection(c, c->greeted ? "no reply in time: is twin-vmm stuck?"
					       : "no greeting in time");
	else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		break_connection(c, "twin-vmm closed the control socket");
}

struct vmm_client *vmm_client__connect(struct event_base *base, const char *path,
				       void (*closed)(void *opaque), void *opaque)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct vmm_client *c;
	int fd, saved;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(sa.sun_path, path);
	/*
	 * Non-blocking: a unix connect blocks while the listener's backlog is full (a stuck
	 * twin-vmm), and this runs on the event loop.  It then fails with EAGAIN: retry later.
	 */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->closed = closed;
	c->opaque = opaque;
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		goto fail;
	}
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	set_timeout(c, GREETING_TIMEOUT_MS);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return NULL;
}

void vmm_client__call(struct vmm_client *c, const char *cmd, json_t *args, int timeout_ms,
		      vmm_client_done_fn done, void *arg)
{
	json_t *req = json_pack("{s:s}", "execute", cmd);
	struct request *r = calloc(1, sizeof(*r));
	char *line;

	if (args)
		json_object_set_new(req, "arguments", args);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!r || !line || !(r->line = malloc(strlen(line) + 2))) {
		free(line);
		free(r);
		if (done)
			done(arg, NULL, NULL, "out of memory");
		return;
	}
	strcpy(r->line, line);
	strcat(r->line, "\n");
	free(line);
	r->timeout_ms = timeout_ms;
	r->done = done;
	r->arg = arg;
	if (c->broken) {
		if (done)
			done(arg, NULL, NULL, "the control connection is closed");
		free_request(r);
		return;
	}
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	send_next(c);
}

void vmm_client__free(struct vmm_client *c)
{
	if (!c)
		return;
	while (c->head)
		free_request(pop(c));
	bufferevent_free(c->bev);
	free(c);
}
