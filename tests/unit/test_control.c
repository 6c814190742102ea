/* Unit tests for twin-vmm's control protocol (tools/control.c) against a fake VM. */
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "control.h"
#include "control_fixture.h"
#include "suites.h"

static void setup(void)
{
	fake = (struct fake_vm){.running = true};
}

/* Runs one request and checks the exact reply line. */
static void expect(const char *req, const char *want)
{
	char *got = control__handle_line(&ops, req, strlen(req));

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	ck_assert_ptr_null(strchr(got, '\n'));
	free(got);
}

#define NOT_YET "{\"error\":{\"class\":\"NotSupported\",\"desc\":\"not implemented yet (issue 4)\"}"

START_TEST(test_greeting)
{
	char *g = control__greeting();

	ck_assert_str_eq(g, "{\"twin\":{\"version\":\"" PACKAGE_VERSION "\",\"protocol\":1}}");
	free(g);
}
END_TEST

START_TEST(test_query_status)
{
	expect("{\"execute\":\"query-status\",\"id\":7}",
	       "{\"return\":{\"status\":\"running\",\"running\":true},\"id\":7}");
	fake.running = false;
	expect("{\"execute\": \"query-status\", \"arguments\": {}, \"id\": {\"x\": [1]}}",
	       "{\"return\":{\"status\":\"paused\",\"running\":false},\"id\":{\"x\":[1]}}");
}
END_TEST

START_TEST(test_stop_cont_idempotent)
{
	expect("{\"execute\":\"stop\",\"id\":\"a\"}", "{\"return\":{},\"id\":\"a\"}");
	expect("{\"execute\":\"stop\"}", "{\"return\":{}}");
	ck_assert_int_eq(fake.stops, 1);
	ck_assert(!fake.running);
	expect("{\"execute\":\"cont\"}", "{\"return\":{}}");
	expect("{\"execute\":\"cont\"}", "{\"return\":{}}");
	ck_assert_int_eq(fake.conts, 1);
	ck_assert(fake.running);
}
END_TEST

START_TEST(test_quit)
{
	expect("{\"execute\":\"quit\",\"id\":null}", "{\"return\":{},\"id\":null}");
	ck_assert_int_eq(fake.quits, 1);
}
END_TEST

START_TEST(test_not_yet)
{
	expect("{\"execute\":\"save\",\"arguments\":{\"file\":\"/tmp/x\"}}", NOT_YET "}");
	expect("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:h:1\"},\"id\":2}",
	       NOT_YET ",\"id\":2}");
	expect("{\"execute\":\"query-migrate\"}", NOT_YET "}");
	expect("{\"execute\":\"migrate-cancel\"}", NOT_YET "}");
	ck_assert_int_eq(fake.stops + fake.conts + fake.quits, 0);
}
END_TEST

#define BAD_JSON "{\"error\":{\"class\":\"GenericError\",\"desc\":\"request is not JSON: "

START_TEST(test_bad_json)
{
	static const char *const bad[] = {"", "{", "nonsense", "{\"execute\":\"stop\"} x",
					  "{\"execute\":\"stop\",\"execute\":\"cont\"}"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *got = control__handle_line(&ops, bad[i], strlen(bad[i]));

		ck_assert_msg(!strncmp(got, BAD_JSON, strlen(BAD_JSON)), "%s -> %s", bad[i], got);
		free(got);
	}
	/* An embedded NUL is not JSON either, and must not cut the line short. */
	{
		char *got = control__handle_line(&ops, "{\"execute\":\"stop\"}\0x", 20);

		ck_assert_ptr_nonnull(strstr(got, "GenericError"));
		free(got);
	}
	ck_assert_int_eq(fake.stops, 0);
}
END_TEST

START_TEST(test_not_object)
{
	expect("[{\"execute\":\"stop\"}]",
	       "{\"error\":{\"class\":\"GenericError\",\"desc\":\"request is not a JSON object: "
	       "send {\\\"execute\\\": NAME}\"}}");
}
END_TEST

START_TEST(test_missing_execute)
{
	expect("{\"id\":1}", "{\"error\":{\"class\":\"GenericError\",\"desc\":\"request has no "
			     "\\\"execute\\\": name a command\"},\"id\":1}");
}
END_TEST

START_TEST(test_unknown_command)
{
	expect("{\"execute\":\"system_reset\",\"id\":4}",
	       "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"the command system_reset was "
	       "not found: see README\"},\"id\":4}");
}
END_TEST

START_TEST(test_wrong_types)
{
	expect("{\"execute\":5}", "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":"
				  "\"\\\"execute\\\" must be a string\"}}");
	expect("{\"execute\":\"stop\",\"arguments\":[1]}",
	       "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"\\\"arguments\\\" must be an "
	       "object\"}}");
	expect("{\"execute\":\"cont\",\"arguments\":{\"now\":true}}",
	       "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"cont takes no arguments: "
	       "drop \\\"arguments\\\"\"}}");
	ck_assert_int_eq(fake.stops + fake.conts, 0);
}
END_TEST

START_TEST(test_overlong)
{
	size_t n = CONTROL_LINE_MAX + 1;
	char *line = malloc(n), *got;

	/* Valid JSON, one byte too long: refused unparsed. */
	memset(line, ' ', n);
	memcpy(line, "{\"execute\":\"stop\"}", 18);
	got = control__handle_line(&ops, line, n);
	ck_assert_str_eq(got, "{\"error\":{\"class\":\"GenericError\",\"desc\":\"request line "
			      "longer than 4096 bytes: send shorter lines\"}}");
	free(got);
	/* Exactly at the bound it is served. */
	got = control__handle_line(&ops, line, n - 1);
	ck_assert_str_eq(got, "{\"return\":{}}");
	free(got);
	free(line);
	ck_assert_int_eq(fake.stops, 1);
}
END_TEST

Suite *control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("protocol");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_greeting);
	tcase_add_test(tc, test_query_status);
	tcase_add_test(tc, test_stop_cont_idempotent);
	tcase_add_test(tc, test_quit);
	tcase_add_test(tc, test_not_yet);
	tcase_add_test(tc, test_bad_json);
	tcase_add_test(tc, test_not_object);
	tcase_add_test(tc, test_missing_execute);
	tcase_add_test(tc, test_unknown_command);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_overlong);
	suite_add_tcase(s, tc);
	return s;
}
