/* Check suite for the I/O loop: callbacks on its thread, pause/resume and delete exclusion. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "ioloop.h"
#include "suites.h"

/* A guard against hangs, never a way to wait for something to happen. */
#define HANG_GUARD_SEC 20
#define ROUNDS	       2000
#define YIELDS	       20

static struct ioloop *loop;
static int efd;

static void signal_fd(int fd)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(fd, &one, sizeof(one)), sizeof(one));
}

static void drain(int fd)
{
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
}

static void wait_sem(sem_t *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += HANG_GUARD_SEC;
	ck_assert_msg(sem_timedwait(s, &ts) == 0, "no callback within %d s", HANG_GUARD_SEC);
}

static void loop_setup(void)
{
	ck_assert_int_eq(ioloop__create(&loop), 0);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(efd, 0);
}

static void loop_teardown(void)
{
	ioloop__destroy(loop);
	close(efd);
}

/* ---- the callback runs on the I/O thread ---- */

struct where {
	sem_t ran;
	pthread_t thread;
	bool on_thread;
};

static void record_thread(void *opaque, uint32_t events)
{
	struct where *w = opaque;

	drain(efd);
	w->thread = pthread_self();
	w->on_thread = ioloop__on_thread(loop) && (events & EPOLLIN);
	sem_post(&w->ran);
}

START_TEST(test_runs_on_io_thread)
{
	struct where w = {0};

	sem_init(&w.ran, 0, 0);
	ck_assert_int_eq(ioloop__add(loop, efd, EPOLLIN, record_thread, &w), 0);
	ck_assert_int_eq(ioloop__add(loop, efd, EPOLLIN, record_thread, &w), -EEXIST);
	ck_assert_int_eq(ioloop__start(loop), 0);
	ck_assert_int_eq(ioloop__start(loop), -EALREADY);
	signal_fd(efd);
	wait_sem(&w.ran);
	ck_assert(!pthread_equal(w.thread, pthread_self()));
	ck_assert(w.on_thread);
	ck_assert(!ioloop__on_thread(loop));
	/* Stop, then start again: the loop still delivers. */
	ioloop__stop(loop);
	ioloop__stop(loop);
	ck_assert_int_eq(ioloop__start(loop), 0);
	signal_fd(efd);
	wait_sem(&w.ran);
	ck_assert_int_eq(ioloop__del(loop, efd), 0);
	ck_assert_int_eq(ioloop__del(loop, efd), -ENOENT);
	ck_assert_int_eq(ioloop__mod(loop, efd, EPOLLIN), -ENOENT);
	sem_destroy(&w.ran);
}
END_TEST

/* ---- pause excludes callbacks: a callback never sees the paused flag set ---- */

struct excl {
	sem_t ran;
	bool paused;	/* set after ioloop__pause returns, cleared before resume */
	bool stop;	/* ends the event hammer */
	int violations; /* callbacks that ran while paused */
	unsigned int runs;
};

