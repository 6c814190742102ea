/* CPU lists as the kernel writes them ("0,2-5"), to and from a cpu_set_t. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include "cpu_list.h"

/* A CPU number at *s (digits only, below CPU_SETSIZE); moves *s past it. */
static bool parse_cpu(const char **s, unsigned long *out)
{
	char *end;

	if (**s < '0' || **s > '9')
		return false;
	errno = 0;
	*out = strtoul(*s, &end, 10);
	if (errno || *out >= CPU_SETSIZE)
		return false;
	*s = end;
	return true;
}

int cpu_list__parse(const char *s, cpu_set_t *out)
{
	CPU_ZERO(out);
	if (!*s || (s[0] == '\n' && !s[1]))
		return 0;
	for (;;) {
		unsigned long first, last;

		if (!parse_cpu(&s, &first))
			return -EINVAL;
		last = first;
		if (*s == '-') {
			s++;
			if (!parse_cpu(&s, &last) || last < first)
				return -EINVAL;
		}
		for (unsigned long c = first; c <= last; c++)
			CPU_SET(c, out);
		if (*s == ',') {
			s++;
			continue;
		}
		return !*s || (s[0] == '\n' && !s[1]) ? 0 : -EINVAL;
	}
}

int cpu_list__format(const cpu_set_t *set, char *out, size_t size)
{
	size_t len = 0;

	if (!size)
		return -ENOSPC;
	out[0] = 0;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		int last = c, n;

		if (!CPU_ISSET(c, set))
			continue;
		while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
			last++;
		if (last == c)
			n = snprintf(out + len, size - len, "%s%d", len ? "," : "", c);
		else
			n = snprintf(out + len, size - len, "%s%d-%d", len ? "," : "", c, last);
		if (n < 0 || (size_t)n >= size - len) {
			out[0] = 0;
			return -ENOSPC;
		}
		len += n;
		c = last;
	}
	return 0;
}
