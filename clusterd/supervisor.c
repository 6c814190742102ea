/* twin-clusterd's twin-vmm processes: fork/exec per role, SIGCHLD reaping, control commands. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "clog.h"
#include "cpu_list.h"
#include "cpu_pin.h"
#include "supervisor.h"
#include "vmm_argv.h"
#include "vmm_client.h"

/* A fresh twin-vmm binds its control socket within milliseconds; 10 s bounds a stuck one. */
#define CONNECT_EVERY_MS 20
#define CONNECT_TRIES	 500
/* Replies: most commands answer at once; failover returns once the VM runs there. */
#define REPLY_MS 5000
/* fence and unfence only flip a gate; degrade may wait DEGRADE_TIMEOUT_NS (10 s) in twin-vmm. */
#define FENCE_MS     2000
#define DEGRADE_MS   15000
#define PROTECT_MS   30000
#define FAILOVER_MS  60000
#define UNPROTECT_MS 60000
/*
 * A fence not confirmed this soon gets the vmm SIGKILLed.  twin-vmm runs its control requests
 * one at a time, so a fence waits behind a slow failover, unprotect or degrade whatever
 * connection it comes on; only a kill bounds it.  That is safe: a primary outside quorum is
 * dead to the majority anyway, and a copy that may still release output is not.
 */
#define FENCE_DEADLINE_MS 200
/* query-replication: while the initial sync runs, and then to see a stall sooner. */
#define SYNC_POLL_MS  200
#define WATCH_POLL_MS 500
/*
 * A stall is reported once it has lasted STALL_POLLS watch polls in a row (with twin-vmm's own
 * 1 s of silence before it says stalled: about 2 s unheard).  The report ends in the backup's
 * kill and a full initial sync, so a blip a loaded host or a flapping link recovers from on
 * its own must not make one; past that the VM's clients already wait (its output is held) and
 * a degrade ends their wait.  Once per stall: the model sends it again after a quorate round
 * if no quorate partition applied it.
 */
#define STALL_POLLS 3
/*
 * A failed degrade leaves a primary whose backup is gone holding its output: it is tried
 * DEGRADE_TRIES times, DEGRADE_RETRY_MS apart, then shown in status.  Never a kill: no other
 * copy runs the VM.
 */
#define DEGRADE_TRIES	 3
#define DEGRADE_RETRY_MS 1000
/* An unfence that fails leaves the VM paused: tried as often (it is idempotent), then shown. */
#define UNFENCE_TRIES	 3
#define UNFENCE_RETRY_MS 1000

enum poll_mode { POLL_NONE, POLL_SYNC, POLL_WATCH };

/* One twin-vmm: a VM's role on this host.  A slot is free when vm[0] is 0. */
struct vmm {
	struct supervisor *s;
	char vm[CL_NAME_MAX + 1];
	enum cl_role role;
	char *config; /* the VM config text, kept for a restart */
	uint16_t port;
	pid_t pid;		   /* 0: not running (a restart is pending) */
	bool killed;		   /* we ended it: its exit is reported, never restarted */
	bool started;		   /* VMM_STARTED reported */
	struct vmm_client *client; /* NULL: not connected (yet, or again) */
	char cpus[256];		   /* its --cpus, or the set-cpus sent as it connected; "": any */
	struct vmm_client *dead;   /* closed, freed on the next connect_tick */
	/*
	 * fence and unfence only, on a connection of their own: never queued behind what
	 * clusterd sent on client (polls, protect, a slow unprotect).
	 */
	struct vmm_client *fencer, *fencer_dead;
	struct event *fence_deadline; /* armed from a fence until twin-vmm confirms it */
	unsigned int pending;	      /* 1 << cl_vmm_cmd: sent once the control socket connects */
	int crash_status;	      /* the crash a pending restart follows */
	struct event *timer;	      /* connect retries, or the restart delay */
	unsigned int connect_tries;
	struct event *poll;
	enum poll_mode polling;
	unsigned int stalled_polls; /* consecutive watch polls that found it stalled */
	unsigned int degrade_tries; /* failed degrades in a row */
	struct event *degrade_retry;
	unsigned int unfence_tries; /* failed unfences in a row */
	struct event *unfence_retry;
	json_t *repl;	      /* the last query-replication answer, for status */
	uint64_t repl_epochs; /* ... its "epochs", and when it came (ms, monotonic) */
	uint64_t repl_at_ms;
	char error[256]; /* the last failure (protect, the sync, failover), for status */
	time_t restarts[SUPERVISOR_RESTARTS]; /* when the last restarts were, oldest first */
	unsigned int nr_restarts;
};

struct pending_event {
	struct pending_event *next;
	struct cl_local_event ev;
};

struct supervisor {
	struct event_base *base;
	const struct clusterd_conf *conf;
	const struct supervisor_ops *ops;
	struct event *sigchld;
	/* Events for the model, in the order they happened, delivered from the loop. */
	struct pending_event *head, **tail;
	struct event *deliver;
	/* Two per VM: the old and the new role may overlap while one is reaped. */
	struct vmm vmms[2 * CL_MAX_VMS];
	/* Where new twin-vmms run (--cpus LIST: the host's CPUs not offlined); "": anywhere. */
	char vmm_cpus[256];
};

