/* vCPU and VM-wide state: round trip in place, memwriter moved into a fresh VM, refusals. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "boot.h"
#include "memory.h"
#include "suites.h"
#include "vcpu_state.h"
#include "vm.h"
#include "vm_state.h"
#include "vm_fixture.h"

#define MSR_IA32_TSC	      0x10
#define MSR_IA32_SYSENTER_ESP 0x175 /* unused by a 64-bit guest: free for a marker */
#define XSAVE_XMM15_WORD      ((160 + 15 * 16) / 4) /* legacy area: XMM0 at byte 160 */
#define XSAVE_XSTATE_BV_WORD  (512 / 4)		    /* the XSAVE header */
#define VCPUS		      2
#define PAGES		      256
#define WS		      256
#define ITERS		      4
/* 2 pages/ms per vCPU: ~0.5 s of writing, paced by WAIT_US, so a pause lands mid-run. */
#define CMDLINE "pages=256 ws=256 rate=2 vcpus=2 iters=4"

static void wait_done(struct test_vm *g)
{
	char want[128];

	snprintf(want, sizeof(want),
		 "memwriter: done iters=%d pages=%d vcpus=%d checksum=0x%016llx", ITERS, PAGES,
		 VCPUS, (unsigned long long)memwriter_checksum(VCPUS, PAGES, WS, ITERS));
	test_vm__wait_text(g, "memwriter: done");
	ck_assert_msg(strstr(g->out, want), "wanted \"%s\"; the console said:\n%s", want, g->out);
	ck_assert_int_eq(vm__join(g->vm), 1); /* TWIN_GUEST_EXIT_OK */
}

/*
 * Boots memwriter and pauses it once it is writing, with writing left to do
 * and vCPU 0 inside a paced WAIT_US, so the debugdev wait is carried too.
 */
static void boot_and_pause_mid_run(struct test_vm *g)
{
	bool waiting = false;

	test_vm__create(g, 64 << 20, VCPUS);
	test_vm__boot_memwriter(g, CMDLINE);
	test_vm__wait_writing(g);
	for (int tries = 0; tries < 1000 && !waiting; tries++) {
		vm__pause_all(g->vm);
		pthread_mutex_lock(&g->vm->lock);
		waiting = g->vm->vcpus[0].wait_deadline_ns != 0;
		pthread_mutex_unlock(&g->vm->lock);
		if (!waiting) {
			vm__resume_all(g->vm);
			usleep(100);
		}
	}
	ck_assert_msg(waiting, "vCPU 0 never paused inside a WAIT_US");
	ck_assert_msg(!strstr(g->out, "memwriter: done"), "memwriter finished before the pause");
}

/*
 * src and dst must be equal but for what time moves while paused: the TSC
 * (restored, then running on: dst >= src; in the lab's nested PVM it follows
 * the host's TSC whatever is written, hence the markers) and what is left of
 * a debugdev wait (shrinks).  Everything else KVM gives back as it was set.
 */
