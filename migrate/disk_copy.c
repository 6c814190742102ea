/* Copy storage: chunks of the writable disks, tracked and sent in DISK_WRITES records. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "disk_copy.h"
#include "util.h"
#include "virtio_blk.h"

#define REC_MAX                                                                                    \
	(sizeof(struct stream_disk_writes_header) +                                                \
	 DISK_COPY_BATCH * (sizeof(struct stream_disk_write) + VIRTIO_BLK_CHUNK))

void disk_copy__init(struct disk_copy *dc)
{
	memset(dc, 0, sizeof(*dc));
}

void disk_copy__dispose(struct disk_copy *dc)
{
	for (unsigned int i = 0; i < dc->nr; i++)
		free(dc->disks[i].chunks);
	free(dc->rec);
	disk_copy__init(dc);
}

int disk_copy__add_writable(struct disk_copy *dc, struct vm *vm, char *err, size_t errlen)
{
	struct virtio_blk *all[PCI_MAX_SLOTS];
	unsigned int n = virtio_blk__list(vm, all, PCI_MAX_SLOTS);

	for (unsigned int i = 0; i < n; i++) {
		uint64_t words = (virtio_blk__chunks(all[i]) + 63) / 64;
		struct disk_copy_disk *d = &dc->disks[dc->nr];

		if (virtio_blk__readonly(all[i]))
			continue;
		*d = (struct disk_copy_disk){.blk = all[i], .id = i};
		d->chunks = calloc(words ? words : 1, sizeof(uint64_t));
		if (!d->chunks)
			return util__fail(err, errlen, -ENOMEM,
					  "out of memory for the disk bitmaps");
		dc->nr++;
	}
	if (dc->nr && !dc->rec && !(dc->rec = malloc(REC_MAX)))
		return util__fail(err, errlen, -ENOMEM, "out of memory for the disk records");
	return 0;
}

int disk_copy__track(struct disk_copy *dc, bool on, char *err, size_t errlen)
{
	for (unsigned int i = 0; i < dc->nr; i++) {
		int rc = virtio_blk__track(dc->disks[i].blk, on);

		if (rc)
			return util__fail(err, errlen, rc,
					  "tracking writes to the disk %s failed: %s",
					  virtio_blk__path(dc->disks[i].blk), strerror(-rc));
	}
	return 0;
}

uint64_t disk_copy__harvest(struct disk_copy *dc)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < dc->nr; i++)
		n += virtio_blk__harvest(dc->disks[i].blk, dc->disks[i].chunks);
	return n;
}

/* Writes the record being built, then runs after. */
static int flush(struct disk_copy *dc, struct stream_writer *w, disk_copy_after_fn after, void *ctx,
		 char *err, size_t errlen)
{
	struct stream_disk_writes_header h = {.disk_id = dc->disk, .count = dc->count};
	const void *part = dc->rec;
	size_t len = dc->len;
	int rc;

	if (!dc->count)
		return 0;
	memcpy(dc->rec, &h, sizeof(h));
	rc = stream_writer__record(w, STREAM_REC_DISK_WRITES, &part, &len, 1);
	dc->count = 0;
	if (rc)
		return util__fail(err, errlen, rc,
				  "writing disk writes at stream byte %llu failed: %s",
				  (unsigned long long)w->offset, strerror(-rc));
	return after ? after(ctx) : 0;
}

/* One chunk as the image holds it now, into the record being built. */
static int add_chunk(struct disk_copy *dc, const struct disk_copy_disk *d, uint64_t chunk,
		     struct stream_writer *w, disk_copy_after_fn after, void *ctx, char *err,
		     size_t errlen)
{
	const uint64_t per = VIRTIO_BLK_CHUNK / STREAM_SECTOR_SIZE;
	uint64_t sector = chunk * per, left = virtio_blk__capacity(d->blk) - sector;
	struct stream_disk_write e = {.sector = sector,
				      .nsectors = (uint32_t)(left < per ? left : per)};
	int rc;

	if (dc->count && (dc->disk != d->id || dc->count == DISK_COPY_BATCH)) {
		rc = flush(dc, w, after, ctx, err, errlen);
		if (rc)
			return rc;
	}
	if (!dc->count) {
		dc->disk = d->id;
		dc->len = sizeof(struct stream_disk_writes_header);
	}
	memcpy(dc->rec + dc->len, &e, sizeof(e));
	rc = virtio_blk__read_at(d->blk, sector * STREAM_SECTOR_SIZE, dc->rec + dc->len + sizeof(e),
				 (size_t)e.nsectors * STREAM_SECTOR_SIZE);
	if (rc)
		return util__fail(err, errlen, rc, "reading the disk %s failed: %s",
				  virtio_blk__path(d->blk), strerror(-rc));
	dc->len += sizeof(e) + (size_t)e.nsectors * STREAM_SECTOR_SIZE; /* a multiple of 8 */
	dc->count++;
	dc->sent++;
	dc->bytes += (uint64_t)e.nsectors * STREAM_SECTOR_SIZE;
	return 0;
}

int disk_copy__send(struct disk_copy *dc, struct stream_writer *w, bool full,
		    disk_copy_after_fn after, void *ctx, char *err, size_t errlen)
{
	int rc = 0;

	for (unsigned int i = 0; !rc && i < dc->nr; i++) {
		struct disk_copy_disk *d = &dc->disks[i];
		uint64_t n = virtio_blk__chunks(d->blk);

		for (uint64_t w64 = 0; !rc && w64 < (n + 63) / 64; w64++) {
			uint64_t bits = full ? ~0ULL : d->chunks[w64];

			while (!rc && bits) {
				uint64_t c = w64 * 64 + (uint64_t)__builtin_ctzll(bits);

				bits &= bits - 1;
				if (c < n)
					rc = add_chunk(dc, d, c, w, after, ctx, err, errlen);
			}
		}
		memset(d->chunks, 0, (n + 63) / 64 * sizeof(uint64_t));
	}
	return rc ? rc : flush(dc, w, after, ctx, err, errlen);
}
