/* twin-vmm's command line: a hand-rolled pure parser with one clear error line per mistake. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spec_item.h"
#include "vmm_args.h"
#include "cpu_list.h"
#include "host_port.h"
#include "tap.h"
#include "util.h"

/* The forms of the device options, for usage and error lines. */
#define NIC_SPEC  "tap=NAME[,mac=52:54:00:xx:xx:xx][,bridge=BR][,legacy]"
#define DISK_SPEC "path=FILE[,readonly][,legacy]"

#define SECURITY_SPEC "--tls-cert FILE --tls-key FILE --tls-ca FILE | --tls-psk FILE | --insecure"

const char vmm_args_usage[] =
    "usage: twin-vmm run --kernel FILE [--initrd FILE] [--mem SIZE] [--vcpus N]\n"
    "                    [--cmdline STR] [--pit on|off] [DEVICES] [--control PATH]\n"
    "       twin-vmm restore FILE [DEVICES] [--control PATH]\n"
    "       twin-vmm incoming --listen ADDR:PORT SECURITY [--shared-storage] [DEVICES]\n"
    "                    [--control PATH]\n"
    "       twin-vmm save --control PATH FILE\n"
    "       twin-vmm migrate --control PATH --to HOST:PORT SECURITY [--downtime MS]\n"
    "                    [--bandwidth MiB/s] [--compress lz4|zlib|none] [--xbzrle-cache MiB]\n"
    "                    [--shared-storage | --copy-storage]\n"
    "       twin-vmm protect --control PATH --peer HOST:PORT SECURITY\n"
    "                    [--mode epoch|event|hybrid] [--interval MS] [--min-spacing MS]\n"
    "                    [--timeout MS] [--compress lz4|zlib|none] [--xbzrle-cache MiB]\n"
    "                    [--cluster]\n"
    "       twin-vmm unprotect --control PATH\n"
    "       twin-vmm set-replication --control PATH [--mode M] [--interval MS]\n"
    "                    [--min-spacing MS]\n"
    "       twin-vmm query-replication --control PATH\n"
    "       twin-vmm failover --control PATH\n"
    "       twin-vmm fence|unfence|degrade --control PATH\n"
    "       twin-vmm backup --listen ADDR:PORT SECURITY [DEVICES] [--control PATH]\n"
    "                    [--auto-failover] [--timeout MS]\n"
    "DEVICES: [--serial stdio|file:PATH] [--nic " NIC_SPEC "]...\n"
    "         [--disk " DISK_SPEC "]... [--console virtio[,legacy]|none] [--cpus LIST]\n"
    "SECURITY: " SECURITY_SPEC "\n"
    "run: boot a kernel.\n"
    "  --kernel FILE    kernel to boot: a PVH ELF or a bzImage (required)\n"
    "  --initrd FILE    initial ramdisk handed to the kernel\n"
    "  --mem SIZE       guest RAM with K, M, G or T suffix; a bare number is MiB (default 256M)\n"
    "  --vcpus N        number of vCPUs, 1 to 64 (default 1)\n"
    "  --cmdline STR    kernel command line\n"
    "  --pit on|off     in-kernel i8254 PIT (default on); off is like QEMU microvm pit=off\n"
    "restore: resume the VM that twin-vmm save wrote to FILE; its memory size, vCPUs and\n"
    "  state come from FILE, its devices must be given again as they were.\n"
    "incoming: wait for one live migration on ADDR:PORT (port 0 picks a free one, printed\n"
    "  on stderr), then run the VM; devices as for restore.\n"
    "  --shared-storage    the --disk images are the source's own (shared storage): opened\n"
    "                      unlocked, locked once the source hands them over\n"
    "save: pause the VM of the twin-vmm serving --control PATH and write it to FILE; the\n"
    "  VM stays paused (cont resumes it, quit ends it).\n"
    "migrate: move the VM of the twin-vmm serving --control PATH, live, to the twin-vmm\n"
    "  incoming at HOST:PORT; prints progress; exits 0 once the destination runs it (the\n"
    "  source twin-vmm then exits 0), else non-zero with the reason, the VM still running.\n"
    "  --downtime MS       target for the final pause, 1 to 60000 (default 30)\n"
    "  --bandwidth MiB/s   cap on the migration's bandwidth; 0 for none (default 0)\n"
    "  --compress ALG      page encoding: lz4 (default), zlib or none\n"
    "  --xbzrle-cache MiB  cache of sent pages for delta encoding; 0 for none (default 0)\n"
    "  --shared-storage    writable disks are on storage both hosts see: hand them over\n"
    "  --copy-storage      writable disks move with the VM into the destination's own\n"
    "                      images (same sizes); a VM with a writable disk needs one of\n"
    "                      the two\n"
    "protect: replicate the running VM of the twin-vmm serving --control PATH to the\n"
    "  twin-vmm backup at HOST:PORT: a live migration into it (every writable disk is\n"
    "  copied: each host has its own image), then checkpoints; prints the sync's progress,\n"
    "  then `protect: {JSON}` and exits 0 once protected, else 1 with the reason.\n"
    "  --mode MODE         epoch (default): a checkpoint every interval; event: one as soon\n"
    "                      as the guest sends a frame or writes its disk; hybrid: both\n"
    "  --interval MS       epoch: the period; hybrid: the longest gap (default 25)\n"
    "  --min-spacing MS    hybrid: least gap between I/O-triggered checkpoints (default 2)\n"
    "  --timeout MS        the backup unheard this long: the VM goes on unprotected\n"
    "                      (degraded), its output no longer held (default 1000).  An\n"
    "                      epoch's ack counts from its CHECKPOINT written, and must\n"
    "                      cover the backup's commit (fdatasync of the disks written)\n"
    "  --cluster           managed by twin-clusterd: a lost backup makes the VM stalled,\n"
    "                      its output held (frames beyond the limit drop), the guest\n"
    "                      running, until degrade (or the backup answers again); never\n"
    "                      degraded on its own\n"
    "  --compress, --xbzrle-cache  as for migrate, for the sync and every epoch\n"
    "unprotect: stop replicating cleanly (a last checkpoint, then the backup exits 0).\n"
    "set-replication: switch the mode or timing of a protected VM from its next checkpoint.\n"
    "query-replication: print the replication status as one line of JSON.\n"
    "failover: make the twin-vmm backup serving --control PATH run the VM from its last\n"
    "  committed checkpoint; exits 0 once it runs there.\n"
    "fence: the host is outside quorum: pause the VM and let no output out (acks release\n"
    "  nothing, an unprotected VM sends nothing) until unfence; exits once both hold.\n"
    "unfence: run the VM again and release what the backup acked meanwhile.\n"
    "degrade: the backup's death is confirmed (twin-clusterd): a protect --cluster VM\n"
    "  releases all held output and runs unprotected.  Refused while fenced.\n"
    "backup: wait on ADDR:PORT for a twin-vmm protect and hold a shadow copy of the VM\n"
    "  (no vCPU runs); exits 0 after the primary's unprotect; after a failover it runs\n"
    "  the VM as run does.  Devices as for restore; disks are this host's own images.\n"
    "  --timeout MS        the primary unheard this long is lost (default 1000)\n"
    "  --auto-failover     run the VM here once the primary is lost.  For a two-host\n"
    "                      pair without a cluster, as in Remus.  UNSAFE under a network\n"
    "                      partition: both copies would run.  The cluster (twin-clusterd)\n"
    "                      brings the safe rule; without this option a lost primary\n"
    "                      waits for the failover command.\n"
    "security (incoming, migrate, protect and backup, exactly one):\n"
    "  --tls-cert FILE --tls-key FILE --tls-ca FILE  TLS 1.3, both ends show a certificate\n"
    "                   signed by the CA\n"
    "  --tls-psk FILE   TLS 1.3 with a pre-shared key: lines identity:hexkey\n"
    "  --insecure       plaintext: only on a trusted network\n"
    "devices (run, restore, incoming, backup):\n"
    "  --serial SINK    where the 8250 and debug console go: stdio (default) or file:PATH\n"
    "  --nic SPEC       virtio-net on TAP NAME, created if missing (then removed at exit)\n"
    "                   and attached to bridge BR if given; the MAC defaults to\n"
    "                   52:54:00:12:34:56, +1 for each further --nic; up to 4 NICs\n"
    "  --disk SPEC      virtio-blk on a raw image FILE (a whole number of 512-byte\n"
    "                   sectors), read-only with readonly; up to 4 disks\n"
    "  --console DEV    virtio (default): a virtio console writing to the serial sink\n"
    "                   (Linux hvc0); none: no virtio console\n"
    "  legacy           makes that virtio device transitional: it also offers the\n"
    "                   virtio 0.9.5 interface (I/O BAR, device id 0x1000+) for old\n"
    "                   drivers; without it devices are modern (1.0) only\n"
    "  --cpus LIST      run every thread (vCPUs, devices, replication) on these host CPUs\n"
    "                   only, e.g. 0,2-3 (default: the CPUs twin-vmm was started with);\n"
    "                   the control command set-cpus changes it while the VM runs\n"
    "  --control PATH   serve the control socket (QMP-like JSON lines, mode 0600) at\n"
    "                   PATH; a stale socket there is replaced, any other file refused\n"
    "Exit status: the guest's debug-exit status (odd), 0 when stopped by SIGTERM/SIGINT or\n"
    "a guest power-off or migrated away, 2 for bad usage or input, 4 for a KVM or runtime\n"
    "failure or a guest crash (triple fault) or reset request.  save and migrate: 0 once\n"
    "done, 1 when the VM's twin-vmm reports a failure, 2 for bad usage; the replication\n"
    "commands likewise.\n"
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
	while (spec_item__next(&p, &it)) {
		if (spec_item__is(&it, "legacy")) {
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
		if (spec_item__is(&it, "tap") && !nic.tap[0]) {
			rc = take_ifname(spec, &it, nic.tap, err, errlen);
		} else if (spec_item__is(&it, "bridge") && !nic.bridge[0]) {
			rc = take_ifname(spec, &it, nic.bridge, err, errlen);
		} else if (spec_item__is(&it, "mac") && !have_mac) {
			if (!spec_item__parse_mac(it.val, it.val_len, nic.mac))
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
		} else if (spec_item__is(&it, "tap") || spec_item__is(&it, "bridge") ||
			   spec_item__is(&it, "mac")) {
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
	while (spec_item__next(&p, &it)) {
		if (spec_item__is(&it, "path") && it.val && !disk.path[0]) {
			if (!it.val_len || it.val_len >= sizeof(disk.path))
				return fail(err, errlen,
					    "--disk path= is empty or longer than %d bytes: give "
					    "the image file",
					    VMM_ARGS_PATH_MAX - 1);
			memcpy(disk.path, it.val, it.val_len);
		} else if (spec_item__is(&it, "readonly") && !it.val && !disk.readonly) {
			disk.readonly = true;
		} else if (spec_item__is(&it, "legacy") && !it.val && !disk.legacy) {
			disk.legacy = true;
		} else if (spec_item__is(&it, "path") || spec_item__is(&it, "readonly") ||
			   spec_item__is(&it, "legacy")) {
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

/* Parses a decimal in [min, max]; false if it is not one. */
static bool parse_uint(const char *val, unsigned long min, unsigned long max, unsigned int *out)
{
	unsigned long n;
	char *end;

	if (*val < '0' || *val > '9')
		return false;
	errno = 0;
	n = strtoul(val, &end, 10);
	if (errno || *end || n < min || n > max)
		return false;
	*out = n;
	return true;
}

const char *vmm_args__compress_to_str(enum vmm_compress c)
{
	switch (c) {
	case VMM_COMPRESS_LZ4:
		return "lz4";
	case VMM_COMPRESS_ZLIB:
		return "zlib";
	case VMM_COMPRESS_NONE:
		return "none";
	}
	return "?";
}

/* The options of run that restore and incoming take from the stream instead. */
static int set_run_option(const char *name, const char *val, struct vmm_args *out, char *err,
			  size_t errlen)
{
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
		if (!parse_uint(val, 1, VMM_ARGS_MAX_VCPUS, &out->nr_vcpus))
			return fail(err, errlen,
				    "--vcpus '%s' is invalid: use a number from 1 to 64", val);
	} else if (!strcmp(name, "--cmdline")) {
		out->cmdline = val;
	} else if (!strcmp(name, "--initrd")) {
		if (!*val)
			return fail(err, errlen, "%s needs a file name", name);
		out->initrd = val;
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

/* The devices and sinks of a VM: run, restore and incoming. */
static int set_device_option(const char *name, const char *val, struct vmm_args *out, char *err,
			     size_t errlen)
{
	if (!strcmp(name, "--serial")) {
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
	}
	return 0;
}

/* The connection of a migration: its address, its security and its tuning. */
static int set_migration_option(const char *name, const char *val, struct vmm_args *out, char *err,
				size_t errlen)
{
	struct vmm_security *sec = &out->security;
	struct vmm_migrate_opts *m = &out->migrate;

	if (!strncmp(name, "--tls-", 6) && !*val)
		return fail(err, errlen, "%s needs a file name", name);
	if (!strcmp(name, "--listen")) {
		if (!host_port__valid(val, true))
			return fail(err, errlen,
				    "--listen '%s' is not ADDR:PORT: use e.g. 0.0.0.0:4444 or "
				    "[::]:4444 (port 0 picks a free one)",
				    val);
		out->listen = val;
	} else if (!strcmp(name, "--to")) {
		if (!host_port__valid(val, false))
			return fail(err, errlen,
				    "--to '%s' is not HOST:PORT: use e.g. 198.18.0.2:4444 or "
				    "[fd00::2]:4444",
				    val);
		out->to = val;
	} else if (!strcmp(name, "--tls-cert")) {
		sec->cert = val;
	} else if (!strcmp(name, "--tls-key")) {
		sec->key = val;
	} else if (!strcmp(name, "--tls-ca")) {
		sec->ca = val;
	} else if (!strcmp(name, "--tls-psk")) {
		sec->psk = val;
	} else if (!strcmp(name, "--insecure")) {
		sec->insecure = true;
	} else if (!strcmp(name, "--downtime")) {
		if (!parse_uint(val, 1, VMM_ARGS_MAX_DOWNTIME_MS, &m->downtime_ms))
			return fail(err, errlen,
				    "--downtime '%s' is invalid: use milliseconds from 1 to %d",
				    val, VMM_ARGS_MAX_DOWNTIME_MS);
	} else if (!strcmp(name, "--bandwidth")) {
		if (!parse_uint(val, 0, VMM_ARGS_MAX_BANDWIDTH_MIBS, &m->bandwidth_mibs))
			return fail(err, errlen,
				    "--bandwidth '%s' is invalid: use MiB/s from 1 to %u, or 0 for "
				    "no cap",
				    val, VMM_ARGS_MAX_BANDWIDTH_MIBS);
	} else if (!strcmp(name, "--compress")) {
		if (!strcmp(val, "lz4"))
			m->compress = VMM_COMPRESS_LZ4;
		else if (!strcmp(val, "zlib"))
			m->compress = VMM_COMPRESS_ZLIB;
		else if (!strcmp(val, "none"))
			m->compress = VMM_COMPRESS_NONE;
		else
			return fail(err, errlen,
				    "--compress '%s' is invalid: use lz4, zlib or none", val);
	} else if (!strcmp(name, "--shared-storage") || !strcmp(name, "--copy-storage")) {
		if (name[2] == 's')
			m->shared_storage = true;
		else
			m->copy_storage = true;
		if (m->shared_storage && m->copy_storage)
			return fail(err, errlen,
				    "--shared-storage and --copy-storage exclude each other: the "
				    "images are either the same on both hosts or each host's own");
	} else if (!strcmp(name, "--xbzrle-cache")) {
		if (!parse_uint(val, 0, VMM_ARGS_MAX_XBZRLE_MIB, &m->xbzrle_mib))
			return fail(
			    err, errlen,
			    "--xbzrle-cache '%s' is invalid: use MiB from 1 to %d, or 0 for "
			    "no delta encoding",
			    val, VMM_ARGS_MAX_XBZRLE_MIB);
	}
	return 0;
}

static int set_cpus_option(const char *name, const char *val, struct vmm_args *out, char *err,
			   size_t errlen)
{
	if (cpu_list__parse(val, &out->cpus) || !CPU_COUNT(&out->cpus) || strchr(val, '\n'))
		return fail(err, errlen,
			    "--cpus '%s' is not a list of host CPUs: use numbers and ranges below "
			    "%d, e.g. 0,2-3",
			    val, CPU_SETSIZE);
	out->cpus_set = true;
	return 0;
}

static int set_control(const char *val, struct vmm_args *out, char *err, size_t errlen)
{
	if (!*val)
		return fail(err, errlen, "--control needs a socket path, e.g. /run/twin/vm.sock");
	if (strlen(val) >= VMM_ARGS_SOCKET_PATH_MAX)
		return fail(err, errlen,
			    "--control '%s' is longer than %d bytes: use a shorter path", val,
			    VMM_ARGS_SOCKET_PATH_MAX - 1);
	out->control = val;
	return 0;
}

/* Replication's peer and tuning: protect, set-replication, backup. */
static int set_repl_option(const char *name, const char *val, struct vmm_args *out, char *err,
			   size_t errlen)
{
	struct vmm_repl_opts *r = &out->repl;

	if (!strcmp(name, "--peer")) {
		if (!host_port__valid(val, false))
			return fail(err, errlen,
				    "--peer '%s' is not HOST:PORT: use the twin-vmm backup's "
				    "address, e.g. 198.18.0.2:4444",
				    val);
		r->peer = val;
	} else if (!strcmp(name, "--mode")) {
		if (repl_mode__from_str(val, &r->mode))
			return fail(err, errlen,
				    "--mode '%s' is invalid: use epoch, event or hybrid", val);
		r->mode_set = true;
	} else if (!strcmp(name, "--interval") || !strcmp(name, "--min-spacing")) {
		if (!parse_uint(val, 1, VMM_ARGS_MAX_INTERVAL_MS,
				name[2] == 'i' ? &r->interval_ms : &r->min_spacing_ms))
			return fail(err, errlen,
				    "%s '%s' is invalid: use milliseconds from 1 to %d", name, val,
				    VMM_ARGS_MAX_INTERVAL_MS);
	} else if (!strcmp(name, "--timeout")) {
		if (!parse_uint(val, VMM_ARGS_MIN_TIMEOUT_MS, VMM_ARGS_MAX_TIMEOUT_MS,
				&r->timeout_ms))
			return fail(
			    err, errlen,
			    "--timeout '%s' is invalid: use milliseconds from %d (twice the "
			    "heartbeat) to %d",
			    val, VMM_ARGS_MIN_TIMEOUT_MS, VMM_ARGS_MAX_TIMEOUT_MS);
	} else if (!strcmp(name, "--auto-failover")) {
		r->auto_failover = true;
	} else if (!strcmp(name, "--cluster")) {
		r->cluster = true;
	}
	return 0;
}

#define CMD(c) (1u << (c))
#define CMDS_HOST                                                                                  \
	(CMD(VMM_CMD_RUN) | CMD(VMM_CMD_RESTORE) | CMD(VMM_CMD_INCOMING) | CMD(VMM_CMD_BACKUP))
#define CMDS_SECURE                                                                                \
	(CMD(VMM_CMD_INCOMING) | CMD(VMM_CMD_MIGRATE) | CMD(VMM_CMD_PROTECT) | CMD(VMM_CMD_BACKUP))
#define CMDS_TUNE (CMD(VMM_CMD_PROTECT) | CMD(VMM_CMD_SET_REPLICATION))
#define CMDS_ALL  ((1u << (VMM_CMD_BACKUP + 1)) - 1)

/* Each option, the commands that take it (a mask of CMD()), and its setter (NULL: --control). */
static const struct option_def {
	const char *name;
	unsigned int cmds;
	bool flag; /* takes no value */
	int (*set)(const char *name, const char *val, struct vmm_args *out, char *err,
		   size_t errlen);
} options[] = {
    {"--kernel", CMD(VMM_CMD_RUN), false, set_run_option},
    {"--mem", CMD(VMM_CMD_RUN), false, set_run_option},
    {"--vcpus", CMD(VMM_CMD_RUN), false, set_run_option},
    {"--cmdline", CMD(VMM_CMD_RUN), false, set_run_option},
    {"--pit", CMD(VMM_CMD_RUN), false, set_run_option},
    {"--initrd", CMD(VMM_CMD_RUN), false, set_run_option},
    {"--serial", CMDS_HOST, false, set_device_option},
    {"--nic", CMDS_HOST, false, set_device_option},
    {"--disk", CMDS_HOST, false, set_device_option},
    {"--console", CMDS_HOST, false, set_device_option},
    {"--cpus", CMDS_HOST, false, set_cpus_option},
    {"--control", CMDS_ALL, false, NULL},
    {"--listen", CMD(VMM_CMD_INCOMING) | CMD(VMM_CMD_BACKUP), false, set_migration_option},
    {"--to", CMD(VMM_CMD_MIGRATE), false, set_migration_option},
    {"--tls-cert", CMDS_SECURE, false, set_migration_option},
    {"--tls-key", CMDS_SECURE, false, set_migration_option},
    {"--tls-ca", CMDS_SECURE, false, set_migration_option},
    {"--tls-psk", CMDS_SECURE, false, set_migration_option},
    {"--insecure", CMDS_SECURE, true, set_migration_option},
    {"--downtime", CMD(VMM_CMD_MIGRATE), false, set_migration_option},
    {"--bandwidth", CMD(VMM_CMD_MIGRATE), false, set_migration_option},
    {"--compress", CMD(VMM_CMD_MIGRATE) | CMD(VMM_CMD_PROTECT), false, set_migration_option},
    {"--xbzrle-cache", CMD(VMM_CMD_MIGRATE) | CMD(VMM_CMD_PROTECT), false, set_migration_option},
    {"--shared-storage", CMD(VMM_CMD_MIGRATE) | CMD(VMM_CMD_INCOMING), true, set_migration_option},
    {"--copy-storage", CMD(VMM_CMD_MIGRATE), true, set_migration_option},
    {"--peer", CMD(VMM_CMD_PROTECT), false, set_repl_option},
    {"--mode", CMDS_TUNE, false, set_repl_option},
    {"--interval", CMDS_TUNE, false, set_repl_option},
    {"--min-spacing", CMDS_TUNE, false, set_repl_option},
    {"--timeout", CMD(VMM_CMD_PROTECT) | CMD(VMM_CMD_BACKUP), false, set_repl_option},
    {"--auto-failover", CMD(VMM_CMD_BACKUP), true, set_repl_option},
    {"--cluster", CMD(VMM_CMD_PROTECT), true, set_repl_option},
};

static const char *const command_names[] = {
    [VMM_CMD_RUN] = "run",
    [VMM_CMD_RESTORE] = "restore",
    [VMM_CMD_INCOMING] = "incoming",
    [VMM_CMD_SAVE] = "save",
    [VMM_CMD_MIGRATE] = "migrate",
    [VMM_CMD_PROTECT] = "protect",
    [VMM_CMD_UNPROTECT] = "unprotect",
    [VMM_CMD_SET_REPLICATION] = "set-replication",
    [VMM_CMD_QUERY_REPLICATION] = "query-replication",
    [VMM_CMD_FAILOVER] = "failover",
    [VMM_CMD_FENCE] = "fence",
    [VMM_CMD_UNFENCE] = "unfence",
    [VMM_CMD_DEGRADE] = "degrade",
    [VMM_CMD_BACKUP] = "backup",
};

static const struct option_def *find_option(const char *a)
{
	for (size_t k = 0; k < ARRAY_SIZE(options); k++) {
		size_t n = strlen(options[k].name);

		if (!strncmp(a, options[k].name, n) && (a[n] == '\0' || a[n] == '='))
			return &options[k];
	}
	return NULL;
}

static int not_for_command(const struct option_def *o, enum vmm_command c, char *err, size_t errlen)
{
	if (o->cmds == CMD(VMM_CMD_RUN) && (CMDS_HOST & CMD(c)))
		return fail(err, errlen,
			    "%s does not apply to twin-vmm %s: the VM's memory, vCPUs and kernel "
			    "come from the %s",
			    o->name, command_names[c],
			    c == VMM_CMD_RESTORE  ? "saved file"
			    : c == VMM_CMD_BACKUP ? "primary's replication stream"
						  : "migration stream");
	return fail(err, errlen, "%s does not apply to twin-vmm %s: see twin-vmm --help", o->name,
		    command_names[c]);
}

/* Exactly one way to secure a migration connection, complete. */
static int check_security(const struct vmm_args *a, char *err, size_t errlen)
{
	const struct vmm_security *s = &a->security;
	bool tls = s->cert || s->key || s->ca;
	const char *cmd = command_names[a->command];

	if (tls + !!s->psk + s->insecure > 1)
		return fail(err, errlen,
			    "twin-vmm %s: give one of --tls-cert/--tls-key/--tls-ca, --tls-psk or "
			    "--insecure, not several",
			    cmd);
	if (tls && !(s->cert && s->key && s->ca))
		return fail(err, errlen,
			    "twin-vmm %s: --tls-cert, --tls-key and --tls-ca go together: %s is "
			    "missing",
			    cmd,
			    !s->cert  ? "--tls-cert"
			    : !s->key ? "--tls-key"
				      : "--tls-ca");
	if (!tls && !s->psk && !s->insecure)
		return fail(err, errlen,
			    "twin-vmm %s needs the connection's security: give --tls-cert, "
			    "--tls-key and --tls-ca, or --tls-psk FILE, or --insecure for "
			    "plaintext",
			    cmd);
	return 0;
}

/* The replication clients: the control socket, and what protect and set-replication need. */
static int check_replication(const struct vmm_args *a, char *err, size_t errlen)
{
	const struct vmm_repl_opts *r = &a->repl;

	if (!a->control)
		return fail(err, errlen,
			    "missing --control PATH: twin-vmm %s needs the control socket of the "
			    "twin-vmm %s",
			    command_names[a->command],
			    a->command == VMM_CMD_FAILOVER ? "backup" : "running the VM");
	if (a->command == VMM_CMD_SET_REPLICATION && !r->mode_set && !r->interval_ms &&
	    !r->min_spacing_ms)
		return fail(err, errlen,
			    "twin-vmm set-replication changes nothing: give --mode, --interval "
			    "or --min-spacing");
	if (a->command != VMM_CMD_PROTECT)
		return 0;
	if (!r->peer)
		return fail(err, errlen,
			    "missing --peer HOST:PORT: twin-vmm protect needs the address of the "
			    "twin-vmm backup");
	return check_security(a, err, errlen);
}

/* What each command cannot do without. */
static int check_required(const struct vmm_args *a, char *err, size_t errlen)
{
	const char *cmd = command_names[a->command];

	switch (a->command) {
	case VMM_CMD_RUN:
		if (!a->kernel)
			return fail(err, errlen,
				    "missing --kernel FILE: twin-vmm run needs a kernel (a PVH ELF "
				    "or a bzImage)");
		return 0;
	case VMM_CMD_RESTORE:
		if (!a->file)
			return fail(err, errlen,
				    "missing FILE: twin-vmm restore needs the file twin-vmm save "
				    "wrote");
		return 0;
	case VMM_CMD_INCOMING:
		if (!a->listen)
			return fail(err, errlen,
				    "missing --listen ADDR:PORT: twin-vmm incoming needs the "
				    "address to wait on, e.g. 0.0.0.0:4444");
		return check_security(a, err, errlen);
	case VMM_CMD_BACKUP:
		if (!a->listen)
			return fail(err, errlen,
				    "missing --listen ADDR:PORT: twin-vmm backup needs the address "
				    "to wait on for the primary, e.g. 0.0.0.0:4444");
		return check_security(a, err, errlen);
	case VMM_CMD_PROTECT:
	case VMM_CMD_UNPROTECT:
	case VMM_CMD_SET_REPLICATION:
	case VMM_CMD_QUERY_REPLICATION:
	case VMM_CMD_FAILOVER:
	case VMM_CMD_FENCE:
	case VMM_CMD_UNFENCE:
	case VMM_CMD_DEGRADE:
		return check_replication(a, err, errlen);
	case VMM_CMD_SAVE:
	case VMM_CMD_MIGRATE:
		if (!a->control)
			return fail(err, errlen,
				    "missing --control PATH: twin-vmm %s needs the control socket "
				    "of the twin-vmm running the VM",
				    cmd);
		if (a->command == VMM_CMD_SAVE && !a->file)
			return fail(
			    err, errlen,
			    "missing FILE: twin-vmm save needs the file to write the VM to");
		if (a->command == VMM_CMD_MIGRATE && !a->to)
			return fail(err, errlen,
				    "missing --to HOST:PORT: twin-vmm migrate needs the address "
				    "of the twin-vmm incoming");
		return a->command == VMM_CMD_MIGRATE ? check_security(a, err, errlen) : 0;
	}
	return 0;
}

/* A word that is not an option: restore's and save's FILE, else a mistake. */
static int take_positional(const char *a, struct vmm_args *out, char *err, size_t errlen)
{
	const char *cmd = command_names[out->command];

	if (a[0] == '-' && a[1])
		return fail(err, errlen, "unknown option '%s': see twin-vmm --help", a);
	if (out->command != VMM_CMD_RESTORE && out->command != VMM_CMD_SAVE)
		return fail(err, errlen, "unexpected argument '%s': see twin-vmm --help", a);
	if (out->file)
		return fail(err, errlen, "unexpected argument '%s': twin-vmm %s takes one FILE", a,
			    cmd);
	if (!*a)
		return fail(err, errlen, "twin-vmm %s: FILE is empty: give a file name", cmd);
	out->file = a;
	return 0;
}

static int parse_command(const char *name, struct vmm_args *out, char *err, size_t errlen)
{
	for (size_t c = 0; c < ARRAY_SIZE(command_names); c++) {
		if (!strcmp(name, command_names[c])) {
			out->command = c;
			return 0;
		}
	}
	return fail(err, errlen,
		    "unknown command '%s': use run, restore, incoming, save, migrate, protect, "
		    "unprotect, set-replication, query-replication, failover, fence, unfence, "
		    "degrade or backup (see --help)",
		    name);
}

int vmm_args__parse(int argc, char *const argv[], struct vmm_args *out, char *err, size_t errlen)
{
	int rc;

	*out = (struct vmm_args){
	    .mem_size = VMM_ARGS_DEFAULT_MEM,
	    .nr_vcpus = 1,
	    .cmdline = "",
	    .serial = VMM_SERIAL_STDIO,
	    .pit = true,
	    .console = VMM_CONSOLE_VIRTIO,
	    .migrate =
		{
		    .downtime_ms = VMM_ARGS_DEFAULT_DOWNTIME_MS,
		    .compress = VMM_COMPRESS_LZ4,
		    .xbzrle_mib = VMM_ARGS_DEFAULT_XBZRLE_MIB,
		},
	};
	if (err && errlen)
		err[0] = '\0';
	if (argc < 2)
		return fail(err, errlen,
			    "missing command: use twin-vmm run --kernel FILE "
			    "(see --help)");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return VMM_ARGS_HELP;
	rc = parse_command(argv[1], out, err, errlen);
	if (rc)
		return rc;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const struct option_def *o;
		const char *val = NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return VMM_ARGS_HELP;
		o = find_option(a);
		if (!o) {
			rc = take_positional(a, out, err, errlen);
			if (rc)
				return rc;
			continue;
		}
		if (!(o->cmds & CMD(out->command)))
			return not_for_command(o, out->command, err, errlen);
		if (o->flag) {
			if (a[strlen(o->name)] == '=')
				return fail(err, errlen, "%s takes no value: give it alone",
					    o->name);
		} else {
			rc = take_value(argc, argv, &i, o->name, &val, err, errlen);
			if (rc)
				return rc;
		}
		rc = o->set ? o->set(o->name, val, out, err, errlen)
			    : set_control(val, out, err, errlen);
		if (rc)
			return rc;
	}
	return check_required(out, err, errlen);
}
