/* Turns KVM's supported CPUID list into one vCPU's CPUID: topology IDs and the Twin leaves. */
#ifndef XEN_CORE_CPUID_H
#define XEN_CORE_CPUID_H

#include <stdint.h>
#include <linux/kvm.h>

/* LAPIC bus frequency Twin reports in leaf 0x40000010 EBX: KVM's LAPIC timer runs at 1 GHz. */
#define CPUID_LAPIC_BUS_KHZ 1000000u
/* The most entries cpuid__customize adds to the list. */
#define CPUID_EXTRA_ENTRIES 3

/*
 * Adjust a KVM_GET_SUPPORTED_CPUID list for one vCPU in place: APIC ID
 * vcpu_index in leaf 1 EBX[31:24] and in EDX of every leaf 0xB / 0x1F
 * subleaf; the hypervisor bit, leaf 1 ECX[31]; leaf 0x40000000 EAX raised to
 * at least 0x40000010 (the leaf is added with a zero signature if KVM did not
 * list it); leaf 0x40000010 (EAX tsc_khz, EBX CPUID_LAPIC_BUS_KHZ) and leaf
 * 0x40000100 (EAX 0x40000100, EBX ECX EDX "TwinTwinTwin") added or
 * replaced.  capacity is the number of entries allocated in c->entries.
 * Returns 0; -ENOSPC (nothing changed) if the new leaves do not fit; -EINVAL
 * (nothing changed) if vcpu_index >= nvcpus or c->nent > capacity.
 */
int cpuid__customize(struct kvm_cpuid2 *c, uint32_t capacity, uint32_t tsc_khz,
		     unsigned int vcpu_index, unsigned int nvcpus);

#endif
