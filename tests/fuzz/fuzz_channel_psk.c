/* Fuzz target for psk_table__parse: a --tls-psk file gives valid keys or one clear error. */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Imigrate -Itests/fuzz \
 *     tests/fuzz/fuzz_channel_psk.c migrate/channel_psk.c -lssl -lcrypto -o fuzz-channel-psk
 *   mkdir -p /tmp/psk-corpus && cp -r tests/fuzz/corpus/channel_psk/. /tmp/psk-corpus/
 *   ./fuzz-channel-psk -max_total_time=60 -max_len=1024 /tmp/psk-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 * The seeds' keys are made-up patterns, not secrets.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "channel_psk.h"
#include "fuzz_target.h"

#define CLS_OK		   0
#define CLS_EINVAL	   1
#define FUZZ_PSK_MAX_INPUT 1024

/* Lines a parser must take as entries: trimmed, neither blank nor a '#' comment. */
static size_t entry_lines(const char *text, size_t len)
{
	size_t n = 0, pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;

		while (pos < end && isspace((unsigned char)text[pos]))
			pos++;
		n += pos < end && text[pos] != '#';
		pos = end + 1;
	}
	return n;
}

/* "identity:hexkey" (lowercase hex) is in the lowercased input, as the entry says. */
static int entry_in_input(const struct psk_entry *e, const char *lower, size_t len)
{
	char want[PSK_IDENTITY_MAX + 2 + 2 * PSK_KEY_MAX + 1];
	size_t n = (size_t)snprintf(want, sizeof(want), "%s:", e->identity);

	for (size_t i = 0; i < n; i++)
		want[i] = (char)tolower((unsigned char)want[i]);
	for (size_t i = 0; i < e->key_len; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%02x", e->key[i]);
	return memmem(lower, len, want, n) != NULL;
}

static const char *check_table(const struct psk_table *t, const char *text, size_t len)
{
	char *lower = malloc(len ? len : 1);
	const char *why = NULL;

	if (!lower)
		return "out of memory";
	for (size_t i = 0; i < len; i++)
		lower[i] = (char)tolower((unsigned char)text[i]);
	if (!t->count || t->count != entry_lines(text, len))
		why = "the entries are not the input's non-blank, non-comment lines";
	for (size_t i = 0; !why && i < t->count; i++) {
		const struct psk_entry *e = &t->entries[i];
		size_t idlen = strlen(e->identity);

		if (!idlen || idlen > PSK_IDENTITY_MAX || strchr(e->identity, ':'))
			why = "an identity is empty, too long, or holds ':'";
		else if (e->key_len < PSK_KEY_MIN || e->key_len > PSK_KEY_MAX)
			why = "a key is shorter or longer than the limits";
		else if (!entry_in_input(e, lower, len))
			why = "an entry is not identity:hexkey as the input spells it";
	}
	free(lower);
	return why;
}

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	char *text = malloc(size ? size : 1); /* exact size, so that ASan sees over-reads */
	char err[256] = "";
	struct psk_table t;
	const char *why = NULL;
	int rc;

	if (!text)
		return "out of memory";
	memcpy(text, data, size);
	rc = psk_table__parse(&t, text, size, "F", err, sizeof(err));
	if (rc == 0) {
		*cls = CLS_OK;
		why = check_table(&t, text, size);
	} else if (rc == -EINVAL) {
		*cls = CLS_EINVAL;
		if (t.entries || t.count)
			why = "an error left entries in the table";
		else if (strncmp(err, "--tls-psk F", 11) || strchr(err, '\n'))
			why = "the error is not one line naming --tls-psk and the file";
	} else {
		why = "psk_table__parse returned neither 0 nor -EINVAL";
	}
	psk_table__dispose(&t);
	free(text);
	return why;
}

static const char *const classes[] = {"ok-", "einval-"};

const struct fuzz_target fuzz_target = {
    .name = "channel_psk",
    .classes = classes,
    .nclasses = 2,
    .check = check,
    .max_input = FUZZ_PSK_MAX_INPUT,
};
