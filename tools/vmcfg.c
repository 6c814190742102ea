/* A VM's config file: libinih splits the lines, this checks every key and value into a struct. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ini.h>
#include "host_port.h"
#include "spec_item.h"
#include "vmcfg.h"

#define DISK_SPEC "path=/ABSOLUTE/FILE[,readonly][,legacy]"
#define NIC_SPEC  "[mac=52:54:00:xx:xx:xx][,bridge=BR][,legacy]"
#define KEYS	  "name, memory, vcpus, kernel, cmdline, disk, nic, protect, mode, interval_ms or probe"

enum key {
	KEY_NAME,
	KEY_MEMORY,
	KEY_VCPUS,
	KEY_KERNEL,
	KEY_CMDLINE,
	KEY_DISK,
	KEY_NIC,
	KEY_PROTECT,
	KEY_MODE,
	KEY_INTERVAL,
	KEY_PROBE,
	NR_KEYS,
};

/* One parse: the text still to hand to libinih, where it is, and the first error. */
struct parse {
	const char *file;
	const char *p, *end;
	unsigned int line; /* of the line libinih holds */
	struct vmcfg *cfg;
	unsigned int first_line[NR_KEYS]; /* where each key was first given; 0: not yet */
	char *err;
	size_t errlen;
	bool failed;
};

/* Records the first error as "FILE:LINE: ..." and returns 0 (libinih's "handler failed"). */
static int __attribute__((format(printf, 3, 4)))
fail(struct parse *ps, unsigned int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->failed)
		return 0;
	ps->failed = true;
	n = snprintf(ps->err, ps->errlen, "%s:%u: ", ps->file, line);
	if (n >= 0 && (size_t)n < ps->errlen) {
		va_start(ap, fmt);
		vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
		va_end(ap);
	}
	return 0;
}

/* Length of the UTF-8 sequence at s[0..n), 0 if it is not one (overlong, surrogate, > U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] < 0xe0)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] < 0xf0)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] < 0xf5)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* Plain UTF-8 text (tabs allowed), as jansson needs it to ship the config; else fails. */
static bool check_text(struct parse *ps, const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = utf8_len((const unsigned char *)s + i, n - i);

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(ps, ps->line,
			     "a control character (0x%02x): a VM config is plain text: remove it",
			     c);
			return false;
		}
		if (!len) {
			fail(ps, ps->line, "not UTF-8 text: save the file as UTF-8");
			return false;
		}
		i += len;
	}
	return true;
}

/*
 * Whether the value in [v, end) holds an xl.cfg-style " # comment", which libinih would keep
 * as part of the value (its end-of-line comments start with " ;").  A quoted value may.
 */
static bool hash_comment(const char *v, const char *end)
{
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	if (v < end && *v == '"')
		return false;
	for (const char *p = v; p < end; p++)
		if (*p == '#' && (p[-1] == ' ' || p[-1] == '\t'))
			return true;
	return false;
}

/*
 * libinih's reader: hands it one line at a time, counting lines, so errors name them.  It
 * refuses here what libinih would take in another sense: sections, `key: value`, and indented
 * continuation lines (passed unindented, so they are lines of their own).
 */
static char *read_line(char *buf, int num, void *stream)
{
	struct parse *ps = stream;
	const char *s = ps->p, *nl, *eq, *colon;
	size_t n;

	if (ps->failed || ps->p == ps->end)
		return NULL;
	ps->line++;
	nl = memchr(s, '\n', ps->end - s);
	n = (nl ? nl : ps->end) - s;
	ps->p = nl ? nl + 1 : ps->end;
	if (n && s[n - 1] == '\r')
		n--;
	if (ps->line == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) {
		s += 3;
		n -= 3;
	}
	if (n > VMCFG_LINE_MAX || n + 2 > (size_t)num) {
		fail(ps, ps->line, "the line is longer than %d characters: shorten it",
		     VMCFG_LINE_MAX);
		return NULL;
	}
	if (!check_text(ps, s, n))
		return NULL;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	if (n && *s == '[') {
		fail(ps, ps->line,
		     "a [section] line: a VM config has no sections: remove it (every line is "
		     "key = value)");
		return NULL;
	}
	if (n && *s != '#' && *s != ';') {
		eq = memchr(s, '=', n);
		colon = memchr(s, ':', n);
		if (!eq || (colon && colon < eq) || eq == s) {
			fail(ps, ps->line,
			     "not a key = value line: write e.g. memory = 64 ('#' starts a "
			     "comment line)");
			return NULL;
		}
		if (hash_comment(eq + 1, s + n)) {
			fail(ps, ps->line,
			     "'#' after the value: '#' starts a comment only at the start of a "
			     "line: end a line's comment with ' ;' instead, or quote the value");
			return NULL;
		}
	}
	memcpy(buf, s, n);
	buf[n] = '\n';
	buf[n + 1] = '\0';
	return buf;
}

