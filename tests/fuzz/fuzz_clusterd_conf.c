/* Fuzz target for conf__parse (clusterd.conf): one error line naming FILE[:LINE], or a sound
 * config. */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iclusterd tests/fuzz/fuzz_clusterd_conf.c \
 *     tests/fuzz/libfuzzer-entry.c clusterd/conf.c -linih -o fuzz-clusterd-conf
 *   ./fuzz-clusterd-conf -max_total_time=60 tests/fuzz/corpus/clusterd_conf
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "conf.h"
#include "fuzz_target.h"

#define CLS_OK	0
#define CLS_ERR 1

/* "fuzz.conf:N: problem: fix" with N a line of the input, or "fuzz.conf: problem: fix". */
static const char *check_error(const char *err, const char *text)
{
	unsigned long line, lines = 1;
	const char *rest = err + 9;
	char *end;

	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	if (strncmp(err, "fuzz.conf", 9))
		return "the error does not start with the file's name";
	if (*rest == ':' && rest[1] != ' ') {
		line = strtoul(rest + 1, &end, 10);
		if (end == rest + 1 || !line || line > lines)
			return "the error does not name a line of the input";
		rest = end;
	}
	if (strncmp(rest, ": ", 2) || !strstr(rest + 2, ": "))
		return "the error gives no problem and fix";
	if (strchr(err, '\n'))
		return "the error is more than one line";
	return NULL;
}

/* What conf__parse promises of a config it accepts. */
static const char *check_config(const struct clusterd_conf *c)
{
	const struct conf_tls *t = &c->tls;

	if (!c->cluster_name[0] || !c->host_name[0] || !c->replication_addr[0])
		return "a required key is empty";
	if (c->state_dir[0] != '/' || c->socket[0] != '/' || c->twin_vmm[0] != '/' ||
	    c->vm_configs[0] != '/')
		return "a path is not absolute";
	if ((t->cert[0] || t->key[0] || t->ca[0]) + !!t->psk[0] + t->insecure != 1)
		return "not exactly one way to secure replication";
	if ((t->cert[0] || t->key[0] || t->ca[0]) && !(t->cert[0] && t->key[0] && t->ca[0]))
		return "cert, key and ca not all given";
	if (c->port_base < 1024 || c->port_base + CL_MAX_VMS > 65535)
		return "port_base out of range";
	return NULL;
}

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	static struct clusterd_conf cfg;
	char *text = malloc(size + 1), err[512];
	const char *why;
	int rc;

	if (!text)
		return "out of memory";
	/* conf__load refuses a NUL byte: the text ends at the first one. */
	memcpy(text, data, size);
	text[size] = 0;
	memset(err, 'x', sizeof(err));
	rc = conf__parse(text, "fuzz.conf", &cfg, err, sizeof(err));
	*cls = rc ? CLS_ERR : CLS_OK;
	if (rc && rc != -EINVAL)
		why = "the result is neither 0 nor -EINVAL";
	else if (!memchr(err, '\0', sizeof(err)) && rc)
		why = "err is not NUL-terminated";
	else
		why = rc ? check_error(err, text) : check_config(&cfg);
	free(text);
	return why;
}

static const char *const classes[] = {"ok-", "err-"};

const struct fuzz_target fuzz_target = {
    .name = "clusterd_conf",
    .classes = classes,
    .nclasses = 2,
    .check = check,
};
