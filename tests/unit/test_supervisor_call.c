/* Unit tests for the supervisor's calls for local commands (supervisor__call, __each, the
 * --cpus of new twin-vmms), against the fake twin-vmm (tests/unit/fake_twin_vmm.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include "suites.h"
#include "supervisor.h"

#define VM_CFG "name = kv1\nmemory = 64\nkernel = /nonexistent/kernel\n"

static struct event_base *base;
static struct clusterd_conf conf;
static char dir[64], log_path[96];
static int started;

static void on_event(void *opaque, const struct cl_local_event *ev)
{
	started += ev->type == CL_EV_VMM_STARTED;
}

static bool may_restart(void *opaque, const char *vm)
{
	return false;
}

static const struct supervisor_ops ops = {.event = on_event, .may_restart = may_restart};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until cond holds or ms pass; whether it holds. */
#define LOOP_UNTIL(cond, ms)                                                                       \
	({                                                                                         \
		uint64_t end_ = now_ms() + (ms);                                                   \
		while (!(cond) && now_ms() < end_) {                                               \
			struct timeval tv_ = {0, 5000};                                            \
			event_base_loopexit(base, &tv_);                                           \
			event_base_dispatch(base);                                                 \
		}                                                                                  \
		(bool)(cond);                                                                      \
	})

static void setup(void)
{
	char text[512], err[256];

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	snprintf(dir, sizeof(dir), "/tmp/tsc-%d", (int)getpid());
	ck_assert(!mkdir(dir, 0700) || errno == EEXIST);
	snprintf(log_path, sizeof(log_path), "%s/fake.log", dir);
	unlink(log_path);
	snprintf(text, sizeof(text),
		 "[cluster]\nname = t\n[host]\nname = h1\nreplication_addr = 127.0.0.1\n"
		 "state_dir = %s\n[paths]\ntwin_vmm = %s\n[tls]\ninsecure = yes\n",
		 dir, FAKE_TWIN_VMM);
	ck_assert_int_eq(conf__parse(text, "t.conf", &conf, err, sizeof(err)), 0);
	setenv("FAKE_VMM_LOG", log_path, 1);
	unsetenv("FAKE_VMM_BIND_DELAY_MS");
	unsetenv("FAKE_VMM_SLOW");
	unsetenv("FAKE_VMM_FAIL");
	unsetenv("FAKE_VMM_PARALLEL");
	started = 0;
}

