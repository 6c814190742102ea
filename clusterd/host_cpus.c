/* This host's CPUs as Twin uses them: sysfs read afresh, the Twin-offline set kept on disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clog.h"
#include "conf.h"
#include "cpu_list.h"
#include "host_cpus.h"
#include "persist.h"

struct host_cpus {
	char root[CONF_PATH_MAX];
	char state_file[CONF_PATH_MAX + 16];
	cpu_set_t bound;      /* the CPUs clusterd was started on (every one by default) */
	cpu_set_t offline;    /* for Twin */
	cpu_set_t hotplugged; /* offline in sysfs by Twin's hand: a subset of offline */
};

/* Reads the CPU list file root/name ("0-1\n").  0 or -errno (-EINVAL: not a CPU list). */
static int read_list(const char *root, const char *name, cpu_set_t *out)
{
	char path[CONF_PATH_MAX + 32], text[CPU_LIST_MAX];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	return cpu_list__parse(text, out);
}

static void cpu_file(const struct host_cpus *h, unsigned int cpu, char *path, size_t size)
{
	snprintf(path, size, "%s/cpu%u/online", h->root, cpu);
}

/* Whether the kernel can take cpu offline: it has a cpuN/online file (cpu0 often has none). */
static bool hotpluggable(const struct host_cpus *h, unsigned int cpu)
{
	char path[CONF_PATH_MAX + 32];

	cpu_file(h, cpu, path, sizeof(path));
	return !access(path, F_OK);
}

/*
 * Whether cpu is online in sysfs: its cpuN/online says so, or without one, the online list.
 * (The CPU's own file first: it is what a hotplug writes.)
 */
static bool sysfs_online(const struct host_cpus *h, unsigned int cpu)
{
	char path[CONF_PATH_MAX + 32], c = 0;
	cpu_set_t online;
	int fd;

	cpu_file(h, cpu, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &c, 1) != 1)
			c = 0;
		close(fd);
		return c == '1';
	}
	return !read_list(h->root, "online", &online) && CPU_ISSET(cpu, &online);
}

static void present(const struct host_cpus *h, cpu_set_t *out)
{
	if (read_list(h->root, "present", out))
		CPU_ZERO(out);
}

void host_cpus__allowed(const struct host_cpus *h, cpu_set_t *out)
{
	cpu_set_t p;

	present(h, &p);
	CPU_ZERO(out);
	for (unsigned int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &p) && CPU_ISSET(c, &h->bound) && !CPU_ISSET(c, &h->offline) &&
		    sysfs_online(h, c))
			CPU_SET(c, out);
}

int host_cpus__bound(struct host_cpus *h, const cpu_set_t *bound)
{
	cpu_set_t was = h->bound, allowed;

	h->bound = *bound;
	host_cpus__allowed(h, &allowed);
	if (CPU_COUNT(&allowed))
		return 0;
	h->bound = was;
	return -EINVAL;
}

unsigned int host_cpus__offline_count(const struct host_cpus *h)
{
	return CPU_COUNT(&h->offline);
}

/* Writes "0" or "1" to cpu's sysfs online file: 0 or -errno with err. */
static int write_online(const struct host_cpus *h, unsigned int cpu, bool on, char *err,
			size_t errlen)
{
	char path[CONF_PATH_MAX + 32];
	int fd, rc = 0;

	cpu_file(h, cpu, path, sizeof(path));
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, on ? "1" : "0", 1) != 1)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc)
		snprintf(err, errlen,
			 "cannot write %d to %s: %s: the kernel refused the hotplug (see its log); "
			 "nothing changed",
			 on, path, strerror(-rc));
	else
		clog__info("cpus: CPU %u taken %s in sysfs (%s)", cpu, on ? "online" : "offline",
			   path);
	return rc;
}

/* The set to disk; a failure is loud (the set then lasts only as long as this clusterd). */
static void save(const struct host_cpus *h)
{
	char offline[CPU_LIST_MAX], hotplugged[CPU_LIST_MAX], *text;
	json_t *o;
	int rc = -ENOMEM;

	cpu_list__format(&h->offline, offline, sizeof(offline));
	cpu_list__format(&h->hotplugged, hotplugged, sizeof(hotplugged));
	o = json_pack("{s:s, s:s}", "offline", offline, "hotplugged", hotplugged);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text)
		rc = persist__write(h->state_file, text, strlen(text));
	if (rc)
		clog__error("cpus: cannot write %s: %s: the CPUs offline for Twin (%s) are "
			    "forgotten if clusterd restarts",
			    h->state_file, strerror(-rc), offline);
	free(text);
	json_decref(o);
}

