/* Builds the guest's e820 memory map around the legacy holes and the 32-bit PCI hole. */
#include <errno.h>
#include "layout.h"
#include "e820.h"

void e820__split(uint64_t mem_size, uint64_t *low_size, uint64_t *high_size)
{
	uint64_t low = mem_size < LAYOUT_PCI_HOLE_START ? mem_size : LAYOUT_PCI_HOLE_START;

	*low_size = low;
	*high_size = mem_size - low;
}

int e820__build(uint64_t mem_size, struct e820_entry *out, int max)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint64_t low, high;
	int n = 0;

	if (mem_size < E820_MIN_MEM || mem_size % 4096 != 0)
		return -EINVAL;
	e820__split(mem_size, &low, &high);

	map[n++] = (struct e820_entry){0, LAYOUT_EBDA, E820_RAM};
	map[n++] = (struct e820_entry){LAYOUT_EBDA, LAYOUT_LOWMEM_END - LAYOUT_EBDA, E820_RESERVED};
	/* 0xa0000-0xf0000 (VGA, option ROMs) is left out of the map: nothing is there. */
	map[n++] = (struct e820_entry){LAYOUT_BIOS_START, LAYOUT_HIGH_START - LAYOUT_BIOS_START,
				       E820_RESERVED};
	if (low > LAYOUT_HIGH_START)
		map[n++] =
		    (struct e820_entry){LAYOUT_HIGH_START, low - LAYOUT_HIGH_START, E820_RAM};
	if (high > 0)
		map[n++] = (struct e820_entry){LAYOUT_PCI_HOLE_END, high, E820_RAM};

	if (n > max)
		return -ENOSPC;
	for (int i = 0; i < n; i++)
		out[i] = map[i];
	return n;
}
