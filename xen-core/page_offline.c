/* Page retirement: pagemap lookups, copy + remap in place under a paused VM, the quarantine. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "layout.h"
#include "log.h"
#include "page_offline.h"
#include "util.h"
#include "vm.h"

#define PAGE ((uint64_t)1 << LAYOUT_PAGE_SHIFT)
/* /proc/PID/pagemap entry (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT  (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)
/*
 * Entries read at once by the reverse lookup: 1 GiB of guest RAM per pread (2 MiB of
 * entries).  The kernel walks the page tables per entry either way, so this only saves
 * syscalls: 32 KiB reads measured the same (page_offline.h).
 */
#define PM_CHUNK (1U << 18)

/* Where a frame sits: a page of the RAM memfd or of the spare memfd. */
struct frame_loc {
	bool spare;
	uint64_t off;
};

/* What keeps a quarantined frame in place: see hold_frame. */
struct hold {
	const uint8_t *map; /* the frame, read-only and mlocked; NULL: not held */
	int pipe;	    /* read end of a pipe whose one buffer references the frame */
	uint64_t ino;	    /* the pipe's inode, for clusterd's check (page_retired.hold_ino) */
};

struct record {
	struct page_retired pub;
	struct frame_loc old; /* quarantined here */
	uint64_t new_off;     /* the replacement: a page of the spare memfd */
	struct hold hold;
};

struct page_offline {
	int spare_fd;	     /* grows by one page per retirement, never shrinks */
	uint64_t spare_size; /* bytes */
	struct record *recs; /* oldest first; a page retired twice has two */
	size_t n, cap;
};

static int open_pagemap(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* The PFN of a pagemap entry: 0 and *pfn, -ENODATA (not present), -EPERM (PFNs hidden). */
static int entry_pfn(uint64_t e, uint64_t *pfn)
{
	if (!(e & PM_PRESENT))
		return -ENODATA;
	if (!(e & PM_PFN_MASK))
		return -EPERM; /* present with PFN 0: the kernel zeroes PFNs for non-admins */
	*pfn = e & PM_PFN_MASK;
	return 0;
}

static int hva_to_pfn(const void *hva, uint64_t *pfn)
{
	uint64_t e;
	int fd = open_pagemap(), rc;

	if (fd < 0)
		return fd;
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)hva / PAGE * sizeof(e))) != sizeof(e))
		rc = errno ? -errno : -EIO;
	else
		rc = entry_pfn(e, pfn);
	close(fd);
	return rc;
}

/* The host address of the RAM page at gpa, or NULL if gpa is not a page-aligned RAM page. */
static uint8_t *page_hva(const struct vm *vm, uint64_t gpa)
{
	if (gpa & (PAGE - 1))
		return NULL;
	return memory__gpa_to_hva(vm, gpa, PAGE);
}

int page_offline__gpa_to_pfn(const struct vm *vm, uint64_t gpa, uint64_t *pfn)
{
	const uint8_t *hva = page_hva(vm, gpa);

	return hva ? hva_to_pfn(hva, pfn) : -EINVAL;
}