/* ms milliseconds as a timeval, for evtimer_add. */
static struct timeval ms_tv(unsigned int ms)
{
	return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

static void deliver(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *s = arg;

	while (s->head) {
		struct pending_event *p = s->head;

		s->head = p->next;
		if (!s->head)
			s->tail = &s->head;
		s->ops->event(s->ops->opaque, &p->ev);
		free(p);
	}
}

/* Queues an event for the model: from the loop, not from inside a supervisor__ call it made. */
static void emit_for(struct supervisor *s, const char *vm, enum cl_role role, enum cl_event type,
		     int status)
{
	struct pending_event *p = calloc(1, sizeof(*p));

	if (!p) {
		clog__error("vm %s: out of memory: the %d event is lost", vm, type);
		return;
	}
	p->ev.type = type;
	p->ev.role = role;
	p->ev.status = status;
	snprintf(p->ev.vm, sizeof(p->ev.vm), "%s", vm);
	*s->tail = p;
	s->tail = &p->next;
	event_active(s->deliver, 0, 0);
}

static void emit(struct vmm *v, enum cl_event type, int status)
{
	emit_for(v->s, v->vm, v->role, type, status);
}

static struct vmm *find(struct supervisor *s, const char *vm, enum cl_role role)
{
	for (size_t i = 0; i < sizeof(s->vmms) / sizeof(s->vmms[0]); i++) {
		struct vmm *v = &s->vmms[i];

		/* One being killed no longer counts: its successor may already start. */
		if (v->vm[0] && !v->killed && !strcmp(v->vm, vm) &&
		    (role == CL_ROLE_NONE || v->role == role))
			return v;
	}
	return NULL;
}

static void release(struct vmm *v)
{
	vmm_client__free(v->client);
	vmm_client__free(v->dead);
	vmm_client__free(v->fencer);
	vmm_client__free(v->fencer_dead);
	json_decref(v->repl);
	if (v->timer)
		event_free(v->timer);
	if (v->fence_deadline)
		event_free(v->fence_deadline);
	if (v->degrade_retry)
		event_free(v->degrade_retry);
	if (v->unfence_retry)
		event_free(v->unfence_retry);
	if (v->poll)
		event_free(v->poll);
	free(v->config);
	memset(v, 0, sizeof(*v));
}

/* Reports the exit and frees the slot. */
static void exited(struct vmm *v, int status)
{
	emit(v, CL_EV_VMM_EXITED, status);
	release(v);
}

static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0700) && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	return mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
}

/*
 * The child: the log as stdout and stderr, its own process group, a clean signal state, and
 * none of clusterd's descriptors: a twin-vmm holding our Corosync connection open would hide
 * our death from Corosync.  It dies with clusterd (SIGKILL): a twin-vmm nobody supervises
 * is never fenced on a quorum loss, while the others, seeing us leave CPG, activate its
 * backup.
 */
static void __attribute__((noreturn)) exec_child(const struct vmm_argv *a, int log_fd, pid_t parent)
{
	sigset_t none;
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(127); /* clusterd died before the prctl: not a moment unsupervised */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* A ^C at clusterd's terminal is for clusterd, not for the VMs. */
	setpgid(0, 0);
	if (null < 0 || dup2(null, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0 ||
	    close_range(3, ~0u, 0))
		_exit(127);
	execv(a->argv[0], a->argv);
	dprintf(2, "twin-clusterd: cannot run %s: %s: check [paths] twin_vmm in clusterd.conf\n",
		a->argv[0], strerror(errno));
	_exit(127);
}

static void connect_tick(evutil_socket_t fd, short what, void *arg);
static void kill_vmm(struct vmm *v, int sig);
static void arm_fence_deadline(struct vmm *v);
static void fence_overdue(evutil_socket_t fd, short what, void *arg);
static void degrade_retry_tick(evutil_socket_t fd, short what, void *arg);
static void unfence_retry_tick(evutil_socket_t fd, short what, void *arg);

/* Appends --cpus list to a: 0, -E2BIG or -ENOMEM. */
static int add_cpus(struct vmm_argv *a, const char *list)
{
	if (a->argc + 2 > VMM_ARGV_MAX)
		return -E2BIG;
	a->argv[a->argc] = strdup("--cpus");
	if (!a->argv[a->argc])
		return -ENOMEM;
	a->argv[++a->argc] = strdup(list);
	if (!a->argv[a->argc])
		return -ENOMEM;
	a->argv[++a->argc] = NULL;
	return 0;
}

/* Forks twin-vmm for v; 0, or -errno after logging why. */
static int start_process(struct vmm *v)
{
	const struct clusterd_conf *conf = v->s->conf;
	struct vmm_argv a = {0};
	struct vmcfg cfg;
	char err[2 * CONF_PATH_MAX], dir[CONF_PATH_MAX], log[CONF_PATH_MAX + 8];
	struct timeval every = ms_tv(CONNECT_EVERY_MS);
	int rc, log_fd = -1;
	pid_t parent;

	rc = vmcfg__parse_text(v->config, strlen(v->config), v->vm, &cfg, err, sizeof(err));
	rc = rc
		 ?: vmm_argv__build(conf, &cfg,
				    v->role == CL_ROLE_PRIMARY ? VMM_ARGV_PRIMARY : VMM_ARGV_BACKUP,
				    v->port, &a, err, sizeof(err));
	if (!rc && v->s->vmm_cpus[0] && (rc = add_cpus(&a, v->s->vmm_cpus)))
		snprintf(err, sizeof(err), "cannot add --cpus %s: %s", v->s->vmm_cpus,
			 strerror(-rc));
	snprintf(v->cpus, sizeof(v->cpus), "%s", v->s->vmm_cpus);
	if (!rc && (rc = vmm_argv__vm_dir(conf, v->vm, dir, sizeof(dir)) ?: mkdir_p(dir)))
		snprintf(err, sizeof(err), "cannot create %s: %s", dir, strerror(-rc));
	if (!rc) {
		snprintf(log, sizeof(log), "%s/log", dir);
		log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log_fd < 0) {
			rc = -errno;
			snprintf(err, sizeof(err), "cannot open %s: %s", log, strerror(errno));
		}
	}
	if (rc) {
		clog__error("vm %s: cannot start its %s: %s", v->vm, cl_role__to_str(v->role), err);
		goto out;
	}
	dprintf(log_fd, "--- twin-clusterd: starting the %s:", cl_role__to_str(v->role));
	for (int i = 0; i < a.argc; i++)
		dprintf(log_fd, " %s", a.argv[i]);
	dprintf(log_fd, "\n");
	parent = getpid();
	v->pid = fork();
	if (v->pid < 0) {
		rc = -errno;
		v->pid = 0;
		clog__error("vm %s: fork failed: %s", v->vm, strerror(-rc));
		goto out;
	}
	if (!v->pid)
		exec_child(&a, log_fd, parent);
	clog__info("vm %s: %s twin-vmm started, pid %d, log %s", v->vm, cl_role__to_str(v->role),
		   (int)v->pid, log);
	/* Restarted after a fence came: it runs unfenced until the fence reaches it. */
	if (v->pending & (1u << CL_VMM_FENCE))
		arm_fence_deadline(v);
	v->connect_tries = 0;
	event_assign(v->timer, v->s->base, -1, 0, connect_tick, v);
	event_add(v->timer, &every);
out:
	if (log_fd >= 0)
		close(log_fd);
	vmm_argv__dispose(&a);
	return rc;
}

