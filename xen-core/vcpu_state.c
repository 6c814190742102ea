/* vCPU state capture and restore, in the order KVM needs (DESIGN.md §5). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include "log.h"
#include "vcpu_state.h"
#include "vm.h"

#define MSR_IA32_TSC 0x10

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Parked by vm__pause_all (or never started, or ended) with no I/O half done. */
static int check_paused(struct vcpu *vcpu, const char *what)
{
	struct vm *vm = vcpu->vm;
	bool ok;

	pthread_mutex_lock(&vm->lock);
	ok = (vm->nr_running == 0 || (vm->pause_depth && vm->nr_parked == vm->nr_running)) &&
	     !vcpu->io_pending;
	pthread_mutex_unlock(&vm->lock);
	if (ok)
		return 0;
	log__error("vCPU %u: %s of a running VM refused: pause it first (vm__pause_all)",
		   vcpu->index, what);
	return -EBUSY;
}

/*
 * KVM's MSR index list less the MSRs this VM's vCPUs refuse to read (it lists
 * every MSR KVM knows, some only for CPUID features this guest lacks).
 * Probed once, on vCPU 0; capture and restore run on one thread at a time.
 */
static int probe_msrs(struct vm *vm)
{
	struct kvm_msr_list probe = {.nmsrs = 0}, *list = NULL;
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} one;
	uint32_t n = 0;
	int rc = 0;

	if (vm->state_msrs)
		return 0;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		rc = -errno;
		log__error("KVM_GET_MSR_INDEX_LIST failed: %s", strerror(-rc));
		goto out;
	}
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	if (!list) {
		rc = -ENOMEM;
		log__error("allocating the MSR list failed: out of memory");
		goto out;
	}
	list->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		rc = -errno;
		log__error("KVM_GET_MSR_INDEX_LIST failed: %s", strerror(-rc));
		goto out;
	}
	for (uint32_t i = 0; i < list->nmsrs; i++) {
		memset(&one, 0, sizeof(one));
		one.hdr.nmsrs = 1;
		one.e.index = list->indices[i];
		if (ioctl(vm->vcpus[0].fd, KVM_GET_MSRS, &one) != 1)
			continue;
		list->indices[n++] = one.e.index;
	}
	if (n > VCPU_STATE_MAX_MSRS) {
		rc = -E2BIG;
		log__error("KVM lists %u MSRs, more than the %d a vCPU state holds: raise "
			   "VCPU_STATE_MAX_MSRS",
			   n, VCPU_STATE_MAX_MSRS);
		goto out;
	}
	list->nmsrs = n;
	vm->state_msrs = list;
	list = NULL;
out:
	free(list);
	return rc;
}

static int capture_msrs(struct vcpu *vcpu, struct vcpu_state *st)
{
	const struct kvm_msr_list *list;
	struct kvm_msrs *m;
	int rc, r;

	rc = probe_msrs(vcpu->vm);
	if (rc)
		return rc;
	list = vcpu->vm->state_msrs;
	m = calloc(1, sizeof(*m) + list->nmsrs * sizeof(m->entries[0]));
	if (!m) {
		log__error("vCPU %u: allocating its MSRs failed: out of memory", vcpu->index);
		return -ENOMEM;
	}
	m->nmsrs = list->nmsrs;
	for (uint32_t i = 0; i < list->nmsrs; i++)
		m->entries[i].index = list->indices[i];
	r = ioctl(vcpu->fd, KVM_GET_MSRS, m);
	if (r < 0 || (uint32_t)r != list->nmsrs) {
		rc = r < 0 ? -errno : -EIO;
		log__error("vCPU %u: KVM_GET_MSRS failed at MSR %u of %u: %s", vcpu->index,
			   r < 0 ? 0 : r, list->nmsrs, strerror(-rc));
		goto out;
	}
	st->nr_msrs = list->nmsrs;
	memcpy(st->msrs, m->entries, list->nmsrs * sizeof(m->entries[0]));
out:
	free(m);
	return rc;
}

