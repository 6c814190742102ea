/* The guest kit's clock: the TSC, with its rate from the hypervisor leaf or kvmclock. */
#include "rt.h"

/* KVM's pvclock_vcpu_time_info, filled by KVM after boot.S wrote the MSR. */
struct kvmclock {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
};
extern volatile struct kvmclock rt_kvmclock;
extern const uint64_t rt_tsc_entry;

#define ASSUMED_TSC_KHZ 1000000ULL

static uint64_t tsc_khz = ASSUMED_TSC_KHZ;
static uint64_t tsc_boot;
static const char *source = "assumed";

/*
 * 1. Leaf 0x40000010 EAX (twin-vmm, VMware-style) when the max hypervisor
 *    leaf covers it.  2. kvmclock: ns = tsc * mul * 2^shift / 2^32, so
 *    kHz = 2^32 * 10^6 / mul / 2^shift.  3. Assume 1 GHz and say so.
 */
void clock__init(void)
{
	uint32_t max = rt_cpuid.kvm_base[0];
	uint32_t version;

	tsc_boot = clock__tsc();
	if (max >= TWIN_CPUID_TIMING && max < TWIN_CPUID_KVM_BASE + 0x100) {
		if (rt_cpuid.timing[0]) {
			tsc_khz = rt_cpuid.timing[0];
			source = "cpuid";
			return;
		}
	}
	version = __atomic_load_n(&rt_kvmclock.version, __ATOMIC_ACQUIRE);
	if (version && !(version & 1) && rt_kvmclock.tsc_to_system_mul) {
		uint64_t khz = (1000000ULL << 32) / rt_kvmclock.tsc_to_system_mul;

		if (rt_kvmclock.tsc_shift >= 0)
			khz >>= rt_kvmclock.tsc_shift;
		else
			khz <<= -rt_kvmclock.tsc_shift;
		if (khz) {
			tsc_khz = khz;
			source = "kvmclock";
		}
	}
}

uint64_t clock__tsc_khz(void)
{
	return tsc_khz;
}

const char *clock__source(void)
{
	return source;
}

uint64_t clock__stub_us(void)
{
	return (tsc_boot - rt_tsc_entry) * 1000 / tsc_khz;
}

uint64_t clock__us(void)
{
	return (clock__tsc() - tsc_boot) * 1000 / tsc_khz;
}
