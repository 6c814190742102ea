/* The twin CLI's command line, parsed into a struct by a pure function (unit-tested). */
#ifndef TOOLS_TWIN_ARGS_H
#define TOOLS_TWIN_ARGS_H
#include <stdbool.h>
#include <stddef.h>
#include "vmcfg.h"

#define TWIN_DEFAULT_SOCKET "/run/twin/clusterd.sock"
/* A unix socket path fits sockaddr_un.sun_path with its NUL. */
#define TWIN_SOCKET_PATH_MAX 108
/* A cluster host's name (a corosync nodelist name). */
#define TWIN_HOST_NAME_MAX 64

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
