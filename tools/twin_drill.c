/* twin drill failover: kill a VM's primary and measure the failover as clusterd and a client see
 * it. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "twin_drill.h"
#include "twin_status.h"

/* How often the drill sends the kv service an INCR. */
#define TICK_MS 5
/*
 * How often it asks clusterd for the VM's state, until the activation: each status goes
 * through the clusterd loop that runs the failover, so asking every tick would slow down
 * what is measured.
 */
#define STATUS_MS 20
/* The kv service must answer before the drill: how long it may take. */
#define PROBE_CHECK_MS 1000
/* A failover that takes longer has failed (a whole-host death waits for the token). */
#define DRILL_TIMEOUT_MS 30000
#define KV_KEY		 "drill"

struct probe {
	int fd; /* connected UDP socket; -1: no probe */
	char client[32];
	unsigned long long seq;
	/* Answers to older requests do not count: sent before the detection, the old primary
	 * may have answered them. */
	unsigned long long first_seq;
	unsigned int sent, answered;
};

/* What the drill saw, in ms from the kill request (< 0: not yet). */
struct observed {
	double detection, activation, first_answer;
	char new_primary[TWIN_HOST_NAME_MAX + 1];
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A UDP socket connected to ADDR:PORT ([v6]:PORT too): 0, or -1 with the reason said. */
static int probe_open(struct probe *p, const char *addr)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
	char host[256];
	const char *colon = strrchr(addr, ':'), *h = addr;
	size_t len = colon - addr;
	int rc;

	if (h[0] == '[') { /* host_port__valid checked the form */
		h++;
		len -= 2;
	}
	snprintf(host, sizeof(host), "%.*s", (int)len, h);
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc) {
		twin__error("drill: probe %s: %s: give the kv service's address", addr,
			    gai_strerror(rc));
		return -1;
	}
	p->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0 || connect(p->fd, res->ai_addr, res->ai_addrlen)) {
		twin__error("drill: probe %s: %s", addr, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	snprintf(p->client, sizeof(p->client), "drill-%d", (int)getpid());
	return 0;
}

/* One INCR with a new SEQ (tests/guests/README.md, the kv protocol). */
static void probe_send(struct probe *p)
{
	char req[96];
	int n = snprintf(req, sizeof(req), "%s %llu INCR " KV_KEY, p->client, ++p->seq);

	if (send(p->fd, req, n, MSG_DONTWAIT) == n)
		p->sent++;
}

/*
 * Reads every reply waiting; returns how many were OK answers ("CLIENT SEQ OK VALUE") to
 * this drill's requests from first_seq on.
 */
static int probe_receive(struct probe *p)
{
	char rep[128], want[48];
	int n = snprintf(want, sizeof(want), "%s ", p->client), ok = 0;
	ssize_t r;

	while ((r = recv(p->fd, rep, sizeof(rep) - 1, MSG_DONTWAIT)) > 0) {
		char *end;
		unsigned long long seq;

		rep[r] = '\0';
		if (strncmp(rep, want, n))
			continue;
		seq = strtoull(rep + n, &end, 10);
		if (!strncmp(end, " OK ", 4) && seq >= p->first_seq) {
			p->answered++;
			ok++;
		}
	}
	return ok;
}

/* The kv service answers now, before anything is killed: else no first answer can be timed. */
static int probe_check(struct probe *p, const char *addr)
{
	double end = now_ms() + PROBE_CHECK_MS;

	while (now_ms() < end) {
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};

		probe_send(p);
		if (poll(&pfd, 1, 100) > 0 && probe_receive(p))
			return 0;
	}
	twin__error("drill: the kv service at %s does not answer: check --probe (or probe = in "
		    "the VM config) and that the VM serves kv",
		    addr);
	return -1;
}

/* --host from the primary's own host would kill the clusterd the drill asks. */
static int check_host_drill(struct twin_client *c, const char *primary)
{
	json_t *cs = twin_client__call(c, "cluster-status", NULL);
	int rc = 0;

	if (!cs)
		return -1;
	if (!strcmp(twin_status__str(cs, "name"), primary)) {
		twin__error(
		    "drill --host: %s is the primary's host, whose clusterd this socket is: "
		    "run the drill with another host's clusterd socket (--socket)",
		    primary);
		rc = -1;
	}
	json_decref(cs);
	return rc;
}

/*
 * One status sample at t (ms from t0): detection, activation.  At the detection, the probes
 * sent from then on are the ones whose answers count: the old primary is dead by then.
 */
static int sample(struct twin_client *c, const char *vm, const char *old_primary,
		  const char *old_backup, struct probe *p, double t0, struct observed *o)
{
	json_t *st = twin_status__vm(c, vm);
	const char *state, *primary;
	double t;

	if (!st)
		return -1;
	state = twin_status__str(st, "state");
	primary = twin_status__str(st, "primary");
	t = now_ms();
	if (o->detection < 0 && (!strcmp(state, "failing-over") || strcmp(primary, old_primary))) {
		o->detection = t - t0;
		p->first_seq = p->seq + 1;
	}
	if (o->activation < 0 && !strcmp(primary, old_backup) && strcmp(state, "failing-over")) {
		o->activation = t - t0;
		snprintf(o->new_primary, sizeof(o->new_primary), "%s", primary);
	}
	if (json_is_true(json_object_get(st, "awaiting_operator"))) {
		twin__error("drill %s: automatic failover was refused (fewer than 3 votes or no "
			    "quorum): %s; twin failover %s --force overrides it",
			    vm, twin_status__str(st, "error"), vm);
		json_decref(st);
		return -1;
	}
	json_decref(st);
	return 0;
}