static void assert_vcpu_state_eq(const struct vcpu_state *src, const struct vcpu_state *dst,
				 unsigned int i)
{
#define SAME(f)                                                                                    \
	ck_assert_msg(memcmp(&src->f, &dst->f, sizeof(src->f)) == 0, "vCPU %u: " #f " differs", i)
	SAME(mp_state);
	SAME(regs);
	SAME(sregs);
	SAME(xsave);
	SAME(xcrs);
	SAME(debugregs);
	SAME(lapic);
	SAME(tsc_khz);
	SAME(events);
	SAME(debugdev.buf_gpa);
	SAME(debugdev.events);
	SAME(debugdev.woken_by);
#undef SAME
	ck_assert_uint_eq(src->nr_msrs, dst->nr_msrs);
	ck_assert_uint_gt(src->nr_msrs, 0);
	for (uint32_t m = 0; m < src->nr_msrs; m++) {
		const struct kvm_msr_entry *a = &src->msrs[m], *b = &dst->msrs[m];

		ck_assert_uint_eq(a->index, b->index);
		if (a->index == MSR_IA32_TSC)
			ck_assert_msg(b->data >= a->data &&
					  b->data - a->data < 10000ULL * src->tsc_khz,
				      "vCPU %u: TSC 0x%llx restored as 0x%llx", i,
				      (unsigned long long)a->data, (unsigned long long)b->data);
		else
			ck_assert_msg(a->data == b->data, "vCPU %u: MSR 0x%x: 0x%llx became 0x%llx",
				      i, a->index, (unsigned long long)a->data,
				      (unsigned long long)b->data);
	}
	if (src->debugdev.wait_left_ns == 0 || src->debugdev.wait_left_ns == UINT64_MAX)
		ck_assert_uint_eq(src->debugdev.wait_left_ns, dst->debugdev.wait_left_ns);
	else
		ck_assert(dst->debugdev.wait_left_ns <= src->debugdev.wait_left_ns &&
			  dst->debugdev.wait_left_ns > 0);
}

/* Equal but for the KVM clock (runs on) and PIT load times (SET_PIT2 reloads at "now"). */
static void assert_vm_state_eq(const struct vm_state *src, const struct vm_state *dst)
{
	struct kvm_pit_state2 a = src->pit, b = dst->pit;

	ck_assert_uint_eq(src->nr_vcpus, dst->nr_vcpus);
	ck_assert_int_eq(memcmp(&src->pic_master, &dst->pic_master, sizeof(src->pic_master)), 0);
	ck_assert_int_eq(memcmp(&src->pic_slave, &dst->pic_slave, sizeof(src->pic_slave)), 0);
	ck_assert_int_eq(memcmp(&src->ioapic, &dst->ioapic, sizeof(src->ioapic)), 0);
	ck_assert_int_eq(src->has_pit, dst->has_pit);
	for (int c = 0; c < 3; c++)
		a.channels[c].count_load_time = b.channels[c].count_load_time = 0;
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
	ck_assert_uint_ge(dst->clock.clock, src->clock.clock);
	ck_assert_uint_lt(dst->clock.clock - src->clock.clock, 10000000000ULL);
}

/*
 * Marks state the guest never looks at (it is built -mgeneral-regs-only, runs
 * 64-bit and takes no NMIs), so a fresh VM differs from it in each of these:
 * an MSR, XMM15 in the XSAVE area, DR0 (no breakpoint: DR7 stays off) and
 * the NMI mask in the vCPU events.
 */
static void mark(struct vcpu *vcpu, uint32_t marker)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = {.hdr.nmsrs = 1, .e = {.index = MSR_IA32_SYSENTER_ESP, .data = marker}};
	struct kvm_xsave *x = calloc(1, sizeof(*x));
	struct kvm_vcpu_events ev;
	struct kvm_debugregs dr;

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(ioctl(vcpu->fd, KVM_SET_MSRS, &m), 1);
	ck_assert_int_eq(ioctl(vcpu->fd, KVM_GET_XSAVE, x), 0);
	x->region[XSAVE_XMM15_WORD] = marker;
	x->region[XSAVE_XSTATE_BV_WORD] |= 2; /* SSE in use, or KVM keeps its init state */
	ck_assert_int_eq(ioctl(vcpu->fd, KVM_SET_XSAVE, x), 0);
	ck_assert_int_eq(ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &ev), 0);
	ev.nmi.masked = 1;
	ck_assert_int_eq(ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev), 0);
	ck_assert_int_eq(ioctl(vcpu->fd, KVM_GET_DEBUGREGS, &dr), 0);
	dr.db[0] = marker;
	ck_assert_int_eq(ioctl(vcpu->fd, KVM_SET_DEBUGREGS, &dr), 0);
	free(x);
}

