/* twin-vmm restore, incoming and backup: a VM built from a Twin stream (file, migration, sync). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "channel.h"
#include "log.h"
#include "migrate.h"
#include "stream_format.h"
#include "util.h"
#include "virtio_blk.h"
#include "vm_load.h"
#include "vm_stream.h"

/* A stream that is not what it must be is bad input; anything else is a runtime failure. */
static int stream_error_status(int rc)
{
	return rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -EINVAL || rc == -EPROTO
		   ? EXIT_BAD_INPUT
		   : EXIT_RUNTIME;
}

/* The refusal (rc, why) to the source, vm's disks released first (vm may be NULL). */
static void tell_refusal(struct vm *vm, struct channel *ch, int rc, const char *why)
{
	int r = vm ? virtio_blk__release_all(vm) : 0;

	if (r)
		log__warn("incoming: cannot release the disks before refusing: %s", strerror(-r));
	migrate__ack(channel__write, ch, rc, why);
}

/*
 * Live, a VM this host will not take, found before END was read or at it: the reason
 * goes to the source at once (it reads it at SYNC, in place of READY, or after END, in
 * place of the ack), then what is left of the stream is read until END or until the
 * source, having read the reason, closes: a source cut off mid-write would see only a
 * broken connection.  vm: as for tell_refusal.
 */
static void refuse_early(struct vm *vm, struct channel **ch, struct stream_reader *r, int rc,
			 const char *why)
{
	struct stream_record rec;

	tell_refusal(vm, *ch, rc, why);
	while (!stream_reader__next(r, &rec) && rec.type != STREAM_REC_END)
		;
	channel__close(*ch);
	*ch = NULL;
}

/*
 * After VM_CONFIG (cfg) up to END: the VM created, checked against the stream, loaded.
 * 0 or -errno.  ch: a live migration's connection (NULL: a file), told READY when the
 * source asks (SYNC); on a failure, refused and closed (refuse_early).
 */
static int load(struct vm_setup *s, const struct vmm_args *a, struct stream_reader *r,
		const struct vm_stream_config *cfg, struct channel **ch, int *status, char *err,
		size_t errlen)
{
	int rc;

	*status = vm_setup__create(s, a, cfg->mem_size, cfg->nr_vcpus, cfg->has_pit);
	if (*status) {
		snprintf(err, errlen,
			 "cannot create the VM the stream describes (%llu MiB, %u "
			 "vCPUs): see the error above",
			 (unsigned long long)cfg->mem_size >> 20, cfg->nr_vcpus);
		if (ch)
			refuse_early(NULL, ch, r, -EINVAL, err);
		return -EINVAL;
	}
	rc = vm_stream__check_config(cfg, s->vm, err, errlen);
	if (rc)
		goto fail;
	rc = migrate__receive(r, s->vm, ch ? channel__write : NULL, ch ? *ch : NULL, NULL, err,
			      errlen);
	if (rc)
		goto fail;
	return 0;
fail:
	if (ch)
		refuse_early(s->vm, ch, r, rc, err);
	*status = stream_error_status(rc);
	return rc;
}

int vm_load__restore(struct vm_setup *s, const struct vmm_args *a)
{
	struct vm_stream_config cfg;
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
	rc = migrate__receive_config(&r, &cfg, err, sizeof(err));
	if (rc)
		status = stream_error_status(rc);
	else
		rc = load(s, a, &r, &cfg, NULL, &status, err, sizeof(err));
	/* A file ends at END: anything after it is damage, not more VM. */
	if (!rc && (rc = stream_reader__expect_eof(&r))) {
		snprintf(err, sizeof(err), "%s", r.err);
		status = stream_error_status(rc);
	}
	stream_reader__dispose(&r);
	close(fd);
	if (rc) {
		log__error("restore: %s: %s", a->file, err);
		return status;
	}
	log__info("restore: loaded %s", a->file);
	return 0;
}

/* Waits for a connection, or a signal: 0 if one connects. */
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

