/* The primary's checkpoint: a short paused copy, then its stream with the guest running. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "checkpoint.h"
#include "dirty.h"
#include "layout.h"
#include "memory.h"
#include "output_buffer.h"
#include "progress.h"
#include "util.h"
#include "vm.h"
#include "vm_stream.h"

/*
 * From this many dirty pages (~60 us of harvest and copy here) the state is captured on the
 * capturer thread beside the copy; below it the hand-off costs more than it overlaps
 * (measured: 16 pages p50 383-431 us in parallel, 332-384 us in line; 256 pages 385-397 in
 * parallel, 422-454 in line; 1024 pages 823 us, 1.50x the floor).
 */
#define PARALLEL_MIN_PAGES 128

/* Pages the staging holds from the start (4 MiB): a light workload never grows it in a pause. */
#define STAGING_START 1024u

/* The record buffer's first size, and the least it shrinks back to. */
#define REC_START (64u << 10)

/*
 * Staging and the record buffer shrink after this many epochs in a row used under a quarter
 * of them (one burst must not pin its memory for the rest of the protection): to twice the
 * most those epochs used, never under their start sizes.  Long enough that a periodic burst
 * (a backup job each minute at 25 ms epochs is 2400 epochs) pays one regrowth, not one per
 * epoch.
 */
#define SHRINK_EPOCHS 64u

/*
 * The pause runs SCHED_FIFO only while the last epoch's dirty pages plus 4 KiB disk chunks
 * stay under this (16 MiB to copy or pread: ~2.5 ms here for 4096 pages), see boost_pause.
 */
#define BOOST_MAX_ITEMS 4096u

