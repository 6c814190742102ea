/* Fuzz target for api_request__parse: a one-line error of a known class, or a request in bounds. */
/*
 * With libFuzzer (clang), from the top of the source tree, after a build in build/ (config.h):
 *   clang -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Iclusterd -Itools -Ibuild \
 *     tests/fuzz/fuzz_api_request.c tests/fuzz/libfuzzer-entry.c clusterd/api_request.c \
 *     clusterd/model*.c clusterd/cl_msg.c clusterd/placement.c tools/vmcfg.c tools/host_port.c \
 *     tools/spec_item.c -ljansson -linih -o fuzz-api-request
 *   ./fuzz-api-request -max_total_time=60 tests/fuzz/corpus/api_request
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 */
#include <errno.h>
#include <string.h>
#include "api_request.h"
#include "fuzz_target.h"

#define CLS_OK	0
#define CLS_ERR 1

static const char *check_error(const struct api_error *e)
{
	static const char *const classes[] = {"GenericError", "CommandNotFound",
					      "InvalidParameter"};
	bool known = false;

	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		known |= e->cls && !strcmp(e->cls, classes[i]);
	if (!known)
		return "the error's class is not one of the protocol's";
	if (!e->desc[0] || strchr(e->desc, '\n'))
		return "the error's description is empty or more than one line";
	return NULL;
}

/* What a parsed request promises the daemon: a command, its id, and bounded arguments. */
static const char *check_request(const struct cl_request *r)
{
	if ((unsigned)r->cmd >= CL_CMD_NCMDS)
		return "the command is out of the table";
	if (r->id != 42)
		return "the request's id was not kept";
	if (memchr(r->vm, 0, sizeof(r->vm)) == NULL ||
	    memchr(r->peer, 0, sizeof(r->peer)) == NULL ||
	    memchr(r->host_name, 0, sizeof(r->host_name)) == NULL)
		return "a name is not NUL-terminated";
	switch (r->cmd) {
	case CL_CMD_HOST_CPU_OFFLINE:
	case CL_CMD_HOST_CPU_ONLINE:
		return r->cpu < API_CPU_MAX ? NULL : "cpu out of bounds";
	case CL_CMD_HOST_MEM_OFFLINE:
	case CL_CMD_HOST_MEM_ONLINE:
		if (r->pfn_set == (r->gpa_set && r->vm[0]))
			return "a page request is not exactly one of pfn and (vm, gpa)";
		return r->pfn <= API_PFN_MAX && r->gpa <= API_GPA_MAX ? NULL : "page out of bounds";
	case CL_CMD_VM_PEEK:
		if (!r->vm[0] || !r->gpa_set || r->gpa > API_GPA_MAX)
			return "peek without its VM or address";
		return r->len >= 1 && r->len <= API_PEEK_MAX ? NULL : "peek length out of bounds";
	case CL_CMD_VM_REGS:
		return r->vm[0] && r->vcpu >= -1 && r->vcpu <= API_VCPU_MAX ? NULL
									    : "regs out of bounds";
	case CL_CMD_HOST_FORGET:
		return r->host_name[0] ? NULL : "host-forget without a host";
	case CL_CMD_VM_FORGET:
	case CL_CMD_VM_STOP:
	case CL_CMD_PROTECT:
	case CL_CMD_UNPROTECT:
	case CL_CMD_FAILOVER:
	case CL_CMD_DRILL:
		return r->vm[0] ? NULL : "a VM command without its VM";
	default:
		return NULL;
	}
}

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	static struct cl_request req;
	struct api_error e = {0};
	const char *why;
	json_t *id = NULL;
	int rc;

	/* vm-start's "path" reads files: not here (the unit tests cover it). */
	*cls = CLS_ERR;
	if (memmem(data, size, "path", 4))
		return NULL;
	memset(&req, 0xa5, sizeof(req));
	req.id = 42;
	rc = api_request__parse((const char *)data, size, "/nonexistent", &req, &id, &e);
	json_decref(id);
	if (rc && rc != -EINVAL)
		return "the result is neither 0 nor -EINVAL";
	*cls = rc ? CLS_ERR : CLS_OK;
	why = rc ? check_error(&e) : check_request(&req);
	return why;
}

static const char *const classes[] = {"ok-", "err-"};

const struct fuzz_target fuzz_target = {
    .name = "api_request",
    .classes = classes,
    .nclasses = 2,
    .check = check,
};
