/* The blocking client side of a JSON-lines socket: twin-vmm's control socket, clusterd's CLI. */
#ifndef TOOLS_JSON_LINES_H
#define TOOLS_JSON_LINES_H
#include <signal.h>
#include <stddef.h>
#include <jansson.h>

struct json_lines {
	int fd;
	char *buf; /* cap bytes: the longest line taken */
	size_t cap, len;
	/*
	 * Optional, set after connect: the signal mask while a read waits (as ppoll's), and a
	 * flag the caller's handler sets: a signal let through with it set ends the read
	 * (JSON_LINES_STOPPED).  A caller that blocks the signal elsewhere misses none.
	 */
	const sigset_t *wait_mask;
	volatile sig_atomic_t *stop;
};

/* Why json_lines__read gave nothing. */
enum json_lines_fail {
	JSON_LINES_NOT_JSON, /* why: jansson's reason */
	JSON_LINES_TOO_LONG, /* a line longer than cap */
	JSON_LINES_TIMEOUT,
	JSON_LINES_CLOSED,  /* why: the read's error, "" at end of file */
	JSON_LINES_STOPPED, /* *stop was set while waiting */
};

/* Connects to the unix socket at path, with a line buffer of cap bytes.  0 or -errno. */
int json_lines__connect(struct json_lines *l, const char *path, size_t cap);

/* Sends {"execute": cmd, "arguments": args} as one line; args is stolen (NULL: none).  0 or -errno.
 */
int json_lines__send(struct json_lines *l, const char *cmd, json_t *args);

/* The next line, parsed; NULL with *fail (and why, for NOT_JSON and CLOSED) set. */
json_t *json_lines__read(struct json_lines *l, int timeout_ms, enum json_lines_fail *fail,
			 char *why, size_t whylen);

/*
 * The message body for a failed json_lines__read on l, into buf: "a reply is not JSON: why",
 * "no reply within N s", "PEER closed the connection: why", ...  NULL for JSON_LINES_STOPPED
 * (the caller's own stop: nothing to say).  The caller adds its prefix and its hint.
 */
const char *json_lines__fail_str(const struct json_lines *l, enum json_lines_fail fail,
				 const char *why, int timeout_ms, const char *peer, char *buf,
				 size_t len);

/* Closes the connection and frees the buffer (idempotent). */
void json_lines__close(struct json_lines *l);

#endif
