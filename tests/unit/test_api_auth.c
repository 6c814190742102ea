/* clusterd's CLI access rules: [api], groups, peers' roles, refusals, socket mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include "api_auth.h"
#include "api_request.h"
#include "conf.h"
#include "suites.h"

#define NOBODY 65534
#define BASE_CONF                                                                                  \
	"[cluster]\nname = c\n[host]\nname = h1\nreplication_addr = 198.18.1.1\n"                  \
	"[tls]\ninsecure = yes\n"

static gid_t gid_of(const char *group)
{
	struct group *g = getgrnam(group);

	ck_assert_msg(g != NULL, "this host has no group %s", group);
	return g->gr_gid;
}

START_TEST(test_conf_keys)
{
	struct clusterd_conf c;
	char err[512];

	ck_assert_int_eq(conf__parse(BASE_CONF, "t.conf", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.api.admin_group, "");
	ck_assert_str_eq(c.api.viewer_group, "");
	ck_assert_int_eq(conf__parse(BASE_CONF
				     "[api]\nadmin_group = staff\nviewer_group = nogroup\n",
				     "t.conf", &c, err, sizeof(err)),
			 0);
	ck_assert_str_eq(c.api.admin_group, "staff");
	ck_assert_str_eq(c.api.viewer_group, "nogroup");
	ck_assert_int_eq(
	    conf__parse(BASE_CONF "[api]\nadmin_group = a b\n", "t.conf", &c, err, sizeof(err)),
	    -EINVAL);
	ck_assert_msg(strstr(err, "t.conf:9: [api] admin_group 'a b' is not a name"), "%s", err);
	ck_assert_int_eq(
	    conf__parse(BASE_CONF "[api]\nadmins = staff\n", "t.conf", &c, err, sizeof(err)),
	    -EINVAL);
	ck_assert_msg(strstr(err, "unknown key 'admins' in [api]"), "%s", err);
}
END_TEST

START_TEST(test_unknown_group)
{
	struct conf_api conf = {.viewer_group = "no-such-group-here"};
	struct api_auth auth;
	char err[512] = "";

	ck_assert_int_eq(api_auth__init(&auth, &conf, err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "[api] names group 'no-such-group-here', which this host does "
				  "not have"),
		      "%s", err);
	ck_assert_msg(strstr(err, "groupadd no-such-group-here"), "%s", err);
}
END_TEST

/* The role matrix and what each refusal says. */
START_TEST(test_allow)
{
	struct conf_api both = {.admin_group = "staff", .viewer_group = "nogroup"}, none = {0};
	struct api_auth a, r;
	struct api_peer admin = {.uid = 1000, .role = API_ROLE_ADMIN};
	struct api_peer viewer = {.uid = NOBODY, .role = API_ROLE_VIEWER};
	struct api_peer outsider = {.uid = 1001, .role = API_ROLE_NONE};
	char err[512];

	ck_assert_int_eq(api_auth__init(&a, &both, err, sizeof(err)), 0);
	ck_assert_int_eq(api_auth__init(&r, &none, err, sizeof(err)), 0);
	for (int c = 0; c < CL_CMD_NCMDS; c++) {
		bool ro = c == CL_CMD_STATUS || c == CL_CMD_VM_LIST || c == CL_CMD_CLUSTER_STATUS ||
			  c == CL_CMD_HOST_CPUS || c == CL_CMD_HOST_MEM_STATUS;

		ck_assert_int_eq(api_auth__read_only(c), ro);
		ck_assert_int_eq(api_auth__allow(&a, &admin, c, err, sizeof(err)), 0);
		ck_assert_int_eq(api_auth__allow(&a, &viewer, c, err, sizeof(err)),
				 ro ? 0 : -EACCES);
		ck_assert_int_eq(api_auth__allow(&a, &outsider, c, err, sizeof(err)), -EACCES);
	}
	ck_assert_int_eq(api_auth__allow(&a, &viewer, CL_CMD_VM_PEEK, err, sizeof(err)), -EACCES);
	ck_assert_str_eq(err, "uid 65534 may not run vm-peek: it needs root or group staff ([api] "
			      "admin_group): add the user to it (usermod -aG staff \"$(id -nu "
			      "65534)\") and log in again, or run it as root");
	ck_assert_int_eq(api_auth__allow(&a, &outsider, CL_CMD_STATUS, err, sizeof(err)), -EACCES);
	ck_assert_str_eq(err, "uid 1001 may not run status: it is neither root nor in group "
			      "nogroup ([api] viewer_group): add the user to it (usermod -aG "
			      "nogroup \"$(id -nu 1001)\") and log in again");
	/* No [api]: root alone, and the fix says how to open it up. */
	ck_assert_int_eq(api_auth__allow(&r, &outsider, CL_CMD_VM_REGS, err, sizeof(err)), -EACCES);
	ck_assert_str_eq(err, "uid 1001 may not run vm-regs: it needs root: run it as root (sudo), "
			      "or name a group in clusterd.conf's [api] admin_group and add the "
			      "user to it");
}
END_TEST