static void on_started(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;

	if (!ret) {
		clog__error("vm %s: its %s does not answer query-status: %s", v->vm,
			    cl_role__to_str(v->role), error);
		return;
	}
	if (!v->started) {
		v->started = true;
		emit(v, CL_EV_VMM_STARTED, 0);
	}
}

/* One of v's control connections (*client) closed: *dead keeps it until the next connect_tick. */
static void lost_connection(struct vmm *v, struct vmm_client **client, struct vmm_client **dead,
			    const char *which)
{
	struct timeval every = ms_tv(CONNECT_EVERY_MS);

	/* An exit comes through SIGCHLD: that is what the model hears. */
	clog__debug("vm %s: the %s's %s connection closed", v->vm, cl_role__to_str(v->role), which);
	/* Inside the client's own callback: it is freed on the next connect_tick. */
	*dead = *client;
	*client = NULL;
	if (!v->pid || v->killed)
		return;
	/* A live twin-vmm (a late reply, say) gets a fresh connection; failing that, SIGKILL. */
	clog__warn("vm %s: lost the %s's %s connection: reconnecting", v->vm,
		   cl_role__to_str(v->role), which);
	v->connect_tries = 0;
	event_del(v->timer);
	event_assign(v->timer, v->s->base, -1, 0, connect_tick, v);
	event_add(v->timer, &every);
}

static void on_closed(void *opaque)
{
	struct vmm *v = opaque;

	lost_connection(v, &v->client, &v->dead, "control");
}

static void on_fencer_closed(void *opaque)
{
	struct vmm *v = opaque;

	lost_connection(v, &v->fencer, &v->fencer_dead, "fence");
}

/* Sends the commands that came while the control socket was not connected. */
static void flush_pending(struct vmm *v)
{
	static const enum cl_vmm_cmd order[] = {CL_VMM_DEGRADE, CL_VMM_FAILOVER, CL_VMM_FENCE,
						CL_VMM_UNFENCE};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && v->client; i++) {
		struct cl_action a = {.type = CL_ACT_VMM, .role = v->role, .vmm_cmd = order[i]};

		if (!(v->pending & (1u << order[i])))
			continue;
		v->pending &= ~(1u << order[i]);
		snprintf(a.vm, sizeof(a.vm), "%s", v->vm);
		supervisor__command(v->s, &a);
	}
}

/* Whether process pid holds the socket with this inode. */
static bool holds_socket(pid_t pid, unsigned long inode)
{
	char dir[32], link[64], want[48], target[64];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	d = opendir(dir);
	while (d && !found && (e = readdir(d))) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%.16s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			found = !strcmp(target, want);
		}
	}
	if (d)
		closedir(d);
	return found;
}

/*
 * Whether process pid listens on TCP port (in this network namespace).  A backup's
 * twin-vmm listens long before its control socket exists (that comes with the VM, after
 * the initial sync), and listening is what makes it "started" for the model.  The socket
 * must be pid's own: a predecessor being killed may still hold the port for a moment.
 */
static bool listening(pid_t pid, uint16_t port)
{
	static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	bool found = false;

	for (size_t i = 0; i < 2 && !found; i++) {
		FILE *f = fopen(tables[i], "re");
		char line[512];
		unsigned int p, st;
		unsigned long inode;

		while (f && !found && fgets(line, sizeof(line), f))
			found =
			    sscanf(line,
				   " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x "
				   "%*x %*u %*u %lu",
				   &p, &st, &inode) == 3 &&
			    p == port && st == 0x0A /* TCP_LISTEN */ && holds_socket(pid, inode);
		if (f)
			fclose(f);
	}
	return found;
}

static void on_cpus_set(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;
	cpu_set_t set;
	int rc;

	if (ret || v->killed || !v->pid)
		return;
	rc = cpu_list__parse(v->cpus, &set) ?: cpu_pin__process(v->pid, &set);
	clog__error("vm %s: its %s refused set-cpus %s (%s): %s from clusterd%s%s%s", v->vm,
		    cl_role__to_str(v->role), v->cpus, error, rc ? "cannot pin it" : "pinned it",
		    rc ? ": " : "", rc ? strerror(-rc) : "",
		    rc == -EINVAL ? CPU_PIN_EINVAL_HINT : "");
}

/*
 * A twin-vmm started on other CPUs than new ones get now (a cpu-offline or -online came
 * between its fork and its control socket; clusterd's pinning from outside meanwhile is
 * undone by its own --cpus at the top of main) is told the current set first thing, on the
 * connection every later set-cpus takes too, so the last one sent is the one that holds.
 */
