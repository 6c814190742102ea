/* Unit tests for the kv service logic (tests/guests/net/kv.c): every op, error, dedup, limits. */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "suites.h"
#include "kv.h"

static struct kv *kv;
static char out[KV_REPLY_MAX + 1];

static void setup(void)
{
	kv = malloc(sizeof(*kv));
	ck_assert_ptr_nonnull(kv);
	kv__init(kv);
}

static void teardown(void)
{
	free(kv);
}

/* One request, its reply as a string. */
static const char *rq(const char *req)
{
	size_t n = kv__handle(kv, req, strlen(req), out, KV_REPLY_MAX);

	ck_assert_uint_gt(n, 0);
	ck_assert_uint_le(n, KV_REPLY_MAX);
	out[n] = '\0';
	return out;
}

static uint64_t stats(void)
{
	static uint64_t seq;
	char req[64];
	unsigned long long v;

	/* A client of its own, so that asking does not disturb the others' SEQs. */
	snprintf(req, sizeof(req), "stats-reader %llu GET __stats", (unsigned long long)++seq);
	ck_assert_int_eq(sscanf(rq(req), "stats-reader %*u OK %llu", &v), 1);
	return v;
}

START_TEST(test_ops)
{
	ck_assert_str_eq(rq("c1 1 GET a"), "c1 1 OK 0");
	ck_assert_str_eq(rq("c1 2 PUT a 5"), "c1 2 OK 5");
	ck_assert_str_eq(rq("c1 3 GET a"), "c1 3 OK 5");
	ck_assert_str_eq(rq("c1 4 INCR a"), "c1 4 OK 6");
	ck_assert_str_eq(rq("c1 5 INCR b"), "c1 5 OK 1");
	ck_assert_str_eq(rq("c1 6 PUT b -42"), "c1 6 OK -42");
	ck_assert_str_eq(rq("c1 7 INCR b"), "c1 7 OK -41");
	ck_assert_str_eq(rq("c1 8 PUT b -9223372036854775808"), "c1 8 OK -9223372036854775808");
	ck_assert_str_eq(rq("c1 9 PUT b 0009"), "c1 9 OK 9");
	/* Keys are shared between clients; SEQs are per client. */
	ck_assert_str_eq(rq("c2 1 GET a"), "c2 1 OK 6");
	/* SEQ is echoed in canonical decimal. */
	ck_assert_str_eq(rq("c2 0002 GET a"), "c2 2 OK 6");
	ck_assert_str_eq(rq("c2 18446744073709551615 GET a"), "c2 18446744073709551615 OK 6");
}
END_TEST

START_TEST(test_newline_tolerated)
{
	ck_assert_str_eq(rq("c1 1 PUT k 3\n"), "c1 1 OK 3");
	ck_assert_str_eq(rq("c1 2 GET k\r\n"), "c1 2 OK 3");
}
END_TEST

START_TEST(test_client_errors)
{
	char req[128];

	ck_assert_str_eq(rq(""), "- - ERR BADCLIENT");
	ck_assert_str_eq(rq(" 1 GET a"), "- 1 ERR BADCLIENT");
	ck_assert_str_eq(rq("c\001x 1 GET a"), "- 1 ERR BADCLIENT");
	ck_assert_str_eq(rq("\xff 1 GET a"), "- 1 ERR BADCLIENT");
	/* 32 characters is the limit. */
	snprintf(req, sizeof(req), "%s 1 GET a", "0123456789abcdef0123456789abcdef");
	ck_assert_str_eq(rq(req), "0123456789abcdef0123456789abcdef 1 OK 0");
	snprintf(req, sizeof(req), "%s 1 GET a", "0123456789abcdef0123456789abcdefX");
	ck_assert_str_eq(rq(req), "- 1 ERR BADCLIENT");
	ck_assert_uint_eq(stats(), 1);
}
END_TEST

