/* libFuzzer's entry point for every fuzz target (--enable-libfuzzer): its contract, or abort. */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int cls = -1;
	const char *why = fuzz_target.check(data, size, &cls);

	if (why) {
		fprintf(stderr, "fuzz %s: %s (class %s)\n", fuzz_target.name, why,
			cls >= 0 && cls < fuzz_target.nclasses ? fuzz_target.classes[cls] : "none");
		abort();
	}
	return 0;
}
