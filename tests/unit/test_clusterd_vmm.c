/* Unit tests for the twin-vmm command lines clusterd builds and its CLI requests (clusterd/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "api_request.h"
#include "suites.h"
#include "vmm_argv.h"

static char err[1024];

#define VM_CFG                                                                                     \
	"name = kv1\nmemory = 64\nvcpus = 2\nkernel = /g/kv_guest\ncmdline = \"a=1\"\n"            \
	"disk = path=/var/lib/twin/%h/kv1.img\n"                                                   \
	"nic = mac=52:54:00:00:00:10,bridge=tl-lan\nprotect = yes\nmode = hybrid\n"                \
	"interval_ms = 40\n"

static struct clusterd_conf conf(const char *tls)
{
	struct clusterd_conf c;
	char text[512];

	snprintf(text, sizeof(text),
		 "[cluster]\nname = t\n[host]\nname = h2\nreplication_addr = %s\n"
		 "state_dir = /st\n[paths]\ntwin_vmm = /bin/twin-vmm\n[tls]\n%s\n",
		 strstr(tls, "v6") ? "fd00::2" : "198.18.1.2", strstr(tls, "v6") ? tls + 3 : tls);
	ck_assert_int_eq(conf__parse(text, "c", &c, err, sizeof(err)), 0);
	return c;
}

static struct vmcfg vmcfg(void)
{
	struct vmcfg v;

	ck_assert_int_eq(vmcfg__parse_text(VM_CFG, strlen(VM_CFG), "kv1.cfg", &v, err, sizeof(err)),
			 0);
	return v;
}

/* argv[0..] joined by spaces, for one comparison per command line. */
static const char *joined(const struct vmm_argv *a)
{
	static char buf[2048];

	buf[0] = 0;
	for (int i = 0; i < a->argc; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? " " : "",
			 a->argv[i]);
	ck_assert_ptr_null(a->argv[a->argc]);
	return buf;
}

START_TEST(test_primary_argv)
{
	struct clusterd_conf c = conf("insecure = yes");
	struct vmcfg v = vmcfg();
	struct vmm_argv a = {0};

	ck_assert_int_eq(vmm_argv__build(&c, &v, VMM_ARGV_PRIMARY, 0, &a, err, sizeof(err)), 0);
	ck_assert_str_eq(joined(&a), "/bin/twin-vmm run --kernel /g/kv_guest --mem 64M --vcpus 2 "
				     "--cmdline a=1 --nic tap=tw-kv1-0,bridge=tl-lan,"
				     "mac=52:54:00:00:00:10 --disk path=/var/lib/twin/h2/kv1.img "
				     "--control /st/vms/kv1/control.sock");
	vmm_argv__dispose(&a);
}
END_TEST

START_TEST(test_backup_argv)
{
	struct clusterd_conf c = conf("cert = /t/c\nkey = /t/k\nca = /t/ca");
	struct vmcfg v = vmcfg();
	struct vmm_argv a = {0};

	ck_assert_int_eq(vmm_argv__build(&c, &v, VMM_ARGV_BACKUP, 7403, &a, err, sizeof(err)), 0);
	ck_assert_str_eq(joined(&a),
			 "/bin/twin-vmm backup --listen 198.18.1.2:7403 --tls-cert /t/c "
			 "--tls-key /t/k --tls-ca /t/ca --nic tap=tw-kv1-0,"
			 "bridge=tl-lan,mac=52:54:00:00:00:10 --disk "
			 "path=/var/lib/twin/h2/kv1.img --control "
			 "/st/vms/kv1/control.sock");
	vmm_argv__dispose(&a);
	c = conf("v6:psk = /t/psk");
	ck_assert_int_eq(vmm_argv__build(&c, &v, VMM_ARGV_BACKUP, 7400, &a, err, sizeof(err)), 0);
	ck_assert(strstr(joined(&a), "backup --listen [fd00::2]:7400 --tls-psk /t/psk --nic"));
	vmm_argv__dispose(&a);
}
END_TEST

START_TEST(test_tap_names)
{
	char tap[16], other[16];

	vmm_argv__tap_name("kv1", 3, tap);
	ck_assert_str_eq(tap, "tw-kv1-3");
	vmm_argv__tap_name("abcdefghij", 0, tap);
	ck_assert_str_eq(tap, "tw-abcdefghij-0");
	/* 32 characters: 15 bytes, stable, and distinct from a name sharing its first 6. */
	vmm_argv__tap_name("abcdefghijklmnopqrstuvwxyz012345", 1, tap);
	vmm_argv__tap_name("abcdefzzzzzzzzzzzzzzzzzzzzzzzzzz", 1, other);
	ck_assert_uint_eq(strlen(tap), 15);
	ck_assert_str_ne(tap, other);
	ck_assert(!strncmp(tap, "tw-abcdef", 9));
	vmm_argv__tap_name("abcdefghijklmnopqrstuvwxyz012345", 1, other);
	ck_assert_str_eq(tap, other);
}
END_TEST

START_TEST(test_control_path_too_long)
{
	struct clusterd_conf c = conf("insecure = yes");
	struct vmcfg v = vmcfg();
	struct vmm_argv a = {0};

	memset(c.state_dir, 'd', 100);
	c.state_dir[0] = '/';
	c.state_dir[100] = 0;
	ck_assert_int_eq(vmm_argv__build(&c, &v, VMM_ARGV_PRIMARY, 0, &a, err, sizeof(err)),
			 -ENAMETOOLONG);
	ck_assert(strstr(err, "use a shorter state_dir"));
	vmm_argv__dispose(&a);
}
END_TEST

