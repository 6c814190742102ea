/* The model's replicated state on disk (STATE_DIR/cluster.json), written atomically. */
#ifndef CLUSTERD_PERSIST_H
#define CLUSTERD_PERSIST_H
#include <stddef.h>

/*
 * Replaces path with data[0..len): a temporary file beside it, fsync, rename, fsync of the
 * directory, so a crash leaves the old state or the new one, never a mix.  0, or -errno with
 * path removed: a restart then finds no state (the host counts as new), never an older one.
 * Synchronous (two fsyncs): the caller runs what must not wait for the disk first.
 */
int persist__write(const char *path, const char *data, size_t len);

/* Reads path whole (NUL-terminated, malloc'd in *out): 0, -ENOENT (none yet), or -errno. */
int persist__read(const char *path, char **out, size_t *len);

#endif