static void send_current_cpus(struct vmm *v)
{
	const char *now = v->s->vmm_cpus;

	if (!now[0] || !strcmp(v->cpus, now))
		return;
	clog__info("vm %s: its %s started on CPUs %s, Twin's are %s now: sending set-cpus", v->vm,
		   cl_role__to_str(v->role), v->cpus[0] ? v->cpus : "(any)", now);
	snprintf(v->cpus, sizeof(v->cpus), "%s", now);
	vmm_client__call(v->client, "set-cpus", json_pack("{s:s}", "cpus", now), REPLY_MS,
			 on_cpus_set, v);
}

/*
 * Until the control socket answers: a primary gets CONNECT_TRIES, a backup as long as it
 * lives (its socket comes after the initial sync) but CONNECT_TRIES to listen.
 */
static void connect_tick(evutil_socket_t fd, short what, void *arg)
{
	struct vmm *v = arg;
	struct timeval every = ms_tv(CONNECT_EVERY_MS);
	char path[CONF_SOCKET_MAX + 1];

	if (v->role == CL_ROLE_BACKUP && !v->started && listening(v->pid, v->port)) {
		clog__info("vm %s: its backup listens on port %u", v->vm, v->port);
		v->started = true;
		emit(v, CL_EV_VMM_STARTED, 0);
	}
	vmm_client__free(v->dead);
	v->dead = NULL;
	vmm_client__free(v->fencer_dead);
	v->fencer_dead = NULL;
	vmm_argv__control_path(v->s->conf, v->vm, path, sizeof(path));
	if (!v->client && (v->client = vmm_client__connect(v->s->base, path, on_closed, v))) {
		send_current_cpus(v);
		vmm_client__call(v->client, "query-status", NULL, REPLY_MS, on_started, v);
	}
	if (v->client && !v->fencer)
		v->fencer = vmm_client__connect(v->s->base, path, on_fencer_closed, v);
	if (v->client && v->fencer) {
		flush_pending(v);
		return;
	}
	if ((v->role == CL_ROLE_BACKUP && v->started) || ++v->connect_tries < CONNECT_TRIES) {
		event_add(v->timer, &every);
		return;
	}
	clog__error("vm %s: its %s (pid %d) did not %s within %d s: killing it", v->vm,
		    cl_role__to_str(v->role), (int)v->pid,
		    v->role == CL_ROLE_BACKUP ? "listen" : "open its control socket",
		    CONNECT_TRIES * CONNECT_EVERY_MS / 1000);
	kill_vmm(v, SIGKILL);
}

void supervisor__spawn(struct supervisor *s, const char *vm, enum cl_role role, const char *config,
		       uint16_t port)
{
	struct vmm *v = NULL;

	for (size_t i = 0; i < sizeof(s->vmms) / sizeof(s->vmms[0]) && !v; i++)
		if (!s->vmms[i].vm[0])
			v = &s->vmms[i];
	if (find(s, vm, role)) {
		/* The model spawns a role once: a second is its bug, and the first one stays. */
		clog__error("vm %s: its %s runs already: not starting another", vm,
			    cl_role__to_str(role));
		return;
	}
	if (!v) {
		clog__error("vm %s: cannot start its %s: %zu twin-vmms run already", vm,
			    cl_role__to_str(role), sizeof(s->vmms) / sizeof(s->vmms[0]));
		emit_for(s, vm, role, CL_EV_VMM_EXITED, W_EXITCODE(127, 0));
		return;
	}
	v->s = s;
	snprintf(v->vm, sizeof(v->vm), "%s", vm);
	v->role = role;
	v->port = port;
	v->config = strdup(config);
	v->timer = event_new(s->base, -1, 0, connect_tick, v);
	v->fence_deadline = evtimer_new(s->base, fence_overdue, v);
	v->degrade_retry = evtimer_new(s->base, degrade_retry_tick, v);
	v->unfence_retry = evtimer_new(s->base, unfence_retry_tick, v);
	if (!v->config || !v->timer || !v->fence_deadline || !v->degrade_retry ||
	    !v->unfence_retry || start_process(v))
		exited(v, W_EXITCODE(127, 0));
}

static void restart_tick(evutil_socket_t fd, short what, void *arg)
{
	struct vmm *v = arg;
	struct supervisor *s = v->s;

	/* Quorum (or the fence) may have gone while the restart waited. */
	if (!s->ops->may_restart(s->ops->opaque, v->vm)) {
		clog__warn("vm %s: not restarting its primary: this host may no longer run it",
			   v->vm);
		exited(v, v->crash_status);
		return;
	}
	if (start_process(v))
		exited(v, W_EXITCODE(127, 0));
}

/*
 * A primary that crashed while unprotected: nothing else can run the VM, so restart it here,
 * at most SUPERVISOR_RESTARTS times per window, with a doubling delay.  True if scheduled.
 */
