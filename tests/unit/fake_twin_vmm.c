/* A stand-in twin-vmm for clusterd's supervisor tests: the control protocol, scripted by env. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

/*
 * It takes twin-vmm's command line, binds --control, greets every client and answers each
 * request line, logging what it does to FAKE_VMM_LOG, one line per fact:
 *   argv ARG ...       its command line, at once
 *   start PID          once bound
 *   cmd NAME           a request arrived (before any delay)
 *   cpus LIST          set-cpus's argument, after its cmd line
 * The environment (inherited through clusterd's supervisor) scripts it:
 *   FAKE_VMM_BIND_DELAY_MS=N  bind the control socket only after N ms (connect retries)
 *   FAKE_VMM_SLOW=CMD:MS      CMD answers after MS ms
 *   FAKE_VMM_FAIL=CMD         CMD gets an error reply
 *   FAKE_VMM_PARALLEL=1       each connection is served on its own; by default requests run
 *                             one at a time across all connections, as twin-vmm's one
 *                             control thread does (a slow command holds every connection)
 *   FAKE_VMM_REPL_FILE=PATH   query-replication's "state" is this file's first word
 *                             (default "protected")
 * quit answers, then exits 0.  Exit status 2: bad usage; 1: a socket failure.
 */

static pthread_mutex_t serial = PTHREAD_MUTEX_INITIALIZER;
static bool parallel;
static int log_fd = -1;

static void say(const char *fmt, const char *arg)
{
	char line[4200];
	int n = snprintf(line, sizeof(line), fmt, arg);

	if (n >= (int)sizeof(line))
		n = sizeof(line) - 1;
	if (log_fd >= 0 && n > 0 && write(log_fd, line, (size_t)n) < 0)
		exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The delay FAKE_VMM_SLOW gives cmd, in ms (0: none). */
static long slow_ms(const char *cmd)
{
	const char *spec = getenv("FAKE_VMM_SLOW");
	const char *colon = spec ? strchr(spec, ':') : NULL;

	if (!colon || (size_t)(colon - spec) != strlen(cmd) || strncmp(spec, cmd, colon - spec))
		return 0;
	return atol(colon + 1);
}

static json_t *replication_state(void)
{
	const char *path = getenv("FAKE_VMM_REPL_FILE");
	char word[32] = "protected";
	FILE *f = path ? fopen(path, "re") : NULL;

	if (f) {
		if (fscanf(f, "%31s", word) != 1)
			snprintf(word, sizeof(word), "protected");
		fclose(f);
	}
	return json_pack("{s:s, s:i}", "state", word, "epochs", 1);
}

/* The reply line for one request line (malloc'd, newline-terminated). */
static char *answer(const char *line, size_t len, bool *quit)
{
	json_t *req = json_loadb(line, len, 0, NULL), *reply;
	const char *cmd = json_string_value(json_object_get(req, "execute"));
	const char *fail = getenv("FAKE_VMM_FAIL");
	char *text, *out;
	long delay;

	if (!cmd) {
		json_decref(req);
		return strdup(
		    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no execute\"}}\n");
	}
	say("cmd %s\n", cmd);
	if (!strcmp(cmd, "set-cpus"))
		say("cpus %s\n",
		    json_string_value(json_object_get(json_object_get(req, "arguments"), "cpus"))
			?: "(none)");
	delay = slow_ms(cmd);
	if (delay)
		sleep_ms(delay);
	if (fail && !strcmp(fail, cmd))
		reply = json_pack("{s:{s:s, s:s}}", "error", "class", "GenericError", "desc",
				  "fake: told to fail");
	else if (!strcmp(cmd, "query-status"))
		reply = json_pack("{s:{s:s}}", "return", "status", "running");
	else if (!strcmp(cmd, "query-replication"))
		reply = json_pack("{s:o}", "return", replication_state());
	else
		reply = json_pack("{s:{}}", "return");
	*quit = !strcmp(cmd, "quit");
	json_decref(req);
	text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (!text || asprintf(&out, "%s\n", text) < 0)
		out = NULL;
	free(text);
	return out;
}

static bool send_all(int fd, const char *s)
{
	size_t n = strlen(s);

	return send(fd, s, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char buf[65536];
	size_t used = 0;

	if (!send_all(fd, "{\"twin\": {\"version\": \"fake\", \"protocol\": 1}}\n"))
		goto out;
	for (;;) {
		ssize_t r = read(fd, buf + used, sizeof(buf) - used);
		char *nl;

		if (r <= 0)
			break;
		used += (size_t)r;
		while ((nl = memchr(buf, '\n', used))) {
			bool quit = false;
			char *reply;

			if (!parallel)
				pthread_mutex_lock(&serial);
			reply = answer(buf, (size_t)(nl - buf), &quit);
			if (!parallel)
				pthread_mutex_unlock(&serial);
			if (!reply || !send_all(fd, reply))
				exit(1);
			free(reply);
			if (quit)
				exit(0);
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used);
		}
		if (used == sizeof(buf))
			break;
	}
out:
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *control = NULL, *log = getenv("FAKE_VMM_LOG");
	const char *delay = getenv("FAKE_VMM_BIND_DELAY_MS");
	char pid[32];
	int l;

	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--control"))
			control = argv[i + 1];
	if (!control || strlen(control) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "fake-twin-vmm: --control PATH is required (a short path)\n");
		return 2;
	}
	parallel = getenv("FAKE_VMM_PARALLEL") != NULL;
	if (log)
		log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd >= 0) {
		char line[4096];
		size_t n = snprintf(line, sizeof(line), "argv");

		for (int i = 1; i < argc && n < sizeof(line); i++)
			n += snprintf(line + n, sizeof(line) - n, " %s", argv[i]);
		if (n < sizeof(line) - 1)
			say("%s\n", line);
	}
	if (delay)
		sleep_ms(atol(delay));
	strcpy(sa.sun_path, control);
	unlink(control);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 8)) {
		perror("fake-twin-vmm: control socket");
		return 1;
	}
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	say("start %s\n", pid);
	for (;;) {
		int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0 || pthread_create(&t, NULL, serve, (void *)(long)fd))
			return 1;
		pthread_detach(t);
	}
}
