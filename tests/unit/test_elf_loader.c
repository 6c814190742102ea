/* Check suite for the PVH ELF loader: good ELF32/ELF64 images and every kind of bad input. */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "hvm_start_info.h"
#include "layout.h"
#include "elf_loader.h"
#include "util.h"

#define RAM_SIZE (4ULL << 20)
#define MIB	 (1ULL << 20)
#include "ram_fixture.h"

/* What the in-memory image builder emits. */
enum note_kind { NOTE_NONE, NOTE_XEN, NOTE_OTHER_OWNER };

struct seg_spec {
	uint64_t paddr, filesz, memsz;
	uint8_t fill;
};

struct elf_spec {
	bool is64;
	uint16_t machine, type;
	enum note_kind note;
	bool note8; /* 8-byte PHYS32_ENTRY value in a PT_NOTE aligned to 8 */
	uint32_t entry;
	int nsegs;
	struct seg_spec segs[4];
};

static uint8_t img[1 << 16] __attribute__((aligned(8)));
static char err[256];

static struct elf_spec spec_default(bool is64)
{
	return (struct elf_spec){
	    .is64 = is64,
	    .machine = is64 ? EM_X86_64 : EM_386,
	    .type = ET_EXEC,
	    .note = NOTE_XEN,
	    .entry = MIB + 0x10,
	    .nsegs = 2,
	    /* A text segment with a bss tail, and a data segment at 2 MiB. */
	    .segs = {{MIB, 0x300, 0x2000, 0xa1}, {2 * MIB, 0x123, 0x123, 0xb2}},
	};
}