static void check_not_paused(void *opaque, uint32_t events)
{
	struct excl *x = opaque;

	drain(efd);
	if (__atomic_load_n(&x->paused, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&x->violations, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&x->runs, 1, __ATOMIC_SEQ_CST);
	sem_post(&x->ran);
}

static void *hammer(void *opaque)
{
	struct excl *x = opaque;
	uint64_t one = 1;

	while (!__atomic_load_n(&x->stop, __ATOMIC_SEQ_CST))
		if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			break;
	return NULL;
}

START_TEST(test_pause_excludes_callbacks)
{
	struct excl x = {0};
	pthread_t t;

	sem_init(&x.ran, 0, 0);
	ck_assert_int_eq(ioloop__add(loop, efd, EPOLLIN, check_not_paused, &x), 0);
	ck_assert_int_eq(ioloop__start(loop), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, hammer, &x), 0);
	for (int i = 0; i < ROUNDS; i++) {
		ioloop__pause(loop);
		if (i & 1)
			ioloop__pause(loop); /* pauses nest */
		__atomic_store_n(&x.paused, true, __ATOMIC_SEQ_CST);
		/* Hand the CPU around while paused: a callback that ran now would see the flag. */
		for (int y = 0; y < YIELDS; y++)
			sched_yield();
		__atomic_store_n(&x.paused, false, __ATOMIC_SEQ_CST);
		if (i & 1)
			ioloop__resume(loop);
		ioloop__resume(loop);
		/* Events pending during the pause are delivered after it. */
		wait_sem(&x.ran);
	}
	__atomic_store_n(&x.stop, true, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	ck_assert_int_eq(x.violations, 0);
	ck_assert_uint_ge(x.runs, ROUNDS);
	sem_destroy(&x.ran);
}
END_TEST

/*
 * A marker fd: callbacks run one at a time and a batch is finished before the
 * next epoll_wait, so once a marker signalled after X has run, every event
 * fetched before X was dispatched (or dropped).
 */
struct marker {
	sem_t ran;
	int fd;
};

static void marker_ran(void *opaque, uint32_t events)
{
	struct marker *m = opaque;

	drain(m->fd);
	sem_post(&m->ran);
}

static void marker_init(struct marker *m)
{
	sem_init(&m->ran, 0, 0);
	m->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(m->fd, 0);
	ck_assert_int_eq(ioloop__add(loop, m->fd, EPOLLIN, marker_ran, m), 0);
}

static void marker_flush(struct marker *m)
{
	signal_fd(m->fd);
	wait_sem(&m->ran);
}

static void marker_dispose(struct marker *m)
{
	ck_assert_int_eq(ioloop__del(loop, m->fd), 0);
	close(m->fd);
	sem_destroy(&m->ran);
}

/* A callback that pauses and deletes its own fd neither deadlocks nor runs again. */
struct self {
	sem_t done;
	int calls;
};

static void pause_and_delete_self(void *opaque, uint32_t events)
{
	struct self *s = opaque;

	s->calls++;
	ioloop__pause(loop);
	ioloop__resume(loop);
	ck_assert_int_eq(ioloop__del(loop, efd), 0);
	sem_post(&s->done);
}

START_TEST(test_callback_self_ops)
{
	struct marker m;
	struct self s = {0};

	sem_init(&s.done, 0, 0);
	marker_init(&m);
	ck_assert_int_eq(ioloop__add(loop, efd, EPOLLIN, pause_and_delete_self, &s), 0);
	ck_assert_int_eq(ioloop__start(loop), 0);
	signal_fd(efd); /* left unread: level-triggered, it would fire again if still watched */
	wait_sem(&s.done);
	marker_flush(&m);
	marker_flush(&m);
	ck_assert_int_eq(s.calls, 1);
	marker_dispose(&m);
	sem_destroy(&s.done);
}
END_TEST

/* ---- delete from another thread: once it returns, the callback never runs again ---- */

struct del {
	bool deleted;
	int late_calls;
	sem_t ran;
};

static void count_late(void *opaque, uint32_t events)
{
	struct del *d = opaque;

	/* Left unread on purpose, so the callback keeps firing until deleted. */
	for (int y = 0; y < YIELDS; y++)
		sched_yield(); /* a del that did not wait for us would return meanwhile */
	if (__atomic_load_n(&d->deleted, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&d->late_calls, 1, __ATOMIC_SEQ_CST);
	sem_post(&d->ran);
}

START_TEST(test_del_excludes_callbacks)
{
	struct marker m;

	marker_init(&m);
	ck_assert_int_eq(ioloop__start(loop), 0);
	for (int i = 0; i < ROUNDS / 4; i++) {
		struct del d = {0};

		sem_init(&d.ran, 0, 0);
		ck_assert_int_eq(ioloop__add(loop, efd, EPOLLIN, count_late, &d), 0);
		signal_fd(efd);
		wait_sem(&d.ran); /* it is firing, again and again */
		ck_assert_int_eq(ioloop__del(loop, efd), 0);
		__atomic_store_n(&d.deleted, true, __ATOMIC_SEQ_CST);
		marker_flush(&m);
		drain(efd);
		ck_assert_int_eq(__atomic_load_n(&d.late_calls, __ATOMIC_SEQ_CST), 0);
		sem_destroy(&d.ran);
	}
	marker_dispose(&m);
}
END_TEST

Suite *ioloop_suite(void)
{
	Suite *s = suite_create("ioloop");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
	tcase_add_test(tc, test_runs_on_io_thread);
	tcase_add_test(tc, test_pause_excludes_callbacks);
	tcase_add_test(tc, test_callback_self_ops);
	tcase_add_test(tc, test_del_excludes_callbacks);
	suite_add_tcase(s, tc);
	return s;
}