START_TEST(test_seq_errors)
{
	ck_assert_str_eq(rq("c1"), "c1 - ERR BADSEQ");
	ck_assert_str_eq(rq("c1 "), "c1 - ERR BADSEQ");
	ck_assert_str_eq(rq("c1 x GET a"), "c1 - ERR BADSEQ");
	ck_assert_str_eq(rq("c1 -1 GET a"), "c1 - ERR BADSEQ");
	ck_assert_str_eq(rq("c1 +1 GET a"), "c1 - ERR BADSEQ");
	ck_assert_str_eq(rq("c1 1x GET a"), "c1 - ERR BADSEQ");
	ck_assert_str_eq(rq("c1 18446744073709551616 GET a"), "c1 - ERR BADSEQ");
	ck_assert_str_eq(rq("c1 000000000000000000001 GET a"), "c1 - ERR BADSEQ");
	ck_assert_str_eq(rq("c1  1 GET a"), "c1 - ERR BADSEQ");
	/* Nothing was remembered: SEQ 1 is still new. */
	ck_assert_str_eq(rq("c1 1 INCR a"), "c1 1 OK 1");
}
END_TEST

START_TEST(test_op_key_value_errors)
{
	char req[160];

	ck_assert_str_eq(rq("c1 1"), "c1 1 ERR BADOP");
	ck_assert_str_eq(rq("c1 2 put a 1"), "c1 2 ERR BADOP");
	ck_assert_str_eq(rq("c1 3 DEL a"), "c1 3 ERR BADOP");
	ck_assert_str_eq(rq("c1 4 GET"), "c1 4 ERR BADKEY");
	ck_assert_str_eq(rq("c1 5 GET  a"), "c1 5 ERR BADKEY");
	ck_assert_str_eq(rq("c1 6 INCR a\tb"), "c1 6 ERR BADKEY");
	snprintf(req, sizeof(req), "c1 7 PUT %064d 1", 7);
	ck_assert_str_eq(rq(req), "c1 7 OK 1");
	snprintf(req, sizeof(req), "c1 8 PUT %065d 1", 7);
	ck_assert_str_eq(rq(req), "c1 8 ERR BADKEY");
	ck_assert_str_eq(rq("c1 9 PUT a"), "c1 9 ERR BADVALUE");
	ck_assert_str_eq(rq("c1 10 PUT a "), "c1 10 ERR BADVALUE");
	ck_assert_str_eq(rq("c1 11 PUT a x"), "c1 11 ERR BADVALUE");
	ck_assert_str_eq(rq("c1 12 PUT a 12a"), "c1 12 ERR BADVALUE");
	ck_assert_str_eq(rq("c1 13 PUT a -"), "c1 13 ERR BADVALUE");
	ck_assert_str_eq(rq("c1 14 PUT a 1.5"), "c1 14 ERR BADVALUE");
	ck_assert_str_eq(rq("c1 15 PUT a 9223372036854775808"), "c1 15 ERR BADVALUE");
	ck_assert_str_eq(rq("c1 16 PUT a -9223372036854775809"), "c1 16 ERR BADVALUE");
	ck_assert_str_eq(rq("c1 17 PUT a 1 2"), "c1 17 ERR BADREQ");
	ck_assert_str_eq(rq("c1 18 GET a 1"), "c1 18 ERR BADREQ");
	ck_assert_str_eq(rq("c1 19 INCR a 1"), "c1 19 ERR BADREQ");
	ck_assert_str_eq(rq("c1 20 PUT __stats 1"), "c1 20 ERR READONLY");
	ck_assert_str_eq(rq("c1 21 INCR __stats"), "c1 21 ERR READONLY");
	/* None of the errors changed anything. */
	ck_assert_str_eq(rq("c1 22 GET a"), "c1 22 OK 0");
	ck_assert_uint_eq(stats(), 2);
}
END_TEST

