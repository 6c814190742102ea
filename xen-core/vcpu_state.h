/* One vCPU's complete KVM state as a plain struct, captured from and restored into a paused VM. */
#ifndef XEN_CORE_VCPU_STATE_H
#define XEN_CORE_VCPU_STATE_H
#include <stdint.h>
#include <linux/kvm.h>

struct vcpu;

/* Room for KVM's MSR index list (about 100 entries on current kernels). */
#define VCPU_STATE_MAX_MSRS 256

/*
 * The debug device's per-vCPU registers (xen-core/debugdev.c): guests print
 * through buf_gpa and pace themselves with WAIT_US, so a restored guest needs
 * them.  wait_left_ns: 0 = no wait, UINT64_MAX = waits without a deadline,
 * else what was left of the wait when captured.
 */
struct vcpu_debugdev_state {
	uint64_t buf_gpa;
	uint64_t wait_left_ns;
	uint32_t events;
	uint32_t woken_by;
};

struct vcpu_state {
	struct kvm_mp_state mp_state;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	uint32_t tsc_khz;
	uint32_t nr_msrs; /* valid entries of msrs[]; never trusted on restore */
	struct kvm_msr_entry msrs[VCPU_STATE_MAX_MSRS];
	struct kvm_vcpu_events events;
	struct vcpu_debugdev_state debugdev;
};

/*
 * Both only on a paused VM (vm__pause_all, or before vm__start), from a
 * thread that is not a vCPU thread: the vCPU must sit outside KVM_RUN with no
 * I/O pending.  -EBUSY otherwise.  One control thread at a time: the first
 * capture probes the VM's MSR list (struct vm's state_msrs) without a lock.
 *
 * capture: MP_STATE first (it may complete a pending INIT/SIPI), then REGS,
 * SREGS, XSAVE, XCRS, DEBUGREGS, LAPIC, TSC_KHZ, MSRs, VCPU_EVENTS last (the
 * others may still queue an event).  The MSRs are KVM's index list less those
 * this VM's vCPUs refuse, probed once per VM.
 *
 * restore: CPUID is already set (vm__create); then MP_STATE, REGS, SREGS,
 * XSAVE, XCRS, DEBUGREGS, LAPIC, MSRs (TSC first: TSC_DEADLINE is relative to
 * it), VCPU_EVENTS, then KVM_KVMCLOCK_CTRL so a kvmclock guest does not see
 * the pause as a soft lockup.  A TSC frequency other than this host's is set
 * with KVM_SET_TSC_KHZ, or refused (-ENOTSUP) where KVM cannot scale.  A
 * corrupt state (-EINVAL) is refused before anything is written.
 * Both return 0 or -errno and log one line naming the vCPU and the step.
 */
int vcpu_state__capture(struct vcpu *vcpu, struct vcpu_state *st);

/* What a register dump shows: a small part of the state, read on its own. */
struct vcpu_regs {
	struct kvm_mp_state mp_state;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
};

/*
 * MP_STATE, REGS and SREGS only, for a person reading them (regs): no MSR probe, so it
 * shares nothing with a capture and may run beside one on another thread (the replication
 * thread's checkpoints), and the VM stays paused for three ioctls rather than a full
 * capture.  Paused VM only, as capture (-EBUSY otherwise).  Not quite without effect:
 * KVM_GET_MP_STATE completes a pending INIT/SIPI, as the vCPU's next KVM_RUN would anyway.
 */
int vcpu_state__read_regs(struct vcpu *vcpu, struct vcpu_regs *out);
int vcpu_state__restore(struct vcpu *vcpu, const struct vcpu_state *st);

#endif
