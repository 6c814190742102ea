/* Check suite for the bzImage loader: header checks, placement, zero page, 64-bit entry state. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "boot_cpu.h"
#include "bzimage.h"
#include "e820.h"
#include "layout.h"

#define RAM_SIZE (8ULL << 20)
#include "ram_fixture.h"

#define SETUP_SECTS 3
#define KERNEL_OFF  ((SETUP_SECTS + 1) * 512)
#define KERNEL_LEN  0x1000
#define FILE_LEN    (KERNEL_OFF + KERNEL_LEN)
#define PREF	    0x200000ULL
#define INIT_SIZE   0x100000U

static uint8_t file[FILE_LEN];
static char err[256];

static struct bzimage_setup_header *hdr(void)
{
	return (struct bzimage_setup_header *)(file + BZIMAGE_HDR_OFFSET);
}

/* A small but well-formed 64-bit bzImage: protocol 2.15, relocatable, kernel at 2 MiB. */
static void make_file(void)
{
	struct bzimage_setup_header *h = hdr();

	memset(file, 0, sizeof(file));
	h->setup_sects = SETUP_SECTS;
	h->syssize = KERNEL_LEN / 16;
	h->boot_flag = BZIMAGE_BOOT_FLAG;
	h->jump[0] = 0xeb;
	h->jump[1] = 0x6a; /* header up to 0x26c */
	h->header = BZIMAGE_HDR_MAGIC;
	h->version = 0x020f;
	h->loadflags = BZIMAGE_LOADED_HIGH;
	h->code32_start = 0x100000;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = BZIMAGE_XLF_KERNEL_64;
	h->cmdline_size = 2047;
	h->pref_address = PREF;
	h->init_size = INIT_SIZE;
	for (int i = 0; i < KERNEL_LEN; i++)
		file[KERNEL_OFF + i] = (uint8_t)(i * 7 + 1);
}

static void setup(void)
{
	ram_setup();
	make_file();
}

static int parse(struct bzimage_info *info)
{
	return bzimage__parse(file, sizeof(file), RAM_SIZE, info, err, sizeof(err));
}

/* Parse must fail with rc and an error containing what. */
static void expect_bad(int rc, const char *what)
{
	struct bzimage_info info;

	ck_assert_int_eq(parse(&info), rc);
	ck_assert_msg(strstr(err, what), "error \"%s\" lacks \"%s\"", err, what);
}

START_TEST(test_good_header)
{
	struct bzimage_info info;

	ck_assert_int_eq(parse(&info), 0);
	ck_assert_uint_eq(info.kernel_offset, KERNEL_OFF);
	ck_assert_uint_eq(info.kernel_size, KERNEL_LEN);
	ck_assert_uint_eq(info.load_addr, PREF);
	ck_assert_uint_eq(info.header_end, 0x26c);
	ck_assert_uint_eq(info.hdr.version, 0x020f);
}
END_TEST

START_TEST(test_setup_sects_zero_means_four)
{
	static uint8_t big[5 * 512 + KERNEL_LEN];
	struct bzimage_info info;

	memcpy(big, file, 0x400);
	((struct bzimage_setup_header *)(big + BZIMAGE_HDR_OFFSET))->setup_sects = 0;
	ck_assert_int_eq(bzimage__parse(big, sizeof(big), RAM_SIZE, &info, err, sizeof(err)), 0);
	ck_assert_uint_eq(info.kernel_offset, 5 * 512);
}
END_TEST

START_TEST(test_relocatable_placement)
{
	struct bzimage_info info;

	/* pref_address beyond RAM: a relocatable kernel goes to the first aligned spot. */
	hdr()->pref_address = 0x40000000;
	ck_assert_int_eq(parse(&info), 0);
	ck_assert_uint_eq(info.load_addr, 0x200000);
	/* Misaligned pref_address: not used. */
	hdr()->pref_address = 0x300000;
	ck_assert_int_eq(parse(&info), 0);
	ck_assert_uint_eq(info.load_addr, 0x200000);
	/* A fixed kernel is loaded where it asks or not at all. */
	hdr()->relocatable_kernel = 0;
	ck_assert_int_eq(parse(&info), 0);
	ck_assert_uint_eq(info.load_addr, 0x300000);
	hdr()->pref_address = 0x40000000;
	expect_bad(-ERANGE, "raise --mem");
}
END_TEST

