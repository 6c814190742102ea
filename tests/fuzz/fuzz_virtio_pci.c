/* Fuzz target for the virtio-pci registers: any access sequence keeps the transport invariants. */
/*
 * With libFuzzer (clang), from the top of the source tree (needs /dev/kvm):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ixen-core \
 *     tests/fuzz/fuzz_virtio_pci.c xen-core/[a-z]*.c -lpthread -o fuzz-virtio-pci
 *   mkdir -p /tmp/vp-corpus && cp -r tests/fuzz/corpus/virtio_pci/. /tmp/vp-corpus/
 *   ./fuzz-virtio-pci -max_total_time=60 -max_len=2048 /tmp/vp-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 *
 * One VM (2 MiB of RAM, no vCPU running, no I/O thread) holds one transitional
 * virtio device (2 queues of 8, 8 config bytes of which byte 7 is writable).
 * Every input starts from the same state: config space, device and RAM as
 * after registration.  The input is a list of ops, each
 *   byte 0: bits 0-2 where (REG_*), bit 3 write, bits 4-5 log2 of the length
 *   bytes 1-2: little-endian u16 offset, reduced per region (see reg_access())
 *   then, for writes, the value's bytes (little endian)
 * REG_SPECIAL's offset picks what the I/O thread or the device does instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz_target.h"
#include "layout.h"
#include "log.h"
#include "memory.h"
#include "virtio_pci.h"
#include "vm.h"

#define RAM_SIZE   (2u << 20)
#define NR_QUEUES  2
#define QSIZE	   8
#define CONFIG_LEN 8
#define SLOT	   1 /* our device; the bus is otherwise empty but for the host bridge */
#define POKE_LEN   16
#define READ_GUARD 0xa5

/* Modern BAR regions (virtio_pci.c's layout, which the capabilities announce). */
#define MODERN_BAR    1
#define MODERN_COMMON 0x0000
#define MODERN_ISR    0x1000
#define MODERN_DEVICE 0x2000
#define MODERN_NOTIFY 0x3000
#define COMMON_STATUS 0x14

enum { REG_COMMON, REG_ISR, REG_DEVICE, REG_NOTIFY, REG_LEGACY, REG_ECAM, REG_CONF1, REG_SPECIAL };
enum { SPECIAL_SERVE, SPECIAL_POKE, SPECIAL_CONFIG_CHANGED, SPECIAL_DEVICE_BREAKS };

enum { CLS_RESET, CLS_SETUP, CLS_LIVE, CLS_BROKEN };
static const char *const classes[] = {"reset-", "setup-", "live-", "broken-"};

struct fdev {
	struct virtio_dev vdev;
	uint8_t config[CONFIG_LEN];
	int reset_calls;
	const char *broken_rule; /* set by a callback that saw the transport misbehave */
};

static const uint8_t config_init[CONFIG_LEN] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x01, 0x00};
static struct vm *vm;
static struct fdev fdev;
static uint8_t cfg_init[PCI_CFG_SIZE];
static int null_fd = -1;

static struct fdev *fdev_of(struct virtio_dev *vdev)
{
	return (struct fdev *)vdev;
}

/* "I/O thread": echo every chain with its writable length, as devices do. */
static void f_queue_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct vq_chain chain;
	int n = 0;

	if (q >= NR_QUEUES || !__atomic_load_n(&vdev->queues[q].ready, __ATOMIC_ACQUIRE))
		fdev_of(vdev)->broken_rule = "queue_notify for a queue that is not ready";
	while (virtio_dev__pop(vdev, q, &chain) == 1) {
		virtio_dev__push(vdev, q, &chain, chain.in_len);
		n++;
	}
	if (n > QSIZE)
		fdev_of(vdev)->broken_rule = "more chains popped than the ring holds";
	virtio_dev__notify_used(vdev, q);
}

/* Under vdev->lock: the transport must hand over only bytes inside the config. */
static void f_config_write(struct virtio_dev *vdev, uint32_t offset, const void *data, uint32_t len)
{
	if (offset >= CONFIG_LEN || len > CONFIG_LEN - offset)
		fdev_of(vdev)->broken_rule = "config_write past the device config";
	else if (offset == 7 && len == 1)
		fdev_of(vdev)->config[7] = *(const uint8_t *)data;
}

static void f_reset(struct virtio_dev *vdev)
{
	fdev_of(vdev)->reset_calls++;
}

static const struct virtio_dev_ops f_ops = {
    .queue_notify = f_queue_notify,
    .config_write = f_config_write,
    .reset = f_reset,
};

static uint64_t bar_base(unsigned int bar)
{
	uint32_t v;

	memcpy(&v, fdev.vdev.pci.cfg + PCI_BAR0 + 4 * bar, 4);
	return v & (bar == MODERN_BAR ? ~0xfu : ~3u);
}

static void mmio(uint64_t addr, void *data, uint32_t len, int is_write)
{
	iobus__access(&vm->mmio, NULL, addr, data, len, is_write);
}

