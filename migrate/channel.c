/* Migration channel: TCP sockets, and TLS 1.3 over them through OpenSSL (channel.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "channel.h"
#include "channel_psk.h"
#include "util.h"

#define CONNECT_TIMEOUT_MS  10000
#define HANDSHAKE_TIMEOUT_S 10
/* Keepalive finds a silent dead peer in ~20 s; the user timeout, unacknowledged sends in 30 s. */
#define KEEPALIVE_IDLE_S  10
#define KEEPALIVE_INTVL_S 2
#define KEEPALIVE_CNT	  5
#define USER_TIMEOUT_MS	  30000
/*
 * Socket buffers, each way (the kernel doubles them): bounds the bytes in
 * flight.  Autotuned, loopback TCP held ~4 MB, which the destination, slower
 * to decode than the source is to encode, was still working through after the
 * source paused: 25-60 ms of a migration's downtime (bench/migrate-bench,
 * moderate memwriter), 2-10 ms with 256 KiB.  The sender's pace is then the
 * receiver's.  At 512 KiB a way this still fills a 1 GB/s link of 0.5 ms RTT.
 */
#define SOCKET_BUF_BYTES (256 << 10)
/*
 * The server's one byte after its handshake: in TLS 1.3 the client completes before the
 * server has verified the client's certificate, so without it a refused client would only
 * learn at its first read, deep inside the migration.
 */
#define SERVER_ACCEPTED 0x01
/* The most one SSL_write_ex takes (4 records): the other side waits for the lock that long. */
#define TLS_WRITE_SLICE (64 << 10)

enum channel_mode { MODE_CERT, MODE_PSK, MODE_PLAIN };
/* The two threads a channel serves at once: channel__read's and channel__write's. */
enum side { READER, WRITER };

/*
 * Under TLS the fd is non-blocking once the handshake is done: each SSL call runs under the
 * channel's lock, and a call that wants the socket waits in poll() with the lock released,
 * so the other side's calls go on (OpenSSL forbids two threads in one SSL at once).
 * Plaintext keeps a blocking fd: the kernel already lets one thread recv while another sends.
 */
struct channel {
	int fd;
	enum channel_mode mode;
	SSL_CTX *ctx;
	SSL *ssl;
	struct psk_table psk;
	/* The lock (channel_lock): the SSL and its BIO, want, write_pending, reader_held, err and
	 * failed.  mutex guards only the tickets. */
	pthread_mutex_t mutex;
	pthread_cond_t turn;
	unsigned int next_ticket, serving;
	/* Each side's poll() also watches its eventfd: kicked by abort, and by the other side
	 * when its call read bytes off the socket that a POLLIN wait may have been for. */
	int wake[2];
	short want[2];	     /* the events a side waits for, 0 when it does not */
	bool write_pending;  /* SSL_write_ex left a record half sent: it must be called again */
	bool reader_held;    /* the reader waits for that call (see tls_io) */
	bool failed;	     /* an error: no close_notify on close */
	atomic_bool aborted; /* by channel__abort, from any thread */
	char err[CHANNEL_ERR_MAX];
	char desc[96];
};

/* The reason of OpenSSL's last queued error ("tlsv1 alert unknown ca"), or fallback. */
static const char *ssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : fallback;
}

/* ---- options ---- */

static int mode_of(const struct channel_security *s, enum channel_mode *mode, char *err,
		   size_t errlen)
{
	bool any_cert = s && (s->cert || s->key || s->ca);
	bool psk = s && s->psk_file;
	bool plain = s && s->insecure;

	if (any_cert + psk + plain != 1)
		return util__fail(
		    err, errlen, -EINVAL,
		    "%s: give --tls-cert/--tls-key/--tls-ca, --tls-psk FILE, or --insecure",
		    (any_cert + psk + plain) ? "only one channel security mode at a time"
					     : "no channel security given");
	if (any_cert && !(s->cert && s->key && s->ca))
		return util__fail(
		    err, errlen, -EINVAL,
		    "certificate authentication needs all three of --tls-cert, --tls-key "
		    "and --tls-ca (missing %s)",
		    !s->cert  ? "--tls-cert"
		    : !s->key ? "--tls-key"
			      : "--tls-ca");
	*mode = any_cert ? MODE_CERT : psk ? MODE_PSK : MODE_PLAIN;
	return 0;
}

