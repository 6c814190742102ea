/* twin-vmm save, migrate and the replication commands: clients of a twin-vmm's control socket. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <jansson.h>
#include "control.h"
#include "control_client.h"
#include "json_lines.h"

/* A reply to anything but save comes at once; this bounds a twin-vmm that hangs. */
#define REPLY_TIMEOUT_MS 30000
/* How often migrate asks for progress; non-terminal output prints every PRINT_EVERY polls. */
#define POLL_MS	    100
#define PRINT_EVERY 10
/* unprotect waits for the backup's last ack (bounded by its --timeout), failover for the VM. */
#define UNPROTECT_TIMEOUT_MS (10 * 60 * 1000)
#define FAILOVER_TIMEOUT_MS  60000

struct client {
	const char *path;
	struct json_lines lines;
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
	enum json_lines_fail fail;
	char why[160], msg[256];
	const char *body;
	json_t *j = json_lines__read(&c->lines, timeout_ms, &fail, why, sizeof(why));

	if (j)
		return j;
	body = json_lines__fail_str(&c->lines, fail, why, timeout_ms, "twin-vmm", msg, sizeof(msg));
	if (body) /* no stop flag is set here, so never NULL */
		say_error("--control %s: %s%s", c->path, body,
			  fail == JSON_LINES_TIMEOUT  ? ": is twin-vmm stuck?"
			  : fail == JSON_LINES_CLOSED ? ": see its log"
						      : "");
	return NULL;
}