START_TEST(test_fixed_kernel_below_1mib)
{
	/* More RAM cannot help a kernel that must sit in the first MiB: say what can. */
	hdr()->relocatable_kernel = 0;
	hdr()->pref_address = 0x10000;
	expect_bad(-EINVAL,
		   "pref_address 0x10000 is below 1 MiB and the kernel is not relocatable");
	ck_assert_ptr_null(strstr(err, "--mem"));
	/* A relocatable one just moves up. */
	hdr()->relocatable_kernel = 1;
	hdr()->pref_address = 0x10000;
	ck_assert_int_eq(parse(&(struct bzimage_info){0}), 0);
}
END_TEST

START_TEST(test_no_magic)
{
	hdr()->header = 0x53726447;
	expect_bad(-ENOEXEC, "HdrS");
	make_file();
	hdr()->boot_flag = 0;
	expect_bad(-ENOEXEC, "0xaa55");
}
END_TEST

START_TEST(test_too_short)
{
	struct bzimage_info info;

	ck_assert_int_eq(bzimage__parse(file, 0x263, RAM_SIZE, &info, err, sizeof(err)), -ENOEXEC);
	ck_assert(strstr(err, "too short"));
	ck_assert_int_eq(bzimage__parse(file, 0, RAM_SIZE, &info, err, sizeof(err)), -ENOEXEC);
}
END_TEST

START_TEST(test_old_protocol)
{
	hdr()->version = 0x0209;
	expect_bad(-ENOEXEC, "2.09 is older than 2.10");
}
END_TEST

START_TEST(test_not_64bit)
{
	hdr()->xloadflags = 0;
	expect_bad(-ENOEXEC, "XLF_KERNEL_64");
}
END_TEST

START_TEST(test_setup_past_eof)
{
	hdr()->setup_sects = FILE_LEN / 512;
	expect_bad(-EINVAL, "setup sectors end past");
}
END_TEST

START_TEST(test_syssize_past_eof)
{
	hdr()->syssize = KERNEL_LEN / 16 + 1;
	expect_bad(-EINVAL, "syssize");
	hdr()->syssize = 0;
	expect_bad(-EINVAL, "syssize");
	/* syssize is 16-byte units: the largest value must not wrap. */
	hdr()->syssize = 0xffffffff;
	expect_bad(-EINVAL, "syssize");
}
END_TEST

START_TEST(test_init_size_too_big)
{
	hdr()->init_size = RAM_SIZE - PREF + 1;
	expect_bad(-ERANGE, "raise --mem");
	hdr()->init_size = 0xffffffff;
	expect_bad(-ERANGE, "init_size");
	hdr()->init_size = KERNEL_LEN - 1;
	expect_bad(-EINVAL, "init_size");
}
END_TEST

START_TEST(test_short_jump)
{
	/* The header would end before init_size: the zero page would lack the magic. */
	hdr()->jump[1] = 0x61;
	expect_bad(-EINVAL, "jump at 0x200");
	hdr()->jump[1] = 0;
	expect_bad(-EINVAL, "jump at 0x200");
}
END_TEST

START_TEST(test_bad_alignment)
{
	hdr()->kernel_alignment = 0x180000;
	expect_bad(-EINVAL, "kernel_alignment");
	hdr()->kernel_alignment = 0;
	expect_bad(-EINVAL, "kernel_alignment");
}
END_TEST

/* A load of the synthetic file with map, cmdline and initrd; returns the loader's result. */
static int load(const char *cmdline, const void *initrd, size_t initrd_size,
		struct bzimage_image *img)
{
	static struct e820_entry map[E820_MAX_ENTRIES];
	struct bzimage_load in = {
	    .kernel = file,
	    .kernel_size = sizeof(file),
	    .initrd = initrd,
	    .initrd_size = initrd_size,
	    .cmdline = cmdline,
	    .map = map,
	};

	in.map_entries = e820__build(RAM_SIZE, map, E820_MAX_ENTRIES);
	ck_assert_int_eq(in.map_entries, 4);
	return bzimage__load(&in, ram, RAM_SIZE, img, err, sizeof(err));
}