static int check_readable(const char *opt, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) < 0)
		return util__fail(err, errlen, -errno, "%s %s: %s", opt, path, strerror(errno));
	return 0;
}

/* Both modes: TLS 1.3 only, AES-GCM, no session tickets (every channel is used once). */
static SSL_CTX *new_ctx(bool server, const char *suites)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, suites) || !SSL_CTX_set_num_tickets(ctx, 0)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Each read takes what the socket holds (up to 256 KiB), not one record part at a time. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, 256 << 10);
	return ctx;
}

/* Our own certificate in its validity period: else the peer would refuse it, less clearly. */
static int check_validity(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	const ASN1_TIME *after = X509_get0_notAfter(x), *before = X509_get0_notBefore(x);
	struct tm tm = {0};
	char date[32] = "?";

	if (X509_cmp_current_time(after) < 0) {
		if (ASN1_TIME_to_tm(after, &tm))
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
		return util__fail(err, errlen, -EINVAL, "--tls-cert %s expired on %s: renew it",
				  path, date);
	}
	if (X509_cmp_current_time(before) > 0) {
		if (ASN1_TIME_to_tm(before, &tm))
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm);
		return util__fail(
		    err, errlen, -EINVAL,
		    "--tls-cert %s is not valid before %s (is this host's clock right?)", path,
		    date);
	}
	return 0;
}

static int load_certs(SSL_CTX *ctx, const struct channel_security *s, char *err, size_t errlen)
{
	int rc;

	if ((rc = check_readable("--tls-cert", s->cert, err, errlen)) < 0 ||
	    (rc = check_readable("--tls-key", s->key, err, errlen)) < 0 ||
	    (rc = check_readable("--tls-ca", s->ca, err, errlen)) < 0)
		return rc;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, s->cert) != 1)
		return util__fail(err, errlen, -EINVAL,
				  "--tls-cert %s: not a usable PEM certificate (%s)", s->cert,
				  ssl_reason("unreadable"));
	if ((rc = check_validity(ctx, s->cert, err, errlen)) < 0)
		return rc;
	/* Checks the key against the certificate loaded just before. */
	if (SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_error(); /* the first: X509's, under SSL's */

		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			return util__fail(
			    err, errlen, -EINVAL,
			    "--tls-key %s does not match the certificate in --tls-cert %s: "
			    "give the key the certificate was made for",
			    s->key, s->cert);
		return util__fail(err, errlen, -EINVAL,
				  "--tls-key %s: not a usable PEM private key (%s)", s->key,
				  ssl_reason("unreadable"));
	}
	if (SSL_CTX_load_verify_file(ctx, s->ca) != 1)
		return util__fail(err, errlen, -EINVAL,
				  "--tls-ca %s: no usable PEM CA certificate (%s)", s->ca,
				  ssl_reason("unreadable"));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

/* Builds ch->ctx (and the PSK table) for ch->mode; nothing for plaintext. */
static int setup_security(struct channel *ch, const struct channel_security *s, bool server,
			  char *err, size_t errlen)
{
	int rc;

	if ((rc = mode_of(s, &ch->mode, err, errlen)) < 0 || ch->mode == MODE_PLAIN)
		return rc;
	if (ch->mode == MODE_PSK) {
		if ((rc = psk_table__load(&ch->psk, s->psk_file, err, errlen)) < 0)
			return rc;
		/* One suite: its hash must be the one the PSK sessions are made for. */
		ch->ctx = new_ctx(server, PSK_SUITE_NAME);
	} else {
		ch->ctx = new_ctx(server, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384");
	}
	if (!ch->ctx)
		return util__fail(err, errlen, -ENOMEM,
				  "TLS: cannot set up an OpenSSL context (%s)",
				  ssl_reason("out of memory"));
	if (ch->mode == MODE_CERT)
		return load_certs(ch->ctx, s, err, errlen);
	psk_table__install(ch->ctx, &ch->psk, server);
	return 0;
}

int channel__check_security(const struct channel_security *s, char *err, size_t errlen)
{
	struct channel ch = {.fd = -1};
	int rc = setup_security(&ch, s, true, err, errlen);

	SSL_CTX_free(ch.ctx);
	psk_table__dispose(&ch.psk);
	return rc;
}

/* ---- addresses and sockets ---- */

/* "HOST:PORT" or "[V6]:PORT" into host (brackets removed) and port. */
static int split_host_port(const char *hp, char *host, size_t hostlen, char *port, size_t portlen,
			   char *err, size_t errlen)
{
	const char *colon, *h = hp;
	size_t n;
	char *end;
	unsigned long p;

	if (hp[0] == '[') {
		const char *close = strchr(hp, ']');

		if (!close || close[1] != ':')
			goto bad;
		h = hp + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || strchr(hp, ':') != colon)
			goto bad;
		n = (size_t)(colon - hp);
	}
	if (n == 0 || n >= hostlen)
		goto bad;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || p > 65535 || colon[1] == '-' || colon[1] == '+')
		return util__fail(err, errlen, -EINVAL,
				  "%s: the port must be a number from 0 to 65535", hp);
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, portlen, "%lu", p);
	return 0;
