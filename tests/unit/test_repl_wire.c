/* Check suite for the backup's replies (repl_wire.h): round trips, and each refusal. */
#include <errno.h>
#include <string.h>
#include <check.h>
#include "repl_wire.h"
#include "suites.h"
#include "stream_sink.h"

static ssize_t failing_read(void *ctx, void *buf, size_t len)
{
	(void)ctx, (void)buf, (void)len;
	return -ECONNRESET;
}

/* Reads back the len bytes at data: the reader's return, out and err filled. */
static int read_bytes(const void *data, size_t len, struct repl_reply *out, char *err)
{
	struct stream_mem m = {.data = data, .size = len};

	err[0] = '\0';
	return repl_reply__read(stream__mem_read, &m, out, err, 256);
}

/* A valid reply of kind written into rep, for a test to corrupt. */
static void valid(struct repl_reply *rep, enum repl_reply_kind kind)
{
	struct sink s = {0};

	ck_assert_int_eq(repl_reply__write(sink_write, &s, kind, kind == REPL_REPLY_FAIL ? -EIO : 0,
					   7, kind == REPL_REPLY_FAIL ? "disk gone" : NULL),
			 0);
	ck_assert_uint_eq(s.len, sizeof(*rep));
	memcpy(rep, s.data, sizeof(*rep));
	free(s.data);
}

static void refused(const struct repl_reply *rep, const char *needle)
{
	struct repl_reply out;
	char err[256];

	ck_assert_int_eq(read_bytes(rep, sizeof(*rep), &out, err), -EBADMSG);
	ck_assert_msg(strstr(err, needle), "'%s' does not name '%s'", err, needle);
}

START_TEST(test_round_trip)
{
	static const enum repl_reply_kind kinds[] = {REPL_REPLY_ACK, REPL_REPLY_HEARTBEAT,
						     REPL_REPLY_FAIL};

	for (unsigned int i = 0; i < 3; i++) {
		struct repl_reply rep, out;
		char err[256];

		valid(&rep, kinds[i]);
		ck_assert_int_eq(read_bytes(&rep, sizeof(rep), &out, err), 0);
		ck_assert_uint_eq(out.kind, kinds[i]);
		ck_assert_uint_eq(out.epoch, 7);
		ck_assert_int_eq(out.status, kinds[i] == REPL_REPLY_FAIL ? -EIO : 0);
		ck_assert_str_eq(out.message, kinds[i] == REPL_REPLY_FAIL ? "disk gone" : "");
	}
}
END_TEST

/* Back to back on one stream, as the primary's reader sees them. */
START_TEST(test_sequence_and_clean_end)
{
	struct sink s = {0};
	struct stream_mem m;
	struct repl_reply out;
	char err[256];

	for (uint64_t e = 1; e <= 3; e++)
		ck_assert_int_eq(repl_reply__write(sink_write, &s, REPL_REPLY_ACK, 0, e, NULL), 0);
	m = (struct stream_mem){.data = s.data, .size = s.len};
	for (uint64_t e = 1; e <= 3; e++) {
		ck_assert_int_eq(repl_reply__read(stream__mem_read, &m, &out, err, sizeof(err)), 0);
		ck_assert_uint_eq(out.epoch, e);
	}
	ck_assert_int_eq(repl_reply__read(stream__mem_read, &m, &out, err, sizeof(err)), -EPIPE);
	free(s.data);
}
END_TEST

START_TEST(test_long_message_truncated)
{
	char msg[600];
	struct repl_reply rep, out;
	struct sink s = {0};
	char err[256];

	memset(msg, 'x', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	ck_assert_int_eq(repl_reply__write(sink_write, &s, REPL_REPLY_FAIL, -EPROTO, 3, msg), 0);
	ck_assert_uint_eq(s.len, 256);
	memcpy(&rep, s.data, sizeof(rep));
	ck_assert_int_eq(read_bytes(&rep, sizeof(rep), &out, err), 0);
	ck_assert_uint_eq(strlen(out.message), sizeof(out.message) - 1);
	free(s.data);
}
END_TEST

START_TEST(test_truncated)
{
	struct repl_reply rep, out;
	char err[256];

	valid(&rep, REPL_REPLY_ACK);
	ck_assert_int_eq(read_bytes(&rep, 100, &out, err), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "cut short at 100 of 256"));
}
END_TEST

START_TEST(test_read_error)
{
	struct repl_reply out;
	char err[256];

	ck_assert_int_eq(repl_reply__read(failing_read, NULL, &out, err, sizeof(err)), -ECONNRESET);
	ck_assert_ptr_nonnull(strstr(err, "read error"));
}
END_TEST

START_TEST(test_bad_magic)
{
	struct repl_reply rep;

	valid(&rep, REPL_REPLY_ACK);
	memcpy(rep.magic, "TWINACK1", 8); /* the migration's ack where a reply belongs */
	refused(&rep, "bad magic");
}
END_TEST

START_TEST(test_bad_kind)
{
	struct repl_reply rep;

	valid(&rep, REPL_REPLY_ACK);
	rep.kind = 0;
	refused(&rep, "unknown kind 0");
	rep.kind = 4;
	refused(&rep, "unknown kind 4");
}
END_TEST

START_TEST(test_bad_status)
{
	struct repl_reply rep;

	valid(&rep, REPL_REPLY_ACK);
	rep.status = -5;
	refused(&rep, "status -5");
	valid(&rep, REPL_REPLY_HEARTBEAT);
	rep.status = 1;
	refused(&rep, "status 1");
	valid(&rep, REPL_REPLY_FAIL);
	rep.status = 0;
	refused(&rep, "status 0");
	rep.status = -4096;
	refused(&rep, "status -4096");
	rep.status = 22;
	refused(&rep, "status 22");
}
END_TEST

START_TEST(test_bad_message)
{
	struct repl_reply rep;

	valid(&rep, REPL_REPLY_FAIL);
	memset(rep.message, 'a', sizeof(rep.message));
	refused(&rep, "not NUL-terminated");
	valid(&rep, REPL_REPLY_FAIL);
	rep.message[sizeof(rep.message) - 1] = 'z';
	refused(&rep, "padding is not zero");
	valid(&rep, REPL_REPLY_ACK);
	strcpy(rep.message, "hi");
	refused(&rep, "ACK carries a message");
	valid(&rep, REPL_REPLY_HEARTBEAT);
	rep.message[200] = 1;
	refused(&rep, "padding is not zero");
}
END_TEST

Suite *repl_wire_suite(void)
{
	Suite *s = suite_create("repl_wire");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_sequence_and_clean_end);
	tcase_add_test(tc, test_long_message_truncated);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_read_error);
	tcase_add_test(tc, test_bad_magic);
	tcase_add_test(tc, test_bad_kind);
	tcase_add_test(tc, test_bad_status);
	tcase_add_test(tc, test_bad_message);
	suite_add_tcase(s, tc);
	return s;
}
