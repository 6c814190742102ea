/* twin-vmm's host CPUs: re-pinning every thread through /proc/self/task, and the vCPUs' view. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "cpu_list.h"
#include "cpu_pin.h"
#include "vm.h" /* VM_MAX_VCPUS: the vCPU threads there can be */
#include "vm_cpus.h"

int vm_cpus__pin(const cpu_set_t *set, char *err, size_t errlen)
{
	char list[CPU_LIST_MAX];
	int rc = cpu_pin__process(0, set);

	if (!rc)
		return 0;
	cpu_list__format(set, list, sizeof(list));
	if (rc == -EINVAL)
		snprintf(err, errlen, "no CPU of '%s' is online on this host: see its sysfs online",
			 list);
	else if (rc == -EAGAIN)
		snprintf(err, errlen,
			 "threads kept starting while pinning to CPUs %s: try set-cpus again",
			 list);
	else
		snprintf(err, errlen, "cannot pin this twin-vmm's threads to CPUs %s: %s", list,
			 strerror(-rc));
	return rc;
}

/* The vCPU index of thread tid, from its name "vcpuN", or -1. */
static int vcpu_index(const char *tid)
{
	char path[64], name[32] = "";
	unsigned int index;
	char nl;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%.16s/comm", tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(name, sizeof(name), f))
		name[0] = 0;
	fclose(f);
	if (sscanf(name, "vcpu%u%c", &index, &nl) != 2 || nl != '\n' || index >= VM_MAX_VCPUS)
		return -1;
	return index;
}

json_t *vm_cpus__query(void)
{
	pid_t tids[VM_MAX_VCPUS] = {0};
	char list[CPU_LIST_MAX];
	json_t *vcpus = json_array(), *ret;
	cpu_set_t set;
	struct dirent *e;
	DIR *d = opendir("/proc/self/task");

	while (d && (e = readdir(d))) {
		int index = vcpu_index(e->d_name);

		if (index >= 0)
			tids[index] = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	for (int i = 0; i < VM_MAX_VCPUS && vcpus; i++) {
		if (!tids[i] || sched_getaffinity(tids[i], sizeof(set), &set))
			continue;
		cpu_list__format(&set, list, sizeof(list));
		json_array_append_new(vcpus, json_pack("{s:i, s:i, s:s}", "vcpu", i, "tid",
						       (int)tids[i], "cpus", list));
	}
	if (sched_getaffinity(0, sizeof(set), &set))
		CPU_ZERO(&set);
	cpu_list__format(&set, list, sizeof(list));
	ret = json_pack("{s:s, s:o}", "allowed", list, "vcpus", vcpus);
	return ret;
}
