/* Unit tests for the metrics endpoint (clusterd/metrics_http.c) on loopback: 200, 404, 405, HEAD,
 * 500. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <check.h>
#include <event2/event.h>
#include "metrics_http.h"
#include "suites.h"

#define PAGE "# HELP x x\n# TYPE x gauge\nx 1\n"

static struct event_base *base;
static struct metrics_http *server;
static uint16_t port;
static int page_rc, pages;
static char reply[8192];

static int page(void *opaque, char **out, size_t *len)
{
	pages++;
	if (page_rc)
		return page_rc;
	*out = strdup(PAGE);
	*len = strlen(PAGE);
	return *out ? 0 : -ENOMEM;
}

/* A free loopback port of family af: bound, read back, released. */
static uint16_t free_port(int af)
{
	struct sockaddr_storage ss = {.ss_family = af};
	socklen_t len = sizeof(ss);
	int fd = socket(af, SOCK_STREAM, 0);
	uint16_t p;

	ck_assert_int_ge(fd, 0);
	if (af == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	ck_assert_int_eq(
	    bind(fd, (struct sockaddr *)&ss,
		 af == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)),
	    0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	p = ntohs(af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				: ((struct sockaddr_in6 *)&ss)->sin6_port);
	close(fd);
	return p;
}

static void start(const char *addr, int af)
{
	char err[256] = "";

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	port = free_port(af);
	if (metrics_http__start(base, addr, port, page, NULL, &server, err, sizeof(err)))
		ck_abort_msg("start: %s", err);
}

static void setup(void)
{
	page_rc = pages = 0;
	start("127.0.0.1", AF_INET);
}

static void teardown(void)
{
	metrics_http__stop(server);
	server = NULL;
	event_base_free(base);
}

/*
 * Sends request (HTTP/1.0: the server closes after answering) to the server and runs the
 * loop until the whole reply is in `reply`; the loop is never blocked meanwhile.
 */
static void exchange(int af, const char *request)
{
	struct sockaddr_storage ss = {.ss_family = af};
	int fd = socket(af, SOCK_STREAM, 0);
	size_t len = 0;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	if (af == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	}
	/* Loopback: the kernel completes the handshake into the backlog at once. */
	ck_assert_int_eq(
	    connect(fd, (struct sockaddr *)&ss,
		    af == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)),
	    0);
	ck_assert_int_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	for (int rounds = 0;; rounds++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		ck_assert_int_lt(rounds, 5000); /* 10 ms each: 50 s at most */
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 10) <= 0)
			continue;
		n = read(fd, reply + len, sizeof(reply) - 1 - len);
		ck_assert_int_ge(n, 0);
		if (!n)
			break;
		len += n;
	}
	reply[len] = 0;
	close(fd);
}

static void assert_has(const char *text)
{
	if (!strstr(reply, text))
		ck_abort_msg("the reply lacks '%s':\n%s", text, reply);
}

START_TEST(test_get)
{
	exchange(AF_INET, "GET /metrics HTTP/1.0\r\n\r\n");
	ck_assert(!strncmp(reply, "HTTP/1.0 200 OK\r\n", 17));
	assert_has("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
	ck_assert_str_eq(strstr(reply, "\r\n\r\n") + 4, PAGE);
	ck_assert_int_eq(pages, 1);
	exchange(AF_INET, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
	ck_assert(!strncmp(reply, "HTTP/1.0 200 OK\r\n", 17));
}
END_TEST

START_TEST(test_not_found)
{
	static const char *const paths[] = {"/", "/metric", "/metrics/", "/metricsx", "/x/metrics"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char req[128];

		snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", paths[i]);
		exchange(AF_INET, req);
		if (strncmp(reply, "HTTP/1.0 404 ", 13))
			ck_abort_msg("%s: %s", paths[i], reply);
	}
	ck_assert_int_eq(pages, 0);
}
END_TEST

START_TEST(test_methods)
{
	static const char *const methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		char req[128];

		snprintf(req, sizeof(req), "%s /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
			 methods[i]);
		exchange(AF_INET, req);
		if (strncmp(reply, "HTTP/1.0 405 ", 13))
			ck_abort_msg("%s: %s", methods[i], reply);
		assert_has("\r\nAllow: GET, HEAD\r\n");
	}
	ck_assert_int_eq(pages, 0);
}
END_TEST

/* HEAD: the page's headers and length, no body. */
START_TEST(test_head)
{
	char length[64];

	exchange(AF_INET, "HEAD /metrics HTTP/1.0\r\n\r\n");
	ck_assert(!strncmp(reply, "HTTP/1.0 200 OK\r\n", 17));
	snprintf(length, sizeof(length), "\r\nContent-Length: %zu\r\n", strlen(PAGE));
	assert_has(length);
	ck_assert_str_eq(strstr(reply, "\r\n\r\n") + 4, "");
}
END_TEST

START_TEST(test_page_fails)
{
	page_rc = -EFBIG;
	exchange(AF_INET, "GET /metrics HTTP/1.0\r\n\r\n");
	ck_assert(!strncmp(reply, "HTTP/1.0 500 ", 13));
	assert_has("see twin-clusterd's log");
}
END_TEST

/* Headers beyond the bound: refused without reaching the page. */
START_TEST(test_headers_bounded)
{
	size_t n = METRICS_HTTP_MAX_HEADERS + 100;
	char *req = malloc(n + 64);

	strcpy(req, "GET /metrics HTTP/1.0\r\nX-Pad: ");
	memset(req + strlen(req), 'a', n);
	strcpy(req + 30 + n, "\r\n\r\n");
	exchange(AF_INET, req);
	ck_assert(strncmp(reply, "HTTP/1.0 200 ", 13));
	ck_assert_int_eq(pages, 0);
	free(req);
}
END_TEST

START_TEST(test_ipv6_and_busy_port)
{
	struct metrics_http *again = NULL;
	char err[256] = "";

	/* The port setup's server holds: a second server there is refused, naming it. */
	ck_assert_int_eq(
	    metrics_http__start(base, "127.0.0.1", port, page, NULL, &again, err, sizeof(err)),
	    -EADDRINUSE);
	ck_assert_ptr_null(again);
	if (!strstr(err, "cannot listen on 127.0.0.1 port") || !strstr(err, "[metrics] listen"))
		ck_abort_msg("error: %s", err);
	teardown();
	start("::1", AF_INET6);
	exchange(AF_INET6, "GET /metrics HTTP/1.0\r\n\r\n");
	ck_assert(!strncmp(reply, "HTTP/1.0 200 OK\r\n", 17));
}
END_TEST

Suite *metrics_http_suite(void)
{
	Suite *s = suite_create("metrics_http");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_not_found);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_head);
	tcase_add_test(tc, test_page_fails);
	tcase_add_test(tc, test_headers_bounded);
	tcase_add_test(tc, test_ipv6_and_busy_port);
	suite_add_tcase(s, tc);
	return s;
}
