/* xen-core's one way to print: prefixed stderr lines, rate-limited for guest-driven noise. */
#ifndef XEN_CORE_LOG_H
#define XEN_CORE_LOG_H
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Lines above this level are dropped (default LOG_LEVEL_WARN; TWIN_LOG=debug|info raises it). */
void log__set_level(enum log_level level);
void log__msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log__error(...) log__msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log__warn(...)	log__msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log__info(...)	log__msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log__debug(...) log__msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * Returns true the first time a (kind, key) pair is seen, and while fewer than
 * LOG_ONCE_MAX distinct pairs have been reported; the caller then logs.  The
 * guest controls these keys (unhandled port/MMIO addresses), so the table is
 * bounded and reports once that it stopped reporting.  Thread-safe.
 */
#define LOG_ONCE_MAX 64
bool log__once(unsigned int kind, uint64_t key);

#endif
