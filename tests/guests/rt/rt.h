/* The guest kit's ring-3 runtime: platform, console, exit, args, clock, SMP and a libc subset. */
#ifndef GUESTS_RT_H
#define GUESTS_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "twin_abi.h"

/*
 * Each guest defines its name once with TWIN_GUEST("name") and a
 * `int guest_main(void)` that returns a TWIN_GUEST_EXIT_* value.  The ring-0
 * stub prints guest_banner through the 8250 before anything else.
 */
#define TWIN_GUEST(name)                                                       \
	const char guest_banner[] = "twin-guest: " name " (ring 0 ok)\n";      \
	const unsigned int guest_banner_len = sizeof(guest_banner) - 1;        \
	const char guest_name[] = name

extern const char guest_name[];
int guest_main(void);

/* ---- platform.c: who runs us, console, exit, idle ---- */
enum platform { PLATFORM_UNKNOWN, PLATFORM_TWIN, PLATFORM_QEMU };

/*
 * Under QEMU (no Twin debug device) ring-3 output is kept in this buffer until
 * a virtio console exists; tests/guests/qemu-run reads it after power-off.
 */
#define TWIN_GUEST_LOG_MAGIC 0x474c4754u /* "TGLG" */
#define TWIN_GUEST_LOG_SIZE 65536u
#define TWIN_GUEST_LOG_EXITED 0x100u	 /* exit field: 0x100 | v once exited */
struct twin_guest_log {
	uint32_t magic;	 /* TWIN_GUEST_LOG_MAGIC once ring 3 has started */
	uint32_t size;	 /* TWIN_GUEST_LOG_SIZE */
	uint32_t len;	 /* bytes written; > size means output was cut */
	uint32_t exit;	 /* 0 while running, then TWIN_GUEST_LOG_EXITED | v */
	char data[TWIN_GUEST_LOG_SIZE];
};
extern struct twin_guest_log twin_guest_log;

enum platform platform__get(void);
const char *platform__name(void);
/* Print n bytes (one exit per call under Twin, at most 4096 bytes each). */
void console__write(const char *s, size_t n);
int console__printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit the VM with value v (status (v << 1) | 1).  Never returns. */
void platform__exit(unsigned int v) __attribute__((noreturn));
/* Block (Twin: WAIT_US, one exit) or pause (QEMU) for about us microseconds, or until an event. */
void platform__wait_us(uint32_t us);
/* Stop this CPU for good without spinning. */
void platform__park(void) __attribute__((noreturn));

/* ---- args.c: key=value words of the PVH command line ---- */
const char *args__cmdline(void);
/* Value of key (copied, NUL-terminated) or NULL when absent. */
const char *args__get(const char *key);
/* *out = numeric value of key, or def when absent.  0 or -EINVAL (bad number). */
int args__u64(const char *key, uint64_t def, uint64_t *out);

/* ---- clock.c: the TSC ---- */
static inline uint64_t clock__tsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
uint64_t clock__tsc_khz(void);
/* "cpuid" (leaf 0x40000010), "kvmclock" or "assumed" (1 GHz: timings are not real). */
const char *clock__source(void);
uint64_t clock__us(void); /* microseconds since ring 3 started */
/* Microseconds from the PVH entry to ring 3 on the boot CPU (the ring-0 stub). */
uint64_t clock__stub_us(void);

/* ---- smp.c: CPUs from the MP table or the ACPI MADT, INIT/SIPI ---- */
/* Number of enabled CPUs the firmware tables list (1 when there are none). */
unsigned int smp__cpus_listed(void);
/* Where the CPU list came from: "mptable", "madt" or "none". */
const char *smp__source(void);
/*
 * Start want - 1 APs (want 0 = every listed CPU); each runs fn(cpu, arg) in
 * ring 3 (fn may be NULL) and then parks.  Returns the number of CPUs online,
 * the boot CPU included, once they all are or a 2 s timeout passed.
 */
unsigned int smp__start(unsigned int want, void (*fn)(unsigned int, void *), void *arg);
/* Wait until every started AP returned from fn. */
void smp__wait_done(void);

/*
 * CPUID leaves (EAX EBX ECX EDX) as the VMM defines them, read by boot.S in
 * ring 0.  Never execute cpuid in ring 3: under PVM it runs natively and
 * returns the host's leaves, with the host CPU's APIC ID.
 */
struct rt_cpuid {
	uint32_t kvm_base[4]; /* 0x40000000: EAX EBX only */
	uint32_t timing[4];   /* 0x40000010: EAX EBX only */
	uint32_t signature[4]; /* 0x40000100 */
};
extern const struct rt_cpuid rt_cpuid;

/* ---- internal, between the pieces of the runtime ---- */
void platform__init_cpu(unsigned int cpu);
void platform__detect(void);
void args__init(void);
void clock__init(void);
void smp__ap_main(unsigned int cpu) __attribute__((noreturn));
extern uint32_t rt_start_info_pa;
extern const char guest_banner[];
void rt__entry(unsigned int cpu) __attribute__((noreturn));

static inline void mmio__write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}
static inline uint32_t mmio__read32(uint64_t addr)
{
	return *(volatile uint32_t *)(uintptr_t)addr;
}
static inline void cpu__relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* ---- libc.c ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* Base 0 means 10, or 16 with a 0x prefix.  *end points past the digits. */
unsigned long strtoul(const char *s, char **end, int base);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define EIO	  5
#define ENODEV	  19
#define EINVAL	  22
#define ENOSPC	  28
#define EMSGSIZE  90
#define ETIMEDOUT 110

#endif
