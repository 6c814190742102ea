/* Save and live migration of memwriter between two VMs in this process, and every way it fails. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "memory.h"
#include "migrate.h"
#include "page_data.h"
#include "stream.h"
#include "suites.h"
#include "throttle.h"
#include "vcpu_state.h"
#include "virtio_blk.h"
#include "vm.h"
#include "vm_fixture.h" /* also RT_MEMWRITER_BASE */
#include "vm_stream.h"

#define MEM   (64ULL << 20)
#define VCPUS 2

/* memwriter's arguments (pages == ws: each iteration rewrites its whole working set). */
struct memwriter {
	unsigned int ws, rate, iters;
};

/*
 * 5 pages/ms per vCPU over 512-page working sets: every page rewritten every
 * 100 ms.  steady ends after 2.5 s with a checksum, for saves of a paused VM;
 * endless outlasts any migration, however loaded the host, and shows it runs
 * on by its progress.
 */
static const struct memwriter steady = {.ws = 512, .rate = 5, .iters = 25};
static const struct memwriter endless = {.ws = 512, .rate = 5, .iters = 1000000};

struct guest {
	struct test_vm t; /* the VM and its console */
	struct memwriter args;
};

static void guest_create(struct guest *g)
{
	test_vm__create(&g->t, MEM, VCPUS);
}

static void guest_destroy(struct guest *g)
{
	test_vm__destroy(&g->t);
}

/* Word 0 of a vCPU's first page: the iteration that last wrote it (0 = not yet). */
static uint64_t progress_of(const struct guest *g, unsigned int cpu)
{
	uint64_t gpa = RT_MEMWRITER_BASE + (uint64_t)cpu * g->args.ws * STREAM_PAGE_SIZE;

	return *(volatile uint64_t *)memory__gpa_to_hva(g->t.vm, gpa, 8);
}

static uint64_t progress(const struct guest *g)
{
	return progress_of(g, 0);
}

/* Boots memwriter in a created VM and returns once it has written all its pages. */
static void guest_start(struct guest *g, const struct memwriter *args)
{
	char cmdline[128];

	snprintf(cmdline, sizeof(cmdline), "pages=%u ws=%u rate=%u vcpus=%d iters=%u", args->ws,
		 args->ws, args->rate, VCPUS, args->iters);
	g->args = *args;
	test_vm__boot_memwriter(&g->t, cmdline);
	test_vm__wait_text(&g->t, "memwriter: pages=");
	/* Every working set written once: iteration 2 began on each vCPU (polled, not timed). */
	for (unsigned int cpu = 0; cpu < VCPUS; cpu++)
		for (int ms = 0; progress_of(g, cpu) < 2; ms++) {
			ck_assert_msg(ms < 20000,
				      "memwriter on vCPU %u never wrote its pages; console:\n%s",
				      cpu, g->t.out);
			usleep(1000);
		}
}

static void guest_boot(struct guest *g, const struct memwriter *args)
{
	guest_create(g);
	guest_start(g, args);
}

/* The guest writes on: two more iterations of its working set, within 20 s. */
static void wait_progress(struct guest *g)
{
	uint64_t from = progress(g);

	for (int ms = 0; progress(g) < from + 2; ms++) { /* polls the guest, no timing */
		ck_assert_msg(ms < 20000, "memwriter stuck at iteration %llu; console:\n%s",
			      (unsigned long long)progress(g), g->t.out);
		usleep(1000);
	}
}

/* memwriter ends with the checksum of an uninterrupted run: nothing was lost. */
static void wait_done(struct guest *g)
{
	char want[128];

	snprintf(
	    want, sizeof(want), "memwriter: done iters=%u pages=%u vcpus=%d checksum=0x%016llx",
	    g->args.iters, g->args.ws, VCPUS,
	    (unsigned long long)memwriter_checksum(VCPUS, g->args.ws, g->args.ws, g->args.iters));
	test_vm__wait_text(&g->t, "memwriter: done");
	ck_assert_msg(strstr(g->t.out, want), "wanted \"%s\"; the console said:\n%s", want,
		      g->t.out);
	ck_assert_int_eq(vm__join(g->t.vm), 1); /* TWIN_GUEST_EXIT_OK */
}

static unsigned int pause_depth(struct vm *vm)
{
	unsigned int d;

	pthread_mutex_lock(&vm->lock);
	d = vm->pause_depth;
	pthread_mutex_unlock(&vm->lock);
	return d;
}

static void assert_same_memory(struct vm *a, struct vm *b)
{
	ck_assert_uint_eq(a->mem.size, b->mem.size);
	for (uint64_t off = 0; off < a->mem.size; off += STREAM_PAGE_SIZE)
		ck_assert_msg(!memcmp(a->mem.base + off, b->mem.base + off, STREAM_PAGE_SIZE),
			      "RAM page at offset 0x%llx differs", (unsigned long long)off);
}

/* What restore brings over exactly (the TSC and a pending wait move on; vcpu_state tests those). */
static void assert_same_vcpus(struct vm *a, struct vm *b)
{
	struct vcpu_state *x = calloc(1, sizeof(*x)), *y = calloc(1, sizeof(*y));

	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(y);
	for (unsigned int i = 0; i < VCPUS; i++) {
		ck_assert_int_eq(vcpu_state__capture(&a->vcpus[i], x), 0);
		ck_assert_int_eq(vcpu_state__capture(&b->vcpus[i], y), 0);
		ck_assert_msg(!memcmp(&x->regs, &y->regs, sizeof(x->regs)), "vCPU %u: regs", i);
		ck_assert_msg(!memcmp(&x->sregs, &y->sregs, sizeof(x->sregs)), "vCPU %u: sregs", i);
		ck_assert_msg(!memcmp(&x->lapic, &y->lapic, sizeof(x->lapic)), "vCPU %u: lapic", i);
	}
	free(x);
	free(y);
}

/* The source side of a migration, on its own thread as twin-vmm runs it. */
struct send_run {
	pthread_t thread;
	struct vm *vm;
	struct migrate_params p;
	struct migrate_job *job;
	int fd;
	struct stream_writer w;
	int rc;
};

static void *send_thread(void *arg)
{
	struct send_run *s = arg;

	s->rc = migrate__send(s->vm, &s->p, &s->w, stream__fd_read, &s->fd, s->job);
	if (s->rc) /* as twin-vmm closes it: the destination must not wait forever */
		shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

static void send_start(struct send_run *s, struct vm *vm, const struct migrate_params *p, int fd)
{
	memset(s, 0, sizeof(*s));
	s->vm = vm;
	s->p = *p;
	s->fd = fd;
	ck_assert_int_eq(migrate_job__new(&s->job), 0);
	stream_writer__init(&s->w, stream__fd_write, &s->fd);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, send_thread, s), 0);
}

