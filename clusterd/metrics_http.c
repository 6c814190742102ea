/* The metrics endpoint: GET /metrics over HTTP (libevent's evhttp) on the daemon's loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include "clog.h"
#include "metrics_http.h"
#include "metrics_text.h"

#define METRICS_PATH "/metrics"

struct metrics_http {
	struct evhttp *http;
	metrics_page_fn page;
	void *opaque;
};

/* Every method reaches on_request, so that a wrong one gets 405, not evhttp's 501. */
#define ALL_METHODS                                                                                \
	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | \
	 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

/* A short text answer: status, reason, one line of why. */
static void answer(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; charset=utf-8");
	if (body)
		evbuffer_add(body, text, strlen(text));
	evhttp_send_reply(req, code, reason, body);
	if (body)
		evbuffer_free(body);
}

static void free_page(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

/* Runs on the event-loop thread, once per request evhttp has read whole (within bounds). */
static void on_request(struct evhttp_request *req, void *arg)
{
	struct metrics_http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *body;
	char *page = NULL;
	size_t len = 0;
	int rc;

	if (!path || strcmp(path, METRICS_PATH)) {
		answer(req, HTTP_NOTFOUND, "Not Found", "not found: the metrics are at /metrics\n");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		answer(req, 405, "Method Not Allowed", "method not allowed: use GET /metrics\n");
		return;
	}
	rc = h->page(h->opaque, &page, &len);
	if (!rc && cmd == EVHTTP_REQ_HEAD) {
		/* evhttp would send a body given one: HEAD gets the page's length alone. */
		char length[24];

		snprintf(length, sizeof(length), "%zu", len);
		free(page);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
				  METRICS_TEXT_CONTENT_TYPE);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", length);
		evhttp_send_reply(req, HTTP_OK, "OK", NULL);
		return;
	}
	body = rc ? NULL : evbuffer_new();
	if (!body || evbuffer_add_reference(body, page, len, free_page, NULL)) {
		clog__error("metrics: cannot build the page: %s", strerror(rc ? -rc : ENOMEM));
		if (body)
			evbuffer_free(body);
		else
			free(page);
		answer(req, HTTP_INTERNAL, "Internal Server Error",
		       "the metrics page could not be built: see twin-clusterd's log\n");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  METRICS_TEXT_CONTENT_TYPE);
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

int metrics_http__start(struct event_base *base, const char *addr, uint16_t port,
			metrics_page_fn page, void *opaque, struct metrics_http **out, char *err,
			size_t errlen)
{
	struct metrics_http *h = calloc(1, sizeof(*h));
	int rc;

	*out = NULL;
	if (!h || !(h->http = evhttp_new(base))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "metrics: cannot start the HTTP server: out of memory");
		goto fail;
	}
	h->page = page;
	h->opaque = opaque;
	evhttp_set_allowed_methods(h->http, ALL_METHODS);
	evhttp_set_max_headers_size(h->http, METRICS_HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(h->http, METRICS_HTTP_MAX_BODY);
	evhttp_set_timeout(h->http, METRICS_HTTP_TIMEOUT_S);
	evhttp_set_gencb(h->http, on_request, h);
	errno = 0;
	if (!evhttp_bind_socket_with_handle(h->http, addr, port)) {
		rc = errno ? -errno : -EADDRNOTAVAIL;
		snprintf(err, errlen,
			 "metrics: cannot listen on %s port %u ([metrics] listen): %s: is the "
			 "address this host's and the port free?",
			 addr, port, strerror(-rc));
		goto fail;
	}
	clog__info("metrics: serving http://%s%s%s:%u%s", strchr(addr, ':') ? "[" : "", addr,
		   strchr(addr, ':') ? "]" : "", port, METRICS_PATH);
	*out = h;
	return 0;
fail:
	metrics_http__stop(h);
	return rc;
}

void metrics_http__stop(struct metrics_http *h)
{
	if (!h)
		return;
	if (h->http)
		evhttp_free(h->http);
	free(h);
}
