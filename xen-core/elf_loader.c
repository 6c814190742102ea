/* Loads a PVH-bootable ELF kernel into guest RAM, trusting no offset or size in the file. */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include "hvm_start_info.h"
#include "layout.h"
#include "util.h"
#include "elf_loader.h"

/* The fields we use, from either ELF class. */
struct elf_hdr {
	uint16_t type, machine;
	uint64_t phoff;
	uint16_t phentsize, phnum;
};

struct elf_seg {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz, align;
};

/* True if [off, off + len) lies inside [0, size), without overflow. */
static bool in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

static int read_ehdr(const uint8_t *f, size_t size, bool *is64, struct elf_hdr *h, char *err,
		     size_t errlen)
{
	if (size < EI_NIDENT || memcmp(f, ELFMAG, SELFMAG) != 0) {
		util__set_err(
		    err, errlen,
		    "not an ELF file (no \\x7fELF magic): pass an uncompressed PVH ELF kernel");
		return -ENOEXEC;
	}
	if (f[EI_CLASS] != ELFCLASS32 && f[EI_CLASS] != ELFCLASS64) {
		util__set_err(err, errlen,
			      "ELF class %u is neither ELF32 nor ELF64: file is corrupt",
			      f[EI_CLASS]);
		return -ENOEXEC;
	}
	if (f[EI_DATA] != ELFDATA2LSB) {
		util__set_err(err, errlen,
			      "ELF file is not little endian: build the kernel for x86");
		return -ENOEXEC;
	}
	if (f[EI_VERSION] != EV_CURRENT) {
		util__set_err(err, errlen, "ELF version %u is not 1: file is corrupt",
			      f[EI_VERSION]);
		return -EINVAL;
	}
	*is64 = f[EI_CLASS] == ELFCLASS64;
	if (*is64) {
		Elf64_Ehdr e;

		if (size < sizeof(e))
			goto truncated;
		memcpy(&e, f, sizeof(e));
		*h = (struct elf_hdr){e.e_type, e.e_machine, e.e_phoff, e.e_phentsize, e.e_phnum};
	} else {
		Elf32_Ehdr e;

		if (size < sizeof(e))
			goto truncated;
		memcpy(&e, f, sizeof(e));
		*h = (struct elf_hdr){e.e_type, e.e_machine, e.e_phoff, e.e_phentsize, e.e_phnum};
	}
	return 0;
truncated:
	util__set_err(err, errlen,
		      "ELF file of %zu bytes is shorter than its ELF header: file is truncated",
		      size);
	return -EINVAL;
}

static void read_phdr(const uint8_t *p, bool is64, struct elf_seg *s)
{
	if (is64) {
		Elf64_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		*s = (struct elf_seg){ph.p_type,   ph.p_offset, ph.p_paddr,
				      ph.p_filesz, ph.p_memsz,	ph.p_align};
	} else {
		Elf32_Phdr ph;

		memcpy(&ph, p, sizeof(ph));
		*s = (struct elf_seg){ph.p_type,   ph.p_offset, ph.p_paddr,
				      ph.p_filesz, ph.p_memsz,	ph.p_align};
	}
}

/*
 * Walk the notes of one PT_NOTE segment (already bounds-checked against the
 * file) looking for Xen's PHYS32_ENTRY.  Offsets are padded relative to the
 * segment start, to 8 when the segment says so (ELF64 gABI) and to 4 otherwise
 * (what Linux and most toolchains emit).
 */
static int find_pvh_note(const uint8_t *f, const struct elf_seg *s, bool *found, uint64_t *entry,
			 char *err, size_t errlen)
{
	const uint8_t *base = f + s->offset;
	uint64_t align = s->align == 8 ? 8 : 4;
	uint64_t pos = 0, end = s->filesz;

	while (end - pos >= 12) {
		uint32_t w[3], namesz, descsz, type;
		uint64_t name_off = pos + 12, desc_off;

		memcpy(w, base + pos, sizeof(w));
		namesz = w[0];
		descsz = w[1];
		type = w[2];
		if (!in_bounds(name_off, namesz, end))
			goto truncated;
		desc_off = align_up(name_off + namesz, align);
		if (!in_bounds(desc_off, descsz, end))
			goto truncated;
		if (!*found && namesz == 4 && memcmp(base + name_off, "Xen", 4) == 0 &&
		    type == XEN_ELFNOTE_PHYS32_ENTRY) {
			if (descsz == 4) {
				uint32_t v;

				memcpy(&v, base + desc_off, 4);
				*entry = v;
			} else if (descsz == 8) {
				memcpy(entry, base + desc_off, 8);
			} else {
				util__set_err(err, errlen,
					      "Xen PHYS32_ENTRY note has a %" PRIu32
					      "-byte value, expected 4 or 8: kernel is corrupt",
					      descsz);
				return -EINVAL;
			}
			*found = true;
		}
		/* desc_off + descsz <= end, so this cannot overflow. */
		pos = align_up(desc_off + descsz, align);
		if (pos > end)
			pos = end;
	}
	return 0;
truncated:
	util__set_err(err, errlen,
		      "ELF note at offset 0x%" PRIx64 " runs past its PT_NOTE segment: "
		      "file is truncated or corrupt",
		      s->offset + pos);
	return -EINVAL;
}

int elf_loader__load_pvh(const void *file, size_t file_size, void *ram, uint64_t low_size,
			 struct elf_image *out, char *err, size_t errlen)
{
	const uint8_t *f = file;
	struct elf_seg loads[ELF_LOADER_MAX_LOADS];
	size_t phdr_size;
	struct elf_hdr h;
	uint64_t entry = 0, lowest = UINT64_MAX, highest = 0;
	bool is64, found = false, entry_loaded = false;
	int nloads = 0, rc;

