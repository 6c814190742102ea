/* Unit tests for twin-vmm's control protocol (tools/control.c) against a fake VM. */
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "control.h"
#include "control_fixture.h"
#include "migrate.h"
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

#define INVALID(desc) "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"" desc "\"}}"

START_TEST(test_save)
{
	expect("{\"execute\":\"save\",\"arguments\":{\"file\":\"/tmp/vm.twin\"},\"id\":3}",
	       "{\"return\":{},\"id\":3}");
	ck_assert_int_eq(fake.saves, 1);
	ck_assert_str_eq(fake.file, "/tmp/vm.twin");
	/* The VM stays paused after a save. */
	expect("{\"execute\":\"query-status\"}",
	       "{\"return\":{\"status\":\"paused\",\"running\":false}}");
}
END_TEST

START_TEST(test_bad_save)
{
	expect("{\"execute\":\"save\"}", INVALID("save: \\\"file\\\" must be a file name"));
	expect("{\"execute\":\"save\",\"arguments\":{\"file\":\"\"}}",
	       INVALID("save: \\\"file\\\" must be a file name"));
	expect("{\"execute\":\"save\",\"arguments\":{\"file\":7}}",
	       INVALID("save: \\\"file\\\" must be a file name"));
	expect("{\"execute\":\"save\",\"arguments\":{\"file\":\"vm.twin\"}}",
	       INVALID("save: \\\"file\\\" must be an absolute path: twin-vmm does not share the "
		       "client's working directory"));
	expect("{\"execute\":\"save\",\"arguments\":{\"file\":\"/a\",\"live\":true}}",
	       INVALID("save: unknown argument \\\"live\\\": see README"));
	ck_assert_int_eq(fake.saves, 0);
	/* The VM's own refusal is a GenericError with its reason. */
	fake.busy = true;
	expect("{\"execute\":\"save\",\"arguments\":{\"file\":\"/a\"}}",
	       "{\"error\":{\"class\":\"GenericError\",\"desc\":\"a migration is in progress: wait "
	       "for it or send migrate-cancel\"}}");
	ck_assert_int_eq(fake.saves, 0);
}
END_TEST

START_TEST(test_migrate)
{
	expect("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"127.0.0.1:4444\",\"insecure\":"
	       "true}}",
	       "{\"return\":{}}");
	ck_assert_int_eq(fake.migrates, 1);
	ck_assert_str_eq(fake.uri, "127.0.0.1:4444");
	ck_assert(fake.insecure);
	ck_assert_str_eq(fake.cert, "");
	/* The defaults: live, 30 ms, no cap, lz4, no delta cache. */
	ck_assert(fake.params.live);
	ck_assert_uint_eq(fake.params.downtime_ns, 30000000);
	ck_assert_uint_eq(fake.params.max_bandwidth, 0);
	ck_assert_int_eq(fake.params.compress, MIGRATE_COMPRESS_LZ4);
	ck_assert_uint_eq(fake.params.xbzrle_cache, 0);
	ck_assert(!fake.params.shared_storage && !fake.params.copy_storage);
	/* A second migrate while one runs is the VM's to refuse. */
	expect("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"h:1\",\"insecure\":true}}",
	       "{\"error\":{\"class\":\"GenericError\",\"desc\":\"a migration is in progress: wait "
	       "for it or send migrate-cancel\"}}");
	expect("{\"execute\":\"stop\"}",
	       "{\"error\":{\"class\":\"GenericError\",\"desc\":\"a migration is in progress: wait "
	       "for it or send migrate-cancel\"}}");
	expect("{\"execute\":\"migrate-cancel\",\"id\":1}", "{\"return\":{},\"id\":1}");
	ck_assert_int_eq(fake.cancels, 1);
	expect(
	    "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"[fd00::2]:80\",\"tls_cert\":\"/c\","
	    "\"tls_key\":\"/k\",\"tls_ca\":\"/a\",\"downtime_ms\":5,\"bandwidth_mibs\":100,"
	    "\"compress\":\"zlib\",\"xbzrle_cache_mib\":16,\"copy_storage\":true,"
	    "\"shared_storage\":false}}",
	    "{\"return\":{}}");
	ck_assert(fake.params.copy_storage && !fake.params.shared_storage);
	ck_assert_int_eq(fake.migrates, 2);
	ck_assert_str_eq(fake.uri, "[fd00::2]:80");
	ck_assert_str_eq(fake.cert, "/c");
	ck_assert_str_eq(fake.key, "/k");
	ck_assert_str_eq(fake.ca, "/a");
	ck_assert(!fake.insecure);
	ck_assert_uint_eq(fake.params.downtime_ns, 5000000);
	ck_assert_uint_eq(fake.params.max_bandwidth, 100ULL << 20);
	ck_assert_int_eq(fake.params.compress, MIGRATE_COMPRESS_ZLIB);
	ck_assert_uint_eq(fake.params.xbzrle_cache, 16ULL << 20);
	fake.busy = false;
	expect("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"h:1\",\"tls_psk\":\"/p\","
	       "\"compress\":\"none\"}}",
	       "{\"return\":{}}");
	ck_assert_str_eq(fake.psk, "/p");
	ck_assert_int_eq(fake.params.compress, MIGRATE_COMPRESS_NONE);
}
END_TEST

