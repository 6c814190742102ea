/*
 * Replication's backup side (STREAM.md, "Replication"): the records of one
 * epoch held off the VM until its CHECKPOINT, then its pages and disk writes
 * applied at once and its state kept until activation.
 */
#ifndef MIGRATE_EPOCH_BUFFER_H
#define MIGRATE_EPOCH_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "stream.h"

struct vm;

struct epoch_buffer_stats {
	bool committed;		 /* an epoch has been committed */
	uint64_t epoch;		 /* the last committed one, when committed */
	uint64_t staged_pages;	 /* distinct pages held for the open epoch */
	uint64_t staged_bytes;	 /* what the open epoch holds, against the cap */
	uint64_t last_commit_ns; /* how long the last commit took */
};

/* One VM's, on the thread that drives the replication stream; the backup runs no vCPU. */
struct epoch_buffer;

/*
 * 0, -ENOMEM, or -EINVAL with err set for a cap under one page.  cap bounds
 * the staged pages plus the state records of one epoch; besides it the
 * buffer keeps a fixed index of 4 bytes per guest page.
 */
int epoch_buffer__new(struct epoch_buffer **eb, struct vm *vm, uint64_t cap, char *err,
		      size_t errlen);
/* NULL is a no-op. */
void epoch_buffer__free(struct epoch_buffer *eb);

/*
 * One record of the open epoch, checked and kept; the VM is not touched.
 * PAGE_DATA is checked whole then decoded into staging (the last copy of a
 * page wins; a delta patches the staged copy, else the committed one);
 * DISK_WRITES is checked against the VM's disks (a writable disk, every
 * write inside it) and copied; VCPU_STATE, VM_STATE and DEVICE_STATE go to
 * the state loader.  Errors: -ENOBUFS past the cap (the backup cannot keep
 * up), -ENOMEM, -EBADMSG, -EPROTONOSUPPORT and -EINVAL as the checks give
 * them, and -EPROTONOSUPPORT for a type that is no part of an epoch.  After
 * an error the epoch can only be discarded.
 */
int epoch_buffer__record(struct epoch_buffer *eb, const struct stream_record *rec, char *err,
			 size_t errlen);

/*
 * CHECKPOINT(epoch): refused, the VM untouched and the epoch still open,
 * when epoch does not follow the last committed one (-EINVAL), when a record
 * was refused (-EBADMSG) or when the state records are not all there
 * (-EBADMSG: every epoch carries the whole state), or -ENOMEM.  Otherwise
 * copies the staged pages into guest RAM, writes the disk writes in arrival
 * order and makes each disk written durable, keeps the epoch's checked state
 * in place of the last one (applied by epoch_buffer__restore_state: an ack
 * costs no vCPU ioctl) and opens the next epoch.  The VM does not run.  A
 * failure in the disk writes leaves the VM half-applied and the backup
 * unusable (the error says so; restore_state refuses).
 */
int epoch_buffer__commit(struct epoch_buffer *eb, uint64_t epoch, char *err, size_t errlen);

/*
 * Failover or a broken stream: drops the open epoch; the VM stays at the last
 * commit, its kept state untouched.  0, or -ENOMEM: nothing can be staged
 * until a discard succeeds.
 */
int epoch_buffer__discard(struct epoch_buffer *eb);

/*
 * Activation, after discard: the last committed epoch's state into the VM
 * (state_loader__apply), before vm__start, its I/O loop paused.  0 also when
 * there is nothing to apply (no epoch committed: the VM holds the initial
 * sync's state; or already restored).  -EIO when a commit failed half-applied;
 * a restore step's -errno (the VM partly restored).  Either error: the VM must
 * not run.
 */
int epoch_buffer__restore_state(struct epoch_buffer *eb, char *err, size_t errlen);

struct epoch_buffer_stats epoch_buffer__stats(const struct epoch_buffer *eb);

#endif
