/* Check suite for CPUID customisation: topology, APIC IDs, the hypervisor bit and Twin's leaves. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "twin_abi.h"
#include "cpuid.h"

#define KVM_SIG_EBX 0x4b4d564bu /* "KVMK" */

static struct kvm_cpuid2 *alloc_cpuid(uint32_t capacity)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + capacity * sizeof(c->entries[0]));

	ck_assert_ptr_nonnull(c);
	return c;
}

static void add(struct kvm_cpuid2 *c, uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx,
		uint32_t ecx, uint32_t edx)
{
	c->entries[c->nent++] = (struct kvm_cpuid_entry2){
	    .function = function,
	    .index = index,
	    .eax = eax,
	    .ebx = ebx,
	    .ecx = ecx,
	    .edx = edx,
	    .flags = (function == 4 || function == 0xb || function == 0x1f)
			 ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX
			 : 0,
	};
}

/*
 * A list shaped like KVM_GET_SUPPORTED_CPUID's on an 8-core, 2-thread host
 * (leaf 1 says 16 logical CPUs, leaf 4 8 cores and 2 threads per L1/L2, 16
 * per L3, leaf 0xB 2 threads / 16 CPUs), with KVM's own 0x40000000 leaf.
 */
static struct kvm_cpuid2 *kvm_like(uint32_t capacity, int with_kvm_base)
{
	struct kvm_cpuid2 *c = alloc_cpuid(capacity);

