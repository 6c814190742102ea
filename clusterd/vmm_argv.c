/* The twin-vmm command lines for a VM's roles, from its vmcfg and clusterd.conf. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmm_argv.h"

void vmm_argv__tap_name(const char *vm, unsigned int index, char out[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	if (strlen(vm) <= 10) {
		snprintf(out, 16, "tw-%s-%u", vm, index % 10);
		return;
	}
	for (const char *p = vm; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(out, 16, "tw-%.6s%04x-%u", vm, h & 0xffff, index % 10);
}

int vmm_argv__vm_dir(const struct clusterd_conf *conf, const char *vm, char *out, size_t size)
{
	return snprintf(out, size, "%s/vms/%s", conf->state_dir, vm) < (int)size ? 0
										 : -ENAMETOOLONG;
}

int vmm_argv__control_path(const struct clusterd_conf *conf, const char *vm, char *out, size_t size)
{
	/* A socket path must fit sockaddr_un, whatever size the caller has. */
	if (size > CONF_SOCKET_MAX + 1)
		size = CONF_SOCKET_MAX + 1;
	return snprintf(out, size, "%s/vms/%s/control.sock", conf->state_dir, vm) < (int)size
		   ? 0
		   : -ENAMETOOLONG;
}

static int __attribute__((format(printf, 2, 3))) add(struct vmm_argv *a, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (a->argc == VMM_ARGV_MAX)
		return -E2BIG;
	va_start(ap, fmt);
	n = vasprintf(&a->argv[a->argc], fmt, ap);
	va_end(ap);
	if (n < 0) {
		a->argv[a->argc] = NULL;
		return -ENOMEM;
	}
	a->argv[++a->argc] = NULL;
	return 0;
}

/* --nic and --disk for every device; the taps named by vmm_argv__tap_name. */
static int add_devices(struct vmm_argv *a, const struct clusterd_conf *conf,
		       const struct vmcfg *cfg, char *err, size_t errlen)
{
	int rc = 0;

	for (unsigned int i = 0; i < cfg->nr_nics && !rc; i++) {
		const struct vmcfg_nic *n = &cfg->nics[i];
		char tap[16], mac[32] = "", bridge[32] = "";

		vmm_argv__tap_name(cfg->name, i, tap);
		if (n->has_mac)
			snprintf(mac, sizeof(mac), ",mac=%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0],
				 n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
		if (n->bridge[0])
			snprintf(bridge, sizeof(bridge), ",bridge=%s", n->bridge);
		rc = add(a, "--nic")
			 ?: add(a, "tap=%s%s%s%s", tap, bridge, mac, n->legacy ? ",legacy" : "");
	}
	for (unsigned int i = 0; i < cfg->nr_disks && !rc; i++) {
		const struct vmcfg_disk *d = &cfg->disks[i];
		char path[CONF_PATH_MAX];

		rc = vmcfg__expand_host(d->path, conf->host_name, path, sizeof(path));
		if (rc) {
			snprintf(err, errlen, "vm %s: disk path=%s: cannot expand %%h: %s",
				 cfg->name, d->path, strerror(-rc));
			return rc;
		}
		rc = add(a, "--disk")
			 ?: add(a, "path=%s%s%s", path, d->readonly ? ",readonly" : "",
				d->legacy ? ",legacy" : "");
	}
	return rc;
}

/* The replication link's security, as twin-vmm's command line takes it. */
static int add_security(struct vmm_argv *a, const struct conf_tls *t)
{
	if (t->insecure)
		return add(a, "--insecure");
	if (t->psk[0])
		return add(a, "--tls-psk") ?: add(a, "%s", t->psk);
	return add(a, "--tls-cert") ?: add(a, "%s", t->cert) ?: add(a, "--tls-key")
			?: add(a, "%s", t->key) ?: add(a, "--tls-ca") ?: add(a, "%s", t->ca);
}

int vmm_argv__build(const struct clusterd_conf *conf, const struct vmcfg *cfg,
		    enum vmm_argv_role role, uint16_t port, struct vmm_argv *a, char *err,
		    size_t errlen)
{
	char control[CONF_SOCKET_MAX + 1];
	int rc;

	err[0] = 0;
	if (vmm_argv__control_path(conf, cfg->name, control, sizeof(control))) {
		snprintf(err, errlen,
			 "vm %s: %s/vms/%s/control.sock is longer than %d bytes: use a shorter "
			 "state_dir in clusterd.conf",
			 cfg->name, conf->state_dir, cfg->name, CONF_SOCKET_MAX);
		return -ENAMETOOLONG;
	}
	rc = add(a, "%s", conf->twin_vmm);
	if (role == VMM_ARGV_PRIMARY) {
		rc = rc ?: add(a, "run") ?: add(a, "--kernel") ?: add(a, "%s", cfg->kernel)
			?: add(a, "--mem") ?: add(a, "%uM", cfg->memory_mib) ?: add(a, "--vcpus")
			?: add(a, "%u", cfg->vcpus);
		if (cfg->cmdline[0])
			rc = rc ?: add(a, "--cmdline") ?: add(a, "%s", cfg->cmdline);
	} else {
		/* An IPv6 address is bracketed, as HOST:PORT wants it. */
		bool v6 = strchr(conf->replication_addr, ':');

		rc = rc ?: add(a, "backup") ?: add(a, "--listen")
			?: add(a, "%s%s%s:%u", v6 ? "[" : "", conf->replication_addr,
			       v6 ? "]" : "", port)
			?: add_security(a, &conf->tls);
	}
	rc = rc ?: add_devices(a, conf, cfg, err, errlen);
	rc = rc ?: add(a, "--control") ?: add(a, "%s", control);
	if (rc && !err[0])
		snprintf(err, errlen, "vm %s: cannot build the twin-vmm command line: %s",
			 cfg->name, strerror(-rc));
	return rc;
}

void vmm_argv__dispose(struct vmm_argv *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	*a = (struct vmm_argv){0};
}
