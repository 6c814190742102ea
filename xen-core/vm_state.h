/* VM-wide KVM state (irqchip, PIT, KVM clock) as a plain struct, captured and restored. */
#ifndef XEN_CORE_VM_STATE_H
#define XEN_CORE_VM_STATE_H
#include <stdbool.h>
#include <linux/kvm.h>

struct vm;

struct vm_state {
	uint32_t nr_vcpus; /* a restore needs as many vCPUs as the saved VM had */
	struct kvm_irqchip pic_master;
	struct kvm_irqchip pic_slave;
	struct kvm_irqchip ioapic;
	bool has_pit; /* false for a VM made with cfg.no_pit (--pit off) */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/*
 * Only on a paused VM (vm__pause_all, or before vm__start), from a thread that
 * is not a vCPU thread; -EBUSY otherwise.  Restore after the vCPUs' states
 * (vcpu_state__restore): the clock is set after their TSCs, and runs from
 * then on (the time until the vCPUs start counts as downtime to the guest).
 * A different vCPU count, a PIT state for a VM without a PIT (or none for one
 * with a PIT) or corrupt irqchip ids are refused (-EINVAL) before anything is
 * written.  Both return 0 or -errno and log one line.
 */
int vm_state__capture(struct vm *vm, struct vm_state *st);
int vm_state__restore(struct vm *vm, const struct vm_state *st);

#endif
