/* twin-vmm's control socket: bind 0600, then one thread polls the listener and its clients. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "control_server.h"
#include "log.h"

/* One connected client and the bytes of its current, unfinished line. */
struct client {
	int fd; /* -1: a free slot */
	char buf[CONTROL_LINE_MAX + 1];
	size_t len;
};

struct control_server {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct control_ops *ops;
	int listen_fd, stop_fd;
	pthread_t thread;
	/* nr_clients mirrors the used slots for other threads (wait_idle), under lock. */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned int nr_clients;
	struct client clients[CONTROL_MAX_CLIENTS];
};

static bool send_line(int fd, char *line)
{
	size_t n;
	bool ok;

	if (!line)
		return false;
	n = strlen(line);
	line[n] = '\n';
	ok = send(fd, line, n + 1, MSG_NOSIGNAL) == (ssize_t)(n + 1);
	free(line);
	return ok;
}

static void count_client(struct control_server *s, int delta)
{
	pthread_mutex_lock(&s->lock);
	s->nr_clients += delta;
	if (!s->nr_clients)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static void drop_client(struct control_server *s, struct client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	count_client(s, -1);
}

/*
 * Reads what the client already sent: closing a unix socket with unread input resets
 * the peer, which could then lose the error reply.  Bounded, so a flood cannot hold us.
 */
static void discard_input(int fd)
{
	char sink[4096];

	for (int i = 0; i < 64; i++)
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
}

/* Answers every complete line in buf; false when the client must be dropped. */
static bool serve_lines(struct control_server *s, struct client *c)
{
	char *nl;

	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t n = nl - c->buf;

		if (!send_line(c->fd, control__handle_line(s->ops, c->buf, n)))
			return false;
		memmove(c->buf, nl + 1, c->len - n - 1);
		c->len -= n + 1;
	}
	if (c->len > CONTROL_LINE_MAX) {
		/* No newline within the bound: refuse it and close, as documented. */
		send_line(c->fd, control__handle_line(s->ops, c->buf, c->len));
		discard_input(c->fd);
		return false;
	}
	return true;
}

static void read_client(struct control_server *s, struct client *c)
{
	ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);

	if (r < 0 && errno == EINTR)
		return;
	if (r <= 0) {
		drop_client(s, c);
		return;
	}
	c->len += r;
	if (!serve_lines(s, c))
		drop_client(s, c);
}

static void accept_client(struct control_server *s, struct client *c)
{
	c->fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c->fd < 0)
		return;
	count_client(s, 1);
	log__info("control: client connected on %s", s->path);
	if (!send_line(c->fd, control__greeting()))
		drop_client(s, c);
}

/*
 * The server thread: every client, and the listener while a slot is free.  Requests run
 * here one at a time, so the ops never race each other.
 */
static void *server_main(void *arg)
{
	struct control_server *s = arg;

	for (;;) {
		struct pollfd p[CONTROL_MAX_CLIENTS + 2] = {{.fd = s->stop_fd, .events = POLLIN}};
		struct client *free_slot = NULL;
		nfds_t n = 1;

		for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
			p[n++] = (struct pollfd){.fd = s->clients[i].fd, .events = POLLIN};
			if (s->clients[i].fd < 0 && !free_slot)
				free_slot = &s->clients[i];
		}
		/* Without a free slot a new client waits in the listen backlog. */
		p[n++] = (struct pollfd){.fd = free_slot ? s->listen_fd : -1, .events = POLLIN};
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log__error("control: poll failed: %s", strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++)
			if (p[1 + i].revents && s->clients[i].fd >= 0)
				read_client(s, &s->clients[i]);
		if (p[n - 1].revents)
			accept_client(s, free_slot);
	}
	return NULL;
}

/* Removes a stale socket at path; refuses anything that is not a socket. */
static int clear_path(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "--control %s: cannot stat: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(
		    err, errlen,
		    "--control %s exists and is not a socket: remove it or choose another path",
		    path);
		return -EEXIST;
	}
	if (unlink(path)) {
		snprintf(err, errlen, "--control %s: cannot remove the old socket: %s", path,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

static int bind_socket(struct control_server *s, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int rc;

	memcpy(sa.sun_path, s->path, sizeof(sa.sun_path));
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		goto fail;
	/* The umask makes the socket 0600 from birth: no window where others may connect. */
	old = umask(0177);
	rc = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc || listen(s->listen_fd, 4))
		goto fail;
	if (stat(s->path, &st) || (st.st_mode & 0777) != 0600) {
		unlink(s->path);
		snprintf(err, errlen, "--control %s: the socket is not mode 0600: check the path",
			 s->path);
		return -EPERM;
	}
	return 0;
fail:
	rc = -errno;
	snprintf(err, errlen, "--control %s: cannot create the socket: %s", s->path,
		 strerror(errno));
	return rc;
}

int control_server__start(const char *path, const struct control_ops *ops,
			  struct control_server **out, char *err, size_t errlen)
{
	struct control_server *s;
	int rc;

	if (strlen(path) >= sizeof(s->path)) {
		snprintf(err, errlen, "--control %s: longer than %zu bytes: use a shorter path",
			 path, sizeof(s->path) - 1);
		return -ENAMETOOLONG;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	strcpy(s->path, path);
	s->ops = ops;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->listen_fd = -1;
	for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control: eventfd failed: %s", strerror(errno));
		goto fail;
	}
	rc = clear_path(path, err, errlen);
	if (rc)
		goto fail;
	rc = bind_socket(s, err, errlen);
	if (rc)
		goto fail;
	rc = -pthread_create(&s->thread, NULL, server_main, s);
	if (rc) {
		unlink(s->path);
		snprintf(err, errlen, "control: cannot start the thread: %s", strerror(-rc));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return rc;
}

void control_server__wait_idle(struct control_server *s, int timeout_ms)
{
	struct timespec deadline;

	if (!s)
		return;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	while (s->nr_clients)
		if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&s->lock);
}

void control_server__stop(struct control_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
		log__error("control: cannot wake the server thread: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	for (unsigned int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0)
			close(s->clients[i].fd);
	close(s->listen_fd);
	close(s->stop_fd);
	unlink(s->path);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
