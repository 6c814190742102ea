/* twin-vmm backup: the shadow VM from the initial sync's ack until unprotect, failover or quit. */
#ifndef TOOLS_VM_BACKUP_H
#define TOOLS_VM_BACKUP_H
#include <stdbool.h>
#include "vm_load.h"

struct vm_control;

/*
 * After vm_load__backup: acks epoch 0, starts the backup engine (handed to ctl, whose control
 * socket then serves query-replication and failover) and waits, no vCPU running:
 *   the primary's unprotect: exit 0, logged;
 *   the primary lost (no --auto-failover): logged loudly, the wait goes on for failover or quit;
 *   a failover (the command, or --auto-failover): the VM started and announced, *runs true,
 *   returns 0: the caller runs it on as an ordinary VM (its threads started);
 *   quit or SIGTERM/SIGINT: exit 0 (the primary goes degraded).
 * Else an exit status (logged).  src->ch is the engine's (NULL) once it started.
 */
int vm_backup__serve(struct vm *vm, const struct vmm_args *a, struct vm_source *src, int sig_fd,
		     struct vm_control *ctl, bool *runs);

#endif