static ssize_t counted_read(void *ctx, void *buf, size_t len)
{
	struct vm_source_counted *c = ctx;
	ssize_t r = channel__read(c->ch, buf, len);

	if (r > 0 && c->bytes < sizeof(c->magic)) {
		size_t n = sizeof(c->magic) - c->bytes;

		memcpy(c->magic + c->bytes, buf, (size_t)r < n ? (size_t)r : n);
	}
	if (r > 0)
		c->bytes += r;
	return r;
}

/* A peer that sent no Twin stream header: a stranger or a port scan, not a source. */
static bool stranger(const struct vm_source_counted *c)
{
	return c->bytes < sizeof(struct stream_header) ||
	       memcmp(c->magic, STREAM_MAGIC, sizeof(c->magic));
}

/*
 * Accepts connections until one is a source: its handshake passed and it sent a Twin
 * stream header, then VM_CONFIG (into cfg).  A stranger or a port scan (a refused
 * handshake, a connection closed before a whole header, or another protocol) is logged
 * and the wait goes on, so it cannot end the incoming.  0 with *out and r (over cr)
 * ready, or -errno (-EINTR: a signal) with the reason logged; *out is set once a source
 * connected, even if its stream then failed.
 */
static int accept_source(int lfd, int sig_fd, const struct channel_security *sec,
			 struct channel **out, struct vm_source_counted *cr,
			 struct stream_reader *r, struct vm_stream_config *cfg, char *err,
			 size_t errlen)
{
	struct channel *ch;
	int rc;

	for (;;) {
		rc = wait_for_source(lfd, sig_fd);
		if (rc)
			return rc;
		rc = channel__accept(lfd, sec, &ch, err, errlen);
		/* The peer's fault (a handshake failed, or it hung up first): wait on. */
		if (rc == -EPROTO || rc == -ECONNABORTED) {
			log__warn("incoming: refused a connection: %s; still waiting", err);
			continue;
		}
		/* Ours (no memory, no descriptors): waiting on would spin on the same error. */
		if (rc) {
			log__error("incoming: %s", err);
			return rc;
		}
		*cr = (struct vm_source_counted){.ch = ch};
		stream_reader__init(r, counted_read, cr);
		rc = migrate__receive_config(r, cfg, err, errlen);
		if (rc && stranger(cr)) {
			if (cr->bytes)
				log__warn(
				    "incoming: a connection over %s sent no Twin stream (%s); "
				    "still waiting",
				    channel__describe(ch), err);
			else
				log__warn("incoming: a connection over %s closed before sending a "
					  "stream; still waiting",
					  channel__describe(ch));
			stream_reader__dispose(r);
			channel__close(ch);
			continue;
		}
		*out = ch;
		return rc;
	}
}

/*
 * A replication stream (CHECKPOINTED) is for twin-vmm backup, anything else for incoming:
 * the wrong one is refused naming the right command.  rc: migrate__receive_config's.
 */
static int check_kind(const struct stream_reader *r, bool replication, int rc, char *err,
		      size_t errlen)
{
	bool checkpointed = r->flags & STREAM_FLAG_CHECKPOINTED;

	/* Only a header read whole says what the stream is. */
	if (rc || checkpointed == replication)
		return rc;
	if (checkpointed)
		return util__fail(err, errlen, -EPROTONOSUPPORT,
				  "this is a replication stream (twin-vmm protect) and twin-vmm "
				  "incoming takes a live migration: protect toward a twin-vmm "
				  "backup instead");
	return util__fail(err, errlen, -EPROTONOSUPPORT,
			  "this is a live migration (twin-vmm migrate) and twin-vmm backup takes "
			  "a replication stream: migrate into a twin-vmm incoming instead");
}

/*
 * incoming and backup (replication): waits for the source, then receives the VM up to END
 * (incoming) or CHECKPOINT(0) (backup).  0 with src->ch waiting for the ack and src->r
 * positioned after the last record read (the caller disposes it), or an exit status (logged,
 * the source told) with src->r disposed here.
 */
