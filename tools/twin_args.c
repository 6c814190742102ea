/* The twin CLI's command line: a pure parser with one clear error line per mistake. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "host_port.h"
#include "twin_args.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STR_(x)	      #x
#define STR(x)	      STR_(x)
/* The most words a command has: `vm peek VM GPA LEN`. */
#define MAX_WORDS 5
/* The most arguments after a command's own words (VM GPA LEN). */
#define MAX_ARGS 3

#define SYNOPSIS                                                                                   \
	"usage: twin [--socket PATH] COMMAND\n"                                                    \
	"       twin vm start CFG\n"                                                               \
	"       twin vm stop VM\n"                                                                 \
	"       twin vm list [--json]\n"                                                           \
	"       twin protect VM [--peer HOST] [--mode epoch|event|hybrid] [--interval MS]\n"       \
	"       twin unprotect VM\n"                                                               \
	"       twin failover VM [--force]\n"                                                      \
	"       twin status [VM] [--json] [--watch [--interval S] [--count N]]\n"                  \
	"       twin cluster status [--json]\n"                                                    \
	"       twin drill failover VM [--host] [--probe ADDR:PORT] [--json]\n"                    \
	"       twin vm forget VM\n"                                                               \
	"       twin host forget HOST\n"                                                           \
	"       twin host cpus [--json]\n"                                                         \
	"       twin host cpu-offline N [--hotplug]\n"                                             \
	"       twin host cpu-online N\n"                                                          \
	"       twin host mem-offline PFN | --vm VM --gpa ADDR\n"                                  \
	"       twin host mem-online PFN | --vm VM --gpa ADDR\n"                                   \
	"       twin host mem-status [PFN] [--json]\n"                                             \
	"       twin vm peek VM GPA LEN [--hex] [--json]\n"                                        \
	"       twin vm regs VM [--vcpu N] [--json]"

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
    "  --watch          refresh the table until interrupted (or --count N times), every\n"
    "                   --interval S seconds (default 1, from 0.1 to 3600)\n"
    "cluster status: members, quorum, votes and the Corosync token.\n"
    "drill failover: kill the VM's primary twin-vmm (SIGKILL), or with --host every process\n"
    "  of the primary's host (corosync, clusterd, twin-vmm), and report in ms the detection,\n"
    "  the activation on the backup and the first answer of the kv service, which it asks\n"
    "  every 5 ms at --probe ADDR:PORT (default: probe = in the VM's config).  --host needs\n"
    "  the socket of another host's clusterd.\n"
    "vm forget: drop a stopped VM from the cluster: its config, state and history.\n"
    "host forget: drop a host that left for good (none of its VMs may still name it).\n"
    "host cpus: this host's CPUs: online in sysfs, offline for Twin, and the vCPU threads\n"
    "  of each VM pinned there.\n"
    "host cpu-offline: every twin-vmm here moves its threads off CPU N, and VMs started\n"
    "  later avoid it; refused for the last CPU Twin may use.\n"
    "  --hotplug        also take N offline in the kernel (sysfs cpuN/online)\n"
    "host cpu-online: give CPU N back to Twin (and to the kernel, if Twin hotplugged it).\n"
    "host mem-offline: retire a host page frame (PFN in hex, as xen-hptool) that backs a\n"
    "  VM here, or the frame behind a VM's guest address: the VM pauses, the page moves to\n"
    "  a fresh frame, the old one stays in quarantine.  mem-online releases it again.\n"
    "host mem-status: the retired frames (or one PFN's state).\n"
    "vm peek: LEN bytes (1 to 4096) of the VM's memory at guest address GPA (hex with 0x,\n"
    "  or decimal): a hex dump, or --hex bare hex.  vm regs: the vCPUs' registers (or\n"
    "  --vcpu N's).  Both pause the VM briefly and need a Twin administrator.\n"
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
    [TWIN_CMD_STATUS] = "usage: twin status [VM] [--json] [--watch [--interval S] [--count N]]",
    [TWIN_CMD_CLUSTER_STATUS] = "usage: twin cluster status [--json]",
    [TWIN_CMD_DRILL_FAILOVER] = "usage: twin drill failover VM [--host] [--probe ADDR:PORT] "
				"[--json]",
    [TWIN_CMD_VM_FORGET] = "usage: twin vm forget VM",
    [TWIN_CMD_HOST_FORGET] = "usage: twin host forget HOST",
    [TWIN_CMD_HOST_CPUS] = "usage: twin host cpus [--json]",
    [TWIN_CMD_HOST_CPU_OFFLINE] = "usage: twin host cpu-offline N [--hotplug]",
    [TWIN_CMD_HOST_CPU_ONLINE] = "usage: twin host cpu-online N",
    [TWIN_CMD_HOST_MEM_OFFLINE] = "usage: twin host mem-offline PFN | --vm VM --gpa ADDR",
    [TWIN_CMD_HOST_MEM_ONLINE] = "usage: twin host mem-online PFN | --vm VM --gpa ADDR",
    [TWIN_CMD_HOST_MEM_STATUS] = "usage: twin host mem-status [PFN] [--json]",
    [TWIN_CMD_VM_PEEK] = "usage: twin vm peek VM GPA LEN [--hex] [--json]",
    [TWIN_CMD_VM_REGS] = "usage: twin vm regs VM [--vcpu N] [--json]",
};

