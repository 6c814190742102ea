/* The metrics page of this host: the model's view of the cluster and its VMs' replication. */
#ifndef CLUSTERD_METRICS_COLLECT_H
#define CLUSTERD_METRICS_COLLECT_H
#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "model.h"

/* What the page is made of; all read on the event-loop thread, nothing kept. */
struct metrics_source {
	const struct cl_state *state;
	/*
	 * The last query-replication answer of vm's primary twin-vmm on this host (borrowed),
	 * or NULL: supervisor__replication.
	 */
	json_t *(*replication)(void *opaque, const char *vm);
	void *opaque;
	/* This host's CPUs offline for Twin and memory pages in quarantine. */
	unsigned int cpus_offline, pages_offline;
};

/*
 * Builds the page (metrics_text's format): cluster quorum and votes, host membership, this
 * host's offlined CPUs and pages, each VM's state and roles and failovers, and for the VMs
 * whose primary runs here the replication figures (epochs, pause and ack latency p50/p99,
 * bytes sent, held output).  *out is the caller's to free.  0, -ENOMEM or -EFBIG.
 */
int metrics_collect__page(const struct metrics_source *src, char **out, size_t *len);

#endif
