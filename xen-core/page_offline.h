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
 * reader of the mapping see the new frame.  The old frame stays allocated in its memfd:
 * quarantined, and held in place (a read-only, mlocked mapping of it, and a page reference
 * from a pipe it is vmspliced into, which migration and reclaim both respect; page_offline.c
 * hold_frame).  A replacement frame can be retired in turn (by its PFN).
 * Online undoes the latest retirement of a page: the contents go back into the old frame,
 * which is mapped again, and the replacement page is released.
 *
 * Limits.  This is as far as userspace goes, and it is not a true offline: only the kernel
 * can take a frame out of use for good (soft_offline_page, with CONFIG_MEMORY_FAILURE, which
 * the lab's kernel lacks; or memmap= at boot).  The hold lasts as long as its pipe is open
 * somewhere: query-mem and the mem-offline reply name the pipe's read end (hold_fd, with its
 * inode hold_ino), and twin-clusterd opens it through /proc/PID/fd (clusterd/host_mem.h), so
 * when twin-vmm exits (stopped, migrated away, failed over, crashed) the frame stays held by
 * clusterd, until `twin host mem-online PFN` or clusterd's own exit.  Only then does the
 * kernel get the frame back and may hand it to anyone; both exits log the PFNs so the host
 * can take them out.  Once twin-vmm is gone the frame is out of its memfd and mapped by
 * nobody (/proc/kpagecount, a map count, says 0), but allocated: the pipe buffer's
 * reference keeps it off the free lists.  Kernel code that ignores page references (memory
 * hot-remove, a kernel bug) is not stopped either.
 * query-mem re-reads each frame's PFN through the hold's mapping and says "held": false if
 * the frame is no longer where old_pfn says (or could not be held: RLIMIT_MEMLOCK).  Host
 * PFNs come from /proc/self/pagemap, which shows them only to CAP_SYS_ADMIN.  Each
 * retirement splits the RAM mapping (up to two more VMAs of vm.max_map_count) and holds one
 * more VMA, one fd and 4 KiB of locked memory.
 *
 * Cost on the control thread.  A PFN is found by reading the pagemap of all guest RAM
 * (page_offline__pfn_to_gpa), and a VM whose frame it is not reads all of it; twin-vmm's
 * control thread answers nothing else meanwhile, a fence from clusterd included, whose
 * deadline is 200 ms before it SIGKILLs the vmm.  Measured: ~3 ms per GiB of guest RAM on
 * an idle host (13 ms for 4 GiB); 11-13 ms per GiB on the lab's loaded 2-CPU host (a 4 GiB
 * populated memfd), the same with 32 KiB, 512 KiB, 2 MiB or 8 MiB reads: the kernel's
 * page-table walk per entry is the cost.  So a retirement by PFN can hold a VM's control
 * thread past the fence deadline from ~16 GiB of guest RAM on a busy host (~64 GiB idle);
 * by GPA it never scans.  Not fixed here: a scan bounded in time per request and resumed
 * by clusterd.
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
	bool held;	   /* old_pfn still holds it (page_offline__list: checked at the call) */
	int hold_fd;	   /* the hold's pipe read end (-1: none), for clusterd to keep open */
	uint64_t hold_ino; /* that pipe's inode: clusterd checks it opened the right one */
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
