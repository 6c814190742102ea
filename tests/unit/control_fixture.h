/* A fake VM behind twin-vmm's control protocol: running and migrating flags, each op counted. */
#ifndef TESTS_UNIT_CONTROL_FIXTURE_H
#define TESTS_UNIT_CONTROL_FIXTURE_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "control.h"

struct fake_vm {
	bool running;
	bool busy; /* a migration in progress: stop, cont, save and migrate refuse */
	int stops, conts, quits, saves, migrates, cancels;
	char file[256]; /* the last save's file */
	/* The last migrate's request, copied: its strings die with the request. */
	char uri[64], cert[128], key[128], ca[128], psk[128];
	bool insecure;
	struct migrate_params params;
	struct migrate_status status;
	bool backup; /* a backup whose VM does not run: only its commands are served */
	int protects, unprotects, sets, failovers, fences, unfences, degrades;
	bool fenced;
	struct repl_params repl;     /* the last protect's */
	struct control_repl_set set; /* the last set-replication's */
	struct repl_status repl_status;
	bool mem_offline; /* its one page is retired */
};

/* One per including file (the unit suite and the fuzz target each have their own). */
static struct fake_vm fake = {.running = true};

static bool fake_running(void *opaque)
{
	return ((struct fake_vm *)opaque)->running;
}

static int fake_refuse_busy(const struct fake_vm *f, char *err, size_t errlen)
{
	if (!f->busy)
		return 0;
	snprintf(err, errlen, "a migration is in progress: wait for it or send migrate-cancel");
	return -EBUSY;
}

static int fake_stop(void *opaque, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (fake_refuse_busy(f, err, errlen))
		return -EBUSY;
	f->running = false;
	f->stops++;
	return 0;
}

static int fake_cont(void *opaque, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (fake_refuse_busy(f, err, errlen))
		return -EBUSY;
	f->running = true;
	f->conts++;
	return 0;
}

static void fake_quit(void *opaque)
{
	((struct fake_vm *)opaque)->quits++;
}

/* Saves pause the VM, as twin-vmm's do. */
static int fake_save(void *opaque, const char *file, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (fake_refuse_busy(f, err, errlen))
		return -EBUSY;
	snprintf(f->file, sizeof(f->file), "%s", file);
	f->running = false;
	f->saves++;
	return 0;
}

static int fake_migrate(void *opaque, const struct control_migrate *m, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (fake_refuse_busy(f, err, errlen))
		return -EBUSY;
	snprintf(f->uri, sizeof(f->uri), "%s", m->uri);
	snprintf(f->cert, sizeof(f->cert), "%s", m->security.cert ? m->security.cert : "");
	snprintf(f->key, sizeof(f->key), "%s", m->security.key ? m->security.key : "");
	snprintf(f->ca, sizeof(f->ca), "%s", m->security.ca ? m->security.ca : "");
	snprintf(f->psk, sizeof(f->psk), "%s", m->security.psk_file ? m->security.psk_file : "");
	f->insecure = m->security.insecure;
	f->params = m->params;
	f->busy = true;
	f->migrates++;
	return 0;
}

static void fake_query_migrate(void *opaque, struct migrate_status *out)
{
	*out = ((struct fake_vm *)opaque)->status;
}

/* As twin-vmm's: too late once the migration is in stop-copy. */
static int fake_migrate_cancel(void *opaque, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (f->busy && f->status.phase == MIGRATE_PHASE_STOP_COPY) {
		snprintf(err, errlen, "too late: the destination may already be running the VM");
		return -EBUSY;
	}
	f->cancels++;
	f->busy = false;
	return 0;
}

static bool fake_backup(void *opaque)
{
	return ((struct fake_vm *)opaque)->backup;
}

/* Protect copies the request as migrate does; a protected VM refuses a second one. */
static int fake_protect(void *opaque, const struct control_protect *p, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (f->repl_status.state == REPL_STATE_PROTECTED) {
		snprintf(err, errlen, "protect: the VM is already protected: unprotect first");
		return -EBUSY;
	}
	snprintf(f->uri, sizeof(f->uri), "%s", p->uri);
	snprintf(f->psk, sizeof(f->psk), "%s", p->security.psk_file ? p->security.psk_file : "");
	f->insecure = p->security.insecure;
	f->repl = p->params;
	f->repl_status.state = REPL_STATE_PROTECTED;
	f->protects++;
	return 0;
}

static int fake_unprotect(void *opaque, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (f->repl_status.state != REPL_STATE_PROTECTED) {
		snprintf(err, errlen, "unprotect: the VM is not protected");
		return -EINVAL;
	}
	f->repl_status.state = REPL_STATE_UNPROTECTED;
	f->unprotects++;
	return 0;
}

static int fake_set_replication(void *opaque, const struct control_repl_set *s, char *err,
				size_t errlen)
{
	struct fake_vm *f = opaque;

	f->set = *s;
	f->sets++;
	return 0;
}

static void fake_query_replication(void *opaque, struct repl_status *out)
{
	*out = ((struct fake_vm *)opaque)->repl_status;
}

