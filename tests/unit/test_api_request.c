/* Unit tests for the clusterd socket's parsing of the forget, host and introspection commands. */
#include <errno.h>
#include <string.h>
#include "api_request.h"
#include "local_cmd.h"
#include "suites.h"

static struct cl_request req;
static struct api_error e;

static int parse(const char *line)
{
	json_t *id;
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&e, 0, sizeof(e));
	req.id = 9;
	rc = api_request__parse(line, strlen(line), "/nonexistent", &req, &id, &e);
	json_decref(id);
	return rc;
}

START_TEST(test_forget)
{
	ck_assert_int_eq(parse("{\"execute\":\"vm-forget\",\"arguments\":{\"vm\":\"kv1\"}}"), 0);
	ck_assert_int_eq(req.cmd, CL_CMD_VM_FORGET);
	ck_assert_str_eq(req.vm, "kv1");
	ck_assert_uint_eq(req.id, 9);
	ck_assert(!local_cmd__is_local(req.cmd));
	ck_assert_int_eq(parse("{\"execute\":\"host-forget\",\"arguments\":{\"host\":\"h3\"}}"), 0);
	ck_assert_int_eq(req.cmd, CL_CMD_HOST_FORGET);
	ck_assert_str_eq(req.host_name, "h3");
	ck_assert(!local_cmd__is_local(req.cmd));
}
END_TEST

START_TEST(test_cpus)
{
	ck_assert_int_eq(parse("{\"execute\":\"host-cpus\"}"), 0);
	ck_assert_int_eq(req.cmd, CL_CMD_HOST_CPUS);
	ck_assert(local_cmd__is_local(req.cmd));
	ck_assert_int_eq(
	    parse("{\"execute\":\"host-cpu-offline\",\"arguments\":{\"cpu\":1,\"hotplug\":true}}"),
	    0);
	ck_assert_int_eq(req.cmd, CL_CMD_HOST_CPU_OFFLINE);
	ck_assert_uint_eq(req.cpu, 1);
	ck_assert(req.hotplug);
	ck_assert(local_cmd__is_local(req.cmd));
	ck_assert_int_eq(parse("{\"execute\":\"host-cpu-online\",\"arguments\":{\"cpu\":1023}}"),
			 0);
	ck_assert_int_eq(req.cmd, CL_CMD_HOST_CPU_ONLINE);
	ck_assert_uint_eq(req.cpu, 1023);
	ck_assert(!req.hotplug);
}
END_TEST

START_TEST(test_mem)
{
	ck_assert_int_eq(parse("{\"execute\":\"host-mem-offline\",\"arguments\":{\"pfn\":6699}}"),
			 0);
	ck_assert_int_eq(req.cmd, CL_CMD_HOST_MEM_OFFLINE);
	ck_assert(req.pfn_set && !req.gpa_set);
	ck_assert_uint_eq(req.pfn, 6699);
	ck_assert_int_eq(parse("{\"execute\":\"host-mem-online\",\"arguments\":{\"vm\":\"kv1\","
			       "\"gpa\":2097152}}"),
			 0);
	ck_assert_int_eq(req.cmd, CL_CMD_HOST_MEM_ONLINE);
	ck_assert(!req.pfn_set && req.gpa_set);
	ck_assert_str_eq(req.vm, "kv1");
	ck_assert_uint_eq(req.gpa, 2097152);
	ck_assert_int_eq(parse("{\"execute\":\"host-mem-status\"}"), 0);
	ck_assert(!req.pfn_set);
	ck_assert_int_eq(parse("{\"execute\":\"host-mem-status\",\"arguments\":{\"pfn\":0}}"), 0);
	ck_assert(req.pfn_set);
	ck_assert(local_cmd__is_local(req.cmd));
}
END_TEST

START_TEST(test_introspect)
{
	ck_assert_int_eq(
	    parse("{\"execute\":\"vm-peek\",\"arguments\":{\"vm\":\"kv1\",\"gpa\":4096,"
		  "\"len\":4096}}"),
	    0);
	ck_assert_int_eq(req.cmd, CL_CMD_VM_PEEK);
	ck_assert_str_eq(req.vm, "kv1");
	ck_assert_uint_eq(req.gpa, 4096);
	ck_assert_uint_eq(req.len, 4096);
	ck_assert(local_cmd__is_local(req.cmd));
	ck_assert_int_eq(parse("{\"execute\":\"vm-regs\",\"arguments\":{\"vm\":\"kv1\"}}"), 0);
	ck_assert_int_eq(req.cmd, CL_CMD_VM_REGS);
	ck_assert_int_eq(req.vcpu, -1);
	ck_assert_int_eq(
	    parse("{\"execute\":\"vm-regs\",\"arguments\":{\"vm\":\"kv1\",\"vcpu\":0}}"), 0);
	ck_assert_int_eq(req.vcpu, 0);
	ck_assert(local_cmd__is_local(req.cmd));
}
END_TEST

/* The model's commands stay the model's. */
START_TEST(test_not_local)
{
	for (int c = 0; c < CL_CMD_NCMDS; c++)
		ck_assert_int_eq(local_cmd__is_local(c),
				 c >= CL_CMD_HOST_CPUS && c <= CL_CMD_VM_REGS);
	ck_assert(!local_cmd__is_local(CL_CMD_NCMDS));
}
END_TEST

