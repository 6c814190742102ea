/* Writes a whole save of fuzz_vm_stream's VM to stdout: the base gen-vm-stream-corpus.py edits. */
#include <stdio.h>
#include <unistd.h>
#include "fuzz_vm_stream_vm.h"
#include "vm_stream.h"

int main(void)
{
	struct vm *vm = fuzz_vm_create("gen-vm-stream-seed");
	int fd = STDOUT_FILENO;
	struct stream_writer w;

	if (isatty(fd)) {
		fprintf(stderr, "gen-vm-stream-seed: writes a binary stream: redirect stdout to a "
				"file\n");
		return 2;
	}
	stream_writer__init(&w, stream__fd_write, &fd);
	if (stream_writer__header(&w, 0) || vm_stream__write_config(&w, vm) ||
	    vm_stream__write_state(&w, vm) || stream_writer__end(&w)) {
		fprintf(stderr,
			"gen-vm-stream-seed: writing the stream failed: see the log above\n");
		return 1;
	}
	vm__destroy(vm);
	return 0;
}
