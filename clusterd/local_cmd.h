/* clusterd's local commands (host cpus and memory, vm peek and regs): answered on this host. */
#ifndef CLUSTERD_LOCAL_CMD_H
#define CLUSTERD_LOCAL_CMD_H
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <event2/event.h>
#include "model.h"

struct api;
struct supervisor;
struct host_cpus;
struct host_mem;

/*
 * What a local command's handler may use; lives as long as the daemon.  Every handler runs
 * on the event-loop thread and answers its request exactly once, at once or later (from a
 * twin-vmm's reply), with local_cmd__reply or local_cmd__fail.
 */
struct local_ctx {
	struct event_base *base;
	struct supervisor *sup;
	struct api *api;
	const struct model *model;
	struct host_cpus *cpus;
	struct host_mem *mem;
};

/* Whether cmd is answered here, never through the model (and needs no quorum). */
bool local_cmd__is_local(enum cl_cmd cmd);

/* Runs a local request (local_cmd__is_local, req->id set) through its handler; req is borrowed. */
void local_cmd__run(struct local_ctx *ctx, const struct cl_request *req);

/* Answers request id with {"return": ret}; ret is stolen (NULL: out of memory, an error). */
void local_cmd__reply(struct local_ctx *ctx, uint64_t id, json_t *ret);

/* Answers request id with the error class cls ("GenericError", ...) and a description. */
void local_cmd__fail(struct local_ctx *ctx, uint64_t id, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
