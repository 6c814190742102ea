/* vCPUs: creation, CPUID and MSRs, PVH entry state, and the run loop on its own thread. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cpuid.h"
#include "debugdev.h"
#include "layout.h"
#include "log.h"
#include "pvh.h"
#include "vcpu.h"
#include "vm.h"
#include "util.h"

#define MSR_IA32_TSC	      0x10
#define MSR_IA32_APIC_BASE    0x1b
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_IA32_CR_PAT	      0x277
#define MSR_STAR	      0xc0000081
#define MSR_LSTAR	      0xc0000082
#define MSR_CSTAR	      0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102

#define APIC_BASE_BSP		(1ULL << 8)
#define APIC_BASE_ENABLE	(1ULL << 11)
#define MISC_ENABLE_FAST_STRING (1ULL << 0)
#define PAT_POWER_ON_DEFAULT	0x0007040600070406ULL

static int set_cpuid(struct vcpu *vcpu, uint32_t tsc_khz)
{
	const struct kvm_cpuid2 *sup = vcpu->vm->supported_cpuid;
	uint32_t capacity = sup->nent + CPUID_EXTRA_ENTRIES;
	size_t bytes = sizeof(*sup) + capacity * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *c = calloc(1, bytes);
	int rc;

	if (!c) {
		log__error("vCPU %u: allocating its CPUID list failed: out of memory", vcpu->index);
		return -ENOMEM;
	}
	memcpy(c, sup, sizeof(*sup) + sup->nent * sizeof(sup->entries[0]));
	rc = cpuid__customize(c, capacity, tsc_khz, vcpu->index, vcpu->vm->cfg.nr_vcpus);
	if (rc) {
		log__error("vCPU %u: building CPUID failed: %s", vcpu->index, strerror(-rc));
		goto out;
	}
	if (ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0) {
		rc = -errno;
		log__error("vCPU %u: KVM_SET_CPUID2 failed: %s", vcpu->index, strerror(-rc));
	}
out:
	free(c);
	return rc;
}

/* Architectural reset values a firmware would leave, so guests find what they expect. */
static int set_msrs(struct vcpu *vcpu)
{
	const uint64_t apic =
	    LAYOUT_LAPIC | APIC_BASE_ENABLE | (vcpu->index == 0 ? APIC_BASE_BSP : 0);
	static const uint32_t zeroed[] = {
	    MSR_IA32_TSC,
	    MSR_IA32_SYSENTER_CS,
	    MSR_IA32_SYSENTER_ESP,
	    MSR_IA32_SYSENTER_EIP,
	    MSR_STAR,
	    MSR_LSTAR,
	    MSR_CSTAR,
	    MSR_SYSCALL_MASK,
	    MSR_KERNEL_GS_BASE,
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[16];
	} m;
	unsigned int n = 0;
	int r;

	memset(&m, 0, sizeof(m));
	m.e[n++] = (struct kvm_msr_entry){.index = MSR_IA32_APIC_BASE, .data = apic};
	m.e[n++] =
	    (struct kvm_msr_entry){.index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING};
	m.e[n++] = (struct kvm_msr_entry){.index = MSR_IA32_CR_PAT, .data = PAT_POWER_ON_DEFAULT};
	for (size_t i = 0; i < ARRAY_SIZE(zeroed); i++)
		m.e[n++] = (struct kvm_msr_entry){.index = zeroed[i]};
	m.hdr.nmsrs = n;
	r = ioctl(vcpu->fd, KVM_SET_MSRS, &m);
	if (r < 0) {
		r = -errno;
		log__error("vCPU %u: KVM_SET_MSRS failed: %s", vcpu->index, strerror(-r));
		return r;
	}
	if ((unsigned int)r != n) {
		/* KVM stops at the first MSR it refuses. */
		log__error("vCPU %u: KVM refused MSR 0x%x", vcpu->index, m.e[r].index);
		return -EINVAL;
	}
	return 0;
}

int vcpu__init(struct vm *vm, unsigned int index)
{
	struct vcpu *vcpu = &vm->vcpus[index];
	int tsc_khz;
	int rc;

	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		rc = -errno;
		log__error("KVM_CREATE_VCPU %u failed: %s", index, strerror(-rc));
		goto out;
	}
	vcpu->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		rc = -errno;
		log__error("vCPU %u: mapping kvm_run failed: %s", index, strerror(-rc));
		goto out;
	}
	tsc_khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	if (tsc_khz <= 0) {
		rc = tsc_khz < 0 ? -errno : -EINVAL;
		log__error("vCPU %u: KVM_GET_TSC_KHZ failed: %s", index, strerror(-rc));
		goto out;
	}
	vm->tsc_khz = tsc_khz;
	rc = set_cpuid(vcpu, tsc_khz);
	if (rc)
		goto out;
	rc = set_msrs(vcpu);
	if (rc)
		goto out;
	if (index != 0) {
		/* APs wait for INIT/SIPI from the BSP, delivered by the in-kernel LAPIC. */
		struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_UNINITIALIZED};

		if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0) {
			rc = -errno;
			log__error("vCPU %u: KVM_SET_MP_STATE failed: %s", index, strerror(-rc));
			goto out;
		}
	}
	rc = dirty__vcpu_init(vcpu);
out:
	return rc;
}

int vcpu__setup_pvh(struct vcpu *vcpu, uint64_t entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int rc = 0;

	/* From KVM_GET_SREGS, so apic_base (set with the MSRs) survives. */
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		goto fail;
	pvh__entry_state(entry, &regs, &sregs);
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		goto fail;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		goto fail;
	return 0;
fail:
	rc = -errno;
	log__error("vCPU %u: setting the PVH entry state failed: %s", vcpu->index, strerror(-rc));
	return rc;
}