/* Each command: its words, and the arguments after them ("[VM]": optional, last only). */
static const struct command_def {
	const char *words[2];
	const char *args[MAX_ARGS];
} commands[] = {
    [TWIN_CMD_VM_START] = {{"vm", "start"}, {"CFG"}},
    [TWIN_CMD_VM_STOP] = {{"vm", "stop"}, {"VM"}},
    [TWIN_CMD_VM_LIST] = {{"vm", "list"}},
    [TWIN_CMD_PROTECT] = {{"protect"}, {"VM"}},
    [TWIN_CMD_UNPROTECT] = {{"unprotect"}, {"VM"}},
    [TWIN_CMD_FAILOVER] = {{"failover"}, {"VM"}},
    [TWIN_CMD_STATUS] = {{"status"}, {"[VM]"}},
    [TWIN_CMD_CLUSTER_STATUS] = {{"cluster", "status"}},
    [TWIN_CMD_DRILL_FAILOVER] = {{"drill", "failover"}, {"VM"}},
    [TWIN_CMD_VM_FORGET] = {{"vm", "forget"}, {"VM"}},
    [TWIN_CMD_HOST_FORGET] = {{"host", "forget"}, {"HOST"}},
    [TWIN_CMD_HOST_CPUS] = {{"host", "cpus"}},
    [TWIN_CMD_HOST_CPU_OFFLINE] = {{"host", "cpu-offline"}, {"N"}},
    [TWIN_CMD_HOST_CPU_ONLINE] = {{"host", "cpu-online"}, {"N"}},
    /* PFN or --vm VM --gpa ADDR: check_combinations says which is missing */
    [TWIN_CMD_HOST_MEM_OFFLINE] = {{"host", "mem-offline"}, {"[PFN]"}},
    [TWIN_CMD_HOST_MEM_ONLINE] = {{"host", "mem-online"}, {"[PFN]"}},
    [TWIN_CMD_HOST_MEM_STATUS] = {{"host", "mem-status"}, {"[PFN]"}},
    [TWIN_CMD_VM_PEEK] = {{"vm", "peek"}, {"VM", "GPA", "LEN"}},
    [TWIN_CMD_VM_REGS] = {{"vm", "regs"}, {"VM"}},
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
/* Every command: the bits of TWIN_CMD_VM_START to TWIN_CMD_VM_REGS. */
#define CMDS_ALL (CMD(TWIN_CMD_VM_REGS + 1) - CMD(TWIN_CMD_VM_START))
/* The commands that print a status or a report. */
#define CMDS_JSON                                                                                  \
	(CMD(TWIN_CMD_VM_LIST) | CMD(TWIN_CMD_STATUS) | CMD(TWIN_CMD_CLUSTER_STATUS) |             \
	 CMD(TWIN_CMD_DRILL_FAILOVER) | CMD(TWIN_CMD_HOST_CPUS) | CMD(TWIN_CMD_HOST_MEM_STATUS) |  \
	 CMD(TWIN_CMD_VM_PEEK) | CMD(TWIN_CMD_VM_REGS))
#define CMDS_MEM_MOVE (CMD(TWIN_CMD_HOST_MEM_OFFLINE) | CMD(TWIN_CMD_HOST_MEM_ONLINE))

enum option {
	OPT_SOCKET,
	OPT_JSON,
	OPT_PEER,
	OPT_MODE,
	OPT_INTERVAL,
	OPT_FORCE,
	OPT_HOST,
	OPT_PROBE,
	OPT_HOTPLUG,
	OPT_VM,
	OPT_GPA,
	OPT_HEX,
	OPT_VCPU,
	OPT_WATCH,
	OPT_COUNT,
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
    [OPT_INTERVAL] = {"--interval", CMD(TWIN_CMD_PROTECT) | CMD(TWIN_CMD_STATUS), false},
    [OPT_FORCE] = {"--force", CMD(TWIN_CMD_FAILOVER), true},
    [OPT_HOST] = {"--host", CMD(TWIN_CMD_DRILL_FAILOVER), true},
    [OPT_PROBE] = {"--probe", CMD(TWIN_CMD_DRILL_FAILOVER), false},
    [OPT_HOTPLUG] = {"--hotplug", CMD(TWIN_CMD_HOST_CPU_OFFLINE), true},
    [OPT_VM] = {"--vm", CMDS_MEM_MOVE, false},
    [OPT_GPA] = {"--gpa", CMDS_MEM_MOVE, false},
    [OPT_HEX] = {"--hex", CMD(TWIN_CMD_VM_PEEK), true},
    [OPT_VCPU] = {"--vcpu", CMD(TWIN_CMD_VM_REGS), false},
    [OPT_WATCH] = {"--watch", CMD(TWIN_CMD_STATUS), true},
    [OPT_COUNT] = {"--count", CMD(TWIN_CMD_STATUS), false},
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

/* A decimal number of 1 or more digits, no sign, at most max. */
static bool parse_decimal(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end && *out <= max;
}

/* Hex digits with an optional 0x, at most max. */
static bool parse_hex(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	/* Digits alone: strtoull would take a second 0x ("0x0x1a") as 0x1a. */
	if (!*s || s[strspn(s, "0123456789abcdefABCDEF")])
		return false;
	errno = 0;
	*out = strtoull(s, &end, 16);
	return !errno && !*end && *out <= max;
}

/* A guest physical address: hex with 0x, else decimal. */
static bool parse_gpa(const char *s, uint64_t *out)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return parse_hex(s, TWIN_GPA_MAX, out);
	return parse_decimal(s, TWIN_GPA_MAX, out);
}

/* Seconds with up to 3 decimals ("2", "0.5") into ms, from TWIN_WATCH_MIN_MS to _MAX_MS. */
static bool parse_seconds(const char *s, unsigned int *ms)
{
	const char *dot = strchr(s, '.');
	char whole[16];
	uint64_t sec, frac = 0;
	size_t n = dot ? (size_t)(dot - s) : strlen(s), digits = dot ? strlen(dot + 1) : 0;

	if (!n || n >= sizeof(whole) || (dot && (!digits || digits > 3)))
		return false;
	memcpy(whole, s, n);
	whole[n] = 0;
	if (!parse_decimal(whole, TWIN_WATCH_MAX_MS / 1000, &sec) ||
	    (dot && !parse_decimal(dot + 1, 999, &frac)))
		return false;
	while (digits && digits++ < 3)
		frac *= 10;
	sec = sec * 1000 + frac;
	if (sec < TWIN_WATCH_MIN_MS || sec > TWIN_WATCH_MAX_MS)
		return false;
	*ms = sec;
	return true;
}

static int set_option(enum option o, const char *val, struct twin_args *out, char *err,
		      size_t errlen)
{
	uint64_t n;

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
		if (out->command == TWIN_CMD_STATUS) {
			if (!parse_seconds(val, &out->watch_interval_ms))
				return fail(err, errlen,
					    "--interval '%s' is invalid: use seconds from %g to "
					    "%d, e.g. 2 or 0.5",
					    val, TWIN_WATCH_MIN_MS / 1000.0,
					    TWIN_WATCH_MAX_MS / 1000);
			break;
		}
		if (!parse_decimal(val, VMCFG_MAX_INTERVAL, &n) || !n)
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
	case OPT_HOTPLUG:
		out->hotplug = true;
		break;
	case OPT_VM:
		if (!vmcfg__valid_name(val))
			return fail(err, errlen,
				    "--vm '%s' is not a VM name: use 1 to %d characters of a-z, "
				    "0-9 and '-' (twin vm list shows them)",
				    val, VMCFG_NAME_MAX);
		out->vm = val;
		break;
	case OPT_GPA:
		if (!parse_gpa(val, &out->gpa))
			return fail(err, errlen,
				    "--gpa '%s' is not a guest physical address: give it in hex "
				    "with 0x (e.g. 0x100000) or in decimal, below 2^52",
				    val);
		out->gpa_set = true;
		break;
	case OPT_HEX:
		out->hex = true;
		break;
	case OPT_VCPU:
		if (!parse_decimal(val, VMCFG_MAX_VCPUS - 1, &n))
			return fail(err, errlen,
				    "--vcpu '%s' is invalid: use a vCPU index from 0 to %d", val,
				    VMCFG_MAX_VCPUS - 1);
		out->vcpu = n;
		break;
	case OPT_WATCH:
		out->watch = true;
		break;
	case OPT_COUNT:
		if (!parse_decimal(val, TWIN_WATCH_COUNT_MAX, &n) || !n)
			return fail(err, errlen,
				    "--count '%s' is invalid: use a number of refreshes from 1 to "
				    "%d",
				    val, TWIN_WATCH_COUNT_MAX);
		out->watch_count = n;
		break;
	}
	return 0;
}

