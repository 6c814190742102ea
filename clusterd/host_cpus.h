/* This host's CPUs as Twin uses them: the Twin-offline set (persisted), sysfs hotplug, re-pins. */
#ifndef CLUSTERD_HOST_CPUS_H
#define CLUSTERD_HOST_CPUS_H
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "local_cmd.h"
#include "supervisor.h"

/*
 * A CPU is "offline for Twin" when no thread of clusterd or of its twin-vmms may run there; the
 * kernel may still use it.  --hotplug also takes it offline in the kernel (sysfs cpuN/online),
 * and cpu-online then brings it back there too.  The set survives a clusterd restart
 * (STATE_DIR/cpus.json); sysfs is read afresh each time, never cached.
 */
struct host_cpus;

/*
 * The view of the CPUs under sysfs_root (its present and online lists, cpuN/online), with the
 * Twin-offline set restored from state_file if there.  0 with *out; a state file that cannot
 * be used is then said in err (err[0] != 0: a warning, every CPU starts online for Twin).
 * -errno with one line in err when sysfs_root has no present list, or out of memory.
 */
int host_cpus__new(const char *sysfs_root, const char *state_file, struct host_cpus **out,
		   char *err, size_t errlen);

/* NULL: no-op. */
void host_cpus__free(struct host_cpus *h);

/*
 * Bounds Twin to bound (every CPU until called): the CPUs clusterd was started on (systemd's
 * CPUAffinity=, taskset), which no change here ever widens.  0, or -EINVAL when no CPU Twin
 * may use would be left (the bound is not taken).
 */
int host_cpus__bound(struct host_cpus *h, const cpu_set_t *bound);

/*
 * The CPUs Twin may use: present, online in sysfs, within the bound, not offline for Twin
 * (never empty by us).
 */
void host_cpus__allowed(const struct host_cpus *h, cpu_set_t *out);

/* How many CPUs are offline for Twin (the metrics' twin_host_cpus_offline). */
unsigned int host_cpus__offline_count(const struct host_cpus *h);

/*
 * Takes cpu offline for Twin; with hotplug, first in sysfs (if it is online there; a failed
 * write changes nothing).  Refused: no such CPU (-ENODEV), offline for Twin already
 * (-EALREADY), the last CPU Twin may use (-EBUSY), hotplug of a CPU the kernel cannot take
 * offline (-EOPNOTSUPP).  The set is on disk before it returns.  0, or -errno with one line in
 * err that names the CPU, the problem and the fix.
 */
int host_cpus__offline(struct host_cpus *h, unsigned int cpu, bool hotplug, char *err,
		       size_t errlen);

/*
 * Gives cpu back to Twin, and to the kernel first if Twin hotplugged it.  As above; -EALREADY:
 * it is not offline for Twin.
 */
int host_cpus__online(struct host_cpus *h, unsigned int cpu, char *err, size_t errlen);

/*
 * {"present", "online" (sysfs), "offline" (for Twin), "hotplugged" (by Twin), "allowed": CPU
 * lists, "cpus": [{"cpu", "online", "twin_offline", "hotplugged", "hotpluggable"}]}.
 */
json_t *host_cpus__json(const struct host_cpus *h);

/* The local commands host-cpus, host-cpu-offline and host-cpu-online (host_cpus_cmd.c). */
void host_cpus__run(struct local_ctx *ctx, const struct cl_request *req);

/*
 * clusterd's own threads to the allowed set, and the twin-vmms it spawns from now on get it as
 * --cpus (they would inherit it anyway).  Failures are logged: the running twin-vmms are
 * host_cpus__run's affair.
 */
void host_cpus__apply(const struct host_cpus *h, struct supervisor *sup);

#endif
