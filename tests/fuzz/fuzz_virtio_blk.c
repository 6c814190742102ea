/* Fuzz target for virtio-blk requests: any chain gets a status that matches what reached the image.
 */
/*
 * With libFuzzer (clang), from the top of the source tree (virtio_blk.c references the
 * transport, so the whole of xen-core links in):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ixen-core \
 *     tests/fuzz/fuzz_virtio_blk.c xen-core/[a-z]*.c -lpthread -o fuzz-virtio-blk
 *   mkdir -p /tmp/blk-corpus && cp -r tests/fuzz/corpus/virtio_blk/. /tmp/blk-corpus/
 *   ./fuzz-virtio-blk -max_total_time=60 -max_len=512 /tmp/blk-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 *
 * Input: byte 0 bit 0 opens the disk read-only; bytes 1 and 2 give the readable and
 * writable descriptor counts (each mod 5); then a little-endian u16 per descriptor, its
 * length mod 1300; the rest fills the readable descriptors in order (the request header
 * first), zero-padded.  The image is 16 sectors in a memfd, reset for every input.
 */
#include <endian.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include "fuzz_target.h"
#include "virtio_blk.h"
#include "virtqueue.h"

#define SECTORS	  16
#define IMG_SIZE  (SECTORS * VIRTIO_BLK_SECTOR_SIZE)
#define MAX_SEGS  4
#define MAX_LEN	  1300
#define ARENA	  (2 * MAX_SEGS * MAX_LEN)
#define HDR_LEN	  16
#define UNWRITTEN 0xee

enum { CLS_OK, CLS_IOERR, CLS_UNSUPP, CLS_PROTO };
static const char *const classes[] = {"ok-", "ioerr-", "unsupp-", "proto-"};

static int img_fd = -1;
static char img_path[64];
static uint8_t before[IMG_SIZE], after[IMG_SIZE];
static uint8_t arena[ARENA], arena_in[ARENA];
static struct vq_chain chain;

static uint8_t pattern(size_t off)
{
	return (uint8_t)(off * 31 + off / 512);
}

static const char *setup(void)
{
	if (img_fd >= 0)
		return NULL;
	img_fd = memfd_create("fuzz-virtio-blk", MFD_CLOEXEC);
	if (img_fd < 0)
		return "memfd_create failed";
	snprintf(img_path, sizeof(img_path), "/proc/self/fd/%d", img_fd);
	for (size_t i = 0; i < IMG_SIZE; i++)
		before[i] = pattern(i);
	return NULL;
}

/* Builds the chain from the input in arena, the writable part filled with UNWRITTEN. */
static void build_chain(const uint8_t *data, size_t size)
{
	unsigned int nr_out = size > 1 ? data[1] % (MAX_SEGS + 1) : 0;
	unsigned int nr_in = size > 2 ? data[2] % (MAX_SEGS + 1) : 0;
	size_t pos = 3 + 2 * (nr_out + nr_in), used = 0, off = 0;

	memset(&chain, 0, sizeof(chain));
	chain.nr_out = nr_out;
	chain.nr_in = nr_in;
	memset(arena, UNWRITTEN, sizeof(arena));
	for (unsigned int i = 0; i < nr_out + nr_in; i++) {
		size_t at = 3 + 2 * i;
		uint16_t len =
		    at + 1 < size ? (uint16_t)(data[at] | data[at + 1] << 8) % MAX_LEN : 0;

		chain.iov[i] = (struct iovec){.iov_base = arena + off, .iov_len = len};
		if (i < nr_out) {
			chain.out_len += len;
			for (size_t b = 0; b < len; b++, used++)
				arena[off + b] = pos + used < size ? data[pos + used] : 0;
		} else {
			chain.in_len += len;
		}
		off += len;
	}
}

/* The readable bytes [from, from + len) of the chain, copied to buf. */
static void out_bytes(size_t from, uint8_t *buf, size_t len)
{
	size_t seen = 0;

	for (unsigned int i = 0; i < chain.nr_out; i++) {
		const uint8_t *p = chain.iov[i].iov_base;

		for (size_t b = 0; b < chain.iov[i].iov_len; b++, seen++)
			if (seen >= from && seen < from + len)
				buf[seen - from] = p[b];
	}
}

/* Pointer to byte k of the writable part. */
static uint8_t *in_byte(size_t k)
{
	for (unsigned int i = chain.nr_out; i < chain.nr_out + chain.nr_in; i++) {
		if (k < chain.iov[i].iov_len)
			return (uint8_t *)chain.iov[i].iov_base + k;
		k -= chain.iov[i].iov_len;
	}
	return NULL;
}

