/* Check suite for the virtio-pci transport, driven as a guest driver would (needs KVM). */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ioloop.h"
#include "iobus.h"
#include "layout.h"
#include "memory.h"
#include "pci_fixture.h"
#include "suites.h"
#include "twin_abi.h"
#include "virtio_pci.h"
#include "vm.h"

#define QSIZE	       8
#define HANG_GUARD_SEC 20
/* Where the "driver" keeps its rings and buffers in guest RAM. */
#define DESC_GPA   0x200000ull
#define AVAIL_GPA  0x201000ull
#define USED_GPA   0x202000ull
#define BUF_GPA	   0x210000ull
#define LEGACY_PFN (0x300000ull / 4096)

/* Modern BAR layout the transport documents through its capabilities. */
struct caps {
	uint32_t common, notify, isr, device, notify_mult, device_len;
	unsigned int bar;
};

struct tdev {
	struct virtio_dev vdev;
	uint8_t config[8];
	sem_t notified;
	bool hold; /* queue_notify: post entered, then wait for release */
	sem_t entered, release;
	unsigned int last_q;
	int last_pop;
	bool on_io_thread;
	int driver_ok_calls, reset_calls;
	uint32_t config_written;
};

static struct tdev *dev;

static struct tdev *tdev_of(struct virtio_dev *vdev)
{
	return (struct tdev *)vdev;
}

/* I/O thread: echo every chain back with its writable length, as a device would. */
static void t_queue_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct tdev *t = tdev_of(vdev);
	static struct vq_chain chain;
	int rc;

	if (t->hold) {
		sem_post(&t->entered);
		sem_wait(&t->release);
	}
	t->on_io_thread = ioloop__on_thread(vm->ioloop);
	t->last_q = q;
	while ((rc = virtio_dev__pop(vdev, q, &chain)) == 1)
		virtio_dev__push(vdev, q, &chain, chain.in_len);
	t->last_pop = rc;
	virtio_dev__notify_used(vdev, q);
	sem_post(&t->notified);
}

static void t_config_write(struct virtio_dev *vdev, uint32_t offset, const void *data, uint32_t len)
{
	/* Only byte 7 is writable. */
	if (offset == 7 && len == 1) {
		tdev_of(vdev)->config[7] = *(const uint8_t *)data;
		tdev_of(vdev)->config_written++;
	}
}

static void t_driver_ok(struct virtio_dev *vdev)
{
	tdev_of(vdev)->driver_ok_calls++;
}

static void t_reset(struct virtio_dev *vdev)
{
	tdev_of(vdev)->reset_calls++;
}

static void t_release(struct virtio_dev *vdev)
{
	sem_destroy(&tdev_of(vdev)->notified);
	sem_destroy(&tdev_of(vdev)->entered);
	sem_destroy(&tdev_of(vdev)->release);
	free(vdev);
}

static const struct virtio_dev_ops t_ops = {
    .queue_notify = t_queue_notify,
    .config_write = t_config_write,
    .driver_ok = t_driver_ok,
    .reset = t_reset,
    .release = t_release,
};

static struct tdev *make_dev(bool legacy)
{
	struct tdev *t = calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	sem_init(&t->notified, 0, 0);
	sem_init(&t->entered, 0, 0);
	sem_init(&t->release, 0, 0);
	memcpy(t->config, "\x52\x54\x00\x12\x34\x56\x01\x00", 8);
	t->vdev = (struct virtio_dev){
	    .name = legacy ? "test-virtio-legacy" : "test-virtio",
	    .device_id = VIRTIO_ID_NET,
	    .features = 1u << 5, /* a device-specific bit (net MAC) */
	    .nr_queues = 2,
	    .queue_max_size = QSIZE,
	    .config = t->config,
	    .config_len = sizeof(t->config),
	    .legacy = legacy,
	    .ops = &t_ops,
	};
	return t;
}

static void vp_setup(void)
{
	struct vm_config c = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = -1};

	ck_assert_int_eq(vm__create(&c, &vm), 0);
	dev = make_dev(false);
	ck_assert_int_eq(virtio_dev__register(vm, &dev->vdev), 0);
	ck_assert_int_eq(ioloop__start(vm->ioloop), 0);
}

static void vp_teardown(void)
{
	vm__destroy(vm); /* stops the I/O loop, then releases (frees) the devices */
}

