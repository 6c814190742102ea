/* twin-vmm backup: the shadow VM from the initial sync's ack until unprotect, failover or quit. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include "backup.h"
#include "channel.h"
#include "devstate.h"
#include "log.h"
#include "migrate.h"
#include "pci.h"
#include "repl_control.h"
#include "tap.h"
#include "virtio_net.h"
#include "vm.h"
#include "vm_backup.h"
#include "vm_control.h"

/* Acks epoch 0 and starts the engine on src's connection and stream: 0 or an exit status. */
static int start_engine(struct vm *vm, const struct vmm_args *a, struct vm_source *src,
			struct repl_backup **b)
{
	const struct repl_backup_params p = {
	    .timeout_ns =
		a->repl.timeout_ms ? a->repl.timeout_ms * 1000000ULL : REPL_TIMEOUT_DEFAULT_NS,
	    .auto_failover = a->repl.auto_failover,
	};
	char err[256];
	int rc;

	/* "I hold epoch 0": the primary, still paused, reads it and starts the epochs. */
	rc = migrate__ack(channel__write, src->ch, 0, NULL);
	if (rc) {
		log__error("backup: cannot ack the initial sync: %s; the primary stays unprotected",
			   channel__error(src->ch));
		goto fail;
	}
	/* The primary's address is not known here (the channel does not say): "" for none. */
	rc = repl_backup__start(vm, src->ch, &src->r, &p, "", b, err, sizeof(err));
	if (rc) {
		log__error("backup: cannot start replicating: %s", err);
		goto fail;
	}
	src->ch = NULL;
	if (p.auto_failover)
		log__warn("backup: --auto-failover: this backup runs the VM on its own once the "
			  "primary is unheard for %llu ms; UNSAFE under a network partition (both "
			  "copies would run): use it only for a two-host pair without a cluster",
			  (unsigned long long)p.timeout_ns / 1000000);
	fprintf(stderr, "twin-vmm: backup: protected: holding the VM's epoch 0\n");
	return 0;
fail:
	/* Acked or not, a cut connection is all the primary can be told now: it degrades. */
	channel__close(src->ch);
	src->ch = NULL;
	return EXIT_RUNTIME;
}

/*
 * The taps were opened (up, in their bridges) when the backup started, but no
 * I/O loop read them while the VM was a shadow: the frames flooded to them
 * meanwhile (ARP, broadcasts, up to txqueuelen) are stale.  Main thread,
 * before vm__start, so nothing else reads the taps.  Bounded: a flood that
 * arrives as fast as it is read cannot hold the failover.
 */
#define TAP_DRAIN_MAX 8192
static void drain_taps(struct vm *vm)
{
	struct virtio_net *nets[PCI_MAX_SLOTS];
	unsigned int nr = virtio_net__list(vm, nets, PCI_MAX_SLOTS);

	for (unsigned int i = 0; i < nr; i++) {
		int n = tap__drain(virtio_net__tap_fd(nets[i]), TAP_DRAIN_MAX);

		if (n < 0)
			log__warn("backup: failover: NIC %u: cannot drain its tap: %s; the guest "
				  "may receive frames queued while it was a shadow",
				  i, strerror(-n));
		else if (n > 0)
			log__info("backup: failover: NIC %u: dropped %d frame(s) queued on its tap "
				  "while the VM was a shadow",
				  i, n);
	}
}

/* Failover: the committed state is restored (activate); the VM starts here, announced. */
static int run_here(struct vm *vm, struct repl_control *r, bool *runs)
{
	struct repl_status st;
	int rc, nics;

	drain_taps(vm);
	rc = vm__start(vm);
	if (rc) {
		log__error("backup: failover: cannot start the VM's threads: %s", strerror(-rc));
		repl_control__activated(r, rc, "cannot start the VM's threads: see twin-vmm's log");
		vm__stop(vm, EXIT_RUNTIME);
		vm__join(vm);
		return EXIT_RUNTIME;
	}
	nics = devstate__announce(vm);
	repl_control__status(r, &st);
	fprintf(stderr,
		"twin-vmm: backup: failed over: the VM runs here from epoch %llu (%d NIC(s) "
		"announced)\n",
		(unsigned long long)st.epoch, nics);
	repl_control__activated(r, 0, NULL);
	*runs = true;
	return 0;
}

int vm_backup__serve(struct vm *vm, const struct vmm_args *a, struct vm_source *src, int sig_fd,
		     struct vm_control *ctl, bool *runs)
{
	struct repl_control *r = vm_control__repl(ctl);
	struct repl_backup *b;
	struct repl_status st;
	struct pollfd p[4];
	uint64_t n;
	int status;

	*runs = false;
	status = start_engine(vm, a, src, &b);
	if (status)
		return status;
	repl_control__set_backup(r, b);
	p[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
	p[1] = (struct pollfd){.fd = repl_backup__event_fd(b), .events = POLLIN};
	p[2] = (struct pollfd){.fd = vm_control__event_fd(ctl), .events = POLLIN};
	p[3] = (struct pollfd){.fd = repl_control__wake_fd(r), .events = POLLIN};
	for (;;) {
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			log__error("backup: poll failed: %s", strerror(errno));
			return EXIT_RUNTIME;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si))
				log__info("backup: got signal %u: exiting", si.ssi_signo);
			return VM_EXIT_STOPPED;
		}
		if (p[2].revents) {
			log__info("backup: quit: exiting; the primary goes on unprotected");
			return VM_EXIT_STOPPED;
		}
		if (p[3].revents && read(p[3].fd, &n, sizeof(n)) < 0)
			log__warn("backup: cannot clear the failover wake: %s", strerror(errno));
		switch (repl_backup__end(b)) {
		case REPL_BACKUP_RUNNING:
			break;
		case REPL_BACKUP_UNPROTECTED:
			fprintf(stderr,
				"twin-vmm: backup: the primary unprotected the VM: exiting\n");
			return 0;
		case REPL_BACKUP_LOST:
			/* Once: the engine's descriptor stays readable; failover wakes us instead.
			 */
			if (p[1].fd < 0)
				break;
			p[1].fd = -1;
			repl_control__status(r, &st);
			if (a->control)
				log__error(
				    "backup: THE PRIMARY IS LOST (%s): the VM may be running "
				    "nowhere. Run it here from epoch %llu with twin-vmm failover "
				    "--control %s, or quit",
				    st.error[0] ? st.error : "unheard",
				    (unsigned long long)st.epoch, a->control);
			else
				log__error(
				    "backup: THE PRIMARY IS LOST (%s): the VM may be running "
				    "nowhere, and without --control this backup cannot fail "
				    "over: SIGTERM ends it",
				    st.error[0] ? st.error : "unheard");
			break;
		case REPL_BACKUP_ACTIVATE:
			return run_here(vm, r, runs);
		}
	}
}
