/* Checks a bzImage's setup header, places kernel and initrd, and builds the zero page. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include "bzimage.h"
#include "util.h"

_Static_assert(offsetof(struct bzimage_boot_params, ext_ramdisk_image) == 0x0c0, "zero page");
_Static_assert(offsetof(struct bzimage_boot_params, e820_entries) == 0x1e8, "zero page");
_Static_assert(offsetof(struct bzimage_boot_params, hdr) == BZIMAGE_HDR_OFFSET, "zero page");
_Static_assert(offsetof(struct bzimage_boot_params, hdr.cmd_line_ptr) == 0x228, "zero page");
_Static_assert(offsetof(struct bzimage_boot_params, hdr.pref_address) == 0x258, "zero page");
_Static_assert(offsetof(struct bzimage_boot_params, e820_table) == 0x2d0, "zero page");

#define MIB	     (1ULL << 20)
#define PAGE_SIZE    4096ULL
#define HEAP_END_PTR 0xfe00 /* the customary value: setup heap up to 0xfe00 past the setup */
#define VID_NORMAL   0xffff /* vid_mode "normal": no mode switch asked */
#define LOADER_UNDEF 0xff   /* type_of_loader: a boot loader without an assigned ID */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static int place_kernel(const struct bzimage_setup_header *h, uint64_t low_size, uint64_t *addr,
			char *err, size_t errlen)
{
	uint64_t pref = h->pref_address, align = h->kernel_alignment;

	if (h->relocatable_kernel && (align == 0 || (align & (align - 1)) != 0)) {
		util__set_err(
		    err, errlen,
		    "bzImage: kernel_alignment 0x%llx is not a power of two: corrupt header",
		    (unsigned long long)align);
		return -EINVAL;
	}
	if (!h->relocatable_kernel && pref < LAYOUT_HIGH_START) {
		util__set_err(err, errlen,
			      "bzImage: pref_address 0x%llx is below 1 MiB and the kernel is not "
			      "relocatable: build it with CONFIG_RELOCATABLE=y",
			      (unsigned long long)pref);
		return -EINVAL;
	}
	if (pref >= LAYOUT_HIGH_START && pref < low_size && h->init_size <= low_size - pref &&
	    (!h->relocatable_kernel || pref % align == 0)) {
		*addr = pref;
		return 0;
	}
	if (h->relocatable_kernel) {
		uint64_t a = align_up(LAYOUT_HIGH_START, align);

		if (a < low_size && h->init_size <= low_size - a) {
			*addr = a;
			return 0;
		}
		pref = a;
	}
	util__set_err(err, errlen,
		      "bzImage: the kernel needs 0x%x bytes (init_size) from 0x%llx, beyond the "
		      "0x%llx bytes of low RAM: raise --mem",
		      h->init_size, (unsigned long long)pref, (unsigned long long)low_size);
	return -ERANGE;
}

