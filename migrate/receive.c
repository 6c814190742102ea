/* The receiver: a save or migration stream's pages and state into a fresh VM, and the ack. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dirty.h"
#include "disk_writes.h"
#include "layout.h"
#include "memory.h"
#include "migrate.h"
#include "page_data.h"
#include "pci.h"
#include "progress.h"
#include "util.h"
#include "virtio_blk.h"
#include "vm.h"
#include "vm_stream.h"

struct receiver {
	struct vm *vm;
	stream_write_fn ready_write; /* live: READY for SYNC; NULL for a file */
	void *ready_ctx;
	bool live;			  /* the stream's LIVE flag */
	bool checkpointed;		  /* replication: the initial sync ends at CHECKPOINT(0) */
	bool disk_written[PCI_MAX_SLOTS]; /* by disk id: DISK_WRITES received */
	uint64_t guest_pages;		  /* pfns from 0 to the end of RAM, holes included */
	uint64_t *received; /* pfns this stream has sent: the only ones a delta may patch */
};

/* page_data_dest_fn: the guest's page, or NULL for a hole or a delta with no base. */
static uint8_t *dest_page(void *ctx, uint64_t pfn, int for_delta)
{
	struct receiver *r = ctx;
	uint64_t bit = 1ULL << (pfn % 64);
	uint8_t *page;

	if (for_delta && !(r->received[pfn / 64] & bit))
		return NULL;
	page = memory__gpa_to_hva(r->vm, pfn << LAYOUT_PAGE_SHIFT, STREAM_PAGE_SIZE);
	if (page)
		r->received[pfn / 64] |= bit;
	return page;
}

int migrate__receive_config(struct stream_reader *r, struct vm_stream_config *cfg, char *err,
			    size_t errlen)
{
	struct stream_record rec;
	char why[MIGRATE_ERR_MAX];
	int rc = stream_reader__header(r);

	if (rc) {
		util__set_err(err, errlen, "%s", r->err);
		return rc;
	}
	rc = stream_reader__next(r, &rec);
	if (rc) {
		util__set_err(err, errlen, "%s", r->err);
		return rc;
	}
	if (rec.type != STREAM_REC_VM_CONFIG) {
		util__set_err(err, errlen,
			      "record %s at stream byte %llu where VM_CONFIG must come "
			      "first; the stream is corrupt",
			      stream__type_to_str(rec.type), (unsigned long long)rec.offset);
		return -EBADMSG;
	}
	rc = vm_stream__parse_config(&rec, cfg, why, sizeof(why));
	if (rc)
		util__set_err(err, errlen, "VM_CONFIG at stream byte %llu: %s",
			      (unsigned long long)rec.offset, why);
	return rc;
}

/* copy_storage: a DISK_WRITES record into the VM's disk disk_id, all checked first. */
static int apply_disk_writes(struct receiver *rcv, const struct stream_record *rec, char *why,
			     size_t whylen)
{
	struct virtio_blk *blk;
	uint32_t id;
	int rc;

	rc = disk_writes__check(rcv->vm, rec->body, rec->length, &blk, &id, why, whylen);
	if (rc)
		return rc;
	/* The source copies this disk: it must be this side's own, writable image. */
	if (virtio_blk__readonly(blk))
		return util__fail(why, whylen, -EBADMSG,
				  "disk %u (%s) is read-only: nothing may be written to it", id,
				  virtio_blk__path(blk));
	if (!virtio_blk__locked(blk))
		return util__fail(
		    why, whylen, -EINVAL,
		    "disk %u (%s): this incoming has --shared-storage but the source "
		    "copies the disk (--copy-storage): give both sides the same option",
		    id, virtio_blk__path(blk));
	rcv->disk_written[id] = true;
	return disk_writes__apply(blk, id, rec->body, why, whylen);
}

/*
 * At END the disks become ours.  A copied one (DISK_WRITES) is made durable
 * first: the guest saw its writes flushed on the source.  A shared image,
 * opened unlocked, is locked now, the source having let go of it just before
 * END.  A writable disk of our own that nothing was copied into, in a live
 * stream, means the source handed it over instead: both sides must agree.
 * 1, or -errno with every disk released (the source takes them back).
 */
