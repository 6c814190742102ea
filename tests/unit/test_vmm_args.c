/* Unit tests for twin-vmm's command-line parser (tools/vmm_args.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "suites.h"
#include "vmm_args.h"
#include "host_port.h"
#include "util.h"

static char err[256];
static struct vmm_args args;

#define PARSE(...)                                                                                 \
	({                                                                                         \
		char *const argv_[] = {"twin-vmm", __VA_ARGS__};                                   \
		vmm_args__parse(ARRAY_SIZE(argv_), argv_, &args, err, sizeof(err));                \
	})

START_TEST(test_defaults)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k.elf"), 0);
	ck_assert_str_eq(args.kernel, "k.elf");
	ck_assert_uint_eq(args.mem_size, 256ULL << 20);
	ck_assert_uint_eq(args.nr_vcpus, 1);
	ck_assert_str_eq(args.cmdline, "");
	ck_assert_int_eq(args.serial, VMM_SERIAL_STDIO);
	ck_assert(args.pit);
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_all_options)
{
	ck_assert_int_eq(PARSE("run", "--mem", "1G", "--vcpus=4", "--cmdline", "pages=8 rate=0",
			       "--serial", "file:/tmp/x.log", "--kernel=g.elf"),
			 0);
	ck_assert_str_eq(args.kernel, "g.elf");
	ck_assert_uint_eq(args.mem_size, 1ULL << 30);
	ck_assert_uint_eq(args.nr_vcpus, 4);
	ck_assert_str_eq(args.cmdline, "pages=8 rate=0");
	ck_assert_int_eq(args.serial, VMM_SERIAL_FILE);
	ck_assert_str_eq(args.serial_path, "/tmp/x.log");
}
END_TEST

START_TEST(test_sizes)
{
	uint64_t v;

	ck_assert_int_eq(vmm_args__parse_size("64M", &v), 0);
	ck_assert_uint_eq(v, 64ULL << 20);
	ck_assert_int_eq(vmm_args__parse_size("2048k", &v), 0);
	ck_assert_uint_eq(v, 2ULL << 20);
	ck_assert_int_eq(vmm_args__parse_size("3g", &v), 0);
	ck_assert_uint_eq(v, 3ULL << 30);
	ck_assert_int_eq(vmm_args__parse_size("1T", &v), 0);
	ck_assert_uint_eq(v, 1ULL << 40);
	ck_assert_int_eq(vmm_args__parse_size("100t", &v), 0);
	ck_assert_uint_eq(v, 100ULL << 40);
	ck_assert_int_eq(vmm_args__parse_size("16777216T", &v), -EINVAL);
	ck_assert_int_eq(vmm_args__parse_size("512", &v), 0);
	ck_assert_uint_eq(v, 512ULL << 20);
	ck_assert_int_eq(vmm_args__parse_size("", &v), -EINVAL);
	ck_assert_int_eq(vmm_args__parse_size("12X", &v), -EINVAL);
	ck_assert_int_eq(vmm_args__parse_size("12MB", &v), -EINVAL);
	ck_assert_int_eq(vmm_args__parse_size("-1M", &v), -EINVAL);
	ck_assert_int_eq(vmm_args__parse_size("M", &v), -EINVAL);
	ck_assert_int_eq(vmm_args__parse_size("99999999999999999999G", &v), -EINVAL);
	ck_assert_int_eq(vmm_args__parse_size("17179869184G", &v), -EINVAL);
}
END_TEST

START_TEST(test_bad_mem)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--mem", "12Q"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--mem '12Q'"));
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--mem", "1M"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--mem", "4097K"), -EINVAL);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--mem", "2048G"), -EINVAL);
	/* Parsed, then refused by range: the error says so rather than "not a size". */
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--mem", "100T"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--mem", "1T"), 0);
	ck_assert_uint_eq(args.mem_size, 1ULL << 40);
}
END_TEST

START_TEST(test_bad_vcpus)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--vcpus", "0"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--vcpus '0'"));
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--vcpus", "65"), -EINVAL);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--vcpus", "-1"), -EINVAL);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--vcpus", "2x"), -EINVAL);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--vcpus", ""), -EINVAL);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--vcpus", "64"), 0);
	ck_assert_uint_eq(args.nr_vcpus, 64);
}
END_TEST

START_TEST(test_bad_serial)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--serial", "tcp:1"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "stdio or file:PATH"));
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--serial", "file:"), -EINVAL);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--serial", "file:a", "--serial", "stdio"),
			 0);
	ck_assert_int_eq(args.serial, VMM_SERIAL_STDIO);
}
END_TEST

START_TEST(test_pit)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--pit", "off"), 0);
	ck_assert(!args.pit);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--pit=off", "--pit=on"), 0);
	ck_assert(args.pit);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--pit", "no"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--pit 'no'"));
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--pit"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "needs a value"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "--pit on|off"));
}
END_TEST

START_TEST(test_missing_and_unknown)
{
	ck_assert_int_eq(PARSE("run"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "missing --kernel"));
	ck_assert_int_eq(PARSE("run", "--kernel"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "needs a value"));
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--frobnicate"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unknown option '--frobnicate'"));
	ck_assert_int_eq(PARSE("run", "--kernelx=k"), -EINVAL);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "stray"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unexpected argument 'stray'"));
	ck_assert_int_eq(PARSE("boot", "--kernel", "k"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unknown command 'boot'"));
	ck_assert_int_eq(PARSE("run", "--kernel="), -EINVAL);
	{
		char *const argv[] = {"twin-vmm"};

		ck_assert_int_eq(vmm_args__parse(1, argv, &args, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "missing command"));
	}
	/* Errors are one line. */
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(test_help)
{
	ck_assert_int_eq(PARSE("--help"), VMM_ARGS_HELP);
	ck_assert_int_eq(PARSE("run", "-h"), VMM_ARGS_HELP);
	ck_assert_int_eq(PARSE("run", "--vcpus", "1", "--help"), VMM_ARGS_HELP);
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "--kernel FILE"));
}
END_TEST

/* The error is one line and mentions want. */
#define ASSERT_ERR(want)                                                                           \
	do {                                                                                       \
		ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);      \
		ck_assert_ptr_null(strchr(err, '\n'));                                             \
	} while (0)

