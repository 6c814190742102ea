/* The kv service's logic: parse a request, dedup by (CLIENT, SEQ), apply, format the reply. */
#if __STDC_HOSTED__
#include <string.h>
#else
#include "rt.h"
#endif
#include "kv.h"

#define MAX_TOKENS 6 /* one more than the longest request, to see extra tokens */
#define SEQ_DIGITS 20
#define STATS_KEY  "__stats"

struct token {
	const char *p;
	size_t n;
};

/* A reply under construction; KV_REPLY_MAX bounds everything appended. */
struct reply {
	char *p;
	size_t n;
};

static void append(struct reply *r, const char *s, size_t n)
{
	memcpy(r->p + r->n, s, n);
	r->n += n;
}

static void append_str(struct reply *r, const char *s)
{
	append(r, s, strlen(s));
}

static void append_u64(struct reply *r, uint64_t v)
{
	char tmp[SEQ_DIGITS];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	append(r, tmp + sizeof(tmp) - n, n);
}

static void append_i64(struct reply *r, int64_t v)
{
	if (v < 0) {
		append(r, "-", 1);
		append_u64(r, -(uint64_t)v);
	} else {
		append_u64(r, (uint64_t)v);
	}
}

/* FNV-1a: short, and good enough to spread client and key names. */
static uint32_t hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* A token is 1..max printable non-space ASCII bytes. */
static int token_ok(const struct token *t, size_t max)
{
	if (!t->p || t->n == 0 || t->n > max)
		return 0;
	for (size_t i = 0; i < t->n; i++)
		if (t->p[i] <= ' ' || t->p[i] > '~')
			return 0;
	return 1;
}

static int token_is(const struct token *t, const char *s)
{
	return t->p && t->n == strlen(s) && memcmp(t->p, s, t->n) == 0;
}

