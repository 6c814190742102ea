/* twin-kv-client: drive the kv service over UDP, verify every answer, report throughput and
 * latency. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT	 7777
#define CLIENT_NAME_MAX	 32 /* the protocol's CLIENT limit */
#define MAX_CLIENTS	 1000
#define MAX_KEYS	 1000
#define REQ_MAX		 160
#define REPLY_MAX	 256
#define RETRANSMIT_EVERY 4 /* with --retransmit, every 4th request of a client is duplicated */

#define EXIT_FAILED 1 /* a wrong or missing answer, or a local error */
#define EXIT_USAGE  2

struct opts {
	struct sockaddr_in server;
	long requests, clients, keys;
	long duration_ms; /* > 0: send for this long instead of a number of requests */
	bool retransmit, json;
	int timeout_ms, max_tries;
	char prefix[CLIENT_NAME_MAX - 8];
	uint64_t seed;
};

/* What a client's outstanding request expects back. */
enum want_kind { WANT_EXACT, WANT_STATS };

struct client {
	int fd;
	char name[CLIENT_NAME_MAX + 1];
	uint64_t seq;
	int64_t *values; /* the value each of its keys must have */
	long todo;	 /* requests left in the current phase */
	bool busy;	 /* a request is outstanding */
	bool replay;	 /* answered; now checking the same SEQ again */
	bool duplicate;	 /* --retransmit chose this request */
	int key;	 /* key the request changes, or -1 */
	int64_t value;	 /* its value once applied */
	enum want_kind kind;
	uint64_t stats; /* WANT_STATS: the number the server returned */
	char req[REQ_MAX];
	size_t req_len;
	char want[REPLY_MAX];
	size_t want_len;
	uint64_t prev_seq; /* the previous request, whose late duplicates are still checked */
	char prev_want[REPLY_MAX];
	size_t prev_want_len;
	uint64_t t_first, t_sent;
	int tries;
};

enum phase { PHASE_STATS, PHASE_MAIN, PHASE_SWEEP };

struct run {
	struct opts o;
	struct client *cl;
	long ncl;
	enum phase phase;
	uint64_t rng;
	uint64_t *lat_ns;
	long nlat, lat_cap;
	long retries, late, refused, replays, duplicates, sent;
	char failure[512]; /* the first verification failure; empty while all is well */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the same operation mix for the same --seed. */
static uint64_t rnd(struct run *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545f4914f6cdd1dull;
}

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failure[0])
		return;
	va_start(ap, fmt);
	vsnprintf(r->failure, sizeof(r->failure), fmt, ap);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: twin-kv-client [options] ADDR[:PORT]\n"
		"Sends kv requests (tests/guests/README.md) over UDP to ADDR:PORT (default port "
		"7777),\nverifies every answer and prints throughput and latency. Exit status: 0 "
		"all verified,\n1 a wrong or missing answer (or a local error), 2 bad usage.\n"
		"  --requests N     requests in total (default 1000)\n"
		"  --duration-ms MS instead of --requests: each client starts requests for MS "
		"ms,\n                   then finishes its outstanding one; the report counts "
		"those sent\n"
		"  --clients C      concurrent client ids, one socket each (default 1, max %d)\n"
		"  --keys K         keys per client (default 8, max %d)\n"
		"  --retransmit     send every %dth request twice and again after its answer; "
		"expect\n                   the same reply and no double apply, checked with GET "
		"of every key\n                   and GET __stats (the server must have no other "
		"client meanwhile)\n"
		"  --timeout-ms T   resend with the same SEQ after T ms without an answer (default "
		"200)\n"
		"  --tries N        give up on a request after N sends (default 50)\n"
		"  --prefix P       client ids are P-0, P-1, ... (default kvc<pid>t<time>; must be "
		"new\n                   to the server, or its SEQs are stale)\n"
		"  --seed S         operation mix seed (default 1)\n"
		"  --json           print one JSON object instead of text\n",
		MAX_CLIENTS, MAX_KEYS, RETRANSMIT_EVERY);
}

