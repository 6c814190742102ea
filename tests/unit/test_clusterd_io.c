/* Unit tests for clusterd's I/O pieces: the twin-vmm control client (clusterd/vmm_client.c)
 * and the CLI socket server (clusterd/api.c) on a real libevent loop, and the state file
 * (clusterd/persist.c). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <event2/event.h>
#include "api.h"
#include "membership.h"
#include "persist.h"
#include "suites.h"
#include "vmm_client.h"

static struct event_base *base;
static char path[108];

static void setup(void)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	snprintf(path, sizeof(path), "/tmp/test-clusterd-io-%d.sock", (int)getpid());
	unlink(path);
}

static void teardown(void)
{
	event_base_free(base);
	unlink(path);
}

/* Runs the loop for about 5 ms. */
static void spin(void)
{
	struct timeval tv = {0, 5000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Runs the loop until *flag or about a second passes. */
static void loop_until(const bool *flag)
{
	for (int i = 0; i < 200 && !*flag; i++)
		spin();
}

static int listen_at(const char *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, p);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	return fd;
}

/* One line from fd, at most a second's wait (blocking peer of the loop). */
static void read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 0) <= 0) {
			spin(); /* let the loop write meanwhile */
			continue;
		}
		ck_assert_int_eq(read(fd, buf + n, 1), 1);
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
}

static void send_str(int fd, const char *s)
{
	ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

struct outcome {
	bool done;
	char ret[256], cls[64], error[256];
};

static void on_done(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct outcome *o = arg;
	char *s = ret ? json_dumps(ret, JSON_COMPACT) : NULL;

	snprintf(o->ret, sizeof(o->ret), "%s", s ? s : "");
	snprintf(o->cls, sizeof(o->cls), "%s", cls ? cls : "(none)");
	snprintf(o->error, sizeof(o->error), "%s", error ? error : "");
	free(s);
	o->done = true;
}

static bool closed_said;

static void on_closed(void *opaque)
{
	closed_said = true;
}

START_TEST(test_vmm_client_in_order)
{
	int l = listen_at(path), srv;
	struct vmm_client *c = vmm_client__connect(base, path, on_closed, NULL);
	struct outcome a = {0}, b = {0};
	char line[512];

	ck_assert_ptr_nonnull(c);
	srv = accept(l, NULL, NULL);
	/* Queued before the greeting: nothing is sent until it comes. */
	vmm_client__call(c, "query-status", NULL, 1000, on_done, &a);
	vmm_client__call(c, "fence", json_pack("{s:b}", "x", 1), 1000, on_done, &b);
	send_str(srv, "{\"twin\": {\"version\": \"t\", \"protocol\": 1}}\n");
	read_line(srv, line, sizeof(line));
	ck_assert_str_eq(line, "{\"execute\":\"query-status\"}");
	send_str(srv, "{\"return\": {\"status\": \"running\"}}\n");
	loop_until(&a.done);
	ck_assert_msg(a.done, "no reply");
	ck_assert_str_eq(a.error, "");
	ck_assert_str_eq(a.cls, "(none)");
	ck_assert_str_eq(a.ret, "{\"status\":\"running\"}");
	ck_assert(!b.done);
	read_line(srv, line, sizeof(line));
	ck_assert_str_eq(line, "{\"execute\":\"fence\",\"arguments\":{\"x\":true}}");
	/* The class comes through apart from the text: callers decide on it, not on words. */
	send_str(srv, "{\"error\": {\"class\": \"NotOwner\", \"desc\": \"no\"}}\n");
	loop_until(&b.done);
	ck_assert_str_eq(b.ret, "");
	ck_assert_str_eq(b.cls, "NotOwner");
	ck_assert_str_eq(b.error, "no");
	ck_assert(!closed_said);
	vmm_client__free(c);
	close(srv);
	close(l);
}
END_TEST

START_TEST(test_vmm_client_timeout_and_close)
{
	int l = listen_at(path), srv;
	struct vmm_client *c = vmm_client__connect(base, path, on_closed, NULL);
	struct outcome a = {0}, b = {0}, late = {0};

	closed_said = false;
	srv = accept(l, NULL, NULL);
	send_str(srv, "{\"twin\": {}}\n");
	vmm_client__call(c, "failover", NULL, 100, on_done, &a);
	vmm_client__call(c, "quit", NULL, 100, on_done, &b);
	loop_until(&a.done);
	ck_assert(strstr(a.error, "no reply in time"));
	ck_assert_str_eq(a.cls, "(none)"); /* the connection's failure, not twin-vmm's refusal */
	/* The timeout broke the connection: the queued request fails, closed() is said. */
	loop_until(&b.done);
	ck_assert(strstr(b.error, "no reply in time"));
	ck_assert(closed_said);
	vmm_client__call(c, "quit", NULL, 100, on_done, &late);
	ck_assert(late.done);
	ck_assert(strstr(late.error, "closed"));
	vmm_client__free(c);
	close(srv);
	close(l);
	/* Nobody listening: connect fails at once, with errno. */
	ck_assert_ptr_null(vmm_client__connect(base, path, NULL, NULL));
}
END_TEST

/*
 * A twin-vmm that does not accept: once its backlog is full, a unix connect would block the
 * event loop (and fencing with it).  It must fail at once with EAGAIN, for a later retry.
 */
START_TEST(test_vmm_client_full_backlog)
{
	int l = listen_at(path), fds[64], n = 0;

	for (; n < 64; n++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		strcpy(sa.sun_path, path);
		fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fds[n], (struct sockaddr *)&sa, sizeof(sa))) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
	}
	ck_assert_int_lt(n, 64);
	errno = 0;
	ck_assert_ptr_null(vmm_client__connect(base, path, NULL, NULL));
	ck_assert_int_eq(errno, EAGAIN);
	for (int i = 0; i <= n; i++)
		close(fds[i]);
	close(l);
}
END_TEST