static void teardown(void)
{
	char cmd[128];

	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The fake's log line starting with prefix (its first), or "". */
static const char *logged(const char *prefix)
{
	static char line[512];
	FILE *f = fopen(log_path, "re");
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = !strncmp(line, prefix, strlen(prefix));
	if (f)
		fclose(f);
	return found ? line : "";
}

struct answers {
	int n;
	bool ok;
	char error[256];
};

static void on_done(void *arg, json_t *ret, const char *cls, const char *error)
{
	struct answers *a = arg;

	a->n++;
	a->ok = ret != NULL;
	snprintf(a->error, sizeof(a->error), "%s", error ?: "");
}

struct seen {
	int n;
	enum cl_role role;
	pid_t pid;
};

static void on_each(void *arg, const char *vm, enum cl_role role, pid_t pid)
{
	struct seen *s = arg;

	ck_assert_str_eq(vm, "kv1");
	s->n++;
	s->role = role;
	s->pid = pid;
}

static struct supervisor *start_kv1(void)
{
	struct supervisor *s;

	ck_assert_int_eq(supervisor__new(base, &conf, &ops, &s), 0);
	supervisor__spawn(s, "kv1", CL_ROLE_PRIMARY, VM_CFG, 0);
	ck_assert_msg(LOOP_UNTIL(started, 3000), "the fake twin-vmm never started");
	return s;
}

static void finish(struct supervisor *s)
{
	supervisor__kill_all(s);
	ck_assert(LOOP_UNTIL(!supervisor__alive(s), 3000));
	supervisor__free(s);
}

START_TEST(test_call_and_each)
{
	struct answers a = {0};
	struct seen seen = {0};
	struct supervisor *s;

	/* no list set: no --cpus (the twin-vmm inherits clusterd's CPUs) */
	s = start_kv1();
	ck_assert_ptr_null(strstr(logged("argv "), "--cpus"));
	ck_assert_int_eq(
	    supervisor__call(s, "kv9", CL_ROLE_NONE, "query-cpus", NULL, 1000, on_done, &a),
	    -ENOENT);
	ck_assert_int_eq(
	    supervisor__call(s, "kv1", CL_ROLE_BACKUP, "query-cpus", NULL, 1000, on_done, &a),
	    -ENOENT);
	ck_assert_int_eq(a.n, 0);
	ck_assert_int_eq(
	    supervisor__call(s, "kv1", CL_ROLE_NONE, "query-status", NULL, 1000, on_done, &a), 0);
	ck_assert(LOOP_UNTIL(a.n, 3000));
	ck_assert(a.ok);
	supervisor__each(s, on_each, &seen);
	ck_assert_int_eq(seen.n, 1);
	ck_assert_int_eq(seen.role, CL_ROLE_PRIMARY);
	ck_assert_int_gt(seen.pid, 0);
	/* with a list: --cpus LIST; and an error reply is one answer too */
	setenv("FAKE_VMM_FAIL", "set-cpus", 1);
	finish(s);
	started = 0;
	ck_assert_int_eq(supervisor__new(base, &conf, &ops, &s), 0);
	ck_assert_int_eq(supervisor__set_vmm_cpus(s, "0"), 0);
	unlink(log_path);
	supervisor__spawn(s, "kv1", CL_ROLE_PRIMARY, VM_CFG, 0);
	ck_assert(LOOP_UNTIL(started, 3000));
	ck_assert_ptr_nonnull(strstr(logged("argv "), " --cpus 0\n"));
	a = (struct answers){0};
	ck_assert_int_eq(supervisor__call(s, "kv1", CL_ROLE_PRIMARY, "set-cpus",
					  json_pack("{s:s}", "cpus", "0"), 1000, on_done, &a),
			 0);
	ck_assert(LOOP_UNTIL(a.n, 3000));
	ck_assert(!a.ok);
	ck_assert_int_eq(a.n, 1);
	finish(s);
}
END_TEST

/* A twin-vmm that dies with a call in flight: done is called once, saying so. */
START_TEST(test_call_vmm_dies)
{
	struct answers a = {0};
	struct supervisor *s;
	pid_t pid;

	setenv("FAKE_VMM_SLOW", "set-cpus:20000", 1);
	s = start_kv1();
	ck_assert_int_eq(sscanf(logged("start "), "start %d", &pid), 1);
	ck_assert_int_eq(supervisor__call(s, "kv1", CL_ROLE_PRIMARY, "set-cpus",
					  json_pack("{s:s}", "cpus", "0"), 30000, on_done, &a),
			 0);
	ck_assert(LOOP_UNTIL(strstr(logged("cmd set-cpus"), "set-cpus"), 3000));
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert(LOOP_UNTIL(a.n, 5000));
	ck_assert(!a.ok);
	ck_assert_msg(strstr(a.error, "exited") || strstr(a.error, "closed"), "%s", a.error);
	/* and never again */
	LOOP_UNTIL(a.n > 1, 1500);
	ck_assert_int_eq(a.n, 1);
	ck_assert(LOOP_UNTIL(!supervisor__alive(s), 3000));
	ck_assert_int_eq(
	    supervisor__call(s, "kv1", CL_ROLE_NONE, "query-cpus", NULL, 1000, on_done, &a),
	    -ENOENT);
	supervisor__free(s);
}
END_TEST

/* Longer than 255 bytes: refused, the last list stays. */
START_TEST(test_vmm_cpus_too_long)
{
	struct supervisor *s;
	char list[400];

	ck_assert_int_eq(supervisor__new(base, &conf, &ops, &s), 0);
	memset(list, '1', sizeof(list) - 1);
	list[sizeof(list) - 1] = 0;
	ck_assert_int_eq(supervisor__set_vmm_cpus(s, list), -ENAMETOOLONG);
	supervisor__free(s);
}
END_TEST

Suite *supervisor_call_suite(void)
{
	Suite *s = suite_create("supervisor_call");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_call_and_each);
	tcase_add_test(tc, test_call_vmm_dies);
	tcase_add_test(tc, test_vmm_cpus_too_long);
	suite_add_tcase(s, tc);
	return s;
}
