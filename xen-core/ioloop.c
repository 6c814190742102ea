/* The per-VM I/O thread: epoll dispatch with pause/resume so device I/O can be quiesced. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "ioloop.h"
#include "log.h"

#define IOLOOP_BATCH 32

/*
 * A watched fd.  epoll carries the slot index and generation, so an event
 * for an fd deleted while the batch was in flight is recognised and dropped.
 */
struct watch {
	int fd; /* -1: slot free */
	uint32_t gen;
	void (*fn)(void *opaque, uint32_t events);
	void *opaque;
};

struct ioloop {
	int epfd;
	int wake_fd; /* eventfd: wakes the thread for stop */
	pthread_t thread;
	bool started;

	/* All below under lock; cond signals changes of running, pause_depth and stopping. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	bool running; /* a callback is executing */
	unsigned int pause_depth;
	struct watch watches[IOLOOP_MAX_FDS];
};

/* The loop whose thread this is, so callbacks that pause or delete never wait on themselves. */
static __thread const struct ioloop *current_loop;

static uint64_t pack(unsigned int slot, uint32_t gen)
{
	return (uint64_t)gen << 32 | slot;
}

int ioloop__create(struct ioloop **out)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
	struct ioloop *loop;
	int rc;

	*out = NULL;
	loop = calloc(1, sizeof(*loop));
	if (!loop) {
		log__error("allocating the I/O loop failed: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->cond, NULL);
	for (unsigned int i = 0; i < IOLOOP_MAX_FDS; i++)
		loop->watches[i].fd = -1;
	loop->wake_fd = -1;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		rc = -errno;
		log__error("creating the I/O loop's epoll instance failed: %s", strerror(-rc));
		goto fail;
	}
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0 || epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0) {
		rc = -errno;
		log__error("creating the I/O loop's wake-up eventfd failed: %s", strerror(-rc));
		goto fail;
	}
	*out = loop;
	return 0;
fail:
	ioloop__destroy(loop);
	return rc;
}