bad:
	return util__fail(err, errlen, -EINVAL,
			  "%s: give ADDR:PORT, e.g. 198.18.0.1:4444 or [fd00::1]:4444 for IPv6",
			  hp);
}

static int resolve(const char *hp, bool passive, struct addrinfo **res, char *host, size_t hostlen,
		   char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	char port[8];
	int rc, r;

	if ((rc = split_host_port(hp, host, hostlen, port, sizeof(port), err, errlen)) < 0)
		return rc;
	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	r = getaddrinfo(host, port, &hints, res);
	if (r == EAI_SYSTEM)
		return util__fail(err, errlen, -errno, "%s: cannot resolve %s: %s", hp, host,
				  strerror(errno));
	if (r)
		return util__fail(err, errlen, -EHOSTUNREACH, "%s: cannot resolve %s: %s", hp, host,
				  gai_strerror(r));
	return 0;
}

int channel__listen(const char *addr_port, int *fd, char *err, size_t errlen)
{
	char host[256];
	struct addrinfo *res, *ai;
	int rc, one = 1, s = -1;

	if ((rc = resolve(addr_port, true, &res, host, sizeof(host), err, errlen)) < 0)
		return rc;
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(s, ai->ai_addr, ai->ai_addrlen) < 0 || listen(s, 4) < 0) {
			rc = -errno;
			if (s >= 0)
				close(s);
			s = -1;
			continue;
		}
		break;
	}
	freeaddrinfo(res);
	if (s < 0) {
		const char *hint = rc == -EADDRINUSE	  ? " (another process listens there: "
							    "pick another port)"
				   : rc == -EADDRNOTAVAIL ? " (no interface of this host has "
							    "that address)"
				   : rc == -EACCES	  ? " (ports below 1024 need privilege)"
							  : "";

		return util__fail(err, errlen, rc, "cannot listen on %s: %s%s", addr_port,
				  strerror(-rc), hint);
	}
	*fd = s;
	return 0;
}

