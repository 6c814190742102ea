/* clusterd's local commands: a table from command to its owner's handler, and the replies. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "api.h"
#include "clog.h"
#include "host_cpus.h"
#include "host_mem.h"
#include "local_cmd.h"
#include "vm_introspect.h"

typedef void (*local_handler)(struct local_ctx *ctx, const struct cl_request *req);

/* Every local command, with its handler (in its owner's file). */
static const local_handler handlers[CL_CMD_NCMDS] = {
    [CL_CMD_HOST_CPUS] = host_cpus__run,       [CL_CMD_HOST_CPU_OFFLINE] = host_cpus__run,
    [CL_CMD_HOST_CPU_ONLINE] = host_cpus__run, [CL_CMD_HOST_MEM_OFFLINE] = host_mem__run,
    [CL_CMD_HOST_MEM_ONLINE] = host_mem__run,  [CL_CMD_HOST_MEM_STATUS] = host_mem__run,
    [CL_CMD_VM_PEEK] = vm_introspect__run,     [CL_CMD_VM_REGS] = vm_introspect__run,
};

bool local_cmd__is_local(enum cl_cmd cmd)
{
	return (unsigned)cmd < CL_CMD_NCMDS && handlers[cmd];
}

void local_cmd__run(struct local_ctx *ctx, const struct cl_request *req)
{
	handlers[req->cmd](ctx, req);
}

void local_cmd__reply(struct local_ctx *ctx, uint64_t id, json_t *ret)
{
	char *text = ret ? json_dumps(ret, JSON_COMPACT) : NULL;

	json_decref(ret);
	if (!text) {
		clog__error("api: out of memory for the reply to request %llu",
			    (unsigned long long)id);
		api__reply(ctx->api, id, false, "GenericError", "clusterd is out of memory");
		return;
	}
	api__reply(ctx->api, id, true, "", text);
	free(text);
}

void local_cmd__fail(struct local_ctx *ctx, uint64_t id, const char *cls, const char *fmt, ...)
{
	char desc[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	api__reply(ctx->api, id, false, cls, desc);
}
