/* Unit tests for the twin CLI's command-line parser (tools/twin_args.c). */
#include <errno.h>
#include <string.h>
#include "suites.h"
#include "twin_args.h"
#include "util.h"

static char err[256];
static struct twin_args args;

#define PARSE_ENV(env, ...)                                                                        \
	({                                                                                         \
		char *const argv_[] = {"twin", __VA_ARGS__};                                       \
		twin_args__parse(ARRAY_SIZE(argv_), argv_, env, &args, err, sizeof(err));          \
	})
#define PARSE(...) PARSE_ENV(NULL, __VA_ARGS__)

START_TEST(test_commands)
{
	ck_assert_int_eq(PARSE("vm", "start", "kv1.cfg"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_VM_START);
	ck_assert_str_eq(args.cfg, "kv1.cfg");
	ck_assert_str_eq(args.socket, TWIN_DEFAULT_SOCKET);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(PARSE("vm", "stop", "kv1"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_VM_STOP);
	ck_assert_str_eq(args.vm, "kv1");
	ck_assert_int_eq(PARSE("vm", "list", "--json"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_VM_LIST);
	ck_assert(args.json);
	ck_assert_int_eq(PARSE("unprotect", "kv1"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_UNPROTECT);
	ck_assert_int_eq(PARSE("failover", "kv1", "--force"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_FAILOVER);
	ck_assert(args.force);
	ck_assert_int_eq(PARSE("status"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_STATUS);
	ck_assert_ptr_null(args.vm);
	ck_assert(!args.json);
	ck_assert_int_eq(PARSE("--json", "status", "kv1"), 0);
	ck_assert_str_eq(args.vm, "kv1");
	ck_assert(args.json);
	ck_assert_int_eq(PARSE("cluster", "status", "--json"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_CLUSTER_STATUS);
	ck_assert_int_eq(PARSE("drill", "failover", "kv1"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_DRILL_FAILOVER);
	ck_assert(!args.host);
	ck_assert_ptr_null(args.probe);
	ck_assert_int_eq(PARSE("drill", "failover", "--host", "kv1", "--probe=198.18.2.10:7777"),
			 0);
	ck_assert(args.host);
	ck_assert_str_eq(args.probe, "198.18.2.10:7777");
}
END_TEST

START_TEST(test_protect)
{
	ck_assert_int_eq(PARSE("protect", "kv1"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_PROTECT);
	ck_assert_ptr_null(args.peer);
	ck_assert(!args.mode_set);
	ck_assert_uint_eq(args.interval_ms, 0);
	ck_assert_int_eq(
	    PARSE("protect", "--peer", "h2", "kv1", "--mode=hybrid", "--interval", "40"), 0);
	ck_assert_str_eq(args.peer, "h2");
	ck_assert(args.mode_set);
	ck_assert_int_eq(args.mode, VMCFG_MODE_HYBRID);
	ck_assert_uint_eq(args.interval_ms, 40);
}
END_TEST

/* --socket beats $TWIN_SOCKET, which beats the default. */
START_TEST(test_socket)
{
	ck_assert_int_eq(PARSE_ENV("/tmp/env.sock", "status"), 0);
	ck_assert_str_eq(args.socket, "/tmp/env.sock");
	ck_assert_int_eq(PARSE_ENV("", "status"), 0);
	ck_assert_str_eq(args.socket, TWIN_DEFAULT_SOCKET);
	ck_assert_int_eq(PARSE_ENV("/tmp/env.sock", "--socket", "/tmp/a.sock", "status"), 0);
	ck_assert_str_eq(args.socket, "/tmp/a.sock");
	ck_assert_int_eq(PARSE("status", "--socket=/tmp/b.sock"), 0);
	ck_assert_str_eq(args.socket, "/tmp/b.sock");
}
END_TEST

START_TEST(test_help)
{
	ck_assert_int_eq(PARSE("--help"), TWIN_ARGS_HELP);
	ck_assert_int_eq(PARSE("protect", "-h"), TWIN_ARGS_HELP);
	ck_assert_int_eq(PARSE("bogus", "--help"), TWIN_ARGS_HELP);
}
END_TEST

/* Each misuse: its words, the command known, and the error it must give. */
static const struct bad {
	const char *argv[6];
	enum twin_command command;
	const char *err;
} bads[] = {
    {{NULL},
     TWIN_CMD_NONE,
     "missing command: use vm, protect, unprotect, failover, status, "
     "cluster or drill (see twin --help)"},
    {{"start"},
     TWIN_CMD_NONE,
     "unknown command 'start': use vm, protect, unprotect, failover, "
     "status, cluster or drill (see twin --help)"},
    {{"vm"}, TWIN_CMD_NONE, "twin vm needs a subcommand: use twin vm start, stop or list"},
    {{"vm", "run", "x"},
     TWIN_CMD_NONE,
     "twin vm 'run' is unknown: use twin vm start, stop or list"},
    {{"cluster"}, TWIN_CMD_NONE, "twin cluster needs a subcommand: use twin cluster status"},
    {{"drill", "kv1"}, TWIN_CMD_NONE, "twin drill 'kv1' is unknown: use twin drill failover"},
    {{"vm", "start"}, TWIN_CMD_VM_START, "twin vm start: missing CFG: name the VM config file"},
    {{"vm", "start", ""},
     TWIN_CMD_VM_START,
     "twin vm start: CFG is empty: give the VM config file's path"},
    {{"vm", "stop"}, TWIN_CMD_VM_STOP, "twin vm stop: missing VM: name the VM, e.g. kv1"},
    {{"vm", "list", "kv1"},
     TWIN_CMD_VM_LIST,
     "twin vm list: unexpected argument 'kv1': see its usage"},
    {{"protect", "kv1", "kv2"},
     TWIN_CMD_PROTECT,
     "twin protect: unexpected argument 'kv2': see its usage"},
    {{"protect", "KV1"},
     TWIN_CMD_PROTECT,
     "twin protect: 'KV1' is not a VM name: use 1 to 32 characters of a-z, 0-9 and '-' (twin "
     "vm list shows them)"},
    {{"protect", "kv1", "--peer"}, TWIN_CMD_PROTECT, "--peer needs a value: see its usage"},
    {{"protect", "kv1", "--peer", "h 2"},
     TWIN_CMD_PROTECT,
     "--peer 'h 2' is not a host name: give a cluster member's name as twin cluster status "
     "lists it, e.g. h2"},
    {{"protect", "kv1", "--mode", "fast"},
     TWIN_CMD_PROTECT,
     "--mode 'fast' is invalid: use epoch, event or hybrid"},
    {{"protect", "kv1", "--interval", "0"},
     TWIN_CMD_PROTECT,
     "--interval '0' is invalid: use milliseconds from 1 to 60000"},
    {{"protect", "kv1", "--interval", "60001"},
     TWIN_CMD_PROTECT,
     "--interval '60001' is invalid: use milliseconds from 1 to 60000"},
    {{"protect", "kv1", "--force"},
     TWIN_CMD_PROTECT,
     "--force does not apply to twin protect: see its usage"},
    {{"protect", "kv1", "--json"},
     TWIN_CMD_PROTECT,
     "--json does not apply to twin protect: see its usage"},
    {{"vm", "stop", "kv1", "--host"},
     TWIN_CMD_VM_STOP,
     "--host does not apply to twin vm stop: see its usage"},
    {{"failover", "kv1", "--force=yes"},
     TWIN_CMD_FAILOVER,
     "--force takes no value: give it alone"},
    {{"status", "--verbose"}, TWIN_CMD_NONE, "unknown option '--verbose': see twin --help"},
    {{"status", "--socket", ""},
     TWIN_CMD_STATUS,
     "--socket '' is empty or longer than 107 bytes: give the clusterd socket's path, e.g. "
     "/run/twin/clusterd.sock"},
    {{"drill", "failover", "kv1", "--probe", "198.18.2.10"},
     TWIN_CMD_DRILL_FAILOVER,
     "--probe '198.18.2.10' is not ADDR:PORT: give the kv service's address, e.g. "
     "198.18.2.10:7777"},
    {{"drill", "failover", "kv1", "x", "y"},
     TWIN_CMD_NONE,
     "unexpected argument 'y': see twin --help"},
};

START_TEST(test_bad)
{
	const struct bad *b = &bads[_i];
	char *argv[8] = {"twin"};
	int argc = 1;

	while (b->argv[argc - 1])
		argv[argc] = (char *)b->argv[argc - 1], argc++;
	ck_assert_int_eq(twin_args__parse(argc, argv, NULL, &args, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, b->err);
	ck_assert_int_eq(args.command, b->command);
	ck_assert_ptr_nonnull(twin_args__usage(args.command));
	ck_assert(!strncmp(twin_args__usage(args.command), "usage: twin ", 12));
}
END_TEST

Suite *twin_args_suite(void)
{
	Suite *s = suite_create("twin_args");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_commands);
	tcase_add_test(tc, test_protect);
	tcase_add_test(tc, test_socket);
	tcase_add_test(tc, test_help);
	tcase_add_loop_test(tc, test_bad, 0, ARRAY_SIZE(bads));
	suite_add_tcase(s, tc);
	return s;
}
