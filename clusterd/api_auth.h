/* Who may do what on the CLI's socket: the peer's credentials (SO_PEERCRED) against [api]. */
#ifndef CLUSTERD_API_AUTH_H
#define CLUSTERD_API_AUTH_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>
#include "conf.h"
#include "model.h"

/*
 * The rules (README "Operator's guide"):
 *   uid 0, or a member of [api] admin_group: every command (an administrator);
 *   a member of [api] viewer_group: the read-only ones alone (api_auth__read_only);
 *   anyone else: nothing.
 * Membership is the connecting process's own groups (its gid and SO_PEERGROUPS), as the
 * kernel checks a file's: a user added to a group has it from the next login.
 */
enum api_role {
	API_ROLE_NONE,
	API_ROLE_VIEWER,
	API_ROLE_ADMIN,
};

/* [api] resolved against this host's group database once, at start. */
struct api_auth {
	char admin_group[CONF_NAME_MAX + 1], viewer_group[CONF_NAME_MAX + 1]; /* "": none */
	gid_t admin_gid, viewer_gid;
};

/* One CLI connection's peer, taken when it connects. */
struct api_peer {
	uid_t uid;
	pid_t pid; /* no user name: named by uid, see api_auth__peer */
	enum api_role role;
};

/* Looks the groups up: 0, or -ENOENT with err naming the group that does not exist and the fix. */
int api_auth__init(struct api_auth *auth, const struct conf_api *conf, char *err, size_t errlen);

/*
 * The socket at path, just bound 0600 by root: with a group (viewer_group, else admin_group)
 * it becomes 0660 root:GROUP, so the group's members may connect; with both, an ACL entry
 * lets admin_group in too.  0, or -errno with err.
 */
int api_auth__socket(const struct api_auth *auth, const char *path, char *err, size_t errlen);

/* The peer of an accepted connection fd and its role: 0, or -errno (refuse the connection). */
int api_auth__peer(const struct api_auth *auth, int fd, struct api_peer *out);

/* The commands a viewer may run: status, vm-list, cluster-status, host-cpus, host-mem-status. */
bool api_auth__read_only(enum cl_cmd cmd);

/*
 * Whether peer may run cmd: 0, or -EACCES with err naming the user, the command and the fix
 * (the group to join, or the setting that would allow it).
 */
int api_auth__allow(const struct api_auth *auth, const struct api_peer *peer, enum cl_cmd cmd,
		    char *err, size_t errlen);

/*
 * api_auth__allow for a request line, judged by its "execute" alone, before anything else in
 * it is read: a viewer's vm-start must not make clusterd (root) open the file it names.  0
 * when allowed; else -EACCES with err, *cmd the command (CL_CMD_NCMDS for a line naming
 * none: refused too, but for an administrator) and *id the request's "id" (a new reference,
 * or NULL).  The caller checks the parsed command with api_auth__allow again.
 */
int api_auth__allow_line(const struct api_auth *auth, const struct api_peer *peer, const char *line,
			 size_t len, enum cl_cmd *cmd, json_t **id, char *err, size_t errlen);

#endif
