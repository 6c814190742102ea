/* Writes the PVH start_info block and builds the 32-bit protected-mode entry state. */
#include <errno.h>
#include <string.h>
#include "hvm_start_info.h"
#include "layout.h"
#include "util.h"
#include "pvh.h"

#define X86_CR0_PE	 0x1ULL
#define X86_CR0_ET	 0x10ULL /* hardwired to 1 since the i486; not a writeable bit */
#define X86_EFLAGS_FIXED 0x2ULL

/* Segment types (the descriptor type field). */
#define SEG_TYPE_CODE_XR_ACCESSED 0xb
#define SEG_TYPE_DATA_RW_ACCESSED 0x3
#define SEG_TYPE_TSS32_BUSY	  0xb

/*
 * The boot GDT, matching the entry state's hidden segment parts, so a guest
 * that reloads a selector before loading its own GDT still gets flat segments.
 */
static const uint64_t boot_gdt[PVH_GDT_ENTRIES] = {
    [PVH_SEL_CODE / 8] = 0x00cf9b000000ffffULL, /* P, DPL0, code XR accessed, G, D */
    [PVH_SEL_DATA / 8] = 0x00cf93000000ffffULL, /* P, DPL0, data RW accessed, G, D */
    [PVH_SEL_TSS / 8] = 0x00008b0000000067ULL,	/* P, busy 32-bit TSS, base 0, limit 0x67 */
};

_Static_assert(LAYOUT_BOOT_GDT + PVH_GDT_ENTRIES * 8 <= LAYOUT_START_INFO,
	       "boot GDT overlaps start_info");
_Static_assert(PVH_MODLIST >= LAYOUT_START_INFO + sizeof(struct hvm_start_info),
	       "modlist overlaps start_info");
_Static_assert(LAYOUT_MEMMAP >= PVH_MODLIST + sizeof(struct hvm_modlist_entry),
	       "memmap overlaps the modlist");
_Static_assert(LAYOUT_MEMMAP + LAYOUT_MEMMAP_MAX * sizeof(struct hvm_memmap_table_entry) <=
		   LAYOUT_CMDLINE,
	       "memmap overlaps cmdline");

int pvh__write_start_info(void *ram, uint64_t low_size, const struct e820_entry *map, int n,
			  const char *cmdline, char *err, size_t errlen)
{
	struct hvm_start_info si;
	uint8_t *base = ram;
	size_t len = cmdline ? strlen(cmdline) : 0;
	int rc;

	if (n < 0 || low_size < LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX) {
		util__set_err(err, errlen,
			      "PVH boot data: %d map entries or %llu bytes of low RAM "
			      "is invalid: this is a bug in the caller",
			      n, (unsigned long long)low_size);
		rc = -EINVAL;
		goto out;
	}
	if (len + 1 > LAYOUT_CMDLINE_MAX) {
		util__set_err(err, errlen,
			      "kernel command line is %zu bytes, longer than the %llu "
			      "the PVH boot area holds: shorten it",
			      len, LAYOUT_CMDLINE_MAX - 1);
		rc = -E2BIG;
		goto out;
	}
	if (n > LAYOUT_MEMMAP_MAX) {
		util__set_err(err, errlen,
			      "memory map has %d entries, more than the %d the PVH boot "
			      "area holds: this is a bug in the map builder",
			      n, LAYOUT_MEMMAP_MAX);
		rc = -E2BIG;
		goto out;
	}

	for (int i = 0; i < n; i++) {
		struct hvm_memmap_table_entry e = {
		    .addr = map[i].addr,
		    .size = map[i].size,
		    .type = map[i].type,
		};

		memcpy(base + LAYOUT_MEMMAP + i * sizeof(e), &e, sizeof(e));
	}
	memcpy(base + LAYOUT_BOOT_GDT, boot_gdt, sizeof(boot_gdt));
	memset(base + LAYOUT_CMDLINE, 0, LAYOUT_CMDLINE_MAX);
	memcpy(base + LAYOUT_CMDLINE, cmdline ? cmdline : "", len);

	si = (struct hvm_start_info){
	    .magic = XEN_HVM_START_MAGIC_VALUE,
	    .version = XEN_HVM_START_INFO_VERSION,
	    .cmdline_paddr = LAYOUT_CMDLINE,
	    .memmap_paddr = n > 0 ? LAYOUT_MEMMAP : 0,
	    .memmap_entries = n,
	};
	memcpy(base + LAYOUT_START_INFO, &si, sizeof(si));
	rc = 0;
out:
	return rc;
}

int pvh__add_module(void *ram, uint64_t low_size, uint64_t paddr, uint64_t size, char *err,
		    size_t errlen)
{
	struct hvm_modlist_entry mod = {.paddr = paddr, .size = size};
	uint8_t *base = ram;
	struct hvm_start_info si;

	if (low_size < PVH_MODLIST + sizeof(mod)) {
		util__set_err(
		    err, errlen,
		    "PVH boot data: %llu bytes of low RAM do not hold the modlist: this is "
		    "a bug in the caller",
		    (unsigned long long)low_size);
		return -EINVAL;
	}
	memcpy(base + PVH_MODLIST, &mod, sizeof(mod));
	memcpy(&si, base + LAYOUT_START_INFO, sizeof(si));
	si.nr_modules = 1;
	si.modlist_paddr = PVH_MODLIST;
	memcpy(base + LAYOUT_START_INFO, &si, sizeof(si));
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type)
{
	*s = (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = selector,
	    .type = type,
	    .present = 1,
	    .dpl = 0,
	    .db = 1, /* 32-bit */
	    .s = 1,  /* code/data, not system */
	    .l = 0,
	    .g = 1, /* 4 KiB granularity: the limit covers 4 GiB */
	};
}

void pvh__entry_state(uint64_t entry, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rip = entry;
	regs->rbx = LAYOUT_START_INFO;
	regs->rflags = X86_EFLAGS_FIXED;

	flat_segment(&sregs->cs, PVH_SEL_CODE, SEG_TYPE_CODE_XR_ACCESSED);
	flat_segment(&sregs->ds, PVH_SEL_DATA, SEG_TYPE_DATA_RW_ACCESSED);
	sregs->es = sregs->ds;
	sregs->fs = sregs->ds;
	sregs->gs = sregs->ds;
	sregs->ss = sregs->ds;

	/* KVM refuses to enter protected mode without a present, busy TSS in TR. */
	sregs->tr = (struct kvm_segment){
	    .base = 0,
	    .limit = 0x67,
	    .selector = PVH_SEL_TSS,
	    .type = SEG_TYPE_TSS32_BUSY,
	    .present = 1,
	};
	sregs->ldt = (struct kvm_segment){.type = 0x2, .unusable = 1};
	sregs->gdt = (struct kvm_dtable){.base = LAYOUT_BOOT_GDT, .limit = sizeof(boot_gdt) - 1};
	sregs->idt = (struct kvm_dtable){0};

	sregs->cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs->cr2 = 0;
	sregs->cr3 = 0;
	sregs->cr4 = 0;
	sregs->efer = 0;
}
