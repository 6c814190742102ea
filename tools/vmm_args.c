/* twin-vmm's command line: a hand-rolled pure parser with one clear error line per mistake. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm_args.h"
#include "tap.h"
#include "util.h"

/* The forms of the device options, for usage and error lines. */
#define NIC_SPEC  "tap=NAME[,mac=52:54:00:xx:xx:xx][,bridge=BR][,legacy]"
#define DISK_SPEC "path=FILE[,readonly][,legacy]"

const char vmm_args_usage[] =
    "usage: twin-vmm run --kernel FILE [--initrd FILE] [--mem SIZE] [--vcpus N]\n"
    "                    [--cmdline STR] [--serial stdio|file:PATH] [--pit on|off]\n"
    "                    [--nic " NIC_SPEC "]...\n"
    "                    [--disk " DISK_SPEC "]...\n"
    "                    [--console virtio[,legacy]|none] [--control PATH]\n"
    "  --kernel FILE    kernel to boot: a PVH ELF or a bzImage (required)\n"
    "  --initrd FILE    initial ramdisk handed to the kernel\n"
    "  --mem SIZE       guest RAM with K, M, G or T suffix; a bare number is MiB (default 256M)\n"
    "  --vcpus N        number of vCPUs, 1 to 64 (default 1)\n"
    "  --cmdline STR    kernel command line\n"
    "  --serial SINK    where the 8250 and debug console go: stdio (default) or file:PATH\n"
    "  --pit on|off     in-kernel i8254 PIT (default on); off is like QEMU microvm pit=off\n"
    "  --nic SPEC       virtio-net on TAP NAME, created if missing (then removed at exit)\n"
    "                   and attached to bridge BR if given; the MAC defaults to\n"
    "                   52:54:00:12:34:56, +1 for each further --nic; up to 4 NICs\n"
    "  --disk SPEC      virtio-blk on a raw image FILE (a whole number of 512-byte\n"
    "                   sectors), read-only with readonly; up to 4 disks\n"
    "  --console DEV    virtio (default): a virtio console writing to the serial sink\n"
    "                   (Linux hvc0); none: no virtio console\n"
    "  --control PATH   serve the control socket (QMP-like JSON lines, mode 0600) at\n"
    "                   PATH; a stale socket there is replaced, any other file refused\n"
    "  legacy           makes that virtio device transitional: it also offers the\n"
    "                   virtio 0.9.5 interface (I/O BAR, device id 0x1000+) for old\n"
    "                   drivers; without it devices are modern (1.0) only\n"
    "Exit status: the guest's debug-exit status (odd), 0 when stopped by SIGTERM/SIGINT or\n"
    "a guest power-off, 2 for bad usage or input, 4 for a KVM or runtime failure or a guest\n"
    "crash (triple fault) or reset request.\n"
    "Environment: TWIN_KVM_DEV overrides the KVM device path (default /dev/kvm);\n"
    "TWIN_LOG=info|debug prints more.\n";

int vmm_args__parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t shift = 20;
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		switch (*end) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		case 't':
		case 'T':
			shift = 40;
			break;
		default:
			return -EINVAL;
		}
		if (end[1])
			return -EINVAL;
	}
	if (v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past what it used. */
static int take_value(int argc, char *const argv[], int *i, const char *name, const char **val,
		      char *err, size_t errlen)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (a[n] == '=') {
		*val = a + n + 1;
		return 0;
	}
	if (*i + 1 >= argc)
		return fail(err, errlen, "option %s needs a value: see twin-vmm --help", name);
	*val = argv[++*i];
	return 0;
}

/* One key[=value] item of a comma-separated SPEC, pointing into it (val NULL: a bare flag). */
struct spec_item {
	const char *key, *val;
	size_t key_len, val_len;
};

/* Splits the next item off *spec and advances it; false once none is left. */
static bool next_item(const char **spec, struct spec_item *it)
{
	const char *p = *spec, *end, *eq;

	if (!p)
		return false;
	end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	eq = memchr(p, '=', end - p);
	it->key = p;
	it->key_len = (eq ? eq : end) - p;
	it->val = eq ? eq + 1 : NULL;
	it->val_len = eq ? (size_t)(end - eq - 1) : 0;
	*spec = *end ? end + 1 : NULL;
	return true;
}

