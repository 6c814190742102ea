/* twin-vmm save, migrate and the replication commands: clients of a twin-vmm's control socket. */
#ifndef TOOLS_CONTROL_CLIENT_H
#define TOOLS_CONTROL_CLIENT_H
#include "vmm_args.h"

/* The exit statuses of the clients: done, and the VM's twin-vmm reported a failure. */
#define CLIENT_EXIT_OK	   0
#define CLIENT_EXIT_FAILED 1

/* twin-vmm save --control PATH FILE: returns once FILE is written (the VM stays paused). */
int control_client__save(const struct vmm_args *a);

/*
 * twin-vmm migrate: starts the migration, shows its progress (a line rewritten in place on a
 * terminal, a line a second otherwise), prints the final status as `migrate: {JSON}` on
 * stdout, and returns 0 once the destination runs the VM.  SIGINT or SIGTERM cancels it.
 */
int control_client__migrate(const struct vmm_args *a);

/*
 * twin-vmm protect: starts protecting, shows the initial sync's progress as migrate does,
 * then prints `protect: {JSON}` (query-replication's status) and returns 0 once the VM is
 * protected, 1 with the reason if it failed.  SIGINT or SIGTERM cancels it (unprotect).
 */
int control_client__protect(const struct vmm_args *a);

/*
 * twin-vmm unprotect, set-replication, query-replication (prints the status, one line of
 * JSON), failover (returns once the VM runs on the backup), fence, unfence and degrade:
 * 0 done, 1 refused or failed.
 */
int control_client__replication(const struct vmm_args *a);

#endif
