/* The metrics endpoint: GET /metrics over HTTP (libevent's evhttp) on the daemon's loop. */
#ifndef CLUSTERD_METRICS_HTTP_H
#define CLUSTERD_METRICS_HTTP_H
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

/* Bounds on what a client may send or hold: headers, a body, an idle or slow connection. */
#define METRICS_HTTP_MAX_HEADERS 8192
#define METRICS_HTTP_MAX_BODY	 4096
#define METRICS_HTTP_TIMEOUT_S	 10

/*
 * Builds the page, on the event-loop thread, at each scrape: 0 with *out (heap, freed by
 * the server once sent) and *len, or -errno (the scrape gets a 500).
 */
typedef int (*metrics_page_fn)(void *opaque, char **out, size_t *len);

struct metrics_http;

/*
 * Serves GET (and HEAD) /metrics on addr (an IP literal, v6 without brackets) and port:
 * 200 with the page as text/plain; version=0.0.4; any other path 404, any other method on
 * /metrics 405 (Allow: GET, HEAD).  Nothing blocks: the page is built in memory and written
 * as the client reads.  0, or -errno with one line in err.
 */
int metrics_http__start(struct event_base *base, const char *addr, uint16_t port,
			metrics_page_fn page, void *opaque, struct metrics_http **out, char *err,
			size_t errlen);

/* Closes the listener and every connection; NULL: no-op. */
void metrics_http__stop(struct metrics_http *h);

#endif
