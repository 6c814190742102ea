/* The form of a migration address, HOST:PORT, shared by the command line and the control socket. */
#ifndef TOOLS_HOST_PORT_H
#define TOOLS_HOST_PORT_H
#include <stdbool.h>

/*
 * Checks HOST:PORT (a name, an IPv4 address or a [v6] address, then a port): port 0 only if
 * any_port (a listener's "pick one").  The form only: channel.c resolves it.
 */
bool host_port__valid(const char *s, bool any_port);

#endif
