/* The guest kit's SMP: list CPUs (MP table, else ACPI MADT) and start APs with INIT/SIPI from ring 3. */
#include "rt.h"

#include "hvm_start_info.h"

#define LAPIC_ID 0x020
#define LAPIC_SVR 0x0f0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT_ASSERT 0x4500
#define ICR_STARTUP 0x4600
#define AP_TIMEOUT_US 2000000
#define SIPI_RETRY_US 1000

static uint8_t apic_ids[RT_MAX_CPUS];
static unsigned int ncpus_listed;
static const char *list_source = "none";
static int listed;

static volatile uint32_t cpus_online = 1;
static volatile uint32_t aps_done;
static void (*volatile ap_fn)(unsigned int, void *);
static void *volatile ap_arg;

extern const char rt_trampoline[], rt_trampoline_end[];

static uint8_t checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (n--)
		s += *b++;
	return s;
}

static void add_cpu(uint8_t apic_id)
{
	if (ncpus_listed < RT_MAX_CPUS)
		apic_ids[ncpus_listed++] = apic_id;
}

/* Intel MP 1.4: "_MP_" floating pointer on a 16-byte boundary in the BIOS area. */
static int parse_mptable(void)
{
	for (uintptr_t a = 0xf0000; a < 0x100000; a += 16) {
		const uint8_t *fp = (const uint8_t *)a;
		const uint8_t *cfg, *e, *end;
		uint32_t cfg_pa;

		if (memcmp(fp, "_MP_", 4) || fp[8] != 1 || checksum(fp, 16))
			continue;
		memcpy(&cfg_pa, fp + 4, 4);
		if (!cfg_pa)
			continue;
		cfg = (const uint8_t *)(uintptr_t)cfg_pa;
		if (memcmp(cfg, "PCMP", 4) || checksum(cfg, *(const uint16_t *)(cfg + 4)))
			continue;
		e = cfg + 44;
		end = cfg + *(const uint16_t *)(cfg + 4);
		while (e < end) {
			if (e[0] == 0) { /* processor: 20 bytes; flags bit 0 = enabled */
				if (e[3] & 1)
					add_cpu(e[1]);
				e += 20;
			} else {
				e += 8;
			}
		}
		list_source = "mptable";
		return 1;
	}
	return 0;
}

static const uint8_t *find_rsdp(void)
{
	const struct hvm_start_info *si = (const void *)(uintptr_t)rt_start_info_pa;

	if (si && si->magic == XEN_HVM_START_MAGIC_VALUE && si->rsdp_paddr &&
	    si->rsdp_paddr < 0x100000000ULL)
		return (const uint8_t *)(uintptr_t)si->rsdp_paddr;
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8) && !checksum((const void *)a, 20))
			return (const uint8_t *)a;
	return NULL;
}

/* ACPI: RSDP -> XSDT (or RSDT) -> "APIC"; type 0 entries are local APICs. */
static int parse_madt(void)
{
	const uint8_t *rsdp = find_rsdp(), *sdt;
	uint32_t len, esize;

	if (!rsdp || memcmp(rsdp, "RSD PTR ", 8))
		return 0;
	if (rsdp[15] >= 2 && *(const uint64_t *)(rsdp + 24)) {
		sdt = (const uint8_t *)(uintptr_t) * (const uint64_t *)(rsdp + 24);
		esize = 8;
	} else {
		sdt = (const uint8_t *)(uintptr_t) * (const uint32_t *)(rsdp + 16);
		esize = 4;
	}
	len = *(const uint32_t *)(sdt + 4);
	for (uint32_t off = 36; off + esize <= len; off += esize) {
		uint64_t pa = esize == 8 ? *(const uint64_t *)(sdt + off) : *(const uint32_t *)(sdt + off);
		const uint8_t *t = (const uint8_t *)(uintptr_t)pa, *e, *end;

		if (memcmp(t, "APIC", 4))
			continue;
		end = t + *(const uint32_t *)(t + 4);
		for (e = t + 44; e + 2 <= end && e[1] >= 2; e += e[1])
			if (e[0] == 0 && (*(const uint32_t *)(e + 4) & 1))
				add_cpu(e[3]);
		list_source = "madt";
		return 1;
	}
	return 0;
}

static void list_cpus(void)
{
	if (listed)
		return;
	listed = 1;
	if (!parse_mptable() && !parse_madt())
		ncpus_listed = 0;
}

unsigned int smp__cpus_listed(void)
{
	list_cpus();
	return ncpus_listed ? ncpus_listed : 1;
}

const char *smp__source(void)
{
	list_cpus();
	return list_source;
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio__write32(RT_LAPIC + reg, v);
}

static void send_ipi(uint8_t apic_id, uint32_t icr_lo)
{
	lapic_write(LAPIC_ICR_HI, (uint32_t)apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
}

/* From the LAPIC, not CPUID: a ring-3 cpuid returns the host CPU's APIC ID. */
static unsigned int bsp_apic_id(void)
{
	return mmio__read32(RT_LAPIC + LAPIC_ID) >> 24;
}

/* Wait until *counter reaches target or the deadline passes; idles, never spins long. */
static int wait_for(volatile uint32_t *counter, uint32_t target, uint64_t timeout_us)
{
	uint64_t end = clock__us() + timeout_us;

	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < target) {
		if (clock__us() > end)
			return -1;
		platform__wait_us(100);
	}
	return 0;
}

unsigned int smp__start(unsigned int want, void (*fn)(unsigned int, void *), void *arg)
{
	unsigned int bsp = bsp_apic_id(), started = 1;

	list_cpus();
	if (!want || want > smp__cpus_listed())
		want = smp__cpus_listed();
	if (want <= 1)
		return 1;
	ap_fn = fn;
	ap_arg = arg;
	memcpy((void *)RT_TRAMPOLINE, rt_trampoline, rt_trampoline_end - rt_trampoline);
	lapic_write(LAPIC_SVR, 0x1ff); /* software-enable the boot CPU's LAPIC */
	for (unsigned int i = 0, n = 1; i < ncpus_listed && n < want; i++)
		if (apic_ids[i] != bsp) {
			send_ipi(apic_ids[i], ICR_INIT_ASSERT);
			n++;
		}
	/* No 10 ms INIT-to-SIPI delay: KVM's in-kernel LAPIC needs none. */
	for (int round = 0; round < 2; round++) {
		started = 1;
		for (unsigned int i = 0; i < ncpus_listed && started < want; i++)
			if (apic_ids[i] != bsp) {
				send_ipi(apic_ids[i], ICR_STARTUP | (RT_TRAMPOLINE >> 12));
				started++;
			}
		/* A second SIPI only matters to a CPU that missed the first; a
		 * running CPU ignores it. */
		if (!wait_for(&cpus_online, started, SIPI_RETRY_US))
			break;
	}
	wait_for(&cpus_online, started, AP_TIMEOUT_US);
	return __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE);
}

void smp__wait_done(void)
{
	while (__atomic_load_n(&aps_done, __ATOMIC_ACQUIRE) + 1 <
	       __atomic_load_n(&cpus_online, __ATOMIC_ACQUIRE))
		platform__wait_us(100);
}

void smp__ap_main(unsigned int cpu)
{
	__atomic_fetch_add(&cpus_online, 1, __ATOMIC_ACQ_REL);
	if (ap_fn)
		ap_fn(cpu, ap_arg);
	__atomic_fetch_add(&aps_done, 1, __ATOMIC_ACQ_REL);
	platform__park();
}
