/* Turns KVM's supported CPUID list into one vCPU's CPUID: the VM's topology and the Twin leaves. */
#ifndef XEN_CORE_CPUID_H
#define XEN_CORE_CPUID_H

#include <stdint.h>
#include <linux/kvm.h>

/* LAPIC bus frequency Twin reports in leaf 0x40000010 EBX: KVM's LAPIC timer runs at 1 GHz. */
#define CPUID_LAPIC_BUS_KHZ 1000000u
/* The most entries cpuid__customize adds: three Twin leaves, two subleaves each of 0xB, 0x1F. */
#define CPUID_EXTRA_ENTRIES 7

/*
 * Adjust a KVM_GET_SUPPORTED_CPUID list for one vCPU in place.  The topology
 * describes the VM, one package of nvcpus single-thread cores with APIC ID =
 * vCPU index: leaf 1 EBX[31:24] = vcpu_index, EBX[23:16] = nvcpus (capped at
 * 255), EDX[28] HTT set iff nvcpus > 1; leaf 4 EAX[31:26] = nvcpus - 1 in every
 * non-null subleaf (EAX[25:14] = 0 for L1/L2, nvcpus - 1 for L3 and up); leaf
 * 0xB and leaf 0x1F (each only if listed; subleaves 0 and 1 are added if
 * missing) subleaf 0 = SMT level (EAX 0, EBX 1), subleaf 1 = core level (EAX
 * ceil(log2(nvcpus)), EBX nvcpus), further subleaves invalid (EAX EBX 0, ECX
 * the subleaf), EDX = vcpu_index in all.  Also the hypervisor bit, leaf 1
 * ECX[31]; leaf 0x40000000 EAX raised to at least 0x40000010 (the leaf is
 * added with a zero signature if KVM did not list it); leaf 0x40000010 (EAX
 * tsc_khz, EBX CPUID_LAPIC_BUS_KHZ) and leaf 0x40000100 (EAX 0x40000100, EBX
 * ECX EDX "TwinTwinTwin") added or replaced.  capacity is the number of
 * entries allocated in c->entries.  Returns 0; -ENOSPC (nothing changed) if
 * the new entries do not fit; -EINVAL (nothing changed) if vcpu_index >=
 * nvcpus or c->nent > capacity.
 */
int cpuid__customize(struct kvm_cpuid2 *c, uint32_t capacity, uint32_t tsc_khz,
		     unsigned int vcpu_index, unsigned int nvcpus);

#endif