static int parse_long(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "twin-kv-client: %s %s: not a number in [%ld, %ld]\n", opt, s, min,
			max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_server(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	long port = DEFAULT_PORT;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (n >= sizeof(host) || (colon && parse_long("port", colon + 1, 1, 65535, &port)))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		fprintf(stderr, "twin-kv-client: %s: not an IPv4 address (give ADDR[:PORT])\n",
			host);
		return -1;
	}
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"requests", required_argument, NULL, 'n'},
	    {"duration-ms", required_argument, NULL, 'd'},
	    {"clients", required_argument, NULL, 'c'},
	    {"keys", required_argument, NULL, 'k'},
	    {"retransmit", no_argument, NULL, 'r'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"tries", required_argument, NULL, 'T'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"seed", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long v;
	int c;

	*o = (struct opts){.requests = 1000,
			   .clients = 1,
			   .keys = 8,
			   .timeout_ms = 200,
			   .max_tries = 50,
			   .seed = 1};
	snprintf(o->prefix, sizeof(o->prefix), "kvc%dt%ld", (int)getpid(),
		 (long)(time(NULL) % 1000000));
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_long("--requests", optarg, 1, 100000000, &o->requests))
				return -1;
			break;
		case 'd':
			if (parse_long("--duration-ms", optarg, 1, 86400000, &o->duration_ms))
				return -1;
			break;
		case 'c':
			if (parse_long("--clients", optarg, 1, MAX_CLIENTS, &o->clients))
				return -1;
			break;
		case 'k':
			if (parse_long("--keys", optarg, 1, MAX_KEYS, &o->keys))
				return -1;
			break;
		case 'r':
			o->retransmit = true;
			break;
		case 't':
			if (parse_long("--timeout-ms", optarg, 1, 60000, &v))
				return -1;
			o->timeout_ms = (int)v;
			break;
		case 'T':
			if (parse_long("--tries", optarg, 1, 1000000, &v))
				return -1;
			o->max_tries = (int)v;
			break;
		case 'p':
			if (strlen(optarg) >= sizeof(o->prefix) || strpbrk(optarg, " \t\r\n") ||
			    !*optarg) {
				fprintf(stderr,
					"twin-kv-client: --prefix %s: give 1-%zu characters, no "
					"spaces\n",
					optarg, sizeof(o->prefix) - 1);
				return -1;
			}
			strcpy(o->prefix, optarg);
			break;
		case 's':
			if (parse_long("--seed", optarg, 0, 0x7fffffffffffffffL, &v))
				return -1;
			o->seed = (uint64_t)v;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "twin-kv-client: give exactly one server ADDR[:PORT]\n");
		usage(stderr);
		return -1;
	}
	return parse_server(argv[optind], &o->server);
}

static int client_open(struct run *r, struct client *c, const char *name)
{
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (const struct sockaddr *)&r->o.server, sizeof(r->o.server)) < 0) {
		fprintf(stderr, "twin-kv-client: UDP socket to the server: %s\n", strerror(errno));
		return -1;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->values = calloc((size_t)r->o.keys, sizeof(*c->values));
	if (!c->values) {
		fprintf(stderr, "twin-kv-client: out of memory\n");
		return -1;
	}
	return 0;
}

static void transmit(struct run *r, struct client *c)
{
	c->t_sent = now_ns();
	c->tries++;
	r->sent++;
	/* A lost or refused datagram is what the timeout and retry are for. */
	if (send(c->fd, c->req, c->req_len, 0) < 0 && errno == ECONNREFUSED)
		r->refused++;
}

