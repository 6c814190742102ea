/* Check suite for PVH boot data: hvm_start_info, memmap, cmdline, and the 32-bit entry state. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "hvm_start_info.h"
#include "layout.h"
#include "e820.h"
#include "pvh.h"

#define RAM_SIZE (2ULL << 20)
#include "ram_fixture.h"

static char err[256];

static struct hvm_start_info start_info(void)
{
	struct hvm_start_info si;

	memcpy(&si, ram + LAYOUT_START_INFO, sizeof(si));
	return si;
}

START_TEST(test_start_info)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	const char *cmdline = "console=ttyS0 pages=4 rate=0";
	int n = e820__build(4ULL << 30, map, E820_MAX_ENTRIES);
	struct hvm_start_info si;

	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(pvh__write_start_info(ram, RAM_SIZE, map, n, cmdline, err, sizeof(err)),
			 0);
	si = start_info();
	ck_assert_uint_eq(si.magic, 0x336ec578u);
	ck_assert_uint_eq(si.version, 1);
	ck_assert_uint_eq(si.flags, 0);
	ck_assert_uint_eq(si.nr_modules, 0);
	ck_assert_uint_eq(si.modlist_paddr, 0);
	ck_assert_uint_eq(si.rsdp_paddr, 0);
	ck_assert_uint_eq(si.reserved, 0);
	ck_assert_uint_eq(si.cmdline_paddr, LAYOUT_CMDLINE);
	ck_assert_str_eq((const char *)ram + si.cmdline_paddr, cmdline);
	ck_assert_uint_eq(si.memmap_paddr, LAYOUT_MEMMAP);
	ck_assert_uint_eq(si.memmap_entries, 5);
	for (int i = 0; i < n; i++) {
		struct hvm_memmap_table_entry e;

		memcpy(&e, ram + si.memmap_paddr + i * sizeof(e), sizeof(e));
		ck_assert_uint_eq(e.addr, map[i].addr);
		ck_assert_uint_eq(e.size, map[i].size);
		ck_assert_uint_eq(e.type, map[i].type);
		ck_assert_uint_eq(e.reserved, 0);
	}
	/* The e820 types are the PVH memmap types. */
	ck_assert_uint_eq(E820_RAM, XEN_HVM_MEMMAP_TYPE_RAM);
	ck_assert_uint_eq(E820_RESERVED, XEN_HVM_MEMMAP_TYPE_RESERVED);
	/* Nothing written beyond the boot area. */
	ck_assert(ram_untouched(LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX, RAM_SIZE));
	ck_assert(ram_untouched(0, LAYOUT_BOOT_GDT));
}
END_TEST

START_TEST(test_empty_cmdline)
{
	struct hvm_start_info si;

	ck_assert_int_eq(pvh__write_start_info(ram, RAM_SIZE, NULL, 0, NULL, err, sizeof(err)), 0);
	si = start_info();
	ck_assert_uint_eq(si.magic, XEN_HVM_START_MAGIC_VALUE);
	ck_assert_str_eq((const char *)ram + si.cmdline_paddr, "");
	ck_assert_uint_eq(si.memmap_entries, 0);
}
END_TEST

