/* The CLI's socket: a unix socket (0600) serving JSON lines, answered when the model replies. */
#ifndef CLUSTERD_API_H
#define CLUSTERD_API_H
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <event2/event.h>
#include "conf.h"
#include "model.h"

/* A request the model never answers (a lost CPG round trip) gets a Timeout error then. */
#define API_REQUEST_TIMEOUT_S 300

/* Called on the event-loop thread. */
struct api_ops {
	/* A decoded request, req->id set: the daemon feeds it to the model. */
	void (*request)(void *opaque, const struct cl_request *req);
	/* Adds what only the daemon knows to a successful reply of cmd (ret is the "return"). */
	void (*extend)(void *opaque, enum cl_cmd cmd, json_t *ret);
	void *opaque;
};

struct api;

/*
 * Listens on path (mode 0600, its directory made if missing, a stale socket replaced, anything
 * else refused).  vm_configs: where vm-start finds NAME.cfg.  0, or -errno with one line in err.
 * Until api__set_access, root alone may run anything.
 */
int api__start(struct event_base *base, const char *path, const char *vm_configs,
	       const struct api_ops *ops, struct api **out, char *err, size_t errlen);

/*
 * Applies [api] (api_auth.h): with a group the socket becomes 0660 root:GROUP, and each
 * connection's peer may run what its role allows.  0, or -errno with err (a group this host
 * lacks, say): the daemon should not serve then.
 */
int api__set_access(struct api *a, const struct conf_api *access, char *err, size_t errlen);

/*
 * Answers request id: ok with data the "return" JSON text, else err_class and data the
 * description.  A request whose client left is dropped quietly.
 */
void api__reply(struct api *a, uint64_t id, bool ok, const char *err_class, const char *data);

/* Closes every client and the listener, unlinks the socket; NULL: no-op. */
void api__stop(struct api *a);

#endif