int channel__local_port(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * Buffers bounded (SOCKET_BUF_BYTES).  Nagle off: the stream writes a record as a header then a
 * body, and its last small records (state, END) go just before a wait for the destination's ack;
 * with Nagle the body waits out a delayed ACK: bench-channel's record round trip is 45 ms with it,
 * 50 us without.  Page batches are large, so the cost is a few more small segments. Keepalive and a
 * user timeout turn a vanished peer into an error instead of a hang.
 */
static void tune_socket(int fd)
{
	int one = 1, idle = KEEPALIVE_IDLE_S, intvl = KEEPALIVE_INTVL_S, cnt = KEEPALIVE_CNT,
	    buf = SOCKET_BUF_BYTES;
	unsigned int uto = USER_TIMEOUT_MS;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
}

static void set_io_timeout(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A non-blocking connect bounded by CONNECT_TIMEOUT_MS; returns a blocking socket or -errno. */
static int connect_one(const struct addrinfo *ai)
{
	struct pollfd pfd;
	int s, r, soerr = 0;
	socklen_t len = sizeof(soerr);

	s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (s < 0)
		return -errno;
	if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			goto fail_errno;
		pfd = (struct pollfd){.fd = s, .events = POLLOUT};
		do
			r = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			goto fail_errno;
		if (r == 0) {
			close(s);
			return -ETIMEDOUT;
		}
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			goto fail_errno;
		if (soerr) {
			close(s);
			return -soerr;
		}
	}
	if (fcntl(s, F_SETFL, 0) < 0)
		goto fail_errno;
	return s;
fail_errno:
	r = -errno;
	close(s);
	return r;
}

/* ---- handshake ---- */

static struct channel *channel_new(void)
{
	struct channel *ch = calloc(1, sizeof(*ch));

	if (ch) {
		ch->fd = ch->wake[READER] = ch->wake[WRITER] = -1;
		pthread_mutex_init(&ch->mutex, NULL);
		pthread_cond_init(&ch->turn, NULL);
	}
	return ch;
}

/* What went wrong in a failed handshake, from the verify result, a callback or OpenSSL. */
static void handshake_reason(struct channel *ch, int ret, bool server, char *buf, size_t len)
{
	int sys = errno, e = SSL_get_error(ch->ssl, ret);
	long v = SSL_get_verify_result(ch->ssl);
	const char *r;

	if (ch->psk.note[0]) {
		snprintf(buf, len, "%s", ch->psk.note);
		return;
	}
	if (v != X509_V_OK) {
		const char *hint = "";

		if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
			hint = " (the server's certificate must name the host dialled in its "
			       "subjectAltName)";
		else if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
			 v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
			 v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
			hint = " (it is not signed by our --tls-ca)";
		snprintf(buf, len, "the peer's certificate is refused: %s%s",
			 X509_verify_cert_error_string(v), hint);
		return;
	}
	if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(buf, len,
			 "the peer closed the session without accepting it (see its log)");
		return;
	}
	if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (sys == EAGAIN || sys == EWOULDBLOCK)
			snprintf(buf, len, "no answer within %d s", HANDSHAKE_TIMEOUT_S);
		else if (ERR_peek_last_error())
			snprintf(buf, len, "%s", ssl_reason(""));
		else
			snprintf(buf, len,
				 "the peer closed the connection (%s; does it use the same "
				 "security mode?)",
				 sys ? strerror(sys) : "end of input");
		return;
	}
	r = ssl_reason("unknown TLS error");
	if (ch->mode == MODE_CERT &&
	    (strstr(r, "alert unknown ca") || strstr(r, "alert bad certificate") ||
	     strstr(r, "alert certificate")))
		snprintf(buf, len,
			 "the peer refused our certificate (%s): check --tls-cert and --tls-ca "
			 "on both sides",
			 r);
	else if (ch->mode == MODE_PSK && !server && strstr(r, "alert handshake failure"))
		snprintf(buf, len,
			 "the server has no key for our PSK identity '%s' (%s): check --tls-psk "
			 "on both sides",
			 ch->psk.entries[0].identity, r);
	else if (ch->mode == MODE_PSK &&
		 (strstr(r, "alert decrypt error") || strstr(r, "alert illegal parameter") ||
		  strstr(r, "binder does not verify")))
		snprintf(buf, len, "%s: the PSK keys differ (check --tls-psk on both sides)", r);
	else if (strstr(r, "wrong version number") || strstr(r, "packet length too long") ||
		 strstr(r, "record layer failure"))
		snprintf(buf, len, "%s: the peer does not speak TLS (is it --insecure?)", r);
	else
		snprintf(buf, len, "%s", r);
}

