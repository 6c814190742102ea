/*
 * One checkpoint of the primary (DESIGN.md §7): the paused capture of epoch N into staging,
 * then, the guest running again, its stream: PAGE_DATA, DISK_WRITES, state, CHECKPOINT(N).
 */
#ifndef REPLICATION_CHECKPOINT_H
#define REPLICATION_CHECKPOINT_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "disk_copy.h"
#include "migrate.h"
#include "page_cache.h"
#include "page_data.h"
#include "stream.h"
#include "vm.h"

struct output_buffer;

/* A growable byte buffer that a stream_writer appends to (the captured records). */
struct checkpoint_buf {
	uint8_t *data;
	size_t len, cap;
};

/*
 * Everything one epoch needs, reused from epoch to epoch so that a pause allocates
 * nothing once the staging has grown to the guest's dirty rate.  One thread: the engine's.
 */
/* Epochs in a row that used under a quarter of a buffer, and the most they used. */
struct checkpoint_shrink {
	uint64_t low, peak;
};

struct checkpoint {
	struct vm *vm;
	uint64_t nbits;	  /* pfns in bitmap */
	uint64_t *bitmap; /* the harvest */
	uint8_t *pages;	  /* staging: the dirty pages' contents, in pfn order */
	uint64_t *pfns;	  /* and their pfns */
	uint64_t nr, cap; /* pages staged, pages the staging holds */
	struct disk_copy disks;
	struct checkpoint_buf rec; /* DISK_WRITES and state records, captured paused */
	struct checkpoint_shrink staging_shrink, rec_shrink; /* both given back once underused */
	/*
	 * The capturer thread takes those records (a dozen vCPU ioctls, ~130 us here) while
	 * this one copies the pages: the pause is the longer of the two, not the sum.  Its
	 * request and answer, under lock.
	 */
	pthread_t capturer;
	bool capturer_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum { CAPTURE_IDLE, CAPTURE_ASKED, CAPTURE_DONE, CAPTURE_QUIT } job;
	int capture_rc;
	char capture_err[256];
	struct page_encoder enc;
	struct page_cache cache; /* xbzrle_cache > 0: pages as last sent, for deltas */
	struct page_batch batch;
	uint64_t epoch;
	/* The pause's scheduling boost: what each boosted thread ran under before it. */
	struct checkpoint_sched {
		bool boosted;
		int policy;
		struct sched_param param;
	} sched_self, sched_capturer, sched_vcpus[VM_MAX_VCPUS];
	/* The last epoch's measures. */
	uint64_t pause_ns, bytes, disk_bytes, close_ns;
	uint8_t scratch[STREAM_LZ4_BOUND];
	uint8_t delta[STREAM_PAGE_SIZE];
};

/*
 * After a checkpointed migrate__send succeeded (dirty logging and disk tracking on): sets c
 * up for vm's epochs.  0 or -errno with err.  dispose is idempotent after init.
 */
int checkpoint__init(struct checkpoint *c, struct vm *vm, enum migrate_compress compress,
		     uint64_t xbzrle_cache, char *err, size_t errlen);
void checkpoint__dispose(struct checkpoint *c);

/*
 * The paused half, with the VM running on entry and on return: parks the vCPUs and the I/O
 * loop, harvests the dirty pages and disk chunks, copies them into staging, captures the
 * state records, closes epoch on each of the nr output buffers, resumes.  pause_ns and
 * close_ns (CLOCK_MONOTONIC) say when.  0 or -errno with err (the VM is resumed either way;
 * a harvest error leaves the epoch unusable: the caller gives up on replication).
 */
int checkpoint__capture(struct checkpoint *c, uint64_t epoch, struct output_buffer *const *obs,
			unsigned int nr, char *err, size_t errlen);

/*
 * The streaming half, the guest running: the staged epoch onto w (pages, disk writes,
 * state), then checkpoint__close writes CHECKPOINT(epoch), which commits it on the backup
 * (two calls, so the caller can stamp the time the CHECKPOINT went).  bytes is what both
 * wrote.  0 or the writer's -errno with err.
 */
int checkpoint__stream(struct checkpoint *c, struct stream_writer *w, char *err, size_t errlen);
int checkpoint__close(struct checkpoint *c, struct stream_writer *w, char *err, size_t errlen);

#endif
