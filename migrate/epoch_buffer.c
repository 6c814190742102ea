/*
 * Replication's backup side: one epoch's records staged off the VM; at its CHECKPOINT the
 * pages and disk writes are applied and its state kept, applied only at activation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include "devstate.h"
#include "dirty.h"
#include "disk_writes.h"
#include "epoch_buffer.h"
#include "layout.h"
#include "memory.h"
#include "page_data.h"
#include "pci.h"
#include "util.h"
#include "virtio_blk.h"
#include "vm.h"
#include "vm_stream.h"

#define EPOCH_CHUNK_PAGES 256u /* staged pages are allocated 1 MiB at a time */

/* One DISK_WRITES record, checked, its body copied. */
struct staged_writes {
	uint8_t *body;
	uint32_t len;
};

struct epoch_buffer {
	struct vm *vm;
	struct state_loader *loader;	/* the open epoch's state records */
	struct state_loader *committed; /* the last committed epoch's, for activation */
	bool state_pending;		/* committed holds state the VM has not got yet */
	bool unusable;			/* a commit failed half-applied */
	uint64_t cap;			/* bytes an open epoch may hold */
	uint64_t guest_pages;		/* pfns from 0 to the end of RAM, holes included */
	uint64_t max_slots;		/* pages the cap leaves room for */
	uint32_t *slot_of;		/* [guest_pages]: staged slot + 1, 0 for none */
	uint64_t *pfn_of;		/* [max_slots]: the pfn in each staged slot */
	uint8_t **chunks;	      /* [max_slots / EPOCH_CHUNK_PAGES + 1], allocated as needed */
	uint64_t other_bytes;	      /* state and DISK_WRITES bodies held */
	struct staged_writes *writes; /* DISK_WRITES bodies, in arrival order */
	unsigned int nr_writes, writes_cap;
	unsigned int vcpu_recs, vm_recs, device_recs, devices;
	bool poisoned; /* a record of the open epoch was refused: discard only */
	int page_err;  /* why the page callback refused a page: -ENOBUFS, -ENOMEM or 0 */
	struct epoch_buffer_stats stats;
};

static uint8_t *slot_page(struct epoch_buffer *eb, uint64_t slot)
{
	return eb->chunks[slot / EPOCH_CHUNK_PAGES] + (slot % EPOCH_CHUNK_PAGES) * STREAM_PAGE_SIZE;
}

int epoch_buffer__new(struct epoch_buffer **out, struct vm *vm, uint64_t cap, char *err,
		      size_t errlen)
{
	struct devstate_info devs[VM_STREAM_MAX_DEVICES + 1];
	struct epoch_buffer *eb;
	int rc;

	*out = NULL;
	if (cap < STREAM_PAGE_SIZE)
		return util__fail(err, errlen, -EINVAL,
				  "an epoch cap of %llu bytes holds no page: give at least %u",
				  (unsigned long long)cap, STREAM_PAGE_SIZE);
	eb = calloc(1, sizeof(*eb));
	if (!eb)
		return util__fail(err, errlen, -ENOMEM, "no memory for the epoch buffer");
	eb->vm = vm;
	eb->cap = cap;
	eb->guest_pages = dirty__bitmap_bits(vm);
	eb->max_slots = cap / STREAM_PAGE_SIZE;
	if (eb->max_slots > eb->guest_pages)
		eb->max_slots = eb->guest_pages;
	if (eb->max_slots > UINT32_MAX - 1) /* slot_of holds slot + 1 in 32 bits */
		eb->max_slots = UINT32_MAX - 1;
	eb->devices = devstate__list(vm, devs, VM_STREAM_MAX_DEVICES + 1);
	eb->slot_of = calloc(eb->guest_pages, sizeof(eb->slot_of[0]));
	eb->pfn_of = calloc(eb->max_slots, sizeof(eb->pfn_of[0]));
	eb->chunks = calloc(eb->max_slots / EPOCH_CHUNK_PAGES + 1, sizeof(eb->chunks[0]));
	rc =
	    eb->slot_of && eb->pfn_of && eb->chunks ? state_loader__init(&eb->loader, vm) : -ENOMEM;
	if (rc == 0)
		rc = state_loader__init(&eb->committed, vm);
	if (rc) {
		epoch_buffer__free(eb);
		return util__fail(err, errlen, rc, "setting up the epoch buffer failed: %s",
				  strerror(-rc));
	}
	*out = eb;
	return 0;
}

