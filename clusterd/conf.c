/* clusterd.conf: a table of keys, each checked as libinih hands it over, then the whole. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>
#include "conf.h"

/* Longest config file read: far beyond any real clusterd.conf. */
#define CONF_FILE_MAX (64 * 1024)

enum kind { K_NAME, K_ADDR, K_PATH, K_SOCKET, K_BOOL, K_PORT, K_LISTEN };

struct key {
	const char *section, *name;
	enum kind kind;
	size_t offset, size; /* the field in struct clusterd_conf */
	const char *example; /* for the fix in an error */
};

#define FIELD(f) offsetof(struct clusterd_conf, f), sizeof(((struct clusterd_conf *)0)->f)

static const struct key keys[] = {
    {"cluster", "name", K_NAME, FIELD(cluster_name), "name = twin-lab"},
    {"host", "name", K_NAME, FIELD(host_name), "name = h1 (its corosync nodelist name)"},
    {"host", "replication_addr", K_ADDR, FIELD(replication_addr), "replication_addr = 198.18.1.1"},
    {"host", "state_dir", K_PATH, FIELD(state_dir), "state_dir = /var/lib/twin"},
    {"host", "socket", K_SOCKET, FIELD(socket), "socket = /run/twin/clusterd.sock"},
    {"host", "cpu_sysfs", K_PATH, FIELD(cpu_sysfs), "cpu_sysfs = /sys/devices/system/cpu"},
    {"paths", "twin_vmm", K_PATH, FIELD(twin_vmm), "twin_vmm = /usr/bin/twin-vmm"},
    {"paths", "vm_configs", K_PATH, FIELD(vm_configs), "vm_configs = /etc/twin/vms"},
    {"tls", "cert", K_PATH, FIELD(tls.cert), "cert = /etc/twin/tls/host.crt"},
    {"tls", "key", K_PATH, FIELD(tls.key), "key = /etc/twin/tls/host.key"},
    {"tls", "ca", K_PATH, FIELD(tls.ca), "ca = /etc/twin/tls/ca.crt"},
    {"tls", "psk", K_PATH, FIELD(tls.psk), "psk = /etc/twin/tls/psk"},
    {"tls", "insecure", K_BOOL, FIELD(tls.insecure), "insecure = yes"},
    {"replication", "port_base", K_PORT, FIELD(port_base), "port_base = 7400"},
    {"metrics", "listen", K_LISTEN, FIELD(metrics), "listen = 198.18.0.1:9464"},
    {"api", "admin_group", K_NAME, FIELD(api.admin_group), "admin_group = twin-admin"},
    {"api", "viewer_group", K_NAME, FIELD(api.viewer_group), "viewer_group = twin-view"},
};
#define NR_KEYS (sizeof(keys) / sizeof(keys[0]))

/* The parse in progress: libinih's reader and handler share it. */
struct parse {
	const char *file, *pos; /* pos: the unread text */
	unsigned int line;	/* the line the handler is given */
	struct clusterd_conf *cfg;
	bool seen[NR_KEYS];
	unsigned int err_line; /* 0: no error yet */
	char *err;
	size_t errlen;
};

static void __attribute__((format(printf, 2, 3))) fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err_line)
		return; /* the first error is the one to fix */
	p->err_line = p->line;
	n = snprintf(p->err, p->errlen, "%s:%u: ", p->file, p->line);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
}

/* libinih's reader over the text: one line per call, counted, a too long one refused. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *nl;
	size_t len, copy;

	if (!*p->pos)
		return NULL;
	nl = strchr(p->pos, '\n');
	len = nl ? (size_t)(nl - p->pos) : strlen(p->pos);
	copy = len;
	p->line++;
	if (len >= (size_t)num - 1) {
		fail(p, "the line is longer than %d characters: shorten it", num - 2);
		copy = 0; /* an empty line: the rest of the parse goes on */
	}
	memcpy(str, p->pos, copy);
	str[copy] = 0;
	p->pos += len + (nl != NULL);
	return str;
}