/* Connects and reads the greeting: 0, or -1 with the reason said. */
static int client_connect(struct client *c, const char *path)
{
	int rc = json_lines__connect(&c->lines, path, 4 * CONTROL_LINE_MAX);
	json_t *hello;

	c->path = path;
	if (rc) {
		say_error("--control %s: cannot connect: %s: is twin-vmm running with --control "
			  "%s?",
			  path, strerror(-rc), path);
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

/* Runs cmd with args (stolen, may be NULL): its whole reply, or NULL (connection broken, said). */
static json_t *call_reply(struct client *c, const char *cmd, json_t *args, int timeout_ms)
{
	int rc = json_lines__send(&c->lines, cmd, args);

	if (rc) {
		say_error("--control %s: cannot send %s: %s", c->path, cmd, strerror(-rc));
		return NULL;
	}
	return read_json(c, timeout_ms);
}

/* An error reply's description ("?" if it has none). */
static const char *error_desc(json_t *rep)
{
	return json_string_value(json_object_get(json_object_get(rep, "error"), "desc")) ?: "?";
}

/*
 * Runs cmd with args (stolen, may be NULL) and returns its "return" object, or NULL after
 * saying why: twin-vmm's error with its class, or a broken connection.
 */
static json_t *call(struct client *c, const char *cmd, json_t *args, int timeout_ms)
{
	json_t *rep = call_reply(c, cmd, args, timeout_ms), *ret;

	if (!rep)
		return NULL;
	ret = json_incref(json_object_get(rep, "return"));
	if (!ret)
		say_error("%s: %s (%s)", cmd, error_desc(rep),
			  json_string_value(json_object_get(json_object_get(rep, "error"), "class"))
			      ?: "no error class");
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

/* The connection's security into args (migrate, protect); NULL after saying why not. */
static json_t *add_security(json_t *args, const struct vmm_security *s)
{
	if (s->insecure)
		json_object_set_new(args, "insecure", json_true());
	if (!add_path(args, "tls_cert", s->cert) || !add_path(args, "tls_key", s->key) ||
	    !add_path(args, "tls_ca", s->ca) || !add_path(args, "tls_psk", s->psk)) {
		json_decref(args);
		return NULL;
	}
	return args;
}

static json_t *migrate_args(const struct vmm_args *a)
{
	const struct vmm_migrate_opts *m = &a->migrate;
	json_t *args = json_pack(
	    "{s:s, s:I, s:I, s:s, s:I}", "uri", a->to, "downtime_ms", (json_int_t)m->downtime_ms,
	    "bandwidth_mibs", (json_int_t)m->bandwidth_mibs, "compress",
	    vmm_args__compress_to_str(m->compress), "xbzrle_cache_mib", (json_int_t)m->xbzrle_mib);

	if (m->shared_storage)
		json_object_set_new(args, "shared_storage", json_true());
	if (m->copy_storage)
		json_object_set_new(args, "copy_storage", json_true());
	return add_security(args, &a->security);
}

/* mode, interval_ms and min_spacing_ms, those given (protect, set-replication). */
static json_t *timing_args(const struct vmm_repl_opts *r)
{
	json_t *args = json_object();

	if (r->mode_set)
		json_object_set_new(args, "mode", json_string(repl_mode__to_str(r->mode)));
	if (r->interval_ms)
		json_object_set_new(args, "interval_ms", json_integer(r->interval_ms));
	if (r->min_spacing_ms)
		json_object_set_new(args, "min_spacing_ms", json_integer(r->min_spacing_ms));
	return args;
}

static json_t *protect_args(const struct vmm_args *a)
{
	json_t *args = timing_args(&a->repl);

	json_object_set_new(args, "uri", json_string(a->repl.peer));
	json_object_set_new(args, "compress",
			    json_string(vmm_args__compress_to_str(a->migrate.compress)));
	json_object_set_new(args, "xbzrle_cache_mib", json_integer(a->migrate.xbzrle_mib));
	if (a->repl.timeout_ms)
		json_object_set_new(args, "timeout_ms", json_integer(a->repl.timeout_ms));
	if (a->repl.cluster)
		json_object_set_new(args, "cluster", json_true());
	return add_security(args, &a->security);
}

static unsigned long long num(json_t *st, const char *key)
{
	return json_integer_value(json_object_get(st, key));
}

/*
 * One line of progress (what: "migrate", "protect"), without its end: the terminal rewrites
 * it, a log appends it.
 */
static void print_progress(const char *what, json_t *st, const char *phase, const char *to)
{
	if (!strcmp(phase, "setup") || !strcmp(phase, "none")) {
		printf("%s: connecting to %s", what, to);
		return;
	}
	printf("%s: %s, round %llu, %.1f MiB sent, dirty %.1f MiB/s, %.1f MiB/s, "
	       "expected downtime %.1f ms, ETA %.1f s",
	       what, phase, num(st, "rounds"), num(st, "bytes") / 1048576.0,
	       num(st, "dirty_rate_pps") * 4096 / 1048576.0, num(st, "bandwidth_bps") / 1048576.0,
	       num(st, "expected_downtime_ns") / 1e6, num(st, "eta_ns") / 1e9);
	if (num(st, "throttle_pct"))
		printf(", throttle %llu%%", num(st, "throttle_pct"));
}

/* SIGINT and SIGTERM, as a descriptor: they cancel the job instead of ending us. */
static int signal_fd(void)
{
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	return signalfd(-1, &sigs, SFD_CLOEXEC);
}

/* A query-migrate status's phase if it is one the job can be in; NULL after saying why. */
static const char *job_phase(struct client *c, json_t *st)
{
	static const char *const phases[] = {"setup",	  "active", "stop-copy",
					     "completed", "failed", "cancelled"};
	const char *phase = json_string_value(json_object_get(st, "phase"));

	for (size_t i = 0; phase && i < sizeof(phases) / sizeof(phases[0]); i++)
		if (!strcmp(phase, phases[i]))
			return phase;
	say_error("--control %s: query-migrate says phase %s while a job runs: is twin-vmm "
		  "another version than this client?",
		  c->path, phase ? phase : "(none)");
	return NULL;
}

static bool ended(const char *phase)
{
	return !strcmp(phase, "completed") || !strcmp(phase, "failed") ||
	       !strcmp(phase, "cancelled");
}

/*
 * A signal arrived (on sig_fd): asks twin-vmm to cancel the job (what: "save" or
 * "migration"), which it refuses once too late; false if the connection broke (said).
 */
static bool cancel(struct client *c, int sig_fd, bool tty, const char *what)
{
	struct signalfd_siginfo si;
	json_t *r;

	if (read(sig_fd, &si, sizeof(si)) < 0)
		si.ssi_signo = 0;
	r = call_reply(c, "migrate-cancel", NULL, REPLY_TIMEOUT_MS);
	if (!r)
		return false;
	if (json_object_get(r, "return"))
		fprintf(stderr, "%stwin-vmm: signal %u: cancelling the %s\n", tty ? "\n" : "",
			si.ssi_signo, what);
	else
		fprintf(stderr, "%stwin-vmm: signal %u: cannot cancel the %s: %s\n",
			tty ? "\n" : "", si.ssi_signo, what, error_desc(r));
	json_decref(r);
	return true;
}

/*
 * Polls until the save or migration ends; returns its last status (NULL: the connection
 * broke or the status made no sense, said).  to: the destination, for progress lines
 * (NULL: none are printed).
 */
static json_t *watch(struct client *c, const char *to, int sig_fd)
{
	bool tty = to && isatty(STDOUT_FILENO);
	char last_phase[16] = "";
	json_t *st = NULL;

	for (unsigned int n = 0;; n++) {
		struct pollfd p = {.fd = sig_fd, .events = POLLIN};
		const char *phase;

		json_decref(st);
		st = call(c, "query-migrate", NULL, REPLY_TIMEOUT_MS);
		if (!st)
			return NULL;
		phase = job_phase(c, st);
		if (!phase) {
			json_decref(st);
			return NULL;
		}
		if (ended(phase))
			break;
		if (tty) {
			printf("\r\033[K");
			print_progress("migrate", st, phase, to);
			fflush(stdout);
		} else if (to && (n % PRINT_EVERY == 0 || strcmp(phase, last_phase))) {
			print_progress("migrate", st, phase, to);
			putchar('\n');
			fflush(stdout);
		}
		snprintf(last_phase, sizeof(last_phase), "%s", phase);
		/* The signal descriptor is the wait: a signal cuts it short. */
		if (poll(&p, sig_fd >= 0, POLL_MS) > 0 &&
		    !cancel(c, sig_fd, tty, to ? "migration" : "save")) {
			json_decref(st);
			return NULL;
		}
	}
	if (tty)
		printf("\r\033[K");
	return st;
}

/* How an accepted operation is followed to its end: watch, or watch_sync for protect. */
typedef json_t *(*watch_fn)(struct client *c, const char *target, int sig_fd);

/*
 * The client side of save, migrate and protect: connects to path, takes SIGINT and SIGTERM
 * into a signalfd before the request (from then on a signal cancels the operation, through
 * fn), sends cmd with args (consumed; NULL: building them failed and was said, nothing is
 * sent) and, once accepted, follows it with fn(c, target, sig_fd) until it ends.  The last
 * status, or NULL after saying why.
 */
static json_t *start_and_watch(const char *path, const char *cmd, json_t *args, watch_fn fn,
			       const char *target)
{
	struct client c = {.lines.fd = -1};
	json_t *ret, *st = NULL;
	int sig_fd = -1;

	if (!args || client_connect(&c, path))
		goto out;
	sig_fd = signal_fd();
	ret = call(&c, cmd, args, REPLY_TIMEOUT_MS);
	args = NULL;
	if (!ret)
		goto out;
	json_decref(ret);
	st = fn(&c, target, sig_fd);
out:
	json_decref(args);
	if (sig_fd >= 0)
		close(sig_fd);
	json_lines__close(&c.lines);
	return st;
}

int control_client__save(const struct vmm_args *a)
{
	json_t *args = json_object(), *ret;
	int status = CLIENT_EXIT_FAILED;

	if (!add_path(args, "file", a->file)) {
		json_decref(args);
		return status;
	}
	ret = start_and_watch(a->control, "save", args, watch, NULL);
	if (!ret)
		return status;
	if (strcmp(json_string_value(json_object_get(ret, "phase")), "completed")) {
		say_error("save to %s %s: %s", a->file,
			  json_string_value(json_object_get(ret, "phase")),
			  json_string_value(json_object_get(ret, "error")) ?: "no reason given");
		goto out;
	}
	printf("save: wrote the VM to %s (%.1f MiB); it stays paused: cont resumes it, quit "
	       "ends it\n",
	       a->file, json_integer_value(json_object_get(ret, "bytes")) / 1048576.0);
	status = CLIENT_EXIT_OK;
out:
	json_decref(ret);
	return status;
}

int control_client__migrate(const struct vmm_args *a)
{
	json_t *st = start_and_watch(a->control, "migrate", migrate_args(a), watch, a->to);
	int status = CLIENT_EXIT_FAILED;
	char *line;

	if (!st)
		return status;
	/* The whole final status, one line, last: what scripts and benchmarks read. */
	line = json_dumps(st, JSON_COMPACT);
	printf("migrate: %s\n", line ? line : "{}");
	free(line);
	fflush(stdout);
	if (!strcmp(json_string_value(json_object_get(st, "phase")), "completed"))
		status = CLIENT_EXIT_OK;
	else
		say_error("migrate to %s %s: %s%s", a->to,
			  json_string_value(json_object_get(st, "phase")),
			  json_string_value(json_object_get(st, "error")) ?: "no reason given",
			  json_is_true(json_object_get(st, "source_paused"))
			      ? "" /* the error says it stays paused, and why */
			      : "; the VM keeps running on the source");
	json_decref(st);
	return status;
}

/* The replication state of a query-replication status ("" if it has none). */
static const char *repl_state(json_t *st)
{
	return json_string_value(json_object_get(st, "state")) ?: "";
}

/* Prints `what: {status}` on one line, last: what scripts and benchmarks read. */
static void print_status(const char *what, json_t *st)
{
	char *line = json_dumps(st, JSON_COMPACT);

	printf("%s: %s\n", what, line ? line : "{}");
	free(line);
	fflush(stdout);
}

/*
 * Polls query-replication while the initial sync runs, printing its progress (as migrate's);
 * a signal on sig_fd asks for unprotect, which cancels the sync.  The last status, or NULL
 * (the connection broke, said).
 */
static json_t *watch_sync(struct client *c, const char *peer, int sig_fd)
{
	bool tty = isatty(STDOUT_FILENO), cancelled = false;
	char last_phase[16] = "";
	json_t *st = NULL;

	for (unsigned int n = 0;; n++) {
		struct pollfd p = {.fd = sig_fd, .events = POLLIN};
		const char *phase;
		json_t *sync;

		json_decref(st);
		st = call(c, "query-replication", NULL, REPLY_TIMEOUT_MS);
		if (!st || strcmp(repl_state(st), "syncing"))
			break;
		sync = json_object_get(st, "sync");
		phase = json_string_value(json_object_get(sync, "phase")) ?: "setup";
		if (tty) {
			printf("\r\033[K");
			print_progress("protect", sync, phase, peer);
			fflush(stdout);
		} else if (n % PRINT_EVERY == 0 || strcmp(phase, last_phase)) {
			print_progress("protect", sync, phase, peer);
			putchar('\n');
			fflush(stdout);
		}
		snprintf(last_phase, sizeof(last_phase), "%s", phase);
		if (poll(&p, sig_fd >= 0 && !cancelled, POLL_MS) > 0) {
			struct signalfd_siginfo si;
			json_t *r;

			if (read(sig_fd, &si, sizeof(si)) < 0)
				si.ssi_signo = 0;
			fprintf(stderr, "%stwin-vmm: signal %u: cancelling the protection\n",
				tty ? "\n" : "", si.ssi_signo);
			cancelled = true;
			r = call(c, "unprotect", NULL, UNPROTECT_TIMEOUT_MS);
			json_decref(r);
		}
	}
	if (tty)
		printf("\r\033[K");
	return st;
}

int control_client__protect(const struct vmm_args *a)
{
	json_t *st =
	    start_and_watch(a->control, "protect", protect_args(a), watch_sync, a->repl.peer);
	int status = CLIENT_EXIT_FAILED;

	if (!st)
		return status;
	print_status("protect", st);
	if (!strcmp(repl_state(st), "protected"))
		status = CLIENT_EXIT_OK;
	else
		say_error("protect toward %s: %s: %s; the VM runs unprotected", a->repl.peer,
			  repl_state(st),
			  json_string_length(json_object_get(st, "error"))
			      ? json_string_value(json_object_get(st, "error"))
			      : "no reason given");
	json_decref(st);
	return status;
}

/* set-replication's request and the line saying what now holds. */
static int set_replication(struct client *c, const struct vmm_args *a)
{
	json_t *ret = call(c, "set-replication", timing_args(&a->repl), REPLY_TIMEOUT_MS);

	if (!ret)
		return CLIENT_EXIT_FAILED;
	json_decref(ret);
	ret = call(c, "query-replication", NULL, REPLY_TIMEOUT_MS);
	if (!ret)
		return CLIENT_EXIT_FAILED;
	printf("set-replication: %s mode, interval %lld ms, min spacing %lld ms (from the next "
	       "checkpoint)\n",
	       json_string_value(json_object_get(ret, "mode")) ?: "?",
	       json_integer_value(json_object_get(ret, "interval_ms")),
	       json_integer_value(json_object_get(ret, "min_spacing_ms")));
	json_decref(ret);
	return CLIENT_EXIT_OK;
}

int control_client__replication(const struct vmm_args *a)
{
	struct client c = {.lines.fd = -1};
	json_t *ret = NULL;
	int status = CLIENT_EXIT_FAILED;

	if (client_connect(&c, a->control))
		goto out;
	switch (a->command) {
	case VMM_CMD_UNPROTECT:
		ret = call(&c, "unprotect", NULL, UNPROTECT_TIMEOUT_MS);
		if (ret)
			printf("unprotect: done: the backup has the last checkpoint and exits\n");
		break;
	case VMM_CMD_SET_REPLICATION:
		status = set_replication(&c, a);
		goto out;
	case VMM_CMD_QUERY_REPLICATION:
		ret = call(&c, "query-replication", NULL, REPLY_TIMEOUT_MS);
		if (ret) {
			char *line = json_dumps(ret, JSON_COMPACT);

			printf("%s\n", line ? line : "{}");
			free(line);
		}
		break;
	case VMM_CMD_FAILOVER:
		ret = call(&c, "failover", NULL, FAILOVER_TIMEOUT_MS);
		json_decref(ret);
		ret = ret ? call(&c, "query-replication", NULL, REPLY_TIMEOUT_MS) : NULL;
		if (ret)
			printf("failover: the VM runs here now, from epoch %lld\n",
			       json_integer_value(json_object_get(ret, "epoch")));
		break;
	case VMM_CMD_FENCE:
		ret = call(&c, "fence", NULL, REPLY_TIMEOUT_MS);
		if (ret)
			printf("fence: the VM is paused and no output leaves until unfence\n");
		break;
	case VMM_CMD_UNFENCE:
		ret = call(&c, "unfence", NULL, REPLY_TIMEOUT_MS);
		if (ret)
			printf("unfence: the VM runs, its acked output goes out\n");
		break;
	case VMM_CMD_DEGRADE:
		ret = call(&c, "degrade", NULL, REPLY_TIMEOUT_MS);
		if (ret)
			printf("degrade: the held output went out; the VM runs unprotected\n");
		break;
	default: /* main sends only the seven above */
		break;
	}
	if (ret)
		status = CLIENT_EXIT_OK;
out:
	json_decref(ret);
	json_lines__close(&c.lines);
	return status;
}
