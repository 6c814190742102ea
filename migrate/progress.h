/* A migration's shared progress (struct migrate_job): written by the migrating thread, read by any.
 */
#ifndef MIGRATE_PROGRESS_H
#define MIGRATE_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "migrate.h"

struct migrate_job {
	pthread_mutex_t lock;
	pthread_cond_t cancel_cond; /* wakes a sender pacing its bandwidth */
	bool cancel;
	uint64_t start_ns;
	struct migrate_status st;
};

/* CLOCK_MONOTONIC in ns. */
uint64_t progress__now_ns(void);

/* The migrating thread: zeroes the status and starts the clock in phase SETUP; keeps a cancel. */
void progress__start(struct migrate_job *j);
/* The status under the job's lock, for the migrating thread to update; unlock when done. */
struct migrate_status *progress__lock(struct migrate_job *j);
void progress__unlock(struct migrate_job *j);
void progress__set_phase(struct migrate_job *j, enum migrate_phase phase);
/* Ends the job: phase, total time, and (failed/cancelled) the error, which the first call keeps. */
__attribute__((format(printf, 3, 4))) void
progress__finish(struct migrate_job *j, enum migrate_phase phase, const char *fmt, ...);
bool progress__cancelled(struct migrate_job *j);
/*
 * Before END is written: -ECANCELED if a cancel came first, else marks END
 * sent, after which migrate_job__cancel refuses.  One decision, under the lock.
 */
int progress__begin_end(struct migrate_job *j);
/* Sleeps until deadline_ns (progress__now_ns clock) or a cancel; true if cancelled. */
bool progress__wait_until(struct migrate_job *j, uint64_t deadline_ns);

#endif