int page_offline__pfn_to_gpa(const struct vm *vm, uint64_t pfn, uint64_t *gpa)
{
	const struct memory *m = &vm->mem;
	uint64_t *buf = malloc(PM_CHUNK * sizeof(*buf)), pages = m->size / PAGE, first, probe;
	int fd = open_pagemap(), rc = -ESRCH, r;
	bool seen_pfn = false;

	if (fd < 0 || !buf) {
		rc = fd < 0 ? fd : -ENOMEM;
		goto out;
	}
	first = (uintptr_t)m->base / PAGE;
	for (uint64_t i = 0; i < pages && rc == -ESRCH; i += PM_CHUNK) {
		size_t want = (pages - i < PM_CHUNK ? pages - i : PM_CHUNK) * sizeof(*buf);
		ssize_t got = pread(fd, buf, want, (off_t)((first + i) * sizeof(*buf)));

		if (got != (ssize_t)want) {
			rc = got < 0 ? -errno : -EIO;
			break;
		}
		for (size_t j = 0; j < want / sizeof(*buf); j++) {
			uint64_t p;

			r = entry_pfn(buf[j], &p);
			seen_pfn |= !r;
			if (!r && p == pfn) {
				*gpa = memory__hva_to_gpa(vm, m->base + (i + j) * PAGE);
				rc = 0;
				break;
			}
		}
	}
	/* Pages present but no PFN seen at all: the PFNs are hidden from us, not absent. */
	if (rc == -ESRCH && !seen_pfn && hva_to_pfn(m->base, &probe) == -EPERM)
		rc = -EPERM;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

bool page_offline__host_ram(uint64_t pfn, uint64_t *end_pfn)
{
	FILE *f = fopen("/proc/iomem", "re");
	char line[256];
	bool ram = false, any = false;
	uint64_t start, end;

	*end_pfn = 0;
	if (!f)
		return true;
	while (fgets(line, sizeof(line), f)) {
		/* Top-level entries only: "START-END : System RAM" with no indent. */
		if (line[0] == ' ' || !strstr(line, ": System RAM") ||
		    sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) != 2 || end <= start)
			continue;
		any = true;
		if (pfn >= start / PAGE && pfn <= end / PAGE)
			ram = true;
		if (end / PAGE + 1 > *end_pfn)
			*end_pfn = end / PAGE + 1;
	}
	fclose(f);
	/* Without root /proc/iomem shows zeros: no map to judge by. */
	return ram || !any || *end_pfn <= 1;
}

static struct page_offline *state(struct vm *vm)
{
	struct page_offline *po = vm->mem.offline;

	if (po)
		return po;
	po = calloc(1, sizeof(*po));
	if (!po)
		return NULL;
	po->spare_fd = memfd_create("twin-guest-ram-spare", MFD_CLOEXEC);
	if (po->spare_fd < 0) {
		log__error("page offline: memfd_create for the spare frames failed: %s",
			   strerror(errno));
		free(po);
		return NULL;
	}
	vm->mem.offline = po;
	return po;
}

/* The latest retirement of the page at gpa, or NULL if it is not retired. */
static struct record *latest(const struct page_offline *po, uint64_t gpa)
{
	for (size_t i = po ? po->n : 0; i-- > 0;)
		if (po->recs[i].pub.gpa == gpa)
			return &po->recs[i];
	return NULL;
}

/* The quarantined frame pfn, or NULL. */
static struct record *quarantined(const struct page_offline *po, uint64_t pfn)
{
	for (size_t i = 0; po && i < po->n; i++)
		if (po->recs[i].pub.old_pfn == pfn)
			return &po->recs[i];
	return NULL;
}

static void format_since(uint64_t since, char *buf, size_t len)
{
	time_t t = (time_t)since;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%" PRIu64, since);
}

static int loc_fd(const struct vm *vm, const struct page_offline *po, struct frame_loc loc)
{
	return loc.spare ? po->spare_fd : vm->mem.fd;
}

/* Maps the frame at loc over the page at hva (MAP_FIXED replaces the old mapping at once). */
static int map_frame(struct vm *vm, const struct page_offline *po, uint8_t *hva,
		     struct frame_loc loc)
{
	void *p = mmap(hva, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		       loc_fd(vm, po, loc), (off_t)loc.off);

	return p == MAP_FAILED ? -errno : 0;
}

static void release_frame(struct hold *h)
{
	if (h->map)
		munmap((void *)h->map, PAGE); /* drops the mlock too */
	if (h->pipe >= 0)
		close(h->pipe); /* frees the buffer: the page reference goes */
	*h = (struct hold){.pipe = -1};
}

/* The hold's pipe as query-mem reports it, for clusterd to keep (page_offline.h). */
static void report_hold(const struct hold *h, struct page_retired *pub)
{
	pub->hold_fd = h->pipe;
	pub->hold_ino = h->ino;
}

