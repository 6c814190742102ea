/* The VM behind twin-vmm's control socket: pause, save, migration, protection and fencing. */
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
#include "log.h"
#include "migrate.h"
#include "pci.h"
#include "progress.h"
#include "repl_control.h"
#include "util.h"
#include "virtio_blk.h"
#include "vm.h"
#include "vm_control.h"
#include "vm_cpus.h"
#include "vm_introspect.h"
#include "vm_mem.h"

/*
 * Threads: the control server's calls the ops, one at a time; the job thread runs
 * migrate__send for a save or a migration, so the control socket stays answered meanwhile.
 * lock guards every field the two share (marked "locked").
 */
struct vm_control {
	struct vm *vm;
	struct repl_control *repl; /* protect and failover: one at a time with a job */
	int event_fd;		   /* quit asked, or migrated away */
	pthread_mutex_t lock;
	bool paused;		     /* locked: by stop or save, not by a migration's own pause */
	bool fenced;		     /* locked: paused by fence, a pause of its own */
	bool busy;		     /* locked: the job thread has not finished */
	bool joinable;		     /* the job thread is not joined yet (control thread) */
	bool migrated;		     /* locked: completed, the VM runs at the destination */
	pthread_t thread;	     /* the job thread */
	struct migrate_job *job;     /* the last save's or migration's; NULL before any */
	struct channel *ch;	     /* locked: the migration's connection, once made */
	char error[MIGRATE_ERR_MAX]; /* locked: a failure outside migrate__send */
	/* The request, copied: the control request it came in dies with its reply. */
	bool saving;	  /* the job is a save (control thread sets it, idle) */
	bool save_paused; /* the save paused the VM: a failed one resumes it */
	int save_fd;	  /* FILE.partial, owned by the job thread */
	char file[PATH_MAX], tmp[PATH_MAX];
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
		snprintf(err, errlen, "a %s is in progress: wait for it or send migrate-cancel",
			 c->saving ? "save" : "migration");
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
	running = !c->paused && !c->fenced && !c->migrated;
	pthread_mutex_unlock(&c->lock);
	/* A backup's VM does not run until it fails over. */
	return running && !repl_control__is_backup(c->repl);
}

static bool ctl_fenced(void *opaque)
{
	struct vm_control *c = opaque;
	bool fenced;

	pthread_mutex_lock(&c->lock);
	fenced = c->fenced;
	pthread_mutex_unlock(&c->lock);
	return fenced;
}

static void pause_vm(struct vm_control *c)
{
	vm__hold(c->vm);
	pthread_mutex_lock(&c->lock);
	c->paused = true;
	pthread_mutex_unlock(&c->lock);
	log__info("control: VM paused");
}

static void resume_vm(struct vm_control *c)
{
	vm__release(c->vm);
	pthread_mutex_lock(&c->lock);
	c->paused = false;
	pthread_mutex_unlock(&c->lock);
	log__info("control: VM resumed");
}

static int ctl_stop(void *opaque, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	int rc = refuse(c, err, errlen);

	if (!rc)
		pause_vm(c);
	return rc;
}

/*
 * The images' locks, ours again before the guest writes: after a migration that failed
 * once the destination had taken a shared disk, that destination may hold one still.
 */
static int take_disks_back(struct vm_control *c, char *err, size_t errlen)
{
	struct virtio_blk *disks[PCI_MAX_SLOTS];
	unsigned int n = virtio_blk__list(c->vm, disks, PCI_MAX_SLOTS);
	char why[MIGRATE_ERR_MAX];

	for (unsigned int i = 0; i < n; i++)
		if (virtio_blk__lock(disks[i], why, sizeof(why)))
			return util__fail(err, errlen, -EBUSY,
					  "%s: the destination of the failed migration may hold "
					  "it: quit that twin-vmm first",
					  why);
	return 0;
}