/* As twin-vmm's: a backup runs the VM once failed over, then is one no more. */
static int fake_failover(void *opaque, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (!f->backup) {
		snprintf(err, errlen, "failover: this twin-vmm is not a backup");
		return -EINVAL;
	}
	f->backup = false;
	f->running = true;
	f->failovers++;
	return 0;
}

static bool fake_fenced(void *opaque)
{
	return ((struct fake_vm *)opaque)->fenced;
}

/* As twin-vmm's: fence pauses, unfence runs again; each succeeds when already so. */
static int fake_fence(void *opaque, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	f->fenced = true;
	f->running = false;
	f->fences++;
	return 0;
}

static int fake_unfence(void *opaque, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (f->fenced)
		f->running = true;
	f->fenced = false;
	f->unfences++;
	return 0;
}

/* As twin-vmm's: refused while fenced or unless stalled (cluster-managed). */
static int fake_degrade(void *opaque, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (f->fenced) {
		snprintf(err, errlen, "degrade: the VM is fenced");
		return -EPERM;
	}
	if (f->repl_status.state != REPL_STATE_STALLED) {
		snprintf(err, errlen, "degrade: the replication is %s",
			 repl_state__to_str(f->repl_status.state));
		return -EINVAL;
	}
	f->repl_status.state = REPL_STATE_DEGRADED;
	f->degrades++;
	return 0;
}

/* Page retirement: the fake VM owns host frame FAKE_PFN, which backs GPA 0; one page. */
#define FAKE_PFN 0x1234
/* The pipe that holds it: an fd number and inode in the fake twin-vmm. */
#define FAKE_HOLD_FD  17
#define FAKE_HOLD_INO 4242
static int fake_mem_offline(void *opaque, const struct control_mem_page *pg,
			    struct page_retired *out, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (pg->by_pfn && pg->pfn != FAKE_PFN) {
		snprintf(err, errlen, "PFN 0x%llx backs no page of this VM",
			 (unsigned long long)pg->pfn);
		return -ESRCH;
	}
	if (!pg->by_pfn && pg->gpa) {
		snprintf(err, errlen, "GPA 0x%llx is outside the VM's RAM",
			 (unsigned long long)pg->gpa);
		return -EINVAL;
	}
	if (f->mem_offline) {
		snprintf(err, errlen, "GPA 0x0 is already offline");
		return -EALREADY;
	}
	f->mem_offline = true;
	*out = (struct page_retired){.old_pfn = FAKE_PFN,
				     .new_pfn = FAKE_PFN + 1,
				     .since = 1,
				     .held = true,
				     .hold_fd = FAKE_HOLD_FD,
				     .hold_ino = FAKE_HOLD_INO};
	return 0;
}

static int fake_mem_online(void *opaque, const struct control_mem_page *pg, uint64_t *gpa,
			   uint64_t *pfn, char *err, size_t errlen)
{
	struct fake_vm *f = opaque;

	if (!f->mem_offline || (pg->by_pfn ? pg->pfn != FAKE_PFN : pg->gpa != 0)) {
		snprintf(err, errlen, "not a page this VM took offline");
		return -ESRCH;
	}
	f->mem_offline = false;
	*gpa = 0;
	*pfn = FAKE_PFN;
	return 0;
}

static int fake_query_mem(void *opaque, struct page_retired **out, size_t *n)
{
	struct fake_vm *f = opaque;

	*n = f->mem_offline;
	*out = NULL;
	if (!*n)
		return 0;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	**out = (struct page_retired){.old_pfn = FAKE_PFN,
				      .new_pfn = FAKE_PFN + 1,
				      .since = 1,
				      .held = true,
				      .hold_fd = FAKE_HOLD_FD,
				      .hold_ino = FAKE_HOLD_INO};
	return 0;
}

/* set-cpus: the set is only kept (re-pinning a test's threads is test_host_cpus's affair). */
static int fake_set_cpus(void *opaque, const cpu_set_t *cpus, char *err, size_t errlen)
{
	return 0;
}

static json_t *fake_query_cpus(void *opaque)
{
	return json_pack("{s:s, s:[]}", "allowed", "0", "vcpus");
}

static const struct control_ops ops = {
    .running = fake_running,
    .stop = fake_stop,
    .cont = fake_cont,
    .quit = fake_quit,
    .save = fake_save,
    .migrate = fake_migrate,
    .query_migrate = fake_query_migrate,
    .migrate_cancel = fake_migrate_cancel,
    .backup = fake_backup,
    .protect = fake_protect,
    .unprotect = fake_unprotect,
    .set_replication = fake_set_replication,
    .query_replication = fake_query_replication,
    .failover = fake_failover,
    .fenced = fake_fenced,
    .fence = fake_fence,
    .unfence = fake_unfence,
    .degrade = fake_degrade,
    .mem_offline = fake_mem_offline,
    .mem_online = fake_mem_online,
    .query_mem = fake_query_mem,
    .set_cpus = fake_set_cpus,
    .query_cpus = fake_query_cpus,
    .opaque = &fake,
};

#endif