/* Checks a served request against what the device should have done; sets *cls. */
static const char *check_served(bool readonly, uint32_t written, int *cls)
{
	struct virtio_blk_outhdr h;
	size_t data_len = chain.in_len - 1, out_data = chain.out_len - HDR_LEN, filled;
	uint8_t status = *in_byte(chain.in_len - 1), want, tmp[MAX_SEGS * MAX_LEN];
	uint64_t sector;
	bool in_range;
	uint32_t type;

	out_bytes(0, (uint8_t *)&h, HDR_LEN);
	type = le32toh(h.type);
	sector = le64toh(h.sector);
	if (type == VIRTIO_BLK_T_OUT)
		data_len = out_data;
	in_range = data_len % VIRTIO_BLK_SECTOR_SIZE == 0 && sector <= SECTORS &&
		   data_len / VIRTIO_BLK_SECTOR_SIZE <= SECTORS - sector;
	switch (type) {
	case VIRTIO_BLK_T_IN:
		want = in_range ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_OUT:
		want = in_range && !readonly ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_FLUSH:
	case VIRTIO_BLK_T_GET_ID:
		want = VIRTIO_BLK_S_OK;
		break;
	default:
		want = VIRTIO_BLK_S_UNSUPP;
	}
	if (status != want)
		return "status differs from the one the request calls for";
	/* Used length: the status byte, plus a good read's data or the serial. */
	filled = 0;
	if (type == VIRTIO_BLK_T_IN && want == VIRTIO_BLK_S_OK)
		filled = data_len;
	else if (type == VIRTIO_BLK_T_GET_ID)
		filled = data_len < 20 ? data_len : 20;
	if (written != filled + 1)
		return "written is not the bytes the device wrote";
	*cls = want == VIRTIO_BLK_S_OK	    ? CLS_OK
	       : want == VIRTIO_BLK_S_IOERR ? CLS_IOERR
					    : CLS_UNSUPP;
	/* The image: changed only by a good write, and then exactly by its data. */
	if (type == VIRTIO_BLK_T_OUT && want == VIRTIO_BLK_S_OK) {
		out_bytes(HDR_LEN, tmp, out_data);
		if (memcmp(after + sector * VIRTIO_BLK_SECTOR_SIZE, tmp, out_data) ||
		    memcmp(after, before, sector * VIRTIO_BLK_SECTOR_SIZE) ||
		    memcmp(after + sector * VIRTIO_BLK_SECTOR_SIZE + out_data,
			   before + sector * VIRTIO_BLK_SECTOR_SIZE + out_data,
			   IMG_SIZE - sector * VIRTIO_BLK_SECTOR_SIZE - out_data))
			return "a write left the image other than its data says";
	} else if (memcmp(after, before, IMG_SIZE)) {
		return "the image changed without a good write";
	}
	/* The writable part: a good read fills it; get-id writes the serial; else untouched. */
	for (size_t k = 0; k + 1 < chain.in_len; k++) {
		uint8_t got = *in_byte(k), exp = UNWRITTEN;

		if (type == VIRTIO_BLK_T_IN && want == VIRTIO_BLK_S_OK)
			exp = before[sector * VIRTIO_BLK_SECTOR_SIZE + k];
		else if (type == VIRTIO_BLK_T_GET_ID && k < 20)
			continue; /* the serial; its content is the unit tests' business */
		if (got != exp)
			return "the writable part holds bytes the request did not call for";
	}
	return NULL;
}

static const char *fuzz_virtio_blk__check(const uint8_t *data, size_t size, int *cls)
{
	bool readonly = size > 0 && (data[0] & 1);
	struct virtio_blk *blk;
	const char *broken;
	char why[160] = "", err[256];
	uint32_t written = 0;
	int rc;

	broken = setup();
	if (broken)
		return broken;
	if (pwrite(img_fd, before, IMG_SIZE, 0) != IMG_SIZE || ftruncate(img_fd, IMG_SIZE))
		return "resetting the image failed";
	if (virtio_blk__open(img_path, readonly, 0, &blk, err, sizeof(err)))
		return "opening the image failed";
	build_chain(data, size);
	memcpy(arena_in, arena, sizeof(arena));
	rc = virtio_blk__request(blk, &chain, &written, why, sizeof(why));
	virtio_blk__close(blk);
	if (pread(img_fd, after, IMG_SIZE, 0) != IMG_SIZE)
		return "reading the image back failed";
	if (chain.out_len < HDR_LEN || chain.in_len < 1) {
		*cls = CLS_PROTO;
		if (rc != -EPROTO)
			return "a chain without header or status byte was served";
		if (!why[0] || strchr(why, '\n'))
			return "a refused chain has no one-line reason";
		if (memcmp(after, before, IMG_SIZE) || memcmp(arena, arena_in, sizeof(arena)))
			return "a refused chain changed the image or the guest's buffers";
		return NULL;
	}
	if (rc)
		return "a well-formed chain was refused";
	return check_served(readonly, written, cls);
}

const struct fuzz_target fuzz_target = {
    .name = "virtio-blk",
    .classes = classes,
    .nclasses = 4,
    .check = fuzz_virtio_blk__check,
};
