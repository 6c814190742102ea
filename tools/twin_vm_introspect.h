/* twin vm peek and twin vm regs: a VM's memory as a hex dump, its registers as a table. */
#ifndef TOOLS_TWIN_VM_INTROSPECT_H
#define TOOLS_TWIN_VM_INTROSPECT_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include "twin_args.h"
#include "twin_client.h"

/*
 * Each asks the connected clusterd c (vm-peek, vm-regs) for a->vm, prints the answer and
 * returns a TWIN_EXIT_ status.  peek: a hexdump -C style dump addressed by GPA, or with
 * a->hex the raw lowercase hex, or with a->json the reply.  regs: a table per vCPU, or the
 * reply with a->json.
 */
int twin_vm_introspect__peek(struct twin_client *c, const struct twin_args *a);
int twin_vm_introspect__regs(struct twin_client *c, const struct twin_args *a);

#endif
