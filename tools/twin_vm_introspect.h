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

/* Pure, for tests: the pieces the commands print with. */

/* hex's bytes into buf: how many, or -1 when hex is not an even run of hex digits or over max. */
long twin_vm_introspect__unhex(const char *hex, uint8_t *buf, size_t max);

/*
 * As `hexdump -C`, addresses starting at gpa: 16 bytes a line, a repeated line squeezed to
 * "*", then the address past the end.
 */
void twin_vm_introspect__hexdump(FILE *out, uint64_t gpa, const uint8_t *buf, size_t len);

/* vm-regs' return: for each vCPU a heading, then registers three a line, segments, tables. */
void twin_vm_introspect__print_regs(FILE *out, json_t *ret);

#endif
