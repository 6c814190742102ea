/* Unit tests for the Prometheus text writer (clusterd/metrics_text.c): escaping, order, a page read
 * back. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "metrics_fixture.h"
#include "metrics_text.h"
#include "suites.h"

static struct metrics_text t;
static struct mp_page page;

static void setup(void)
{
	metrics_text__init(&t);
}

static void teardown(void)
{
	metrics_text__dispose(&t);
}

/* The page t holds, finished; the caller frees it. */
static char *finish(void)
{
	char *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(metrics_text__finish(&t, &out, &len), 0);
	ck_assert_uint_eq(strlen(out), len);
	return out;
}

START_TEST(test_exact_text)
{
	struct metrics_label l[] = {{"vm", "kv1"}, {"quantile", "0.99"}};
	char *out;

	metrics_text__family(&t, "twin_up", METRICS_GAUGE, "Whether it runs.");
	metrics_text__sample(&t, "twin_up", NULL, 0, 1);
	metrics_text__family(&t, "twin_pause_seconds", METRICS_SUMMARY, "Pause.");
	metrics_text__sample(&t, "twin_pause_seconds", l, 2, 0.00125);
	metrics_text__sample(&t, "twin_pause_seconds_count", l, 1, 12);
	out = finish();
	ck_assert_str_eq(out, "# HELP twin_up Whether it runs.\n"
			      "# TYPE twin_up gauge\n"
			      "twin_up 1\n"
			      "# HELP twin_pause_seconds Pause.\n"
			      "# TYPE twin_pause_seconds summary\n"
			      "twin_pause_seconds{vm=\"kv1\",quantile=\"0.99\"} 0.00125\n"
			      "twin_pause_seconds_count{vm=\"kv1\"} 12\n");
	free(out);
}
END_TEST

START_TEST(test_escaping)
{
	struct metrics_label l = {"vm", "a\"b\\c\nd"};
	char *out;

	metrics_text__family(&t, "x", METRICS_GAUGE, "back\\slash\nnew \"quoted\"");
	metrics_text__sample(&t, "x", &l, 1, -3);
	out = finish();
	/* HELP escapes backslash and newline only; a label value also the double quote. */
	ck_assert_str_eq(out, "# HELP x back\\\\slash\\nnew \"quoted\"\n"
			      "# TYPE x gauge\n"
			      "x{vm=\"a\\\"b\\\\c\\nd\"} -3\n");
	ck_assert(mp_parse(out, &page));
	ck_assert_str_eq(page.helps[0], "back\\slash\nnew \"quoted\"");
	ck_assert_str_eq(mp_label(&page.s[0], "vm"), "a\"b\\c\nd");
	free(out);
}
END_TEST

START_TEST(test_values)
{
	static const struct {
		double v;
		const char *text;
	} cases[] = {
	    {0, "0"},		{42, "42"},
	    {-7, "-7"},		{0.1, "0.1"},
	    {1e-9, "1e-09"},	{123456789012345.0, "123456789012345"},
	    {1e300, "1e+300"},	{NAN, "NaN"},
	    {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
	};
	char *out, expect[64];

	metrics_text__family(&t, "v", METRICS_UNTYPED, "values");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct metrics_label l = {"i", "x"};
		char idx[8];

		snprintf(idx, sizeof(idx), "%zu", i);
		l.value = idx;
		metrics_text__sample(&t, "v", &l, 1, cases[i].v);
	}
	out = finish();
	ck_assert(mp_parse(out, &page));
	ck_assert_int_eq(page.n, sizeof(cases) / sizeof(cases[0]));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(expect, sizeof(expect), "v{i=\"%zu\"} %s\n", i, cases[i].text);
		if (!strstr(out, expect))
			ck_abort_msg("%s lacks %s", out, expect);
		/* Read back exactly (NaN is no number equal to itself). */
		if (isnan(cases[i].v))
			ck_assert(isnan(page.s[i].value));
		else
			ck_assert(page.s[i].value == cases[i].v);
	}
	free(out);
}
END_TEST