START_TEST(test_zero_page)
{
	static const uint8_t initrd[5000] = {1, 2, 3};
	struct e820_entry map[E820_MAX_ENTRIES];
	const char *cmdline = "console=ttyS0 earlyprintk=serial";
	struct bzimage_boot_params zp;
	struct bzimage_image img;
	int n = e820__build(RAM_SIZE, map, E820_MAX_ENTRIES);
	uint64_t initrd_at;

	ck_assert_int_eq(load(cmdline, initrd, sizeof(initrd), &img), 0);
	ck_assert_uint_eq(img.load_addr, PREF);
	ck_assert_uint_eq(img.entry64, PREF + 0x200);
	ck_assert_uint_eq(img.zero_page, BZIMAGE_ZERO_PAGE);
	memcpy(&zp, ram + BZIMAGE_ZERO_PAGE, sizeof(zp));

	/* The image's header is copied, the loader's fields filled. */
	ck_assert_uint_eq(zp.hdr.header, BZIMAGE_HDR_MAGIC);
	ck_assert_uint_eq(zp.hdr.version, 0x020f);
	ck_assert_uint_eq(zp.hdr.init_size, INIT_SIZE);
	ck_assert_uint_eq(zp.hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(zp.hdr.loadflags, BZIMAGE_LOADED_HIGH | BZIMAGE_CAN_USE_HEAP);
	ck_assert_uint_eq(zp.hdr.heap_end_ptr, 0xfe00);
	ck_assert_uint_eq(zp.hdr.vid_mode, 0xffff);
	ck_assert_uint_eq(zp.hdr.code32_start, PREF);

	ck_assert_uint_eq(zp.hdr.cmd_line_ptr, BZIMAGE_CMDLINE);
	ck_assert_uint_eq(zp.ext_cmd_line_ptr, 0);
	ck_assert_str_eq((const char *)ram + BZIMAGE_CMDLINE, cmdline);

	initrd_at = zp.hdr.ramdisk_image;
	ck_assert_uint_eq(initrd_at, img.initrd_addr);
	ck_assert_uint_eq(zp.hdr.ramdisk_size, sizeof(initrd));
	ck_assert_uint_eq(zp.ext_ramdisk_image, 0);
	ck_assert_uint_eq(zp.ext_ramdisk_size, 0);
	/* As high as RAM allows, page-aligned, above the kernel's init_size. */
	ck_assert_uint_eq(initrd_at % 4096, 0);
	ck_assert_uint_le(initrd_at + sizeof(initrd), RAM_SIZE);
	ck_assert_uint_gt(initrd_at + sizeof(initrd) + 4096, RAM_SIZE);
	ck_assert_uint_ge(initrd_at, PREF + INIT_SIZE);
	ck_assert_mem_eq(ram + initrd_at, initrd, sizeof(initrd));

	ck_assert_uint_eq(zp.e820_entries, n);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_eq(zp.e820_table[i].addr, map[i].addr);
		ck_assert_uint_eq(zp.e820_table[i].size, map[i].size);
		ck_assert_uint_eq(zp.e820_table[i].type, map[i].type);
	}
	ck_assert_uint_eq(zp.acpi_rsdp_addr, 0);

	/* The protected-mode kernel, and nothing between it and the initrd. */
	ck_assert_mem_eq(ram + PREF, file + KERNEL_OFF, KERNEL_LEN);
	ck_assert(ram_untouched(PREF + KERNEL_LEN, initrd_at));
	ck_assert(ram_untouched(BZIMAGE_ZERO_PAGE + 4096, PREF));
	ck_assert(ram_untouched(0, BZIMAGE_CMDLINE));
}
END_TEST

START_TEST(test_zero_page_loader_fields)
{
	struct bzimage_boot_params zp;
	struct bzimage_image img;

	/* Fields the loader writes come out zero, whatever the file holds there. */
	hdr()->setup_data = 0x12345678abcULL;
	hdr()->hardware_subarch = 2;
	hdr()->hardware_subarch_data = 0x5000;
	hdr()->ext_loader_ver = 3;
	hdr()->ext_loader_type = 4;
	hdr()->payload_offset = 0x1234; /* the kernel's own: passed through */
	ck_assert_int_eq(load("", NULL, 0, &img), 0);
	memcpy(&zp, ram + BZIMAGE_ZERO_PAGE, sizeof(zp));
	ck_assert_uint_eq(zp.hdr.setup_data, 0);
	ck_assert_uint_eq(zp.hdr.hardware_subarch, 0);
	ck_assert_uint_eq(zp.hdr.hardware_subarch_data, 0);
	ck_assert_uint_eq(zp.hdr.ext_loader_ver, 0);
	ck_assert_uint_eq(zp.hdr.ext_loader_type, 0);
	ck_assert_uint_eq(zp.hdr.payload_offset, 0x1234);
}
END_TEST

