/* vm-peek and vm-regs: handed to the VM's primary twin-vmm on this host (local commands). */
#ifndef CLUSTERD_VM_INTROSPECT_H
#define CLUSTERD_VM_INTROSPECT_H
#include "local_cmd.h"
#include "model.h"

/* The longest clusterd waits for the primary's twin-vmm to answer a peek or regs. */
#define VM_INTROSPECT_TIMEOUT_MS 10000

/*
 * Runs req (CL_CMD_VM_PEEK or CL_CMD_VM_REGS) on the event loop's thread.  When req->vm's
 * primary runs here: twin-vmm's peek {"gpa","len"} or regs {"vcpu"?}, and its "return" with
 * "vm" and "host" added as the reply.  Otherwise refused at once, naming the host to run the
 * command on (the primary's), or why there is none.  Read-only: no model state changes.
 */
void vm_introspect__run(struct local_ctx *ctx, const struct cl_request *req);

#endif
