/* Replication statistics: quantiles over a ring of the last samples, sorted on demand. */
#include <stdlib.h>
#include <string.h>
#include "repl_stats.h"

void repl_window__init(struct repl_window *w)
{
	memset(w, 0, sizeof(*w));
}

void repl_window__add(struct repl_window *w, uint64_t sample)
{
	w->v[w->n % REPL_WINDOW] = sample;
	w->n++;
	w->sum += sample;
	w->last = sample;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank pct-th percentile of n sorted samples (n > 0). */
static uint64_t rank(const uint64_t *sorted, uint64_t n, unsigned int pct)
{
	uint64_t r = (n * pct + 99) / 100; /* ceil(n * pct / 100), at least 1 */

	return sorted[(r ? r : 1) - 1];
}

void repl_window__quantiles(const struct repl_window *w, struct repl_quantiles *out)
{
	/* A copy: a status query never reorders the ring, and 8 KiB is cheap to sort. */
	uint64_t sorted[REPL_WINDOW];
	uint64_t n = w->n < REPL_WINDOW ? w->n : REPL_WINDOW;

	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	memcpy(sorted, w->v, n * sizeof(sorted[0]));
	qsort(sorted, n, sizeof(sorted[0]), cmp_u64);
	out->p50 = rank(sorted, n, 50);
	out->p99 = rank(sorted, n, 99);
	out->max = sorted[n - 1];
	out->last = w->last;
	out->count = w->n;
	out->sum = w->sum;
}
