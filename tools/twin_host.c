/* The twin CLI's host commands (cpus, mem, forget) and vm forget/peek/regs: requests, output. */
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "twin_host.h"
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

int twin_host__run(struct twin_client *c, const struct twin_args *a)
{
	const char *cmd;
	json_t *args = twin_host__request(a, &cmd), *ret;

	if (!cmd)
		return TWIN_EXIT_USAGE;
	ret = twin_client__call(c, cmd, args);
	if (!ret)
		return TWIN_EXIT_FAILED;
	twin_status__print_json(ret);
	json_decref(ret);
	return TWIN_EXIT_OK;
}
