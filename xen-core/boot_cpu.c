/* Puts the boot vCPU in 64-bit mode on identity page tables for the Linux 64-bit entry. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include "boot_cpu.h"
#include "util.h"
#include "vm.h"

#define CR0_PE	     0x1ULL
#define CR0_ET	     0x10ULL
#define CR0_PG	     0x80000000ULL
#define CR4_PAE	     0x20ULL
#define EFER_LME     0x100ULL
#define EFER_LMA     0x400ULL
#define EFLAGS_FIXED 0x2ULL
#define PTE_P	     0x1ULL
#define PTE_RW	     0x2ULL
#define PTE_PS	     0x80ULL /* in a page directory: a 2 MiB page */
#define PAGE	     0x1000ULL
#define GDT_ENTRIES  6 /* null, unused, code, data, and the 16-byte TSS descriptor */

/* Descriptors matching the hidden segment state below, for guests that reload selectors. */
static const uint64_t gdt[GDT_ENTRIES] = {
    [BOOT_CPU_SEL_CODE / 8] = 0x00af9b000000ffffULL, /* P, DPL0, code XR accessed, G, L */
    [BOOT_CPU_SEL_DATA / 8] = 0x00cf93000000ffffULL, /* P, DPL0, data RW accessed, G, D */
    [BOOT_CPU_SEL_TSS / 8] = 0x00008b0000000067ULL,  /* P, busy 64-bit TSS, base 0 */
};

int boot_cpu__write_tables(void *ram, uint64_t low_size)
{
	uint8_t *base = ram;
	uint64_t e;

	if (low_size < BOOT_CPU_END)
		return -EINVAL;
	memset(base + BOOT_CPU_GDT, 0, BOOT_CPU_END - BOOT_CPU_GDT);
	memcpy(base + BOOT_CPU_GDT, gdt, sizeof(gdt));
	e = BOOT_CPU_PDPT | PTE_P | PTE_RW;
	memcpy(base + BOOT_CPU_PML4, &e, sizeof(e));
	for (uint64_t g = 0; g < 4; g++) {
		e = (BOOT_CPU_PD + g * PAGE) | PTE_P | PTE_RW;
		memcpy(base + BOOT_CPU_PDPT + g * 8, &e, sizeof(e));
	}
	/* 2048 entries of 2 MiB: the four directories are contiguous. */
	for (uint64_t i = 0; i < 4 * 512; i++) {
		e = (i << 21) | PTE_P | PTE_RW | PTE_PS;
		memcpy(base + BOOT_CPU_PD + i * 8, &e, sizeof(e));
	}
	return 0;
}

static void segment(struct kvm_segment *s, uint16_t selector, uint8_t type, int l)
{
	*s = (struct kvm_segment){
	    .limit = 0xffffffff,
	    .selector = selector,
	    .type = type,
	    .present = 1,
	    .s = 1,
	    .db = !l, /* a 64-bit code segment must have D clear */
	    .l = l,
	    .g = 1,
	};
}

void boot_cpu__long_mode_state(uint64_t entry, uint64_t rsi, struct kvm_regs *regs,
			       struct kvm_sregs *sregs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rip = entry;
	regs->rsi = rsi;
	regs->rflags = EFLAGS_FIXED;

	segment(&sregs->cs, BOOT_CPU_SEL_CODE, 0xb, 1);
	segment(&sregs->ds, BOOT_CPU_SEL_DATA, 0x3, 0);
	sregs->es = sregs->ds;
	sregs->fs = sregs->ds;
	sregs->gs = sregs->ds;
	sregs->ss = sregs->ds;
	/* KVM wants a present busy TSS in TR to enter protected (and long) mode. */
	sregs->tr = (struct kvm_segment){
	    .limit = 0x67, .selector = BOOT_CPU_SEL_TSS, .type = 0xb, .present = 1};
	sregs->ldt = (struct kvm_segment){.type = 0x2, .unusable = 1};
	sregs->gdt = (struct kvm_dtable){.base = BOOT_CPU_GDT, .limit = sizeof(gdt) - 1};
	sregs->idt = (struct kvm_dtable){0};

	sregs->cr0 = CR0_PE | CR0_ET | CR0_PG;
	sregs->cr2 = 0;
	sregs->cr3 = BOOT_CPU_PML4;
	sregs->cr4 = CR4_PAE;
	sregs->efer = EFER_LME | EFER_LMA;
}

int boot_cpu__setup_long_mode(struct vm *vm, uint64_t entry, uint64_t rsi, char *err, size_t errlen)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int fd = vm->vcpus[0].fd;
	int rc;

	rc = boot_cpu__write_tables(vm->mem.base, vm->mem.low_size);
	if (rc) {
		util__set_err(err, errlen, "boot page tables: low RAM is too small: raise --mem");
		return rc;
	}
	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	boot_cpu__long_mode_state(entry, rsi, &regs, &sregs);
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0)
		goto fail;
	return 0;
fail:
	rc = -errno;
	util__set_err(err, errlen, "setting the boot vCPU's 64-bit entry state failed: %s",
		      strerror(-rc));
	return rc;
}
