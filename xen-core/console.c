/* The console sink: guest output, buffered per line and serialised across vCPUs. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "console.h"
#include "log.h"
#include "vm.h"

/* How long a stopping VM's output may wait for a stalled reader before it is dropped. */
#define STOP_DRAIN_MS 100

static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * The part line that console__putc has not written yet.  Guests print a byte per
 * VM exit; one write(2) per byte woke the reader per byte and cost ~1 ms of a
 * 20 ms hello boot.  Only one line for the process: another VM flushes it first.
 */
static char line[256];
static size_t line_len;
static struct vm *line_vm;
/* The stopping VM whose reader stalled: the rest of its output is dropped at once. */
static const struct vm *dropping_vm;

static bool vm_stopping(struct vm *vm)
{
	bool stopping;

	/* Lock order: console_lock, then vm->lock (nothing logs to the console under vm->lock). */
	pthread_mutex_lock(&vm->lock);
	stopping = vm->stopping;
	pthread_mutex_unlock(&vm->lock);
	return stopping;
}

/*
 * A reader that stopped reading must not keep a stopping VM from ending:
 * vm__stop's kick turns a blocked write into EINTR, and from then on a write
 * goes ahead only if the sink takes it within STOP_DRAIN_MS.
 */
static bool may_write(struct vm *vm, int fd, size_t *len)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};

	if (!vm_stopping(vm))
		return true;
	if (dropping_vm == vm)
		return false;
	if (poll(&p, 1, STOP_DRAIN_MS) == 1 && !(p.revents & (POLLERR | POLLNVAL))) {
		/* A blocking pipe with room takes PIPE_BUF bytes without blocking. */
		if (*len > PIPE_BUF)
			*len = PIPE_BUF;
		return true;
	}
	dropping_vm = vm;
	log__warn("guest console output: the reader of fd %d stopped reading while the VM is "
		  "stopping; dropping the rest of the output",
		  fd);
	return false;
}

static void write_all_locked(struct vm *vm, const char *p, size_t len)
{
	int fd = vm->cfg.console_fd;

	while (len) {
		size_t chunk = len;
		ssize_t n;

		if (!may_write(vm, fd, &chunk))
			break;
		n = write(fd, p, chunk);
		if (n < 0 && errno == EINTR)
			continue; /* may_write sees whether a stop interrupted us */
		if (n <= 0) {
			/* The guest keeps running; its output is what gets lost. */
			if (log__once(LOG_KIND_CONSOLE, (uint64_t)fd))
				log__warn(
				    "writing guest console output to fd %d failed: %s; output "
				    "dropped",
				    fd, n < 0 ? strerror(errno) : "short write");
			break;
		}
		p += n;
		len -= n;
	}
}

static void flush_locked(void)
{
	if (line_len)
		write_all_locked(line_vm, line, line_len);
	line_len = 0;
}

void console__write(struct vm *vm, const void *buf, size_t len)
{
	pthread_mutex_lock(&console_lock);
	flush_locked(); /* keeps output in order */
	write_all_locked(vm, buf, len);
	pthread_mutex_unlock(&console_lock);
}

void console__putc(struct vm *vm, char c)
{
	pthread_mutex_lock(&console_lock);
	if (line_len && vm != line_vm)
		flush_locked();
	line_vm = vm;
	line[line_len++] = c;
	if (c == '\n' || line_len == sizeof(line))
		flush_locked();
	pthread_mutex_unlock(&console_lock);
}

void console__flush(void)
{
	pthread_mutex_lock(&console_lock);
	flush_locked();
	pthread_mutex_unlock(&console_lock);
}
