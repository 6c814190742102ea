/* isa-debug-exit at port 0xf4: writing v ends the VM with status (v << 1) | 1, as in QEMU. */
#ifndef XEN_CORE_DEBUG_EXIT_H
#define XEN_CORE_DEBUG_EXIT_H

struct vm;

int debug_exit__init(struct vm *vm);

#endif
