/* Loads a PVH-bootable ELF kernel (ELF32 or ELF64, x86) into guest RAM. */
#ifndef XEN_CORE_ELF_LOADER_H
#define XEN_CORE_ELF_LOADER_H

#include <stddef.h>
#include <stdint.h>

/* Most PT_LOAD segments accepted; kernels have a handful. */
#define ELF_LOADER_MAX_LOADS 64

struct elf_image {
	uint64_t pvh_entry;	/* from XEN_ELFNOTE_PHYS32_ENTRY */
	uint64_t lowest_paddr;	/* first byte loaded */
	uint64_t highest_paddr; /* one past the last byte loaded (memsz included) */
};

/*
 * Load a PVH ELF (ELF32 or ELF64, EM_386 or EM_X86_64, ET_EXEC) from
 * file[0..file_size) into low guest RAM (ram = host pointer to GPA 0,
 * low_size = bytes of RAM below the hole).  PT_LOAD segments are placed at
 * p_paddr; each must lie in [1 MiB, low_size) and not overlap another.  The
 * entry comes from XEN_ELFNOTE_PHYS32_ENTRY in a PT_NOTE and must lie inside
 * a loaded segment.  Nothing in RAM is written unless the whole file checks
 * out.  Returns 0; -ENOEXEC (not ELF / wrong arch / no PVH note), -EINVAL
 * (truncated or malformed), -ERANGE (segment or entry outside RAM, or
 * overlapping segments).  On error, err gets one line naming the problem.
 */
int elf_loader__load_pvh(const void *file, size_t file_size, void *ram, uint64_t low_size,
			 struct elf_image *out, char *err, size_t errlen);

#endif
