/* fault: takes a CPU exception in ring 3 on purpose, to test the fault path (vector=N). */
#include "rt.h"

TWIN_GUEST("fault");

int guest_main(void)
{
	uint64_t vector;
	volatile uint64_t zero = 0, sink;

	if (args__u64("vector", 6, &vector)) {
		console__printf("fault: bad vector= value; use 0, 3, 6, 13 or 14\n");
		return TWIN_GUEST_EXIT_FAIL;
	}
	console__printf("fault: raising vector %lu in ring 3\n", vector);
	switch (vector) {
	case 0: /* #DE */
		/* asm: the compiler may fold a C division by a known divisor */
		__asm__ volatile("xorl %%edx, %%edx; divq %1" : "=a"(sink) : "r"(zero), "a"(1ULL) : "rdx");
		break;
	case 3: /* #BP: the gate is DPL 3 */
		__asm__ volatile("int3");
		break;
	case 6: /* #UD */
		__asm__ volatile("ud2");
		break;
	case 13: /* #GP: a non-canonical address */
		sink = *(volatile uint64_t *)0x8000000000000000ULL;
		break;
	case 14: /* #PF: only the low 4 GiB are mapped */
		sink = *(volatile uint64_t *)0x100000000ULL;
		break;
	default:
		console__printf("fault: vector %lu is not one this guest raises; use 0, 3, 6, 13 or 14\n",
				vector);
		return TWIN_GUEST_EXIT_FAIL;
	}
	(void)sink;
	console__printf("fault: vector %lu was not delivered\n", vector);
	return TWIN_GUEST_EXIT_FAIL;
}
