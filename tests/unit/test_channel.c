/* Check suite for the migration channel over loopback: TLS 1.3 with certificates or a PSK,
 * plaintext, one reader and one writer thread at once, refused peers with their reasons,
 * and bad options and addresses. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "suites.h"
#include "channel.h"
#include "cert_fixture.h"

#define ROUND_TRIP_BYTES (4u << 20)
/* Each way at once: many times what the socket buffers and TLS's read buffer hold. */
#define BOTH_WAYS_BYTES (8u << 20)
/* The raw peer asks for a TLS 1.3 KeyUpdate each time it has sent this much. */
#define KEY_UPDATE_BYTES (512u << 10)
#define PSK_KEY_A	 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PSK_KEY_B	 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static char dir[] = "/tmp/twin-channel-XXXXXX";
/* The runner's SIGPIPE disposition, given back after the suite (a TLS write to a peer that
 * left raises it: channel.h). */
static void (*old_sigpipe)(int);

/* dir/file; a pool, so one expression can hold several. */
static const char *pki(const char *file)
{
	static char pool[16][600];
	static unsigned int next;
	char *p = pool[next++ % 16];

	snprintf(p, sizeof(pool[0]), "%s/%s", dir, file);
	return p;
}

static struct channel_security certs(const char *name, const char *ca)
{
	char cert[64], key[64], cafile[64];

