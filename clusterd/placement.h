/* Where a VM's backup goes: a pure choice over the replicated state. */
#ifndef CLUSTERD_PLACEMENT_H
#define CLUSTERD_PLACEMENT_H

#include <stdint.h>
#include "model.h"

/* The protected VMs (a backup assigned or in sync) whose primary or backup is on node. */
int placement__load(const struct cl_cluster *c, uint32_t node);

/*
 * The memory node has promised to backups that its reported free memory does not show
 * yet: a backup's memory comes with its initial sync, and shows in the host's next
 * HOST_INFO after that sync.  So: backups assigned to node still syncing, and those
 * synced after its last HOST_INFO.
 */
uint32_t placement__promised_mib(const struct cl_cluster *c, uint32_t node);

/*
 * The backup host for vm: online, not vm's primary host, with free memory for the VM
 * after what it promised; the fewest protected VMs, then the most memory left, then the
 * lowest nodeid (so every member picks the same).  0: no host fits.
 */
uint32_t placement__pick_backup(const struct cl_cluster *c, const struct cl_vm *vm);

#endif
