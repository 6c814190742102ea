/* Fixed addresses and sizes of the guest kit, shared by the ring-0 stub (boot.S) and C. */
#ifndef GUESTS_RT_LAYOUT_H
#define GUESTS_RT_LAYOUT_H

/*
 * The image is linked at 1 MiB.  Its first section (.fixed) sits at a fixed
 * address so that the IDT gates and the TSS descriptors, whose address fields
 * are split into pieces no relocation can express, are assembler constants:
 * nothing has to be patched at run time by (emulated) ring-0 code.
 */
#define RT_IMAGE_BASE 0x100000
#define RT_ISR_BASE RT_IMAGE_BASE	   /* 32 stubs of RT_ISR_STRIDE bytes */
#define RT_ISR_STRIDE 16
#define RT_TSS_BASE (RT_IMAGE_BASE + 0x1000) /* RT_MAX_CPUS TSSes */
#define RT_TSS_SIZE 104

#define RT_MAX_CPUS 64
#define RT_R0_STACK_SHIFT 12 /* 4 KiB ring-0 stack per CPU: faults only */
#define RT_R3_STACK_SHIFT 14 /* 16 KiB ring-3 stack per CPU */

/* GDT selectors. */
#define RT_SEL_KCODE64 0x08
#define RT_SEL_KDATA 0x10
#define RT_SEL_KCODE32 0x18
#define RT_SEL_UDATA 0x20 /* used with RPL 3: 0x23 */
#define RT_SEL_UCODE64 0x28 /* used with RPL 3: 0x2b */
#define RT_SEL_TSS0 0x30  /* CPU n uses RT_SEL_TSS0 + 16 * n */

/* The real-mode AP trampoline is copied here (SIPI vector 0x09).  Not in
 * xen-core/layout.h's list of used low pages, and e820 RAM under QEMU too. */
#define RT_TRAMPOLINE 0x9000

/* memwriter's area: working sets start at 16 MiB, far above the image. */
#define RT_MEMWRITER_BASE 0x1000000

/* QEMU microvm's ACPI generic event device: sleep control register (hw-reduced
 * ACPI).  Writing SLP_TYP=5 (S5) with SLP_EN powers the machine off. */
#define RT_GED_SLEEP_CTL 0xfea00200
#define RT_GED_SLEEP_S5 ((5 << 2) | (1 << 5))

#define RT_LAPIC 0xfee00000

/*
 * Device memory starts at the PCI BAR window, the same under twin-vmm
 * (xen-core/layout.h) and QEMU microvm,pcie=on (gpex MMIO window
 * 0xc0000000-0xdfffffff, ECAM 0xe0000000): boot.S maps it all uncached.
 */
#define RT_UNCACHED_BASE 0xc0000000
#define RT_PCI_MMIO_BASE 0xc0000000
#define RT_PCI_MMIO_END	 0xe0000000

#endif
