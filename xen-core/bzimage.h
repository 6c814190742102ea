/* Linux/x86 boot protocol (2.10+): the bzImage setup header, the zero page and the loader. */
#ifndef XEN_CORE_BZIMAGE_H
#define XEN_CORE_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "e820.h"
#include "layout.h"

/*
 * Written from Documentation/arch/x86/boot.rst and zero-page.rst.  All fields
 * are little-endian, at the offsets noted (from the start of the image / of
 * boot_params; the setup header sits at 0x1f1 in both).
 */
#define BZIMAGE_HDR_OFFSET    0x1f1
#define BZIMAGE_HDR_MAGIC     0x53726448u /* "HdrS" */
#define BZIMAGE_BOOT_FLAG     0xaa55
#define BZIMAGE_MIN_VERSION   0x020a /* 2.10: pref_address, init_size */
#define BZIMAGE_LOADED_HIGH   0x01   /* loadflags: protected-mode kernel at 1 MiB or above */
#define BZIMAGE_CAN_USE_HEAP  0x80   /* loadflags: heap_end_ptr is valid */
#define BZIMAGE_XLF_KERNEL_64 0x01   /* xloadflags: has the 64-bit entry at +0x200 */
#define BZIMAGE_ENTRY64_OFF   0x200
#define BZIMAGE_E820_MAX      128 /* entries in boot_params.e820_table */

struct bzimage_setup_header {
	uint8_t setup_sects;		/* 0x1f1: 512-byte setup sectors; 0 means 4 */
	uint16_t root_flags;		/* 0x1f2 */
	uint32_t syssize;		/* 0x1f4: protected-mode kernel size, 16-byte units */
	uint16_t ram_size;		/* 0x1f8 */
	uint16_t vid_mode;		/* 0x1fa */
	uint16_t root_dev;		/* 0x1fc */
	uint16_t boot_flag;		/* 0x1fe: 0xaa55 */
	uint8_t jump[2];		/* 0x200: jmp short; jump[1] + 0x202 ends the header */
	uint32_t header;		/* 0x202: "HdrS" */
	uint16_t version;		/* 0x206: protocol, major << 8 | minor */
	uint32_t realmode_swtch;	/* 0x208 */
	uint16_t start_sys_seg;		/* 0x20c */
	uint16_t kernel_version;	/* 0x20e */
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;		/* 0x211 */
	uint16_t setup_move_size;	/* 0x212 */
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21c */
	uint32_t bootsect_kludge;	/* 0x220 */
	uint16_t heap_end_ptr;		/* 0x224 */
	uint8_t ext_loader_ver;		/* 0x226 */
	uint8_t ext_loader_type;	/* 0x227 */
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;	/* 0x22c: highest byte an initrd may occupy */
	uint32_t kernel_alignment;	/* 0x230 */
	uint8_t relocatable_kernel;	/* 0x234 */
	uint8_t min_alignment;		/* 0x235 */
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;		/* 0x238: longest command line, without the NUL */
	uint32_t hardware_subarch;	/* 0x23c */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;	/* 0x248 */
	uint32_t payload_length;	/* 0x24c */
	uint64_t setup_data;		/* 0x250 */
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size;		/* 0x260: memory the kernel needs from its load address */
	uint32_t handover_offset;	/* 0x264 */
	uint32_t kernel_info_offset;	/* 0x268 */
} __attribute__((packed));

struct bzimage_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
} __attribute__((packed));

/* struct boot_params, "the zero page": only the fields a 64-bit boot loader fills are named. */
struct bzimage_boot_params {
	uint8_t screen_info[0x40];	 /* 0x000: zero: no video, so no VGA text output */
	uint8_t pad0[0x30];		 /* 0x040 */
	uint64_t acpi_rsdp_addr;	 /* 0x070: 0, there is no ACPI */
	uint8_t pad1[0x48];		 /* 0x078 */
	uint32_t ext_ramdisk_image;	 /* 0x0c0 */
	uint32_t ext_ramdisk_size;	 /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;	 /* 0x0c8 */
	uint8_t pad2[0x11c];		 /* 0x0cc */
	uint8_t e820_entries;		 /* 0x1e8 */
	uint8_t pad3[8];		 /* 0x1e9 */
	struct bzimage_setup_header hdr; /* 0x1f1 */
	uint8_t pad4[0x64];		 /* 0x26c */
	struct bzimage_e820_entry e820_table[BZIMAGE_E820_MAX]; /* 0x2d0 */
	uint8_t pad5[0x330];					/* 0xcd0 */
} __attribute__((packed));