static void send_join(struct send_run *s, struct migrate_status *st)
{
	ck_assert_int_eq(pthread_join(s->thread, NULL), 0);
	migrate_job__status(s->job, st);
	migrate_job__free(s->job);
}

/* The destination: header, VM_CONFIG, a VM built to it, then pages and state. */
static int receive_into(int fd, struct guest *dst, const struct memwriter *args, char *err,
			size_t errlen)
{
	struct vm_stream_config *cfg = calloc(1, sizeof(*cfg));
	struct stream_reader r;
	int rc;

	ck_assert_ptr_nonnull(cfg);
	stream_reader__init(&r, stream__fd_read, &fd);
	rc = migrate__receive_config(&r, cfg, err, errlen);
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_uint_eq(cfg->mem_size, MEM);
	ck_assert_uint_eq(cfg->nr_vcpus, VCPUS);
	guest_create(dst);
	dst->args = *args; /* the guest it will run */
	rc = migrate__receive(&r, dst->t.vm, stream__fd_write, &fd, NULL, err, errlen);
	stream_reader__dispose(&r);
	free(cfg);
	return rc;
}

static const struct migrate_params live_params[] = {
    {.live = true, .compress = MIGRATE_COMPRESS_LZ4},
    {.live = true, .compress = MIGRATE_COMPRESS_ZLIB, .xbzrle_cache = 4 << 20},
    {.live = true, .compress = MIGRATE_COMPRESS_NONE, .xbzrle_cache = 16 << 20},
};

/*
 * memwriter migrated live over a socketpair mid-run: the destination's RAM and
 * vCPUs equal the paused source's, the source stays paused, and memwriter
 * writes on in the destination.
 */