/* The command that words[0..n) name (and how many words that took), or an error. */
static int find_command(const char *const *words, int n, struct twin_args *out, int *used,
			char *err, size_t errlen)
{
	static const char *const groups[][2] = {
	    {"vm", "start, stop, list, forget, peek or regs"},
	    {"host",
	     "cpus, cpu-offline, cpu-online, mem-offline, mem-online, mem-status or forget"},
	    {"cluster", "status"},
	    {"drill", "failover"}};

	if (!n)
		return fail(err, errlen,
			    "missing command: use vm, host, protect, unprotect, failover, status, "
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
		    "unknown command '%s': use vm, host, protect, unprotect, failover, status, "
		    "cluster or drill (see twin --help)",
		    words[0]);
}

/* What a missing argument is: "name the VM, e.g. kv1". */
static const char *describe_arg(const char *want)
{
	static const struct {
		const char *arg, *what;
	} whats[] = {
	    {"CFG", "name the VM config file"},
	    {"VM", "name the VM, e.g. kv1"},
	    {"HOST", "name the host, as twin cluster status lists it"},
	    {"N", "give the CPU's number, as twin host cpus lists it"},
	    {"GPA", "give the guest physical address, e.g. 0x100000"},
	    {"LEN", "give the number of bytes, 1 to " STR(TWIN_PEEK_MAX)},
	};

	for (size_t i = 0; i < ARRAY_SIZE(whats); i++)
		if (!strcmp(want, whats[i].arg))
			return whats[i].what;
	return "see its usage";
}

