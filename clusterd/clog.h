/* twin-clusterd's log: timestamped stderr lines with the host's name, one write each. */
#ifndef CLUSTERD_CLOG_H
#define CLUSTERD_CLOG_H

enum clog_level { CLOG_ERROR, CLOG_WARN, CLOG_INFO, CLOG_DEBUG };

/* Names this host in every line ("twin-clusterd[h1]"); before it, lines say "twin-clusterd". */
void clog__set_host(const char *host);
/* Lines above level are dropped; the default is CLOG_INFO (TWIN_LOG=debug raises it). */
void clog__set_level(enum clog_level level);
void clog__msg(enum clog_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define clog__error(...) clog__msg(CLOG_ERROR, __VA_ARGS__)
#define clog__warn(...)	 clog__msg(CLOG_WARN, __VA_ARGS__)
#define clog__info(...)	 clog__msg(CLOG_INFO, __VA_ARGS__)
#define clog__debug(...) clog__msg(CLOG_DEBUG, __VA_ARGS__)

#endif
