/* The guest kit's platform layer: Twin or QEMU, console, exit, idle, faults, ring-3 entry. */
#include "rt.h"

#include "hvm_start_info.h"
#include "vcons.h"

#define DBG(reg) (TWIN_DEBUGDEV_GPA + (reg))

struct twin_guest_log twin_guest_log;

static enum platform platform = PLATFORM_UNKNOWN;
/* Twin's buffer-print register reads from here: one exit per line. */
static char twin_print_buf[TWIN_DEBUGDEV_BUF_MAX] __attribute__((aligned(4096)));
static char fault_print_buf[256] __attribute__((aligned(64)));
static volatile uint32_t console_lock;
static volatile uint32_t fault_taken;

/*
 * Twin is told apart from everything else by two independent facts: the
 * CPUID signature leaf (read in ring 0 by boot.S), and then the debug
 * device's ID register (only read once CPUID said Twin, so other platforms
 * never see the access).
 */
void platform__detect(void)
{
	const uint32_t *sig = rt_cpuid.signature;

	if (sig[1] == TWIN_CPUID_SIGNATURE_EBX && sig[2] == TWIN_CPUID_SIGNATURE_EBX &&
	    sig[3] == TWIN_CPUID_SIGNATURE_EBX &&
	    mmio__read32(DBG(TWIN_DEBUGDEV_REG_ID)) == TWIN_DEBUGDEV_ID)
		platform = PLATFORM_TWIN;
	else
		platform = PLATFORM_QEMU;
	if (platform == PLATFORM_QEMU) {
		twin_guest_log.size = TWIN_GUEST_LOG_SIZE;
		twin_guest_log.len = 0;
		twin_guest_log.exit = 0;
		__atomic_store_n(&twin_guest_log.magic, TWIN_GUEST_LOG_MAGIC, __ATOMIC_RELEASE);
	}
}

enum platform platform__get(void)
{
	return platform;
}

const char *platform__name(void)
{
	return platform == PLATFORM_TWIN ? "twin" : platform == PLATFORM_QEMU ? "qemu" : "unknown";
}

/* The buffer registers may be per vCPU in the VMM: every CPU sets them. */
void platform__init_cpu(unsigned int cpu)
{
	if (platform != PLATFORM_TWIN)
		return;
	mmio__write32(DBG(TWIN_DEBUGDEV_REG_BUF_ADDR_LO), (uint32_t)(uintptr_t)twin_print_buf);
	mmio__write32(DBG(TWIN_DEBUGDEV_REG_BUF_ADDR_HI), 0);
}

static void log_append(const char *s, size_t n)
{
	uint32_t at = __atomic_fetch_add(&twin_guest_log.len, (uint32_t)n, __ATOMIC_RELAXED);

	for (size_t i = 0; i < n && at + i < TWIN_GUEST_LOG_SIZE; i++)
		twin_guest_log.data[at + i] = s[i];
}

static void console_lock_take(void)
{
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		cpu__relax();
}

static void console_lock_drop(void)
{
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

/* The virtio console if any (same output under twin-vmm and QEMU), else debug device or log. */
void console__write(const char *s, size_t n)
{
	if (vcons__active()) {
		console_lock_take();
		vcons__write(s, n);
		console_lock_drop();
		return;
	}
	if (platform != PLATFORM_TWIN) {
		log_append(s, n);
		return;
	}
	while (n) {
		size_t chunk = n < TWIN_DEBUGDEV_BUF_MAX ? n : TWIN_DEBUGDEV_BUF_MAX;

		console_lock_take();
		memcpy(twin_print_buf, s, chunk);
		mmio__write32(DBG(TWIN_DEBUGDEV_REG_BUF_LEN), (uint32_t)chunk);
		console_lock_drop();
		s += chunk;
		n -= chunk;
	}
}

int console__printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	console__write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return n;
}

void platform__park(void)
{
	if (platform == PLATFORM_TWIN)
		for (;;)
			platform__wait_us(TWIN_WAIT_FOREVER);
	/* Ring 3 cannot hlt: trap to the ring-0 handler, which halts there. */
	__asm__ volatile("jmp rt__park_insn");
	__builtin_unreachable();
}

