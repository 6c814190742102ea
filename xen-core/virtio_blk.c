/* virtio-blk on a raw image: request parsing, bounds checks and the one write path. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include "iov.h"
#include "log.h"
#include "pci.h"
#include "util.h"
#include "virtio_blk.h"
#include "virtio_pci.h"
#include "virtio_serve.h"

#define BLK_QUEUE_SIZE 256
/* struct virtio_blk_outhdr: type, ioprio, sector; the same for legacy drivers. */
#define BLK_HDR_LEN 16

/* Transitional disks show their config after the 20 legacy registers, in 236 bytes. */
_Static_assert(sizeof(struct virtio_blk_config) <= 236, "virtio-blk config too big for legacy");

struct virtio_blk {
	struct virtio_dev vdev; /* first: the transport hands callbacks a vdev pointer */
	struct virtio_blk_config config;
	int fd;
	bool readonly;
	bool locked; /* holds the image's flock (see virtio_blk__release) */
	char *path;  /* as given, for messages */
	/*
	 * Chunks written since the last harvest, while tracked: set with atomic OR
	 * after each write, taken with an atomic exchange.  track is track_mem
	 * published (release) by virtio_blk__track, NULL when off; track_mem
	 * stays allocated, so a mark under way never writes freed memory.
	 */
	uint64_t *track, *track_mem;
	uint64_t tracked_bytes; /* written while tracked since the last harvest (atomic) */
	uint64_t capacity;	/* sectors */
	void (*write_hook)(void *opaque); /* after a guest write; I/O thread (set it paused) */
	void *write_hook_opaque;
	char name[32];
	char serial[VIRTIO_BLK_ID_BYTES];
	struct vq_chain chain; /* the request being served; I/O thread only */
};

static struct virtio_blk *to_blk(struct virtio_dev *vdev)
{
	return (struct virtio_blk *)vdev;
}

/* The image's lock: shared for a read-only disk, exclusive for a writable one. */
static int take_lock(int fd, bool readonly, const char *path, char *err, size_t errlen)
{
	if (!flock(fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB))
		return 0;
	return util__fail(err, errlen, -errno,
			  "--disk %s: the image is in use by another process (locked): stop "
			  "it or give this VM a copy",
			  path);
}

static int open_image(const char *path, bool readonly, bool lock, unsigned int index,
		      struct virtio_blk **out, char *err, size_t errlen)
{
	struct virtio_blk *blk = NULL;
	const char *base;
	struct stat st;
	int fd, rc;

	fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		util__set_err(err, errlen, "--disk %s: cannot open: %s: give an existing %s image",
			      path, strerror(-rc), readonly ? "readable" : "writable");
		return rc;
	}
	if (lock && (rc = take_lock(fd, readonly, path, err, errlen)))
		goto fail;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		util__set_err(err, errlen, "--disk %s: not a regular file: give a raw image file",
			      path);
		goto fail;
	}
	if (st.st_size % VIRTIO_BLK_SECTOR_SIZE) {
		rc = -EINVAL;
		util__set_err(err, errlen,
			      "--disk %s: size %lld is not a whole number of 512-byte sectors: "
			      "resize it (truncate -s %%512 %s)",
			      path, (long long)st.st_size, path);
		goto fail;
	}
	blk = calloc(1, sizeof(*blk));
	if (blk && !(blk->path = strdup(path))) {
		free(blk);
		blk = NULL;
	}
	if (!blk) {
		rc = -ENOMEM;
		util__set_err(err, errlen, "--disk %s: out of memory", path);
		goto fail;
	}
	blk->fd = fd;
	blk->readonly = readonly;
	blk->locked = lock;
	blk->capacity = st.st_size / VIRTIO_BLK_SECTOR_SIZE;
	snprintf(blk->name, sizeof(blk->name), "virtio-blk %u", index);
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	/* 20 bytes, NUL-padded; a 20-byte name has no terminator, as the spec allows. */
	memcpy(blk->serial, base, strnlen(base, sizeof(blk->serial)));
	*out = blk;
	return 0;
fail:
	close(fd);
	return rc;
}

int virtio_blk__open(const char *path, bool readonly, unsigned int index, struct virtio_blk **out,
		     char *err, size_t errlen)
{
	return open_image(path, readonly, true, index, out, err, errlen);
}

int virtio_blk__open_shared(const char *path, bool readonly, unsigned int index,
			    struct virtio_blk **out, char *err, size_t errlen)
{
	return open_image(path, readonly, false, index, out, err, errlen);
}

