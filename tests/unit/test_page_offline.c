/* Unit tests for xen-core/page_offline.c against memwriter in a real VM (needs KVM and root). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>
#include "control.h"
#include "control_fixture.h"
#include "page_offline.h"
#include "suites.h"
#include "vm_mem.h"
#include "vm_fixture.h"

#define PAGE 4096ULL
/* memwriter: 64 pages rewritten 20 per ms for ~3 s, far longer than the steps below. */
#define MW_PAGES   64
#define MW_ITERS   1000
#define MW_CMDLINE "pages=64 ws=64 rate=20 vcpus=1 iters=1000"
/* A memwriter page in the middle of its working set. */
#define MW_GPA (RT_MEMWRITER_BASE + 5 * PAGE)
#define VM_MEM (64ULL << 20)

static char err[512];

static uint64_t pfn_of(struct vm *vm, uint64_t gpa)
{
	uint64_t pfn = 0;

	ck_assert_int_eq(page_offline__gpa_to_pfn(vm, gpa, &pfn), 0);
	return pfn;
}

/* Word 0 of the page at gpa as the guest sees it: the iteration that last wrote it. */
static uint64_t guest_word0(struct vm *vm, uint64_t gpa)
{
	return *(volatile uint64_t *)memory__gpa_to_hva(vm, gpa, 8);
}

/* Word 0 of the frame the RAM memfd holds for gpa (low RAM: the offset is the gpa). */
static uint64_t ram_fd_word0(struct vm *vm, uint64_t gpa)
{
	uint64_t w = 0;

	ck_assert_int_eq(pread(vm->mem.fd, &w, sizeof(w), (off_t)gpa), (ssize_t)sizeof(w));
	return w;
}

/* The frame of a touched page of this process (never guest RAM). */
static uint64_t own_frame(const void *page)
{
	uint64_t e = 0, pfn;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &e, 8, (off_t)((uintptr_t)page / PAGE * 8)), 8);
	close(fd);
	pfn = e & ((1ULL << 55) - 1);
	ck_assert_msg(pfn, "pagemap shows no PFNs: run the unit tests as root");
	return pfn;
}

/* Waits (polling guest memory, no timing) until the guest rewrites the page at gpa. */
static uint64_t wait_rewritten(struct test_vm *t, uint64_t gpa, uint64_t than)
{
	for (int ms = 0; guest_word0(t->vm, gpa) <= than; ms++) {
		ck_assert_msg(ms < TEST_VM_WAIT_MS, "GPA 0x%llx not rewritten; console:\n%s",
			      (unsigned long long)gpa, t->out);
		usleep(1000);
	}
	return guest_word0(t->vm, gpa);
}

/* The guest ends with the checksum its arguments imply: it read back what it wrote. */
static void finish(struct test_vm *t)
{
	char want[128];

	snprintf(want, sizeof(want), "checksum=0x%016" PRIx64,
		 memwriter_checksum(1, MW_PAGES, MW_PAGES, MW_ITERS));
	test_vm__wait_text(t, "memwriter: done");
	ck_assert_msg(strstr(t->out, want), "want %s; console:\n%s", want, t->out);
	ck_assert_int_eq(vm__join(t->vm), 1); /* TWIN_GUEST_EXIT_OK */
}

/*
 * A page retired under a running memwriter: it moves to a new frame, the old PFN leaves
 * the pagemap, the guest's writes land in the new frame only, the old frame is quarantined
 * (still in the RAM memfd, unchanged); online puts it back; the guest's checksum holds.
 */