START_TEST(test_device_defaults)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k"), 0);
	ck_assert_uint_eq(args.nr_nics, 0);
	ck_assert_uint_eq(args.nr_disks, 0);
	ck_assert_ptr_null(args.initrd);
	ck_assert_int_eq(args.console, VMM_CONSOLE_VIRTIO);
}
END_TEST

START_TEST(test_nic)
{
	static const uint8_t mac0[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	static const uint8_t mac1[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};
	static const uint8_t given[6] = {0x52, 0x54, 0x00, 0xab, 0xCD, 0x0f};

	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=tw0"), 0);
	ck_assert_uint_eq(args.nr_nics, 1);
	ck_assert_str_eq(args.nics[0].tap, "tw0");
	ck_assert_str_eq(args.nics[0].bridge, "");
	ck_assert_mem_eq(args.nics[0].mac, mac0, 6);

	ck_assert_int_eq(PARSE("run", "--kernel", "k",
			       "--nic=bridge=br0,mac=52:54:00:AB:cd:0f,tap=tw0", "--nic",
			       "tap=tw1"),
			 0);
	ck_assert_uint_eq(args.nr_nics, 2);
	ck_assert_str_eq(args.nics[0].tap, "tw0");
	ck_assert_str_eq(args.nics[0].bridge, "br0");
	ck_assert_mem_eq(args.nics[0].mac, given, 6);
	/* The default counts NICs, as QEMU does. */
	ck_assert_str_eq(args.nics[1].tap, "tw1");
	ck_assert_mem_eq(args.nics[1].mac, mac1, 6);

	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=a", "--nic", "tap=b", "--nic",
			       "tap=c", "--nic", "tap=0123456789abcde"),
			 0);
	ck_assert_uint_eq(args.nr_nics, 4);
	ck_assert_str_eq(args.nics[3].tap, "0123456789abcde");
}
END_TEST

START_TEST(test_bad_nic)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=a", "--nic", "tap=b", "--nic",
			       "tap=c", "--nic", "tap=d", "--nic", "tap=e"),
			 -EINVAL);
	ASSERT_ERR("at most 4 NICs");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", ""), -EINVAL);
	ASSERT_ERR("--nic needs a value");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic"), -EINVAL);
	ASSERT_ERR("needs a value");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "bridge=br0"), -EINVAL);
	ASSERT_ERR("names no tap");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap="), -EINVAL);
	ASSERT_ERR("is not an interface name");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=0123456789abcdef"), -EINVAL);
	ASSERT_ERR("tap '0123456789abcdef' is not an interface name");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=a/b"), -EINVAL);
	ASSERT_ERR("is not an interface name");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=t,bridge=b r"), -EINVAL);
	ASSERT_ERR("bridge 'b r' is not an interface name");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap"), -EINVAL);
	ASSERT_ERR("'tap' needs a value");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=t,model=e1000"), -EINVAL);
	ASSERT_ERR("unknown key 'model'");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=t,tap=u"), -EINVAL);
	ASSERT_ERR("tap is given twice");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=t,bridge=a,bridge=a"),
			 -EINVAL);
	ASSERT_ERR("bridge is given twice");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=t,"), -EINVAL);
	ASSERT_ERR("needs a value");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=t", "--nic", "tap=t"),
			 -EINVAL);
	ASSERT_ERR("tap=t is given twice");
}
END_TEST

START_TEST(test_bad_mac)
{
	static const char *const malformed[] = {
	    "mac=52:54:00:12:34",     "mac=52:54:00:12:34:5",
	    "mac=52:54:00:12:34:567", "mac=52-54-00-12-34-56",
	    "mac=52:54:00:12:34:zz",  "mac=+2:54:00:12:34:56",
	    "mac= 2:54:00:12:34:56",  "mac=",
	    "mac=0x:54:00:12:34:56",
	};
	char spec[64];

	for (size_t i = 0; i < ARRAY_SIZE(malformed); i++) {
		snprintf(spec, sizeof(spec), "tap=t,%s", malformed[i]);
		ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", spec), -EINVAL);
		ASSERT_ERR("is malformed: use six hex pairs");
	}
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=t,mac=01:00:5e:00:00:01"),
			 -EINVAL);
	ASSERT_ERR("not a unicast address");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=t,mac=00:00:00:00:00:00"),
			 -EINVAL);
	ASSERT_ERR("not a unicast address");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic",
			       "tap=t,mac=52:54:00:12:34:56,mac=52:54:00:12:34:56"),
			 -EINVAL);
	ASSERT_ERR("mac is given twice");
	/* A given MAC may not collide with another NIC's default one. */
	ck_assert_int_eq(
	    PARSE("run", "--kernel", "k", "--nic", "tap=a", "--nic", "tap=b,mac=52:54:00:12:34:56"),
	    -EINVAL);
	ASSERT_ERR("already has mac 52:54:00:12:34:56");
	ck_assert_int_eq(
	    PARSE("run", "--kernel", "k", "--nic", "tap=a,mac=52:54:00:12:34:57", "--nic", "tap=b"),
	    -EINVAL);
	ASSERT_ERR("already has mac 52:54:00:12:34:57");
}
END_TEST

START_TEST(test_disk)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "path=/tmp/a.img"), 0);
	ck_assert_uint_eq(args.nr_disks, 1);
	ck_assert_str_eq(args.disks[0].path, "/tmp/a.img");
	ck_assert(!args.disks[0].readonly);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "path=a.img,readonly",
			       "--disk=readonly,path=b=c.img", "--disk", "path=c", "--disk",
			       "path=d"),
			 0);
	ck_assert_uint_eq(args.nr_disks, 4);
	ck_assert(args.disks[0].readonly);
	ck_assert_str_eq(args.disks[0].path, "a.img");
	ck_assert(args.disks[1].readonly);
	ck_assert_str_eq(args.disks[1].path, "b=c.img");
	ck_assert(!args.disks[3].readonly);
}
END_TEST

START_TEST(test_control)
{
	char longpath[VMM_ARGS_SOCKET_PATH_MAX + 1];

	ck_assert_int_eq(PARSE("run", "--kernel", "k"), 0);
	ck_assert_ptr_null(args.control);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--control", "/run/twin/a.sock"), 0);
	ck_assert_str_eq(args.control, "/run/twin/a.sock");
	ck_assert_int_eq(PARSE("run", "--control=a.sock", "--kernel", "k", "--control=b.sock"), 0);
	ck_assert_str_eq(args.control, "b.sock");
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 2] = '\0';
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--control", longpath), 0);
}
END_TEST

