/* The MMIO debug device of twin_abi.h: console, exit, and a wait register for idle vCPUs. */
#ifndef XEN_CORE_DEBUGDEV_H
#define XEN_CORE_DEBUGDEV_H

struct vm;
struct vcpu;

int debugdev__init(struct vm *vm);

/*
 * Raises TWIN_EVENT_KICK for every vCPU of the VM and wakes those blocked in
 * WAIT_US.  Any thread (devices call it when they have work for the guest).
 */
void debugdev__kick(struct vm *vm);

/*
 * vCPU thread: blocks while this vCPU's WAIT_US is in progress, until an event
 * is pending, the deadline passes (raising TWIN_EVENT_DEADLINE) or a pause or
 * stop is requested.  After a pause the run loop calls it again, so a wait
 * spans pauses (and checkpoints) with its original deadline.
 */
void debugdev__wait(struct vcpu *vcpu);

#endif