START_TEST(test_cmdline_limits)
{
	char *line = malloc(LAYOUT_CMDLINE_MAX + 1);

	ck_assert_ptr_nonnull(line);
	/* The longest line that fits: LAYOUT_CMDLINE_MAX - 1 characters and the NUL. */
	memset(line, 'x', LAYOUT_CMDLINE_MAX - 1);
	line[LAYOUT_CMDLINE_MAX - 1] = '\0';
	ck_assert_int_eq(pvh__write_start_info(ram, RAM_SIZE, NULL, 0, line, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen((const char *)ram + LAYOUT_CMDLINE), LAYOUT_CMDLINE_MAX - 1);

	memset(ram, RAM_FILL, RAM_SIZE);
	line[LAYOUT_CMDLINE_MAX - 1] = 'x';
	line[LAYOUT_CMDLINE_MAX] = '\0';
	err[0] = '\0';
	ck_assert_int_eq(pvh__write_start_info(ram, RAM_SIZE, NULL, 0, line, err, sizeof(err)),
			 -E2BIG);
	ck_assert_ptr_nonnull(strstr(err, "command line"));
	/* Refused before anything was written. */
	ck_assert(ram_untouched(0, RAM_SIZE));
	free(line);
}
END_TEST

START_TEST(test_map_too_long)
{
	struct e820_entry map[LAYOUT_MEMMAP_MAX + 1];

	for (int i = 0; i <= LAYOUT_MEMMAP_MAX; i++)
		map[i] = (struct e820_entry){(uint64_t)i << 32, 4096, E820_RAM};
	ck_assert_int_eq(
	    pvh__write_start_info(ram, RAM_SIZE, map, LAYOUT_MEMMAP_MAX + 1, "x", err, sizeof(err)),
	    -E2BIG);
	ck_assert_ptr_nonnull(strstr(err, "memory map"));
	ck_assert(ram_untouched(0, RAM_SIZE));
	ck_assert_int_eq(
	    pvh__write_start_info(ram, RAM_SIZE, map, LAYOUT_MEMMAP_MAX, "x", err, sizeof(err)), 0);
	ck_assert_uint_eq(start_info().memmap_entries, LAYOUT_MEMMAP_MAX);
	ck_assert_int_eq(pvh__write_start_info(ram, RAM_SIZE, map, -1, "x", err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(pvh__write_start_info(ram, 0x7000, map, 1, "x", err, sizeof(err)),
			 -EINVAL);
}
END_TEST

/* The hidden part of a segment register must match what its GDT descriptor would load. */
static void check_descriptor(const struct kvm_sregs *sregs, const struct kvm_segment *seg)
{
	uint64_t d;
	uint32_t limit, base;

	ck_assert_uint_lt(seg->selector + 7, sregs->gdt.limit + 1);
	memcpy(&d, ram + sregs->gdt.base + seg->selector, sizeof(d));
	base = (uint32_t)(((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24));
	limit = (uint32_t)((d & 0xffff) | (((d >> 48) & 0xf) << 16));
	if ((d >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	ck_assert_uint_eq(base, seg->base);
	ck_assert_uint_eq(limit, seg->limit);
	ck_assert_uint_eq((d >> 40) & 0xf, seg->type);
	ck_assert_uint_eq((d >> 44) & 1, seg->s);
	ck_assert_uint_eq((d >> 45) & 3, seg->dpl);
	ck_assert_uint_eq((d >> 47) & 1, seg->present);
	ck_assert_uint_eq((d >> 54) & 1, seg->db);
	ck_assert_uint_eq((d >> 53) & 1, seg->l);
}

static void check_flat(const struct kvm_segment *s, int code)
{
	ck_assert_uint_eq(s->base, 0);
	ck_assert_uint_eq(s->limit, 0xffffffff);
	ck_assert_uint_eq(s->present, 1);
	ck_assert_uint_eq(s->s, 1);
	ck_assert_uint_eq(s->db, 1); /* 32-bit */
	ck_assert_uint_eq(s->l, 0);
	ck_assert_uint_eq(s->dpl, 0);
	ck_assert_uint_eq(s->unusable, 0);
	if (code) {
		ck_assert_uint_eq(s->type & 0x8, 0x8); /* code */
		ck_assert_uint_eq(s->type & 0x2, 0x2); /* readable */
	} else {
		ck_assert_uint_eq(s->type & 0x8, 0);   /* data */
		ck_assert_uint_eq(s->type & 0x2, 0x2); /* writable */
		ck_assert_uint_eq(s->type & 0x4, 0);   /* expands up */
	}
}

START_TEST(test_entry_state)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	memset(&regs, 0x5a, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	/* What KVM_GET_SREGS returns and the entry state must keep. */
	sregs.apic_base = 0xfee00900;
	sregs.interrupt_bitmap[0] = 0x8;
	sregs.cr0 = 0x60000010;
	sregs.cr4 = 0x20;
	ck_assert_int_eq(pvh__write_start_info(ram, RAM_SIZE, NULL, 0, "", err, sizeof(err)), 0);
	pvh__entry_state(0x1000123, &regs, &sregs);

	ck_assert_uint_eq(regs.rip, 0x1000123);
	ck_assert_uint_eq(regs.rbx, LAYOUT_START_INFO);
	ck_assert_uint_eq(regs.rflags, 0x2); /* bit 1 set; IF, TF, VM clear */
	ck_assert_uint_eq(regs.rax, 0);

	ck_assert_uint_eq(sregs.cr0 & 1, 1);	      /* PE */
	ck_assert_uint_eq(sregs.cr0 & 0x80000000, 0); /* PG off */
	ck_assert_uint_eq(sregs.cr0 & ~0x11ULL, 0);   /* only PE and the fixed ET */
	ck_assert_uint_eq(sregs.cr4, 0);
	ck_assert_uint_eq(sregs.efer, 0);
	check_flat(&sregs.cs, 1);
	check_flat(&sregs.ds, 0);
	check_flat(&sregs.es, 0);
	check_flat(&sregs.ss, 0);
	ck_assert_uint_eq(sregs.cs.selector, PVH_SEL_CODE);
	ck_assert_uint_eq(sregs.ds.selector, PVH_SEL_DATA);
	ck_assert_uint_eq(sregs.ss.selector, PVH_SEL_DATA);

	/* TR: a present busy 32-bit TSS, base 0, limit 0x67 (what the ABI and KVM want). */
	ck_assert_uint_eq(sregs.tr.type, 11);
	ck_assert_uint_eq(sregs.tr.present, 1);
	ck_assert_uint_eq(sregs.tr.s, 0);
	ck_assert_uint_eq(sregs.tr.base, 0);
	ck_assert_uint_eq(sregs.tr.limit, 0x67);
	ck_assert_uint_ne(sregs.tr.selector, 0);
	ck_assert_uint_eq(sregs.ldt.unusable, 1);

	/* The boot GDT in RAM agrees with the hidden segment state. */
	ck_assert_uint_eq(sregs.gdt.base, LAYOUT_BOOT_GDT);
	check_descriptor(&sregs, &sregs.cs);
	check_descriptor(&sregs, &sregs.ds);
	check_descriptor(&sregs, &sregs.tr);

	ck_assert_uint_eq(sregs.apic_base, 0xfee00900);
	ck_assert_uint_eq(sregs.interrupt_bitmap[0], 0x8);
}
END_TEST

START_TEST(test_module)
{
	struct hvm_modlist_entry mod;
	struct hvm_start_info si;

	ck_assert_int_eq(pvh__write_start_info(ram, RAM_SIZE, NULL, 0, "x", err, sizeof(err)), 0);
	ck_assert_int_eq(pvh__add_module(ram, RAM_SIZE, 0x1ff000, 0x800, err, sizeof(err)), 0);
	si = start_info();
	ck_assert_uint_eq(si.magic, XEN_HVM_START_MAGIC_VALUE);
	ck_assert_uint_eq(si.nr_modules, 1);
	ck_assert_uint_eq(si.modlist_paddr, PVH_MODLIST);
	ck_assert_uint_eq(si.cmdline_paddr, LAYOUT_CMDLINE);
	memcpy(&mod, ram + si.modlist_paddr, sizeof(mod));
	ck_assert_uint_eq(mod.paddr, 0x1ff000);
	ck_assert_uint_eq(mod.size, 0x800);
	ck_assert_uint_eq(mod.cmdline_paddr, 0);
	ck_assert_uint_eq(mod.reserved, 0);
	ck_assert_int_eq(pvh__add_module(ram, PVH_MODLIST, 0, 1, err, sizeof(err)), -EINVAL);
}
END_TEST

Suite *pvh_suite(void)
{
	Suite *s = suite_create("pvh");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, ram_setup, ram_teardown);
	tcase_add_test(tc, test_start_info);
	tcase_add_test(tc, test_empty_cmdline);
	tcase_add_test(tc, test_cmdline_limits);
	tcase_add_test(tc, test_map_too_long);
	tcase_add_test(tc, test_entry_state);
	tcase_add_test(tc, test_module);
	suite_add_tcase(s, tc);
	return s;
}