	add(c, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(c, 1, 0, 0x000806f8, 0x00100800, 0x76fa3223, 0x078bfbff);
	add(c, 4, 0, 0x1c004121, 0x02c0003f, 0x3f, 0);
	add(c, 4, 1, 0x1c004122, 0x01c0003f, 0x3f, 0);
	add(c, 4, 2, 0x1c004143, 0x03c0003f, 0x3ff, 0);
	add(c, 4, 3, 0x1c03c163, 0x03c0003f, 0x3fff, 6);
	add(c, 4, 4, 0, 0, 0, 0);
	add(c, 0xb, 0, 1, 2, 0x100, 0);
	add(c, 0xb, 1, 4, 16, 0x201, 0);
	add(c, 0xb, 2, 0, 0, 2, 0);
	add(c, 0x1f, 0, 1, 2, 0x100, 0);
	add(c, 0x1f, 1, 4, 16, 0x201, 0);
	add(c, 0x1f, 2, 0, 0, 2, 0);
	if (with_kvm_base)
		add(c, TWIN_CPUID_KVM_BASE, 0, 0x40000001, KVM_SIG_EBX, 0x564b4d56, 0x4d);
	add(c, 0x40000001, 0, 0x01007afb, 0, 0, 0);
	return c;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == function && c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

static int count(struct kvm_cpuid2 *c, uint32_t function)
{
	int n = 0;

	for (uint32_t i = 0; i < c->nent; i++)
		n += c->entries[i].function == function;
	return n;
}

START_TEST(test_apic_ids_and_hypervisor_bit)
{
	struct kvm_cpuid2 *c = kvm_like(32, 1);
	struct kvm_cpuid_entry2 *e;

	ck_assert_int_eq(cpuid__customize(c, 32, 2500000, 5, 8), 0);
	e = find(c, 1, 0);
	ck_assert_uint_eq(e->ebx >> 24, 5);
	ck_assert_uint_eq((e->ebx >> 16) & 0xff, 8);
	ck_assert_uint_eq(e->ebx & 0x0000ffff, 0x00000800); /* the rest kept */
	ck_assert_uint_eq(e->ecx >> 31, 1);
	ck_assert_uint_eq(e->ecx & 0x7fffffff, 0x76fa3223);
	ck_assert_uint_eq(e->eax, 0x000806f8);
	ck_assert_uint_eq(find(c, 0xb, 0)->edx, 5);
	ck_assert_uint_eq(find(c, 0xb, 1)->edx, 5);
	ck_assert_uint_eq(find(c, 0x1f, 0)->edx, 5);
	ck_assert_uint_eq(find(c, 0xb, 2)->edx, 5);
	ck_assert_uint_eq(find(c, 0x1f, 1)->edx, 5);
	free(c);
}
END_TEST

START_TEST(test_per_vcpu)
{
	for (unsigned int v = 0; v < 4; v++) {
		struct kvm_cpuid2 *c = kvm_like(32, 1);

		ck_assert_int_eq(cpuid__customize(c, 32, 1000, v, 4), 0);
		ck_assert_uint_eq(find(c, 1, 0)->ebx >> 24, v);
		ck_assert_uint_eq(find(c, 0xb, 0)->edx, v);
		free(c);
	}
}
END_TEST

/* The VM is one package of nvcpus single-thread cores, whatever the host is. */
static void check_topology(unsigned int nvcpus, unsigned int shift)
{
	const uint32_t host_l4_eax[] = {0x1c004121, 0x1c004122, 0x1c004143, 0x1c03c163};
	const uint32_t host_l4_ebx[] = {0x02c0003f, 0x01c0003f, 0x03c0003f, 0x03c0003f};

	for (unsigned int v = 0; v<nvcpus; v += nvcpus> 4 ? nvcpus - 1 : 1) {
		struct kvm_cpuid2 *c = kvm_like(32, 1);
		struct kvm_cpuid_entry2 *e;

		ck_assert_int_eq(cpuid__customize(c, 32, 1000, v, nvcpus), 0);
		e = find(c, 1, 0);
		ck_assert_uint_eq(e->ebx >> 24, v);
		ck_assert_uint_eq((e->ebx >> 16) & 0xff, nvcpus);
		ck_assert_uint_eq((e->edx >> 28) & 1, nvcpus > 1);
		ck_assert_uint_eq(e->edx & ~(1u << 28), 0x078bfbff & ~(1u << 28));

		for (uint32_t sub = 0; sub < 4; sub++) {
			e = find(c, 4, sub);
			ck_assert_uint_eq(e->eax >> 26, nvcpus - 1);
			/* L1/L2 private to a core, L3 shared by all. */
			ck_assert_uint_eq((e->eax >> 14) & 0xfff, sub == 3 ? nvcpus - 1 : 0);
			/* Cache type, level and geometry kept. */
			ck_assert_uint_eq(e->eax & 0x3fff, host_l4_eax[sub] & 0x3fff);
			ck_assert_uint_eq(e->ebx, host_l4_ebx[sub]);
		}
		ck_assert_uint_eq(find(c, 4, 4)->eax, 0); /* null subleaf stays null */

		for (uint32_t fn = 0xb; fn <= 0x1f; fn += 0x1f - 0xb) {
			e = find(c, fn, 0);
			ck_assert_uint_eq(e->eax, 0);
			ck_assert_uint_eq(e->ebx, 1);
			ck_assert_uint_eq(e->ecx, 0x100); /* SMT, subleaf 0 */
			ck_assert_uint_eq(e->edx, v);
			e = find(c, fn, 1);
			ck_assert_uint_eq(e->eax, shift);
			ck_assert_uint_eq(e->ebx, nvcpus);
			ck_assert_uint_eq(e->ecx, 0x201); /* core, subleaf 1 */
			ck_assert_uint_eq(e->edx, v);
			e = find(c, fn, 2);
			ck_assert_uint_eq(e->eax, 0);
			ck_assert_uint_eq(e->ebx, 0);
			ck_assert_uint_eq(e->ecx, 2); /* invalid level */
			ck_assert_uint_eq(e->edx, v);
		}
		free(c);
	}
}

START_TEST(test_topology_1)
{
	check_topology(1, 0);
}
END_TEST

START_TEST(test_topology_2)
{
	check_topology(2, 1);
}
END_TEST

START_TEST(test_topology_3)
{
	check_topology(3, 2);
}
END_TEST

START_TEST(test_topology_64)
{
	check_topology(64, 6);
}
END_TEST

/* A host listing only leaf 0xB subleaf 0 still gets the core level described. */
START_TEST(test_topology_subleaf_added)
{
	struct kvm_cpuid2 *c = alloc_cpuid(16);
	uint32_t n;

	add(c, 0, 0, 0xb, 0, 0, 0);
	add(c, 1, 0, 0x000806f8, 0x00010800, 0, 0);
	add(c, 0xb, 0, 1, 1, 0x100, 0);
	n = c->nent;
	/* Three Twin leaves plus subleaf 1: one entry short is refused. */
	ck_assert_int_eq(cpuid__customize(c, n + 3, 1000, 1, 4), -ENOSPC);
	ck_assert_uint_eq(c->nent, n);
	ck_assert_int_eq(cpuid__customize(c, n + 4, 1000, 1, 4), 0);
	ck_assert_int_eq(count(c, 0xb), 2);
	ck_assert_int_eq(count(c, 0x1f), 0); /* not listed by the host: not invented */
	ck_assert_uint_eq(find(c, 0xb, 1)->ebx, 4);
	ck_assert_uint_eq(find(c, 0xb, 1)->eax, 2);
	ck_assert_uint_eq(find(c, 0xb, 1)->ecx, 0x201);
	ck_assert_uint_eq(find(c, 0xb, 1)->edx, 1);
	ck_assert_uint_eq(find(c, 0xb, 1)->flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	free(c);
}
END_TEST

START_TEST(test_twin_leaves)
{
	struct kvm_cpuid2 *c = kvm_like(32, 1);
	struct kvm_cpuid_entry2 *e;
	uint32_t before = c->nent;
	char sig[13] = {0};

	ck_assert_int_eq(cpuid__customize(c, 32, 2893012, 0, 1), 0);
	ck_assert_uint_eq(c->nent, before + 2);

	/* KVM's base leaf keeps its signature and now covers the timing leaf. */
	e = find(c, TWIN_CPUID_KVM_BASE, 0);
	ck_assert_uint_eq(e->eax, 0x40000010);
	ck_assert_uint_eq(e->ebx, KVM_SIG_EBX);

	e = find(c, 0x40000010, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->eax, 2893012);
	ck_assert_uint_eq(e->ebx, 1000000);
	ck_assert_uint_eq(e->ecx, 0);
	ck_assert_uint_eq(e->edx, 0);

	e = find(c, 0x40000100, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->eax, 0x40000100);
	memcpy(sig, &e->ebx, 4);
	memcpy(sig + 4, &e->ecx, 4);
	memcpy(sig + 8, &e->edx, 4);
	ck_assert_str_eq(sig, "TwinTwinTwin");
	ck_assert_uint_eq(e->flags, 0);
	free(c);
}
END_TEST

START_TEST(test_existing_leaves_replaced)
{
	struct kvm_cpuid2 *c = kvm_like(32, 1);

	find(c, TWIN_CPUID_KVM_BASE, 0)->eax = 0x40000100; /* already above: kept */
	add(c, 0x40000010, 0, 1, 2, 3, 4);
	add(c, 0x40000100, 0, 5, 6, 7, 8);
	ck_assert_int_eq(cpuid__customize(c, c->nent, 1234, 0, 1), 0);
	ck_assert_uint_eq(find(c, TWIN_CPUID_KVM_BASE, 0)->eax, 0x40000100);
	ck_assert_int_eq(count(c, 0x40000010), 1);
	ck_assert_int_eq(count(c, 0x40000100), 1);
	ck_assert_uint_eq(find(c, 0x40000010, 0)->eax, 1234);
	ck_assert_uint_eq(find(c, 0x40000010, 0)->ecx, 0);
	ck_assert_uint_eq(find(c, 0x40000100, 0)->ebx, TWIN_CPUID_SIGNATURE_EBX);
	free(c);
}
END_TEST

START_TEST(test_missing_kvm_base)
{
	struct kvm_cpuid2 *c = kvm_like(32, 0);

	ck_assert_int_eq(cpuid__customize(c, 32, 1000, 0, 1), 0);
	ck_assert_int_eq(count(c, TWIN_CPUID_KVM_BASE), 1);
	ck_assert_uint_eq(find(c, TWIN_CPUID_KVM_BASE, 0)->eax, 0x40000010);
	free(c);
}
END_TEST

START_TEST(test_enospc)
{
	struct kvm_cpuid2 *c = kvm_like(32, 1);
	struct kvm_cpuid2 *copy = kvm_like(32, 1);
	uint32_t n = c->nent;

	/* Two leaves to add, room for one: refused, list untouched. */
	ck_assert_int_eq(cpuid__customize(c, n + 1, 1000, 0, 1), -ENOSPC);
	ck_assert_int_eq(memcmp(c, copy, sizeof(*c) + 32 * sizeof(c->entries[0])), 0);
	ck_assert_int_eq(cpuid__customize(c, n, 1000, 0, 1), -ENOSPC);
	/* Exactly enough room. */
	ck_assert_int_eq(cpuid__customize(c, n + 2, 1000, 0, 1), 0);
	ck_assert_uint_eq(c->nent, n + 2);
	free(c);
	free(copy);

	/* Without KVM's base leaf, three are needed. */
	c = kvm_like(32, 0);
	n = c->nent;
	ck_assert_int_eq(cpuid__customize(c, n + 2, 1000, 0, 1), -ENOSPC);
	ck_assert_uint_eq(c->nent, n);
	ck_assert_int_eq(cpuid__customize(c, n + CPUID_EXTRA_ENTRIES, 1000, 0, 1), 0);
	free(c);
}
END_TEST

START_TEST(test_bad_index)
{
	struct kvm_cpuid2 *c = kvm_like(32, 1);

	ck_assert_int_eq(cpuid__customize(c, 32, 1000, 2, 2), -EINVAL);
	ck_assert_uint_eq(find(c, 1, 0)->ecx >> 31, 0);
	free(c);
}
END_TEST

Suite *cpuid_suite(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_apic_ids_and_hypervisor_bit);
	tcase_add_test(tc, test_per_vcpu);
	tcase_add_test(tc, test_topology_1);
	tcase_add_test(tc, test_topology_2);
	tcase_add_test(tc, test_topology_3);
	tcase_add_test(tc, test_topology_64);
	tcase_add_test(tc, test_topology_subleaf_added);
	tcase_add_test(tc, test_twin_leaves);
	tcase_add_test(tc, test_existing_leaves_replaced);
	tcase_add_test(tc, test_missing_kvm_base);
	tcase_add_test(tc, test_enospc);
	tcase_add_test(tc, test_bad_index);
	suite_add_tcase(s, tc);
	return s;
}
