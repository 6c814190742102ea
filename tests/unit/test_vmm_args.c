/* Unit tests for twin-vmm's command-line parser (tools/vmm_args.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "suites.h"
#include "vmm_args.h"
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
	ASSERT_ERR("--nic 'tap=a,legacy=on': legacy is given twice or in the wrong form: use tap=NAME");
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
	suite_add_tcase(s, tc);
	return s;
}
