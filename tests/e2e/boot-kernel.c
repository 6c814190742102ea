/* linux-boot.sh's VMM: boots a PVH ELF or bzImage with an initrd through boot__load_kernel_file. */
/*
 * usage: boot-kernel KERNEL INITRD|- MEM_MIB CMDLINE
 * Serial output goes to stdout; runs until the guest ends or SIGTERM/SIGINT,
 * and exits with the VM's status (2 if the kernel does not load).  It stands
 * in for `twin-vmm run --initrd` until twin-vmm boots through
 * boot__load_kernel_file.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include "boot.h"
#include "dirty.h"
#include "vm.h"

int main(int argc, char **argv)
{
	struct vm_config cfg = {
	    .nr_vcpus = 1, .dirty_method = DIRTY_METHOD_DEFAULT, .console_fd = 1};
	struct pollfd p[2] = {{.events = POLLIN}, {.events = POLLIN}};
	const char *initrd;
	struct vm *vm = NULL;
	char err[512];
	sigset_t sigs;
	int status = 2;

	if (argc != 5) {
		fprintf(stderr, "usage: boot-kernel KERNEL INITRD|- MEM_MIB CMDLINE\n");
		return 2;
	}
	initrd = strcmp(argv[2], "-") ? argv[2] : NULL;
	cfg.mem_size = strtoull(argv[3], NULL, 10) << 20;
	/* Blocked before any thread exists, so only the signalfd sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	p[0].fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (p[0].fd < 0) {
		perror("boot-kernel: signalfd");
		goto out;
	}
	if (vm__create(&cfg, &vm)) /* it logs why */
		goto out;
	if (boot__load_kernel_file(vm, argv[1], initrd, argv[4], err, sizeof(err))) {
		fprintf(stderr, "boot-kernel: error: %s\n", err);
		goto out;
	}
	if (vm__start(vm)) {
		vm__stop(vm, VM_EXIT_FAILURE);
	} else {
		p[1].fd = vm__done_fd(vm);
		int n;

		while ((n = poll(p, 2, -1)) < 0 && errno == EINTR)
			;
		if (n < 0)
			vm__stop(vm, VM_EXIT_FAILURE);
		else if (p[0].revents)
			vm__stop(vm, VM_EXIT_STOPPED);
	}
	status = vm__join(vm);
out:
	vm__destroy(vm);
	return status;
}