/* A sample outside the open family, a family twice, bad names: -EINVAL, and it sticks. */
START_TEST(test_order_and_names)
{
	struct metrics_label dup[] = {{"vm", "a"}, {"vm", "b"}};
	struct metrics_label bad[] = {{"9vm", "a"}};
	struct metrics_label reserved[] = {{"__name__", "a"}};
	char *out = NULL;
	size_t len;

	ck_assert_int_eq(metrics_text__sample(&t, "x", NULL, 0, 1), -EINVAL);
	ck_assert_int_eq(metrics_text__family(&t, "x", METRICS_GAUGE, "x"), -EINVAL);
	ck_assert_int_eq(metrics_text__finish(&t, &out, &len), -EINVAL);
	ck_assert_ptr_null(out);

#define FRESH() (metrics_text__dispose(&t), metrics_text__init(&t))
	FRESH();
	metrics_text__family(&t, "a", METRICS_GAUGE, "a");
	metrics_text__family(&t, "b", METRICS_GAUGE, "b");
	ck_assert_int_eq(metrics_text__sample(&t, "a", NULL, 0, 1), -EINVAL);
	FRESH();
	metrics_text__family(&t, "a", METRICS_GAUGE, "a");
	metrics_text__family(&t, "b", METRICS_GAUGE, "b");
	ck_assert_int_eq(metrics_text__family(&t, "a", METRICS_GAUGE, "a"), -EINVAL);
	FRESH();
	metrics_text__family(&t, "a", METRICS_GAUGE, "a");
	ck_assert_int_eq(metrics_text__sample(&t, "a_sum", NULL, 0, 1),
			 -EINVAL); /* not a summary */
	FRESH();
	metrics_text__family(&t, "a", METRICS_SUMMARY, "a");
	ck_assert_int_eq(metrics_text__sample(&t, "a_sum", NULL, 0, 1), 0);
	ck_assert_int_eq(metrics_text__sample(&t, "ab", NULL, 0, 1), -EINVAL);
	FRESH();
	metrics_text__family(&t, "a", METRICS_GAUGE, "a");
	ck_assert_int_eq(metrics_text__sample(&t, "a", dup, 2, 1), -EINVAL);
	FRESH();
	metrics_text__family(&t, "a", METRICS_GAUGE, "a");
	ck_assert_int_eq(metrics_text__sample(&t, "a", bad, 1, 1), -EINVAL);
	FRESH();
	metrics_text__family(&t, "a", METRICS_GAUGE, "a");
	ck_assert_int_eq(metrics_text__sample(&t, "a", reserved, 1, 1), -EINVAL);
	FRESH();
	ck_assert_int_eq(metrics_text__family(&t, "a-b", METRICS_GAUGE, "a"), -EINVAL);
	FRESH();
	ck_assert_int_eq(metrics_text__family(&t, "", METRICS_GAUGE, "a"), -EINVAL);
#undef FRESH
	ck_assert(metrics_text__metric_name_ok("twin:vm_x_1"));
	ck_assert(!metrics_text__label_name_ok("a:b"));
	ck_assert(!metrics_text__metric_name_ok("1a"));
}
END_TEST

