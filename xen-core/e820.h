/* The guest's e820 memory map: low RAM, the legacy holes, the PCI hole and high RAM. */
#ifndef XEN_CORE_E820_H
#define XEN_CORE_E820_H

#include <stdint.h>
#include "layout.h"

#define E820_RAM      1
#define E820_RESERVED 2

/* The smallest guest: the map covers the whole first MiB (EBDA, BIOS area). */
#define E820_MIN_MEM LAYOUT_HIGH_START
/* The most entries e820__build ever returns. */
#define E820_MAX_ENTRIES 5

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

/*
 * Split guest RAM around the PCI hole: the low part from 0, the rest from
 * 4 GiB.  low_size is what the low memslot must cover.
 */
void e820__split(uint64_t mem_size, uint64_t *low_size, uint64_t *high_size);

/*
 * Fill out[] with the map for mem_size bytes of RAM: RAM below the EBDA,
 * the EBDA and the BIOS area (which holds the MP table) reserved, RAM from
 * 1 MiB up to the PCI hole, and the rest of RAM from 4 GiB.  The 640 KiB -
 * 1 MiB window is counted in mem_size, as on PC hardware.  Returns the count,
 * -ENOSPC if max is too small, or -EINVAL if mem_size is below E820_MIN_MEM
 * or not a multiple of 4 KiB.
 */
int e820__build(uint64_t mem_size, struct e820_entry *out, int max);

#endif
