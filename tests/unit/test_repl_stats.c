/* Unit tests for the replication statistics window: quantiles, the ring's wrap, empty. */
#include <check.h>
#include "repl_stats.h"
#include "suites.h"

START_TEST(test_empty)
{
	struct repl_window w;
	struct repl_quantiles q = {1, 1, 1, 1, 1, 1};

	repl_window__init(&w);
	repl_window__quantiles(&w, &q);
	ck_assert_uint_eq(q.p50 | q.p99 | q.max | q.last | q.count | q.sum, 0);
}
END_TEST

/* 1..100 added backwards: nearest-rank p50 = 50, p99 = 99, max 100, last the last added. */
START_TEST(test_quantiles)
{
	struct repl_window w;
	struct repl_quantiles q;

	repl_window__init(&w);
	for (uint64_t v = 100; v >= 1; v--)
		repl_window__add(&w, v);
	repl_window__quantiles(&w, &q);
	ck_assert_uint_eq(q.p50, 50);
	ck_assert_uint_eq(q.p99, 99);
	ck_assert_uint_eq(q.max, 100);
	ck_assert_uint_eq(q.last, 1);
	ck_assert_uint_eq(q.count, 100);
	ck_assert_uint_eq(q.sum, 5050);
}
END_TEST

START_TEST(test_one_sample)
{
	struct repl_window w;
	struct repl_quantiles q;

	repl_window__init(&w);
	repl_window__add(&w, 7);
	repl_window__quantiles(&w, &q);
	ck_assert_uint_eq(q.p50, 7);
	ck_assert_uint_eq(q.p99, 7);
	ck_assert_uint_eq(q.max, 7);
	ck_assert_uint_eq(q.last, 7);
}
END_TEST

/* Only the last REPL_WINDOW samples count: an early outlier ages out. */
START_TEST(test_window_wraps)
{
	struct repl_window w;
	struct repl_quantiles q;

	repl_window__init(&w);
	repl_window__add(&w, 1000000);
	for (unsigned int i = 0; i < REPL_WINDOW; i++)
		repl_window__add(&w, 5);
	repl_window__quantiles(&w, &q);
	ck_assert_uint_eq(q.max, 5);
	ck_assert_uint_eq(q.p99, 5);
	repl_window__add(&w, 9);
	repl_window__quantiles(&w, &q);
	ck_assert_uint_eq(q.max, 9);
	ck_assert_uint_eq(q.p50, 5);
	ck_assert_uint_eq(q.last, 9);
	/* The totals (a summary's _count and _sum) keep what aged out of the window. */
	ck_assert_uint_eq(q.count, REPL_WINDOW + 2);
	ck_assert_uint_eq(q.sum, 1000000 + 5 * REPL_WINDOW + 9);
}
END_TEST

Suite *repl_stats_suite(void)
{
	Suite *s = suite_create("repl_stats");
	TCase *tc = tcase_create("window");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_quantiles);
	tcase_add_test(tc, test_one_sample);
	tcase_add_test(tc, test_window_wraps);
	suite_add_tcase(s, tc);
	return s;
}