int bzimage__parse(const void *file, size_t size, uint64_t low_size, struct bzimage_info *out,
		   char *err, size_t errlen)
{
	const uint8_t *f = file;
	struct bzimage_setup_header h;
	uint64_t sects;
	int rc;

	/* Every field up to init_size exists from protocol 2.10 on. */
	if (size < offsetof(struct bzimage_boot_params, hdr.handover_offset)) {
		util__set_err(err, errlen,
			      "bzImage: %zu bytes is too short for a boot sector and setup header: "
			      "not a bzImage",
			      size);
		return -ENOEXEC;
	}
	memset(&h, 0, sizeof(h));
	memcpy(&h, f + BZIMAGE_HDR_OFFSET,
	       size < BZIMAGE_HDR_OFFSET + sizeof(h) ? size - BZIMAGE_HDR_OFFSET : sizeof(h));
	if (h.header != BZIMAGE_HDR_MAGIC || h.boot_flag != BZIMAGE_BOOT_FLAG) {
		util__set_err(err, errlen,
			      "bzImage: no \"HdrS\" magic at 0x202 or boot flag 0xaa55 at 0x1fe: "
			      "not a Linux/x86 kernel image");
		return -ENOEXEC;
	}
	if (h.version < BZIMAGE_MIN_VERSION) {
		util__set_err(
		    err, errlen,
		    "bzImage: boot protocol %u.%02u is older than 2.10: use a newer kernel",
		    h.version >> 8, h.version & 0xff);
		return -ENOEXEC;
	}
	if (!(h.xloadflags & BZIMAGE_XLF_KERNEL_64)) {
		util__set_err(err, errlen,
			      "bzImage: no 64-bit entry point (XLF_KERNEL_64 clear): use an x86-64 "
			      "kernel");
		return -ENOEXEC;
	}
	sects = h.setup_sects ? h.setup_sects : 4;
	out->kernel_offset = (sects + 1) * 512;
	out->kernel_size = (uint64_t)h.syssize * 16;
	if (out->kernel_offset >= size) {
		util__set_err(
		    err, errlen,
		    "bzImage: %llu setup sectors end past the %zu-byte file: truncated or "
		    "corrupt",
		    (unsigned long long)sects, size);
		return -EINVAL;
	}
	if (out->kernel_size == 0 || out->kernel_size > size - out->kernel_offset) {
		util__set_err(err, errlen,
			      "bzImage: syssize says a %llu-byte kernel, the file has %llu bytes "
			      "after the setup: truncated or corrupt",
			      (unsigned long long)out->kernel_size,
			      (unsigned long long)(size - out->kernel_offset));
		return -EINVAL;
	}
	if (h.init_size < out->kernel_size) {
		util__set_err(err, errlen,
			      "bzImage: init_size 0x%x is smaller than the 0x%llx-byte kernel: "
			      "corrupt header",
			      h.init_size, (unsigned long long)out->kernel_size);
		return -EINVAL;
	}
	rc = place_kernel(&h, low_size, &out->load_addr, err, errlen);
	if (rc)
		return rc;
	/* The jump over the header says where it ends; 2.10 fields run to init_size. */
	out->header_end = 0x202 + (uint64_t)h.jump[1];
	if (out->header_end < offsetof(struct bzimage_boot_params, hdr.handover_offset)) {
		util__set_err(err, errlen,
			      "bzImage: the jump at 0x200 ends the setup header at 0x%llx, before "
			      "init_size: corrupt header",
			      (unsigned long long)out->header_end);
		return -EINVAL;
	}
	if (out->header_end > size)
		out->header_end = size;
	out->hdr = h;
	return 0;
}

int bzimage__place_initrd(const struct bzimage_info *info, uint64_t low_size, uint64_t initrd_size,
			  uint64_t *addr, char *err, size_t errlen)
{
	/* Rounded up: the initrd's page must not share one with the init_size area. */
	uint64_t kernel_end = align_up(info->load_addr + info->hdr.init_size, PAGE_SIZE);
	/* initrd_addr_max is the last byte the initrd may use, not one past it. */
	uint64_t top = (uint64_t)info->hdr.initrd_addr_max + 1;

	if (top > low_size)
		top = low_size;
	if (top < kernel_end + PAGE_SIZE) {
		util__set_err(err, errlen,
			      "initrd: the kernel's initrd_addr_max 0x%x leaves no room above the "
			      "kernel (it ends at 0x%llx): this kernel cannot take an initrd here",
			      info->hdr.initrd_addr_max, (unsigned long long)kernel_end);
		return -ERANGE;
	}
	if (initrd_size > (top - kernel_end) / PAGE_SIZE * PAGE_SIZE) {
		util__set_err(err, errlen,
			      "initrd: %llu bytes do not fit between the kernel's end 0x%llx and "
			      "0x%llx: raise --mem or shrink the initrd",
			      (unsigned long long)initrd_size, (unsigned long long)kernel_end,
			      (unsigned long long)top);
		return -ERANGE;
	}
	*addr = (top - initrd_size) & ~(PAGE_SIZE - 1);
	return 0;
}

