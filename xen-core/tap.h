/* TAP devices for virtio-net: open or create one by name, bring it up, attach it to a bridge. */
#ifndef XEN_CORE_TAP_H
#define XEN_CORE_TAP_H
#include <stdbool.h>
#include <stddef.h>

/* Longest interface name Linux accepts (IFNAMSIZ - 1). */
#define TAP_NAME_MAX 15

/* True if name is a valid Linux interface name: 1..15 bytes, no '/', ':' or space, not . or .. */
bool tap__valid_name(const char *name);

/*
 * Opens the TAP device name (IFF_TAP | IFF_NO_PI, no vnet header) non-blocking and
 * close-on-exec, creating it if it does not exist (a tap created here is not
 * persistent: it vanishes when the fd is closed), brings it up and, if bridge is
 * not NULL, attaches it to that bridge (a no-op if it already is).  Needs
 * CAP_NET_ADMIN.  Returns the fd, or -errno with one line in err naming the
 * problem and the fix.
 */
int tap__open(const char *name, const char *bridge, char *err, size_t errlen);
/*
 * Reads and discards the frames queued on fd (a tap__open fd, non-blocking)
 * until it has none, or max were read (a bound for a flood that arrives as
 * fast as it is read).  Returns how many were discarded, or -errno.
 */
int tap__drain(int fd, unsigned int max);

#endif
