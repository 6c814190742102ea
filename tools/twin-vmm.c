/* twin-vmm: boot a PVH ELF or bzImage in a KVM VM with virtio devices; exit status = guest's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "boot.h"
#include "control_server.h"
#include "ioloop.h"
#include "log.h"
#include "virtio_blk.h"
#include "virtio_console.h"
#include "virtio_net.h"
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

/* The backends the devices stand on; a VM owns each one from its registration on. */
struct backends {
	struct virtio_net *nics[VMM_ARGS_MAX_NICS];
	struct virtio_blk *disks[VMM_ARGS_MAX_DISKS];
};

/* Opens every tap and image before the VM exists, so bad input fails fast and cheap. */
static int open_backends(const struct vmm_args *a, struct backends *b, char *err, size_t errlen)
{
	int rc;

	for (unsigned int i = 0; i < a->nr_nics; i++) {
		const struct vmm_nic *n = &a->nics[i];

		rc = virtio_net__open(n->tap, n->bridge[0] ? n->bridge : NULL, n->mac, i,
				      &b->nics[i], err, errlen);
		if (rc)
			return rc;
	}
	for (unsigned int i = 0; i < a->nr_disks; i++) {
		rc = virtio_blk__open(a->disks[i].path, a->disks[i].readonly, i, &b->disks[i], err,
				      errlen);
		if (rc)
			return rc;
	}
	return 0;
}

static void close_backends(struct backends *b)
{
	for (unsigned int i = 0; i < VMM_ARGS_MAX_NICS; i++)
		virtio_net__close(b->nics[i]);
	for (unsigned int i = 0; i < VMM_ARGS_MAX_DISKS; i++)
		virtio_blk__close(b->disks[i]);
}

/* PCI functions in this order: the console, the NICs, the disks (errors are logged). */
static int add_devices(struct vm *vm, const struct vmm_args *a, struct backends *b)
{
	int rc;

	if (a->console == VMM_CONSOLE_VIRTIO) {
		rc = virtio_console__create(vm, a->console_legacy);
		if (rc)
			return rc;
	}
	for (unsigned int i = 0; i < a->nr_nics; i++) {
		struct virtio_net *net = b->nics[i];

		b->nics[i] = NULL;
		rc = virtio_net__register(net, vm, a->nics[i].legacy);
		if (rc)
			return rc;
	}
	for (unsigned int i = 0; i < a->nr_disks; i++) {
		struct virtio_blk *blk = b->disks[i];

		b->disks[i] = NULL;
		rc = virtio_blk__register(blk, vm, a->disks[i].legacy);
		if (rc)
			return rc;
	}
	return 0;
}

/* The VM as the control socket sees it; the callbacks run on the control server's thread. */
struct vm_control {
	struct vm *vm;
	bool paused;
	int quit_fd; /* eventfd: the control socket asks the main loop to stop the VM */
};

static bool ctl_running(void *opaque)
{
	return !((struct vm_control *)opaque)->paused;
}

/* vCPUs first, so they stop issuing I/O, then the I/O thread: memory and devices hold still. */
static void ctl_stop(void *opaque)
{
	struct vm_control *c = opaque;

	vm__pause_all(c->vm);
	ioloop__pause(c->vm->ioloop);
	c->paused = true;
	log__info("control: VM paused");
}

static void ctl_cont(void *opaque)
{
	struct vm_control *c = opaque;

	ioloop__resume(c->vm->ioloop);
	vm__resume_all(c->vm);
	c->paused = false;
	log__info("control: VM resumed");
}

static void ctl_quit(void *opaque)
{
	struct vm_control *c = opaque;
	uint64_t one = 1;

	if (write(c->quit_fd, &one, sizeof(one)) != sizeof(one))
		log__error("control: quit: cannot wake the main loop: %s", strerror(errno));
}

/*
 * Runs the VM until it ends, SIGTERM/SIGINT arrives or the control socket says quit (the
 * last two stop it cleanly, status 0).  quit_fd is -1 without a control socket.
 */
static int run(struct vm *vm, int sig_fd, int quit_fd)
{
	struct pollfd p[3] = {
	    {.fd = sig_fd, .events = POLLIN},
	    {.fd = vm__done_fd(vm), .events = POLLIN},
	    {.fd = quit_fd, .events = POLLIN},
	};
	int rc = vm__start(vm);

	if (rc) {
		vm__stop(vm, EXIT_RUNTIME);
		return vm__join(vm);
	}
	for (;;) {
		if (poll(p, 3, -1) < 0) {
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
		if (p[2].revents) {
			log__info("control: quit: stopping the vCPUs");
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
	struct backends backends = {0};
	struct vm_config cfg;
	struct vm *vm = NULL;
	struct vm_control ctl = {.quit_fd = -1};
	const struct control_ops ops = {
	    .running = ctl_running,
	    .stop = ctl_stop,
	    .cont = ctl_cont,
	    .quit = ctl_quit,
	    .opaque = &ctl,
	};
	struct control_server *server = NULL;
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
	rc = open_backends(&args, &backends, err, sizeof(err));
	if (rc) {
		log__error("%s", err);
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
	rc = add_devices(vm, &args, &backends);
	if (rc) {
		status = EXIT_RUNTIME;
		goto out;
	}
	rc = boot__load_kernel_file(vm, args.kernel, args.initrd, args.cmdline, err, sizeof(err));
	if (rc) {
		log__error("%s", err);
		status = rc == -ENOMEM ? EXIT_RUNTIME : EXIT_BAD_INPUT;
		goto out;
	}
	if (args.control) {
		ctl.vm = vm;
		ctl.quit_fd = eventfd(0, EFD_CLOEXEC);
		if (ctl.quit_fd < 0) {
			log__error("eventfd failed: %s", strerror(errno));
			status = EXIT_RUNTIME;
			goto out;
		}
		rc = control_server__start(args.control, &ops, &server, err, sizeof(err));
		if (rc) {
			log__error("%s", err);
			status = EXIT_BAD_INPUT;
			goto out;
		}
	}
	status = run(vm, sig_fd, ctl.quit_fd);
out:
	/* Before the VM goes: the server thread may be pausing or resuming it. */
	control_server__stop(server);
	if (ctl.quit_fd >= 0)
		close(ctl.quit_fd);
	vm__destroy(vm);
	close_backends(&backends);
	if (serial_fd > STDERR_FILENO)
		close(serial_fd);
	if (sig_fd >= 0)
		close(sig_fd);
	return status;
}