static int ctl_cont(void *opaque, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	int rc = refuse(c, err, errlen);

	if (!rc && ctl_fenced(c))
		rc = util__fail(err, errlen, -EPERM,
				"cont: the VM is fenced (its host is outside quorum): clusterd "
				"unfences it (twin-vmm unfence)");
	if (!rc)
		rc = take_disks_back(c, err, errlen);
	if (!rc)
		resume_vm(c);
	return rc;
}

/*
 * Output first, so no ack releases anything from here, then the vCPUs and the I/O thread
 * (which alone transmits): nothing leaves, held or new.  The pause is fence's own, so that
 * unfence leaves a VM stopped before as it was.  Timed: clusterd must fence within its token.
 */
static int ctl_fence(void *opaque, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	uint64_t t0 = progress__now_ns();

	pthread_mutex_lock(&c->lock);
	if (c->fenced || c->migrated) { /* migrated: nothing of the VM runs here any more */
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	c->fenced = true;
	pthread_mutex_unlock(&c->lock);
	repl_control__fence(c->repl, true);
	vm__hold(c->vm);
	log__warn("control: FENCED in %llu us: the VM paused, no output leaves until unfence",
		  (unsigned long long)((progress__now_ns() - t0) / 1000));
	return 0;
}

static int ctl_unfence(void *opaque, char *err, size_t errlen)
{
	struct vm_control *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (!c->fenced) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	c->fenced = false;
	pthread_mutex_unlock(&c->lock);
	repl_control__fence(c->repl, false);
	vm__release(c->vm);
	log__info("control: unfenced: the VM runs, its acked output goes out");
	return 0;
}

static int ctl_degrade(void *opaque, char *err, size_t errlen)
{
	return repl_control__degrade(((struct vm_control *)opaque)->repl, err, errlen);
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

/* The job thread's end: busy no more; error (may be "") says why it failed. */
static void job_done(struct vm_control *c, bool migrated, const char *error)
{
	pthread_mutex_lock(&c->lock);
	if (error[0])
		snprintf(c->error, sizeof(c->error), "%s", error);
	c->busy = false;
	c->migrated = migrated;
	pthread_mutex_unlock(&c->lock);
}

/* The last job ended (not busy): its thread is reaped before its fields are reused. */
static void reap(struct vm_control *c)
{
	if (c->joinable) {
		pthread_join(c->thread, NULL);
		c->joinable = false;
	}
}

/* Starts fn on the job thread (reaped before). */
static int start_job(struct vm_control *c, void *(*fn)(void *), bool saving, char *err,
		     size_t errlen)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	c->busy = true;
	c->saving = saving;
	pthread_mutex_unlock(&c->lock);
	rc = -pthread_create(&c->thread, NULL, fn, c);
	if (rc) {
		pthread_mutex_lock(&c->lock);
		c->busy = false;
		pthread_mutex_unlock(&c->lock);
		snprintf(err, errlen, "%s: cannot start the thread: %s",
			 saving ? "save" : "migrate", strerror(-rc));
		return rc;
	}
	c->joinable = true;
	return 0;
}

/* The save's job thread: the stream into FILE.partial, flushed, then renamed to FILE. */
static void *save_main(void *arg)
{
	struct vm_control *c = arg;
	const struct migrate_params params = {.live = false, .compress = MIGRATE_COMPRESS_LZ4};
	struct migrate_status st;
	struct stream_writer w;
	char err[MIGRATE_ERR_MAX] = "";
	int rc;

	stream_writer__init(&w, stream__fd_write, &c->save_fd);
	rc = migrate__send(c->vm, &params, &w, NULL, NULL, c->job);
	if (!rc && fsync(c->save_fd)) {
		rc = -errno;
		snprintf(err, sizeof(err), "cannot flush %.200s: %s", c->tmp, strerror(errno));
	}
	if (close(c->save_fd) && !rc) {
		rc = -errno;
		snprintf(err, sizeof(err), "cannot close %.200s: %s", c->tmp, strerror(errno));
	}
	if (!rc && rename(c->tmp, c->file)) {
		rc = -errno;
		snprintf(err, sizeof(err), "cannot rename %.100s to %.100s: %s", c->tmp, c->file,
			 strerror(errno));
	}
	if (!rc) {
		log__info("control: saved the VM to %s (%llu bytes); it stays paused", c->file,
			  (unsigned long long)w.offset);
		job_done(c, false, "");
		return NULL;
	}
	unlink(c->tmp);
	migrate_job__status(c->job, &st);
	log__error("control: save to %s failed: %s", c->file, err[0] ? err : st.error);
	/* As a failed migration leaves the VM: running, unless the user had stopped it. */
	if (c->save_paused)
		resume_vm(c);
	job_done(c, false, err);
	return NULL;
}

/*
 * Like `xl save -p`: the VM is paused first and stays paused, so the file is the VM as it
 * is now, and the user decides between cont and quit.  Replies once the save has started
 * (query-migrate follows it).  The stream goes to FILE.partial, created anew (never through
 * a link nor over another file: twin-vmm runs as root), and renamed to FILE once complete:
 * a failed save never leaves a file that looks whole.
 */
static int ctl_save(void *opaque, const char *file, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	int rc;

	rc = refuse(c, err, errlen);
	if (!rc)
		rc = repl_control__refuse_migration(c->repl, "save", err, errlen);
	if (rc)
		return rc;
	reap(c);
	if (snprintf(c->tmp, sizeof(c->tmp), "%s.partial", file) >= (int)sizeof(c->tmp)) {
		snprintf(err, errlen, "save: the file name is too long: use a shorter path");
		return -ENAMETOOLONG;
	}
	snprintf(c->file, sizeof(c->file), "%s", file);
	rc = new_job(c, err, errlen);
	if (rc)
		return rc;
	c->save_fd = open(c->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->save_fd < 0) {
		rc = -errno;
		if (rc == -EEXIST)
			snprintf(err, errlen,
				 "save: %s already exists (a save that died, or another "
				 "program's): remove it, or save to another file",
				 c->tmp);
		else
			snprintf(err, errlen, "save: cannot create %s: %s: give a writable path",
				 c->tmp, strerror(-rc));
		return rc;
	}
	c->save_paused = ctl_running(c);
	if (c->save_paused)
		pause_vm(c);
	rc = start_job(c, save_main, true, err, errlen);
	if (rc) {
		close(c->save_fd);
		unlink(c->tmp);
		if (c->save_paused)
			resume_vm(c);
		return rc;
	}
	log__info("control: saving the VM to %s", file);
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
		char why[MIGRATE_ERR_MAX];

		snprintf(why, sizeof(why), "cannot connect to %.80s: %.150s", c->uri, err);
		log__error("migration: cannot connect to %s: %s", c->uri, err);
		job_done(c, false, why);
		return NULL;
	}
	log__info("migration: connected to %s over %s", c->uri, channel__describe(ch));
	pthread_mutex_lock(&c->lock);
	c->ch = ch;
	pthread_mutex_unlock(&c->lock);
	stream_writer__init(&w, channel__write, ch);
	rc = migrate__send(c->vm, &c->params, &w, channel__read, ch, c->job);
	migrate_job__status(c->job, &st);
	if (rc)
		/* The connection's own words (OpenSSL's, the kernel's) beside the stream's. */
		log__error("migration to %s failed: %s%s%s%s", c->uri, st.error,
			   channel__error(ch)[0] ? "; connection: " : "", channel__error(ch),
			   st.source_paused ? "" : ": the VM keeps running here");
	if (rc && st.source_paused) {
		/* migrate__send left it paused, vCPUs and I/O, as stop does: cont's to undo. */
		pthread_mutex_lock(&c->lock);
		c->paused = true;
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_lock(&c->lock);
	c->ch = NULL;
	pthread_mutex_unlock(&c->lock);
	channel__close(ch);
	job_done(c, !rc, "");
	if (rc)
		return NULL;
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
	if (!rc)
		rc = repl_control__refuse_migration(c->repl, "migrate", err, errlen);
	if (rc)
		return rc;
	/* A failure late in the migration leaves the VM paused by the sender on top of the
	 * user's pause, which one cont would not undo: a stopped VM is saved, not migrated. */
	if (!ctl_running(c)) {
		snprintf(err, errlen, "migrate: the VM is paused: cont it first, or save it");
		return -EINVAL;
	}
	/* Bad files or a disk that cannot go fail the command itself, not the job a moment later.
	 */
	rc = channel__check_security(&m->security, err, errlen);
	if (!rc)
		rc = migrate__check(c->vm, &m->params, err, errlen);
	if (rc)
		return rc;
	if (strlen(m->uri) >= sizeof(c->uri)) {
		snprintf(err, errlen, "migrate: the uri is too long: use a shorter host name");
		return -ENAMETOOLONG;
	}
	reap(c);
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
	rc = start_job(c, migration_main, false, err, errlen);
	if (rc)
		return rc;
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
	/* The job completes before its thread has closed the connection or renamed the file. */
	if (c->busy && out->phase == MIGRATE_PHASE_COMPLETED)
		out->phase = MIGRATE_PHASE_STOP_COPY;
	if (c->error[0]) {
		out->phase = MIGRATE_PHASE_FAILED;
		memcpy(out->error, c->error, sizeof(out->error));
	}
	pthread_mutex_unlock(&c->lock);
}

/*
 * Once END is out (status end_sent) the destination may already run the VM, its ack
 * written: cutting the connection then could make both run it, so from there a cancel is
 * too late.  Before, even in stop-copy, the source resumes the VM and nothing is lost.
 */
static int ctl_migrate_cancel(void *opaque, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (c->busy) {
		/* The job decides, under its own lock, whether END went first. */
		if (!migrate_job__cancel(c->job) && !c->saving) {
			snprintf(err, errlen,
				 "too late: the destination may already be running the VM; wait "
				 "for the migration to end (query-migrate)");
			rc = -EBUSY;
		} else {
			/* A write blocked on a stalled peer would not see the job's cancel. */
			if (c->ch)
				channel__abort(c->ch);
			log__info("control: %s cancelled", c->saving ? "save" : "migration");
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Protection, like a migration, needs the VM running and no save or migration under way. */
static int ctl_protect(void *opaque, const struct control_protect *p, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	int rc = refuse(c, err, errlen);

	if (rc)
		return rc;
	if (!ctl_running(c))
		return util__fail(err, errlen, -EINVAL, "protect: the VM is paused: cont it first");
	return repl_control__protect(c->repl, p, err, errlen);
}

static int ctl_unprotect(void *opaque, char *err, size_t errlen)
{
	return repl_control__unprotect(((struct vm_control *)opaque)->repl, err, errlen);
}

static int ctl_set_replication(void *opaque, const struct control_repl_set *s, char *err,
			       size_t errlen)
{
	return repl_control__set(((struct vm_control *)opaque)->repl, s, err, errlen);
}

static void ctl_query_replication(void *opaque, struct repl_status *out)
{
	repl_control__status(((struct vm_control *)opaque)->repl, out);
}

static bool ctl_backup(void *opaque)
{
	return repl_control__is_backup(((struct vm_control *)opaque)->repl);
}

static int ctl_failover(void *opaque, char *err, size_t errlen)
{
	return repl_control__failover(((struct vm_control *)opaque)->repl, err, errlen);
}

static int ctl_mem_offline(void *opaque, const struct control_mem_page *pg,
			   struct page_retired *out, char *err, size_t errlen)
{
	struct vm_control *c = opaque;

	return vm_mem__offline(c->vm, repl_control__is_backup(c->repl), pg, out, err, errlen);
}

static int ctl_mem_online(void *opaque, const struct control_mem_page *pg, uint64_t *gpa,
			  uint64_t *pfn, char *err, size_t errlen)
{
	return vm_mem__online(((struct vm_control *)opaque)->vm, pg, gpa, pfn, err, errlen);
}

static int ctl_query_mem(void *opaque, struct page_retired **out, size_t *n)
{
	return vm_mem__query(((struct vm_control *)opaque)->vm, out, n);
}

/* Every thread, the VM's or not: a CPU offline for Twin runs none of this twin-vmm. */
static int ctl_set_cpus(void *opaque, const cpu_set_t *cpus, char *err, size_t errlen)
{
	return vm_cpus__pin(cpus, err, errlen);
}

static json_t *ctl_query_cpus(void *opaque)
{
	return vm_cpus__query();
}

/* A migrated VM runs elsewhere: what is left here is stale. */
static int ctl_peek(void *opaque, uint64_t gpa, uint32_t len, uint8_t *buf, uint64_t *pause_ns,
		    char *err, size_t errlen)
{
	struct vm_control *c = opaque;

	if (vm_control__migrated(c))
		return util__fail(err, errlen, -ESRCH, "peek: the VM migrated to %s: peek it there",
				  c->uri);
	return vm_introspect__peek(c->vm, gpa, len, buf, pause_ns, err, errlen);
}

/*
 * Refused beside a save or migration, which has the VM: it may be gone from here, or on
 * its way.  Reading the registers shares nothing with a capture (vcpu_state__read_regs),
 * so a checkpoint meanwhile is no obstacle.
 */
static int ctl_regs(void *opaque, int vcpu, json_t **out, char *err, size_t errlen)
{
	struct vm_control *c = opaque;
	int rc = refuse(c, err, errlen);

	return rc ? rc : vm_introspect__regs(c->vm, vcpu, out, err, errlen);
}

int vm_control__new(struct vm *vm, bool paused, bool backup, struct vm_control **out)
{
	struct vm_control *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->vm = vm;
	c->paused = paused;
	c->event_fd = eventfd(0, EFD_CLOEXEC);
	if (c->event_fd < 0) {
		rc = -errno;
		free(c);
		return rc;
	}
	rc = repl_control__new(vm, backup, &c->repl);
	if (rc) {
		close(c->event_fd);
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void vm_control__free(struct vm_control *c)
{
	char err[MIGRATE_ERR_MAX];

	if (!c)
		return;
	/* Too late (END sent): the join waits for the ack, bounded by the channel's timeouts. */
	if (ctl_migrate_cancel(c, err, sizeof(err)))
		log__info("control: migration not cancelled at exit: %s", err);
	if (c->joinable)
		pthread_join(c->thread, NULL);
	repl_control__free(c->repl);
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
	    .backup = ctl_backup,
	    .protect = ctl_protect,
	    .unprotect = ctl_unprotect,
	    .set_replication = ctl_set_replication,
	    .query_replication = ctl_query_replication,
	    .failover = ctl_failover,
	    .fenced = ctl_fenced,
	    .fence = ctl_fence,
	    .unfence = ctl_unfence,
	    .degrade = ctl_degrade,
	    .mem_offline = ctl_mem_offline,
	    .mem_online = ctl_mem_online,
	    .query_mem = ctl_query_mem,
	    .set_cpus = ctl_set_cpus,
	    .query_cpus = ctl_query_cpus,
	    .peek = ctl_peek,
	    .regs = ctl_regs,
	    .opaque = c,
	};
}

struct repl_control *vm_control__repl(struct vm_control *c)
{
	return c->repl;
}

void vm_control__before_exit(struct vm_control *c)
{
	repl_control__before_exit(c->repl);
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
