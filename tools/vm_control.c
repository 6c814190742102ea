/* The VM behind twin-vmm's control socket: pause, resume, save, and the live migration thread. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "channel.h"
#include "ioloop.h"
#include "log.h"
#include "migrate.h"
#include "vm.h"
#include "vm_control.h"

/*
 * Threads: the control server's calls the ops, one at a time; the migration thread runs
 * migrate__send.  lock guards every field the two share (marked "locked").
 */
struct vm_control {
	struct vm *vm;
	int event_fd; /* quit asked, or migrated away */
	pthread_mutex_t lock;
	bool paused;		     /* locked: by stop or save, not by a migration's own pause */
	bool busy;		     /* locked: the migration thread has not finished */
	bool joinable;		     /* the migration thread is not joined yet (control thread) */
	bool migrated;		     /* locked: completed, the VM runs at the destination */
	pthread_t thread;	     /* the migration thread */
	struct migrate_job *job;     /* the last save's or migration's; NULL before any */
	struct channel *ch;	     /* locked: the migration's connection, once made */
	char error[MIGRATE_ERR_MAX]; /* locked: a failure before migrate__send ran */
	/* The migration's request, copied: the control request it came in dies with its reply. */
	char uri[256], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], psk[PATH_MAX];
	struct channel_security security;
	struct migrate_params params;
};

static void signal_event(struct vm_control *c)
{
	uint64_t one = 1;

	if (write(c->event_fd, &one, sizeof(one)) != sizeof(one))
		log__error("control: cannot wake the main loop: %s", strerror(errno));
}

/* Under lock: why the VM cannot be paused, resumed, saved or migrated now (0: it can). */
static int refuse_locked(struct vm_control *c, char *err, size_t errlen)
{
	if (c->busy) {
		snprintf(err, errlen,
			 "a migration is in progress: wait for it or send "
			 "migrate-cancel");
		return -EBUSY;
	}
	if (c->migrated) {
		snprintf(err, errlen,
			 "the VM migrated to %s and runs there now: this twin-vmm is exiting",
			 c->uri);
		return -ESRCH;
	}
	return 0;
}

static int refuse(struct vm_control *c, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = refuse_locked(c, err, errlen);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static bool ctl_running(void *opaque)
{
	struct vm_control *c = opaque;
	bool running;

	pthread_mutex_lock(&c->lock);
	running = !c->paused && !c->migrated;
	pthread_mutex_unlock(&c->lock);
	return running;
}

/* vCPUs first, so they stop issuing I/O, then the I/O thread: memory and devices hold still. */
static void pause_vm(struct vm_control *c)
{
	vm__pause_all(c->vm);
	ioloop__pause(c->vm->ioloop);
	pthread_mutex_lock(&c->lock);
	c->paused = true;
	pthread_mutex_unlock(&c->lock);
	log__info("control: VM paused");
}

static int ctl_stop(void *opaque, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	int rc = refuse(c, err, errlen);

	if (!rc)
		pause_vm(c);
	return rc;
}

static int ctl_cont(void *opaque, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	int rc = refuse(c, err, errlen);

	if (rc)
		return rc;
	ioloop__resume(c->vm->ioloop);
	vm__resume_all(c->vm);
	pthread_mutex_lock(&c->lock);
	c->paused = false;
	pthread_mutex_unlock(&c->lock);
	log__info("control: VM resumed");
	return 0;
}

static void ctl_quit(void *opaque)
{
	signal_event(opaque);
}

/* A fresh job for the next save or migration; the last one's status goes with it. */
static int new_job(struct vm_control *c, char *err, size_t errlen)
{
	struct migrate_job *job;
	int rc = migrate_job__new(&job);

	if (rc) {
		snprintf(err, errlen, "out of memory for the migration's progress");
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	migrate_job__free(c->job);
	c->job = job;
	c->error[0] = '\0';
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* The last job's error, for a reply. */
static void job_error(struct vm_control *c, char *err, size_t errlen)
{
	struct migrate_status st;

	migrate_job__status(c->job, &st);
	snprintf(err, errlen, "%s", st.error[0] ? st.error : "failed without a reason");
}

/*
 * Like `xl save -p`: the VM is paused first and stays paused, so the file is the VM as it
 * is now, and the user decides between cont and quit.  The stream goes to FILE.partial,
 * renamed to FILE once complete: a failed save never leaves a file that looks whole.
 */
static int ctl_save(void *opaque, const char *file, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	const struct migrate_params params = {.live = false, .compress = MIGRATE_COMPRESS_LZ4};
	struct stream_writer w;
	char tmp[PATH_MAX];
	int fd, rc;

	rc = refuse(c, err, errlen);
	if (rc)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s.partial", file) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "save: the file name is too long: use a shorter path");
		return -ENAMETOOLONG;
	}
	rc = new_job(c, err, errlen);
	if (rc)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "save: cannot create %s: %s: give a writable path", tmp,
			 strerror(errno));
		return rc;
	}
	if (ctl_running(c))
		pause_vm(c);
	stream_writer__init(&w, stream__fd_write, &fd);
	rc = migrate__send(c->vm, &params, &w, NULL, NULL, c->job);
	if (rc)
		job_error(c, err, errlen);
	if (!rc && fsync(fd)) {
		rc = -errno;
		snprintf(err, errlen, "save: cannot flush %s: %s", tmp, strerror(errno));
	}
	if (close(fd) && !rc) {
		rc = -errno;
		snprintf(err, errlen, "save: cannot close %s: %s", tmp, strerror(errno));
	}
	if (!rc && rename(tmp, file)) {
		rc = -errno;
		snprintf(err, errlen, "save: cannot rename %s to %s: %s", tmp, file,
			 strerror(errno));
	}
	if (rc) {
		unlink(tmp);
		log__error("control: %s", err);
		return rc;
	}
	log__info("control: saved the VM to %s (%llu bytes); it stays paused", file,
		  (unsigned long long)w.offset);
	return 0;
}