/*
 * Keeps the frame at loc where it is, as far as userspace can: a read-only mapping of it,
 * mlocked, so reclaim never swaps it out; and the page vmspliced into a pipe that stays
 * open, whose buffer holds a page reference (fs/splice.c iter_to_pipe takes it with
 * iov_iter_get_pages, FOLL_GET).  Migration (compaction, NUMA balancing) freezes a page's
 * reference count at the count it expects and gives up on any other (mm/migrate.c
 * folio_migrate_mapping: -EAGAIN), and reclaim likewise (mm/vmscan.c __remove_mapping), so
 * the extra reference holds the frame even where vm.compact_unevictable_allowed lets
 * compaction move mlocked pages.  What it cannot do: stop the kernel handing the frame out
 * again once this process exits, or hide it from kernel code that ignores references.
 * One fd and one VMA per held frame.
 */
static int hold_frame(const struct vm *vm, const struct page_offline *po, struct frame_loc loc,
		      struct hold *h)
{
	int p[2] = {-1, -1}, rc = 0;
	void *map = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, loc_fd(vm, po, loc), (off_t)loc.off);
	struct iovec iov;
	struct stat st;

	*h = (struct hold){.pipe = -1};
	if (map == MAP_FAILED)
		return -errno;
	h->map = map;
	if (mlock(map, PAGE) || pipe2(p, O_CLOEXEC)) {
		rc = -errno;
		goto out;
	}
	h->pipe = p[0];
	if (fstat(p[0], &st)) {
		rc = -errno;
		goto out;
	}
	h->ino = (uint64_t)st.st_ino;
	iov = (struct iovec){.iov_base = map, .iov_len = PAGE};
	if (vmsplice(p[1], &iov, 1, 0) != (ssize_t)PAGE)
		rc = errno ? -errno : -EIO;
out:
	if (p[1] >= 0)
		close(p[1]); /* the buffer lives as long as the read end */
	if (rc)
		release_frame(h);
	return rc;
}

/* The held frame's PFN now, read through the hold's own mapping: 0 if not held. */
static uint64_t held_pfn(const struct hold *h)
{
	uint64_t pfn = 0;

	if (!h->map || hva_to_pfn(h->map, &pfn))
		return 0;
	return pfn;
}

/* Faults the page in through the mapping (as the guest would) and reads its frame. */
static int mapped_pfn(uint8_t *hva, uint64_t *pfn)
{
	(void)*(volatile uint8_t *)hva;
	return hva_to_pfn(hva, pfn);
}

/*
 * Copies the page at hva into the frame at to and maps that frame there.  On failure the
 * frame at from is mapped back (a failed MAP_FIXED may have unmapped the range already).
 */
static int move_page(struct vm *vm, struct page_offline *po, uint8_t *hva, struct frame_loc from,
		     struct frame_loc to, char *err, size_t errlen)
{
	int rc = 0;

	if (pwrite(loc_fd(vm, po, to), hva, PAGE, (off_t)to.off) != (ssize_t)PAGE)
		return util__fail(err, errlen, errno ? -errno : -EIO,
				  "copying the page to its new frame failed: %s",
				  strerror(errno ? errno : EIO));
	rc = map_frame(vm, po, hva, to);
	if (!rc)
		return 0;
	util__set_err(err, errlen, "mapping the new frame over the page failed: %s%s",
		      strerror(-rc),
		      rc == -ENOMEM ? " (vm.max_map_count reached? raise it with sysctl)" : "");
	if (map_frame(vm, po, hva, from)) {
		/* The guest page is now unmapped: KVM would fault on it forever. */
		log__error("page offline: cannot map the old frame back either: stopping the VM");
		vm__stop(vm, VM_EXIT_FAILURE);
	}
	return rc;
}

