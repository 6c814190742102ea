/* The console sink: guest output, buffered per line and serialised across vCPUs. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "console.h"
#include "log.h"

static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * The part line that console__putc has not written yet.  Guests print a byte per
 * VM exit; one write(2) per byte woke the reader per byte and cost ~1 ms of a
 * 20 ms hello boot.  Only one line for the process: a new fd flushes it first.
 */
static char line[256];
static size_t line_len;
static int line_fd = -1;

static void write_all_locked(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The guest keeps running; its output is what gets lost. */
			if (log__once(LOG_KIND_CONSOLE, (uint64_t)fd))
				log__warn("writing guest console output failed: %s; output dropped",
					  n < 0 ? strerror(errno) : "short write");
			break;
		}
		p += n;
		len -= n;
	}
}

static void flush_locked(void)
{
	if (line_len)
		write_all_locked(line_fd, line, line_len);
	line_len = 0;
}

void console__write(int fd, const void *buf, size_t len)
{
	pthread_mutex_lock(&console_lock);
	flush_locked(); /* keeps output in order */
	write_all_locked(fd, buf, len);
	pthread_mutex_unlock(&console_lock);
}

void console__putc(int fd, char c)
{
	pthread_mutex_lock(&console_lock);
	if (line_len && fd != line_fd)
		flush_locked();
	line_fd = fd;
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