static bool item_is(const struct spec_item *it, const char *key)
{
	return it->key_len == strlen(key) && !strncmp(it->key, key, it->key_len);
}

/* Parses "xx:xx:xx:xx:xx:xx" (hex) into mac; false if malformed. */
static bool parse_mac(const char *s, size_t len, uint8_t mac[6])
{
	if (len != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		const char *h = s + 3 * i;
		char hex[3] = {h[0], h[1], '\0'};

		if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1]) ||
		    (i < 5 && h[2] != ':'))
			return false;
		mac[i] = strtoul(hex, NULL, 16);
	}
	return true;
}

/* Copies an interface name value, checking what Linux accepts. */
static int take_ifname(const char *spec, const struct spec_item *it, char out[16], char *err,
		       size_t errlen)
{
	char name[TAP_NAME_MAX + 2];

	snprintf(name, sizeof(name), "%.*s", (int)it->val_len, it->val);
	if (it->val_len > TAP_NAME_MAX || !tap__valid_name(name))
		return fail(err, errlen,
			    "--nic '%s': %.*s '%.*s' is not an interface name: use 1 to 15 "
			    "characters without '/', ':' or spaces",
			    spec, (int)it->key_len, it->key, (int)it->val_len, it->val);
	memcpy(out, name, strlen(name) + 1);
	return 0;
}

static int add_nic(const char *spec, struct vmm_args *out, char *err, size_t errlen)
{
	static const uint8_t default_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	static const uint8_t zero_mac[6];
	struct vmm_nic nic = {0};
	bool have_mac = false;
	struct spec_item it;
	const char *p = spec;
	int rc;

	if (out->nr_nics == VMM_ARGS_MAX_NICS)
		return fail(err, errlen, "too many --nic options: at most %d NICs",
			    VMM_ARGS_MAX_NICS);
	if (!*spec)
		return fail(err, errlen, "--nic needs a value: use " NIC_SPEC);
	while (next_item(&p, &it)) {
		if (item_is(&it, "legacy")) {
			if (it.val || nic.legacy)
				return fail(err, errlen,
					    "--nic '%s': legacy is given twice or in the wrong "
					    "form: use " NIC_SPEC,
					    spec);
			nic.legacy = true;
			continue;
		}
		if (!it.val)
			return fail(err, errlen, "--nic '%s': '%.*s' needs a value: use " NIC_SPEC,
				    spec, (int)it.key_len, it.key);
		if (item_is(&it, "tap") && !nic.tap[0]) {
			rc = take_ifname(spec, &it, nic.tap, err, errlen);
		} else if (item_is(&it, "bridge") && !nic.bridge[0]) {
			rc = take_ifname(spec, &it, nic.bridge, err, errlen);
		} else if (item_is(&it, "mac") && !have_mac) {
			if (!parse_mac(it.val, it.val_len, nic.mac))
				return fail(
				    err, errlen,
				    "--nic '%s': mac '%.*s' is malformed: use six hex pairs "
				    "like 52:54:00:12:34:56",
				    spec, (int)it.val_len, it.val);
			if ((nic.mac[0] & 1) || !memcmp(nic.mac, zero_mac, 6))
				return fail(
				    err, errlen,
				    "--nic '%s': mac '%.*s' is not a unicast address: clear "
				    "the low bit of the first byte, e.g. 52:54:00:12:34:56",
				    spec, (int)it.val_len, it.val);
			have_mac = true;
			rc = 0;
		} else if (item_is(&it, "tap") || item_is(&it, "bridge") || item_is(&it, "mac")) {
			return fail(err, errlen, "--nic '%s': %.*s is given twice: give it once",
				    spec, (int)it.key_len, it.key);
		} else {
			return fail(err, errlen, "--nic '%s': unknown key '%.*s': use " NIC_SPEC,
				    spec, (int)it.key_len, it.key);
		}
		if (rc)
			return rc;
	}
	if (!nic.tap[0])
		return fail(err, errlen, "--nic '%s' names no tap: use " NIC_SPEC, spec);
	if (!have_mac) {
		memcpy(nic.mac, default_mac, 6);
		nic.mac[5] += out->nr_nics;
	}
	for (unsigned int i = 0; i < out->nr_nics; i++) {
		if (!strcmp(out->nics[i].tap, nic.tap))
			return fail(err, errlen,
				    "--nic tap=%s is given twice: give each NIC its own tap",
				    nic.tap);
		if (!memcmp(out->nics[i].mac, nic.mac, 6))
			return fail(err, errlen,
				    "--nic '%s': another NIC already has mac "
				    "%02x:%02x:%02x:%02x:%02x:%02x: give each NIC its own",
				    spec, nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3],
				    nic.mac[4], nic.mac[5]);
	}
	out->nics[out->nr_nics++] = nic;
	return 0;
}