static int receive(struct vm_setup *s, const struct vmm_args *a, int sig_fd, bool replication,
		   struct vm_source *src)
{
	const char *cmd = replication ? "backup" : "incoming";
	const struct channel_security sec = {
	    .cert = a->security.cert,
	    .key = a->security.key,
	    .ca = a->security.ca,
	    .psk_file = a->security.psk,
	    .insecure = a->security.insecure,
	};
	struct stream_reader *r = &src->r;
	struct vm_stream_config cfg;
	struct channel *ch = NULL;
	char err[512];
	int lfd = -1, rc, status;

	*src = (struct vm_source){0};
	stream_reader__init(r, counted_read, &src->counted);
	rc = channel__check_security(&sec, err, sizeof(err));
	if (!rc)
		rc = channel__listen(a->listen, &lfd, err, sizeof(err));
	if (rc) {
		log__error("%s: %s", cmd, err);
		status = EXIT_BAD_INPUT;
		goto fail;
	}
	/* Always shown: with port 0 it is how the user learns the port. */
	fprintf(stderr, "twin-vmm: %s: waiting on %s, port %d\n", cmd, a->listen,
		channel__local_port(lfd));
	rc = accept_source(lfd, sig_fd, &sec, &ch, &src->counted, r, &cfg, err, sizeof(err));
	close(lfd);
	if (ch)
		rc = check_kind(r, replication, rc, err, sizeof(err));
	/* Stopped while waiting, as a running VM would be: status 0. */
	if (rc == -EINTR) {
		status = VM_EXIT_STOPPED;
		goto fail;
	}
	if (!ch) {
		status = EXIT_RUNTIME;
		goto fail;
	}
	if (rc) {
		status = stream_error_status(rc);
		refuse_early(NULL, &ch, r, rc, err);
	} else {
		log__info("%s: source connected over %s", cmd, channel__describe(ch));
		rc = load(s, a, r, &cfg, &ch, &status, err, sizeof(err));
	}
	if (rc) {
		/* The source was told (refuse_early), if it was still there to hear it. */
		log__error("%s: %s", cmd, err);
		goto fail;
	}
	log__info("%s: %s received", cmd, replication ? "the initial sync" : "migration");
	src->ch = ch;
	return 0;
fail:
	stream_reader__dispose(r);
	return status;
}

int vm_load__incoming(struct vm_setup *s, const struct vmm_args *a, int sig_fd,
		      struct channel **out)
{
	struct vm_source src;
	int status = receive(s, a, sig_fd, false, &src);

	/* After END the stream holds nothing more: only the ack goes back. */
	if (!status)
		stream_reader__dispose(&src.r);
	*out = src.ch;
	return status;
}

int vm_load__backup(struct vm_setup *s, const struct vmm_args *a, int sig_fd, struct vm_source *src)
{
	return receive(s, a, sig_fd, true, src);
}

void vm_load__source_dispose(struct vm_source *src)
{
	stream_reader__dispose(&src->r);
}

void vm_load__refuse(struct vm *vm, struct channel **ch, int rc, const char *why)
{
	if (!*ch)
		return;
	tell_refusal(vm, *ch, rc, why);
	channel__close(*ch);
	*ch = NULL;
}

int vm_load__commit(struct vm *vm, struct channel **ch)
{
	int rc;

	/* Parked from their first instruction: nothing runs or moves before the ack. */
	vm__hold(vm);
	rc = vm__start(vm);
	if (rc) {
		log__error("incoming: cannot start the VM's threads: %s; the source keeps it",
			   strerror(-rc));
		vm_load__refuse(vm, ch, rc,
				"the destination cannot start the VM's threads: see its log");
		goto stop;
	}
	rc = migrate__ack(channel__write, *ch, 0, NULL);
	if (rc) {
		/* The source reads a cut connection and resumes the VM: not here too. */
		log__error("incoming: cannot ack the migration to the source: %s; the source "
			   "keeps the VM",
			   channel__error(*ch));
		channel__close(*ch);
		*ch = NULL;
		goto stop;
	}
	channel__close(*ch);
	*ch = NULL;
	vm__release(vm);
	log__info("incoming: acked: the VM runs here");
	return 0;
stop:
	vm__stop(vm, EXIT_RUNTIME);
	vm__join(vm);
	return EXIT_RUNTIME;
}
