/* Replication (DESIGN.md §7): the modes, tuning and status shared by primary and backup. */
#ifndef REPLICATION_REPLICATION_H
#define REPLICATION_REPLICATION_H

#include <stdbool.h>
#include <stdint.h>
#include "migrate.h"

/*
 * epoch (Remus): a checkpoint every interval.  event (Kemari): a checkpoint as soon as the
 * guest sends a frame or writes its disk, none otherwise.  hybrid: both, with I/O-triggered
 * checkpoints at least min_spacing apart so that chatty output coalesces.
 */
enum repl_mode { REPL_MODE_EPOCH, REPL_MODE_EVENT, REPL_MODE_HYBRID };

/* "epoch", "event", "hybrid": 0 or -EINVAL. */
int repl_mode__from_str(const char *s, enum repl_mode *out);
const char *repl_mode__to_str(enum repl_mode m);

#define REPL_INTERVAL_DEFAULT_NS    25000000ULL	 /* epoch mode; hybrid's longest gap */
#define REPL_MIN_SPACING_DEFAULT_NS 2000000ULL	 /* hybrid */
#define REPL_HEARTBEAT_NS	    100000000ULL /* a HEARTBEAT after this long with nothing sent */
#define REPL_TIMEOUT_DEFAULT_NS	    1000000000ULL /* a peer unheard this long is gone */
#define REPL_OUTPUT_LIMIT_DEFAULT   (16u << 20)	  /* held TX bytes per NIC */
/*
 * Guest disk writes in one epoch past which a checkpoint comes early, in any mode: a
 * quarter of what the backup stages for an epoch (BACKUP_EPOCH_CAP, 1 GiB), so that a
 * write burst is split over epochs instead of failing the backup.
 */
#define REPL_DISK_EPOCH_LIMIT_DEFAULT (256ULL << 20)

struct repl_params {
	enum repl_mode mode;
	uint64_t interval_ns;	 /* epoch: the period; hybrid: the longest gap; event: unused */
	uint64_t min_spacing_ns; /* hybrid: least gap between I/O-triggered checkpoints */
	uint64_t timeout_ns;   /* primary: the backup unheard (no ack nor heartbeat) -> degraded */
	uint64_t output_limit; /* bytes of TX frames held per NIC */
	uint64_t disk_epoch_limit; /* disk bytes written in an epoch before an early checkpoint */
	/*
	 * primary: clusterd decides (DESIGN.md §8): a lost backup makes the VM stalled, its output
	 * held, never degraded on its own; only the degrade command releases it.
	 */
	bool cluster;
	/* The initial sync (a live migration into the backup) and each epoch's pages. */
	enum migrate_compress compress;
	uint64_t xbzrle_cache;
	uint64_t downtime_ns; /* the initial sync's final pause target */
};

/* params with every default filled in: mode epoch. */
void repl_params__defaults(struct repl_params *p);

enum repl_state {
	REPL_STATE_NONE,	/* never protected */
	REPL_STATE_SYNCING,	/* primary: the initial sync runs; backup: receiving it */
	REPL_STATE_PROTECTED,	/* primary: epochs acked; backup: committing epochs */
	REPL_STATE_DEGRADED,	/* primary: the backup is gone; output flows unheld */
	REPL_STATE_UNPROTECTED, /* primary: unprotect done; backup: the primary said END */
	REPL_STATE_FAILED,	/* primary: the initial sync failed (error says why) */
	REPL_STATE_FAILED_OVER, /* backup: activated, the VM runs here */
	REPL_STATE_STALLED,	/* primary, cluster-managed: the backup unheard; output held */
	REPL_STATE_FENCED, /* shown over the engine's state while fenced (repl_status.fenced) */
};

/*
 * "none", "syncing", "protected", "degraded", "unprotected", "failed", "failed-over",
 * "stalled", "fenced".
 */
const char *repl_state__to_str(enum repl_state s);

/* Over the last REPL_WINDOW epochs. */
#define REPL_WINDOW 1024
struct repl_quantiles {
	uint64_t p50, p99, max, last; /* over the last REPL_WINDOW samples */
	uint64_t count, sum;	      /* over every sample since protect */
};

#define REPL_PEER_MAX 128
#define REPL_ERR_MAX  256

struct repl_status {
	enum repl_state state;
	bool primary; /* false: the backup's view */
	enum repl_mode mode;
	uint64_t interval_ns, min_spacing_ns;
	uint64_t epoch;	      /* primary: the last checkpoint taken; backup: the last committed */
	uint64_t acked_epoch; /* primary: the last the backup acked */
	uint64_t epochs;      /* checkpoints taken (primary) or committed (backup) */
	struct repl_quantiles pause_ns;		     /* primary: vCPUs parked per checkpoint */
	struct repl_quantiles ack_latency_ns;	     /* primary: CHECKPOINT written to its ACK */
	struct repl_quantiles output_held_ns;	     /* primary: an epoch's close to its release */
	struct repl_quantiles commit_ns;	     /* backup: applying an epoch */
	uint64_t dirty_pages_last, dirty_pages_mean; /* pages per checkpoint */
	uint64_t epoch_bytes_last, epoch_bytes_mean; /* stream bytes per checkpoint */
	uint64_t disk_bytes_last;		     /* disk bytes in the last checkpoint */
	uint64_t bytes_total;			     /* stream bytes since protect */
	uint64_t held_bytes, held_frames, overflow_drops; /* output buffers, all NICs */
	uint64_t released_frames;			  /* let out after their ack */
	bool cluster;					  /* primary: clusterd decides */
	bool fenced;					  /* primary: no output released */
	uint64_t peer_silent_ns;			  /* since the peer was last heard */
	struct migrate_status sync;			  /* primary: the initial sync's progress */
	char peer[REPL_PEER_MAX];			  /* HOST:PORT */
	char error[REPL_ERR_MAX]; /* why degraded, stalled or failed, else "" */
};

#endif