START_TEST(test_header_end_from_jump)
{
	struct bzimage_boot_params zp;
	struct bzimage_image img;

	/* A 2.10 header ends at 0x264: later bytes of the image are not copied. */
	hdr()->jump[1] = 0x62;
	hdr()->handover_offset = 0x12345678;
	ck_assert_int_eq(load("", NULL, 0, &img), 0);
	memcpy(&zp, ram + BZIMAGE_ZERO_PAGE, sizeof(zp));
	ck_assert_uint_eq(zp.hdr.init_size, INIT_SIZE);
	ck_assert_uint_eq(zp.hdr.handover_offset, 0);
	ck_assert_uint_eq(zp.hdr.ramdisk_image, 0);
	ck_assert_uint_eq(zp.hdr.ramdisk_size, 0);
	ck_assert_uint_eq(img.initrd_addr, 0);
}
END_TEST

START_TEST(test_cmdline_too_long)
{
	struct bzimage_image img;

	hdr()->cmdline_size = 16;
	ck_assert_int_eq(load("0123456789abcdef", NULL, 0, &img), 0);
	memset(ram, RAM_FILL, RAM_SIZE);
	ck_assert_int_eq(load("0123456789abcdefg", NULL, 0, &img), -E2BIG);
	ck_assert(strstr(err, "17 bytes"));
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_initrd_too_big)
{
	static uint8_t initrd[RAM_SIZE - PREF - INIT_SIZE + 1];
	struct bzimage_image img;

	ck_assert_int_eq(load("", initrd, sizeof(initrd), &img), -ERANGE);
	ck_assert(strstr(err, "do not fit"));
	ck_assert(ram_untouched(0, RAM_SIZE));
	/* One byte less fits exactly, right at the kernel's end. */
	ck_assert_int_eq(load("", initrd, sizeof(initrd) - 1, &img), 0);
	ck_assert_uint_eq(img.initrd_addr, PREF + INIT_SIZE);
}
END_TEST

START_TEST(test_initrd_too_high)
{
	static const uint8_t initrd[100];
	struct bzimage_image img;

	/* initrd_addr_max caps the initrd's last byte. */
	hdr()->initrd_addr_max = 0x4fffff;
	ck_assert_int_eq(load("", initrd, sizeof(initrd), &img), 0);
	ck_assert_uint_eq(img.initrd_addr, 0x4ff000);
	/* A limit below the kernel's end leaves nowhere to put it. */
	memset(ram, RAM_FILL, RAM_SIZE);
	hdr()->initrd_addr_max = PREF + INIT_SIZE - 1;
	ck_assert_int_eq(load("", initrd, sizeof(initrd), &img), -ERANGE);
	ck_assert(strstr(err, "initrd_addr_max"));
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_initrd_after_unaligned_init_size)
{
	static const uint8_t initrd[4096];
	const uint64_t end = PREF + INIT_SIZE + 0x300;
	struct bzimage_image img;

	/*
	 * init_size ends 0x300 into a page and 0x1500 bytes lie above it: a page
	 * fits only by sharing the kernel's last page, so there is no room.
	 */
	hdr()->init_size = INIT_SIZE + 0x300;
	hdr()->initrd_addr_max = end + 0x1500 - 1;
	ck_assert_int_eq(load("", initrd, sizeof(initrd), &img), -ERANGE);
	ck_assert(ram_untouched(0, RAM_SIZE));
	/* A page more: it goes on the first page past the kernel's end. */
	hdr()->initrd_addr_max = end + 0x2500 - 1;
	ck_assert_int_eq(load("", initrd, sizeof(initrd), &img), 0);
	ck_assert_uint_ge(img.initrd_addr, end);
	ck_assert_uint_eq(img.initrd_addr, PREF + INIT_SIZE + 0x1000);
}
END_TEST

START_TEST(test_long_mode_tables)
{
	uint64_t e;

	ck_assert_int_eq(boot_cpu__write_tables(ram, RAM_SIZE), 0);
	memcpy(&e, ram + BOOT_CPU_PML4, 8);
	ck_assert_uint_eq(e, BOOT_CPU_PDPT | 0x3);
	memcpy(&e, ram + BOOT_CPU_PDPT + 3 * 8, 8);
	ck_assert_uint_eq(e, (BOOT_CPU_PD + 3 * 4096) | 0x3);
	/* The last 2 MiB page below 4 GiB maps itself. */
	memcpy(&e, ram + BOOT_CPU_PD + 2047 * 8, 8);
	ck_assert_uint_eq(e, 0xffe00000ULL | 0x83);
	ck_assert(ram_untouched(BOOT_CPU_END, RAM_SIZE));
	ck_assert_int_eq(boot_cpu__write_tables(ram, BOOT_CPU_END - 1), -EINVAL);
}
END_TEST

