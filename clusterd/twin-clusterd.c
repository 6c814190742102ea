/* twin-clusterd: one per host; glues Corosync, the CLI socket and twin-vmms to the pure model. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <event2/event.h>
#include "api.h"
#include "clog.h"
#include "conf.h"
#include "corosync.h"
#include "host_cpus.h"
#include "host_mem.h"
#include "local_cmd.h"
#include "membership.h"
#include "metrics_collect.h"
#include "metrics_http.h"
#include "model.h"
#include "persist.h"
#include "supervisor.h"
#include "vmcfg.h"

#define EXIT_RUNTIME 1 /* the Corosync link was lost, or start-up failed */
#define EXIT_USAGE   2 /* bad usage or a bad clusterd.conf */

#define DEFAULT_CONFIG "/etc/twin/clusterd.conf"
/* Corosync's pid lock, fixed by Corosync (a lab host has its own /run). */
#define COROSYNC_PID_FILE "/run/corosync.pid"
/* drill --host: the reply goes out over CPG first, then the host dies. */
#define HOST_DRILL_DELAY_MS 50
/* The model's clock (retries); the host's free memory is sent every MEMORY_EVERY ticks. */
#define TICK_MS	     500
#define MEMORY_EVERY 10
/* A state write slower than this is logged: failover and fencing decisions wait for it. */
#define PERSIST_SLOW_MS 20
/* A stop waits this long for the vmms' exits to be reported before leaving anyway. */
#define STOP_GRACE_S 10

/*
 * On SIGTERM, clusterd SIGKILLs every twin-vmm it runs, reports their deaths over CPG, and
 * only then leaves the group: what an operator of Pacemaker expects from stopping the
 * cluster stack on a node (its resources go; protected ones fail over to their backups, the
 * fast path).  Leaving them running would leave primaries that nobody fences on a quorum loss
 * and backups that nobody tells to activate: exactly the unsupervised copies the safety rule
 * exists to prevent.  A lost Corosync link ends the same way, with exit status 1.
 */

struct daemon {
	struct clusterd_conf conf;
	struct event_base *base;
	struct model *model;
	struct corosync *cs;
	struct supervisor *sup;
	struct api *api;
	struct host_cpus *cpus;
	struct metrics_http *metrics; /* NULL: no [metrics] listen */
	struct membership members; /* what of Corosync's membership the model may hear */
	struct local_ctx local; /* the local commands' view of the above */
	struct event *tick, *sigterm, *sigint, *grace, *host_kill;
	char state_file[CONF_PATH_MAX + 16]; /* STATE_DIR/cluster.json */
	unsigned int ticks;
	bool stopping;
	int exit_status;
};

static const char usage[] =
    "usage: twin-clusterd [--config FILE] [--check-config]\n"
    "  One per host, beside its Corosync (same network and mount namespaces).  Runs in the\n"
    "  foreground and logs to stderr.  --config defaults to " DEFAULT_CONFIG ".\n"
    "  --check-config only checks the config: silent and 0 if good, else FILE:LINE and 2.\n"
    "  SIGTERM stops it: every twin-vmm it runs is killed first, so protected VMs fail over.\n"
    "  Exit status: 0 stopped, 1 Corosync lost or a start-up failure, 2 bad usage or config.\n";

/*
 * drill --host: a whole-host death as the lab makes one (LAB.md): SIGKILL to every twin-vmm,
 * to this host's Corosync and to ourselves, with no goodbye: the others see the host leave.
 */
static void on_host_kill(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	FILE *f = fopen(COROSYNC_PID_FILE, "re");
	int pid = 0;

	clog__warn("drill: killing this whole host: every twin-vmm, corosync and twin-clusterd");
	supervisor__kill_all(d->sup);
	if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 1 || kill(pid, SIGKILL))
		clog__error("drill: cannot kill corosync (pid file %s): %s", COROSYNC_PID_FILE,
			    f ? "no pid in it, or the kill failed" : strerror(errno));
	if (f)
		fclose(f);
	raise(SIGKILL);
}

