/* xen-core's log helper: stderr lines, a level filter, once-per-key tables, rate limits. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log.h"

static enum log_level log_level = LOG_LEVEL_WARN;
static bool log_level_from_env;

static const char *const kind_names[LOG_KIND_COUNT] = {
    [LOG_KIND_CONSOLE] = "console output",
    [LOG_KIND_PIO] = "unhandled port access",
    [LOG_KIND_MMIO] = "unhandled MMIO access",
    [LOG_KIND_DEBUGDEV_BUF_LEN] = "debug device buffer length",
    [LOG_KIND_DEBUGDEV_BUF_GPA] = "debug device buffer address",
    [LOG_KIND_DEBUGDEV_REG] = "debug device register",
    [LOG_KIND_TEST] = "test",
};

static pthread_mutex_t once_lock = PTHREAD_MUTEX_INITIALIZER;
static struct once_table {
	uint64_t keys[LOG_ONCE_MAX];
	unsigned int nr;
	unsigned int tokens;   /* LOG_RATE_PER_SEC at most */
	uint64_t refill_ns;    /* when tokens were last topped up */
	uint64_t rate_dropped; /* reports the bucket refused since the last one it allowed */
	bool started;
	bool full_reported;
} once_tables[LOG_KIND_COUNT];
void log__set_level(enum log_level level)
{
	log_level = level;
	log_level_from_env = true;
}

static void level_from_env(void)
{
	const char *v = getenv("TWIN_LOG");

	log_level_from_env = true;
	if (!v)
		return;
	if (!strcmp(v, "debug"))
		log_level = LOG_LEVEL_DEBUG;
	else if (!strcmp(v, "info"))
		log_level = LOG_LEVEL_INFO;
	else if (!strcmp(v, "error"))
		log_level = LOG_LEVEL_ERROR;
}

void log__msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[1024];
	va_list ap;
	int n;

	if (!log_level_from_env)
		level_from_env();
	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "twin-vmm: %s: ", names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One fprintf per line so lines from vCPU threads do not interleave. */
	fprintf(stderr, "%s\n", line);
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The bucket refills to LOG_RATE_PER_SEC once a second; returns whether a token was taken. */
static bool take_token(struct once_table *t)
{
	uint64_t now = monotonic_ns();

	if (!t->started || now - t->refill_ns >= 1000000000ULL) {
		t->started = true;
		t->tokens = LOG_RATE_PER_SEC;
		t->refill_ns = now;
	}
	if (!t->tokens)
		return false;
	t->tokens--;
	return true;
}

bool log__once(enum log_kind kind, uint64_t key)
{
	struct once_table *t;
	bool report = false;

	if ((unsigned int)kind >= LOG_KIND_COUNT)
		return false;
	t = &once_tables[kind];
	pthread_mutex_lock(&once_lock);
	for (unsigned int i = 0; i < t->nr; i++)
		if (t->keys[i] == key)
			goto out;
	if (t->nr == LOG_ONCE_MAX) {
		if (!t->full_reported)
			log__warn("%s warnings: %u distinct ones reported; further ones suppressed",
				  kind_names[kind], LOG_ONCE_MAX);
		t->full_reported = true;
		goto out;
	}
	if (!take_token(t)) {
		if (!t->rate_dropped++)
			log__warn("%s warnings: over %u a second; suppressing further ones for now",
				  kind_names[kind], LOG_RATE_PER_SEC);
		goto out;
	}
	if (t->rate_dropped)
		log__warn("%s warnings: %llu suppressed by the rate limit", kind_names[kind],
			  (unsigned long long)t->rate_dropped);
	t->rate_dropped = 0;
	t->keys[t->nr++] = key;
	report = true;
out:
	pthread_mutex_unlock(&once_lock);
	return report;
}
