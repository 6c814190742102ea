/* twin-vmm restore and incoming: a VM built from a Twin stream, from a file or a live migration. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "channel.h"
#include "log.h"
#include "migrate.h"
#include "vm_load.h"
#include "vm_stream.h"

/* A stream that is not what it must be is bad input; anything else is a runtime failure. */
static int stream_error_status(int rc)
{
	return rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -EINVAL || rc == -EPROTO
		   ? EXIT_BAD_INPUT
		   : EXIT_RUNTIME;
}

/*
 * Reads what is left of a stream up to END.  The live handshake reads the ack only after
 * END: a source refused before that would see its connection cut, not the reason.
 */
static void drain(struct stream_reader *r)
{
	struct stream_record rec;

	while (!stream_reader__next(r, &rec) && rec.type != STREAM_REC_END)
		;
}

/*
 * From VM_CONFIG to END: the VM created, checked against the stream, loaded.  0 or -errno.
 * live: a VM this host cannot take is refused after the stream's END (drained).
 */
static int load(struct vm_setup *s, const struct vmm_args *a, struct stream_reader *r, bool live,
		int *status, char *err, size_t errlen)
{
	struct vm_stream_config cfg;
	int rc;

	rc = migrate__receive_config(r, &cfg, err, errlen);
	if (rc)
		goto fail;
	*status = vm_setup__create(s, a, cfg.mem_size, cfg.nr_vcpus, cfg.has_pit);
	if (*status) {
		snprintf(err, errlen,
			 "cannot create the VM the stream describes (%llu MiB, %u "
			 "vCPUs): see the error above",
			 (unsigned long long)cfg.mem_size >> 20, cfg.nr_vcpus);
		if (live)
			drain(r);
		return -EINVAL;
	}
	rc = vm_stream__check_config(&cfg, s->vm, err, errlen);
	if (rc) {
		if (live)
			drain(r);
		goto fail;
	}
	rc = migrate__receive(r, s->vm, NULL, err, errlen);
	if (rc)
		goto fail;
	return 0;
fail:
	*status = stream_error_status(rc);
	return rc;
}

int vm_load__restore(struct vm_setup *s, const struct vmm_args *a)
{
	struct stream_reader r;
	char err[512];
	int fd, rc, status = 0;

	fd = open(a->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log__error("restore: cannot open %s: %s: give the file twin-vmm save wrote",
			   a->file, strerror(errno));
		return EXIT_BAD_INPUT;
	}
	stream_reader__init(&r, stream__fd_read, &fd);
	rc = load(s, a, &r, false, &status, err, sizeof(err));
	stream_reader__dispose(&r);
	close(fd);
	if (rc) {
		log__error("restore: %s: %s", a->file, err);
		return status;
	}
	log__info("restore: loaded %s", a->file);
	return 0;
}

/* Waits for the source to connect, or a signal: 0 if one connects. */
static int wait_for_source(int lfd, int sig_fd)
{
	struct pollfd p[2] = {
	    {.fd = lfd, .events = POLLIN},
	    {.fd = sig_fd, .events = POLLIN},
	};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log__error("incoming: poll failed: %s", strerror(errno));
			return -errno;
		}
		if (p[1].revents) {
			log__info("incoming: stopped by a signal before any source connected");
			return -EINTR;
		}
		return 0;
	}
}

int vm_load__incoming(struct vm_setup *s, const struct vmm_args *a, int sig_fd)
{
	const struct channel_security sec = {
	    .cert = a->security.cert,
	    .key = a->security.key,
	    .ca = a->security.ca,
	    .psk_file = a->security.psk,
	    .insecure = a->security.insecure,
	};
	struct channel *ch = NULL;
	struct stream_reader r;
	char err[512];
	int lfd = -1, rc, status = EXIT_RUNTIME;

	rc = channel__check_security(&sec, err, sizeof(err));
	if (!rc)
		rc = channel__listen(a->listen, &lfd, err, sizeof(err));
	if (rc) {
		log__error("incoming: %s", err);
		return EXIT_BAD_INPUT;
	}
	/* Always shown: with port 0 it is how the user learns the port. */
	fprintf(stderr, "twin-vmm: incoming: waiting on %s, port %d\n", a->listen,
		channel__local_port(lfd));
	rc = wait_for_source(lfd, sig_fd);
	if (rc) {
		/* Stopped as a running VM would be: status 0. */
		if (rc == -EINTR)
			status = VM_EXIT_STOPPED;
		goto out;
	}
	rc = channel__accept(lfd, &sec, &ch, err, sizeof(err));
	if (rc) {
		log__error("incoming: %s", err);
		goto out;
	}
	log__info("incoming: source connected over %s", channel__describe(ch));
	stream_reader__init(&r, channel__read, ch);
	rc = load(s, a, &r, true, &status, err, sizeof(err));
	stream_reader__dispose(&r);
	if (rc) {
		log__error("incoming: %s", err);
		/* Best effort: the source may be gone, and it fails on its own then. */
		migrate__ack(channel__write, ch, rc, err);
		goto out;
	}
	rc = migrate__ack(channel__write, ch, 0, NULL);
	if (rc) {
		log__error("incoming: cannot ack the migration to the source: %s",
			   channel__error(ch));
		goto out;
	}
	status = 0;
	log__info("incoming: migration received");
out:
	channel__close(ch);
	if (lfd >= 0)
		close(lfd);
	return status;
}
