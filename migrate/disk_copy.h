/* Copy storage: a VM's writable disks sent as DISK_WRITES chunks (live migration, replication). */
#ifndef MIGRATE_DISK_COPY_H
#define MIGRATE_DISK_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pci.h"
#include "stream.h"

struct vm;
struct virtio_blk;

/*
 * The writable disks, each with its id in the stream (its place among the VM's disks in
 * PCI slot order) and the bitmap of chunks (VIRTIO_BLK_CHUNK bytes) still to send.  One
 * DISK_WRITES record is built at a time, up to DISK_COPY_BATCH chunks of one disk.
 * Belongs to one thread.
 */
#define DISK_COPY_BATCH 256u /* chunks per DISK_WRITES record: 1 MiB of data */

struct disk_copy_disk {
	struct virtio_blk *blk;
	uint32_t id;
	uint64_t *chunks;
};

struct disk_copy {
	struct disk_copy_disk disks[PCI_MAX_SLOTS];
	unsigned int nr;
	uint8_t *rec; /* the DISK_WRITES record being built */
	size_t len;
	uint32_t count, disk;
	uint64_t sent;	/* chunks written out, resends included */
	uint64_t bytes; /* of disk data in them */
};

/*
 * Called after each DISK_WRITES record is written (a sender's progress, cancel and pacing):
 * 0 to go on, or -errno to stop with it.
 */
typedef int (*disk_copy_after_fn)(void *ctx);

/* Idempotent pair: init is a copy of nothing; dispose frees. */
void disk_copy__init(struct disk_copy *dc);
void disk_copy__dispose(struct disk_copy *dc);
/* Takes every writable disk of vm.  0 or -ENOMEM (with err). */
int disk_copy__add_writable(struct disk_copy *dc, struct vm *vm, char *err, size_t errlen);
/* Write tracking on or off on every disk (on starts with no chunk written).  0 or -errno. */
int disk_copy__track(struct disk_copy *dc, bool on, char *err, size_t errlen);
/*
 * Adds the chunks written since the last harvest to the bitmaps; returns how many they hold.
 * With the I/O loop paused no write is in flight, so the bitmaps hold every write so far.
 */
uint64_t disk_copy__harvest(struct disk_copy *dc);
/*
 * Every chunk of every disk (full), or those in the bitmaps (which it empties), as the
 * images hold them now, in DISK_WRITES records on w; after calls after each record (NULL:
 * none).  0, or -errno: a write error (err names it unless after failed), a read error.
 */
int disk_copy__send(struct disk_copy *dc, struct stream_writer *w, bool full,
		    disk_copy_after_fn after, void *ctx, char *err, size_t errlen);

#endif