START_TEST(test_live_migration)
{
	struct guest src, dst;
	struct send_run s;
	struct migrate_status st;
	char err[512];
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	guest_boot(&src, &endless);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_start(&s, src.t.vm, &live_params[_i], sv[0]);
	if (receive_into(sv[1], &dst, &src.args, err, sizeof(err))) {
		send_join(&s, &st);
		ck_abort_msg("receive: %s; send: %s", err, st.error);
	}
	ck_assert_int_eq(migrate__ack(stream__fd_write, &sv[1], 0, NULL), 0);
	send_join(&s, &st);
	ck_assert_msg(s.rc == 0, "%s", st.error);
	ck_assert_str_eq(migrate_phase__to_str(st.phase), "completed");
	ck_assert(st.end_sent);
	ck_assert_str_eq(st.warning, "");
	ck_assert_uint_ge(st.rounds, 2);
	ck_assert_uint_eq(st.bytes, s.w.offset);
	ck_assert_uint_gt(st.downtime_ns, 0);
	ck_assert_uint_ge(st.total_ns, st.downtime_ns);
	ck_assert_uint_eq(st.pages, st.zero_pages + st.raw_pages + st.lz4_pages + st.zlib_pages +
					st.delta_pages);
	ck_assert_uint_ge(st.pages, VCPUS * endless.ws);
	if (live_params[_i].compress != MIGRATE_COMPRESS_LZ4)
		ck_assert_uint_eq(st.lz4_pages, 0);
	if (live_params[_i].compress != MIGRATE_COMPRESS_ZLIB)
		ck_assert_uint_eq(st.zlib_pages, 0);
	/* The source stays paused (its owner quits): compare it with the destination. */
	ck_assert_uint_eq(pause_depth(src.t.vm), 1);
	assert_same_memory(src.t.vm, dst.t.vm);
	assert_same_vcpus(src.t.vm, dst.t.vm);
	guest_destroy(&src);
	ck_assert_int_eq(vm__start(dst.t.vm), 0);
	wait_progress(&dst);
	guest_destroy(&dst);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A growable buffer the writer appends to. */
struct sink {
	uint8_t *data;
	size_t len;
	size_t cancel_at; /* cancel job once this many bytes arrived; 0 = never */
	size_t fail_at;	  /* fail with -EPIPE once this many bytes arrived; 0 = never */
	struct migrate_job *job;
	struct migrate_status at_cancel; /* the job's status as the cancel was given */
	/* Written into once, as the first DISK_WRITES record starts: a guest write mid-way. */
	struct virtio_blk *write_disk;
	bool disk_written;
};

static int sink_write(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;
	uint8_t *nd;

	if (s->fail_at && s->len + len > s->fail_at)
		return -EPIPE;
	if (s->write_disk && !s->disk_written && len == sizeof(struct stream_rec_header) &&
	    ((const struct stream_rec_header *)buf)->type == STREAM_REC_DISK_WRITES) {
		static uint8_t chunk[VIRTIO_BLK_CHUNK];
		struct iovec iov = {.iov_base = chunk, .iov_len = sizeof(chunk)};

		/* Chunk 3, already read for this record: only tracking can catch it. */
		memset(chunk, 0x77, sizeof(chunk));
		ck_assert_int_eq(virtio_blk__write(s->write_disk, 3 * VIRTIO_BLK_CHUNK, &iov, 1),
				 0);
		s->disk_written = true;
	}
	nd = realloc(s->data, s->len + len);
	if (!nd)
		return -ENOMEM;
	memcpy(nd + s->len, buf, len);
	s->data = nd;
	s->len += len;
	if (s->cancel_at && s->len >= s->cancel_at && !s->at_cancel.phase) {
		migrate_job__status(s->job, &s->at_cancel);
		ck_assert(migrate_job__cancel(s->job)); /* END is far off: taken */
	}
	return 0;
}

/*
 * A paused VM saved into memory (live=false) and received into a fresh VM:
 * the same RAM and vCPUs; the source stays paused with its I/O running, and
 * both finish memwriter with the right checksum.
 */
START_TEST(test_save_restore)
{
	struct migrate_params p = {.live = false};
	struct guest src, dst;
	struct sink out = {0};
	struct stream_writer w;
	struct stream_reader r;
	struct stream_mem m;
	struct vm_stream_config *cfg = calloc(1, sizeof(*cfg));
	char err[512];
	int rc;

	ck_assert_ptr_nonnull(cfg);
	guest_boot(&src, &steady);
	stream_writer__init(&w, sink_write, &out);
	/* A running VM is refused: a save is of a paused VM. */
	ck_assert_int_eq(migrate__send(src.t.vm, &p, &w, NULL, NULL, NULL), -EINVAL);
	ck_assert_uint_eq(pause_depth(src.t.vm), 0);
	vm__pause_all(src.t.vm);
	stream_writer__init(&w, sink_write, &out);
	out.len = 0;
	ck_assert_int_eq(migrate__send(src.t.vm, &p, &w, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(pause_depth(src.t.vm), 1);
	ck_assert_uint_eq(w.offset, out.len);

	m = (struct stream_mem){.data = out.data, .size = out.len};
	stream_reader__init(&r, stream__mem_read, &m);
	rc = migrate__receive_config(&r, cfg, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_uint_eq(r.flags, 0); /* not LIVE: each page at most once */
	guest_create(&dst);
	dst.args = src.args;
	rc = migrate__receive(&r, dst.t.vm, NULL, NULL, NULL, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_uint_eq(m.pos, m.size); /* END was the last byte */
	assert_same_memory(src.t.vm, dst.t.vm);
	assert_same_vcpus(src.t.vm, dst.t.vm);
	ck_assert_int_eq(vm__start(dst.t.vm), 0);
	vm__resume_all(src.t.vm);
	wait_done(&dst);
	wait_done(&src);
	guest_destroy(&src);
	guest_destroy(&dst);
	stream_reader__dispose(&r);
	free(out.data);
	free(cfg);
}
END_TEST

/* After a failed migration: not paused, no throttle, no dirty logging, and memwriter writes on. */
static void assert_source_runs_on(struct guest *g, const struct migrate_status *st)
{
	ck_assert_uint_eq(pause_depth(g->t.vm), 0);
	ck_assert(!g->t.vm->mem.log_dirty);
	ck_assert_uint_eq(st->throttle_pct, 0);
	ck_assert_uint_eq(st->downtime_ns, 0);
	ck_assert_msg(st->error[0] != '\0', "a failed migration must say why");
	wait_progress(g);
}

/*
 * Cancelled between batches (by the writer, at a byte count: no timing): the
 * source runs on, and a migration tried again afterwards succeeds.
 */
START_TEST(test_cancel)
{
	struct migrate_params p = {.live = true};
	struct migrate_status st;
	struct sink out = {.cancel_at = 1 << 20}, again = {0};
	struct stream_writer w;
	struct stream_reader r;
	struct stream_mem m;
	struct vm_stream_config cfg;
	struct guest g, dst;
	char err[512];

	guest_boot(&g, &endless);
	ck_assert_int_eq(migrate_job__new(&out.job), 0);
	stream_writer__init(&w, sink_write, &out);
	ck_assert_int_eq(migrate__send(g.t.vm, &p, &w, NULL, NULL, out.job), -ECANCELED);
	migrate_job__status(out.job, &st);
	ck_assert_str_eq(migrate_phase__to_str(st.phase), "cancelled");
	ck_assert_ptr_nonnull(strstr(st.error, "cancelled"));
	/* Stopped at the end of the batch that crossed the mark. */
	ck_assert_uint_le(st.bytes, out.cancel_at + 8 + sizeof(struct stream_batch_header) +
					STREAM_MAX_BATCH * (16 + STREAM_LZ4_BOUND + 8));
	ck_assert_uint_eq(pause_depth(g.t.vm), 0);
	ck_assert_uint_eq(st.throttle_pct, 0);
	ck_assert(!g.t.vm->mem.log_dirty);
	/* Progress as another thread saw it mid-way. */
	ck_assert_str_eq(migrate_phase__to_str(out.at_cancel.phase), "active");
	ck_assert_uint_ge(out.at_cancel.rounds, 1);
	ck_assert_uint_le(out.at_cancel.bytes, out.cancel_at); /* published after each batch */
	ck_assert_uint_gt(out.at_cancel.remaining_pages, 0);
	ck_assert_uint_le(out.at_cancel.remaining_pages, MEM / STREAM_PAGE_SIZE);
	ck_assert_uint_gt(out.at_cancel.total_ns, 0);
	ck_assert_uint_ge(st.total_ns, out.at_cancel.total_ns);

	/* A second migration (dirty logging on again) carries the VM whole. */
	stream_writer__init(&w, sink_write, &again);
	ck_assert_int_eq(migrate__send(g.t.vm, &p, &w, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(pause_depth(g.t.vm), 1);
	m = (struct stream_mem){.data = again.data, .size = again.len};
	stream_reader__init(&r, stream__mem_read, &m);
	ck_assert_msg(migrate__receive_config(&r, &cfg, err, sizeof(err)) == 0, "%s", err);
	guest_create(&dst);
	dst.args = g.args;
	ck_assert_msg(migrate__receive(&r, dst.t.vm, NULL, NULL, NULL, err, sizeof(err)) == 0, "%s",
		      err);
	assert_same_memory(g.t.vm, dst.t.vm);
	assert_same_vcpus(g.t.vm, dst.t.vm);
	stream_reader__dispose(&r);

	/* Both write on. */
	vm__resume_all(g.t.vm);
	ck_assert_int_eq(vm__start(dst.t.vm), 0);
	wait_progress(&g);
	wait_progress(&dst);
	guest_destroy(&g);
	guest_destroy(&dst);
	migrate_job__free(out.job);
	free(out.data);
	free(again.data);
}
END_TEST

/* The connection drops during pre-copy (the peer closes): the source runs on. */
START_TEST(test_drop_during_precopy)
{
	struct migrate_params p = {.live = true, .compress = MIGRATE_COMPRESS_NONE};
	struct migrate_status st;
	struct send_run s;
	struct guest g;
	char buf[65536];
	size_t got = 0;
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	guest_boot(&g, &endless);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_start(&s, g.t.vm, &p, sv[0]);
	/* Raw pages: the working set alone is 8 MiB, far more than the socket holds. */
	while (got < (1 << 20)) {
		ssize_t n = read(sv[1], buf, sizeof(buf));

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	close(sv[1]);
	send_join(&s, &st);
	ck_assert_int_eq(s.rc, -EPIPE);
	ck_assert_str_eq(migrate_phase__to_str(st.phase), "failed");
	ck_assert_ptr_nonnull(strstr(st.error, "Broken pipe"));
	ck_assert(!st.end_sent);
	assert_source_runs_on(&g, &st);
	guest_destroy(&g);
	close(sv[0]);
}
END_TEST

/*
 * The destination takes the whole stream, then fails the handshake: it
 * refuses (a -errno ack, or a status outside the protocol) or it is gone
 * before acking.  The source was paused for the final round: it must be
 * resumed, and write on.
 */
static const int acks[] = {-ENOSPC, -ECANCELED, INT32_MIN, 1};

START_TEST(test_no_ack)
{
	struct migrate_params p = {.live = true};
	struct migrate_status st;
	struct send_run s;
	struct guest src, dst;
	char err[512];
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	guest_boot(&src, &endless);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_start(&s, src.t.vm, &p, sv[0]);
	ck_assert_msg(receive_into(sv[1], &dst, &src.args, err, sizeof(err)) == 0, "%s", err);
	/*
	 * Paused waiting for the ack: at least once.  Under load auto-converge's throttle may
	 * still hold a pause of its own on top (seen: 2 in a full make check at load 8).
	 */
	ck_assert_uint_ge(pause_depth(src.t.vm), 1);
	if (_i < 4)
		ck_assert_int_eq(migrate__ack(stream__fd_write, &sv[1], acks[_i], "disk full here"),
				 0);
	close(sv[1]);
	send_join(&s, &st);
	ck_assert_str_eq(migrate_phase__to_str(st.phase), "failed");
	if (_i < 4) {
		/* A plain -errno is passed on; anything else is the peer breaking the protocol. */
		ck_assert_int_eq(s.rc, _i == 0 ? -ENOSPC : -EPROTO);
		ck_assert_ptr_nonnull(strstr(st.error, "disk full here"));
	} else {
		ck_assert_int_eq(s.rc, -ECONNRESET);
		ck_assert_ptr_nonnull(strstr(st.error, "before its ack"));
	}
	assert_source_runs_on(&src, &st);
	guest_destroy(&src);
	guest_destroy(&dst);
	close(sv[0]);
}
END_TEST

/*
 * A cancel once END is written is too late: the destination may already run
 * the VM.  The sender ignores it and takes the destination's ack.
 */
START_TEST(test_cancel_after_end)
{
	struct migrate_params p = {.live = true};
	struct migrate_status st;
	struct send_run s;
	struct guest src, dst;
	char err[512];
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	guest_boot(&src, &endless);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_start(&s, src.t.vm, &p, sv[0]);
	ck_assert_msg(receive_into(sv[1], &dst, &src.args, err, sizeof(err)) == 0, "%s", err);
	/* END read, so written, and the sender marks it sent before it writes it. */
	migrate_job__status(s.job, &st);
	ck_assert_msg(st.end_sent, "END read but not marked sent");
	ck_assert_str_eq(migrate_phase__to_str(st.phase), "stop-copy");
	ck_assert(!migrate_job__cancel(s.job)); /* too late, and refused as such */
	ck_assert_int_eq(migrate__ack(stream__fd_write, &sv[1], 0, NULL), 0);
	send_join(&s, &st);
	ck_assert_msg(s.rc == 0, "%s", st.error);
	ck_assert_str_eq(migrate_phase__to_str(st.phase), "completed");
	ck_assert_uint_eq(pause_depth(src.t.vm), 1);
	guest_destroy(&src);
	ck_assert_int_eq(vm__start(dst.t.vm), 0);
	wait_progress(&dst);
	guest_destroy(&dst);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/*
 * A destination that cannot take the VM says so in place of READY, and reads
 * on until the source, which reads it before its final pause, gives up: the
 * reason reaches the source, whose VM was never paused.
 */
START_TEST(test_refused_before_ready)
{
	struct migrate_params p = {.live = true};
	struct vm_stream_config *cfg = calloc(1, sizeof(*cfg));
	struct migrate_status st;
	struct stream_reader r;
	struct stream_record rec;
	struct send_run s;
	struct guest src;
	char err[512];
	int sv[2];

	ck_assert_ptr_nonnull(cfg);
	signal(SIGPIPE, SIG_IGN);
	guest_boot(&src, &endless);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_start(&s, src.t.vm, &p, sv[0]);
	stream_reader__init(&r, stream__fd_read, &sv[1]);
	ck_assert_msg(migrate__receive_config(&r, cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(migrate__ack(stream__fd_write, &sv[1], -EINVAL, "no --disk here"), 0);
	while (!stream_reader__next(&r, &rec)) /* the source's pre-copy, read and dropped */
		ck_assert_uint_ne(rec.type, STREAM_REC_END);
	send_join(&s, &st);
	ck_assert_int_eq(s.rc, -EINVAL);
	ck_assert_ptr_nonnull(strstr(st.error, "no --disk here"));
	ck_assert(!st.end_sent);
	assert_source_runs_on(&src, &st);
	guest_destroy(&src);
	stream_reader__dispose(&r);
	free(cfg);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A save that fails writing (a full disk, say) leaves the VM paused as it was, I/O resumed. */
START_TEST(test_save_write_error)
{
	struct migrate_params p = {.live = false};
	struct migrate_status st;
	struct migrate_job *job;
	struct sink out = {.fail_at = 4096}; /* past VM_CONFIG, inside the first pages */
	struct stream_writer w;
	struct guest g;

	guest_boot(&g, &steady);
	ck_assert_int_eq(migrate_job__new(&job), 0);
	vm__pause_all(g.t.vm);
	stream_writer__init(&w, sink_write, &out);
	ck_assert_int_eq(migrate__send(g.t.vm, &p, &w, NULL, NULL, job), -EPIPE);
	migrate_job__status(job, &st);
	ck_assert_str_eq(migrate_phase__to_str(st.phase), "failed");
	ck_assert_ptr_nonnull(strstr(st.error, "stream byte"));
	ck_assert_uint_eq(pause_depth(g.t.vm), 1);
	vm__resume_all(g.t.vm);
	wait_done(&g);
	guest_destroy(&g);
	migrate_job__free(job);
	free(out.data);
}
END_TEST

/*
 * A guest that dirties more than the capped link carries: the dirty set stops
 * shrinking, the throttle steps up (memwriter catches up at full speed in the
 * slices it runs, so it may never fit and the round cap ends pre-copy), and
 * the VM still moves intact.
 */
static const struct memwriter busy = {.ws = 64, .rate = 5, .iters = 1000000};

START_TEST(test_auto_converge)
{
	struct migrate_params p = {.live = true, .max_bandwidth = 2 << 20};
	struct guest src, dst;
	struct migrate_status st;
	struct send_run s;
	char err[512];
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	guest_boot(&src, &busy);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_start(&s, src.t.vm, &p, sv[0]);
	if (receive_into(sv[1], &dst, &src.args, err, sizeof(err))) {
		send_join(&s, &st);
		ck_abort_msg("receive: %s; send: %s", err, st.error);
	}
	ck_assert_int_eq(migrate__ack(stream__fd_write, &sv[1], 0, NULL), 0);
	send_join(&s, &st);
	ck_assert_msg(s.rc == 0, "%s", st.error);
	ck_assert_uint_ge(st.rounds, 4); /* two stalled rounds after the first dirty one */
	ck_assert_uint_gt(throttle__pauses(src.t.vm), 0);
	if (st.warning[0]) /* only when the round cap stopped it short of the target */
		ck_assert_ptr_nonnull(strstr(st.warning, "downtime target missed"));
	ck_assert_uint_gt(st.throttle_pct, 0); /* the throttle it stopped under */
	assert_same_memory(src.t.vm, dst.t.vm);
	assert_same_vcpus(src.t.vm, dst.t.vm);
	guest_destroy(&src);
	ck_assert_int_eq(vm__start(dst.t.vm), 0);
	wait_progress(&dst);
	guest_destroy(&dst);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A header and VM_CONFIG for vm, with flags, into out. */
static void stream_prefix(struct sink *out, struct stream_writer *w, struct vm *vm, uint32_t flags)
{
	memset(out, 0, sizeof(*out));
	stream_writer__init(w, sink_write, out);
	ck_assert_int_eq(stream_writer__header(w, flags), 0);
	ck_assert_int_eq(vm_stream__write_config(w, vm), 0);
}

/*
 * Receives out into a fresh VM, READY and acks into back (NULL: read as a file); returns
 * the error, asserting it names the stream offset.
 */
static int receive_bad_over(const struct sink *out, struct sink *back, char *err, size_t errlen)
{
	struct vm_stream_config *cfg = calloc(1, sizeof(*cfg));
	struct stream_mem m = {.data = out->data, .size = out->len};
	struct stream_reader r;
	struct guest dst;
	int rc;

	ck_assert_ptr_nonnull(cfg);
	stream_reader__init(&r, stream__mem_read, &m);
	rc = migrate__receive_config(&r, cfg, err, errlen);
	if (rc == 0) {
		guest_create(&dst);
		rc = migrate__receive(&r, dst.t.vm, back ? sink_write : NULL, back, NULL, err,
				      errlen);
		guest_destroy(&dst);
	}
	ck_assert_int_lt(rc, 0);
	ck_assert_msg(strstr(err, "byte "), "no stream offset in \"%s\"", err);
	stream_reader__dispose(&r);
	free(cfg);
	return rc;
}

static int receive_bad(const struct sink *out, char *err, size_t errlen)
{
	return receive_bad_over(out, NULL, err, errlen);
}

/*
 * Streams a destination must refuse, each with an error naming the record and
 * its offset: VM_CONFIG not first, a replication stream, a delta for a page
 * never sent, a record that has no place here, SYNC in a stream that is not
 * live, END without the state, and a save cut short anywhere.
 */
START_TEST(test_receive_refusals)
{
	static uint8_t zero[STREAM_PAGE_SIZE], page[STREAM_PAGE_SIZE], delta[STREAM_PAGE_SIZE];
	struct migrate_params p = {.live = false};
	struct stream_writer w;
	struct page_batch b;
	struct sink out;
	struct guest src;
	char err[512];
	size_t full;
	int n;

	guest_create(&src);
	/* END where VM_CONFIG must be. */
	memset(&out, 0, sizeof(out));
	stream_writer__init(&w, sink_write, &out);
	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(stream_writer__end(&w), 0);
	ck_assert_int_eq(receive_bad(&out, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "VM_CONFIG must come first"));
	free(out.data);

	/* A replication stream's initial sync ends at CHECKPOINT 0: END, another epoch or a
	 * heartbeat there is refused (the caller sees the flag: receive_config accepts it). */
	stream_prefix(&out, &w, src.t.vm, STREAM_FLAG_LIVE | STREAM_FLAG_CHECKPOINTED);
	ck_assert_int_eq(stream_writer__end(&w), 0);
	ck_assert_int_eq(receive_bad(&out, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "no CHECKPOINT 0"));
	free(out.data);
	stream_prefix(&out, &w, src.t.vm, STREAM_FLAG_LIVE | STREAM_FLAG_CHECKPOINTED);
	ck_assert_int_eq(stream_writer__checkpoint(&w, 3), 0);
	ck_assert_int_eq(receive_bad(&out, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "epoch 3 during the initial sync"));
	free(out.data);
	stream_prefix(&out, &w, src.t.vm, STREAM_FLAG_LIVE | STREAM_FLAG_CHECKPOINTED);
	ck_assert_int_eq(stream_writer__record(&w, STREAM_REC_HEARTBEAT, NULL, NULL, 0), 0);
	ck_assert_int_eq(receive_bad(&out, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "record HEARTBEAT"));
	free(out.data);

	/* A delta for pfn 5, which this stream never sent. */
	stream_prefix(&out, &w, src.t.vm, STREAM_FLAG_LIVE);
	page[0] = 1;
	n = page_data__delta_encode(zero, page, delta);
	ck_assert_int_gt(n, 0);
	page_batch__init(&b);
	ck_assert_int_eq(page_batch__add_encoded(&b, 5, STREAM_PAGE_DELTA, delta, n), 0);
	ck_assert_int_eq(page_batch__write(&b, &w), 0);
	page_batch__dispose(&b);
	ck_assert_int_eq(receive_bad(&out, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "record PAGE_DATA"));
	ck_assert_ptr_nonnull(strstr(err, "has not sent"));
	free(out.data);

	/* A CHECKPOINT in a migration. */
	stream_prefix(&out, &w, src.t.vm, STREAM_FLAG_LIVE);
	ck_assert_int_eq(stream_writer__checkpoint(&w, 1), 0);
	ck_assert_int_eq(receive_bad(&out, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "not part of a save or migration stream"));
	free(out.data);

	/* SYNC in a stream without LIVE, over a connection: refused, no READY sent. */
	stream_prefix(&out, &w, src.t.vm, 0);
	ck_assert_int_eq(stream_writer__record(&w, STREAM_REC_SYNC, NULL, NULL, 0), 0);
	{
		struct sink back = {0};

		ck_assert_int_eq(receive_bad_over(&out, &back, err, sizeof(err)), -EBADMSG);
		ck_assert_ptr_nonnull(strstr(err, "record SYNC"));
		ck_assert_ptr_nonnull(strstr(err, "without the LIVE flag"));
		ck_assert_uint_eq(back.len, 0);
		free(back.data);
	}
	free(out.data);

	/* END with no state before it. */
	stream_prefix(&out, &w, src.t.vm, 0);
	ck_assert_int_eq(stream_writer__end(&w), 0);
	ck_assert_int_lt(receive_bad(&out, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "record END"));
	free(out.data);

	/* A whole save, then cut at every 8th byte: each is truncated, never applied. */
	memset(&out, 0, sizeof(out));
	memset(src.t.vm->mem.base + (1 << 20), 0x5a, 3 * STREAM_PAGE_SIZE); /* pages to send */
	vm__pause_all(src.t.vm);
	stream_writer__init(&w, sink_write, &out);
	ck_assert_int_eq(migrate__send(src.t.vm, &p, &w, NULL, NULL, NULL), 0);
	full = out.len;
	for (out.len = 0; out.len < full; out.len += (out.len < 256 ? 8 : 4099)) {
		receive_bad(&out, err, sizeof(err));
		ck_assert_msg(strstr(err, "truncated"), "cut at %zu: %s", out.len, err);
	}
	free(out.data);
	guest_destroy(&src);
}
END_TEST

/*
 * RAM never written is a hole of the memfd: a save neither sends it nor reads
 * it (reading would allocate it), so 3 written pages of 64 MiB cost 3 pages.
 */
START_TEST(test_holes_untouched)
{
	struct migrate_params p = {.live = false};
	struct migrate_status st;
	struct migrate_job *job;
	struct sink out = {0};
	struct stream_writer w;
	struct stat before, after;
	struct guest g;

	guest_create(&g);
	ck_assert_int_eq(migrate_job__new(&job), 0);
	memset(g.t.vm->mem.base + (8 << 20), 0x5a, 3 * STREAM_PAGE_SIZE);
	ck_assert_int_eq(fstat(g.t.vm->mem.fd, &before), 0);
	vm__pause_all(g.t.vm);
	stream_writer__init(&w, sink_write, &out);
	ck_assert_int_eq(migrate__send(g.t.vm, &p, &w, NULL, NULL, job), 0);
	ck_assert_int_eq(fstat(g.t.vm->mem.fd, &after), 0);
	ck_assert_int_eq(after.st_blocks, before.st_blocks);
	migrate_job__status(job, &st);
	ck_assert_uint_eq(st.pages, 3);
	ck_assert_uint_eq(st.remaining_pages, 0);
	ck_assert_uint_lt(out.len, 64 << 10);
	guest_destroy(&g);
	migrate_job__free(job);
	free(out.data);
}
END_TEST

/* A writable disk on an image of 1 MiB (memwriter does not use it); shared: opened unlocked. */
static struct virtio_blk *add_disk(struct guest *g, const char *img, bool shared)
{
	struct virtio_blk *blk;
	char err[512];
	int rc = shared ? virtio_blk__open_shared(img, false, 0, &blk, err, sizeof(err))
			: virtio_blk__open(img, false, 0, &blk, err, sizeof(err));

	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_int_eq(virtio_blk__register(blk, g->t.vm, false), 0);
	return blk;
}

static void make_image(char *img, size_t len)
{
	int fd;

	snprintf(img, len, "/tmp/twin-test-migrate-XXXXXX");
	fd = mkstemp(img);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
}

/* Whether a third party could take img's lock now (nobody holds it). */
static bool image_free(const char *img)
{
	int fd = open(img, O_RDWR | O_CLOEXEC);
	bool free_ = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;

	close(fd);
	return free_;
}

/* A writable disk without shared storage: refused at once, naming the image; the VM runs on. */
START_TEST(test_disk_refused)
{
	struct migrate_params p = {.live = true};
	struct migrate_status st;
	struct migrate_job *job;
	struct sink out = {0};
	struct stream_writer w;
	struct guest g;
	char img[64];

	make_image(img, sizeof(img));
	guest_create(&g);
	add_disk(&g, img, false);
	guest_start(&g, &endless);
	ck_assert_int_eq(migrate_job__new(&job), 0);
	stream_writer__init(&w, sink_write, &out);
	ck_assert_int_eq(migrate__send(g.t.vm, &p, &w, NULL, NULL, job), -EINVAL);
	migrate_job__status(job, &st);
	ck_assert_ptr_nonnull(strstr(st.error, img));
	ck_assert_ptr_nonnull(strstr(st.error, "--shared-storage"));
	ck_assert_uint_eq(out.len, 0); /* refused before the first byte */
	ck_assert(!image_free(img));   /* still ours */
	assert_source_runs_on(&g, &st);
	guest_destroy(&g);
	migrate_job__free(job);
	unlink(img);
}
END_TEST

/*
 * Shared storage: the destination opens the image unlocked, the source lets
 * go of it just before END and the destination takes it after.  _i = 1: the
 * destination then refuses, letting go of it before its ack: the source takes
 * the lock back and runs on.  _i = 2: the destination keeps the disk but its ack never comes:
 * the source must not run the VM too, and stays paused.
 */
START_TEST(test_shared_storage)
{
	struct migrate_params p = {.live = true, .shared_storage = true};
	struct migrate_status st;
	struct send_run s;
	struct guest src, dst;
	char img[64], err[512];
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	make_image(img, sizeof(img));
	guest_create(&src);
	add_disk(&src, img, false);
	guest_start(&src, &endless);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_start(&s, src.t.vm, &p, sv[0]);
	{
		struct vm_stream_config *cfg = calloc(1, sizeof(*cfg));
		struct stream_reader r;
		int fd = sv[1];

		ck_assert_ptr_nonnull(cfg);
		stream_reader__init(&r, stream__fd_read, &fd);
		ck_assert_msg(migrate__receive_config(&r, cfg, err, sizeof(err)) == 0, "%s", err);
		guest_create(&dst);
		dst.args = src.args;
		add_disk(&dst, img, true);
		ck_assert_msg(vm_stream__check_config(cfg, dst.t.vm, err, sizeof(err)) == 0, "%s",
			      err);
		ck_assert_msg(migrate__receive(&r, dst.t.vm, stream__fd_write, &fd, NULL, err,
					       sizeof(err)) == 0,
			      "%s", err);
		stream_reader__dispose(&r);
		free(cfg);
	}
	ck_assert(!image_free(img)); /* the destination holds it now */
	if (_i == 0) {
		ck_assert_int_eq(migrate__ack(stream__fd_write, &sv[1], 0, NULL), 0);
		send_join(&s, &st);
		ck_assert_msg(s.rc == 0, "%s", st.error);
		guest_destroy(&src);
		ck_assert(!image_free(img));
		ck_assert_int_eq(vm__start(dst.t.vm), 0);
		wait_progress(&dst);
		guest_destroy(&dst);
	} else if (_i == 1) {
		/* As twin-vmm's refusal does: the images let go of, then the ack. */
		ck_assert_int_eq(virtio_blk__release_all(dst.t.vm), 0);
		ck_assert_int_eq(migrate__ack(stream__fd_write, &sv[1], -EIO, "no thanks"), 0);
		send_join(&s, &st);
		ck_assert_int_eq(s.rc, -EIO);
		ck_assert(!image_free(img)); /* the source's again */
		assert_source_runs_on(&src, &st);
		guest_destroy(&src);
		guest_destroy(&dst);
	} else {
		close(sv[1]);
		send_join(&s, &st);
		ck_assert_int_eq(s.rc, -ECONNRESET);
		ck_assert_uint_eq(pause_depth(src.t.vm), 1);
		ck_assert(st.source_paused);
		/* The cause first, then what it left behind. */
		ck_assert_ptr_nonnull(strstr(st.error, "closed the connection before its ack"));
		ck_assert_ptr_nonnull(strstr(st.error, "stays paused"));
		guest_destroy(&src);
		guest_destroy(&dst);
	}
	close(sv[0]);
	if (_i != 2)
		close(sv[1]);
	unlink(img);
}
END_TEST

/*
 * The source hands its shared image over, but this incoming opened a disk of
 * its own (no --shared-storage): nothing was copied into it, so END is refused
 * rather than run the guest on a stale image; the source runs on.
 */
START_TEST(test_shared_mismatch)
{
	struct migrate_params p = {.live = true, .shared_storage = true};
	struct vm_stream_config *cfg = calloc(1, sizeof(*cfg));
	struct migrate_status st;
	struct stream_reader r;
	struct send_run s;
	struct guest src, dst;
	char a[64], b[64], err[512];
	int sv[2], fd;

	ck_assert_ptr_nonnull(cfg);
	signal(SIGPIPE, SIG_IGN);
	make_image(a, sizeof(a));
	make_image(b, sizeof(b));
	guest_create(&src);
	add_disk(&src, a, false);
	guest_start(&src, &endless);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_start(&s, src.t.vm, &p, sv[0]);
	fd = sv[1];
	stream_reader__init(&r, stream__fd_read, &fd);
	ck_assert_msg(migrate__receive_config(&r, cfg, err, sizeof(err)) == 0, "%s", err);
	guest_create(&dst);
	add_disk(&dst, b, false);
	ck_assert_int_eq(
	    migrate__receive(&r, dst.t.vm, stream__fd_write, &fd, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "did not come with the VM"));
	ck_assert(image_free(b)); /* let go of, as a refusal must */
	ck_assert_int_eq(migrate__ack(stream__fd_write, &fd, -EINVAL, err), 0);
	send_join(&s, &st);
	ck_assert_int_eq(s.rc, -EINVAL);
	ck_assert(!image_free(a)); /* the source's again */
	assert_source_runs_on(&src, &st);
	guest_destroy(&src);
	guest_destroy(&dst);
	stream_reader__dispose(&r);
	free(cfg);
	close(sv[0]);
	close(sv[1]);
	unlink(a);
	unlink(b);
}
END_TEST

/* The bytes of img, whole (1 MiB). */
static uint8_t *read_image(const char *img)
{
	uint8_t *b = malloc(1 << 20);
	int fd = open(img, O_RDONLY | O_CLOEXEC);

	ck_assert_ptr_nonnull(b);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, b, 1 << 20, 0), 1 << 20);
	close(fd);
	return b;
}

static void fill_image(const char *img, uint8_t v)
{
	uint8_t *b = malloc(1 << 20);
	int fd = open(img, O_WRONLY | O_CLOEXEC);

	ck_assert_ptr_nonnull(b);
	memset(b, v, 1 << 20);
	for (int i = 0; i < (1 << 20); i += 4096) /* not all alike, so a misplaced chunk shows */
		b[i] = (uint8_t)(i >> 12);
	ck_assert_int_eq(pwrite(fd, b, 1 << 20, 0), 1 << 20);
	close(fd);
	free(b);
}

/*
 * Copy storage: each host has its own image; the source's moves in the
 * stream, with a write made after its chunk was read (tracked, resent), and
 * the destination's, full of other bytes, ends equal to it.  A VM without the
 * disk refuses the record, naming it.
 */
START_TEST(test_copy_storage)
{
	struct migrate_params p = {.live = true, .copy_storage = true};
	struct vm_stream_config *cfg = calloc(1, sizeof(*cfg));
	char a[64], b[64], err[512];
	struct migrate_status st;
	struct migrate_job *job;
	struct sink out = {0};
	struct stream_writer w;
	struct stream_reader r;
	struct stream_mem m;
	struct guest src, dst;
	uint8_t *ia, *ib;

	ck_assert_ptr_nonnull(cfg);
	make_image(a, sizeof(a));
	make_image(b, sizeof(b));
	fill_image(a, 0x11);
	fill_image(b, 0xee);
	guest_create(&src);
	out.write_disk = add_disk(&src, a, false);
	guest_start(&src, &endless);
	ck_assert_int_eq(migrate_job__new(&job), 0);
	stream_writer__init(&w, sink_write, &out);
	ck_assert_int_eq(migrate__send(src.t.vm, &p, &w, NULL, NULL, job), 0);
	migrate_job__status(job, &st);
	ck_assert(out.disk_written);
	ck_assert_uint_ge(st.disk_chunks, 256 + 1); /* the full pass, then chunk 3 again */

	m = (struct stream_mem){.data = out.data, .size = out.len};
	stream_reader__init(&r, stream__mem_read, &m);
	ck_assert_msg(migrate__receive_config(&r, cfg, err, sizeof(err)) == 0, "%s", err);
	guest_create(&dst);
	dst.args = src.args;
	add_disk(&dst, b, false);
	ck_assert_msg(migrate__receive(&r, dst.t.vm, NULL, NULL, NULL, err, sizeof(err)) == 0, "%s",
		      err);
	stream_reader__dispose(&r);
	ia = read_image(a);
	ib = read_image(b);
	ck_assert_uint_eq(ia[3 * VIRTIO_BLK_CHUNK + 1], 0x77);
	ck_assert_int_eq(memcmp(ia, ib, 1 << 20), 0);
	assert_same_memory(src.t.vm, dst.t.vm);
	guest_destroy(&src);
	ck_assert_int_eq(vm__start(dst.t.vm), 0);
	wait_progress(&dst);
	guest_destroy(&dst);

	ck_assert_int_lt(receive_bad(&out, err, sizeof(err)), 0); /* a VM with no disk */
	ck_assert_ptr_nonnull(strstr(err, "record DISK_WRITES"));
	ck_assert_ptr_nonnull(strstr(err, "this VM has 0"));
	/* An incoming with --shared-storage (the disk opened unlocked) refuses the copy. */
	m = (struct stream_mem){.data = out.data, .size = out.len};
	stream_reader__init(&r, stream__mem_read, &m);
	ck_assert_int_eq(migrate__receive_config(&r, cfg, err, sizeof(err)), 0);
	guest_create(&dst);
	add_disk(&dst, b, true);
	ck_assert_int_eq(migrate__receive(&r, dst.t.vm, NULL, NULL, NULL, err, sizeof(err)),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "has --shared-storage but the source copies the disk"));
	guest_destroy(&dst);
	stream_reader__dispose(&r);
	free(ia);
	free(ib);
	free(out.data);
	free(cfg);
	migrate_job__free(job);
	unlink(a);
	unlink(b);
}
END_TEST

/* A DISK_WRITES body for disk disk_id: n writes as given, their data all 0xab. */
static size_t disk_writes(uint8_t *body, uint32_t disk_id, const struct stream_disk_write *w,
			  uint32_t n)
{
	struct stream_disk_writes_header h = {.disk_id = disk_id, .count = n};
	size_t off = sizeof(h);

	memcpy(body, &h, sizeof(h));
	for (uint32_t i = 0; i < n; i++) {
		memcpy(body + off, &w[i], sizeof(w[i]));
		off += sizeof(w[i]);
		memset(body + off, 0xab, (size_t)w[i].nsectors * STREAM_SECTOR_SIZE);
		off += (size_t)w[i].nsectors * STREAM_SECTOR_SIZE;
	}
	return off;
}

/*
 * DISK_WRITES a destination refuses, each naming the problem, with the image
 * left as it was: nothing of a record is written before all of it is checked.
 */
START_TEST(test_disk_writes_refused)
{
	static uint8_t body[3 * (16 + 8 * 512) + 64];
	static const struct {
		struct stream_disk_write w[2];
		uint32_t n, disk_id;
		long trim; /* bytes cut from (or, negative, added to) the body */
		const char *why;
	} bad[] = {
	    {{{0, 8, 0}, {2048, 8, 0}},
	     2,
	     0,
	     0,
	     "a write outside the disk"}, /* 1 MiB: 2048 sectors */
	    {{{0, 8, 0}, {2040, 9, 0}}, 2, 0, 0, "a write outside the disk"},
	    {{{0, 8, 0}, {8, 0, 0}}, 2, 0, 0, "a write outside the disk"},
	    {{{0, 8, 0}, {8, 8, 1}}, 2, 0, 0, "reserved field is not zero"},
	    {{{0, 8, 0}}, 0, 0, 0, "no writes"},
	    {{{0, 8, 0}, {8, 8, 0}}, 2, 0, 512, "body ends inside a write's data"},
	    {{{0, 8, 0}, {8, 8, 0}}, 2, 0, 4096 + 8, "body ends inside a write's header"},
	    {{{0, 8, 0}}, 1, 0, -8, "bytes left after the last write"},
	    {{{0, 8, 0}}, 1, 1, 0, "disk 1, but this VM has 1"},
	};
	struct guest src, dst;
	char img[64], dimg[64], err[512];
	uint8_t *before, *after;

	make_image(img, sizeof(img));
	make_image(dimg, sizeof(dimg)); /* the destination's own */
	fill_image(dimg, 0x11);
	before = read_image(dimg);
	guest_create(&src);
	add_disk(&src, img, false);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sink out = {0};
		struct stream_writer w;
		struct stream_reader r;
		struct stream_mem m;
		struct vm_stream_config *cfg = calloc(1, sizeof(*cfg));
		size_t len = disk_writes(body, bad[i].disk_id, bad[i].w, bad[i].n ? bad[i].n : 1);
		const void *part = body;
		int rc;

		ck_assert_ptr_nonnull(cfg);
		if (!bad[i].n) /* a count of 0, one write's bytes after it */
			((struct stream_disk_writes_header *)body)->count = 0;
		if (bad[i].trim < 0) {
			memset(body + len, 0, (size_t)-bad[i].trim);
			len += (size_t)-bad[i].trim;
		} else {
			len -= (size_t)bad[i].trim;
		}
		stream_writer__init(&w, sink_write, &out);
		ck_assert_int_eq(stream_writer__header(&w, STREAM_FLAG_LIVE), 0);
		ck_assert_int_eq(vm_stream__write_config(&w, src.t.vm), 0);
		ck_assert_int_eq(stream_writer__record(&w, STREAM_REC_DISK_WRITES, &part, &len, 1),
				 0);
		m = (struct stream_mem){.data = out.data, .size = out.len};
		stream_reader__init(&r, stream__mem_read, &m);
		ck_assert_int_eq(migrate__receive_config(&r, cfg, err, sizeof(err)), 0);
		guest_create(&dst);
		add_disk(&dst, dimg, false);
		rc = migrate__receive(&r, dst.t.vm, NULL, NULL, NULL, err, sizeof(err));
		ck_assert_msg(rc == -EBADMSG, "case %zu: rc %d: %s", i, rc, err);
		ck_assert_msg(strstr(err, bad[i].why) &&
				  strstr(err, "record DISK_WRITES at stream byte"),
			      "case %zu: \"%s\", wanted \"%s\"", i, err, bad[i].why);
		guest_destroy(&dst);
		stream_reader__dispose(&r);
		free(out.data);
		free(cfg);
		after = read_image(dimg);
		ck_assert_msg(!memcmp(before, after, 1 << 20), "case %zu wrote the image", i);
		free(after);
	}
	guest_destroy(&src);
	free(before);
	unlink(img);
	unlink(dimg);
}
END_TEST

Suite *migrate_suite(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_live_migration, 0,
			    (int)(sizeof(live_params) / sizeof(live_params[0])));
	tcase_add_test(tc, test_save_restore);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_drop_during_precopy);
	tcase_add_loop_test(tc, test_no_ack, 0, 5);
	tcase_add_test(tc, test_cancel_after_end);
	tcase_add_test(tc, test_refused_before_ready);
	tcase_add_test(tc, test_save_write_error);
	tcase_add_test(tc, test_auto_converge);
	tcase_add_test(tc, test_receive_refusals);
	tcase_add_test(tc, test_holes_untouched);
	tcase_add_test(tc, test_disk_refused);
	tcase_add_loop_test(tc, test_shared_storage, 0, 3);
	tcase_add_test(tc, test_copy_storage);
	tcase_add_test(tc, test_shared_mismatch);
	tcase_add_test(tc, test_disk_writes_refused);
	suite_add_tcase(s, tc);
	return s;
}
