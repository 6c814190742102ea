/* Port and MMIO buses: range lookup and dispatch, and the policy for accesses nobody claims. */
#include <errno.h>
#include <string.h>
#include "iobus.h"
#include "log.h"

void iobus__init(struct iobus *bus, const char *name, enum log_kind kind)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	bus->kind = kind;
}

int iobus__register(struct iobus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
		    void *opaque)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	for (unsigned int i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->ranges[i];

		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
	}
	if (bus->nr == IOBUS_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[bus->nr++] = (struct io_range){
	    .base = base,
	    .len = len,
	    .ops = ops,
	    .opaque = opaque,
	};
	return 0;
}

void iobus__access(struct iobus *bus, struct vcpu *vcpu, uint64_t addr, void *data, uint32_t len,
		   int is_write)
{
	log__debug("%s %s 0x%llx len %u", bus->name, is_write ? "write" : "read",
		   (unsigned long long)addr, len);
	for (unsigned int i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->ranges[i];

		if (addr < r->base || addr - r->base >= r->len)
			continue;
		if (is_write && r->ops->write)
			r->ops->write(vcpu, r->opaque, addr - r->base, data, len);
		else if (!is_write && r->ops->read)
			r->ops->read(vcpu, r->opaque, addr - r->base, data, len);
		else if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (!is_write)
		memset(data, 0xff, len);
	if (log__once(bus->kind, addr))
		log__warn("unhandled guest %s %s at 0x%llx (%u bytes): ignored%s", bus->name,
			  is_write ? "write" : "read", (unsigned long long)addr, len,
			  is_write ? "" : ", read as all-ones");
}
