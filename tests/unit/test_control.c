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

/* Runs one request and checks that its reply holds want. */
static void expect_has(const char *req, const char *want)
{
	char *got = control__handle_line(&ops, req, strlen(req));

	ck_assert_ptr_nonnull(got);
	ck_assert_msg(strstr(got, want), "%s -> %s", req, got);
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

START_TEST(test_protect)
{
	expect("{\"execute\":\"protect\",\"arguments\":{\"uri\":\"198.18.0.2:4444\",\"tls_psk\":"
	       "\"/k.psk\"},\"id\":1}",
	       "{\"return\":{},\"id\":1}");
	ck_assert_int_eq(fake.protects, 1);
	ck_assert_str_eq(fake.uri, "198.18.0.2:4444");
	ck_assert_str_eq(fake.psk, "/k.psk");
	/* The engine's defaults: epoch mode, 25 ms, 2 ms, 1 s, lz4, no delta cache. */
	ck_assert_int_eq(fake.repl.mode, REPL_MODE_EPOCH);
	ck_assert_uint_eq(fake.repl.interval_ns, REPL_INTERVAL_DEFAULT_NS);
	ck_assert_uint_eq(fake.repl.min_spacing_ns, REPL_MIN_SPACING_DEFAULT_NS);
	ck_assert_uint_eq(fake.repl.timeout_ns, REPL_TIMEOUT_DEFAULT_NS);
	ck_assert_uint_eq(fake.repl.output_limit, REPL_OUTPUT_LIMIT_DEFAULT);
	ck_assert_int_eq(fake.repl.compress, MIGRATE_COMPRESS_LZ4);
	ck_assert_uint_eq(fake.repl.xbzrle_cache, 0);
	/* A second protect is the VM's to refuse. */
	expect("{\"execute\":\"protect\",\"arguments\":{\"uri\":\"h:1\",\"insecure\":true}}",
	       "{\"error\":{\"class\":\"GenericError\",\"desc\":\"protect: the VM is already "
	       "protected: unprotect first\"}}");
	expect("{\"execute\":\"unprotect\",\"id\":2}", "{\"return\":{},\"id\":2}");
	ck_assert_int_eq(fake.unprotects, 1);
	expect("{\"execute\":\"protect\",\"arguments\":{\"uri\":\"[fd00::2]:80\",\"insecure\":"
	       "true,\"mode\":\"hybrid\",\"interval_ms\":100,\"min_spacing_ms\":5,"
	       "\"timeout_ms\":2500,\"compress\":\"zlib\",\"xbzrle_cache_mib\":16}}",
	       "{\"return\":{}}");
	ck_assert_int_eq(fake.protects, 2);
	ck_assert(fake.insecure);
	ck_assert_int_eq(fake.repl.mode, REPL_MODE_HYBRID);
	ck_assert_uint_eq(fake.repl.interval_ns, 100000000);
	ck_assert_uint_eq(fake.repl.min_spacing_ns, 5000000);
	ck_assert_uint_eq(fake.repl.timeout_ns, 2500000000ULL);
	ck_assert_int_eq(fake.repl.compress, MIGRATE_COMPRESS_ZLIB);
	ck_assert_uint_eq(fake.repl.xbzrle_cache, 16ULL << 20);
}
END_TEST

START_TEST(test_bad_protect)
{
	static const struct {
		const char *args, *desc;
	} bad[] = {
	    {"{\"insecure\":true}", "protect: \\\"uri\\\" must be the backup's HOST:PORT"},
	    {"{\"uri\":\"h:0\",\"insecure\":true}", "\\\"uri\\\" must be the backup's"},
	    {"{\"uri\":\"h:1\"}", "protect: give exactly one of"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"tls_psk\":\"/p\"}", "protect: give exactly one"},
	    {"{\"uri\":\"h:1\",\"tls_cert\":\"/c\"}", "protect: \\\"tls_cert\\\", "},
	    {"{\"uri\":\"h:1\",\"tls_psk\":\"p\"}", "protect: \\\"tls_psk\\\" must be an absolute"},
	    {"{\"uri\":\"h:1\",\"insecure\":false}", "protect: \\\"insecure\\\" may only be true"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"mode\":\"remus\"}",
	     "protect: \\\"mode\\\" must be \\\"epoch\\\", \\\"event\\\" or \\\"hybrid\\\""},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"mode\":1}", "\\\"mode\\\" must be"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"interval_ms\":0}",
	     "protect: \\\"interval_ms\\\" must be an integer from 1 to 60000"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"min_spacing_ms\":60001}",
	     "protect: \\\"min_spacing_ms\\\" must be an integer from 1 to 60000"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"timeout_ms\":199}",
	     "protect: \\\"timeout_ms\\\" must be an integer from 200 to 3600000"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"compress\":\"gzip\"}",
	     "protect: \\\"compress\\\" must be"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"xbzrle_cache_mib\":-1}",
	     "protect: \\\"xbzrle_cache_mib\\\" must be"},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"downtime_ms\":5}",
	     "protect: unknown argument \\\"downtime_ms\\\""},
	    {"{\"uri\":\"h:1\",\"insecure\":true,\"copy_storage\":true}",
	     "protect: unknown argument \\\"copy_storage\\\""},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char req[512], *got;

		snprintf(req, sizeof(req), "{\"execute\":\"protect\",\"arguments\":%s}",
			 bad[i].args);
		got = control__handle_line(&ops, req, strlen(req));
		ck_assert_msg(strstr(got, "\"class\":\"InvalidParameter\"") &&
				  strstr(got, bad[i].desc),
			      "%s -> %s", bad[i].args, got);
		free(got);
	}
	ck_assert_int_eq(fake.protects, 0);
}
END_TEST