/* Builds and sends the client's next request for the current phase. */
static void start_request(struct run *r, struct client *c)
{
	uint64_t op = rnd(r) % 10;
	int key;

	c->seq++;
	c->busy = true;
	c->replay = false;
	c->duplicate = false;
	c->key = -1;
	c->kind = WANT_EXACT;
	c->tries = 0;
	if (r->phase == PHASE_STATS) {
		c->kind = WANT_STATS;
		c->req_len = (size_t)snprintf(c->req, sizeof(c->req), "%s %" PRIu64 " GET __stats",
					      c->name, c->seq);
	} else if (r->phase == PHASE_SWEEP) {
		key = (int)(r->o.keys - c->todo);
		c->value = c->values[key];
		c->req_len = (size_t)snprintf(c->req, sizeof(c->req), "%s %" PRIu64 " GET %s-k%d",
					      c->name, c->seq, c->name, key);
	} else {
		/* Keys carry the client's name: no other client races on them. */
		key = (int)(rnd(r) % (uint64_t)r->o.keys);
		if (op < 4) {
			c->key = key;
			c->value = c->values[key] + 1;
			c->req_len =
			    (size_t)snprintf(c->req, sizeof(c->req), "%s %" PRIu64 " INCR %s-k%d",
					     c->name, c->seq, c->name, key);
		} else if (op < 7) {
			c->value = c->values[key];
			c->req_len =
			    (size_t)snprintf(c->req, sizeof(c->req), "%s %" PRIu64 " GET %s-k%d",
					     c->name, c->seq, c->name, key);
		} else {
			c->key = key;
			c->value = (int64_t)(rnd(r) % 2000001) - 1000000;
			c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
						      "%s %" PRIu64 " PUT %s-k%d %" PRId64, c->name,
						      c->seq, c->name, key, c->value);
		}
		c->duplicate = r->o.retransmit && c->seq % RETRANSMIT_EVERY == 0;
	}
	c->want_len = (size_t)snprintf(c->want, sizeof(c->want), "%s %" PRIu64 " OK %" PRId64,
				       c->name, c->seq, c->value);
	c->t_first = now_ns();
	transmit(r, c);
	if (c->duplicate) {
		transmit(r, c);
		c->tries--;
		r->duplicates++;
	}
}

/* The answer to the outstanding request was right: record it and move on. */
static void request_done(struct run *r, struct client *c)
{
	if (!c->replay) {
		if (r->phase == PHASE_MAIN) {
			/* --duration-ms: the count is not known in advance. */
			if (r->nlat == r->lat_cap) {
				uint64_t *l = realloc(r->lat_ns, 2 * (size_t)r->lat_cap * sizeof(*l));

				if (!l) {
					fail(r, "out of memory");
					return;
				}
				r->lat_ns = l;
				r->lat_cap *= 2;
			}
			r->lat_ns[r->nlat++] = now_ns() - c->t_first;
		}
		if (c->key >= 0)
			c->values[c->key] = c->value;
		if (c->duplicate) {
			/* Ask again with the same SEQ: the server must not apply it again. */
			c->replay = true;
			c->tries = 0;
			transmit(r, c);
			return;
		}
	} else {
		r->replays++;
	}
	c->busy = false;
	c->todo--;
	c->prev_seq = c->seq;
	memcpy(c->prev_want, c->want, c->want_len);
	c->prev_want_len = c->want_len;
}

static void handle_reply(struct run *r, struct client *c, const char *buf, size_t n)
{
	size_t name_len = strlen(c->name);
	unsigned long long seq;
	char *end;

	if (n <= name_len || memcmp(buf, c->name, name_len) != 0 || buf[name_len] != ' ' ||
	    buf[name_len + 1] < '0' || buf[name_len + 1] > '9') {
		fail(r, "%s: reply \"%.*s\" is not for this client", c->name, (int)n, buf);
		return;
	}
	seq = strtoull(buf + name_len + 1, &end, 10);
	if (seq == c->seq && c->busy && c->kind == WANT_STATS) {
		unsigned long long v;
		char tail;

		if (sscanf(end, " OK %llu%c", &v, &tail) != 1) {
			fail(r, "%s: GET __stats answered \"%.*s\"", c->name, (int)n, buf);
			return;
		}
		c->stats = v;
		request_done(r, c);
	} else if (seq == c->seq && c->busy) {
		if (n != c->want_len || memcmp(buf, c->want, n) != 0) {
			fail(r, "%s: request \"%s\" got \"%.*s\", expected \"%s\"", c->name, c->req,
			     (int)n, buf, c->want);
			return;
		}
		request_done(r, c);
	} else if (seq == c->seq || seq == c->prev_seq) {
		/* A late answer to a duplicate or a retry: it must still be the same answer. */
		const char *want = seq == c->seq ? c->want : c->prev_want;
		size_t want_len = seq == c->seq ? c->want_len : c->prev_want_len;

		if (c->kind != WANT_STATS && (n != want_len || memcmp(buf, want, n) != 0))
			fail(r, "%s: a repeated answer \"%.*s\" differs from \"%.*s\"", c->name,
			     (int)n, buf, (int)want_len, want);
		r->late++;
	} else if (seq < c->seq) {
		r->late++;
	} else {
		fail(r, "%s: answer \"%.*s\" for a SEQ never sent (last %" PRIu64 ")", c->name,
		     (int)n, buf, c->seq);
	}
}

