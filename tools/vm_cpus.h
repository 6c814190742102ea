/* twin-vmm's host CPUs: every thread pinned to one set (--cpus, set-cpus); its vCPUs' affinity. */
#ifndef TOOLS_VM_CPUS_H
#define TOOLS_VM_CPUS_H
#include <sched.h>
#include <stddef.h>
#include <jansson.h>

/*
 * Pins every thread of this process (/proc/self/task: vCPUs, device I/O, replication, the
 * control server) to set, rescanning until a pass finds no thread it has not pinned, so a
 * thread started meanwhile is caught (and any later one inherits its creator's set).  Any
 * thread may call it.  0, or -errno with one line in err (-EINVAL: no CPU of set is online).
 */
int vm_cpus__pin(const cpu_set_t *set, char *err, size_t errlen);

/*
 * query-cpus's return: {"allowed": the calling thread's CPU list, "vcpus": [{"vcpu": N,
 * "tid": T, "cpus": LIST}]} for the threads named "vcpuN" (xen-core names them), by index.
 * NULL when out of memory.
 */
json_t *vm_cpus__query(void);

#endif
