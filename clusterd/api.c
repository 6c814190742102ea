/* The CLI's socket: libevent listener and bufferevents; one request per client in flight. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include "api.h"
#include "api_auth.h"
#include "api_request.h"
#include "clog.h"

struct client {
	struct api *a;
	struct client *next;
	struct bufferevent *bev;
	uint64_t pending; /* the request id awaiting the model's reply; 0: none */
	enum cl_cmd cmd;  /* ... and its command */
	json_t *id;	  /* ... and the client's own "id", echoed */
	struct event *timeout;
	bool closing; /* the last reply is written, then the connection closes */
	bool serving; /* inside serve(): a reply made meanwhile must not recurse */
	bool eof;     /* the client sent all it will: close after the owed replies */
	/* Who connected: what it may run (api_auth.h). */
	struct api_peer peer;
};

struct api {
	struct event_base *base;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *vm_configs;
	const struct api_ops *ops;
	struct api_auth auth;
	struct evconnlistener *listener;
	struct client *clients;
	uint64_t next_id;
};

static void drop(struct client *c)
{
	struct client **p = &c->a->clients;

	while (*p != c)
		p = &(*p)->next;
	*p = c->next;
	bufferevent_free(c->bev);
	event_free(c->timeout);
	json_decref(c->id);
	free(c);
}

static void send_line(struct client *c, char *line)
{
	if (!line) {
		clog__error("api: out of memory for a reply: closing the client");
		c->closing = true;
		return;
	}
	bufferevent_write(c->bev, line, strlen(line));
	bufferevent_write(c->bev, "\n", 1);
	free(line);
}

/* Runs the complete lines the client sent, one at a time: the next after the last's reply. */
static void serve(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct timeval limit = {API_REQUEST_TIMEOUT_S, 0};

	c->serving = true;
	while (!c->pending && !c->closing) {
		struct cl_request *req = calloc(1, sizeof(*req));
		struct api_error e = {0};
		enum cl_cmd denied;
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
		json_t *id;

		if (!line || !req) {
			free(req);
			free(line);
			if (evbuffer_get_length(in) > API_LINE_MAX) {
				send_line(c, api_request__error("GenericError",
								"request line too long", NULL));
				c->closing = true;
			}
			break;
		}
		req->id = ++c->a->next_id;
		/* Before the parse, which may read files the request names. */
		if (api_auth__allow_line(&c->a->auth, &c->peer, line, len, &denied, &id, e.desc,
					 sizeof(e.desc))) {
			clog__warn("api: refused %s to uid %u (pid %d)",
				   denied < CL_CMD_NCMDS ? cl_cmd__to_str(denied) : "a request",
				   (unsigned int)c->peer.uid, (int)c->peer.pid);
			send_line(c, api_request__error("PermissionDenied", e.desc, id));
			json_decref(id);
		} else if (api_request__parse(line, len, c->a->vm_configs, req, &id, &e)) {
			send_line(c, api_request__error(e.cls, e.desc, id));
			json_decref(id);
		} else if (api_auth__allow(&c->a->auth, &c->peer, req->cmd, e.desc,
					   sizeof(e.desc))) {
			/* The gate and the parser read the line apart: what runs is what counts. */
			clog__error("api: uid %u's request was judged by its line as allowed but "
				    "parsed as %s: refused (a bug: report it)",
				    (unsigned int)c->peer.uid, cl_cmd__to_str(req->cmd));
			send_line(c, api_request__error("PermissionDenied", e.desc, id));
			json_decref(id);
		} else {
			/* Who changed or read into what: the log answers it later. */
			if (!api_auth__read_only(req->cmd))
				clog__info("api: %s%s%s by uid %u (pid %d)",
					   cl_cmd__to_str(req->cmd), req->vm[0] ? " " : "", req->vm,
					   (unsigned int)c->peer.uid, (int)c->peer.pid);
			c->pending = req->id;
			c->cmd = req->cmd;
			c->id = id;
			evtimer_add(c->timeout, &limit);
			c->a->ops->request(c->a->ops->opaque, req);
		}
		free(req);
		free(line);
	}
	c->serving = false;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	serve(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->closing)
		drop(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	/* A client that only shut its side down (echo REQ | socat) still gets its reply. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && c->pending) {
		c->eof = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		drop(c); /* a reply still owed is dropped when it comes */
}

static void finish(struct client *c, char *line)
{
	c->pending = 0;
	json_decref(c->id);
	c->id = NULL;
	evtimer_del(c->timeout);
	send_line(c, line);
	if (!c->serving)
		serve(c);
	if (c->eof && !c->pending)
		c->closing = true; /* on_write drops it once the replies are out */
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	clog__warn("api: request %llu (%s) got no answer within %d s",
		   (unsigned long long)c->pending, cl_cmd__to_str(c->cmd), API_REQUEST_TIMEOUT_S);
	finish(c, api_request__error("Timeout",
				     "no answer from the cluster in time: check `twin cluster "
				     "status` and clusterd's log",
				     c->id));
}

void api__reply(struct api *a, uint64_t id, bool ok, const char *err_class, const char *data)
{
	struct client *c = a->clients;
	json_error_t jerr;
	json_t *ret;

	while (c && c->pending != id)
		c = c->next;
	if (!c) {
		clog__debug("api: the client of request %llu left: reply dropped",
			    (unsigned long long)id);
		return;
	}
	if (!ok) {
		finish(c,
		       api_request__error(err_class[0] ? err_class : "GenericError", data, c->id));
		return;
	}
	ret = json_loads(data ?: "{}", 0, &jerr);
	if (!ret) {
		clog__error("api: the model's reply to %s is not JSON: %s", cl_cmd__to_str(c->cmd),
			    jerr.text);
		finish(c, api_request__error("GenericError", "internal error: see clusterd's log",
					     c->id));
		return;
	}
	if (a->ops->extend)
		a->ops->extend(a->ops->opaque, c->cmd, ret);
	finish(c, api_request__reply(ret, c->id));
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct api *a = arg;
	struct client *c = calloc(1, sizeof(*c));
	int rc = c ? api_auth__peer(&a->auth, fd, &c->peer) : 0;

	if (rc) {
		clog__error("api: a client is refused: its credentials (SO_PEERCRED, SO_PEERGROUPS) "
			    "are unreadable: %s: it may retry; if this repeats, check clusterd's "
			    "memory and dmesg for LSM (SELinux, AppArmor) denials",
			    strerror(-rc));
		close(fd);
		free(c);
		return;
	}
	if (c)
		c->bev = bufferevent_socket_new(a->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c && c->bev)
		c->timeout = evtimer_new(a->base, on_timeout, c);
	if (!c || !c->bev || !c->timeout) {
		clog__error("api: out of memory: a client is refused");
		if (c && c->bev)
			bufferevent_free(c->bev);
		else
			close(fd);
		free(c);
		return;
	}
	c->a = a;
	c->next = a->clients;
	a->clients = c;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	/*
	 * Reading stops once a line's bound (and one byte to see it exceeded) is buffered: while
	 * a request is pending serve() reads no lines, and a client must not grow our input
	 * meanwhile.  The rest waits in the socket until the reply lets serve() drain it.
	 */
	bufferevent_setwatermark(c->bev, EV_READ, 0, API_LINE_MAX + 1);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	send_line(c, api_request__greeting());
}

/* The socket's directory (e.g. /run/twin) is made if missing; a stale socket goes. */
static int prepare_path(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) && errno != EEXIST) {
			snprintf(err, errlen, "socket %s: cannot create %s: %s", path, dir,
				 strerror(errno));
			return -errno;
		}
	}
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
			 "socket %s exists and is not a socket: remove it or set [host] socket",
			 path);
		return -EEXIST;
	}
	return unlink(path) ? -errno : 0;
}