/* Copies value into out[size] if it fits (false if not). */
static bool copy_str(char *out, size_t size, const char *value, size_t len)
{
	if (len >= size)
		return false;
	memcpy(out, value, len);
	out[len] = '\0';
	return true;
}

/* A decimal number in [min, max] (no sign, no suffix). */
static bool parse_uint(const char *s, unsigned int min, unsigned int max, unsigned int *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9' || strlen(s) > 10)
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool vmcfg__valid_name(const char *s)
{
	size_t n = strlen(s);
	bool ok = n >= 1 && n <= VMCFG_NAME_MAX && s[0] != '-';

	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
	return ok;
}

static int set_name(struct parse *ps, const char *v)
{
	if (!vmcfg__valid_name(v))
		return fail(ps, ps->line,
			    "name '%s' is invalid: use 1 to %d characters of a-z, 0-9 and '-', "
			    "not starting with '-', e.g. name = kv1",
			    v, VMCFG_NAME_MAX);
	copy_str(ps->cfg->name, sizeof(ps->cfg->name), v, strlen(v));
	return 1;
}

static int set_number(struct parse *ps, const char *key, const char *v, unsigned int min,
		      unsigned int max, const char *unit, unsigned int *out)
{
	if (!parse_uint(v, min, max, out))
		return fail(ps, ps->line, "%s '%s' is invalid: use %s from %u to %u", key, v, unit,
			    min, max);
	return 1;
}

/* An absolute path's checks, common to kernel and disk: what is wrong with it, or NULL. */
static const char *bad_path(const char *path, size_t len)
{
	if (!len)
		return "is empty";
	if (path[0] != '/')
		return "is not an absolute path (clusterd starts twin-vmm in its own directory)";
	return NULL;
}

static int set_kernel(struct parse *ps, const char *v)
{
	const char *why = bad_path(v, strlen(v));

	if (why)
		return fail(ps, ps->line,
			    "kernel '%s' %s: give the guest kernel's absolute path, e.g. kernel = "
			    "/usr/lib/twin/kv.elf",
			    v, why);
	copy_str(ps->cfg->kernel, sizeof(ps->cfg->kernel), v, strlen(v));
	return 1;
}

/* A flag item (readonly, legacy): given once, without a value. */
static int set_flag(struct parse *ps, const char *what, const char *spec,
		    const struct spec_item *it, bool *flag, const char *form)
{
	if (it->val || *flag)
		return fail(ps, ps->line, "%s '%s': %.*s is given twice or with a value: use %s",
			    what, spec, (int)it->key_len, it->key, form);
	*flag = true;
	return 1;
}

/* %h and %% are the only % sequences a disk path may hold. */
static bool valid_percents(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%')
			continue;
		if (i + 1 == len || (s[i + 1] != 'h' && s[i + 1] != '%'))
			return false;
		i++;
	}
	return true;
}

static int add_disk(struct parse *ps, const char *spec)
{
	struct vmcfg *cfg = ps->cfg;
	struct vmcfg_disk *d = &cfg->disks[cfg->nr_disks];
	const char *p = spec, *why;
	struct spec_item it;

	if (cfg->nr_disks == VMCFG_MAX_DISKS)
		return fail(ps, ps->line, "a disk too many: a VM has at most %d disks: remove one",
			    VMCFG_MAX_DISKS);
	while (spec_item__next(&p, &it)) {
		if (spec_item__is(&it, "readonly") || spec_item__is(&it, "legacy")) {
			if (!set_flag(ps, "disk", spec, &it,
				      it.key[0] == 'r' ? &d->readonly : &d->legacy, DISK_SPEC))
				return 0;
		} else if (spec_item__is(&it, "path") && it.val && !d->path[0]) {
			why = bad_path(it.val, it.val_len);
			if (why)
				return fail(ps, ps->line,
					    "disk '%s': path %s: use " DISK_SPEC
					    " (%%h stands for the host's name)",
					    spec, why);
			if (!valid_percents(it.val, it.val_len))
				return fail(
				    ps, ps->line,
				    "disk '%s': a %% other than %%h (the host's name) or %%%% "
				    "(a %%): write %%%% for a %%",
				    spec);
			copy_str(d->path, sizeof(d->path), it.val, it.val_len);
		} else if (spec_item__is(&it, "path")) {
			return fail(
			    ps, ps->line,
			    "disk '%s': path is given twice or without a value: use " DISK_SPEC,
			    spec);
		} else {
			return fail(ps, ps->line, "disk '%s': unknown item '%.*s': use " DISK_SPEC,
				    spec, (int)it.key_len, it.key);
		}
	}
	if (!d->path[0])
		return fail(ps, ps->line, "disk '%s' names no image: use " DISK_SPEC, spec);
	cfg->nr_disks++;
	return 1;
}

