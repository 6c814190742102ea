/* twin-vmm's control socket: a unix-socket server for the control protocol (control.h). */
#ifndef TOOLS_CONTROL_SERVER_H
#define TOOLS_CONTROL_SERVER_H
#include "control.h"

/* Clients served at once; more wait in the listen backlog until one leaves. */
#define CONTROL_MAX_CLIENTS 8

struct control_server;

/*
 * Creates the socket at path, mode 0600, replacing a stale socket there but nothing
 * else, and starts the server thread.  It serves up to CONTROL_MAX_CLIENTS clients (a
 * migrate client watching progress, and others querying), running their requests one at
 * a time; more wait in the listen backlog.  ops are called on that thread.  Returns 0 or -errno
 * with one line in err.  It sets the process umask around bind(), so call it before other threads
 * create files (twin-vmm does so before vm__start).
 */
int control_server__start(const char *path, const struct control_ops *ops,
			  struct control_server **out, char *err, size_t errlen);

/*
 * Waits until no client is connected (client, not request), at most timeout_ms; NULL returns at
 * once.  A VM that migrated away lets the client watching it read "completed" before the socket
 * goes.
 */
void control_server__wait_idle(struct control_server *s, int timeout_ms);

/* Stops and joins the thread, closes the client, unlinks the socket; NULL is a no-op. */
void control_server__stop(struct control_server *s);

#endif
