/* Xen's PVH boot ABI (start_info.h): the structures twin-vmm writes and PVH guests read. */
#ifndef XEN_CORE_HVM_START_INFO_H
#define XEN_CORE_HVM_START_INFO_H

/*
 * Freestanding on purpose: the test guests include this too.  The layout is
 * the one in Xen's public/arch-x86/hvm/start_info.h; every field is naturally
 * aligned, so it is the same for 32-bit and 64-bit code.
 */
#include <stdint.h>

#define XEN_HVM_START_MAGIC_VALUE  0x336ec578u /* "xEn3" with the 0x80 bit of "E" set */
#define XEN_HVM_START_INFO_VERSION 1u	       /* version 1 added the memmap fields */

/* ELF note (owner "Xen") giving the 32-bit physical entry point of a PVH kernel. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Memory map entry types; the values are the e820 ones. */
#define XEN_HVM_MEMMAP_TYPE_RAM	     1
#define XEN_HVM_MEMMAP_TYPE_RESERVED 2
#define XEN_HVM_MEMMAP_TYPE_ACPI     3
#define XEN_HVM_MEMMAP_TYPE_NVS	     4
#define XEN_HVM_MEMMAP_TYPE_UNUSABLE 5
#define XEN_HVM_MEMMAP_TYPE_DISABLED 6
#define XEN_HVM_MEMMAP_TYPE_PMEM     7

/* Passed to the guest in %ebx.  A zero address means "not present". */
struct hvm_start_info {
	uint32_t magic;		 /* XEN_HVM_START_MAGIC_VALUE */
	uint32_t version;	 /* XEN_HVM_START_INFO_VERSION */
	uint32_t flags;		 /* SIF_* flags; none used by Twin */
	uint32_t nr_modules;	 /* entries at modlist_paddr */
	uint64_t modlist_paddr;	 /* struct hvm_modlist_entry[] */
	uint64_t cmdline_paddr;	 /* NUL-terminated ASCII command line */
	uint64_t rsdp_paddr;	 /* ACPI RSDP, 0 when there is none */
	uint64_t memmap_paddr;	 /* struct hvm_memmap_table_entry[] (version >= 1) */
	uint32_t memmap_entries; /* entries at memmap_paddr */
	uint32_t reserved;	 /* must be zero */
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* XEN_HVM_MEMMAP_TYPE_* */
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry layout");

#endif