/*
 * From t0 (the kill request), asks the VM's state every STATUS_MS until the activation and
 * probes the kv service every TICK_MS, until the backup runs it and the service answered
 * (or no probe), or the timeout.
 */
static int watch(struct twin_client *c, const char *vm, const char *old_primary,
		 const char *old_backup, struct probe *p, double t0, struct observed *o)
{
	double next = t0, next_status = t0;

	for (;;) {
		double t = now_ms();
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};

		if (t >= next_status && o->activation < 0) {
			if (sample(c, vm, old_primary, old_backup, p, t0, o))
				return -1;
			next_status += STATUS_MS;
		}
		if (now_ms() >= next) {
			if (p->fd >= 0)
				probe_send(p);
			next += TICK_MS;
		}
		if (p->fd >= 0 && poll(&pfd, 1, 0) > 0 && probe_receive(p) && o->first_answer < 0)
			o->first_answer = now_ms() - t0;
		if (o->activation >= 0 && (p->fd < 0 || o->first_answer >= 0))
			return 0;
		if (now_ms() - t0 > DRILL_TIMEOUT_MS) {
			twin__error(
			    "drill %s: no failover within %d s: detection %s, activation %s: "
			    "see twin status %s and clusterd.log",
			    vm, DRILL_TIMEOUT_MS / 1000, o->detection >= 0 ? "seen" : "unseen",
			    o->activation >= 0 ? "seen" : "unseen", vm);
			return -1;
		}
		t = next - now_ms();
		if (t > 0)
			poll(&pfd, p->fd >= 0, (int)t + 1);
	}
}

/* ms to a tenth: the probes' resolution is 5 ms, more digits would only be noise. */
static double tenth(double ms)
{
	return round(ms * 10) / 10;
}

static void report(const struct twin_args *a, const char *old_primary, const char *probe,
		   const struct probe *p, const struct observed *o)
{
	if (a->json) {
		json_t *r = json_pack(
		    "{s:s, s:s, s:s, s:s, s:f, s:f, s:o, s:s?, s:i, s:i}", "vm", a->vm, "kind",
		    a->host ? "host" : "vmm", "killed_host", old_primary, "new_primary",
		    o->new_primary, "detection_ms", tenth(o->detection), "activation_ms",
		    tenth(o->activation), "first_answer_ms",
		    o->first_answer >= 0 ? json_real(tenth(o->first_answer)) : json_null(), "probe",
		    probe, "requests", p->sent, "answers", p->answered);

		twin_status__print_json(r);
		json_decref(r);
		return;
	}
	printf("drill failover %s: killed %s on %s, measured from the kill request\n", a->vm,
	       a->host ? "every process of the host (corosync, clusterd, twin-vmm)"
		       : "the primary twin-vmm (SIGKILL)",
	       old_primary);
	printf("  detection        %8.1f ms  (clusterd saw the primary's death; status asked every "
	       "%d ms)\n",
	       o->detection, STATUS_MS);
	printf("  activation       %8.1f ms  (%s runs the VM)\n", o->activation, o->new_primary);
	if (o->first_answer >= 0)
		printf("  first kv answer  %8.1f ms  (%s, to INCRs sent every %d ms from the "
		       "detection on: %u sent in all)\n",
		       o->first_answer, probe, TICK_MS, p->sent);
	else
		printf(
		    "  first kv answer         -     (no probe: give --probe ADDR:PORT or probe = "
		    "in the VM config)\n");
}

int twin_drill__run(struct twin_client *c, const struct twin_args *a)
{
	struct observed o = {.detection = -1, .activation = -1, .first_answer = -1};
	char old_primary[TWIN_HOST_NAME_MAX + 1], old_backup[TWIN_HOST_NAME_MAX + 1];
	struct probe p = {.fd = -1};
	json_t *vm = twin_status__vm(c, a->vm), *ret = NULL;
	const char *probe = NULL;
	int status = TWIN_EXIT_FAILED;
	double t0;

	if (!vm)
		return TWIN_EXIT_FAILED;
	if (strcmp(twin_status__str(vm, "state"), "protected")) {
		twin__error("drill %s: the VM is %s, not protected: a failover needs a backup in "
			    "sync (twin protect %s)",
			    a->vm, twin_status__str(vm, "state"), a->vm);
		goto out;
	}
	snprintf(old_primary, sizeof(old_primary), "%s", twin_status__str(vm, "primary"));
	snprintf(old_backup, sizeof(old_backup), "%s", twin_status__str(vm, "backup"));
	probe = a->probe
		    ?: strcmp(twin_status__str(vm, "probe"), "-") ? twin_status__str(vm, "probe")
								  : NULL;
	if (probe && (probe_open(&p, probe) || probe_check(&p, probe)))
		goto out;
	if (a->host && check_host_drill(c, old_primary))
		goto out;
	p.sent = p.answered = 0;
	p.first_seq = ULLONG_MAX; /* set at the detection */
	t0 = now_ms();
	ret = twin_client__call(c, "drill", json_pack("{s:s, s:b}", "vm", a->vm, "host", a->host));
	if (!ret || watch(c, a->vm, old_primary, old_backup, &p, t0, &o))
		goto out;
	report(a, old_primary, probe, &p, &o);
	status = TWIN_EXIT_OK;
out:
	json_decref(ret);
	json_decref(vm);
	if (p.fd >= 0)
		close(p.fd);
	return status;
}