static int take_disks(struct receiver *rcv, char *why, size_t whylen)
{
	struct virtio_blk *disks[PCI_MAX_SLOTS];
	unsigned int n = virtio_blk__list(rcv->vm, disks, PCI_MAX_SLOTS);
	int rc = 0;

	for (unsigned int i = 0; !rc && i < n; i++) {
		bool shared = !virtio_blk__locked(disks[i]);

		if (rcv->disk_written[i] && (rc = virtio_blk__sync(disks[i])))
			util__fail(why, whylen, rc, "making disk %u (%s) durable failed: %s", i,
				   virtio_blk__path(disks[i]), strerror(-rc));
		else if (rcv->live && !shared && !rcv->disk_written[i] &&
			 !virtio_blk__readonly(disks[i]))
			rc =
			    util__fail(why, whylen, -EINVAL,
				       "disk %u (%s) did not come with the VM: the source hands it "
				       "over (--shared-storage) but this incoming was started "
				       "without it: give both sides the same option",
				       i, virtio_blk__path(disks[i]));
		else
			rc = virtio_blk__lock(disks[i], why, whylen);
	}
	if (rc)
		virtio_blk__release_all(rcv->vm);
	return rc ? rc : 1;
}

/* SYNC, live only: all before it read and applied, the VM settled: READY back to the source. */
static int send_ready(struct receiver *rcv, char *why, size_t whylen)
{
	struct migrate_ack ready = {.status = 0};
	int rc;

	if (!rcv->ready_write)
		return util__fail(why, whylen, -EBADMSG, "a live handshake record in a file");
	if (!rcv->live)
		return util__fail(why, whylen, -EBADMSG,
				  "a live handshake record in a stream without the LIVE flag");
	memcpy(ready.magic, MIGRATE_READY_MAGIC, sizeof(ready.magic));
	rc = rcv->ready_write(rcv->ready_ctx, &ready, sizeof(ready));
	return rc ? util__fail(why, whylen, rc, "telling the source READY failed: %s",
			       strerror(-rc))
		  : 0;
}

/*
 * Replication: CHECKPOINT(0) closes the initial sync as END closes a migration (state
 * applied, disks durable and ours); any other epoch before it is a broken primary.
 */
static int initial_checkpoint(struct receiver *rcv, struct state_loader *l,
			      const struct stream_record *rec, char *why, size_t whylen)
{
	struct stream_checkpoint c;
	int rc;

	if (!rcv->checkpointed)
		return util__fail(why, whylen, -EBADMSG, "not part of a save or migration stream");
	memcpy(&c, rec->body, sizeof(c)); /* its size is checked by the reader */
	if (c.epoch != 0)
		return util__fail(why, whylen, -EBADMSG,
				  "epoch %llu during the initial sync, which only CHECKPOINT 0 "
				  "ends; the primary's stream is corrupt",
				  (unsigned long long)c.epoch);
	rc = state_loader__apply(l, why, whylen);
	return rc ? rc : take_disks(rcv, why, whylen);
}

/*
 * One record after VM_CONFIG: 1 at END (CHECKPOINT 0 for replication) once the state is
 * applied, 0 to go on, or -errno.
 */