/* Judged by "execute" before the rest is read: a viewer's vm-start names a file to open. */
START_TEST(test_allow_line)
{
	struct conf_api both = {.admin_group = "staff", .viewer_group = "nogroup"};
	struct api_peer admin = {.uid = 1000, .role = API_ROLE_ADMIN};
	struct api_peer viewer = {.uid = NOBODY, .role = API_ROLE_VIEWER};
	const char *start = "{\"execute\":\"vm-start\",\"arguments\":{\"path\":\"/etc/shadow\"},"
			    "\"id\":7}";
	const char *const allowed[] = {
	    "{\"execute\":\"status\",\"id\":1}",
	    "{\"execute\":\"host-mem-status\"}",
	};
	/* Default deny: what the gate cannot judge never reaches the parser. */
	const char *const unjudged[] = {
	    "not json",	  "[1]", "{\"execute\":\"no-such\",\"id\":2}", "{\"execute\":3}", "{}",
	    "\"status\"", "",
	};
	struct api_auth a;
	enum cl_cmd cmd;
	json_t *id;
	char err[512];

	ck_assert_int_eq(api_auth__init(&a, &both, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    api_auth__allow_line(&a, &viewer, start, strlen(start), &cmd, &id, err, sizeof(err)),
	    -EACCES);
	ck_assert_int_eq(cmd, CL_CMD_VM_START);
	ck_assert_int_eq(json_integer_value(id), 7);
	ck_assert_msg(strstr(err, "uid 65534 may not run vm-start"), "%s", err);
	json_decref(id);
	ck_assert_int_eq(
	    api_auth__allow_line(&a, &admin, start, strlen(start), &cmd, &id, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		ck_assert_int_eq(api_auth__allow_line(&a, &viewer, allowed[i], strlen(allowed[i]),
						      &cmd, &id, err, sizeof(err)),
				 0);
		ck_assert_ptr_null(id);
	}
	for (size_t i = 0; i < sizeof(unjudged) / sizeof(unjudged[0]); i++) {
		ck_assert_int_eq(api_auth__allow_line(&a, &viewer, unjudged[i], strlen(unjudged[i]),
						      &cmd, &id, err, sizeof(err)),
				 -EACCES);
		ck_assert_int_eq(cmd, CL_CMD_NCMDS);
		ck_assert_msg(strstr(err, "uid 65534 sent a request clusterd cannot judge ("), "%s",
			      err);
		ck_assert_msg(strstr(err, "only root and [api] admin_group may send one"), "%s",
			      err);
		if (i == 2)
			ck_assert_int_eq(json_integer_value(id), 2);
		json_decref(id);
		/* An administrator's go to the parser, which names the problem. */
		ck_assert_int_eq(api_auth__allow_line(&a, &admin, unjudged[i], strlen(unjudged[i]),
						      &cmd, &id, err, sizeof(err)),
				 0);
	}
}
END_TEST

/* One line through the gate as api.c does it: 0 (allowed and parsed, *cmd) or -EACCES. */
static int gate_then_parse(const struct api_auth *a, const struct api_peer *peer, const char *line,
			   size_t len, enum cl_cmd *cmd)
{
	struct cl_request req = {0};
	struct api_error e = {0};
	enum cl_cmd denied;
	json_t *id = NULL;
	char err[512];
	int rc;

	rc = api_auth__allow_line(a, peer, line, len, &denied, &id, err, sizeof(err));
	json_decref(id);
	id = NULL;
	if (rc)
		return rc;
	rc = api_request__parse(line, len, "/nonexistent", &req, &id, &e);
	json_decref(id);
	if (rc)
		return rc;
	*cmd = req.cmd;
	return api_auth__allow(a, peer, req.cmd, err, sizeof(err));
}

/*
 * The gate and the parser kept together: no seed of the api_request fuzz corpus, and no
 * command named bare, parses as a write command for a viewer (review 7, finding 6).
 */
START_TEST(test_viewer_never_parses_a_write)
{
	struct conf_api both = {.admin_group = "staff", .viewer_group = "nogroup"};
	struct api_peer viewer = {.uid = NOBODY, .role = API_ROLE_VIEWER};
	DIR *d = opendir(API_REQUEST_CORPUS_DIR);
	struct api_auth a;
	struct dirent *de;
	char err[256], line[512];
	int seeds = 0, parsed = 0;
	enum cl_cmd cmd;

	ck_assert_msg(d != NULL, "%s: %s", API_REQUEST_CORPUS_DIR, strerror(errno));
	ck_assert_int_eq(api_auth__init(&a, &both, err, sizeof(err)), 0);
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		FILE *f;
		size_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", API_REQUEST_CORPUS_DIR, de->d_name);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		n = fread(line, 1, sizeof(line), f);
		fclose(f);
		while (n && line[n - 1] == '\n')
			n--;
		seeds++;
		if (gate_then_parse(&a, &viewer, line, n, &cmd))
			continue;
		parsed++;
		ck_assert_msg(api_auth__read_only(cmd), "seed %s parsed as %s for a viewer",
			      de->d_name, cl_cmd__to_str(cmd));
	}
	closedir(d);
	ck_assert_int_ge(seeds, 10);
	ck_assert_int_ge(parsed, 2); /* status, host-cpus, host-mem-status: viewers' own */
	for (int c = 0; c < CL_CMD_NCMDS; c++) {
		int len = snprintf(line, sizeof(line), "{\"execute\":\"%s\"}", cl_cmd__to_str(c));
		json_t *id = NULL;

		ck_assert_int_eq(
		    api_auth__allow_line(&a, &viewer, line, len, &cmd, &id, err, sizeof(err)),
		    api_auth__read_only(c) ? 0 : -EACCES);
		json_decref(id);
		if (!gate_then_parse(&a, &viewer, line, len, &cmd))
			ck_assert_msg(api_auth__read_only(cmd), "%s parsed for a viewer", line);
	}
}
END_TEST

/*
 * A child that drops to uid NOBODY with gid and the supplementary groups given connects to
 * a listening socket; the role api_auth__peer gives it.
 */
static enum api_role role_of(const struct api_auth *auth, gid_t gid, const gid_t *groups,
			     size_t ngroups, struct api_peer *peer)
{
	char dir[] = "/tmp/api-auth-XXXXXX", path[64];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int l, fd, status;
	pid_t child;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/s", dir);
	strcpy(sa.sun_path, path);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(chmod(path, 0666), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);

		if (setgroups(ngroups, groups) || setresgid(gid, gid, gid) ||
		    setresuid(NOBODY, NOBODY, NOBODY) ||
		    connect(c, (struct sockaddr *)&sa, sizeof(sa)))
			_exit(1);
		_exit(0);
	}
	fd = accept(l, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(api_auth__peer(auth, fd, peer), 0);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_int_eq(status, 0);
	close(fd);
	close(l);
	unlink(path);
	rmdir(dir);
	return peer->role;
}

START_TEST(test_peer_roles)
{
	struct conf_api both = {.admin_group = "staff", .viewer_group = "nogroup"}, none = {0};
	gid_t staff = gid_of("staff"), nogroup = gid_of("nogroup"), daemon_gid = gid_of("daemon");
	struct api_auth a, r;
	struct api_peer peer;
	int sv[2];
	char err[256];

	ck_assert_int_eq(getuid(), 0);
	ck_assert_int_eq(api_auth__init(&a, &both, err, sizeof(err)), 0);
	ck_assert_int_eq(api_auth__init(&r, &none, err, sizeof(err)), 0);
	/* Root: an administrator whatever [api] says. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(api_auth__peer(&r, sv[0], &peer), 0);
	ck_assert_int_eq(peer.role, API_ROLE_ADMIN);
	ck_assert_int_eq(peer.pid, getpid());
	close(sv[0]);
	close(sv[1]);
	/* nobody: by its primary group, by a supplementary one, or neither. */
	ck_assert_int_eq(role_of(&a, nogroup, NULL, 0, &peer), API_ROLE_VIEWER);
	ck_assert_int_eq(peer.uid, NOBODY);
	ck_assert_int_eq(role_of(&a, daemon_gid, &nogroup, 1, &peer), API_ROLE_VIEWER);
	ck_assert_int_eq(role_of(&a, nogroup, &staff, 1, &peer), API_ROLE_ADMIN);
	ck_assert_int_eq(role_of(&a, staff, NULL, 0, &peer), API_ROLE_ADMIN);
	ck_assert_int_eq(role_of(&a, daemon_gid, NULL, 0, &peer), API_ROLE_NONE);
	ck_assert_int_eq(role_of(&r, nogroup, &staff, 1, &peer), API_ROLE_NONE);
}
END_TEST

/* Mode and group of a fresh 0600 socket after api_auth__socket. */
static void socket_after(const struct conf_api *conf, mode_t *mode, gid_t *gid)
{
	char dir[] = "/tmp/api-auth-XXXXXX", path[64], err[256];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct api_auth auth;
	struct stat st;
	int fd;
	mode_t old;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s", dir);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	old = umask(0177);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	umask(old);
	ck_assert_int_eq(api_auth__init(&auth, conf, err, sizeof(err)), 0);
	ck_assert_int_eq(api_auth__socket(&auth, path, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	*mode = st.st_mode & 0777;
	*gid = st.st_gid;
	close(fd);
	unlink(path);
	rmdir(dir);
}

START_TEST(test_socket_mode)
{
	struct conf_api none = {0}, admins = {.admin_group = "staff"},
			both = {.admin_group = "staff", .viewer_group = "nogroup"};
	mode_t mode;
	gid_t gid;

	socket_after(&none, &mode, &gid);
	ck_assert_uint_eq(mode, 0600);
	ck_assert_uint_eq(gid, 0);
	socket_after(&admins, &mode, &gid);
	ck_assert_uint_eq(mode, 0660);
	ck_assert_uint_eq(gid, gid_of("staff"));
	socket_after(&both, &mode, &gid);
	ck_assert_uint_eq(mode, 0660);
	ck_assert_uint_eq(gid, gid_of("nogroup"));
}
END_TEST

/* uid NOBODY with only gid (no supplementary groups) connects to path: 0 or the errno. */
static int connect_as(const char *path, gid_t gid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int status;
	pid_t child;

	strcpy(sa.sun_path, path);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);

		if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			_exit(100);
		_exit(connect(c, (struct sockaddr *)&sa, sizeof(sa)) ? errno : 0);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 100);
	return WEXITSTATUS(status);
}

/*
 * Both groups: the socket is 0660 root:viewer_group and an ACL lets admin_group in, so an
 * administrator need not be a viewer too (review 7, finding 13); anyone else stays out.
 */
START_TEST(test_socket_admins_without_viewer_group)
{
	struct conf_api both = {.admin_group = "staff", .viewer_group = "nogroup"};
	char dir[] = "/tmp/api-auth-XXXXXX", path[64], err[256];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct api_auth auth;
	mode_t old;
	int fd;

	ck_assert_int_eq(getuid(), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/s", dir);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	old = umask(0177);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	umask(old);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(api_auth__init(&auth, &both, err, sizeof(err)), 0);
	ck_assert_int_eq(api_auth__socket(&auth, path, err, sizeof(err)), 0);
	ck_assert_msg(getxattr(path, "system.posix_acl_access", NULL, 0) > 0,
		      "%s has no ACL (does /tmp have POSIX ACLs?)", path);
	ck_assert_int_eq(connect_as(path, gid_of("staff")), 0);
	ck_assert_int_eq(connect_as(path, gid_of("nogroup")), 0);
	ck_assert_int_eq(connect_as(path, gid_of("daemon")), EACCES);
	close(fd);
	unlink(path);
	rmdir(dir);
}
END_TEST

Suite *api_auth_suite(void)
{
	Suite *s = suite_create("api_auth");
	TCase *tc = tcase_create("rules");

	tcase_add_test(tc, test_conf_keys);
	tcase_add_test(tc, test_unknown_group);
	tcase_add_test(tc, test_allow);
	tcase_add_test(tc, test_allow_line);
	tcase_add_test(tc, test_viewer_never_parses_a_write);
	tcase_add_test(tc, test_peer_roles);
	tcase_add_test(tc, test_socket_mode);
	tcase_add_test(tc, test_socket_admins_without_viewer_group);
	suite_add_tcase(s, tc);
	return s;
}