static bool schedule_restart(struct vmm *v, int status)
{
	struct supervisor *s = v->s;
	time_t now = time(NULL);
	struct timeval delay = {0};
	unsigned int n = 0;

	if (v->role != CL_ROLE_PRIMARY || v->killed ||
	    (WIFEXITED(status) && !WEXITSTATUS(status)) ||
	    !s->ops->may_restart(s->ops->opaque, v->vm))
		return false;
	for (unsigned int i = 0; i < v->nr_restarts; i++)
		n += now - v->restarts[i] < SUPERVISOR_RESTART_WINDOW_S;
	if (n >= SUPERVISOR_RESTARTS) {
		clog__error("vm %s: its primary crashed %u times within %d s: not restarting it "
			    "again (see its log)",
			    v->vm, n + 1, SUPERVISOR_RESTART_WINDOW_S);
		return false;
	}
	if (v->nr_restarts == SUPERVISOR_RESTARTS)
		memmove(v->restarts, v->restarts + 1, sizeof(v->restarts[0]) * --v->nr_restarts);
	v->restarts[v->nr_restarts++] = now;
	v->crash_status = status;
	delay.tv_sec = 1 << n;
	clog__warn("vm %s: its unprotected primary crashed: restarting it in %ld s (%u of %d)",
		   v->vm, (long)delay.tv_sec, n + 1, SUPERVISOR_RESTARTS);
	event_del(v->timer);
	event_assign(v->timer, s->base, -1, 0, restart_tick, v);
	event_add(v->timer, &delay);
	return true;
}

static void describe(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, size, "wait status %#x", status);
}

static void on_exit_status(struct vmm *v, int status)
{
	char how[64];

	describe(status, how, sizeof(how));
	clog__info("vm %s: %s twin-vmm pid %d ended: %s%s", v->vm, cl_role__to_str(v->role),
		   (int)v->pid, how, v->killed ? " (we ended it)" : "");
	v->pid = 0;
	vmm_client__free(v->client);
	v->client = NULL;
	vmm_client__free(v->dead);
	v->dead = NULL;
	vmm_client__free(v->fencer);
	v->fencer = NULL;
	vmm_client__free(v->fencer_dead);
	v->fencer_dead = NULL;
	event_del(v->fence_deadline);
	event_del(v->degrade_retry);
	event_del(v->unfence_retry);
	if (v->poll)
		event_del(v->poll);
	v->polling = POLL_NONE;
	event_del(v->timer);
	if (!schedule_restart(v, status))
		exited(v, status);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *s = arg;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (size_t i = 0; i < sizeof(s->vmms) / sizeof(s->vmms[0]); i++)
			if (s->vmms[i].vm[0] && s->vmms[i].pid == pid) {
				on_exit_status(&s->vmms[i], status);
				break;
			}
}

static void poll_tick(evutil_socket_t fd, short what, void *arg);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps a query-replication answer for status, with "epochs_per_s" since the last one. */
static void keep_replication(struct vmm *v, json_t *ret)
{
	uint64_t epochs = json_integer_value(json_object_get(ret, "epochs")), at = now_ms();
	json_t *copy = json_deep_copy(ret);

	if (!copy)
		return;
	if (v->repl && at > v->repl_at_ms && epochs >= v->repl_epochs)
		json_object_set_new(
		    copy, "epochs_per_s",
		    json_real((epochs - v->repl_epochs) * 1000.0 / (at - v->repl_at_ms)));
	json_decref(v->repl);
	v->repl = copy;
	v->repl_epochs = epochs;
	v->repl_at_ms = at;
}

static void poll_again(struct vmm *v)
{
	struct timeval tv = ms_tv(v->polling == POLL_SYNC ? SYNC_POLL_MS : WATCH_POLL_MS);

	if (v->polling != POLL_NONE)
		event_add(v->poll, &tv);
}

/* query-replication's answer: the sync's end, or (later) a stall, becomes an event. */
static void on_replication(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;
	const char *state = json_string_value(json_object_get(ret, "state"));

	if (!ret || !state) {
		clog__warn("vm %s: query-replication failed: %s", v->vm, error ?: "no state");
		poll_again(v);
		return;
	}
	keep_replication(v, ret);
	if (v->polling == POLL_SYNC && strcmp(state, "syncing")) {
		if (!strcmp(state, "protected")) {
			clog__info("vm %s: the initial sync is done: protected", v->vm);
			v->error[0] = 0; /* a failure before is history now */
			emit(v, CL_EV_VMM_PROTECTED, 0);
			v->polling = POLL_WATCH;
		} else {
			snprintf(v->error, sizeof(v->error), "the initial sync ended %s: %s", state,
				 json_string_value(json_object_get(ret, "error")) ?: "no reason");
			clog__error("vm %s: %s", v->vm, v->error);
			emit(v, CL_EV_SYNC_FAILED, 0);
			v->polling = POLL_NONE;
		}
	} else if (v->polling == POLL_WATCH && !strcmp(state, "stalled")) {
		/*
		 * The model reports it while quorate, and the backup's host then ends a backup
		 * that lives but no longer hears the primary.
		 */
		if (++v->stalled_polls == STALL_POLLS) {
			clog__warn("vm %s: replication stalled for %u polls in a row: reporting it",
				   v->vm, v->stalled_polls);
			emit(v, CL_EV_VMM_STALLED, 0);
		}
	} else {
		v->stalled_polls = 0;
	}
	poll_again(v);
}

static void poll_tick(evutil_socket_t fd, short what, void *arg)
{
	struct vmm *v = arg;

	if (v->client && v->polling != POLL_NONE)
		vmm_client__call(v->client, "query-replication", NULL, REPLY_MS, on_replication, v);
	else if (v->polling != POLL_NONE)
		poll_again(v); /* reconnecting */
}

static void start_polling(struct vmm *v, enum poll_mode mode)
{
	if (!v->poll)
		v->poll = event_new(v->s->base, -1, 0, poll_tick, v);
	v->polling = v->poll ? mode : POLL_NONE;
	v->stalled_polls = 0;
	poll_again(v);
}

static void on_protect(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;

	if (!ret) {
		snprintf(v->error, sizeof(v->error), "protect refused: %s", error);
		clog__error("vm %s: %s", v->vm, v->error);
		emit(v, CL_EV_SYNC_FAILED, 0);
		return;
	}
	start_polling(v, POLL_SYNC);
}

