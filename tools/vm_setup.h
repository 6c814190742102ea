/* twin-vmm's VM: its serial sink and device backends from the command line, then the VM itself. */
#ifndef TOOLS_VM_SETUP_H
#define TOOLS_VM_SETUP_H
#include <stdbool.h>
#include <stdint.h>
#include "vm.h"
#include "vmm_args.h"

/* twin-vmm's exit statuses besides the guest's (vm.h): usage or input, and runtime failures. */
#define EXIT_BAD_INPUT 2
#define EXIT_RUNTIME   VM_EXIT_FAILURE

struct virtio_net;
struct virtio_blk;

/* What a VM stands on; each backend belongs to the VM from its device's registration on. */
struct vm_setup {
	int serial_fd;
	struct virtio_net *nics[VMM_ARGS_MAX_NICS];
	struct virtio_blk *disks[VMM_ARGS_MAX_DISKS];
	struct vm *vm;
};

/*
 * Opens the serial sink, every tap and every image before any VM exists, so bad input fails
 * fast and cheap (and before a migration stream is read).  0, or an exit status (logged).
 */
int vm_setup__open(struct vm_setup *s, const struct vmm_args *a);

/*
 * Creates the VM with this memory, vCPUs and PIT, and its PCI functions in the order
 * run, restore and incoming share: the console, the NICs, the disks.  0, or an exit status
 * (logged).
 */
int vm_setup__create(struct vm_setup *s, const struct vmm_args *a, uint64_t mem_size,
		     unsigned int nr_vcpus, bool pit);

/* Destroys the VM, closes what it did not take; idempotent. */
void vm_setup__dispose(struct vm_setup *s);

#endif