static bool name_ok(const char *v)
{
	if (!*v || strlen(v) > CONF_NAME_MAX)
		return false;
	for (; *v; v++)
		if (!(*v >= 'a' && *v <= 'z') && !(*v >= 'A' && *v <= 'Z') &&
		    !(*v >= '0' && *v <= '9') && *v != '-' && *v != '_' && *v != '.')
			return false;
	return true;
}

/*
 * ADDR:PORT into l: an IPv4 address, or an IPv6 one in brackets ([::1]:9464), then a port
 * from 1 to 65535.
 */
static bool listen_parse(const char *v, struct conf_listen *l)
{
	const char *colon = strrchr(v, ':'), *addr = v;
	unsigned char bin[16];
	size_t alen;
	char *end;
	long n;

	if (!colon)
		return false;
	alen = colon - v;
	if (*v == '[') {
		if (alen < 2 || v[alen - 1] != ']')
			return false;
		addr++;
		alen -= 2;
	}
	if (alen >= sizeof(l->addr))
		return false;
	memcpy(l->addr, addr, alen);
	l->addr[alen] = 0;
	if (inet_pton(*v == '[' ? AF_INET6 : AF_INET, l->addr, bin) != 1)
		return false;
	errno = 0;
	n = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || colon[1] == '+' || colon[1] == '-' || n < 1 ||
	    n > 65535)
		return false;
	l->port = n;
	return true;
}

static bool set_value(struct parse *p, const struct key *k, const char *v)
{
	char *field = (char *)p->cfg + k->offset;
	unsigned char addr[16];
	char *end;
	long n;

	switch (k->kind) {
	case K_NAME:
		if (!name_ok(v)) {
			fail(p,
			     "[%s] %s '%s' is not a name: use 1 to %d letters, digits, '-', "
			     "'_' or '.', e.g. %s",
			     k->section, k->name, v, CONF_NAME_MAX, k->example);
			return false;
		}
		break;
	case K_ADDR:
		if (strlen(v) >= k->size ||
		    (inet_pton(AF_INET, v, addr) != 1 && inet_pton(AF_INET6, v, addr) != 1)) {
			fail(p, "[%s] %s '%s' is not an IP address: use e.g. %s", k->section,
			     k->name, v, k->example);
			return false;
		}
		break;
	case K_PATH:
	case K_SOCKET:
		if (v[0] != '/' || strlen(v) >= k->size) {
			fail(p,
			     "[%s] %s '%s' must be an absolute path of at most %zu bytes: use "
			     "e.g. %s",
			     k->section, k->name, v, k->size - 1, k->example);
			return false;
		}
		break;
	case K_BOOL:
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
			*(bool *)field = true;
		} else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
			*(bool *)field = false;
		} else {
			fail(p, "[%s] %s '%s' is not yes or no: use e.g. %s", k->section, k->name,
			     v, k->example);
			return false;
		}
		return true;
	case K_PORT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < 1024 || n > 65535 - CL_MAX_VMS) {
			fail(p,
			     "[%s] %s '%s' must be a port from 1024 to %d (VM ports follow it): "
			     "use e.g. %s",
			     k->section, k->name, v, 65535 - CL_MAX_VMS, k->example);
			return false;
		}
		*(unsigned int *)field = n;
		return true;
	case K_LISTEN:
		if (!listen_parse(v, (struct conf_listen *)field)) {
			fail(p,
			     "[%s] %s '%s' is not ADDR:PORT (an IP address, IPv6 in brackets, and "
			     "a port from 1 to 65535): use e.g. %s or [::1]:9464",
			     k->section, k->name, v, k->example);
			return false;
		}
		return true;
	}
	strcpy(field, v);
	return true;
}