static int handshake(struct channel *ch, bool server, const char *host, const char *what, char *err,
		     size_t errlen)
{
	uint8_t word = SERVER_ACCEPTED;
	char why[CHANNEL_ERR_MAX];
	size_t n;
	int ret;

	ch->ssl = SSL_new(ch->ctx);
	if (!ch->ssl || !SSL_set_fd(ch->ssl, ch->fd))
		return util__fail(err, errlen, -ENOMEM, "TLS: cannot set up a session (%s)",
				  ssl_reason("out of memory"));
	if (!server && ch->mode == MODE_CERT) {
		struct in6_addr a;
		bool ip = inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;

		if (ip ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ch->ssl), host)
		       : !SSL_set1_host(ch->ssl, host) || !SSL_set_tlsext_host_name(ch->ssl, host))
			return util__fail(err, errlen, -EINVAL, "TLS: cannot check the name %s",
					  host);
	}
	set_io_timeout(ch->fd, HANDSHAKE_TIMEOUT_S);
	ERR_clear_error();
	errno = 0;
	ret = server ? SSL_accept(ch->ssl) : SSL_connect(ch->ssl);
	if (ret == 1) {
		ERR_clear_error();
		errno = 0;
		ret = server ? SSL_write_ex(ch->ssl, &word, 1, &n)
			     : SSL_read_ex(ch->ssl, &word, 1, &n);
		if (ret == 1 && word != SERVER_ACCEPTED) {
			ch->failed = true;
			return util__fail(
			    err, errlen, -EPROTO,
			    "TLS with %s: the server's first byte is 0x%02x, not 0x%02x: "
			    "not a Twin peer",
			    what, word, SERVER_ACCEPTED);
		}
	}
	if (ret != 1) {
		ch->failed = true;
		handshake_reason(ch, ret, server, why, sizeof(why));
		return util__fail(err, errlen, -EPROTO, "TLS handshake with %s failed: %s", what,
				  why);
	}
	set_io_timeout(ch->fd, 0);
	ch->wake[READER] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ch->wake[WRITER] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->wake[READER] < 0 || ch->wake[WRITER] < 0 ||
	    fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) | O_NONBLOCK) < 0)
		return util__fail(err, errlen, -errno, "TLS with %s: cannot set up the socket: %s",
				  what, strerror(errno));
	snprintf(ch->desc, sizeof(ch->desc), "%s %s (%s)", SSL_get_version(ch->ssl),
		 SSL_get_cipher_name(ch->ssl),
		 ch->mode == MODE_CERT ? "certificates" : "pre-shared key");
	return 0;
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[8];

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(buf, len, "the peer");
		return;
	}
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static int finish(struct channel *ch, bool server, const char *host, const char *what,
		  struct channel **out, char *err, size_t errlen)
{
	int rc = 0;