/* After the rest of this action list (the drill's reply): the kill, HOST_DRILL_DELAY_MS on. */
static void kill_host_soon(struct daemon *d)
{
	struct timeval delay = {0, HOST_DRILL_DELAY_MS * 1000};

	clog__warn("drill: this host dies in %d ms", HOST_DRILL_DELAY_MS);
	evtimer_add(d->host_kill, &delay);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The replicated state to disk before the actions that follow it (the model puts only fences
 * and kills before it): a host that restarts with it still holds the cluster's history.  A
 * failed write is loud but not fatal: persist__write then removed the file, so after a
 * restart this host counts as new (which the model allows) rather than an older history.
 */
static void persist_state(struct daemon *d, const char *json, size_t len)
{
	uint64_t t0 = now_ms(), took;
	int rc = persist__write(d->state_file, json, len);

	took = now_ms() - t0;
	if (rc)
		clog__error("cannot write the cluster state to %s: %s: removed it, so after a "
			    "restart this host counts as new: check the disk of [host] state_dir",
			    d->state_file, strerror(-rc));
	else if (took > PERSIST_SLOW_MS)
		clog__warn("writing the cluster state to %s took %llu ms (two fsyncs on the event "
			   "loop): a slow disk delays this host's decisions",
			   d->state_file, (unsigned long long)took);
}

/* Before any input: the state of this host's last life, if it wrote one. */
static void restore_state(struct daemon *d)
{
	char *text = NULL, err[256];
	size_t len = 0;
	int rc = persist__read(d->state_file, &text, &len);

	if (rc == -ENOENT)
		return;
	if (rc)
		clog__error("cannot read %s: %s: starting as a new host", d->state_file,
			    strerror(-rc));
	else if (model__restore(d->model, text, len, err, sizeof(err)))
		clog__error("%s: %s: starting as a new host", d->state_file, err);
	else
		clog__info("restored the cluster state of this host's last life from %s",
			   d->state_file);
	free(text);
}

static void run_action(struct daemon *d, const struct cl_action *a)
{
	switch (a->type) {
	case CL_ACT_SEND:
		corosync__send(d->cs, a->data, a->len);
		break;
	case CL_ACT_SPAWN_PRIMARY:
	case CL_ACT_SPAWN_BACKUP:
		/* A stop waits for the vmms to end: it starts none (we leave anyway). */
		if (d->stopping)
			clog__warn("vm %s: stopping: not starting its %s", a->vm,
				   a->type == CL_ACT_SPAWN_PRIMARY ? "primary" : "backup");
		else
			supervisor__spawn(d->sup, a->vm,
					  a->type == CL_ACT_SPAWN_PRIMARY ? CL_ROLE_PRIMARY
									  : CL_ROLE_BACKUP,
					  a->data, a->port);
		break;
	case CL_ACT_VMM:
		supervisor__command(d->sup, a);
		break;
	case CL_ACT_KILL:
		if (a->host)
			kill_host_soon(d);
		else
			supervisor__kill(d->sup, a->vm, a->role, a->signal);
		break;
	case CL_ACT_REPLY:
		api__reply(d->api, a->req_id, a->ok, a->err_class, a->data);
		break;
	case CL_ACT_LOG:
		clog__info("%s", a->data);
		break;
	case CL_ACT_PERSIST:
		persist_state(d, a->data, a->len);
		break;
	}
}

/*
 * Strictly in the model's order.  The model already puts a list's fences and kills before
 * its state write (model.c persist_after_fences, checked on every simulated list by
 * cluster_fixture.h sim_check_persist_order), so the fsyncs delay no fence (review 6,
 * finding 6); a second reorder here would be a second definition to keep in step.  A
 * host kill runs in order too: it only arms a timer.
 */
static void run_actions(struct daemon *d, const struct cl_actions *acts)
{
	for (size_t i = 0; i < acts->n; i++)
		run_action(d, &acts->v[i]);
}

static void feed(struct daemon *d, const struct cl_input *in)
{
	struct cl_actions acts;
	int rc;

	cl_actions__init(&acts);
	rc = model__input(d->model, in, &acts);
	if (rc == -ENOMEM)
		clog__error("model: out of memory: an input is lost");
	/* -EBADMSG: the model logged and dropped a message it could not decode. */
	run_actions(d, &acts);
	cl_actions__dispose(&acts);
}

/* ---- Corosync ---- */

static void on_deliver(void *opaque, uint32_t from, const void *data, size_t len)
{
	struct daemon *d = opaque;
	struct cl_input in = {.type = CL_IN_MESSAGE};

	if (!membership__deliver(&d->members))
		return; /* a membership the model cannot hold: it applies nothing */
	in.msg.from = from;
	in.msg.data = data;
	in.msg.len = len;
	feed(d, &in);
}

static void on_confchg(void *opaque, const uint32_t *members, size_t nmembers, const uint32_t *left,
		       size_t nleft, const uint32_t *joined, size_t njoined, uint64_t ring_seq)
{
	struct daemon *d = opaque;
	struct cl_input in[2];
	int n;

	clog__debug("corosync: membership: %zu members, %zu left, %zu joined, ring %llu", nmembers,
		    nleft, njoined, (unsigned long long)ring_seq);
	n = membership__confchg(&d->members, members, nmembers, left, nleft, joined, njoined,
				ring_seq, in);
	for (int i = 0; i < n; i++)
		feed(d, &in[i]);
}

static void on_quorum(void *opaque, bool quorate, uint32_t votes, uint32_t expected,
		      uint64_t ring_seq)
{
	struct daemon *d = opaque;
	struct cl_input in = {.type = CL_IN_QUORUM};

	in.quorum.quorate = quorate;
	in.quorum.votes = votes;
	in.quorum.expected_votes = expected;
	in.quorum.ring_seq = ring_seq;
	clog__debug("corosync: quorum: %s, %u of %u expected votes, ring %llu",
		    quorate ? "quorate" : "NOT quorate", votes, expected,
		    (unsigned long long)ring_seq);
	membership__quorum(&d->members, &in);
	feed(d, &in);
}

static void stop(struct daemon *d, int status);

static void on_lost(void *opaque, const char *why)
{
	clog__error("corosync: the connection is lost (%s): fencing every local twin-vmm "
		    "(SIGKILL) and exiting with status %d",
		    why, EXIT_RUNTIME);
	stop(opaque, EXIT_RUNTIME);
}

static struct corosync_ops corosync_ops = {
    .deliver = on_deliver,
    .confchg = on_confchg,
    .quorum = on_quorum,
    .lost = on_lost,
};

/* ---- twin-vmms ---- */

static void maybe_done(struct daemon *d)
{
	if (d->stopping && !supervisor__alive(d->sup))
		event_base_loopexit(d->base, NULL);
}

static void on_vmm_event(void *opaque, const struct cl_local_event *ev)
{
	struct daemon *d = opaque;
	struct cl_input in = {.type = CL_IN_LOCAL, .ev = *ev};

	feed(d, &in);
	maybe_done(d);
}

/*
 * Only an unprotected primary of ours, while quorate (the model's sense: votequorum, the
 * CPG majority and a remembered history) and not fenced: no backup exists to take over.
 */
static bool may_restart(void *opaque, const char *vm)
{
	struct daemon *d = opaque;
	const struct cl_state *st = model__state(d->model);

	if (d->stopping || !st->local.vq_quorate || !st->local.stream_quorate ||
	    !st->local.initialized)
		return false;
	for (int i = 0; i < CL_MAX_VMS; i++)
		if (!strcmp(st->local.vmms[i].vm, vm) &&
		    st->local.vmms[i].role == CL_ROLE_PRIMARY && st->local.vmms[i].fenced)
			return false;
	for (int i = 0; i < CL_MAX_VMS; i++) {
		const struct cl_vm *v = &st->cluster.vms[i];

		if (!strcmp(v->name, vm))
			return v->state == CL_VM_RUNNING && !v->backup &&
			       v->primary == st->local.nodeid;
	}
	return false;
}

static struct supervisor_ops supervisor_ops = {
    .event = on_vmm_event,
    .may_restart = may_restart,
};

/* ---- the CLI ---- */

/* A CLI request: a local command (host cpus, memory, peek, ...) here, the rest to the model. */
static void on_request(void *opaque, const struct cl_request *req)
{
	struct daemon *d = opaque;
	struct cl_input in = {.type = CL_IN_REQUEST, .req = req};

	if (local_cmd__is_local(req->cmd)) {
		local_cmd__run(&d->local, req);
		return;
	}
	feed(d, &in);
}

/* The VM config's probe (the drill's kv address), "" if none. */
static void add_probe(struct daemon *d, json_t *vm, const char *name)
{
	const struct cl_state *st = model__state(d->model);
	char err[256];
	struct vmcfg cfg;

	for (int i = 0; i < CL_MAX_VMS; i++) {
		const struct cl_vm *v = &st->cluster.vms[i];

		if (v->name[0] && !strcmp(v->name, name) &&
		    !vmcfg__parse_text(v->config, strlen(v->config), name, &cfg, err,
				       sizeof(err))) {
			json_object_set_new(vm, "probe", json_string(cfg.probe));
			return;
		}
	}
}

/*
 * A VM of a status or vm-list reply: its probe, and what its twin-vmm here knows: the
 * replication status (from its primary) and the last failure.
 */
static void add_vm_facts(struct daemon *d, json_t *vm)
{
	const char *name = json_string_value(json_object_get(vm, "name"));
	const char *error;
	json_t *repl;

	if (!name)
		return;
	add_probe(d, vm, name);
	repl = supervisor__replication(d->sup, name);
	if (repl)
		json_object_set(vm, "repl", repl);
	error = supervisor__error(d->sup, name);
	if (error)
		json_object_set_new(vm, "error", json_string(error));
}

/*
 * What only the daemon knows: the cluster's name and the Corosync token (cluster-status),
 * and for the VMs of status and vm-list, add_vm_facts.
 */
static void extend_reply(void *opaque, enum cl_cmd cmd, json_t *ret)
{
	struct daemon *d = opaque;
	size_t i;
	json_t *vm;

	if (cmd == CL_CMD_CLUSTER_STATUS && json_is_object(ret)) {
		json_object_set_new(ret, "cluster", json_string(d->conf.cluster_name));
		json_object_set_new(ret, "token_ms", json_integer(corosync__token_ms(d->cs)));
	}
	if (cmd != CL_CMD_STATUS && cmd != CL_CMD_VM_LIST)
		return;
	if (json_is_object(ret))
		add_vm_facts(d, ret);
	json_array_foreach(ret, i, vm) add_vm_facts(d, vm);
}

static struct api_ops api_ops = {
    .request = on_request,
    .extend = extend_reply,
};

/* ---- metrics ---- */

static json_t *replication_of(void *opaque, const char *vm)
{
	struct daemon *d = opaque;

	return supervisor__replication(d->sup, vm);
}

/* A scrape of GET /metrics: the page from the model's state and the vmms' last answers. */
static int metrics_page(void *opaque, char **out, size_t *len)
{
	struct daemon *d = opaque;
	struct metrics_source src = {
	    .state = model__state(d->model),
	    .replication = replication_of,
	    .opaque = d,
	    .cpus_offline = host_cpus__offline_count(d->cpus),
	    .pages_offline = host_mem__offline_count(d->local.mem),
	};

	return metrics_collect__page(&src, out, len);
}

/* ---- time and signals ---- */

/* MemAvailable from /proc/meminfo in MiB, 0 if unreadable. */
static uint32_t free_mib(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kib = 0;
	char line[128];

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib / 1024;
}

/* This host's free memory to the model, which sends it in HOST_INFO (placement weighs it). */
static void report_memory(struct daemon *d)
{
	struct cl_input in = {.type = CL_IN_LOCAL};

	in.ev.type = CL_EV_HOST_MEMORY;
	in.ev.free_mib = free_mib();
	feed(d, &in);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct cl_input in = {.type = CL_IN_TICK};

	in.now_ms = now_ms();
	feed(d, &in);
	if (++d->ticks % MEMORY_EVERY == 0)
		report_memory(d);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	clog__error("stop: %u twin-vmm(s) not reaped within %d s: leaving anyway",
		    supervisor__alive(d->sup), STOP_GRACE_S);
	event_base_loopexit(d->base, NULL);
}

/* Kills every vmm; the loop ends once their exits went to the model (and over CPG). */
static void stop(struct daemon *d, int status)
{
	struct timeval grace = {STOP_GRACE_S, 0};

	if (status > d->exit_status)
		d->exit_status = status;
	if (d->stopping)
		return;
	d->stopping = true;
	supervisor__kill_all(d->sup);
	evtimer_add(d->grace, &grace);
	maybe_done(d);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	clog__info("signal %d: stopping: killing every local twin-vmm, then leaving the cluster",
		   (int)sig);
	stop(arg, 0);
}

/* ---- main ---- */

static int parse_args(int argc, char **argv, const char **config, bool *check_only)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int o;

	*config = DEFAULT_CONFIG;
	*check_only = false;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			*config = optarg;
			break;
		case 'C':
			*check_only = true;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "twin-clusterd: error: unexpected argument '%s'\n%s", argv[optind],
			usage);
		return -EINVAL;
	}
	return 0;
}

