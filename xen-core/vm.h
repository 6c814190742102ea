/* A KVM virtual machine: its file descriptors, memory, vCPUs, devices and run control. */
#ifndef XEN_CORE_VM_H
#define XEN_CORE_VM_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "console.h"
#include "dirty.h"
#include "iobus.h"
#include "memory.h"

/* Exit statuses the VM can end with besides a guest debug-exit (which is odd). */
#define VM_EXIT_STOPPED 0 /* SIGTERM/SIGINT, or a guest power-off (SYSTEM_EVENT shutdown) */
/* KVM or VMM failure, or the guest crashed (triple fault) or asked for a reset; logged. */
#define VM_EXIT_FAILURE 4

#define VM_MAX_VCPUS 64

struct ioloop;
struct pci_bus;
struct throttle;

struct vm_config {
	const char *kvm_dev;		 /* NULL: $TWIN_KVM_DEV if set, else /dev/kvm */
	uint64_t mem_size;		 /* bytes, a multiple of 4 KiB */
	unsigned int nr_vcpus;		 /* 1..VM_MAX_VCPUS */
	enum dirty_method dirty_method;	 /* fixed at creation: rings must exist before vCPUs */
	unsigned int dirty_ring_entries; /* ring method: per vCPU, a power of two; 0 = default */
	int console_fd;			 /* serial and debug-device console sink */
	bool no_pit;			 /* no in-kernel i8254 PIT (QEMU microvm pit=off) */
};

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started; /* joinable and not yet joined; under vm->lock */
	/* debugdev WAIT_US in progress: 0 = none, UINT64_MAX = no deadline, else CLOCK_MONOTONIC ns
	 */
	uint64_t wait_deadline_ns;
	bool io_pending;	    /* last exit was PIO/MMIO: complete it before parking */
	uint64_t debug_buf_gpa;	    /* debugdev BUF_ADDR, per vCPU so vCPUs print independently */
	uint32_t events;	    /* TWIN_EVENT_* pending for this vCPU; under vm->lock */
	uint32_t woken_by;	    /* the events that ended its last wait; under vm->lock */
	struct kvm_dirty_gfn *ring; /* dirty ring (ring method) */
	uint32_t ring_fetch;	    /* next ring entry to read; under dirty lock */
};

struct vm {
	struct vm_config cfg;
	int kvm_fd;
	int vm_fd;
	int run_size;
	uint32_t tsc_khz;
	struct kvm_cpuid2 *supported_cpuid;
	struct kvm_msr_list *state_msrs; /* the MSRs vcpu_state carries; probed on first use */
	struct memory mem;
	struct iobus pio;
	struct iobus mmio;
	struct console console;
	struct dirty *dirty;
	struct ioloop *ioloop; /* device I/O thread: started by vm__start, stopped by vm__join */
	struct pci_bus *pci;   /* bus 0, from the device table */
	struct serial8250 *serial;
	struct throttle *throttle; /* auto-converge (throttle.c): idle until throttle__set */
	pthread_t pit_thread;	   /* turns PIT reinjection off in the background (vm.c) */
	bool pit_thread_started;
	unsigned int nr_vcpus;
	struct vcpu *vcpus;

	/*
	 * Run control, all under lock.  wake: vCPU threads wait on it (parked, or
	 * in a debugdev WAIT); every state change broadcasts it.  parked_cond:
	 * vm__pause_all waits on it for nr_parked to reach nr_running.
	 */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t parked_cond;
	bool stopping;
	int exit_status;
	unsigned int pause_depth;
	unsigned int nr_running; /* vCPU threads that have not returned */
	unsigned int nr_parked;
	int done_fd; /* eventfd, readable once every vCPU thread returned */
};

/*
 * Opens KVM, checks the API version and capabilities, creates the VM with its
 * irqchip, PIT, memory, devices and vCPUs (not yet running).  On failure logs
 * one line and returns -errno: -ENOENT/-EACCES/-EPERM (KVM device),
 * -ENOMEM (memory larger than the host can give), -ENOSYS (missing capability).
 */
int vm__create(const struct vm_config *cfg, struct vm **out);
/* Stops and joins any vCPU thread still running, then frees everything; NULL is a no-op. */
void vm__destroy(struct vm *vm);
/*
 * Waits for what vm__create left running in the background (turning PIT
 * reinjection off: SRCU grace periods, up to ~30 ms), so that a later
 * vm_state__restore does not wait on the PIT lock inside a migration's
 * downtime.  Idempotent; any thread but a vCPU's, never beside vm__destroy.
 */
void vm__settle(struct vm *vm);

/* Boot state: BSP starts at the PVH entry (32-bit protected mode). Before vm__start. */
int vm__setup_boot_cpu(struct vm *vm, uint64_t pvh_entry);

/* vm-run.c: the life cycle.  None of these may be called from a vCPU thread except vm__stop. */
int vm__start(struct vm *vm);
/* Ends the VM with status (first caller wins); any thread, including vCPU threads. */
void vm__stop(struct vm *vm, int status);
/* Readable (poll) once every vCPU thread has returned. */
int vm__done_fd(const struct vm *vm);
/*
 * Joins the vCPU threads and returns the exit status.  Call it once, from the
 * thread that called vm__start (never a vCPU thread), and only after vm__stop
 * or once done_fd is readable: otherwise it blocks until the guest ends itself.
 * Safe against concurrent vm__stop/vm__pause_all from other threads.
 */
int vm__join(struct vm *vm);
/*
 * Parks every vCPU outside KVM_RUN with its pending I/O completed, and returns
 * once all are parked (so vCPU state and memory are quiescent).  Nests with
 * vm__resume_all.  Never from a vCPU thread.
 */
void vm__pause_all(struct vm *vm);
void vm__resume_all(struct vm *vm);
/*
 * Holds the whole VM still, guest RAM and device state included: the vCPUs park first (so
 * they stop issuing I/O), then the I/O thread pauses.  vm__release undoes it vCPUs first:
 * waking the I/O thread first lets it (or anything it wakes) preempt the caller while the
 * guest is still parked.  Their notifications meanwhile wait in the paused loop's epoll.
 * Nests (both halves are depth-counted), so holds from several threads overlap safely.
 * Never from a vCPU or the I/O thread.
 */
void vm__hold(struct vm *vm);
void vm__release(struct vm *vm);
/* Interrupts one vCPU's KVM_RUN (signal + immediate_exit); caller holds vm->lock. */
void vm__kick_vcpu_locked(struct vcpu *vcpu);
/*
 * vCPU thread, before each KVM_RUN: parks while a pause is requested and
 * returns false once the VM is stopping (the thread then returns).
 */
bool vm__vcpu_sync(struct vcpu *vcpu);
/* vCPU thread, on return: accounts for it and signals done_fd after the last one. */
void vm__vcpu_exited(struct vcpu *vcpu);

#endif