int vcpu_state__capture(struct vcpu *vcpu, struct vcpu_state *st)
{
	const char *what;
	int rc, r;

	memset(st, 0, sizeof(*st));
	rc = check_paused(vcpu, "state capture");
	if (rc)
		return rc;
	what = "KVM_GET_MP_STATE";
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &st->mp_state) < 0)
		goto fail;
	what = "KVM_GET_REGS";
	if (ioctl(vcpu->fd, KVM_GET_REGS, &st->regs) < 0)
		goto fail;
	what = "KVM_GET_SREGS";
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &st->sregs) < 0)
		goto fail;
	what = "KVM_GET_XSAVE";
	if (ioctl(vcpu->fd, KVM_GET_XSAVE, &st->xsave) < 0)
		goto fail;
	what = "KVM_GET_XCRS";
	if (ioctl(vcpu->fd, KVM_GET_XCRS, &st->xcrs) < 0)
		goto fail;
	what = "KVM_GET_DEBUGREGS";
	if (ioctl(vcpu->fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0)
		goto fail;
	what = "KVM_GET_LAPIC";
	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &st->lapic) < 0)
		goto fail;
	what = "KVM_GET_TSC_KHZ";
	r = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	if (r <= 0) {
		errno = r < 0 ? errno : EINVAL;
		goto fail;
	}
	st->tsc_khz = r;
	rc = capture_msrs(vcpu, st);
	if (rc)
		return rc;
	what = "KVM_GET_VCPU_EVENTS";
	if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &st->events) < 0)
		goto fail;

	pthread_mutex_lock(&vcpu->vm->lock);
	st->debugdev.buf_gpa = vcpu->debug_buf_gpa;
	st->debugdev.events = vcpu->events;
	st->debugdev.woken_by = vcpu->woken_by;
	if (vcpu->wait_deadline_ns == 0 || vcpu->wait_deadline_ns == UINT64_MAX) {
		st->debugdev.wait_left_ns = vcpu->wait_deadline_ns;
	} else {
		uint64_t now = monotonic_ns();

		/* 1, not 0, for a deadline already past: 0 would mean no wait at all. */
		st->debugdev.wait_left_ns =
		    vcpu->wait_deadline_ns > now ? vcpu->wait_deadline_ns - now : 1;
	}
	pthread_mutex_unlock(&vcpu->vm->lock);
	return 0;
fail:
	rc = -errno;
	log__error("vCPU %u: capturing its state: %s failed: %s", vcpu->index, what, strerror(-rc));
	return rc;
}

int vcpu_state__read_regs(struct vcpu *vcpu, struct vcpu_regs *out)
{
	const char *what;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = check_paused(vcpu, "reading its registers");
	if (rc)
		return rc;
	what = "KVM_GET_MP_STATE";
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &out->mp_state) < 0)
		goto fail;
	what = "KVM_GET_REGS";
	if (ioctl(vcpu->fd, KVM_GET_REGS, &out->regs) < 0)
		goto fail;
	what = "KVM_GET_SREGS";
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &out->sregs) < 0)
		goto fail;
	return 0;
fail:
	rc = -errno;
	log__error("vCPU %u: reading its registers: %s failed: %s", vcpu->index, what,
		   strerror(-rc));
	return rc;
}

/* Refuses a state this code could not have captured, before touching the vCPU. */
static int validate(struct vcpu *vcpu, const struct vcpu_state *st)
{
	if (st->nr_msrs > VCPU_STATE_MAX_MSRS) {
		log__error("vCPU %u: restore refused: the state holds %u MSRs, at most %d are "
			   "possible: the state is corrupt",
			   vcpu->index, st->nr_msrs, VCPU_STATE_MAX_MSRS);
		return -EINVAL;
	}
	if (st->tsc_khz == 0) {
		log__error("vCPU %u: restore refused: the state has no TSC frequency: the state "
			   "is corrupt",
			   vcpu->index);
		return -EINVAL;
	}
	return 0;
}

/* Runs the guest's TSC at the saved frequency, or says why it cannot. */
static int restore_tsc_khz(struct vcpu *vcpu, uint32_t khz)
{
	int here = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);

	if (here > 0 && (uint32_t)here == khz)
		return 0;
	if (ioctl(vcpu->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) <= 0) {
		log__error("vCPU %u: restore refused: the guest's TSC ran at %u kHz, this host's "
			   "at %d kHz, and KVM here cannot scale it (no KVM_CAP_TSC_CONTROL): "
			   "restore on a host with the same TSC frequency",
			   vcpu->index, khz, here);
		return -ENOTSUP;
	}
	if (ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0) {
		int rc = -errno;

		log__error("vCPU %u: restore refused: KVM_SET_TSC_KHZ %u (host %d kHz) failed: "
			   "%s: restore on a host with the same TSC frequency",
			   vcpu->index, khz, here, strerror(-rc));
		return rc;
	}
	return 0;
}