START_TEST(test_unprotect_set_replication)
{
	/* Not protected: the VM's refusal. */
	expect("{\"execute\":\"unprotect\"}",
	       "{\"error\":{\"class\":\"GenericError\",\"desc\":\"unprotect: the VM is not "
	       "protected\"}}");
	expect("{\"execute\":\"unprotect\",\"arguments\":{\"force\":true}}",
	       INVALID("unprotect takes no arguments: drop \\\"arguments\\\""));
	expect("{\"execute\":\"set-replication\",\"arguments\":{\"mode\":\"event\"}}",
	       "{\"return\":{}}");
	ck_assert(fake.set.mode_set);
	ck_assert_int_eq(fake.set.mode, REPL_MODE_EVENT);
	/* 0: keep that interval. */
	ck_assert_uint_eq(fake.set.interval_ns, 0);
	ck_assert_uint_eq(fake.set.min_spacing_ns, 0);
	expect("{\"execute\":\"set-replication\",\"arguments\":{\"interval_ms\":10,"
	       "\"min_spacing_ms\":3},\"id\":5}",
	       "{\"return\":{},\"id\":5}");
	ck_assert(!fake.set.mode_set);
	ck_assert_uint_eq(fake.set.interval_ns, 10000000);
	ck_assert_uint_eq(fake.set.min_spacing_ns, 3000000);
	ck_assert_int_eq(fake.sets, 2);
	expect("{\"execute\":\"set-replication\"}",
	       INVALID("set-replication: give \\\"mode\\\", \\\"interval_ms\\\" or "
		       "\\\"min_spacing_ms\\\""));
	expect("{\"execute\":\"set-replication\",\"arguments\":{\"mode\":\"fast\"}}",
	       INVALID("set-replication: \\\"mode\\\" must be \\\"epoch\\\", \\\"event\\\" or "
		       "\\\"hybrid\\\""));
	expect("{\"execute\":\"set-replication\",\"arguments\":{\"interval_ms\":\"5\"}}",
	       INVALID("set-replication: \\\"interval_ms\\\" must be an integer from 1 to 60000"));
	expect("{\"execute\":\"set-replication\",\"arguments\":{\"timeout_ms\":500}}",
	       INVALID("set-replication: unknown argument \\\"timeout_ms\\\": see README"));
	ck_assert_int_eq(fake.sets, 2);
}
END_TEST