/* Reads the virtio capabilities the way a guest driver finds its regions. */
static void find_caps(unsigned int slot, struct caps *c)
{
	unsigned int seen = 0;

	memset(c, 0, sizeof(*c));
	ck_assert(cfg_rd(slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	for (uint32_t p = cfg_rd(slot, PCI_CAPABILITY_LIST, 1); p; p = cfg_rd(slot, p + 1, 1)) {
		uint32_t type = cfg_rd(slot, p + 3, 1), off = cfg_rd(slot, p + 8, 4);

		ck_assert_uint_eq(cfg_rd(slot, p, 1), 0x09);
		c->bar = cfg_rd(slot, p + 4, 1);
		seen |= 1u << type;
		if (type == 1)
			c->common = off;
		else if (type == 2)
			c->notify = off, c->notify_mult = cfg_rd(slot, p + 16, 4);
		else if (type == 3)
			c->isr = off;
		else if (type == 4)
			c->device = off, c->device_len = cfg_rd(slot, p + 12, 4);
	}
	ck_assert_uint_eq(seen, 0x1e);
}

static uint64_t bar_addr(unsigned int slot, unsigned int bar)
{
	return cfg_rd(slot, PCI_BAR0 + 4 * bar, 4) & ~0xfu;
}

/* Every KVM twin-vmm supports has ioeventfds; without them notifies cost a vCPU exit each. */
static void assert_ioeventfd(const struct virtio_dev *vdev)
{
	ck_assert_msg(vdev->ioeventfd, "KVM lacks KVM_CAP_IOEVENTFD (or the probe broke): guest "
				       "notifies would all take the vCPU-thread path");
}

static void wait_notified(struct tdev *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += HANG_GUARD_SEC;
	ck_assert_msg(sem_timedwait(&t->notified, &ts) == 0, "queue_notify never ran");
}

static void *gpa(uint64_t a)
{
	void *p = memory__gpa_to_hva(vm, a, 1);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* The driver's side of a ring: one descriptor (readable, or writable), offered at once. */
static void offer(uint64_t desc, uint64_t avail, uint16_t n, uint64_t addr, uint32_t len,
		  uint16_t flags)
{
	uint16_t *av = gpa(avail);
	uint8_t *d = gpa(desc + 16ull * (n % QSIZE));

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memset(d + 14, 0, 2);
	av[2 + n % QSIZE] = n % QSIZE;
	__atomic_store_n(&av[1], (uint16_t)(n + 1), __ATOMIC_RELEASE);
}

/* Modern driver bring-up up to DRIVER_OK with queue 0 at the test rings. */
static void modern_bringup(const struct caps *c, uint64_t b, bool event_idx)
{
	uint64_t cc = b + c->common;

	wr(&vm->mmio, cc + 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	wr(&vm->mmio, cc + 0x08, 0, 4);
	wr(&vm->mmio, cc + 0x0c, 1u << 5 | (uint32_t)event_idx << VIRTIO_RING_F_EVENT_IDX, 4);
	wr(&vm->mmio, cc + 0x08, 1, 4);
	wr(&vm->mmio, cc + 0x0c, 1, 4); /* VERSION_1 */
	wr(&vm->mmio, cc + 0x14, 1 | 2 | VIRTIO_STATUS_FEATURES_OK, 1);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x14, 1) & VIRTIO_STATUS_FEATURES_OK,
			  VIRTIO_STATUS_FEATURES_OK);
	wr(&vm->mmio, cc + 0x16, 0, 2);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x18, 2), QSIZE);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x1a, 2), 0xffff); /* no MSI-X */
	wr(&vm->mmio, cc + 0x20, DESC_GPA, 4);			/* as Linux: two dword halves */
	wr(&vm->mmio, cc + 0x24, 0, 4);
	wr(&vm->mmio, cc + 0x28, AVAIL_GPA, 8);
	wr(&vm->mmio, cc + 0x30, USED_GPA, 4);
	wr(&vm->mmio, cc + 0x34, 0, 4);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x20, 8), DESC_GPA);
	wr(&vm->mmio, cc + 0x1c, 1, 2);
	wr(&vm->mmio, cc + 0x14, 1 | 2 | 8 | VIRTIO_STATUS_DRIVER_OK, 1);
}

START_TEST(test_modern_identity_and_caps)
{
	struct caps c;
	uint64_t b, f;

	ck_assert_uint_eq(cfg_rd(1, PCI_VENDOR_ID, 2), 0x1af4);
	ck_assert_uint_eq(cfg_rd(1, PCI_DEVICE_ID, 2), 0x1041);
	ck_assert_uint_eq(cfg_rd(1, PCI_REVISION_ID, 1), 1);
	ck_assert_uint_eq(cfg_rd(1, PCI_SUBSYSTEM_ID, 2), VIRTIO_ID_NET);
	ck_assert_uint_eq(cfg_rd(1, PCI_CLASS_DEVICE, 2), 0x0200);
	ck_assert_uint_eq(cfg_rd(1, PCI_INTERRUPT_PIN, 1), 1);
	find_caps(1, &c);
	ck_assert_uint_eq(c.notify_mult, 4);
	ck_assert_uint_eq(c.device_len, 8);
	b = bar_addr(1, c.bar);
	ck_assert_uint_ge(b, LAYOUT_PCI_MMIO_START);
	/* 64 offered feature bits: device bits, EVENT_IDX, VERSION_1, nothing indirect. */
	wr(&vm->mmio, b + c.common + 0x00, 0, 4);
	f = rd(&vm->mmio, b + c.common + 0x04, 4);
	wr(&vm->mmio, b + c.common + 0x00, 1, 4);
	f |= rd(&vm->mmio, b + c.common + 0x04, 4) << 32;
	ck_assert_uint_eq(f,
			  1u << 5 | 1ull << VIRTIO_RING_F_EVENT_IDX | 1ull << VIRTIO_F_VERSION_1);
	ck_assert_uint_eq(rd(&vm->mmio, b + c.common + 0x12, 2), 2); /* num_queues */
	/* Device config through its region; only the byte the device allows changes. */
	ck_assert_uint_eq(rd(&vm->mmio, b + c.device, 4), 0x12005452);
	wr(&vm->mmio, b + c.device, 0xffffffff, 4);
	wr(&vm->mmio, b + c.device + 7, 0x77, 1);
	ck_assert_uint_eq(rd(&vm->mmio, b + c.device, 4), 0x12005452);
	ck_assert_uint_eq(rd(&vm->mmio, b + c.device + 7, 1), 0x77);
	ck_assert_uint_eq(dev->config_written, 1);
	/* Past the config reads 0. */
	ck_assert_uint_eq(rd(&vm->mmio, b + c.device + 8, 4), 0);
}
END_TEST