static int receive_record(struct receiver *rcv, struct state_loader *l,
			  const struct stream_record *rec, uint64_t *pages, char *why,
			  size_t whylen)
{
	int rc;

	switch (rec->type) {
	case STREAM_REC_PAGE_DATA:
		rc = page_data__apply(rec->body, rec->length, rcv->guest_pages, dest_page, rcv, why,
				      whylen);
		if (rc < 0)
			return rc;
		*pages += (uint64_t)rc;
		return 0;
	case STREAM_REC_DISK_WRITES:
		return apply_disk_writes(rcv, rec, why, whylen);
	case STREAM_REC_VCPU_STATE:
	case STREAM_REC_VM_STATE:
	case STREAM_REC_DEVICE_STATE:
		return state_loader__record(l, rec, why, whylen);
	case STREAM_REC_SYNC:
		return send_ready(rcv, why, whylen);
	case STREAM_REC_END:
		if (rcv->checkpointed)
			return util__fail(why, whylen, -EBADMSG,
					  "the primary ended replication before the initial sync "
					  "completed (no CHECKPOINT 0)");
		rc = state_loader__apply(l, why, whylen);
		return rc ? rc : take_disks(rcv, why, whylen);
	case STREAM_REC_CHECKPOINT:
		return initial_checkpoint(rcv, l, rec, why, whylen);
	case STREAM_REC_HEARTBEAT:
		if (rcv->checkpointed)
			return util__fail(why, whylen, -EBADMSG,
					  "a heartbeat during the initial sync, where only "
					  "CHECKPOINT 0 ends it");
		/* fall through */
	default:
		snprintf(why, whylen, "not part of a save or migration stream");
		return -EBADMSG;
	}
}

int migrate__receive(struct stream_reader *r, struct vm *vm, stream_write_fn ready_write,
		     void *ready_ctx, struct migrate_job *job, char *err, size_t errlen)
{
	struct receiver rcv = {.vm = vm,
			       .ready_write = ready_write,
			       .ready_ctx = ready_ctx,
			       .live = r->flags & STREAM_FLAG_LIVE,
			       .checkpointed = r->flags & STREAM_FLAG_CHECKPOINTED,
			       .guest_pages = dirty__bitmap_bits(vm)};
	struct migrate_job *own = NULL;
	struct state_loader *l = NULL;
	char why[MIGRATE_ERR_MAX] = "", e[MIGRATE_ERR_MAX] = "";
	uint64_t pages = 0;
	int rc;

	if (!job) {
		rc = migrate_job__new(&own);
		if (rc)
			return rc;
		job = own;
	}
	progress__start(job);
	rcv.received = calloc(rcv.guest_pages / 64 + 1, sizeof(uint64_t));
	rc = rcv.received ? state_loader__init(&l, vm) : -ENOMEM;
	if (rc) {
		snprintf(e, sizeof(e), "setting up the receiver failed: %s", strerror(-rc));
		goto out;
	}
	/* Now, while the source is still in pre-copy: restoring the PIT would wait for it. */
	vm__settle(vm);
	progress__set_phase(job, MIGRATE_PHASE_ACTIVE);
	do {
		struct stream_record rec;
		struct migrate_status *st;

		if (progress__cancelled(job)) {
			rc = -ECANCELED;
			snprintf(e, sizeof(e), "cancelled at stream byte %llu",
				 (unsigned long long)r->offset);
			break;
		}
		rc = stream_reader__next(r, &rec);
		if (rc) {
			snprintf(e, sizeof(e), "%s", r->err);
			break;
		}
		rc = receive_record(&rcv, l, &rec, &pages, why, sizeof(why));
		if (rc < 0)
			snprintf(e, sizeof(e), "record %s at stream byte %llu: %s",
				 stream__type_to_str(rec.type), (unsigned long long)rec.offset,
				 why);
		st = progress__lock(job);
		st->bytes = r->offset;
		st->pages = pages;
		progress__unlock(job);
	} while (rc == 0);
	if (rc == 1)
		rc = 0;
out:
	if (rc)
		util__set_err(err, errlen, "%s", e);
	if (rc == -ECANCELED)
		progress__finish(job, MIGRATE_PHASE_CANCELLED, "%s", e);
	else if (rc)
		progress__finish(job, MIGRATE_PHASE_FAILED, "%s", e);
	else
		progress__finish(job, MIGRATE_PHASE_COMPLETED, NULL);
	state_loader__free(l);
	free(rcv.received);
	migrate_job__free(own);
	return rc;
}

int migrate__ack(stream_write_fn w, void *ctx, int status, const char *msg)
{
	struct migrate_ack ack = {.status = status};

	memcpy(ack.magic, MIGRATE_ACK_MAGIC, sizeof(ack.magic));
	if (msg)
		snprintf(ack.message, sizeof(ack.message), "%s", msg);
	return w(ctx, &ack, sizeof(ack));
}
