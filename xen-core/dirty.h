/* Dirty-page tracking: one API ("pages dirtied since the last harvest") over three KVM methods. */
#ifndef XEN_CORE_DIRTY_H
#define XEN_CORE_DIRTY_H
#include <stdint.h>

struct vm;
struct vcpu;

enum dirty_method {
	DIRTY_METHOD_GET_LOG,	/* KVM_GET_DIRTY_LOG: fetch and re-protect in one call */
	DIRTY_METHOD_CLEAR_LOG, /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 + KVM_CLEAR_DIRTY_LOG */
	DIRTY_METHOD_RING,	/* per-vCPU dirty rings + KVM_RESET_DIRTY_RINGS */
};
/*
 * Measured with bench/dirty-bench in the lab (vCPU paused, 256 MiB / 1 GiB):
 * get-log and clear-log cost the same within noise (about 20/40 us with 16
 * dirty pages, 175/200 us with 4096, 0.8-0.9 ms with ~23000); the ring is a
 * little cheaper with almost nothing dirty and 1.3-1.6x dearer with thousands
 * of pages, and its ring-full exits cost the vCPU.  get-log is the simplest.
 */
#define DIRTY_METHOD_DEFAULT DIRTY_METHOD_GET_LOG

/* Default entries per vCPU dirty ring (a power of two; 4096 * 16 bytes = 64 KiB). */
#define DIRTY_RING_ENTRIES_DEFAULT 4096

const char *dirty__method_to_str(enum dirty_method m);
/* Parses "get-log", "clear-log" or "ring"; returns 0 or -EINVAL. */
int dirty__method_from_str(const char *s, enum dirty_method *out);

/* Number of bits a harvest bitmap needs: one per guest pfn from 0 to the end of RAM. */
uint64_t dirty__bitmap_bits(const struct vm *vm);

/* Called by vm__create before any vCPU exists: enables the method's KVM capability. */
int dirty__vm_init(struct vm *vm);
/* Called per vCPU after KVM_CREATE_VCPU: maps its ring (ring method only). */
int dirty__vcpu_init(struct vcpu *vcpu);
void dirty__vcpu_exit(struct vcpu *vcpu);

/*
 * Starts logging on every RAM slot.  Pages written after this returns are
 * reported by the next harvest.  Call from any thread, once; again only
 * after dirty__disable (-EALREADY while on).
 */
int dirty__enable(struct vm *vm);
/*
 * Stops logging and marking (a migration that failed: the guest no longer
 * pays for write-protect faults or ring exits) and drops what was collected.
 * 0 if already off.  Never concurrently with dirty__harvest.
 */
int dirty__disable(struct vm *vm);

/*
 * Sets in bitmap (dirty__bitmap_bits(vm) bits, caller-allocated, cleared here
 * first) the pfn of every page written since the previous harvest (or since
 * dirty__enable), and re-arms tracking for them.  A page written while the
 * harvest runs is reported now or by the next harvest, never lost; read page
 * contents after harvest returns.  Callable with vCPUs running or paused, never
 * from a vCPU thread (see dirty__ring_full); not reentrant (one harvester at a
 * time).  Returns the number of dirty pages or -errno.
 */
int64_t dirty__harvest(struct vm *vm, uint64_t *bitmap);

/*
 * The VMM's own writes to guest RAM (virtio used rings, RX buffers, blk
 * reads), which KVM's log never sees: marks the pages of [gpa, gpa + len)
 * after the write, and the next dirty__harvest reports them (a mark racing
 * a harvest is reported by that harvest or the next, never lost).  Any
 * thread, lock-free; a no-op before dirty__enable (the first pass copies all
 * of RAM) and for addresses outside RAM.
 */
void dirty__mark(struct vm *vm, uint64_t gpa, uint64_t len);

/* vCPU thread: KVM_EXIT_DIRTY_RING_FULL.  Moves this vCPU's ring into the pending set. */
int dirty__ring_full(struct vcpu *vcpu);

/* How many times a vCPU's ring filled up and was drained by the vCPU itself. */
uint64_t dirty__ring_full_count(const struct vm *vm);

void dirty__vm_exit(struct vm *vm);

#endif