void ioloop__destroy(struct ioloop *loop)
{
	if (!loop)
		return;
	ioloop__stop(loop);
	if (loop->wake_fd >= 0)
		close(loop->wake_fd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	pthread_cond_destroy(&loop->cond);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

static struct watch *find_locked(struct ioloop *loop, int fd)
{
	for (unsigned int i = 0; i < IOLOOP_MAX_FDS; i++)
		if (loop->watches[i].fd == fd)
			return &loop->watches[i];
	return NULL;
}

int ioloop__add(struct ioloop *loop, int fd, uint32_t events,
		void (*fn)(void *opaque, uint32_t events), void *opaque)
{
	struct epoll_event ev = {.events = events};
	struct watch *w;
	int rc = 0;

	pthread_mutex_lock(&loop->lock);
	if (find_locked(loop, fd)) {
		rc = -EEXIST;
		log__error("I/O loop: fd %d is already watched", fd);
		goto out;
	}
	w = find_locked(loop, -1);
	if (!w) {
		rc = -ENOSPC;
		log__error("I/O loop: more than %d fds to watch: too many devices", IOLOOP_MAX_FDS);
		goto out;
	}
	w->gen++;
	ev.data.u64 = pack((unsigned int)(w - loop->watches), w->gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		rc = -errno;
		log__error("I/O loop: watching fd %d failed: %s", fd, strerror(-rc));
		goto out;
	}
	w->fd = fd;
	w->fn = fn;
	w->opaque = opaque;
out:
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

int ioloop__mod(struct ioloop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};
	struct watch *w;
	int rc = 0;

	pthread_mutex_lock(&loop->lock);
	w = find_locked(loop, fd);
	if (!w) {
		rc = -ENOENT;
		goto out;
	}
	ev.data.u64 = pack((unsigned int)(w - loop->watches), w->gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
		rc = -errno;
		log__error("I/O loop: changing the events of fd %d failed: %s", fd, strerror(-rc));
	}
out:
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

int ioloop__del(struct ioloop *loop, int fd)
{
	struct watch *w;
	int rc = 0;

	pthread_mutex_lock(&loop->lock);
	w = find_locked(loop, fd);
	if (!w) {
		rc = -ENOENT;
		goto out;
	}
	/* The fd may already be closed, which removed it from epoll. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->fd = -1;
	w->fn = NULL;
	/* The running callback may be fd's own: wait it out, unless we are it. */
	if (!ioloop__on_thread(loop))
		while (loop->running)
			pthread_cond_wait(&loop->cond, &loop->lock);
out:
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

/* Runs one ready event's callback unless its watch went away; returns false once stopping. */
static bool dispatch(struct ioloop *loop, const struct epoll_event *ev)
{
	unsigned int slot = (unsigned int)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	void (*fn)(void *opaque, uint32_t events);
	void *opaque;
	struct watch *w;

	pthread_mutex_lock(&loop->lock);
	while (loop->pause_depth && !loop->stopping)
		pthread_cond_wait(&loop->cond, &loop->lock);
	if (loop->stopping) {
		pthread_mutex_unlock(&loop->lock);
		return false;
	}
	w = slot < IOLOOP_MAX_FDS ? &loop->watches[slot] : NULL;
	if (!w || w->fd < 0 || w->gen != gen) {
		pthread_mutex_unlock(&loop->lock);
		return true;
	}
	fn = w->fn;
	opaque = w->opaque;
	loop->running = true;
	pthread_mutex_unlock(&loop->lock);

	fn(opaque, ev->events);

	pthread_mutex_lock(&loop->lock);
	loop->running = false;
	pthread_cond_broadcast(&loop->cond);
	pthread_mutex_unlock(&loop->lock);
	return true;
}

static void *loop_thread(void *arg)
{
	struct ioloop *loop = arg;
	struct epoll_event evs[IOLOOP_BATCH];
	uint64_t count;

	current_loop = loop;
	for (;;) {
		int n = epoll_wait(loop->epfd, evs, IOLOOP_BATCH, -1);

		if (n < 0 && errno != EINTR) {
			log__error("I/O loop: epoll_wait failed: %s; device I/O stops",
				   strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			/* The wake-up eventfd only says: look at stopping (below). */
			if (evs[i].data.u64 == UINT64_MAX) {
				if (read(loop->wake_fd, &count, sizeof(count)) < 0 &&
				    errno != EAGAIN)
					log__warn(
					    "I/O loop: draining the wake-up eventfd failed: %s",
					    strerror(errno));
				continue;
			}
			if (!dispatch(loop, &evs[i]))
				return NULL;
		}
		pthread_mutex_lock(&loop->lock);
		if (loop->stopping) {
			pthread_mutex_unlock(&loop->lock);
			return NULL;
		}
		pthread_mutex_unlock(&loop->lock);
	}
}

int ioloop__start(struct ioloop *loop)
{
	int rc;

	if (loop->started)
		return -EALREADY;
	loop->stopping = false;
	rc = -pthread_create(&loop->thread, NULL, loop_thread, loop);
	if (rc) {
		log__error("starting the I/O thread failed: %s", strerror(-rc));
		return rc;
	}
	loop->started = true;
	return 0;
}

void ioloop__stop(struct ioloop *loop)
{
	uint64_t one = 1;

	if (!loop->started)
		return;
	pthread_mutex_lock(&loop->lock);
	loop->stopping = true;
	pthread_cond_broadcast(&loop->cond);
	pthread_mutex_unlock(&loop->lock);
	/* An eventfd write only fails if the counter would overflow: it is readable then anyway. */
	if (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log__warn("I/O loop: waking the thread failed: %s", strerror(errno));
	pthread_join(loop->thread, NULL);
	loop->started = false;
}

void ioloop__pause(struct ioloop *loop)
{
	pthread_mutex_lock(&loop->lock);
	loop->pause_depth++;
	if (!ioloop__on_thread(loop))
		while (loop->running)
			pthread_cond_wait(&loop->cond, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
}

void ioloop__resume(struct ioloop *loop)
{
	pthread_mutex_lock(&loop->lock);
	if (loop->pause_depth && --loop->pause_depth == 0)
		pthread_cond_broadcast(&loop->cond);
	pthread_mutex_unlock(&loop->lock);
}

bool ioloop__on_thread(const struct ioloop *loop)
{
	return current_loop == loop;
}
