/* The twin CLI's host commands (cpus, mem, forget) and vm forget/peek/regs: their requests. */
#ifndef TOOLS_TWIN_HOST_H
#define TOOLS_TWIN_HOST_H
#include "twin_args.h"
#include "twin_client.h"

/*
 * The socket request of a->command (one of TWIN_CMD_VM_FORGET to TWIN_CMD_VM_REGS): its name
 * and its arguments (a new object).  Pure; NULL cmd for any other command.
 */
json_t *twin_host__request(const struct twin_args *a, const char **cmd);

/* Runs a->command (as twin_host__request) on the connected c: a TWIN_EXIT_ status. */
int twin_host__run(struct twin_client *c, const struct twin_args *a);

#endif