static void drain(struct run *r, struct client *c)
{
	char buf[REPLY_MAX];
	ssize_t n;

	/* One byte kept for a NUL, so the reply can be parsed as a string. */
	while ((n = recv(c->fd, buf, sizeof(buf) - 1, 0)) >= 0 || errno == ECONNREFUSED) {
		if (n < 0) {
			r->refused++; /* ICMP port unreachable: the server is not up (yet) */
			continue;
		}
		buf[n] = '\0';
		handle_reply(r, c, buf, (size_t)n);
		if (r->failure[0])
			return;
	}
}

/* Runs the phase until every client's todo is done, or something failed. */
static void run_phase(struct run *r, enum phase phase, struct client *cl, long ncl, long per)
{
	struct pollfd *p = calloc((size_t)ncl, sizeof(*p));
	uint64_t timeout_ns = (uint64_t)r->o.timeout_ms * 1000000u;
	bool timed = phase == PHASE_MAIN && r->o.duration_ms > 0;
	uint64_t deadline = now_ns() + (uint64_t)r->o.duration_ms * 1000000u;

	if (!p) {
		fail(r, "out of memory");
		return;
	}
	r->phase = phase;
	for (long i = 0; i < ncl; i++)
		cl[i].todo = timed     ? LONG_MAX
			     : per >= 0 ? per
					: r->o.requests / ncl + (i < r->o.requests % ncl);
	while (!r->failure[0]) {
		uint64_t now = now_ns(), next = now + timeout_ns;
		int active = 0;

		for (long i = 0; i < ncl; i++) {
			struct client *c = &cl[i];

			/* Past the deadline a client stops once its request is answered. */
			if (timed && !c->busy && now >= deadline)
				c->todo = 0;
			if (!c->busy && c->todo > 0)
				start_request(r, c);
			if (c->busy && now >= c->t_sent + timeout_ns) {
				if (c->tries >= r->o.max_tries) {
					fail(r,
					     "%s: no answer to \"%s\" after %d sends, %d ms apart",
					     c->name, c->req, c->tries, r->o.timeout_ms);
					break;
				}
				r->retries++;
				transmit(r, c);
			}
			if (c->busy && c->t_sent + timeout_ns < next)
				next = c->t_sent + timeout_ns;
			p[i] = (struct pollfd){.fd = c->fd, .events = POLLIN};
			active += c->busy;
		}
		if (!active || r->failure[0])
			break;
		if (poll(p, (nfds_t)ncl, (int)((next - now + 999999) / 1000000)) < 0 &&
		    errno != EINTR) {
			fail(r, "poll: %s", strerror(errno));
			break;
		}
		for (long i = 0; i < ncl && !r->failure[0]; i++)
			if (p[i].revents)
				drain(r, &cl[i]);
	}
	free(p);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The failure text may quote a reply, which may hold any byte. */
static void print_json_string(const char *label, const char *s)
{
	printf("%s\"", label);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void report(struct run *r, double secs, bool ok)
{
	double rps = secs > 0 ? r->nlat / secs : 0;
	double med = 0, p99 = 0, max = 0;

	if (r->nlat) {
		qsort(r->lat_ns, (size_t)r->nlat, sizeof(*r->lat_ns), cmp_u64);
		med = r->lat_ns[(r->nlat - 1) / 2] / 1000.0;
		p99 = r->lat_ns[(r->nlat * 99 + 99) / 100 - 1] / 1000.0;
		/* First send to answer, retries included: the longest gap a client saw. */
		max = r->lat_ns[r->nlat - 1] / 1000.0;
	}
	if (r->o.json) {
		printf("{\"ok\": %s, \"requests\": %ld, \"verified\": %ld, \"clients\": %ld, "
		       "\"retries\": %ld, \"late_replies\": %ld, \"refused\": %ld, "
		       "\"retransmitted\": %ld, \"replays_verified\": %ld, \"elapsed_s\": %.6f, "
		       "\"throughput_rps\": %.1f, \"latency_us\": {\"median\": %.1f, \"p99\": "
		       "%.1f, \"max\": %.1f}",
		       ok ? "true" : "false", r->o.requests, r->nlat, r->o.clients, r->retries,
		       r->late, r->refused, r->duplicates, r->replays, secs, rps, med, p99, max);
		if (!ok)
			print_json_string(", \"error\": ", r->failure);
		printf("}\n");
		return;
	}
	printf("twin-kv-client: %ld of %ld requests verified, %ld clients, %ld retries, %ld late "
	       "replies, %ld retransmitted (%ld replays verified)\n",
	       r->nlat, r->o.requests, r->o.clients, r->retries, r->late, r->duplicates,
	       r->replays);
	printf("twin-kv-client: throughput %.0f req/s, latency median %.1f us, p99 %.1f us\n", rps,
	       med, p99);
	if (ok)
		printf("twin-kv-client: every answer verified\n");
}

/* GET __stats through client s; its number, or fails the run. */
static uint64_t read_stats(struct run *r, struct client *s)
{
	run_phase(r, PHASE_STATS, s, 1, 1);
	return s->stats;
}

int main(int argc, char **argv)
{
	struct run r = {0};
	struct client stats_client = {.fd = -1};
	uint64_t stats_before = 0, stats_after, want, t0, t1;
	char name[64];
	bool ok;

	if (parse_opts(argc, argv, &r.o))
		return EXIT_USAGE;
	r.rng = r.o.seed * 2 + 1; /* xorshift needs a non-zero state */
	r.ncl = r.o.clients;
	r.cl = calloc((size_t)r.ncl, sizeof(*r.cl));
	r.lat_cap = r.o.duration_ms ? 4096 : r.o.requests;
	r.lat_ns = calloc((size_t)r.lat_cap, sizeof(*r.lat_ns));
	if (!r.cl || !r.lat_ns) {
		fprintf(stderr, "twin-kv-client: out of memory\n");
		return EXIT_FAILED;
	}
	for (long i = 0; i < r.ncl; i++) {
		snprintf(name, sizeof(name), "%s-%ld", r.o.prefix, i);
		if (client_open(&r, &r.cl[i], name))
			return EXIT_FAILED;
	}
	snprintf(name, sizeof(name), "%s-stats", r.o.prefix);
	if (r.o.retransmit) {
		if (client_open(&r, &stats_client, name))
			return EXIT_FAILED;
		stats_before = read_stats(&r, &stats_client);
	}

	t0 = now_ns();
	run_phase(&r, PHASE_MAIN, r.cl, r.ncl, -1);
	t1 = now_ns();
	if (r.o.duration_ms)
		r.o.requests = r.nlat; /* what was sent, for the checks and the report */

	if (r.o.retransmit && !r.failure[0]) {
		/* Every key must hold what this client expects: an INCR applied twice shows. */
		run_phase(&r, PHASE_SWEEP, r.cl, r.ncl, r.o.keys);
		stats_after = read_stats(&r, &stats_client);
		/* The first GET __stats, every request and every sweep GET: each applied once. */
		want = 1 + (uint64_t)r.o.requests + (uint64_t)(r.ncl * r.o.keys);
		if (!r.failure[0] && stats_after - stats_before != want)
			fail(&r,
			     "GET __stats grew by %" PRIu64 " during the run, expected %" PRIu64
			     ": a request was applied twice, or another client used the server",
			     stats_after - stats_before, want);
	}
	ok = !r.failure[0];
	report(&r, (double)(t1 - t0) / 1e9, ok);
	if (!ok)
		fprintf(stderr, "twin-kv-client: FAILED: %s\n", r.failure);
	return ok ? 0 : EXIT_FAILED;
}
