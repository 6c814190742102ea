/* Fuzz target for kv__handle: every datagram gets one well-formed reply, and replays apply nothing.
 */
/*
 * With libFuzzer (clang), from the top of the source tree:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Itests/guests/net \
 *     tests/fuzz/fuzz_kv.c tests/guests/net/kv.c -o fuzz-kv
 *   mkdir -p /tmp/kv-corpus && cp -r tests/fuzz/corpus/kv/. /tmp/kv-corpus/
 *   ./fuzz-kv -max_total_time=60 -max_len=256 /tmp/kv-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 * The store persists across inputs, so later inputs meet keys, clients and SEQs left by
 * earlier ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kv.h"
#include "fuzz_target.h"

#define CLS_OK	0
#define CLS_ERR 1

static struct kv kv;
static int kv_ready;

static const char *const reasons[] = {"BADCLIENT", "BADSEQ", "STALE",	 "BADOP",    "BADKEY",
				      "BADVALUE",  "BADREQ", "READONLY", "OVERFLOW", "FULL"};

/* n bytes of decimal, optionally signed, without leading zeros. */
static int is_number(const char *s, size_t n, int sign)
{
	if (sign && n && s[0] == '-') {
		s++;
		n--;
	}
	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* CLIENT SEQ (OK number | ERR reason), printable, single spaces. */
static const char *check_reply(const char *r, size_t n, int *cls)
{
	const char *tok[4];
	size_t len[4], t = 0, start = 0;

	if (n == 0 || n > KV_REPLY_MAX)
		return "reply empty or longer than KV_REPLY_MAX";
	for (size_t i = 0; i <= n; i++) {
		if (i < n && (r[i] < ' ' || r[i] > '~'))
			return "reply holds a byte that is not printable ASCII";
		if (i == n || r[i] == ' ') {
			if (t == 4 || i == start)
				return "reply is not four non-empty space-separated tokens";
			tok[t] = r + start;
			len[t++] = i - start;
			start = i + 1;
		}
	}
	if (t != 4 || len[0] > KV_CLIENT_MAX)
		return "reply is not four tokens, or its CLIENT is too long";
	if (!is_number(tok[1], len[1], 0) && !(len[1] == 1 && tok[1][0] == '-'))
		return "reply SEQ is neither canonical decimal nor -";
	if (len[2] == 2 && memcmp(tok[2], "OK", 2) == 0) {
		*cls = CLS_OK;
		return is_number(tok[3], len[3], 1) ? NULL : "OK without a decimal value";
	}
	if (len[2] != 3 || memcmp(tok[2], "ERR", 3) != 0)
		return "reply is neither OK nor ERR";
	*cls = CLS_ERR;
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (len[3] == strlen(reasons[i]) && memcmp(tok[3], reasons[i], len[3]) == 0)
			return NULL;
	return "ERR with a REASON the README does not list";
}

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	char *req = malloc(size ? size : 1); /* exact size, so that ASan sees over-reads */
	char first[KV_REPLY_MAX], again[KV_REPLY_MAX];
	uint64_t applied;
	size_t n1, n2;
	const char *why;

	if (!req)
		return "out of memory";
	if (!kv_ready) {
		kv__init(&kv);
		kv_ready = 1;
	}
	memcpy(req, data, size);
	applied = kv.applied;
	n1 = kv__handle(&kv, req, size, first, sizeof(first));
	why = check_reply(first, n1, cls);
	if (!why && kv.applied - applied > (*cls == CLS_OK))
		why = "applied more than once, or applied although the reply is an ERR";
	/* The same datagram again: the same bytes back, and nothing applied. */
	applied = kv.applied;
	n2 = kv__handle(&kv, req, size, again, sizeof(again));
	if (!why && (n2 != n1 || memcmp(first, again, n1) != 0))
		why = "a repeated request got a different reply";
	if (!why && kv.applied != applied)
		why = "a repeated request was applied again";
	free(req);
	return why;
}

static const char *const classes[] = {"ok-", "err-"};

const struct fuzz_target fuzz_target = {
    .name = "kv",
    .classes = classes,
    .nclasses = 2,
    .check = check,
};
