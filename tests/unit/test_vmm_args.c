/* Unit tests for twin-vmm's command-line parser (tools/vmm_args.c). */
#include <errno.h>
#include <string.h>
#include "suites.h"
#include "vmm_args.h"
#include "util.h"

static char err[256];
static struct vmm_args args;

#define PARSE(...)                                                                                 \
	({                                                                                         \
		char *const argv_[] = {"twin-vmm", __VA_ARGS__};                                   \
		vmm_args__parse(ARRAY_SIZE(argv_), argv_, &args, err, sizeof(err)); \
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
	suite_add_tcase(s, tc);
	return s;
}