static void on_failover(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;

	if (!ret) {
		/* A backup that cannot activate is of no use: its death tells the model. */
		snprintf(v->error, sizeof(v->error), "failover failed: %s", error);
		clog__error("vm %s: %s: killing the backup", v->vm, v->error);
		kill_vmm(v, SIGKILL);
		return;
	}
	clog__info("vm %s: activated: the VM runs here as the primary", v->vm);
	v->role = CL_ROLE_PRIMARY;
	emit(v, CL_EV_ACTIVATED, 0);
}

/* Commands whose reply only gets logged. */
static void on_logged(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;

	if (!ret && !v->killed)
		clog__error("vm %s: a command to its %s failed: %s", v->vm,
			    cl_role__to_str(v->role), error);
}

static void on_degraded(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;
	struct timeval tv = ms_tv(DEGRADE_RETRY_MS);
	char dir[CONF_PATH_MAX] = "";

	if (ret || v->killed || !v->pid) {
		if (ret && !strncmp(v->error, "degrade failed", 14))
			v->error[0] = 0; /* a later degrade made it */
		v->degrade_tries = 0;
		return;
	}
	if (++v->degrade_tries < DEGRADE_TRIES) {
		clog__warn("vm %s: degrade failed (try %u of %d): %s: trying again in %d ms", v->vm,
			   v->degrade_tries, DEGRADE_TRIES, error, DEGRADE_RETRY_MS);
		evtimer_add(v->degrade_retry, &tv);
		return;
	}
	vmm_argv__vm_dir(v->s->conf, v->vm, dir, sizeof(dir));
	snprintf(v->error, sizeof(v->error),
		 "degrade failed %u times (%.80s): its backup is gone and the VM still holds its "
		 "output: see %s/log",
		 v->degrade_tries, error, dir);
	clog__error("vm %s: %s; not killing it: no other copy runs the VM", v->vm, v->error);
	v->degrade_tries = 0;
}

/* Before a retry: whether the degrade is still wanted, and possible, by twin-vmm's own word. */
static void on_degrade_check(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;
	const char *state = json_string_value(json_object_get(ret, "state"));
	struct timeval tv = ms_tv(DEGRADE_RETRY_MS);

	if (!state) {
		on_degraded(v, NULL, cls, error ?: "query-replication gave no state");
	} else if (!strcmp(state, "stalled") || !strcmp(state, "protected")) {
		vmm_client__call(v->client, "degrade", NULL, DEGRADE_MS, on_degraded, v);
	} else if (!strcmp(state, "fenced")) {
		evtimer_add(v->degrade_retry, &tv); /* refused while fenced: after the unfence */
	} else {
		clog__info("vm %s: the replication is %s now: no degrade to retry", v->vm, state);
		v->degrade_tries = 0;
	}
}

static void degrade_retry_tick(evutil_socket_t fd, short what, void *arg)
{
	struct vmm *v = arg;
	struct timeval tv = ms_tv(DEGRADE_RETRY_MS);

	if (!v->client)
		evtimer_add(v->degrade_retry, &tv); /* reconnecting */
	else
		vmm_client__call(v->client, "query-replication", NULL, REPLY_MS, on_degrade_check,
				 v);
}

static void on_unfenced(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;
	struct timeval tv = ms_tv(UNFENCE_RETRY_MS);
	char dir[CONF_PATH_MAX] = "";

	if (ret || v->killed || !v->pid) {
		if (ret && !strncmp(v->error, "unfence failed", 14))
			v->error[0] = 0;
		v->unfence_tries = 0;
		return;
	}
	if (++v->unfence_tries < UNFENCE_TRIES) {
		clog__warn("vm %s: unfence failed (try %u of %d): %s: trying again in %d ms", v->vm,
			   v->unfence_tries, UNFENCE_TRIES, error, UNFENCE_RETRY_MS);
		evtimer_add(v->unfence_retry, &tv);
		return;
	}
	vmm_argv__vm_dir(v->s->conf, v->vm, dir, sizeof(dir));
	snprintf(v->error, sizeof(v->error),
		 "unfence failed %u times (%.80s): the VM stays paused though quorum is back: see "
		 "%s/log",
		 v->unfence_tries, error, dir);
	clog__error("vm %s: %s", v->vm, v->error);
	v->unfence_tries = 0;
}

static void unfence_retry_tick(evutil_socket_t fd, short what, void *arg)
{
	struct vmm *v = arg;
	struct timeval tv = ms_tv(UNFENCE_RETRY_MS);

	if (!v->fencer)
		evtimer_add(v->unfence_retry, &tv); /* reconnecting */
	else
		vmm_client__call(v->fencer, "unfence", NULL, FENCE_MS, on_unfenced, v);
}

/* A fence that fails leaves a primary serving outside quorum: output commit makes a kill safe. */
static void on_fenced(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct vmm *v = arg;

	if (ret) {
		evtimer_del(v->fence_deadline);
		return;
	}
	if (v->killed)
		return; /* its deadline passed: the kill closed the connection */
	clog__error("vm %s: fence failed: %s: killing its %s", v->vm, error,
		    cl_role__to_str(v->role));
	kill_vmm(v, SIGKILL);
}

/*
 * Whether cmd waits for its connection (fence and unfence: the fence one; the rest: the
 * control one) while v is starting, restarting or reconnecting.
 */
static bool queue(struct vmm *v, enum cl_vmm_cmd cmd)
{
	switch (cmd) {
	case CL_VMM_FENCE:
	case CL_VMM_UNFENCE:
		/* An unfence takes back a fence that never went out: nothing to wait for. */
		if (cmd == CL_VMM_UNFENCE && (v->pending & (1u << CL_VMM_FENCE)))
			evtimer_del(v->fence_deadline);
		v->pending &= ~(1u << CL_VMM_FENCE | 1u << CL_VMM_UNFENCE);
		/* fallthrough */
	case CL_VMM_DEGRADE:
	case CL_VMM_FAILOVER:
		v->pending |= 1u << cmd;
		return true;
	default:
		return false;
	}
}

