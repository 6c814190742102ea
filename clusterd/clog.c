/* twin-clusterd's log: wall-clock milliseconds, so failover timelines line up across hosts. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "clog.h"

static char host[64];
static enum clog_level max_level = CLOG_INFO;

void clog__set_host(const char *h)
{
	snprintf(host, sizeof(host), "%s", h);
}

void clog__set_level(enum clog_level level)
{
	max_level = level;
}

void clog__msg(enum clog_level level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (level > max_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%02d:%02d:%02d.%03ld twin-clusterd%s%s%s: %s: ", tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, host[0] ? "[" : "", host, host[0] ? "]" : "",
		     names[level]);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One fprintf per line: lines from children sharing stderr do not interleave. */
	fprintf(stderr, "%s\n", line);
}