int api__start(struct event_base *base, const char *path, const char *vm_configs,
	       const struct api_ops *ops, struct api **out, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct api *a;
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket %s: too long: use a shorter [host] socket", path);
		return -ENAMETOOLONG;
	}
	rc = prepare_path(path, err, errlen);
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "socket %s: %s", path, strerror(-rc));
		return rc;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	/* 0600 from birth: no window where another user may connect. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc || listen(fd, 16))
		goto fail;
	a = calloc(1, sizeof(*a));
	if (!a) {
		errno = ENOMEM;
		goto fail;
	}
	a->base = base;
	strcpy(a->path, path);
	a->vm_configs = vm_configs;
	a->ops = ops;
	a->listener = evconnlistener_new(base, on_accept, a, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!a->listener) {
		free(a);
		errno = ENOMEM;
		goto fail;
	}
	clog__info("api: serving the CLI on %s", path);
	*out = a;
	return 0;
fail:
	rc = -errno;
	snprintf(err, errlen, "socket %s: cannot listen: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

int api__set_access(struct api *a, const struct conf_api *access, char *err, size_t errlen)
{
	struct api_auth auth;
	int rc = api_auth__init(&auth, access, err, errlen);

	if (!rc)
		rc = api_auth__socket(&auth, a->path, err, errlen);
	if (rc)
		return rc;
	a->auth = auth;
	clog__info("api: administrators: root%s%s; viewers: %s",
		   auth.admin_group[0] ? ", group " : "", auth.admin_group,
		   auth.viewer_group[0] ? auth.viewer_group : "none");
	return 0;
}

void api__stop(struct api *a)
{
	if (!a)
		return;
	while (a->clients)
		drop(a->clients);
	evconnlistener_free(a->listener);
	unlink(a->path);
	free(a);
}