/* stream_write_fn into a checkpoint_buf: grows it (doubling; shrink_idle gives it back). */
static int buf_write(void *ctx, const void *data, size_t len)
{
	struct checkpoint_buf *b = ctx;

	if (len > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : REC_START;
		uint8_t *d;

		while (cap - b->len < len)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/*
 * Staging grown to want pages (never past the guest's RAM: no more can be dirty), and with
 * touch faulted in: a fresh page faulted in during the pause costs a few us (1.8 ms for 257
 * pages measured), so growing and faulting happen with the guest running whenever they can
 * (see grow_ahead).  In the pause only the pages the copy fills get faulted, by the copy.
 */
static int reserve(struct checkpoint *c, uint64_t want, bool touch)
{
	uint64_t ram_pages = c->vm->mem.size / STREAM_PAGE_SIZE;
	uint8_t *pages;
	uint64_t *pfns;

	want = want < ram_pages ? want : ram_pages;
	if (want <= c->cap)
		return 0;
	pages = realloc(c->pages, want * STREAM_PAGE_SIZE);
	if (!pages)
		return -ENOMEM;
	c->pages = pages;
	pfns = realloc(c->pfns, want * sizeof(*pfns));
	if (!pfns)
		return -ENOMEM;
	c->pfns = pfns;
	if (touch) {
		memset(c->pages + c->cap * STREAM_PAGE_SIZE, 0, (want - c->cap) * STREAM_PAGE_SIZE);
		memset(c->pfns + c->cap, 0, (want - c->cap) * sizeof(*pfns));
	}
	c->cap = want;
	return 0;
}

/*
 * Guest running: room for four times the last epoch's pages once it used half the staging,
 * so a dirty rate that climbs finds the staging ready (an error waits for the pause's own).
 */
static void grow_ahead(struct checkpoint *c)
{
	if (c->nr * 2 > c->cap)
		reserve(c, c->nr * 4, true);
}

/* One epoch's use of a buffer of cap (floor: its start size): the size to shrink to, or 0. */
static uint64_t shrink_to(struct checkpoint_shrink *s, uint64_t used, uint64_t cap, uint64_t floor)
{
	uint64_t want;

	if (cap <= floor || used * 4 >= cap) {
		*s = (struct checkpoint_shrink){0};
		return 0;
	}
	if (used > s->peak)
		s->peak = used;
	if (++s->low < SHRINK_EPOCHS)
		return 0;
	want = s->peak * 2 > floor ? s->peak * 2 : floor;
	*s = (struct checkpoint_shrink){0};
	return want < cap ? want : 0;
}

/*
 * Guest running, after grow_ahead: staging and the record buffer given back once long
 * underused.  A failed realloc keeps the larger buffer (a pfns array larger than cap is safe).
 */
static void shrink_idle(struct checkpoint *c)
{
	uint64_t want = shrink_to(&c->staging_shrink, c->nr, c->cap, STAGING_START);

	if (want) {
		uint8_t *pages = realloc(c->pages, want * STREAM_PAGE_SIZE);
		uint64_t *pfns;

		if (pages) {
			c->pages = pages;
			c->cap = want;
			pfns = realloc(c->pfns, want * sizeof(*pfns));
			if (pfns)
				c->pfns = pfns;
		}
	}
	want = shrink_to(&c->rec_shrink, c->rec.len, c->rec.cap, REC_START);
	if (want) {
		uint8_t *d = realloc(c->rec.data, want);

		if (d) {
			c->rec.data = d;
			c->rec.cap = want;
		}
	}
}

static int stage_records(struct checkpoint *c, char *err, size_t errlen);

/*
 * The capturer: one stage_records per pause.  boost_pause runs it SCHED_FIFO for the pause
 * only, with the copy: woken, it takes a core at once instead of queueing behind the host's
 * other threads (unboosted, its wake-up cost more than it saved).
 */
static void *capturer_main(void *arg)
{
	struct checkpoint *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->job != CAPTURE_ASKED && c->job != CAPTURE_QUIT)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->job == CAPTURE_QUIT)
			break;
		pthread_mutex_unlock(&c->lock);
		c->capture_err[0] = '\0';
		c->capture_rc = stage_records(c, c->capture_err, sizeof(c->capture_err));
		pthread_mutex_lock(&c->lock);
		c->job = CAPTURE_DONE;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int checkpoint__init(struct checkpoint *c, struct vm *vm, enum migrate_compress compress,
		     uint64_t xbzrle_cache, char *err, size_t errlen)
{
	static const uint8_t encodings[] = {
	    [MIGRATE_COMPRESS_LZ4] = STREAM_PAGE_LZ4,
	    [MIGRATE_COMPRESS_ZLIB] = STREAM_PAGE_ZLIB,
	    [MIGRATE_COMPRESS_NONE] = STREAM_PAGE_RAW,
	};
	int rc;

	memset(c, 0, sizeof(*c));
	c->vm = vm;
	disk_copy__init(&c->disks);
	page_cache__init(&c->cache);
	page_batch__init(&c->batch);
	if ((unsigned)compress >= sizeof(encodings))
		return util__fail(err, errlen, -EINVAL, "unknown compression %d", (int)compress);
	rc = page_encoder__init(&c->enc, encodings[compress]);
	if (rc)
		return util__fail(err, errlen, rc, "setting up page compression failed: %s",
				  strerror(-rc));
	if (xbzrle_cache) {
		rc = page_cache__alloc(&c->cache,
				       xbzrle_cache < vm->mem.size ? xbzrle_cache : vm->mem.size);
		if (rc)
			return util__fail(err, errlen, rc,
					  "a delta cache of %llu bytes failed (%s): give at least "
					  "4096 bytes, or 0 for none",
					  (unsigned long long)xbzrle_cache, strerror(-rc));
	}
	/* The disks migrate__send tracked: tracking stays on, so no write is lost in between. */
	rc = disk_copy__add_writable(&c->disks, vm, err, errlen);
	if (rc)
		return rc;
	c->nbits = dirty__bitmap_bits(vm);
	c->bitmap = calloc(c->nbits / 64, sizeof(uint64_t));
	if (!c->bitmap || reserve(c, STAGING_START, true))
		return util__fail(err, errlen, -ENOMEM, "out of memory for the checkpoint staging");
	memset(c->bitmap, 0, c->nbits / 8); /* faulted in too */
	/* What the pause's boost restores (a failed read leaves SCHED_OTHER, the default). */
	pthread_getschedparam(pthread_self(), &c->sched_self.policy, &c->sched_self.param);
	pthread_mutex_lock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			pthread_getschedparam(vm->vcpus[i].thread, &c->sched_vcpus[i].policy,
					      &c->sched_vcpus[i].param);
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	rc = pthread_create(&c->capturer, NULL, capturer_main, c);
	if (rc)
		return util__fail(err, errlen, -rc, "starting the state capturer failed: %s",
				  strerror(rc));
	c->capturer_started = true;
	pthread_getschedparam(c->capturer, &c->sched_capturer.policy, &c->sched_capturer.param);
	return 0;
}

void checkpoint__dispose(struct checkpoint *c)
{
	if (c->capturer_started) {
		pthread_mutex_lock(&c->lock);
		c->job = CAPTURE_QUIT;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->capturer, NULL);
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
	}
	free(c->bitmap);
	free(c->pages);
	free(c->pfns);
	free(c->rec.data);
	disk_copy__dispose(&c->disks);
	page_batch__dispose(&c->batch);
	page_cache__dispose(&c->cache);
	page_encoder__dispose(&c->enc);
	memset(c, 0, sizeof(*c));
}

