/* Unit tests for clusterd's supervisor (clusterd/supervisor.c): the real one on a libevent loop,
 * spawning a fake twin-vmm (tests/unit/fake_twin_vmm.c) that speaks the control protocol. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include "suites.h"
#include "supervisor.h"

#define VM_CFG "name = kv1\nmemory = 64\nkernel = /nonexistent/kernel\n"

static struct event_base *base;
static struct clusterd_conf conf;
static char dir[64], log_path[96], repl_path[96];

/* What the supervisor told "the model", in order. */
static struct cl_local_event events[64];
static uint64_t event_ms[64];
static int nevents;
static bool allow_restart; /* may_restart's answer: the model's quorum and fence, in one bit */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_event(void *opaque, const struct cl_local_event *ev)
{
	ck_assert_int_lt(nevents, 64);
	event_ms[nevents] = now_ms();
	events[nevents++] = *ev;
}

static bool may_restart(void *opaque, const char *vm)
{
	return allow_restart;
}

static const struct supervisor_ops ops = {.event = on_event, .may_restart = may_restart};

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Unchecked, in the runner: the directory goes even after a test that failed. */
static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/tcs-%d", (int)getpid());
	snprintf(log_path, sizeof(log_path), "%s/fake.log", dir);
	snprintf(repl_path, sizeof(repl_path), "%s/repl", dir);
}

static void setup(void)
{
	char text[512], err[256];

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	remove_dir(); /* what a failed test left */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(text, sizeof(text),
		 "[cluster]\nname = t\n[host]\nname = h1\nreplication_addr = 127.0.0.1\n"
		 "state_dir = %s\n[paths]\ntwin_vmm = %s\n[tls]\ninsecure = yes\n",
		 dir, FAKE_TWIN_VMM);
	ck_assert_int_eq(conf__parse(text, "t.conf", &conf, err, sizeof(err)), 0);
	/* The fake's script, inherited through fork and exec. */
	setenv("FAKE_VMM_LOG", log_path, 1);
	setenv("FAKE_VMM_REPL_FILE", repl_path, 1);
	unsetenv("FAKE_VMM_BIND_DELAY_MS");
	unsetenv("FAKE_VMM_SLOW");
	unsetenv("FAKE_VMM_FAIL");
	unsetenv("FAKE_VMM_PARALLEL");
	nevents = 0;
	allow_restart = false;
}

static void teardown(void)
{
	event_base_free(base);
}