static int handle(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	bool section_known = false;

	for (size_t i = 0; i < NR_KEYS; i++) {
		if (strcmp(keys[i].section, section))
			continue;
		section_known = true;
		if (strcmp(keys[i].name, name))
			continue;
		if (p->seen[i]) {
			fail(p, "[%s] %s is given twice: keep one", section, name);
			return 0;
		}
		p->seen[i] = true;
		return set_value(p, &keys[i], value);
	}
	if (!*section)
		fail(p,
		     "%s is outside any section: put it under [cluster], [host], [paths], "
		     "[tls], [replication], [metrics] or [api]",
		     name);
	else if (!section_known)
		fail(p,
		     "unknown section [%s]: use [cluster], [host], [paths], [tls], "
		     "[replication], [metrics] or [api]",
		     section);
	else
		fail(p,
		     "unknown key '%s' in [%s]: check its spelling (clusterd/conf.c lists "
		     "the keys)",
		     name, section);
	return 0;
}

/* A required key not given: "FILE: [S] N is missing: add ..." (section.name is in keys). */
static bool require(struct parse *p, const char *section, const char *name)
{
	size_t i = 0;

	while (strcmp(keys[i].section, section) || strcmp(keys[i].name, name))
		i++;
	if (p->seen[i])
		return true;
	snprintf(p->err, p->errlen, "%s: [%s] %s is missing: add `%s` under [%s]", p->file, section,
		 name, keys[i].example, section);
	return false;
}

/* Exactly one of cert+key+ca, psk, insecure = yes, as twin-vmm's command line wants. */
static bool tls_ok(struct parse *p)
{
	const struct conf_tls *t = &p->cfg->tls;
	int certs = !!t->cert[0] + !!t->key[0] + !!t->ca[0];

	if ((certs > 0) + !!t->psk[0] + t->insecure != 1) {
		snprintf(p->err, p->errlen,
			 "%s: [tls] must give exactly one of cert+key+ca, psk, or insecure = yes: "
			 "keep one way to secure replication",
			 p->file);
		return false;
	}
	if (certs && certs != 3) {
		snprintf(p->err, p->errlen,
			 "%s: [tls] cert, key and ca go together: give all three", p->file);
		return false;
	}
	return true;
}

int conf__parse(const char *text, const char *file, struct clusterd_conf *out, char *err,
		size_t errlen)
{
	struct parse p = {.file = file, .pos = text, .cfg = out, .err = err, .errlen = errlen};
	int line;

	*out = (struct clusterd_conf){.port_base = CONF_DEFAULT_PORT_BASE};
	strcpy(out->state_dir, CONF_DEFAULT_STATE_DIR);
	strcpy(out->socket, CONF_DEFAULT_SOCKET);
	strcpy(out->twin_vmm, CONF_DEFAULT_TWIN_VMM);
	strcpy(out->vm_configs, CONF_DEFAULT_VM_CONFIGS);
	strcpy(out->cpu_sysfs, CONF_DEFAULT_CPU_SYSFS);
	line = ini_parse_stream(read_line, &p, handle, &p);
	if (line > 0 && (!p.err_line || (unsigned int)line < p.err_line)) {
		/* libinih's own complaint: a line that is neither a section nor key = value. */
		snprintf(err, errlen,
			 "%s:%d: not `[section]` or `key = value`: fix the line's syntax", file,
			 line);
		return -EINVAL;
	}
	if (p.err_line)
		return -EINVAL;
	if (!require(&p, "cluster", "name") || !require(&p, "host", "name") ||
	    !require(&p, "host", "replication_addr") || !tls_ok(&p))
		return -EINVAL;
	return 0;
}

int conf__load(const char *path, struct clusterd_conf *out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t n;
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s: give --config the clusterd.conf path",
			 path, strerror(errno));
		return rc;
	}
	text = malloc(CONF_FILE_MAX + 1);
	if (!text) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	n = fread(text, 1, CONF_FILE_MAX + 1, f);
	if (ferror(f) || n > CONF_FILE_MAX) {
		rc = ferror(f) ? -EIO : -EFBIG;
		snprintf(err, errlen, "%s: %s", path,
			 ferror(f) ? "cannot read it" : "larger than 64 KiB: is it clusterd.conf?");
		goto out;
	}
	text[n] = 0;
	if (strlen(text) != n) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: holds a NUL byte: is it a text file?", path);
		goto out;
	}
	rc = conf__parse(text, path, out, err, errlen);
out:
	free(text);
	fclose(f);
	return rc;
}