/* protect's arguments: the backup, timing, "cluster": true, and the link's security. */
static json_t *protect_args(const struct clusterd_conf *conf, const struct cl_action *a)
{
	const struct conf_tls *t = &conf->tls;
	bool v6 = strchr(a->peer_addr, ':');
	char uri[CL_ADDR_MAX + 16];
	json_t *args;

	snprintf(uri, sizeof(uri), "%s%s%s:%u", v6 ? "[" : "", a->peer_addr, v6 ? "]" : "",
		 a->port);
	args = json_pack("{s:s, s:b, s:s}", "uri", uri, "cluster", 1, "mode",
			 cl_mode__to_str(a->mode));
	if (a->interval_ms)
		json_object_set_new(args, "interval_ms", json_integer(a->interval_ms));
	if (t->insecure)
		json_object_set_new(args, "insecure", json_true());
	else if (t->psk[0])
		json_object_set_new(args, "tls_psk", json_string(t->psk));
	else
		json_object_update_new(args, json_pack("{s:s, s:s, s:s}", "tls_cert", t->cert,
						       "tls_key", t->key, "tls_ca", t->ca));
	return args;
}

void supervisor__command(struct supervisor *s, const struct cl_action *a)
{
	enum cl_role role = a->role;
	const char *cmd = cl_vmm_cmd__to_str(a->vmm_cmd);
	struct vmm *v = find(s, a->vm, role);
	bool fencing = a->vmm_cmd == CL_VMM_FENCE || a->vmm_cmd == CL_VMM_UNFENCE;
	/* fence and unfence go on their own connection, the rest on the control one. */
	struct vmm_client *via = !v ? NULL : fencing ? v->fencer : v->client;

	if (v && a->vmm_cmd == CL_VMM_FENCE) {
		arm_fence_deadline(v);
		/* A retried unfence must never undo this fence. */
		evtimer_del(v->unfence_retry);
		v->unfence_tries = 0;
	}
	/* A new word on the replication ends a degrade's retries (fence and unfence do not). */
	if (v && !fencing) {
		evtimer_del(v->degrade_retry);
		v->degrade_tries = 0;
	}
	if (v && !v->pid && a->vmm_cmd == CL_VMM_QUIT) {
		/* Between a crash and its restart: no restart, the VM stops here and now. */
		clog__info("vm %s: quit while its restart is pending: not restarting it", a->vm);
		kill_vmm(v, SIGKILL);
		return;
	}
	if (v && !via && queue(v, a->vmm_cmd)) {
		clog__warn("vm %s: %s waits for its %s's %s connection", a->vm, cmd,
			   cl_role__to_str(v->role), fencing ? "fence" : "control");
		return;
	}
	if (!via) {
		clog__error("vm %s: cannot send %s: no connected %s%stwin-vmm here", a->vm, cmd,
			    role == CL_ROLE_NONE ? "" : cl_role__to_str(role),
			    role == CL_ROLE_NONE ? "" : " ");
		if (v && a->vmm_cmd == CL_VMM_PROTECT)
			emit(v, CL_EV_SYNC_FAILED, 0);
		return;
	}
	clog__info("vm %s: %s -> its %s", a->vm, cmd, cl_role__to_str(v->role));
	switch (a->vmm_cmd) {
	case CL_VMM_PROTECT:
		vmm_client__call(v->client, "protect", protect_args(s->conf, a), PROTECT_MS,
				 on_protect, v);
		break;
	case CL_VMM_FAILOVER:
		vmm_client__call(v->client, "failover", NULL, FAILOVER_MS, on_failover, v);
		break;
	case CL_VMM_UNPROTECT:
		v->polling = POLL_NONE;
		vmm_client__call(v->client, "unprotect", NULL, UNPROTECT_MS, on_logged, v);
		break;
	case CL_VMM_QUIT:
		v->killed = true;
		vmm_client__call(v->client, "quit", NULL, REPLY_MS, on_logged, v);
		break;
	case CL_VMM_DEGRADE:
		vmm_client__call(v->client, cmd, NULL, DEGRADE_MS, on_degraded, v);
		break;
	case CL_VMM_FENCE:
		vmm_client__call(via, cmd, NULL, FENCE_MS, on_fenced, v);
		break;
	case CL_VMM_UNFENCE:
		vmm_client__call(via, cmd, NULL, FENCE_MS, on_unfenced, v);
		break;
	}
}

static void fence_overdue(evutil_socket_t fd, short what, void *arg)
{
	struct vmm *v = arg;

	clog__error("vm %s: its %s did not confirm the fence within %d ms: killing it (SIGKILL): "
		    "outside quorum its death is safe, a copy that may release output is not",
		    v->vm, cl_role__to_str(v->role), FENCE_DEADLINE_MS);
	kill_vmm(v, SIGKILL);
}

/* From a fence on, a running vmm has FENCE_DEADLINE_MS to confirm it (the first fence counts). */
static void arm_fence_deadline(struct vmm *v)
{
	struct timeval tv = ms_tv(FENCE_DEADLINE_MS);

	if (v->pid && !v->killed && !evtimer_pending(v->fence_deadline, NULL))
		evtimer_add(v->fence_deadline, &tv);
}

static void kill_vmm(struct vmm *v, int sig)
{
	v->killed = true;
	if (v->pid) {
		kill(v->pid, sig);
		return;
	}
	/* Between a crash and its restart: the restart is off, the exit reported now. */
	exited(v, W_EXITCODE(0, sig));
}

