/* The twin CLI's command line, parsed into a struct by a pure function (unit-tested). */
#ifndef TOOLS_TWIN_ARGS_H
#define TOOLS_TWIN_ARGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vmcfg.h"

#define TWIN_DEFAULT_SOCKET "/run/twin/clusterd.sock"
/* A unix socket path fits sockaddr_un.sun_path with its NUL. */
#define TWIN_SOCKET_PATH_MAX 108
/* A cluster host's name (a corosync nodelist name). */
#define TWIN_HOST_NAME_MAX 64

/* Host CPU numbers (cpu-offline N): 0 to TWIN_CPU_MAX - 1, as a cpu_set_t holds. */
#define TWIN_CPU_MAX 1024
/* A host PFN is below 2^40 (52-bit physical addresses); a GPA below 2^52. */
#define TWIN_PFN_MAX ((UINT64_C(1) << 40) - 1)
#define TWIN_GPA_MAX ((UINT64_C(1) << 52) - 1)
/* vm peek reads 1 to TWIN_PEEK_MAX bytes. */
#define TWIN_PEEK_MAX 4096
/* status --watch: the refresh period, in ms. */
#define TWIN_WATCH_DEFAULT_MS 1000
#define TWIN_WATCH_MIN_MS     100
#define TWIN_WATCH_MAX_MS     3600000
#define TWIN_WATCH_COUNT_MAX  1000000

/* The exit statuses: done, failed (clusterd refused or it went wrong), bad usage or config. */
#define TWIN_EXIT_OK	 0
#define TWIN_EXIT_FAILED 1
#define TWIN_EXIT_USAGE	 2

enum twin_command {
	TWIN_CMD_NONE, /* not known yet: only in an error */
	TWIN_CMD_VM_START,
	TWIN_CMD_VM_STOP,
	TWIN_CMD_VM_LIST,
	TWIN_CMD_PROTECT,
	TWIN_CMD_UNPROTECT,
	TWIN_CMD_FAILOVER,
	TWIN_CMD_STATUS,
	TWIN_CMD_CLUSTER_STATUS,
	TWIN_CMD_DRILL_FAILOVER,
	TWIN_CMD_VM_FORGET,
	TWIN_CMD_HOST_FORGET,
	TWIN_CMD_HOST_CPUS,
	TWIN_CMD_HOST_CPU_OFFLINE,
	TWIN_CMD_HOST_CPU_ONLINE,
	TWIN_CMD_HOST_MEM_OFFLINE,
	TWIN_CMD_HOST_MEM_ONLINE,
	TWIN_CMD_HOST_MEM_STATUS,
	TWIN_CMD_VM_PEEK,
	TWIN_CMD_VM_REGS,
};

struct twin_args {
	enum twin_command command;
	const char *socket; /* --socket, else $TWIN_SOCKET, else TWIN_DEFAULT_SOCKET */
	bool json;	    /* --json: the raw JSON object instead of a table */
	const char *cfg;    /* vm start CFG: a file name */
	const char *vm;	    /* NULL: status of every VM */
	const char *peer;   /* protect --peer HOST; NULL: placement picks */
	bool mode_set;
	enum vmcfg_mode mode;	  /* protect --mode */
	unsigned int interval_ms; /* protect --interval; 0: not given */
	bool force;		  /* failover --force */
	bool host;		  /* drill --host: the primary's whole host */
	const char *probe;	  /* drill --probe ADDR:PORT; NULL: the VM config's probe */
	const char *host_name;	  /* host forget HOST */
	unsigned int cpu;	  /* host cpu-offline N, cpu-online N */
	bool hotplug;		  /* cpu-offline --hotplug: also offline in sysfs */
	bool pfn_set;		  /* mem-offline/-online PFN, mem-status PFN */
	uint64_t pfn;
	bool gpa_set; /* mem-offline/-online --vm VM --gpa ADDR (vm is set), vm peek VM GPA */
	uint64_t gpa;
	uint32_t len;			/* vm peek LEN: 1 to TWIN_PEEK_MAX */
	bool hex;			/* vm peek --hex: bare hex, no dump */
	int vcpu;			/* vm regs --vcpu N; -1: every vCPU */
	bool watch;			/* status --watch */
	unsigned int watch_interval_ms; /* status --watch --interval S; TWIN_WATCH_DEFAULT_MS */
	unsigned int watch_count;	/* status --watch --count N; 0: until interrupted */
};

#define TWIN_ARGS_HELP 1

/*
 * Parses argv (also `--opt=value`; twin_args_usage has the whole of it).  env_socket is
 * $TWIN_SOCKET (NULL or "" if unset).  --socket, --json and -h/--help go anywhere; an option
 * another command does not take is refused by name.  Returns 0, TWIN_ARGS_HELP, or -EINVAL
 * with one line in err (no trailing newline) and out->command set as far as known, for
 * twin_args__usage.  Pure: argv strings are pointed into, nothing else is touched.
 */
int twin_args__parse(int argc, char *const argv[], const char *env_socket, struct twin_args *out,
		     char *err, size_t errlen);

/* The usage line of one command (every command's for TWIN_CMD_NONE), without a newline. */
const char *twin_args__usage(enum twin_command c);

extern const char twin_args_usage[];

#endif
