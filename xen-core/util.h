/* Small helpers shared across Twin: the one-line error buffer and ARRAY_SIZE. */
#ifndef XEN_CORE_UTIL_H
#define XEN_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* printf into err[0..errlen); does nothing if err is NULL or errlen 0 (caller wants no text). */
__attribute__((format(printf, 3, 4))) void util__set_err(char *err, size_t errlen, const char *fmt,
							 ...);
/* util__set_err, then returns rc: `return util__fail(err, errlen, -EINVAL, "...", ...);`. */
__attribute__((format(printf, 4, 5))) int util__fail(char *err, size_t errlen, int rc,
						     const char *fmt, ...);

/* CLOCK_MONOTONIC in ns: every deadline and duration in Twin (condvars run on it too). */
uint64_t util__mono_ns(void);

#endif
