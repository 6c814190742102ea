/* vCPUs: creation with CPUID and MSRs, PVH boot state, and the per-vCPU thread's run loop. */
#ifndef XEN_CORE_VCPU_H
#define XEN_CORE_VCPU_H
#include <stdint.h>

struct vm;
struct vcpu;

/* The signal that kicks a vCPU thread out of KVM_RUN (handler does nothing). */
#define VCPU_KICK_SIGNAL (SIGRTMIN + 1)

/* KVM_CREATE_VCPU, map kvm_run, CPUID, MSRs; APs stay in KVM_MP_STATE_UNINITIALIZED. */
int vcpu__init(struct vm *vm, unsigned int index);
/* Registers for the BSP: the PVH 32-bit entry state at entry. */
int vcpu__setup_pvh(struct vcpu *vcpu, uint64_t entry);
/*
 * vCPU thread, before parking: completes the PIO/MMIO of the last exit with
 * KVM_RUN and immediate_exit set, so the vCPU state is whole while paused.
 * Exits that this raises (a string I/O continuing) are handled as usual.
 */
void vcpu__complete_io(struct vcpu *vcpu);
/* pthread start routine: runs the vCPU until the VM stops. */
void *vcpu__thread(void *arg);
void vcpu__exit(struct vcpu *vcpu);

#endif