void epoch_buffer__free(struct epoch_buffer *eb)
{
	if (!eb)
		return;
	for (uint64_t i = 0; eb->chunks && i <= eb->max_slots / EPOCH_CHUNK_PAGES; i++)
		free(eb->chunks[i]);
	free(eb->chunks);
	for (unsigned int i = 0; i < eb->nr_writes; i++)
		free(eb->writes[i].body);
	free(eb->writes);
	free(eb->pfn_of);
	free(eb->slot_of);
	state_loader__free(eb->loader);
	state_loader__free(eb->committed);
	free(eb);
}

/*
 * page_data_dest_fn: pfn's staged copy, made on first use (from the committed
 * page for a delta); NULL for a hole, or with page_err set past the cap or
 * out of memory.
 */
static uint8_t *stage_page(void *ctx, uint64_t pfn, int for_delta)
{
	struct epoch_buffer *eb = ctx;
	const uint8_t *committed =
	    memory__gpa_to_hva(eb->vm, pfn << LAYOUT_PAGE_SHIFT, STREAM_PAGE_SIZE);
	uint64_t slot = eb->stats.staged_pages;
	uint8_t **chunk;

	if (!committed)
		return NULL;
	if (eb->slot_of[pfn])
		return slot_page(eb, eb->slot_of[pfn] - 1);
	if (slot >= eb->max_slots || eb->other_bytes + (slot + 1) * STREAM_PAGE_SIZE > eb->cap) {
		eb->page_err = -ENOBUFS;
		return NULL;
	}
	chunk = &eb->chunks[slot / EPOCH_CHUNK_PAGES];
	if (!*chunk && !(*chunk = malloc((size_t)EPOCH_CHUNK_PAGES * STREAM_PAGE_SIZE))) {
		eb->page_err = -ENOMEM;
		return NULL;
	}
	if (for_delta)
		memcpy(slot_page(eb, slot), committed, STREAM_PAGE_SIZE);
	eb->slot_of[pfn] = (uint32_t)(slot + 1);
	eb->pfn_of[slot] = pfn;
	eb->stats.staged_pages++;
	eb->stats.staged_bytes += STREAM_PAGE_SIZE;
	return slot_page(eb, slot);
}

static int over_cap(struct epoch_buffer *eb, char *err, size_t errlen)
{
	return util__fail(
	    err, errlen, -ENOBUFS,
	    "the epoch outgrew the backup's cap of %llu bytes (%llu pages and "
	    "%llu bytes of state and disk writes staged): the backup cannot keep up; raise the "
	    "cap or checkpoint more often",
	    (unsigned long long)eb->cap, (unsigned long long)eb->stats.staged_pages,
	    (unsigned long long)eb->other_bytes);
}

static int stage_state(struct epoch_buffer *eb, const struct stream_record *rec, char *err,
		       size_t errlen)
{
	int rc;

	if (eb->stats.staged_bytes + rec->length > eb->cap)
		return over_cap(eb, err, errlen);
	rc = state_loader__record(eb->loader, rec, err, errlen);
	if (rc)
		return rc;
	eb->other_bytes += rec->length;
	eb->stats.staged_bytes += rec->length;
	if (rec->type == STREAM_REC_VCPU_STATE)
		eb->vcpu_recs++;
	else if (rec->type == STREAM_REC_VM_STATE)
		eb->vm_recs++;
	else
		eb->device_recs++;
	return 0;
}

