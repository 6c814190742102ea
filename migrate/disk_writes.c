/* DISK_WRITES bodies: one checker and one writer for the migration receiver and the backup. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include "disk_writes.h"
#include "pci.h"
#include "stream_format.h"
#include "util.h"
#include "virtio_blk.h"

/* What is wrong with the writes after the header, or NULL; nothing is trusted. */
static const char *check_body(const uint8_t *body, uint32_t len, uint64_t capacity, uint32_t count)
{
	size_t off = sizeof(struct stream_disk_writes_header);

	if (count == 0)
		return "no writes";
	for (uint32_t i = 0; i < count; i++) {
		struct stream_disk_write e;

		if (len - off < sizeof(e))
			return "body ends inside a write's header";
		memcpy(&e, body + off, sizeof(e));
		off += sizeof(e);
		if (e.reserved)
			return "reserved field is not zero";
		if (e.nsectors == 0 || e.sector >= capacity || e.nsectors > capacity - e.sector)
			return "a write outside the disk";
		if (e.nsectors > (len - off) / STREAM_SECTOR_SIZE)
			return "body ends inside a write's data";
		off += (size_t)e.nsectors * STREAM_SECTOR_SIZE; /* a multiple of 8: no padding */
	}
	return off == len ? NULL : "bytes left after the last write";
}

int disk_writes__check(struct vm *vm, const uint8_t *body, uint32_t len, struct virtio_blk **blk,
		       uint32_t *disk_id, char *err, size_t errlen)
{
	struct virtio_blk *disks[PCI_MAX_SLOTS];
	unsigned int n = virtio_blk__list(vm, disks, PCI_MAX_SLOTS);
	struct stream_disk_writes_header h;
	const char *bad;

	if (len < sizeof(h))
		return util__fail(err, errlen, -EBADMSG, "%u bytes, shorter than its header", len);
	memcpy(&h, body, sizeof(h));
	if (h.disk_id >= n)
		return util__fail(err, errlen, -EBADMSG,
				  "disk %u, but this VM has %u: give both sides the same --disk "
				  "options",
				  h.disk_id, n);
	bad = check_body(body, len, virtio_blk__capacity(disks[h.disk_id]), h.count);
	if (bad)
		return util__fail(err, errlen, -EBADMSG, "disk %u: %s", h.disk_id, bad);
	*blk = disks[h.disk_id];
	*disk_id = h.disk_id;
	return 0;
}

int disk_writes__apply(struct virtio_blk *blk, uint32_t disk_id, const uint8_t *body, char *err,
		       size_t errlen)
{
	struct stream_disk_writes_header h;
	size_t off = sizeof(h);

	memcpy(&h, body, sizeof(h));
	for (uint32_t i = 0; i < h.count; i++) {
		struct stream_disk_write e;
		struct iovec iov;
		int rc;

		memcpy(&e, body + off, sizeof(e));
		off += sizeof(e);
		iov = (struct iovec){.iov_base = (void *)(body + off),
				     .iov_len = (size_t)e.nsectors * STREAM_SECTOR_SIZE};
		rc = virtio_blk__write(blk, e.sector * STREAM_SECTOR_SIZE, &iov, 1);
		if (rc)
			return util__fail(err, errlen, rc, "writing disk %u (%s) failed: %s",
					  disk_id, virtio_blk__path(blk), strerror(-rc));
		off += iov.iov_len;
	}
	return 0;
}