START_TEST(test_bad_control)
{
	char longpath[VMM_ARGS_SOCKET_PATH_MAX + 1];

	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--control", ""), -EINVAL);
	ASSERT_ERR("--control needs a socket path");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--control"), -EINVAL);
	ASSERT_ERR("option --control needs a value");
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--control", longpath), -EINVAL);
	ASSERT_ERR("is longer than 107 bytes");
}
END_TEST

START_TEST(test_bad_disk)
{
	char longpath[VMM_ARGS_PATH_MAX + 8] = "path=";

	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "path=a", "--disk", "path=b",
			       "--disk", "path=c", "--disk", "path=d", "--disk", "path=e"),
			 -EINVAL);
	ASSERT_ERR("at most 4 disks");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", ""), -EINVAL);
	ASSERT_ERR("--disk needs a value");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "a.img"), -EINVAL);
	ASSERT_ERR("unknown option 'a.img'");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "readonly"), -EINVAL);
	ASSERT_ERR("names no image");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "path="), -EINVAL);
	ASSERT_ERR("is empty or longer than 4095 bytes");
	memset(longpath + 5, 'x', VMM_ARGS_PATH_MAX);
	longpath[VMM_ARGS_PATH_MAX + 5] = '\0';
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", longpath), -EINVAL);
	ASSERT_ERR("is empty or longer than 4095 bytes");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "path=a,readonly=on"), -EINVAL);
	ASSERT_ERR("readonly is given twice or in the wrong form");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "path=a,path=b"), -EINVAL);
	ASSERT_ERR("path is given twice");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "path=a,b.img"), -EINVAL);
	ASSERT_ERR("may not contain a comma");
	ck_assert_int_eq(
	    PARSE("run", "--kernel", "k", "--disk", "path=a", "--disk", "path=a,readonly"),
	    -EINVAL);
	ASSERT_ERR("path=a is given twice");
}
END_TEST

START_TEST(test_initrd_console)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--initrd", "i.cpio", "--console", "none"),
			 0);
	ck_assert_str_eq(args.initrd, "i.cpio");
	ck_assert_int_eq(args.console, VMM_CONSOLE_NONE);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--console=none", "--console=virtio"), 0);
	ck_assert_int_eq(args.console, VMM_CONSOLE_VIRTIO);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--initrd="), -EINVAL);
	ASSERT_ERR("--initrd needs a file name");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--initrd"), -EINVAL);
	ASSERT_ERR("needs a value");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--console", "serial"), -EINVAL);
	ASSERT_ERR("--console 'serial' is invalid: use virtio or none (virtio,legacy");
	ck_assert_ptr_nonnull(
	    strstr(vmm_args_usage, "--nic tap=NAME[,mac=52:54:00:xx:xx:xx][,bridge=BR][,legacy]"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "--disk path=FILE[,readonly][,legacy]"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "--console virtio[,legacy]|none"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "--initrd FILE"));
}
END_TEST

/* Devices are modern-only unless a spec says legacy; the flag goes anywhere in it. */
START_TEST(test_legacy)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=a", "--disk", "path=a.img"),
			 0);
	ck_assert(!args.nics[0].legacy);
	ck_assert(!args.disks[0].legacy);
	ck_assert(!args.console_legacy);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "legacy,tap=a", "--nic",
			       "tap=b,mac=52:54:00:00:00:02,legacy", "--nic", "tap=c", "--disk",
			       "path=a.img,legacy", "--disk", "legacy,readonly,path=b.img",
			       "--console", "virtio,legacy"),
			 0);
	ck_assert(args.nics[0].legacy);
	ck_assert_str_eq(args.nics[0].tap, "a");
	ck_assert(args.nics[1].legacy);
	ck_assert_uint_eq(args.nics[1].mac[5], 2);
	ck_assert(!args.nics[2].legacy);
	ck_assert(args.disks[0].legacy);
	ck_assert(!args.disks[0].readonly);
	ck_assert(args.disks[1].legacy);
	ck_assert(args.disks[1].readonly);
	ck_assert_str_eq(args.disks[1].path, "b.img");
	ck_assert_int_eq(args.console, VMM_CONSOLE_VIRTIO);
	ck_assert(args.console_legacy);
	/* The last --console wins whole. */
	ck_assert_int_eq(
	    PARSE("run", "--kernel", "k", "--console=virtio,legacy", "--console=virtio"), 0);
	ck_assert(!args.console_legacy);
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--console=virtio,legacy", "--console=none"),
			 0);
	ck_assert_int_eq(args.console, VMM_CONSOLE_NONE);
	ck_assert(!args.console_legacy);
}
END_TEST

START_TEST(test_bad_legacy)
{
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=a,legacy=on"), -EINVAL);
	ASSERT_ERR(
	    "--nic 'tap=a,legacy=on': legacy is given twice or in the wrong form: use tap=NAME");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=a,legacy,legacy"), -EINVAL);
	ASSERT_ERR("legacy is given twice");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "legacy"), -EINVAL);
	ASSERT_ERR("--nic 'legacy' names no tap: use tap=NAME");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=a,legac"), -EINVAL);
	ASSERT_ERR("'legac' needs a value");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--nic", "tap=a,model=legacy"), -EINVAL);
	ASSERT_ERR(
	    "unknown key 'model': use tap=NAME[,mac=52:54:00:xx:xx:xx][,bridge=BR][,legacy]");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "path=a,legacy=1"), -EINVAL);
	ASSERT_ERR("--disk 'path=a,legacy=1': legacy is given twice or in the wrong form: use "
		   "path=FILE[,readonly][,legacy]");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "legacy,path=a,legacy"), -EINVAL);
	ASSERT_ERR("legacy is given twice");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--disk", "legacy"), -EINVAL);
	ASSERT_ERR("--disk 'legacy' names no image");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--console", "none,legacy"), -EINVAL);
	ASSERT_ERR("--console 'none,legacy' is invalid: use virtio or none (virtio,legacy");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--console", "legacy"), -EINVAL);
	ASSERT_ERR("--console 'legacy' is invalid");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--console", "virtio,legacy,legacy"),
			 -EINVAL);
	ASSERT_ERR("is invalid");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--console", "virtio-legacy"), -EINVAL);
	ASSERT_ERR("is invalid");
}
END_TEST

