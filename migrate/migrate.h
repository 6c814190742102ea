/* Save-to-file and live migration over the Twin stream (STREAM.md): sender, receiver, progress. */
#ifndef MIGRATE_MIGRATE_H
#define MIGRATE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "stream.h"

struct vm;
struct vm_stream_config;

#define MIGRATE_DOWNTIME_DEFAULT_NS 30000000ULL /* 30 ms */

enum migrate_compress {
	MIGRATE_COMPRESS_LZ4, /* the default: see NEWS for the measurement */
	MIGRATE_COMPRESS_ZLIB,
	MIGRATE_COMPRESS_NONE,
};

/* Parses "lz4", "zlib" or "none": 0 or -EINVAL. */
int migrate_compress__from_str(const char *s, enum migrate_compress *out);
const char *migrate_compress__to_str(enum migrate_compress c);

struct migrate_params {
	bool live;
	uint64_t downtime_ns;	/* target for the final pause; 0 = MIGRATE_DOWNTIME_DEFAULT_NS */
	uint64_t max_bandwidth; /* bytes/s on the stream, 0 = unlimited */
	enum migrate_compress compress;
	uint64_t xbzrle_cache; /* bytes of pages kept for delta encoding, 0 = off */
	/*
	 * A live migration of a VM with a writable disk needs exactly one of
	 * these (migrate__check).  shared_storage: both hosts see the images;
	 * they are flushed and their locks handed to the destination at the end
	 * (virtio_blk.h).  copy_storage: each host has its own image, of the same
	 * size, and the source's moves in the stream (DISK_WRITES): a full pass
	 * over each image, then the chunks written since, round by round, and
	 * the rest at the final pause.
	 */
	bool shared_storage;
	bool copy_storage;
	/*
	 * Replication's initial sync (live only): the stream is LIVE|CHECKPOINTED
	 * and ends with CHECKPOINT(0) instead of END; every writable disk is
	 * copied (copy storage is forced; shared_storage is refused).  On success
	 * the VM stays paused (vCPUs and I/O loop) with dirty logging and disk
	 * write tracking still on, for the epochs that follow.
	 */
	bool checkpointed;
};

enum migrate_phase {
	MIGRATE_PHASE_NONE,
	MIGRATE_PHASE_SETUP,
	MIGRATE_PHASE_ACTIVE,	 /* full pass and pre-copy rounds, the VM running */
	MIGRATE_PHASE_STOP_COPY, /* the VM paused: last pages, state, END, ack */
	MIGRATE_PHASE_COMPLETED,
	MIGRATE_PHASE_FAILED,
	MIGRATE_PHASE_CANCELLED,
};

/* "none", "setup", "active", "stop-copy", "completed", "failed", "cancelled". */
const char *migrate_phase__to_str(enum migrate_phase p);

#define MIGRATE_ERR_MAX 256

/* A snapshot of one migration (or save, or receive); rates are over the last round. */
struct migrate_status {
	enum migrate_phase phase;
	uint32_t rounds;	       /* memory passes so far: 1 = the full pass */
	uint64_t bytes;		       /* stream bytes written (sender) or read (receiver) */
	uint64_t pages;		       /* pages sent or applied, resends included */
	uint64_t remaining_pages;      /* dirty pages not sent yet (sender) */
	uint64_t dirty_rate_pps;       /* pages the guest dirtied per second */
	uint64_t bandwidth_bps;	       /* stream bytes per second */
	uint64_t expected_downtime_ns; /* remaining pages at the measured page cost */
	uint64_t eta_ns;	       /* time left: this round, the rounds it leads to, the last */
	uint64_t total_ns;	       /* since the start; final once completed or failed */
	uint64_t downtime_ns;	       /* measured: pause to the destination's ack; 0 until then */
	uint32_t throttle_pct; /* auto-converge: vCPUs parked this %; completed: the last one */
	/* Pages by encoding: zero pages skipped in the full pass are not counted. */
	uint64_t zero_pages, raw_pages, lz4_pages, zlib_pages, delta_pages;
	uint64_t cache_misses; /* resent pages the delta cache did not hold */
	uint64_t disk_chunks;  /* copy_storage: 4 KiB chunks of disk sent, resends included */
	/* END is written: a cancel can no longer stop it (the destination may run the VM). */
	bool end_sent;
	/*
	 * Failed after the destination took a shared disk: the VM stays paused
	 * here (vCPUs and I/O), as it may run there; resuming it is the user's call.
	 */
	bool source_paused;
	char error[MIGRATE_ERR_MAX];
	char warning[MIGRATE_ERR_MAX]; /* what did not fail it but should be known, or "" */
};