START_TEST(test_query_replication)
{
	fake.repl_status = (struct repl_status){.primary = true};
	expect("{\"execute\":\"query-replication\"}",
	       "{\"return\":{\"state\":\"none\",\"role\":\"primary\",\"mode\":\"epoch\","
	       "\"interval_ms\":0,\"min_spacing_ms\":0,\"epoch\":0,\"acked_epoch\":0,\"epochs\":0,"
	       "\"pause_ns\":{\"p50\":0,\"p99\":0,\"max\":0,\"last\":0,\"count\":0,\"sum\":0},"
	       "\"ack_latency_ns\":{\"p50\":0,\"p99\":0,\"max\":0,\"last\":0,\"count\":0,\"sum\":0},"
	       "\"output_held_ns\":{\"p50\":0,\"p99\":0,\"max\":0,\"last\":0,\"count\":0,\"sum\":0},"
	       "\"commit_ns\":{\"p50\":0,\"p99\":0,\"max\":0,\"last\":0,\"count\":0,\"sum\":0},"
	       "\"dirty_pages_last\":0,\"dirty_pages_mean\":0,\"epoch_bytes_last\":0,"
	       "\"epoch_bytes_mean\":0,\"disk_bytes_last\":0,\"bytes_total\":0,\"held_bytes\":0,"
	       "\"held_frames\":0,\"overflow_drops\":0,\"released_frames\":0,\"peer_silent_ms\":0,"
	       "\"cluster\":false,\"peer\":\"\","
	       "\"error\":\"\",\"sync\":{\"phase\":\"none\",\"rounds\":0,\"bytes\":0,\"pages\":0,"
	       "\"remaining_pages\":0,\"dirty_rate_pps\":0,\"bandwidth_bps\":0,"
	       "\"expected_downtime_ns\":0,\"eta_ns\":0,\"total_ns\":0,\"downtime_ns\":0,"
	       "\"throttle_pct\":0,\"zero_pages\":0,\"raw_pages\":0,\"lz4_pages\":0,"
	       "\"zlib_pages\":0,\"delta_pages\":0,\"cache_misses\":0,\"disk_chunks\":0,"
	       "\"end_sent\":false,\"source_paused\":false}}}");
	fake.repl_status = (struct repl_status){
	    .state = REPL_STATE_DEGRADED,
	    .primary = false,
	    .mode = REPL_MODE_HYBRID,
	    .interval_ns = 25000000,
	    .min_spacing_ns = 2000000,
	    .epoch = 1ULL << 40,
	    .acked_epoch = 41,
	    .epochs = 42,
	    .pause_ns = {1, 2, 3, 4, 42, 99},
	    .ack_latency_ns = {5, 6, 7, 8},
	    .output_held_ns = {9, 10, 11, 12},
	    .commit_ns = {13, 14, 15, 16},
	    .dirty_pages_last = 17,
	    .dirty_pages_mean = 18,
	    .epoch_bytes_last = 19,
	    .epoch_bytes_mean = 20,
	    .disk_bytes_last = 21,
	    .bytes_total = 22,
	    .held_bytes = 23,
	    .held_frames = 24,
	    .overflow_drops = 25,
	    .released_frames = 28,
	    .peer_silent_ns = 26000000,
	    .cluster = true,
	    .sync = {.phase = MIGRATE_PHASE_COMPLETED, .rounds = 27},
	    .peer = "198.18.0.2:4444",
	    .error = "no ack for epoch 42 within 1000 ms",
	};
	expect("{\"execute\":\"query-replication\",\"id\":\"q\"}",
	       "{\"return\":{\"state\":\"degraded\",\"role\":\"backup\",\"mode\":\"hybrid\","
	       "\"interval_ms\":25,\"min_spacing_ms\":2,\"epoch\":1099511627776,\"acked_epoch\":41,"
	       "\"epochs\":42,\"pause_ns\":{\"p50\":1,\"p99\":2,\"max\":3,\"last\":4,\"count\":42,"
	       "\"sum\":99},"
	       "\"ack_latency_ns\":{\"p50\":5,\"p99\":6,\"max\":7,\"last\":8,\"count\":0,\"sum\":0},"
	       "\"output_held_ns\":{\"p50\":9,\"p99\":10,\"max\":11,\"last\":12,\"count\":0,"
	       "\"sum\":0},"
	       "\"commit_ns\":{\"p50\":13,\"p99\":14,\"max\":15,\"last\":16,\"count\":0,"
	       "\"sum\":0},"
	       "\"dirty_pages_last\":17,\"dirty_pages_mean\":18,\"epoch_bytes_last\":19,"
	       "\"epoch_bytes_mean\":20,\"disk_bytes_last\":21,\"bytes_total\":22,"
	       "\"held_bytes\":23,\"held_frames\":24,\"overflow_drops\":25,"
	       "\"released_frames\":28,\"peer_silent_ms\":26,\"cluster\":true,\"peer\":\"198.18.0."
	       "2:4444\",\"error\":\"no ack for epoch 42 within 1000 ms\","
	       "\"sync\":{\"phase\":\"completed\",\"rounds\":27,\"bytes\":0,\"pages\":0,"
	       "\"remaining_pages\":0,\"dirty_rate_pps\":0,\"bandwidth_bps\":0,"
	       "\"expected_downtime_ns\":0,\"eta_ns\":0,\"total_ns\":0,\"downtime_ns\":0,"
	       "\"throttle_pct\":0,\"zero_pages\":0,\"raw_pages\":0,\"lz4_pages\":0,"
	       "\"zlib_pages\":0,\"delta_pages\":0,\"cache_misses\":0,\"disk_chunks\":0,"
	       "\"end_sent\":false,\"source_paused\":false}},\"id\":\"q\"}");
	expect("{\"execute\":\"query-replication\",\"arguments\":{\"x\":1}}",
	       INVALID("query-replication takes no arguments: drop \\\"arguments\\\""));
}
END_TEST

