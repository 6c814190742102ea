/* The boot vCPU in 64-bit long mode, as the Linux boot protocol's 64-bit entry wants it. */
#ifndef XEN_CORE_BOOT_CPU_H
#define XEN_CORE_BOOT_CPU_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "layout.h"

struct vm;

/* Boot data in low RAM, between the zero page (0x8000) and the EBDA. */
#define BOOT_CPU_GDT	  0x9000ULL /* flat GDT: __BOOT_CS 0x10, __BOOT_DS 0x18, TSS 0x20 */
#define BOOT_CPU_PML4	  0xa000ULL
#define BOOT_CPU_PDPT	  0xb000ULL
#define BOOT_CPU_PD	  0xc000ULL /* four page directories of 2 MiB pages: 0-4 GiB */
#define BOOT_CPU_END	  0x10000ULL
#define BOOT_CPU_SEL_CODE 0x10
#define BOOT_CPU_SEL_DATA 0x18
#define BOOT_CPU_SEL_TSS  0x20
_Static_assert(BOOT_CPU_END <= LAYOUT_EBDA, "boot page tables overlap the EBDA");

/*
 * Write the GDT and the identity page tables mapping 0-4 GiB into low RAM
 * (ram = host pointer to GPA 0).  -EINVAL if low_size does not cover them.
 */
int boot_cpu__write_tables(void *ram, uint64_t low_size);

/*
 * Long mode entry state: paging on with CR3 = BOOT_CPU_PML4, CR4.PAE,
 * EFER.LME/LMA, CS a 64-bit code segment (selector 0x10), data segments flat
 * 4 GiB (0x18), TR a busy 64-bit TSS, interrupts off, rip = entry, rsi =
 * rsi.  sregs comes from KVM_GET_SREGS so apic_base survives; regs is
 * rewritten whole.
 */
void boot_cpu__long_mode_state(uint64_t entry, uint64_t rsi, struct kvm_regs *regs,
			       struct kvm_sregs *sregs);

/* Tables, then the BSP's state; 0 or -errno, with err set. */
int boot_cpu__setup_long_mode(struct vm *vm, uint64_t entry, uint64_t rsi, char *err,
			      size_t errlen);

#endif