/* Runs the loop for about 5 ms. */
static void spin(void)
{
	struct timeval tv = {0, 5000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void spin_ms(unsigned int ms)
{
	for (uint64_t end = now_ms() + ms; now_ms() < end;)
		spin();
}

/* How many lines of the fake's log start with prefix. */
static int logged(const char *prefix)
{
	FILE *f = fopen(log_path, "re");
	char line[256];
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += !strncmp(line, prefix, strlen(prefix));
	if (f)
		fclose(f);
	return n;
}

/* The pid of the fake's nth start (1-based), 0 if none yet. */
static pid_t started_pid(int nth)
{
	FILE *f = fopen(log_path, "re");
	char line[256];
	int pid = 0;

	while (f && nth > 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "start %d", &pid) == 1)
			nth--;
	if (f)
		fclose(f);
	return nth ? 0 : pid;
}

static int count_events(enum cl_event type)
{
	int n = 0;

	for (int i = 0; i < nevents; i++)
		n += events[i].type == type;
	return n;
}

/* The first event of type, or NULL. */
static const struct cl_local_event *find_event(enum cl_event type)
{
	for (int i = 0; i < nevents; i++)
		if (events[i].type == type)
			return &events[i];
	return NULL;
}

/* Runs the loop until the condition holds or ms pass; whether it holds. */
#define LOOP_UNTIL(cond, ms)                                                                       \
	({                                                                                         \
		uint64_t end_ = now_ms() + (ms);                                                   \
		while (!(cond) && now_ms() < end_)                                                 \
			spin();                                                                    \
		(bool)(cond);                                                                      \
	})

static void command(struct supervisor *s, enum cl_vmm_cmd cmd)
{
	struct cl_action a = {.type = CL_ACT_VMM, .role = CL_ROLE_PRIMARY, .vmm_cmd = cmd};

	snprintf(a.vm, sizeof(a.vm), "kv1");
	supervisor__command(s, &a);
}

/* A primary of kv1 under a new supervisor, connected and reported started. */
static struct supervisor *start_primary(void)
{
	struct supervisor *s;

	ck_assert_int_eq(supervisor__new(base, &conf, &ops, &s), 0);
	supervisor__spawn(s, "kv1", CL_ROLE_PRIMARY, VM_CFG, 0);
	ck_assert_msg(LOOP_UNTIL(count_events(CL_EV_VMM_STARTED), 3000),
		      "the fake twin-vmm never reported started");
	ck_assert_int_eq(supervisor__alive(s), 1);
	return s;
}

/* Kills what is left and waits for the reaping, so that no fake outlives its test. */
static void finish(struct supervisor *s)
{
	supervisor__kill_all(s);
	ck_assert(LOOP_UNTIL(!supervisor__alive(s), 3000));
	supervisor__free(s);
}

/* quit: the fake exits 0, the exit is reaped and reported, the slot is free again. */
START_TEST(test_quit_is_reaped)
{
	struct supervisor *s = start_primary();
	pid_t pid = started_pid(1);
	const struct cl_local_event *ev;

	ck_assert_int_gt(pid, 0);
	command(s, CL_VMM_QUIT);
	ck_assert(LOOP_UNTIL(count_events(CL_EV_VMM_EXITED), 3000));
	ev = find_event(CL_EV_VMM_EXITED);
	ck_assert_str_eq(ev->vm, "kv1");
	ck_assert_int_eq(ev->role, CL_ROLE_PRIMARY);
	ck_assert(WIFEXITED(ev->status) && WEXITSTATUS(ev->status) == 0);
	ck_assert_int_eq(supervisor__alive(s), 0);
	/* Reaped: no zombie left for anyone else to collect. */
	ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	finish(s);
}
END_TEST

/* A control socket that comes late is retried until it answers, and nothing is killed. */
START_TEST(test_connect_retries)
{
	struct supervisor *s;
	uint64_t t0 = now_ms();

	setenv("FAKE_VMM_BIND_DELAY_MS", "300", 1);
	s = start_primary();
	ck_assert_uint_ge(event_ms[0] - t0, 300);
	ck_assert_int_eq(count_events(CL_EV_VMM_EXITED), 0);
	ck_assert_int_eq(logged("start"), 1);
	finish(s);
}
END_TEST

/*
 * Review 7, finding 5: Twin's CPUs change between a twin-vmm's fork (--cpus OLD) and its
 * control socket; as it connects it is told the new set, before anything else.
 */
START_TEST(test_set_cpus_at_connect)
{
	struct supervisor *s;

	setenv("FAKE_VMM_BIND_DELAY_MS", "300", 1);
	ck_assert_int_eq(supervisor__new(base, &conf, &ops, &s), 0);
	ck_assert_int_eq(supervisor__set_vmm_cpus(s, "0-1"), 0);
	supervisor__spawn(s, "kv1", CL_ROLE_PRIMARY, VM_CFG, 0);
	ck_assert(LOOP_UNTIL(logged("argv"), 3000));
	ck_assert_int_eq(logged("start"), 0); /* not bound yet: the window of the race */
	ck_assert_int_eq(supervisor__set_vmm_cpus(s, "0"), 0);
	ck_assert_msg(LOOP_UNTIL(logged("cpus 0\n"), 3000), "no set-cpus 0 as it connected");
	ck_assert_int_eq(logged("cmd set-cpus"), 1);
	ck_assert_int_eq(logged("cpus 0-1"), 0);
	ck_assert(LOOP_UNTIL(count_events(CL_EV_VMM_STARTED), 3000));
	finish(s);
}
END_TEST

/* Started on the current set: nothing more is sent. */
START_TEST(test_no_set_cpus_when_unchanged)
{
	struct supervisor *s;

	ck_assert_int_eq(supervisor__new(base, &conf, &ops, &s), 0);
	ck_assert_int_eq(supervisor__set_vmm_cpus(s, "0"), 0);
	supervisor__spawn(s, "kv1", CL_ROLE_PRIMARY, VM_CFG, 0);
	ck_assert(LOOP_UNTIL(count_events(CL_EV_VMM_STARTED), 3000));
	ck_assert_int_eq(logged("cmd set-cpus"), 0);
	finish(s);
}
END_TEST

/* A twin-vmm that refuses that set-cpus is pinned from clusterd instead. */
START_TEST(test_set_cpus_at_connect_refused)
{
	struct supervisor *s;
	cpu_set_t set;
	pid_t pid;

	setenv("FAKE_VMM_BIND_DELAY_MS", "300", 1);
	setenv("FAKE_VMM_FAIL", "set-cpus", 1);
	ck_assert_int_eq(supervisor__new(base, &conf, &ops, &s), 0);
	ck_assert_int_eq(supervisor__set_vmm_cpus(s, "0-1"), 0);
	supervisor__spawn(s, "kv1", CL_ROLE_PRIMARY, VM_CFG, 0);
	ck_assert(LOOP_UNTIL(logged("argv"), 3000));
	ck_assert_int_eq(supervisor__set_vmm_cpus(s, "0"), 0);
	ck_assert(LOOP_UNTIL(count_events(CL_EV_VMM_STARTED), 3000));
	pid = started_pid(1);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(logged("cpus 0\n"), 1);
	ck_assert_int_eq(sched_getaffinity(pid, sizeof(set), &set), 0);
	ck_assert_int_eq(CPU_COUNT(&set), 1);
	ck_assert(CPU_ISSET(0, &set));
	finish(s);
}
END_TEST

/* An unprotected primary that crashes while it may restart runs again; the model hears nothing. */
START_TEST(test_restart_crashed_primary)
{
	struct supervisor *s;

	allow_restart = true;
	s = start_primary();
	ck_assert_int_eq(kill(started_pid(1), SIGSEGV), 0);
	ck_assert_msg(LOOP_UNTIL(logged("start") == 2, 3000), "no restart");
	/* The new one is connected again: it gets the commands. */
	ck_assert(LOOP_UNTIL(logged("cmd query-status") == 2, 2000));
	command(s, CL_VMM_FENCE);
	ck_assert(LOOP_UNTIL(logged("cmd fence") == 1, 2000));
	ck_assert_int_eq(count_events(CL_EV_VMM_EXITED), 0);
	ck_assert_int_eq(supervisor__alive(s), 1);
	finish(s);
}
END_TEST

/* A crash while the model says no restart is reported as the exit it was. */
START_TEST(test_crash_without_restart_is_reported)
{
	struct supervisor *s = start_primary();

	ck_assert_int_eq(kill(started_pid(1), SIGSEGV), 0);
	ck_assert(LOOP_UNTIL(count_events(CL_EV_VMM_EXITED), 2000));
	ck_assert(WIFSIGNALED(find_event(CL_EV_VMM_EXITED)->status));
	ck_assert_int_eq(WTERMSIG(find_event(CL_EV_VMM_EXITED)->status), SIGSEGV);
	spin_ms(1200); /* past the first restart delay */
	ck_assert_int_eq(logged("start"), 1);
	finish(s);
}
END_TEST

/*
 * Quorum lost while a crashed primary waits to restart: the fence makes the model say no,
 * so the restart does not happen and the crash is reported instead.
 */
START_TEST(test_fence_in_restart_window_stops_restart)
{
	struct supervisor *s;

	allow_restart = true;
	s = start_primary();
	ck_assert_int_eq(kill(started_pid(1), SIGSEGV), 0);
	/* Gone once the supervisor reaped it: the restart waits now. */
	ck_assert(LOOP_UNTIL(kill(started_pid(1), 0) && errno == ESRCH, 1000));
	command(s, CL_VMM_FENCE);
	allow_restart = false;
	ck_assert_msg(LOOP_UNTIL(count_events(CL_EV_VMM_EXITED), 3000),
		      "the crash went unreported");
	ck_assert_int_eq(WTERMSIG(events[nevents - 1].status), SIGSEGV);
	ck_assert_int_eq(logged("start"), 1);
	ck_assert_int_eq(supervisor__alive(s), 0);
	finish(s);
}
END_TEST

/* A fence that came in the restart window reaches the restarted twin-vmm first thing. */
START_TEST(test_fence_in_restart_window_reaches_restarted)
{
	struct supervisor *s;

	allow_restart = true;
	s = start_primary();
	ck_assert_int_eq(kill(started_pid(1), SIGSEGV), 0);
	spin_ms(100);
	command(s, CL_VMM_FENCE);
	ck_assert_msg(LOOP_UNTIL(logged("cmd fence") == 1, 3000),
		      "the restarted twin-vmm was never fenced");
	ck_assert_int_eq(logged("start"), 2);
	finish(s);
}
END_TEST

/*
 * twin-vmm serves its control requests one at a time: a fence behind a slow unprotect cannot
 * be answered before it.  Within ~200 ms the vmm must be fenced or SIGKILLed, not 3 s later.
 */
START_TEST(test_fence_behind_slow_command_kills)
{
	struct supervisor *s;
	const struct cl_local_event *ev;
	uint64_t t0;

	setenv("FAKE_VMM_SLOW", "unprotect:3000", 1);
	s = start_primary();
	command(s, CL_VMM_UNPROTECT);
	ck_assert(LOOP_UNTIL(logged("cmd unprotect"), 1000));
	t0 = now_ms();
	command(s, CL_VMM_FENCE);
	ck_assert_msg(LOOP_UNTIL(count_events(CL_EV_VMM_EXITED), 1000),
		      "neither fenced nor killed within 1 s of the fence");
	ev = find_event(CL_EV_VMM_EXITED);
	ck_assert(WIFSIGNALED(ev->status) && WTERMSIG(ev->status) == SIGKILL);
	ck_assert_uint_lt(event_ms[nevents - 1] - t0, 500);
	finish(s);
}
END_TEST

/*
 * A twin-vmm that can answer: the fence goes on its own connection, so it does not wait
 * behind the slow command clusterd sent on the other, and nothing is killed.
 */
START_TEST(test_fence_on_its_own_connection)
{
	struct supervisor *s;
	uint64_t t0;

	setenv("FAKE_VMM_SLOW", "unprotect:3000", 1);
	setenv("FAKE_VMM_PARALLEL", "1", 1);
	s = start_primary();
	command(s, CL_VMM_UNPROTECT);
	ck_assert(LOOP_UNTIL(logged("cmd unprotect"), 1000));
	t0 = now_ms();
	command(s, CL_VMM_FENCE);
	ck_assert_msg(LOOP_UNTIL(logged("cmd fence"), 1000), "no fence within 1 s");
	ck_assert_uint_lt(now_ms() - t0, 150);
	spin_ms(400); /* past the fence deadline: answered, so never killed */
	ck_assert_int_eq(count_events(CL_EV_VMM_EXITED), 0);
	finish(s);
}
END_TEST

static void set_replication(const char *state)
{
	FILE *f = fopen(repl_path, "we");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n", state);
	ck_assert_int_eq(fclose(f), 0);
}

/* A primary protected toward a backup at 127.0.0.1:7400, its initial sync done. */
static struct supervisor *start_protected(void)
{
	struct cl_action a = {
	    .type = CL_ACT_VMM, .role = CL_ROLE_PRIMARY, .vmm_cmd = CL_VMM_PROTECT};
	struct supervisor *s;

	set_replication("protected");
	s = start_primary();
	snprintf(a.vm, sizeof(a.vm), "kv1");
	snprintf(a.peer_addr, sizeof(a.peer_addr), "127.0.0.1");
	a.port = 7400;
	supervisor__command(s, &a);
	ck_assert_msg(LOOP_UNTIL(count_events(CL_EV_VMM_PROTECTED), 2000), "never protected");
	return s;
}

/*
 * A stall is reported once it lasted 3 polls in a row (500 ms apart), once per stall: not at
 * each poll.  A poll that finds it replicating again ends the stall; the next one counts anew.
 */
START_TEST(test_stall_reported_once_after_polls)
{
	struct supervisor *s = start_protected();
	uint64_t t0;

	set_replication("stalled");
	t0 = now_ms();
	ck_assert_msg(LOOP_UNTIL(count_events(CL_EV_VMM_STALLED), 3000),
		      "the stall went unreported");
	ck_assert_uint_ge(event_ms[nevents - 1] - t0, 1000); /* the 3rd poll, at the soonest */
	spin_ms(1100);					     /* two more stalled polls */
	ck_assert_int_eq(count_events(CL_EV_VMM_STALLED), 1);
	set_replication("protected");
	spin_ms(600);
	set_replication("stalled");
	ck_assert(LOOP_UNTIL(count_events(CL_EV_VMM_STALLED) == 2, 3000));
	finish(s);
}
END_TEST

/*
 * A degrade that keeps failing is tried again, then shown in status; the primary, whose backup
 * is gone, is never killed for it: it is the VM's only copy.
 */
START_TEST(test_failed_degrade_retried_then_shown)
{
	struct supervisor *s;

	setenv("FAKE_VMM_FAIL", "degrade", 1);
	s = start_protected();
	set_replication("stalled");
	ck_assert_ptr_null(supervisor__error(s, "kv1"));
	command(s, CL_VMM_DEGRADE);
	ck_assert_msg(LOOP_UNTIL(logged("cmd degrade") == 3, 4000), "degrade tried %d times",
		      logged("cmd degrade"));
	ck_assert(LOOP_UNTIL(supervisor__error(s, "kv1"), 1000));
	ck_assert(strstr(supervisor__error(s, "kv1"), "degrade failed 3 times"));
	spin_ms(1200);
	ck_assert_int_eq(logged("cmd degrade"), 3); /* then no more */
	ck_assert_int_eq(count_events(CL_EV_VMM_EXITED), 0);
	ck_assert_int_eq(supervisor__alive(s), 1);
	finish(s);
}
END_TEST

/* A retry asks first: a VM that degraded after all (a late engine) is not degraded again. */
START_TEST(test_degrade_retry_checks_state_first)
{
	struct supervisor *s;

	setenv("FAKE_VMM_FAIL", "degrade", 1);
	s = start_protected();
	set_replication("stalled");
	command(s, CL_VMM_DEGRADE);
	ck_assert(LOOP_UNTIL(logged("cmd degrade") == 1, 2000));
	set_replication("degraded");
	spin_ms(1500);
	ck_assert_int_eq(logged("cmd degrade"), 1);
	ck_assert_ptr_null(supervisor__error(s, "kv1"));
	finish(s);
}
END_TEST

/*
 * An unfence that fails would leave the VM paused with quorum back: it is tried again, then
 * shown in status.  A fence meanwhile ends the retries: a late unfence must not undo it.
 */
START_TEST(test_failed_unfence_retried_then_shown)
{
	struct supervisor *s;

	setenv("FAKE_VMM_FAIL", "unfence", 1);
	s = start_primary();
	command(s, CL_VMM_FENCE);
	command(s, CL_VMM_UNFENCE);
	ck_assert_msg(LOOP_UNTIL(logged("cmd unfence") == 3, 4000), "unfence tried %d times",
		      logged("cmd unfence"));
	ck_assert(LOOP_UNTIL(supervisor__error(s, "kv1"), 1000));
	ck_assert(strstr(supervisor__error(s, "kv1"), "unfence failed 3 times"));
	command(s, CL_VMM_UNFENCE);
	ck_assert(LOOP_UNTIL(logged("cmd unfence") == 4, 1000));
	command(s, CL_VMM_FENCE);
	spin_ms(1200); /* past the retry the failed 4th unfence asked for */
	ck_assert_int_eq(logged("cmd unfence"), 4);
	ck_assert_int_eq(count_events(CL_EV_VMM_EXITED), 0);
	finish(s);
}
END_TEST

/* query-status of kv1's twin-vmm on a connection of our own: its "status", "" if none. */
static void query_status(char *out, size_t size)
{
	static const char query[] = "{\"execute\":\"query-status\"}\n";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char buf[1024], *p;
	size_t n = 0;
	int lines = 0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vms/kv1/control.sock", dir);
	out[0] = 0;
	ck_assert_msg(!connect(fd, (struct sockaddr *)&sa, sizeof(sa)), "connect %s: %s",
		      sa.sun_path, strerror(errno));
	ck_assert_int_eq(send(fd, query, strlen(query), MSG_NOSIGNAL), (ssize_t)strlen(query));
	while (lines < 2 && n + 1 < sizeof(buf)) { /* the greeting, then the reply */
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);

		ck_assert_int_gt(r, 0);
		for (ssize_t i = 0; i < r; i++)
			lines += buf[n + i] == '\n';
		n += r;
	}
	buf[n] = 0;
	close(fd);
	p = strstr(buf, "\"status\"");
	if (p)
		sscanf(p, "\"status\": \"%31[a-z-]\"", out);
	(void)size;
}

