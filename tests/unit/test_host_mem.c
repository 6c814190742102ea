/* Unit tests for clusterd/host_mem.c: opening a twin-vmm's hold pipe, checked by its inode. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>
#include "host_mem.h"
#include "suites.h"

static uint64_t ino_of(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_ino;
}

/*
 * The pipe named, with its inode: opened, and it is that pipe (a byte written to the named
 * one reads back from the opened copy), even with its write end closed (no wait for a
 * writer, as a named FIFO would).
 */
START_TEST(test_open_hold_pipe)
{
	int p[2], got = -1;
	char c = 0;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(host_mem__open_hold(getpid(), p[0], ino_of(p[0]), &got), 0);
	ck_assert_int_ge(got, 0);
	ck_assert_int_ne(got, p[0]);
	ck_assert_uint_eq(ino_of(got), ino_of(p[0]));
	ck_assert_int_eq(read(got, &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	close(p[1]);
	close(p[0]);
	close(got);
}
END_TEST

/* A wrong inode (the fd number reused for another pipe) or no FIFO at all: -ESTALE. */
START_TEST(test_open_hold_refuses)
{
	int p[2], q[2], got = -7, file;
	char path[] = "/tmp/test-host-mem-XXXXXX";

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
	ck_assert_int_eq(host_mem__open_hold(getpid(), p[0], ino_of(q[0]), &got), -ESTALE);
	ck_assert_int_eq(got, -7);
	file = mkstemp(path);
	ck_assert_int_ge(file, 0);
	unlink(path);
	ck_assert_int_eq(host_mem__open_hold(getpid(), file, ino_of(file), &got), -ESTALE);
	ck_assert_int_eq(got, -7);
	/* An fd that is not open. */
	close(q[0]);
	ck_assert_int_eq(host_mem__open_hold(getpid(), q[0], 1, &got), -ENOENT);
	ck_assert_int_eq(got, -7);
	close(file);
	close(q[1]);
	close(p[0]);
	close(p[1]);
}
END_TEST

Suite *host_mem_suite(void)
{
	Suite *s = suite_create("host_mem");
	TCase *tc = tcase_create("hold");

	tcase_add_test(tc, test_open_hold_pipe);
	tcase_add_test(tc, test_open_hold_refuses);
	suite_add_tcase(s, tc);
	return s;
}