void virtio_blk__close(struct virtio_blk *blk)
{
	if (!blk)
		return;
	close(blk->fd);
	free(blk->path);
	free(blk->track_mem);
	free(blk);
}

bool virtio_blk__readonly(const struct virtio_blk *blk)
{
	return blk->readonly;
}

bool virtio_blk__locked(const struct virtio_blk *blk)
{
	return blk->locked;
}

int virtio_blk__sync(struct virtio_blk *blk)
{
	return fdatasync(blk->fd) ? -errno : 0;
}

const char *virtio_blk__path(const struct virtio_blk *blk)
{
	return blk->path;
}

int virtio_blk__release(struct virtio_blk *blk)
{
	if (!blk->readonly && fdatasync(blk->fd))
		return -errno;
	if (blk->locked && flock(blk->fd, LOCK_UN))
		return -errno;
	blk->locked = false;
	return 0;
}

int virtio_blk__release_all(struct vm *vm)
{
	struct virtio_blk *disks[PCI_MAX_SLOTS];
	unsigned int n = virtio_blk__list(vm, disks, PCI_MAX_SLOTS);
	int rc = 0;

	for (unsigned int i = 0; i < n; i++) {
		int r = virtio_blk__release(disks[i]);

		if (!rc)
			rc = r;
	}
	return rc;
}

int virtio_blk__lock(struct virtio_blk *blk, char *err, size_t errlen)
{
	int rc;

	if (blk->locked)
		return 0;
	rc = take_lock(blk->fd, blk->readonly, blk->path, err, errlen);
	if (!rc)
		blk->locked = true;
	return rc;
}

uint64_t virtio_blk__capacity(const struct virtio_blk *blk)
{
	return blk->capacity;
}

/* Moves all of iov from or to the image at off, across short transfers and EINTR. */
static int transfer(int fd, const struct iovec *iov, unsigned int cnt, uint64_t off, bool write)
{
	struct iovec part[VIRTQUEUE_MAX_SIZE];
	size_t total = iov__size(iov, cnt), done = 0;

	while (done < total) {
		unsigned int n = iov__slice(iov, cnt, done, total - done, part);
		ssize_t r =
		    write ? pwritev(fd, part, n, off + done) : preadv(fd, part, n, off + done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* the image shrank under us */
		done += r;
	}
	return 0;
}

int virtio_blk__write(struct virtio_blk *blk, uint64_t offset, const struct iovec *iov,
		      unsigned int cnt)
{
	uint64_t *t, len = iov__size(iov, cnt);
	int rc;

	if (blk->readonly)
		return -EROFS;
	rc = transfer(blk->fd, iov, cnt, offset, true);
	/* After the write: whoever takes the mark then reads what was written. */
	t = __atomic_load_n(&blk->track, __ATOMIC_ACQUIRE);
	if (!rc && t && len) {
		for (uint64_t c = offset / VIRTIO_BLK_CHUNK;
		     c <= (offset + len - 1) / VIRTIO_BLK_CHUNK; c++)
			__atomic_fetch_or(&t[c / 64], 1ULL << (c % 64), __ATOMIC_RELEASE);
		__atomic_fetch_add(&blk->tracked_bytes, len, __ATOMIC_RELAXED);
	}
	if (!rc && blk->write_hook)
		blk->write_hook(blk->write_hook_opaque);
	return rc;
}

uint64_t virtio_blk__chunks(const struct virtio_blk *blk)
{
	return (blk->capacity * VIRTIO_BLK_SECTOR_SIZE + VIRTIO_BLK_CHUNK - 1) / VIRTIO_BLK_CHUNK;
}

void virtio_blk__set_write_hook(struct virtio_blk *blk, void (*fn)(void *opaque), void *opaque)
{
	blk->write_hook_opaque = opaque;
	blk->write_hook = fn;
}

int virtio_blk__track(struct virtio_blk *blk, bool on)
{
	size_t bytes = (virtio_blk__chunks(blk) + 63) / 64 * sizeof(uint64_t);

	if (!on) {
		__atomic_store_n(&blk->track, NULL, __ATOMIC_RELEASE);
		return 0;
	}
	if (!blk->track_mem && !(blk->track_mem = malloc(bytes)))
		return -ENOMEM;
	memset(blk->track_mem, 0, bytes);
	__atomic_store_n(&blk->track, blk->track_mem, __ATOMIC_RELEASE);
	return 0;
}

uint64_t virtio_blk__harvest(struct virtio_blk *blk, uint64_t *bitmap)
{
	uint64_t words = (virtio_blk__chunks(blk) + 63) / 64, n = 0;

	__atomic_store_n(&blk->tracked_bytes, 0, __ATOMIC_RELAXED);
	for (uint64_t w = 0; w < words; w++) {
		if (blk->track_mem)
			bitmap[w] |= __atomic_exchange_n(&blk->track_mem[w], 0, __ATOMIC_ACQUIRE);
		n += __builtin_popcountll(bitmap[w]);
	}
	return n;
}

uint64_t virtio_blk__tracked_bytes(struct virtio_blk *blk)
{
	return __atomic_load_n(&blk->tracked_bytes, __ATOMIC_RELAXED);
}

int virtio_blk__read_at(struct virtio_blk *blk, uint64_t offset, void *buf, size_t len)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};

	return transfer(blk->fd, &iov, 1, offset, false);
}