START_TEST(test_overflow)
{
	ck_assert_str_eq(rq("c1 1 PUT a 9223372036854775806"), "c1 1 OK 9223372036854775806");
	ck_assert_str_eq(rq("c1 2 INCR a"), "c1 2 OK 9223372036854775807");
	ck_assert_str_eq(rq("c1 3 INCR a"), "c1 3 ERR OVERFLOW");
	ck_assert_str_eq(rq("c1 4 GET a"), "c1 4 OK 9223372036854775807");
}
END_TEST

START_TEST(test_full)
{
	char req[64], want[64];

	for (int i = 0; i < KV_KEYS; i++) {
		snprintf(req, sizeof(req), "c1 %d INCR key%d", i + 1, i);
		snprintf(want, sizeof(want), "c1 %d OK 1", i + 1);
		ck_assert_str_eq(rq(req), want);
	}
	ck_assert_str_eq(rq("c1 5000 PUT new 1"), "c1 5000 ERR FULL");
	ck_assert_str_eq(rq("c1 5001 INCR new"), "c1 5001 ERR FULL");
	/* Existing keys still change, and a missing key still reads as 0. */
	ck_assert_str_eq(rq("c1 5002 INCR key17"), "c1 5002 OK 2");
	ck_assert_str_eq(rq("c1 5003 PUT key4095 9"), "c1 5003 OK 9");
	ck_assert_str_eq(rq("c1 5004 GET new"), "c1 5004 OK 0");
	ck_assert_uint_eq(stats(), KV_KEYS + 3);
}
END_TEST

START_TEST(test_dedup)
{
	ck_assert_str_eq(rq("c1 1 INCR a"), "c1 1 OK 1");
	ck_assert_str_eq(rq("c1 1 INCR a"), "c1 1 OK 1");
	/* The (CLIENT, SEQ) pair decides, not the text. */
	ck_assert_str_eq(rq("c1 1 PUT a 100"), "c1 1 OK 1");
	ck_assert_str_eq(rq("c1 2 INCR a"), "c1 2 OK 2");
	/* Older than the last: refused, not applied, and the last reply stays. */
	ck_assert_str_eq(rq("c1 1 INCR a"), "c1 1 ERR STALE");
	ck_assert_str_eq(rq("c1 2 INCR a"), "c1 2 OK 2");
	/* Errors are remembered too. */
	ck_assert_str_eq(rq("c1 3 INCR __stats"), "c1 3 ERR READONLY");
	ck_assert_str_eq(rq("c1 3 GET a"), "c1 3 ERR READONLY");
	/* SEQs may skip. */
	ck_assert_str_eq(rq("c1 10 GET a"), "c1 10 OK 2");
	ck_assert_uint_eq(stats(), 3);
	ck_assert_uint_eq(stats(), 4);
}
END_TEST

static void client_round(int from, int to, uint64_t seq, const char *expect_suffix)
{
	char req[64], want[64];

	for (int i = from; i < to; i++) {
		snprintf(req, sizeof(req), "client-%d %llu INCR k%d", i, (unsigned long long)seq,
			 i);
		snprintf(want, sizeof(want), "client-%d %llu %s", i, (unsigned long long)seq,
			 expect_suffix);
		ck_assert_str_eq(rq(req), want);
	}
}

START_TEST(test_many_clients)
{
	/* More than the 1024 the issue asks for: all of KV_CLIENTS are remembered. */
	client_round(0, KV_CLIENTS - 1, 7, "OK 1");
	client_round(0, KV_CLIENTS - 1, 7, "OK 1");
	ck_assert_uint_eq(stats(), KV_CLIENTS - 1); /* stats-reader is client KV_CLIENTS */
	client_round(0, KV_CLIENTS - 1, 8, "OK 2");
	ck_assert_uint_eq(stats(), 2 * (KV_CLIENTS - 1) + 1);
}
END_TEST