static int parse(const char *line, struct cl_request *req, struct api_error *e)
{
	json_t *id;
	int rc;

	memset(req, 0, sizeof(*req));
	req->id = 77;
	rc = api_request__parse(line, strlen(line), "/nonexistent", req, &id, e);
	json_decref(id);
	return rc;
}

START_TEST(test_requests)
{
	static struct cl_request req;
	struct api_error e;
	json_t *line = json_pack("{s:s, s:{s:s, s:s}}", "execute", "vm-start", "arguments",
				 "config", VM_CFG, "path", "/etc/twin/vms/kv1.cfg");
	char *text = json_dumps(line, JSON_COMPACT);

	ck_assert_int_eq(parse(text, &req, &e), 0);
	ck_assert_uint_eq(req.id, 77);
	ck_assert_int_eq(req.cmd, CL_CMD_VM_START);
	ck_assert_str_eq(req.vm, "kv1");
	ck_assert_str_eq(req.config, VM_CFG);
	ck_assert_uint_eq(req.memory_mib, 64);
	ck_assert(req.protect && req.mode_set && req.mode == CL_MODE_HYBRID);
	ck_assert_uint_eq(req.interval_ms, 40);
	free(text);
	json_decref(line);

	ck_assert_int_eq(parse("{\"execute\":\"protect\",\"arguments\":{\"vm\":\"kv1\",\"peer\":"
			       "\"h3\",\"mode\":\"event\",\"interval_ms\":10}}",
			       &req, &e),
			 0);
	ck_assert_str_eq(req.peer, "h3");
	ck_assert(req.mode_set && req.mode == CL_MODE_EVENT && req.interval_ms == 10);
	ck_assert_int_eq(parse("{\"execute\":\"failover\",\"arguments\":{\"vm\":\"kv1\",\"force\":"
			       "true}}",
			       &req, &e),
			 0);
	ck_assert(req.force);
	ck_assert_int_eq(parse("{\"execute\":\"cluster-status\"}", &req, &e), 0);
	ck_assert_int_eq(req.cmd, CL_CMD_CLUSTER_STATUS);
	ck_assert_int_eq(parse("{\"execute\":\"status\"}", &req, &e), 0);
	ck_assert_str_eq(req.vm, "");
}
END_TEST

static void assert_refused(const char *line, const char *cls, const char *expect)
{
	static struct cl_request req;
	struct api_error e;

	ck_assert_int_eq(parse(line, &req, &e), -EINVAL);
	ck_assert_str_eq(e.cls, cls);
	if (!strstr(e.desc, expect))
		ck_abort_msg("'%s' lacks '%s'", e.desc, expect);
}

START_TEST(test_bad_requests)
{
	assert_refused("not json", "GenericError", "not a JSON object");
	assert_refused("{\"execute\":\"vm-frob\"}", "CommandNotFound", "vm-frob was not found");
	assert_refused("{\"execute\":\"vm-stop\"}", "InvalidParameter", "\"vm\" must be a string");
	assert_refused("{\"execute\":\"vm-stop\",\"arguments\":{\"vm\":\"a\",\"x\":1}}",
		       "InvalidParameter", "unknown argument \"x\"");
	assert_refused("{\"execute\":\"protect\",\"arguments\":{\"vm\":\"a\",\"mode\":\"fast\"}}",
		       "InvalidParameter", "\"mode\" must be");
	assert_refused("{\"execute\":\"protect\",\"arguments\":{\"vm\":\"a\",\"interval_ms\":0}}",
		       "InvalidParameter", "\"interval_ms\" must be an integer");
	assert_refused("{\"execute\":\"failover\",\"arguments\":{\"vm\":\"a\",\"force\":1}}",
		       "InvalidParameter", "\"force\" must be true or false");
	assert_refused("{\"execute\":\"vm-start\",\"arguments\":{}}", "InvalidParameter",
		       "give \"config\"");
	assert_refused("{\"execute\":\"vm-start\",\"arguments\":{\"path\":\"rel/kv1.cfg\"}}",
		       "InvalidParameter", "must be absolute");
	assert_refused("{\"execute\":\"vm-start\",\"arguments\":{\"path\":\"kv9\"}}",
		       "InvalidParameter", "/nonexistent/kv9.cfg");
	assert_refused("{\"execute\":\"vm-start\",\"arguments\":{\"config\":\"name = kv1\\n\","
		       "\"path\":\"/x/kv1.cfg\"}}",
		       "InvalidParameter", "vm-start: /x/kv1.cfg:");
}
END_TEST

START_TEST(test_reply_lines)
{
	json_t *id = json_integer(5);
	char *s = api_request__reply(json_pack("{s:b}", "quorate", 1), id);

	ck_assert_str_eq(s, "{\"return\":{\"quorate\":true},\"id\":5}");
	free(s);
	s = api_request__error("NoQuorum", "not quorate", NULL);
	ck_assert_str_eq(s, "{\"error\":{\"class\":\"NoQuorum\",\"desc\":\"not quorate\"}}");
	free(s);
	json_decref(id);
}
END_TEST

Suite *clusterd_vmm_suite(void)
{
	Suite *s = suite_create("clusterd_vmm");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_primary_argv);
	tcase_add_test(tc, test_backup_argv);
	tcase_add_test(tc, test_tap_names);
	tcase_add_test(tc, test_control_path_too_long);
	tcase_add_test(tc, test_requests);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_reply_lines);
	suite_add_tcase(s, tc);
	return s;
}
