/* Guest-physical memory layout that twin-vmm builds: low RAM, the PCI hole, high RAM. */
#ifndef XEN_CORE_LAYOUT_H
#define XEN_CORE_LAYOUT_H
#include "twin_abi.h"

/* Real-mode area.  The PVH boot structures live in low RAM below 640 KiB. */
#define LAYOUT_BOOT_GDT 0x500ULL	 /* the boot GDT the PVH entry state points at */
#define LAYOUT_START_INFO 0x6000ULL	 /* struct hvm_start_info */
#define LAYOUT_MEMMAP 0x6400ULL		 /* struct hvm_memmap_table_entry[] */
#define LAYOUT_MEMMAP_MAX 32
#define LAYOUT_CMDLINE 0x7000ULL	 /* NUL-terminated command line */
#define LAYOUT_CMDLINE_MAX 0x1000ULL
#define LAYOUT_EBDA 0x9fc00ULL		 /* reserved to the end of 640 KiB */
#define LAYOUT_LOWMEM_END 0xa0000ULL
#define LAYOUT_BIOS_START 0xf0000ULL	 /* reserved; holds the MP table */
#define LAYOUT_MPTABLE LAYOUT_BIOS_START
#define LAYOUT_HIGH_START 0x100000ULL	 /* 1 MiB: kernels load here and above */

/* The 32-bit PCI hole.  RAM above it is relocated to 4 GiB. */
#define LAYOUT_PCI_HOLE_START 0xc0000000ULL
#define LAYOUT_PCI_HOLE_END 0x100000000ULL
/* Guest pages are 4 KiB; pfns count them from gpa 0, so high RAM starts at this pfn. */
#define LAYOUT_PAGE_SHIFT 12
#define LAYOUT_HIGH_PFN (LAYOUT_PCI_HOLE_END >> LAYOUT_PAGE_SHIFT)
/* 32-bit BAR window twin-vmm allocates from (guests may move BARs inside it). */
#define LAYOUT_PCI_MMIO_START 0xc0000000ULL
#define LAYOUT_PCI_MMIO_END 0xe0000000ULL
/* ECAM for bus 0 only: 32 devices x 8 functions x 4 KiB (TWIN_PCI_ECAM_* in twin_abi.h). */
#define LAYOUT_PCI_ECAM TWIN_PCI_ECAM_DEFAULT
#define LAYOUT_PCI_ECAM_SIZE TWIN_PCI_ECAM_SIZE
#define LAYOUT_IOAPIC 0xfec00000ULL
#define LAYOUT_LAPIC 0xfee00000ULL
#define LAYOUT_TSS_ADDR 0xfffbd000ULL	 /* KVM_SET_TSS_ADDR: 3 pages */
#define LAYOUT_IDENTITY_MAP 0xfffbc000ULL /* KVM_SET_IDENTITY_MAP_ADDR: 1 page */

#endif
