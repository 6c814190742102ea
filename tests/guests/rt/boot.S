/* The guest kit's ring-0 stub: PVH entry, long mode, GDT/TSS/IDT, banner, drop to ring 3. */

/*
 * Ring-0 code is emulated instruction by instruction under PVM (LAB.md), so
 * everything that can be is static data built at link time: the page tables,
 * the GDT with one TSS descriptor per CPU, the TSSes and the IDT.  The boot
 * CPU runs about 50 instructions here; an AP about 40 more in real mode and
 * the trampoline.  All real work happens in ring 3 (rt/start.c).
 */

#include "layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100
#define CR4_PAE 0x20
#define CR0_PE_ET_PG 0x80000011
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define KVM_FEATURE_CLOCKSOURCE2 (1 << 3)
#define PTE_P_RW_US_PS 0x87
#define PTE_PCD_PWT 0x18

/* The PVH note: owner "Xen", type 18, the 32-bit physical entry point. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4			/* namesz */
	.long 8			/* descsz: a 64-bit value, upper half zero */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.balign 4
	.quad pvh_start32

/* ------------------------------------------------------------------ */
/* Fixed-address section: ISR stubs at RT_ISR_BASE, TSSes at RT_TSS_BASE. */
	.section .fixed, "ax"
	.code64
isr_stubs:
	.set vec, 0
	.rept 32
	.balign RT_ISR_STRIDE
	/* Vectors 8, 10-14, 17, 21, 29 and 30 push an error code themselves. */
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	pushq $vec
	.else
	pushq $0
	pushq $vec
	.endif
	jmp isr_common
	.set vec, vec + 1
	.endr

	.org RT_TSS_BASE - RT_IMAGE_BASE
	.globl rt_tss
rt_tss:
	.set cpu, 0
	.rept RT_MAX_CPUS
	.long 0
	.quad rt_r0_stacks + ((cpu + 1) << RT_R0_STACK_SHIFT) /* RSP0 */
	.fill 88, 1, 0
	.word 0
	.word RT_TSS_SIZE	/* I/O bitmap past the limit: no port access from ring 3 */
	.set cpu, cpu + 1
	.endr

/* ------------------------------------------------------------------ */
	.section .text.boot, "ax"
	.code32
	.globl pvh_start32
/* Boot CPU, from the PVH ABI: 32-bit flat protected mode, paging off, ebx = start_info. */
pvh_start32:
	rdtsc				/* for the ring-0 stub's cost: see rt_tsc_entry */
	movl %eax, rt_tsc_entry
	movl %edx, rt_tsc_entry + 4
	movl %ebx, rt_start_info_pa
	xorl %ebp, %ebp
	lgdt gdt_ptr
	jmp enter_long32

/* APs arrive here from the real-mode trampoline with our GDT loaded. */
ap_start32:
	movl $1, %ebp
enter_long32:
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $rt_pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	xorl %edx, %edx
	movl $EFER_LME, %eax
	wrmsr
	movl $CR0_PE_ET_PG, %eax
	movl %eax, %cr0
	ljmp $RT_SEL_KCODE64, $long64

	.code64
long64:
	movl $RT_SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	lidt idt_ptr
	testl %ebp, %ebp
	jnz 2f

	/*
	 * Boot CPU.  CPUID must run here: under PVM a ring-3 cpuid executes
	 * natively and returns the host's leaves (and the host CPU's APIC ID),
	 * never the VMM's.  Ring 0 is emulated, so KVM answers from the VMM's
	 * table.  Keep the leaves the runtime needs in rt_cpuid.
	 */
	movl $0x40000100, %eax
	cpuid
	movl %eax, rt_cpuid + 32(%rip)
	movl %ebx, rt_cpuid + 36(%rip)
	movl %ecx, rt_cpuid + 40(%rip)
	movl %edx, rt_cpuid + 44(%rip)
	movl $0x40000010, %eax
	cpuid
	movl %eax, rt_cpuid + 16(%rip)
	movl %ebx, rt_cpuid + 20(%rip)
	movl $0x40000000, %eax
	cpuid
	movl %eax, rt_cpuid + 0(%rip)
	movl %ebx, rt_cpuid + 4(%rip)
	/*
	 * When the hypervisor has no TSC-frequency leaf (QEMU), ask KVM for a
	 * kvmclock page: its mul/shift give the TSC rate exactly, and the MSR
	 * can only be written here, in ring 0.
	 */
	cmpl $0x40000010, %eax
	jae 1f
	cmpl $0x4b4d564b, %ebx	/* "KVMK" */
	jne 1f
	movl $0x40000001, %eax
	cpuid
	testl $KVM_FEATURE_CLOCKSOURCE2, %eax
	jz 1f
	movl $MSR_KVM_SYSTEM_TIME_NEW, %ecx
	movl $rt_kvmclock + 1, %eax
	xorl %edx, %edx
	wrmsr
1:
	/* The banner: one string I/O instruction, one exit. */
	movl $guest_banner, %esi
	movl guest_banner_len, %ecx
	movl $0x3f8, %edx
	rep outsb
	xorl %edi, %edi
	jmp 3f

2:	/* AP: take the next CPU index. */
	movl $1, %edi
	lock xaddl %edi, rt_cpu_next

