/* The twin CLI's view of clusterd's replies: fields read leniently, tables printed. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "twin_args.h"
#include "twin_status.h"

const char *twin_status__str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : "-";
}

json_t *twin_status__vm(struct twin_client *c, const char *vm)
{
	json_t *ret = twin_client__call(c, "status", json_pack("{s:s}", "vm", vm));

	if (ret && !json_is_object(ret)) {
		twin__error("status %s: clusterd's reply is not a VM object: is twin-clusterd "
			    "another version than this client?",
			    vm);
		json_decref(ret);
		return NULL;
	}
	return ret;
}

void twin_status__print_json(json_t *o)
{
	char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));

	printf("%s\n", line ? line : "{}");
	free(line);
}

/* A number member as text into buf, or "-" when it is missing. */
static const char *num(json_t *o, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		return "-";
	snprintf(buf, size, "%.0f", json_number_value(v));
	return buf;
}

void twin_status__print_vm_list(json_t *ret)
{
	json_t *vm;
	size_t i;
	char mem[24];

	printf("%-32s %-12s %-12s %-12s %-6s %s\n", "NAME", "STATE", "PRIMARY", "BACKUP", "MODE",
	       "MEMORY");
	json_array_foreach(ret, i, vm)
	    printf("%-32s %-12s %-12s %-12s %-6s %s MiB\n", twin_status__str(vm, "name"),
		   twin_status__str(vm, "state"), twin_status__str(vm, "primary"),
		   twin_status__str(vm, "backup"), twin_status__str(vm, "mode"),
		   num(vm, "memory_mib", mem, sizeof(mem)));
}

/* The primary's replication figures: epochs/s, lag (epochs not yet acked), pause p99. */
static void repl_figures(json_t *repl, char *rate, char *lag, char *p99, size_t size)
{
	json_t *epoch = json_object_get(repl, "epoch"),
	       *acked = json_object_get(repl, "acked_epoch");
	json_t *pause = json_object_get(json_object_get(repl, "pause_ns"), "p99");

	snprintf(rate, size, "-");
	snprintf(lag, size, "-");
	snprintf(p99, size, "-");
	if (json_is_number(json_object_get(repl, "epochs_per_s")))
		snprintf(rate, size, "%.1f",
			 json_number_value(json_object_get(repl, "epochs_per_s")));
	if (json_is_integer(epoch) && json_is_integer(acked))
		snprintf(lag, size, "%lld", json_integer_value(epoch) - json_integer_value(acked));
	if (json_is_integer(pause))
		snprintf(p99, size, "%.2f ms", json_integer_value(pause) / 1e6);
}

void twin_status__print_status(json_t *ret)
{
	json_t *vm;
	size_t i;

	printf("%-20s %-12s %-10s %-10s %-6s %9s %9s %10s\n", "NAME", "STATE", "PRIMARY", "BACKUP",
	       "MODE", "EPOCHS/S", "LAG", "PAUSE-P99");
	json_array_foreach(ret, i, vm)
	{
		char rate[24], lag[24], p99[24];

		repl_figures(json_object_get(vm, "repl"), rate, lag, p99, sizeof(rate));
		printf("%-20s %-12s %-10s %-10s %-6s %9s %9s %10s\n", twin_status__str(vm, "name"),
		       twin_status__str(vm, "state"), twin_status__str(vm, "primary"),
		       twin_status__str(vm, "backup"), twin_status__str(vm, "mode"), rate, lag,
		       p99);
		if (json_is_true(json_object_get(vm, "awaiting_operator")))
			printf(
			    "  %s: its primary died and automatic failover was refused (fewer "
			    "than 3 votes or no quorum): twin failover %s --force if you know it "
			    "is dead\n",
			    twin_status__str(vm, "name"), twin_status__str(vm, "name"));
		if (strcmp(twin_status__str(vm, "error"), "-"))
			printf("  %s: last error: %s\n", twin_status__str(vm, "name"),
			       twin_status__str(vm, "error"));
	}
}

/* Whether node is in cluster-status's "members" (the current Corosync membership). */
static bool member(json_t *ret, json_t *node)
{
	json_t *m;
	size_t i;

	json_array_foreach(json_object_get(ret, "members"), i,
			   m) if (json_equal(json_object_get(m, "node"), node)) return true;
	return false;
}