/* What Linux takes as an interface name: 1 to 15 bytes, no '/', ':' or whitespace. */
static bool valid_ifname(const char *s, size_t len)
{
	if (!len || len > VMCFG_IFNAME_MAX || (len == 1 && s[0] == '.') ||
	    (len == 2 && !strncmp(s, "..", 2)))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]))
			return false;
	return true;
}

static int set_mac(struct parse *ps, const char *spec, const struct spec_item *it,
		   struct vmcfg_nic *nic)
{
	static const uint8_t zero[6];

	if (nic->has_mac)
		return fail(ps, ps->line, "nic '%s': mac is given twice: give it once", spec);
	if (!it->val || !spec_item__parse_mac(it->val, it->val_len, nic->mac))
		return fail(ps, ps->line,
			    "nic '%s': mac '%.*s' is malformed: use six hex pairs like "
			    "52:54:00:00:00:10",
			    spec, (int)it->val_len, it->val ?: "");
	if ((nic->mac[0] & 1) || !memcmp(nic->mac, zero, 6))
		return fail(ps, ps->line,
			    "nic '%s': mac '%.*s' is not a unicast address: clear the low bit "
			    "of the first byte, e.g. 52:54:00:00:00:10",
			    spec, (int)it->val_len, it->val);
	nic->has_mac = true;
	return 1;
}

static int add_nic(struct parse *ps, const char *spec)
{
	struct vmcfg *cfg = ps->cfg;
	struct vmcfg_nic *nic = &cfg->nics[cfg->nr_nics];
	const char *p = *spec ? spec : NULL;
	struct spec_item it;

	if (cfg->nr_nics == VMCFG_MAX_NICS)
		return fail(ps, ps->line, "a nic too many: a VM has at most %d NICs: remove one",
			    VMCFG_MAX_NICS);
	while (spec_item__next(&p, &it)) {
		if (spec_item__is(&it, "legacy")) {
			if (!set_flag(ps, "nic", spec, &it, &nic->legacy, NIC_SPEC))
				return 0;
		} else if (spec_item__is(&it, "mac")) {
			if (!set_mac(ps, spec, &it, nic))
				return 0;
		} else if (spec_item__is(&it, "bridge")) {
			if (nic->bridge[0] || !it.val || !valid_ifname(it.val, it.val_len))
				return fail(
				    ps, ps->line,
				    "nic '%s': bridge is given twice or is not an interface "
				    "name: use 1 to %d characters without '/', ':' or spaces",
				    spec, VMCFG_IFNAME_MAX);
			copy_str(nic->bridge, sizeof(nic->bridge), it.val, it.val_len);
		} else {
			return fail(ps, ps->line,
				    "nic '%s': unknown item '%.*s': use " NIC_SPEC
				    " (clusterd names the tap)",
				    spec, (int)it.key_len, it.key);
		}
	}
	for (unsigned int i = 0; nic->has_mac && i < cfg->nr_nics; i++)
		if (cfg->nics[i].has_mac && !memcmp(cfg->nics[i].mac, nic->mac, 6))
			return fail(ps, ps->line,
				    "nic '%s': another nic already has this mac: give each its own",
				    spec);
	cfg->nr_nics++;
	return 1;
}

static int set_protect(struct parse *ps, const char *v)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		ps->cfg->protect = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		ps->cfg->protect = false;
	else
		return fail(ps, ps->line, "protect '%s' is invalid: use yes or no", v);
	return 1;
}

static int set_mode(struct parse *ps, const char *v)
{
	if (vmcfg__mode_from_str(v, &ps->cfg->mode))
		return fail(ps, ps->line, "mode '%s' is invalid: use epoch, event or hybrid", v);
	return 1;
}

static int set_probe(struct parse *ps, const char *v)
{
	if (strlen(v) >= VMCFG_PROBE_MAX || !host_port__valid(v, false))
		return fail(ps, ps->line,
			    "probe '%s' is not ADDR:PORT: give the kv service's address, e.g. "
			    "probe = 198.18.2.10:7777",
			    v);
	copy_str(ps->cfg->probe, sizeof(ps->cfg->probe), v, strlen(v));
	return 1;
}

