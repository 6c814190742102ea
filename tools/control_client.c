/* twin-vmm save and migrate: clients of a running twin-vmm's control socket. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <jansson.h>
#include "control.h"
#include "control_client.h"

/* A reply to anything but save comes at once; this bounds a twin-vmm that hangs. */
#define REPLY_TIMEOUT_MS 30000
/* How often migrate asks for progress; non-terminal output prints every PRINT_EVERY polls. */
#define POLL_MS	    100
#define PRINT_EVERY 10

struct client {
	const char *path;
	int fd;
	char buf[4 * CONTROL_LINE_MAX];
	size_t len;
};

static void __attribute__((format(printf, 1, 2))) say_error(const char *fmt, ...)
{
	va_list ap;

	fputs("twin-vmm: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The next line from twin-vmm, parsed; NULL with the reason said (closed, timeout, garbage). */
static json_t *read_json(struct client *c, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		json_error_t jerr;
		ssize_t r;

		if (nl) {
			json_t *j = json_loadb(c->buf, nl - c->buf, 0, &jerr);

			c->len -= nl + 1 - c->buf;
			memmove(c->buf, nl + 1, c->len);
			if (!j)
				say_error("--control %s: a reply is not JSON: %s", c->path,
					  jerr.text);
			return j;
		}
		if (c->len == sizeof(c->buf)) {
			say_error("--control %s: a reply line is too long", c->path);
			return NULL;
		}
		r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			say_error("--control %s: no reply within %d s: is twin-vmm stuck?", c->path,
				  timeout_ms / 1000);
			return NULL;
		}
		r = r < 0 ? -1 : read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			say_error("--control %s: twin-vmm closed the socket%s%s: see its log",
				  c->path, r ? ": " : "", r ? strerror(errno) : "");
			return NULL;
		}
		c->len += r;
	}
}

/* Connects and reads the greeting: 0, or -1 with the reason said. */
static int client_connect(struct client *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	json_t *hello;

	c->path = path;
	c->len = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		say_error("--control %s: cannot connect: %s: is twin-vmm running with --control "
			  "%s?",
			  path, strerror(errno), path);
		return -1;
	}
	hello = read_json(c, REPLY_TIMEOUT_MS);
	if (!hello)
		return -1;
	if (!json_is_object(json_object_get(hello, "twin"))) {
		say_error("--control %s: the greeting is not twin-vmm's: is it a control socket?",
			  path);
		json_decref(hello);
		return -1;
	}
	json_decref(hello);
	return 0;
}

/*
 * Runs cmd with args (stolen, may be NULL) and returns its "return" object, or NULL after
 * saying why: twin-vmm's error with its class, or a broken connection.
 */
static json_t *call(struct client *c, const char *cmd, json_t *args, int timeout_ms)
{
	json_t *req = json_pack("{s:s}", "execute", cmd), *rep, *ret;
	char *line;
	size_t n;
	bool sent;

	if (args)
		json_object_set_new(req, "arguments", args);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!line) {
		say_error("out of memory");
		return NULL;
	}
	n = strlen(line);
	line[n] = '\n'; /* json_dumps's NUL becomes the line's end */
	sent = send(c->fd, line, n + 1, MSG_NOSIGNAL) == (ssize_t)(n + 1);
	free(line);
	if (!sent) {
		say_error("--control %s: cannot send %s: %s", c->path, cmd, strerror(errno));
		return NULL;
	}
	rep = read_json(c, timeout_ms);
	if (!rep)
		return NULL;
	ret = json_incref(json_object_get(rep, "return"));
	if (!ret) {
		json_t *e = json_object_get(rep, "error");

		say_error("%s: %s (%s)", cmd, json_string_value(json_object_get(e, "desc")) ?: "?",
			  json_string_value(json_object_get(e, "class")) ?: "no error class");
	}
	json_decref(rep);
	return ret;
}

/* path as twin-vmm must see it: absolute, since it has its own working directory. */
static int absolute(const char *path, char *out, size_t size)
{
	char cwd[PATH_MAX];

	if (path[0] == '/')
		return snprintf(out, size, "%s", path) < (int)size ? 0 : -ENAMETOOLONG;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	return snprintf(out, size, "%s/%s", cwd, path) < (int)size ? 0 : -ENAMETOOLONG;
}

/* Adds key: the absolute form of path (if given) to args; false after saying why not. */
static bool add_path(json_t *args, const char *key, const char *path)
{
	char abs[PATH_MAX];

	if (!path)
		return true;
	if (absolute(path, abs, sizeof(abs))) {
		say_error("%s: cannot make an absolute path of it: use a shorter path", path);
		return false;
	}
	json_object_set_new(args, key, json_string(abs));
	return true;
}

int control_client__save(const struct vmm_args *a)
{
	struct client c = {.fd = -1};
	json_t *args = json_object(), *ret = NULL;
	int status = CLIENT_EXIT_FAILED;

	if (!add_path(args, "file", a->file) || client_connect(&c, a->control))
		goto out;
	/* As long as the save takes: twin-vmm replies once the file is whole. */
	ret = call(&c, "save", args, -1);
	args = NULL;
	if (!ret)
		goto out;
	json_decref(ret);
	ret = call(&c, "query-migrate", NULL, REPLY_TIMEOUT_MS);
	if (!ret)
		goto out;
	printf("save: wrote the VM to %s (%.1f MiB); it stays paused: cont resumes it, quit "
	       "ends it\n",
	       a->file, json_integer_value(json_object_get(ret, "bytes")) / 1048576.0);
	status = CLIENT_EXIT_OK;
out:
	json_decref(args);
	json_decref(ret);
	if (c.fd >= 0)
		close(c.fd);
	return status;
}