/* An empty page is "", not NULL; a page too large is -EFBIG with nothing handed out. */
START_TEST(test_empty_and_oversize)
{
	struct metrics_label l = {"pad", NULL};
	char *out = NULL, *pad = malloc(4000);
	size_t len = 1;
	int rc = 0;

	ck_assert_int_eq(metrics_text__finish(&t, &out, &len), 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(len, 0);
	free(out);
	out = NULL;
	memset(pad, 'p', 3999);
	pad[3999] = 0;
	l.value = pad;
	metrics_text__family(&t, "big", METRICS_GAUGE, "big");
	for (int i = 0; i < METRICS_TEXT_MAX / 4000 + 2 && !rc; i++)
		rc = metrics_text__sample(&t, "big", &l, 1, i);
	ck_assert_int_eq(rc, -EFBIG);
	ck_assert_int_eq(metrics_text__finish(&t, &out, &len), -EFBIG);
	ck_assert_ptr_null(out);
	free(pad);
}
END_TEST

/* A whole page of every type, read back strictly sample by sample. */
START_TEST(test_page_read_back)
{
	static const char *const vms[] = {"kv1", "web \"front\"", "db\\2"};
	const struct mp_sample *x;
	char *out;

	metrics_text__family(&t, "twin_cluster_quorate", METRICS_GAUGE, "quorate");
	metrics_text__sample(&t, "twin_cluster_quorate", NULL, 0, 1);
	metrics_text__family(&t, "twin_vm_epochs_total", METRICS_COUNTER, "epochs");
	for (int i = 0; i < 3; i++) {
		struct metrics_label l = {"vm", vms[i]};

		metrics_text__sample(&t, "twin_vm_epochs_total", &l, 1, 1000 * (i + 1));
	}
	metrics_text__family(&t, "twin_vm_pause_seconds", METRICS_SUMMARY, "pause");
	for (int i = 0; i < 3; i++) {
		struct metrics_label l[] = {{"vm", vms[i]}, {"quantile", "0.5"}};

		metrics_text__sample(&t, "twin_vm_pause_seconds", l, 2, 0.001 * (i + 1));
		l[1].value = "0.99";
		metrics_text__sample(&t, "twin_vm_pause_seconds", l, 2, 0.002 * (i + 1));
	}
	out = finish();
	if (!mp_parse(out, &page))
		ck_abort_msg("%s in:\n%s", page.why, out);
	ck_assert_int_eq(page.nfamilies, 3);
	ck_assert_int_eq(page.n, 1 + 3 + 6);
	ck_assert(mp_has_family(&page, "twin_vm_pause_seconds"));
	x = mp_find(&page, "twin_vm_epochs_total", (const char *const[]){"vm=web \"front\"", NULL});
	ck_assert_ptr_nonnull(x);
	ck_assert(x->value == 2000);
	ck_assert_str_eq(x->type, "counter");
	x = mp_find(&page, "twin_vm_pause_seconds",
		    (const char *const[]){"vm=db\\2", "quantile=0.99", NULL});
	ck_assert_ptr_nonnull(x);
	ck_assert(x->value == 0.002 * 3);
	free(out);
}
END_TEST

/* The reader itself refuses what the format refuses (so the tests above can fail). */
START_TEST(test_reader_is_strict)
{
	static const char *const bad[] = {
	    "x 1\n",							/* no HELP/TYPE */
	    "# HELP x h\n# TYPE x gauge\ny 1\n",			/* another family */
	    "# HELP x h\n# TYPE x gauge\nx{a=\"1} 1\n",			/* unclosed value */
	    "# HELP x h\n# TYPE x gauge\nx{a=\"\\q\"} 1\n",		/* bad escape */
	    "# HELP x h\n# TYPE x gauge\nx 1",				/* no final newline */
	    "# HELP x h\n# TYPE x gauge\nx one\n",			/* not a value */
	    "# HELP x h\n# TYPE x summary\nx 1\n",			/* no quantile */
	    "# HELP x h\n# TYPE x gauge\n# HELP x h\n# TYPE x gauge\n", /* twice */
	    "# other\n",						/* a stray comment */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mp_parse(bad[i], &page))
			ck_abort_msg("the reader took bad page %zu", i);
}
END_TEST

Suite *metrics_text_suite(void)
{
	Suite *s = suite_create("metrics_text");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_exact_text);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_order_and_names);
	tcase_add_test(tc, test_empty_and_oversize);
	tcase_add_test(tc, test_page_read_back);
	tcase_add_test(tc, test_reader_is_strict);
	suite_add_tcase(s, tc);
	return s;
}
