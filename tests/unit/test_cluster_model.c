/* twin-clusterd's model alone: the state table, messages in, actions out, the safety rule. */
#include <check.h>
#include "cluster_fixture.h"
#include "suites.h"

START_TEST(test_table)
{
	ck_assert(model__vm_allowed(CL_VM_STOPPED, CL_VM_STARTING));
}
END_TEST

Suite *cluster_model_suite(void)
{
	Suite *s = suite_create("cluster_model");
	TCase *tc = tcase_create("model");

	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return s;
}
