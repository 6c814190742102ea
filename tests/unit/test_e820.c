/* Check suite for the e820 map: RAM below the PCI hole, RAM across it, tiny guests, errors. */
#include <errno.h>
#include <string.h>
#include "suites.h"
#include "layout.h"
#include "e820.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static struct e820_entry map[E820_MAX_ENTRIES + 2];

static void check_entry(int i, uint64_t addr, uint64_t size, uint32_t type)
{
	ck_assert_msg(map[i].addr == addr && map[i].size == size && map[i].type == type,
		      "entry %d: got 0x%llx+0x%llx type %u, want 0x%llx+0x%llx type %u", i,
		      (unsigned long long)map[i].addr, (unsigned long long)map[i].size, map[i].type,
		      (unsigned long long)addr, (unsigned long long)size, type);
}

/* Sorted, non-overlapping, nothing in the PCI hole, RAM adds up to what split gave. */
static void check_invariants(uint64_t mem, int n)
{
	uint64_t low, high, ram = 0;

	e820__split(mem, &low, &high);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_gt(map[i].size, 0);
		if (i > 0)
			ck_assert_uint_le(map[i - 1].addr + map[i - 1].size, map[i].addr);
		ck_assert(map[i].addr + map[i].size <= LAYOUT_PCI_HOLE_START ||
			  map[i].addr >= LAYOUT_PCI_HOLE_END);
		if (map[i].type == E820_RAM)
			ram += map[i].size;
	}
	/* The 640 KiB - 1 MiB window is counted in mem_size but is not RAM. */
	ck_assert_uint_eq(ram, mem - (LAYOUT_HIGH_START - LAYOUT_EBDA));
	ck_assert_uint_eq(low + high, mem);
}

START_TEST(test_split)
{
	uint64_t low, high;

	e820__split(256 * MIB, &low, &high);
	ck_assert_uint_eq(low, 256 * MIB);
	ck_assert_uint_eq(high, 0);
	e820__split(3 * GIB, &low, &high);
	ck_assert_uint_eq(low, 3 * GIB);
	ck_assert_uint_eq(high, 0);
	e820__split(3 * GIB + 4096, &low, &high);
	ck_assert_uint_eq(low, LAYOUT_PCI_HOLE_START);
	ck_assert_uint_eq(high, 4096);
	e820__split(8 * GIB, &low, &high);
	ck_assert_uint_eq(low, LAYOUT_PCI_HOLE_START);
	ck_assert_uint_eq(high, 8 * GIB - LAYOUT_PCI_HOLE_START);
}
END_TEST

START_TEST(test_below_hole)
{
	int n = e820__build(256 * MIB, map, E820_MAX_ENTRIES);

	ck_assert_int_eq(n, 4);
	check_entry(0, 0, LAYOUT_EBDA, E820_RAM);
	check_entry(1, LAYOUT_EBDA, LAYOUT_LOWMEM_END - LAYOUT_EBDA, E820_RESERVED);
	check_entry(2, LAYOUT_BIOS_START, LAYOUT_HIGH_START - LAYOUT_BIOS_START, E820_RESERVED);
	check_entry(3, MIB, 255 * MIB, E820_RAM);
	check_invariants(256 * MIB, n);
}
END_TEST

START_TEST(test_up_to_hole)
{
	int n = e820__build(LAYOUT_PCI_HOLE_START, map, E820_MAX_ENTRIES);

	ck_assert_int_eq(n, 4);
	check_entry(3, MIB, LAYOUT_PCI_HOLE_START - MIB, E820_RAM);
	check_invariants(LAYOUT_PCI_HOLE_START, n);
}
END_TEST

START_TEST(test_crossing_hole)
{
	int n = e820__build(4 * GIB, map, E820_MAX_ENTRIES);

	ck_assert_int_eq(n, 5);
	check_entry(3, MIB, LAYOUT_PCI_HOLE_START - MIB, E820_RAM);
	/* The part that would have been in the hole is relocated to 4 GiB. */
	check_entry(4, 4 * GIB, 4 * GIB - LAYOUT_PCI_HOLE_START, E820_RAM);
	check_invariants(4 * GIB, n);

	n = e820__build(3 * GIB + 4096, map, E820_MAX_ENTRIES);
	ck_assert_int_eq(n, 5);
	check_entry(4, 4 * GIB, 4096, E820_RAM);
	check_invariants(3 * GIB + 4096, n);
}
END_TEST

START_TEST(test_tiny)
{
	int n = e820__build(MIB, map, E820_MAX_ENTRIES);

	/* Exactly 1 MiB: only the low 640 KiB is RAM. */
	ck_assert_int_eq(n, 3);
	check_entry(0, 0, LAYOUT_EBDA, E820_RAM);
	check_invariants(MIB, n);

	n = e820__build(2 * MIB, map, E820_MAX_ENTRIES);
	ck_assert_int_eq(n, 4);
	check_entry(3, MIB, MIB, E820_RAM);
	check_invariants(2 * MIB, n);
}
END_TEST

START_TEST(test_invalid)
{
	ck_assert_int_eq(e820__build(0, map, E820_MAX_ENTRIES), -EINVAL);
	ck_assert_int_eq(e820__build(512 * 1024, map, E820_MAX_ENTRIES), -EINVAL);
	ck_assert_int_eq(e820__build(MIB - 4096, map, E820_MAX_ENTRIES), -EINVAL);
	ck_assert_int_eq(e820__build(256 * MIB + 1, map, E820_MAX_ENTRIES), -EINVAL);
}
END_TEST

START_TEST(test_enospc)
{
	struct e820_entry canary = {0x1234, 0x5678, 9};

	for (int i = 0; i < E820_MAX_ENTRIES + 2; i++)
		map[i] = canary;
	ck_assert_int_eq(e820__build(4 * GIB, map, 4), -ENOSPC);
	ck_assert_int_eq(e820__build(256 * MIB, map, 0), -ENOSPC);
	/* Nothing written on failure. */
	ck_assert_int_eq(memcmp(&map[0], &canary, sizeof(canary)), 0);
	ck_assert_int_eq(e820__build(4 * GIB, map, 5), 5);
	/* Never more than E820_MAX_ENTRIES, and only count entries written. */
	ck_assert_uint_eq(map[5].addr, canary.addr);
}
END_TEST

START_TEST(test_many_sizes)
{
	for (uint64_t mem = MIB; mem <= 64 * GIB; mem = mem * 3 / 2 / 4096 * 4096 + 4096) {
		int n = e820__build(mem, map, E820_MAX_ENTRIES);

		ck_assert_int_ge(n, 3);
		check_invariants(mem, n);
	}
}
END_TEST

Suite *e820_suite(void)
{
	Suite *s = suite_create("e820");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_below_hole);
	tcase_add_test(tc, test_up_to_hole);
	tcase_add_test(tc, test_crossing_hole);
	tcase_add_test(tc, test_tiny);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_enospc);
	tcase_add_test(tc, test_many_sizes);
	suite_add_tcase(s, tc);
	return s;
}