static const struct key_def {
	const char *name;
	bool repeats;
} keys[NR_KEYS] = {
    [KEY_NAME] = {"name"},	 [KEY_MEMORY] = {"memory"},
    [KEY_VCPUS] = {"vcpus"},	 [KEY_KERNEL] = {"kernel"},
    [KEY_CMDLINE] = {"cmdline"}, [KEY_DISK] = {"disk", true},
    [KEY_NIC] = {"nic", true},	 [KEY_PROTECT] = {"protect"},
    [KEY_MODE] = {"mode"},	 [KEY_INTERVAL] = {"interval_ms"},
    [KEY_PROBE] = {"probe"},
};

static int set_value(struct parse *ps, enum key k, const char *v)
{
	struct vmcfg *cfg = ps->cfg;

	switch (k) {
	case KEY_NAME:
		return set_name(ps, v);
	case KEY_MEMORY:
		return set_number(ps, "memory", v, VMCFG_MIN_MEMORY, VMCFG_MAX_MEMORY, "MiB",
				  &cfg->memory_mib);
	case KEY_VCPUS:
		return set_number(ps, "vcpus", v, 1, VMCFG_MAX_VCPUS, "a count", &cfg->vcpus);
	case KEY_KERNEL:
		return set_kernel(ps, v);
	case KEY_CMDLINE:
		copy_str(cfg->cmdline, sizeof(cfg->cmdline), v, strlen(v));
		return 1;
	case KEY_DISK:
		return add_disk(ps, v);
	case KEY_NIC:
		return add_nic(ps, v);
	case KEY_PROTECT:
		return set_protect(ps, v);
	case KEY_MODE:
		return set_mode(ps, v);
	case KEY_INTERVAL:
		return set_number(ps, "interval_ms", v, 1, VMCFG_MAX_INTERVAL, "milliseconds",
				  &cfg->interval_ms);
	case KEY_PROBE:
		return set_probe(ps, v);
	case NR_KEYS:
		break;
	}
	return 0;
}

/* libinih's handler, for each key = value line read_line passed (no sections: it refuses them). */
static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct parse *ps = user;
	char v[VMCFG_VALUE_MAX + 1];
	size_t len = strlen(value);
	enum key k;

	for (k = 0; k < NR_KEYS && strcmp(name, keys[k].name); k++)
		;
	if (k == NR_KEYS)
		return fail(ps, ps->line, "unknown key '%s': use " KEYS, name);
	if (!keys[k].repeats && ps->first_line[k])
		return fail(ps, ps->line, "%s is given twice (first on line %u): give it once",
			    name, ps->first_line[k]);
	ps->first_line[k] = ps->line;
	/* A value may be quoted, as in xl.cfg: to keep spaces at its ends. */
	if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
		value++;
		len -= 2;
	}
	if (!copy_str(v, sizeof(v), value, len))
		return fail(ps, ps->line, "%s's value is longer than %d characters: shorten it",
			    name, VMCFG_VALUE_MAX);
	return set_value(ps, k, v);
}

int vmcfg__parse_text(const char *text, size_t len, const char *file, struct vmcfg *out, char *err,
		      size_t errlen)
{
	struct parse ps = {
	    .file = file, .p = text, .end = text + len, .cfg = out, .err = err, .errlen = errlen};
	static const char *const required[][2] = {
	    {"name", "name = kv1"},
	    {"kernel", "kernel = /usr/lib/twin/kv.elf"},
	    {"memory", "memory = 64 (MiB)"},
	};
	static const enum key required_keys[] = {KEY_NAME, KEY_KERNEL, KEY_MEMORY};
	int rc;

	memset(out, 0, sizeof(*out));
	out->vcpus = 1;
	out->mode = VMCFG_MODE_EPOCH;
	out->interval_ms = VMCFG_DEFAULT_INTERVAL;
	if (err && errlen)
		err[0] = '\0';
	if (len > VMCFG_TEXT_MAX) {
		fail(&ps, 1, "the file is larger than %d bytes: a VM config is a few lines",
		     VMCFG_TEXT_MAX);
		return -EINVAL;
	}
	rc = ini_parse_stream(read_line, &ps, on_value, &ps);
	if (!ps.failed && rc)
		fail(&ps, rc > 0 ? (unsigned int)rc : ps.line,
		     "not a key = value line: write e.g. memory = 64");
	for (size_t i = 0; !ps.failed && i < sizeof(required_keys) / sizeof(required_keys[0]); i++)
		if (!ps.first_line[required_keys[i]])
			fail(&ps, ps.line ? ps.line : 1, "%s is missing: add a line like %s",
			     required[i][0], required[i][1]);
	return ps.failed ? -EINVAL : 0;
}