static void pio(uint64_t addr, void *data, uint32_t len, int is_write)
{
	iobus__access(&vm->pio, NULL, addr, data, len, is_write);
}

static const char *setup(void)
{
	struct vm_config c = {.mem_size = RAM_SIZE, .nr_vcpus = 1, .console_fd = -1};

	if (vm)
		return NULL;
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0)
		return "cannot open /dev/null";
	if (vm__create(&c, &vm))
		return "vm__create failed (needs /dev/kvm)";
	memcpy(fdev.config, config_init, CONFIG_LEN);
	fdev.vdev = (struct virtio_dev){
	    .name = "fuzz-virtio",
	    .device_id = VIRTIO_ID_NET,
	    .features = 1u << 5,
	    .nr_queues = NR_QUEUES,
	    .queue_max_size = QSIZE,
	    .config = fdev.config,
	    .config_len = CONFIG_LEN,
	    .legacy = true,
	    .ops = &f_ops,
	};
	if (virtio_dev__register(vm, &fdev.vdev) || fdev.vdev.pci.slot != SLOT)
		return "virtio_dev__register failed, or gave a slot other than 1";
	memcpy(cfg_init, fdev.vdev.pci.cfg, PCI_CFG_SIZE);
	/*
	 * Run as on a KVM without ioeventfds: each KVM_IOEVENTFD a BAR move makes
	 * waits for an SRCU grace period (ms), and accesses from here never reach
	 * KVM anyway.  Turning decoding off first removes the ones registration made.
	 */
	mmio(LAYOUT_PCI_ECAM + (SLOT << 15) + PCI_COMMAND, &(uint16_t){0}, 2, 1);
	fdev.vdev.ioeventfd = false;
	mmio(LAYOUT_PCI_ECAM + (SLOT << 15) + PCI_COMMAND, cfg_init + PCI_COMMAND, 2, 1);
	return NULL;
}