START_TEST(test_offline_online_under_writer)
{
	struct test_vm t;
	struct page_retired r, *list;
	uint64_t old_pfn, gpa, pfn, frozen, seen;
	size_t n;

	test_vm__create(&t, VM_MEM, 1);
	test_vm__boot_memwriter(&t, MW_CMDLINE);
	test_vm__wait_writing(&t);
	wait_rewritten(&t, MW_GPA, 0);
	old_pfn = pfn_of(t.vm, MW_GPA);
	ck_assert_int_eq(page_offline__pfn_to_gpa(t.vm, old_pfn, &gpa), 0);
	ck_assert_uint_eq(gpa, MW_GPA);

	ck_assert_msg(page_offline__offline_gpa(t.vm, MW_GPA, &r, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(r.gpa, MW_GPA);
	ck_assert_uint_eq(r.old_pfn, old_pfn);
	ck_assert_uint_ne(r.new_pfn, old_pfn);
	ck_assert_uint_ne(r.new_pfn, 0);
	ck_assert_uint_gt(r.since, 0);
	ck_assert_uint_gt(r.pause_ns, 0);
	ck_assert_uint_eq(pfn_of(t.vm, MW_GPA), r.new_pfn);
	ck_assert_int_eq(page_offline__pfn_to_gpa(t.vm, old_pfn, &gpa), -ESRCH);
	ck_assert_int_eq(page_offline__pfn_to_gpa(t.vm, r.new_pfn, &gpa), 0);
	ck_assert_uint_eq(gpa, MW_GPA);
	ck_assert_uint_eq(page_offline__count(t.vm), 1);

	/* The quarantined frame holds what the page held at retirement and never changes. */
	frozen = ram_fd_word0(t.vm, MW_GPA);
	seen = wait_rewritten(&t, MW_GPA, frozen);
	ck_assert_uint_gt(seen, frozen);
	ck_assert_uint_eq(ram_fd_word0(t.vm, MW_GPA), frozen);

	ck_assert_int_eq(page_offline__list(t.vm, &list, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(list[0].old_pfn, old_pfn);
	ck_assert_uint_eq(list[0].new_pfn, r.new_pfn);
	free(list);

	ck_assert_msg(page_offline__online_gpa(t.vm, MW_GPA, &gpa, &pfn, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(gpa, MW_GPA);
	ck_assert_uint_eq(pfn, old_pfn);
	ck_assert_uint_eq(pfn_of(t.vm, MW_GPA), old_pfn);
	ck_assert_uint_eq(page_offline__count(t.vm), 0);
	ck_assert_int_eq(page_offline__pfn_to_gpa(t.vm, r.new_pfn, &gpa), -ESRCH);
	/* The original frame is written by the guest again. */
	seen = wait_rewritten(&t, MW_GPA, guest_word0(t.vm, MW_GPA));
	ck_assert_uint_ge(ram_fd_word0(t.vm, MW_GPA), seen);
	finish(&t);
	test_vm__destroy(&t);
}
END_TEST

/*
 * Many pages, by GPA and by PFN, and a replacement frame retired in turn: online must go
 * newest first; the guest's checksum holds throughout.
 */
START_TEST(test_many_and_chained)
{
	struct test_vm t;
	struct page_retired r, r2;
	uint64_t gpa, pfn;

	test_vm__create(&t, VM_MEM, 1);
	test_vm__boot_memwriter(&t, MW_CMDLINE);
	test_vm__wait_writing(&t);
	wait_rewritten(&t, RT_MEMWRITER_BASE + (MW_PAGES - 1) * PAGE, 0);
	for (uint64_t i = 0; i < MW_PAGES; i += 2) {
		uint64_t g = RT_MEMWRITER_BASE + i * PAGE;

		if (i % 4)
			ck_assert_msg(page_offline__offline_gpa(t.vm, g, &r, err, sizeof(err)) == 0,
				      "%s", err);
		else
			ck_assert_msg(page_offline__offline_pfn(t.vm, pfn_of(t.vm, g), &r, err,
								sizeof(err)) == 0,
				      "%s", err);
		ck_assert_uint_eq(r.gpa, g);
	}
	ck_assert_uint_eq(page_offline__count(t.vm), MW_PAGES / 2);

	/* The replacement of the first page goes bad too. */
	ck_assert_int_eq(
	    page_offline__offline_pfn(t.vm, pfn_of(t.vm, RT_MEMWRITER_BASE), &r2, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(r2.gpa, RT_MEMWRITER_BASE);
	ck_assert_uint_eq(page_offline__count(t.vm), MW_PAGES / 2 + 1);
	/* The first retirement of that page is not the latest: refused, naming the later one. */
	{
		struct page_retired *list;
		size_t n;

		ck_assert_int_eq(page_offline__list(t.vm, &list, &n), 0);
		ck_assert_uint_eq(list[0].gpa, RT_MEMWRITER_BASE);
		ck_assert_uint_eq(list[0].new_pfn, r2.old_pfn);
		ck_assert_int_eq(
		    page_offline__online_pfn(t.vm, list[0].old_pfn, &gpa, &pfn, err, sizeof(err)),
		    -EBUSY);
		ck_assert_msg(strstr(err, "first"), "%s", err);
		free(list);
	}
	ck_assert_msg(page_offline__online_pfn(t.vm, r2.old_pfn, &gpa, &pfn, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(pfn, r2.old_pfn);
	/* Everything back, by GPA. */
	for (uint64_t i = 0; i < MW_PAGES; i += 2)
		ck_assert_msg(page_offline__online_gpa(t.vm, RT_MEMWRITER_BASE + i * PAGE, &gpa,
						       &pfn, err, sizeof(err)) == 0,
			      "%s", err);
	ck_assert_uint_eq(page_offline__count(t.vm), 0);
	/* Retired again and left so at exit: the exit path logs and frees them. */
	ck_assert_int_eq(
	    page_offline__offline_gpa(t.vm, RT_MEMWRITER_BASE + 3 * PAGE, &r, err, sizeof(err)), 0);
	finish(&t);
	test_vm__destroy(&t);
}
END_TEST

/* Asks the kernel to compact all of memory now (it migrates every movable page it can). */
static void compact_memory(void)
{
	int fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0,
		      "/proc/sys/vm/compact_memory: %s: run the unit tests as root on a "
		      "kernel with CONFIG_COMPACTION",
		      strerror(errno));
	ck_assert_int_eq(write(fd, "1", 1), 1);
	close(fd);
}

/*
 * The quarantine holds its frames: a forced compaction of all memory, which is free to move
 * mlocked pages here (vm.compact_unevictable_allowed), leaves every quarantined frame on
 * the PFN its record names, and query says so.  Beside them, pages that are only mlocked
 * show what compaction does to frames nothing holds (reported, not asserted: the kernel
 * chooses).
 */
START_TEST(test_quarantine_holds_frames)
{
	enum { N = MW_PAGES / 2 };
	struct test_vm t;
	struct page_retired r[N], *list;
	uint64_t before[N];
	unsigned int moved = 0;
	uint8_t *loose;
	size_t n;
	int fd;

	test_vm__create(&t, VM_MEM, 1);
	test_vm__boot_memwriter(&t, MW_CMDLINE);
	test_vm__wait_writing(&t);
	wait_rewritten(&t, RT_MEMWRITER_BASE + (MW_PAGES - 1) * PAGE, 0);
	for (unsigned int i = 0; i < N; i++) {
		ck_assert_msg(page_offline__offline_gpa(t.vm, RT_MEMWRITER_BASE + 2 * i * PAGE,
							&r[i], err, sizeof(err)) == 0,
			      "%s", err);
		ck_assert_msg(r[i].held,
			      "GPA 0x%llx retired but its frame is not held: see the log",
			      (unsigned long long)r[i].gpa);
	}
	fd = memfd_create("test-loose", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, N * PAGE), 0);
	loose = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(loose, MAP_FAILED);
	memset(loose, 0x5a, N * PAGE);
	ck_assert_int_eq(mlock(loose, N * PAGE), 0);
	for (unsigned int i = 0; i < N; i++)
		before[i] = own_frame(loose + i * PAGE);

	compact_memory();

	for (unsigned int i = 0; i < N; i++)
		moved += own_frame(loose + i * PAGE) != before[i];
	fprintf(stderr,
		"page_offline: after compact_memory, %u of %u mlocked-only pages moved; "
		"the %u quarantined frames:\n",
		moved, N, N);
	ck_assert_int_eq(page_offline__list(t.vm, &list, &n), 0);
	ck_assert_uint_eq(n, N);
	for (unsigned int i = 0; i < N; i++) {
		ck_assert_uint_eq(list[i].old_pfn, r[i].old_pfn);
		ck_assert_msg(list[i].held, "quarantined PFN 0x%llx (GPA 0x%llx) moved: not held",
			      (unsigned long long)r[i].old_pfn, (unsigned long long)r[i].gpa);
	}
	fprintf(stderr, "page_offline: all %u still held on their PFNs\n", N);
	free(list);
	munmap(loose, N * PAGE);
	close(fd);
	finish(&t);
	test_vm__destroy(&t);
}
END_TEST

/* Every refusal names the problem, and none changes anything. */
START_TEST(test_refusals)
{
	struct test_vm t;
	struct page_retired r;
	uint64_t gpa, pfn, end_pfn, own_pfn;
	uint8_t *own = aligned_alloc(PAGE, PAGE);

	test_vm__create(&t, VM_MEM, 1);
	test_vm__boot_memwriter(&t, MW_CMDLINE);
	test_vm__wait_writing(&t);
	wait_rewritten(&t, MW_GPA, 0);

	/* A frame of this process but not of the VM: not ours (ask the next VM). */
	ck_assert_ptr_nonnull(own);
	memset(own, 1, PAGE);
	ck_assert_int_eq(page_offline__pfn_to_gpa(t.vm, 0, &gpa), -ESRCH);
	own_pfn = own_frame(own);
	ck_assert_int_eq(page_offline__offline_pfn(t.vm, own_pfn, &r, err, sizeof(err)), -ESRCH);
	ck_assert_msg(strstr(err, "backs no page of this VM"), "%s", err);

	/* Not RAM on this machine: beyond its end, and in a hole (the legacy VGA window). */
	ck_assert(page_offline__host_ram(own_pfn, &end_pfn));
	ck_assert_uint_gt(end_pfn, own_pfn);
	ck_assert_int_eq(page_offline__offline_pfn(t.vm, end_pfn + 1000, &r, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "beyond this machine's RAM"), "%s", err);
	ck_assert_int_eq(page_offline__offline_pfn(t.vm, 0xa0, &r, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "not RAM on this machine"), "%s", err);

	/* GPAs: unaligned, outside RAM, never written. */
	ck_assert_int_eq(page_offline__offline_gpa(t.vm, MW_GPA + 8, &r, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "not page aligned"), "%s", err);
	ck_assert_int_eq(page_offline__offline_gpa(t.vm, VM_MEM, &r, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "outside the VM's RAM"), "%s", err);
	ck_assert_int_eq(page_offline__offline_gpa(t.vm, VM_MEM - PAGE, &r, err, sizeof(err)),
			 -ENODATA);
	ck_assert_msg(strstr(err, "no host frame"), "%s", err);
	ck_assert_uint_eq(page_offline__count(t.vm), 0);

	/* Online of a page that is not offline. */
	ck_assert_int_eq(page_offline__online_gpa(t.vm, MW_GPA, &gpa, &pfn, err, sizeof(err)),
			 -ENOENT);
	ck_assert_msg(strstr(err, "is not offline"), "%s", err);
	ck_assert_int_eq(page_offline__online_pfn(t.vm, own_pfn, &gpa, &pfn, err, sizeof(err)),
			 -ESRCH);
	ck_assert_int_eq(page_offline__online_gpa(t.vm, MW_GPA + 1, &gpa, &pfn, err, sizeof(err)),
			 -EINVAL);

	/* Repeated offline, by GPA and by the quarantined PFN. */
	ck_assert_int_eq(page_offline__offline_gpa(t.vm, MW_GPA, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(page_offline__offline_gpa(t.vm, MW_GPA, &r, err, sizeof(err)), -EALREADY);
	ck_assert_msg(strstr(err, "already offline since 20"), "%s", err);
	ck_assert_int_eq(page_offline__offline_pfn(t.vm, r.old_pfn, &r, err, sizeof(err)),
			 -EALREADY);
	ck_assert_msg(strstr(err, "already offline since"), "%s", err);
	ck_assert_uint_eq(page_offline__count(t.vm), 1);
	finish(&t);
	test_vm__destroy(&t);
	free(own);
}
END_TEST

/*
 * vm_mem on a backup (its RAM written by checkpoints from another thread): a frame not its
 * own is NotOwner (-ESRCH) as anywhere, its own is refused, naming why; nothing moves.
 */
START_TEST(test_backup_refuses)
{
	struct test_vm t;
	struct control_mem_page pg = {.by_pfn = false, .gpa = MW_GPA};
	struct page_retired r;
	uint64_t before;
	uint8_t *own = aligned_alloc(PAGE, PAGE);

	ck_assert_ptr_nonnull(own);
	memset(own, 1, PAGE);
	test_vm__create(&t, VM_MEM, 1);
	/* A frame, as a checkpoint would give it. */
	*(volatile uint64_t *)memory__gpa_to_hva(t.vm, MW_GPA, 8) = 7;
	before = pfn_of(t.vm, MW_GPA);
	ck_assert_int_eq(vm_mem__offline(t.vm, true, &pg, &r, err, sizeof(err)), -EOPNOTSUPP);
	ck_assert_msg(strstr(err, "cannot retire a backup's frame"), "%s", err);
	pg = (struct control_mem_page){.by_pfn = true, .pfn = before};
	ck_assert_int_eq(vm_mem__offline(t.vm, true, &pg, &r, err, sizeof(err)), -EOPNOTSUPP);
	ck_assert_msg(strstr(err, "cannot retire a backup's frame"), "%s", err);
	pg.pfn = own_frame(own);
	ck_assert_int_eq(vm_mem__offline(t.vm, true, &pg, &r, err, sizeof(err)), -ESRCH);
	ck_assert_msg(strstr(err, "backs no page of this VM"), "%s", err);
	ck_assert_uint_eq(pfn_of(t.vm, MW_GPA), before);
	ck_assert_uint_eq(page_offline__count(t.vm), 0);
	/* Not a backup: the same VM (not started) retires it. */
	pg = (struct control_mem_page){.by_pfn = true, .pfn = before};
	ck_assert_msg(vm_mem__offline(t.vm, false, &pg, &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(r.old_pfn, before);
	ck_assert_uint_eq(*(volatile uint64_t *)memory__gpa_to_hva(t.vm, MW_GPA, 8), 7);
	test_vm__destroy(&t);
	free(own);
}
END_TEST

/*
 * What clusterd does with a quarantined frame (clusterd/host_mem.c adopt): the list names the
 * hold pipe (a FIFO whose inode it gives), which another opener keeps after the VM and its
 * memfds are gone; the pipe still references the page, contents and all, and the frame is
 * not free (/proc/kpageflags: no BUDDY, still SWAPBACKED).
 */
START_TEST(test_hold_pipe_outlives_vm)
{
	struct test_vm t;
	struct page_retired r, *list;
	struct stat st;
	uint64_t flags = 0;
	uint8_t back[PAGE];
	char path[64];
	size_t n;
	int kept, p[2], kpf;

	test_vm__create(&t, VM_MEM, 1);
	memset(memory__gpa_to_hva(t.vm, MW_GPA, PAGE), 0xa5, PAGE);
	ck_assert_msg(page_offline__offline_gpa(t.vm, MW_GPA, &r, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_int_ge(r.hold_fd, 0);
	ck_assert_int_eq(page_offline__list(t.vm, &list, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(list[0].hold_fd, r.hold_fd);
	ck_assert_uint_eq(list[0].hold_ino, r.hold_ino);
	free(list);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", r.hold_fd);
	kept = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	ck_assert_int_ge(kept, 0);
	ck_assert_int_eq(fstat(kept, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	ck_assert_uint_eq((uint64_t)st.st_ino, r.hold_ino);

	test_vm__destroy(&t); /* twin-vmm's pipe, mappings and memfds all closed */

	kpf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(kpf, 0);
	ck_assert_int_eq(pread(kpf, &flags, sizeof(flags), (off_t)(r.old_pfn * 8)), 8);
	close(kpf);
	/* KPF_BUDDY (10): free; KPF_SWAPBACKED (14): still the shmem page it was. */
	ck_assert_msg(!(flags & (1ULL << 10)) && (flags & (1ULL << 14)),
		      "PFN 0x%llx after the VM ended: kpageflags 0x%llx (free or reused)",
		      (unsigned long long)r.old_pfn, (unsigned long long)flags);
	/* The buffer still references the page: tee copies the reference, not the data. */
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(tee(kept, p[1], PAGE, SPLICE_F_NONBLOCK), (ssize_t)PAGE);
	ck_assert_int_eq(read(p[0], back, PAGE), (ssize_t)PAGE);
	for (size_t i = 0; i < PAGE; i++)
		ck_assert_uint_eq(back[i], 0xa5);
	close(p[0]);
	close(p[1]);
	close(kept);
}
END_TEST

/* control__handle_line with the fake VM's op: req's reply is exactly want. */
static void expect_reply(const char *req, const char *want)
{
	char *got = control__handle_line(&ops, req, strlen(req));

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(got);
}

/* The control commands: arguments checked, replies shaped, each refusal with its class. */
START_TEST(test_control_commands)
{
	fake = (struct fake_vm){.running = true};
	expect_reply("{\"execute\":\"query-mem\"}", "{\"return\":{\"offline\":[]}}");
	expect_reply("{\"execute\":\"mem-offline\",\"arguments\":{\"pfn\":4660}}",
		     "{\"return\":{\"gpa\":0,\"old_pfn\":4660,\"new_pfn\":4661,\"pause_ns\":0,"
		     "\"held\":true,\"hold_fd\":17,\"hold_ino\":4242}}");
	expect_reply("{\"execute\":\"query-mem\"}",
		     "{\"return\":{\"offline\":[{\"gpa\":0,\"old_pfn\":4660,\"new_pfn\":4661,"
		     "\"since\":1,\"pause_ns\":0,\"held\":true,\"hold_fd\":17,"
		     "\"hold_ino\":4242}]}}");
	expect_reply("{\"execute\":\"mem-offline\",\"arguments\":{\"gpa\":0}}",
		     "{\"error\":{\"class\":\"GenericError\",\"desc\":\"GPA 0x0 is already "
		     "offline\"}}");
	expect_reply("{\"execute\":\"mem-offline\",\"arguments\":{\"pfn\":1}}",
		     "{\"error\":{\"class\":\"NotOwner\",\"desc\":\"PFN 0x1 backs no page of this "
		     "VM\"}}");
	expect_reply("{\"execute\":\"mem-offline\",\"arguments\":{\"gpa\":4096}}",
		     "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"GPA 0x1000 is outside "
		     "the VM's RAM\"}}");
	expect_reply("{\"execute\":\"mem-online\",\"arguments\":{\"gpa\":0}}",
		     "{\"return\":{\"gpa\":0,\"pfn\":4660}}");
	expect_reply("{\"execute\":\"mem-online\",\"arguments\":{\"pfn\":4660}}",
		     "{\"error\":{\"class\":\"NotOwner\",\"desc\":\"not a page this VM took "
		     "offline\"}}");
	/* Arguments: exactly one of pfn and gpa, a non-negative integer; nothing else. */
	expect_reply("{\"execute\":\"mem-offline\"}",
		     "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"mem-offline: give "
		     "exactly one of \\\"pfn\\\" (a host frame) or \\\"gpa\\\" (a guest page)\"}}");
	expect_reply("{\"execute\":\"mem-online\",\"arguments\":{\"pfn\":1,\"gpa\":0}}",
		     "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"mem-online: give "
		     "exactly one of \\\"pfn\\\" (a host frame) or \\\"gpa\\\" (a guest page)\"}}");
	expect_reply("{\"execute\":\"mem-offline\",\"arguments\":{\"pfn\":-1}}",
		     "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"mem-offline: "
		     "\\\"pfn\\\" must be a non-negative integer\"}}");
	expect_reply("{\"execute\":\"mem-offline\",\"arguments\":{\"gpa\":\"0x1000\"}}",
		     "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"mem-offline: "
		     "\\\"gpa\\\" must be a non-negative integer\"}}");
	expect_reply("{\"execute\":\"mem-offline\",\"arguments\":{\"page\":1}}",
		     "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"mem-offline: unknown "
		     "argument \\\"page\\\": see README\"}}");
	expect_reply("{\"execute\":\"query-mem\",\"arguments\":{\"pfn\":1}}",
		     "{\"error\":{\"class\":\"InvalidParameter\",\"desc\":\"query-mem takes no "
		     "arguments: drop \\\"arguments\\\"\"}}");
	/* A backup is asked too: it knows whether a frame is its own. */
	fake.backup = true;
	expect_reply("{\"execute\":\"mem-offline\",\"arguments\":{\"pfn\":2}}",
		     "{\"error\":{\"class\":\"NotOwner\",\"desc\":\"PFN 0x2 backs no page of this "
		     "VM\"}}");
	expect_reply("{\"execute\":\"query-mem\"}", "{\"return\":{\"offline\":[]}}");
	fake = (struct fake_vm){.running = true};
}
END_TEST

Suite *page_offline_suite(void)
{
	Suite *s = suite_create("page_offline");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_offline_online_under_writer);
	tcase_add_test(tc, test_many_and_chained);
	tcase_add_test(tc, test_quarantine_holds_frames);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_backup_refuses);
	tcase_add_test(tc, test_hold_pipe_outlives_vm);
	suite_add_tcase(s, tc);
	tc = tcase_create("control");
	tcase_add_test(tc, test_control_commands);
	suite_add_tcase(s, tc);
	return s;
}
