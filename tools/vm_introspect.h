/* Read-only introspection of a running VM: guest RAM (peek) and vCPU registers (regs). */
#ifndef TOOLS_VM_INTROSPECT_H
#define TOOLS_VM_INTROSPECT_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct vm;

/* The most one peek reads: one page, so a reply line stays small (about 8 KiB of hex). */
#define VM_INTROSPECT_PEEK_MAX 4096

/*
 * Both pause the VM (vCPUs parked, then the I/O thread) for the read alone and resume it:
 * the copy is consistent, no vCPU or device writes RAM meanwhile.  Pauses nest, so a VM
 * already stopped, fenced or inside a checkpoint stays as it was.  Any thread but a vCPU's
 * or the I/O thread; one capture at a time (vcpu_state.h).  *pause_ns: how long the VM
 * stood still.  0, or -errno with one line in err naming the problem and the fix.
 */

/*
 * Copies guest RAM [gpa, gpa + len) into buf, len 1..VM_INTROSPECT_PEEK_MAX.  -EINVAL for a
 * len out of range; -EFAULT for a range not wholly inside one RAM region (past RAM's end,
 * or into the MMIO hole below 4 GiB): err names the VM's RAM regions.
 */
int vm_introspect__peek(struct vm *vm, uint64_t gpa, uint32_t len, uint8_t *buf, uint64_t *pause_ns,
			char *err, size_t errlen);

/*
 * The registers of vCPU vcpu, or of every vCPU for vcpu -1, as the regs reply's "return":
 * {"vcpus": [{"vcpu", "mp_state", "cpl", "rip", ... "efer", "cs", "ss", ...}], "pause_ns"}.
 * General and control registers are "0x%016llx" strings (a 64-bit value does not fit
 * JSON's signed integers); segments are {"selector", "base", "limit", "type", "dpl",
 * "present", "l", "db"}, descriptor tables {"base", "limit"}.  -ENOENT for a vCPU index the
 * VM lacks (err says how many it has); a capture's -errno otherwise (logged by vcpu_state).
 */
int vm_introspect__regs(struct vm *vm, int vcpu, json_t **out, char *err, size_t errlen);

#endif