struct migrate_job; /* progress and cancel, shared between the migrating thread and others */

/* new: 0 or -ENOMEM.  free(NULL) is a no-op. */
int migrate_job__new(struct migrate_job **j);
void migrate_job__free(struct migrate_job *j);
/* Any thread: a consistent snapshot. */
void migrate_job__status(struct migrate_job *j, struct migrate_status *out);
/*
 * Any thread: the sender stops before its next batch (or wakes from pacing)
 * and fails, resuming the VM; true.  False, and nothing done, once the
 * sender has committed to writing END (status end_sent; decided under the
 * job's lock, so never both): it then waits for the ack whatever happens,
 * and the caller must not cut the connection, or both hosts could run the VM.
 */
bool migrate_job__cancel(struct migrate_job *j);

/*
 * Source.  live=false: the VM is already paused (save-to-file): one pass,
 * state, END.  live=true: pre-copy rounds, auto-converge, final pause, state,
 * END, then waits for the destination's ack (STREAM.md, live handshake) when
 * ack_read != NULL.  On ANY failure or cancel the VM is left running as it
 * was (resumed if we paused it, throttle off) and -errno is returned with the
 * job's error set.  On success (live) the VM stays paused; the caller quits
 * (checkpointed: the replication engine takes over, see the params).
 * Runs on the caller's thread; job may be NULL.  Never from a vCPU thread.
 */
int migrate__send(struct vm *vm, const struct migrate_params *p, struct stream_writer *w,
		  stream_read_fn ack_read, void *ack_ctx, struct migrate_job *job);

/*
 * What migrate__send would refuse before its first byte, for a caller to say at once: a
 * writable disk with neither shared_storage nor copy_storage, or both; checkpointed with
 * shared_storage, or not live.  0 or -EINVAL with err naming the disk and the option to give.
 */
int migrate__check(struct vm *vm, const struct migrate_params *p, char *err, size_t errlen);

/*
 * Destination: header and VM_CONFIG, before the VM exists.  0 or -errno with err set.
 * A save, a migration and a replication stream are all accepted: the caller checks
 * r->flags & STREAM_FLAG_CHECKPOINTED against what it is (incoming refuses a replication
 * stream, naming `twin-vmm backup`; backup refuses the others, naming `twin-vmm incoming`).
 */
int migrate__receive_config(struct stream_reader *r, struct vm_stream_config *cfg, char *err,
			    size_t errlen);

/*
 * Destination: pages and state until END (a CHECKPOINTED stream: until CHECKPOINT 0,
 * the end of replication's initial sync), applied through a state_loader, into
 * a VM fresh from vm__create (its RAM all zero: the full pass skips zero
 * pages) and not started.  ready_write (a live connection; NULL for a file)
 * answers the source's SYNC with READY (STREAM.md, live handshake).  Then the
 * caller acks (migrate__ack) and runs vm__start and devstate__announce (a backup
 * instead hands r to repl_backup__start: the VM holds epoch 0 and stays stopped).
 * Refusing the VM before this (VM_CONFIG, devices): migrate__ack with the
 * reason, then read the stream to its end.  Errors name the record and its
 * stream offset.  job may be NULL.
 */
int migrate__receive(struct stream_reader *r, struct vm *vm, stream_write_fn ready_write,
		     void *ready_ctx, struct migrate_job *job, char *err, size_t errlen);

/*
 * The live handshake (STREAM.md): the destination writes back this one
 * fixed-size record twice on the same connection: READY when it reads SYNC,
 * and the ack after END.  Ack status 0: it loaded everything and
 * starts the VM; else -errno, with message saying why (also in place of
 * READY, for a VM it refuses at once).
 */
#define MIGRATE_ACK_MAGIC   "TWINACK1"
#define MIGRATE_READY_MAGIC "TWINRDY1" /* the same record, status 0: answers SYNC */
struct migrate_ack {
	char magic[8]; /* MIGRATE_ACK_MAGIC or MIGRATE_READY_MAGIC, no NUL */
	int32_t status;
	uint32_t reserved; /* 0 */
	char message[240]; /* NUL-terminated, zero-padded */
};
_Static_assert(sizeof(struct migrate_ack) == 256, "the ack is 256 bytes");

/* Destination: the live handshake's ack (status 0 or -errno, msg may be NULL).  0 or -errno. */
int migrate__ack(stream_write_fn w, void *ctx, int status, const char *msg);

#endif