/* Paused: the harvested pages into staging; the bitmap walk is the floor's own. */
static int stage_pages(struct checkpoint *c, char *err, size_t errlen)
{
	int64_t n = dirty__harvest(c->vm, c->bitmap);
	uint64_t i = 0;
	int rc;

	if (n < 0)
		return util__fail(err, errlen, (int)n, "harvesting dirty pages failed: %s",
				  strerror((int)-n));
	rc = reserve(c, (uint64_t)n * 2, false);
	if (!rc && c->cap < (uint64_t)n) /* more dirty pages than RAM: never */
		rc = -EOVERFLOW;
	if (rc)
		return util__fail(err, errlen, rc, "staging %lld dirty pages failed: %s",
				  (long long)n, strerror(-rc));
	for (uint64_t w = 0; w < c->nbits / 64; w++) {
		uint64_t bits = c->bitmap[w];

		while (bits) {
			uint64_t pfn = w * 64 + (uint64_t)__builtin_ctzll(bits);
			const void *page =
			    memory__gpa_to_hva(c->vm, pfn << LAYOUT_PAGE_SHIFT, STREAM_PAGE_SIZE);

			bits &= bits - 1;
			/* Never taken: the log covers RAM only, and n counts its bits. */
			if (!page || i == (uint64_t)n)
				continue;
			memcpy(c->pages + i * STREAM_PAGE_SIZE, page, STREAM_PAGE_SIZE);
			c->pfns[i++] = pfn;
		}
	}
	c->nr = i;
	return 0;
}

/* Paused: the written disk chunks (read now, before the guest writes them again), then state. */
static int stage_records(struct checkpoint *c, char *err, size_t errlen)
{
	struct stream_writer w;
	int rc;

	c->rec.len = 0;
	stream_writer__init(&w, buf_write, &c->rec);
	disk_copy__harvest(&c->disks);
	c->disks.bytes = 0;
	rc = disk_copy__send(&c->disks, &w, false, NULL, NULL, err, errlen);
	if (rc)
		return rc;
	c->disk_bytes = c->disks.bytes;
	rc = vm_stream__write_state(&w, c->vm);
	if (rc)
		return util__fail(err, errlen, rc, "capturing the VM state failed: %s",
				  strerror(-rc));
	return 0;
}

/*
 * Runs t SCHED_FIFO at prio; false without the privilege.  What t ran under was read once,
 * at init (nothing else changes it): one syscall each way per pause.
 */
static bool boost(pthread_t t, int prio, struct checkpoint_sched *s)
{
	struct sched_param rt = {.sched_priority = prio};

	s->boosted = !pthread_setschedparam(t, SCHED_FIFO, &rt);
	return s->boosted;
}

static void unboost(pthread_t t, struct checkpoint_sched *s)
{
	if (s->boosted)
		pthread_setschedparam(t, s->policy, &s->param);
	s->boosted = false;
}

/*
 * The pause is the guest's downtime, and on a busy host (the lab runs the backup on the same
 * two cores) the threads it waits on lost their core to others: vCPUs took up to 20 ms to
 * park, the copy ran 3x the floor.  For the pause only, the vCPU threads run SCHED_FIFO at
 * priority 1, above every normal thread, and this one and the capturer (when it works
 * beside the copy) at 2, so that they always preempt a vCPU still in guest code (before its
 * kick); the vCPUs block once parked and are unboosted before they resume, the others once
 * the VM runs again.  Without CAP_SYS_NICE the pause simply runs unboosted.  Measured against
 * a backup on the same host: 4096 pages p50 7.8 ms -> 2.4 ms (the floor: 2.4 ms); 16 pages
 * p99 19.6 ms (a vCPU waiting for a core to park) -> 0.6 ms, for 15-35 us of syscalls.
 *
 * What bounds the RT time: the copy and the disk preads grow with the epoch (and staging may
 * realloc up to the guest's RAM), so a pause is boosted only while the last epoch's pages
 * plus 4 KiB disk chunks stay under BOOST_MAX_ITEMS (~2.5 ms of copy): a dirty rate that
 * jumps runs one large epoch boosted, and the next ones unboosted until it falls again.  The
 * kernel's RT throttling (sched_rt_runtime_us, 950 ms of each second by default) is the
 * backstop: other threads always keep 5% of each CPU.
 */
static void boost_pause(struct checkpoint *c, bool parallel)
{
	struct vm *vm = c->vm;

	if (c->nr + c->disk_bytes / 4096 > BOOST_MAX_ITEMS)
		return;
	if (!boost(pthread_self(), 2, &c->sched_self))
		return;
	if (parallel)
		boost(c->capturer, 2, &c->sched_capturer);
	pthread_mutex_lock(&vm->lock); /* thread_started: joinable and not yet joined */
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			boost(vm->vcpus[i].thread, 1, &c->sched_vcpus[i]);
	pthread_mutex_unlock(&vm->lock);
}

/*
 * The vCPUs, still parked: they must never run guest code boosted (vCPUs spinning in ring 3
 * at FIFO would starve this thread, and the host, on as few cores as vCPUs).
 */
