/* Where a VM's backup goes: a pure choice over the replicated state. */
#ifndef CLUSTERD_PLACEMENT_H
#define CLUSTERD_PLACEMENT_H

#include <stdint.h>
#include "model.h"

/* The VMs (not stopped) whose primary or backup is on node: what placement balances. */
int placement__load(const struct cl_cluster *c, uint32_t node);

/*
 * The backup host for vm: online, not vm's primary host, not avoid (0: none), with free
 * memory for the VM; the least loaded, then the most free memory, then the lowest nodeid
 * (so every member picks the same).  0: no host fits.
 */
uint32_t placement__pick_backup(const struct cl_cluster *c, const struct cl_vm *vm, uint32_t avoid);

#endif