static const struct bad {
	const char *line, *cls, *desc;
} bads[] = {
    {"{\"execute\":\"host-frob\"}", "CommandNotFound", "host-frob was not found"},
    /* echoed names lose their control characters */
    {"{\"execute\":\"host-cpu-offl\\ne\\u001b[2J\"}", "CommandNotFound",
     "the command host-cpu-offl?e?[2J was not found"},
    {"{\"execute\":\"host-cpus\",\"arguments\":{\"a\\tb\":1}}", "InvalidParameter",
     "host-cpus: unknown argument \"a?b\""},
    {"{\"execute\":\"vm-forget\"}", "InvalidParameter", "\"vm\" must be a string"},
    {"{\"execute\":\"host-forget\"}", "InvalidParameter", "\"host\" must be a string of 1 to 32"},
    {"{\"execute\":\"host-forget\",\"arguments\":{\"host\":\"h3\",\"vm\":\"kv1\"}}",
     "InvalidParameter", "host-forget: unknown argument \"vm\""},
    {"{\"execute\":\"host-cpus\",\"arguments\":{\"cpu\":1}}", "InvalidParameter",
     "host-cpus: unknown argument \"cpu\""},
    {"{\"execute\":\"host-cpu-offline\"}", "InvalidParameter",
     "host-cpu-offline: \"cpu\" must be an integer from 0 to 1023"},
    {"{\"execute\":\"host-cpu-offline\",\"arguments\":{\"cpu\":1024}}", "InvalidParameter",
     "\"cpu\" must be an integer from 0 to 1023"},
    {"{\"execute\":\"host-cpu-offline\",\"arguments\":{\"cpu\":-1}}", "InvalidParameter",
     "\"cpu\" must be an integer from 0 to 1023"},
    {"{\"execute\":\"host-cpu-offline\",\"arguments\":{\"cpu\":\"1\"}}", "InvalidParameter",
     "\"cpu\" must be an integer"},
    {"{\"execute\":\"host-cpu-offline\",\"arguments\":{\"cpu\":1,\"hotplug\":1}}",
     "InvalidParameter", "\"hotplug\" must be true or false"},
    {"{\"execute\":\"host-cpu-online\",\"arguments\":{\"cpu\":1,\"hotplug\":true}}",
     "InvalidParameter", "host-cpu-online: unknown argument \"hotplug\""},
    {"{\"execute\":\"host-mem-offline\"}", "InvalidParameter",
     "host-mem-offline: give \"pfn\" (a host frame), or \"vm\" and \"gpa\""},
    {"{\"execute\":\"host-mem-offline\",\"arguments\":{\"vm\":\"kv1\"}}", "InvalidParameter",
     "give \"pfn\" (a host frame), or \"vm\" and \"gpa\""},
    {"{\"execute\":\"host-mem-online\",\"arguments\":{\"gpa\":0}}", "InvalidParameter",
     "give \"pfn\" (a host frame), or \"vm\" and \"gpa\""},
    {"{\"execute\":\"host-mem-offline\",\"arguments\":{\"pfn\":1,\"vm\":\"kv1\",\"gpa\":0}}",
     "InvalidParameter", "not both"},
    {"{\"execute\":\"host-mem-offline\",\"arguments\":{\"pfn\":1099511627776}}", "InvalidParameter",
     "\"pfn\" must be an integer from 0 to 1099511627775"},
    {"{\"execute\":\"host-mem-offline\",\"arguments\":{\"pfn\":1.5}}", "InvalidParameter",
     "\"pfn\" must be an integer"},
    {"{\"execute\":\"host-mem-status\",\"arguments\":{\"vm\":\"kv1\"}}", "InvalidParameter",
     "host-mem-status: unknown argument \"vm\""},
    {"{\"execute\":\"vm-peek\",\"arguments\":{\"vm\":\"kv1\",\"gpa\":0}}", "InvalidParameter",
     "vm-peek: \"len\" must be an integer from 1 to 4096"},
    {"{\"execute\":\"vm-peek\",\"arguments\":{\"vm\":\"kv1\",\"gpa\":0,\"len\":0}}",
     "InvalidParameter", "\"len\" must be an integer from 1 to 4096"},
    {"{\"execute\":\"vm-peek\",\"arguments\":{\"vm\":\"kv1\",\"gpa\":0,\"len\":4097}}",
     "InvalidParameter", "\"len\" must be an integer from 1 to 4096"},
    {"{\"execute\":\"vm-peek\",\"arguments\":{\"vm\":\"kv1\",\"len\":1}}", "InvalidParameter",
     "\"gpa\" must be an integer from 0 to 4503599627370495"},
    {"{\"execute\":\"vm-peek\",\"arguments\":{\"gpa\":0,\"len\":1}}", "InvalidParameter",
     "\"vm\" must be a string"},
    {"{\"execute\":\"vm-regs\",\"arguments\":{\"vm\":\"kv1\",\"vcpu\":64}}", "InvalidParameter",
     "vm-regs: \"vcpu\" must be an integer from 0 to 63"},
    {"{\"execute\":\"vm-regs\",\"arguments\":{\"vm\":\"kv1\",\"len\":1}}", "InvalidParameter",
     "vm-regs: unknown argument \"len\""},
};

START_TEST(test_bad)
{
	const struct bad *b = &bads[_i];

	ck_assert_int_eq(parse(b->line), -EINVAL);
	ck_assert_str_eq(e.cls, b->cls);
	if (!strstr(e.desc, b->desc))
		ck_abort_msg("'%s' lacks '%s'", e.desc, b->desc);
}
END_TEST

Suite *api_request_suite(void)
{
	Suite *s = suite_create("api_request");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_cpus);
	tcase_add_test(tc, test_mem);
	tcase_add_test(tc, test_introspect);
	tcase_add_test(tc, test_not_local);
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bads) / sizeof(bads[0]));
	suite_add_tcase(s, tc);
	return s;
}