	rc = read_ehdr(f, file_size, &is64, &h, err, errlen);
	if (rc < 0)
		goto out;
	if (h.machine != EM_386 && h.machine != EM_X86_64) {
		util__set_err(err, errlen,
			      "ELF machine %u is not x86 (EM_386 or EM_X86_64): "
			      "build the kernel for x86",
			      h.machine);
		rc = -ENOEXEC;
		goto out;
	}
	if (h.type != ET_EXEC) {
		util__set_err(err, errlen,
			      "ELF type %u is not ET_EXEC: pass a linked kernel, "
			      "not an object or shared library",
			      h.type);
		rc = -ENOEXEC;
		goto out;
	}
	phdr_size = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (h.phnum == 0 || h.phnum == PN_XNUM || h.phentsize < phdr_size) {
		util__set_err(err, errlen,
			      "ELF program header table is missing or malformed "
			      "(e_phnum %u, e_phentsize %u): file is corrupt",
			      h.phnum, h.phentsize);
		rc = -EINVAL;
		goto out;
	}
	/* phnum and phentsize are 16-bit, so their product fits easily. */
	if (!in_bounds(h.phoff, (uint64_t)h.phnum * h.phentsize, file_size)) {
		util__set_err(err, errlen,
			      "ELF program headers at 0x%" PRIx64 " run past the end of the "
			      "%zu-byte file: file is truncated",
			      h.phoff, file_size);
		rc = -EINVAL;
		goto out;
	}

	for (unsigned int i = 0; i < h.phnum; i++) {
		struct elf_seg s;

		read_phdr(f + h.phoff + (uint64_t)i * h.phentsize, is64, &s);
		if (s.type != PT_LOAD && s.type != PT_NOTE)
			continue;
		if (!in_bounds(s.offset, s.filesz, file_size)) {
			util__set_err(err, errlen,
				      "ELF segment %u: data at 0x%" PRIx64 "+0x%" PRIx64
				      " runs past the end of the %zu-byte file: file is truncated",
				      i, s.offset, s.filesz, file_size);
			rc = -EINVAL;
			goto out;
		}
		if (s.type == PT_NOTE) {
			rc = find_pvh_note(f, &s, &found, &entry, err, errlen);
			if (rc < 0)
				goto out;
			continue;
		}
		if (s.filesz > s.memsz) {
			util__set_err(err, errlen,
				      "ELF segment %u: p_filesz 0x%" PRIx64
				      " exceeds p_memsz 0x%" PRIx64 ": file is corrupt",
				      i, s.filesz, s.memsz);
			rc = -EINVAL;
			goto out;
		}
		if (s.memsz == 0)
			continue;
		if (s.paddr < LAYOUT_HIGH_START || !in_bounds(s.paddr, s.memsz, low_size)) {
			util__set_err(
			    err, errlen,
			    "ELF segment %u at 0x%" PRIx64 "+0x%" PRIx64
			    " lies outside low guest RAM [0x%llx, 0x%" PRIx64
			    "): give the guest more memory or link the kernel at 1 MiB or above",
			    i, s.paddr, s.memsz, LAYOUT_HIGH_START, low_size);
			rc = -ERANGE;
			goto out;
		}
		for (int j = 0; j < nloads; j++) {
			if (s.paddr < loads[j].paddr + loads[j].memsz &&
			    loads[j].paddr < s.paddr + s.memsz) {
				util__set_err(err, errlen,
					      "ELF segment %u at 0x%" PRIx64 "+0x%" PRIx64
					      " overlaps an earlier segment at 0x%" PRIx64
					      "+0x%" PRIx64 ": the kernel's link map is broken",
					      i, s.paddr, s.memsz, loads[j].paddr, loads[j].memsz);
				rc = -ERANGE;
				goto out;
			}
		}
		if (nloads == ELF_LOADER_MAX_LOADS) {
			util__set_err(err, errlen,
				      "ELF file has more than %d loadable segments: "
				      "link the kernel with fewer",
				      ELF_LOADER_MAX_LOADS);
			rc = -EINVAL;
			goto out;
		}
		loads[nloads++] = s;
	}

	if (!found) {
		util__set_err(
		    err, errlen,
		    "ELF file has no XEN_ELFNOTE_PHYS32_ENTRY note, so it cannot "
		    "boot through PVH: build the kernel with PVH support (Linux: CONFIG_PVH=y)");
		rc = -ENOEXEC;
		goto out;
	}
	if (nloads == 0) {
		util__set_err(err, errlen, "ELF file has no loadable segment: file is corrupt");
		rc = -EINVAL;
		goto out;
	}
	for (int j = 0; j < nloads; j++) {
		if (loads[j].paddr < lowest)
			lowest = loads[j].paddr;
		if (loads[j].paddr + loads[j].memsz > highest)
			highest = loads[j].paddr + loads[j].memsz;
		if (entry >= loads[j].paddr && entry - loads[j].paddr < loads[j].memsz)
			entry_loaded = true;
	}
	if (!entry_loaded) {
		util__set_err(err, errlen,
			      "PVH entry point 0x%" PRIx64 " is not inside any loaded "
			      "segment: the kernel's PHYS32_ENTRY note is wrong",
			      entry);
		rc = -ERANGE;
		goto out;
	}

	/* Everything checked: only now touch guest RAM. */
	for (int j = 0; j < nloads; j++) {
		uint8_t *dst = (uint8_t *)ram + loads[j].paddr;

		memcpy(dst, f + loads[j].offset, loads[j].filesz);
		memset(dst + loads[j].filesz, 0, loads[j].memsz - loads[j].filesz);
	}
	out->pvh_entry = entry;
	out->lowest_paddr = lowest;
	out->highest_paddr = highest;
	rc = 0;
out:
	return rc;
}