/* The guest RIP for an error message; all ones if KVM cannot tell. */
static unsigned long long guest_rip(struct vcpu *vcpu)
{
	struct kvm_regs regs;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0)
		return ~0ULL;
	return regs.rip;
}

static void report_internal_error(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char data[160] = "";
	size_t off = 0;

	for (uint32_t i = 0; i < run->internal.ndata && i < 4; i++)
		off += snprintf(data + off, sizeof(data) - off, " 0x%llx",
				(unsigned long long)run->internal.data[i]);
	log__error("vCPU %u: KVM internal error, suberror %u%s at rip 0x%llx (data:%s): the "
		   "guest ran an instruction KVM cannot emulate",
		   vcpu->index, run->internal.suberror,
		   run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (emulation failure)"
									  : "",
		   guest_rip(vcpu), data);
}

/* A guest power-off is a clean stop (0); a reset or crash request is a failure (4). */
static void handle_system_event(struct vcpu *vcpu)
{
	uint32_t type = vcpu->run->system_event.type;

	if (type == KVM_SYSTEM_EVENT_SHUTDOWN) {
		log__info("vCPU %u: guest powered off: stopping the VM", vcpu->index);
		vm__stop(vcpu->vm, VM_EXIT_STOPPED);
		return;
	}
	log__error("vCPU %u: guest system event %u (%s) at rip=0x%llx: twin-vmm does not reset "
		   "or survive guest crashes; stopping the VM with status %d",
		   vcpu->index, type,
		   type == KVM_SYSTEM_EVENT_RESET   ? "reset"
		   : type == KVM_SYSTEM_EVENT_CRASH ? "crash"
						    : "unsupported",
		   guest_rip(vcpu), VM_EXIT_FAILURE);
	vm__stop(vcpu->vm, VM_EXIT_FAILURE);
}

/* Handles one exit; exits that end the VM call vm__stop and the loop then returns. */
static void handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct vm *vm = vcpu->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint8_t *p = (uint8_t *)run + run->io.data_offset;

		for (uint32_t i = 0; i < run->io.count; i++)
			iobus__access(&vm->pio, vcpu, run->io.port, p + i * run->io.size,
				      run->io.size, run->io.direction == KVM_EXIT_IO_OUT);
		vcpu->io_pending = true;
		break;
	}
	case KVM_EXIT_MMIO:
		iobus__access(&vm->mmio, vcpu, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			      run->mmio.is_write);
		vcpu->io_pending = true;
		break;
	case KVM_EXIT_INTR:
		break;
	case KVM_EXIT_DIRTY_RING_FULL:
		if (dirty__ring_full(vcpu))
			vm__stop(vm, VM_EXIT_FAILURE);
		break;
	/*
	 * No KVM_EXIT_HLT case: with the in-kernel irqchip KVM halts the vCPU itself,
	 * so a HLT exit would be a KVM bug and ends in the default error below.
	 */
	case KVM_EXIT_SHUTDOWN:
		/* x86 triple fault (or an INIT-less reset): the guest crashed, not a clean stop. */
		log__error("vCPU %u: guest triple-faulted (KVM_EXIT_SHUTDOWN) at rip=0x%llx: the "
			   "guest crashed; stopping the VM with status %d",
			   vcpu->index, guest_rip(vcpu), VM_EXIT_FAILURE);
		vm__stop(vm, VM_EXIT_FAILURE);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		report_internal_error(vcpu);
		vm__stop(vm, VM_EXIT_FAILURE);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		log__error("vCPU %u: KVM could not enter the guest (hardware reason 0x%llx): the "
			   "vCPU state is invalid",
			   vcpu->index,
			   (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vm__stop(vm, VM_EXIT_FAILURE);
		break;
	default:
		log__error("vCPU %u: unexpected KVM exit reason %u: stopping the VM", vcpu->index,
			   run->exit_reason);
		vm__stop(vm, VM_EXIT_FAILURE);
		break;
	}
}

void vcpu__complete_io(struct vcpu *vcpu)
{
	while (vcpu->io_pending) {
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		vcpu->io_pending = false;
		if (ioctl(vcpu->fd, KVM_RUN, 0) == 0) {
			handle_exit(vcpu);
		} else if (errno != EINTR && errno != EAGAIN) {
			log__error("vCPU %u: completing I/O before pausing failed: %s", vcpu->index,
				   strerror(errno));
			vm__stop(vcpu->vm, VM_EXIT_FAILURE);
		}
	}
}

void *vcpu__thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;
	char name[16];
	sigset_t set;

	/* "vcpuN" in ps, top and /proc: twin-vmm's CPU pinning finds its vCPUs by it. */
	snprintf(name, sizeof(name), "vcpu%u", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (vm__vcpu_sync(vcpu)) {
		if (vcpu->wait_deadline_ns) {
			debugdev__wait(vcpu);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			/* KVM completed any pending I/O before seeing the kick. */
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->io_pending = false;
				continue;
			}
			log__error("vCPU %u: KVM_RUN failed: %s", vcpu->index, strerror(errno));
			vm__stop(vm, VM_EXIT_FAILURE);
			continue;
		}
		vcpu->io_pending = false;
		handle_exit(vcpu);
	}
	vm__vcpu_exited(vcpu);
	return NULL;
}

void vcpu__exit(struct vcpu *vcpu)
{
	dirty__vcpu_exit(vcpu);
	if (vcpu->run != MAP_FAILED && vcpu->run)
		munmap(vcpu->run, vcpu->vm->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
}
