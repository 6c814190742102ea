/* Dirty-page tracking: KVM_GET_DIRTY_LOG, manual protect + KVM_CLEAR_DIRTY_LOG, dirty rings. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "layout.h"
#include "log.h"
#include "vm.h"
#include "util.h"

struct dirty {
	enum dirty_method method;
	bool enabled;
	uint64_t ring_bytes;
	uint32_t ring_entries;
	uint64_t ring_full_count; /* under lock */
	/*
	 * Ring method: lock orders the readers of the rings (the harvester and
	 * vCPUs whose ring filled up) and guards pending, the pages taken out of
	 * full rings since the last harvest.
	 */
	pthread_mutex_t lock;
	uint64_t *pending;
	/*
	 * dirty__mark's pages: set with atomic OR by any thread, taken with an
	 * atomic exchange by the harvest.  marked is marks published (release)
	 * by dirty__enable, and NULL again after dirty__disable; marks stays
	 * allocated, so a mark already under way never writes freed memory.
	 */
	uint64_t *marked;
	uint64_t *marks;
};

static const char *const method_names[] = {
    [DIRTY_METHOD_GET_LOG] = "get-log",
    [DIRTY_METHOD_CLEAR_LOG] = "clear-log",
    [DIRTY_METHOD_RING] = "ring",
};

const char *dirty__method_to_str(enum dirty_method m)
{
	return (unsigned int)m < ARRAY_SIZE(method_names) ? method_names[m] : "unknown";
}

