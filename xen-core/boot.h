/* Putting a kernel into a fresh VM: PVH ELF or bzImage, initrd, e820, MP table, BSP state. */
#ifndef XEN_CORE_BOOT_H
#define XEN_CORE_BOOT_H
#include <stddef.h>

struct vm;

/*
 * Loads the PVH ELF kernel[0..size) into low RAM and writes the boot data for
 * cmdline; the BSP then starts at the PVH entry.  Returns 0 or -errno with one
 * line in err: -ENOEXEC (not a PVH ELF), -EINVAL (malformed), -ERANGE
 * (segments outside RAM), -E2BIG (cmdline too long).
 */
int boot__load_pvh(struct vm *vm, const void *kernel, size_t size, const char *cmdline, char *err,
		   size_t errlen);
/* Same, mapping the kernel from path; refuses anything but a regular file (-EINVAL, -EISDIR)
 * without blocking on it; -ENOENT, -EACCES... with err naming the file. */
int boot__load_pvh_file(struct vm *vm, const char *path, const char *cmdline, char *err,
			size_t errlen);

/*
 * Loads kernel (a PVH ELF, or a bzImage booted through its 64-bit entry) with
 * initrd (NULL: none) and cmdline, with the e820 map and the MP table, and
 * sets the BSP's entry state.  Both files are refused as above; an empty or
 * unknown kernel gives -ENOEXEC; otherwise the loader's errors
 * (elf_loader.h, bzimage.h), -ERANGE for an initrd that does not fit.
 */
int boot__load_kernel_file(struct vm *vm, const char *kernel, const char *initrd,
			   const char *cmdline, char *err, size_t errlen);

#endif
