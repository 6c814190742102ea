/* PVH boot: the hvm_start_info block in guest RAM and the 32-bit entry state of the boot vCPU. */
#ifndef XEN_CORE_PVH_H
#define XEN_CORE_PVH_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "e820.h"
#include "layout.h"

/* Selectors of the entry state, in the boot GDT written at LAYOUT_BOOT_GDT. */
#define PVH_SEL_CODE	0x10
#define PVH_SEL_DATA	0x18
#define PVH_SEL_TSS	0x20
#define PVH_GDT_ENTRIES 5

/*
 * Write the boot GDT at LAYOUT_BOOT_GDT, hvm_start_info (version 1) at
 * LAYOUT_START_INFO, the memmap (n
 * entries of map) at LAYOUT_MEMMAP and cmdline (NULL means empty) at
 * LAYOUT_CMDLINE, in low guest RAM (ram = host pointer to GPA 0).  Returns 0;
 * -E2BIG if the cmdline (with its NUL) is longer than LAYOUT_CMDLINE_MAX or
 * the map has more than LAYOUT_MEMMAP_MAX entries (err says which); -EINVAL
 * if n < 0 or low_size does not cover the boot structures.
 */
int pvh__write_start_info(void *ram, uint64_t low_size, const struct e820_entry *map, int n,
			  const char *cmdline, char *err, size_t errlen);

/* The modlist, right after start_info: one entry, the initrd. */
#define PVH_MODLIST (LAYOUT_START_INFO + 0x40)

/*
 * Record one module (an initrd the caller put at paddr) in the start_info
 * pvh__write_start_info wrote: nr_modules 1, modlist at PVH_MODLIST, no
 * module cmdline.  -EINVAL if low_size does not cover the modlist.
 */
int pvh__add_module(void *ram, uint64_t low_size, uint64_t paddr, uint64_t size, char *err,
		    size_t errlen);

/*
 * The 32-bit entry state the PVH ABI defines, for the boot vCPU: CR0.PE only
 * (paging off), CR4 and EFER 0, CS a flat 4 GiB 32-bit execute/read segment,
 * DS/ES/FS/GS/SS flat 4 GiB 32-bit read/write data, TR a busy 32-bit TSS
 * (base 0, limit 0x67) as KVM requires, LDT unusable, ebx =
 * LAYOUT_START_INFO, eip = entry, EFLAGS 0x2 (IF clear).  regs is rewritten
 * whole.  sregs must come from KVM_GET_SREGS: only the fields above (and
 * GDTR/IDTR) are overwritten, so apic_base and the interrupt bitmap
 * survive.  GDTR points at the boot GDT pvh__write_start_info writes (its
 * descriptors match the hidden segment state); the IDT is empty.  Caller does
 * KVM_SET_SREGS/KVM_SET_REGS.
 */
void pvh__entry_state(uint64_t entry, struct kvm_regs *regs, struct kvm_sregs *sregs);

#endif
