/* The form of a migration address, HOST:PORT, shared by the command line and the control socket. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "host_port.h"

static bool valid_port(const char *p, bool any_port)
{
	unsigned long port;
	char *end;

	if (*p < '0' || *p > '9' || strlen(p) > 5)
		return false;
	port = strtoul(p, &end, 10);
	return !*end && port <= 65535 && (port || any_port);
}

bool host_port__valid(const char *s, bool any_port)
{
	const char *end;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || end == s + 1 || end[1] != ':')
			return false;
		for (const char *c = s + 1; c < end; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
				return false;
		return valid_port(end + 2, any_port);
	}
	end = strchr(s, ':');
	if (!end || end == s || strchr(end + 1, ':'))
		return false;
	for (const char *c = s; c < end; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_')
			return false;
	return valid_port(end + 1, any_port);
}
