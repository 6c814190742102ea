/* twin-vmm restore and incoming: a VM built from a Twin stream, from a file or a live migration. */
#ifndef TOOLS_VM_LOAD_H
#define TOOLS_VM_LOAD_H
#include "vm_setup.h"

struct channel;

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
