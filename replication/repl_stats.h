/* A window of the last REPL_WINDOW samples (pause, ack latency, output held) and its quantiles. */
#ifndef REPLICATION_REPL_STATS_H
#define REPLICATION_REPL_STATS_H

#include <stdint.h>
#include "replication.h"

/* Not locked: the owner (the engine, under its lock) adds and reads. */
struct repl_window {
	uint64_t v[REPL_WINDOW];
	uint64_t n;   /* samples ever added; the window holds the last min(n, REPL_WINDOW) */
	uint64_t sum; /* of every sample ever added: a Prometheus summary's _sum, n its _count */
	uint64_t last;
};

void repl_window__init(struct repl_window *w);
void repl_window__add(struct repl_window *w, uint64_t sample);
/*
 * p50, p99 (nearest rank) and max over the window, and the last sample; count and sum over
 * every sample ever added.  All 0 if empty.
 */
void repl_window__quantiles(const struct repl_window *w, struct repl_quantiles *out);

#endif
