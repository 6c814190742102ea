/* Fuzz target for cpu_list__parse: a refusal, or a set whose formatted list parses back to it. */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Itools tests/fuzz/fuzz_cpu_list.c \
 *     tests/fuzz/libfuzzer-entry.c tools/cpu_list.c -o fuzz-cpu-list
 *   ./fuzz-cpu-list -max_total_time=60 -max_len=4096 tests/fuzz/corpus/cpu_list
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_list.h"
#include "fuzz_target.h"

#define CLS_OK	0
#define CLS_ERR 1

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	static char text[CPU_LIST_MAX], again[CPU_LIST_MAX];
	char *s = malloc(size + 1);
	cpu_set_t set, set2;
	int rc;

	if (!s)
		return "out of memory";
	size_t len, body;

	memcpy(s, data, size);
	s[size] = 0; /* the parser sees up to the first NUL */
	len = strlen(s);
	body = strspn(s, "0123456789,-");
	rc = cpu_list__parse(s, &set);
	free(s);
	*cls = rc ? CLS_ERR : CLS_OK;
	/* Only digits, commas and dashes, and sysfs's one trailing newline, are ever accepted. */
	if (!rc && body != len && !(body + 1 == len && data[body] == '\n'))
		return "a list with other characters was accepted";
	if (rc)
		return rc == -EINVAL ? NULL : "the result is neither 0 nor -EINVAL";
	if (cpu_list__format(&set, text, sizeof(text)))
		return "a parsed set does not format in CPU_LIST_MAX";
	if (cpu_list__parse(text, &set2) || !CPU_EQUAL(&set, &set2))
		return "the formatted list does not parse back to the same set";
	if (cpu_list__format(&set2, again, sizeof(again)) || strcmp(text, again))
		return "formatting is not stable";
	return NULL;
}

static const char *const classes[] = {"ok-", "err-"};

const struct fuzz_target fuzz_target = {
    .name = "cpu_list",
    .classes = classes,
    .nclasses = 2,
    .check = check,
    .max_input = CPU_LIST_MAX,
};