3:	/* edi = CPU index: its TSS, its ring-0 stack, then iretq to ring 3. */
	movl %edi, %eax
	shll $4, %eax
	addl $RT_SEL_TSS0, %eax
	ltr %ax
	leaq 1(%rdi), %rax
	shlq $RT_R0_STACK_SHIFT, %rax
	addq $rt_r0_stacks, %rax
	movq %rax, %rsp
	leaq 1(%rdi), %rax
	shlq $RT_R3_STACK_SHIFT, %rax
	addq $rt_r3_stacks, %rax
	pushq $(RT_SEL_UDATA | 3)
	pushq %rax
	pushq $0x2			/* RFLAGS: IF=0, IOPL=0 */
	pushq $(RT_SEL_UCODE64 | 3)
	pushq $ring3_start
	iretq

/* Ring 3 from here on: call into C with the ABI's stack alignment. */
ring3_start:
	call rt__entry
	ud2

/*
 * Exceptions.  The stub pushed (error code, vector); save the GPRs and hand
 * the frame to C, which reports and exits (or parks a CPU that asked to).
 */
isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	call fault__handle
4:	cli
	hlt
	jmp 4b

/* A CPU with nothing left to do traps here from ring 3 to halt in ring 0. */
	.globl rt__park_insn
rt__park_insn:
	ud2

/* ------------------------------------------------------------------ */
/* The AP trampoline, copied to RT_TRAMPOLINE by the boot CPU (ring 3). */
	.section .rodata.trampoline, "a"
	.code16
	.globl rt_trampoline, rt_trampoline_end
rt_trampoline:
	cli
	movw %cs, %ax
	movw %ax, %ds
	lgdtl tramp_gdt_ptr - rt_trampoline
	movl $1, %eax
	movl %eax, %cr0
	ljmpl $RT_SEL_KCODE32, $ap_start32
	.balign 4
tramp_gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt
rt_trampoline_end:

/* ------------------------------------------------------------------ */
	.section .data.boot, "aw"
	.balign 16
gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* 0x08 kernel code, 64-bit */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data */
	.quad 0x00cf9a000000ffff	/* 0x18 kernel code, 32-bit (APs) */
	.quad 0x00cff2000000ffff	/* 0x20 user data, DPL 3 */
	.quad 0x00affa000000ffff	/* 0x28 user code, 64-bit, DPL 3 */
	/* 0x30: one available 64-bit TSS descriptor per CPU. */
	.set cpu, 0
	.rept RT_MAX_CPUS
	.set b, RT_TSS_BASE + cpu * RT_TSS_SIZE
	.quad (RT_TSS_SIZE - 1) | ((b & 0xffff) << 16) | (((b >> 16) & 0xff) << 32) | (0x89 << 40) | (((b >> 24) & 0xff) << 56)
	.quad 0
	.set cpu, cpu + 1
	.endr
gdt_end:

	.balign 8
	.word 0
gdt_ptr:	/* lgdt in 32-bit mode reads a 32-bit base */
	.word gdt_end - gdt - 1
	.long gdt

	.balign 16
idt:
	.set vec, 0
	.rept 32
	.set off, RT_ISR_BASE + vec * RT_ISR_STRIDE
	.word off & 0xffff
	.word RT_SEL_KCODE64
	/* Interrupt gates, DPL 0; #BP (3) is DPL 3 so int3 works from ring 3. */
	.if vec == 3
	.word 0xee00
	.else
	.word 0x8e00
	.endif
	.word (off >> 16) & 0xffff
	.long 0
	.long 0
	.set vec, vec + 1
	.endr
idt_end:

	.balign 8
	.word 0, 0, 0
idt_ptr:
	.word idt_end - idt - 1
	.quad idt

	.balign 4
	.globl rt_cpu_next
rt_cpu_next:
	.long 1

	.globl rt_start_info_pa
rt_start_info_pa:
	.long 0

	.balign 8
	.globl rt_tsc_entry
rt_tsc_entry:
	.quad 0

	/* CPUID leaves read by the boot CPU in ring 0 (struct rt_cpuid in rt.h). */
	.balign 16
	.globl rt_cpuid
rt_cpuid:
	.fill 48, 1, 0

	.balign 64
	.globl rt_kvmclock
rt_kvmclock:
	.fill 32, 1, 0

/*
 * Identity map of the low 4 GiB with 2 MiB user pages.  Uncached from
 * RT_UNCACHED_BASE up: the PCI BAR window, ECAM and the platform devices.
 */
	.section .data.pagetables, "aw"
	.balign 4096
	.globl rt_pml4
rt_pml4:
	.quad rt_pdpt + 7
	.fill 511, 8, 0
rt_pdpt:
	.quad rt_pd + 0x0000 + 7
	.quad rt_pd + 0x1000 + 7
	.quad rt_pd + 0x2000 + 7
	.quad rt_pd + 0x3000 + 7
	.fill 508, 8, 0
rt_pd:
	.set a, 0
	.rept 2048
	.if a >= RT_UNCACHED_BASE
	.quad a | PTE_P_RW_US_PS | PTE_PCD_PWT
	.else
	.quad a | PTE_P_RW_US_PS
	.endif
	.set a, a + 0x200000
	.endr

	.section .bss.stacks, "aw", @nobits
	.balign 4096
	.globl rt_r0_stacks, rt_r3_stacks
rt_r0_stacks:
	.skip RT_MAX_CPUS << RT_R0_STACK_SHIFT
rt_r3_stacks:
	.skip RT_MAX_CPUS << RT_R3_STACK_SHIFT

	.section .note.GNU-stack, "", @progbits