/* Back to the state after registration, the way a guest and firmware would get there. */
static const char *restore(void)
{
	uint32_t zero = 0;
	uint64_t n;

	pio(0xcf8, &zero, 4, 1);
	for (uint32_t reg = 0; reg < PCI_CFG_SIZE; reg += 4)
		mmio(LAYOUT_PCI_ECAM + (SLOT << 15) + reg, cfg_init + reg, 4, 1);
	if (memcmp(fdev.vdev.pci.cfg, cfg_init, PCI_CFG_SIZE))
		return "config space holds state that writing it back does not undo";
	mmio(bar_base(MODERN_BAR) + MODERN_COMMON + COMMON_STATUS, &zero, 1, 1);
	if (fdev.vdev.status || fdev.vdev.broken || fdev.vdev.isr || fdev.vdev.pci.irq_level)
		return "a reset left status, broken, ISR or the INTx level set";
	for (unsigned int q = 0; q < NR_QUEUES; q++)
		if (read(fdev.vdev.queues[q].notify_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			return "draining a notify eventfd failed";
	memcpy(fdev.config, config_init, CONFIG_LEN);
	fdev.reset_calls = 0;
	memset(memory__gpa_to_hva(vm, 0, RAM_SIZE), 0, RAM_SIZE);
	return NULL;
}

/* The I/O thread's turn: what queue_event does for each signalled notify eventfd. */
static void serve(void)
{
	for (unsigned int q = 0; q < NR_QUEUES; q++) {
		struct virtio_queue *vq = &fdev.vdev.queues[q];
		uint64_t n;

		if (read(vq->notify_fd, &n, sizeof(n)) == sizeof(n) &&
		    __atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE))
			fdev.vdev.ops->queue_notify(&fdev.vdev, q);
	}
}

/* Config mechanism #1: slot and register from off, the enable bit unless off's bit 15. */
static void conf1(uint16_t off, void *data, uint32_t len, int is_write)
{
	uint32_t addr = (off & 0x8000 ? 0 : 0x80000000u) |
			(uint32_t)(SLOT + (off >> 12 & 1)) << 11 | (off & 0xfc);

	pio(0xcf8, &addr, 4, 1);
	pio(0xcfc + (off & 3), data, len, is_write);
}

/* One register access: where picks the region, off the offset in it (reduced to fit near it). */
static void reg_access(unsigned int where, uint16_t off, void *data, uint32_t len, int is_write)
{
	uint64_t modern = bar_base(MODERN_BAR), ecam = LAYOUT_PCI_ECAM;

	switch (where) {
	case REG_COMMON:
		mmio(modern + MODERN_COMMON + off % 0x40, data, len, is_write);
		break;
	case REG_ISR:
		mmio(modern + MODERN_ISR + off % 8, data, len, is_write);
		break;
	case REG_DEVICE:
		mmio(modern + MODERN_DEVICE + off % 16, data, len, is_write);
		break;
	case REG_NOTIFY:
		mmio(modern + MODERN_NOTIFY + off % 16, data, len, is_write);
		break;
	case REG_LEGACY:
		pio(bar_base(0) + off % 40, data, len > 4 ? 4 : len, is_write);
		break;
	case REG_ECAM:
		/* Slot 1 or 2 (empty), function 0 or 1, any register. */
		ecam += (uint64_t)(SLOT + (off >> 13 & 1)) << 15 | (uint64_t)(off >> 12 & 1) << 12;
		mmio(ecam + (off & 0xfff), data, len, is_write);
		break;
	case REG_CONF1:
		conf1(off, data, len > 4 ? 4 : len, is_write);
		break;
	}
}

static const char *special(uint16_t off, const uint8_t *rest, size_t left, size_t *used)
{
	switch (off & 3) {
	case SPECIAL_SERVE:
		serve();
		break;
	case SPECIAL_POKE:
		*used = left < POKE_LEN ? left : POKE_LEN;
		memcpy(memory__gpa_to_hva(vm, (uint64_t)(off >> 2) * POKE_LEN, POKE_LEN), rest,
		       *used);
		break;
	case SPECIAL_CONFIG_CHANGED:
		virtio_dev__config_changed(&fdev.vdev);
		break;
	case SPECIAL_DEVICE_BREAKS:
		virtio_dev__set_broken(&fdev.vdev, "the fuzzer says so");
		if (!fdev.vdev.broken)
			return "set_broken left the device working";
		break;
	}
	return NULL;
}

/* The transport's invariants after every op; was_broken is the state before it. */
static const char *check_state(bool was_broken, int resets_before)
{
	struct virtio_dev *v = &fdev.vdev;
	const char *broken = NULL;
	bool ok;

	pthread_mutex_lock(&v->lock);
	ok = v->status & VIRTIO_STATUS_DRIVER_OK;
	if (__atomic_load_n(&v->pci.irq_level, __ATOMIC_ACQUIRE) != (v->isr != 0))
		broken = "the INTx level differs from ISR != 0";
	else if (v->isr & ~3u)
		broken = "ISR holds bits other than queue and config";
	else if (v->broken && !(v->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		broken = "a broken device does not show DEVICE_NEEDS_RESET";
	else if (was_broken && !v->broken && (fdev.reset_calls == resets_before || v->status))
		broken = "a broken device recovered without a reset";
	for (unsigned int q = 0; !broken && q < NR_QUEUES; q++) {
		const struct virtio_queue *vq = &v->queues[q];

		if (vq->ready && (!vq->enabled || !ok || v->broken))
			broken = "a queue is ready without enable, DRIVER_OK, or while broken";
		else if (vq->enabled && (vq->size == 0 || vq->size > QSIZE))
			broken = "an enabled queue has a size outside 1..queue_max_size";
	}
	pthread_mutex_unlock(&v->lock);
	return broken ? broken : fdev.broken_rule;
}

static const char *run(const uint8_t *data, size_t size)
{
	size_t pos = 0;

	while (pos + 3 <= size) {
		unsigned int op = data[pos], where = op & 7, is_write = op >> 3 & 1;
		uint32_t len = 1u << (op >> 4 & 3);
		uint16_t off = (uint16_t)(data[pos + 1] | data[pos + 2] << 8);
		int resets_before = fdev.reset_calls;
		bool was_broken = fdev.vdev.broken;
		uint8_t buf[16];
		const char *broken;
		size_t used = 0;

		pos += 3;
		if (where == REG_SPECIAL) {
			broken = special(off, data + pos, size - pos, &used);
			if (broken)
				return broken;
		} else if (is_write) {
			memset(buf, 0, sizeof(buf));
			used = size - pos < len ? size - pos : len;
			memcpy(buf, data + pos, used);
			reg_access(where, off, buf, len, 1);
		} else {
			memset(buf, READ_GUARD, sizeof(buf));
			reg_access(where, off, buf, len, 0);
			for (size_t i = len; i < sizeof(buf); i++)
				if (buf[i] != READ_GUARD)
					return "a read wrote past its length";
		}
		pos += used;
		broken = check_state(was_broken, resets_before);
		if (broken)
			return broken;
	}
	return NULL;
}

static int class_of_state(void)
{
	if (fdev.vdev.broken)
		return CLS_BROKEN;
	if (fdev.vdev.status == 0)
		return CLS_RESET;
	return fdev.vdev.status & VIRTIO_STATUS_DRIVER_OK ? CLS_LIVE : CLS_SETUP;
}

static const char *fuzz_virtio_pci__check(const uint8_t *data, size_t size, int *cls)
{
	const char *broken = setup();
	int saved_stderr;

	if (broken)
		return broken;
	/* The guest-driven warnings (one per bad address, per breakage) would flood the log. */
	saved_stderr = dup(STDERR_FILENO);
	dup2(null_fd, STDERR_FILENO);
	fdev.broken_rule = NULL;
	broken = restore();
	if (!broken)
		broken = run(data, size);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	*cls = class_of_state();
	return broken;
}

const struct fuzz_target fuzz_target = {
    .name = "virtio-pci",
    .classes = classes,
    .nclasses = 4,
    .check = fuzz_virtio_pci__check,
};
