/* The twin CLI's command line: a pure parser with one clear error line per mistake. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "host_port.h"
#include "twin_args.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The most words a command has: `drill failover VM`. */
#define MAX_WORDS 3

#define SYNOPSIS                                                                                   \
	"usage: twin [--socket PATH] COMMAND\n"                                                    \
	"       twin vm start CFG\n"                                                               \
	"       twin vm stop VM\n"                                                                 \
	"       twin vm list [--json]\n"                                                           \
	"       twin protect VM [--peer HOST] [--mode epoch|event|hybrid] [--interval MS]\n"       \
	"       twin unprotect VM\n"                                                               \
	"       twin failover VM [--force]\n"                                                      \
	"       twin status [VM] [--json]\n"                                                       \
	"       twin cluster status [--json]\n"                                                    \
	"       twin drill failover VM [--host] [--probe ADDR:PORT] [--json]"

const char twin_args_usage[] = SYNOPSIS
    "\n"
    "vm start: parse the VM config file CFG here (a bad one: exit 2 naming the line), then\n"
    "  start the VM on the cluster; with protect = yes in CFG it is protected at once.\n"
    "vm stop: stop the VM (and its backup).  vm list: every VM, its state and hosts.\n"
    "protect: replicate the VM to a backup host, chosen by placement (free memory, fewest\n"
    "  protected VMs) unless --peer HOST names it; shows the initial sync's progress and\n"
    "  exits 0 once protected, 1 with the reason if the sync failed.\n"
    "  --mode MODE      epoch (default): a checkpoint every interval; event: one per guest\n"
    "                   output; hybrid: both\n"
    "  --interval MS    epoch: the period; hybrid: the longest gap (1 to 60000)\n"
    "unprotect: stop replicating the VM; its backup exits.\n"
    "failover: run the VM on its backup now.  The cluster does this by itself on the\n"
    "  primary's confirmed death while quorate with three votes or more.\n"
    "  --force          an operator override without quorum or a confirmed death: if the\n"
    "                   primary still runs, two copies serve at once.  Only when you know\n"
    "                   the primary is dead.\n"
    "status: roles, hosts, state, epoch rate, lag and pause p99 of one VM or every VM.\n"
    "cluster status: members, quorum, votes and the Corosync token.\n"
    "drill failover: kill the VM's primary twin-vmm (SIGKILL), or with --host every process\n"
    "  of the primary's host (corosync, clusterd, twin-vmm), and report in ms the detection,\n"
    "  the activation on the backup and the first answer of the kv service, which it asks\n"
    "  every 5 ms at --probe ADDR:PORT (default: probe = in the VM's config).  --host needs\n"
    "  the socket of another host's clusterd.\n"
    "  --json           one JSON object: the report, or the status\n"
    "  --socket PATH    the local clusterd's socket (default $TWIN_SOCKET, else\n"
    "                   " TWIN_DEFAULT_SOCKET ")\n"
    "Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 bad usage or a bad\n"
    "VM config.\n";

static const char *const usage_lines[] = {
    [TWIN_CMD_NONE] = SYNOPSIS,
    [TWIN_CMD_VM_START] = "usage: twin vm start CFG",
    [TWIN_CMD_VM_STOP] = "usage: twin vm stop VM",
    [TWIN_CMD_VM_LIST] = "usage: twin vm list [--json]",
    [TWIN_CMD_PROTECT] =
	"usage: twin protect VM [--peer HOST] [--mode epoch|event|hybrid] [--interval MS]",
    [TWIN_CMD_UNPROTECT] = "usage: twin unprotect VM",
    [TWIN_CMD_FAILOVER] = "usage: twin failover VM [--force]",
    [TWIN_CMD_STATUS] = "usage: twin status [VM] [--json]",
    [TWIN_CMD_CLUSTER_STATUS] = "usage: twin cluster status [--json]",
    [TWIN_CMD_DRILL_FAILOVER] = "usage: twin drill failover VM [--host] [--probe ADDR:PORT] "
				"[--json]",
};

/* Each command: its words, and the argument after them (NULL: none; "[VM]": optional). */
static const struct command_def {
	const char *words[2];
	const char *arg;
} commands[] = {
    [TWIN_CMD_VM_START] = {{"vm", "start"}, "CFG"},
    [TWIN_CMD_VM_STOP] = {{"vm", "stop"}, "VM"},
    [TWIN_CMD_VM_LIST] = {{"vm", "list"}, NULL},
    [TWIN_CMD_PROTECT] = {{"protect"}, "VM"},
    [TWIN_CMD_UNPROTECT] = {{"unprotect"}, "VM"},
    [TWIN_CMD_FAILOVER] = {{"failover"}, "VM"},
    [TWIN_CMD_STATUS] = {{"status"}, "[VM]"},
    [TWIN_CMD_CLUSTER_STATUS] = {{"cluster", "status"}, NULL},
    [TWIN_CMD_DRILL_FAILOVER] = {{"drill", "failover"}, "VM"},
};

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

