/* The clusterd socket's protocol: a request line into a struct cl_request, replies into lines. */
#ifndef CLUSTERD_API_REQUEST_H
#define CLUSTERD_API_REQUEST_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "model.h"

/* Bumped when a command changes incompatibly; sent in the greeting. */
#define API_PROTOCOL 1
/* The longest request line: a VM config travels in vm-start, JSON-escaped. */
#define API_LINE_MAX (4 * CL_CONFIG_MAX)

/* The local commands' bounds (twin_args.h has the CLI's same ones). */
#define API_CPU_MAX  1024		       /* host-cpu-*: cpu 0 to API_CPU_MAX - 1 */
#define API_PFN_MAX  ((UINT64_C(1) << 40) - 1) /* 52-bit physical addresses */
#define API_GPA_MAX  ((UINT64_C(1) << 52) - 1)
#define API_PEEK_MAX 4096 /* vm-peek: len 1 to API_PEEK_MAX */
#define API_VCPU_MAX 63	  /* vm-regs: vcpu 0 to API_VCPU_MAX */

struct api_error {
	const char *cls; /* "GenericError", "CommandNotFound", "InvalidParameter" */
	char desc[512];
};

/*
 * Decodes line[0..len): {"execute": CMD, "arguments": {...}, "id": ANY?}.  vm-start's
 * "path" is read here: a bare NAME means VM_CONFIGS/NAME.cfg.  req->id is left as it was.
 * *id: the request's "id" (a new reference, NULL if none) also on failure, to echo.
 * 0, or -EINVAL with e filled.
 */
int api_request__parse(const char *line, size_t len, const char *vm_configs, struct cl_request *req,
		       json_t **id, struct api_error *e);

/* {"return": ret} and {"error": {"class", "desc"}} lines with id echoed (no newline; malloc'd). */
char *api_request__reply(json_t *ret, json_t *id); /* ret stolen */
char *api_request__error(const char *cls, const char *desc, json_t *id);

/* The line sent on connect: {"twin": {"version": V, "protocol": 1, "service": "clusterd"}}. */
char *api_request__greeting(void);

#endif
