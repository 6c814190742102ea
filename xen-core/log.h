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
 * What a log__once key names.  Each kind has its own table and rate budget, so
 * a guest flooding one (unhandled addresses) cannot silence another (console
 * failures).
 */
enum log_kind {
	LOG_KIND_CONSOLE,	   /* console sink write failures, keyed by fd */
	LOG_KIND_PIO,		   /* unhandled port accesses, keyed by port */
	LOG_KIND_MMIO,		   /* unhandled MMIO accesses, keyed by GPA */
	LOG_KIND_DEBUGDEV_BUF_LEN, /* debug device buffer over the limit, keyed by length */
	LOG_KIND_DEBUGDEV_BUF_GPA, /* debug device buffer outside RAM, keyed by GPA */
	LOG_KIND_DEBUGDEV_REG,	   /* bad debug device register, keyed by offset */
	LOG_KIND_TEST,		   /* unit tests only */
	LOG_KIND_COUNT
};

/* Distinct keys reported per kind before the kind goes quiet for good. */
#define LOG_ONCE_MAX 64
/* Token bucket per kind: at most this many reports per second (and as a burst). */
#define LOG_RATE_PER_SEC 5

/*
 * Returns true when the caller should log: the first time a (kind, key) pair
 * is seen, while the kind's table has room and its token bucket a token.  The
 * guest controls these keys, so when a kind's table fills or its bucket runs
 * dry this logs one line saying further warnings are suppressed.  A key
 * dropped by the rate limit is not remembered, so it may be reported later.
 * Thread-safe.
 */
bool log__once(enum log_kind kind, uint64_t key);

#endif