START_TEST(test_lru_eviction)
{
	/* Fill the table; client-0 is the least recently seen, then one more arrives. */
	client_round(0, KV_CLIENTS, 1, "OK 1");
	client_round(1, KV_CLIENTS, 1, "OK 1");
	client_round(KV_CLIENTS, KV_CLIENTS + 1, 1, "OK 1");
	/* client-0 was forgotten, so its retransmission applies again (documented). */
	client_round(0, 1, 1, "OK 2");
	/* That evicted client-1, the next least recent; everyone else is still remembered. */
	client_round(2, KV_CLIENTS + 1, 1, "OK 1");
	client_round(1, 2, 1, "OK 2");
}
END_TEST

START_TEST(test_stats)
{
	ck_assert_str_eq(rq("c1 1 GET __stats"), "c1 1 OK 0");
	ck_assert_str_eq(rq("c1 2 GET __stats"), "c1 2 OK 1");
	ck_assert_str_eq(rq("c1 2 GET __stats"), "c1 2 OK 1");
	rq("c1 3 PUT x 1");
	rq("c1 4 PUT x nope");
	rq("c1 4 PUT x 2");
	rq("c2 x GET x");
	ck_assert_str_eq(rq("c1 5 GET __stats"), "c1 5 OK 3");
}
END_TEST

START_TEST(test_longest_reply)
{
	char req[160];
	const char *r;

	snprintf(req, sizeof(req), "%s 18446744073709551615 PUT k -9223372036854775808",
		 "0123456789abcdef0123456789abcdef");
	r = rq(req);
	ck_assert_str_eq(r, "0123456789abcdef0123456789abcdef 18446744073709551615 OK "
			    "-9223372036854775808");
	ck_assert_uint_le(strlen(r), KV_REPLY_MAX);
	/* A reply buffer smaller than KV_REPLY_MAX is refused before anything happens. */
	ck_assert_uint_eq(kv__handle(kv, "c1 1 INCR z", 11, out, KV_REPLY_MAX - 1), 0);
	ck_assert_str_eq(rq("c1 1 INCR z"), "c1 1 OK 1");
}
END_TEST

START_TEST(test_binary_garbage)
{
	static const char junk[] = "c1 1 PUT a\0 5";
	size_t n = kv__handle(kv, junk, sizeof(junk) - 1, out, KV_REPLY_MAX);

	out[n] = '\0';
	ck_assert_str_eq(out, "c1 1 ERR BADKEY");
}
END_TEST

/* ---- twin-kv-client against a loopback server running kv__handle ---- */

enum serve_mode {
	SERVE_OK,
	SERVE_WRONG,	/* the 100th reply carries a value off by one */
	SERVE_DROP,	/* every 7th datagram is lost */
	SERVE_NO_DEDUP, /* applies every datagram, retransmissions included */
	SERVE_SILENT,	/* never answers */
};

static struct {
	int fd;
	uint16_t port;
	enum serve_mode mode;
	volatile int stop;
	pthread_t thread;
} srv;

/* Rewrites "CLIENT SEQ ..." to a client name never seen, so the store applies it again. */
static size_t handle_without_dedup(const char *req, size_t len, char *reply)
{
	static unsigned int fresh;
	char alias[KV_REPLY_MAX + 64], *sp = memchr(req, ' ', len);
	size_t name_len = sp ? (size_t)(sp - req) : len, n, alias_len;

	alias_len = (size_t)snprintf(alias, sizeof(alias), "x%u %.*s", fresh++,
				     (int)(len - name_len), req + name_len);
	n = kv__handle(kv, alias + 1, alias_len - 1, reply, KV_REPLY_MAX);
	/* The reply starts with the alias' name: put the real one back. */
	sp = memchr(reply, ' ', n);
	n -= (size_t)(sp - reply);
	memmove(reply + name_len, sp, n);
	memcpy(reply, req, name_len);
	return name_len + n;
}

