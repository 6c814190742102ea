/* twin-vmm: run a VM (booted, restored, migrated in, or as a backup) or drive one. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "boot.h"
#include "control_client.h"
#include "control_server.h"
#include "devstate.h"
#include "log.h"
#include "repl_control.h"
#include "vm.h"
#include "vm_backup.h"
#include "vm_control.h"
#include "vm_cpus.h"
#include "vm_load.h"
#include "vm_setup.h"
#include "vmm_args.h"

/* How long a VM that migrated away waits for the control client watching it to go. */
#define MIGRATED_DRAIN_MS 5000

/*
 * Runs the VM until it ends, SIGTERM/SIGINT arrives, the control socket says quit (these
 * two stop it cleanly, status 0, unprotecting a protected VM first) or it migrated away
 * (status 0 too).  started: its threads run already (incoming, a backup failed over).
 * announce (restore, incoming): the guest's NICs are announced once it runs here, as QEMU
 * does after a load.
 */
static int run(struct vm *vm, int sig_fd, struct vm_control *ctl, struct control_server *server,
	       bool started, bool announce)
{
	struct repl_control *repl = vm_control__repl(ctl);
	struct pollfd p[5] = {
	    {.fd = sig_fd, .events = POLLIN},
	    {.fd = vm__done_fd(vm), .events = POLLIN},
	    {.fd = vm_control__event_fd(ctl), .events = POLLIN},
	    {.fd = repl_control__wake_fd(repl), .events = POLLIN},
	    {.events = POLLIN}, /* the protection's engine, which each protect replaces */
	};
	int rc = started ? 0 : vm__start(vm);

	if (rc) {
		vm__stop(vm, EXIT_RUNTIME);
		return vm__join(vm);
	}
	if (announce)
		log__info("announced %d NIC(s) on the guest's behalf", devstate__announce(vm));
	for (;;) {
		p[4].fd = repl_control__engine_fd(repl);
		if (poll(p, 5, -1) < 0) {
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
			vm_control__before_exit(ctl);
			vm__stop(vm, VM_EXIT_STOPPED);
			break;
		}
		if (p[2].revents) {
			if (vm_control__migrated(ctl)) {
				/* The client watching the migration reads "completed" first. */
				control_server__wait_idle(server, MIGRATED_DRAIN_MS);
				log__info("migrated: the VM runs at the destination; exiting");
			} else {
				log__info("control: quit: stopping the vCPUs");
				vm_control__before_exit(ctl);
			}
			vm__stop(vm, VM_EXIT_STOPPED);
			break;
		}
		if (p[1].revents)
			break;
		if (p[3].revents || p[4].revents)
			repl_control__check(repl);
	}
	return vm__join(vm);
}

/*
 * Builds the VM as the command says: booted from a kernel, restored, migrated in (then
 * *source is the connection waiting for the ack) or synced in by a protect (then backup
 * holds the connection and its stream).
 */
static int build(struct vm_setup *s, const struct vmm_args *a, int sig_fd, struct channel **source,
		 struct vm_source *backup)
{
	char err[512];
	int rc;