static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc,
		       uint32_t descsz)
{
	uint32_t namesz = strlen(name) + 1;
	uint32_t hdr[3] = {namesz, descsz, type};
	size_t off = 0;

	memcpy(p, hdr, sizeof(hdr));
	off += sizeof(hdr);
	memcpy(p + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

/* Index of the program header of load segment i (the note, if any, comes first). */
static int load_phdr_index(const struct elf_spec *s, int i)
{
	return (s->note != NOTE_NONE ? 1 : 0) + i;
}

static void *phdr_at(const struct elf_spec *s, int index)
{
	size_t ehsize = s->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = s->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);

	return img + ehsize + index * phsize;
}

/*
 * Lay out: ELF header, program headers (note first), the notes (a GNU
 * build-id note before Xen's, so the walk must skip one), then each load
 * segment's file data filled with its byte.
 */
static size_t build_elf(const struct elf_spec *s)
{
	size_t ehsize = s->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = s->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	int nph = s->nsegs + (s->note != NOTE_NONE ? 1 : 0);
	size_t off = ehsize + nph * phsize, note_off, note_len = 0;
	const uint8_t build_id[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	uint64_t entry64 = s->entry;
	int ph = 0;

	memset(img, 0, sizeof(img));
	memcpy(img, ELFMAG, SELFMAG);
	img[EI_CLASS] = s->is64 ? ELFCLASS64 : ELFCLASS32;
	img[EI_DATA] = ELFDATA2LSB;
	img[EI_VERSION] = EV_CURRENT;

	note_off = off;
	if (s->note != NOTE_NONE) {
		note_len += put_note(img + off, "GNU", NT_GNU_BUILD_ID, build_id, sizeof(build_id));
		note_len += put_note(img + off + note_len, s->note == NOTE_XEN ? "Xen" : "Xem",
				     XEN_ELFNOTE_PHYS32_ENTRY,
				     s->note8 ? (const void *)&entry64 : (const void *)&s->entry,
				     s->note8 ? 8 : 4);
		off += note_len;
	}

	for (int i = -1; i < s->nsegs; i++) {
		uint32_t type = i < 0 ? PT_NOTE : PT_LOAD;
		uint64_t p_off = i < 0 ? note_off : off;
		uint64_t paddr = i < 0 ? 0 : s->segs[i].paddr;
		uint64_t filesz = i < 0 ? note_len : s->segs[i].filesz;
		uint64_t memsz = i < 0 ? note_len : s->segs[i].memsz;

		if (i < 0 && s->note == NOTE_NONE)
			continue;
		if (i >= 0) {
			ck_assert_uint_le(off + filesz, sizeof(img));
			memset(img + off, s->segs[i].fill, filesz);
			off += filesz;
		}
		if (s->is64) {
			Elf64_Phdr *p = phdr_at(s, ph++);

			*p = (Elf64_Phdr){.p_type = type,
					  .p_offset = p_off,
					  .p_vaddr = paddr,
					  .p_paddr = paddr,
					  .p_filesz = filesz,
					  .p_memsz = memsz,
					  .p_align = i < 0 ? (s->note8 ? 8 : 4) : 0x1000};
		} else {
			Elf32_Phdr *p = phdr_at(s, ph++);

			*p = (Elf32_Phdr){.p_type = type,
					  .p_offset = p_off,
					  .p_vaddr = paddr,
					  .p_paddr = paddr,
					  .p_filesz = filesz,
					  .p_memsz = memsz,
					  .p_align = i < 0 ? 4 : 0x1000};
		}
	}

	if (s->is64) {
		Elf64_Ehdr *e = (Elf64_Ehdr *)img;

		e->e_type = s->type;
		e->e_machine = s->machine;
		e->e_version = EV_CURRENT;
		e->e_entry = 0xffffffff81000000ULL; /* the virtual entry, which PVH ignores */
		e->e_phoff = ehsize;
		e->e_ehsize = ehsize;
		e->e_phentsize = phsize;
		e->e_phnum = nph;
	} else {
		Elf32_Ehdr *e = (Elf32_Ehdr *)img;

		e->e_type = s->type;
		e->e_machine = s->machine;
		e->e_version = EV_CURRENT;
		e->e_entry = 0xc1000000u;
		e->e_phoff = ehsize;
		e->e_ehsize = ehsize;
		e->e_phentsize = phsize;
		e->e_phnum = nph;
	}
	return off;
}

static int load(size_t size, struct elf_image *out)
{
	memset(err, 0, sizeof(err));
	return elf_loader__load_pvh(img, size, ram, RAM_SIZE, out, err, sizeof(err));
}

static void check_good_load(bool is64)
{
	struct elf_spec s = spec_default(is64);
	struct elf_image out = {0};
	size_t size = build_elf(&s);

	ck_assert_int_eq(load(size, &out), 0);
	ck_assert_uint_eq(out.pvh_entry, MIB + 0x10);
	ck_assert_uint_eq(out.lowest_paddr, MIB);
	ck_assert_uint_eq(out.highest_paddr, 2 * MIB + 0x123);
	ck_assert(ram_is(0xa1, MIB, 0x300));
	ck_assert(ram_is(0x00, MIB + 0x300, 0x2000 - 0x300)); /* bss zeroed */
	ck_assert(ram_is(RAM_FILL, MIB + 0x2000, MIB - 0x2000));
	ck_assert(ram_is(0xb2, 2 * MIB, 0x123));
	ck_assert(ram_is(RAM_FILL, 2 * MIB + 0x123, RAM_SIZE - 2 * MIB - 0x123));
	ck_assert(ram_is(RAM_FILL, 0, MIB));
}

START_TEST(test_elf64_loads)
{
	check_good_load(true);
}
END_TEST

START_TEST(test_elf32_loads)
{
	check_good_load(false);
}
END_TEST

/* An ELF64 note segment aligned to 8 with a 64-bit PHYS32_ENTRY value (gABI style). */
START_TEST(test_elf64_8byte_note)
{
	struct elf_spec s = spec_default(true);
	struct elf_image out = {0};

	s.note8 = true;
	s.entry = 2 * MIB + 4;
	ck_assert_int_eq(load(build_elf(&s), &out), 0);
	ck_assert_uint_eq(out.pvh_entry, 2 * MIB + 4);
	ck_assert(ram_is(0xb2, 2 * MIB, 0x123));
}
END_TEST

START_TEST(test_not_elf)
{
	struct elf_image out;
	const char *text = "#!/bin/sh\necho this is not a kernel\n";

	memset(img, 0, sizeof(img));
	memcpy(img, text, strlen(text));
	ck_assert_int_eq(load(strlen(text), &out), -ENOEXEC);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(load(0, &out), -ENOEXEC);
	ck_assert_int_eq(load(3, &out), -ENOEXEC);
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_bad_ident)
{
	struct elf_spec s = spec_default(true);
	struct elf_image out;
	size_t size = build_elf(&s);

	img[EI_CLASS] = 7;
	ck_assert_int_eq(load(size, &out), -ENOEXEC);
	img[EI_CLASS] = ELFCLASS64;
	img[EI_DATA] = ELFDATA2MSB;
	ck_assert_int_eq(load(size, &out), -ENOEXEC);
	img[EI_DATA] = ELFDATA2LSB;
	img[EI_VERSION] = 9;
	ck_assert_int_eq(load(size, &out), -EINVAL);
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_wrong_machine)
{
	struct elf_spec s = spec_default(_i == 0);
	struct elf_image out;

	s.machine = EM_AARCH64;
	ck_assert_int_eq(load(build_elf(&s), &out), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "machine"));
	s = spec_default(_i == 0);
	s.type = ET_DYN;
	ck_assert_int_eq(load(build_elf(&s), &out), -ENOEXEC);
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_no_pvh_note)
{
	struct elf_spec s = spec_default(_i == 0);
	struct elf_image out;

	s.note = NOTE_NONE;
	ck_assert_int_eq(load(build_elf(&s), &out), -ENOEXEC);
	ck_assert_ptr_nonnull(strstr(err, "PHYS32_ENTRY"));
	/* The right note type under another owner is not Xen's note. */
	s.note = NOTE_OTHER_OWNER;
	ck_assert_int_eq(load(build_elf(&s), &out), -ENOEXEC);
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

/* Every proper prefix of a good image must be refused, without touching RAM. */
START_TEST(test_truncated)
{
	struct elf_spec s = spec_default(_i == 0);
	struct elf_image out;
	size_t size = build_elf(&s);

	for (size_t cut = 0; cut < size; cut++) {
		int rc = load(cut, &out);

		if (cut < EI_NIDENT)
			ck_assert_msg(rc == -ENOEXEC, "cut %zu: rc %d", cut, rc);
		else
			ck_assert_msg(rc == -EINVAL, "cut %zu: rc %d", cut, rc);
		ck_assert_msg(err[0] != '\0', "cut %zu: no error message", cut);
	}
	ck_assert(ram_untouched(0, RAM_SIZE));
	ck_assert_int_eq(load(size, &out), 0);
}
END_TEST

START_TEST(test_bad_program_headers)
{
	struct elf_spec s = spec_default(true);
	struct elf_image out;
	size_t size = build_elf(&s);
	Elf64_Ehdr *e = (Elf64_Ehdr *)img;

	e->e_phoff = UINT64_MAX - 8; /* offset + table size overflows */
	ck_assert_int_eq(load(size, &out), -EINVAL);
	e->e_phoff = sizeof(Elf64_Ehdr);
	e->e_phnum = 0xfff0; /* table far larger than the file */
	ck_assert_int_eq(load(size, &out), -EINVAL);
	e->e_phnum = 0;
	ck_assert_int_eq(load(size, &out), -EINVAL);
	e->e_phnum = 3;
	e->e_phentsize = sizeof(Elf64_Phdr) - 1;
	ck_assert_int_eq(load(size, &out), -EINVAL);
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_oversized_segment)
{
	struct elf_spec s = spec_default(true);
	struct elf_image out;
	size_t size = build_elf(&s);
	Elf64_Phdr *p = phdr_at(&s, load_phdr_index(&s, 1));

	/* File data larger than the file. */
	p->p_filesz = size;
	p->p_memsz = size;
	ck_assert_int_eq(load(size, &out), -EINVAL);
	/* p_offset + p_filesz wraps around. */
	p->p_offset = UINT64_MAX - 0x10;
	p->p_filesz = 0x123;
	p->p_memsz = 0x123;
	ck_assert_int_eq(load(size, &out), -EINVAL);
	/* p_filesz > p_memsz. */
	build_elf(&s);
	p->p_memsz = p->p_filesz - 1;
	ck_assert_int_eq(load(size, &out), -EINVAL);
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_segment_outside_ram)
{
	const uint64_t bad[][2] = {
	    {RAM_SIZE - 0x100, 0x200},	  /* crosses the end of low RAM */
	    {RAM_SIZE, 0x123},		  /* starts at the end */
	    {64ULL << 30, 0x123},	  /* far above */
	    {0x9f000, 0x123},		  /* below 1 MiB */
	    {UINT64_MAX - 0xfff, 0x2000}, /* paddr + memsz wraps */
	    {2 * MIB, UINT64_MAX},	  /* memsz huge */
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct elf_spec s = spec_default(_i == 0);
		struct elf_image out;

		s.segs[1].paddr = bad[i][0];
		s.segs[1].memsz = bad[i][1];
		ck_assert_msg(load(build_elf(&s), &out) == -ERANGE, "case %zu", i);
		ck_assert_ptr_nonnull(strstr(err, "outside"));
	}
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_overlapping_segments)
{
	struct elf_spec s = spec_default(_i == 0);
	struct elf_image out;

	/* The second segment starts inside the first's bss. */
	s.segs[1].paddr = MIB + 0x1000;
	ck_assert_int_eq(load(build_elf(&s), &out), -ERANGE);
	ck_assert_ptr_nonnull(strstr(err, "overlaps"));
	/* The second segment covers the first entirely. */
	s.segs[1].paddr = MIB;
	s.segs[1].memsz = 0x10000;
	s.segs[1].filesz = 0x10;
	ck_assert_int_eq(load(build_elf(&s), &out), -ERANGE);
	ck_assert(ram_untouched(0, RAM_SIZE));
	/* Exactly adjacent segments are fine. */
	s = spec_default(_i == 0);
	s.segs[1].paddr = MIB + 0x2000;
	ck_assert_int_eq(load(build_elf(&s), &out), 0);
	ck_assert_uint_eq(out.highest_paddr, MIB + 0x2000 + 0x123);
}
END_TEST

START_TEST(test_entry_outside_image)
{
	struct elf_spec s = spec_default(_i == 0);
	struct elf_image out;

	s.entry = 3 * MIB;
	ck_assert_int_eq(load(build_elf(&s), &out), -ERANGE);
	s.entry = MIB + 0x2000; /* one past the first segment's bss */
	ck_assert_int_eq(load(build_elf(&s), &out), -ERANGE);
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_corrupt_note)
{
	struct elf_spec s = spec_default(true);
	struct elf_image out;
	size_t size = build_elf(&s);
	Elf64_Phdr *note = phdr_at(&s, 0);
	uint32_t *first = (uint32_t *)(img + note->p_offset);

	first[0] = 0xfffffff0; /* namesz runs past the segment */
	ck_assert_int_eq(load(size, &out), -EINVAL);
	first[0] = 4;
	first[1] = 0xfffffffc; /* descsz likewise */
	ck_assert_int_eq(load(size, &out), -EINVAL);
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

START_TEST(test_null_err_buffer)
{
	struct elf_spec s = spec_default(true);
	struct elf_image out;

	s.note = NOTE_NONE;
	ck_assert_int_eq(elf_loader__load_pvh(img, build_elf(&s), ram, RAM_SIZE, &out, NULL, 0),
			 -ENOEXEC);
}
END_TEST

Suite *elf_loader_suite(void)
{
	Suite *s = suite_create("elf_loader");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, ram_setup, ram_teardown);
	tcase_add_test(tc, test_elf64_loads);
	tcase_add_test(tc, test_elf32_loads);
	tcase_add_test(tc, test_elf64_8byte_note);
	tcase_add_test(tc, test_not_elf);
	tcase_add_test(tc, test_bad_ident);
	/* Loop tests run once for ELF64 (_i == 0) and once for ELF32 (_i == 1). */
	tcase_add_loop_test(tc, test_wrong_machine, 0, 2);
	tcase_add_loop_test(tc, test_no_pvh_note, 0, 2);
	tcase_add_loop_test(tc, test_truncated, 0, 2);
	tcase_add_test(tc, test_bad_program_headers);
	tcase_add_test(tc, test_oversized_segment);
	tcase_add_loop_test(tc, test_segment_outside_ram, 0, 2);
	tcase_add_loop_test(tc, test_overlapping_segments, 0, 2);
	tcase_add_loop_test(tc, test_entry_outside_image, 0, 2);
	tcase_add_test(tc, test_corrupt_note);
	tcase_add_test(tc, test_null_err_buffer);
	suite_add_tcase(s, tc);
	return s;
}
