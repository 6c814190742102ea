/* Migration channel over loopback: bulk throughput and small-record round trips, per mode. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "channel.h"
#include "cert_fixture.h"

#define BATCH	     (256u << 10) /* about a PAGE_DATA batch */
#define PING_BYTES   64		  /* a small record: state, END */
#define DEFAULT_MIB  256
#define DEFAULT_RUNS 3
#define PINGS	     2000

enum { BULK, PINGPONG };

struct peer {
	int lfd, what;
	struct channel_security sec;
	uint64_t bytes;
	int rc;
	char err[CHANNEL_ERR_MAX];
	pthread_t thread;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_full(struct channel *ch, uint8_t *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = channel__read(ch, buf + got, len - got);

		if (n <= 0)
			return n ? (int)n : -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

/* The receiving side: takes everything (BULK), or answers each small record with one byte. */
static void *serve(void *arg)
{
	struct peer *p = arg;
	uint8_t *buf = malloc(BATCH);
	struct channel *ch;
	ssize_t n;

	p->rc = buf ? channel__accept(p->lfd, &p->sec, &ch, p->err, sizeof(p->err)) : -ENOMEM;
	if (p->rc < 0) {
		free(buf);
		return NULL;
	}
	if (p->what == BULK) {
		while ((n = channel__read(ch, buf, BATCH)) > 0)
			p->bytes += (uint64_t)n;
		p->rc = (int)n;
	} else {
		while (!(p->rc = read_full(ch, buf, PING_BYTES)) &&
		       !(p->rc = channel__write(ch, buf, 1)))
			;
		p->rc = p->rc == -EPIPE ? 0 : p->rc; /* the client's orderly close */
	}
	channel__close(ch);
	free(buf);
	return NULL;
}

/* One run: seconds for bulk bytes, or per small-record round trip. */
static int run(struct channel_security sec, int what, uint64_t bytes, double *secs)
{
	struct peer p = {.sec = sec, .what = what};
	char err[CHANNEL_ERR_MAX], hp[32];
	uint8_t *buf = calloc(1, BATCH);
	struct channel *ch;
	double t0 = 0;
	int rc;

	if (!buf || (rc = channel__listen("127.0.0.1:0", &p.lfd, err, sizeof(err))) < 0 ||
	    (rc = pthread_create(&p.thread, NULL, serve, &p) ? -EAGAIN : 0) < 0) {
		fprintf(stderr, "channel-bench: %s\n", buf ? err : "out of memory");
		free(buf);
		return -1;
	}
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", channel__local_port(p.lfd));
	rc = channel__connect(hp, &sec, &ch, err, sizeof(err));
	if (rc == 0) {
		t0 = now_s();
		if (what == BULK)
			for (uint64_t sent = 0; !rc && sent < bytes; sent += BATCH)
				rc = channel__write(ch, buf, BATCH);
		else
			/* A record as the stream writes it: an 8-byte header, then the body. */
			for (int i = 0; !rc && i < PINGS; i++)
				if (!(rc = channel__write(ch, buf, 8)) &&
				    !(rc = channel__write(ch, buf + 8, PING_BYTES - 8)))
					rc = read_full(ch, buf, 1);
		channel__close(ch);
	}
	pthread_join(p.thread, NULL);
	close(p.lfd);
	*secs = (now_s() - t0) / (what == BULK ? 1 : PINGS);
	free(buf);
	if (rc || p.rc || (what == BULK && p.bytes != bytes)) {
		fprintf(stderr, "channel-bench: run failed: %s %s\n", rc ? err : "", p.err);
		return -1;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int median(struct channel_security sec, int what, uint64_t bytes, int runs, double *out)
{
	double t[32];

	for (int i = 0; i < runs; i++)
		if (run(sec, what, bytes, &t[i]) < 0)
			return -1;
	qsort(t, (size_t)runs, sizeof(t[0]), cmp_double);
	*out = t[runs / 2];
	return 0;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/twin-channel-bench-XXXXXX", path[4][600], cmd[128];
	const char *env_mib = getenv("BENCH_CHANNEL_MIB"), *env_runs = getenv("BENCH_CHANNEL_RUNS");
	uint64_t mib = env_mib ? strtoull(env_mib, NULL, 10) : DEFAULT_MIB;
	int runs = env_runs ? atoi(env_runs) : DEFAULT_RUNS;
	double plain_s = 0;
	FILE *f;
	struct {
		const char *name;
		struct channel_security sec;
	} modes[] = {
	    {"plaintext (--insecure)", {.insecure = true}},
	    {"TLS 1.3 certificates", {.cert = path[0], .key = path[1], .ca = path[2]}},
	    {"TLS 1.3 PSK", {.psk_file = path[3]}},
	};

	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	if (runs < 1 || runs > 32 || !mib || !mkdtemp(dir) || !cert_fixture__make(dir, NULL)) {
		fprintf(stderr,
			"%s: BENCH_CHANNEL_RUNS must be 1..32, BENCH_CHANNEL_MIB > 0, and "
			"/tmp writable\n",
			argv[0]);
		return 1;
	}
	snprintf(path[0], sizeof(path[0]), "%s/server.pem", dir);
	snprintf(path[1], sizeof(path[1]), "%s/server.key", dir);
	snprintf(path[2], sizeof(path[2]), "%s/ca.pem", dir);
	snprintf(path[3], sizeof(path[3]), "%s/psk", dir);
	f = fopen(path[3], "w");
	if (!f || fprintf(f, "bench:%064x\n", 0x5eed) < 0 || fclose(f) || chmod(path[3], 0600))
		return 1;
	printf("Migration channel over loopback: %llu MiB in %u KiB writes; %d small records "
	       "(%d B, written as header + body) each answered by 1 byte; median of %d runs\n",
	       (unsigned long long)mib, BATCH >> 10, PINGS, PING_BYTES, runs);
	printf("%-24s %12s %10s %16s\n", "mode", "MiB/s", "vs plain", "record RTT (us)");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		double bulk, ping;

		if (median(modes[i].sec, BULK, mib << 20, runs, &bulk) < 0 ||
		    median(modes[i].sec, PINGPONG, 0, runs, &ping) < 0)
			return 1;
		if (!i)
			plain_s = bulk;
		printf("%-24s %12.0f %9.2fx %16.1f\n", modes[i].name, (double)mib / bulk,
		       plain_s / bulk, ping * 1e6);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? 1 : 0;
}
