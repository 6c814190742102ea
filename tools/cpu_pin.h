/* Pinning every thread of a process to a CPU set, through /proc/PID/task. */
#ifndef TOOLS_CPU_PIN_H
#define TOOLS_CPU_PIN_H
#include <sched.h>
#include <sys/types.h>

/*
 * sched_setaffinity(set) on every thread of process pid (0: this one), rescanning its tasks
 * until a pass finds none it has not pinned, so a thread started meanwhile is caught too (later
 * ones inherit their creator's set).  0, -EINVAL (no CPU of set is online), -ESRCH (no such
 * process), -EAGAIN (threads kept coming), or another -errno.
 */
int cpu_pin__process(pid_t pid, const cpu_set_t *set);

/* The fix to name after a pin that failed with -EINVAL (sched_setaffinity: no CPU allowed). */
#define CPU_PIN_EINVAL_HINT                                                                        \
	": is each CPU in clusterd's cpuset (systemd AllowedCPUs=, CPUAffinity=)? twin host cpus " \
	"lists the CPUs"

#endif
