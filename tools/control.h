/* twin-vmm's control protocol: one JSON request line in, one reply line out (QMP-like). */
#ifndef TOOLS_CONTROL_H
#define TOOLS_CONTROL_H
#include <stdbool.h>
#include <stddef.h>

/* Longest request line accepted, newline excluded; a longer one closes the connection. */
#define CONTROL_LINE_MAX 4096
/* Bumped when a command changes incompatibly; sent in the greeting. */
#define CONTROL_PROTOCOL 1

/*
 * What the commands act on.  Called on the control server's thread, one request at a
 * time.  stop and cont are idempotent: they are only called on a state change.
 */
struct control_ops {
	bool (*running)(void *opaque);
	void (*stop)(void *opaque);
	void (*cont)(void *opaque);
	/* Asks the VM to end cleanly (exit status 0); returns at once. */
	void (*quit)(void *opaque);
	void *opaque;
};

/* The line sent on connect, e.g. {"twin": {"version": "0.1.0", "protocol": 1}} (malloc'd). */
char *control__greeting(void);

/*
 * Runs the request in line[0..len) (no newline) and returns the reply line, malloc'd and
 * without a newline; NULL only when out of memory.  A line over CONTROL_LINE_MAX gets a
 * GenericError reply here too; the server then closes the connection.
 */
char *control__handle_line(const struct control_ops *ops, const char *line, size_t len);

#endif