static void *serve(void *arg)
{
	unsigned int count = 0;

	while (!srv.stop) {
		struct pollfd p = {.fd = srv.fd, .events = POLLIN};
		char req[2048], reply[KV_REPLY_MAX + 64];
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n;
		size_t r;

		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recvfrom(srv.fd, req, sizeof(req), 0, (struct sockaddr *)&from, &flen);
		if (n < 0)
			continue;
		count++;
		if ((srv.mode == SERVE_DROP && count % 7 == 0) || srv.mode == SERVE_SILENT)
			continue;
		if (srv.mode == SERVE_NO_DEDUP)
			r = handle_without_dedup(req, (size_t)n, reply);
		else
			r = kv__handle(kv, req, (size_t)n, reply, sizeof(reply));
		if (srv.mode == SERVE_WRONG && count == 100)
			reply[r - 1] = reply[r - 1] == '9' ? '0' : (char)(reply[r - 1] + 1);
		sendto(srv.fd, reply, r, 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

static void server_start(enum serve_mode mode)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);

	srv.mode = mode;
	srv.stop = 0;
	srv.fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(srv.fd, 0);
	ck_assert_int_eq(bind(srv.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(srv.fd, (struct sockaddr *)&a, &alen), 0);
	srv.port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&srv.thread, NULL, serve, NULL), 0);
}

static void server_stop(void)
{
	srv.stop = 1;
	pthread_join(srv.thread, NULL);
	close(srv.fd);
}

/* Runs twin-kv-client ARGS against the server; its exit status, its output in buf. */
static int client(char *buf, size_t cap, const char *args)
{
	char cmd[512];
	size_t n;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s 127.0.0.1:%u 2>&1", TWIN_KV_CLIENT, args, srv.port);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	st = pclose(f);
	ck_assert_msg(WIFEXITED(st), "twin-kv-client did not exit: %s", buf);
	return WEXITSTATUS(st);
}

START_TEST(test_client_verifies)
{
	char text[4096];

	server_start(SERVE_OK);
	ck_assert_msg(client(text, sizeof(text), "--json --requests 3000 --clients 8") == 0, "%s",
		      out);
	ck_assert_msg(strstr(text, "\"ok\": true") && strstr(text, "\"verified\": 3000"), "%s",
		      text);
	/* Text output names throughput and latency. */
	ck_assert_msg(client(text, sizeof(text), "--requests 200") == 0, "%s", text);
	ck_assert_msg(strstr(text, "req/s") && strstr(text, "median") && strstr(text, "p99"), "%s",
		      text);
	server_stop();
}
END_TEST

START_TEST(test_client_retransmit)
{
	char text[4096];

	server_start(SERVE_OK);
	ck_assert_msg(
	    client(text, sizeof(text), "--json --retransmit --requests 2000 --clients 4") == 0,
	    "%s", text);
	/* Every 4th request of each client went twice and was asked again. */
	ck_assert_msg(strstr(text, "\"retransmitted\": 500,") &&
			  strstr(text, "\"replays_verified\": 500,"),
		      "%s", text);
	server_stop();
}
END_TEST

START_TEST(test_client_duration)
{
	char text[4096];
	const char *p, *q;
	long requests, verified;

	server_start(SERVE_OK);
	ck_assert_msg(client(text, sizeof(text),
			     "--json --retransmit --duration-ms 300 --clients 2 --keys 4") == 0,
		      "%s", text);
	/* It sent for the whole 300 ms, and reports what it sent, all verified. */
	p = strstr(text, "\"requests\": ");
	q = strstr(text, "\"verified\": ");
	ck_assert_msg(p && q && strstr(text, "\"ok\": true"), "%s", text);
	requests = strtol(p + 12, NULL, 10);
	verified = strtol(q + 12, NULL, 10);
	ck_assert_msg(requests > 0 && requests == verified, "%s", text);
	p = strstr(text, "\"elapsed_s\": ");
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(strtod(p + 13, NULL) >= 0.3, "%s", text);
	ck_assert_int_eq(client(text, sizeof(text), "--duration-ms 0"), 2);
	server_stop();
}
END_TEST

