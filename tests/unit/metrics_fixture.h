/* A strict reader of Prometheus text format 0.0.4 pages, for the metrics unit tests. */
#ifndef TESTS_UNIT_METRICS_FIXTURE_H
#define TESTS_UNIT_METRICS_FIXTURE_H
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

#define MP_MAX	      256
#define MP_LABELS_MAX 8
#define MP_STR	      256

struct mp_sample {
	char name[MP_STR];
	char family[MP_STR], type[16]; /* of the # TYPE line it follows */
	int nlabels;
	char lname[MP_LABELS_MAX][MP_STR], lvalue[MP_LABELS_MAX][MP_STR];
	double value;
};

struct mp_page {
	struct mp_sample s[MP_MAX];
	int n;
	char families[MP_MAX][MP_STR];
	char helps[MP_MAX][MP_STR]; /* unescaped */
	int nfamilies;
	char why[512]; /* the first error */
};

static inline bool mp_fail(struct mp_page *p, int line, const char *what)
{
	snprintf(p->why, sizeof(p->why), "line %d: %s", line, what);
	return false;
}

/* A name of the charset at *s (colon allowed or not), into out; false if none. */
static inline bool mp_name(const char **s, char *out, bool colon)
{
	size_t n = 0;

	if (**s >= '0' && **s <= '9')
		return false;
	while ((**s >= 'a' && **s <= 'z') || (**s >= 'A' && **s <= 'Z') ||
	       (**s >= '0' && **s <= '9') || **s == '_' || (colon && **s == ':')) {
		if (n + 1 >= MP_STR)
			return false;
		out[n++] = *(*s)++;
	}
	out[n] = 0;
	return n > 0;
}

/* Text up to end of line, unescaping \\ and \n (and \" if quoted, which ends at '"'). */
static inline bool mp_unescape(const char **s, char *out, bool quoted)
{
	size_t n = 0;

	while (**s && **s != '\n' && !(quoted && **s == '"')) {
		char c = *(*s)++;

		if (c == '\\') {
			c = *(*s)++;
			if (c == 'n')
				c = '\n';
			else if (c != '\\' && !(quoted && c == '"'))
				return false;
		}
		if (n + 1 >= MP_STR)
			return false;
		out[n++] = c;
	}
	out[n] = 0;
	if (quoted) {
		if (**s != '"')
			return false;
		(*s)++;
	}
	return true;
}

static inline bool mp_value(const char **s, double *v)
{
	char *end;

	if (!strncmp(*s, "NaN", 3) || !strncmp(*s, "+Inf", 4) || !strncmp(*s, "-Inf", 4)) {
		*v = **s == 'N' ? NAN : **s == '+' ? INFINITY : -INFINITY;
		*s += **s == 'N' ? 3 : 4;
		return true;
	}
	if (!((**s >= '0' && **s <= '9') || **s == '-' || **s == '+' || **s == '.'))
		return false;
	*v = strtod(*s, &end);
	if (end == *s)
		return false;
	*s = end;
	return true;
}

/* Whether the sample name belongs to the current family (itself; a summary's _sum, _count). */
static inline bool mp_in_family(const char *name, const char *family, const char *type)
{
	size_t n = strlen(family);

	if (strncmp(name, family, n))
		return false;
	return !name[n] || (!strcmp(type, "summary") &&
			    (!strcmp(name + n, "_sum") || !strcmp(name + n, "_count")));
}

/*
 * Reads every line strictly: "# HELP name text", then "# TYPE name type" of the same name,
 * then its samples `name{l="v",...} value`; each family once; a final newline.  False with
 * p->why on the first violation.
 */