/* Every state's name, as query-replication spells it. */
START_TEST(test_replication_states)
{
	static const char *const names[] = {"none",	   "syncing",	  "protected",
					    "degraded",	   "unprotected", "failed",
					    "failed-over", "stalled",	  "fenced"};
	struct repl_status fenced = {.state = REPL_STATE_STALLED, .fenced = true};
	json_t *o;

	for (int s = REPL_STATE_NONE; s <= REPL_STATE_FENCED; s++) {
		struct repl_status st = {.state = s};

		o = control__replication_status_json(&st);
		ck_assert_ptr_nonnull(o);
		ck_assert_str_eq(json_string_value(json_object_get(o, "state")), names[s]);
		json_decref(o);
	}
	/* Fenced shows over whatever the engine is in. */
	o = control__replication_status_json(&fenced);
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "fenced");
	json_decref(o);
}
END_TEST

/* clusterd's commands: protect "cluster", fence, unfence and degrade. */
START_TEST(test_cluster_commands)
{
	expect("{\"execute\":\"protect\",\"arguments\":{\"uri\":\"h:1\",\"insecure\":true,"
	       "\"cluster\":true}}",
	       "{\"return\":{}}");
	ck_assert(fake.repl.cluster);
	expect("{\"execute\":\"protect\",\"arguments\":{\"uri\":\"h:1\",\"insecure\":true,"
	       "\"cluster\":1}}",
	       INVALID("protect: \\\"cluster\\\" must be true or false"));
	/* Fenced: query-status says so; fence and unfence take no arguments, succeed twice. */
	expect("{\"execute\":\"fence\",\"arguments\":{\"now\":true}}",
	       INVALID("fence takes no arguments: drop \\\"arguments\\\""));
	expect("{\"execute\":\"fence\",\"id\":1}", "{\"return\":{},\"id\":1}");
	expect("{\"execute\":\"fence\"}", "{\"return\":{}}");
	ck_assert_int_eq(fake.fences, 2);
	expect("{\"execute\":\"query-status\"}",
	       "{\"return\":{\"status\":\"fenced\",\"running\":false}}");
	/* The VM's refusals come back whole. */
	fake.repl_status.state = REPL_STATE_STALLED;
	expect("{\"execute\":\"degrade\"}",
	       "{\"error\":{\"class\":\"GenericError\",\"desc\":\"degrade: the VM is "
	       "fenced\"}}");
	expect("{\"execute\":\"unfence\",\"arguments\":{}}", "{\"return\":{}}");
	expect("{\"execute\":\"query-status\"}",
	       "{\"return\":{\"status\":\"running\",\"running\":true}}");
	expect("{\"execute\":\"degrade\",\"id\":2}", "{\"return\":{},\"id\":2}");
	expect("{\"execute\":\"degrade\"}",
	       "{\"error\":{\"class\":\"GenericError\",\"desc\":\"degrade: the replication "
	       "is degraded\"}}");
	expect("{\"execute\":\"degrade\",\"arguments\":{\"force\":true}}",
	       INVALID("degrade takes no arguments: drop \\\"arguments\\\""));
	ck_assert_int_eq(fake.degrades, 1);
	ck_assert_int_eq(fake.unfences, 1);
	/* A backup fences nothing: it runs no VM and releases no output. */
	fake.backup = true;
	expect_has("{\"execute\":\"fence\"}", "fence: this twin-vmm is a backup");
	expect_has("{\"execute\":\"degrade\"}", "degrade: this twin-vmm is a backup");
	ck_assert_int_eq(fake.fences, 2);
}
END_TEST