/*
 * The real twin-vmm (KVM, the memwriter guest): a fence on the fence connection pauses it,
 * well within the deadline, and nothing is killed.  Its log says how long the fence took.
 */
START_TEST(test_fence_real_twin_vmm)
{
	const char *guests = getenv("TWIN_GUESTS_DIR");
	char cfg[512], status[32] = "";
	struct supervisor *s;
	uint64_t t0;

	ck_assert_msg(!access("/dev/kvm", R_OK | W_OK), "needs /dev/kvm (run as root)");
	ck_assert_msg(guests != NULL, "TWIN_GUESTS_DIR is not set: run with make check");
	snprintf(conf.twin_vmm, sizeof(conf.twin_vmm), "%s", TWIN_VMM);
	/* Slow and endless: the guest runs (idle mostly) until it is fenced. */
	snprintf(cfg, sizeof(cfg),
		 "name = kv1\nmemory = 64\nkernel = %s/memwriter.elf\n"
		 "cmdline = \"pages=16 rate=100 iters=1000000000\"\n",
		 guests);
	ck_assert_int_eq(supervisor__new(base, &conf, &ops, &s), 0);
	supervisor__spawn(s, "kv1", CL_ROLE_PRIMARY, cfg, 0);
	ck_assert_msg(LOOP_UNTIL(count_events(CL_EV_VMM_STARTED), 5000), "twin-vmm never started");
	query_status(status, sizeof(status));
	ck_assert_str_eq(status, "running");
	t0 = now_ms();
	command(s, CL_VMM_FENCE);
	while (strcmp(status, "fenced") && now_ms() - t0 < 2000) {
		spin();
		if (count_events(CL_EV_VMM_EXITED)) {
			char cmd[128];

			snprintf(cmd, sizeof(cmd), "cat %s/vms/kv1/log >&2", dir);
			ck_assert_int_eq(system(cmd), 0);
			ck_abort_msg("twin-vmm ended %llu ms after the fence (its log is above)",
				     (unsigned long long)(now_ms() - t0));
		}
		query_status(status, sizeof(status));
	}
	ck_assert_str_eq(status, "fenced");
	ck_assert_uint_lt(now_ms() - t0, 200);
	spin_ms(300); /* past the deadline: confirmed, so never killed */
	ck_assert_int_eq(count_events(CL_EV_VMM_EXITED), 0);
	finish(s);
}
END_TEST

