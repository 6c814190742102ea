/* twin-clusterd's host memory commands: retire a host frame through the twin-vmm that owns it. */
#ifndef CLUSTERD_HOST_MEM_H
#define CLUSTERD_HOST_MEM_H
#include <stdint.h>
#include <sys/types.h>
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
 * HOST_MEM_REFRESH_S and after each command.
 * The quarantine outlives the twin-vmm: from each mem-offline reply and query-mem entry,
 * clusterd opens the frame's hold pipe (hold_fd, page_offline.h) through /proc/PID/fd,
 * checking it is a FIFO with inode hold_ino, and keeps it by PFN.  When that twin-vmm exits
 * (vm stop, migration away, failover, crash) the frame stays held by clusterd: mem-status
 * lists it with "state": "held by clusterd: the VM's twin-vmm exited" and its VM (a live
 * twin-vmm's entries get "clusterd_holds": whether clusterd has its pipe too), it stays in
 * host_mem__offline_count, and mem-online of it (by PFN, or by the VM's GPA when no twin-vmm
 * of it runs here) closes the pipe ("released": true), giving the frame to the kernel.  A
 * page brought back online in its live twin-vmm (here, or through its control socket: seen
 * at the next query-mem) has clusterd's copy closed too.  When clusterd exits, every frame
 * it alone holds goes back to the kernel; host_mem__free logs each (the permanent way is
 * memmap= at boot or soft_offline_page).  A SIGKILLed clusterd logs nothing.
 * Everything runs on the event-loop thread.
 */
#define HOST_MEM_REFRESH_S 10

/* 0 or -ENOMEM. */
int host_mem__new(struct event_base *base, struct supervisor *sup, struct host_mem **out);
/* NULL: no-op.  Logs and releases every frame clusterd still holds. */
void host_mem__free(struct host_mem *m);

/* Handles CL_CMD_HOST_MEM_OFFLINE, _ONLINE and _STATUS; replies through ctx, later. */
void host_mem__run(struct local_ctx *ctx, const struct cl_request *req);

/*
 * Opens pid's fd as a hold pipe through /proc/PID/fd: 0 and *out, if it is a FIFO with
 * inode ino; -ESTALE if it is something else (the fd was reused: nothing kept), -errno if
 * it cannot be opened.
 */
int host_mem__open_hold(pid_t pid, int fd, uint64_t ino, int *out);

/*
 * Frames quarantined here (for metrics): by the live twin-vmms, as last heard, plus those
 * clusterd alone holds since their twin-vmm exited.
 */
unsigned int host_mem__offline_count(const struct host_mem *m);

#endif