static void *migration_main(void *arg)
{
	struct vm_control *c = arg;
	struct channel *ch = NULL;
	struct stream_writer w;
	struct migrate_status st;
	char err[CHANNEL_ERR_MAX];
	int rc;

	rc = channel__connect(c->uri, &c->security, &ch, err, sizeof(err));
	if (rc) {
		pthread_mutex_lock(&c->lock);
		snprintf(c->error, sizeof(c->error), "cannot connect to %.80s: %.150s", c->uri,
			 err);
		c->busy = false;
		pthread_mutex_unlock(&c->lock);
		log__error("migration: cannot connect to %s: %s", c->uri, err);
		return NULL;
	}
	log__info("migration: connected to %s over %s", c->uri, channel__describe(ch));
	pthread_mutex_lock(&c->lock);
	c->ch = ch;
	pthread_mutex_unlock(&c->lock);
	stream_writer__init(&w, channel__write, ch);
	rc = migrate__send(c->vm, &c->params, &w, channel__read, ch, c->job);
	migrate_job__status(c->job, &st);
	pthread_mutex_lock(&c->lock);
	c->ch = NULL;
	pthread_mutex_unlock(&c->lock);
	channel__close(ch);
	pthread_mutex_lock(&c->lock);
	c->busy = false;
	c->migrated = !rc;
	pthread_mutex_unlock(&c->lock);
	if (rc) {
		log__error("migration to %s failed: %s: the VM keeps running here", c->uri,
			   st.error);
		return NULL;
	}
	log__info("migration to %s completed in %llu ms (downtime %llu us): exiting", c->uri,
		  (unsigned long long)st.total_ns / 1000000,
		  (unsigned long long)st.downtime_ns / 1000);
	signal_event(c);
	return NULL;
}

/* Copies s into buf, the request's strings die with it; NULL stays NULL. */
static const char *keep(char *buf, size_t size, const char *s)
{
	if (!s)
		return NULL;
	snprintf(buf, size, "%s", s);
	return buf;
}

