/* memwriter: dirties pages at a set rate, writing the iteration number into each, on K vCPUs. */
#include "rt.h"

#include "hvm_start_info.h"

TWIN_GUEST("memwriter");

#define PAGE 4096ULL
#define PATTERN_MUL 0x9e3779b97f4a7c15ULL
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

struct params {
	uint64_t pages, rate, ws, vcpus, iters;
	uint64_t progress; /* vCPU 0 prints "memwriter: iter=I" every progress iterations; 0: never */
};

static struct params p;

/* Word 0 of a page: the iteration; word i: iteration * PATTERN_MUL + i. */
static void write_page(volatile uint64_t *page, uint64_t iter)
{
	uint64_t base = iter * PATTERN_MUL;

	for (unsigned int i = 1; i < PAGE / 8; i++)
		page[i] = base + i;
	page[0] = iter;
}

/* Keep to rate pages per ms: sleep (Twin) or pause (QEMU) while ahead. */
static void pace(uint64_t written, uint64_t t0)
{
	uint64_t due_us, now;

	if (!p.rate)
		return;
	due_us = written * 1000 / p.rate;
	while ((now = clock__us() - t0) + 50 < due_us)
		platform__wait_us((uint32_t)(due_us - now));
}

static void writer(unsigned int cpu, void *unused)
{
	uint8_t *ws = (uint8_t *)(uintptr_t)(RT_MEMWRITER_BASE + cpu * p.ws * PAGE);
	uint64_t cursor = 0, written = 0, t0 = clock__us();

	if (cpu >= p.vcpus)
		return;
	for (uint64_t iter = 1; iter <= p.iters; iter++) {
		for (uint64_t j = 0; j < p.pages; j++) {
			write_page((volatile uint64_t *)(ws + cursor * PAGE), iter);
			cursor = cursor + 1 == p.ws ? 0 : cursor + 1;
			if ((++written & 15) == 0)
				pace(written, t0);
		}
		/* A guest-visible heartbeat, so a host can tell whether the guest advances. */
		if (cpu == 0 && p.progress && iter % p.progress == 0)
			console__printf("memwriter: iter=%lu\n", iter);
	}
}

/* Is [base, base + len) inside one RAM entry of the PVH memory map? */
static int area_is_ram(uint64_t base, uint64_t len)
{
	const struct hvm_start_info *si = (const void *)(uintptr_t)rt_start_info_pa;
	const struct hvm_memmap_table_entry *m;

	if (!si || si->magic != XEN_HVM_START_MAGIC_VALUE || si->version < 1 || !si->memmap_paddr)
		return 1; /* no map to check against */
	m = (const void *)(uintptr_t)si->memmap_paddr;
	for (uint32_t i = 0; i < si->memmap_entries; i++)
		if (m[i].type == XEN_HVM_MEMMAP_TYPE_RAM && m[i].addr <= base &&
		    base + len <= m[i].addr + m[i].size)
			return 1;
	return 0;
}

int guest_main(void)
{
	uint64_t hash = FNV_OFFSET, t0, us;
	unsigned int online;

	if (args__u64("pages", 256, &p.pages) || args__u64("rate", 0, &p.rate) ||
	    args__u64("vcpus", 1, &p.vcpus) || args__u64("iters", 16, &p.iters) ||
	    args__u64("ws", p.pages, &p.ws) || args__u64("progress", 0, &p.progress)) {
		console__printf("memwriter: bad number in \"%s\"; use pages=N rate=R ws=W vcpus=K iters=I\n",
				args__cmdline());
		return TWIN_GUEST_EXIT_FAIL;
	}
	if (!p.ws)
		p.ws = p.pages;
	if (!p.pages || !p.vcpus || p.vcpus > RT_MAX_CPUS) {
		console__printf("memwriter: pages and vcpus must be 1..; vcpus at most %u\n", RT_MAX_CPUS);
		return TWIN_GUEST_EXIT_FAIL;
	}
	if (p.ws * p.vcpus * PAGE > 0xc0000000ULL - RT_MEMWRITER_BASE ||
	    !area_is_ram(RT_MEMWRITER_BASE, p.ws * p.vcpus * PAGE)) {
		console__printf("memwriter: %lu vcpus x ws=%lu pages from 0x%x do not fit in RAM; "
				"lower ws or give the VM more memory\n",
				p.vcpus, p.ws, RT_MEMWRITER_BASE);
		return TWIN_GUEST_EXIT_FAIL;
	}
	console__printf("memwriter: pages=%lu rate=%lu ws=%lu vcpus=%lu iters=%lu base=0x%x\n", p.pages,
			p.rate, p.ws, p.vcpus, p.iters, RT_MEMWRITER_BASE);
	if (p.vcpus > smp__cpus_listed()) {
		console__printf("memwriter: vcpus=%lu but the VM has %u CPUs (%s); give it more vCPUs\n",
				p.vcpus, smp__cpus_listed(), smp__source());
		return TWIN_GUEST_EXIT_FAIL;
	}
	t0 = clock__us();
	online = smp__start((unsigned int)p.vcpus, writer, NULL);
	if (online < p.vcpus) {
		console__printf("memwriter: only %u of %lu vcpus came online\n", online, p.vcpus);
		return TWIN_GUEST_EXIT_FAIL;
	}
	writer(0, NULL);
	smp__wait_done();
	us = clock__us() - t0;

	/* FNV-1a over the iteration words of every page, in address order. */
	for (uint64_t i = 0; i < p.ws * p.vcpus; i++) {
		uint64_t w = *(volatile uint64_t *)(uintptr_t)(RT_MEMWRITER_BASE + i * PAGE);

		for (int b = 0; b < 8; b++) {
			hash ^= (w >> (8 * b)) & 0xff;
			hash *= FNV_PRIME;
		}
	}
	console__printf("memwriter: elapsed_us=%lu pages_written=%lu\n", us,
			p.pages * p.iters * p.vcpus);
	console__printf("memwriter: done iters=%lu pages=%lu vcpus=%lu checksum=0x%016lx\n", p.iters,
			p.pages, p.vcpus, hash);
	return TWIN_GUEST_EXIT_OK;
}
