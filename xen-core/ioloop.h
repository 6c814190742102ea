/* One I/O thread per VM: an epoll loop that runs device callbacks off the vCPU threads. */
#ifndef XEN_CORE_IOLOOP_H
#define XEN_CORE_IOLOOP_H
#include <stdbool.h>
#include <stdint.h>

struct ioloop;

/* Allocates an idle loop (no thread yet).  -errno, logged. */
int ioloop__create(struct ioloop **out);
/* Stops the thread if running and frees the loop; watched fds are not closed.  NULL: no-op. */
void ioloop__destroy(struct ioloop *loop);

/*
 * Watches fd for events (EPOLLIN, EPOLLOUT, ...) and calls fn(opaque, events)
 * whenever some fire.  Runs on the I/O thread, one callback at a time, with no
 * ioloop lock held (fn may call ioloop__add/mod/del, also on its own fd).
 * Level-triggered: a callback that leaves data unread is called again.
 * Callable from any thread, before or after start.
 * -EEXIST if fd is already watched,
 * -ENOSPC past IOLOOP_MAX_FDS, other -errno from epoll; logged.
 */
#define IOLOOP_MAX_FDS 128
int ioloop__add(struct ioloop *loop, int fd, uint32_t events,
		void (*fn)(void *opaque, uint32_t events), void *opaque);
/* Changes the events watched on fd (e.g. EPOLLOUT only while a TX backlog exists).  -ENOENT. */
int ioloop__mod(struct ioloop *loop, int fd, uint32_t events);
/*
 * Stops watching fd.  When it returns, fd's callback is not running and will
 * not run again (from a callback on the I/O thread it returns at once; the
 * current callback finishes normally).  -ENOENT if fd is not watched.
 */
int ioloop__del(struct ioloop *loop, int fd);

/* Starts the I/O thread.  -errno if the thread cannot start (logged), -EALREADY if running. */
int ioloop__start(struct ioloop *loop);
/* Ends and joins the I/O thread; idempotent; never from the I/O thread itself. */
void ioloop__stop(struct ioloop *loop);

/*
 * Quiesces device I/O: when ioloop__pause returns, no callback is running and
 * none starts until the matching ioloop__resume (pauses nest).  Any thread;
 * from a callback on the I/O thread it returns at once (that callback is the
 * only one running).  Events arriving while paused stay pending in epoll.
 * Migration pairs it with vm__pause_all; virtio uses it around device resets.
 */
void ioloop__pause(struct ioloop *loop);
void ioloop__resume(struct ioloop *loop);

/* True on the loop's I/O thread (for assertions and to avoid self-waits). */
bool ioloop__on_thread(const struct ioloop *loop);

#endif
