/* Prometheus text exposition format 0.0.4, written: families, samples, escaping.  Pure. */
#ifndef CLUSTERD_METRICS_TEXT_H
#define CLUSTERD_METRICS_TEXT_H
#include <stdbool.h>
#include <stddef.h>

/* The content type a page of this format is served with. */
#define METRICS_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* A page larger than this is refused (-EFBIG): far beyond 64 VMs' worth. */
#define METRICS_TEXT_MAX     (1024 * 1024)
#define METRICS_NAME_MAX     128 /* a metric or label name */
#define METRICS_FAMILIES_MAX 64	 /* distinct families on one page */

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_SUMMARY, METRICS_UNTYPED };

struct metrics_label {
	const char *name, *value; /* value: any UTF-8 text; escaped on output */
};

/*
 * A page being written.  The format wants every sample of a family together, right after
 * its # HELP and # TYPE lines, and each family once: metrics_text__sample refuses a sample
 * outside the family last opened, and metrics_text__family a family opened before.
 *
 * Errors are sticky: the first one (-EINVAL for a bad name or order, -ENOMEM, -EFBIG) is
 * kept and every later call returns it, so a writer may check only metrics_text__finish.
 */
struct metrics_text {
	char *buf;
	size_t len, cap;
	int err;
	enum metrics_type type;		   /* of the open family */
	char family[METRICS_NAME_MAX + 1]; /* "": none open yet */
	char seen[METRICS_FAMILIES_MAX][METRICS_NAME_MAX + 1];
	size_t nseen;
};

void metrics_text__init(struct metrics_text *t);
/* Frees the text (idempotent). */
void metrics_text__dispose(struct metrics_text *t);

/* Opens family name: its # HELP (help escaped) and # TYPE lines.  0 or the sticky error. */
int metrics_text__family(struct metrics_text *t, const char *name, enum metrics_type type,
			 const char *help);

/*
 * One sample line `name{l1="v1",...} value` of the open family.  name is the family's, or
 * for a summary also NAME_sum and NAME_count; a summary's quantile samples carry a
 * "quantile" label.  Label names must be valid and distinct.  value: NaN and +-Inf are
 * written as the format spells them.  0 or the sticky error.
 */
int metrics_text__sample(struct metrics_text *t, const char *name,
			 const struct metrics_label *labels, size_t nlabels, double value);

/*
 * The page: *out is the NUL-terminated text (the caller frees it; t no longer owns it) and
 * *len its length; 0, or the sticky error with nothing handed out.
 */
int metrics_text__finish(struct metrics_text *t, char **out, size_t *len);

/* Whether s is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or label name (no ':'). */
bool metrics_text__metric_name_ok(const char *s);
bool metrics_text__label_name_ok(const char *s);

/* The # TYPE word for type ("counter", "gauge", ...), or "?" when out of range. */
const char *metrics_type__to_str(enum metrics_type type);

#endif