/* The no-such-CPU refusal: 0 if cpu is present. */
static int check_present(const struct host_cpus *h, const char *cmd, unsigned int cpu, char *err,
			 size_t errlen)
{
	char list[CPU_LIST_MAX];
	cpu_set_t p;

	present(h, &p);
	if (cpu < CPU_SETSIZE && CPU_ISSET(cpu, &p))
		return 0;
	cpu_list__format(&p, list, sizeof(list));
	snprintf(err, errlen,
		 "%s %u: this host has no CPU %u (present: %s): twin host cpus lists "
		 "them",
		 cmd, cpu, cpu, list);
	return -ENODEV;
}

int host_cpus__offline(struct host_cpus *h, unsigned int cpu, bool hotplug, char *err,
		       size_t errlen)
{
	char list[CPU_LIST_MAX];
	bool unplug;
	cpu_set_t allowed;
	int rc = check_present(h, "cpu-offline", cpu, err, errlen);

	if (rc)
		return rc;
	if (CPU_ISSET(cpu, &h->offline)) {
		snprintf(err, errlen,
			 "cpu-offline %u: CPU %u is offline for Twin already: twin host cpu-online "
			 "%u brings it back",
			 cpu, cpu, cpu);
		return -EALREADY;
	}
	host_cpus__allowed(h, &allowed);
	CPU_CLR(cpu, &allowed);
	if (!CPU_COUNT(&allowed)) {
		host_cpus__allowed(h, &allowed);
		cpu_list__format(&allowed, list, sizeof(list));
		snprintf(err, errlen,
			 "cpu-offline %u: CPU %u is the last CPU Twin may use (allowed: %s): its "
			 "VMs would have nowhere to run; bring another online first (twin host "
			 "cpu-online N)",
			 cpu, cpu, list);
		return -EBUSY;
	}
	if (hotplug && !hotpluggable(h, cpu)) {
		snprintf(err, errlen,
			 "cpu-offline %u --hotplug: the kernel cannot take CPU %u offline (no "
			 "%s/cpu%u/online): offline it for Twin only, without --hotplug",
			 cpu, cpu, h->root, cpu);
		return -EOPNOTSUPP;
	}
	/* A CPU offline in sysfs already stays the kernel's affair: cpu-online leaves it so. */
	unplug = hotplug && sysfs_online(h, cpu);
	if (unplug && (rc = write_online(h, cpu, false, err, errlen)))
		return rc;
	CPU_SET(cpu, &h->offline);
	if (unplug)
		CPU_SET(cpu, &h->hotplugged);
	save(h);
	clog__info("cpus: CPU %u is offline for Twin%s", cpu, unplug ? " and in sysfs" : "");
	return 0;
}

int host_cpus__online(struct host_cpus *h, unsigned int cpu, char *err, size_t errlen)
{
	int rc = check_present(h, "cpu-online", cpu, err, errlen);

	if (rc)
		return rc;
	if (!CPU_ISSET(cpu, &h->offline)) {
		snprintf(err, errlen,
			 "cpu-online %u: CPU %u is not offline for Twin: nothing to do (twin host "
			 "cpus shows each CPU)",
			 cpu, cpu);
		return -EALREADY;
	}
	if (CPU_ISSET(cpu, &h->hotplugged) && !sysfs_online(h, cpu) &&
	    (rc = write_online(h, cpu, true, err, errlen)))
		return rc;
	CPU_CLR(cpu, &h->offline);
	CPU_CLR(cpu, &h->hotplugged);
	save(h);
	clog__info("cpus: CPU %u is online for Twin", cpu);
	return 0;
}