/* SEQ: 1..20 decimal digits, at most UINT64_MAX. */
static int parse_seq(const struct token *t, uint64_t *out)
{
	uint64_t v = 0;

	if (!t->p || t->n == 0 || t->n > SEQ_DIGITS)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		unsigned int d = (unsigned int)(t->p[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* VALUE: an optional '-' and decimal digits, within int64_t. */
static int parse_value(const struct token *t, int64_t *out)
{
	struct token digits = *t;
	int neg = t->p && t->n && t->p[0] == '-';
	uint64_t v, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

	if (neg) {
		digits.p++;
		digits.n--;
	}
	if (parse_seq(&digits, &v) || v > limit)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* Splits at single spaces; an empty token (two spaces, or one at either end) stays empty. */
static size_t split(const char *req, size_t len, struct token *tok)
{
	size_t ntok = 0, start = 0;

	for (size_t i = 0; i <= len && ntok < MAX_TOKENS; i++) {
		if (i == len || req[i] == ' ') {
			tok[ntok].p = req + start;
			tok[ntok].n = i - start;
			ntok++;
			start = i + 1;
		}
	}
	return ntok;
}

static struct kv_client *client_find(struct kv *kv, const struct token *t)
{
	uint16_t i = kv->client_bucket[hash(t->p, t->n) % KV_CLIENTS];

	for (; i != KV_NIL; i = kv->clients[i].next)
		if (kv->clients[i].len == t->n && memcmp(kv->clients[i].name, t->p, t->n) == 0)
			return &kv->clients[i];
	return NULL;
}

/* Unhooks client i from its hash chain, so its slot can hold another client. */
static void client_unlink(struct kv *kv, uint16_t i)
{
	struct kv_client *c = &kv->clients[i];
	uint16_t *link = &kv->client_bucket[hash(c->name, c->len) % KV_CLIENTS];

	while (*link != i)
		link = &kv->clients[*link].next;
	*link = c->next;
}

/* A new client in a free slot, or in the least recently seen client's slot when full. */
static struct kv_client *client_add(struct kv *kv, const struct token *t)
{
	uint16_t i = 0, *bucket = &kv->client_bucket[hash(t->p, t->n) % KV_CLIENTS];
	struct kv_client *c;

	if (kv->nclients < KV_CLIENTS) {
		i = (uint16_t)kv->nclients++;
	} else {
		for (uint16_t j = 1; j < KV_CLIENTS; j++)
			if (kv->clients[j].used < kv->clients[i].used)
				i = j;
		client_unlink(kv, i);
	}
	c = &kv->clients[i];
	memset(c, 0, sizeof(*c));
	memcpy(c->name, t->p, t->n);
	c->len = (uint8_t)t->n;
	c->next = *bucket;
	*bucket = i;
	return c;
}

static struct kv_key *key_find(struct kv *kv, const struct token *t)
{
	uint16_t i = kv->key_bucket[hash(t->p, t->n) % KV_KEYS];

	for (; i != KV_NIL; i = kv->keys[i].next)
		if (kv->keys[i].len == t->n && memcmp(kv->keys[i].name, t->p, t->n) == 0)
			return &kv->keys[i];
	return NULL;
}

/* The key, created with value 0 if needed; NULL when the table is full. */
static struct kv_key *key_get(struct kv *kv, const struct token *t)
{
	struct kv_key *k = key_find(kv, t);
	uint16_t *bucket;

	if (k || kv->nkeys == KV_KEYS)
		return k;
	bucket = &kv->key_bucket[hash(t->p, t->n) % KV_KEYS];
	k = &kv->keys[kv->nkeys];
	memcpy(k->name, t->p, t->n);
	k->len = (uint8_t)t->n;
	k->value = 0;
	k->next = *bucket;
	*bucket = (uint16_t)kv->nkeys++;
	return k;
}

/*
 * Validates and applies OP KEY [VALUE] (tok[2..]); returns NULL and sets
 * *value on success, else the REASON word.
 */
static const char *apply(struct kv *kv, const struct token *tok, size_t ntok, int64_t *value)
{
	const struct token *op = &tok[2], *key = &tok[3];
	int put = token_is(op, "PUT"), get = token_is(op, "GET"), incr = token_is(op, "INCR");
	struct kv_key *k;
	int64_t v = 0;

	if (!put && !get && !incr)
		return "BADOP";
	if (ntok < 4 || !token_ok(key, KV_KEY_MAX))
		return "BADKEY";
	if (put && (ntok < 5 || parse_value(&tok[4], &v)))
		return "BADVALUE";
	if (ntok > (put ? 5u : 4u))
		return "BADREQ";
	if (token_is(key, STATS_KEY)) {
		if (!get)
			return "READONLY";
		*value = (int64_t)kv->applied;
		return NULL;
	}
	if (get) {
		k = key_find(kv, key);
		*value = k ? k->value : 0;
		return NULL;
	}
	k = key_get(kv, key);
	if (!k)
		return "FULL";
	if (incr && k->value == INT64_MAX)
		return "OVERFLOW";
	k->value = incr ? k->value + 1 : v;
	*value = k->value;
	return NULL;
}

void kv__init(struct kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	memset(kv->key_bucket, 0xff, sizeof(kv->key_bucket));
	memset(kv->client_bucket, 0xff, sizeof(kv->client_bucket));
}

size_t kv__handle(struct kv *kv, const char *req, size_t len, char *reply, size_t cap)
{
	struct token tok[MAX_TOKENS] = {{0}};
	struct reply r = {reply, 0};
	int client_ok, seq_ok;
	struct kv_client *c;
	const char *err;
	uint64_t seq = 0;
	int64_t value = 0;
	size_t ntok;

	if (cap < KV_REPLY_MAX)
		return 0;
	/* Tolerate the newline that `echo ... | nc -u` adds. */
	if (len && req[len - 1] == '\n')
		len--;
	if (len && req[len - 1] == '\r')
		len--;
	ntok = split(req, len, tok);
	client_ok = token_ok(&tok[0], KV_CLIENT_MAX);
	seq_ok = ntok >= 2 && parse_seq(&tok[1], &seq) == 0;

	/* Without a usable CLIENT or SEQ there is nothing to remember: "-" stands in. */
	if (client_ok)
		append(&r, tok[0].p, tok[0].n);
	else
		append_str(&r, "-");
	append_str(&r, " ");
	if (seq_ok)
		append_u64(&r, seq);
	else
		append_str(&r, "-");
	if (!client_ok || !seq_ok) {
		append_str(&r, client_ok ? " ERR BADSEQ" : " ERR BADCLIENT");
		return r.n;
	}

	kv->clock++;
	c = client_find(kv, &tok[0]);
	if (c) {
		c->used = kv->clock;
		if (seq == c->seq) {
			memcpy(reply, c->reply, c->reply_len);
			return c->reply_len;
		}
		if (seq < c->seq) {
			append_str(&r, " ERR STALE");
			return r.n;
		}
	} else {
		c = client_add(kv, &tok[0]);
		c->used = kv->clock;
	}

	err = ntok >= 3 ? apply(kv, tok, ntok, &value) : "BADOP";
	if (err) {
		append_str(&r, " ERR ");
		append_str(&r, err);
	} else {
		append_str(&r, " OK ");
		append_i64(&r, value);
		kv->applied++;
	}
	c->seq = seq;
	memcpy(c->reply, reply, r.n);
	c->reply_len = (uint8_t)r.n;
	return r.n;
}