void supervisor__kill(struct supervisor *s, const char *vm, enum cl_role role, int sig)
{
	struct vmm *v = find(s, vm, role);

	if (!v) {
		clog__warn("vm %s: no %s twin-vmm here to signal", vm, cl_role__to_str(role));
		return;
	}
	clog__info("vm %s: signal %d -> its %s (pid %d)", vm, sig, cl_role__to_str(role),
		   (int)v->pid);
	kill_vmm(v, sig);
}

void supervisor__kill_all(struct supervisor *s)
{
	for (size_t i = 0; i < sizeof(s->vmms) / sizeof(s->vmms[0]); i++)
		if (s->vmms[i].vm[0])
			kill_vmm(&s->vmms[i], SIGKILL);
}

json_t *supervisor__replication(struct supervisor *s, const char *vm)
{
	struct vmm *v = find(s, vm, CL_ROLE_PRIMARY);

	return v ? v->repl : NULL;
}

const char *supervisor__error(struct supervisor *s, const char *vm)
{
	struct vmm *v = find(s, vm, CL_ROLE_NONE);

	return v && v->error[0] ? v->error : NULL;
}

unsigned int supervisor__alive(const struct supervisor *s)
{
	unsigned int n = 0;

	for (size_t i = 0; i < sizeof(s->vmms) / sizeof(s->vmms[0]); i++)
		n += s->vmms[i].vm[0] != 0;
	return n;
}

int supervisor__new(struct event_base *base, const struct clusterd_conf *conf,
		    const struct supervisor_ops *ops, struct supervisor **out)
{
	struct supervisor *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->base = base;
	s->conf = conf;
	s->ops = ops;
	s->tail = &s->head;
	s->deliver = event_new(base, -1, 0, deliver, s);
	s->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, s);
	if (!s->deliver || !s->sigchld || evsignal_add(s->sigchld, NULL)) {
		if (s->sigchld)
			event_free(s->sigchld);
		if (s->deliver)
			event_free(s->deliver);
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void supervisor__free(struct supervisor *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(s->vmms) / sizeof(s->vmms[0]); i++)
		if (s->vmms[i].vm[0])
			release(&s->vmms[i]);
	while (s->head) {
		struct pending_event *p = s->head;

		s->head = p->next;
		free(p);
	}
	event_free(s->deliver);
	event_free(s->sigchld);
	free(s);
}

/* ---- For the local commands: calls to a vmm, and every vmm ---- */

/* How often a call in flight checks that its twin-vmm still lives. */
#define CALL_CHECK_MS 1000

/*
 * One supervisor__call in flight.  vmm_client answers every request, except when it is freed
 * (the vmm exited, its slot released): then the request is dropped silently, so the call
 * watches its vmm's pid and answers "exited" itself once that is gone.
 */
struct vmm_call {
	struct supervisor *s;
	char vm[CL_NAME_MAX + 1];
	pid_t pid;
	struct event *check;
	vmm_client_done_fn done;
	void *arg;
};

static void call_finish(struct vmm_call *c, json_t *ret, const char *cls, const char *error)
{
	event_free(c->check);
	c->done(c->arg, ret, cls, error);
	free(c);
}

static void on_call_reply(void *arg, json_t *ret, const char *cls, const char *error)
{
	call_finish(arg, ret, cls, error);
}

static void on_call_check(evutil_socket_t fd, short what, void *arg)
{
	struct vmm_call *c = arg;
	struct supervisor *s = c->s;

	/*
	 * Its process still there (being killed, or a backup turned primary, counts): the
	 * client holding the request answers it, if only with its own timeout or close.
	 */
	for (size_t i = 0; i < sizeof(s->vmms) / sizeof(s->vmms[0]); i++)
		if (s->vmms[i].pid == c->pid && !strcmp(s->vmms[i].vm, c->vm) && s->vmms[i].client)
			return;
	call_finish(c, NULL, NULL, "the twin-vmm exited before it answered");
}

int supervisor__call(struct supervisor *s, const char *vm, enum cl_role role, const char *cmd,
		     json_t *args, int timeout_ms, vmm_client_done_fn done, void *arg)
{
	struct timeval every = ms_tv(CALL_CHECK_MS);
	struct vmm *v = find(s, vm, role);
	struct vmm_call *c;

	if (!v || !v->pid) {
		json_decref(args);
		return -ENOENT;
	}
	if (!v->client) {
		json_decref(args);
		return -ENOTCONN;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->check = event_new(s->base, -1, EV_PERSIST, on_call_check, c);
	if (!c || !c->check) {
		free(c);
		json_decref(args);
		done(arg, NULL, NULL, "clusterd is out of memory");
		return 0;
	}
	c->s = s;
	snprintf(c->vm, sizeof(c->vm), "%s", vm);
	c->pid = v->pid;
	c->done = done;
	c->arg = arg;
	event_add(c->check, &every);
	vmm_client__call(v->client, cmd, args, timeout_ms, on_call_reply, c);
	return 0;
}

void supervisor__each(struct supervisor *s,
		      void (*fn)(void *arg, const char *vm, enum cl_role role, pid_t pid),
		      void *arg)
{
	for (size_t i = 0; i < sizeof(s->vmms) / sizeof(s->vmms[0]); i++) {
		struct vmm *v = &s->vmms[i];

		if (v->vm[0] && v->pid && !v->killed)
			fn(arg, v->vm, v->role, v->pid);
	}
}

int supervisor__set_vmm_cpus(struct supervisor *s, const char *list)
{
	if (strlen(list) >= sizeof(s->vmm_cpus))
		return -ENAMETOOLONG;
	snprintf(s->vmm_cpus, sizeof(s->vmm_cpus), "%s", list);
	return 0;
}
