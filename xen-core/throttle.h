/* Auto-converge: hold the vCPUs parked for a share of every 10 ms so the guest dirties less. */
#ifndef XEN_CORE_THROTTLE_H
#define XEN_CORE_THROTTLE_H
#include <stdint.h>

struct vm;

#define THROTTLE_SLICE_NS 10000000ull /* 10 ms */
#define THROTTLE_MAX_PCT  99

/* vm__create: the throttle's state, idle (no thread).  -ENOMEM, logged. */
int throttle__init(struct vm *vm);
/* vm__destroy, before the vCPUs are stopped: ends the thread if running; NULL state is a no-op. */
void throttle__exit(struct vm *vm);

/*
 * Holds the vCPUs parked (vm__pause_all ... vm__resume_all, which nest with
 * any other pause) for pct% of each THROTTLE_SLICE_NS slice, from a thread
 * of its own started on the first non-zero pct; 0 stops and joins it, so on
 * return no throttle pause is held.  A new pct applies from the next slice.
 * Any thread but a vCPU's.  0, -EINVAL above THROTTLE_MAX_PCT, or -errno if
 * the thread cannot start (logged).
 */
int throttle__set(struct vm *vm, unsigned int pct);

/* Slices in which the throttle held the vCPUs parked, since the VM was created.  Any thread. */
uint64_t throttle__pauses(const struct vm *vm);

#endif
