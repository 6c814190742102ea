/* hello: the smallest guest; proves the boot path, ring 3, the console and the exit. */
#include "rt.h"

TWIN_GUEST("hello");

int guest_main(void)
{
	console__printf("hello: ring 3 ok\n");
	console__printf("hello: platform=%s tsc_khz=%lu clock=%s\n", platform__name(),
			clock__tsc_khz(), clock__source());
	console__printf("hello: cmdline=\"%s\"\n", args__cmdline());
	console__printf("hello: ring-0 stub took %lu us\n", clock__stub_us());
	return TWIN_GUEST_EXIT_OK;
}