/* Room for one more record, so that recording a retirement done cannot fail. */
static int reserve(struct page_offline *po)
{
	size_t cap = po->cap ? po->cap * 2 : 16;
	struct record *recs;

	if (po->n < po->cap)
		return 0;
	recs = realloc(po->recs, cap * sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	po->recs = recs;
	po->cap = cap;
	return 0;
}

/* Retires the page at gpa; expect_pfn (0: any) is the frame it must still be on. */
static int retire(struct vm *vm, uint64_t gpa, uint64_t expect_pfn, struct page_retired *out,
		  char *err, size_t errlen)
{
	struct page_offline *po = state(vm);
	uint8_t *hva = page_hva(vm, gpa);
	struct record r = {.pub = {.gpa = gpa}}, *prev;
	struct frame_loc to;
	uint64_t t0;
	int rc, hold_rc;

	if (!po || reserve(po))
		return util__fail(err, errlen, -ENOMEM, "out of memory for the page's record");
	prev = latest(po, gpa);
	r.old = prev ? (struct frame_loc){true, prev->new_off}
		     : (struct frame_loc){false, (uint64_t)(hva - vm->mem.base)};
	to = (struct frame_loc){true, po->spare_size};
	if (ftruncate(po->spare_fd, (off_t)(po->spare_size + PAGE)))
		return util__fail(err, errlen, -errno, "growing the spare memfd failed: %s",
				  strerror(errno));
	/*
	 * Held before the pause, so the pause stays short and the frame cannot move between
	 * the check below and the remap.  Not held: retired all the same (the guest leaves the
	 * frame, which matters most), and query-mem says "held": false.
	 */
	hold_rc = hold_frame(vm, po, r.old, &r.hold);
	if (hold_rc)
		log__warn("page offline: cannot hold GPA 0x%" PRIx64 "'s frame in place (%s%s): "
			  "the kernel may move or reuse it",
			  gpa, strerror(-hold_rc),
			  hold_rc == -ENOMEM || hold_rc == -EPERM
			      ? "; raise RLIMIT_MEMLOCK (ulimit -l) or run twin-vmm as root"
			      : "");
	t0 = util__mono_ns();
	vm__hold(vm);
	/* Under the pause: nothing writes the page between the lookup and the remap. */
	rc = hva_to_pfn(hva, &r.pub.old_pfn);
	if (rc)
		util__set_err(err, errlen, "GPA 0x%" PRIx64 " lost its frame before the copy: %s",
			      gpa, strerror(-rc));
	else if (expect_pfn && r.pub.old_pfn != expect_pfn)
		rc = util__fail(err, errlen, -EAGAIN,
				"the kernel moved GPA 0x%" PRIx64 " from PFN 0x%" PRIx64
				" to PFN 0x%" PRIx64 " meanwhile: PFN 0x%" PRIx64
				" no longer backs it, nothing retired",
				gpa, expect_pfn, r.pub.old_pfn, expect_pfn);
	else
		rc = move_page(vm, po, hva, r.old, to, err, errlen);
	/* Moved: a PFN we cannot read back (0) does not undo it. */
	if (!rc && mapped_pfn(hva, &r.pub.new_pfn))
		log__warn("page offline: the new frame of GPA 0x%" PRIx64 " has no readable PFN",
			  gpa);
	vm__release(vm);
	r.pub.pause_ns = util__mono_ns() - t0;
	r.pub.held = !hold_rc && held_pfn(&r.hold) == r.pub.old_pfn;
	report_hold(&r.hold, &r.pub);
	if (rc) {
		release_frame(&r.hold);
		if (ftruncate(po->spare_fd, (off_t)po->spare_size))
			log__warn("page offline: shrinking the spare memfd back failed: %s",
				  strerror(errno));
		return rc;
	}
	po->spare_size += PAGE;
	r.new_off = to.off;
	r.pub.since = (uint64_t)time(NULL);
	po->recs[po->n++] = r;
	*out = r.pub;
	log__warn("page offline: GPA 0x%" PRIx64 " moved from PFN 0x%" PRIx64 " to PFN 0x%" PRIx64
		  " (VM paused %" PRIu64 " us); PFN 0x%" PRIx64 " quarantined%s",
		  gpa, r.pub.old_pfn, r.pub.new_pfn, r.pub.pause_ns / 1000, r.pub.old_pfn,
		  r.pub.held ? " and held" : ", NOT held: the kernel may move or reuse it");
	return 0;
}

/*
 * The refusal of a repeated retirement: r's page is already offline (since when, and on which
 * frames).
 */
static int already(const struct record *r, char *err, size_t errlen)
{
	char since[32];

	format_since(r->pub.since, since, sizeof(since));
	return util__fail(err, errlen, -EALREADY,
			  "GPA 0x%" PRIx64 " is already offline since %s: PFN 0x%" PRIx64
			  " is quarantined, the page is on PFN 0x%" PRIx64,
			  r->pub.gpa, since, r->pub.old_pfn, r->pub.new_pfn);
}

static int check_gpa(const struct vm *vm, uint64_t gpa, char *err, size_t errlen)
{
	if (gpa & (PAGE - 1))
		return util__fail(err, errlen, -EINVAL,
				  "GPA 0x%" PRIx64 " is not page aligned: give 0x%" PRIx64, gpa,
				  gpa & ~(PAGE - 1));
	if (!page_hva(vm, gpa))
		return util__fail(err, errlen, -EINVAL,
				  "GPA 0x%" PRIx64 " is outside the VM's RAM (0x0-0x%" PRIx64 "%s)",
				  gpa, vm->mem.low_size - 1,
				  vm->mem.high_size ? " and from 0x100000000" : "");
	return 0;
}

static int lookup_failed(int rc, const char *what, char *err, size_t errlen)
{
	if (rc == -EPERM)
		return util__fail(err, errlen, rc,
				  "/proc/self/pagemap hides host PFNs: twin-vmm needs "
				  "CAP_SYS_ADMIN (run it as root) to retire pages");
	if (rc == -ENODATA)
		return util__fail(err, errlen, rc,
				  "%s has no host frame (the guest never wrote it, or it is "
				  "swapped out): nothing to retire",
				  what);
	return util__fail(err, errlen, rc, "reading /proc/self/pagemap for %s failed: %s", what,
			  strerror(-rc));
}

int page_offline__offline_gpa(struct vm *vm, uint64_t gpa, struct page_retired *out, char *err,
			      size_t errlen)
{
	const struct record *r;
	char what[64];
	uint64_t pfn;
	int rc = check_gpa(vm, gpa, err, errlen);

	if (rc)
		return rc;
	r = latest(vm->mem.offline, gpa);
	if (r)
		return already(r, err, errlen);
	snprintf(what, sizeof(what), "GPA 0x%" PRIx64, gpa);
	rc = page_offline__gpa_to_pfn(vm, gpa, &pfn);
	if (rc)
		return lookup_failed(rc, what, err, errlen);
	return retire(vm, gpa, 0, out, err, errlen);
}

int page_offline__offline_pfn(struct vm *vm, uint64_t pfn, struct page_retired *out, char *err,
			      size_t errlen)
{
	const struct record *r = quarantined(vm->mem.offline, pfn);
	uint64_t gpa, end_pfn;
	char what[64];
	int rc;

	if (r)
		return already(r, err, errlen);
	if (!page_offline__host_ram(pfn, &end_pfn))
		return util__fail(err, errlen, -EINVAL,
				  pfn >= end_pfn ? "PFN 0x%" PRIx64 " is beyond this machine's RAM "
						   "(the last RAM PFN is 0x%" PRIx64 ")"
						 : "PFN 0x%" PRIx64 " is not RAM on this machine "
						   "(a hole or a device range; RAM ends at PFN "
						   "0x%" PRIx64 ")",
				  pfn, end_pfn - 1);
	snprintf(what, sizeof(what), "PFN 0x%" PRIx64, pfn);
	rc = page_offline__pfn_to_gpa(vm, pfn, &gpa);
	if (rc == -ESRCH)
		return util__fail(err, errlen, rc, "PFN 0x%" PRIx64 " backs no page of this VM",
				  pfn);
	if (rc)
		return lookup_failed(rc, what, err, errlen);
	/* A replacement frame gone bad in turn is retired like any other. */
	return retire(vm, gpa, pfn, out, err, errlen);
}

/* Undoes retirement r, the latest of its page. */
static int restore(struct vm *vm, struct record *r, uint64_t *gpa_out, uint64_t *pfn_out, char *err,
		   size_t errlen)
{
	struct page_offline *po = vm->mem.offline;
	uint8_t *hva = page_hva(vm, r->pub.gpa);
	struct frame_loc cur = {true, r->new_off};
	uint64_t gpa = r->pub.gpa, pfn = 0, t0 = util__mono_ns();
	int rc;

	vm__hold(vm);
	rc = move_page(vm, po, hva, cur, r->old, err, errlen);
	if (!rc && mapped_pfn(hva, &pfn))
		log__warn("page offline: the frame of GPA 0x%" PRIx64 " has no readable PFN", gpa);
	vm__release(vm);
	if (rc)
		return rc;
	release_frame(&r->hold); /* the old frame is the page's again: nothing to hold */
	/* The replacement page goes back to the kernel: it was never suspect. */
	if (fallocate(po->spare_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r->new_off,
		      PAGE))
		log__warn("page offline: releasing the spare page of GPA 0x%" PRIx64 " failed: %s",
			  gpa, strerror(errno));
	log__info("page offline: GPA 0x%" PRIx64 " back on PFN 0x%" PRIx64 " (was 0x%" PRIx64
		  " when retired; VM paused %" PRIu64 " us)",
		  gpa, pfn, r->pub.old_pfn, (util__mono_ns() - t0) / 1000);
	memmove(r, r + 1, (size_t)(po->recs + po->n - (r + 1)) * sizeof(*r));
	po->n--;
	*gpa_out = gpa;
	*pfn_out = pfn;
	return 0;
}

int page_offline__online_gpa(struct vm *vm, uint64_t gpa, uint64_t *gpa_out, uint64_t *pfn_out,
			     char *err, size_t errlen)
{
	struct record *r;
	int rc = check_gpa(vm, gpa, err, errlen);

	if (rc)
		return rc;
	r = latest(vm->mem.offline, gpa);
	if (!r)
		return util__fail(err, errlen, -ENOENT,
				  "GPA 0x%" PRIx64 " is not offline (query-mem lists the retired "
				  "pages)",
				  gpa);
	return restore(vm, r, gpa_out, pfn_out, err, errlen);
}

int page_offline__online_pfn(struct vm *vm, uint64_t pfn, uint64_t *gpa_out, uint64_t *pfn_out,
			     char *err, size_t errlen)
{
	struct record *r = quarantined(vm->mem.offline, pfn), *last;

	if (!r)
		return util__fail(err, errlen, -ESRCH,
				  "PFN 0x%" PRIx64 " is not a frame this VM took offline", pfn);
	last = latest(vm->mem.offline, r->pub.gpa);
	if (last != r)
		return util__fail(err, errlen, -EBUSY,
				  "GPA 0x%" PRIx64 " moved on from PFN 0x%" PRIx64
				  " to PFN 0x%" PRIx64
				  ", which was retired too: online PFN 0x%" PRIx64 " first",
				  r->pub.gpa, r->pub.new_pfn, last->pub.new_pfn, last->pub.old_pfn);
	return restore(vm, r, gpa_out, pfn_out, err, errlen);
}

int page_offline__list(const struct vm *vm, struct page_retired **out, size_t *n)
{
	const struct page_offline *po = vm->mem.offline;

	*out = NULL;
	*n = po ? po->n : 0;
	if (!*n)
		return 0;
	*out = malloc(*n * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++) {
		(*out)[i] = po->recs[i].pub;
		/* Now, not at retirement: a frame the kernel moved is no longer held. */
		(*out)[i].held = held_pfn(&po->recs[i].hold) == po->recs[i].pub.old_pfn;
		report_hold(&po->recs[i].hold, &(*out)[i]);
	}
	return 0;
}

size_t page_offline__count(const struct vm *vm)
{
	return vm->mem.offline ? ((const struct page_offline *)vm->mem.offline)->n : 0;
}

void page_offline__exit(struct vm *vm)
{
	struct page_offline *po = vm->mem.offline;

	if (!po)
		return;
	for (size_t i = 0; i < po->n; i++) {
		log__warn("page offline: quarantined PFN 0x%" PRIx64 " (GPA 0x%" PRIx64
			  ") goes back to the kernel as this VM ends, unless twin-clusterd "
			  "keeps it held (twin host mem-status): keep it out of use on the "
			  "host (soft_offline_page, memmap=)",
			  po->recs[i].pub.old_pfn, po->recs[i].pub.gpa);
		release_frame(&po->recs[i].hold);
	}
	close(po->spare_fd);
	free(po->recs);
	free(po);
	vm->mem.offline = NULL;
}