START_TEST(test_long_mode_state)
{
	struct kvm_sregs sregs = {.apic_base = 0xfee00900};
	struct kvm_regs regs;
	uint64_t d;

	ck_assert_int_eq(boot_cpu__write_tables(ram, RAM_SIZE), 0);
	boot_cpu__long_mode_state(0x1000200, BZIMAGE_ZERO_PAGE, &regs, &sregs);
	ck_assert_uint_eq(regs.rip, 0x1000200);
	ck_assert_uint_eq(regs.rsi, BZIMAGE_ZERO_PAGE);
	ck_assert_uint_eq(regs.rflags, 0x2);
	ck_assert_uint_eq(sregs.cs.selector, 0x10);
	ck_assert_uint_eq(sregs.cs.l, 1);
	ck_assert_uint_eq(sregs.cs.db, 0);
	ck_assert_uint_eq(sregs.ds.selector, 0x18);
	ck_assert_uint_eq(sregs.ss.selector, 0x18);
	ck_assert_uint_eq(sregs.cr0 & 0x80000001, 0x80000001);
	ck_assert_uint_eq(sregs.cr4 & 0x20, 0x20);
	ck_assert_uint_eq(sregs.efer & 0x500, 0x500);
	ck_assert_uint_eq(sregs.cr3, BOOT_CPU_PML4);
	ck_assert_uint_eq(sregs.apic_base, 0xfee00900);
	/* The GDT's __BOOT_CS is a 64-bit code segment, __BOOT_DS flat data. */
	ck_assert_uint_eq(sregs.gdt.base, BOOT_CPU_GDT);
	memcpy(&d, ram + BOOT_CPU_GDT + 0x10, 8);
	ck_assert_uint_eq((d >> 53) & 1, 1); /* L */
	ck_assert_uint_eq((d >> 40) & 0xf, 0xb);
	memcpy(&d, ram + BOOT_CPU_GDT + 0x18, 8);
	ck_assert_uint_eq((d >> 40) & 0xf, 0x3);
	ck_assert_uint_ge(sregs.gdt.limit, 0x27);
}
END_TEST

Suite *bzimage_suite(void)
{
	Suite *s = suite_create("bzimage");
	TCase *hdr_tc = tcase_create("header");
	TCase *load_tc = tcase_create("load");
	TCase *cpu_tc = tcase_create("entry");

	tcase_add_checked_fixture(hdr_tc, setup, ram_teardown);
	tcase_add_test(hdr_tc, test_good_header);
	tcase_add_test(hdr_tc, test_setup_sects_zero_means_four);
	tcase_add_test(hdr_tc, test_relocatable_placement);
	tcase_add_test(hdr_tc, test_fixed_kernel_below_1mib);
	tcase_add_test(hdr_tc, test_no_magic);
	tcase_add_test(hdr_tc, test_too_short);
	tcase_add_test(hdr_tc, test_old_protocol);
	tcase_add_test(hdr_tc, test_not_64bit);
	tcase_add_test(hdr_tc, test_setup_past_eof);
	tcase_add_test(hdr_tc, test_syssize_past_eof);
	tcase_add_test(hdr_tc, test_init_size_too_big);
	tcase_add_test(hdr_tc, test_short_jump);
	tcase_add_test(hdr_tc, test_bad_alignment);
	suite_add_tcase(s, hdr_tc);

	tcase_add_checked_fixture(load_tc, setup, ram_teardown);
	tcase_add_test(load_tc, test_zero_page);
	tcase_add_test(load_tc, test_zero_page_loader_fields);
	tcase_add_test(load_tc, test_header_end_from_jump);
	tcase_add_test(load_tc, test_cmdline_too_long);
	tcase_add_test(load_tc, test_initrd_too_big);
	tcase_add_test(load_tc, test_initrd_too_high);
	tcase_add_test(load_tc, test_initrd_after_unaligned_init_size);
	suite_add_tcase(s, load_tc);

	tcase_add_checked_fixture(cpu_tc, setup, ram_teardown);
	tcase_add_test(cpu_tc, test_long_mode_tables);
	tcase_add_test(cpu_tc, test_long_mode_state);
	suite_add_tcase(s, cpu_tc);
	return s;
}