json_t *host_cpus__json(const struct host_cpus *h)
{
	char p_list[CPU_LIST_MAX], on_list[CPU_LIST_MAX], off_list[CPU_LIST_MAX];
	char hot_list[CPU_LIST_MAX], ok_list[CPU_LIST_MAX];
	cpu_set_t p, on, ok;
	json_t *cpus = json_array();

	present(h, &p);
	CPU_ZERO(&on);
	for (unsigned int c = 0; c < CPU_SETSIZE && cpus; c++) {
		if (!CPU_ISSET(c, &p))
			continue;
		if (sysfs_online(h, c))
			CPU_SET(c, &on);
		json_array_append_new(cpus, json_pack("{s:i, s:b, s:b, s:b, s:b}", "cpu", c,
						      "online", CPU_ISSET(c, &on), "twin_offline",
						      CPU_ISSET(c, &h->offline), "hotplugged",
						      CPU_ISSET(c, &h->hotplugged), "hotpluggable",
						      hotpluggable(h, c)));
	}
	host_cpus__allowed(h, &ok);
	cpu_list__format(&p, p_list, sizeof(p_list));
	cpu_list__format(&on, on_list, sizeof(on_list));
	cpu_list__format(&h->offline, off_list, sizeof(off_list));
	cpu_list__format(&h->hotplugged, hot_list, sizeof(hot_list));
	cpu_list__format(&ok, ok_list, sizeof(ok_list));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "present", p_list, "online", on_list,
			 "offline", off_list, "hotplugged", hot_list, "allowed", ok_list, "cpus",
			 cpus);
}

/* The set of the last life, if usable: else err says why and every CPU is online for Twin. */
static void restore(struct host_cpus *h, char *err, size_t errlen)
{
	char *text = NULL, list[CPU_LIST_MAX];
	cpu_set_t offline, hotplugged, p, allowed;
	json_t *o = NULL;
	size_t len;
	const char *off, *hot;
	int rc = persist__read(h->state_file, &text, &len);

	if (rc == -ENOENT)
		return;
	if (!rc)
		o = json_loadb(text, len, 0, NULL);
	off = json_string_value(json_object_get(o, "offline"));
	hot = json_string_value(json_object_get(o, "hotplugged"));
	if (rc)
		snprintf(err, errlen, "cannot read %s: %s", h->state_file, strerror(-rc));
	else if (!off || !hot || cpu_list__parse(off, &offline) ||
		 cpu_list__parse(hot, &hotplugged))
		snprintf(err, errlen,
			 "%s is not {\"offline\": LIST, \"hotplugged\": LIST}: remove it or fix it",
			 h->state_file);
	free(text);
	json_decref(o);
	if (err[0])
		goto forget;
	present(h, &p);
	CPU_AND(&offline, &offline, &p);
	CPU_AND(&hotplugged, &hotplugged, &offline);
	h->offline = offline;
	h->hotplugged = hotplugged;
	host_cpus__allowed(h, &allowed);
	if (!CPU_COUNT(&allowed)) {
		cpu_list__format(&offline, list, sizeof(list));
		snprintf(err, errlen,
			 "%s has every online CPU offline for Twin (%s): not restoring it",
			 h->state_file, list);
		goto forget;
	}
	cpu_list__format(&offline, list, sizeof(list));
	if (CPU_COUNT(&offline))
		clog__info("cpus: restored from %s: CPUs %s offline for Twin", h->state_file, list);
	return;
forget:
	CPU_ZERO(&h->offline);
	CPU_ZERO(&h->hotplugged);
}

int host_cpus__new(const char *sysfs_root, const char *state_file, struct host_cpus **out,
		   char *err, size_t errlen)
{
	struct host_cpus *h;
	cpu_set_t p;
	int rc;

	err[0] = 0;
	*out = NULL;
	rc = read_list(sysfs_root, "present", &p);
	if (rc || !CPU_COUNT(&p)) {
		snprintf(err, errlen,
			 "cannot read the CPU list %s/present: %s: set [host] cpu_sysfs to the "
			 "kernel's CPU directory, /sys/devices/system/cpu",
			 sysfs_root, rc ? strerror(-rc) : "it is empty");
		return rc ?: -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "cpus: out of memory");
		return -ENOMEM;
	}
	snprintf(h->root, sizeof(h->root), "%s", sysfs_root);
	for (unsigned int c = 0; c < CPU_SETSIZE; c++)
		CPU_SET(c, &h->bound);
	snprintf(h->state_file, sizeof(h->state_file), "%s", state_file);
	restore(h, err, errlen);
	*out = h;
	return 0;
}

void host_cpus__free(struct host_cpus *h)
{
	free(h);
}