	tune_socket(ch->fd);
	if (ch->mode == MODE_PLAIN)
		snprintf(ch->desc, sizeof(ch->desc), "plaintext TCP (--insecure)");
	else
		rc = handshake(ch, server, host, what, err, errlen);
	if (rc < 0) {
		channel__close(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

int channel__accept(int lfd, const struct channel_security *s, struct channel **out, char *err,
		    size_t errlen)
{
	struct channel *ch = channel_new();
	char what[64];
	int rc;

	if (!ch)
		return util__fail(err, errlen, -ENOMEM, "out of memory for a channel");
	if ((rc = setup_security(ch, s, true, err, errlen)) < 0)
		goto out_free;
	do
		ch->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (ch->fd < 0 && errno == EINTR);
	if (ch->fd < 0) {
		rc = util__fail(err, errlen, -errno, "accepting a connection: %s", strerror(errno));
		goto out_free;
	}
	peer_name(ch->fd, what, sizeof(what));
	return finish(ch, true, NULL, what, out, err, errlen);
out_free:
	channel__close(ch);
	return rc;
}

int channel__connect(const char *host_port, const struct channel_security *s, struct channel **out,
		     char *err, size_t errlen)
{
	struct channel *ch = channel_new();
	struct addrinfo *res = NULL, *ai;
	char host[256];
	int rc;

	if (!ch)
		return util__fail(err, errlen, -ENOMEM, "out of memory for a channel");
	if ((rc = setup_security(ch, s, false, err, errlen)) < 0 ||
	    (rc = resolve(host_port, false, &res, host, sizeof(host), err, errlen)) < 0)
		goto out_free;
	rc = -EHOSTUNREACH;
	for (ai = res; ai && ch->fd < 0; ai = ai->ai_next) {
		int fd = connect_one(ai);

		if (fd >= 0)
			ch->fd = fd;
		else
			rc = fd;
	}
	freeaddrinfo(res);
	if (ch->fd < 0) {
		rc = util__fail(
		    err, errlen, rc, "cannot connect to %s: %s%s", host_port, strerror(-rc),
		    rc == -ECONNREFUSED ? " (is the destination listening there?)" : "");
		goto out_free;
	}
	return finish(ch, false, host, host_port, out, err, errlen);
out_free:
	channel__close(ch);
	return rc;
}

/* ---- data ---- */

/*
 * Takes the channel's lock in the order asked: with a plain mutex, a side calling OpenSSL
 * back to back (a bulk writer) took it again before the woken other side ran, and replies
 * read under a stream waited tens of ms.
 */
static void channel_lock(struct channel *ch)
{
	unsigned int ticket;

	pthread_mutex_lock(&ch->mutex);
	ticket = ch->next_ticket++;
	while (ticket != ch->serving)
		pthread_cond_wait(&ch->turn, &ch->mutex);
	pthread_mutex_unlock(&ch->mutex);
}

static void channel_unlock(struct channel *ch)
{
	pthread_mutex_lock(&ch->mutex);
	ch->serving++;
	pthread_cond_broadcast(&ch->turn);
	pthread_mutex_unlock(&ch->mutex);
}

/* Records what failed, for channel__error; under the lock, as both sides may fail at once. */
static int set_error(struct channel *ch, int rc, const char *fmt, ...)
{
	va_list ap;

	channel_lock(ch);
	ch->failed = true;
	va_start(ap, fmt);
	vsnprintf(ch->err, sizeof(ch->err), fmt, ap);
	va_end(ap);
	channel_unlock(ch);
	return rc;
}

/* A read or write that ended because channel__abort shut the socket: -ECANCELED. */
static int aborted_error(struct channel *ch, const char *op)
{
	return set_error(ch, -ECANCELED, "%s: the channel was aborted on this side", op);
}

static int errno_error(struct channel *ch, const char *op)
{
	int rc = -errno;

	if (atomic_load(&ch->aborted))
		return aborted_error(ch, op);
	return set_error(ch, rc, "%s: %s", op, strerror(-rc));
}

/*
 * Maps a failed SSL_read/SSL_write to -errno, with ch->err saying why: e is SSL_get_error's
 * verdict, sys the errno the call left.
 */
static int tls_error(struct channel *ch, int e, int sys, const char *op)
{
	unsigned long le = ERR_peek_last_error();

	if (atomic_load(&ch->aborted))
		return aborted_error(ch, op);
	if (e == SSL_ERROR_SYSCALL && !le && sys)
		return set_error(ch, -sys, "%s: %s", op, strerror(sys));
	/* End of input without close_notify: OpenSSL says so either way, by version. */
	if ((e == SSL_ERROR_SYSCALL && !le) ||
	    ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		return set_error(ch, -ECONNRESET,
				 "%s: the connection was cut without TLS's close (peer died?)", op);
	return set_error(ch, -EPROTO, "%s: TLS: %s", op, ssl_reason("unknown TLS error"));
}

/* Wakes side s out of its poll(); a counter already non-zero wakes it as well. */
static void kick(struct channel *ch, enum side s)
{
	if (ch->wake[s] >= 0)
		eventfd_write(ch->wake[s], 1);
}

/* Side s waits, without the lock, for the socket to be ready for events, or for a kick (only
 * that when events is 0). */
static int wait_socket(struct channel *ch, enum side s, short events, const char *op)
{
	struct pollfd pfd[2] = {{.fd = events ? ch->fd : -1, .events = events},
				{.fd = ch->wake[s], .events = POLLIN}};
	eventfd_t count;

	while (poll(pfd, 2, -1) < 0)
		if (errno != EINTR)
			return errno_error(ch, op);
	if (pfd[1].revents)
		eventfd_read(ch->wake[s], &count);
	if (atomic_load(&ch->aborted))
		return aborted_error(ch, op);
	return 0;
}

/*
 * SSL_read_ex (READER) or SSL_write_ex (WRITER) of len bytes, called again while it wants
 * the socket: 1 with *done set, 0 at the peer's close_notify (READER), or -errno.  Either
 * call may want either event: in TLS 1.3 a read can have a KeyUpdate answer to send, a
 * write a post-handshake message to read.
 * OpenSSL 3.0 sends the KeyUpdate answer it owes from SSL_write, or from the SSL_read that
 * meets the peer's next handshake message; there it fails ("bad length") while a write is
 * half sent.  So with an answer owed, the reader waits for the writer to finish that record.
 */
static int tls_io(struct channel *ch, enum side s, void *buf, size_t len, size_t *done)
{
	enum side other = s == READER ? WRITER : READER;
	const char *op = s == READER ? "read" : "write";
	BIO *bio = SSL_get_rbio(ch->ssl);

	for (;;) {
		uint64_t read_before;
		int ret, sys, e, rc;
		short events;

		channel_lock(ch);
		if (s == READER) {
			ch->reader_held = ch->write_pending &&
					  SSL_get_key_update_type(ch->ssl) != SSL_KEY_UPDATE_NONE;
			if (ch->reader_held) {
				channel_unlock(ch);
				if ((rc = wait_socket(ch, s, 0, op)) < 0)
					return rc;
				continue;
			}
		}
		read_before = BIO_number_read(bio);
		ERR_clear_error();
		errno = 0;
		ret = s == READER ? SSL_read_ex(ch->ssl, buf, len, done)
				  : SSL_write_ex(ch->ssl, buf, len, done);
		sys = errno;
		e = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ch->ssl, ret);
		events = e == SSL_ERROR_WANT_READ    ? POLLIN
			 : e == SSL_ERROR_WANT_WRITE ? POLLOUT
						     : 0;
		ch->want[s] = events;
		/* The bytes this call took off the socket may be what the other side waits for. */
		if ((ch->want[other] & POLLIN) && BIO_number_read(bio) != read_before)
			kick(ch, other);
		if (s == WRITER) {
			ch->write_pending = events != 0;
			if (!events && ch->reader_held)
				kick(ch, READER);
		}
		channel_unlock(ch);
		if (e == SSL_ERROR_NONE)
			return 1;
		if (e == SSL_ERROR_ZERO_RETURN && s == READER)
			return 0;
		if (!events)
			return tls_error(ch, e, sys, op);
		if ((rc = wait_socket(ch, s, events, op)) < 0)
			return rc;
	}
}

ssize_t channel__read(void *ctx, void *buf, size_t len)
{
	struct channel *ch = ctx;
	size_t n;
	ssize_t r;
	int rc;

	if (ch->mode == MODE_PLAIN) {
		do
			r = recv(ch->fd, buf, len, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return errno_error(ch, "read");
		if (r == 0 && atomic_load(&ch->aborted))
			return aborted_error(ch, "read");
		return r;
	}
	rc = tls_io(ch, READER, buf, len, &n);
	return rc == 1 ? (ssize_t)n : rc;
}

int channel__write(void *ctx, const void *buf, size_t len)
{
	struct channel *ch = ctx;
	const uint8_t *p = buf;

	while (len) {
		size_t n;

		if (ch->mode == MODE_PLAIN) {
			ssize_t r = send(ch->fd, p, len, MSG_NOSIGNAL);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return errno_error(ch, "write");
			n = (size_t)r;
		} else {
			/* Same p and len on a retry, as OpenSSL requires; it only reads p. */
			int rc = tls_io(ch, WRITER, (void *)p,
					len < TLS_WRITE_SLICE ? len : TLS_WRITE_SLICE, &n);

			if (rc < 0)
				return rc;
		}
		p += n;
		len -= n;
	}
	return 0;
}

const char *channel__error(const struct channel *ch)
{
	return ch->err;
}

const char *channel__describe(const struct channel *ch)
{
	return ch->desc;
}

void channel__abort(struct channel *ch)
{
	atomic_store(&ch->aborted, true);
	shutdown(ch->fd, SHUT_RDWR);
	kick(ch, READER);
	kick(ch, WRITER);
}

void channel__close(struct channel *ch)
{
	if (!ch)
		return;
	if (ch->ssl && !ch->failed && !atomic_load(&ch->aborted) && SSL_is_init_finished(ch->ssl)) {
		/* Blocking again, so the close_notify waits for room in a full socket. */
		fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) & ~O_NONBLOCK);
		SSL_shutdown(ch->ssl); /* our close_notify; the peer's is not awaited */
	}
	SSL_free(ch->ssl);
	SSL_CTX_free(ch->ctx);
	psk_table__dispose(&ch->psk);
	if (ch->wake[READER] >= 0)
		close(ch->wake[READER]);
	if (ch->wake[WRITER] >= 0)
		close(ch->wake[WRITER]);
	if (ch->fd >= 0)
		close(ch->fd);
	pthread_cond_destroy(&ch->turn);
	pthread_mutex_destroy(&ch->mutex);
	free(ch);
}
