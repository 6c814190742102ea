/* VM-wide state capture and restore: PIC master, PIC slave, IOAPIC, PIT2, KVM clock. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include "log.h"
#include "vm.h"
#include "vm_state.h"

static int check_paused(struct vm *vm, const char *what)
{
	bool ok;

	pthread_mutex_lock(&vm->lock);
	ok = vm->nr_running == 0 || (vm->pause_depth && vm->nr_parked == vm->nr_running);
	pthread_mutex_unlock(&vm->lock);
	if (ok)
		return 0;
	log__error("VM %s of a running VM refused: pause it first (vm__pause_all)", what);
	return -EBUSY;
}

int vm_state__capture(struct vm *vm, struct vm_state *st)
{
	const char *what;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = check_paused(vm, "state capture");
	if (rc)
		return rc;
	st->nr_vcpus = vm->nr_vcpus;
	st->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	st->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	what = "KVM_GET_IRQCHIP (PIC master)";
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &st->pic_master) < 0)
		goto fail;
	what = "KVM_GET_IRQCHIP (PIC slave)";
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &st->pic_slave) < 0)
		goto fail;
	what = "KVM_GET_IRQCHIP (IOAPIC)";
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &st->ioapic) < 0)
		goto fail;
	st->has_pit = !vm->cfg.no_pit;
	what = "KVM_GET_PIT2";
	if (st->has_pit && ioctl(vm->vm_fd, KVM_GET_PIT2, &st->pit) < 0)
		goto fail;
	what = "KVM_GET_CLOCK";
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &st->clock) < 0)
		goto fail;
	return 0;
fail:
	rc = -errno;
	log__error("capturing the VM state: %s failed: %s", what, strerror(-rc));
	return rc;
}

int vm_state__restore(struct vm *vm, const struct vm_state *st)
{
	struct kvm_clock_data clock = {.clock = st->clock.clock};
	const char *what;
	int rc;

	rc = check_paused(vm, "state restore");
	if (rc)
		return rc;
	if (st->nr_vcpus != vm->nr_vcpus) {
		log__error("VM state restore refused: the state has %u vCPUs, this VM %u: create "
			   "the VM with --vcpus %u",
			   st->nr_vcpus, vm->nr_vcpus, st->nr_vcpus);
		return -EINVAL;
	}
	if (st->has_pit != !vm->cfg.no_pit) {
		log__error("VM state restore refused: the state %s a PIT and this VM %s: create "
			   "the VM with the same --pit setting as the saved one",
			   st->has_pit ? "has" : "lacks", vm->cfg.no_pit ? "lacks one" : "has one");
		return -EINVAL;
	}
	if (st->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
	    st->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    st->ioapic.chip_id != KVM_IRQCHIP_IOAPIC) {
		log__error("VM state restore refused: irqchip ids %u/%u/%u, expected %d/%d/%d: "
			   "the state is corrupt",
			   st->pic_master.chip_id, st->pic_slave.chip_id, st->ioapic.chip_id,
			   KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC);
		return -EINVAL;
	}
	what = "KVM_SET_IRQCHIP (PIC master)";
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &st->pic_master) < 0)
		goto fail;
	what = "KVM_SET_IRQCHIP (PIC slave)";
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &st->pic_slave) < 0)
		goto fail;
	what = "KVM_SET_IRQCHIP (IOAPIC)";
	if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &st->ioapic) < 0)
		goto fail;
	what = "KVM_SET_PIT2";
	if (st->has_pit && ioctl(vm->vm_fd, KVM_SET_PIT2, &st->pit) < 0)
		goto fail;
	/*
	 * Only the clock value: the flags and realtime/host_tsc of GET describe the
	 * source host's moment, which SET would try to project onto this one.
	 */
	what = "KVM_SET_CLOCK";
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		goto fail;
	return 0;
fail:
	rc = -errno;
	log__error("restoring the VM state: %s failed: %s", what, strerror(-rc));
	return rc;
}