/* Changes a register the guest does use: only where a restore puts it back before it runs. */
static void scribble(struct vcpu *vcpu, uint32_t marker)
{
	struct kvm_regs regs;

	mark(vcpu, marker);
	ck_assert_int_eq(ioctl(vcpu->fd, KVM_GET_REGS, &regs), 0);
	regs.rbx = ~regs.rbx;
	ck_assert_int_eq(ioctl(vcpu->fd, KVM_SET_REGS, &regs), 0);
}

/*
 * The VM-wide counterpart: a masked IOAPIC pin (the guest uses none), the
 * slave PIC's mask, the PC speaker's PIT count (channel 2, gate off) and the
 * KVM clock 1000 s on (the guest keeps no kvmclock).
 */
static void mark_vm(struct vm *vm)
{
	struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_IOAPIC};
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock = {.flags = 0};

	ck_assert_int_eq(ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.ioapic.redirtbl[23].fields.vector = 0x5e;
	chip.chip.ioapic.redirtbl[23].fields.mask = 1;
	ck_assert_int_eq(ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip), 0);
	chip = (struct kvm_irqchip){.chip_id = KVM_IRQCHIP_PIC_SLAVE};
	ck_assert_int_eq(ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.pic.imr ^= 0x5a;
	ck_assert_int_eq(ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip), 0);
	ck_assert_int_eq(ioctl(vm->vm_fd, KVM_GET_PIT2, &pit), 0);
	pit.channels[2].count = 0x1234;
	ck_assert_int_eq(ioctl(vm->vm_fd, KVM_SET_PIT2, &pit), 0);
	ck_assert_int_eq(ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock), 0);
	clock = (struct kvm_clock_data){.clock = clock.clock + 1000000000000ULL};
	ck_assert_int_eq(ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock), 0);
}

struct saved {
	struct vcpu_state vcpu[VCPUS];
	struct vm_state vm;
};

static void capture_all(struct vm *vm, struct saved *s)
{
	for (unsigned int i = 0; i < VCPUS; i++)
		ck_assert_int_eq(vcpu_state__capture(&vm->vcpus[i], &s->vcpu[i]), 0);
	ck_assert_int_eq(vm_state__capture(vm, &s->vm), 0);
}

static void restore_all(struct vm *vm, const struct saved *s)
{
	for (unsigned int i = 0; i < VCPUS; i++)
		ck_assert_int_eq(vcpu_state__restore(&vm->vcpus[i], &s->vcpu[i]), 0);
	ck_assert_int_eq(vm_state__restore(vm, &s->vm), 0);
}

static void assert_saved_eq(const struct saved *a, const struct saved *b)
{
	for (unsigned int i = 0; i < VCPUS; i++)
		assert_vcpu_state_eq(&a->vcpu[i], &b->vcpu[i], i);
	assert_vm_state_eq(&a->vm, &b->vm);
}

/* capture, restore into the same paused VM, capture again: the same state; the guest goes on. */
START_TEST(test_round_trip_in_place)
{
	struct saved *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct test_vm g;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	boot_and_pause_mid_run(&g);
	capture_all(g.vm, a);
	for (unsigned int i = 0; i < VCPUS; i++)
		scribble(&g.vm->vcpus[i], 0x5eed0000 + i);
	mark_vm(g.vm);
	restore_all(g.vm, a);
	capture_all(g.vm, b);
	assert_saved_eq(a, b);
	vm__resume_all(g.vm);
	wait_done(&g);
	test_vm__destroy(&g);
	free(a);
	free(b);
}
END_TEST

/*
 * memwriter paused mid-run in VM A, its RAM and state moved into a fresh VM B
 * (A destroyed), finishes in B with the checksum of an uninterrupted run.
 * B's state right after the restore is A's: each restore step is checked.
 */