#define BACKUP_ONLY(cmd)                                                                           \
	"{\"error\":{\"class\":\"GenericError\",\"desc\":\"" cmd                                   \
	": this twin-vmm is a backup (no vCPU runs): it serves query-status, quit, "               \
	"query-replication, failover, mem-offline, mem-online, query-mem, set-cpus and "           \
	"query-cpus; failover makes it run the VM\"}}"

START_TEST(test_backup)
{
	fake.backup = true;
	fake.running = false;
	expect("{\"execute\":\"query-status\"}",
	       "{\"return\":{\"status\":\"backup\",\"running\":false}}");
	expect("{\"execute\":\"stop\"}", BACKUP_ONLY("stop"));
	expect("{\"execute\":\"cont\"}", BACKUP_ONLY("cont"));
	expect("{\"execute\":\"save\",\"arguments\":{\"file\":\"/a\"}}", BACKUP_ONLY("save"));
	expect("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"h:1\",\"insecure\":true}}",
	       BACKUP_ONLY("migrate"));
	expect("{\"execute\":\"query-migrate\"}", BACKUP_ONLY("query-migrate"));
	expect("{\"execute\":\"migrate-cancel\"}", BACKUP_ONLY("migrate-cancel"));
	expect("{\"execute\":\"protect\",\"arguments\":{\"uri\":\"h:1\",\"insecure\":true}}",
	       BACKUP_ONLY("protect"));
	expect("{\"execute\":\"unprotect\"}", BACKUP_ONLY("unprotect"));
	expect("{\"execute\":\"set-replication\",\"arguments\":{\"mode\":\"event\"}}",
	       BACKUP_ONLY("set-replication"));
	ck_assert_int_eq(fake.stops + fake.conts + fake.saves + fake.migrates + fake.cancels +
			     fake.protects + fake.unprotects + fake.sets,
			 0);
	/* Arguments are checked before the role: the same errors as anywhere. */
	expect("{\"execute\":\"failover\",\"arguments\":{\"now\":true}}",
	       INVALID("failover takes no arguments: drop \\\"arguments\\\""));
	fake.repl_status.state = REPL_STATE_PROTECTED;
	expect_has("{\"execute\":\"query-replication\"}", "{\"return\":{\"state\":\"protected\"");
	expect("{\"execute\":\"failover\",\"id\":1}", "{\"return\":{},\"id\":1}");
	ck_assert_int_eq(fake.failovers, 1);
	/* Failed over: an ordinary running VM, every command served. */
	expect("{\"execute\":\"query-status\"}",
	       "{\"return\":{\"status\":\"running\",\"running\":true}}");
	expect("{\"execute\":\"stop\"}", "{\"return\":{}}");
	expect("{\"execute\":\"failover\"}", "{\"error\":{\"class\":\"GenericError\",\"desc\":"
					     "\"failover: this twin-vmm is not a backup\"}}");
	expect("{\"execute\":\"quit\"}", "{\"return\":{}}");
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
	tcase_add_test(tc, test_protect);
	tcase_add_test(tc, test_bad_protect);
	tcase_add_test(tc, test_unprotect_set_replication);
	tcase_add_test(tc, test_cluster_commands);
	tcase_add_test(tc, test_query_replication);
	tcase_add_test(tc, test_replication_states);
	tcase_add_test(tc, test_backup);
	tcase_add_test(tc, test_bad_json);
	tcase_add_test(tc, test_not_object);
	tcase_add_test(tc, test_missing_execute);
	tcase_add_test(tc, test_unknown_command);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_overlong);
	suite_add_tcase(s, tc);
	return s;
}
