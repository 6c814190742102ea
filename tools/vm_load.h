/* twin-vmm restore, incoming and backup: a VM built from a Twin stream (file, migration, sync). */
#ifndef TOOLS_VM_LOAD_H
#define TOOLS_VM_LOAD_H
#include "stream.h"
#include "vm_setup.h"

struct channel;

/* A source's connection and the stream read from it (backup: kept for the epochs). */
struct vm_source {
	struct channel *ch;
	struct stream_reader r; /* reads through counted: keep the struct in place */
	struct vm_source_counted {
		struct channel *ch;
		uint64_t bytes;
		char magic[sizeof(STREAM_MAGIC) - 1]; /* the first bytes: a Twin stream's? */
	} counted;
};

/*
 * restore FILE: the VM from FILE's VM_CONFIG with the devices of the command line, then its
 * memory and state.  On success s->vm is ready for vm__start; else an exit status (logged).
 */
int vm_load__restore(struct vm_setup *s, const struct vmm_args *a);

/*
 * incoming: waits on --listen for a migration (a signal on sig_fd ends the wait), builds
 * the VM as restore does and receives it.  A connection whose handshake fails, or that
 * closes before sending anything, is logged and the wait goes on.  On success s->vm is
 * loaded, not started, and *ch is the source's connection, waiting for the ack: give it to
 * vm_load__commit (or vm_load__refuse).  Else an exit status (logged, the source told).
 */
int vm_load__incoming(struct vm_setup *s, const struct vmm_args *a, int sig_fd,
		      struct channel **ch);

/*
 * backup: as incoming, for a twin-vmm protect: the stream must be CHECKPOINTED (a live
 * migration is refused, naming twin-vmm incoming; incoming refuses a replication stream,
 * naming twin-vmm backup), and it is received up to CHECKPOINT(0).  On success s->vm holds
 * epoch 0 (not started), src->ch waits for the ack and src->r for the epochs
 * (repl_backup__start); vm_load__source_dispose once the engine is freed.  Else an exit
 * status (logged, the primary told).
 */
int vm_load__backup(struct vm_setup *s, const struct vmm_args *a, int sig_fd,
		    struct vm_source *src);
void vm_load__source_dispose(struct vm_source *src);

/*
 * Once everything else that can fail has succeeded: starts the VM's threads parked, acks
 * the migration, then lets them run.  Any failure is the source's to know (a negative ack,
 * or a cut connection: it keeps running the VM).  Closes *ch (NULL after).  0 (the VM
 * runs: no vm__start), or an exit status with the VM stopped and joined.
 */
int vm_load__commit(struct vm *vm, struct channel **ch);

/*
 * Tells the source (status rc, why) that the VM will not run here, its disks released
 * first (vm, may be NULL) so that the source can take shared images back; closes *ch.
 * *ch NULL: no-op.
 */
void vm_load__refuse(struct vm *vm, struct channel **ch, int rc, const char *why);

#endif