#define CMD(c) (1u << (c))
#define CMDS_ALL                                                                                   \
	(CMD(TWIN_CMD_VM_START) | CMD(TWIN_CMD_VM_STOP) | CMD(TWIN_CMD_VM_LIST) |                  \
	 CMD(TWIN_CMD_PROTECT) | CMD(TWIN_CMD_UNPROTECT) | CMD(TWIN_CMD_FAILOVER) |                \
	 CMD(TWIN_CMD_STATUS) | CMD(TWIN_CMD_CLUSTER_STATUS) | CMD(TWIN_CMD_DRILL_FAILOVER))
/* The commands that print a status or a report. */
#define CMDS_JSON                                                                                  \
	(CMD(TWIN_CMD_VM_LIST) | CMD(TWIN_CMD_STATUS) | CMD(TWIN_CMD_CLUSTER_STATUS) |             \
	 CMD(TWIN_CMD_DRILL_FAILOVER))

enum option {
	OPT_SOCKET,
	OPT_JSON,
	OPT_PEER,
	OPT_MODE,
	OPT_INTERVAL,
	OPT_FORCE,
	OPT_HOST,
	OPT_PROBE,
};

static const struct option_def {
	const char *name;
	unsigned int cmds;
	bool flag; /* takes no value */
} options[] = {
    [OPT_SOCKET] = {"--socket", CMDS_ALL, false},
    [OPT_JSON] = {"--json", CMDS_JSON, true},
    [OPT_PEER] = {"--peer", CMD(TWIN_CMD_PROTECT), false},
    [OPT_MODE] = {"--mode", CMD(TWIN_CMD_PROTECT), false},
    [OPT_INTERVAL] = {"--interval", CMD(TWIN_CMD_PROTECT), false},
    [OPT_FORCE] = {"--force", CMD(TWIN_CMD_FAILOVER), true},
    [OPT_HOST] = {"--host", CMD(TWIN_CMD_DRILL_FAILOVER), true},
    [OPT_PROBE] = {"--probe", CMD(TWIN_CMD_DRILL_FAILOVER), false},
};

/* The option a is (as --name or --name=VALUE), or -1. */
static int find_option(const char *a)
{
	for (size_t k = 0; k < ARRAY_SIZE(options); k++) {
		size_t n = strlen(options[k].name);

		if (!strncmp(a, options[k].name, n) && (a[n] == '\0' || a[n] == '='))
			return k;
	}
	return -1;
}

static bool is_help(const char *a)
{
	return !strcmp(a, "-h") || !strcmp(a, "--help");
}

/* "vm start", "protect": the command as the user types it. */
static const char *command_name(enum twin_command c, char *buf, size_t size)
{
	const struct command_def *d = &commands[c];

	snprintf(buf, size, "%s%s%s", d->words[0], d->words[1] ? " " : "", d->words[1] ?: "");
	return buf;
}