	snprintf(cert, sizeof(cert), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	snprintf(cafile, sizeof(cafile), "%s.pem", ca);
	return (struct channel_security){.cert = pki(cert), .key = pki(key), .ca = pki(cafile)};
}

static const char *write_file(const char *name, mode_t mode, const char *text)
{
	const char *path = pki(name);
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static struct channel_security psk(const char *name, const char *lines)
{
	return (struct channel_security){.psk_file = write_file(name, 0600, lines)};
}

static void make_pki(void)
{
	old_sigpipe = signal(SIGPIPE, SIG_IGN);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(cert_fixture__make(dir, NULL), "cannot make the test PKI in %s", dir);
}

static void remove_pki(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	signal(SIGPIPE, old_sigpipe);
}

/* ---- a byte pattern both ends compute from the stream offset ---- */

static uint8_t pattern(uint64_t off, unsigned int seed)
{
	uint64_t x = (off >> 3) * 0x9E3779B97F4A7C15ull + seed;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	return (uint8_t)(x >> (8 * (off & 7)));
}

/* Sends len bytes of pattern seed in writes of varied sizes. */
static int send_pattern(struct channel *ch, unsigned int seed, size_t len)
{
	static const size_t sizes[] = {1, 8, 4093, 65536, 300000};
	uint8_t *buf = malloc(300000);
	size_t off = 0;
	int rc = 0;

	for (unsigned int i = 0; buf && off < len && !rc; i++) {
		size_t n = sizes[i % 5] < len - off ? sizes[i % 5] : len - off;

		for (size_t j = 0; j < n; j++)
			buf[j] = pattern(off + j, seed);
		rc = channel__write(ch, buf, n);
		off += n;
	}
	free(buf);
	return buf ? rc : -ENOMEM;
}

/* Reads len bytes and checks them against pattern seed: 0, -EBADMSG on a wrong byte. */
static int recv_pattern(struct channel *ch, unsigned int seed, size_t len)
{
	uint8_t buf[100000];
	size_t off = 0;

	while (off < len) {
		ssize_t n =
		    channel__read(ch, buf, sizeof(buf) < len - off ? sizeof(buf) : len - off);

		if (n <= 0)
			return n ? (int)n : -EPIPE;
		for (ssize_t j = 0; j < n; j++)
			if (buf[j] != pattern(off + (size_t)j, seed))
				return -EBADMSG;
		off += (size_t)n;
	}
	return 0;
}

/* ---- one reader and one writer thread on a channel ---- */

struct pattern_writer {
	struct channel *ch;
	unsigned int seed;
	size_t len;
	int rc;
	pthread_t thread;
};

static void *write_pattern(void *arg)
{
	struct pattern_writer *w = arg;

	w->rc = send_pattern(w->ch, w->seed, w->len);
	return NULL;
}

/*
 * Sends len bytes of pattern out from a second thread while this one takes and checks len
 * of pattern in: 0, or the first error.  With both ends doing it, neither direction can
 * finish unless each end reads while its writer is blocked on a full socket.
 */
static int both_ways(struct channel *ch, unsigned int out, unsigned int in, size_t len)
{
	struct pattern_writer w = {.ch = ch, .seed = out, .len = len};
	int rc;

	if (pthread_create(&w.thread, NULL, write_pattern, &w))
		return -EAGAIN;
	rc = recv_pattern(ch, in, len);
	if (rc)
		channel__abort(ch); /* else the writer may wait for a reader that is gone */
	pthread_join(w.thread, NULL);
	return rc ? rc : w.rc;
}

/* ---- the listening side, in a thread ---- */

enum serve_how {
	SERVE_ECHO,	 /* take echo bytes of pattern 1, then send echo of pattern 2 */
	SERVE_BOTH_WAYS, /* the same two at once, on two threads (both_ways) */
	SERVE_HOLD,	 /* read nothing until hold[1] is closed */
};

struct server {
	int lfd, port;
	struct channel_security sec;
	enum serve_how how;
	size_t echo;
	int hold[2];
	int rc;
	ssize_t after; /* the read after the exchange: 0 is the client's orderly close */
	char err[CHANNEL_ERR_MAX];
	char desc[96];
	pthread_t thread;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	struct channel *ch;
	uint8_t b;

	s->rc = channel__accept(s->lfd, &s->sec, &ch, s->err, sizeof(s->err));
	if (s->rc < 0)
		return NULL;
	snprintf(s->desc, sizeof(s->desc), "%s", channel__describe(ch));
	if (s->how == SERVE_HOLD) {
		ck_assert_int_eq(read(s->hold[0], &b, 1), 0);
	} else if (s->echo) {
		if (s->how == SERVE_BOTH_WAYS) {
			s->rc = both_ways(ch, 2, 1, s->echo);
		} else {
			s->rc = recv_pattern(ch, 1, s->echo);
			if (!s->rc)
				s->rc = send_pattern(ch, 2, s->echo);
		}
		s->after = channel__read(ch, &b, 1);
	}
	snprintf(s->err, sizeof(s->err), "%s", channel__error(ch));
	channel__close(ch);
	return NULL;
}

static void server_start_how(struct server *s, const char *listen_at, struct channel_security sec,
			     enum serve_how how, size_t echo)
{
	char err[CHANNEL_ERR_MAX];

	*s = (struct server){.sec = sec, .how = how, .echo = echo, .hold = {-1, -1}, .after = -1};
	if (how == SERVE_HOLD)
		ck_assert_int_eq(pipe(s->hold), 0);
	ck_assert_msg(channel__listen(listen_at, &s->lfd, err, sizeof(err)) == 0, "%s", err);
	s->port = channel__local_port(s->lfd);
	ck_assert_int_gt(s->port, 0);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_start(struct server *s, const char *listen_at, struct channel_security sec,
			 size_t echo)
{
	server_start_how(s, listen_at, sec, SERVE_ECHO, echo);
}

static void server_join(struct server *s)
{
	if (s->hold[1] >= 0)
		close(s->hold[1]);
	ck_assert_int_eq(pthread_join(s->thread, NULL), 0);
	if (s->hold[0] >= 0)
		close(s->hold[0]);
	close(s->lfd);
}

static int dial(const char *host, int port, struct channel_security sec, struct channel **ch,
		char *err, size_t errlen)
{
	char hp[128];

	snprintf(hp, sizeof(hp), "%s:%d", host, port);
	return channel__connect(hp, &sec, ch, err, errlen);
}

/* A full exchange: ROUND_TRIP_BYTES each way, then an orderly close seen by the server. */
static void round_trip(const char *listen_at, const char *host, struct channel_security server,
		       struct channel_security client, const char *want_desc)
{
	char err[CHANNEL_ERR_MAX];
	struct channel *ch;
	struct server s;

	server_start(&s, listen_at, server, ROUND_TRIP_BYTES);
	ck_assert_msg(dial(host, s.port, client, &ch, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(strstr(channel__describe(ch), want_desc), "client: %s",
		      channel__describe(ch));
	ck_assert_int_eq(send_pattern(ch, 1, ROUND_TRIP_BYTES), 0);
	ck_assert_int_eq(recv_pattern(ch, 2, ROUND_TRIP_BYTES), 0);
	channel__close(ch);
	server_join(&s);
	ck_assert_msg(s.rc == 0, "server: %d %s", s.rc, s.err);
	ck_assert_msg(strstr(s.desc, want_desc), "server: %s", s.desc);
	ck_assert_int_eq(s.after, 0);
}

/* A handshake both sides must refuse, each with its reason. */
static void refused(struct channel_security server, struct channel_security client,
		    const char *server_says, const char *client_says)
{
	char err[CHANNEL_ERR_MAX] = "";
	struct channel *ch = NULL;
	struct server s;

	server_start(&s, "127.0.0.1:0", server, 0);
	ck_assert_int_eq(dial("127.0.0.1", s.port, client, &ch, err, sizeof(err)), -EPROTO);
	ck_assert_ptr_null(ch);
	server_join(&s);
	ck_assert_msg(s.rc == -EPROTO && strstr(s.err, server_says), "server said: %s", s.err);
	ck_assert_msg(strstr(err, client_says), "client said: %s / server said: %s", err, s.err);
}

/* ---- certificates ---- */

/* Mutual authentication, a few MB each way, and TLS 1.3 negotiated on both ends. */
START_TEST(test_cert_round_trip)
{
	round_trip("127.0.0.1:0", "127.0.0.1", certs("server", "ca"), certs("client", "ca"),
		   "TLSv1.3");
}
END_TEST

START_TEST(test_cert_ipv6_and_dns_name)
{
	round_trip("[::1]:0", "[::1]", certs("server", "ca"), certs("client", "ca"), "TLSv1.3");
	round_trip("127.0.0.1:0", "localhost", certs("server", "ca"), certs("client", "ca"),
		   "certificates");
}
END_TEST

START_TEST(test_client_cert_from_other_ca_refused)
{
	refused(certs("server", "ca"), certs("stranger", "ca"),
		"certificate is refused: unable to get local issuer certificate",
		"the peer refused our certificate (tlsv1 alert unknown ca)");
}
END_TEST

START_TEST(test_server_cert_from_other_ca_refused)
{
	refused(certs("server", "ca"), certs("client", "other-ca"), "tlsv1 alert unknown ca",
		"signed by our --tls-ca)");
}
END_TEST

START_TEST(test_server_cert_not_naming_host_refused)
{
	refused(certs("misnamed", "ca"), certs("client", "ca"),
		"the peer refused our certificate (sslv3 alert bad certificate)",
		"IP address mismatch (the server's certificate must name the host dialled");
}
END_TEST

/*
 * A TLS client that channel__connect would not be: with no certificate, or an expired one
 * (channel__check_security refuses our own).  Returns the reason the server's alert gave.
 */
static const char *raw_client(int port, const char *cert, const char *key)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	const char *reason;
	SSL *ssl;
	int fd, r;
	uint8_t b;

	sin.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_ptr_nonnull(ctx);
	if (cert) {
		ck_assert_int_eq(SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM), 1);
		ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
	}
	ssl = SSL_new(ctx);
	ck_assert_int_eq(SSL_set_fd(ssl, fd), 1);
	ERR_clear_error();
	r = SSL_connect(ssl);
	/* TLS 1.3: the refusal comes after the client's Finished, at its first read. */
	if (r == 1)
		r = SSL_read(ssl, &b, 1);
	ck_assert_int_le(r, 0);
	reason = ERR_reason_error_string(ERR_peek_last_error());
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return reason ? reason : "";
}

START_TEST(test_client_without_cert_refused)
{
	struct server s;

	server_start(&s, "127.0.0.1:0", certs("server", "ca"), 0);
	ck_assert_str_eq(raw_client(s.port, NULL, NULL), "tlsv13 alert certificate required");
	server_join(&s);
	ck_assert_int_eq(s.rc, -EPROTO);
	ck_assert_msg(strstr(s.err, "peer did not return a certificate"), "%s", s.err);
}
END_TEST

START_TEST(test_expired_client_cert_refused)
{
	struct server s;

	server_start(&s, "127.0.0.1:0", certs("server", "ca"), 0);
	ck_assert_str_eq(raw_client(s.port, pki("expired.pem"), pki("expired.key")),
			 "sslv3 alert certificate expired");
	server_join(&s);
	ck_assert_int_eq(s.rc, -EPROTO);
	ck_assert_msg(strstr(s.err, "the peer's certificate is refused: certificate has expired"),
		      "%s", s.err);
}
END_TEST

struct blocked_read {
	struct channel *ch;
	ssize_t rc;
};

static void *read_one(void *arg)
{
	struct blocked_read *b = arg;
	uint8_t byte;

	b->rc = channel__read(b->ch, &byte, 1);
	return NULL;
}

/*
 * channel__abort from another thread: our blocked read ends -ECANCELED, and the server,
 * mid-stream, sees a connection cut without TLS's close, not an orderly end.
 */
START_TEST(test_abort_cuts_both_sides)
{
	struct blocked_read b = {.rc = 1};
	char err[CHANNEL_ERR_MAX];
	pthread_t reader;
	struct server s;

	server_start(&s, "127.0.0.1:0", certs("server", "ca"), ROUND_TRIP_BYTES);
	ck_assert_msg(dial("127.0.0.1", s.port, certs("client", "ca"), &b.ch, err, sizeof(err)) ==
			  0,
		      "%s", err);
	ck_assert_int_eq(send_pattern(b.ch, 1, ROUND_TRIP_BYTES / 2), 0);
	ck_assert_int_eq(pthread_create(&reader, NULL, read_one, &b), 0);
	channel__abort(b.ch);
	ck_assert_int_eq(pthread_join(reader, NULL), 0);
	ck_assert_int_eq(b.rc, -ECANCELED);
	ck_assert_str_eq(channel__error(b.ch), "read: the channel was aborted on this side");
	ck_assert_int_eq(channel__write(b.ch, "x", 1), -ECANCELED);
	channel__close(b.ch);
	server_join(&s);
	ck_assert_int_eq(s.rc, -ECONNRESET);
	ck_assert_str_eq(s.err, "read: the connection was cut without TLS's close (peer died?)");
}
END_TEST

/* ---- PSK ---- */

START_TEST(test_psk_round_trip)
{
	round_trip("127.0.0.1:0", "127.0.0.1",
		   psk("server.psk", "# the cluster's keys\nnode-b:" PSK_KEY_B "\n\n"
				     "node-a:" PSK_KEY_A "\n"),
		   psk("client.psk", "  node-a:" PSK_KEY_A "  \n"),
		   "TLSv1.3 TLS_AES_128_GCM_SHA256 (pre-shared key)");
}
END_TEST

START_TEST(test_psk_wrong_key_refused)
{
	refused(psk("server.psk", "node-a:" PSK_KEY_A "\n"),
		psk("client.psk", "node-a:" PSK_KEY_B "\n"), "the PSK keys differ",
		"the PSK keys differ");
}
END_TEST

START_TEST(test_psk_unknown_identity_refused)
{
	refused(psk("server.psk", "node-a:" PSK_KEY_A "\n"),
		psk("client.psk", "node-z:" PSK_KEY_A "\n"),
		"the client's PSK identity 'node-z' is not in our --tls-psk file",
		"the server has no key for our PSK identity");
}
END_TEST

/* Every malformed file refused before any connection, naming the file and line. */
START_TEST(test_psk_file_errors)
{
	static const struct {
		const char *text;
		mode_t mode;
		int rc;
		const char *says;
	} cases[] = {
	    {"node-a:" PSK_KEY_A "\n", 0644, -EPERM, "others may read these keys: chmod 600"},
	    {"# nothing\n\n", 0600, -EINVAL, "no identity:hexkey line"},
	    {"node-a " PSK_KEY_A "\n", 0600, -EINVAL, ".psk:1: no ':'"},
	    {"#\nnode-a:00112233\n", 0600, -EINVAL, ".psk:2: the key must be 16 to 64 bytes"},
	    {"node-a:" PSK_KEY_A "0\n", 0600, -EINVAL, "an even number of hex digits"},
	    {"node-a:0011223344556677889900112233445g\n", 0600, -EINVAL, "not a hex digit"},
	    {":" PSK_KEY_A "\n", 0600, -EINVAL, "the identity must be 1 to 128 characters"},
	};
	char err[CHANNEL_ERR_MAX];
	struct channel_security s;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = (struct channel_security){
		    .psk_file = write_file("bad.psk", cases[i].mode, cases[i].text)};
		err[0] = '\0';
		ck_assert_int_eq(channel__check_security(&s, err, sizeof(err)), cases[i].rc);
		ck_assert_msg(strstr(err, cases[i].says) && strstr(err, "--tls-psk"),
			      "case %zu: %s", i, err);
	}
	s = (struct channel_security){.psk_file = dir}; /* mkdtemp made it 0700 */
	ck_assert_int_eq(channel__check_security(&s, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "not a regular file of at most 65536 bytes"), "%s", err);
	s = (struct channel_security){.psk_file = pki("absent.psk")};
	ck_assert_int_eq(channel__check_security(&s, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "absent.psk: No such file"), "%s", err);
}
END_TEST

/* ---- plaintext ---- */

START_TEST(test_insecure_round_trip)
{
	struct channel_security plain = {.insecure = true};

	round_trip("127.0.0.1:0", "127.0.0.1", plain, plain, "plaintext TCP");
}
END_TEST

/* A plaintext client against a TLS server: the server says what it saw. */
START_TEST(test_insecure_client_refused_by_tls_server)
{
	struct channel_security plain = {.insecure = true};
	char err[CHANNEL_ERR_MAX], junk[512];
	struct channel *ch;
	struct server s;

	memset(junk, 'T', sizeof(junk));
	server_start(&s, "127.0.0.1:0", certs("server", "ca"), 0);
	ck_assert_msg(dial("127.0.0.1", s.port, plain, &ch, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(channel__write(ch, junk, sizeof(junk)), 0);
	server_join(&s);
	channel__close(ch);
	ck_assert_int_eq(s.rc, -EPROTO);
	ck_assert_msg(strstr(s.err, "the peer does not speak TLS (is it --insecure?)"), "%s",
		      s.err);
}
END_TEST

/* ---- one reader and one writer thread at once ---- */

/* The three modes, for the loop tests: 0 certificates, 1 PSK, 2 plaintext. */
static void mode_pair(int i, struct channel_security *server, struct channel_security *client)
{
	if (i == 0) {
		*server = certs("server", "ca");
		*client = certs("client", "ca");
	} else if (i == 1) {
		*server = psk("server.psk", "node-a:" PSK_KEY_A "\n");
		*client = psk("client.psk", "node-a:" PSK_KEY_A "\n");
	} else {
		*server = *client = (struct channel_security){.insecure = true};
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Both ends stream BOTH_WAYS_BYTES to each other at once, each on two threads, bytes checked. */
START_TEST(test_both_ways_at_once)
{
	struct channel_security server, client;
	char err[CHANNEL_ERR_MAX];
	struct channel *ch;
	struct server s;

	mode_pair(_i, &server, &client);
	server_start_how(&s, "127.0.0.1:0", server, SERVE_BOTH_WAYS, BOTH_WAYS_BYTES);
	ck_assert_msg(dial("127.0.0.1", s.port, client, &ch, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(both_ways(ch, 1, 2, BOTH_WAYS_BYTES) == 0, "client: %s", channel__error(ch));
	channel__close(ch);
	server_join(&s);
	ck_assert_msg(s.rc == 0, "server: %d %s", s.rc, s.err);
	ck_assert_int_eq(s.after, 0);
}
END_TEST

/* A writer that counts the channel__write calls it entered and left: one is in a call. */
struct counting_writer {
	struct channel *ch;
	size_t len; /* at most this many bytes, then rc 0 */
	_Atomic unsigned long entered, left;
	_Atomic int rc;
	pthread_t thread;
};

static void *write_counting(void *arg)
{
	static const uint8_t buf[65536];
	struct counting_writer *w = arg;

	for (size_t off = 0; off < w->len && !w->rc; off += sizeof(buf)) {
		atomic_fetch_add(&w->entered, 1);
		w->rc = channel__write(w->ch, buf, sizeof(buf));
		atomic_fetch_add(&w->left, 1);
	}
	return NULL;
}

/* This process's TCP socket connected to 127.0.0.1:port (the client's end), or -1. */
static int socket_to_port(int port)
{
	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_in sin;
		socklen_t len = sizeof(sin);

		if (getpeername(fd, (struct sockaddr *)&sin, &len) == 0 &&
		    sin.sin_family == AF_INET && ntohs(sin.sin_port) == port)
			return fd;
	}
	return -1;
}

/*
 * channel__abort wakes both threads at once: a writer blocked on a full socket (the server
 * reads nothing) and a reader waiting for bytes that never come.
 */
START_TEST(test_abort_wakes_reader_and_writer)
{
	struct counting_writer w = {.len = 256u << 20};
	struct channel_security server, client;
	struct blocked_read b = {.rc = 1};
	const struct timespec tick = {.tv_nsec = 1000 * 1000};
	char err[CHANNEL_ERR_MAX];
	pthread_t reader;
	struct server s;
	double t0;
	int fd;

	mode_pair(_i, &server, &client);
	server_start_how(&s, "127.0.0.1:0", server, SERVE_HOLD, 0);
	ck_assert_msg(dial("127.0.0.1", s.port, client, &b.ch, err, sizeof(err)) == 0, "%s", err);
	fd = socket_to_port(s.port);
	ck_assert_msg(fd >= 0, "no socket connected to port %d", s.port);
	w.ch = b.ch;
	ck_assert_int_eq(pthread_create(&w.thread, NULL, write_counting, &w), 0);
	ck_assert_int_eq(pthread_create(&reader, NULL, read_one, &b), 0);
	/*
	 * Blocked: the writer is inside channel__write and the socket takes no more (not
	 * POLLOUT).  The server reads nothing, so neither changes until the abort.  Bounded.
	 */
	for (t0 = now_s();; nanosleep(&tick, NULL)) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		unsigned long in = atomic_load(&w.entered), out = atomic_load(&w.left);

		/* Both counts unchanged around the poll: in the same call all along. */
		if (in == out + 1 && poll(&pfd, 1, 0) == 0 && atomic_load(&w.entered) == in &&
		    atomic_load(&w.left) == out)
			break;
		ck_assert_msg(w.rc == 0, "the writer failed before the abort: %d", w.rc);
		ck_assert_msg(now_s() - t0 < 10.0,
			      "the writer did not block on the full socket in 10 s (%lu calls)",
			      atomic_load(&w.left));
	}
	t0 = now_s();
	channel__abort(b.ch);
	ck_assert_int_eq(pthread_join(w.thread, NULL), 0);
	ck_assert_int_eq(pthread_join(reader, NULL), 0);
	ck_assert_msg(now_s() - t0 < 1.0, "woken after %.3f s", now_s() - t0);
	ck_assert_int_eq(w.rc, -ECANCELED);
	ck_assert_int_eq(b.rc, -ECANCELED);
	ck_assert_msg(strstr(channel__error(b.ch), "the channel was aborted on this side"), "%s",
		      channel__error(b.ch));
	channel__close(b.ch);
	server_join(&s);
	ck_assert_int_eq(s.rc, 0);
}
END_TEST

/* What a failed call of the raw peer waits for; any other outcome fails the test. */
static short raw_want(SSL *ssl, int ret)
{
	int e = SSL_get_error(ssl, ret);
	const char *why = ERR_reason_error_string(ERR_peek_last_error());

	ck_assert_msg(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE,
		      "raw peer: SSL error %d (%s)", e, why ? why : "no reason");
	return e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
}

/*
 * A TLS 1.3 peer on one non-blocking thread: sends len bytes of pattern 1 while it takes the
 * server's accepted byte (0x01) then len of pattern 2, and asks for a KeyUpdate each
 * KEY_UPDATE_BYTES it sends, so the server's reader owes one back (a write inside SSL_read)
 * while its writer thread streams.  Returns how many it asked for.
 */
static unsigned int key_updating_client(int port, size_t len)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	static uint8_t out[16384], in[16384];
	size_t sent = 0, got = 0, pending = 0, n;
	unsigned int updates = 0;
	SSL *ssl;
	int fd;

	sin.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(SSL_CTX_use_certificate_file(ctx, pki("client.pem"), SSL_FILETYPE_PEM), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(ctx, pki("client.key"), SSL_FILETYPE_PEM), 1);
	ssl = SSL_new(ctx);
	ck_assert_int_eq(SSL_set_fd(ssl, fd), 1);
	ck_assert_int_eq(SSL_connect(ssl), 1);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	while (sent < len || got < len + 1) {
		struct pollfd pfd = {.fd = fd};
		bool moved = false, bad = false;
		int r;

		if (sent < len) {
			if (!pending) { /* a retried write must repeat the same bytes */
				pending = sizeof(out) < len - sent ? sizeof(out) : len - sent;
				for (size_t j = 0; j < pending; j++)
					out[j] = pattern(sent + j, 1);
			}
			r = SSL_write_ex(ssl, out, pending, &n);
			if (r == 1) {
				sent += pending;
				pending = 0;
				moved = true;
				/* Not after the last write: nothing would send it. */
				if (sent % KEY_UPDATE_BYTES == 0 && sent < len) {
					ck_assert_int_eq(
					    SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED), 1);
					updates++;
				}
			} else {
				pfd.events |= raw_want(ssl, r);
			}
		}
		if (got < len + 1) {
			r = SSL_read_ex(
			    ssl, in, sizeof(in) < len + 1 - got ? sizeof(in) : len + 1 - got, &n);
			if (r == 1) {
				for (size_t j = 0; j < n; j++, got++)
					bad |= in[j] != (got ? pattern(got - 1, 2) : 0x01);
				ck_assert_msg(!bad, "raw peer: a wrong byte before offset %zu",
					      got);
				moved = true;
			} else {
				pfd.events |= raw_want(ssl, r);
			}
		}
		if (!moved)
			ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	}
	ck_assert_int_eq(fcntl(fd, F_SETFL, 0), 0);
	ck_assert_int_ge(SSL_shutdown(ssl), 0); /* the server's last read returns 0 */
	/* To the server's close_notify: closing with its last KeyUpdate unread would send a
	 * reset, which can overtake our last bytes. */
	while (SSL_read_ex(ssl, in, sizeof(in), &n))
		;
	ck_assert_int_eq(SSL_get_error(ssl, 0), SSL_ERROR_ZERO_RETURN);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return updates;
}

/* The peer's KeyUpdates, answered by our reader while our writer streams, break nothing. */
START_TEST(test_peer_key_updates_both_ways)
{
	struct server s;

	server_start_how(&s, "127.0.0.1:0", certs("server", "ca"), SERVE_BOTH_WAYS,
			 BOTH_WAYS_BYTES);
	ck_assert_uint_eq(key_updating_client(s.port, BOTH_WAYS_BYTES),
			  BOTH_WAYS_BYTES / KEY_UPDATE_BYTES - 1);
	server_join(&s);
	ck_assert_msg(s.rc == 0, "server: %d %s", s.rc, s.err);
	ck_assert_int_eq(s.after, 0);
}
END_TEST

/* ---- options and addresses ---- */

START_TEST(test_security_options_refused)
{
	struct channel_security none = {0}, two = {.psk_file = "x", .insecure = true};
	struct channel_security partial = {.cert = pki("client.pem"), .key = pki("client.key")};
	struct channel *ch = NULL;
	char err[CHANNEL_ERR_MAX];

	ck_assert_int_eq(channel__check_security(&none, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "no channel security given: give --tls-cert/--tls-key/--tls-ca, "
			      "--tls-psk FILE, or --insecure");
	ck_assert_int_eq(channel__check_security(NULL, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(channel__check_security(&two, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "only one channel security mode"), "%s", err);
	ck_assert_int_eq(channel__check_security(&partial, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "(missing --tls-ca)"), "%s", err);
	/* Refused before dialling: nothing listens on port 1. */
	ck_assert_int_eq(channel__connect("127.0.0.1:1", &none, &ch, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(ch);
	ck_assert_int_eq(channel__accept(-1, &none, &ch, err, sizeof(err)), -EINVAL);
}
END_TEST

/* Key files checked before any connection, each error naming the file. */
START_TEST(test_key_files_checked)
{
	struct channel_security s = certs("server", "ca");
	const char *garbage = write_file("garbage.pem", 0600, "not a certificate\n");
	char err[CHANNEL_ERR_MAX];

	ck_assert_int_eq(channel__check_security(&s, err, sizeof(err)), 0);
	s.key = pki("client.key");
	ck_assert_int_eq(channel__check_security(&s, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "--tls-key") && strstr(err, "client.key does not match the "
							      "certificate in --tls-cert"),
		      "%s", err);
	s = certs("server", "ca");
	s.key = pki("absent.key");
	ck_assert_int_eq(channel__check_security(&s, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "--tls-key") && strstr(err, "absent.key: No such file"), "%s",
		      err);
	s = certs("expired", "ca");
	ck_assert_int_eq(channel__check_security(&s, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "expired.pem expired on ") && strstr(err, " UTC: renew it"), "%s",
		      err);
	s = certs("server", "ca");
	s.cert = garbage;
	ck_assert_int_eq(channel__check_security(&s, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "garbage.pem: not a usable PEM certificate"), "%s", err);
	s = certs("server", "ca");
	s.ca = garbage;
	ck_assert_int_eq(channel__check_security(&s, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "--tls-ca") && strstr(err, "garbage.pem: no usable PEM CA"), "%s",
		      err);
}
END_TEST

START_TEST(test_bad_addresses)
{
	static const char *const bad[] = {
	    "nohost",	       "127.0.0.1",    "127.0.0.1:",   ":4444",
	    "::1:4444",	       "[::1]4444",    "[::1:4444",    "[]:4444",
	    "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:4x", "127.0.0.1:+80"};
	struct channel_security plain = {.insecure = true};
	char err[CHANNEL_ERR_MAX], hp[64];
	struct channel *ch;
	int fd, fd2, port;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(channel__listen(bad[i], &fd, err, sizeof(err)) == -EINVAL, "%s",
			      bad[i]);
		ck_assert_msg(strstr(err, bad[i]) && (strstr(err, "give ADDR:PORT") ||
						      strstr(err, "the port must be a number")),
			      "%s: %s", bad[i], err);
		ck_assert_int_eq(channel__connect(bad[i], &plain, &ch, err, sizeof(err)), -EINVAL);
	}
	/* In use: a second listener on the same port. */
	ck_assert_int_eq(channel__listen("127.0.0.1:0", &fd, err, sizeof(err)), 0);
	port = channel__local_port(fd);
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", port);
	ck_assert_int_eq(channel__listen(hp, &fd2, err, sizeof(err)), -EADDRINUSE);
	ck_assert_msg(strstr(err, hp) && strstr(err, "pick another port"), "%s", err);
	/* Refused: nothing listens once it is closed. */
	close(fd);
	ck_assert_int_eq(channel__connect(hp, &plain, &ch, err, sizeof(err)), -ECONNREFUSED);
	ck_assert_msg(strstr(err, "is the destination listening there?"), "%s", err);
	/* Not an address of this host (the lab's range, never configured on the build host). */
	ck_assert_int_eq(channel__listen("198.18.255.254:4444", &fd, err, sizeof(err)),
			 -EADDRNOTAVAIL);
	ck_assert_msg(strstr(err, "no interface of this host has that address"), "%s", err);
}
END_TEST

Suite *channel_suite(void)
{
	Suite *s = suite_create("channel");
	TCase *tc = tcase_create("channel");

	tcase_add_unchecked_fixture(tc, make_pki, remove_pki);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_cert_round_trip);
	tcase_add_test(tc, test_cert_ipv6_and_dns_name);
	tcase_add_test(tc, test_client_cert_from_other_ca_refused);
	tcase_add_test(tc, test_server_cert_from_other_ca_refused);
	tcase_add_test(tc, test_expired_client_cert_refused);
	tcase_add_test(tc, test_server_cert_not_naming_host_refused);
	tcase_add_test(tc, test_client_without_cert_refused);
	tcase_add_test(tc, test_abort_cuts_both_sides);
	tcase_add_test(tc, test_psk_round_trip);
	tcase_add_test(tc, test_psk_wrong_key_refused);
	tcase_add_test(tc, test_psk_unknown_identity_refused);
	tcase_add_test(tc, test_psk_file_errors);
	tcase_add_test(tc, test_insecure_round_trip);
	tcase_add_test(tc, test_insecure_client_refused_by_tls_server);
	tcase_add_loop_test(tc, test_both_ways_at_once, 0, 3);
	tcase_add_loop_test(tc, test_abort_wakes_reader_and_writer, 0, 3);
	tcase_add_test(tc, test_peer_key_updates_both_ways);
	tcase_add_test(tc, test_security_options_refused);
	tcase_add_test(tc, test_key_files_checked);
	tcase_add_test(tc, test_bad_addresses);
	suite_add_tcase(s, tc);
	return s;
}
