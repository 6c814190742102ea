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

START_TEST(test_forget)
{
	ck_assert_int_eq(PARSE("vm", "forget", "kv1"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_VM_FORGET);
	ck_assert_str_eq(args.vm, "kv1");
	ck_assert_int_eq(PARSE("host", "forget", "h3"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_HOST_FORGET);
	ck_assert_str_eq(args.host_name, "h3");
}
END_TEST

START_TEST(test_host_cpus)
{
	ck_assert_int_eq(PARSE("host", "cpus"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_HOST_CPUS);
	ck_assert(!args.json);
	ck_assert_int_eq(PARSE("host", "cpus", "--json"), 0);
	ck_assert(args.json);
	ck_assert_int_eq(PARSE("host", "cpu-offline", "1"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_HOST_CPU_OFFLINE);
	ck_assert_uint_eq(args.cpu, 1);
	ck_assert(!args.hotplug);
	ck_assert_int_eq(PARSE("host", "cpu-offline", "--hotplug", "1023"), 0);
	ck_assert_uint_eq(args.cpu, 1023);
	ck_assert(args.hotplug);
	ck_assert_int_eq(PARSE("host", "cpu-online", "0"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_HOST_CPU_ONLINE);
	ck_assert_uint_eq(args.cpu, 0);
}
END_TEST

START_TEST(test_host_mem)
{
	ck_assert_int_eq(PARSE("host", "mem-offline", "0x1a2B"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_HOST_MEM_OFFLINE);
	ck_assert(args.pfn_set && !args.gpa_set);
	ck_assert_uint_eq(args.pfn, 0x1a2b);
	ck_assert_ptr_null(args.vm);
	/* xen-hptool's form: hex without 0x */
	ck_assert_int_eq(PARSE("host", "mem-online", "ffffffffff"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_HOST_MEM_ONLINE);
	ck_assert_uint_eq(args.pfn, 0xffffffffffULL);
	ck_assert_int_eq(PARSE("host", "mem-offline", "--vm", "kv1", "--gpa=0x200000"), 0);
	ck_assert(!args.pfn_set && args.gpa_set);
	ck_assert_str_eq(args.vm, "kv1");
	ck_assert_uint_eq(args.gpa, 0x200000);
	ck_assert_int_eq(PARSE("host", "mem-online", "--gpa", "4096", "--vm", "kv1"), 0);
	ck_assert_uint_eq(args.gpa, 4096);
	ck_assert_int_eq(PARSE("host", "mem-status"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_HOST_MEM_STATUS);
	ck_assert(!args.pfn_set);
	ck_assert_int_eq(PARSE("host", "mem-status", "10", "--json"), 0);
	ck_assert(args.pfn_set && args.json);
	ck_assert_uint_eq(args.pfn, 0x10);
}
END_TEST

START_TEST(test_introspect)
{
	ck_assert_int_eq(PARSE("vm", "peek", "kv1", "0x1000", "16"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_VM_PEEK);
	ck_assert_str_eq(args.vm, "kv1");
	ck_assert(args.gpa_set);
	ck_assert_uint_eq(args.gpa, 0x1000);
	ck_assert_uint_eq(args.len, 16);
	ck_assert(!args.hex && !args.json);
	ck_assert_int_eq(PARSE("vm", "peek", "--hex", "kv1", "1048576", "4096"), 0);
	ck_assert_uint_eq(args.gpa, 1048576);
	ck_assert_uint_eq(args.len, 4096);
	ck_assert(args.hex);
	ck_assert_int_eq(PARSE("vm", "peek", "kv1", "0xfffffffffffff", "1", "--json"), 0);
	ck_assert_uint_eq(args.gpa, 0xfffffffffffffULL);
	ck_assert(args.json);
	ck_assert_int_eq(PARSE("vm", "regs", "kv1"), 0);
	ck_assert_int_eq(args.command, TWIN_CMD_VM_REGS);
	ck_assert_int_eq(args.vcpu, -1);
	ck_assert_int_eq(PARSE("vm", "regs", "kv1", "--vcpu", "3", "--json"), 0);
	ck_assert_int_eq(args.vcpu, 3);
	ck_assert(args.json);
}
END_TEST

START_TEST(test_watch)
{
	ck_assert_int_eq(PARSE("status"), 0);
	ck_assert(!args.watch);
	ck_assert_uint_eq(args.watch_interval_ms, TWIN_WATCH_DEFAULT_MS);
	ck_assert_uint_eq(args.watch_count, 0);
	ck_assert_int_eq(PARSE("status", "--watch"), 0);
	ck_assert(args.watch);
	ck_assert_int_eq(PARSE("status", "kv1", "--watch", "--interval", "0.25", "--count=3"), 0);
	ck_assert_str_eq(args.vm, "kv1");
	ck_assert_uint_eq(args.watch_interval_ms, 250);
	ck_assert_uint_eq(args.watch_count, 3);
	ck_assert_int_eq(PARSE("status", "--watch", "--interval", "2"), 0);
	ck_assert_uint_eq(args.watch_interval_ms, 2000);
	ck_assert_int_eq(PARSE("status", "--watch", "--interval", "3600.000"), 0);
	ck_assert_uint_eq(args.watch_interval_ms, 3600000);
	/* protect's --interval stays milliseconds */
	ck_assert_int_eq(PARSE("protect", "kv1", "--interval", "250"), 0);
	ck_assert_uint_eq(args.interval_ms, 250);
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
	const char *argv[8];
	enum twin_command command;
	const char *err;
} bads[] = {
    {{NULL},
     TWIN_CMD_NONE,
     "missing command: use vm, host, protect, unprotect, failover, status, "
     "cluster or drill (see twin --help)"},
    {{"start"},
     TWIN_CMD_NONE,
     "unknown command 'start': use vm, host, protect, unprotect, failover, "
     "status, cluster or drill (see twin --help)"},
    {{"vm"},
     TWIN_CMD_NONE,
     "twin vm needs a subcommand: use twin vm start, stop, list, forget, peek or regs"},
    {{"vm", "run", "x"},
     TWIN_CMD_NONE,
     "twin vm 'run' is unknown: use twin vm start, stop, list, forget, peek or regs"},
    {{"host"},
     TWIN_CMD_NONE,
     "twin host needs a subcommand: use twin host cpus, cpu-offline, cpu-online, "
     "mem-offline, mem-online, mem-status or forget"},
    {{"host", "cpu"},
     TWIN_CMD_NONE,
     "twin host 'cpu' is unknown: use twin host cpus, cpu-offline, cpu-online, mem-offline, "
     "mem-online, mem-status or forget"},
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
     TWIN_CMD_DRILL_FAILOVER,
     "twin drill failover: unexpected argument 'x': see its usage"},
    {{"vm", "peek", "kv1", "1", "2", "3"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: unexpected argument '3': see its usage"},
    {{"vm", "peek", "kv1", "1", "2", "3", "4"},
     TWIN_CMD_NONE,
     "unexpected argument '4': see twin --help"},
    /* forget */
    {{"vm", "forget"}, TWIN_CMD_VM_FORGET, "twin vm forget: missing VM: name the VM, e.g. kv1"},
    {{"host", "forget"},
     TWIN_CMD_HOST_FORGET,
     "twin host forget: missing HOST: name the host, as twin cluster status lists it"},
    {{"host", "forget", "h/2"},
     TWIN_CMD_HOST_FORGET,
     "twin host forget: 'h/2' is not a host name: give a cluster member's name as twin "
     "cluster status lists it, e.g. h2"},
    {{"host", "forget", "h2", "--force"},
     TWIN_CMD_HOST_FORGET,
     "--force does not apply to twin host forget: see its usage"},
    /* cpus */
    {{"host", "cpus", "1"},
     TWIN_CMD_HOST_CPUS,
     "twin host cpus: unexpected argument '1': see its usage"},
    {{"host", "cpu-offline"},
     TWIN_CMD_HOST_CPU_OFFLINE,
     "twin host cpu-offline: missing N: give the CPU's number, as twin host cpus lists it"},
    {{"host", "cpu-offline", "-1"}, TWIN_CMD_NONE, "unknown option '-1': see twin --help"},
    {{"host", "cpu-offline", "x1"},
     TWIN_CMD_HOST_CPU_OFFLINE,
     "twin host cpu-offline: N 'x1' is not a CPU number: use 0 to 1023 (twin host cpus lists "
     "them)"},
    {{"host", "cpu-offline", "1024"},
     TWIN_CMD_HOST_CPU_OFFLINE,
     "twin host cpu-offline: N '1024' is not a CPU number: use 0 to 1023 (twin host cpus "
     "lists them)"},
    {{"host", "cpu-online", "1", "2"},
     TWIN_CMD_HOST_CPU_ONLINE,
     "twin host cpu-online: unexpected argument '2': see its usage"},
    {{"host", "cpu-online", "1", "--hotplug"},
     TWIN_CMD_HOST_CPU_ONLINE,
     "--hotplug does not apply to twin host cpu-online: see its usage"},
    {{"host", "cpu-offline", "1", "--hotplug=yes"},
     TWIN_CMD_HOST_CPU_OFFLINE,
     "--hotplug takes no value: give it alone"},
    {{"vm", "stop", "kv1", "--hotplug"},
     TWIN_CMD_VM_STOP,
     "--hotplug does not apply to twin vm stop: see its usage"},
    {{"host", "cpu-offline", "1", "--json"},
     TWIN_CMD_HOST_CPU_OFFLINE,
     "--json does not apply to twin host cpu-offline: see its usage"},
    /* mem */
    {{"host", "mem-offline"},
     TWIN_CMD_HOST_MEM_OFFLINE,
     "twin host mem-offline: missing PFN: give the host frame in hex (e.g. 0x1a2b), or --vm "
     "VM --gpa ADDR"},
    {{"host", "mem-offline", "0xg1"},
     TWIN_CMD_HOST_MEM_OFFLINE,
     "twin host mem-offline: PFN '0xg1' is not a page frame number: give it in hex as "
     "xen-hptool does, e.g. 0x1a2b, below 0x10000000000"},
    {{"host", "mem-online", "0x"},
     TWIN_CMD_HOST_MEM_ONLINE,
     "twin host mem-online: PFN '0x' is not a page frame number: give it in hex as "
     "xen-hptool does, e.g. 0x1a2b, below 0x10000000000"},
    {{"host", "mem-offline", "10000000000"},
     TWIN_CMD_HOST_MEM_OFFLINE,
     "twin host mem-offline: PFN '10000000000' is not a page frame number: give it in hex as "
     "xen-hptool does, e.g. 0x1a2b, below 0x10000000000"},
    {{"host", "mem-offline", "0x0x1a"}, /* one 0x only (review 7, finding 13) */
     TWIN_CMD_HOST_MEM_OFFLINE,
     "twin host mem-offline: PFN '0x0x1a' is not a page frame number: give it in hex as "
     "xen-hptool does, e.g. 0x1a2b, below 0x10000000000"},
    {{"vm", "peek", "kv1", "0x0x1000", "16"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: GPA '0x0x1000' is not a guest physical address: give it in hex with 0x "
     "(e.g. 0x100000) or in decimal, below 2^52"},
    {{"host", "mem-status", "zz"},
     TWIN_CMD_HOST_MEM_STATUS,
     "twin host mem-status: PFN 'zz' is not a page frame number: give it in hex as "
     "xen-hptool does, e.g. 0x1a2b, below 0x10000000000"},
    {{"host", "mem-offline", "1a", "--vm", "kv1", "--gpa", "0"},
     TWIN_CMD_HOST_MEM_OFFLINE,
     "twin host mem-offline: give PFN or --vm VM --gpa ADDR, not both"},
    {{"host", "mem-offline", "--vm", "kv1"},
     TWIN_CMD_HOST_MEM_OFFLINE,
     "twin host mem-offline: --vm needs --gpa ADDR: name the guest address too"},
    {{"host", "mem-online", "--gpa", "0x1000"},
     TWIN_CMD_HOST_MEM_ONLINE,
     "twin host mem-online: --gpa needs --vm VM: name the VM whose guest address it is"},
    {{"host", "mem-offline", "--vm", "kv1", "--gpa", "1x"},
     TWIN_CMD_HOST_MEM_OFFLINE,
     "--gpa '1x' is not a guest physical address: give it in hex with 0x (e.g. 0x100000) or "
     "in decimal, below 2^52"},
    {{"host", "mem-offline", "--vm", "KV", "--gpa", "0"},
     TWIN_CMD_HOST_MEM_OFFLINE,
     "--vm 'KV' is not a VM name: use 1 to 32 characters of a-z, 0-9 and '-' (twin vm list "
     "shows them)"},
    {{"host", "mem-status", "--vm", "kv1"},
     TWIN_CMD_HOST_MEM_STATUS,
     "--vm does not apply to twin host mem-status: see its usage"},
    /* peek, regs */
    {{"vm", "peek", "kv1", "0x1000"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: missing LEN: give the number of bytes, 1 to 4096"},
    {{"vm", "peek", "kv1"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: missing GPA: give the guest physical address, e.g. 0x100000"},
    {{"vm", "peek", "kv1", "0x10000000000000", "1"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: GPA '0x10000000000000' is not a guest physical address: give it in hex "
     "with 0x (e.g. 0x100000) or in decimal, below 2^52"},
    {{"vm", "peek", "kv1", "1f", "1"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: GPA '1f' is not a guest physical address: give it in hex with 0x (e.g. "
     "0x100000) or in decimal, below 2^52"},
    {{"vm", "peek", "kv1", "0", "0"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: LEN '0' is invalid: use a number of bytes from 1 to 4096"},
    {{"vm", "peek", "kv1", "0", "4097"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: LEN '4097' is invalid: use a number of bytes from 1 to 4096"},
    {{"vm", "peek", "kv1", "0", "0x10"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: LEN '0x10' is invalid: use a number of bytes from 1 to 4096"},
    {{"vm", "peek", "kv1", "0", "1", "--hex", "--json"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: --hex and --json exclude each other: choose one"},
    {{"vm", "peek", "kv1", "0", "--hex", "--json"},
     TWIN_CMD_VM_PEEK,
     "twin vm peek: missing LEN: give the number of bytes, 1 to 4096"},
    {{"vm", "regs", "kv1", "--hex"},
     TWIN_CMD_VM_REGS,
     "--hex does not apply to twin vm regs: see its usage"},
    {{"vm", "regs", "kv1", "--vcpu", "64"},
     TWIN_CMD_VM_REGS,
     "--vcpu '64' is invalid: use a vCPU index from 0 to 63"},
    {{"vm", "regs", "kv1", "--vcpu"}, TWIN_CMD_VM_REGS, "--vcpu needs a value: see its usage"},
    {{"vm", "peek", "kv1", "0", "1", "--vcpu=0"},
     TWIN_CMD_VM_PEEK,
     "--vcpu does not apply to twin vm peek: see its usage"},
    /* status --watch */
    {{"status", "--interval", "2"},
     TWIN_CMD_STATUS,
     "twin status: --interval goes with --watch: add --watch"},
    {{"status", "--count", "2"},
     TWIN_CMD_STATUS,
     "twin status: --count goes with --watch: add --watch"},
    {{"status", "--watch", "--interval", "0.05"},
     TWIN_CMD_STATUS,
     "--interval '0.05' is invalid: use seconds from 0.1 to 3600, e.g. 2 or 0.5"},
    {{"status", "--watch", "--interval", "1.2345"},
     TWIN_CMD_STATUS,
     "--interval '1.2345' is invalid: use seconds from 0.1 to 3600, e.g. 2 or 0.5"},
    {{"status", "--watch", "--interval", ".5"},
     TWIN_CMD_STATUS,
     "--interval '.5' is invalid: use seconds from 0.1 to 3600, e.g. 2 or 0.5"},
    {{"status", "--watch", "--interval", "3601"},
     TWIN_CMD_STATUS,
     "--interval '3601' is invalid: use seconds from 0.1 to 3600, e.g. 2 or 0.5"},
    {{"status", "--watch", "--count", "0"},
     TWIN_CMD_STATUS,
     "--count '0' is invalid: use a number of refreshes from 1 to 1000000"},
    {{"vm", "list", "--watch"},
     TWIN_CMD_VM_LIST,
     "--watch does not apply to twin vm list: see its usage"},
};

START_TEST(test_bad)
{
	const struct bad *b = &bads[_i];
	char *argv[10] = {"twin"};
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
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_host_cpus);
	tcase_add_test(tc, test_host_mem);
	tcase_add_test(tc, test_introspect);
	tcase_add_test(tc, test_watch);
	tcase_add_test(tc, test_socket);
	tcase_add_test(tc, test_help);
	tcase_add_loop_test(tc, test_bad, 0, ARRAY_SIZE(bads));
	suite_add_tcase(s, tc);
	return s;
}