int dirty__method_from_str(const char *s, enum dirty_method *out)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(method_names); i++) {
		if (!strcmp(s, method_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

uint64_t dirty__bitmap_bits(const struct vm *vm)
{
	uint64_t end = vm->mem.high_size
			   ? LAYOUT_HIGH_PFN + (vm->mem.high_size >> LAYOUT_PAGE_SHIFT)
			   : vm->mem.low_size >> LAYOUT_PAGE_SHIFT;

	/* Whole words: KVM writes a slot's bitmap in 64-bit units. */
	return (end + 63) & ~63ULL;
}

static int enable_cap(struct vm *vm, uint32_t cap, uint64_t arg0)
{
	struct kvm_enable_cap c = {.cap = cap, .args = {arg0}};

	return ioctl(vm->vm_fd, KVM_ENABLE_CAP, &c) < 0 ? -errno : 0;
}

static int init_ring(struct vm *vm, struct dirty *d)
{
	uint32_t cap = KVM_CAP_DIRTY_LOG_RING_ACQ_REL;
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap);
	int rc;

	/* ACQ_REL states the ordering we rely on; x86 also offers the plain one. */
	if (max <= 0) {
		cap = KVM_CAP_DIRTY_LOG_RING;
		max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap);
	}
	d->ring_entries =
	    vm->cfg.dirty_ring_entries ? vm->cfg.dirty_ring_entries : DIRTY_RING_ENTRIES_DEFAULT;
	d->ring_bytes = (uint64_t)d->ring_entries * sizeof(struct kvm_dirty_gfn);
	if (d->ring_entries & (d->ring_entries - 1) ||
	    d->ring_bytes < (uint64_t)sysconf(_SC_PAGESIZE)) {
		log__error("dirty ring of %u entries: use a power of two of at least %ld",
			   d->ring_entries,
			   sysconf(_SC_PAGESIZE) / (long)sizeof(struct kvm_dirty_gfn));
		return -EINVAL;
	}
	if (max <= 0) {
		log__error(
		    "KVM lacks KVM_CAP_DIRTY_LOG_RING: choose another dirty-tracking method");
		return -ENOSYS;
	}
	if ((uint64_t)max < d->ring_bytes) {
		log__error("KVM allows dirty rings of %d bytes, %llu needed: choose another "
			   "dirty-tracking method",
			   max, (unsigned long long)d->ring_bytes);
		return -ENOSYS;
	}
	rc = enable_cap(vm, cap, d->ring_bytes);
	if (rc)
		log__error("enabling the KVM dirty ring failed: %s", strerror(-rc));
	return rc;
}

int dirty__vm_init(struct vm *vm)
{
	struct dirty *d = calloc(1, sizeof(*d));
	int rc = 0, r;

	if (!d) {
		log__error("allocating the dirty-tracking state failed: out of memory");
		return -ENOMEM;
	}
	d->method = vm->cfg.dirty_method;
	pthread_mutex_init(&d->lock, NULL);
	vm->dirty = d;
	switch (d->method) {
	case DIRTY_METHOD_GET_LOG:
		break;
	case DIRTY_METHOD_CLEAR_LOG:
		r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
		if (r <= 0 || !(r & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
			log__error("KVM lacks KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: choose another "
				   "dirty-tracking method");
			rc = -ENOSYS;
			break;
		}
		/* Without INITIALLY_SET, so the first harvest means what later ones do. */
		rc = enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
				KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
		if (rc)
			log__error("enabling KVM manual dirty-log protection failed: %s",
				   strerror(-rc));
		break;
	case DIRTY_METHOD_RING:
		rc = init_ring(vm, d);
		break;
	default:
		rc = -EINVAL;
		break;
	}
	return rc;
}

int dirty__vcpu_init(struct vcpu *vcpu)
{
	struct dirty *d = vcpu->vm->dirty;
	void *p;

	if (d->method != DIRTY_METHOD_RING)
		return 0;
	p = mmap(NULL, d->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd,
		 KVM_DIRTY_LOG_PAGE_OFFSET * sysconf(_SC_PAGESIZE));
	if (p == MAP_FAILED) {
		int rc = -errno;

		log__error("vCPU %u: mapping its dirty ring failed: %s", vcpu->index,
			   strerror(-rc));
		return rc;
	}
	vcpu->ring = p;
	return 0;
}

void dirty__vcpu_exit(struct vcpu *vcpu)
{
	if (vcpu->ring)
		munmap(vcpu->ring, vcpu->vm->dirty->ring_bytes);
	vcpu->ring = NULL;
}

int dirty__enable(struct vm *vm)
{
	struct dirty *d = vm->dirty;
	int rc;

	if (d->enabled)
		return -EALREADY;
	if (d->method == DIRTY_METHOD_RING && !d->pending) {
		d->pending = calloc(dirty__bitmap_bits(vm) / 64, sizeof(uint64_t));
		if (!d->pending)
			return -ENOMEM;
	}
	if (!d->marks) {
		d->marks = calloc(dirty__bitmap_bits(vm) / 64, sizeof(uint64_t));
		if (!d->marks)
			return -ENOMEM;
	} else {
		memset(d->marks, 0, dirty__bitmap_bits(vm) / 64 * sizeof(uint64_t));
	}
	/* Marks start with logging: a device write before this is in the first pass. */
	__atomic_store_n(&d->marked, d->marks, __ATOMIC_RELEASE);
	rc = memory__set_log_dirty(vm, true);
	if (!rc)
		d->enabled = true;
	else
		__atomic_store_n(&d->marked, NULL, __ATOMIC_RELEASE);
	return rc;
}

void dirty__mark(struct vm *vm, uint64_t gpa, uint64_t len)
{
	struct dirty *d = vm ? vm->dirty : NULL;
	uint64_t *m = d ? __atomic_load_n(&d->marked, __ATOMIC_ACQUIRE) : NULL;
	uint64_t nbits, pfn, last;

	if (!m || !len || gpa + len < gpa)
		return;
	nbits = dirty__bitmap_bits(vm);
	last = (gpa + len - 1) >> LAYOUT_PAGE_SHIFT;
	/*
	 * Only pages of RAM (a harvest names pages to send).  Release: whoever
	 * takes the mark (the harvest's exchange) then sees the write before it.
	 */
	for (pfn = gpa >> LAYOUT_PAGE_SHIFT; pfn <= last && pfn < nbits; pfn++)
		if (memory__gpa_to_hva(vm, pfn << LAYOUT_PAGE_SHIFT, 1ULL << LAYOUT_PAGE_SHIFT))
			__atomic_fetch_or(&m[pfn / 64], 1ULL << (pfn % 64), __ATOMIC_RELEASE);
}

/* Moves the marked pages into bitmap, clearing each word in one atomic step. */
static void take_marks(struct dirty *d, uint64_t *bitmap, uint64_t words)
{
	for (uint64_t w = 0; w < words; w++)
		if (__atomic_load_n(&d->marks[w], __ATOMIC_RELAXED))
			bitmap[w] |= __atomic_exchange_n(&d->marks[w], 0, __ATOMIC_ACQUIRE);
}

/* Moves the published entries of one vCPU's ring into bitmap.  Caller holds d->lock. */
static void collect_ring(struct vcpu *vcpu, uint64_t *bitmap, uint64_t nbits)
{
	uint32_t mask = vcpu->vm->dirty->ring_entries - 1;

	for (;;) {
		struct kvm_dirty_gfn *e = &vcpu->ring[vcpu->ring_fetch & mask];
		uint64_t pfn;

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
		pfn = (e->slot == MEMORY_SLOT_HIGH ? LAYOUT_HIGH_PFN : 0) + e->offset;
		if (pfn < nbits)
			bitmap[pfn / 64] |= 1ULL << (pfn % 64);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		vcpu->ring_fetch++;
	}
}

static int reset_rings(struct vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_RESET_DIRTY_RINGS, 0) < 0) {
		int rc = -errno;

		log__error("KVM_RESET_DIRTY_RINGS failed: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

static void *reset_rings_thread(void *arg)
{
	struct vm *vm = arg;

	return (void *)(intptr_t)reset_rings(vm);
}

int dirty__ring_full(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct dirty *d = vm->dirty;
	pthread_t t;
	void *ret;
	int rc;

	if (!d->pending)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	d->ring_full_count++;
	collect_ring(vcpu, d->pending, dirty__bitmap_bits(vm));
	/*
	 * The reset must not be issued from this vCPU's own thread: measured
	 * under PVM (tests/dirty, 256-entry rings), a reset issued by the vCPU
	 * thread left some re-protected pages writable for that vCPU (a stale
	 * TLB entry), and later writes to them were never logged.  Issued from
	 * another thread it loses nothing.  Ring-full exits are rare with
	 * default-sized rings, so a short-lived thread is cheap enough.
	 */
	rc = -pthread_create(&t, NULL, reset_rings_thread, vm);
	if (!rc) {
		pthread_join(t, &ret);
		rc = (int)(intptr_t)ret;
	} else {
		log__error("vCPU %u: starting the dirty-ring reset thread failed: %s", vcpu->index,
			   strerror(-rc));
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int harvest_ring(struct vm *vm, uint64_t *bitmap)
{
	struct dirty *d = vm->dirty;
	uint64_t nbits = dirty__bitmap_bits(vm);
	int rc;

	pthread_mutex_lock(&d->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		collect_ring(&vm->vcpus[i], bitmap, nbits);
	for (uint64_t w = 0; w < nbits / 64; w++) {
		bitmap[w] |= d->pending[w];
		d->pending[w] = 0;
	}
	/* Re-protects the collected pages; a write since collection is still in memory. */
	rc = reset_rings(vm);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* One slot's log, written straight into the pfn bitmap (slots start on 64-page boundaries). */
static int harvest_slot(struct vm *vm, uint32_t slot, uint64_t first_pfn, uint64_t npages,
			uint64_t *bitmap)
{
	struct kvm_dirty_log log = {.slot = slot, .dirty_bitmap = bitmap + first_pfn / 64};
	struct kvm_clear_dirty_log clear = {
	    .slot = slot,
	    .first_page = 0,
	    .num_pages = npages,
	    .dirty_bitmap = bitmap + first_pfn / 64,
	};
	int rc;

	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		goto fail;
	if (vm->dirty->method == DIRTY_METHOD_CLEAR_LOG &&
	    ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
		goto fail;
	return 0;
fail:
	rc = -errno;
	log__error("%s on slot %u failed: %s",
		   vm->dirty->method == DIRTY_METHOD_CLEAR_LOG ? "KVM_GET/CLEAR_DIRTY_LOG"
							       : "KVM_GET_DIRTY_LOG",
		   slot, strerror(-rc));
	return rc;
}

int64_t dirty__harvest(struct vm *vm, uint64_t *bitmap)
{
	struct dirty *d = vm->dirty;
	uint64_t words = dirty__bitmap_bits(vm) / 64;
	int64_t count = 0;
	int rc = 0;

	if (!d->enabled)
		return -EINVAL;
	memset(bitmap, 0, words * sizeof(uint64_t));
	if (d->method == DIRTY_METHOD_RING) {
		rc = harvest_ring(vm, bitmap);
	} else {
		if (vm->mem.low_size)
			rc = harvest_slot(vm, MEMORY_SLOT_LOW, 0,
					  vm->mem.low_size >> LAYOUT_PAGE_SHIFT, bitmap);
		if (!rc && vm->mem.high_size)
			rc = harvest_slot(vm, MEMORY_SLOT_HIGH, LAYOUT_HIGH_PFN,
					  vm->mem.high_size >> LAYOUT_PAGE_SHIFT, bitmap);
	}
	if (rc)
		return rc;
	take_marks(d, bitmap, words);
	for (uint64_t w = 0; w < words; w++)
		count += __builtin_popcountll(bitmap[w]);
	return count;
}

int dirty__disable(struct vm *vm)
{
	struct dirty *d = vm->dirty;
	uint64_t nbits = dirty__bitmap_bits(vm);
	int rc;

	if (!d->enabled)
		return 0;
	rc = memory__set_log_dirty(vm, false);
	if (rc)
		return rc;
	d->enabled = false;
	__atomic_store_n(&d->marked, NULL, __ATOMIC_RELEASE);
	if (d->method == DIRTY_METHOD_RING) {
		/* Drained and dropped: a later dirty__enable starts from empty rings. */
		pthread_mutex_lock(&d->lock);
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			collect_ring(&vm->vcpus[i], d->pending, nbits);
		memset(d->pending, 0, nbits / 64 * sizeof(uint64_t));
		rc = reset_rings(vm);
		pthread_mutex_unlock(&d->lock);
	}
	return rc;
}

uint64_t dirty__ring_full_count(const struct vm *vm)
{
	struct dirty *d = vm->dirty;
	uint64_t n;

	pthread_mutex_lock(&d->lock);
	n = d->ring_full_count;
	pthread_mutex_unlock(&d->lock);
	return n;
}

void dirty__vm_exit(struct vm *vm)
{
	struct dirty *d = vm->dirty;

	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d->pending);
	free(d->marks);
	free(d);
	vm->dirty = NULL;
}
