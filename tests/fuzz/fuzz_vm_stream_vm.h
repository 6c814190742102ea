/* The VM fuzz_vm_stream loads into and gen-vm-stream-seed saves: the seeds must fit it. */
#ifndef TESTS_FUZZ_FUZZ_VM_STREAM_VM_H
#define TESTS_FUZZ_FUZZ_VM_STREAM_VM_H
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "virtio_blk.h"
#include "vm.h"

#define FUZZ_VM_MEM	  (2u << 20)
#define FUZZ_VM_DISK_SIZE (1u << 20)
/*
 * 2 MiB, one vCPU, a PIT, never run; its devices: the PCI bus, the UART and
 * a virtio-blk (slot 1) on a memfd, so the virtio transport's and the disk's
 * state checks see the fuzzer's input too.  Aborts with the reason on failure.
 */
static inline struct vm *fuzz_vm_create(const char *who)
{
	struct vm_config cfg = {.mem_size = FUZZ_VM_MEM, .nr_vcpus = 1, .console_fd = -1};
	struct virtio_blk *blk;
	char path[64], err[256] = "see the log line above";
	struct vm *vm;
	int fd;

	if (vm__create(&cfg, &vm) != 0) {
		fprintf(stderr, "%s: cannot create a VM: this target needs /dev/kvm\n", who);
		abort();
	}
	fd = memfd_create("fuzz-vm-disk", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, FUZZ_VM_DISK_SIZE) < 0) {
		perror("memfd for the fuzz VM's disk");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (virtio_blk__open(path, false, 0, &blk, err, sizeof(err)) != 0 ||
	    virtio_blk__register(blk, vm, false) != 0) {
		fprintf(stderr, "%s: the fuzz VM's virtio-blk: %s\n", who, err);
		abort();
	}
	close(fd); /* the disk holds its own descriptor */
	return vm;
}

/*
 * Sends stderr to /dev/null until fuzz_vm_stderr_restore(the returned fd):
 * xen-core logs a line per KVM refusal, thousands of mutants' worth, and the
 * targets check the error they get back instead.  Aborts if it cannot.
 */
static inline int fuzz_vm_stderr_mute(void)
{
	static int null_fd = -1;
	int saved;

	if (null_fd < 0)
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	saved = dup(STDERR_FILENO);
	if (null_fd < 0 || saved < 0 || dup2(null_fd, STDERR_FILENO) < 0)
		abort();
	return saved;
}

static inline void fuzz_vm_stderr_restore(int saved)
{
	if (dup2(saved, STDERR_FILENO) < 0)
		abort();
	close(saved);
}

#endif