/* Each bad request is refused before the VM sees it. */
START_TEST(test_bad_migrate)
{
	static const struct {
		const char *args, *desc;
	} bad[] = {
	    {"{}",
	     "migrate: \\\"uri\\\" must be HOST:PORT, e.g. 198.18.0.2:4444 or [fd00::2]:4444"},
	    {"{\"uri\":\"tcp:h:1\",\"insecure\":true}", "migrate: \\\"uri\\\" must be HOST:PORT"},
	    {"{\"uri\":5,\"insecure\":true}", "migrate: \\\"uri\\\" must be HOST:PORT"},
	    {"{\"uri\":\"h:1\"}", "migrate: give exactly one of \\\"tls_cert\\\"+\\\"tls_key\\\"+"
				  "\\\"tls_ca\\\", \\\"tls_psk\\\" or \\\"insecure\\\": true"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"tls_psk\":\"/p\"}", "give exactly one of"},
	    {"{\"uri\":\"h:1\",\"insecure\":false}",
	     "migrate: \\\"insecure\\\" may only be true: leave it out for TLS"},
	    {"{\"uri\":\"h:1\",\"tls_cert\":\"/c\",\"tls_ca\":\"/a\"}",
	     "migrate: \\\"tls_cert\\\", \\\"tls_key\\\" and \\\"tls_ca\\\" go together: give all "
	     "three"},
	    {"{\"uri\":\"h:1\",\"tls_cert\":\"c\",\"tls_key\":\"/k\",\"tls_ca\":\"/a\"}",
	     "migrate: \\\"tls_cert\\\" must be an absolute path"},
	    {"{\"uri\":\"h:1\",\"tls_psk\":\"p\"}",
	     "migrate: \\\"tls_psk\\\" must be an absolute path"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"downtime_ms\":0}",
	     "migrate: \\\"downtime_ms\\\" must be an integer from 1 to 60000"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"downtime_ms\":\"30\"}",
	     "migrate: \\\"downtime_ms\\\" must be an integer from 1 to 60000"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"bandwidth_mibs\":-1}",
	     "migrate: \\\"bandwidth_mibs\\\" must be an integer from 0 to 1048576"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"xbzrle_cache_mib\":1.5}",
	     "migrate: \\\"xbzrle_cache_mib\\\" must be an integer from 0 to 65536"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"compress\":\"gzip\"}",
	     "migrate: \\\"compress\\\" must be \\\"lz4\\\", \\\"zlib\\\" or \\\"none\\\""},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"compress\":null}",
	     "migrate: \\\"compress\\\" must be"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"copy_storage\":1}",
	     "migrate: \\\"copy_storage\\\" must be true or false"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"copy_storage\":true,\"shared_storage\":true}",
	     "migrate: \\\"shared_storage\\\" and \\\"copy_storage\\\" exclude each other"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"blk\":true}",
	     "migrate: unknown argument \\\"blk\\\": see README"},
	};
	char req[512], *got;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(req, sizeof(req), "{\"execute\":\"migrate\",\"arguments\":%s}",
			 bad[i].args);
		got = control__handle_line(&ops, req, strlen(req));
		ck_assert_msg(strstr(got, "\"class\":\"InvalidParameter\"") &&
				  strstr(got, bad[i].desc),
			      "%s -> %s", bad[i].args, got);
		free(got);
	}
	ck_assert_int_eq(fake.migrates, 0);
}
END_TEST

