/* twin-clusterd's host memory commands: retire a host frame through the twin-vmm that owns it. */
#ifndef CLUSTERD_HOST_MEM_H
#define CLUSTERD_HOST_MEM_H
#include <event2/event.h>

struct local_ctx;
struct cl_request;
struct supervisor;
struct host_mem;

/*
 * host-mem-offline {"pfn"}: each live twin-vmm here is asked in turn (mem-offline) until one
 * owns the frame; the others answer NotOwner.  {"vm","gpa"}: that VM's twin-vmm here (its
 * primary if it runs here, else its backup, which refuses).  host-mem-online likewise;
 * host-mem-status {"pfn"?}: every twin-vmm's query-mem, merged, with "vm" and "role".
 * The frames retired are counted from query-mem answers, refreshed every
 * HOST_MEM_REFRESH_S and after each command: a twin-vmm that exits takes its quarantine
 * with it (page_offline.h), and its frames leave the count.
 * Everything runs on the event-loop thread.
 */
#define HOST_MEM_REFRESH_S 10

/* 0 or -ENOMEM. */
int host_mem__new(struct event_base *base, struct supervisor *sup, struct host_mem **out);
/* NULL: no-op. */
void host_mem__free(struct host_mem *m);

/* Handles CL_CMD_HOST_MEM_OFFLINE, _ONLINE and _STATUS; replies through ctx, later. */
void host_mem__run(struct local_ctx *ctx, const struct cl_request *req);

/* Frames quarantined by the live twin-vmms here, as last heard (for metrics). */
unsigned int host_mem__offline_count(const struct host_mem *m);

#endif
