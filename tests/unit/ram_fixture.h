/* Shared check fixture for the boot-data suites: guest RAM filled with a marker byte. */
#ifndef TESTS_UNIT_RAM_FIXTURE_H
#define TESTS_UNIT_RAM_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

/* The including suite defines RAM_SIZE, the bytes of guest RAM its tests get. */
#ifndef RAM_SIZE
#error "define RAM_SIZE before including ram_fixture.h"
#endif

/* Never written by the code under test on purpose, so any stray write shows. */
#define RAM_FILL 0xee

/* Host pointer to GPA 0, one per suite (each suite is its own translation unit). */
static uint8_t *ram;

/* Checked fixture: fresh RAM for every test, so a stray write cannot leak into the next. */
static inline void ram_setup(void)
{
	ram = malloc(RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	memset(ram, RAM_FILL, RAM_SIZE);
}

static inline void ram_teardown(void)
{
	free(ram);
	ram = NULL;
}

/* True if ram[from..from + len) all holds byte. */
static inline bool ram_is(uint8_t byte, uint64_t from, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (ram[from + i] != byte)
			return false;
	return true;
}

/* True if ram[from..to) still holds the fill byte of ram_setup(). */
static inline bool ram_untouched(uint64_t from, uint64_t to)
{
	return ram_is(RAM_FILL, from, to - from);
}

#endif