START_TEST(test_features_ok_refused)
{
	struct caps c;
	uint64_t cc;

	find_caps(1, &c);
	cc = bar_addr(1, c.bar) + c.common;
	/* Without VERSION_1 on the modern interface, FEATURES_OK does not stick. */
	wr(&vm->mmio, cc + 0x14, 3, 1);
	wr(&vm->mmio, cc + 0x08, 0, 4);
	wr(&vm->mmio, cc + 0x0c, 1u << 5, 4);
	wr(&vm->mmio, cc + 0x14, 3 | VIRTIO_STATUS_FEATURES_OK, 1);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x14, 1), 3);
	/* Nor with a bit never offered (INDIRECT_DESC). */
	wr(&vm->mmio, cc + 0x0c, 1u << VIRTIO_RING_F_INDIRECT_DESC, 4);
	wr(&vm->mmio, cc + 0x08, 1, 4);
	wr(&vm->mmio, cc + 0x0c, 1, 4);
	wr(&vm->mmio, cc + 0x14, 3 | VIRTIO_STATUS_FEATURES_OK, 1);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x14, 1), 3);
}
END_TEST

START_TEST(test_modern_queue_round_trip)
{
	struct caps c;
	uint64_t b;
	uint16_t *used;
	uint32_t *elem;

	find_caps(1, &c);
	b = bar_addr(1, c.bar);
	modern_bringup(&c, b, true);
	ck_assert_int_eq(dev->driver_ok_calls, 1);
	ck_assert(virtio_dev__has_feature(&dev->vdev, VIRTIO_RING_F_EVENT_IDX));
	ck_assert(virtio_dev__has_feature(&dev->vdev, VIRTIO_F_VERSION_1));
	wait_notified(dev); /* DRIVER_OK kicks every ready queue once */

	offer(DESC_GPA, AVAIL_GPA, 0, BUF_GPA, 1500, VIRTQ_DESC_F_WRITE);
	/* Notify queue 0 (here through the vCPU-thread path): the I/O thread handles it. */
	wr(&vm->mmio, b + c.notify + 0 * c.notify_mult, 0, 2);
	wait_notified(dev);
	ck_assert_uint_eq(__atomic_load_n(&dev->vdev.vcpu_notifies, __ATOMIC_RELAXED), 1);
	ck_assert(dev->on_io_thread);
	ck_assert_uint_eq(dev->last_q, 0);
	ck_assert_int_eq(dev->last_pop, 0);
	used = gpa(USED_GPA);
	elem = gpa(USED_GPA + 4);
	ck_assert_uint_eq(used[1], 1);
	ck_assert_uint_eq(elem[0], 0);
	ck_assert_uint_eq(elem[1], 1500);
	/* First used buffer: interrupt requested; the ISR read returns and clears it. */
	ck_assert_uint_eq(rd(&vm->mmio, b + c.isr, 1), 1);
	ck_assert_uint_eq(rd(&vm->mmio, b + c.isr, 1), 0);
	/* Queue 1 was never enabled: its notify reaches no callback, queue 0 still works. */
	wr(&vm->mmio, b + c.notify + 1 * c.notify_mult, 1, 2);
	offer(DESC_GPA, AVAIL_GPA, 1, BUF_GPA, 64, VIRTQ_DESC_F_WRITE);
	wr(&vm->mmio, b + c.notify, 0, 2);
	wait_notified(dev);
	ck_assert_uint_eq(dev->last_q, 0);
	ck_assert_uint_eq(used[1], 2);
}
END_TEST

START_TEST(test_hostile_ring_breaks_device)
{
	struct caps c;
	uint64_t b, cc;

	find_caps(1, &c);
	b = bar_addr(1, c.bar);
	cc = b + c.common;
	modern_bringup(&c, b, true);
	wait_notified(dev);
	/* A descriptor far outside RAM. */
	offer(DESC_GPA, AVAIL_GPA, 0, 0x7000000000ull, 4096, VIRTQ_DESC_F_WRITE);
	wr(&vm->mmio, b + c.notify, 0, 2);
	wait_notified(dev);
	ck_assert_int_eq(dev->last_pop, -EPROTO);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET,
			  VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	ck_assert_uint_eq(rd(&vm->mmio, b + c.isr, 1) & 2, 2); /* config change */
	/* The queue is stopped: further notifies reach no callback pop. */
	ck_assert_int_eq(virtio_dev__pop(&dev->vdev, 0, &(struct vq_chain){0}), 0);
	/* Reset clears it all; the device heard about it. */
	wr(&vm->mmio, cc + 0x14, 0, 1);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x14, 1), 0);
	ck_assert_int_eq(dev->reset_calls, 1);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x1c, 2), 0); /* queue disabled */
	/* And it works again after a clean bring-up. */
	memset(gpa(AVAIL_GPA), 0, 64);
	memset(gpa(USED_GPA), 0, 128);
	modern_bringup(&c, b, true);
	wait_notified(dev);
	offer(DESC_GPA, AVAIL_GPA, 0, BUF_GPA, 100, VIRTQ_DESC_F_WRITE);
	wr(&vm->mmio, b + c.notify, 0, 2);
	wait_notified(dev);
	ck_assert_int_eq(dev->last_pop, 0);
	ck_assert_uint_eq(((uint16_t *)gpa(USED_GPA))[1], 1);
}
END_TEST

