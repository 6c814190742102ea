/* twin-vmm's command line: a hand-rolled pure parser with one clear error line per mistake. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm_args.h"
#include "util.h"

const char vmm_args_usage[] =
    "usage: twin-vmm run --kernel FILE [--mem SIZE] [--vcpus N] [--cmdline STR]\n"
    "                    [--serial stdio|file:PATH] [--pit on|off]\n"
    "  --kernel FILE    PVH ELF kernel to boot (required)\n"
    "  --mem SIZE       guest RAM with K, M, G or T suffix; a bare number is MiB (default 256M)\n"
    "  --vcpus N        number of vCPUs, 1 to 64 (default 1)\n"
    "  --cmdline STR    kernel command line\n"
    "  --serial SINK    where the 8250 and debug console go: stdio (default) or file:PATH\n"
    "  --pit on|off     in-kernel i8254 PIT (default on); off is like QEMU microvm pit=off\n"
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
	static const char *const valued[] = {"--kernel",  "--mem",    "--vcpus",
					     "--cmdline", "--serial", "--pit"};
	int rc;

	*out = (struct vmm_args){
	    .mem_size = VMM_ARGS_DEFAULT_MEM,
	    .nr_vcpus = 1,
	    .cmdline = "",
	    .serial = VMM_SERIAL_STDIO,
	    .pit = true,
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
			    "missing --kernel FILE: twin-vmm run needs a PVH ELF "
			    "kernel");
	return 0;
}