START_TEST(test_restore)
{
	ck_assert_int_eq(PARSE("restore", "/tmp/vm.twin", "--nic", "tap=a", "--disk", "path=d.img",
			       "--serial", "file:s.log", "--console=none", "--control", "c.sock"),
			 0);
	ck_assert_int_eq(args.command, VMM_CMD_RESTORE);
	ck_assert_str_eq(args.file, "/tmp/vm.twin");
	ck_assert_uint_eq(args.nr_nics, 1);
	ck_assert_uint_eq(args.nr_disks, 1);
	ck_assert_str_eq(args.serial_path, "s.log");
	ck_assert_int_eq(args.console, VMM_CONSOLE_NONE);
	ck_assert_str_eq(args.control, "c.sock");
	ck_assert_ptr_null(args.kernel);
	/* FILE may come after the options. */
	ck_assert_int_eq(PARSE("restore", "--serial=stdio", "vm.twin"), 0);
	ck_assert_str_eq(args.file, "vm.twin");
}
END_TEST

START_TEST(test_bad_restore)
{
	ck_assert_int_eq(PARSE("restore"), -EINVAL);
	ASSERT_ERR("missing FILE: twin-vmm restore needs the file twin-vmm save wrote");
	ck_assert_int_eq(PARSE("restore", "a", "b"), -EINVAL);
	ASSERT_ERR("unexpected argument 'b': twin-vmm restore takes one FILE");
	ck_assert_int_eq(PARSE("restore", ""), -EINVAL);
	ASSERT_ERR("FILE is empty");
	ck_assert_int_eq(PARSE("restore", "f", "--mem", "1G"), -EINVAL);
	ASSERT_ERR("--mem does not apply to twin-vmm restore: the VM's memory, vCPUs and kernel "
		   "come from the saved file");
	ck_assert_int_eq(PARSE("restore", "f", "--kernel=k"), -EINVAL);
	ASSERT_ERR("--kernel does not apply to twin-vmm restore");
	ck_assert_int_eq(PARSE("restore", "f", "--insecure"), -EINVAL);
	ASSERT_ERR("--insecure does not apply to twin-vmm restore: see twin-vmm --help");
	ck_assert_int_eq(PARSE("restore", "f", "--frob"), -EINVAL);
	ASSERT_ERR("unknown option '--frob'");
}
END_TEST

START_TEST(test_incoming)
{
	ck_assert_int_eq(PARSE("incoming", "--listen", "0.0.0.0:4444", "--insecure", "--nic",
			       "tap=a", "--control", "c.sock"),
			 0);
	ck_assert_int_eq(args.command, VMM_CMD_INCOMING);
	ck_assert_str_eq(args.listen, "0.0.0.0:4444");
	ck_assert(args.security.insecure);
	ck_assert_ptr_null(args.security.cert);
	ck_assert_int_eq(PARSE("incoming", "--listen=[::]:0", "--tls-cert", "c.pem", "--tls-key",
			       "k.pem", "--tls-ca=ca.pem"),
			 0);
	ck_assert_str_eq(args.listen, "[::]:0");
	ck_assert_str_eq(args.security.cert, "c.pem");
	ck_assert_str_eq(args.security.key, "k.pem");
	ck_assert_str_eq(args.security.ca, "ca.pem");
	ck_assert(!args.security.insecure);
	ck_assert_int_eq(PARSE("incoming", "--listen", "localhost:1", "--tls-psk", "psk.txt"), 0);
	ck_assert_str_eq(args.security.psk, "psk.txt");
}
END_TEST

START_TEST(test_bad_incoming)
{
	ck_assert_int_eq(PARSE("incoming", "--insecure"), -EINVAL);
	ASSERT_ERR("missing --listen ADDR:PORT");
	ck_assert_int_eq(PARSE("incoming", "--listen", "0.0.0.0:4444"), -EINVAL);
	ASSERT_ERR("twin-vmm incoming needs the connection's security: give --tls-cert, --tls-key "
		   "and --tls-ca, or --tls-psk FILE, or --insecure for plaintext");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--tls-cert", "c", "--tls-ca", "a"),
			 -EINVAL);
	ASSERT_ERR("--tls-cert, --tls-key and --tls-ca go together: --tls-key is missing");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--tls-key", "k", "--tls-ca", "a"),
			 -EINVAL);
	ASSERT_ERR("--tls-cert is missing");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--tls-psk", "p", "--insecure"),
			 -EINVAL);
	ASSERT_ERR("give one of --tls-cert/--tls-key/--tls-ca, --tls-psk or --insecure, not "
		   "several");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--tls-psk", "p", "--tls-ca", "a"),
			 -EINVAL);
	ASSERT_ERR("not several");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--insecure=yes"), -EINVAL);
	ASSERT_ERR("--insecure takes no value");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--tls-psk="), -EINVAL);
	ASSERT_ERR("--tls-psk needs a file name");
	ck_assert_int_eq(PARSE("incoming", "--listen", "4444", "--insecure"), -EINVAL);
	ASSERT_ERR("--listen '4444' is not ADDR:PORT: use e.g. 0.0.0.0:4444");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--insecure", "--vcpus", "2"),
			 -EINVAL);
	ASSERT_ERR("--vcpus does not apply to twin-vmm incoming: the VM's memory, vCPUs and "
		   "kernel come from the migration stream");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--insecure", "--to", "h:2"),
			 -EINVAL);
	ASSERT_ERR("--to does not apply to twin-vmm incoming");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--insecure", "file"), -EINVAL);
	ASSERT_ERR("unexpected argument 'file'");
}
END_TEST

