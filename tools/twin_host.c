/* The twin CLI's host commands (cpus, mem, forget) and vm forget/peek/regs: requests, output. */
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "twin_host.h"
#include "twin_host_mem.h"
#include "twin_status.h"

json_t *twin_host__request(const struct twin_args *a, const char **cmd)
{
	json_t *args = json_object();

	*cmd = NULL;
	switch (a->command) {
	case TWIN_CMD_VM_FORGET:
		*cmd = "vm-forget";
		json_object_set_new(args, "vm", json_string(a->vm));
		break;
	case TWIN_CMD_HOST_FORGET:
		*cmd = "host-forget";
		json_object_set_new(args, "host", json_string(a->host_name));
		break;
	case TWIN_CMD_HOST_CPUS:
		*cmd = "host-cpus";
		break;
	case TWIN_CMD_HOST_CPU_OFFLINE:
		*cmd = "host-cpu-offline";
		json_object_set_new(args, "cpu", json_integer(a->cpu));
		if (a->hotplug)
			json_object_set_new(args, "hotplug", json_true());
		break;
	case TWIN_CMD_HOST_CPU_ONLINE:
		*cmd = "host-cpu-online";
		json_object_set_new(args, "cpu", json_integer(a->cpu));
		break;
	case TWIN_CMD_HOST_MEM_OFFLINE:
	case TWIN_CMD_HOST_MEM_ONLINE:
		*cmd = a->command == TWIN_CMD_HOST_MEM_OFFLINE ? "host-mem-offline"
							       : "host-mem-online";
		if (a->pfn_set) {
			json_object_set_new(args, "pfn", json_integer(a->pfn));
		} else {
			json_object_set_new(args, "vm", json_string(a->vm));
			json_object_set_new(args, "gpa", json_integer(a->gpa));
		}
		break;
	case TWIN_CMD_HOST_MEM_STATUS:
		*cmd = "host-mem-status";
		if (a->pfn_set)
			json_object_set_new(args, "pfn", json_integer(a->pfn));
		break;
	case TWIN_CMD_VM_PEEK:
		*cmd = "vm-peek";
		json_object_set_new(args, "vm", json_string(a->vm));
		json_object_set_new(args, "gpa", json_integer(a->gpa));
		json_object_set_new(args, "len", json_integer(a->len));
		break;
	case TWIN_CMD_VM_REGS:
		*cmd = "vm-regs";
		json_object_set_new(args, "vm", json_string(a->vm));
		if (a->vcpu >= 0)
			json_object_set_new(args, "vcpu", json_integer(a->vcpu));
		break;
	default:
		json_decref(args);
		return NULL;
	}
	return args;
}

/* host cpus: a line per CPU: the kernel's state, Twin's, and the vCPUs allowed there. */
static void print_cpus(json_t *ret)
{
	json_t *cpu, *vcpu, *vm;
	size_t i, j;

	printf("%-5s %-8s %-22s %s\n", "CPU", "KERNEL", "TWIN", "VCPUS");
	json_array_foreach(json_object_get(ret, "cpus"), i, cpu)
	{
		bool off = json_is_true(json_object_get(cpu, "twin_offline"));
		bool hot = json_is_true(json_object_get(cpu, "hotplugged"));
		bool any = false;

		printf("%-5lld %-8s %-22s ", json_integer_value(json_object_get(cpu, "cpu")),
		       json_is_true(json_object_get(cpu, "online")) ? "online" : "offline",
		       off ? (hot ? "offline (hotplugged)" : "offline") : "online");
		json_array_foreach(json_object_get(cpu, "vcpus"), j, vcpu)
		{
			printf("%s%s/vcpu%lld", any ? " " : "", twin_status__str(vcpu, "vm"),
			       json_integer_value(json_object_get(vcpu, "vcpu")));
			any = true;
		}
		printf("%s\n", any ? "" : "-");
	}
	printf("allowed for Twin: %s\n", twin_status__str(ret, "allowed"));
	json_array_foreach(json_object_get(ret, "vms"), i, vm)
	{
		if (json_object_get(vm, "error"))
			printf("%s %s (pid %lld): %s\n", twin_status__str(vm, "vm"),
			       twin_status__str(vm, "role"),
			       json_integer_value(json_object_get(vm, "pid")),
			       twin_status__str(vm, "error"));
	}
}

/* cpu-offline, cpu-online: what changed and how each twin-vmm here followed; 1 if one did not. */
static int print_cpu_change(const struct twin_args *a, json_t *ret)
{
	int status = TWIN_EXIT_OK;
	json_t *vm;
	size_t i;

	printf("host %s: CPU %u is %s for Twin%s; twin-vmms here run on CPUs %s\n",
	       a->command == TWIN_CMD_HOST_CPU_OFFLINE ? "cpu-offline" : "cpu-online", a->cpu,
	       a->command == TWIN_CMD_HOST_CPU_OFFLINE ? "offline" : "online",
	       json_is_true(json_object_get(ret, "hotplug")) ? " and in the kernel" : "",
	       twin_status__str(ret, "allowed"));
	json_array_foreach(json_object_get(ret, "vms"), i, vm)
	{
		const char *error = json_string_value(json_object_get(vm, "error"));

		if (error) {
			twin__error("%s %s (pid %lld) could not be re-pinned: %s",
				    twin_status__str(vm, "vm"), twin_status__str(vm, "role"),
				    json_integer_value(json_object_get(vm, "pid")), error);
			status = TWIN_EXIT_FAILED;
			continue;
		}
		if (!strcmp(twin_status__str(vm, "repinned_by"), "connect"))
			printf(
			    "  %s %s (pid %lld): not connected yet: pinned from clusterd for now, "
			    "re-pinned by set-cpus when its control socket comes up\n",
			    twin_status__str(vm, "vm"), twin_status__str(vm, "role"),
			    json_integer_value(json_object_get(vm, "pid")));
		else
			printf("  %s %s (pid %lld): re-pinned by %s\n", twin_status__str(vm, "vm"),
			       twin_status__str(vm, "role"),
			       json_integer_value(json_object_get(vm, "pid")),
			       twin_status__str(vm, "repinned_by"));
	}
	return status;
}

/* vm forget, host forget: what went (the reply names it). */
static void print_forget(const struct twin_args *a, json_t *ret)
{
	bool vm = a->command == TWIN_CMD_VM_FORGET;

	printf("%s forget: %s: forgotten\n", vm ? "vm" : "host",
	       twin_status__str(ret, vm ? "vm" : "host"));
}

int twin_host__run(struct twin_client *c, const struct twin_args *a)
{
	int status = TWIN_EXIT_OK;
	const char *cmd;
	json_t *args = twin_host__request(a, &cmd), *ret;

	if (!cmd)
		return TWIN_EXIT_USAGE;
	ret = twin_client__call(c, cmd, args);
	if (!ret)
		return TWIN_EXIT_FAILED;
	if (a->json)
		twin_status__print_json(ret);
	else if (a->command == TWIN_CMD_HOST_CPUS)
		print_cpus(ret);
	else if (a->command == TWIN_CMD_HOST_CPU_OFFLINE || a->command == TWIN_CMD_HOST_CPU_ONLINE)
		status = print_cpu_change(a, ret);
	else if (a->command == TWIN_CMD_HOST_MEM_OFFLINE ||
		 a->command == TWIN_CMD_HOST_MEM_ONLINE || a->command == TWIN_CMD_HOST_MEM_STATUS)
		twin_host_mem__print(a, ret, stdout, stderr);
	else
		print_forget(a, ret);
	json_decref(ret);
	return status;
}