/* A host name as corosync's nodelist has it: 1 to 64 of [A-Za-z0-9._-]. */
static bool valid_host(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > TWIN_HOST_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static int set_option(enum option o, const char *val, struct twin_args *out, char *err,
		      size_t errlen)
{
	unsigned long n;
	char *end;

	switch (o) {
	case OPT_SOCKET:
		if (!*val || strlen(val) >= TWIN_SOCKET_PATH_MAX)
			return fail(err, errlen,
				    "--socket '%s' is empty or longer than %d bytes: give the "
				    "clusterd socket's path, e.g. " TWIN_DEFAULT_SOCKET,
				    val, TWIN_SOCKET_PATH_MAX - 1);
		out->socket = val;
		break;
	case OPT_JSON:
		out->json = true;
		break;
	case OPT_PEER:
		if (!valid_host(val))
			return fail(err, errlen,
				    "--peer '%s' is not a host name: give a cluster member's name "
				    "as twin cluster status lists it, e.g. h2",
				    val);
		out->peer = val;
		break;
	case OPT_MODE:
		if (vmcfg__mode_from_str(val, &out->mode))
			return fail(err, errlen,
				    "--mode '%s' is invalid: use epoch, event or hybrid", val);
		out->mode_set = true;
		break;
	case OPT_INTERVAL:
		errno = 0;
		n = *val >= '0' && *val <= '9' ? strtoul(val, &end, 10) : 0;
		if (errno || !n || *end || n > VMCFG_MAX_INTERVAL)
			return fail(err, errlen,
				    "--interval '%s' is invalid: use milliseconds from 1 to %d",
				    val, VMCFG_MAX_INTERVAL);
		out->interval_ms = n;
		break;
	case OPT_FORCE:
		out->force = true;
		break;
	case OPT_HOST:
		out->host = true;
		break;
	case OPT_PROBE:
		if (!host_port__valid(val, false))
			return fail(err, errlen,
				    "--probe '%s' is not ADDR:PORT: give the kv service's address, "
				    "e.g. 198.18.2.10:7777",
				    val);
		out->probe = val;
		break;
	}
	return 0;
}

/* The command that words[0..n) name (and how many words that took), or an error. */
static int find_command(const char *const *words, int n, struct twin_args *out, int *used,
			char *err, size_t errlen)
{
	static const char *const groups[][2] = {
	    {"vm", "start, stop or list"}, {"cluster", "status"}, {"drill", "failover"}};

	if (!n)
		return fail(err, errlen,
			    "missing command: use vm, protect, unprotect, failover, status, "
			    "cluster or drill (see twin --help)");
	for (size_t c = TWIN_CMD_VM_START; c < ARRAY_SIZE(commands); c++) {
		const struct command_def *d = &commands[c];

		if (strcmp(words[0], d->words[0]))
			continue;
		if (!d->words[1]) {
			out->command = c;
			*used = 1;
			return 0;
		}
		if (n > 1 && !strcmp(words[1], d->words[1])) {
			out->command = c;
			*used = 2;
			return 0;
		}
	}
	for (size_t g = 0; g < ARRAY_SIZE(groups); g++)
		if (!strcmp(words[0], groups[g][0]))
			return fail(err, errlen, "twin %s %s%s%s: use twin %s %s", words[0],
				    n > 1 ? "'" : "needs a subcommand", n > 1 ? words[1] : "",
				    n > 1 ? "' is unknown" : "", words[0], groups[g][1]);
	return fail(err, errlen,
		    "unknown command '%s': use vm, protect, unprotect, failover, status, cluster "
		    "or drill (see twin --help)",
		    words[0]);
}

/* The command's argument (CFG or VM) from the words after the command's own. */
static int take_argument(const char *const *words, int n, struct twin_args *out, char *err,
			 size_t errlen)
{
	const char *want = commands[out->command].arg;
	char name[32];

	command_name(out->command, name, sizeof(name));
	if (n > (want ? 1 : 0))
		return fail(err, errlen, "twin %s: unexpected argument '%s': see its usage", name,
			    words[want ? 1 : 0]);
	if (!n) {
		if (want && want[0] != '[')
			return fail(err, errlen, "twin %s: missing %s: name the %s", name, want,
				    !strcmp(want, "CFG") ? "VM config file" : "VM, e.g. kv1");
		return 0;
	}
	if (out->command == TWIN_CMD_VM_START) {
		if (!*words[0])
			return fail(err, errlen,
				    "twin vm start: CFG is empty: give the VM config "
				    "file's path");
		out->cfg = words[0];
		return 0;
	}
	if (!vmcfg__valid_name(words[0]))
		return fail(err, errlen,
			    "twin %s: '%s' is not a VM name: use 1 to %d characters of a-z, 0-9 "
			    "and '-' (twin vm list shows them)",
			    name, words[0], VMCFG_NAME_MAX);
	out->vm = words[0];
	return 0;
}

int twin_args__parse(int argc, char *const argv[], const char *env_socket, struct twin_args *out,
		     char *err, size_t errlen)
{
	const char *words[MAX_WORDS + 2];
	char name[32];
	int nwords = 0, used = 0, rc;

	*out = (struct twin_args){
	    .command = TWIN_CMD_NONE,
	    .socket = env_socket && *env_socket ? env_socket : TWIN_DEFAULT_SOCKET,
	};
	if (err && errlen)
		err[0] = '\0';
	/* First the words, which name the command that the options are checked against. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int o;

		if (is_help(a))
			return TWIN_ARGS_HELP;
		o = find_option(a);
		if (o >= 0) {
			i += !options[o].flag && !strchr(a, '=');
			continue;
		}
		if (a[0] == '-' && a[1])
			return fail(err, errlen, "unknown option '%s': see twin --help", a);
		if (nwords == MAX_WORDS + 1)
			return fail(err, errlen, "unexpected argument '%s': see twin --help", a);
		words[nwords++] = a;
	}
	rc = find_command(words, nwords, out, &used, err, errlen);
	if (!rc)
		rc = take_argument(words + used, nwords - used, out, err, errlen);
	if (rc)
		return rc;
	command_name(out->command, name, sizeof(name));
	for (int i = 1; i < argc; i++) {
		int o = find_option(argv[i]);
		const char *val = NULL;
		size_t n;

		if (o < 0)
			continue;
		n = strlen(options[o].name);
		if (!(options[o].cmds & CMD(out->command)))
			return fail(err, errlen, "%s does not apply to twin %s: see its usage",
				    options[o].name, name);
		if (options[o].flag && argv[i][n] == '=')
			return fail(err, errlen, "%s takes no value: give it alone",
				    options[o].name);
		if (!options[o].flag) {
			if (argv[i][n] == '=')
				val = argv[i] + n + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return fail(err, errlen, "%s needs a value: see its usage",
					    options[o].name);
		}
		rc = set_option(o, val, out, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

const char *twin_args__usage(enum twin_command c)
{
	return usage_lines[c];
}
