/* twin drill failover: kill a VM's primary and measure the failover as clusterd and a client see
 * it. */
#ifndef TOOLS_TWIN_DRILL_H
#define TOOLS_TWIN_DRILL_H
#include "twin_args.h"
#include "twin_client.h"

/*
 * Runs the drill of a->vm through the connected clusterd c: prints the report (or with
 * a->json one JSON object) and returns a TWIN_EXIT_ status.
 */
int twin_drill__run(struct twin_client *c, const struct twin_args *a);

#endif
