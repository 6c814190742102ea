/* CPU lists as the kernel writes them ("0,2-5"), to and from a cpu_set_t: pure, unit-tested. */
#ifndef TOOLS_CPU_LIST_H
#define TOOLS_CPU_LIST_H
#include <sched.h>
#include <stddef.h>

/* Room for any list of CPU_SETSIZE CPUs ("0,2,4,...,1022" is the longest), with the NUL. */
#define CPU_LIST_MAX 4096

/*
 * Parses "N", "N-M" items joined by commas (CPUs below CPU_SETSIZE, N <= M, no blanks; a
 * trailing newline, as sysfs files have, is allowed).  "" is the empty set.  0 or -EINVAL
 * (out is then undefined).
 */
int cpu_list__parse(const char *s, cpu_set_t *out);

/* Writes set as "0-1,3" ("" if empty): 0, or -ENOSPC when size is too small. */
int cpu_list__format(const cpu_set_t *set, char *out, size_t size);

#endif