static inline bool mp_parse(const char *text, struct mp_page *p)
{
	char family[MP_STR] = "", type[16] = "", help_of[MP_STR] = "";
	int line = 0;

	memset(p, 0, sizeof(*p));
	if (*text && text[strlen(text) - 1] != '\n')
		return mp_fail(p, 0, "no final newline");
	for (const char *s = text; *s; s++) {
		char name[MP_STR];

		line++;
		if (!strncmp(s, "# HELP ", 7)) {
			s += 7;
			if (!mp_name(&s, name, true) || *s++ != ' ')
				return mp_fail(p, line, "bad HELP name");
			for (int i = 0; i < p->nfamilies; i++)
				if (!strcmp(p->families[i], name))
					return mp_fail(p, line, "a family given twice");
			if (p->nfamilies == MP_MAX)
				return mp_fail(p, line, "too many families");
			if (!mp_unescape(&s, p->helps[p->nfamilies], false))
				return mp_fail(p, line, "bad HELP text");
			strcpy(help_of, name);
		} else if (!strncmp(s, "# TYPE ", 7)) {
			s += 7;
			if (!mp_name(&s, name, true) || *s++ != ' ' || strcmp(name, help_of))
				return mp_fail(p, line, "TYPE without its HELP just before");
			if (sscanf(s, "%15[a-z]", type) != 1 ||
			    (strcmp(type, "counter") && strcmp(type, "gauge") &&
			     strcmp(type, "summary") && strcmp(type, "untyped")))
				return mp_fail(p, line, "unknown TYPE");
			s += strlen(type);
			strcpy(family, name);
			strcpy(p->families[p->nfamilies++], name);
			help_of[0] = 0;
		} else if (*s == '#') {
			return mp_fail(p, line, "a comment that is neither HELP nor TYPE");
		} else {
			struct mp_sample *x = &p->s[p->n];

			if (p->n == MP_MAX)
				return mp_fail(p, line, "too many samples");
			memset(x, 0, sizeof(*x));
			if (!mp_name(&s, x->name, true))
				return mp_fail(p, line, "bad sample name");
			if (!family[0] || !mp_in_family(x->name, family, type))
				return mp_fail(p, line, "a sample outside its family");
			strcpy(x->family, family);
			strcpy(x->type, type);
			if (*s == '{') {
				s++;
				while (*s != '}') {
					int i = x->nlabels;

					if (i == MP_LABELS_MAX ||
					    !mp_name(&s, x->lname[i], false) || *s++ != '=' ||
					    *s++ != '"' || !mp_unescape(&s, x->lvalue[i], true))
						return mp_fail(p, line, "bad label");
					for (int j = 0; j < i; j++)
						if (!strcmp(x->lname[i], x->lname[j]))
							return mp_fail(p, line, "a label twice");
					x->nlabels++;
					if (*s == ',')
						s++;
					else if (*s != '}')
						return mp_fail(p, line, "labels not closed");
				}
				s++;
			}
			if (*s++ != ' ' || !mp_value(&s, &x->value))
				return mp_fail(p, line, "bad value");
			if (!strcmp(x->type, "summary") && !strcmp(x->name, x->family)) {
				bool q = false;

				for (int j = 0; j < x->nlabels; j++)
					q = q || !strcmp(x->lname[j], "quantile");
				if (!q)
					return mp_fail(p, line,
						       "a summary sample without quantile");
			}
			p->n++;
		}
		if (*s != '\n')
			return mp_fail(p, line, "trailing text");
	}
	return true;
}

/* The label named name of x, or NULL. */
static inline const char *mp_label(const struct mp_sample *x, const char *name)
{
	for (int i = 0; i < x->nlabels; i++)
		if (!strcmp(x->lname[i], name))
			return x->lvalue[i];
	return NULL;
}

/*
 * The sample name whose labels include every "name=value" of want (NULL-terminated), or
 * NULL.
 */
static inline const struct mp_sample *mp_find(const struct mp_page *p, const char *name,
					      const char *const *want)
{
	for (int i = 0; i < p->n; i++) {
		bool all = !strcmp(p->s[i].name, name);

		for (int w = 0; all && want && want[w]; w++) {
			const char *eq = strchr(want[w], '=');
			char lname[MP_STR];
			const char *v;

			snprintf(lname, sizeof(lname), "%.*s", (int)(eq - want[w]), want[w]);
			v = mp_label(&p->s[i], lname);
			all = v && !strcmp(v, eq + 1);
		}
		if (all)
			return &p->s[i];
	}
	return NULL;
}

static inline bool mp_has_family(const struct mp_page *p, const char *name)
{
	for (int i = 0; i < p->nfamilies; i++)
		if (!strcmp(p->families[i], name))
			return true;
	return false;
}

#endif
