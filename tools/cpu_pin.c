/* Pinning every thread of a process to a CPU set, through /proc/PID/task. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include "cpu_pin.h"

/* A pass that pins nothing new ends it; more passes than this means threads keep coming. */
#define PIN_PASSES 16

struct tids {
	pid_t *v;
	size_t n, cap;
};

static bool seen(const struct tids *t, pid_t tid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i] == tid)
			return true;
	return false;
}

static int add(struct tids *t, pid_t tid)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 32;
		pid_t *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = tid;
	return 0;
}

/* One pass over dir (/proc/PID/task): pins the threads not pinned yet; how many, or -errno. */
static int pin_pass(const char *dir, const cpu_set_t *set, struct tids *done)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int pinned = 0, rc = 0;

	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	while (!rc && (e = readdir(d))) {
		pid_t tid = atoi(e->d_name);

		if (tid <= 0 || seen(done, tid))
			continue;
		/* A thread that ended meanwhile (ESRCH) needs no pinning. */
		if (sched_setaffinity(tid, sizeof(*set), set) && errno != ESRCH)
			rc = -errno;
		else
			rc = add(done, tid);
		pinned++;
	}
	closedir(d);
	return rc ?: pinned;
}

int cpu_pin__process(pid_t pid, const cpu_set_t *set)
{
	struct tids done = {0};
	char dir[32];
	int rc = 0;

	if (pid)
		snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	else
		snprintf(dir, sizeof(dir), "/proc/self/task");
	for (int pass = 0; pass < PIN_PASSES; pass++) {
		rc = pin_pass(dir, set, &done);
		if (rc <= 0)
			break;
		rc = -EAGAIN;
	}
	free(done.v);
	return rc;
}
