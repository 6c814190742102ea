/* The explicit table of emulated devices: created with the VM, in order, and removed in reverse. */
#ifndef XEN_CORE_DEVICES_H
#define XEN_CORE_DEVICES_H

struct vm;

/* Runs every device's init (registering its I/O ranges); on failure undoes the ones done. */
int devices__init(struct vm *vm);
void devices__exit(struct vm *vm);

#endif