Suite *clusterd_supervisor_suite(void)
{
	Suite *s = suite_create("clusterd_supervisor");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 15);
	tcase_add_test(tc, test_quit_is_reaped);
	tcase_add_test(tc, test_connect_retries);
	tcase_add_test(tc, test_set_cpus_at_connect);
	tcase_add_test(tc, test_no_set_cpus_when_unchanged);
	tcase_add_test(tc, test_set_cpus_at_connect_refused);
	tcase_add_test(tc, test_restart_crashed_primary);
	tcase_add_test(tc, test_crash_without_restart_is_reported);
	tcase_add_test(tc, test_fence_in_restart_window_stops_restart);
	tcase_add_test(tc, test_fence_in_restart_window_reaches_restarted);
	tcase_add_test(tc, test_fence_behind_slow_command_kills);
	tcase_add_test(tc, test_fence_on_its_own_connection);
	tcase_add_test(tc, test_stall_reported_once_after_polls);
	tcase_add_test(tc, test_failed_degrade_retried_then_shown);
	tcase_add_test(tc, test_degrade_retry_checks_state_first);
	tcase_add_test(tc, test_failed_unfence_retried_then_shown);
	tcase_add_test(tc, test_fence_real_twin_vmm);
	suite_add_tcase(s, tc);
	return s;
}