START_TEST(test_host_port)
{
	static const char *const good[] = {"127.0.0.1:4444", "a-b.example_1:65535", "[::1]:1",
					   "[fd00::2]:80", "h:00001"};
	static const char *const bad[] = {"",	      ":80",	"h:",	  "h:0",     "h:65536",
					  "h:123456", "h:8x",	"::1:80", "[::1]80", "[]:80",
					  "[::g]:80", "h h:80", "h:-1",	  "h:+1",    "[::1:80"};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		ck_assert_msg(host_port__valid(good[i], false), "%s", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(!host_port__valid(bad[i], false), "%s", bad[i]);
	/* Port 0 only where a listener may pick one. */
	ck_assert(host_port__valid("0.0.0.0:0", true));
	ck_assert(!host_port__valid("0.0.0.0:0", false));
}
END_TEST

START_TEST(test_save)
{
	ck_assert_int_eq(PARSE("save", "--control", "c.sock", "out.twin"), 0);
	ck_assert_int_eq(args.command, VMM_CMD_SAVE);
	ck_assert_str_eq(args.control, "c.sock");
	ck_assert_str_eq(args.file, "out.twin");
	ck_assert_int_eq(PARSE("save", "out.twin"), -EINVAL);
	ASSERT_ERR("missing --control PATH: twin-vmm save needs the control socket of the twin-vmm "
		   "running the VM");
	ck_assert_int_eq(PARSE("save", "--control", "c.sock"), -EINVAL);
	ASSERT_ERR("missing FILE: twin-vmm save needs the file to write the VM to");
	ck_assert_int_eq(PARSE("save", "--control", "c.sock", "f", "--nic", "tap=a"), -EINVAL);
	ASSERT_ERR("--nic does not apply to twin-vmm save: see twin-vmm --help");
	ck_assert_int_eq(PARSE("save", "--control", "c.sock", "f", "g"), -EINVAL);
	ASSERT_ERR("twin-vmm save takes one FILE");
}
END_TEST

START_TEST(test_migrate)
{
	ck_assert_int_eq(
	    PARSE("migrate", "--control", "c.sock", "--to", "198.18.0.2:4444", "--insecure"), 0);
	ck_assert_int_eq(args.command, VMM_CMD_MIGRATE);
	ck_assert_str_eq(args.to, "198.18.0.2:4444");
	/* The defaults: 30 ms, no cap, lz4, no delta cache. */
	ck_assert_uint_eq(args.migrate.downtime_ms, 30);
	ck_assert_uint_eq(args.migrate.bandwidth_mibs, 0);
	ck_assert_int_eq(args.migrate.compress, VMM_COMPRESS_LZ4);
	ck_assert_uint_eq(args.migrate.xbzrle_mib, 0);
	ck_assert_int_eq(PARSE("migrate", "--to=h:1", "--control=c", "--tls-psk", "p", "--downtime",
			       "60000", "--bandwidth", "100", "--compress", "zlib",
			       "--xbzrle-cache=16"),
			 0);
	ck_assert_uint_eq(args.migrate.downtime_ms, 60000);
	ck_assert_uint_eq(args.migrate.bandwidth_mibs, 100);
	ck_assert_int_eq(args.migrate.compress, VMM_COMPRESS_ZLIB);
	ck_assert_uint_eq(args.migrate.xbzrle_mib, 16);
	ck_assert_int_eq(PARSE("migrate", "--to=h:1", "--control=c", "--insecure", "--compress",
			       "none", "--compress", "lz4"),
			 0);
	ck_assert_str_eq(vmm_args__compress_to_str(args.migrate.compress), "lz4");
	ck_assert_str_eq(vmm_args__compress_to_str(VMM_COMPRESS_NONE), "none");
	/* Disks: neither by default; one of the two. */
	ck_assert(!args.migrate.shared_storage && !args.migrate.copy_storage);
	ck_assert_int_eq(
	    PARSE("migrate", "--to=h:1", "--control=c", "--insecure", "--copy-storage"), 0);
	ck_assert(args.migrate.copy_storage && !args.migrate.shared_storage);
	ck_assert_int_eq(
	    PARSE("migrate", "--to=h:1", "--control=c", "--insecure", "--shared-storage"), 0);
	ck_assert(args.migrate.shared_storage && !args.migrate.copy_storage);
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--insecure", "--shared-storage"), 0);
	ck_assert(args.migrate.shared_storage);
}
END_TEST

#define MIG(...) PARSE("migrate", "--control", "c", "--to", "h:1", "--insecure", __VA_ARGS__)

START_TEST(test_bad_migrate)
{
	ck_assert_int_eq(PARSE("migrate", "--control", "c", "--insecure"), -EINVAL);
	ASSERT_ERR("missing --to HOST:PORT: twin-vmm migrate needs the address of the twin-vmm "
		   "incoming");
	ck_assert_int_eq(PARSE("migrate", "--to", "h:1", "--insecure"), -EINVAL);
	ASSERT_ERR("missing --control PATH: twin-vmm migrate");
	ck_assert_int_eq(PARSE("migrate", "--control", "c", "--to", "h:1"), -EINVAL);
	ASSERT_ERR("twin-vmm migrate needs the connection's security");
	ck_assert_int_eq(PARSE("migrate", "--control", "c", "--to", "h:0", "--insecure"), -EINVAL);
	ASSERT_ERR("--to 'h:0' is not HOST:PORT");
	ck_assert_int_eq(MIG("--shared-storage", "--copy-storage"), -EINVAL);
	ASSERT_ERR("--shared-storage and --copy-storage exclude each other");
	ck_assert_int_eq(MIG("--copy-storage=yes"), -EINVAL);
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--insecure", "--copy-storage"),
			 -EINVAL);
	ck_assert_int_eq(MIG("--downtime", "0"), -EINVAL);
	ASSERT_ERR("--downtime '0' is invalid: use milliseconds from 1 to 60000");
	ck_assert_int_eq(MIG("--downtime", "60001"), -EINVAL);
	ck_assert_int_eq(MIG("--downtime", "30ms"), -EINVAL);
	ck_assert_int_eq(MIG("--downtime", "-5"), -EINVAL);
	ck_assert_int_eq(MIG("--bandwidth", "1048577"), -EINVAL);
	ASSERT_ERR(
	    "--bandwidth '1048577' is invalid: use MiB/s from 1 to 1048576, or 0 for no cap");
	ck_assert_int_eq(MIG("--bandwidth", "1.5"), -EINVAL);
	ck_assert_int_eq(MIG("--compress", "gzip"), -EINVAL);
	ASSERT_ERR("--compress 'gzip' is invalid: use lz4, zlib or none");
	ck_assert_int_eq(MIG("--xbzrle-cache", "65537"), -EINVAL);
	ASSERT_ERR("--xbzrle-cache '65537' is invalid: use MiB from 1 to 65536, or 0 for no delta");
	ck_assert_int_eq(MIG("--xbzrle-cache"), -EINVAL);
	ASSERT_ERR("option --xbzrle-cache needs a value");
	ck_assert_int_eq(MIG("--serial", "stdio"), -EINVAL);
	ASSERT_ERR("--serial does not apply to twin-vmm migrate");
	ck_assert_int_eq(MIG("--listen", "h:2"), -EINVAL);
	ASSERT_ERR("--listen does not apply to twin-vmm migrate");
	ck_assert_int_eq(MIG("extra"), -EINVAL);
	ASSERT_ERR("unexpected argument 'extra'");
	/* Migration options do not apply to run. */
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--downtime", "5"), -EINVAL);
	ASSERT_ERR("--downtime does not apply to twin-vmm run");
	ck_assert_int_eq(PARSE("migrat", "--to", "h:1"), -EINVAL);
	ASSERT_ERR("unknown command 'migrat': use run, restore, incoming, save, migrate, protect, "
		   "unprotect, set-replication, query-replication, failover, fence, unfence, "
		   "degrade or backup");
}
END_TEST