/* Whether len bytes from sector lie in the image and are whole sectors. */
static bool in_bounds(const struct virtio_blk *blk, uint64_t sector, size_t len)
{
	uint64_t sectors = len / VIRTIO_BLK_SECTOR_SIZE;

	return len % VIRTIO_BLK_SECTOR_SIZE == 0 && sector <= blk->capacity &&
	       sectors <= blk->capacity - sector;
}

/*
 * Executes a request whose data part is data[0..cnt); returns its
 * VIRTIO_BLK_S_* status and sets *filled to the data bytes it wrote there.
 */
static uint8_t execute(struct virtio_blk *blk, uint32_t type, uint64_t sector,
		       const struct iovec *data, unsigned int cnt, size_t *filled)
{
	size_t len = iov__size(data, cnt);
	int rc;

	*filled = 0;
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (!in_bounds(blk, sector, len)) {
			log__debug("%s: %s of %zu bytes at sector %llu is outside the %llu-sector "
				   "image",
				   blk->name, type == VIRTIO_BLK_T_IN ? "read" : "write", len,
				   (unsigned long long)sector, (unsigned long long)blk->capacity);
			return VIRTIO_BLK_S_IOERR;
		}
		if (type == VIRTIO_BLK_T_IN) {
			rc = transfer(blk->fd, data, cnt, sector * VIRTIO_BLK_SECTOR_SIZE, false);
			*filled = rc ? 0 : len;
		} else {
			rc = virtio_blk__write(blk, sector * VIRTIO_BLK_SECTOR_SIZE, data, cnt);
		}
		break;
	case VIRTIO_BLK_T_FLUSH:
		rc = fdatasync(blk->fd) ? -errno : 0;
		break;
	case VIRTIO_BLK_T_GET_ID:
		*filled = iov__from_buf(data, cnt, 0, blk->serial, sizeof(blk->serial));
		return VIRTIO_BLK_S_OK;
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
	if (rc && rc != -EROFS)
		log__warn("%s: request type %u at sector %llu failed: %s", blk->name, type,
			  (unsigned long long)sector, strerror(-rc));
	return rc ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
}

int virtio_blk__request(struct virtio_blk *blk, const struct vq_chain *chain, uint32_t *written,
			char *why, size_t whylen)
{
	const struct iovec *out = chain->iov, *in = chain->iov + chain->nr_out;
	struct iovec data[VIRTQUEUE_MAX_SIZE];
	struct virtio_blk_outhdr hdr;
	unsigned int cnt;
	uint32_t type;
	uint8_t status;
	size_t filled;

	if (chain->out_len < BLK_HDR_LEN || chain->in_len < 1) {
		util__set_err(why, whylen,
			      "request with %u readable and %u writable bytes has no room for its "
			      "16-byte header and status byte",
			      chain->out_len, chain->in_len);
		return -EPROTO;
	}
	/* Copied once: the guest may change its RAM while we look. */
	iov__to_buf(out, chain->nr_out, 0, &hdr, BLK_HDR_LEN);
	type = le32toh(hdr.type);
	if (type == VIRTIO_BLK_T_OUT)
		cnt =
		    iov__slice(out, chain->nr_out, BLK_HDR_LEN, chain->out_len - BLK_HDR_LEN, data);
	else
		cnt = iov__slice(in, chain->nr_in, 0, chain->in_len - 1, data);
	status = execute(blk, type, le64toh(hdr.sector), data, cnt, &filled);
	iov__from_buf(in, chain->nr_in, chain->in_len - 1, &status, 1);
	/* Only bytes we wrote: a driver may trust a used length as filled data. */
	*written = (uint32_t)filled + 1;
	return 0;
}

