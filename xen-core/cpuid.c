/* Builds one vCPU's CPUID from KVM's supported list: APIC IDs and Twin's hypervisor leaves. */
#include <errno.h>
#include <stddef.h>
#include "twin_abi.h"
#include "cpuid.h"

#define CPUID_LEAF_FEATURES    0x1u
#define CPUID_LEAF_TOPOLOGY    0xbu
#define CPUID_LEAF_TOPOLOGY_V2 0x1fu
#define CPUID_1_ECX_HYPERVISOR (1u << 31)

static struct kvm_cpuid_entry2 *find_leaf(struct kvm_cpuid2 *c, uint32_t function)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == function)
			return &c->entries[i];
	return NULL;
}

/* Return the entry for function, appending a zeroed one if it is missing. */
static struct kvm_cpuid_entry2 *get_leaf(struct kvm_cpuid2 *c, uint32_t function)
{
	struct kvm_cpuid_entry2 *e = find_leaf(c, function);

	if (e)
		return e;
	e = &c->entries[c->nent++];
	*e = (struct kvm_cpuid_entry2){.function = function};
	return e;
}

int cpuid__customize(struct kvm_cpuid2 *c, uint32_t capacity, uint32_t tsc_khz,
		     unsigned int vcpu_index, unsigned int nvcpus)
{
	const uint32_t added[] = {TWIN_CPUID_KVM_BASE, TWIN_CPUID_TIMING, TWIN_CPUID_SIGNATURE};
	struct kvm_cpuid_entry2 *e;
	uint32_t missing = 0;

	if (vcpu_index >= nvcpus || c->nent > capacity)
		return -EINVAL;
	/* Count first so that -ENOSPC leaves the list untouched. */
	for (size_t i = 0; i < sizeof(added) / sizeof(added[0]); i++)
		if (!find_leaf(c, added[i]))
			missing++;
	if (capacity - c->nent < missing)
		return -ENOSPC;

	for (uint32_t i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		switch (e->function) {
		case CPUID_LEAF_FEATURES:
			e->ebx = (e->ebx & 0x00ffffffu) | ((uint32_t)(vcpu_index & 0xff) << 24);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			break;
		case CPUID_LEAF_TOPOLOGY:
		case CPUID_LEAF_TOPOLOGY_V2:
			e->edx = vcpu_index; /* x2APIC ID, the same in every subleaf */
			break;
		}
	}

	e = get_leaf(c, TWIN_CPUID_KVM_BASE);
	if (e->eax < TWIN_CPUID_TIMING)
		e->eax = TWIN_CPUID_TIMING;

	e = get_leaf(c, TWIN_CPUID_TIMING);
	*e = (struct kvm_cpuid_entry2){
	    .function = TWIN_CPUID_TIMING,
	    .eax = tsc_khz,
	    .ebx = CPUID_LAPIC_BUS_KHZ,
	};

	e = get_leaf(c, TWIN_CPUID_SIGNATURE);
	*e = (struct kvm_cpuid_entry2){
	    .function = TWIN_CPUID_SIGNATURE,
	    .eax = TWIN_CPUID_SIGNATURE,
	    .ebx = TWIN_CPUID_SIGNATURE_EBX,
	    .ecx = TWIN_CPUID_SIGNATURE_EBX,
	    .edx = TWIN_CPUID_SIGNATURE_EBX,
	};
	return 0;
}
