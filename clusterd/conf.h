/* clusterd.conf: the host's cluster settings, parsed with libinih and checked whole.  Named
 * conf.h, not config.h, so that autoconf's config.h stays reachable in clusterd/. */
#ifndef CLUSTERD_CONF_H
#define CLUSTERD_CONF_H
#include <stdbool.h>
#include <stddef.h>
#include "model.h" /* CL_MAX_VMS: a backup listens on port_base + the VM's index */

#define CONF_NAME_MAX	63   /* cluster and host names */
#define CONF_PATH_MAX	1024 /* files and directories */
#define CONF_SOCKET_MAX 107  /* sockaddr_un.sun_path without its NUL */
#define CONF_DEFAULT_STATE_DIR	"/var/lib/twin"
#define CONF_DEFAULT_SOCKET	"/run/twin/clusterd.sock"
#define CONF_DEFAULT_TWIN_VMM	"/usr/bin/twin-vmm"
#define CONF_DEFAULT_VM_CONFIGS "/etc/twin/vms"
#define CONF_DEFAULT_PORT_BASE	7400
#define CONF_DEFAULT_CPU_SYSFS	"/sys/devices/system/cpu"

/* How replication links are secured: exactly one of cert+key+ca, psk, insecure. */
struct conf_tls {
	char cert[CONF_PATH_MAX], key[CONF_PATH_MAX], ca[CONF_PATH_MAX];
	char psk[CONF_PATH_MAX];
	bool insecure;
};

/* An address to serve on: an IP literal (v6 without brackets) and a port; port 0: off. */
struct conf_listen {
	char addr[64];
	unsigned int port;
};

/*
 * Who may use the CLI's socket (api_auth.h).  Neither: root alone (socket 0600).  The socket's
 * group is viewer_group, else admin_group (mode 0660): its members may connect.
 */
struct conf_api {
	char admin_group[CONF_NAME_MAX + 1];  /* "": root alone administers */
	char viewer_group[CONF_NAME_MAX + 1]; /* "": no read-only users */
};

struct clusterd_conf {
	char cluster_name[CONF_NAME_MAX + 1];
	char host_name[CONF_NAME_MAX + 1]; /* the corosync nodelist name */
	char replication_addr[64];	   /* an IP literal: backups listen here */
	char state_dir[CONF_PATH_MAX];	   /* vms/NAME/{control.sock,log} */
	char socket[CONF_SOCKET_MAX + 1];  /* the CLI's socket */
	char twin_vmm[CONF_PATH_MAX];
	char vm_configs[CONF_PATH_MAX]; /* NAME.cfg files */
	struct conf_tls tls;
	unsigned int port_base; /* a backup listens on port_base + VM index */

	char cpu_sysfs[CONF_PATH_MAX]; /* [host] cpu_sysfs: present, online, cpuN/online */
	struct conf_listen metrics; /* [metrics] listen: GET /metrics (Prometheus) */
	struct conf_api api;
};

/*
 * Parses clusterd.conf's text; file names it in errors.  Returns 0, or -EINVAL with one line
 * in err: "FILE:LINE: problem: fix" (or "FILE: ..." for a missing key).  Pure: no I/O.
 */
int conf__parse(const char *text, const char *file, struct clusterd_conf *out, char *err,
		size_t errlen);

/* Reads and parses path: 0, or -errno with one line in err. */
int conf__load(const char *path, struct clusterd_conf *out, char *err, size_t errlen);

#endif