START_TEST(test_protect)
{
	ck_assert_int_eq(PARSE("protect", "--control", "/run/vm.sock", "--peer", "198.18.0.2:4444",
			       "--tls-psk", "k.psk"),
			 0);
	ck_assert_int_eq(args.command, VMM_CMD_PROTECT);
	ck_assert_str_eq(args.control, "/run/vm.sock");
	ck_assert_str_eq(args.repl.peer, "198.18.0.2:4444");
	ck_assert_str_eq(args.security.psk, "k.psk");
	/* Not given: the engine's defaults hold (0 and false say so). */
	ck_assert(!args.repl.mode_set);
	ck_assert_uint_eq(args.repl.interval_ms, 0);
	ck_assert_uint_eq(args.repl.min_spacing_ms, 0);
	ck_assert_uint_eq(args.repl.timeout_ms, 0);
	ck_assert_int_eq(args.migrate.compress, VMM_COMPRESS_LZ4);
	ck_assert_int_eq(PARSE("protect", "--control", "c", "--peer=[fd00::2]:1", "--insecure",
			       "--mode", "hybrid", "--interval=100", "--min-spacing", "5",
			       "--timeout", "2500", "--compress", "zlib", "--xbzrle-cache", "64"),
			 0);
	ck_assert(args.repl.mode_set);
	ck_assert_int_eq(args.repl.mode, REPL_MODE_HYBRID);
	ck_assert_uint_eq(args.repl.interval_ms, 100);
	ck_assert_uint_eq(args.repl.min_spacing_ms, 5);
	ck_assert_uint_eq(args.repl.timeout_ms, 2500);
	ck_assert_int_eq(args.migrate.compress, VMM_COMPRESS_ZLIB);
	ck_assert_uint_eq(args.migrate.xbzrle_mib, 64);
	ck_assert(args.security.insecure);
	ck_assert_int_eq(
	    PARSE("protect", "--control", "c", "--peer", "h:1", "--insecure", "--mode", "event"),
	    0);
	ck_assert_int_eq(args.repl.mode, REPL_MODE_EVENT);
	ck_assert(!args.repl.cluster);
	/* Cluster-managed: a flag, protect's only. */
	ck_assert_int_eq(
	    PARSE("protect", "--control", "c", "--peer", "h:1", "--insecure", "--cluster"), 0);
	ck_assert(args.repl.cluster);
	ck_assert_int_eq(
	    PARSE("protect", "--control", "c", "--peer", "h:1", "--insecure", "--cluster=yes"),
	    -EINVAL);
	ASSERT_ERR("--cluster takes no value: give it alone");
	ck_assert_int_eq(PARSE("backup", "--listen", "h:1", "--insecure", "--cluster"), -EINVAL);
	ASSERT_ERR("--cluster does not apply to twin-vmm backup");
}
END_TEST

#define PROT(...) PARSE("protect", "--control", "c", "--peer", "h:1", "--insecure", __VA_ARGS__)

START_TEST(test_bad_protect)
{
	ck_assert_int_eq(PARSE("protect", "--control", "c", "--insecure"), -EINVAL);
	ASSERT_ERR("missing --peer HOST:PORT: twin-vmm protect needs the address of the twin-vmm "
		   "backup");
	ck_assert_int_eq(PARSE("protect", "--peer", "h:1", "--insecure"), -EINVAL);
	ASSERT_ERR("missing --control PATH: twin-vmm protect needs the control socket of the "
		   "twin-vmm running the VM");
	ck_assert_int_eq(PARSE("protect", "--control", "c", "--peer", "h:1"), -EINVAL);
	ASSERT_ERR("twin-vmm protect needs the connection's security");
	ck_assert_int_eq(
	    PARSE("protect", "--control", "c", "--peer", "h:1", "--insecure", "--tls-psk", "p"),
	    -EINVAL);
	ASSERT_ERR("twin-vmm protect: give one of");
	ck_assert_int_eq(PARSE("protect", "--control", "c", "--peer", "h:0", "--insecure"),
			 -EINVAL);
	ASSERT_ERR("--peer 'h:0' is not HOST:PORT: use the twin-vmm backup's address");
	ck_assert_int_eq(PROT("--mode", "remus"), -EINVAL);
	ASSERT_ERR("--mode 'remus' is invalid: use epoch, event or hybrid");
	ck_assert_int_eq(PROT("--interval", "0"), -EINVAL);
	ASSERT_ERR("--interval '0' is invalid: use milliseconds from 1 to 60000");
	ck_assert_int_eq(PROT("--interval", "60001"), -EINVAL);
	ck_assert_int_eq(PROT("--interval", "25ms"), -EINVAL);
	ck_assert_int_eq(PROT("--min-spacing", "0"), -EINVAL);
	ASSERT_ERR("--min-spacing '0' is invalid: use milliseconds from 1 to 60000");
	ck_assert_int_eq(PROT("--timeout", "199"), -EINVAL);
	ASSERT_ERR("--timeout '199' is invalid: use milliseconds from 200 (twice the heartbeat) "
		   "to 3600000");
	ck_assert_int_eq(PROT("--timeout", "3600001"), -EINVAL);
	ck_assert_int_eq(PROT("--mode"), -EINVAL);
	ASSERT_ERR("option --mode needs a value");
	/* Options of other commands, refused by name. */
	ck_assert_int_eq(PROT("--to", "h:2"), -EINVAL);
	ASSERT_ERR("--to does not apply to twin-vmm protect");
	ck_assert_int_eq(PROT("--downtime", "5"), -EINVAL);
	ASSERT_ERR("--downtime does not apply to twin-vmm protect");
	ck_assert_int_eq(PROT("--copy-storage"), -EINVAL);
	ASSERT_ERR("--copy-storage does not apply to twin-vmm protect");
	ck_assert_int_eq(PROT("--shared-storage"), -EINVAL);
	ASSERT_ERR("--shared-storage does not apply to twin-vmm protect");
	ck_assert_int_eq(PROT("--auto-failover"), -EINVAL);
	ASSERT_ERR("--auto-failover does not apply to twin-vmm protect");
	ck_assert_int_eq(PROT("--listen", "h:2"), -EINVAL);
	ASSERT_ERR("--listen does not apply to twin-vmm protect");
	ck_assert_int_eq(PROT("--disk", "path=x"), -EINVAL);
	ASSERT_ERR("--disk does not apply to twin-vmm protect");
	ck_assert_int_eq(PROT("extra"), -EINVAL);
	ASSERT_ERR("unexpected argument 'extra'");
	/* Replication options do not apply elsewhere. */
	ck_assert_int_eq(MIG("--peer", "h:2"), -EINVAL);
	ASSERT_ERR("--peer does not apply to twin-vmm migrate");
	ck_assert_int_eq(MIG("--mode", "epoch"), -EINVAL);
	ASSERT_ERR("--mode does not apply to twin-vmm migrate");
	ck_assert_int_eq(PARSE("run", "--kernel", "k", "--interval", "5"), -EINVAL);
	ASSERT_ERR("--interval does not apply to twin-vmm run");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--insecure", "--auto-failover"),
			 -EINVAL);
	ASSERT_ERR("--auto-failover does not apply to twin-vmm incoming");
	ck_assert_int_eq(PARSE("incoming", "--listen", "h:1", "--insecure", "--timeout", "500"),
			 -EINVAL);
	ASSERT_ERR("--timeout does not apply to twin-vmm incoming");
}
END_TEST