_Static_assert(sizeof(struct bzimage_setup_header) == 0x26c - 0x1f1, "setup header layout");
_Static_assert(sizeof(struct bzimage_boot_params) == 4096, "boot_params is one page");

/* Where the loader puts its boot data, in low RAM next to the PVH area it reuses for cmdline. */
#define BZIMAGE_ZERO_PAGE 0x8000ULL
#define BZIMAGE_CMDLINE	  LAYOUT_CMDLINE
_Static_assert(BZIMAGE_CMDLINE + LAYOUT_CMDLINE_MAX <= BZIMAGE_ZERO_PAGE,
	       "cmdline overlaps zero page");

/* What bzimage__parse learnt from a header, and where the kernel goes in RAM. */
struct bzimage_info {
	struct bzimage_setup_header hdr; /* as in the file */
	uint64_t kernel_offset;		 /* file offset of the protected-mode kernel */
	uint64_t kernel_size;		 /* its size in the file */
	uint64_t load_addr;		 /* guest-physical address it is loaded at */
	uint64_t header_end;		 /* file offset one past the setup header */
};

/*
 * Check the setup header of file[0..size) and place the kernel in low RAM of
 * low_size bytes: at pref_address when it fits there, else (relocatable
 * kernels only) at the first kernel_alignment boundary from 1 MiB.  Returns 0,
 * -ENOEXEC (no "HdrS"/boot flag, protocol older than 2.10, no 64-bit entry),
 * -EINVAL (setup or kernel past the end of the file, a header jump that ends
 * it before init_size, bad alignment or init_size, a fixed kernel that asks
 * for an address below 1 MiB), -ERANGE (init_size does not fit in RAM); err
 * gets one line.
 */
int bzimage__parse(const void *file, size_t size, uint64_t low_size, struct bzimage_info *out,
		   char *err, size_t errlen);

/*
 * Choose the initrd's address: page-aligned, as high as low RAM and
 * initrd_addr_max allow, above the page where the kernel's init_size area
 * ends.  Returns 0 with *addr, or -ERANGE naming whether it is too big or
 * the limit too low.
 */
int bzimage__place_initrd(const struct bzimage_info *info, uint64_t low_size, uint64_t initrd_size,
			  uint64_t *addr, char *err, size_t errlen);

/*
 * Fill zp (zeroed first) for a 64-bit boot: the file's setup header with
 * the fields the loader writes (setup_data, hardware_subarch(_data),
 * ext_loader_*) zeroed, then the loader's fields, the e820 map, the cmdline at cmdline_addr and the
 * initrd (size 0: none).  -E2BIG if map has more than BZIMAGE_E820_MAX entries.
 */
int bzimage__zero_page(const void *file, const struct bzimage_info *info,
		       const struct e820_entry *map, int n, uint64_t cmdline_addr,
		       uint64_t initrd_addr, uint64_t initrd_size, struct bzimage_boot_params *zp,
		       char *err, size_t errlen);

/* What a load needs besides guest RAM. */
struct bzimage_load {
	const void *kernel;
	size_t kernel_size;
	const void *initrd; /* NULL: no initrd */
	size_t initrd_size;
	const char *cmdline; /* NULL: empty */
	const struct e820_entry *map;
	int map_entries;
};

/* Where a load put things, for the boot CPU. */
struct bzimage_image {
	uint64_t load_addr;
	uint64_t entry64; /* startup_64: load_addr + 0x200 */
	uint64_t zero_page;
	uint64_t initrd_addr; /* 0: no initrd */
};

/*
 * Check everything (header, cmdline against cmdline_size and the boot area,
 * initrd placement), then copy the protected-mode kernel, the initrd, the
 * cmdline and the zero page into ram (host pointer to GPA 0, low_size bytes
 * below the PCI hole).  Nothing is written unless every check passes.
 * Returns 0 or the errors above, plus -E2BIG for a cmdline that is too long.
 */
int bzimage__load(const struct bzimage_load *in, void *ram, uint64_t low_size,
		  struct bzimage_image *out, char *err, size_t errlen);

#endif
