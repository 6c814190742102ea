/* The console sink: whole writes of guest output, serialised across vCPUs. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include "console.h"
#include "log.h"

static pthread_mutex_t console_lock = PTHREAD_MUTEX_INITIALIZER;

void console__write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	pthread_mutex_lock(&console_lock);
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The guest keeps running; its output is what gets lost. */
			if (log__once(0, (uint64_t)fd))
				log__warn("writing guest console output failed: %s; output dropped",
					  n < 0 ? strerror(errno) : "short write");
			break;
		}
		p += n;
		len -= n;
	}
	pthread_mutex_unlock(&console_lock);
}