int bzimage__zero_page(const void *file, const struct bzimage_info *info,
		       const struct e820_entry *map, int n, uint64_t cmdline_addr,
		       uint64_t initrd_addr, uint64_t initrd_size, struct bzimage_boot_params *zp,
		       char *err, size_t errlen)
{
	struct bzimage_setup_header *h = &zp->hdr;
	size_t hdr_len = info->header_end - BZIMAGE_HDR_OFFSET;

	if (n < 0 || n > BZIMAGE_E820_MAX) {
		util__set_err(err, errlen,
			      "zero page: %d e820 entries, the zero page holds 0 to %d: this is a "
			      "bug in the map builder",
			      n, BZIMAGE_E820_MAX);
		return -E2BIG;
	}
	memset(zp, 0, sizeof(*zp));
	/* The protocol asks for the image's header as is; the loader then fills its fields. */
	if (hdr_len > sizeof(*h))
		hdr_len = sizeof(*h);
	memcpy(h, (const uint8_t *)file + BZIMAGE_HDR_OFFSET, hdr_len);
	/*
	 * Fields boot.rst marks "write" for the loader: the file's bytes mean
	 * nothing there, and a stray setup_data would send Linux down a pointer
	 * chain read from the image.  We use none of them, so they are zero.
	 */
	h->ext_loader_ver = 0;
	h->ext_loader_type = 0;
	h->hardware_subarch = 0; /* X86_SUBARCH_PC */
	h->hardware_subarch_data = 0;
	h->setup_data = 0;

	h->vid_mode = VID_NORMAL;
	h->type_of_loader = LOADER_UNDEF;
	h->loadflags = (info->hdr.loadflags & BZIMAGE_LOADED_HIGH) | BZIMAGE_CAN_USE_HEAP;
	h->heap_end_ptr = HEAP_END_PTR;
	h->code32_start = (uint32_t)info->load_addr;
	h->cmd_line_ptr = (uint32_t)cmdline_addr;
	zp->ext_cmd_line_ptr = (uint32_t)(cmdline_addr >> 32);
	h->ramdisk_image = (uint32_t)initrd_addr;
	zp->ext_ramdisk_image = (uint32_t)(initrd_addr >> 32);
	h->ramdisk_size = (uint32_t)initrd_size;
	zp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);

	zp->e820_entries = (uint8_t)n;
	for (int i = 0; i < n; i++)
		zp->e820_table[i] = (struct bzimage_e820_entry){
		    .addr = map[i].addr,
		    .size = map[i].size,
		    .type = map[i].type,
		};
	return 0;
}

int bzimage__load(const struct bzimage_load *in, void *ram, uint64_t low_size,
		  struct bzimage_image *out, char *err, size_t errlen)
{
	struct bzimage_boot_params zp;
	struct bzimage_info info;
	uint8_t *base = ram;
	size_t len = in->cmdline ? strlen(in->cmdline) : 0;
	uint64_t initrd_addr = 0;
	int rc;

	if (low_size < BZIMAGE_ZERO_PAGE + sizeof(zp)) {
		util__set_err(err, errlen,
			      "bzImage: %llu bytes of low RAM do not hold the boot data: this is a "
			      "bug in the caller",
			      (unsigned long long)low_size);
		return -EINVAL;
	}
	rc = bzimage__parse(in->kernel, in->kernel_size, low_size, &info, err, errlen);
	if (rc)
		return rc;
	if (len > info.hdr.cmdline_size || len + 1 > LAYOUT_CMDLINE_MAX) {
		util__set_err(err, errlen,
			      "kernel command line is %zu bytes, longer than the %llu this kernel "
			      "and boot area take: shorten it",
			      len,
			      (unsigned long long)(info.hdr.cmdline_size < LAYOUT_CMDLINE_MAX - 1
						       ? info.hdr.cmdline_size
						       : LAYOUT_CMDLINE_MAX - 1));
		return -E2BIG;
	}
	if (in->initrd) {
		rc = bzimage__place_initrd(&info, low_size, in->initrd_size, &initrd_addr, err,
					   errlen);
		if (rc)
			return rc;
	}
	rc = bzimage__zero_page(in->kernel, &info, in->map, in->map_entries, BZIMAGE_CMDLINE,
				initrd_addr, in->initrd ? in->initrd_size : 0, &zp, err, errlen);
	if (rc)
		return rc;

	/* Everything checked out: only now write guest RAM. */
	memcpy(base + info.load_addr, (const uint8_t *)in->kernel + info.kernel_offset,
	       info.kernel_size);
	if (in->initrd)
		memcpy(base + initrd_addr, in->initrd, in->initrd_size);
	memset(base + BZIMAGE_CMDLINE, 0, LAYOUT_CMDLINE_MAX);
	memcpy(base + BZIMAGE_CMDLINE, in->cmdline ? in->cmdline : "", len);
	memcpy(base + BZIMAGE_ZERO_PAGE, &zp, sizeof(zp));

	*out = (struct bzimage_image){
	    .load_addr = info.load_addr,
	    .entry64 = info.load_addr + BZIMAGE_ENTRY64_OFF,
	    .zero_page = BZIMAGE_ZERO_PAGE,
	    .initrd_addr = initrd_addr,
	};
	return 0;
}