static int add_disk(const char *spec, struct vmm_args *out, char *err, size_t errlen)
{
	struct vmm_disk disk = {0};
	struct spec_item it;
	const char *p = spec;

	if (out->nr_disks == VMM_ARGS_MAX_DISKS)
		return fail(err, errlen, "too many --disk options: at most %d disks",
			    VMM_ARGS_MAX_DISKS);
	if (!*spec)
		return fail(err, errlen, "--disk needs a value: use " DISK_SPEC);
	while (next_item(&p, &it)) {
		if (item_is(&it, "path") && it.val && !disk.path[0]) {
			if (!it.val_len || it.val_len >= sizeof(disk.path))
				return fail(err, errlen,
					    "--disk path= is empty or longer than %d bytes: give "
					    "the image file",
					    VMM_ARGS_PATH_MAX - 1);
			memcpy(disk.path, it.val, it.val_len);
		} else if (item_is(&it, "readonly") && !it.val && !disk.readonly) {
			disk.readonly = true;
		} else if (item_is(&it, "legacy") && !it.val && !disk.legacy) {
			disk.legacy = true;
		} else if (item_is(&it, "path") || item_is(&it, "readonly") ||
			   item_is(&it, "legacy")) {
			return fail(
			    err, errlen,
			    "--disk '%s': %.*s is given twice or in the wrong form: use " DISK_SPEC,
			    spec, (int)it.key_len, it.key);
		} else {
			return fail(err, errlen,
				    "--disk '%s': unknown option '%.*s': use " DISK_SPEC
				    " (FILE may not contain a comma)",
				    spec, (int)it.key_len, it.key);
		}
	}
	if (!disk.path[0])
		return fail(err, errlen, "--disk '%s' names no image: use " DISK_SPEC, spec);
	for (unsigned int i = 0; i < out->nr_disks; i++)
		if (!strcmp(out->disks[i].path, disk.path))
			return fail(err, errlen,
				    "--disk path=%s is given twice: one image backs one disk",
				    disk.path);
	out->disks[out->nr_disks++] = disk;
	return 0;
}