START_TEST(test_restore_into_fresh_vm)
{
	struct saved *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct test_vm ga, gb;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	boot_and_pause_mid_run(&ga);
	/* A marker a fresh VM lacks: this host's TSC alone cannot show the MSRs arrive. */
	for (unsigned int i = 0; i < VCPUS; i++)
		mark(&ga.vm->vcpus[i], 0x5eed0000 + i);
	mark_vm(ga.vm);
	capture_all(ga.vm, a);
	test_vm__create(&gb, 64 << 20, VCPUS);
	ck_assert_uint_eq(gb.vm->mem.size, ga.vm->mem.size);
	memcpy(gb.vm->mem.base, ga.vm->mem.base, ga.vm->mem.size);
	test_vm__destroy(&ga);
	restore_all(gb.vm, a);
	capture_all(gb.vm, b);
	assert_saved_eq(a, b);
	ck_assert_int_eq(vm__start(gb.vm), 0);
	wait_done(&gb);
	test_vm__destroy(&gb);
	free(a);
	free(b);
}
END_TEST

/*
 * Refused with a clear error and nothing written: wrong vCPU count, corrupt
 * counts and ids, a TSC frequency KVM cannot give, a running VM.
 */
START_TEST(test_restore_refusals)
{
	struct saved *a = calloc(1, sizeof(*a));
	struct vcpu_state *bad = calloc(1, sizeof(*bad));
	struct vm_config one = {.mem_size = 64 << 20, .nr_vcpus = 1, .console_fd = -1};
	struct vm_state vbad;
	struct vm *small;
	struct test_vm g;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(bad);
	boot_and_pause_mid_run(&g);
	capture_all(g.vm, a);

	ck_assert_int_eq(vm__create(&one, &small), 0);
	ck_assert_int_eq(vm_state__restore(small, &a->vm), -EINVAL);
	vm__destroy(small);

	*bad = a->vcpu[0];
	bad->nr_msrs = VCPU_STATE_MAX_MSRS + 1;
	ck_assert_int_eq(vcpu_state__restore(&g.vm->vcpus[0], bad), -EINVAL);
	*bad = a->vcpu[0];
	bad->tsc_khz = 0;
	ck_assert_int_eq(vcpu_state__restore(&g.vm->vcpus[0], bad), -EINVAL);
	/* Another host's TSC frequency: scaled where KVM can, else refused. */
	*bad = a->vcpu[0];
	bad->tsc_khz -= 100000;
	if (ioctl(g.vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) > 0) {
		ck_assert_int_eq(vcpu_state__restore(&g.vm->vcpus[0], bad), 0);
		ck_assert_int_eq(ioctl(g.vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0), bad->tsc_khz);
		ck_assert_int_eq(vcpu_state__restore(&g.vm->vcpus[0], &a->vcpu[0]), 0);
	} else {
		ck_assert_int_eq(vcpu_state__restore(&g.vm->vcpus[0], bad), -ENOTSUP);
		ck_assert_int_eq(ioctl(g.vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0), a->vcpu[0].tsc_khz);
	}
	vbad = a->vm;
	vbad.has_pit = false;
	ck_assert_int_eq(vm_state__restore(g.vm, &vbad), -EINVAL);
	vbad = a->vm;
	vbad.ioapic.chip_id = 7;
	ck_assert_int_eq(vm_state__restore(g.vm, &vbad), -EINVAL);

	/* The refusals changed nothing: the guest still finishes correctly. */
	vm__resume_all(g.vm);
	ck_assert_int_eq(vcpu_state__capture(&g.vm->vcpus[0], bad), -EBUSY);
	ck_assert_int_eq(vcpu_state__restore(&g.vm->vcpus[0], &a->vcpu[0]), -EBUSY);
	ck_assert_int_eq(vm_state__restore(g.vm, &a->vm), -EBUSY);
	wait_done(&g);
	test_vm__destroy(&g);
	free(a);
	free(bad);
}
END_TEST

Suite *vcpu_state_suite(void)
{
	Suite *s = suite_create("vcpu_state");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip_in_place);
	tcase_add_test(tc, test_restore_into_fresh_vm);
	tcase_add_test(tc, test_restore_refusals);
	suite_add_tcase(s, tc);
	return s;
}
