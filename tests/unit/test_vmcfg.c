/* Unit tests for the VM config parser (tools/vmcfg.c): a good file, each error with its line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "suites.h"
#include "vmcfg.h"

static char err[512];
static struct vmcfg cfg;

static int parse(const char *text)
{
	return vmcfg__parse_text(text, strlen(text), "kv1.cfg", &cfg, err, sizeof(err));
}

#define HEAD "name = kv1\nmemory = 64\nkernel = /k.elf\n"

static const char good[] = "# the kv guest, protected\n"
			   "name = kv1\n"
			   "  memory = 64\n"
			   "vcpus = 2\n"
			   "kernel = \"/usr/lib/twin/kv.elf\"\n"
			   "cmdline = \" ip=198.18.2.10/24 port=7777 # \"   ; kept whole\n"
			   "\n"
			   "disk = path=/var/lib/twin/%h/kv1.img\n"
			   "disk = readonly,path=/srv/100%%.img,legacy\n"
			   "nic = mac=52:54:00:00:00:10,bridge=tl-lan\n"
			   "nic =\n"
			   "protect = yes\r\n"
			   "mode = hybrid\n"
			   "interval_ms = 40\n"
			   "probe = 198.18.2.10:7777";

START_TEST(test_good)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0, 0, 0, 0x10};

	ck_assert_msg(parse(good) == 0, "%s", err);
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(cfg.name, "kv1");
	ck_assert_uint_eq(cfg.memory_mib, 64);
	ck_assert_uint_eq(cfg.vcpus, 2);
	ck_assert_str_eq(cfg.kernel, "/usr/lib/twin/kv.elf");
	ck_assert_str_eq(cfg.cmdline, " ip=198.18.2.10/24 port=7777 # ");
	ck_assert_uint_eq(cfg.nr_disks, 2);
	ck_assert_str_eq(cfg.disks[0].path, "/var/lib/twin/%h/kv1.img");
	ck_assert(!cfg.disks[0].readonly && !cfg.disks[0].legacy);
	ck_assert_str_eq(cfg.disks[1].path, "/srv/100%%.img");
	ck_assert(cfg.disks[1].readonly && cfg.disks[1].legacy);
	ck_assert_uint_eq(cfg.nr_nics, 2);
	ck_assert(cfg.nics[0].has_mac);
	ck_assert_mem_eq(cfg.nics[0].mac, mac, 6);
	ck_assert_str_eq(cfg.nics[0].bridge, "tl-lan");
	ck_assert(!cfg.nics[1].has_mac && !cfg.nics[1].bridge[0]);
	ck_assert(cfg.protect);
	ck_assert_int_eq(cfg.mode, VMCFG_MODE_HYBRID);
	ck_assert_uint_eq(cfg.interval_ms, 40);
	ck_assert_str_eq(cfg.probe, "198.18.2.10:7777");
}
END_TEST

START_TEST(test_defaults)
{
	ck_assert_msg(parse(HEAD) == 0, "%s", err);
	ck_assert_uint_eq(cfg.vcpus, 1);
	ck_assert_str_eq(cfg.cmdline, "");
	ck_assert_uint_eq(cfg.nr_disks, 0);
	ck_assert_uint_eq(cfg.nr_nics, 0);
	ck_assert(!cfg.protect);
	ck_assert_int_eq(cfg.mode, VMCFG_MODE_EPOCH);
	ck_assert_uint_eq(cfg.interval_ms, VMCFG_DEFAULT_INTERVAL);
	ck_assert_str_eq(cfg.probe, "");
}
END_TEST

/* Rendered text parses back into the very same struct. */
START_TEST(test_render_round_trip)
{
	struct vmcfg first;
	char *text;

	ck_assert_int_eq(parse(good), 0);
	first = cfg;
	text = vmcfg__render(&first);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(parse(text) == 0, "%s in:\n%s", err, text);
	ck_assert_mem_eq(&first, &cfg, sizeof(cfg));
	ck_assert_ptr_nonnull(strstr(text, "cmdline = \" ip=198.18.2.10/24 port=7777 # \"\n"));
	ck_assert_ptr_nonnull(strstr(text, "disk = path=/srv/100%%.img,readonly,legacy\n"));
	free(text);
}
END_TEST

