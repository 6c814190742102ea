/* isa-debug-exit at port 0xf4 (QEMU semantics): the guest chooses twin-vmm's exit status. */
#include <string.h>
#include "debug_exit.h"
#include "log.h"
#include "twin_abi.h"
#include "vm.h"

static void debug_exit_write(struct vcpu *vcpu, void *opaque, uint64_t offset, const void *data,
			     uint32_t len)
{
	uint32_t v = 0;

	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	log__info("vCPU %u: debug-exit 0x%x", vcpu->index, v);
	/* An exit status is 8 bits, as QEMU's exit((v << 1) | 1) yields. */
	vm__stop(vcpu->vm, ((v << 1) | 1) & 0xff);
}

static void debug_exit_read(struct vcpu *vcpu, void *opaque, uint64_t offset, void *data,
			    uint32_t len)
{
	memset(data, 0, len);
}

static const struct io_ops debug_exit_ops = {
    .read = debug_exit_read,
    .write = debug_exit_write,
};

int debug_exit__init(struct vm *vm)
{
	return iobus__register(&vm->pio, TWIN_DEBUG_EXIT_PORT, 4, &debug_exit_ops, NULL);
}
