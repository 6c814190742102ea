/* virtio-blk (device id 2) on a raw image file: read, write, flush and get-id on the I/O thread. */
#ifndef XEN_CORE_VIRTIO_BLK_H
#define XEN_CORE_VIRTIO_BLK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm;
struct vq_chain;
struct virtio_blk;

#define VIRTIO_BLK_SECTOR_SIZE 512

/*
 * Opens the raw image at path, read-write or read-only, and locks it (flock:
 * exclusive, or shared when read-only) so two VMs never write one image.  The
 * image must be a whole number of 512-byte sectors.  index numbers the disk
 * in logs.  The serial (T_GET_ID) is the image's base name, cut to 20 bytes.
 * Returns 0 or -errno with one line in err naming the problem and the fix.
 */
int virtio_blk__open(const char *path, bool readonly, unsigned int index, struct virtio_blk **out,
		     char *err, size_t errlen);
/* Closes a disk that was never registered (a VM frees its own); NULL is a no-op. */
void virtio_blk__close(struct virtio_blk *blk);
bool virtio_blk__readonly(const struct virtio_blk *blk);
/* Whether this side holds the image's lock (not opened shared, or taken since). */
bool virtio_blk__locked(const struct virtio_blk *blk);
/* The image's writes made durable (fdatasync): 0 or -errno. */
int virtio_blk__sync(struct virtio_blk *blk);
const char *virtio_blk__path(const struct virtio_blk *blk);
/* The VM's disks in PCI slot order: up to max of them into out; returns how many. */
unsigned int virtio_blk__list(struct vm *vm, struct virtio_blk **out, unsigned int max);

/*
 * Shared storage handed over by a live migration (both hosts see the same
 * image).  The destination opens the image without its lock (open_shared) and
 * takes the lock once it has the VM (lock).  The source, VM and I/O loop
 * paused, flushes its writes to the image and lets go of the lock (release)
 * just before END; if the migration then fails it takes the lock back (lock).
 * lock: 0, or -EWOULDBLOCK with err naming the image (the other host holds it).
 */
int virtio_blk__open_shared(const char *path, bool readonly, unsigned int index,
			    struct virtio_blk **out, char *err, size_t errlen);
int virtio_blk__release(struct virtio_blk *blk);
/*
 * Every disk of vm released: a destination that refuses a VM, so that the
 * source, told why, can take its images back at once.  Returns the first error.
 */
int virtio_blk__release_all(struct vm *vm);
int virtio_blk__lock(struct virtio_blk *blk, char *err, size_t errlen);
/*
 * Before vm__start: makes blk a virtio-pci function of vm with one request
 * queue, modern-only or, with legacy, transitional (requests are the same for
 * legacy drivers).  Consumes blk: the VM frees it in vm__destroy, or this
 * call does on failure.  0 or -errno, logged.
 */
int virtio_blk__register(struct virtio_blk *blk, struct vm *vm, bool legacy);

/* Size of the image in sectors. */
uint64_t virtio_blk__capacity(const struct virtio_blk *blk);

/* The DEVICE_STATE version of struct virtio_blk_state (migrate/STREAM.md). */
#define VIRTIO_BLK_STATE_VERSION 1

/*
 * The disk's own state, after the transport's in its DEVICE_STATE: what the
 * guest saw of the image.  A restore refuses an image of another size or
 * another read-only setting (the guest's file systems were laid out on that).
 */
struct virtio_blk_state {
	uint32_t version; /* VIRTIO_BLK_STATE_VERSION */
	uint8_t readonly; /* 0 or 1 */
	uint8_t reserved[3];
	uint64_t capacity; /* sectors of 512 bytes */
};

/*
 * I/O thread: carries out one request chain (virtio 1.x, 5.2.6), synchronously
 * (a slow flush delays the VM's other device I/O meanwhile), and writes
 * its status byte: T_IN, T_OUT, T_FLUSH and T_GET_ID, VIRTIO_BLK_S_IOERR for a
 * transfer outside the image, not a whole number of sectors, a failed I/O or
 * a write to a read-only disk, VIRTIO_BLK_S_UNSUPP for other types.  Sets
 * *written to the bytes it wrote into the chain: the status byte, plus the
 * data of a good T_IN or the serial of T_GET_ID.  Returns 0, or -EPROTO with
 * the reason in why if the chain has no room for the header or status byte
 * (the caller then marks the device broken).
 */
int virtio_blk__request(struct virtio_blk *blk, const struct vq_chain *chain, uint32_t *written,
			char *why, size_t whylen);

/*
 * The single path by which guest data reaches the image: writes all of iov at
 * byte offset.  Disk replication hooks in here.  I/O thread.  0, -EROFS on a
 * read-only disk, or -errno.
 */
int virtio_blk__write(struct virtio_blk *blk, uint64_t offset, const struct iovec *iov,
		      unsigned int cnt);

/*
 * Copy storage (a live migration that moves the image): writes are tracked in
 * chunks of VIRTIO_BLK_CHUNK bytes.  track(on) starts with none written;
 * harvest adds to bitmap (virtio_blk__chunks bits, rounded up to 64) the
 * chunks written since it last ran, and returns how many bitmap now holds.  A chunk is
 * marked after its write completes, so reading it after the harvest sees the
 * write; with the I/O loop paused nothing is in flight.  tracked_bytes: the
 * bytes the guest wrote since the last harvest (rewrites counted again), read
 * from any thread.  read_at: the image's bytes, for sending.
 */
#define VIRTIO_BLK_CHUNK 4096u
uint64_t virtio_blk__chunks(const struct virtio_blk *blk);
/*
 * Replication's event mode: fn(opaque) runs on the I/O thread after each
 * guest write that completed, to ask for a checkpoint at once; it must not
 * block.  NULL clears.  Set or clear it with the VM's I/O loop paused
 * (ioloop__pause), so no call is under way and none sees a torn hook.
 */
void virtio_blk__set_write_hook(struct virtio_blk *blk, void (*fn)(void *opaque), void *opaque);
int virtio_blk__track(struct virtio_blk *blk, bool on);
uint64_t virtio_blk__harvest(struct virtio_blk *blk, uint64_t *bitmap);
uint64_t virtio_blk__tracked_bytes(struct virtio_blk *blk);
int virtio_blk__read_at(struct virtio_blk *blk, uint64_t offset, void *buf, size_t len);

#endif
