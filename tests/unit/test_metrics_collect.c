/* Unit tests for the metrics page (clusterd/metrics_collect.c): every family from a model state. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "metrics_collect.h"
#include "metrics_fixture.h"
#include "suites.h"

static struct cl_state st; /* big: not on the stack */
static struct mp_page page;
static json_t *repl_kv1, *repl_kv2;
static int repl_asked;

static void add_host(int i, uint32_t node, const char *name)
{
	st.cluster.hosts[i].nodeid = node;
	snprintf(st.cluster.hosts[i].name, sizeof(st.cluster.hosts[i].name), "%s", name);
	st.cluster.hosts[i].state = CL_HOST_ONLINE;
}

static void add_vm(int i, const char *name, enum cl_vm_state state, uint32_t primary,
		   uint32_t backup)
{
	struct cl_vm *v = &st.cluster.vms[i];

	snprintf(v->name, sizeof(v->name), "%s", name);
	v->state = state;
	v->primary = primary;
	v->backup = backup;
	v->memory_mib = 64;
}

/* This host is h1 (node 1) of h1..h3; h3 is not in the membership.  kv1's primary is here,
 * kv2's backup; kv3 runs unprotected on h3. */
static void setup(void)
{
	memset(&st, 0, sizeof(st));
	st.local.nodeid = 1;
	strcpy(st.local.name, "h1");
	st.local.vq_quorate = st.local.stream_quorate = st.local.initialized = true;
	st.local.votes = 2;
	st.local.expected_votes = 3;
	st.local.members[0] = 1;
	st.local.members[1] = 2;
	st.local.nmembers = 2;
	add_host(0, 1, "h1");
	add_host(1, 2, "h2");
	add_host(2, 3, "h3");
	add_vm(0, "kv1", CL_VM_PROTECTED, 1, 2);
	add_vm(1, "kv2", CL_VM_PROTECTED, 2, 1);
	add_vm(5, "kv3", CL_VM_RUNNING, 3, 0);
	repl_kv1 =
	    json_pack("{s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}, s:I, s:I}", "epochs",
		      (json_int_t)1234, "epoch", (json_int_t)1240, "pause_ns", "p50",
		      (json_int_t)1000000, "p99", (json_int_t)3000000, "max", (json_int_t)9000000,
		      "count", (json_int_t)1234, "sum", (json_int_t)2500000000, "ack_latency_ns",
		      "p50", (json_int_t)250000, "p99", (json_int_t)750000, "bytes_total",
		      (json_int_t)67108864, "held_bytes", (json_int_t)1500);
	/* A primary's answer clusterd could not have for a VM whose primary is elsewhere. */
	repl_kv2 = json_pack("{s:I}", "epochs", (json_int_t)99);
	repl_asked = 0;
}

static void teardown(void)
{
	json_decref(repl_kv1);
	json_decref(repl_kv2);
}

static json_t *replication(void *opaque, const char *vm)
{
	repl_asked++;
	ck_assert_str_ne(vm, "kv2"); /* only the primaries here are asked about */
	return !strcmp(vm, "kv1") ? repl_kv1 : !strcmp(vm, "kv2") ? repl_kv2 : NULL;
}

/* The page of st, read back strictly into page. */
static void collect(const struct metrics_source *src)
{
	char *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(metrics_collect__page(src, &out, &len), 0);
	ck_assert_uint_eq(strlen(out), len);
	if (!mp_parse(out, &page))
		ck_abort_msg("%s in:\n%s", page.why, out);
	free(out);
}

static double value(const char *name, const char *const *labels)
{
	const struct mp_sample *x = mp_find(&page, name, labels);

	if (!x)
		ck_abort_msg("no sample %s%s%s", name, labels ? " " : "", labels ? labels[0] : "");
	return x->value;
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_cluster_and_hosts)
{
	struct metrics_source src = {.state = &st, .replication = replication};

	collect(&src);
	ck_assert(value("twin_cluster_quorate", NULL) == 1);
	ck_assert(value("twin_cluster_votes", NULL) == 2);
	ck_assert(value("twin_cluster_expected_votes", NULL) == 3);
	ck_assert(value("twin_host_member", L("host=h1")) == 1);
	ck_assert(value("twin_host_member", L("host=h2")) == 1);
	ck_assert(value("twin_host_member", L("host=h3")) == 0);
	ck_assert(value("twin_host_cpus_offline", L("host=h1")) == 0);
	ck_assert(value("twin_host_pages_offline", L("host=h1")) == 0);

	st.local.vq_quorate = false; /* quorate in clusterd's sense needs all three */
	src.cpus_offline = 2;
	src.pages_offline = 5;
	collect(&src);
	ck_assert(value("twin_cluster_quorate", NULL) == 0);
	ck_assert(value("twin_host_cpus_offline", L("host=h1")) == 2);
	ck_assert(value("twin_host_pages_offline", L("host=h1")) == 5);
}
END_TEST