/* One argument word: want ("VM", "[PFN]", ...) says which and where it goes. */
static int set_argument(const char *want, const char *w, const char *name, struct twin_args *out,
			char *err, size_t errlen)
{
	uint64_t n;

	if (want[0] == '[')
		want++;
	if (!strncmp(want, "CFG", 3)) {
		if (!*w)
			return fail(err, errlen,
				    "twin %s: CFG is empty: give the VM config file's path", name);
		out->cfg = w;
	} else if (!strncmp(want, "VM", 2)) {
		if (!vmcfg__valid_name(w))
			return fail(err, errlen,
				    "twin %s: '%s' is not a VM name: use 1 to %d characters of "
				    "a-z, 0-9 and '-' (twin vm list shows them)",
				    name, w, VMCFG_NAME_MAX);
		out->vm = w;
	} else if (!strncmp(want, "HOST", 4)) {
		if (!valid_host(w))
			return fail(err, errlen,
				    "twin %s: '%s' is not a host name: give a cluster member's "
				    "name as twin cluster status lists it, e.g. h2",
				    name, w);
		out->host_name = w;
	} else if (!strncmp(want, "N", 1)) {
		if (!parse_decimal(w, TWIN_CPU_MAX - 1, &n))
			return fail(err, errlen,
				    "twin %s: N '%s' is not a CPU number: use 0 to %d (twin host "
				    "cpus lists them)",
				    name, w, TWIN_CPU_MAX - 1);
		out->cpu = n;
	} else if (!strncmp(want, "PFN", 3)) {
		if (!parse_hex(w, TWIN_PFN_MAX, &out->pfn))
			return fail(err, errlen,
				    "twin %s: PFN '%s' is not a page frame number: give it in hex "
				    "as xen-hptool does, e.g. 0x1a2b, below 0x%" PRIx64,
				    name, w, TWIN_PFN_MAX + 1);
		out->pfn_set = true;
	} else if (!strncmp(want, "GPA", 3)) {
		if (!parse_gpa(w, &out->gpa))
			return fail(err, errlen,
				    "twin %s: GPA '%s' is not a guest physical address: give it in "
				    "hex with 0x (e.g. 0x100000) or in decimal, below 2^52",
				    name, w);
		out->gpa_set = true;
	} else {
		if (!parse_decimal(w, TWIN_PEEK_MAX, &n) || !n)
			return fail(err, errlen,
				    "twin %s: LEN '%s' is invalid: use a number of bytes from 1 to "
				    "%d",
				    name, w, TWIN_PEEK_MAX);
		out->len = n;
	}
	return 0;
}