START_TEST(test_control_clients)
{
	static char *const cmds[] = {"unprotect", "query-replication", "failover",
				     "fence",	  "unfence",	       "degrade"};
	static const enum vmm_command want[] = {VMM_CMD_UNPROTECT, VMM_CMD_QUERY_REPLICATION,
						VMM_CMD_FAILOVER,  VMM_CMD_FENCE,
						VMM_CMD_UNFENCE,   VMM_CMD_DEGRADE};

	for (int i = 0; i < 6; i++) {
		ck_assert_int_eq(PARSE(cmds[i], "--control", "/run/vm.sock"), 0);
		ck_assert_int_eq(args.command, want[i]);
		ck_assert_str_eq(args.control, "/run/vm.sock");
		ck_assert_int_eq(PARSE(cmds[i]), -EINVAL);
		ASSERT_ERR("missing --control PATH");
		/* None takes anything but --control. */
		ck_assert_int_eq(PARSE(cmds[i], "--control", "c", "--mode", "epoch"), -EINVAL);
		ASSERT_ERR("--mode does not apply to twin-vmm");
		ck_assert_int_eq(PARSE(cmds[i], "--control", "c", "--insecure"), -EINVAL);
		ASSERT_ERR("--insecure does not apply to twin-vmm");
		ck_assert_int_eq(PARSE(cmds[i], "--control", "c", "--peer", "h:1"), -EINVAL);
		ASSERT_ERR("--peer does not apply to twin-vmm");
		ck_assert_int_eq(PARSE(cmds[i], "--control", "c", "x"), -EINVAL);
		ASSERT_ERR("unexpected argument 'x'");
		ck_assert_int_eq(PARSE(cmds[i], "--control", "c", "--cluster"), -EINVAL);
		ASSERT_ERR("--cluster does not apply to twin-vmm");
	}
	ck_assert_int_eq(PARSE("failover"), -EINVAL);
	ASSERT_ERR("missing --control PATH: twin-vmm failover needs the control socket of the "
		   "twin-vmm backup");
}
END_TEST

START_TEST(test_set_replication)
{
	ck_assert_int_eq(PARSE("set-replication", "--control", "c", "--mode", "event"), 0);
	ck_assert_int_eq(args.command, VMM_CMD_SET_REPLICATION);
	ck_assert(args.repl.mode_set);
	ck_assert_int_eq(args.repl.mode, REPL_MODE_EVENT);
	ck_assert_uint_eq(args.repl.interval_ms, 0);
	ck_assert_int_eq(
	    PARSE("set-replication", "--control", "c", "--interval", "10", "--min-spacing", "3"),
	    0);
	ck_assert(!args.repl.mode_set);
	ck_assert_uint_eq(args.repl.interval_ms, 10);
	ck_assert_uint_eq(args.repl.min_spacing_ms, 3);
	ck_assert_int_eq(PARSE("set-replication", "--control", "c"), -EINVAL);
	ASSERT_ERR("twin-vmm set-replication changes nothing: give --mode, --interval or "
		   "--min-spacing");
	ck_assert_int_eq(PARSE("set-replication", "--mode", "event"), -EINVAL);
	ASSERT_ERR("missing --control PATH: twin-vmm set-replication");
	ck_assert_int_eq(PARSE("set-replication", "--control", "c", "--mode", "fast"), -EINVAL);
	ASSERT_ERR("--mode 'fast' is invalid");
	ck_assert_int_eq(PARSE("set-replication", "--control", "c", "--timeout", "500"), -EINVAL);
	ASSERT_ERR("--timeout does not apply to twin-vmm set-replication");
	ck_assert_int_eq(PARSE("set-replication", "--control", "c", "--peer", "h:1"), -EINVAL);
	ASSERT_ERR("--peer does not apply to twin-vmm set-replication");
	ck_assert_int_eq(PARSE("set-replication", "--control", "c", "--compress", "lz4"), -EINVAL);
	ASSERT_ERR("--compress does not apply to twin-vmm set-replication");
}
END_TEST