/* The api's ops: requests are recorded; replies come when the test says. */
static struct cl_request last_req;
static int nr_requests;

static void on_request(void *opaque, const struct cl_request *req)
{
	last_req = *req;
	nr_requests++;
}

static void on_extend(void *opaque, enum cl_cmd cmd, json_t *ret)
{
	json_object_set_new(ret, "extended", json_true());
}

static const struct api_ops api_ops = {.request = on_request, .extend = on_extend};

static int connect_to(const char *p)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sa.sun_path, p);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

START_TEST(test_api_later_reply)
{
	struct api *a;
	char err[256] = "", line[512];
	struct stat st;
	int fd, before;

	nr_requests = 0;
	ck_assert_int_eq(api__start(base, path, "/nonexistent", &api_ops, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	fd = connect_to(path);
	read_line(fd, line, sizeof(line));
	ck_assert(strstr(line, "\"service\":\"clusterd\""));
	/* Two requests at once: the second waits until the first is answered. */
	send_str(fd, "{\"execute\":\"cluster-status\",\"id\":\"a\"}\n{\"execute\":\"vm-list\"}\n");
	for (int i = 0; i < 200 && !nr_requests; i++)
		spin();
	ck_assert_int_eq(nr_requests, 1);
	ck_assert_int_eq(last_req.cmd, CL_CMD_CLUSTER_STATUS);
	before = nr_requests;
	api__reply(a, last_req.id + 100, true, "", "{}"); /* no such request: dropped */
	api__reply(a, last_req.id, true, "", "{\"quorate\":true}");
	read_line(fd, line, sizeof(line));
	ck_assert_str_eq(line, "{\"return\":{\"quorate\":true,\"extended\":true},\"id\":\"a\"}");
	ck_assert_int_eq(nr_requests, before + 1);
	ck_assert_int_eq(last_req.cmd, CL_CMD_VM_LIST);
	api__reply(a, last_req.id, false, "NoQuorum", "not quorate");
	read_line(fd, line, sizeof(line));
	ck_assert_str_eq(line, "{\"error\":{\"class\":\"NoQuorum\",\"desc\":\"not quorate\"}}");
	/* A bad request is answered at once and the connection goes on. */
	send_str(fd, "{\"execute\":\"frob\"}\n");
	read_line(fd, line, sizeof(line));
	ck_assert(strstr(line, "\"CommandNotFound\""));
	close(fd);
	api__stop(a);
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/*
 * While a request is pending the server reads no lines; a client that keeps writing must
 * meet a full socket, not grow clusterd's memory: what it can push stays near one line's
 * bound plus the socket's buffers.  The reply then comes, and the overlong rest is refused.
 */
START_TEST(test_api_bounded_input_while_pending)
{
	static char chunk[64 * 1024];
	struct api *a;
	char err[256] = "", line[512];
	size_t total = 0;
	int fd, full = 0;

	nr_requests = 0;
	memset(chunk, 'x', sizeof(chunk));
	ck_assert_int_eq(api__start(base, path, "/nonexistent", &api_ops, &a, err, sizeof(err)), 0);
	fd = connect_to(path);
	read_line(fd, line, sizeof(line));
	send_str(fd, "{\"execute\":\"cluster-status\"}\n");
	for (int i = 0; i < 200 && !nr_requests; i++)
		spin();
	ck_assert_int_eq(nr_requests, 1);
	/* Flood until the socket stays full for 20 turns of the loop (or far past any bound). */
	while (full < 20 && total < (16u << 20)) {
		ssize_t n = send(fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n > 0) {
			total += n;
			full = 0;
		} else {
			ck_assert_int_eq(errno, EAGAIN);
			full++;
			spin();
		}
	}
	ck_assert_msg(total < (4u << 20), "the server took %zu bytes while a request was pending",
		      total);
	api__reply(a, last_req.id, true, "", "{}");
	read_line(fd, line, sizeof(line));
	ck_assert_str_eq(line, "{\"return\":{\"extended\":true}}");
	read_line(fd, line, sizeof(line));
	ck_assert(strstr(line, "request line too long"));
	close(fd);
	api__stop(a);
}
END_TEST

START_TEST(test_api_refuses_non_socket)
{
	struct api *a;
	char err[256] = "";
	FILE *f = fopen(path, "w");

	fclose(f);
	ck_assert_int_eq(api__start(base, path, "/x", &api_ops, &a, err, sizeof(err)), -EEXIST);
	ck_assert(strstr(err, "is not a socket"));
}
END_TEST

START_TEST(test_persist)
{
	char file[128], tmp[140], *text = NULL;
	size_t len = 0;

	snprintf(file, sizeof(file), "/tmp/test-clusterd-persist-%d.json", (int)getpid());
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	unlink(file);
	ck_assert_int_eq(persist__read(file, &text, &len), -ENOENT);
	ck_assert_int_eq(persist__write(file, "{\"version\":1}", 13), 0);
	ck_assert_int_eq(persist__write(file, "{\"version\":22}", 14), 0);
	ck_assert_int_ne(access(tmp, F_OK), 0); /* renamed away, never left behind */
	ck_assert_int_eq(persist__read(file, &text, &len), 0);
	ck_assert_uint_eq(len, 14);
	ck_assert_str_eq(text, "{\"version\":22}");
	free(text);
	unlink(file);
	ck_assert_int_eq(persist__write("/nonexistent-dir/cluster.json", "{}", 2), -ENOENT);
	/* A failed write leaves no older state behind to be taken for the last one. */
	ck_assert_int_eq(persist__write(file, "{\"version\":23}", 14), 0);
	ck_assert_int_eq(mkdir(tmp, 0700), 0); /* the temporary file cannot be made */
	ck_assert_int_eq(persist__write(file, "{\"version\":24}", 14), -EISDIR);
	ck_assert_int_eq(persist__read(file, &text, &len), -ENOENT);
	rmdir(tmp);
}
END_TEST

/*
 * A Corosync membership over CL_MAX_HOSTS: not cut short (a real member would be "gone"), but a
 * quorum loss for the model, which then hears nothing until a membership fits again: first
 * that confchg, then votequorum's last word.
 */
START_TEST(test_membership_overflow_is_quorum_loss)
{
	struct membership m = {0};
	struct cl_input in[2], q = {.type = CL_IN_QUORUM};
	uint32_t ids[CL_MAX_HOSTS + 4];

	for (size_t i = 0; i < CL_MAX_HOSTS + 4; i++)
		ids[i] = (uint32_t)i + 1;
	q.quorum.quorate = true;
	q.quorum.votes = 3;
	q.quorum.expected_votes = 3;
	membership__quorum(&m, &q);
	ck_assert(q.quorum.quorate);
	ck_assert_int_eq(membership__confchg(&m, ids, 3, NULL, 0, ids, 3, 7, in), 1);
	ck_assert_int_eq(in[0].type, CL_IN_CONFCHG);
	ck_assert_int_eq(in[0].confchg.nmembers, 3);
	ck_assert_uint_eq(in[0].confchg.ring_seq, 7);
	ck_assert(membership__deliver(&m));
	/* One too many: the model hears a quorum loss, and nothing else. */
	ck_assert_int_eq(membership__confchg(&m, ids, CL_MAX_HOSTS + 1, NULL, 0, ids + 3,
					     CL_MAX_HOSTS - 2, 8, in),
			 1);
	ck_assert_int_eq(in[0].type, CL_IN_QUORUM);
	ck_assert(!in[0].quorum.quorate);
	ck_assert_uint_eq(in[0].quorum.expected_votes, 3);
	ck_assert(!membership__deliver(&m));
	q.quorum.quorate = true;
	q.quorum.votes = 17;
	membership__quorum(&m, &q);
	ck_assert(!q.quorum.quorate); /* masked while it lasts */
	ck_assert_int_eq(membership__confchg(&m, ids, CL_MAX_HOSTS + 4, NULL, 0, ids, 3, 9, in), 0);
	/* It fits again: the confchg (a long left list is only cut), then the real quorum. */
	ck_assert_int_eq(membership__confchg(&m, ids, 5, ids, CL_MAX_HOSTS + 3, NULL, 0, 10, in),
			 2);
	ck_assert_int_eq(in[0].type, CL_IN_CONFCHG);
	ck_assert_int_eq(in[0].confchg.nmembers, 5);
	ck_assert_int_eq(in[0].confchg.nleft, CL_MAX_HOSTS);
	ck_assert_int_eq(in[1].type, CL_IN_QUORUM);
	ck_assert(in[1].quorum.quorate);
	ck_assert_uint_eq(in[1].quorum.votes, 17);
	ck_assert(membership__deliver(&m));
}
END_TEST

Suite *clusterd_io_suite(void)
{
	Suite *s = suite_create("clusterd_io");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_vmm_client_in_order);
	tcase_add_test(tc, test_vmm_client_timeout_and_close);
	tcase_add_test(tc, test_vmm_client_full_backlog);
	tcase_add_test(tc, test_api_later_reply);
	tcase_add_test(tc, test_api_bounded_input_while_pending);
	tcase_add_test(tc, test_api_refuses_non_socket);
	tcase_add_test(tc, test_persist);
	tcase_add_test(tc, test_membership_overflow_is_quorum_loss);
	suite_add_tcase(s, tc);
	return s;
}