void twin_status__print_cluster(json_t *ret)
{
	char votes[24], expected[24], token[24], id[24], mem[24], prot[24];
	json_t *h;
	size_t i;

	printf("cluster %s: %s, votes %s of %s expected, token %s ms, this host %s\n",
	       twin_status__str(ret, "cluster"),
	       json_is_true(json_object_get(ret, "quorate")) ? "quorate" : "NOT quorate",
	       num(ret, "votes", votes, sizeof(votes)),
	       num(ret, "expected_votes", expected, sizeof(expected)),
	       num(ret, "token_ms", token, sizeof(token)), twin_status__str(ret, "name"));
	printf("%-20s %10s %-8s %-6s %-16s %10s %9s\n", "HOST", "NODE", "STATE", "MEMBER",
	       "REPLICATION", "FREE-MiB", "PROTECTED");
	json_array_foreach(json_object_get(ret, "hosts"), i, h) printf(
	    "%-20s %10s %-8s %-6s %-16s %10s %9s\n", twin_status__str(h, "name"),
	    num(h, "node", id, sizeof(id)), twin_status__str(h, "state"),
	    member(ret, json_object_get(h, "node")) ? "yes" : "no", twin_status__str(h, "addr"),
	    num(h, "free_mib", mem, sizeof(mem)), num(h, "protected_vms", prot, sizeof(prot)));
}

void twin_status__print_sync(const char *name, json_t *vm)
{
	json_t *sync = json_object_get(json_object_get(vm, "repl"), "sync");
	char rounds[24];

	printf("protect: %s: %s toward %s", name, twin_status__str(vm, "state"),
	       twin_status__str(vm, "backup"));
	/* clusterd has the primary's sync progress once its twin-vmm runs the sync. */
	if (json_is_object(sync))
		printf(", sync %s, round %s, %.1f MiB sent", twin_status__str(sync, "phase"),
		       num(sync, "rounds", rounds, sizeof(rounds)),
		       json_number_value(json_object_get(sync, "bytes")) / 1048576.0);
}

/* ---- status --watch ---- */

static volatile sig_atomic_t watch_stop;

static void on_sigint(int sig)
{
	watch_stop = 1;
}

/* The status of vm (every VM if NULL) as a list for the table, or NULL (said why). */
static json_t *status_list(struct twin_client *c, const char *vm)
{
	json_t *ret = twin_client__call(c, "status", vm ? json_pack("{s:s}", "vm", vm) : NULL);

	if (ret && vm && json_is_object(ret))
		ret = json_pack("[o]", ret);
	return ret;
}

/* The refresh's heading: the screen cleared on a terminal; the time (UTC) either way. */
static void heading(bool tty, unsigned int interval_ms, unsigned int n, unsigned int count)
{
	char when[32] = "?";
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (tty)
		printf("\033[H\033[2J");
	printf("twin status at %s (every %.1f s, refresh %u", when, interval_ms / 1000.0, n);
	if (count)
		printf(" of %u", count);
	printf("%s)\n", tty ? ", Ctrl-C to stop" : "");
}

int twin_status__watch(struct twin_client *c, const char *vm, bool json, unsigned int interval_ms,
		       unsigned int count)
{
	struct sigaction sa = {.sa_handler = on_sigint}, old;
	bool tty = isatty(STDOUT_FILENO);
	sigset_t block, orig, waiting;
	int rc = TWIN_EXIT_OK;

	/*
	 * SIGINT is blocked but while waiting, for the next refresh or for clusterd's reply
	 * (ppoll unblocks it atomically, here and in json_lines__read): a Ctrl-C never cuts a
	 * table half printed, and is answered at once even while clusterd is slow to reply.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	waiting = orig;
	sigdelset(&waiting, SIGINT);
	sigaction(SIGINT, &sa, &old);
	watch_stop = 0;
	c->lines.wait_mask = &waiting;
	c->lines.stop = &watch_stop;
	for (unsigned int n = 1; !watch_stop && (!count || n <= count); n++) {
		struct timespec wait = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
		json_t *ret = status_list(c, vm);

		if (!ret) {
			rc = watch_stop ? TWIN_EXIT_OK : TWIN_EXIT_FAILED;
			break;
		}
		if (json) {
			twin_status__print_json(ret);
		} else {
			heading(tty, interval_ms, n, count);
			twin_status__print_status(ret);
		}
		json_decref(ret);
		fflush(stdout);
		if (count && n == count)
			break;
		/* EINTR is the Ctrl-C: watch_stop is set. */
		while (ppoll(NULL, 0, &wait, &waiting) < 0 && errno == EINTR && !watch_stop)
			;
	}
	c->lines.wait_mask = NULL;
	c->lines.stop = NULL;
	/* A Ctrl-C pending since the last wait reaches on_sigint, not the default action. */
	sigprocmask(SIG_SETMASK, &orig, NULL);
	sigaction(SIGINT, &old, NULL);
	return rc;
}