/* The command's arguments (CFG, VM, N, ...) from the words after the command's own. */
static int take_arguments(const char *const *words, int n, struct twin_args *out, char *err,
			  size_t errlen)
{
	const char *const *want = commands[out->command].args;
	char name[32];
	int k, rc;

	command_name(out->command, name, sizeof(name));
	for (k = 0; k < MAX_ARGS && want[k]; k++) {
		if (k == n) {
			if (want[k][0] == '[')
				return 0;
			return fail(err, errlen, "twin %s: missing %s: %s", name, want[k],
				    describe_arg(want[k]));
		}
		rc = set_argument(want[k], words[k], name, out, err, errlen);
		if (rc)
			return rc;
	}
	if (n > k)
		return fail(err, errlen, "twin %s: unexpected argument '%s': see its usage", name,
			    words[k]);
	return 0;
}

/* What the options say together: the mem forms, --watch's companions, --hex or --json. */
static int check_combinations(struct twin_args *out, unsigned int seen, char *err, size_t errlen)
{
	char name[32];

	command_name(out->command, name, sizeof(name));
	if (CMD(out->command) & CMDS_MEM_MOVE) {
		bool vm = seen & (1u << OPT_VM), gpa = seen & (1u << OPT_GPA);

		if (out->pfn_set && (vm || gpa))
			return fail(err, errlen,
				    "twin %s: give PFN or --vm VM --gpa ADDR, not both", name);
		if (!out->pfn_set && !vm && !gpa)
			return fail(err, errlen,
				    "twin %s: missing PFN: give the host frame in hex (e.g. "
				    "0x1a2b), or --vm VM --gpa ADDR",
				    name);
		if (vm && !gpa)
			return fail(err, errlen,
				    "twin %s: --vm needs --gpa ADDR: name the guest address too",
				    name);
		if (gpa && !vm)
			return fail(err, errlen,
				    "twin %s: --gpa needs --vm VM: name the VM whose guest address "
				    "it is",
				    name);
	}
	if (out->command == TWIN_CMD_STATUS && !out->watch) {
		if (seen & (1u << OPT_INTERVAL))
			return fail(err, errlen,
				    "twin status: --interval goes with --watch: add --watch");
		if (seen & (1u << OPT_COUNT))
			return fail(err, errlen,
				    "twin status: --count goes with --watch: add --watch");
	}
	if (out->hex && out->json)
		return fail(err, errlen, "twin %s: --hex and --json exclude each other: choose one",
			    name);
	return 0;
}

int twin_args__parse(int argc, char *const argv[], const char *env_socket, struct twin_args *out,
		     char *err, size_t errlen)
{
	const char *words[MAX_WORDS + 1];
	unsigned int seen = 0;
	char name[32];
	int nwords = 0, used = 0, rc;

	*out = (struct twin_args){
	    .command = TWIN_CMD_NONE,
	    .socket = env_socket && *env_socket ? env_socket : TWIN_DEFAULT_SOCKET,
	    .vcpu = -1,
	    .watch_interval_ms = TWIN_WATCH_DEFAULT_MS,
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
		rc = take_arguments(words + used, nwords - used, out, err, errlen);
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
		seen |= 1u << o;
		rc = set_option(o, val, out, err, errlen);
		if (rc)
			return rc;
	}
	return check_combinations(out, seen, err, errlen);
}

const char *twin_args__usage(enum twin_command c)
{
	return usage_lines[c];
}
