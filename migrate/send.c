/* The sender: save-to-file in one pass, and live pre-copy migration (DESIGN.md §6). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dirty.h"
#include "disk_copy.h"
#include "ioloop.h"
#include "layout.h"
#include "log.h"
#include "memory.h"
#include "pci.h"
#include "migrate.h"
#include "page_cache.h"
#include "page_data.h"
#include "progress.h"
#include "throttle.h"
#include "util.h"
#include "virtio_blk.h"
#include "vm.h"
#include "vm_stream.h"

/*
 * Pre-copy gives up waiting for convergence after this many dirty rounds and
 * stops the VM for whatever is left: by then auto-converge has had time to
 * reach its maximum, so only a guest dirtying faster than the link at 99%
 * throttle gets here.  Without a cap such a guest would be resent forever;
 * with it, the downtime target is missed instead, and the status and the log
 * say so.
 */
#define MAX_ROUNDS 30
/* A round stalls when its dirty set is not 5% smaller than the one before... */
#define STALL_SHRINK_PCT 95
/* ...and after this many stalled rounds in a row the throttle goes up a step. */
#define STALL_ROUNDS  2
#define THROTTLE_STEP 20 /* 20, 40, 60, 80, then THROTTLE_MAX_PCT */
/* A round that sent fewer pages than this says too little about the cost of a page. */
#define MIN_PAGES_TO_MEASURE 64
/*
 * Once the rest fits the downtime target, rounds go on while each still cuts
 * the dirty set by more than a quarter (a round that fits is short, and the
 * next final round shorter), until it is this small: well under a millisecond.
 */
#define KEEP_GOING_PCT 75
#define FEW_PAGES      64

struct sender {
	struct vm *vm;
	const struct migrate_params *p;
	struct stream_writer *w;
	struct migrate_job *job;
	struct page_encoder enc;
	struct page_cache cache;
	struct page_batch batch;
	uint64_t nbits;	  /* pfns in the harvest bitmaps */
	uint64_t *dirty;  /* this round's pages to send */
	uint64_t *latest; /* the last harvest, merged into dirty */
	/* Undone on failure: exactly what this sender changed. */
	bool paused, io_paused, logging, released;
	struct virtio_blk *disks[PCI_MAX_SLOTS]; /* the VM's writable disks (shared storage) */
	unsigned int nr_disks;
	struct disk_copy copies; /* copy_storage (forced when checkpointed): the writable disks */
	bool tracking;
	bool disk_paced; /* send_disks: the records it writes are paced */
	unsigned int throttle;
	/* Pacing (max_bandwidth): bytes allowed since pace_ns. */
	uint64_t pace_ns, pace_bytes;
	/* Counters published to the job after each batch. */
	uint64_t pages, by_enc[STREAM_PAGE_ZLIB + 1], cache_misses;
	uint64_t scanned; /* pages looked at, sent or not */
	/* The round under way, for its progress: start time, bytes, pages scanned, and its size. */
	uint64_t round_ns, round_bytes, round_scanned, round_size;
	uint64_t dirty_pps; /* the guest's dirty rate at the last harvest, for the ETA */
	uint8_t copy[STREAM_PAGE_SIZE];
	uint8_t scratch[STREAM_LZ4_BOUND];
	uint8_t delta[STREAM_PAGE_SIZE];
	char err[MIGRATE_ERR_MAX];
};

static const char *const compress_names[] = {
    [MIGRATE_COMPRESS_LZ4] = "lz4",
    [MIGRATE_COMPRESS_ZLIB] = "zlib",
    [MIGRATE_COMPRESS_NONE] = "none",
};

const char *migrate_compress__to_str(enum migrate_compress c)
{
	return (unsigned)c < sizeof(compress_names) / sizeof(compress_names[0]) ? compress_names[c]
										: "unknown";
}

int migrate_compress__from_str(const char *s, enum migrate_compress *out)
{
	for (unsigned int c = 0; c < sizeof(compress_names) / sizeof(compress_names[0]); c++) {
		if (!strcmp(s, compress_names[c])) {
			*out = (enum migrate_compress)c;
			return 0;
		}
	}
	return -EINVAL;
}