static int blk_serve(struct virtio_dev *vdev, const struct vq_chain *chain, uint32_t *written,
		     char *why, size_t whylen)
{
	return virtio_blk__request(to_blk(vdev), chain, written, why, whylen);
}

/* I/O thread: serves a batch of requests, notifies once, and comes back for the rest. */
static void blk_queue_notify(struct virtio_dev *vdev, unsigned int q)
{
	virtio_serve__queue(vdev, q, &to_blk(vdev)->chain, VIRTIO_SERVE_BATCH, blk_serve);
}

/* vm__destroy, I/O thread stopped. */
static void blk_release(struct virtio_dev *vdev)
{
	virtio_blk__close(to_blk(vdev));
}

_Static_assert(sizeof(struct virtio_blk_state) == 16, "virtio_blk_state has no padding");

/* Transport lock held, VM and I/O loop paused. */
static void blk_state_save(struct virtio_dev *vdev, void *buf)
{
	struct virtio_blk *blk = to_blk(vdev);
	struct virtio_blk_state st = {
	    .version = VIRTIO_BLK_STATE_VERSION,
	    .readonly = blk->readonly,
	    .capacity = blk->capacity,
	};

	memcpy(buf, &st, sizeof(st));
}

/* Nothing to set on restore: the disk is the image it was opened on, checked here. */
static int blk_state_check(struct virtio_dev *vdev, const void *buf, char *err, size_t errlen)
{
	struct virtio_blk *blk = to_blk(vdev);
	struct virtio_blk_state st;

	memcpy(&st, buf, sizeof(st));
	if (st.version != VIRTIO_BLK_STATE_VERSION || st.readonly > 1 || st.reserved[0] ||
	    st.reserved[1] || st.reserved[2]) {
		util__set_err(err, errlen,
			      "%s: disk state version %u (this build knows %u) or fields unknown: "
			      "restore with the Twin that saved it",
			      blk->name, st.version, VIRTIO_BLK_STATE_VERSION);
		return -EINVAL;
	}
	if (st.capacity != blk->capacity) {
		util__set_err(err, errlen,
			      "%s: the saved guest's disk has %llu bytes, this image %llu: give "
			      "--disk the image the guest used (or a copy of the same size)",
			      blk->name, (unsigned long long)st.capacity * VIRTIO_BLK_SECTOR_SIZE,
			      (unsigned long long)blk->capacity * VIRTIO_BLK_SECTOR_SIZE);
		return -EINVAL;
	}
	if (st.readonly != blk->readonly) {
		util__set_err(err, errlen,
			      "%s: the saved guest's disk was %s, this one is %s: give --disk the "
			      "same read-only setting",
			      blk->name, st.readonly ? "read-only" : "writable",
			      blk->readonly ? "read-only" : "writable");
		return -EINVAL;
	}
	return 0;
}

static const struct virtio_dev_ops blk_ops = {
    .queue_notify = blk_queue_notify,
    .release = blk_release,
    .state_size = sizeof(struct virtio_blk_state),
    .state_save = blk_state_save,
    .state_check = blk_state_check,
};

unsigned int virtio_blk__list(struct vm *vm, struct virtio_blk **out, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int slot = 1; slot < PCI_MAX_SLOTS && n < max; slot++) {
		struct virtio_dev *vdev = virtio_dev__of_pci(pci__device(vm, slot));

		if (vdev && vdev->ops == &blk_ops)
			out[n++] = to_blk(vdev);
	}
	return n;
}

int virtio_blk__register(struct virtio_blk *blk, struct vm *vm, bool legacy)
{
	int rc;

	/* SEG_MAX: a request's data descriptors plus header and status fit one ring. */
	blk->config.capacity = htole64(blk->capacity);
	blk->config.seg_max = htole32(BLK_QUEUE_SIZE - 2);
	blk->vdev = (struct virtio_dev){
	    .name = blk->name,
	    .device_id = VIRTIO_ID_BLOCK,
	    .features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_FLUSH) |
			(blk->readonly ? 1ULL << VIRTIO_BLK_F_RO : 0),
	    .nr_queues = 1,
	    .queue_max_size = BLK_QUEUE_SIZE,
	    .config = &blk->config,
	    .config_len = sizeof(blk->config),
	    .legacy = legacy,
	    .ops = &blk_ops,
	};
	rc = virtio_dev__register(vm, &blk->vdev);
	if (rc)
		virtio_blk__close(blk); /* not the VM's yet: ours to free */
	return rc;
}