START_TEST(test_backup)
{
	ck_assert_int_eq(PARSE("backup", "--listen", "0.0.0.0:4444", "--tls-cert", "c.pem",
			       "--tls-key", "k.pem", "--tls-ca", "ca.pem", "--nic", "tap=tb0",
			       "--disk", "path=b.img", "--serial", "file:/tmp/b.log", "--control",
			       "/run/b.sock"),
			 0);
	ck_assert_int_eq(args.command, VMM_CMD_BACKUP);
	ck_assert_str_eq(args.listen, "0.0.0.0:4444");
	ck_assert_str_eq(args.security.cert, "c.pem");
	ck_assert_uint_eq(args.nr_nics, 1);
	ck_assert_uint_eq(args.nr_disks, 1);
	ck_assert_str_eq(args.control, "/run/b.sock");
	ck_assert(!args.repl.auto_failover);
	ck_assert_uint_eq(args.repl.timeout_ms, 0);
	ck_assert_int_eq(PARSE("backup", "--listen", "[::]:0", "--insecure", "--auto-failover",
			       "--timeout", "300"),
			 0);
	ck_assert(args.repl.auto_failover);
	ck_assert_uint_eq(args.repl.timeout_ms, 300);
}
END_TEST

#define BAK(...) PARSE("backup", "--listen", "h:1", "--insecure", __VA_ARGS__)

START_TEST(test_bad_backup)
{
	ck_assert_int_eq(PARSE("backup", "--insecure"), -EINVAL);
	ASSERT_ERR("missing --listen ADDR:PORT: twin-vmm backup needs the address to wait on");
	ck_assert_int_eq(PARSE("backup", "--listen", "h:1"), -EINVAL);
	ASSERT_ERR("twin-vmm backup needs the connection's security");
	ck_assert_int_eq(PARSE("backup", "--listen", "h:1", "--tls-cert", "c"), -EINVAL);
	ASSERT_ERR("twin-vmm backup: --tls-cert, --tls-key and --tls-ca go together");
	ck_assert_int_eq(BAK("--auto-failover=yes"), -EINVAL);
	ASSERT_ERR("--auto-failover takes no value");
	ck_assert_int_eq(BAK("--timeout", "100"), -EINVAL);
	ASSERT_ERR("--timeout '100' is invalid");
	/* The VM comes from the primary's stream. */
	ck_assert_int_eq(BAK("--mem", "1G"), -EINVAL);
	ASSERT_ERR("--mem does not apply to twin-vmm backup: the VM's memory, vCPUs and kernel "
		   "come from the primary's replication stream");
	ck_assert_int_eq(BAK("--kernel", "k"), -EINVAL);
	ASSERT_ERR("--kernel does not apply to twin-vmm backup");
	/* Options of other commands, refused by name. */
	ck_assert_int_eq(BAK("--shared-storage"), -EINVAL);
	ASSERT_ERR("--shared-storage does not apply to twin-vmm backup");
	ck_assert_int_eq(BAK("--peer", "h:2"), -EINVAL);
	ASSERT_ERR("--peer does not apply to twin-vmm backup");
	ck_assert_int_eq(BAK("--mode", "epoch"), -EINVAL);
	ASSERT_ERR("--mode does not apply to twin-vmm backup");
	ck_assert_int_eq(BAK("--interval", "5"), -EINVAL);
	ASSERT_ERR("--interval does not apply to twin-vmm backup");
	ck_assert_int_eq(BAK("--compress", "lz4"), -EINVAL);
	ASSERT_ERR("--compress does not apply to twin-vmm backup");
	ck_assert_int_eq(BAK("--to", "h:2"), -EINVAL);
	ASSERT_ERR("--to does not apply to twin-vmm backup");
	ck_assert_int_eq(BAK("file"), -EINVAL);
	ASSERT_ERR("unexpected argument 'file'");
}
END_TEST

START_TEST(test_usage_commands)
{
	ck_assert_int_eq(PARSE("migrate", "--help"), VMM_ARGS_HELP);
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm restore FILE"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm incoming --listen ADDR:PORT"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm save --control PATH FILE"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm migrate --control PATH --to"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "--xbzrle-cache MiB"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm protect --control PATH --peer"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm unprotect --control PATH"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm set-replication --control PATH"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm query-replication --control"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm failover --control PATH"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm fence|unfence|degrade --control"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "[--cluster]"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "twin-vmm backup --listen ADDR:PORT"));
	/* The warning the issue asks for, in the help text itself. */
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "UNSAFE under a network"));
	ck_assert_ptr_nonnull(strstr(vmm_args_usage, "both copies would run"));
	ck_assert_int_eq(PARSE("backup", "-h"), VMM_ARGS_HELP);
}
END_TEST

Suite *vmm_args_suite(void)
{
	Suite *s = suite_create("vmm_args");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_all_options);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_bad_mem);
	tcase_add_test(tc, test_bad_vcpus);
	tcase_add_test(tc, test_bad_serial);
	tcase_add_test(tc, test_pit);
	tcase_add_test(tc, test_missing_and_unknown);
	tcase_add_test(tc, test_help);
	tcase_add_test(tc, test_device_defaults);
	tcase_add_test(tc, test_nic);
	tcase_add_test(tc, test_bad_nic);
	tcase_add_test(tc, test_bad_mac);
	tcase_add_test(tc, test_disk);
	tcase_add_test(tc, test_bad_disk);
	tcase_add_test(tc, test_control);
	tcase_add_test(tc, test_bad_control);
	tcase_add_test(tc, test_initrd_console);
	tcase_add_test(tc, test_legacy);
	tcase_add_test(tc, test_bad_legacy);
	tcase_add_test(tc, test_restore);
	tcase_add_test(tc, test_bad_restore);
	tcase_add_test(tc, test_incoming);
	tcase_add_test(tc, test_bad_incoming);
	tcase_add_test(tc, test_host_port);
	tcase_add_test(tc, test_save);
	tcase_add_test(tc, test_migrate);
	tcase_add_test(tc, test_bad_migrate);
	tcase_add_test(tc, test_protect);
	tcase_add_test(tc, test_bad_protect);
	tcase_add_test(tc, test_control_clients);
	tcase_add_test(tc, test_set_replication);
	tcase_add_test(tc, test_backup);
	tcase_add_test(tc, test_bad_backup);
	tcase_add_test(tc, test_usage_commands);
	suite_add_tcase(s, tc);
	return s;
}