/* Records the first error (later ones are its consequences); callers say save or migrate. */
#define FAIL(s, rc, fmt, ...)                                                                      \
	((s)->err[0] ? (rc) : util__fail((s)->err, sizeof((s)->err), (rc), fmt, ##__VA_ARGS__))

/* Something the user should know that does not fail the migration: logged and in the status. */
__attribute__((format(printf, 2, 3))) static void warn(struct sender *s, const char *fmt, ...)
{
	struct migrate_status *st = progress__lock(s->job);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->warning, sizeof(st->warning), fmt, ap);
	va_end(ap);
	log__warn("migrate: %s", st->warning);
	progress__unlock(s->job);
}

/*
 * A cancel that had to abort the connection (a sender blocked in a write or
 * in the ack read cannot see the flag) fails that I/O: it is still a cancel.
 */
static bool cancelled(struct sender *s)
{
	if (!progress__cancelled(s->job))
		return false;
	(void)FAIL(s, -ECANCELED, "cancelled");
	return true;
}

static int write_failed(struct sender *s, int rc, const char *what)
{
	if (cancelled(s))
		return -ECANCELED;
	return FAIL(s, rc, "writing %s at stream byte %llu failed: %s", what,
		    (unsigned long long)s->w->offset, strerror(-rc));
}

/*
 * Time to completion: what is left of this round, then the rounds after it,
 * each the pages the guest dirtied while the one before was sent: a
 * geometric series of ratio dirty rate x page cost, the last term being the
 * final round.  A ratio near 1 does not converge by itself: the throttle or
 * the round cap ends it, so it counts as 0.9 (ten times the round).
 */
static uint64_t eta_ns(uint64_t pages_left, uint64_t ns_per_page, uint64_t dirty_pps)
{
	double r = (double)dirty_pps * (double)ns_per_page / 1e9;

	return (uint64_t)((double)pages_left * (double)ns_per_page / (1.0 - (r < 0.9 ? r : 0.9)));
}

/* The counters, and the round's bandwidth and time left so far. */
static void publish(struct sender *s)
{
	uint64_t now = progress__now_ns(), done = s->scanned - s->round_scanned;
	struct migrate_status *st = progress__lock(s->job);

	st->bytes = s->w->offset;
	st->pages = s->pages;
	st->zero_pages = s->by_enc[STREAM_PAGE_ZERO];
	st->raw_pages = s->by_enc[STREAM_PAGE_RAW];
	st->lz4_pages = s->by_enc[STREAM_PAGE_LZ4];
	st->zlib_pages = s->by_enc[STREAM_PAGE_ZLIB];
	st->delta_pages = s->by_enc[STREAM_PAGE_DELTA];
	st->cache_misses = s->cache_misses;
	st->disk_chunks = s->copies.sent;
	st->remaining_pages = s->round_size - (s->scanned - s->round_scanned);
	if (now > s->round_ns && done) {
		st->bandwidth_bps = (uint64_t)((double)(s->w->offset - s->round_bytes) * 1e9 /
					       (double)(now - s->round_ns));
		st->eta_ns = eta_ns(st->remaining_pages, (now - s->round_ns) / done, s->dirty_pps);
	}
	progress__unlock(s->job);
}

static void start_round(struct sender *s, uint64_t size)
{
	struct migrate_status *st;

	s->round_ns = progress__now_ns();
	s->round_bytes = s->w->offset;
	s->round_scanned = s->scanned;
	s->round_size = size;
	st = progress__lock(s->job);
	st->remaining_pages = size;
	progress__unlock(s->job);
}

/* Waits while the stream is ahead of max_bandwidth; -ECANCELED if cancelled meanwhile. */
static int pace(struct sender *s)
{
	uint64_t due;

	if (!s->p->max_bandwidth)
		return 0;
	due = s->pace_ns + (uint64_t)((double)(s->w->offset - s->pace_bytes) * 1e9 /
				      (double)s->p->max_bandwidth);
	if (progress__wait_until(s->job, due))
		return FAIL(s, -ECANCELED, "cancelled");
	return 0;
}

/* Writes the batch, publishes progress, then honours cancel and the bandwidth cap. */
static int flush(struct sender *s, bool paced)
{
	int rc = page_batch__write(&s->batch, s->w);

	if (rc)
		return write_failed(s, rc, "pages");
	publish(s);
	if (cancelled(s))
		return -ECANCELED;
	return paced ? pace(s) : 0;
}

/*
 * Sends pfn's current contents.  The guest may write on while the page is
 * read: that write dirties the page again, so a torn copy is overwritten by
 * the next round, or the final one (paused).  The delta cache needs the exact
 * version the receiver got, and zlib a stable input, so those copy it first.
 * full_pass: a zero page is skipped (the receiver's RAM starts zeroed) and
 * nothing is cached (only pages dirtied again are worth a slot).
 */
static int send_page(struct sender *s, uint64_t pfn, bool full_pass, bool paced)
{
	const uint8_t *page = memory__gpa_to_hva(s->vm, pfn << LAYOUT_PAGE_SHIFT, STREAM_PAGE_SIZE);
	bool cached = !full_pass && s->cache.nslots;
	/* zlib, unlike lz4, is not known to be safe on input that changes under it. */
	bool copy = cached || s->enc.encoding == STREAM_PAGE_ZLIB;
	const uint8_t *data;
	uint32_t len;
	int enc, rc;

	if (!page)
		return FAIL(s, -EFAULT, "pfn 0x%llx is not guest RAM", (unsigned long long)pfn);
	if (copy) {
		memcpy(s->copy, page, STREAM_PAGE_SIZE);
		page = s->copy;
	}
	s->scanned++;
	enc = page_encoder__encode(&s->enc, page, s->scratch, &data, &len);
	if (full_pass && enc == STREAM_PAGE_ZERO)
		return 0;
	if (cached) {
		const uint8_t *old = page_cache__lookup(&s->cache, pfn);
		int d = old ? page_data__delta_encode(old, page, s->delta) : -ENOENT;

		if (!old)
			s->cache_misses++;
		if (d == 0) /* rewritten with what the receiver already holds */
			return 0;
		if (d > 0 && (uint32_t)d < len) {
			enc = STREAM_PAGE_DELTA;
			data = s->delta;
			len = (uint32_t)d;
		}
		page_cache__insert(&s->cache, pfn, page);
	}
	rc = page_batch__add_encoded(&s->batch, pfn, (uint8_t)enc, data, len);
	if (rc == -ENOSPC) {
		rc = flush(s, paced);
		if (rc)
			return rc;
		rc = page_batch__add_encoded(&s->batch, pfn, (uint8_t)enc, data, len);
	}
	if (rc)
		return FAIL(s, rc, "batching pfn 0x%llx: %s", (unsigned long long)pfn,
			    strerror(-rc));
	s->pages++;
	s->by_enc[enc]++;
	return 0;
}

/* After each DISK_WRITES record, as flush does for pages. */
static int disk_record_written(void *ctx)
{
	struct sender *s = ctx;

	publish(s);
	if (cancelled(s))
		return -ECANCELED;
	return s->disk_paced ? pace(s) : 0;
}

/* Every chunk of every copied disk (full), or those harvested, which it empties. */
static int send_disks(struct sender *s, bool full, bool paced)
{
	char why[MIGRATE_ERR_MAX];
	int rc;

	s->disk_paced = paced;
	rc = disk_copy__send(&s->copies, s->w, full, disk_record_written, s, why, sizeof(why));
	if (rc && !s->err[0]) /* not already failed by disk_record_written */
		return cancelled(s) ? -ECANCELED : FAIL(s, rc, "%s", why);
	return rc;
}

/* The pfn of byte off of guest RAM: the memfd holds low RAM, then the RAM above the PCI hole. */
static uint64_t ram_pfn(const struct memory *m, uint64_t off)
{
	return off < m->low_size ? off >> LAYOUT_PAGE_SHIFT
				 : LAYOUT_HIGH_PFN + ((off - m->low_size) >> LAYOUT_PAGE_SHIFT);
}

/* The memfd's next data extent [*data, *end) at or after off: 1, 0 if none is left, or -errno. */
static int next_extent(const struct memory *m, uint64_t off, uint64_t *data, uint64_t *end)
{
	off_t d = lseek(m->fd, (off_t)off, SEEK_DATA), h;

	if (d < 0)
		return errno == ENXIO ? 0 : -errno;
	h = lseek(m->fd, d, SEEK_HOLE);
	if (h < 0)
		return -errno;
	*data = (uint64_t)d & ~(uint64_t)(STREAM_PAGE_SIZE - 1);
	*end = (uint64_t)h < m->size ? (uint64_t)h : m->size;
	return 1;
}

/*
 * Every RAM page that holds data.  Pages of the memfd never written are holes:
 * zero, and reading one would allocate it (shmem maps no shared zero page), so
 * the pass walks the data extents and never touches a hole.  A page written
 * behind the walk is in the dirty log, which was on before it started.
 */
static int send_all(struct sender *s)
{
	const struct memory *m = &s->vm->mem;
	uint64_t off = 0, data = 0, end = 0;
	struct migrate_status *st;
	int rc = 0, more;

	start_round(s, m->size >> LAYOUT_PAGE_SHIFT);
	st = progress__lock(s->job);
	st->rounds = 1;
	progress__unlock(s->job);
	while (!rc && off < m->size) {
		more = next_extent(m, off, &data, &end);
		if (more < 0)
			return FAIL(s, more, "finding the guest RAM in use (SEEK_DATA) failed: %s",
				    strerror(-more));
		if (!more)
			break;
		s->scanned += (data - off) >> LAYOUT_PAGE_SHIFT; /* the hole, zero */
		for (off = data; !rc && off < end; off += STREAM_PAGE_SIZE)
			rc = send_page(s, ram_pfn(m, off), true, true);
	}
	s->scanned = s->round_scanned + s->round_size; /* up to the end, holes and all */
	return rc ? rc : flush(s, true);
}

/* The pages set in s->dirty; paced except in the final, paused round. */
static int send_dirty(struct sender *s, bool paced)
{
	int rc = 0;

	for (uint64_t w = 0; !rc && w < s->nbits / 64; w++) {
		uint64_t bits = s->dirty[w];

		while (!rc && bits) {
			rc = send_page(s, w * 64 + (uint64_t)__builtin_ctzll(bits), false, paced);
			bits &= bits - 1;
		}
	}
	return rc ? rc : flush(s, paced);
}

/* Harvests into s->latest and merges it into s->dirty: the pages now in s->dirty, or -errno. */
static int64_t harvest(struct sender *s)
{
	int64_t n = dirty__harvest(s->vm, s->latest);

	if (n < 0)
		return FAIL(s, (int)n, "harvesting dirty pages failed: %s", strerror((int)-n));
	n = 0;
	for (uint64_t w = 0; w < s->nbits / 64; w++) {
		s->dirty[w] |= s->latest[w];
		n += __builtin_popcountll(s->dirty[w]);
	}
	return n;
}

static int set_throttle(struct sender *s, unsigned int pct)
{
	int rc = throttle__set(s->vm, pct);
	struct migrate_status *st;

	if (rc)
		return FAIL(s, rc, "setting the vCPU throttle to %u%% failed: %s", pct,
			    strerror(-rc));
	s->throttle = pct;
	st = progress__lock(s->job);
	st->throttle_pct = pct;
	progress__unlock(s->job);
	return 0;
}

/* What the last rounds taught: the stream's bandwidth and the time one dirty page costs to send. */
struct round_cost {
	uint64_t bandwidth_bps;
	uint64_t ns_per_page;	   /* 0 until measured */
	uint64_t ns, bytes, pages; /* rounds too small to tell, summed until they are not */
};

static void measure(struct round_cost *c, uint64_t ns, uint64_t bytes, uint64_t pages)
{
	c->ns += ns;
	c->bytes += bytes;
	c->pages += pages;
	if (c->pages < MIN_PAGES_TO_MEASURE || !c->ns)
		return;
	c->bandwidth_bps = (uint64_t)((double)c->bytes * 1e9 / (double)c->ns);
	c->ns_per_page = c->ns / c->pages;
	c->ns = c->bytes = c->pages = 0;
}

/*
 * How long sending n pages would take: at the measured cost; before any
 * measurement, raw pages at the bandwidth cap, a handful of pages as nothing,
 * and anything more as too long to stop for.
 */
static uint64_t expected_ns(const struct round_cost *c, const struct migrate_params *p, uint64_t n)
{
	if (c->ns_per_page)
		return n * c->ns_per_page;
	if (p->max_bandwidth)
		return (uint64_t)((double)n * STREAM_PAGE_SIZE * 1e9 / (double)p->max_bandwidth);
	return n <= FEW_PAGES ? 0 : UINT64_MAX;
}

/*
 * Pre-copy: the full pass, then dirty rounds until what is dirty fits the
 * downtime target at the measured page cost and stops shrinking fast (or is
 * a few pages), throttling the vCPUs a step each time the dirty set stops
 * shrinking while it does not fit.  Leaves s->dirty holding the
 * pages the final, paused round must send.
 */
static int precopy(struct sender *s)
{
	uint64_t target = s->p->downtime_ns ? s->p->downtime_ns : MIGRATE_DOWNTIME_DEFAULT_NS;
	struct round_cost cost = {0};
	uint64_t t0, last_harvest, prev_dirty = 0;
	unsigned int stalled = 0;
	char why[MIGRATE_ERR_MAX];
	int64_t got;
	int rc;

	rc = dirty__enable(s->vm);
	if (rc && rc != -EALREADY) /* on: left so by a failed migration whose disable failed */
		return FAIL(s, rc, "enabling dirty logging failed: %s", strerror(-rc));
	s->logging = true;
	s->tracking = s->copies.nr > 0;
	rc = disk_copy__track(&s->copies, true, why, sizeof(why));
	if (rc)
		return FAIL(s, rc, "%s", why);
	/* Start from a clean log: the full pass sends everything written before it. */
	got = harvest(s);
	if (got < 0)
		return (int)got;
	memset(s->dirty, 0, s->nbits / 8);
	progress__set_phase(s->job, MIGRATE_PHASE_ACTIVE);
	rc = send_all(s);
	if (!rc)
		rc = send_disks(s, true, true);
	if (rc)
		return rc;
	last_harvest = t0 = s->round_ns;
	measure(&cost, progress__now_ns() - t0, s->w->offset, s->pages + s->copies.sent);

	for (unsigned int round = 1;; round++) {
		uint64_t now, bytes0 = s->w->offset, pages0 = s->pages + s->copies.sent, n,
			      expected;
		struct migrate_status *st;

		got = harvest(s);
		if (got < 0)
			return (int)got;
		/* A chunk costs what a page does. */
		n = (uint64_t)got + disk_copy__harvest(&s->copies);
		now = progress__now_ns();
		expected = expected_ns(&cost, s->p, n);
		st = progress__lock(s->job);
		st->rounds = round + 1;
		st->remaining_pages = n;
		s->dirty_pps = now > last_harvest
				   ? (uint64_t)((double)n * 1e9 / (double)(now - last_harvest))
				   : 0;
		st->dirty_rate_pps = s->dirty_pps;
		st->bandwidth_bps = cost.bandwidth_bps;
		st->expected_downtime_ns = expected;
		st->eta_ns = eta_ns(n, cost.ns_per_page, s->dirty_pps);
		progress__unlock(s->job);
		last_harvest = now;
		if (round > MAX_ROUNDS) {
			if (expected > target)
				warn(
				    s,
				    "downtime target missed: pre-copy stopped after %u rounds with "
				    "%llu pages dirty, expected downtime %llu ms for a target of "
				    "%llu ms",
				    MAX_ROUNDS, (unsigned long long)n,
				    (unsigned long long)(expected / 1000000),
				    (unsigned long long)(target / 1000000));
			return 0;
		}
		if (expected <= target &&
		    (n <= FEW_PAGES || (round > 1 && n * 100 >= prev_dirty * KEEP_GOING_PCT)))
			return 0;
		/* Auto-converge: the dirty set stopped shrinking for STALL_ROUNDS rounds. */
		if (expected > target && round > 1 && n * 100 >= prev_dirty * STALL_SHRINK_PCT)
			stalled++;
		else
			stalled = 0;
		prev_dirty = n;
		if (stalled >= STALL_ROUNDS && s->throttle < THROTTLE_MAX_PCT) {
			rc = set_throttle(s, s->throttle + THROTTLE_STEP > THROTTLE_MAX_PCT
						 ? THROTTLE_MAX_PCT
						 : s->throttle + THROTTLE_STEP);
			if (rc)
				return rc;
			stalled = 0;
		}
		s->pace_ns = now;
		s->pace_bytes = s->w->offset;
		start_round(s, n);
		rc = send_dirty(s, true);
		if (!rc)
			rc = send_disks(s, false, true);
		if (rc)
			return rc;
		memset(s->dirty, 0, s->nbits / 8);
		measure(&cost, progress__now_ns() - now, s->w->offset - bytes0,
			s->pages + s->copies.sent - pages0);
	}
}

/*
 * One handshake record from the destination (STREAM.md, live handshake),
 * what: "ready" or "ack", for messages.  The status must be a plain -errno:
 * anything else, or a peer's -ECANCELED (which would read as our own
 * cancel), is a protocol error.  Returns 1 for READY, 0 for an ack of 0.
 * READY is awaited while a cancel can still abort the connection: that
 * failed read is the cancel.  The ack is not (see read_ack).
 */
static int read_handshake(struct sender *s, stream_read_fn read, void *ctx, const char *what)
{
	bool may_cancel = !s->paused;

	struct migrate_ack m;
	size_t got = 0;
	bool ready;

	while (got < sizeof(m)) {
		ssize_t n = read(ctx, (uint8_t *)&m + got, sizeof(m) - got);

		if (n <= 0 && may_cancel && cancelled(s))
			return -ECANCELED;
		if (n < 0)
			return FAIL(s, (int)n, "reading the destination's %s failed: %s", what,
				    strerror((int)-n));
		if (n == 0)
			return FAIL(s, -ECONNRESET,
				    "the destination closed the connection before its %s", what);
		got += (size_t)n;
	}
	ready = !memcmp(m.magic, MIGRATE_READY_MAGIC, sizeof(m.magic));
	if ((!ready && memcmp(m.magic, MIGRATE_ACK_MAGIC, sizeof(m.magic))) || m.reserved ||
	    (ready && m.status))
		return FAIL(s, -EBADMSG, "the destination's %s is malformed", what);
	m.message[sizeof(m.message) - 1] = '\0';
	if (m.status)
		return FAIL(s,
			    m.status >= -4095 && m.status < 0 && m.status != -ECANCELED ? m.status
											: -EPROTO,
			    "the destination refused the VM: %s", m.message);
	return ready;
}

/*
 * Before the final pause, after SYNC: the destination has built and settled
 * its VM and read everything sent so far (READY), or it refused the VM (a
 * negative ack), so the downtime never waits on its setup or a backlog.
 */
static int read_ready(struct sender *s, stream_read_fn read, void *ctx)
{
	int rc = read_handshake(s, read, ctx, "ready");

	if (rc == 0)
		return FAIL(s, -EPROTO, "the destination acked before it was sent the VM");
	return rc < 0 ? rc : 0;
}

/*
 * After END: 0 if the destination took the VM.  A cancel is ignored here:
 * the destination may already run the VM, so only its answer or a dead
 * connection decides.
 */
static int read_ack(struct sender *s, stream_read_fn read, void *ctx)
{
	int rc = read_handshake(s, read, ctx, "ack");

	if (rc > 0)
		return FAIL(s, -EBADMSG, "the destination's ack is malformed");
	return rc;
}

int migrate__check(struct vm *vm, const struct migrate_params *p, char *err, size_t errlen)
{
	struct virtio_blk *all[PCI_MAX_SLOTS];
	unsigned int n = virtio_blk__list(vm, all, PCI_MAX_SLOTS);

	if (p->checkpointed && !p->live)
		return util__fail(err, errlen, -EINVAL, "a checkpointed stream is a live one");
	if (!p->live)
		return 0;
	if (p->checkpointed && p->shared_storage)
		return util__fail(err, errlen, -EINVAL,
				  "replication needs each host's own image: a disk on shared "
				  "storage cannot be protected (copy it to the backup host and "
				  "protect without --shared-storage)");
	if (p->checkpointed) /* copy storage is forced: every writable disk is sent */
		return 0;
	if (p->shared_storage && p->copy_storage)
		return util__fail(err, errlen, -EINVAL,
				  "give one of --shared-storage and --copy-storage: the images "
				  "are either the same or each host's own");
	for (unsigned int i = 0; i < n; i++)
		if (!virtio_blk__readonly(all[i]) && !p->shared_storage && !p->copy_storage)
			return util__fail(err, errlen, -EINVAL,
					  "the VM has a writable disk (%s): give --copy-storage "
					  "(each host has its own image) or --shared-storage (both "
					  "hosts see the same image)",
					  virtio_blk__path(all[i]));
	return 0;
}

/* The writable disks a live migration copies or hands over (migrate__check passed). */
static int check_disks(struct sender *s)
{
	struct virtio_blk *all[PCI_MAX_SLOTS];
	unsigned int n = virtio_blk__list(s->vm, all, PCI_MAX_SLOTS);
	int rc = migrate__check(s->vm, s->p, s->err, sizeof(s->err));

	if (rc)
		return rc;
	if (s->p->copy_storage || s->p->checkpointed)
		return disk_copy__add_writable(&s->copies, s->vm, s->err, sizeof(s->err));
	for (unsigned int i = 0; i < n; i++)
		if (!virtio_blk__readonly(all[i]))
			s->disks[s->nr_disks++] = all[i];
	return 0;
}

/*
 * The VM and its I/O paused: every shared image flushed and its lock let go,
 * for the destination.
 */
static int release_disks(struct sender *s)
{
	s->released = s->nr_disks > 0;
	for (unsigned int i = 0; i < s->nr_disks; i++) {
		int rc = virtio_blk__release(s->disks[i]);

		if (rc)
			return FAIL(s, rc, "flushing the disk %s for the destination failed: %s",
				    virtio_blk__path(s->disks[i]), strerror(-rc));
	}
	return 0;
}

/*
 * After a failure: the locks back.  A lock the destination holds means it
 * took the disk, and so perhaps the VM (its ack lost on the way): then the VM
 * must not run here too.  Returns false in that case.
 */
static bool retake_disks(struct sender *s)
{
	char why[MIGRATE_ERR_MAX];
	struct migrate_status *st;
	size_t n;

	for (unsigned int i = 0; i < s->nr_disks; i++) {
		if (!virtio_blk__lock(s->disks[i], why, sizeof(why)))
			continue;
		log__error("migrate: %s; the destination holds it, and may run the VM: this VM "
			   "stays paused",
			   why);
		/* The cause stays first; what it left behind follows. */
		n = strnlen(s->err, sizeof(s->err));
		snprintf(s->err + n, sizeof(s->err) - n,
			 "; the VM stays paused here: the destination holds the disk %s and may "
			 "run it: check the destination, then quit one of them",
			 virtio_blk__path(s->disks[i]));
		st = progress__lock(s->job);
		st->source_paused = true;
		progress__unlock(s->job);
		return false;
	}
	return true;
}

/*
 * The paused part: last pages, state, END and, live, the ack.  The vCPUs and
 * device I/O stop first; what is dirty by then is all that is left.
 */
static int stop_and_copy(struct sender *s, stream_read_fn ack_read, void *ack_ctx)
{
	uint64_t t_pause = progress__now_ns();
	int64_t got;
	int rc;

	if (s->p->live && ack_read) {
		/* READY answers SYNC once the destination has read all before it: no backlog. */
		rc = stream_writer__record(s->w, STREAM_REC_SYNC, NULL, NULL, 0);
		if (rc)
			return write_failed(s, rc, "SYNC");
		rc = read_ready(s, ack_read, ack_ctx);
		if (rc)
			return rc;
		t_pause = progress__now_ns();
	}
	progress__set_phase(s->job, MIGRATE_PHASE_STOP_COPY);
	if (s->p->live) {
		vm__pause_all(s->vm);
		s->paused = true;
	}
	ioloop__pause(s->vm->ioloop);
	s->io_paused = true;
	if (s->p->live) {
		/* A throttle still on nests its pauses inside ours; the end turns it off. */
		got = harvest(s);
		if (got < 0)
			return (int)got;
		start_round(s, (uint64_t)got);
		rc = send_dirty(s, false);
		if (!rc) {
			disk_copy__harvest(&s->copies); /* the I/O loop is paused: none in flight */
			rc = send_disks(s, false, false);
		}
	} else {
		rc = send_all(s);
	}
	if (rc)
		return rc;
	rc = vm_stream__write_state(s->w, s->vm);
	if (rc)
		return write_failed(s, rc, "the VM state");
	rc = release_disks(s);
	if (rc)
		return rc;
	if (progress__begin_end(s->job))
		return FAIL(s, -ECANCELED, "cancelled");
	/* Replication: the backup holds epoch 0 and stays a shadow; epochs follow. */
	rc = s->p->checkpointed ? stream_writer__checkpoint(s->w, 0) : stream_writer__end(s->w);
	if (rc)
		return write_failed(s, rc, s->p->checkpointed ? "CHECKPOINT(0)" : "END");
	publish(s);
	if (s->p->live && ack_read) {
		rc = read_ack(s, ack_read, ack_ctx);
		if (rc)
			return rc;
	}
	if (s->p->live) {
		struct migrate_status *st = progress__lock(s->job);

		st->downtime_ns = progress__now_ns() - t_pause;
		progress__unlock(s->job);
	}
	return 0;
}

static int sender_init(struct sender *s)
{
	static const uint8_t encodings[] = {
	    [MIGRATE_COMPRESS_LZ4] = STREAM_PAGE_LZ4,
	    [MIGRATE_COMPRESS_ZLIB] = STREAM_PAGE_ZLIB,
	    [MIGRATE_COMPRESS_NONE] = STREAM_PAGE_RAW,
	};
	int rc;

	if ((unsigned)s->p->compress >= sizeof(encodings))
		return FAIL(s, -EINVAL, "unknown compression %d", (int)s->p->compress);
	rc = page_encoder__init(&s->enc, encodings[s->p->compress]);
	if (!rc && s->p->live && s->p->xbzrle_cache) {
		/* Slots past the guest's RAM would never be used (pfn % slots). */
		uint64_t bytes =
		    s->p->xbzrle_cache < s->vm->mem.size ? s->p->xbzrle_cache : s->vm->mem.size;
		uint64_t avail = memory__host_available();

		/* The cache fills as rounds go: too big, the OOM killer would end us mid-way. */
		if (avail && bytes > avail)
			return FAIL(s, -ENOMEM,
				    "a delta cache of %llu MiB is more than this host has free "
				    "(%llu MiB); give a smaller --xbzrle-cache",
				    (unsigned long long)(bytes >> 20),
				    (unsigned long long)(avail >> 20));
		rc = page_cache__alloc(&s->cache, bytes);
		if (rc == -EINVAL)
			return FAIL(s, rc,
				    "a delta cache of %llu bytes holds no page; give at "
				    "least 4096 bytes, or 0 for none",
				    (unsigned long long)s->p->xbzrle_cache);
	}
	if (!rc && s->p->live) {
		rc = check_disks(s);
		if (rc)
			return rc;
		s->nbits = dirty__bitmap_bits(s->vm);
		s->dirty = calloc(s->nbits / 64, sizeof(uint64_t));
		s->latest = calloc(s->nbits / 64, sizeof(uint64_t));
		if (!s->dirty || !s->latest)
			rc = -ENOMEM;
	}
	if (rc)
		return FAIL(s, rc, "setting up the sender failed: %s", strerror(-rc));
	return 0;
}

static bool vm_paused(struct vm *vm)
{
	bool paused;

	pthread_mutex_lock(&vm->lock);
	paused = vm->pause_depth > 0;
	pthread_mutex_unlock(&vm->lock);
	return paused;
}

int migrate__send(struct vm *vm, const struct migrate_params *p, struct stream_writer *w,
		  stream_read_fn ack_read, void *ack_ctx, struct migrate_job *job)
{
	struct migrate_job *own = NULL;
	struct sender *s = calloc(1, sizeof(*s));
	bool keep_paused;
	int rc;

	if (!s)
		return -ENOMEM;
	if (!job) {
		rc = migrate_job__new(&own);
		if (rc) {
			free(s);
			return rc;
		}
		job = own;
	}
	*s = (struct sender){.vm = vm, .p = p, .w = w, .job = job};
	page_cache__init(&s->cache);
	page_batch__init(&s->batch);
	disk_copy__init(&s->copies);
	progress__start(job);
	s->pace_ns = progress__now_ns();
	s->pace_bytes = w->offset;

	if (!p->live && !vm_paused(vm)) {
		rc = FAIL(s, -EINVAL, "the VM is running; pause it (stop) before saving");
		goto out;
	}
	rc = sender_init(s);
	if (rc)
		goto out;
	rc = stream_writer__header(w, (p->live ? STREAM_FLAG_LIVE : 0) |
					  (p->checkpointed ? STREAM_FLAG_CHECKPOINTED : 0));
	if (rc) {
		rc = write_failed(s, rc, "the header");
		goto out;
	}
	rc = vm_stream__write_config(w, vm);
	if (rc) {
		rc = write_failed(s, rc, "VM_CONFIG");
		goto out;
	}
	if (p->live) {
		rc = precopy(s);
		if (rc)
			goto out;
	}
	rc = stop_and_copy(s, ack_read, ack_ctx);
out:
	/*
	 * Undo what we did, last first, the throttle before anyone resumes the VM;
	 * a live success keeps the VM and its I/O stopped.
	 */
	if (s->throttle && rc)
		set_throttle(s, 0);
	else if (s->throttle) /* the status keeps the throttle the VM stopped under */
		throttle__set(vm, 0);
	/* A checkpointed success keeps tracking and logging on: epoch 1 starts here. */
	if (s->tracking && (rc || !p->checkpointed))
		disk_copy__track(&s->copies, false, NULL, 0);
	if (s->logging && rc && dirty__disable(vm)) /* logging costs the guest: off again */
		log__warn("migrate: dirty logging stays on after the failure: the guest runs a "
			  "little slower until twin-vmm restarts");
	keep_paused = s->paused && rc && s->released && !retake_disks(s);
	if (s->io_paused && (rc || !p->live) && !keep_paused)
		ioloop__resume(vm->ioloop);
	if (s->paused && rc && !keep_paused)
		vm__resume_all(vm);
	if (rc == -ECANCELED)
		progress__finish(job, MIGRATE_PHASE_CANCELLED, "%s", s->err);
	else if (rc)
		progress__finish(job, MIGRATE_PHASE_FAILED, "%s", s->err[0] ? s->err : "failed");
	else
		progress__finish(job, MIGRATE_PHASE_COMPLETED, NULL);
	page_batch__dispose(&s->batch);
	page_cache__dispose(&s->cache);
	page_encoder__dispose(&s->enc);
	free(s->dirty);
	free(s->latest);
	disk_copy__dispose(&s->copies);
	free(s);
	migrate_job__free(own);
	return rc;
}