START_TEST(test_client_catches_wrong_answer)
{
	char text[4096];

	server_start(SERVE_WRONG);
	ck_assert_int_eq(client(text, sizeof(text), "--requests 1000 --clients 2"), 1);
	ck_assert_msg(strstr(text, "FAILED") && strstr(text, "expected"), "%s", text);
	server_stop();
}
END_TEST

START_TEST(test_client_retries_lost_datagrams)
{
	char text[4096];
	long retries = 0;
	const char *p;

	server_start(SERVE_DROP);
	ck_assert_msg(
	    client(text, sizeof(text), "--json --requests 700 --clients 3 --timeout-ms 20") == 0,
	    "%s", text);
	p = strstr(text, "\"retries\": ");
	ck_assert_ptr_nonnull(p);
	retries = strtol(p + 11, NULL, 10);
	/* One datagram in 7 is lost, so about 100 requests needed a retry. */
	ck_assert_msg(retries >= 50, "%s", text);
	server_stop();
}
END_TEST

START_TEST(test_client_catches_double_apply)
{
	char text[4096];

	server_start(SERVE_NO_DEDUP);
	ck_assert_int_eq(client(text, sizeof(text), "--retransmit --requests 400 --clients 2"), 1);
	ck_assert_msg(strstr(text, "FAILED"), "%s", text);
	server_stop();
}
END_TEST

START_TEST(test_client_gives_up)
{
	char text[4096];

	server_start(SERVE_SILENT);
	ck_assert_int_eq(client(text, sizeof(text), "--requests 5 --timeout-ms 10 --tries 3"), 1);
	ck_assert_msg(strstr(text, "no answer") && strstr(text, "after 3 sends"), "%s", text);
	server_stop();
}
END_TEST

START_TEST(test_client_usage)
{
	char text[4096];

	server_start(SERVE_OK);
	ck_assert_int_eq(client(text, sizeof(text), "--clients 0"), 2);
	ck_assert_int_eq(client(text, sizeof(text), "--bogus"), 2);
	ck_assert_int_eq(client(text, sizeof(text), "--prefix 'a b'"), 2);
	ck_assert_int_eq(client(text, sizeof(text), "127.0.0.1"), 2); /* two servers */
	server_stop();
}
END_TEST

Suite *kv_suite(void)
{
	Suite *s = suite_create("kv");
	TCase *tc = tcase_create("core");
	TCase *tcc = tcase_create("client");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ops);
	tcase_add_test(tc, test_newline_tolerated);
	tcase_add_test(tc, test_client_errors);
	tcase_add_test(tc, test_seq_errors);
	tcase_add_test(tc, test_op_key_value_errors);
	tcase_add_test(tc, test_overflow);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_dedup);
	tcase_add_test(tc, test_many_clients);
	tcase_add_test(tc, test_lru_eviction);
	tcase_add_test(tc, test_stats);
	tcase_add_test(tc, test_longest_reply);
	tcase_add_test(tc, test_binary_garbage);
	suite_add_tcase(s, tc);

	/* Loopback only; the client's own timeouts bound each run. */
	tcase_add_checked_fixture(tcc, setup, teardown);
	tcase_set_timeout(tcc, 60);
	tcase_add_test(tcc, test_client_verifies);
	tcase_add_test(tcc, test_client_retransmit);
	tcase_add_test(tcc, test_client_duration);
	tcase_add_test(tcc, test_client_catches_wrong_answer);
	tcase_add_test(tcc, test_client_retries_lost_datagrams);
	tcase_add_test(tcc, test_client_catches_double_apply);
	tcase_add_test(tcc, test_client_gives_up);
	tcase_add_test(tcc, test_client_usage);
	suite_add_tcase(s, tcc);
	return s;
}
