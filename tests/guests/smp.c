/* smp: starts every vCPU the MP table (or ACPI MADT) lists and counts those that reach ring 3. */
#include "rt.h"

TWIN_GUEST("smp");

int guest_main(void)
{
	unsigned int listed = smp__cpus_listed(), online;
	uint64_t t0 = clock__us();

	console__printf("smp: %u cpus listed (%s)\n", listed, smp__source());
	online = smp__start(0, NULL, NULL);
	console__printf("smp: started in %lu us\n", clock__us() - t0);
	console__printf("smp: %u cpus online\n", online);
	return online == listed ? TWIN_GUEST_EXIT_OK : TWIN_GUEST_EXIT_FAIL;
}