static int stage_writes(struct epoch_buffer *eb, const struct stream_record *rec, char *err,
			size_t errlen)
{
	struct staged_writes *w;
	struct virtio_blk *blk;
	char why[256];
	uint32_t id;
	int rc;

	rc = disk_writes__check(eb->vm, rec->body, rec->length, &blk, &id, why, sizeof(why));
	if (rc)
		return util__fail(err, errlen, rc, "DISK_WRITES: %s", why);
	if (virtio_blk__readonly(blk))
		return util__fail(err, errlen, -EBADMSG,
				  "DISK_WRITES for disk %u (%s), read-only on the backup: give "
				  "both sides the same --disk options",
				  id, virtio_blk__path(blk));
	if (eb->stats.staged_bytes + rec->length > eb->cap)
		return over_cap(eb, err, errlen);
	if (eb->nr_writes == eb->writes_cap) {
		unsigned int cap = eb->writes_cap ? 2 * eb->writes_cap : 16;

		w = realloc(eb->writes, cap * sizeof(*w));
		if (!w)
			return util__fail(err, errlen, -ENOMEM, "no memory to stage disk writes");
		eb->writes = w;
		eb->writes_cap = cap;
	}
	w = &eb->writes[eb->nr_writes];
	w->body = malloc(rec->length);
	if (!w->body)
		return util__fail(err, errlen, -ENOMEM, "no memory to stage disk writes");
	memcpy(w->body, rec->body, rec->length);
	w->len = rec->length;
	eb->nr_writes++;
	eb->other_bytes += rec->length;
	eb->stats.staged_bytes += rec->length;
	return 0;
}

static int stage(struct epoch_buffer *eb, const struct stream_record *rec, char *err, size_t errlen)
{
	int rc;

	switch (rec->type) {
	case STREAM_REC_PAGE_DATA:
		eb->page_err = 0;
		rc = page_data__apply(rec->body, rec->length, eb->guest_pages, stage_page, eb, err,
				      errlen);
		if (rc < 0 && eb->page_err == -ENOBUFS)
			return over_cap(eb, err, errlen);
		if (rc < 0 && eb->page_err == -ENOMEM)
			return util__fail(err, errlen, -ENOMEM,
					  "no memory to stage page %llu of the epoch: lower the "
					  "backup's cap to what this host can hold",
					  (unsigned long long)eb->stats.staged_pages);
		return rc < 0 ? rc : 0;
	case STREAM_REC_VCPU_STATE:
	case STREAM_REC_VM_STATE:
	case STREAM_REC_DEVICE_STATE:
		return stage_state(eb, rec, err, errlen);
	case STREAM_REC_DISK_WRITES:
		return stage_writes(eb, rec, err, errlen);
	default:
		return util__fail(err, errlen, -EPROTONOSUPPORT,
				  "%s is not part of a replication epoch",
				  stream__type_to_str(rec->type));
	}
}

int epoch_buffer__record(struct epoch_buffer *eb, const struct stream_record *rec, char *err,
			 size_t errlen)
{
	int rc;

	if (eb->poisoned)
		return util__fail(err, errlen, -EBADMSG,
				  "an earlier record of this epoch was refused: discard the epoch");
	rc = stage(eb, rec, err, errlen);
	if (rc)
		eb->poisoned = true;
	return rc;
}

/* Empties the open epoch: staged pages forgotten, the state loader cleared by the caller. */
static void reset(struct epoch_buffer *eb)
{
	for (uint64_t i = 0; i < eb->stats.staged_pages; i++)
		eb->slot_of[eb->pfn_of[i]] = 0;
	eb->stats.staged_pages = 0;
	eb->stats.staged_bytes = 0;
	eb->other_bytes = 0;
	for (unsigned int i = 0; i < eb->nr_writes; i++)
		free(eb->writes[i].body);
	eb->nr_writes = 0;
	eb->vcpu_recs = eb->vm_recs = eb->device_recs = 0;
	eb->poisoned = false;
}

/* The staged disk writes, in order, then each disk written made durable: 0 or -errno, err set. */
static int write_disks(struct epoch_buffer *eb, char *err, size_t errlen)
{
	struct virtio_blk *disks[PCI_MAX_SLOTS];
	bool written[PCI_MAX_SLOTS] = {false};
	unsigned int n = virtio_blk__list(eb->vm, disks, PCI_MAX_SLOTS);
	int rc;

	for (unsigned int i = 0; i < eb->nr_writes; i++) {
		struct stream_disk_writes_header h;

		memcpy(&h, eb->writes[i].body, sizeof(h)); /* checked when staged */
		written[h.disk_id] = true;
		rc = disk_writes__apply(disks[h.disk_id], h.disk_id, eb->writes[i].body, err,
					errlen);
		if (rc)
			return rc;
	}
	for (unsigned int d = 0; d < n; d++)
		if (written[d] && (rc = virtio_blk__sync(disks[d])))
			return util__fail(err, errlen, rc, "making disk %u (%s) durable failed: %s",
					  d, virtio_blk__path(disks[d]), strerror(-rc));
	return 0;
}

