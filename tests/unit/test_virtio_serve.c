/* Check suite for bounded queue service: batches cap one call, the re-kick loses no chain. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "suites.h"
#include "virtio_pci.h"
#include "virtio_serve.h"
#include "vring_fixture.h"

#define BATCH 4

static struct vring ring;
static struct virtio_dev dev;
static struct vq_chain chain;
static unsigned int handled, refuse_at; /* refuse_at: 1-based chain fn refuses; 0: none */

/* A transport queue over the fixture's ring, as virtio-pci leaves it at DRIVER_OK. */
static void setup(void)
{
	struct virtio_queue *vq = &dev.queues[0];

	vring_init(&ring);
	/* notify_used takes the device lock and kicks the VM's idle vCPUs (none here). */
	pthread_mutex_init(&ring.vm.lock, NULL);
	pthread_cond_init(&ring.vm.wake, NULL);
	memset(&dev, 0, sizeof(dev));
	pthread_mutex_init(&dev.lock, NULL);
	dev.name = "test-serve";
	dev.nr_queues = 1;
	dev.vm = &ring.vm; /* status stays 0: breaking the device raises no config interrupt */
	/* No used-buffer interrupt either: the driver suppresses it, so no INTx line is needed. */
	ck_assert_int_eq(virtqueue__start(&vq->vq, &ring.vm, VRING_SIZE, VRING_DESC_GPA,
					  VRING_AVAIL_GPA, VRING_USED_GPA, false),
			 0);
	*(uint16_t *)vring_hva(&ring, VRING_AVAIL_GPA) = htole16(VIRTQ_AVAIL_F_NO_INTERRUPT);
	vq->ready = true;
	vq->enabled = true;
	vq->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(vq->notify_fd, 0);
	handled = refuse_at = 0;
}

static void teardown(void)
{
	close(dev.queues[0].notify_fd);
	pthread_mutex_destroy(&dev.lock);
	pthread_cond_destroy(&ring.vm.wake);
	pthread_mutex_destroy(&ring.vm.lock);
	vring_dispose(&ring);
}

/* Reports the chain's writable length, or refuses the refuse_at'th chain. */
static int fn(struct virtio_dev *vdev, const struct vq_chain *c, uint32_t *written, char *why,
	      size_t whylen)
{
	ck_assert_ptr_eq(vdev, &dev);
	if (++handled == refuse_at) {
		snprintf(why, whylen, "refused chain %u", handled);
		return -EPROTO;
	}
	*written = c->in_len;
	return 0;
}

static void post(unsigned int n)
{
	const struct vring_seg seg = {100, 1};
	uint64_t gpa;

	for (unsigned int i = 0; i < n; i++)
		vring_post(&ring, &seg, 1, &gpa);
}

/* Whether the queue re-signalled itself (and consumes that signal, as the I/O loop does). */
static bool kicked(void)
{
	uint64_t n;

	return read(dev.queues[0].notify_fd, &n, sizeof(n)) == sizeof(n) && n > 0;
}

START_TEST(test_batch_caps_one_call)
{
	post(10);
	ck_assert_uint_eq(virtio_serve__queue(&dev, 0, &chain, BATCH, fn), BATCH);
	ck_assert_uint_eq(handled, BATCH);
	ck_assert_uint_eq(vring_used_idx(&ring), BATCH);
	ck_assert(kicked());
}
END_TEST

START_TEST(test_rekick_serves_everything)
{
	unsigned int calls = 1;

	post(10);
	/* The I/O loop's view: call again while the queue's eventfd is signalled. */
	ck_assert_uint_eq(virtio_serve__queue(&dev, 0, &chain, BATCH, fn), BATCH);
	while (kicked()) {
		ck_assert_uint_le(virtio_serve__queue(&dev, 0, &chain, BATCH, fn), BATCH);
		calls++;
	}
	ck_assert_uint_eq(calls, 3);
	ck_assert_uint_eq(handled, 10);
	ck_assert_uint_eq(vring_used_idx(&ring), 10);
	for (unsigned int i = 0; i < 10; i++)
		ck_assert_uint_eq(vring_used_len(&ring, i), 100);
	/* A ring emptied exactly by a batch costs one empty call, then it stays quiet. */
	post(BATCH);
	ck_assert_uint_eq(virtio_serve__queue(&dev, 0, &chain, BATCH, fn), BATCH);
	ck_assert(kicked());
	ck_assert_uint_eq(virtio_serve__queue(&dev, 0, &chain, BATCH, fn), 0);
	ck_assert(!kicked());
	ck_assert_uint_eq(vring_used_idx(&ring), 10 + BATCH);
}
END_TEST

START_TEST(test_refused_chain_breaks_without_rekick)
{
	post(10);
	refuse_at = 2;
	ck_assert_uint_eq(virtio_serve__queue(&dev, 0, &chain, BATCH, fn), 1);
	ck_assert(dev.broken);
	ck_assert(dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	ck_assert(!kicked());
	/* The queue stays stopped until a reset. */
	ck_assert_uint_eq(virtio_serve__queue(&dev, 0, &chain, BATCH, fn), 0);
	ck_assert_uint_eq(handled, 2);
	ck_assert_uint_eq(vring_used_idx(&ring), 1);
}
END_TEST

Suite *virtio_serve_suite(void)
{
	Suite *s = suite_create("virtio_serve");
	TCase *tc = tcase_create("batch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_batch_caps_one_call);
	tcase_add_test(tc, test_rekick_serves_everything);
	tcase_add_test(tc, test_refused_chain_breaks_without_rekick);
	suite_add_tcase(s, tc);
	return s;
}
