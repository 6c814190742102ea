/* The VM behind twin-vmm's control socket: pause, resume, save, migration, protection. */
#ifndef TOOLS_VM_CONTROL_H
#define TOOLS_VM_CONTROL_H
#include <stdbool.h>
#include "control.h"

struct vm;
struct vm_control;
struct repl_control;

/*
 * Before vm__start; the VM runs unless paused is true.  backup: twin-vmm backup's, serving
 * only what a backup does until it fails over (repl_control.h).  0 or -errno.
 */
int vm_control__new(struct vm *vm, bool paused, bool backup, struct vm_control **out);
/* Cancels and joins a migration still running; NULL is a no-op.  Before vm__destroy. */
void vm_control__free(struct vm_control *c);
/* The control_ops whose callbacks act on c (on the control server's thread). */
void vm_control__ops(struct vm_control *c, struct control_ops *ops);

/* Its replication (repl_control.h): twin-vmm backup hands it the backup engine. */
struct repl_control *vm_control__repl(struct vm_control *c);
/* Main thread, before stopping the VM: a protected VM is unprotected first. */
void vm_control__before_exit(struct vm_control *c);

/* Readable (poll) once the VM should end: quit was asked, or it migrated away. */
int vm_control__event_fd(const struct vm_control *c);
/* After event_fd: true if the VM now runs at a migration's destination (exit 0). */
bool vm_control__migrated(struct vm_control *c);

#endif
