/* The guest kit's arguments: key=value words from the PVH start_info command line. */
#include "rt.h"

#include "hvm_start_info.h"

#define CMDLINE_MAX 4096

static char cmdline[CMDLINE_MAX];
static char value[CMDLINE_MAX];

/* Copy the command line out of low memory: the AP trampoline page may be reused. */
void args__init(void)
{
	const struct hvm_start_info *si = (const void *)(uintptr_t)rt_start_info_pa;
	const char *src;
	size_t i;

	if (!si || si->magic != XEN_HVM_START_MAGIC_VALUE || !si->cmdline_paddr ||
	    si->cmdline_paddr >= 0x100000000ULL)
		return;
	src = (const char *)(uintptr_t)si->cmdline_paddr;
	for (i = 0; i + 1 < CMDLINE_MAX && src[i]; i++)
		cmdline[i] = src[i];
	cmdline[i] = '\0';
}

const char *args__cmdline(void)
{
	return cmdline;
}

const char *args__get(const char *key)
{
	size_t klen = strlen(key);
	const char *p = cmdline;

	while (*p) {
		size_t n;

		while (*p == ' ')
			p++;
		for (n = 0; p[n] && p[n] != ' '; n++)
			;
		if (n > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			memcpy(value, p + klen + 1, n - klen - 1);
			value[n - klen - 1] = '\0';
			return value;
		}
		p += n;
	}
	return NULL;
}

int args__u64(const char *key, uint64_t def, uint64_t *out)
{
	const char *v = args__get(key);
	char *end;

	if (!v) {
		*out = def;
		return 0;
	}
	*out = strtoul(v, &end, 0);
	if (end == v || *end)
		return -EINVAL;
	return 0;
}