/* The CPUs offline for Twin, as this host's last life left them. */
static int start_cpus(struct daemon *d, char *err, size_t errlen)
{
	char file[CONF_PATH_MAX + 16];
	cpu_set_t bound;

	snprintf(file, sizeof(file), "%s/cpus.json", d->conf.state_dir);
	if (host_cpus__new(d->conf.cpu_sysfs, file, &d->cpus, err, errlen))
		return -1;
	if (err[0]) {
		clog__error("cpus: %s: every CPU starts online for Twin", err);
		err[0] = 0;
	}
	/* Started on fewer CPUs (CPUAffinity=, taskset): Twin stays within them. */
	if (sched_getaffinity(0, sizeof(bound), &bound) || host_cpus__bound(d->cpus, &bound))
		clog__warn("cpus: clusterd's own CPUs leave Twin none (or cannot be read): not "
			   "bounding Twin by them");
	return 0;
}

static int start(struct daemon *d)
{
	struct timeval tick = {0, TICK_MS * 1000};
	uint32_t nodeid;
	int nodes;
	char err[CONF_PATH_MAX + 256] = "";

	corosync_ops.opaque = supervisor_ops.opaque = api_ops.opaque = d;
	if (corosync__open(&corosync_ops, &d->cs, &nodeid, err, sizeof(err)))
		goto fail;
	nodes = corosync__nodelist_size(d->cs);
	if (nodes > CL_MAX_HOSTS) {
		snprintf(err, sizeof(err),
			 "corosync.conf's nodelist has %d nodes, over the %d hosts a Twin cluster "
			 "holds: remove nodes from the nodelist (or run two clusters)",
			 nodes, CL_MAX_HOSTS);
		goto fail;
	}
	if (nodes < 0)
		clog__warn("corosync: cannot read the nodelist from cmap: a membership over %d "
			   "hosts will be treated as a quorum loss",
			   CL_MAX_HOSTS);
	d->model =
	    model__new(nodeid, d->conf.host_name, d->conf.replication_addr, d->conf.port_base);
	if (!d->model) {
		snprintf(err, sizeof(err),
			 "model: cannot start: is [host] name at most %d characters?", CL_NAME_MAX);
		goto fail;
	}
	if (mkdir(d->conf.state_dir, 0700) && errno != EEXIST) {
		snprintf(err, sizeof(err), "cannot create [host] state_dir %s: %s",
			 d->conf.state_dir, strerror(errno));
		goto fail;
	}
	snprintf(d->state_file, sizeof(d->state_file), "%s/cluster.json", d->conf.state_dir);
	restore_state(d);
	if (start_cpus(d, err, sizeof(err)))
		goto fail;
	if (supervisor__new(d->base, &d->conf, &supervisor_ops, &d->sup)) {
		snprintf(err, sizeof(err), "supervisor: cannot watch SIGCHLD");
		goto fail;
	}
	/* clusterd and the twin-vmms it spawns run on the CPUs online for Twin. */
	host_cpus__apply(d->cpus, d->sup);
	if (api__start(d->base, d->conf.socket, d->conf.vm_configs, &api_ops, &d->api, err,
		       sizeof(err)) ||
	    api__set_access(d->api, &d->conf.api, err, sizeof(err)))
		goto fail;
	if (d->conf.metrics.port &&
	    metrics_http__start(d->base, d->conf.metrics.addr, d->conf.metrics.port, metrics_page,
				d, &d->metrics, err, sizeof(err)))
		goto fail;
	d->local = (struct local_ctx){
	    .base = d->base,
	    .sup = d->sup,
	    .api = d->api,
	    .model = d->model,
	    .cpus = d->cpus,
	};
	if (host_mem__new(d->base, d->sup, &d->local.mem)) {
		snprintf(err, sizeof(err), "host mem: out of memory");
		goto fail;
	}
	d->tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	d->grace = evtimer_new(d->base, on_grace, d);
	d->host_kill = evtimer_new(d->base, on_host_kill, d);
	d->sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sigint = evsignal_new(d->base, SIGINT, on_signal, d);
	if (!d->tick || !d->grace || !d->host_kill || !d->sigterm || !d->sigint ||
	    event_add(d->tick, &tick) || evsignal_add(d->sigterm, NULL) ||
	    evsignal_add(d->sigint, NULL)) {
		snprintf(err, sizeof(err), "cannot set up the event loop: out of memory");
		goto fail;
	}
	report_memory(d); /* before the join: our first HOST_INFO carries it, not 0 */
	if (corosync__join(d->cs, d->base, err, sizeof(err)))
		goto fail;
	clog__info("host %s (nodeid %u) in cluster %s: replication on %s, state in %s",
		   d->conf.host_name, nodeid, d->conf.cluster_name, d->conf.replication_addr,
		   d->conf.state_dir);
	return 0;
fail:
	clog__error("%s", err);
	return -1;
}