int vmcfg__load(const char *path, struct vmcfg *out, char **text, char *err, size_t errlen)
{
	char *buf = malloc(VMCFG_TEXT_MAX + 2);
	size_t len = 0;
	ssize_t r = 1;
	int fd, rc;

	if (text)
		*text = NULL;
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	/* One byte beyond the limit tells a file that is too large. */
	while (fd >= 0 && len <= VMCFG_TEXT_MAX && r > 0) {
		r = read(fd, buf + len, VMCFG_TEXT_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			r = 1;
		else if (r > 0)
			len += r;
	}
	if (fd < 0 || r < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot read the VM config: %s: check the path", path,
			 strerror(errno));
		goto out;
	}
	buf[len] = '\0';
	rc = vmcfg__parse_text(buf, len, path, out, err, errlen);
	if (!rc && text) {
		*text = buf;
		buf = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int vmcfg__expand_host(const char *path, const char *host, char *out, size_t outlen)
{
	size_t n = 0, hl = strlen(host);

	for (const char *s = path; *s; s++) {
		const char *piece = s;
		size_t len = 1;

		if (*s == '%') {
			if (s[1] != 'h' && s[1] != '%')
				return -EINVAL;
			piece = s[1] == 'h' ? host : "%";
			len = s[1] == 'h' ? hl : 1;
			s++;
		}
		if (n + len >= outlen)
			return -ENAMETOOLONG;
		memcpy(out + n, piece, len);
		n += len;
	}
	if (n >= outlen)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return 0;
}

const char *vmcfg__mode_to_str(enum vmcfg_mode mode)
{
	switch (mode) {
	case VMCFG_MODE_EPOCH:
		return "epoch";
	case VMCFG_MODE_EVENT:
		return "event";
	case VMCFG_MODE_HYBRID:
		return "hybrid";
	}
	return "?";
}

int vmcfg__mode_from_str(const char *s, enum vmcfg_mode *out)
{
	for (enum vmcfg_mode m = VMCFG_MODE_EPOCH; m <= VMCFG_MODE_HYBRID; m++) {
		if (!strcmp(s, vmcfg__mode_to_str(m))) {
			*out = m;
			return 0;
		}
	}
	return -EINVAL;
}

/* Appends `key = value`, quoted when the parser would otherwise change the value. */
static void put(FILE *f, const char *key, const char *v, bool quote)
{
	size_t n = strlen(v);

	quote = quote || !n || isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]) ||
		(n >= 2 && v[0] == '"' && v[n - 1] == '"') || strstr(v, " #") || strstr(v, "\t#");
	fprintf(f, quote ? "%s = \"%s\"\n" : "%s = %s\n", key, v);
}

char *vmcfg__render(const struct vmcfg *cfg)
{
	char *text = NULL, spec[VMCFG_VALUE_MAX + 32];
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	put(f, "name", cfg->name, false);
	fprintf(f, "memory = %u\nvcpus = %u\n", cfg->memory_mib, cfg->vcpus);
	put(f, "kernel", cfg->kernel, false);
	if (cfg->cmdline[0])
		put(f, "cmdline", cfg->cmdline, true);
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		const struct vmcfg_disk *d = &cfg->disks[i];

		snprintf(spec, sizeof(spec), "path=%s%s%s", d->path, d->readonly ? ",readonly" : "",
			 d->legacy ? ",legacy" : "");
		put(f, "disk", spec, false);
	}
	for (unsigned int i = 0; i < cfg->nr_nics; i++) {
		const struct vmcfg_nic *nic = &cfg->nics[i];
		const uint8_t *m = nic->mac;
		int n = 0;

		spec[0] = '\0';
		if (nic->has_mac)
			n += snprintf(spec, sizeof(spec), "mac=%02x:%02x:%02x:%02x:%02x:%02x", m[0],
				      m[1], m[2], m[3], m[4], m[5]);
		if (nic->bridge[0])
			n += snprintf(spec + n, sizeof(spec) - n, "%sbridge=%s", n ? "," : "",
				      nic->bridge);
		if (nic->legacy)
			snprintf(spec + n, sizeof(spec) - n, "%slegacy", n ? "," : "");
		fprintf(f, "nic = %s\n", spec);
	}
	fprintf(f, "protect = %s\nmode = %s\ninterval_ms = %u\n", cfg->protect ? "yes" : "no",
		vmcfg__mode_to_str(cfg->mode), cfg->interval_ms);
	if (cfg->probe[0])
		put(f, "probe", cfg->probe, false);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}
