/* Builds one vCPU's CPUID from KVM's supported list: topology, APIC IDs and Twin's leaves. */
#include <errno.h>
#include <stddef.h>
#include "twin_abi.h"
#include "util.h"
#include "cpuid.h"

#define CPUID_LEAF_FEATURES    0x1u
#define CPUID_LEAF_CACHE       0x4u
#define CPUID_LEAF_TOPOLOGY    0xbu
#define CPUID_LEAF_TOPOLOGY_V2 0x1fu
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT	       (1u << 28)
#define CPUID_4_EAX_TYPE       0x1fu
#define CPUID_4_EAX_LEVEL(eax) (((eax) >> 5) & 0x7u)
/* Leaf 0xB / 0x1F ECX[15:8] level types. */
#define TOPO_LEVEL_INVALID 0u
#define TOPO_LEVEL_SMT	   1u
#define TOPO_LEVEL_CORE	   2u

static struct kvm_cpuid_entry2 *find_entry(struct kvm_cpuid2 *c, uint32_t function, uint32_t index,
					   int match_index)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == function &&
		    (!match_index || c->entries[i].index == index))
			return &c->entries[i];
	return NULL;
}

static struct kvm_cpuid_entry2 *find_leaf(struct kvm_cpuid2 *c, uint32_t function)
{
	return find_entry(c, function, 0, 0);
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

/* Topology leaves keep levels 0 (SMT) and 1 (core): count those missing from a listed leaf. */
static uint32_t missing_topology_subleaves(struct kvm_cpuid2 *c, uint32_t function)
{
	uint32_t missing = 0;

	if (!find_leaf(c, function))
		return 0; /* the host does not enumerate it: neither do we */
	for (uint32_t sub = 0; sub < 2; sub++)
		if (!find_entry(c, function, sub, 1))
			missing++;
	return missing;
}

static void add_topology_subleaves(struct kvm_cpuid2 *c, uint32_t function)
{
	if (!find_leaf(c, function))
		return;
	for (uint32_t sub = 0; sub < 2; sub++) {
		if (find_entry(c, function, sub, 1))
			continue;
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){
		    .function = function,
		    .index = sub,
		    .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		};
	}
}

/* ceil(log2(n)): the x2APIC ID bits one level needs for n IDs. */
static uint32_t id_bits(unsigned int n)
{
	uint32_t bits = 0;

	while ((1ull << bits) < n)
		bits++;
	return bits;
}

/*
 * The VM is one package of nvcpus single-thread cores, APIC ID = vCPU index.
 * The host's topology (its thread and core counts) would otherwise leak in and
 * make guests size per-CPU data or pick APIC IDs for CPUs that do not exist.
 */
static void set_topology(struct kvm_cpuid_entry2 *e, unsigned int vcpu_index, unsigned int nvcpus)
{
	uint32_t cores_minus_1 = nvcpus - 1;

	switch (e->function) {
	case CPUID_LEAF_FEATURES:
		e->ebx = (e->ebx & 0x0000ffffu) | ((uint32_t)(vcpu_index & 0xff) << 24) |
			 ((uint32_t)(nvcpus > 0xff ? 0xff : nvcpus) << 16);
		/* HTT means EBX[23:16] is valid and more than one logical CPU exists. */
		if (nvcpus > 1)
			e->edx |= CPUID_1_EDX_HTT;
		else
			e->edx &= ~CPUID_1_EDX_HTT;
		e->ecx |= CPUID_1_ECX_HYPERVISOR;
		break;
	case CPUID_LEAF_CACHE:
		if (!(e->eax & CPUID_4_EAX_TYPE))
			break; /* the terminating null subleaf stays zero */
		if (cores_minus_1 > 63)
			cores_minus_1 = 63;
		e->eax &= 0x00003fffu;
		e->eax |= cores_minus_1 << 26;
		/* One thread per core: L1/L2 are private, L3 is shared by the package. */
		if (CPUID_4_EAX_LEVEL(e->eax) >= 3)
			e->eax |= (uint32_t)(nvcpus > 0x1000 ? 0xfff : nvcpus - 1) << 14;
		break;
	case CPUID_LEAF_TOPOLOGY:
	case CPUID_LEAF_TOPOLOGY_V2:
		switch (e->index) {
		case 0:
			e->eax = 0; /* one thread: no SMT bits in the x2APIC ID */
			e->ebx = 1;
			e->ecx = TOPO_LEVEL_SMT << 8;
			break;
		case 1:
			e->eax = id_bits(nvcpus);
			e->ebx = nvcpus;
			e->ecx = TOPO_LEVEL_CORE << 8 | 1;
			break;
		default:
			e->eax = 0;
			e->ebx = 0;
			e->ecx = TOPO_LEVEL_INVALID << 8 | (e->index & 0xff);
			break;
		}
		e->edx = vcpu_index; /* x2APIC ID, the same in every subleaf */
		break;
	}
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
	for (size_t i = 0; i < ARRAY_SIZE(added); i++)
		if (!find_leaf(c, added[i]))
			missing++;
	missing += missing_topology_subleaves(c, CPUID_LEAF_TOPOLOGY);
	missing += missing_topology_subleaves(c, CPUID_LEAF_TOPOLOGY_V2);
	if (capacity - c->nent < missing)
		return -ENOSPC;

	add_topology_subleaves(c, CPUID_LEAF_TOPOLOGY);
	add_topology_subleaves(c, CPUID_LEAF_TOPOLOGY_V2);
	for (uint32_t i = 0; i < c->nent; i++)
		set_topology(&c->entries[i], vcpu_index, nvcpus);

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
