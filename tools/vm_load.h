/* twin-vmm restore and incoming: a VM built from a Twin stream, from a file or a live migration. */
#ifndef TOOLS_VM_LOAD_H
#define TOOLS_VM_LOAD_H
#include "vm_setup.h"

/*
 * restore FILE: the VM from FILE's VM_CONFIG with the devices of the command line, then its
 * memory and state.  On success s->vm is ready for vm__start; else an exit status (logged).
 */
int vm_load__restore(struct vm_setup *s, const struct vmm_args *a);

/*
 * incoming: waits on --listen for one migration (a signal on sig_fd ends the wait), builds
 * the VM as restore does, receives it and acks it to the source.  On success s->vm is ready
 * for vm__start, then devstate__announce; else an exit status (logged, the source told).
 */
int vm_load__incoming(struct vm_setup *s, const struct vmm_args *a, int sig_fd);

#endif