static int set_option(const char *name, const char *val, struct vmm_args *out, char *err,
		      size_t errlen)
{
	char *end;
	unsigned long n;

	if (!strcmp(name, "--kernel")) {
		if (!*val)
			return fail(err, errlen, "%s needs a file name", name);
		out->kernel = val;
	} else if (!strcmp(name, "--mem")) {
		if (vmm_args__parse_size(val, &out->mem_size))
			return fail(
			    err, errlen,
			    "--mem '%s' is not a size: use a number with K, M, G or T, e.g. 256M",
			    val);
		if (out->mem_size < VMM_ARGS_MIN_MEM || out->mem_size > VMM_ARGS_MAX_MEM ||
		    out->mem_size % 4096)
			return fail(err, errlen,
				    "--mem '%s' is out of range: use whole pages from 2M to 1T",
				    val);
	} else if (!strcmp(name, "--vcpus")) {
		errno = 0;
		n = strtoul(val, &end, 10);
		if (errno || !*val || *end || *val < '0' || *val > '9' || n < 1 ||
		    n > VMM_ARGS_MAX_VCPUS)
			return fail(err, errlen,
				    "--vcpus '%s' is invalid: use a number from 1 to 64", val);
		out->nr_vcpus = n;
	} else if (!strcmp(name, "--cmdline")) {
		out->cmdline = val;
	} else if (!strcmp(name, "--serial")) {
		if (!strcmp(val, "stdio")) {
			out->serial = VMM_SERIAL_STDIO;
			out->serial_path = NULL;
		} else if (!strncmp(val, "file:", 5) && val[5]) {
			out->serial = VMM_SERIAL_FILE;
			out->serial_path = val + 5;
		} else {
			return fail(err, errlen, "--serial '%s' is invalid: use stdio or file:PATH",
				    val);
		}
	} else if (!strcmp(name, "--initrd")) {
		if (!*val)
			return fail(err, errlen, "%s needs a file name", name);
		out->initrd = val;
	} else if (!strcmp(name, "--nic")) {
		return add_nic(val, out, err, errlen);
	} else if (!strcmp(name, "--disk")) {
		return add_disk(val, out, err, errlen);
	} else if (!strcmp(name, "--console")) {
		/* The last --console wins whole: virtio alone drops an earlier legacy. */
		out->console_legacy = !strcmp(val, "virtio,legacy");
		if (!strcmp(val, "virtio") || out->console_legacy)
			out->console = VMM_CONSOLE_VIRTIO;
		else if (!strcmp(val, "none"))
			out->console = VMM_CONSOLE_NONE;
		else
			return fail(err, errlen,
				    "--console '%s' is invalid: use virtio or none (virtio,legacy "
				    "for a transitional console)",
				    val);
	} else if (!strcmp(name, "--control")) {
		if (!*val)
			return fail(err, errlen,
				    "--control needs a socket path, e.g. /run/twin/vm.sock");
		if (strlen(val) >= VMM_ARGS_SOCKET_PATH_MAX)
			return fail(err, errlen,
				    "--control '%s' is longer than %d bytes: use a shorter path",
				    val, VMM_ARGS_SOCKET_PATH_MAX - 1);
		out->control = val;
	} else if (!strcmp(name, "--pit")) {
		if (!strcmp(val, "on"))
			out->pit = true;
		else if (!strcmp(val, "off"))
			out->pit = false;
		else
			return fail(err, errlen, "--pit '%s' is invalid: use on or off", val);
	}
	return 0;
}

int vmm_args__parse(int argc, char *const argv[], struct vmm_args *out, char *err, size_t errlen)
{
	static const char *const valued[] = {"--kernel", "--mem",     "--vcpus",  "--cmdline",
					     "--serial", "--pit",     "--initrd", "--nic",
					     "--disk",	 "--console", "--control"};
	int rc;

	*out = (struct vmm_args){
	    .mem_size = VMM_ARGS_DEFAULT_MEM,
	    .nr_vcpus = 1,
	    .cmdline = "",
	    .serial = VMM_SERIAL_STDIO,
	    .pit = true,
	    .console = VMM_CONSOLE_VIRTIO,
	};
	if (err && errlen)
		err[0] = '\0';
	if (argc < 2)
		return fail(err, errlen,
			    "missing command: use twin-vmm run --kernel FILE "
			    "(see --help)");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return VMM_ARGS_HELP;
	if (strcmp(argv[1], "run"))
		return fail(err, errlen,
			    "unknown command '%s': use twin-vmm run --kernel FILE "
			    "(see --help)",
			    argv[1]);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		size_t k;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return VMM_ARGS_HELP;
		for (k = 0; k < ARRAY_SIZE(valued); k++) {
			size_t n = strlen(valued[k]);

			if (!strncmp(a, valued[k], n) && (a[n] == '\0' || a[n] == '='))
				break;
		}
		if (k == ARRAY_SIZE(valued)) {
			if (a[0] == '-')
				return fail(err, errlen, "unknown option '%s': see twin-vmm --help",
					    a);
			return fail(err, errlen, "unexpected argument '%s': see twin-vmm --help",
				    a);
		}
		rc = take_value(argc, argv, &i, valued[k], &val, err, errlen);
		if (rc)
			return rc;
		rc = set_option(valued[k], val, out, err, errlen);
		if (rc)
			return rc;
	}
	if (!out->kernel)
		return fail(err, errlen,
			    "missing --kernel FILE: twin-vmm run needs a kernel (a PVH ELF or a "
			    "bzImage)");
	return 0;
}
