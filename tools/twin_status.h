/* The twin CLI's view of clusterd's replies: fields read leniently, tables printed. */
#ifndef TOOLS_TWIN_STATUS_H
#define TOOLS_TWIN_STATUS_H
#include <stdbool.h>
#include <jansson.h>
#include "twin_client.h"

/* o's string member key, or "-" when it is missing or empty (a table's blank). */
const char *twin_status__str(json_t *o, const char *key);

/* The status of one VM, an object (a new reference), or NULL after saying why on stderr. */
json_t *twin_status__vm(struct twin_client *c, const char *vm);

/* The raw object, one line (--json); reals to 10 significant digits, not 17. */
void twin_status__print_json(json_t *o);

/* vm-list's return, an array of VMs: NAME STATE PRIMARY BACKUP MODE MEMORY. */
void twin_status__print_vm_list(json_t *ret);

/* status's return for every VM (an array): roles, hosts, state, epoch rate, lag, pause p99. */
void twin_status__print_status(json_t *ret);

/* cluster-status's return: quorum, votes, token, then a line per host. */
void twin_status__print_cluster(json_t *ret);

/* One line of a VM's initial sync progress, without its end (a terminal rewrites it). */
void twin_status__print_sync(const char *name, json_t *vm);

/*
 * status --watch: the status table of vm (NULL: every VM) every interval_ms, count times (0:
 * until Ctrl-C).  On a terminal each refresh redraws the screen in place; otherwise each
 * table follows a line with its time (UTC).  json: one line of raw JSON per refresh instead
 * (JSON lines, no heading).  Ctrl-C ends it with TWIN_EXIT_OK; a failed request with
 * TWIN_EXIT_FAILED after saying why.  Ctrl-C waits for a request under way (bounded by
 * TWIN_CLIENT_TIMEOUT_MS), never cuts a table short.
 */
int twin_status__watch(struct twin_client *c, const char *vm, bool json, unsigned int interval_ms,
		       unsigned int count);

#endif
