/* Register access for KVM-backed PCI suites: the suite's VM and its buses, and ECAM on bus 0. */
#ifndef TESTS_UNIT_PCI_FIXTURE_H
#define TESTS_UNIT_PCI_FIXTURE_H

#include <stdint.h>
#include "iobus.h"
#include "layout.h"
#include "vm.h"

/* The including suite's VM, created by its setup. */
static struct vm *vm;

static uint64_t rd(struct iobus *bus, uint64_t addr, uint32_t len)
{
	uint64_t v = 0;

	iobus__access(bus, NULL, addr, &v, len, 0);
	return v;
}

static void wr(struct iobus *bus, uint64_t addr, uint64_t v, uint32_t len)
{
	iobus__access(bus, NULL, addr, &v, len, 1);
}

static uint32_t cfg_rd(unsigned int slot, uint32_t reg, uint32_t len)
{
	return (uint32_t)rd(&vm->mmio, LAYOUT_PCI_ECAM + (slot << 15) + reg, len);
}

static void cfg_wr(unsigned int slot, uint32_t reg, uint32_t v, uint32_t len)
{
	wr(&vm->mmio, LAYOUT_PCI_ECAM + (slot << 15) + reg, v, len);
}

#endif