int epoch_buffer__commit(struct epoch_buffer *eb, uint64_t epoch, char *err, size_t errlen)
{
	uint64_t start = util__mono_ns();
	struct state_loader *fresh;
	char why[512];
	int rc;

	if (eb->stats.committed && epoch <= eb->stats.epoch)
		return util__fail(err, errlen, -EINVAL,
				  "CHECKPOINT %llu after epoch %llu was committed: epochs must "
				  "strictly increase; the primary's stream is corrupt",
				  (unsigned long long)epoch, (unsigned long long)eb->stats.epoch);
	if (eb->poisoned)
		return util__fail(err, errlen, -EBADMSG,
				  "CHECKPOINT %llu closes an epoch with a refused record: "
				  "discard it",
				  (unsigned long long)epoch);
	if (eb->vcpu_recs != eb->vm->nr_vcpus || eb->vm_recs != 1 || eb->device_recs != eb->devices)
		return util__fail(
		    err, errlen, -EBADMSG,
		    "CHECKPOINT %llu closes an epoch with %u of %u VCPU_STATE, %u of "
		    "1 VM_STATE and %u of %u DEVICE_STATE: every epoch must carry the "
		    "whole state; the primary's stream is corrupt",
		    (unsigned long long)epoch, eb->vcpu_recs, eb->vm->nr_vcpus, eb->vm_recs,
		    eb->device_recs, eb->devices);
	/* The next epoch's empty loader, made first: past here nothing may fail for memory. */
	rc = state_loader__init(&fresh, eb->vm);
	if (rc)
		return util__fail(err, errlen, rc,
				  "CHECKPOINT %llu: no memory for the next epoch's state, the "
				  "epoch is still open",
				  (unsigned long long)epoch);
	for (uint64_t i = 0; i < eb->stats.staged_pages; i++)
		memcpy(memory__gpa_to_hva(eb->vm, eb->pfn_of[i] << LAYOUT_PAGE_SHIFT,
					  STREAM_PAGE_SIZE),
		       slot_page(eb, i), STREAM_PAGE_SIZE);
	rc = write_disks(eb, why, sizeof(why));
	reset(eb);
	/* The epoch's state, complete and checked, replaces the last: a swap, no vCPU ioctl. */
	state_loader__free(eb->committed);
	eb->committed = eb->loader;
	eb->loader = fresh;
	eb->state_pending = true;
	if (rc) {
		eb->poisoned = true;
		eb->unusable = true;
		return util__fail(err, errlen, rc,
				  "CHECKPOINT %llu failed half-applied, the backup is unusable "
				  "and must be rebuilt from the primary: %s",
				  (unsigned long long)epoch, why);
	}
	eb->stats.committed = true;
	eb->stats.epoch = epoch;
	eb->stats.last_commit_ns = util__mono_ns() - start;
	return 0;
}

int epoch_buffer__discard(struct epoch_buffer *eb)
{
	int rc;

	reset(eb);
	state_loader__free(eb->loader); /* the only way to drop its records unapplied */
	rc = state_loader__init(&eb->loader, eb->vm);
	if (rc)
		eb->poisoned = true; /* nothing is staged until a discard succeeds */
	return rc;
}

int epoch_buffer__restore_state(struct epoch_buffer *eb, char *err, size_t errlen)
{
	char why[512];
	int rc;

	if (eb->unusable)
		return util__fail(err, errlen, -EIO,
				  "the backup's image is half-applied (a commit failed): it "
				  "cannot run; rebuild it from the primary");
	if (!eb->state_pending)
		return 0; /* the VM holds the initial sync's state, or this one already */
	rc = state_loader__apply(eb->committed, why, sizeof(why));
	eb->state_pending = false;
	if (rc) {
		eb->unusable = true;
		return util__fail(err, errlen, rc,
				  "restoring epoch %llu's state failed, the VM must not run: %s",
				  (unsigned long long)eb->stats.epoch, why);
	}
	return 0;
}

struct epoch_buffer_stats epoch_buffer__stats(const struct epoch_buffer *eb)
{
	return eb->stats;
}
