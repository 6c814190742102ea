/* Fuzz target for vmcfg__parse_text: one error line naming FILE:LINE, or a config that round-trips.
 */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Itools tests/fuzz/fuzz_vmcfg.c \
 *     tests/fuzz/libfuzzer-entry.c tools/vmcfg.c tools/host_port.c -linih -o fuzz-vmcfg
 *   mkdir -p /tmp/vmcfg-corpus && cp -r tests/fuzz/corpus/vmcfg/. /tmp/vmcfg-corpus/
 *   ./fuzz-vmcfg -max_total_time=60 -max_len=2048 /tmp/vmcfg-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vmcfg.h"
#include "fuzz_target.h"

#define CLS_OK	0
#define CLS_ERR 1

/* "fuzz.cfg:N: problem: fix" on one line, N a line of the input (1 for an empty one). */
static const char *check_error(const char *err, const uint8_t *data, size_t size)
{
	unsigned long line, lines = 1;
	char *end;

	for (size_t i = 0; i + 1 < size; i++)
		lines += data[i] == '\n';
	if (strncmp(err, "fuzz.cfg:", 9))
		return "the error does not start with the file's name";
	line = strtoul(err + 9, &end, 10);
	if (end == err + 9 || strncmp(end, ": ", 2) || !line || line > lines)
		return "the error does not name a line of the input";
	if (!strstr(end + 2, ": "))
		return "the error gives no fix after the problem";
	if (strchr(err, '\n'))
		return "the error is more than one line";
	return NULL;
}

/* A parsed config renders to text that parses back into the same struct. */
static const char *check_round_trip(const struct vmcfg *cfg)
{
	static struct vmcfg again;
	char err[512], *text = vmcfg__render(cfg);
	const char *why = NULL;

	if (!text)
		return "render failed (out of memory)";
	if (strlen(text) > VMCFG_TEXT_MAX)
		why = "the rendered text is larger than a config may be";
	else if (vmcfg__parse_text(text, strlen(text), "render", &again, err, sizeof(err)))
		why = "the rendered text does not parse";
	else if (memcmp(cfg, &again, sizeof(again)))
		why = "the rendered text parses into another config";
	free(text);
	return why;
}

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	static struct vmcfg cfg;
	char *text = malloc(size ? size : 1), err[512];
	const char *why;
	int rc;

	if (!text)
		return "out of memory";
	memcpy(text, data, size); /* exact size, so that ASan sees over-reads */
	memset(err, 'x', sizeof(err));
	rc = vmcfg__parse_text(text, size, "fuzz.cfg", &cfg, err, sizeof(err));
	free(text);
	if (rc && rc != -EINVAL)
		return "the result is neither 0 nor -EINVAL";
	*cls = rc ? CLS_ERR : CLS_OK;
	if (!memchr(err, '\0', sizeof(err)))
		return "err is not NUL-terminated";
	if (rc)
		return check_error(err, data, size);
	if (err[0])
		return "a good config left an error";
	why = check_round_trip(&cfg);
	return why;
}

static const char *const classes[] = {"ok-", "err-"};

const struct fuzz_target fuzz_target = {
    .name = "vmcfg",
    .classes = classes,
    .nclasses = 2,
    .check = check,
};