#define IRQ_RACE_ROUNDS 20000
#define IRQ_RACE_SPREAD 2048

/* Round handshakes: spinning, so both threads are running when a round starts. */
static int race_start = -1, race_done = -1;

static void spin_until(const int *flag, int round)
{
	/* Yield now and then: on a busy host the other thread may be waiting for this CPU. */
	for (unsigned int n = 1; __atomic_load_n(flag, __ATOMIC_ACQUIRE) != round; n++)
		if (n % 1024)
			__builtin_ia32_pause();
		else
			sched_yield();
}

/*
 * Not synchronisation: a different busy delay each round, on each side,
 * sweeps the two threads' relative start across the racy window.
 */
static void race_jitter(unsigned int round, unsigned int salt)
{
	for (volatile unsigned int k = (round * 2654435761u ^ salt) % IRQ_RACE_SPREAD; k; k--)
		;
}

/* The I/O thread's side of the ISR race: one used-buffer interrupt per round. */
static void *irq_race_notifier(void *arg)
{
	for (int i = 0; i < IRQ_RACE_ROUNDS; i++) {
		spin_until(&race_start, i);
		race_jitter((unsigned int)i, 0);
		virtio_dev__notify_used(&dev->vdev, 0);
		__atomic_store_n(&race_done, i, __ATOMIC_RELEASE);
	}
	return arg;
}

/*
 * A vCPU reading ISR while the I/O thread interrupts: at every quiet point the
 * INTx level must be exactly "ISR has bits", or the guest loses an interrupt
 * (ISR set, line low) or gets an endless one (line high, ISR 0).
 */
START_TEST(test_isr_and_level_agree)
{
	pthread_t notifier;
	struct caps c;
	uint64_t b;
	int bad = 0;

	find_caps(1, &c);
	b = bar_addr(1, c.bar);
	modern_bringup(&c, b, false); /* without EVENT_IDX every notify_used interrupts */
	wait_notified(dev);
	race_start = race_done = -1;
	ck_assert_int_eq(pthread_create(&notifier, NULL, irq_race_notifier, NULL), 0);
	for (int i = 0; i < IRQ_RACE_ROUNDS; i++) {
		bool level;
		uint8_t isr;

		__atomic_store_n(&race_start, i, __ATOMIC_RELEASE);
		race_jitter((unsigned int)i, 0x5bd1e995u);
		rd(&vm->mmio, b + c.isr, 1);
		spin_until(&race_done, i);
		pthread_mutex_lock(&dev->vdev.lock);
		isr = dev->vdev.isr;
		level = __atomic_load_n(&dev->vdev.pci.irq_level, __ATOMIC_ACQUIRE);
		pthread_mutex_unlock(&dev->vdev.lock);
		bad += level != (isr != 0);
	}
	pthread_join(notifier, NULL);
	ck_assert_msg(bad == 0, "INTx level and ISR disagreed in %d of %d rounds", bad,
		      IRQ_RACE_ROUNDS);
}
END_TEST

/* Spec 4.1.4.3: enabling an enabled queue again changes nothing, above all not the indices. */
START_TEST(test_queue_enable_twice)
{
	struct caps c;
	uint64_t b;
	uint32_t *elem = gpa(USED_GPA + 4);

	find_caps(1, &c);
	b = bar_addr(1, c.bar);
	modern_bringup(&c, b, true);
	wait_notified(dev);
	offer(DESC_GPA, AVAIL_GPA, 0, BUF_GPA, 1500, VIRTQ_DESC_F_WRITE);
	wr(&vm->mmio, b + c.notify, 0, 2);
	wait_notified(dev);
	ck_assert_uint_eq(((uint16_t *)gpa(USED_GPA))[1], 1);
	wr(&vm->mmio, b + c.common + 0x16, 0, 2);
	wr(&vm->mmio, b + c.common + 0x1c, 1, 2);
	ck_assert_uint_eq(rd(&vm->mmio, b + c.common + 0x1c, 2), 1);
	/* A restarted ring would pop buffer 0 again and rewrite used entry 0. */
	elem[0] = elem[1] = 0xdead;
	offer(DESC_GPA, AVAIL_GPA, 1, BUF_GPA, 64, VIRTQ_DESC_F_WRITE);
	wr(&vm->mmio, b + c.notify, 0, 2);
	wait_notified(dev);
	ck_assert_uint_eq(((uint16_t *)gpa(USED_GPA))[1], 2);
	ck_assert_uint_eq(elem[0], 0xdead);
	ck_assert_uint_eq(elem[1], 0xdead);
	ck_assert_uint_eq(elem[2], 1);
	ck_assert_uint_eq(elem[3], 64);
}
END_TEST

