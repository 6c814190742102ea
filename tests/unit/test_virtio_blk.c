/* Unit tests for virtio-blk: requests popped from a hand-built ring, served on a temp image. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include "suites.h"
#include "util.h"
#include "virtio_blk.h"
#include "vring_fixture.h"

#define IMG_SECTORS 64

static char img[64];
static struct vring ring;
static struct vq_chain chain;

/* The byte the fixture image holds at offset off: distinct per sector and position. */
static uint8_t img_byte(uint64_t off)
{
	return (uint8_t)(off / VIRTIO_BLK_SECTOR_SIZE * 7 + off % 251);
}

static void setup(void)
{
	uint8_t buf[IMG_SECTORS * VIRTIO_BLK_SECTOR_SIZE];
	int fd;

	snprintf(img, sizeof(img), "/tmp/twin-blk-test.XXXXXX");
	fd = mkstemp(img);
	ck_assert_int_ge(fd, 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = img_byte(i);
	ck_assert_int_eq(write(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
	vring_init(&ring);
}

static void teardown(void)
{
	vring_dispose(&ring);
	unlink(img);
}

static struct virtio_blk *open_img(bool readonly)
{
	struct virtio_blk *blk;
	char err[256];

	ck_assert_msg(virtio_blk__open(img, readonly, 0, &blk, err, sizeof(err)) == 0, "%s", err);
	return blk;
}

/* Writes a request header into the buffer at gpa. */
static void put_hdr(uint64_t gpa, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = {.type = htole32(type), .sector = htole64(sector)};

	memcpy(vring_hva(&ring, gpa), &h, sizeof(h));
}

/*
 * Pops the next chain and serves it; returns its status byte (at status_gpa)
 * and checks the used ring reports exactly the bytes written, want.
 */
static uint8_t serve(struct virtio_blk *blk, uint64_t status_gpa, uint32_t want)
{
	uint16_t used = vring_used_idx(&ring);
	uint32_t written = 0;
	char why[160];

	ck_assert_int_eq(virtqueue__pop(&ring.vq, &chain), 1);
	ck_assert_msg(virtio_blk__request(blk, &chain, &written, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(written, want);
	virtqueue__push(&ring.vq, chain.head, written);
	ck_assert_uint_eq(vring_used_idx(&ring), (uint16_t)(used + 1));
	ck_assert_uint_eq(vring_used_len(&ring, used), written);
	return *vring_hva(&ring, status_gpa);
}

static void read_file(uint64_t off, void *buf, size_t len)
{
	int fd = open(img, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

START_TEST(test_read)
{
	const struct vring_seg segs[] = {{16, 0}, {1000, 1}, {24, 1}, {1, 1}};
	struct virtio_blk *blk = open_img(false);
	uint64_t gpa[4];

	ck_assert_uint_eq(virtio_blk__capacity(blk), IMG_SECTORS);
	/* Two sectors from sector 3, the data split unevenly over two descriptors. */
	vring_post(&ring, segs, 4, gpa);
	put_hdr(gpa[0], VIRTIO_BLK_T_IN, 3);
	ck_assert_uint_eq(serve(blk, gpa[3], 1024 + 1), VIRTIO_BLK_S_OK);
	for (uint64_t i = 0; i < 1024; i++) {
		uint64_t at = i < 1000 ? gpa[1] + i : gpa[2] + i - 1000;

		ck_assert_uint_eq(*vring_hva(&ring, at), img_byte(3 * 512 + i));
	}
	virtio_blk__close(blk);
}
END_TEST

START_TEST(test_write_flush)
{
	/* The header split over two descriptors, as a driver may do. */
	const struct vring_seg segs[] = {{8, 0}, {8, 0}, {100, 0}, {412, 0}, {1, 1}};
	const struct vring_seg flush[] = {{16, 0}, {1, 1}};
	struct virtio_blk *blk = open_img(false);
	uint8_t got[512], want[512];
	uint64_t gpa[5];

	vring_post(&ring, segs, 5, gpa);
	put_hdr(gpa[0], VIRTIO_BLK_T_OUT, 9);
	memmove(vring_hva(&ring, gpa[1]), vring_hva(&ring, gpa[0]) + 8, 8);
	for (int i = 0; i < 512; i++)
		want[i] = (uint8_t)(i * 13 + 1);
	memcpy(vring_hva(&ring, gpa[2]), want, 100);
	memcpy(vring_hva(&ring, gpa[3]), want + 100, 412);
	ck_assert_uint_eq(serve(blk, gpa[4], 1), VIRTIO_BLK_S_OK); /* the status byte only */
	read_file(9 * 512, got, 512);
	ck_assert_mem_eq(got, want, 512);
	/* Neighbours untouched. */
	read_file(8 * 512, got, 512);
	ck_assert_uint_eq(got[511], img_byte(8 * 512 + 511));
	read_file(10 * 512, got, 1);
	ck_assert_uint_eq(got[0], img_byte(10 * 512));

	vring_post(&ring, flush, 2, gpa);
	put_hdr(gpa[0], VIRTIO_BLK_T_FLUSH, 0);
	ck_assert_uint_eq(serve(blk, gpa[1], 1), VIRTIO_BLK_S_OK);
	virtio_blk__close(blk);
}
END_TEST

START_TEST(test_get_id)
{
	const struct vring_seg segs[] = {{16, 0}, {20, 1}, {1, 1}};
	struct virtio_blk *blk = open_img(false);
	const char *base = strrchr(img, '/') + 1;
	char want[20] = {0};
	uint64_t gpa[3];

	/* The base name of the image, cut or NUL-padded to 20 bytes. */
	memcpy(want, base, strnlen(base, sizeof(want)));
	vring_post(&ring, segs, 3, gpa);
	put_hdr(gpa[0], VIRTIO_BLK_T_GET_ID, 0);
	ck_assert_uint_eq(serve(blk, gpa[2], 20 + 1), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(vring_hva(&ring, gpa[1]), want, 20);
	/* A longer buffer gets the 20 bytes, a shorter one what fits. */
	vring_post(&ring, (const struct vring_seg[]){{16, 0}, {64, 1}, {1, 1}}, 3, gpa);
	put_hdr(gpa[0], VIRTIO_BLK_T_GET_ID, 0);
	ck_assert_uint_eq(serve(blk, gpa[2], 20 + 1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(*vring_hva(&ring, gpa[1] + 20), 0xee);
	vring_post(&ring, (const struct vring_seg[]){{16, 0}, {8, 1}, {1, 1}}, 3, gpa);
	put_hdr(gpa[0], VIRTIO_BLK_T_GET_ID, 0);
	ck_assert_uint_eq(serve(blk, gpa[2], 8 + 1), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(vring_hva(&ring, gpa[1]), want, 8);
	virtio_blk__close(blk);
}
END_TEST

START_TEST(test_readonly)
{
	const struct vring_seg wr[] = {{16, 0}, {512, 0}, {1, 1}};
	const struct vring_seg rd[] = {{16, 0}, {512, 1}, {1, 1}};
	struct virtio_blk *blk = open_img(true), *rw;
	struct iovec iov = {.iov_base = (char[512]){0}, .iov_len = 512};
	uint8_t got[512];
	uint64_t gpa[3];
	char err[256];

	vring_post(&ring, wr, 3, gpa);
	put_hdr(gpa[0], VIRTIO_BLK_T_OUT, 0);
	memset(vring_hva(&ring, gpa[1]), 0x5a, 512);
	ck_assert_uint_eq(serve(blk, gpa[2], 1), VIRTIO_BLK_S_IOERR);
	read_file(0, got, 512);
	ck_assert_uint_eq(got[0], img_byte(0));
	ck_assert_uint_eq(got[511], img_byte(511));
	/* The choke point itself refuses, whoever calls it. */
	ck_assert_int_eq(virtio_blk__write(blk, 0, &iov, 1), -EROFS);
	vring_post(&ring, rd, 3, gpa);
	put_hdr(gpa[0], VIRTIO_BLK_T_IN, 1);
	ck_assert_uint_eq(serve(blk, gpa[2], 512 + 1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(*vring_hva(&ring, gpa[1] + 5), img_byte(512 + 5));
	/* A second reader may share the image; a writer may not. */
	ck_assert_int_eq(virtio_blk__open(img, false, 1, &rw, err, sizeof(err)), -EWOULDBLOCK);
	ck_assert_ptr_nonnull(strstr(err, "in use by another process"));
	virtio_blk__close(blk);
}
END_TEST

START_TEST(test_out_of_range)
{
	static const struct {
		uint32_t type;
		uint64_t sector;
		uint32_t len;
		uint8_t status;
	} cases[] = {
	    {VIRTIO_BLK_T_IN, IMG_SECTORS - 1, 1024, VIRTIO_BLK_S_IOERR},
	    {VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, 1024, VIRTIO_BLK_S_IOERR},
	    {VIRTIO_BLK_T_IN, IMG_SECTORS, 512, VIRTIO_BLK_S_IOERR},
	    {VIRTIO_BLK_T_OUT, UINT64_MAX, 512, VIRTIO_BLK_S_IOERR},
	    {VIRTIO_BLK_T_IN, UINT64_MAX / 512, 512, VIRTIO_BLK_S_IOERR},
	    {VIRTIO_BLK_T_IN, 0, 100, VIRTIO_BLK_S_IOERR}, /* not whole sectors */
	    {VIRTIO_BLK_T_OUT, 2, 513, VIRTIO_BLK_S_IOERR},
	    {VIRTIO_BLK_T_IN, IMG_SECTORS - 1, 512, VIRTIO_BLK_S_OK}, /* the last sector */
	    {VIRTIO_BLK_T_IN, IMG_SECTORS, 0, VIRTIO_BLK_S_OK},	      /* empty, at the end */
	    {99, 0, 512, VIRTIO_BLK_S_UNSUPP},
	};
	struct virtio_blk *blk = open_img(false);
	uint8_t got[1024];
	uint64_t gpa[3];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		bool out = cases[i].type == VIRTIO_BLK_T_OUT;
		const struct vring_seg segs[] = {{16, 0}, {cases[i].len, !out}, {1, 1}};
		/* Errors and writes report the status byte; a good read its data too. */
		uint32_t want = cases[i].status == VIRTIO_BLK_S_OK && !out ? cases[i].len + 1 : 1;

		if (cases[i].len)
			vring_post(&ring, segs, 3, gpa);
		else
			vring_post(&ring, (const struct vring_seg[]){{16, 0}, {1, 1}}, 2, gpa);
		put_hdr(gpa[0], cases[i].type, cases[i].sector);
		if (out)
			memset(vring_hva(&ring, gpa[1]), 0x77, cases[i].len);
		ck_assert_msg(serve(blk, cases[i].len ? gpa[2] : gpa[1], want) == cases[i].status,
			      "case %zu: type %u sector %llu len %u", i, cases[i].type,
			      (unsigned long long)cases[i].sector, cases[i].len);
	}
	/* No refused write reached the image. */
	read_file((IMG_SECTORS - 1) * 512ull, got, 512);
	ck_assert_uint_eq(got[0], img_byte((IMG_SECTORS - 1) * 512ull));
	read_file(2 * 512, got, 513);
	ck_assert_uint_eq(got[0], img_byte(2 * 512));
	virtio_blk__close(blk);
}
END_TEST

START_TEST(test_malformed)
{
	const struct vring_seg short_hdr[] = {{15, 0}, {1, 1}};
	const struct vring_seg no_status[] = {{16, 0}, {512, 0}};
	struct virtio_blk *blk = open_img(false);
	uint32_t written;
	uint64_t gpa[2];
	char why[160];

	vring_post(&ring, short_hdr, 2, gpa);
	ck_assert_int_eq(virtqueue__pop(&ring.vq, &chain), 1);
	ck_assert_int_eq(virtio_blk__request(blk, &chain, &written, why, sizeof(why)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(why, "16-byte header"));
	vring_post(&ring, no_status, 2, gpa);
	put_hdr(gpa[0], VIRTIO_BLK_T_OUT, 0);
	ck_assert_int_eq(virtqueue__pop(&ring.vq, &chain), 1);
	ck_assert_int_eq(virtio_blk__request(blk, &chain, &written, why, sizeof(why)), -EPROTO);
	ck_assert_ptr_nonnull(strstr(why, "status byte"));
	virtio_blk__close(blk);
}
END_TEST

START_TEST(test_open_errors)
{
	struct virtio_blk *blk;
	char err[256];
	int fd;

	ck_assert_int_eq(virtio_blk__open("/nonexistent/x.img", false, 0, &blk, err, sizeof(err)),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "--disk /nonexistent/x.img: cannot open"));
	ck_assert_int_eq(virtio_blk__open("/tmp", true, 0, &blk, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	fd = open(img, O_WRONLY);
	ck_assert_int_eq(ftruncate(fd, 1000), 0);
	close(fd);
	ck_assert_int_eq(virtio_blk__open(img, false, 0, &blk, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "size 1000 is not a whole number of 512-byte sectors"));
	ck_assert_ptr_null(strchr(err, '\n'));
	fd = open(img, O_WRONLY);
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	close(fd);
	blk = open_img(false);
	ck_assert_uint_eq(virtio_blk__capacity(blk), 0);
	virtio_blk__close(blk);
}
END_TEST

Suite *virtio_blk_suite(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *tc = tcase_create("requests");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read);
	tcase_add_test(tc, test_write_flush);
	tcase_add_test(tc, test_get_id);
	tcase_add_test(tc, test_readonly);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_open_errors);
	suite_add_tcase(s, tc);
	return s;
}
