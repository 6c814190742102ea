/* Page retirement: a guest page moves off a suspect host frame, which is kept out of use. */
#ifndef XEN_CORE_PAGE_OFFLINE_H
#define XEN_CORE_PAGE_OFFLINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/*
 * How it works (issue 7 §2).  The guest page at gpa lives in a frame of the RAM memfd,
 * mapped at its host address.  Retiring it, with the vCPUs parked and the I/O thread paused:
 * the page is copied into a fresh page of a per-VM spare memfd (which grows by one page per
 * retirement and never shrinks), and that page is mmap(MAP_FIXED | MAP_SHARED) over the old
 * one at the same host address, so KVM (through its MMU notifier), the devices and every
 * reader of the mapping see the new frame.  The old frame stays allocated in its memfd,
 * mapped nowhere: quarantined.  A replacement frame can be retired in turn (by its PFN).
 * Online undoes the latest retirement of a page: the contents go back into the old frame,
 * which is mapped again, and the replacement page is released.
 *
 * Limits.  Host PFNs come from /proc/self/pagemap, which shows them only to CAP_SYS_ADMIN.
 * The quarantine lasts as long as this process: when twin-vmm exits (quit, migrated away,
 * failed over) the kernel gets the frames back; the exit logs them so that the host can
 * take them out for good (soft_offline_page, memmap=).  The kernel itself may still move a
 * page (compaction, swap), which changes its PFN; query-mem shows the PFNs at retirement.
 * Each retirement splits the RAM mapping (up to two more VMAs of vm.max_map_count).  A PFN
 * is found by reading the whole RAM range of pagemap: ~3 ms per GiB of guest RAM here (13 ms
 * for 4 GiB), on the control thread, which answers nothing else meanwhile.
 *
 * Threads: all of these from one thread at a time (twin-vmm's control thread), never from a
 * vCPU or the I/O thread, and never while another thread writes guest RAM outside the vCPUs
 * and the devices (a backup applying checkpoints: refuse there).
 */

/* A retired frame. */
struct page_retired {
	uint64_t gpa;
	uint64_t old_pfn;  /* the quarantined frame */
	uint64_t new_pfn;  /* the frame the page moved to */
	uint64_t since;	   /* when, in seconds since the epoch (UTC) */
	uint64_t pause_ns; /* how long the VM was paused for it */
};

/*
 * The host frame behind the RAM page at gpa (page aligned): 0, -EINVAL (not a RAM page of
 * this VM), -ENODATA (no frame: never written, or swapped out), -EPERM (pagemap hides
 * PFNs: not CAP_SYS_ADMIN) or -errno.
 */
int page_offline__gpa_to_pfn(const struct vm *vm, uint64_t gpa, uint64_t *pfn);
/* The RAM page of this VM that host frame pfn backs: 0, -ESRCH (none), -EPERM or -errno. */
int page_offline__pfn_to_gpa(const struct vm *vm, uint64_t pfn, uint64_t *gpa);

/*
 * Retires the page at gpa, or the page whose frame is pfn.  0 and *out; otherwise -errno
 * and one line in err: -EINVAL (gpa not page aligned or not RAM; pfn not RAM on this
 * machine), -ESRCH (pfn backs no page of this VM), -EALREADY (already retired: err says
 * since when), -ENODATA (the page has no frame), -EPERM, or another -errno (nothing changed).
 */
int page_offline__offline_gpa(struct vm *vm, uint64_t gpa, struct page_retired *out, char *err,
			      size_t errlen);
int page_offline__offline_pfn(struct vm *vm, uint64_t pfn, struct page_retired *out, char *err,
			      size_t errlen);
/*
 * Puts the quarantined frame back under its page: by the page's gpa (its latest
 * retirement) or by the quarantined frame's pfn.  0 and *gpa_out, *pfn_out (the frame it
 * is on now); -ENOENT (gpa not retired), -ESRCH (pfn is no frame this VM quarantined),
 * -EBUSY (pfn's page was retired again since: online the later one first), -EINVAL, -errno.
 */
int page_offline__online_gpa(struct vm *vm, uint64_t gpa, uint64_t *gpa_out, uint64_t *pfn_out,
			     char *err, size_t errlen);
int page_offline__online_pfn(struct vm *vm, uint64_t pfn, uint64_t *gpa_out, uint64_t *pfn_out,
			     char *err, size_t errlen);

/* The retired frames, oldest first: a malloc'd array of *n (NULL when none), or -ENOMEM. */
int page_offline__list(const struct vm *vm, struct page_retired **out, size_t *n);
/* How many frames are quarantined. */
size_t page_offline__count(const struct vm *vm);

/*
 * True if pfn is RAM of this machine (a "System RAM" range of /proc/iomem, which root
 * reads with real addresses); *end_pfn gets the end of the highest range.  True, too, when
 * the map cannot be read (the pagemap lookup decides then).
 */
bool page_offline__host_ram(uint64_t pfn, uint64_t *end_pfn);

/* memory__exit: logs the frames going back to the kernel and frees the state. */
void page_offline__exit(struct vm *vm);

#endif