/* Selector, feature and queue setup writes of a vCPU while the I/O thread is busy. */
struct setup_writer {
	uint64_t cc;
	sem_t done;
};

static void *setup_writes(void *arg)
{
	struct setup_writer *w = arg;

	wr(&vm->mmio, w->cc + 0x00, 1, 4); /* device_feature_select */
	wr(&vm->mmio, w->cc + 0x08, 1, 4); /* driver_feature_select */
	wr(&vm->mmio, w->cc + 0x0c, 0, 4); /* driver_feature: frozen, ignored */
	wr(&vm->mmio, w->cc + 0x16, 1, 2); /* queue_select: queue 1, not enabled */
	wr(&vm->mmio, w->cc + 0x18, 4, 2);
	wr(&vm->mmio, w->cc + 0x20, DESC_GPA + 0x800, 8);
	sem_post(&w->done);
	return NULL;
}

/* Only writes that start or stop queues wait for a pause; the rest do not wait out I/O. */
START_TEST(test_setup_writes_do_not_wait_for_io)
{
	struct setup_writer w;
	struct timespec ts;
	pthread_t writer;
	struct caps c;
	uint64_t b;
	int rc;

	find_caps(1, &c);
	b = bar_addr(1, c.bar);
	w.cc = b + c.common;
	sem_init(&w.done, 0, 0);
	modern_bringup(&c, b, true);
	wait_notified(dev);
	dev->hold = true;
	wr(&vm->mmio, b + c.notify, 0, 2);
	ck_assert_int_eq(sem_wait(&dev->entered), 0); /* the I/O thread is in queue_notify */
	ck_assert_int_eq(pthread_create(&writer, NULL, setup_writes, &w), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5; /* hang guard: the writes take microseconds */
	rc = sem_timedwait(&w.done, &ts);
	sem_post(&dev->release);
	pthread_join(writer, NULL);
	sem_destroy(&w.done);
	ck_assert_msg(rc == 0, "register writes waited for the I/O thread's callback");
	wait_notified(dev);
	ck_assert_uint_eq(rd(&vm->mmio, w.cc + 0x00, 4), 1);
	ck_assert_uint_eq(rd(&vm->mmio, w.cc + 0x04, 4), 1); /* VERSION_1 */
	ck_assert_uint_eq(rd(&vm->mmio, w.cc + 0x0c, 4), 1);
	ck_assert_uint_eq(rd(&vm->mmio, w.cc + 0x16, 2), 1);
	ck_assert_uint_eq(rd(&vm->mmio, w.cc + 0x18, 2), 4);
	ck_assert_uint_eq(rd(&vm->mmio, w.cc + 0x20, 8), DESC_GPA + 0x800);
}
END_TEST

/* A driver that clears DRIVER_OK without a reset (found by fuzz_virtio_pci) stops its queues. */
START_TEST(test_driver_ok_cleared_stops_queues)
{
	struct caps c;
	uint64_t b;

	find_caps(1, &c);
	b = bar_addr(1, c.bar);
	modern_bringup(&c, b, true);
	wait_notified(dev);
	ck_assert(dev->vdev.queues[0].ready);
	wr(&vm->mmio, b + c.common + 0x14, 1 | 2 | 8, 1);
	ck_assert(!dev->vdev.queues[0].ready);
	offer(DESC_GPA, AVAIL_GPA, 0, BUF_GPA, 10, VIRTQ_DESC_F_WRITE);
	ck_assert_int_eq(virtio_dev__pop(&dev->vdev, 0, &(struct vq_chain){0}), 0);
	/* Setting it again restarts them, with one more driver_ok. */
	wr(&vm->mmio, b + c.common + 0x14, 1 | 2 | 8 | VIRTIO_STATUS_DRIVER_OK, 1);
	wait_notified(dev);
	ck_assert_int_eq(dev->driver_ok_calls, 2);
	ck_assert_uint_eq(((uint16_t *)gpa(USED_GPA))[1], 1);
}
END_TEST

START_TEST(test_bad_queue_address_breaks_device)
{
	struct caps c;
	uint64_t cc;

	find_caps(1, &c);
	cc = bar_addr(1, c.bar) + c.common;
	wr(&vm->mmio, cc + 0x16, 0, 2);
	wr(&vm->mmio, cc + 0x20, 0xfffff000ull, 8); /* the ring in the PCI hole */
	wr(&vm->mmio, cc + 0x1c, 1, 2);
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x1c, 2), 0);
	ck_assert(rd(&vm->mmio, cc + 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* A queue size above the maximum is refused the same way (after a reset). */
	wr(&vm->mmio, cc + 0x14, 0, 1);
	wr(&vm->mmio, cc + 0x18, QSIZE * 2, 2);
	wr(&vm->mmio, cc + 0x20, DESC_GPA, 8);
	wr(&vm->mmio, cc + 0x28, AVAIL_GPA, 8);
	wr(&vm->mmio, cc + 0x30, USED_GPA, 8);
	wr(&vm->mmio, cc + 0x1c, 1, 2);
	ck_assert(rd(&vm->mmio, cc + 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

START_TEST(test_bar_move_keeps_notify)
{
	struct caps c;
	uint64_t b, to = LAYOUT_PCI_MMIO_START + 0x1000000;

	find_caps(1, &c);
	b = bar_addr(1, c.bar);
	modern_bringup(&c, b, true);
	wait_notified(dev);
	assert_ioeventfd(&dev->vdev);
	ck_assert_uint_eq(dev->vdev.queues[0].ioeventfd_mmio, b + c.notify);
	cfg_wr(1, PCI_BAR0 + 4 * c.bar, (uint32_t)to, 4);
	ck_assert_uint_eq(bar_addr(1, c.bar), to);
	ck_assert_uint_eq(dev->vdev.queues[0].ioeventfd_mmio, to + c.notify);
	ck_assert_uint_eq(dev->vdev.queues[1].ioeventfd_mmio, to + c.notify + 4);
	/* The old place is dead, the new one is the device. */
	ck_assert_uint_eq(rd(&vm->mmio, b + c.common + 0x12, 2), 0xffff);
	ck_assert_uint_eq(rd(&vm->mmio, to + c.common + 0x12, 2), 2);
	offer(DESC_GPA, AVAIL_GPA, 0, BUF_GPA, 10, VIRTQ_DESC_F_WRITE);
	wr(&vm->mmio, to + c.notify, 0, 2);
	wait_notified(dev);
	ck_assert_uint_eq(((uint16_t *)gpa(USED_GPA))[1], 1);
}
END_TEST

START_TEST(test_legacy_interface)
{
	struct tdev *t = make_dev(true);
	uint64_t io, used_gpa;
	uint16_t *used;

	ck_assert_int_eq(virtio_dev__register(vm, &t->vdev), 0);
	ck_assert_uint_eq(t->vdev.pci.slot, 2);
	ck_assert_uint_eq(cfg_rd(2, PCI_DEVICE_ID, 2), 0x1000);
	ck_assert_uint_eq(cfg_rd(2, PCI_REVISION_ID, 1), 0);
	ck_assert_uint_eq(cfg_rd(2, PCI_SUBSYSTEM_ID, 2), VIRTIO_ID_NET);
	ck_assert_uint_eq(cfg_rd(2, PCI_BAR0, 4) & 1, 1); /* I/O BAR 0 */
	io = bar_addr(2, 0) & ~3ull;
	ck_assert_uint_ge(io, PCI_PIO_START);
	/* Legacy: 32 feature bits, no VERSION_1. */
	ck_assert_uint_eq(rd(&vm->pio, io + 0, 4), 1u << 5 | 1u << VIRTIO_RING_F_EVENT_IDX);
	wr(&vm->pio, io + 18, 1 | 2, 1);
	wr(&vm->pio, io + 4, 1u << 5, 4);
	ck_assert_uint_eq(rd(&vm->pio, io + 4, 4), 1u << 5);
	/* Device config at 20, the same bytes as the modern region. */
	ck_assert_uint_eq(rd(&vm->pio, io + 20, 4), 0x12005452);
	wr(&vm->pio, io + 14, 0, 2);
	ck_assert_uint_eq(rd(&vm->pio, io + 12, 2), QSIZE);
	wr(&vm->pio, io + 8, LEGACY_PFN, 4);
	ck_assert_uint_eq(rd(&vm->pio, io + 8, 4), LEGACY_PFN);
	wr(&vm->pio, io + 18, 1 | 2 | VIRTIO_STATUS_DRIVER_OK, 1);
	wait_notified(t);
	/* Legacy layout: descriptors, avail right after, used on the next 4 KiB page. */
	offer(LEGACY_PFN * 4096, LEGACY_PFN * 4096 + 16 * QSIZE, 0, BUF_GPA, 77,
	      VIRTQ_DESC_F_WRITE);
	wr(&vm->pio, io + 16, 0, 2);
	wait_notified(t);
	ck_assert(t->on_io_thread);
	used_gpa = LEGACY_PFN * 4096 + 4096;
	used = gpa(used_gpa);
	ck_assert_uint_eq(used[1], 1);
	ck_assert_uint_eq(((uint32_t *)gpa(used_gpa + 4))[1], 77);
	ck_assert_uint_eq(rd(&vm->pio, io + 19, 1), 1);
	ck_assert_uint_eq(rd(&vm->pio, io + 19, 1), 0);
	/* Reset through the legacy status register. */
	wr(&vm->pio, io + 18, 0, 1);
	ck_assert_int_eq(t->reset_calls, 1);
	ck_assert_uint_eq(rd(&vm->pio, io + 8, 4), 0);
	assert_ioeventfd(&t->vdev);
	ck_assert_uint_eq(t->vdev.queues[0].ioeventfd_pio, io + 16);
}
END_TEST

/* A 0.9.5 driver may accept features after setting the PFN: DRIVER_OK uses the final ones. */
START_TEST(test_legacy_features_after_pfn)
{
	struct tdev *t = make_dev(true);
	uint64_t io, ring = LEGACY_PFN * 4096, avail = ring + 16 * QSIZE;
	uint16_t *used_event = gpa(avail + 4 + 2 * QSIZE);

	ck_assert_int_eq(virtio_dev__register(vm, &t->vdev), 0);
	io = bar_addr(2, 0) & ~3ull;
	wr(&vm->pio, io + 18, 1 | 2, 1);
	wr(&vm->pio, io + 14, 0, 2);
	wr(&vm->pio, io + 8, LEGACY_PFN, 4);
	wr(&vm->pio, io + 4, 1u << VIRTIO_RING_F_EVENT_IDX, 4);
	wr(&vm->pio, io + 18, 1 | 2 | VIRTIO_STATUS_DRIVER_OK, 1);
	wait_notified(t);
	rd(&vm->pio, io + 19, 1);
	offer(ring, avail, 0, BUF_GPA, 10, VIRTQ_DESC_F_WRITE);
	wr(&vm->pio, io + 16, 0, 2);
	wait_notified(t);
	ck_assert_uint_eq(rd(&vm->pio, io + 19, 1), 1);
	/* used_event 5: the next used buffer (idx 2) must not interrupt under EVENT_IDX. */
	*used_event = 5;
	offer(ring, avail, 1, BUF_GPA, 10, VIRTQ_DESC_F_WRITE);
	wr(&vm->pio, io + 16, 0, 2);
	wait_notified(t);
	ck_assert_uint_eq(((uint16_t *)gpa(ring + 4096))[1], 2);
	ck_assert_uint_eq(rd(&vm->pio, io + 19, 1), 0);
}
END_TEST

/* queue_select past num_queues: the queue reads as absent and its setup writes go nowhere. */
START_TEST(test_queue_select_out_of_range)
{
	struct tdev *t = make_dev(true);
	struct caps c;
	uint64_t cc, io;

	find_caps(1, &c);
	cc = bar_addr(1, c.bar) + c.common;
	wr(&vm->mmio, cc + 0x14, 1 | 2, 1);
	for (uint32_t sel = 2; sel < 0x10000; sel = sel * 7 + 1) {
		wr(&vm->mmio, cc + 0x16, sel, 2);
		ck_assert_uint_eq(rd(&vm->mmio, cc + 0x16, 2), sel);
		wr(&vm->mmio, cc + 0x18, 4, 2);
		wr(&vm->mmio, cc + 0x20, DESC_GPA, 8);
		wr(&vm->mmio, cc + 0x28, AVAIL_GPA, 4);
		wr(&vm->mmio, cc + 0x2c, 0, 4);
		wr(&vm->mmio, cc + 0x30, USED_GPA, 8);
		wr(&vm->mmio, cc + 0x1c, 1, 2);
		ck_assert_uint_eq(rd(&vm->mmio, cc + 0x18, 2), 0); /* "not available" */
		ck_assert_uint_eq(rd(&vm->mmio, cc + 0x1c, 2), 0);
		ck_assert_uint_eq(rd(&vm->mmio, cc + 0x20, 8), 0);
	}
	ck_assert_uint_eq(rd(&vm->mmio, cc + 0x14, 1), 1 | 2); /* not broken */
	for (unsigned int q = 0; q < 2; q++) {
		ck_assert(!dev->vdev.queues[q].enabled);
		ck_assert_uint_eq(dev->vdev.queues[q].size, QSIZE);
		ck_assert_uint_eq(dev->vdev.queues[q].desc_gpa, 0);
	}
	/* Legacy: the same through QUEUE_SEL, QUEUE_NUM and QUEUE_PFN. */
	ck_assert_int_eq(virtio_dev__register(vm, &t->vdev), 0);
	io = bar_addr(2, 0) & ~3ull;
	wr(&vm->pio, io + 18, 1 | 2, 1);
	wr(&vm->pio, io + 14, 0xffff, 2);
	ck_assert_uint_eq(rd(&vm->pio, io + 14, 2), 0xffff);
	wr(&vm->pio, io + 8, LEGACY_PFN, 4);
	ck_assert_uint_eq(rd(&vm->pio, io + 12, 2), 0);
	ck_assert_uint_eq(rd(&vm->pio, io + 8, 4), 0);
	wr(&vm->pio, io + 18, 1 | 2 | VIRTIO_STATUS_DRIVER_OK, 1);
	ck_assert_uint_eq(rd(&vm->pio, io + 18, 1), 1 | 2 | VIRTIO_STATUS_DRIVER_OK);
	ck_assert(!t->vdev.queues[0].enabled && !t->vdev.queues[1].enabled);
}
END_TEST

/* Device config accesses that run past its end read 0 and write nothing, modern and legacy. */
START_TEST(test_config_straddling_end)
{
	struct tdev *t = make_dev(true);
	uint64_t d, io;
	struct caps c;

	ck_assert_int_eq(virtio_dev__register(vm, &t->vdev), 0);
	find_caps(2, &c);
	d = bar_addr(2, c.bar) + c.device;
	io = bar_addr(2, 0) & ~3ull;
	ck_assert_uint_eq(rd(&vm->mmio, d + 4, 4), 0x00015634); /* the last 4 bytes, whole */
	ck_assert_uint_eq(rd(&vm->mmio, d + 6, 4), 0);
	ck_assert_uint_eq(rd(&vm->mmio, d + 4, 8), 0);
	ck_assert_uint_eq(rd(&vm->mmio, d + 7, 2), 0);
	ck_assert_uint_eq(rd(&vm->pio, io + 24, 4), 0x00015634);
	ck_assert_uint_eq(rd(&vm->pio, io + 26, 4), 0);
	ck_assert_uint_eq(rd(&vm->pio, io + 27, 2), 0);
	ck_assert_uint_eq(rd(&vm->pio, io + 28, 4), 0); /* in the BAR, past the config */
	/* A register access running into the config reads all-ones, not config bytes. */
	ck_assert_uint_eq(rd(&vm->pio, io + 18, 4), 0xffffffff);
	wr(&vm->mmio, d + 6, 0xaaaaaaaa, 4);
	wr(&vm->mmio, d + 7, 0xaaaa, 2);
	wr(&vm->mmio, d + 0, 0xaaaaaaaaaaaaaaaaull, 8); /* inside, but the device refuses it */
	wr(&vm->pio, io + 26, 0xaaaaaaaa, 4);
	wr(&vm->pio, io + 27, 0xaaaa, 2);
	ck_assert_uint_eq(t->config_written, 0);
	ck_assert_mem_eq(t->config, "\x52\x54\x00\x12\x34\x56\x01\x00", 8);
	/* While byte 7 alone is writable through both. */
	wr(&vm->mmio, d + 7, 0x11, 1);
	wr(&vm->pio, io + 27, 0x22, 1);
	ck_assert_uint_eq(t->config_written, 2);
	ck_assert_uint_eq(t->config[7], 0x22);
}
END_TEST

#define LE32(v)	 (uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16), (uint8_t)((v) >> 24)
#define CODE_GPA LAYOUT_HIGH_START

/* A real guest write to the notify address: with ioeventfd, KVM signals us directly. */
START_TEST(test_guest_notify)
{
	struct caps c;
	uint64_t b;
	uint32_t notify, exit_reg = (uint32_t)(TWIN_DEBUGDEV_GPA + TWIN_DEBUGDEV_REG_EXIT);

	find_caps(1, &c);
	b = bar_addr(1, c.bar);
	notify = (uint32_t)(b + c.notify);
	modern_bringup(&c, b, true);
	wait_notified(dev);
	offer(DESC_GPA, AVAIL_GPA, 0, BUF_GPA, 33, VIRTQ_DESC_F_WRITE);
	{
		/* 32-bit protected mode, paging off: notify queue 0, then exit with 0. */
		const uint8_t code[] = {0x66, 0xc7, 0x05,	    LE32(notify), 0x00, 0x00,
					0xc7, 0x05, LE32(exit_reg), LE32(0),	  0xf4};

		memcpy(memory__gpa_to_hva(vm, CODE_GPA, sizeof(code)), code, sizeof(code));
	}
	ck_assert_int_eq(vm__setup_boot_cpu(vm, CODE_GPA), 0);
	ioloop__stop(vm->ioloop); /* vm__start starts it */
	assert_ioeventfd(&dev->vdev);
	ck_assert_uint_eq(dev->vdev.vcpu_notifies, 0);
	ck_assert_int_eq(vm__start(vm), 0);
	wait_notified(dev);
	ck_assert(dev->on_io_thread);
	ck_assert_uint_eq(((uint16_t *)gpa(USED_GPA))[1], 1);
	ck_assert_int_eq(vm__join(vm), 1); /* (0 << 1) | 1 */
	/* KVM signalled the eventfd itself: the notify never trapped to the vCPU thread. */
	ck_assert_uint_eq(__atomic_load_n(&dev->vdev.vcpu_notifies, __ATOMIC_RELAXED), 0);
}
END_TEST

START_TEST(test_register_rejects)
{
	struct tdev *t = make_dev(false);

	t->vdev.queue_max_size = 6;
	ck_assert_int_eq(virtio_dev__register(vm, &t->vdev), -EINVAL);
	t->vdev.queue_max_size = QSIZE;
	t->vdev.device_id = 99;
	ck_assert_int_eq(virtio_dev__register(vm, &t->vdev), -EINVAL);
	t->vdev.device_id = VIRTIO_ID_BLOCK;
	t->vdev.features = 1u << 30; /* a transport bit */
	ck_assert_int_eq(virtio_dev__register(vm, &t->vdev), -EINVAL);
	t_release(&t->vdev);
}
END_TEST

Suite *virtio_pci_suite(void)
{
	Suite *s = suite_create("virtio_pci");
	TCase *tc = tcase_create("transport");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, vp_setup, vp_teardown);
	tcase_add_test(tc, test_modern_identity_and_caps);
	tcase_add_test(tc, test_features_ok_refused);
	tcase_add_test(tc, test_modern_queue_round_trip);
	tcase_add_test(tc, test_hostile_ring_breaks_device);
	tcase_add_test(tc, test_isr_and_level_agree);
	tcase_add_test(tc, test_queue_enable_twice);
	tcase_add_test(tc, test_driver_ok_cleared_stops_queues);
	tcase_add_test(tc, test_setup_writes_do_not_wait_for_io);
	tcase_add_test(tc, test_bad_queue_address_breaks_device);
	tcase_add_test(tc, test_bar_move_keeps_notify);
	tcase_add_test(tc, test_legacy_interface);
	tcase_add_test(tc, test_legacy_features_after_pfn);
	tcase_add_test(tc, test_queue_select_out_of_range);
	tcase_add_test(tc, test_config_straddling_end);
	tcase_add_test(tc, test_guest_notify);
	tcase_add_test(tc, test_register_rejects);
	suite_add_tcase(s, tc);
	return s;
}
