/* The twin CLI's client of clusterd's socket: one JSON request line, one reply line. */
#ifndef TOOLS_TWIN_CLIENT_H
#define TOOLS_TWIN_CLIENT_H
#include <stddef.h>
#include <jansson.h>
#include "json_lines.h"

/* A status of every VM fits easily; a longer reply line is refused. */
#define TWIN_CLIENT_LINE_MAX (256 * 1024)
/* clusterd answers at once (a request for another host crosses CPG): this bounds a hang. */
#define TWIN_CLIENT_TIMEOUT_MS 30000

/* Zeroed or {.lines.fd = -1} before connect, so that close is safe either way. */
struct twin_client {
	const char *path;
	struct json_lines lines;
};

/* Connects to clusterd's socket at path: 0, or -1 with the reason said on stderr. */
int twin_client__connect(struct twin_client *c, const char *path);

/*
 * Runs cmd with args (stolen, may be NULL) and returns the reply's "return" value, or NULL
 * after saying why on stderr: clusterd's error (its desc and class), or a broken connection.
 */
json_t *twin_client__call(struct twin_client *c, const char *cmd, json_t *args);

/* Closes the connection (idempotent). */
void twin_client__close(struct twin_client *c);

/* "twin: error: " and the line, on stderr. */
void twin__error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
