/* The console sink: a VM's guest output, buffered per line and serialised across its vCPUs. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include "console.h"
#include "log.h"
#include "vm.h"

/* How long a stopping VM's output may wait for a stalled reader before it is dropped. */
#define STOP_DRAIN_MS 100

static bool vm_stopping(struct vm *vm)
{
	bool stopping;

	/* Lock order: the console's lock, then vm->lock (nothing prints under vm->lock). */
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
	if (vm->console.dropping)
		return false;
	if (poll(&p, 1, STOP_DRAIN_MS) == 1 && !(p.revents & (POLLERR | POLLNVAL))) {
		/* A blocking pipe with room takes PIPE_BUF bytes without blocking. */
		if (*len > PIPE_BUF)
			*len = PIPE_BUF;
		return true;
	}
	vm->console.dropping = true;
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

void console__init(struct console *c)
{
	pthread_mutex_init(&c->lock, NULL);
	c->line_len = 0;
	c->dropping = false;
}

void console__dispose(struct console *c)
{
	pthread_mutex_destroy(&c->lock);
}

static void flush_locked(struct vm *vm)
{
	struct console *c = &vm->console;

	if (c->line_len)
		write_all_locked(vm, c->line, c->line_len);
	c->line_len = 0;
}

void console__write(struct vm *vm, const void *buf, size_t len)
{
	pthread_mutex_lock(&vm->console.lock);
	flush_locked(vm); /* keeps output in order */
	write_all_locked(vm, buf, len);
	pthread_mutex_unlock(&vm->console.lock);
}

void console__putc(struct vm *vm, char c)
{
	struct console *con = &vm->console;

	pthread_mutex_lock(&con->lock);
	con->line[con->line_len++] = c;
	if (c == '\n' || con->line_len == sizeof(con->line))
		flush_locked(vm);
	pthread_mutex_unlock(&con->lock);
}

void console__flush(struct vm *vm)
{
	pthread_mutex_lock(&vm->console.lock);
	flush_locked(vm);
	pthread_mutex_unlock(&vm->console.lock);
}