START_TEST(test_vm_info)
{
	struct metrics_source src = {.state = &st, .replication = replication};

	collect(&src);
	ck_assert(value("twin_vm_info", L("vm=kv1", "state=protected", "primary=h1", "backup=h2",
					  "role=primary")) == 1);
	ck_assert(value("twin_vm_info", L("vm=kv2", "primary=h2", "backup=h1", "role=backup")) ==
		  1);
	ck_assert(value("twin_vm_info",
			L("vm=kv3", "state=running", "primary=h3", "backup=", "role=none")) == 1);
	ck_assert(value("twin_vm_failovers_total", L("vm=kv1")) == 0);
	st.cluster.vms[1].failovers = 3;
	collect(&src);
	ck_assert(value("twin_vm_failovers_total", L("vm=kv2")) == 3);
	ck_assert_str_eq(mp_find(&page, "twin_vm_failovers_total", L("vm=kv2"))->type, "counter");
}
END_TEST

/* The replication figures of kv1 (primary here) in base units; none for kv2 and kv3. */
START_TEST(test_replication)
{
	struct metrics_source src = {.state = &st, .replication = replication};

	collect(&src);
	ck_assert_int_gt(repl_asked, 0);
	ck_assert(value("twin_vm_epochs_total", L("vm=kv1")) == 1234);
	ck_assert(value("twin_vm_pause_seconds", L("vm=kv1", "quantile=0.5")) == 0.001);
	ck_assert(value("twin_vm_pause_seconds", L("vm=kv1", "quantile=0.99")) == 0.003);
	ck_assert(value("twin_vm_ack_latency_seconds", L("vm=kv1", "quantile=0.5")) == 0.00025);
	ck_assert(value("twin_vm_ack_latency_seconds", L("vm=kv1", "quantile=0.99")) == 0.00075);
	/* A summary's totals, from the primary's count and sum (review 7, finding 10). */
	ck_assert(value("twin_vm_pause_seconds_sum", L("vm=kv1")) == 2.5);
	ck_assert(value("twin_vm_pause_seconds_count", L("vm=kv1")) == 1234);
	ck_assert_str_eq(mp_find(&page, "twin_vm_pause_seconds_count", L("vm=kv1"))->type,
			 "summary");
	/* No totals in the answer (ack latency here): no _sum/_count samples, none made up. */
	ck_assert_ptr_null(mp_find(&page, "twin_vm_ack_latency_seconds_sum", L("vm=kv1")));
	ck_assert_ptr_null(mp_find(&page, "twin_vm_ack_latency_seconds_count", L("vm=kv1")));
	ck_assert(value("twin_vm_sent_bytes_total", L("vm=kv1")) == 67108864);
	ck_assert(value("twin_vm_held_output_bytes", L("vm=kv1")) == 1500);
	ck_assert_ptr_null(mp_find(&page, "twin_vm_epochs_total", L("vm=kv2")));
	ck_assert_ptr_null(mp_find(&page, "twin_vm_epochs_total", L("vm=kv3")));
	/* No answer from the primary yet: the families stand, without samples. */
	json_object_clear(repl_kv1);
	collect(&src);
	ck_assert(mp_has_family(&page, "twin_vm_pause_seconds"));
	ck_assert_ptr_null(mp_find(&page, "twin_vm_pause_seconds", NULL));
}
END_TEST

/* A VM name the format must escape, and no VM at all. */
START_TEST(test_names_and_empty)
{
	struct metrics_source src = {.state = &st, .replication = replication};

	memset(st.cluster.vms, 0, sizeof(st.cluster.vms));
	collect(&src);
	ck_assert_ptr_null(mp_find(&page, "twin_vm_info", NULL));
	ck_assert(mp_has_family(&page, "twin_vm_info"));
	add_vm(3, "a\"b\\c", CL_VM_STOPPED, 0, 0);
	collect(&src);
	ck_assert(
	    value("twin_vm_info", L("vm=a\"b\\c", "state=stopped", "primary=", "role=none")) == 1);
}
END_TEST

Suite *metrics_collect_suite(void)
{
	Suite *s = suite_create("metrics_collect");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cluster_and_hosts);
	tcase_add_test(tc, test_vm_info);
	tcase_add_test(tc, test_replication);
	tcase_add_test(tc, test_names_and_empty);
	suite_add_tcase(s, tc);
	return s;
}