static int ctl_migrate(void *opaque, const struct control_migrate *m, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	int rc;

	rc = refuse(c, err, errlen);
	if (rc)
		return rc;
	/* Bad files fail the command itself, not the job a moment later. */
	rc = channel__check_security(&m->security, err, errlen);
	if (rc)
		return rc;
	if (strlen(m->uri) >= sizeof(c->uri)) {
		snprintf(err, errlen, "migrate: the uri is too long: use a shorter host name");
		return -ENAMETOOLONG;
	}
	/* The last migration ended (not busy): reap its thread before reusing the fields. */
	if (c->joinable) {
		pthread_join(c->thread, NULL);
		c->joinable = false;
	}
	rc = new_job(c, err, errlen);
	if (rc)
		return rc;
	keep(c->uri, sizeof(c->uri), m->uri);
	c->security = (struct channel_security){
	    .cert = keep(c->cert, sizeof(c->cert), m->security.cert),
	    .key = keep(c->key, sizeof(c->key), m->security.key),
	    .ca = keep(c->ca, sizeof(c->ca), m->security.ca),
	    .psk_file = keep(c->psk, sizeof(c->psk), m->security.psk_file),
	    .insecure = m->security.insecure,
	};
	c->params = m->params;
	pthread_mutex_lock(&c->lock);
	c->busy = true;
	pthread_mutex_unlock(&c->lock);
	rc = -pthread_create(&c->thread, NULL, migration_main, c);
	if (rc) {
		pthread_mutex_lock(&c->lock);
		c->busy = false;
		pthread_mutex_unlock(&c->lock);
		snprintf(err, errlen, "migrate: cannot start the thread: %s", strerror(-rc));
		return rc;
	}
	c->joinable = true;
	log__info("control: migrating to %s", c->uri);
	return 0;
}

static void ctl_query_migrate(void *opaque, struct migrate_status *out)
{
	struct vm_control *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (c->job)
		migrate_job__status(c->job, out);
	else
		*out = (struct migrate_status){.phase = MIGRATE_PHASE_NONE};
	/* Connecting: the job has not started yet. */
	if (c->busy && out->phase == MIGRATE_PHASE_NONE)
		out->phase = MIGRATE_PHASE_SETUP;
	if (c->error[0]) {
		out->phase = MIGRATE_PHASE_FAILED;
		memcpy(out->error, c->error, sizeof(out->error));
	}
	pthread_mutex_unlock(&c->lock);
}

static void ctl_migrate_cancel(void *opaque)
{
	struct vm_control *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (c->busy) {
		migrate_job__cancel(c->job);
		/* A write blocked on a stalled destination would not see the job's cancel. */
		if (c->ch)
			channel__abort(c->ch);
		log__info("control: migration cancelled");
	}
	pthread_mutex_unlock(&c->lock);
}

int vm_control__new(struct vm *vm, bool paused, struct vm_control **out)
{
	struct vm_control *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->vm = vm;
	c->paused = paused;
	c->event_fd = eventfd(0, EFD_CLOEXEC);
	if (c->event_fd < 0) {
		int rc = -errno;

		free(c);
		return rc;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void vm_control__free(struct vm_control *c)
{
	if (!c)
		return;
	ctl_migrate_cancel(c);
	if (c->joinable)
		pthread_join(c->thread, NULL);
	migrate_job__free(c->job);
	pthread_mutex_destroy(&c->lock);
	close(c->event_fd);
	free(c);
}

void vm_control__ops(struct vm_control *c, struct control_ops *ops)
{
	*ops = (struct control_ops){
	    .running = ctl_running,
	    .stop = ctl_stop,
	    .cont = ctl_cont,
	    .quit = ctl_quit,
	    .save = ctl_save,
	    .migrate = ctl_migrate,
	    .query_migrate = ctl_query_migrate,
	    .migrate_cancel = ctl_migrate_cancel,
	    .opaque = c,
	};
}

int vm_control__event_fd(const struct vm_control *c)
{
	return c->event_fd;
}

bool vm_control__migrated(struct vm_control *c)
{
	bool migrated;

	pthread_mutex_lock(&c->lock);
	migrated = c->migrated;
	pthread_mutex_unlock(&c->lock);
	return migrated;
}
