/* xen-core's log helper: prefixed stderr lines, a level filter and a bounded once-per-key table. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

static enum log_level log_level = LOG_LEVEL_WARN;
static bool log_level_from_env;

static pthread_mutex_t once_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	unsigned int kind;
	uint64_t key;
} once_seen[LOG_ONCE_MAX];
static unsigned int once_count;

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

bool log__once(unsigned int kind, uint64_t key)
{
	bool report = false;

	pthread_mutex_lock(&once_lock);
	for (unsigned int i = 0; i < once_count; i++)
		if (once_seen[i].kind == kind && once_seen[i].key == key)
			goto out;
	if (once_count < LOG_ONCE_MAX) {
		once_seen[once_count].kind = kind;
		once_seen[once_count].key = key;
		once_count++;
		report = true;
		if (once_count == LOG_ONCE_MAX)
			log__warn("%u distinct unhandled accesses reported; not reporting more",
				  LOG_ONCE_MAX);
	}
out:
	pthread_mutex_unlock(&once_lock);
	return report;
}
