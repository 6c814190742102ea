/* The CLI socket's access rules: SO_PEERCRED and the peer's groups against [api]. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "api_auth.h"

/* Enough for any group database entry a getgr*_r needs. */
#define DB_BUF 16384
/* A peer's supplementary groups read in one go up to this many (more: a second, sized read). */
#define GROUPS_FIRST 64

static int group_gid(const char *name, gid_t *gid, char *err, size_t errlen)
{
	struct group gr, *found = NULL;
	char *buf = malloc(DB_BUF);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = getgrnam_r(name, &gr, buf, DB_BUF, &found);
	if (found)
		*gid = gr.gr_gid;
	free(buf);
	if (found)
		return 0;
	snprintf(err, errlen,
		 "[api] names group '%s', which this host does not have (%s): create it "
		 "(groupadd %s) or fix the name in clusterd.conf",
		 name, rc ? strerror(rc) : "no such group", name);
	return -ENOENT;
}

int api_auth__init(struct api_auth *auth, const struct conf_api *conf, char *err, size_t errlen)
{
	int rc = 0;

	*auth = (struct api_auth){0};
	snprintf(auth->admin_group, sizeof(auth->admin_group), "%s", conf->admin_group);
	snprintf(auth->viewer_group, sizeof(auth->viewer_group), "%s", conf->viewer_group);
	if (auth->admin_group[0])
		rc = group_gid(auth->admin_group, &auth->admin_gid, err, errlen);
	if (!rc && auth->viewer_group[0])
		rc = group_gid(auth->viewer_group, &auth->viewer_gid, err, errlen);
	return rc;
}

int api_auth__socket(const struct api_auth *auth, const char *path, char *err, size_t errlen)
{
	bool viewers = auth->viewer_group[0];
	const char *group = viewers ? auth->viewer_group : auth->admin_group;
	gid_t gid = viewers ? auth->viewer_gid : auth->admin_gid;

	if (!group[0])
		return 0;
	/* Still 0600 until here: the group gains access only once it owns the socket. */
	if (chown(path, 0, gid) || chmod(path, 0660)) {
		int rc = -errno;

		snprintf(err, errlen, "socket %s: cannot give it to group %s (0660): %s", path,
			 group, strerror(errno));
		return rc;
	}
	return 0;
}

/* The peer's supplementary groups (SO_PEERGROUPS): how many, in *out (malloc'd), or -errno. */
static int peer_groups(int fd, gid_t **out)
{
	socklen_t len = GROUPS_FIRST * sizeof(gid_t);
	gid_t *g = malloc(len);
	int r, rc;

	if (!g)
		return -ENOMEM;
	r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	if (r && errno == ERANGE) { /* len now says how much the kernel has */
		free(g);
		g = malloc(len);
		if (!g)
			return -ENOMEM;
		r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	}
	if (r) {
		rc = -errno;
		free(g);
		/* A kernel before 4.13 has no SO_PEERGROUPS: the primary group alone counts. */
		return rc == -ENOPROTOOPT ? 0 : rc;
	}
	*out = g;
	return len / sizeof(gid_t);
}

static bool in_group(gid_t gid, gid_t primary, const gid_t *groups, int n)
{
	if (primary == gid)
		return true;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int api_auth__peer(const struct api_auth *auth, int fd, struct api_peer *out)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct passwd pw, *found = NULL;
	char buf[DB_BUF];
	gid_t *groups = NULL;
	int n;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -errno;
	n = peer_groups(fd, &groups);
	if (n < 0)
		return n;
	*out = (struct api_peer){.uid = cred.uid, .pid = cred.pid, .role = API_ROLE_NONE};
	if (!getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &found) && found)
		snprintf(out->user, sizeof(out->user), "%s", pw.pw_name);
	else
		snprintf(out->user, sizeof(out->user), "%u", (unsigned int)cred.uid);
	if (cred.uid == 0 ||
	    (auth->admin_group[0] && in_group(auth->admin_gid, cred.gid, groups, n)))
		out->role = API_ROLE_ADMIN;
	else if (auth->viewer_group[0] && in_group(auth->viewer_gid, cred.gid, groups, n))
		out->role = API_ROLE_VIEWER;
	free(groups);
	return 0;
}

bool api_auth__read_only(enum cl_cmd cmd)
{
	switch (cmd) {
	case CL_CMD_STATUS:
	case CL_CMD_VM_LIST:
	case CL_CMD_CLUSTER_STATUS:
	case CL_CMD_HOST_CPUS:
	case CL_CMD_HOST_MEM_STATUS:
		return true;
	default:
		return false;
	}
}

int api_auth__allow(const struct api_auth *auth, const struct api_peer *peer, enum cl_cmd cmd,
		    char *err, size_t errlen)
{
	const char *name = cl_cmd__to_str(cmd);

	if (peer->role == API_ROLE_ADMIN ||
	    (peer->role == API_ROLE_VIEWER && api_auth__read_only(cmd)))
		return 0;
	if (api_auth__read_only(cmd) && auth->viewer_group[0])
		snprintf(err, errlen,
			 "user %s (uid %u) may not run %s: it is neither root nor in group %s "
			 "([api] viewer_group): add the user to it (usermod -aG %s %s) and log in "
			 "again",
			 peer->user, (unsigned int)peer->uid, name, auth->viewer_group,
			 auth->viewer_group, peer->user);
	else if (auth->admin_group[0])
		snprintf(
		    err, errlen,
		    "user %s (uid %u) may not run %s: it needs root or group %s ([api] "
		    "admin_group): add the user to it (usermod -aG %s %s) and log in again, or "
		    "run it as root",
		    peer->user, (unsigned int)peer->uid, name, auth->admin_group, auth->admin_group,
		    peer->user);
	else
		snprintf(
		    err, errlen,
		    "user %s (uid %u) may not run %s: it needs root: run it as root (sudo), or "
		    "name a group in clusterd.conf's [api] admin_group and add the user to it",
		    peer->user, (unsigned int)peer->uid, name);
	return -EACCES;
}

int api_auth__allow_line(const struct api_auth *auth, const struct api_peer *peer, const char *line,
			 size_t len, enum cl_cmd *cmd, json_t **id, char *err, size_t errlen)
{
	json_t *r;
	int rc = 0;

	*id = NULL;
	if (peer->role == API_ROLE_ADMIN)
		return 0;
	r = json_loadb(line, len, 0, NULL);
	if (json_is_object(r) &&
	    !cl_cmd__from_str(json_string_value(json_object_get(r, "execute")) ?: "", cmd)) {
		rc = api_auth__allow(auth, peer, *cmd, err, errlen);
		if (rc)
			*id = json_incref(json_object_get(r, "id"));
	}
	json_decref(r);
	return rc;
}
