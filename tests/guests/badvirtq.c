/* badvirtq: programs one broken descriptor chain on purpose and checks the device says NEEDS_RESET.
 */
#include "rt.h"

#include "virtio.h"

TWIN_GUEST("badvirtq");

#define WAIT_MAX_US 2000000

static struct virtio_dev dev;
static struct virtq vq;
static struct vring_mem vq_mem;
static uint8_t buf[4096] __attribute__((aligned(4096)));

static void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	vq_mem.desc[i] = (struct vring_desc){addr, len, flags, next};
}

/* A well-formed virtio-blk read (header, data, status), except where a case breaks it. */
static void blk_read_chain(uint64_t hdr_addr, uint32_t data_len)
{
	desc(0, hdr_addr, 16, VRING_DESC_F_NEXT, 1);
	desc(1, (uintptr_t)buf + 512, data_len, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	desc(2, (uintptr_t)buf + 8, 1, VRING_DESC_F_WRITE, 0);
}

static void publish(uint16_t head, uint16_t idx)
{
	vq_mem.avail.ring[0] = head;
	__asm__ volatile("" ::: "memory");
	*(volatile uint16_t *)&vq_mem.avail.idx = idx;
}

static void case_loop(void)
{
	/* Both readable, so that only the loop is wrong (not the read/write order). */
	desc(0, (uintptr_t)buf, 16, VRING_DESC_F_NEXT, 1);
	desc(1, (uintptr_t)buf + 512, 512, VRING_DESC_F_NEXT, 0);
	publish(0, 1);
}

static void case_addr(void)
{
	blk_read_chain(1ull << 40, 512); /* 1 TiB: far beyond guest RAM */
	publish(0, 1);
}

static void case_len(void)
{
	blk_read_chain((uintptr_t)buf, 0xfffff000u); /* 4 GiB from a small buffer */
	publish(0, 1);
}

static void case_head(void)
{
	blk_read_chain((uintptr_t)buf, 512);
	publish((uint16_t)(vq.size + 3), 1);
}

static void case_idx(void)
{
	blk_read_chain((uintptr_t)buf, 512);
	publish(0, (uint16_t)(vq.size + 10)); /* more chains than the ring holds */
}

static const struct {
	const char *name, *what;
	void (*program)(void);
} cases[] = {
    {"loop", "a chain whose NEXT links loop", case_loop},
    {"addr", "a descriptor at 1 TiB, outside guest RAM", case_addr},
    {"len", "a 4 GiB descriptor length", case_len},
    {"head", "an avail ring entry past the queue size", case_head},
    {"idx", "an avail idx a whole ring ahead", case_idx},
};

int guest_main(void)
{
	const char *arg = args__get("case");
	uint64_t end;
	unsigned int c;
	uint8_t status;
	int rc;

	for (c = 0; arg && c < ARRAY_SIZE(cases) && strcmp(arg, cases[c].name); c++)
		;
	if (!arg || c == ARRAY_SIZE(cases)) {
		console__printf("badvirtq: give case=loop|addr|len|head|idx\n");
		return TWIN_GUEST_EXIT_FAIL;
	}
	rc = virtio__probe(&dev, VIRTIO_ID_BLOCK, 0, 0);
	if (!rc)
		rc = virtio__setup_queue(&dev, 0, &vq, &vq_mem);
	if (rc) {
		console__printf("badvirtq: no virtio-blk disk (%d): attach one with --disk\n", rc);
		return TWIN_GUEST_EXIT_FAIL;
	}
	virtio__ready(&dev);
	console__printf("badvirtq: case=%s: %s\n", cases[c].name, cases[c].what);
	cases[c].program();
	*vq.notify = vq.index; /* always notify: the device must look at the ring */
	end = clock__us() + WAIT_MAX_US;
	while (!((status = virtio__status(&dev)) & VIRTIO_STATUS_NEEDS_RESET) && clock__us() < end)
		virtio__idle(10000);
	console__printf("badvirtq: case=%s status=0x%x needs_reset=%s used_idx=%u\n", cases[c].name,
			status, status & VIRTIO_STATUS_NEEDS_RESET ? "yes" : "no",
			*(volatile uint16_t *)&vq_mem.used.idx);
	console__printf("badvirtq: still alive\n");
	return status & VIRTIO_STATUS_NEEDS_RESET ? TWIN_GUEST_EXIT_OK : TWIN_GUEST_EXIT_FAIL;
}