	switch (a->command) {
	case VMM_CMD_RESTORE:
		return vm_load__restore(s, a);
	case VMM_CMD_INCOMING:
		return vm_load__incoming(s, a, sig_fd, source);
	case VMM_CMD_BACKUP:
		return vm_load__backup(s, a, sig_fd, backup);
	default:
		break;
	}
	rc = vm_setup__create(s, a, a->mem_size, a->nr_vcpus, a->pit);
	if (rc)
		return rc;
	rc = boot__load_kernel_file(s->vm, a->kernel, a->initrd, a->cmdline, err, sizeof(err));
	if (rc) {
		log__error("%s", err);
		return rc == -ENOMEM ? EXIT_RUNTIME : EXIT_BAD_INPUT;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vmm_args args;
	struct vm_setup setup = {.serial_fd = -1};
	struct vm_control *ctl = NULL;
	struct control_ops ops;
	struct control_server *server = NULL;
	struct channel *source = NULL; /* incoming: the source, until the ack */
	struct vm_source backup = {0}; /* backup: the primary's connection and stream */
	bool backup_runs = false;
	char err[512];
	sigset_t sigs;
	int sig_fd = -1, status, rc;

	rc = vmm_args__parse(argc, argv, &args, err, sizeof(err));
	if (rc == VMM_ARGS_HELP) {
		fputs(vmm_args_usage, stdout);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "twin-vmm: error: %s\n", err);
		return EXIT_BAD_INPUT;
	}
	switch (args.command) {
	case VMM_CMD_SAVE:
		return control_client__save(&args);
	case VMM_CMD_MIGRATE:
		return control_client__migrate(&args);
	case VMM_CMD_PROTECT:
		return control_client__protect(&args);
	case VMM_CMD_UNPROTECT:
	case VMM_CMD_SET_REPLICATION:
	case VMM_CMD_QUERY_REPLICATION:
	case VMM_CMD_FAILOVER:
	case VMM_CMD_FENCE:
	case VMM_CMD_UNFENCE:
	case VMM_CMD_DEGRADE:
		return control_client__replication(&args);
	default:
		break;
	}
	/* Blocked before any thread exists, so only the signalfd sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	/* A closed console reader or migration peer must not kill the VM. */
	signal(SIGPIPE, SIG_IGN);
	sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sig_fd < 0) {
		log__error("signalfd failed: %s", strerror(errno));
		status = EXIT_RUNTIME;
		goto out;
	}
	/* Before any thread: every one started later inherits the set. */
	if (args.cpus_set && vm_cpus__pin(&args.cpus, err, sizeof(err))) {
		log__error("--cpus: %s", err);
		status = EXIT_BAD_INPUT;
		goto out;
	}
	status = vm_setup__open(&setup, &args);
	if (!status)
		status = build(&setup, &args, sig_fd, &source, &backup);
	if (status || !setup.vm)
		goto out;
	rc = vm_control__new(setup.vm, false, args.command == VMM_CMD_BACKUP, &ctl);
	if (rc) {
		log__error("control: cannot set up: %s", strerror(-rc));
		status = EXIT_RUNTIME;
		goto out;
	}
	if (args.control) {
		vm_control__ops(ctl, &ops);
		rc = control_server__start(args.control, &ops, &server, err, sizeof(err));
		if (rc) {
			log__error("%s", err);
			vm_load__refuse(setup.vm, &source, rc, err);
			vm_load__refuse(setup.vm, &backup.ch, rc, err);
			status = EXIT_BAD_INPUT;
			goto out;
		}
	}
	/* Incoming: everything that can fail came first; the ack then hands the VM over. */
	if (source) {
		status = vm_load__commit(setup.vm, &source);
		if (status)
			goto out;
	}
	if (args.command == VMM_CMD_BACKUP) {
		status = vm_backup__serve(setup.vm, &args, &backup, sig_fd, ctl, &backup_runs);
		if (!backup_runs) {
			/* A failover still waiting is answered before its thread is joined. */
			vm_control__before_exit(ctl);
			goto out;
		}
	}
	status = run(setup.vm, sig_fd, ctl, server,
		     args.command == VMM_CMD_INCOMING || args.command == VMM_CMD_BACKUP,
		     args.command == VMM_CMD_RESTORE || args.command == VMM_CMD_INCOMING);
out:
	/* Set up failed after a migration came in: the source keeps the VM, told why. */
	vm_load__refuse(setup.vm, &source, -EIO,
			"the destination twin-vmm failed to set up: see its log");
	vm_load__refuse(setup.vm, &backup.ch, -EIO,
			"the backup twin-vmm failed to set up: see its log");
	/* Before the VM goes: the server and migration threads may be using it. */
	control_server__stop(server);
	vm_control__free(ctl);
	vm_load__source_dispose(&backup);
	vm_setup__dispose(&setup);
	if (sig_fd >= 0)
		close(sig_fd);
	return status;
}
