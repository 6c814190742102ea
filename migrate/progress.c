/* migrate_job: progress snapshots and cancel between the migrating thread and everyone else. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "progress.h"
#include "util.h"

static const char *const phase_names[] = {
    [MIGRATE_PHASE_NONE] = "none",	     [MIGRATE_PHASE_SETUP] = "setup",
    [MIGRATE_PHASE_ACTIVE] = "active",	     [MIGRATE_PHASE_STOP_COPY] = "stop-copy",
    [MIGRATE_PHASE_COMPLETED] = "completed", [MIGRATE_PHASE_FAILED] = "failed",
    [MIGRATE_PHASE_CANCELLED] = "cancelled",
};

const char *migrate_phase__to_str(enum migrate_phase p)
{
	return (unsigned)p < sizeof(phase_names) / sizeof(phase_names[0]) ? phase_names[p]
									  : "unknown";
}

uint64_t progress__now_ns(void)
{
	return util__mono_ns();
}

int migrate_job__new(struct migrate_job **out)
{
	struct migrate_job *j = calloc(1, sizeof(*j));
	pthread_condattr_t ca;

	if (!j)
		return -ENOMEM;
	pthread_mutex_init(&j->lock, NULL);
	/* Pacing deadlines are CLOCK_MONOTONIC, immune to wall-clock steps. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cancel_cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = j;
	return 0;
}

void migrate_job__free(struct migrate_job *j)
{
	if (!j)
		return;
	pthread_cond_destroy(&j->cancel_cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

void migrate_job__status(struct migrate_job *j, struct migrate_status *out)
{
	pthread_mutex_lock(&j->lock);
	*out = j->st;
	/* While it runs, the total is the time so far. */
	if (j->st.phase >= MIGRATE_PHASE_SETUP && j->st.phase <= MIGRATE_PHASE_STOP_COPY)
		out->total_ns = progress__now_ns() - j->start_ns;
	pthread_mutex_unlock(&j->lock);
}

bool migrate_job__cancel(struct migrate_job *j)
{
	bool done;

	pthread_mutex_lock(&j->lock);
	done = !j->st.end_sent;
	if (done) {
		j->cancel = true;
		pthread_cond_broadcast(&j->cancel_cond);
	}
	pthread_mutex_unlock(&j->lock);
	return done;
}

int progress__begin_end(struct migrate_job *j)
{
	int rc = 0;

	pthread_mutex_lock(&j->lock);
	if (j->cancel)
		rc = -ECANCELED;
	else
		j->st.end_sent = true;
	pthread_mutex_unlock(&j->lock);
	return rc;
}

void progress__start(struct migrate_job *j)
{
	pthread_mutex_lock(&j->lock);
	memset(&j->st, 0, sizeof(j->st));
	j->st.phase = MIGRATE_PHASE_SETUP;
	j->start_ns = progress__now_ns();
	pthread_mutex_unlock(&j->lock);
}

struct migrate_status *progress__lock(struct migrate_job *j)
{
	pthread_mutex_lock(&j->lock);
	return &j->st;
}

void progress__unlock(struct migrate_job *j)
{
	pthread_mutex_unlock(&j->lock);
}

void progress__set_phase(struct migrate_job *j, enum migrate_phase phase)
{
	pthread_mutex_lock(&j->lock);
	j->st.phase = phase;
	pthread_mutex_unlock(&j->lock);
}

void progress__finish(struct migrate_job *j, enum migrate_phase phase, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&j->lock);
	if (j->st.phase != MIGRATE_PHASE_FAILED && j->st.phase != MIGRATE_PHASE_CANCELLED) {
		j->st.phase = phase;
		j->st.total_ns = progress__now_ns() - j->start_ns;
		if (fmt) {
			va_start(ap, fmt);
			vsnprintf(j->st.error, sizeof(j->st.error), fmt, ap);
			va_end(ap);
		}
	}
	pthread_mutex_unlock(&j->lock);
}

bool progress__cancelled(struct migrate_job *j)
{
	bool c;

	pthread_mutex_lock(&j->lock);
	c = j->cancel;
	pthread_mutex_unlock(&j->lock);
	return c;
}

bool progress__wait_until(struct migrate_job *j, uint64_t deadline_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000ULL),
			      .tv_nsec = (long)(deadline_ns % 1000000000ULL)};
	bool c;

	pthread_mutex_lock(&j->lock);
	while (!j->cancel && progress__now_ns() < deadline_ns)
		if (pthread_cond_timedwait(&j->cancel_cond, &j->lock, &ts) == ETIMEDOUT)
			break;
	c = j->cancel;
	pthread_mutex_unlock(&j->lock);
	return c;
}