void platform__exit(unsigned int v)
{
	/* Output still in the virtio console's ring must reach the host before we go. */
	vcons__drain(1000000);
	if (platform == PLATFORM_TWIN) {
		mmio__write32(DBG(TWIN_DEBUGDEV_REG_EXIT), v);
	} else {
		__atomic_store_n(&twin_guest_log.exit, TWIN_GUEST_LOG_EXITED | v, __ATOMIC_RELEASE);
		*(volatile uint8_t *)(uintptr_t)RT_GED_SLEEP_CTL = RT_GED_SLEEP_S5;
	}
	platform__park();
}

void platform__wait_us(uint32_t us)
{
	uint64_t end;

	if (platform == PLATFORM_TWIN) {
		/* One exit: the wait consumes the event that ends it (twin_abi.h). */
		mmio__write32(DBG(TWIN_DEBUGDEV_REG_WAIT_US), us);
		return;
	}
	end = clock__us() + us;
	while (clock__us() < end)
		cpu__relax();
}

/* The frame isr_common builds: GPRs, then the stub's vector and error, then the CPU's. */
struct fault_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

void fault__handle(struct fault_frame *f);
extern const char rt__park_insn[];

/*
 * Ring 0, entered from isr_common.  Reports the fault in one line and exits
 * with TWIN_GUEST_EXIT_FAULT_BASE + vector.  Takes no lock: the faulting CPU
 * may hold the console lock.
 */
void fault__handle(struct fault_frame *f)
{
	uint64_t cr2 = 0;
	int n;

	if (f->vector == 6 && f->rip == (uintptr_t)rt__park_insn)
		for (;;)
			__asm__ volatile("cli; hlt");
	if (__atomic_exchange_n(&fault_taken, 1, __ATOMIC_ACQ_REL))
		for (;;) /* a second fault, on any CPU: the first one reports */
			__asm__ volatile("cli; hlt");
	if (f->vector == 14)
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	n = snprintf(fault_print_buf, sizeof(fault_print_buf),
		     "twin-guest: fault vector=%lu error=0x%lx rip=0x%lx cr2=0x%lx cpl=%lu\n",
		     f->vector, f->error, f->rip, cr2, f->cs & 3);
	if (n >= (int)sizeof(fault_print_buf))
		n = sizeof(fault_print_buf) - 1;
	/* What the guest printed before the fault comes first, and is not lost. */
	vcons__drain(100000);
	if (platform == PLATFORM_TWIN) {
		mmio__write32(DBG(TWIN_DEBUGDEV_REG_BUF_ADDR_LO), (uint32_t)(uintptr_t)fault_print_buf);
		mmio__write32(DBG(TWIN_DEBUGDEV_REG_BUF_ADDR_HI), 0);
		mmio__write32(DBG(TWIN_DEBUGDEV_REG_BUF_LEN), (uint32_t)n);
		mmio__write32(DBG(TWIN_DEBUGDEV_REG_EXIT), TWIN_GUEST_EXIT_FAULT_BASE + (uint32_t)f->vector);
	} else if (platform == PLATFORM_QEMU) {
		log_append(fault_print_buf, (size_t)n);
		__atomic_store_n(&twin_guest_log.exit,
				 TWIN_GUEST_LOG_EXITED | (TWIN_GUEST_EXIT_FAULT_BASE + (uint32_t)f->vector),
				 __ATOMIC_RELEASE);
		*(volatile uint8_t *)(uintptr_t)RT_GED_SLEEP_CTL = RT_GED_SLEEP_S5;
	} else {
		/* Faulted before ring 3 looked at the platform: isa-debug-exit is
		 * all there is (it works while the stub still runs in ring 0). */
		__asm__ volatile("outb %b0, %w1" ::"a"(TWIN_GUEST_EXIT_FAULT_BASE + f->vector),
				 "Nd"(TWIN_DEBUG_EXIT_PORT));
	}
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Ring 3 starts here on every CPU (boot.S iretq). */
void rt__entry(unsigned int cpu)
{
	if (cpu != 0) {
		platform__init_cpu(cpu);
		smp__ap_main(cpu);
	}
	platform__detect();
	platform__init_cpu(0);
	args__init();
	clock__init();
	vcons__init();
	platform__exit((unsigned int)guest_main());
}
