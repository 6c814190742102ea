/* Prometheus text exposition format 0.0.4, written: families, samples, escaping.  Pure. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics_text.h"

static const char *const type_names[] = {
    [METRICS_COUNTER] = "counter",
    [METRICS_GAUGE] = "gauge",
    [METRICS_SUMMARY] = "summary",
    [METRICS_UNTYPED] = "untyped",
};

const char *metrics_type__to_str(enum metrics_type type)
{
	return (unsigned int)type < sizeof(type_names) / sizeof(type_names[0]) ? type_names[type]
									       : "?";
}

void metrics_text__init(struct metrics_text *t)
{
	*t = (struct metrics_text){0};
}

void metrics_text__dispose(struct metrics_text *t)
{
	free(t->buf);
	t->buf = NULL;
	t->len = t->cap = 0;
}

static int set_err(struct metrics_text *t, int err)
{
	if (!t->err)
		t->err = err;
	return t->err;
}

/* Appends n bytes, growing the buffer; the text stays NUL-terminated. */
static void put(struct metrics_text *t, const char *s, size_t n)
{
	if (t->err)
		return;
	if (t->len + n + 1 > METRICS_TEXT_MAX) {
		set_err(t, -EFBIG);
		return;
	}
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *b;

		while (cap < t->len + n + 1)
			cap *= 2;
		b = realloc(t->buf, cap);
		if (!b) {
			set_err(t, -ENOMEM);
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = 0;
}

static void puts_(struct metrics_text *t, const char *s)
{
	put(t, s, strlen(s));
}

/*
 * s escaped: backslash and newline always (the format's HELP rule), the double quote too in
 * a label value.
 */
static void put_escaped(struct metrics_text *t, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(t, "\\\\");
		else if (*s == '\n')
			puts_(t, "\\n");
		else if (*s == '"' && quote)
			puts_(t, "\\\"");
		else
			put(t, s, 1);
	}
}

static bool name_ok(const char *s, bool colon)
{
	size_t n = strlen(s);

	if (!n || n > METRICS_NAME_MAX || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '_' && !(colon && *s == ':'))
			return false;
	return true;
}

bool metrics_text__metric_name_ok(const char *s)
{
	return name_ok(s, true);
}

/* Names beginning with "__" are Prometheus's own. */
bool metrics_text__label_name_ok(const char *s)
{
	return name_ok(s, false) && strncmp(s, "__", 2);
}

int metrics_text__family(struct metrics_text *t, const char *name, enum metrics_type type,
			 const char *help)
{
	if (t->err)
		return t->err;
	if (!metrics_text__metric_name_ok(name) || (unsigned int)type > METRICS_UNTYPED ||
	    t->nseen == METRICS_FAMILIES_MAX)
		return set_err(t, -EINVAL);
	for (size_t i = 0; i < t->nseen; i++)
		if (!strcmp(t->seen[i], name))
			return set_err(t, -EINVAL); /* a family's samples go together */
	strcpy(t->seen[t->nseen++], name);
	strcpy(t->family, name);
	t->type = type;
	puts_(t, "# HELP ");
	puts_(t, name);
	puts_(t, " ");
	put_escaped(t, help, false);
	puts_(t, "\n# TYPE ");
	puts_(t, name);
	puts_(t, " ");
	puts_(t, metrics_type__to_str(type));
	puts_(t, "\n");
	return t->err;
}

/* Whether name belongs to the open family: itself, or a summary's _sum and _count. */
static bool in_family(const struct metrics_text *t, const char *name)
{
	size_t n = strlen(t->family);

	if (!t->family[0] || strncmp(name, t->family, n))
		return false;
	if (!name[n])
		return true;
	return t->type == METRICS_SUMMARY &&
	       (!strcmp(name + n, "_sum") || !strcmp(name + n, "_count"));
}

/*
 * A value as Go's ParseFloat reads it back exactly: an integer without a fraction, else the
 * shortest %g that round-trips; NaN, +Inf, -Inf by name.
 */
static void put_value(struct metrics_text *t, double v)
{
	char buf[40];

	if (isnan(v)) {
		puts_(t, "NaN");
		return;
	}
	if (isinf(v)) {
		puts_(t, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) { /* 2^53: every integer exact */
		snprintf(buf, sizeof(buf), "%.0f", v);
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
	puts_(t, buf);
}

int metrics_text__sample(struct metrics_text *t, const char *name,
			 const struct metrics_label *labels, size_t nlabels, double value)
{
	if (t->err)
		return t->err;
	if (!in_family(t, name))
		return set_err(t, -EINVAL);
	for (size_t i = 0; i < nlabels; i++) {
		if (!metrics_text__label_name_ok(labels[i].name) || !labels[i].value)
			return set_err(t, -EINVAL);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(labels[i].name, labels[j].name))
				return set_err(t, -EINVAL);
	}
	puts_(t, name);
	for (size_t i = 0; i < nlabels; i++) {
		puts_(t, i ? "," : "{");
		puts_(t, labels[i].name);
		puts_(t, "=\"");
		put_escaped(t, labels[i].value, true);
		puts_(t, "\"");
	}
	puts_(t, nlabels ? "} " : " ");
	put_value(t, value);
	puts_(t, "\n");
	return t->err;
}

int metrics_text__finish(struct metrics_text *t, char **out, size_t *len)
{
	if (!t->err && !t->buf)
		put(t, "", 0); /* an empty page is "" */
	if (t->err)
		return t->err;
	*out = t->buf;
	*len = t->len;
	t->buf = NULL;
	t->len = t->cap = 0;
	return 0;
}