static void unboost_vcpus(struct checkpoint *c)
{
	struct vm *vm = c->vm;

	pthread_mutex_lock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			unboost(vm->vcpus[i].thread, &c->sched_vcpus[i]);
	pthread_mutex_unlock(&vm->lock);
}

int checkpoint__capture(struct checkpoint *c, uint64_t epoch, struct output_buffer *const *obs,
			unsigned int nr, char *err, size_t errlen)
{
	uint64_t t0 = progress__now_ns();
	/* The dirty rate changes slowly: the last epoch says if the copy is worth a hand-off. */
	bool parallel = c->nr >= PARALLEL_MIN_PAGES;
	int rc;

	err[0] = '\0';
	boost_pause(c, parallel);
	vm__hold(c->vm);
	if (parallel) {
		pthread_mutex_lock(&c->lock);
		c->job = CAPTURE_ASKED;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
	rc = stage_pages(c, err, errlen);
	if (parallel) {
		pthread_mutex_lock(&c->lock);
		while (c->job != CAPTURE_DONE)
			pthread_cond_wait(&c->cond, &c->lock);
		c->job = CAPTURE_IDLE;
		pthread_mutex_unlock(&c->lock);
		if (!rc && c->capture_rc)
			rc = util__fail(err, errlen, c->capture_rc, "%s", c->capture_err);
	} else if (!rc) {
		rc = stage_records(c, err, errlen);
	}
	/* Frames held so far were sent by the state just captured: they are epoch's. */
	for (unsigned int i = 0; !rc && i < nr; i++)
		rc = output_buffer__close_epoch(obs[i], epoch);
	if (rc && !err[0])
		util__set_err(err, errlen, "closing the output epoch %llu failed",
			      (unsigned long long)epoch);
	unboost_vcpus(c);
	vm__release(c->vm); /* the vCPUs first: see vm.h */
	c->close_ns = progress__now_ns();
	c->pause_ns = c->close_ns - t0;
	unboost(c->capturer, &c->sched_capturer); /* idle since CAPTURE_DONE */
	unboost(pthread_self(), &c->sched_self);
	c->epoch = epoch;
	return rc;
}

/* One staged page, encoded (and delta-encoded against the cache) into the batch. */
static int stream_page(struct checkpoint *c, struct stream_writer *w, uint64_t i)
{
	const uint8_t *page = c->pages + i * STREAM_PAGE_SIZE, *data;
	uint64_t pfn = c->pfns[i];
	uint32_t len;
	int enc = page_encoder__encode(&c->enc, page, c->scratch, &data, &len), rc;

	if (c->cache.nslots) {
		const uint8_t *old = page_cache__lookup(&c->cache, pfn);
		int d = old ? page_data__delta_encode(old, page, c->delta) : -ENOENT;

		if (d == 0) /* rewritten with what the backup holds already */
			return 0;
		if (d > 0 && (uint32_t)d < len) {
			enc = STREAM_PAGE_DELTA;
			data = c->delta;
			len = (uint32_t)d;
		}
		page_cache__insert(&c->cache, pfn, page);
	}
	rc = page_batch__add_encoded(&c->batch, pfn, (uint8_t)enc, data, len);
	if (rc == -ENOSPC) {
		rc = page_batch__write(&c->batch, w);
		if (!rc)
			rc = page_batch__add_encoded(&c->batch, pfn, (uint8_t)enc, data, len);
	}
	return rc;
}

int checkpoint__stream(struct checkpoint *c, struct stream_writer *w, char *err, size_t errlen)
{
	uint64_t start = w->offset;
	int rc = 0;

	for (uint64_t i = 0; !rc && i < c->nr; i++)
		rc = stream_page(c, w, i);
	if (!rc)
		rc = page_batch__write(&c->batch, w);
	/* The captured DISK_WRITES and state records, byte for byte. */
	if (!rc && c->rec.len) {
		rc = w->write(w->ctx, c->rec.data, c->rec.len);
		if (!rc)
			w->offset += c->rec.len;
	}
	c->bytes = w->offset - start;
	grow_ahead(c);
	shrink_idle(c);
	if (rc)
		return util__fail(
		    err, errlen, rc, "writing epoch %llu at stream byte %llu failed: %s",
		    (unsigned long long)c->epoch, (unsigned long long)w->offset, strerror(-rc));
	return 0;
}

int checkpoint__close(struct checkpoint *c, struct stream_writer *w, char *err, size_t errlen)
{
	uint64_t start = w->offset;
	int rc = stream_writer__checkpoint(w, c->epoch);

	c->bytes += w->offset - start;
	if (rc)
		return util__fail(err, errlen, rc, "writing CHECKPOINT(%llu) failed: %s",
				  (unsigned long long)c->epoch, strerror(-rc));
	return 0;
}