START_TEST(test_query_migrate)
{
	expect("{\"execute\":\"query-migrate\"}",
	       "{\"return\":{\"phase\":\"none\",\"rounds\":0,\"bytes\":0,\"pages\":0,"
	       "\"remaining_pages\":0,\"dirty_rate_pps\":0,\"bandwidth_bps\":0,"
	       "\"expected_downtime_ns\":0,\"eta_ns\":0,\"total_ns\":0,\"downtime_ns\":0,"
	       "\"throttle_pct\":0,\"zero_pages\":0,\"raw_pages\":0,\"lz4_pages\":0,"
	       "\"zlib_pages\":0,\"delta_pages\":0,\"cache_misses\":0,\"disk_chunks\":0,"
	       "\"end_sent\":false,\"source_paused\":false}}");
	fake.status = (struct migrate_status){
	    .phase = MIGRATE_PHASE_FAILED,
	    .rounds = 3,
	    .bytes = 1ULL << 40,
	    .pages = 2,
	    .remaining_pages = 4,
	    .dirty_rate_pps = 5,
	    .bandwidth_bps = 6,
	    .expected_downtime_ns = 7,
	    .eta_ns = 8,
	    .total_ns = 9,
	    .downtime_ns = 10,
	    .throttle_pct = 11,
	    .zero_pages = 12,
	    .raw_pages = 13,
	    .lz4_pages = 14,
	    .zlib_pages = 15,
	    .delta_pages = 16,
	    .cache_misses = 17,
	    .disk_chunks = 18,
	    .end_sent = true,
	    .source_paused = true,
	    .error = "connection to 127.0.0.1:4444 reset by the destination",
	    .warning = "downtime target missed",
	};
	expect("{\"execute\":\"query-migrate\",\"id\":9}",
	       "{\"return\":{\"phase\":\"failed\",\"rounds\":3,\"bytes\":1099511627776,\"pages\":2,"
	       "\"remaining_pages\":4,\"dirty_rate_pps\":5,\"bandwidth_bps\":6,"
	       "\"expected_downtime_ns\":7,\"eta_ns\":8,\"total_ns\":9,\"downtime_ns\":10,"
	       "\"throttle_pct\":11,\"zero_pages\":12,\"raw_pages\":13,\"lz4_pages\":14,"
	       "\"zlib_pages\":15,\"delta_pages\":16,\"cache_misses\":17,\"disk_chunks\":18,"
	       "\"end_sent\":true,\"source_paused\":true,\"warning\":\"downtime target "
	       "missed\",\"error\":\"connection "
	       "to 127.0.0.1:4444 reset by the destination\"},\"id\":9}");
	expect("{\"execute\":\"query-migrate\",\"arguments\":{\"x\":1}}",
	       INVALID("query-migrate takes no arguments: drop \\\"arguments\\\""));
}
END_TEST

/* Like QMP's migrate_cancel: with nothing to cancel it succeeds. */
START_TEST(test_migrate_cancel)
{
	expect("{\"execute\":\"migrate-cancel\"}", "{\"return\":{}}");
	ck_assert_int_eq(fake.cancels, 1);
	ck_assert_int_eq(fake.stops + fake.conts + fake.saves + fake.migrates, 0);
	/* The VM's refusal (too late: stop-copy) is the reply, and nothing is cancelled. */
	fake.busy = true;
	fake.status.phase = MIGRATE_PHASE_STOP_COPY;
	expect("{\"execute\":\"migrate-cancel\",\"id\":2}",
	       "{\"error\":{\"class\":\"GenericError\",\"desc\":\"too late: the destination may "
	       "already be running the VM\"},\"id\":2}");
	ck_assert_int_eq(fake.cancels, 1);
	ck_assert(fake.busy);
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
	tcase_add_test(tc, test_save);
	tcase_add_test(tc, test_bad_save);
	tcase_add_test(tc, test_migrate);
	tcase_add_test(tc, test_bad_migrate);
	tcase_add_test(tc, test_query_migrate);
	tcase_add_test(tc, test_migrate_cancel);
	tcase_add_test(tc, test_bad_json);
	tcase_add_test(tc, test_not_object);
	tcase_add_test(tc, test_missing_execute);
	tcase_add_test(tc, test_unknown_command);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_overlong);
	suite_add_tcase(s, tc);
	return s;
}