START_TEST(test_expand_host)
{
	char out[64];

	ck_assert_int_eq(vmcfg__expand_host("/var/lib/twin/%h/kv1.img", "h2", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/var/lib/twin/h2/kv1.img");
	ck_assert_int_eq(vmcfg__expand_host("/a/100%%-%h%h", "x", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/a/100%-xx");
	ck_assert_int_eq(vmcfg__expand_host("/a/%h", "h1", out, 6), 0);
	ck_assert_str_eq(out, "/a/h1");
	ck_assert_int_eq(vmcfg__expand_host("/a/%h", "h1", out, 5), -ENAMETOOLONG);
	ck_assert_int_eq(vmcfg__expand_host("/a/%x", "h1", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(vmcfg__expand_host("/a/%", "h1", out, sizeof(out)), -EINVAL);
}
END_TEST

/* Each bad config: its text and the start of the one error line it must give. */
static const struct bad {
	const char *text, *err;
} bads[] = {
    {HEAD "colour = red\n", "kv1.cfg:4: unknown key 'colour': use name, memory,"},
    {HEAD "memory = 64M\n", "kv1.cfg:4: memory is given twice (first on line 2): give it once"},
    {"name = kv1\nmemory = 1\nkernel = /k\n",
     "kv1.cfg:2: memory '1' is invalid: use MiB from 2 to"},
    {"name = kv1\nmemory = 64M\nkernel = /k\n", "kv1.cfg:2: memory '64M' is invalid"},
    {HEAD "vcpus = 65\n", "kv1.cfg:4: vcpus '65' is invalid: use a count from 1 to 64"},
    {HEAD "vcpus = -1\n", "kv1.cfg:4: vcpus '-1' is invalid"},
    {"name = KV1\n", "kv1.cfg:1: name 'KV1' is invalid: use 1 to 32 characters of a-z"},
    {"name = -kv\n", "kv1.cfg:1: name '-kv' is invalid"},
    {"name = a23456789012345678901234567890123\n", "kv1.cfg:1: name 'a2345"},
    {"name = kv 1\n", "kv1.cfg:1: name 'kv 1' is invalid"},
    {"memory = 64\nkernel = /k\n", "kv1.cfg:2: name is missing: add a line like name = kv1"},
    {"name = kv1\nmemory = 64\n\n# end\n",
     "kv1.cfg:4: kernel is missing: add a line like kernel ="},
    {"name = kv1\nkernel = /k\n", "kv1.cfg:2: memory is missing: add a line like memory = 64"},
    {"", "kv1.cfg:1: name is missing"},
    {"name = kv1\nmemory = 64\nkernel = k.elf\n",
     "kv1.cfg:3: kernel 'k.elf' is not an absolute path"},
    {HEAD "disk = /img\n", "kv1.cfg:4: disk '/img': unknown item '/img': use path="},
    {HEAD "disk = path=img\n", "kv1.cfg:4: disk 'path=img': path is not an absolute path"},
    {HEAD "disk = path=\n", "kv1.cfg:4: disk 'path=': path is empty"},
    {HEAD "disk = readonly\n", "kv1.cfg:4: disk 'readonly' names no image"},
    {HEAD "disk = path=/a,path=/b\n", "kv1.cfg:4: disk 'path=/a,path=/b': path is given twice"},
    {HEAD "disk = path=/a,readonly,readonly\n", "kv1.cfg:4: disk 'path=/a,readonly,readonly': "
						"readonly is given twice"},
    {HEAD "disk = path=/a/%d.img\n", "kv1.cfg:4: disk 'path=/a/%d.img': a % other than %h"},
    {HEAD "disk = path=/1\ndisk = path=/2\ndisk = path=/3\ndisk = path=/4\ndisk = path=/5\n",
     "kv1.cfg:8: a disk too many: a VM has at most 4 disks"},
    {HEAD "nic = tap=tw0\n", "kv1.cfg:4: nic 'tap=tw0': unknown item 'tap': use [mac="},
    {HEAD "nic = mac=52:54:00:00:00\n", "kv1.cfg:4: nic 'mac=52:54:00:00:00': mac "
					"'52:54:00:00:00' is malformed"},
    {HEAD "nic = mac=53:54:00:00:00:01\n", "kv1.cfg:4: nic 'mac=53:54:00:00:00:01': mac "
					   "'53:54:00:00:00:01' is not a unicast address"},
    {HEAD "nic = bridge=a/b\n", "kv1.cfg:4: nic 'bridge=a/b': bridge is given twice or is not "
				"an interface name"},
    {HEAD "nic = bridge=sixteen-chars-br\n", "kv1.cfg:4: nic 'bridge=sixteen-chars-br': bridge"},
    {HEAD "nic = mac=52:54:00:00:00:01\nnic = mac=52:54:00:00:00:01\n",
     "kv1.cfg:5: nic 'mac=52:54:00:00:00:01': another nic already has this mac"},
    {HEAD "nic =\nnic =\nnic =\nnic =\nnic =\n", "kv1.cfg:8: a nic too many: a VM has at most 4"},
    {HEAD "protect = maybe\n", "kv1.cfg:4: protect 'maybe' is invalid: use yes or no"},
    {HEAD "mode = fast\n", "kv1.cfg:4: mode 'fast' is invalid: use epoch, event or hybrid"},
    {HEAD "interval_ms = 0\n", "kv1.cfg:4: interval_ms '0' is invalid: use milliseconds from 1"},
    {HEAD "probe = 198.18.2.10\n", "kv1.cfg:4: probe '198.18.2.10' is not ADDR:PORT"},
    {HEAD "[vm]\n", "kv1.cfg:4: a [section] line: a VM config has no sections"},
    {HEAD "memory: 64\n", "kv1.cfg:4: not a key = value line"},
    {HEAD "just words\n", "kv1.cfg:4: not a key = value line"},
    {HEAD "= 5\n", "kv1.cfg:4: not a key = value line"},
    {HEAD "vcpus ; = 5\n", "kv1.cfg:4: not a key = value line"},
    {HEAD "memory = 64 # MiB\n", "kv1.cfg:4: '#' after the value: '#' starts a comment only at "
				 "the start of a line: end a line's comment with ' ;' instead"},
    {HEAD "cmdline = #x\n", "kv1.cfg:4: '#' after the value"},
    {HEAD "cmdline = a\x01"
	  "b\n",
     "kv1.cfg:4: a control character (0x01)"},
    {HEAD "cmdline = \xc3\x28\n", "kv1.cfg:4: not UTF-8 text"},
    {HEAD "cmdline = \xed\xa0\x80\n", "kv1.cfg:4: not UTF-8 text"},
    {HEAD "cmdline = "
	  "012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
	  "456789012345678901234567890123456789012345678901234567890123456789012345678901234567"
	  "89012345678901234567\n",
     "kv1.cfg:4: cmdline's value is longer than 182 characters"},
    {HEAD "# "
	  "012345678901234567890123456789012345678901234567890123456789012345678901234567890123"
	  "456789012345678901234567890123456789012345678901234567890123456789012345678901234567"
	  "890123456789012345678901234567890\n",
     "kv1.cfg:4: the line is longer than 198 characters"},
};

START_TEST(test_bad)
{
	const struct bad *b = &bads[_i];

	ck_assert_msg(parse(b->text) == -EINVAL, "accepted: %s", b->text);
	ck_assert_msg(!strncmp(err, b->err, strlen(b->err)), "got '%s', want '%s...'", err, b->err);
	ck_assert_msg(!strchr(err, '\n'), "two lines: %s", err);
	/* Every error says the fix after the problem. */
	ck_assert_msg(strstr(err + strlen("kv1.cfg:N: "), ": "), "no fix: %s", err);
}
END_TEST

/* A NUL ends nothing: the text's length is what counts, and a NUL is refused. */
START_TEST(test_nul)
{
	static const char text[] = HEAD "cmdline = a\0b\n";

	ck_assert_int_eq(vmcfg__parse_text(text, sizeof(text) - 1, "f", &cfg, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err,
			 "f:4: a control character (0x00): a VM config is plain text: remove it");
}
END_TEST

START_TEST(test_too_large)
{
	size_t n = VMCFG_TEXT_MAX + 1;
	char *text = malloc(n);

	memset(text, '\n', n);
	ck_assert_int_eq(vmcfg__parse_text(text, n, "f", &cfg, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err,
			 "f:1: the file is larger than 4095 bytes: a VM config is a few lines");
	free(text);
}
END_TEST

START_TEST(test_load)
{
	char path[] = "/tmp/test-vmcfg-XXXXXX", *text = NULL;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	close(fd);
	ck_assert_msg(vmcfg__load(path, &cfg, &text, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(text, good);
	free(text);
	unlink(path);
	ck_assert_int_eq(vmcfg__load(path, &cfg, &text, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_null(text);
	ck_assert_ptr_nonnull(strstr(err, ": cannot read the VM config: No such file"));
}
END_TEST

Suite *vmcfg_suite(void)
{
	Suite *s = suite_create("vmcfg");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_render_round_trip);
	tcase_add_test(tc, test_expand_host);
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bads) / sizeof(bads[0]));
	tcase_add_test(tc, test_nul);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_load);
	suite_add_tcase(s, tc);
	return s;
}