int main(int argc, char **argv)
{
	static struct daemon d; /* big (the config): not on the stack */
	const char *config, *level = getenv("TWIN_LOG");
	char err[512];
	bool check_only;

	if (parse_args(argc, argv, &config, &check_only))
		return EXIT_USAGE;
	if (level && !strcmp(level, "debug"))
		clog__set_level(CLOG_DEBUG);
	if (conf__load(config, &d.conf, err, sizeof(err))) {
		fprintf(stderr, "twin-clusterd: error: %s\n", err);
		return EXIT_USAGE;
	}
	/* Packaging and operators: the file alone, no Corosync, nothing written. */
	if (check_only)
		return 0;
	clog__set_host(d.conf.host_name);
	/* A CLI client that hangs up early must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	d.base = event_base_new();
	if (!d.base || start(&d)) {
		d.exit_status = EXIT_RUNTIME;
		goto out;
	}
	event_base_dispatch(d.base);
	clog__info("stopped%s", d.exit_status ? " after a failure" : "");
out:
	metrics_http__stop(d.metrics);
	api__stop(d.api);
	corosync__stop(d.cs);
	host_mem__free(d.local.mem);
	supervisor__free(d.sup);
	host_cpus__free(d.cpus);
	if (d.model)
		model__free(d.model);
	if (d.tick)
		event_free(d.tick);
	if (d.grace)
		event_free(d.grace);
	if (d.host_kill)
		event_free(d.host_kill);
	if (d.sigterm)
		event_free(d.sigterm);
	if (d.sigint)
		event_free(d.sigint);
	if (d.base)
		event_base_free(d.base);
	return d.exit_status;
}
