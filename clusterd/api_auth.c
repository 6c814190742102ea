/* The CLI socket's access rules: SO_PEERCRED and the peer's groups against [api]. */
#include <endian.h>
#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "api_auth.h"
#include "clog.h"

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

/* The kernel's system.posix_acl_access value (uapi linux/posix_acl_xattr.h), little-endian. */
#define ACL_XATTR_VERSION 2
#define ACL_TAG_USER_OBJ  0x01
#define ACL_TAG_GROUP_OBJ 0x04
#define ACL_TAG_GROUP	  0x08
#define ACL_TAG_MASK	  0x10
#define ACL_TAG_OTHER	  0x20
#define ACL_RW		  06
#define ACL_NO_ID	  0xffffffffu

struct acl_entry {
	uint16_t tag, perm;
	uint32_t id;
};

/*
 * With both groups the socket is the viewers' (0660 root:viewer_group); an access ACL lets
 * admin_group in too (setfacl -m g:ADMIN:rw), so administrators need not be viewers.
 */
static int let_admins_in(const struct api_auth *auth, const char *path, char *err, size_t errlen)
{
	const struct acl_entry e[] = {
	    {ACL_TAG_USER_OBJ, ACL_RW, ACL_NO_ID},
	    {ACL_TAG_GROUP_OBJ, ACL_RW, ACL_NO_ID},
	    {ACL_TAG_GROUP, ACL_RW, auth->admin_gid},
	    {ACL_TAG_MASK, ACL_RW, ACL_NO_ID},
	    {ACL_TAG_OTHER, 0, ACL_NO_ID},
	};
	uint8_t buf[4 + sizeof(e)], *p = buf + 4;
	uint32_t version = htole32(ACL_XATTR_VERSION);

	memcpy(buf, &version, 4);
	for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++, p += 8) {
		uint16_t tag = htole16(e[i].tag), perm = htole16(e[i].perm);
		uint32_t id = htole32(e[i].id);

		memcpy(p, &tag, 2);
		memcpy(p + 2, &perm, 2);
		memcpy(p + 4, &id, 4);
	}
	if (!setxattr(path, "system.posix_acl_access", buf, sizeof(buf), 0))
		return 0;
	/* No ACLs on that file system: as before, administrators need viewer_group too. */
	if (errno == EOPNOTSUPP) {
		clog__warn("api: socket %s: no POSIX ACLs there: members of %s reach it only if "
			   "they are in %s too: add them to it, or put the socket on a file system "
			   "with ACLs ([host] socket)",
			   path, auth->admin_group, auth->viewer_group);
		return 0;
	}
	snprintf(err, errlen, "socket %s: cannot let group %s in beside %s (an ACL): %s", path,
		 auth->admin_group, auth->viewer_group, strerror(errno));
	return -errno;
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
	if (viewers && auth->admin_group[0] && auth->admin_gid != auth->viewer_gid)
		return let_admins_in(auth, path, err, errlen);
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
	gid_t *groups = NULL;
	int n;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -errno;
	n = peer_groups(fd, &groups);
	if (n < 0)
		return n;
	/* No user name: a passwd lookup may wait seconds on NSS (LDAP) on the event loop. */
	*out = (struct api_peer){.uid = cred.uid, .pid = cred.pid, .role = API_ROLE_NONE};
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

/*
 * The refusals name the uid alone (see api_auth__peer); the usermod line resolves it in the
 * operator's shell instead.
 */
int api_auth__allow(const struct api_auth *auth, const struct api_peer *peer, enum cl_cmd cmd,
		    char *err, size_t errlen)
{
	const char *name = cl_cmd__to_str(cmd);
	unsigned int uid = peer->uid;

	if (peer->role == API_ROLE_ADMIN ||
	    (peer->role == API_ROLE_VIEWER && api_auth__read_only(cmd)))
		return 0;
	if (api_auth__read_only(cmd) && auth->viewer_group[0])
		snprintf(err, errlen,
			 "uid %u may not run %s: it is neither root nor in group %s ([api] "
			 "viewer_group): add the user to it (usermod -aG %s \"$(id -nu %u)\") and "
			 "log in again",
			 uid, name, auth->viewer_group, auth->viewer_group, uid);
	else if (auth->admin_group[0])
		snprintf(
		    err, errlen,
		    "uid %u may not run %s: it needs root or group %s ([api] admin_group): "
		    "add the user to it (usermod -aG %s \"$(id -nu %u)\") and log in again, or "
		    "run it as root",
		    uid, name, auth->admin_group, auth->admin_group, uid);
	else
		snprintf(err, errlen,
			 "uid %u may not run %s: it needs root: run it as root (sudo), or name a "
			 "group in clusterd.conf's [api] admin_group and add the user to it",
			 uid, name);
	return -EACCES;
}

/* What keeps line from naming a command, in why; false if it names one (*cmd). */
static bool unclassified(json_t *r, const json_error_t *jerr, enum cl_cmd *cmd, char *why,
			 size_t whylen)
{
	json_t *exec = json_object_get(r, "execute");

	if (!r)
		snprintf(why, whylen, "not JSON: %.100s", jerr->text);
	else if (!json_is_object(r))
		snprintf(why, whylen, "not a JSON object");
	else if (!json_is_string(exec))
		snprintf(why, whylen, "no \"execute\" string");
	else if (cl_cmd__from_str(json_string_value(exec), cmd))
		snprintf(why, whylen, "\"execute\" names no command");
	else
		return false;
	return true;
}

int api_auth__allow_line(const struct api_auth *auth, const struct api_peer *peer, const char *line,
			 size_t len, enum cl_cmd *cmd, json_t **id, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *r;
	char why[160];
	int rc;

	*id = NULL;
	*cmd = CL_CMD_NCMDS;
	if (peer->role == API_ROLE_ADMIN)
		return 0;
	/* Default deny: what this cannot judge must not reach a parser that may accept it. */
	r = json_loadb(line, len, 0, &jerr);
	if (unclassified(r, &jerr, cmd, why, sizeof(why))) {
		*cmd = CL_CMD_NCMDS;
		snprintf(err, errlen,
			 "uid %u sent a request clusterd cannot judge (%s): only root and [api] "
			 "admin_group may send one; send a JSON object whose \"execute\" names a "
			 "command, as twin does",
			 (unsigned int)peer->uid, why);
		rc = -EACCES;
	} else {
		rc = api_auth__allow(auth, peer, *cmd, err, errlen);
	}
	if (rc && json_is_object(r))
		*id = json_incref(json_object_get(r, "id"));
	json_decref(r);
	return rc;
}