/* The saved MSRs with the TSC first: TSC_DEADLINE is set relative to it. */
static int restore_msrs(struct vcpu *vcpu, const struct vcpu_state *st)
{
	struct kvm_msrs *m;
	uint32_t n = 0;
	int rc = 0, r;

	m = calloc(1, sizeof(*m) + st->nr_msrs * sizeof(m->entries[0]));
	if (!m) {
		log__error("vCPU %u: allocating its MSRs failed: out of memory", vcpu->index);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < st->nr_msrs; i++)
		if (st->msrs[i].index == MSR_IA32_TSC)
			m->entries[n++] = st->msrs[i];
	for (uint32_t i = 0; i < st->nr_msrs; i++)
		if (st->msrs[i].index != MSR_IA32_TSC)
			m->entries[n++] = st->msrs[i];
	m->nmsrs = n;
	r = ioctl(vcpu->fd, KVM_SET_MSRS, m);
	if (r < 0) {
		rc = -errno;
		log__error("vCPU %u: restoring its state: KVM_SET_MSRS failed: %s", vcpu->index,
			   strerror(-rc));
	} else if ((uint32_t)r != m->nmsrs) {
		/* KVM stops at the first MSR it refuses. */
		rc = -EINVAL;
		log__error("vCPU %u: restoring its state: KVM refused MSR 0x%x = 0x%llx: the "
			   "state comes from a different vCPU model or is corrupt",
			   vcpu->index, m->entries[r].index,
			   (unsigned long long)m->entries[r].data);
	}
	free(m);
	return rc;
}

int vcpu_state__restore(struct vcpu *vcpu, const struct vcpu_state *st)
{
	struct kvm_vcpu_events events = st->events;
	const char *what;
	int rc;

	rc = check_paused(vcpu, "state restore");
	if (!rc)
		rc = validate(vcpu, st);
	if (!rc)
		rc = restore_tsc_khz(vcpu, st->tsc_khz);
	if (rc)
		return rc;
	what = "KVM_SET_MP_STATE";
	if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &st->mp_state) < 0)
		goto fail;
	what = "KVM_SET_REGS";
	if (ioctl(vcpu->fd, KVM_SET_REGS, &st->regs) < 0)
		goto fail;
	what = "KVM_SET_SREGS";
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &st->sregs) < 0)
		goto fail;
	what = "KVM_SET_XSAVE";
	if (ioctl(vcpu->fd, KVM_SET_XSAVE, &st->xsave) < 0)
		goto fail;
	what = "KVM_SET_XCRS";
	if (ioctl(vcpu->fd, KVM_SET_XCRS, &st->xcrs) < 0)
		goto fail;
	what = "KVM_SET_DEBUGREGS";
	if (ioctl(vcpu->fd, KVM_SET_DEBUGREGS, &st->debugregs) < 0)
		goto fail;
	what = "KVM_SET_LAPIC";
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &st->lapic) < 0)
		goto fail;
	rc = restore_msrs(vcpu, st);
	if (rc)
		return rc;
	/* GET leaves these unmarked, yet they were saved: without the flags SET ignores them. */
	events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	what = "KVM_SET_VCPU_EVENTS";
	if (ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &events) < 0)
		goto fail;
	/* EINVAL: the guest registered no kvmclock, so there is nothing to tell it. */
	if (ioctl(vcpu->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL) > 0 &&
	    ioctl(vcpu->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL) {
		what = "KVM_KVMCLOCK_CTRL";
		goto fail;
	}

	pthread_mutex_lock(&vcpu->vm->lock);
	vcpu->debug_buf_gpa = st->debugdev.buf_gpa;
	vcpu->events = st->debugdev.events;
	vcpu->woken_by = st->debugdev.woken_by;
	vcpu->wait_deadline_ns =
	    st->debugdev.wait_left_ns == 0 || st->debugdev.wait_left_ns == UINT64_MAX
		? st->debugdev.wait_left_ns
		: monotonic_ns() + st->debugdev.wait_left_ns;
	pthread_mutex_unlock(&vcpu->vm->lock);
	return 0;
fail:
	rc = -errno;
	log__error("vCPU %u: restoring its state: %s failed: %s", vcpu->index, what, strerror(-rc));
	return rc;
}
