/* twin-vmm: boot a PVH kernel in a KVM VM; the exit status is the guest's debug-exit status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "boot.h"
#include "log.h"
#include "vm.h"
#include "vmm_args.h"

#define EXIT_BAD_INPUT 2
#define EXIT_RUNTIME   VM_EXIT_FAILURE

/* Errors from vm__create that mean the user's setup or request, not KVM, is at fault. */
static int create_error_status(int rc)
{
	switch (rc) {
	case -ENOENT:
	case -EACCES:
	case -EPERM:
	case -ENODEV:
	case -ENOMEM:
	case -EINVAL:
		return EXIT_BAD_INPUT;
	default:
		return EXIT_RUNTIME;
	}
}

static int open_serial(const struct vmm_args *a)
{
	int fd;

	if (a->serial == VMM_SERIAL_STDIO)
		return STDOUT_FILENO;
	fd = open(a->serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		log__error("--serial file:%s: cannot open: %s: give a writable path",
			   a->serial_path, strerror(errno));
	return fd;
}

/* Runs the VM until it ends or SIGTERM/SIGINT arrives (which stops it cleanly, status 0). */
static int run(struct vm *vm, int sig_fd)
{
	struct pollfd p[2] = {
	    {.fd = sig_fd, .events = POLLIN},
	    {.fd = vm__done_fd(vm), .events = POLLIN},
	};
	int rc = vm__start(vm);

	if (rc) {
		vm__stop(vm, EXIT_RUNTIME);
		return vm__join(vm);
	}
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log__error("poll failed: %s", strerror(errno));
			vm__stop(vm, EXIT_RUNTIME);
			break;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				log__info("got signal %u: stopping the vCPUs", si.ssi_signo);
			vm__stop(vm, VM_EXIT_STOPPED);
			break;
		}
		if (p[1].revents)
			break;
	}
	return vm__join(vm);
}

int main(int argc, char **argv)
{
	struct vmm_args args;
	struct vm_config cfg;
	struct vm *vm = NULL;
	char err[512];
	sigset_t sigs;
	int sig_fd = -1, serial_fd = -1, status, rc;

	rc = vmm_args__parse(argc, argv, &args, err, sizeof(err));
	if (rc == VMM_ARGS_HELP) {
		fputs(vmm_args_usage, stdout);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "twin-vmm: error: %s\n", err);
		return EXIT_BAD_INPUT;
	}
	/* Blocked before any thread exists, so only the signalfd sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* A closed console reader must not kill the VM. */
	signal(SIGPIPE, SIG_IGN);
	sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sig_fd < 0) {
		log__error("signalfd failed: %s", strerror(errno));
		status = EXIT_RUNTIME;
		goto out;
	}
	serial_fd = open_serial(&args);
	if (serial_fd < 0) {
		status = EXIT_BAD_INPUT;
		goto out;
	}
	cfg = (struct vm_config){
	    .mem_size = args.mem_size,
	    .nr_vcpus = args.nr_vcpus,
	    .dirty_method = DIRTY_METHOD_DEFAULT,
	    .console_fd = serial_fd,
	    .no_pit = !args.pit,
	};
	rc = vm__create(&cfg, &vm);
	if (rc) {
		status = create_error_status(rc);
		goto out;
	}
	rc = boot__load_pvh_file(vm, args.kernel, args.cmdline, err, sizeof(err));
	if (rc) {
		log__error("%s", err);
		status = rc == -ENOMEM ? EXIT_RUNTIME : EXIT_BAD_INPUT;
		goto out;
	}
	status = run(vm, sig_fd);
out:
	vm__destroy(vm);
	if (serial_fd > STDERR_FILENO)
		close(serial_fd);
	if (sig_fd >= 0)
		close(sig_fd);
	return status;
}