static json_t *migrate_args(const struct vmm_args *a)
{
	const struct vmm_security *s = &a->security;
	const struct vmm_migrate_opts *m = &a->migrate;
	json_t *args = json_pack(
	    "{s:s, s:I, s:I, s:s, s:I}", "uri", a->to, "downtime_ms", (json_int_t)m->downtime_ms,
	    "bandwidth_mibs", (json_int_t)m->bandwidth_mibs, "compress",
	    vmm_args__compress_to_str(m->compress), "xbzrle_cache_mib", (json_int_t)m->xbzrle_mib);

	if (s->insecure)
		json_object_set_new(args, "insecure", json_true());
	if (!add_path(args, "tls_cert", s->cert) || !add_path(args, "tls_key", s->key) ||
	    !add_path(args, "tls_ca", s->ca) || !add_path(args, "tls_psk", s->psk)) {
		json_decref(args);
		return NULL;
	}
	return args;
}

static unsigned long long num(json_t *st, const char *key)
{
	return json_integer_value(json_object_get(st, key));
}

/* One line of progress, without its end: the terminal rewrites it, a log appends it. */
static void print_progress(json_t *st, const char *to)
{
	const char *phase = json_string_value(json_object_get(st, "phase"));

	if (!strcmp(phase, "setup")) {
		printf("migrate: connecting to %s", to);
		return;
	}
	printf("migrate: %s, round %llu, %.1f MiB sent, dirty %.1f MiB/s, %.1f MiB/s, "
	       "expected downtime %.1f ms, ETA %.1f s",
	       phase, num(st, "rounds"), num(st, "bytes") / 1048576.0,
	       num(st, "dirty_rate_pps") * 4096 / 1048576.0, num(st, "bandwidth_bps") / 1048576.0,
	       num(st, "expected_downtime_ns") / 1e6, num(st, "eta_ns") / 1e9);
	if (num(st, "throttle_pct"))
		printf(", throttle %llu%%", num(st, "throttle_pct"));
}

/* SIGINT and SIGTERM, as a descriptor: they cancel the migration instead of ending us. */
static int signal_fd(void)
{
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	return signalfd(-1, &sigs, SFD_CLOEXEC);
}

/* Polls until the migration ends; returns its last status (NULL: the connection broke). */
static json_t *watch(struct client *c, const struct vmm_args *a, int sig_fd)
{
	bool tty = isatty(STDOUT_FILENO), cancelled = false;
	char last_phase[16] = "";
	json_t *st = NULL;

	for (unsigned int n = 0;; n++) {
		struct pollfd p = {.fd = sig_fd, .events = POLLIN};
		const char *phase;

		json_decref(st);
		st = call(c, "query-migrate", NULL, REPLY_TIMEOUT_MS);
		if (!st)
			return NULL;
		phase = json_string_value(json_object_get(st, "phase"));
		if (!phase)
			phase = "?";
		if (!strcmp(phase, "completed") || !strcmp(phase, "failed") ||
		    !strcmp(phase, "cancelled"))
			break;
		if (tty) {
			printf("\r\033[K");
			print_progress(st, a->to);
			fflush(stdout);
		} else if (n % PRINT_EVERY == 0 || strcmp(phase, last_phase)) {
			print_progress(st, a->to);
			putchar('\n');
			fflush(stdout);
		}
		snprintf(last_phase, sizeof(last_phase), "%s", phase);
		/* The signal descriptor is the wait: a signal cuts it short. */
		if (poll(&p, sig_fd >= 0, POLL_MS) > 0 && !cancelled) {
			struct signalfd_siginfo si;
			json_t *r;

			if (read(sig_fd, &si, sizeof(si)) < 0)
				si.ssi_signo = 0;
			fprintf(stderr, "%stwin-vmm: signal %u: cancelling the migration\n",
				tty ? "\n" : "", si.ssi_signo);
			r = call(c, "migrate-cancel", NULL, REPLY_TIMEOUT_MS);
			if (!r)
				return st;
			json_decref(r);
			cancelled = true;
		}
	}
	if (tty)
		printf("\r\033[K");
	return st;
}

int control_client__migrate(const struct vmm_args *a)
{
	struct client c = {.fd = -1};
	json_t *args = migrate_args(a), *ret, *st = NULL;
	int sig_fd = -1, status = CLIENT_EXIT_FAILED;
	char *line;

	if (!args || client_connect(&c, a->control))
		goto out;
	ret = call(&c, "migrate", args, REPLY_TIMEOUT_MS);
	args = NULL;
	if (!ret)
		goto out;
	json_decref(ret);
	sig_fd = signal_fd();
	st = watch(&c, a, sig_fd);
	if (!st)
		goto out;
	/* The whole final status, one line, last: what scripts and benchmarks read. */
	line = json_dumps(st, JSON_COMPACT);
	printf("migrate: %s\n", line ? line : "{}");
	free(line);
	fflush(stdout);
	if (!strcmp(json_string_value(json_object_get(st, "phase")), "completed"))
		status = CLIENT_EXIT_OK;
	else
		say_error("migrate to %s %s: %s; the VM keeps running on the source", a->to,
			  json_string_value(json_object_get(st, "phase")),
			  json_string_value(json_object_get(st, "error")) ?: "no reason given");
out:
	json_decref(args);
	json_decref(st);
	if (sig_fd >= 0)
		close(sig_fd);
	if (c.fd >= 0)
		close(c.fd);
	return status;
}
