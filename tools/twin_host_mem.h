/* The twin CLI's host mem-offline, mem-online and mem-status output. */
#ifndef TOOLS_TWIN_HOST_MEM_H
#define TOOLS_TWIN_HOST_MEM_H
#include <stdio.h>
#include <jansson.h>
#include "twin_args.h"

/*
 * Prints clusterd's answer ret to a->command (one of TWIN_CMD_HOST_MEM_*) for a person: one
 * line for an offline or online, a table for mem-status (twin-vmms that did not answer on
 * err).  Pure but for the streams; --json is handled by the caller.
 */
void twin_host_mem__print(const struct twin_args *a, json_t *ret, FILE *out, FILE *err);

#endif
