/* DISK_WRITES bodies (STREAM.md): checked whole against a VM's disks, then written. */
#ifndef MIGRATE_DISK_WRITES_H
#define MIGRATE_DISK_WRITES_H
#include <stddef.h>
#include <stdint.h>

struct vm;
struct virtio_blk;

/*
 * Checks a DISK_WRITES body against vm's disks before anything is written:
 * the header, the disk id, and every write inside that disk with the body
 * exactly its writes.  0 with *blk and *disk_id set, or -EBADMSG with err
 * naming the problem.  Whether that disk may be written (read-only, shared)
 * is the caller's rule.
 */
int disk_writes__check(struct vm *vm, const uint8_t *body, uint32_t len, struct virtio_blk **blk,
		       uint32_t *disk_id, char *err, size_t errlen);

/* Writes a body disk_writes__check passed to blk, in order: 0 or -errno with err set. */
int disk_writes__apply(struct virtio_blk *blk, uint32_t disk_id, const uint8_t *body, char *err,
		       size_t errlen);

#endif
