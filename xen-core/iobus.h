/* Port and MMIO buses: devices register ranges with ops tables; vCPU exits dispatch here. */
#ifndef XEN_CORE_IOBUS_H
#define XEN_CORE_IOBUS_H
#include <stdint.h>
#include "log.h"

struct vcpu;

/*
 * A device's handlers.  Called on the vCPU thread that exited, with no lock
 * held; devices shared by several vCPUs lock their own state.  offset is from
 * the range's base; len is 1, 2, 4 or 8; data is little endian.
 */
struct io_ops {
	void (*read)(struct vcpu *vcpu, void *opaque, uint64_t offset, void *data, uint32_t len);
	void (*write)(struct vcpu *vcpu, void *opaque, uint64_t offset, const void *data,
		      uint32_t len);
};

#define IOBUS_MAX_RANGES 16

struct io_range {
	uint64_t base;
	uint64_t len;
	const struct io_ops *ops;
	void *opaque;
};

struct iobus {
	const char *name;   /* "port" or "mmio", for the unhandled-access log */
	enum log_kind kind; /* for log__once */
	unsigned int nr;
	struct io_range ranges[IOBUS_MAX_RANGES];
};

void iobus__init(struct iobus *bus, const char *name, enum log_kind kind);
/* Before vCPUs start (the bus is read without locks after).  -EEXIST on overlap, -ENOSPC. */
int iobus__register(struct iobus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		    void *opaque);
/* Unhandled accesses are logged once per address and ignored; reads return all-ones. */
void iobus__access(struct iobus *bus, struct vcpu *vcpu, uint64_t addr, void *data, uint32_t len,
		   int is_write);

#endif
