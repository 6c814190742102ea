/*
 * The primary's replication engine against an in-test fake backup: memwriter protected over
 * loopback, epochs checked record by record, output held until ACK, degraded, unprotect.
 * Each test runs in a throwaway netns (its NIC is a tap there; loopback is brought up).
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_packet.h>
#include "channel.h"
#include "dirty.h"
#include "ioloop.h"
#include "migrate.h"
#include "netns_fixture.h"
#include "backup.h"
#include "checkpoint.h"
#include "page_data.h"
#include "primary.h"
#include "repl_wire.h"
#include "stream.h"
#include "suites.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "vm_fixture.h"
#include "vm_stream.h"

#define TAP	   "twrp0"
#define TAP2	   "twrp1" /* the real backup's NIC */
#define TX_ETHTYPE 0x88b5
#define FRAME_LEN  60
#define SEED_AT	   20
#define WAIT_MS	   20000 /* bound on anything awaited: generous for a loaded 2-core host */
#define NO_LIMIT   UINT64_MAX

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x66};

/* The fake backup: parses the stream, checks each epoch, acks as the test allows. */
struct fake_backup {
	int lfd, port;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t ack_limit;    /* acks epochs up to this; the thread waits for more */
	uint64_t die_at;       /* closes the connection on reading CHECKPOINT(die_at); 0 never */
	uint64_t last_epoch;   /* the last CHECKPOINT read */
	uint64_t checkpoints;  /* CHECKPOINT records read */
	uint64_t heartbeats;   /* HEARTBEAT records read */
	uint64_t pages;	       /* pages in the PAGE_DATA of epochs >= 1 */
	uint64_t sync_chunks;  /* disk chunks in the DISK_WRITES of the initial sync */
	uint64_t epoch_chunks; /* and of epochs >= 1 */
	uint64_t disk_sector;  /* the first sector of the last epoch's DISK_WRITES */
	uint64_t refuse_u64;   /* nonzero: answers SYNC with a refusal instead of READY */
	uint64_t stall_u64; /* nonzero: reads SYNC, then waits for it to be cleared, and closes */
	uint64_t synced;    /* SYNC records read */
	bool lazy; /* epochs past ack_limit are read on and never acked (no back-pressure) */
	bool checkpointed, ended, done;
	char error[512]; /* the first thing wrong with the stream, or "" */
};

static int mono_ms_deadline_passed(uint64_t start_ns, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec - start_ns >
	       (uint64_t)ms * 1000000ULL;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void fb_fail(struct fake_backup *b, const char *fmt, const char *a, uint64_t n)
{
	pthread_mutex_lock(&b->lock);
	if (!b->error[0])
		snprintf(b->error, sizeof(b->error), fmt, a, (unsigned long long)n);
	pthread_mutex_unlock(&b->lock);
}

static uint64_t fb_get(struct fake_backup *b, const uint64_t *field)
{
	uint64_t v;

	pthread_mutex_lock(&b->lock);
	v = *field;
	pthread_mutex_unlock(&b->lock);
	return v;
}

static int reply(struct channel *ch, enum repl_reply_kind kind, uint64_t epoch)
{
	return repl_reply__write(channel__write, ch, kind, 0, epoch, NULL);
}

/* One live handshake record (READY, or the ack of CHECKPOINT(0)). */
static int handshake(struct channel *ch, const char *magic)
{
	struct migrate_ack a;

	memset(&a, 0, sizeof(a));
	memcpy(a.magic, magic, sizeof(a.magic));
	return channel__write(ch, &a, sizeof(a));
}

static void *fake_backup_main(void *arg)
{
	struct fake_backup *b = arg;
	struct channel_security sec = {.insecure = true};
	struct channel *ch = NULL;
	struct stream_reader r;
	struct stream_record rec;
	unsigned int vm_states = 0, vcpu_states = 0, dev_states = 0;
	bool stalled;
	char err[256];
	int rc = channel__accept(b->lfd, &sec, &ch, err, sizeof(err));

	if (rc) {
		fb_fail(b, "accept: %s%llu", err, 0);
		goto out;
	}
	stream_reader__init(&r, channel__read, ch);
	if (stream_reader__header(&r)) {
		fb_fail(b, "header: %s%llu", r.err, 0);
		goto close;
	}
	pthread_mutex_lock(&b->lock);
	b->checkpointed = (r.flags & (STREAM_FLAG_LIVE | STREAM_FLAG_CHECKPOINTED)) ==
			  (STREAM_FLAG_LIVE | STREAM_FLAG_CHECKPOINTED);
	pthread_mutex_unlock(&b->lock);
	while ((rc = stream_reader__next(&r, &rec)) == 0) {
		uint64_t n;

		switch (rec.type) {
		case STREAM_REC_SYNC:
			pthread_mutex_lock(&b->lock);
			b->synced++;
			pthread_cond_broadcast(&b->cond);
			stalled = b->stall_u64 != 0;
			while (b->stall_u64)
				pthread_cond_wait(&b->cond, &b->lock);
			pthread_mutex_unlock(&b->lock);
			if (stalled)
				goto close;
			if (fb_get(b, &b->refuse_u64)) {
				migrate__ack(channel__write, ch, -ENOSPC,
					     "no room for the VM here");
				goto close;
			}
			rc = handshake(ch, MIGRATE_READY_MAGIC);
			break;
		case STREAM_REC_PAGE_DATA:
			n = (uint64_t)page_data__check(rec.body, rec.length, 1ULL << 20, err,
						       sizeof(err));
			if ((int64_t)n < 0)
				fb_fail(b, "PAGE_DATA: %s%llu", err, 0);
			else if (r.have_epoch) {
				pthread_mutex_lock(&b->lock);
				b->pages += n;
				pthread_mutex_unlock(&b->lock);
			}
			break;
		case STREAM_REC_DISK_WRITES: {
			struct stream_disk_writes_header h;
			struct stream_disk_write d;

			if (rec.length < sizeof(h) + sizeof(d)) {
				fb_fail(b, "%sDISK_WRITES of %llu bytes", "", rec.length);
				break;
			}
			memcpy(&h, rec.body, sizeof(h));
			memcpy(&d, rec.body + sizeof(h), sizeof(d));
			pthread_mutex_lock(&b->lock);
			if (r.have_epoch) {
				b->epoch_chunks += h.count;
				b->disk_sector = d.sector;
			} else {
				b->sync_chunks += h.count;
			}
			pthread_mutex_unlock(&b->lock);
			break;
		}
		case STREAM_REC_VM_STATE:
			vm_states++;
			break;
		case STREAM_REC_VCPU_STATE:
			vcpu_states++;
			break;
		case STREAM_REC_DEVICE_STATE:
			dev_states++;
			break;
		case STREAM_REC_HEARTBEAT:
			pthread_mutex_lock(&b->lock);
			b->heartbeats++;
			pthread_cond_broadcast(&b->cond);
			pthread_mutex_unlock(&b->lock);
			rc = reply(ch, REPL_REPLY_HEARTBEAT, r.last_epoch);
			break;
		case STREAM_REC_CHECKPOINT:
			/* Every epoch carries the whole state: the VM, its vCPU, its devices. */
			if (vm_states != 1 || vcpu_states != 1 || !dev_states)
				fb_fail(b, "%sepoch %llu lacks its state records", "",
					r.last_epoch);
			vm_states = vcpu_states = dev_states = 0;
			pthread_mutex_lock(&b->lock);
			if (b->checkpoints != r.last_epoch)
				snprintf(b->error, sizeof(b->error),
					 "CHECKPOINT(%llu) after %llu others: epochs skip",
					 (unsigned long long)r.last_epoch,
					 (unsigned long long)b->checkpoints);
			b->checkpoints++;
			b->last_epoch = r.last_epoch;
			pthread_cond_broadcast(&b->cond);
			if (b->lazy && b->ack_limit < r.last_epoch) {
				pthread_mutex_unlock(&b->lock);
				break;
			}
			while (b->ack_limit < r.last_epoch && b->die_at != r.last_epoch)
				pthread_cond_wait(&b->cond, &b->lock);
			n = b->die_at;
			pthread_mutex_unlock(&b->lock);
			if (n && n == r.last_epoch)
				goto close;
			rc = r.last_epoch ? reply(ch, REPL_REPLY_ACK, r.last_epoch)
					  : handshake(ch, MIGRATE_ACK_MAGIC);
			break;
		case STREAM_REC_END:
			pthread_mutex_lock(&b->lock);
			b->ended = true;
			pthread_mutex_unlock(&b->lock);
			goto close;
		default:
			break;
		}
		if (rc) {
			fb_fail(b, "replying: %s%llu", strerror(-rc), 0);
			goto close;
		}
	}
	fb_fail(b, "stream: %s%llu", r.err, 0);
close:
	stream_reader__dispose(&r);
	channel__close(ch);
out:
	pthread_mutex_lock(&b->lock);
	b->done = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static void fake_backup_start(struct fake_backup *b, uint64_t ack_limit, uint64_t die_at)
{
	char err[256];

	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->ack_limit = ack_limit;
	b->die_at = die_at;
	expect(channel__listen("127.0.0.1:0", &b->lfd, err, sizeof(err)) == 0, "listen: %s", err);
	b->port = channel__local_port(b->lfd);
	expect(pthread_create(&b->thread, NULL, fake_backup_main, b) == 0, "fake backup thread");
}

static void fake_backup_join(struct fake_backup *b)
{
	pthread_join(b->thread, NULL);
	close(b->lfd);
	expect(!b->error[0], "fake backup: %s", b->error);
}

static void set_ack_limit(struct fake_backup *b, uint64_t n)
{
	pthread_mutex_lock(&b->lock);
	b->ack_limit = n;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* The backup, waiting to ack CHECKPOINT(n), closes the connection instead. */
static void set_die_at(struct fake_backup *b, uint64_t n)
{
	pthread_mutex_lock(&b->lock);
	b->die_at = n;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* The VM under protection: memwriter, one vCPU, a NIC on a tap in this netns. */
struct protected_vm {
	struct test_vm t;
	struct virtio_net *net;
	int pkt; /* a packet socket on the tap: what leaves the primary */
};

static void lo_up(void)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	expect(s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0, "lo flags: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	expect(ioctl(s, SIOCSIFFLAGS, &ifr) == 0, "lo up: %s", strerror(errno));
	close(s);
}

/* A 64 KiB image in /tmp (the caller unlinks it). */
static void make_image(char *img, size_t len)
{
	int fd;

	snprintf(img, len, "/tmp/twin-test-repl-XXXXXX");
	fd = mkstemp(img);
	expect(fd >= 0 && ftruncate(fd, 64 << 10) == 0, "image %s: %s", img, strerror(errno));
	close(fd);
}

/* A writable disk on img (shared: opened without its lock, as shared storage is). */
static struct virtio_blk *add_disk(struct test_vm *t, const char *img, bool shared)
{
	struct virtio_blk *blk;
	char err[256];
	int rc = shared ? virtio_blk__open_shared(img, false, 0, &blk, err, sizeof(err))
			: virtio_blk__open(img, false, 0, &blk, err, sizeof(err));

	expect(rc == 0, "disk %s: %s", img, err);
	expect(virtio_blk__register(blk, t->vm, false) == 0, "virtio_blk__register");
	return blk;
}

/* Boots memwriter with a NIC (and a disk on img unless NULL); vm_fixture's ck_asserts end
 * this child too on failure. */
static struct virtio_blk *pvm_boot_guest(struct protected_vm *v, const char *img,
					 const char *cmdline)
{
	struct virtio_blk *blk = NULL;
	struct sockaddr_ll sll;
	char err[256];

	signal(SIGPIPE, SIG_IGN);
	lo_up();
	test_vm__create(&v->t, 64ULL << 20, 1);
	expect(virtio_net__open(TAP, NULL, mac, 0, &v->net, err, sizeof(err)) == 0,
	       "virtio_net__open: %s", err);
	expect(virtio_net__register(v->net, v->t.vm, false) == 0, "virtio_net__register");
	if (img)
		blk = add_disk(&v->t, img, false);
	v->pkt = netns_packet_socket(TAP, &sll);
	test_vm__boot_memwriter(&v->t, cmdline);
	test_vm__wait_writing(&v->t);
	return blk;
}

/* memwriter writing on for longer than any test runs. */
#define ENDLESS "pages=64 ws=256 rate=5 vcpus=1 iters=100000000"

static struct virtio_blk *pvm_boot_disk(struct protected_vm *v, const char *img)
{
	return pvm_boot_guest(v, img, ENDLESS);
}

/* memwriter with a NIC and a disk on a fresh image (its path in img), and a fake backup. */
static struct virtio_blk *disk_pair(struct protected_vm *v, struct fake_backup *b, char *img,
				    size_t len)
{
	struct virtio_blk *blk;

	make_image(img, len);
	blk = pvm_boot_disk(v, img);
	fake_backup_start(b, NO_LIMIT, 0);
	return blk;
}

static void pvm_boot(struct protected_vm *v)
{
	pvm_boot_disk(v, NULL);
}

static void pvm_destroy(struct protected_vm *v)
{
	close(v->pkt);
	test_vm__destroy(&v->t);
}

/* The guest sends test frame n through the NIC's single TX exit. */
static void send_frame(struct protected_vm *v, uint8_t n)
{
	uint8_t f[FRAME_LEN];
	struct iovec iov = {f, FRAME_LEN};

	netns_make_frame(f, FRAME_LEN, mac, TX_ETHTYPE, 0);
	f[SEED_AT] = n;
	expect(virtio_net__transmit(v->net, &iov, 1) == 0, "transmit frame %u", n);
}

/* The next test frame on the tap within ms (0: only if there already): its number, or -1. */
static int next_frame(struct protected_vm *v, int ms)
{
	struct pollfd p = {.fd = v->pkt, .events = POLLIN};
	uint8_t got[2048];

	while (poll(&p, 1, ms) == 1) {
		ssize_t n = recv(v->pkt, got, sizeof(got), MSG_DONTWAIT);

		if (n == FRAME_LEN && got[12] == TX_ETHTYPE >> 8 && got[13] == (TX_ETHTYPE & 0xff))
			return got[SEED_AT];
	}
	return -1;
}

/* Protects v toward the fake backup on port with p (checked to succeed). */
static struct repl_primary *protect_params(struct protected_vm *v, int port,
					   const struct repl_params *p)
{
	struct channel_security sec = {.insecure = true};
	struct repl_primary *r = NULL;
	char peer[64], err[256];

	snprintf(peer, sizeof(peer), "127.0.0.1:%d", port);
	expect(repl_primary__start(v->t.vm, p, peer, &sec, &r, err, sizeof(err)) == 0,
	       "protect: %s", err);
	return r;
}

/* Epoch mode every interval_ms; cluster-managed with timeout_ms, else no timeout. */
static struct repl_primary *protect_with(struct protected_vm *v, int port, enum repl_mode mode,
					 uint64_t interval_ms, bool cluster, uint64_t timeout_ms)
{
	struct repl_params p;

	repl_params__defaults(&p);
	p.mode = mode;
	p.interval_ns = interval_ms * 1000000ULL;
	p.min_spacing_ns = 1000000ULL;
	p.timeout_ns = timeout_ms * 1000000ULL;
	p.cluster = cluster;
	return protect_params(v, port, &p);
}

/* No timeout while the test holds acks. */
static struct repl_primary *protect(struct protected_vm *v, int port, enum repl_mode mode,
				    uint64_t interval_ms)
{
	return protect_with(v, port, mode, interval_ms, false, 10000);
}

static void status(struct repl_primary *r, struct repl_status *st)
{
	repl_primary__status(r, st);
}

/* Polls the status (bounded) until pred holds; fails with the state and error. */
#define WAIT_STATUS(r, st, pred, what)                                                             \
	do {                                                                                       \
		uint64_t t0_ = mono_ns();                                                          \
		for (status(r, &(st)); !(pred); status(r, &(st))) {                                \
			expect(!mono_ms_deadline_passed(t0_, WAIT_MS),                             \
			       "never %s: state %s, epoch %llu acked %llu, error \"%s\"", what,    \
			       repl_state__to_str((st).state), (unsigned long long)(st).epoch,     \
			       (unsigned long long)(st).acked_epoch, (st).error);                  \
			usleep(1000);                                                              \
		}                                                                                  \
	} while (0)

/* Polls a fake backup counter (bounded) until it reaches at least n. */
static void wait_backup(struct fake_backup *b, const uint64_t *field, uint64_t n, const char *what)
{
	uint64_t t0 = mono_ns();

	while (fb_get(b, field) < n) {
		expect(!mono_ms_deadline_passed(t0, WAIT_MS),
		       "the backup never saw %s (%llu < %llu)", what,
		       (unsigned long long)fb_get(b, field), (unsigned long long)n);
		usleep(1000);
	}
}

/* memwriter still writes: two more iterations of its working set. */
static void expect_guest_runs(struct protected_vm *v)
{
	uint64_t from = memwriter_progress(v->t.vm), t0 = mono_ns();

	while (memwriter_progress(v->t.vm) < from + 2) {
		expect(!mono_ms_deadline_passed(t0, WAIT_MS), "the guest stopped at iteration %llu",
		       (unsigned long long)memwriter_progress(v->t.vm));
		usleep(1000);
	}
}

/*
 * Epoch mode: checkpoints follow each other, acked, each with pages and state; the switch
 * to event mode stops them while the guest is quiet (heartbeats only) and a frame starts
 * one; unprotect ends the stream with END and leaves the guest running.
 */
static void epochs_switch_unprotect(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	uint64_t e, hb;
	char err[256];

	pvm_boot(&v);
	fake_backup_start(&b, NO_LIMIT, 0);
	r = protect(&v, b.port, REPL_MODE_EPOCH, 10);
	WAIT_STATUS(r, st, st.state == REPL_STATE_PROTECTED, "protected");
	expect(!strcmp(migrate_phase__to_str(st.sync.phase), "completed"), "sync phase %s",
	       migrate_phase__to_str(st.sync.phase));
	expect(fb_get(&b, &b.checkpoints) >= 1 && b.checkpointed,
	       "the sync ended with CHECKPOINT(0) on a LIVE|CHECKPOINTED stream");
	/*
	 * The ack of an epoch may come before the engine counts it as written, and is then no
	 * latency sample: wait for one that is (a loaded host can reorder the first few).
	 */
	WAIT_STATUS(r, st, st.acked_epoch >= 5 && st.epochs >= 5 && st.ack_latency_ns.count > 0,
		    "acked epoch 5 with an ack latency sample");
	expect(st.epoch >= st.acked_epoch, "epochs %llu, epoch %llu", (unsigned long long)st.epochs,
	       (unsigned long long)st.epoch);
	expect(st.pause_ns.p50 > 0 && st.pause_ns.max >= st.pause_ns.p99 &&
		   st.pause_ns.p99 >= st.pause_ns.p50,
	       "pause p50 %llu p99 %llu max %llu", (unsigned long long)st.pause_ns.p50,
	       (unsigned long long)st.pause_ns.p99, (unsigned long long)st.pause_ns.max);
	expect(st.ack_latency_ns.p50 > 0 && st.epoch_bytes_mean > 0 && st.dirty_pages_mean > 0,
	       "ack latency %llu, bytes/epoch %llu, pages/epoch %llu",
	       (unsigned long long)st.ack_latency_ns.p50, (unsigned long long)st.epoch_bytes_mean,
	       (unsigned long long)st.dirty_pages_mean);
	expect(fb_get(&b, &b.pages) > 0, "the epochs carried no page of memwriter's");
	fprintf(stderr,
		"repl_primary: epoch mode 10 ms: %llu epochs, pause p50 %llu us p99 %llu us "
		"max %llu us, %llu pages/epoch\n",
		(unsigned long long)st.epochs, (unsigned long long)(st.pause_ns.p50 / 1000),
		(unsigned long long)(st.pause_ns.p99 / 1000),
		(unsigned long long)(st.pause_ns.max / 1000),
		(unsigned long long)st.dirty_pages_mean);

	/* Epochs a minute apart: a frame waits in the open epoch... */
	expect(repl_primary__set(r, REPL_MODE_EPOCH, 60000000000ULL, 0, err, sizeof(err)) == 0,
	       "set: %s", err);
	WAIT_STATUS(r, st, st.acked_epoch == st.epoch && st.interval_ns == 60000000000ULL,
		    "caught up");
	send_frame(&v, 6);
	WAIT_STATUS(r, st, st.held_frames == 1, "held the frame");
	expect(next_frame(&v, 0) == -1, "a frame left before its epoch was acked");
	/* ...until the switch to event mode, no I/O: heartbeats pass and no checkpoint is taken. */
	expect(repl_primary__set(r, REPL_MODE_EVENT, 0, 0, err, sizeof(err)) == 0, "set: %s", err);
	expect(next_frame(&v, WAIT_MS) == 6, "the frame held before the switch never left");
	WAIT_STATUS(r, st, st.acked_epoch == st.epoch, "caught up");
	e = st.epoch;
	hb = fb_get(&b, &b.heartbeats);
	wait_backup(&b, &b.heartbeats, hb + 2, "two heartbeats");
	status(r, &st);
	expect(st.mode == REPL_MODE_EVENT && st.epoch <= e + 1,
	       "event mode took checkpoints without I/O: epoch %llu -> %llu", (unsigned long long)e,
	       (unsigned long long)st.epoch);
	/* A frame triggers one at once, and leaves only after its ack. */
	e = st.epoch;
	send_frame(&v, 7);
	WAIT_STATUS(r, st, st.acked_epoch > e, "checkpointed the frame");
	expect(next_frame(&v, WAIT_MS) == 7, "the acked frame never left");

	expect(repl_primary__stop(r, err, sizeof(err)) == 0, "unprotect: %s", err);
	status(r, &st);
	expect(st.state == REPL_STATE_UNPROTECTED, "state %s after unprotect",
	       repl_state__to_str(st.state));
	fake_backup_join(&b);
	expect(b.ended, "the backup never read END");
	/* Unprotected: frames go straight out, the guest runs on. */
	send_frame(&v, 8);
	expect(next_frame(&v, WAIT_MS) == 8, "a frame after unprotect never left");
	expect_guest_runs(&v);
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_epochs_switch_unprotect)
{
	run_in_netns(epochs_switch_unprotect);
}
END_TEST

/* Output commit: a frame of epoch N waits for ACK(N), then leaves. */
static void output_held_until_ack(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	uint64_t e;

	pvm_boot(&v);
	fake_backup_start(&b, 2, 0);
	r = protect(&v, b.port, REPL_MODE_EPOCH, 5);
	WAIT_STATUS(r, st, st.acked_epoch == 2, "acked epoch 2");
	/* The frame is in epoch e + 1 at the latest; the backup acks none after 2 yet. */
	send_frame(&v, 1);
	status(r, &st);
	e = st.epoch;
	WAIT_STATUS(r, st, st.epoch >= e + 1, "closed the frame's epoch");
	expect(st.acked_epoch == 2 && st.held_frames == 1 && st.held_bytes == FRAME_LEN,
	       "acked %llu, held %llu frames (%llu bytes)", (unsigned long long)st.acked_epoch,
	       (unsigned long long)st.held_frames, (unsigned long long)st.held_bytes);
	expect(next_frame(&v, 0) == -1, "a frame left before its epoch was acked");
	set_ack_limit(&b, NO_LIMIT);
	expect(next_frame(&v, WAIT_MS) == 1, "the frame never left after its ack");
	WAIT_STATUS(r, st, st.acked_epoch >= e + 1, "took the acks");
	expect(st.output_held_ns.max > 0, "no output-held time recorded");
	repl_primary__free(r);
	fake_backup_join(&b);
	pvm_destroy(&v);
}

START_TEST(test_output_held_until_ack)
{
	run_in_netns(output_held_until_ack);
}
END_TEST

/* The backup goes away: degraded, the held frame released, the guest runs on. */
static void degraded_on_backup_eof(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	struct pollfd p;
	char err[256];

	pvm_boot(&v);
	fake_backup_start(&b, 3, 0);
	r = protect(&v, b.port, REPL_MODE_EPOCH, 5);
	WAIT_STATUS(r, st, st.acked_epoch == 3, "acked epoch 3");
	/* Held in an epoch the backup never acks: only degrading lets it out. */
	send_frame(&v, 9);
	status(r, &st);
	WAIT_STATUS(r, st, st.held_frames == 1 && st.epoch >= 5, "held the frame");
	expect(next_frame(&v, 0) == -1, "a frame left before its epoch was acked");
	expect(repl_primary__degrade(r, err, sizeof(err)) == -EINVAL &&
		   strstr(err, "not cluster-managed"),
	       "degrade of a VM that degrades on its own: %s", err);
	set_die_at(&b, 4); /* the backup, at CHECKPOINT(4), closes */
	WAIT_STATUS(r, st, st.state == REPL_STATE_DEGRADED, "degraded");
	expect(st.error[0] != '\0', "degraded without a reason");
	p = (struct pollfd){.fd = repl_primary__event_fd(r), .events = POLLIN};
	expect(poll(&p, 1, 0) == 1, "the event fd is not readable after degrading");
	expect(next_frame(&v, WAIT_MS) == 9, "the held frame was not released");
	send_frame(&v, 10);
	expect(next_frame(&v, WAIT_MS) == 10, "output is still held while degraded");
	expect_guest_runs(&v);
	fake_backup_join(&b);
	expect(repl_primary__stop(r, err, sizeof(err)) == 0, "unprotect after degraded: %s", err);
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_degraded_on_backup_eof)
{
	run_in_netns(degraded_on_backup_eof);
}
END_TEST

/*
 * A nonzero -errno makes the next checkpoint__init fail: the first step of starting the
 * epochs after the sync.  The link wraps the library's call (unit.am: --wrap).
 */
static int checkpoint_init_failure;

int __real_checkpoint__init(struct checkpoint *c, struct vm *vm, enum migrate_compress compress,
			    uint64_t xbzrle_cache, char *err, size_t errlen);
int __wrap_checkpoint__init(struct checkpoint *c, struct vm *vm, enum migrate_compress compress,
			    uint64_t xbzrle_cache, char *err, size_t errlen);

int __wrap_checkpoint__init(struct checkpoint *c, struct vm *vm, enum migrate_compress compress,
			    uint64_t xbzrle_cache, char *err, size_t errlen)
{
	int rc = checkpoint_init_failure;

	if (!rc)
		return __real_checkpoint__init(c, vm, compress, xbzrle_cache, err, errlen);
	checkpoint_init_failure = 0;
	snprintf(err, errlen, "starting the epochs failed (injected by a test)");
	return rc;
}

/*
 * The epochs fail to start after a good sync: degraded (not a clean unprotect), the event fd
 * readable, no END sent (the backup must not take it for an unprotect), output unheld.
 */
static void failed_start_degrades(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	struct pollfd p;
	char err[256];

	pvm_boot(&v);
	fake_backup_start(&b, NO_LIMIT, 0);
	checkpoint_init_failure = -ENOMEM;
	r = protect(&v, b.port, REPL_MODE_EPOCH, 5);
	WAIT_STATUS(r, st, st.state != REPL_STATE_SYNCING && st.state != REPL_STATE_PROTECTED,
		    "left the sync");
	expect(st.state == REPL_STATE_DEGRADED && strstr(st.error, "injected"),
	       "a failed epoch start ended %s: \"%s\"", repl_state__to_str(st.state), st.error);
	expect(st.epoch == 0, "epoch %llu taken after a failed start",
	       (unsigned long long)st.epoch);
	p = (struct pollfd){.fd = repl_primary__event_fd(r), .events = POLLIN};
	expect(poll(&p, 1, 0) == 1, "the event fd is not readable after a failed start");
	send_frame(&v, 11);
	expect(next_frame(&v, WAIT_MS) == 11, "output is held after a failed start");
	expect_guest_runs(&v);
	/* The cut is all the backup sees: a stream error, not END. */
	pthread_join(b.thread, NULL);
	close(b.lfd);
	expect(!b.ended && !strncmp(b.error, "stream: ", 8),
	       "the backup saw END or another error: \"%s\"", b.error);
	expect(repl_primary__stop(r, err, sizeof(err)) == 0, "unprotect after degraded: %s", err);
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_failed_start_degrades)
{
	run_in_netns(failed_start_degrades);
}
END_TEST

/*
 * Unprotect with UNACKED_MAX (64) epochs in flight: no last checkpoint beyond the ring (its
 * send time would overwrite the oldest unacked epoch's); the acks time out, and the backup,
 * late but reading, still gets END.
 */
static void unprotect_with_full_ring(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	char err[256];

	pvm_boot(&v);
	fake_backup_start(&b, 2, 0);
	pthread_mutex_lock(&b.lock);
	b.lazy = true;
	pthread_mutex_unlock(&b.lock);
	r = protect_with(&v, b.port, REPL_MODE_EPOCH, 1, false, 5000);
	WAIT_STATUS(r, st, st.epoch - st.acked_epoch >= 64, "64 epochs unacked");
	expect(st.acked_epoch == 2 && st.epoch == 66, "acked %llu, taken %llu: the ring is 64",
	       (unsigned long long)st.acked_epoch, (unsigned long long)st.epoch);
	expect(repl_primary__stop(r, err, sizeof(err)) == -ETIMEDOUT && strstr(err, "did not ack"),
	       "unprotect of an unacking backup: %s", err);
	status(r, &st);
	expect(st.state == REPL_STATE_UNPROTECTED && st.epoch == 66,
	       "unprotect took epoch %llu past the ring (state %s)", (unsigned long long)st.epoch,
	       repl_state__to_str(st.state));
	/* Late, not gone: END still tells it to exit (a cut would make it fail over). */
	fake_backup_join(&b);
	expect(b.last_epoch == 66 && b.ended, "the backup read CHECKPOINT(%llu)%s",
	       (unsigned long long)b.last_epoch, b.ended ? " and END" : ", and no END");
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_unprotect_with_full_ring)
{
	run_in_netns(unprotect_with_full_ring);
}
END_TEST

/* Nothing is readable on the engine's event fd: it has not ended on its own. */
static void expect_engine_runs(struct repl_primary *r)
{
	struct pollfd p = {.fd = repl_primary__event_fd(r), .events = POLLIN};

	expect(poll(&p, 1, 0) == 0, "the engine ended on its own");
}

/*
 * Cluster-managed (DESIGN.md §8): a backup that stops acking makes the VM stalled, its output
 * held, until the acks resume; a backup that dies makes it stalled for good, the guest
 * running and nothing released, until degrade lets everything out.
 */
static void cluster_stalls_until_degrade(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	uint64_t a;
	char err[256];

	pvm_boot(&v);
	fake_backup_start(&b, 3, 0);
	r = protect_with(&v, b.port, REPL_MODE_EPOCH, 5, true, 300);
	WAIT_STATUS(r, st, st.acked_epoch == 3 && st.cluster, "acked epoch 3");
	send_frame(&v, 20);
	WAIT_STATUS(r, st, st.state == REPL_STATE_STALLED, "stalled on the missing acks");
	expect(strstr(st.error, "did not ack epoch 4") || strstr(st.error, "silent for 300"),
	       "stalled for \"%s\"", st.error);
	expect(st.held_frames == 1 && next_frame(&v, 0) == -1, "held %llu frames while stalled",
	       (unsigned long long)st.held_frames);
	expect_engine_runs(r);
	expect_guest_runs(&v);
	/* The acks resume: protected again, and the frame goes out with its epoch's ack. */
	set_ack_limit(&b, NO_LIMIT);
	expect(next_frame(&v, WAIT_MS) == 20, "the frame never left once acked");
	WAIT_STATUS(r, st, st.state == REPL_STATE_PROTECTED && !st.error[0], "protected again");

	/* The backup waits to ack the epoch after a, then dies: the link is gone for good. */
	pthread_mutex_lock(&b.lock); /* acks stop at a, whatever it has read by now */
	a = b.last_epoch + 1;
	b.ack_limit = a;
	pthread_mutex_unlock(&b.lock);
	WAIT_STATUS(r, st, st.acked_epoch == a && st.epoch > a, "acked the limit");
	send_frame(&v, 21);
	WAIT_STATUS(r, st, st.held_frames == 1, "held the frame");
	set_die_at(&b, a + 1);
	WAIT_STATUS(r, st, st.state == REPL_STATE_STALLED && st.error[0], "stalled on the death");
	fake_backup_join(&b);
	expect(next_frame(&v, 500) == -1, "a frame left with the backup dead and not degraded");
	status(r, &st);
	expect(st.state == REPL_STATE_STALLED && st.held_frames == 1,
	       "state %s, held %llu: not stalled with the frame held", repl_state__to_str(st.state),
	       (unsigned long long)st.held_frames);
	expect_engine_runs(r);
	expect_guest_runs(&v);
	fprintf(stderr, "repl_primary: cluster-managed, the backup dead: stalled (%s)\n", st.error);

	/* clusterd confirmed the death: degrade releases everything, output flows. */
	expect(repl_primary__degrade(r, err, sizeof(err)) == 0, "degrade: %s", err);
	status(r, &st);
	expect(st.state == REPL_STATE_DEGRADED, "state %s after degrade",
	       repl_state__to_str(st.state));
	expect(next_frame(&v, WAIT_MS) == 21, "degrade did not release the held frame");
	send_frame(&v, 22);
	expect(next_frame(&v, WAIT_MS) == 22, "output is still held after degrade");
	expect(repl_primary__degrade(r, err, sizeof(err)) == -EINVAL && strstr(err, "degraded"),
	       "a second degrade: %s", err);
	expect_guest_runs(&v);
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_cluster_stalls_until_degrade)
{
	run_in_netns(cluster_stalls_until_degrade);
}
END_TEST

/*
 * twin-vmm exits while stalled, the backup alive but not reading (its write blocked): the
 * stop is not held up, and the unacked frame is dropped, not released.
 */
static void cluster_stop_while_stalled(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	uint64_t t0;
	char err[256];

	pvm_boot(&v);
	fake_backup_start(&b, 2, 0);
	r = protect_with(&v, b.port, REPL_MODE_EPOCH, 5, true, 300);
	WAIT_STATUS(r, st, st.acked_epoch == 2, "acked epoch 2");
	send_frame(&v, 40);
	WAIT_STATUS(r, st, st.state == REPL_STATE_STALLED, "stalled");
	t0 = mono_ns();
	expect(repl_primary__stop(r, err, sizeof(err)) != 0, "a stop while stalled said nothing");
	status(r, &st);
	expect(st.state == REPL_STATE_UNPROTECTED && st.held_frames == 0,
	       "stopped while stalled: state %s, held %llu", repl_state__to_str(st.state),
	       (unsigned long long)st.held_frames);
	fprintf(stderr, "repl_primary: stopped while stalled in %llu ms: %s\n",
		(unsigned long long)((mono_ns() - t0) / 1000000), err);
	expect(next_frame(&v, 300) == -1, "the unacked frame left as the stalled VM stopped");
	set_die_at(&b, fb_get(&b, &b.last_epoch)); /* let the fake backup go */
	fake_backup_join(&b);
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_cluster_stop_while_stalled)
{
	run_in_netns(cluster_stop_while_stalled);
}
END_TEST

/*
 * clusterd may confirm the backup's death (its host left) before the link shows it: degrade
 * of a protected VM cuts the link, releases the held frame, and output flows.
 */
static void cluster_degrade_protected(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	char err[256];

	pvm_boot(&v);
	fake_backup_start(&b, 2, 0);
	r = protect_with(&v, b.port, REPL_MODE_EPOCH, 5, true, 10000);
	WAIT_STATUS(r, st, st.acked_epoch == 2, "acked epoch 2");
	send_frame(&v, 50);
	WAIT_STATUS(r, st, st.held_frames == 1 && st.state == REPL_STATE_PROTECTED, "held");
	expect(repl_primary__degrade(r, err, sizeof(err)) == 0, "degrade: %s", err);
	status(r, &st);
	expect(st.state == REPL_STATE_DEGRADED && strstr(st.error, "degraded by clusterd"),
	       "state %s: %s", repl_state__to_str(st.state), st.error);
	expect(next_frame(&v, WAIT_MS) == 50, "degrade did not release the held frame");
	set_die_at(&b, fb_get(&b, &b.last_epoch)); /* it saw the cut: not the test's failure */
	pthread_join(b.thread, NULL);
	close(b.lfd);
	expect_guest_runs(&v);
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_cluster_degrade_protected)
{
	run_in_netns(cluster_degrade_protected);
}
END_TEST

/* What ctl_fence does: the output first, then the vCPUs and the I/O thread.  Its time, in ns. */
static uint64_t fence(struct protected_vm *v, struct repl_primary *r)
{
	uint64_t t0 = mono_ns();

	repl_primary__fence(r, true);
	vm__pause_all(v->t.vm);
	ioloop__pause(v->t.vm->ioloop);
	return mono_ns() - t0;
}

static void unfence(struct protected_vm *v, struct repl_primary *r)
{
	repl_primary__fence(r, false);
	ioloop__resume(v->t.vm->ioloop);
	vm__resume_all(v->t.vm);
}

/*
 * Fenced: the backup acks on, yet nothing is released, and degrade is refused; unfence lets
 * out what was acked meanwhile.  A twin-vmm that stops while fenced drops its held output.
 */
static void fence_holds_acked_output(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	uint64_t e, released, ns;
	char err[256];

	pvm_boot(&v);
	fake_backup_start(&b, NO_LIMIT, 0);
	r = protect_with(&v, b.port, REPL_MODE_EPOCH, 5, true, 10000);
	WAIT_STATUS(r, st, st.acked_epoch >= 3, "acked epoch 3");
	released = st.released_frames;
	send_frame(&v, 30);
	ns = fence(&v, r);
	fprintf(stderr, "repl_primary: fence took %llu us (output gated, vCPUs and I/O paused)\n",
		(unsigned long long)(ns / 1000));
	status(r, &st);
	e = st.epoch;
	WAIT_STATUS(r, st, st.acked_epoch >= e + 3, "acks while fenced");
	expect(st.fenced && st.held_frames == 1 && st.released_frames == released,
	       "fenced %d: held %llu, released %llu (from %llu)", st.fenced,
	       (unsigned long long)st.held_frames, (unsigned long long)st.released_frames,
	       (unsigned long long)released);
	expect(next_frame(&v, 300) == -1, "an acked frame left while fenced");
	expect(repl_primary__degrade(r, err, sizeof(err)) == -EPERM && strstr(err, "fenced"),
	       "degrade while fenced: %s", err);
	unfence(&v, r);
	expect(next_frame(&v, WAIT_MS) == 30, "unfence did not release the acked frame");
	status(r, &st);
	expect(!st.fenced && st.state == REPL_STATE_PROTECTED && st.released_frames == released + 1,
	       "after unfence: state %s, released %llu", repl_state__to_str(st.state),
	       (unsigned long long)st.released_frames);
	expect_guest_runs(&v);

	/* Stopping while fenced (twin-vmm exits): the held frame is dropped, never sent. */
	send_frame(&v, 31);
	fence(&v, r);
	repl_primary__stop(r, err, sizeof(err));
	status(r, &st);
	expect(st.state == REPL_STATE_UNPROTECTED && st.held_frames == 0,
	       "stopped while fenced: state %s, held %llu", repl_state__to_str(st.state),
	       (unsigned long long)st.held_frames);
	expect(next_frame(&v, 300) == -1, "a frame left as the fenced VM stopped");
	unfence(&v, r);
	fake_backup_join(&b);
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_fence_holds_acked_output)
{
	run_in_netns(fence_holds_acked_output);
}
END_TEST

/* The real backup: receives the initial sync into a VM of its own, then runs repl_backup. */
struct real_backup {
	int lfd, port;
	pthread_t thread;
	struct test_vm t;
	struct channel *ch;
	struct stream_reader r;
	struct repl_backup *b;
	char err[512];
};

static void *real_backup_main(void *arg)
{
	struct real_backup *rb = arg;
	struct channel_security sec = {.insecure = true};
	struct repl_backup_params p = {.timeout_ns = 10000000000ULL};
	struct vm_stream_config *cfg = calloc(1, sizeof(*cfg));
	struct virtio_net *net;
	char *err = rb->err;
	size_t len = sizeof(rb->err);

	if (!cfg || channel__accept(rb->lfd, &sec, &rb->ch, err, len))
		goto out;
	stream_reader__init(&rb->r, channel__read, rb->ch);
	if (migrate__receive_config(&rb->r, cfg, err, len))
		goto out;
	if (virtio_net__open(TAP2, NULL, mac, 0, &net, err, len) ||
	    virtio_net__register(net, rb->t.vm, false) ||
	    vm_stream__check_config(cfg, rb->t.vm, err, len) ||
	    migrate__receive(&rb->r, rb->t.vm, channel__write, rb->ch, NULL, err, len) ||
	    migrate__ack(channel__write, rb->ch, 0, NULL) ||
	    repl_backup__start(rb->t.vm, rb->ch, &rb->r, &p, "127.0.0.1:1", &rb->b, err, len)) {
		if (!err[0])
			snprintf(err, len, "setting up the backup VM failed");
		goto out;
	}
	rb->ch = NULL; /* the engine's now */
out:
	free(cfg);
	return NULL;
}

static void pages_equal(struct vm *a, struct vm *b)
{
	for (uint64_t off = 0; off < a->mem.size; off += STREAM_PAGE_SIZE)
		expect(!memcmp(a->mem.base + off, b->mem.base + off, STREAM_PAGE_SIZE),
		       "RAM page at offset 0x%llx differs on the backup", (unsigned long long)off);
}

/*
 * Against the real backup: once a checkpoint follows a pause of the primary, the backup's
 * RAM is the primary's, page for page; failover then runs memwriter on from there.
 */
static void protect_into_real_backup(void)
{
	struct protected_vm v;
	struct real_backup rb = {0};
	struct repl_primary *r;
	struct repl_status st;
	struct pollfd pfd;
	uint64_t e, t0;
	char err[256];

	pvm_boot(&v);
	test_vm__create(&rb.t, 64ULL << 20, 1);
	expect(channel__listen("127.0.0.1:0", &rb.lfd, err, sizeof(err)) == 0, "listen: %s", err);
	rb.port = channel__local_port(rb.lfd);
	expect(pthread_create(&rb.thread, NULL, real_backup_main, &rb) == 0, "backup thread");
	/* 40 ms epochs: ~200 dirty pages each, so the state is captured beside the copy. */
	r = protect(&v, rb.port, REPL_MODE_EPOCH, 40);
	pthread_join(rb.thread, NULL);
	expect(rb.b != NULL, "backup: %s", rb.err);
	WAIT_STATUS(r, st, st.acked_epoch >= 3, "acked epoch 3 from the real backup");
	expect(st.dirty_pages_last >= 128, "only %llu dirty pages an epoch",
	       (unsigned long long)st.dirty_pages_last);

	vm__pause_all(v.t.vm);
	status(r, &st);
	e = st.epoch;
	WAIT_STATUS(r, st, st.acked_epoch >= e + 2, "acked a checkpoint of the paused guest");
	pages_equal(v.t.vm, rb.t.vm);

	/* Failover: the backup's memwriter goes on from the primary's iteration. */
	expect(repl_backup__activate(rb.b, err, sizeof(err)) == 0, "activate: %s", err);
	expect(vm__start(rb.t.vm) == 0, "starting the backup's VM");
	t0 = mono_ns();
	while (memwriter_progress(rb.t.vm) < memwriter_progress(v.t.vm) + 2) {
		expect(!mono_ms_deadline_passed(t0, WAIT_MS),
		       "memwriter did not run on after failover: iteration %llu, primary's %llu",
		       (unsigned long long)memwriter_progress(rb.t.vm),
		       (unsigned long long)memwriter_progress(v.t.vm));
		usleep(1000);
	}
	/* The primary sees its backup leave: degraded, and it runs on. */
	WAIT_STATUS(r, st, st.state == REPL_STATE_DEGRADED, "degraded after the backup left");
	pfd = (struct pollfd){.fd = repl_primary__event_fd(r), .events = POLLIN};
	expect(poll(&pfd, 1, 0) == 1, "the event fd is not readable");
	vm__resume_all(v.t.vm);
	expect_guest_runs(&v);
	repl_primary__free(r);
	repl_backup__free(rb.b);
	stream_reader__dispose(&rb.r);
	close(rb.lfd);
	test_vm__destroy(&rb.t);
	pvm_destroy(&v);
}

START_TEST(test_protect_into_real_backup)
{
	run_in_netns(protect_into_real_backup);
}
END_TEST

/*
 * Disks: the sync copies the whole image (copy storage forced); in event mode a guest write
 * starts a checkpoint at once, and that epoch carries the written chunk.  A disk on shared
 * storage is refused.
 */
static void disk_writes_in_event_mode(void)
{
	static const uint8_t data[VIRTIO_BLK_CHUNK] = {0x5a};
	struct iovec iov = {.iov_base = (void *)data, .iov_len = sizeof(data)};
	struct channel_security sec = {.insecure = true};
	struct protected_vm v;
	struct fake_backup b;
	struct test_vm shared;
	struct virtio_blk *blk;
	struct repl_primary *r;
	struct repl_status st;
	struct repl_params p;
	char img[64], img2[64], err[256];
	uint64_t e;

	blk = disk_pair(&v, &b, img, sizeof(img));
	r = protect(&v, b.port, REPL_MODE_EVENT, 0);
	WAIT_STATUS(r, st, st.state == REPL_STATE_PROTECTED, "protected");
	expect(fb_get(&b, &b.sync_chunks) == (64 << 10) / VIRTIO_BLK_CHUNK,
	       "the sync sent %llu chunks of a 16-chunk image",
	       (unsigned long long)fb_get(&b, &b.sync_chunks));
	WAIT_STATUS(r, st, st.acked_epoch == st.epoch, "caught up");
	e = st.epoch;
	/* What the I/O thread does for a guest write (the guest itself writes no disk). */
	expect(virtio_blk__write(blk, 3 * VIRTIO_BLK_CHUNK, &iov, 1) == 0, "write");
	/* The ack can beat the epoch's own bookkeeping (epochs, disk_bytes_last): wait for both. */
	WAIT_STATUS(r, st, st.acked_epoch > e && st.epochs >= st.epoch,
		    "checkpointed the disk write");
	expect(fb_get(&b, &b.epoch_chunks) == 1 &&
		   fb_get(&b, &b.disk_sector) == 3 * VIRTIO_BLK_CHUNK / STREAM_SECTOR_SIZE,
	       "the epoch carried %llu chunks from sector %llu",
	       (unsigned long long)fb_get(&b, &b.epoch_chunks),
	       (unsigned long long)fb_get(&b, &b.disk_sector));
	expect(st.disk_bytes_last == VIRTIO_BLK_CHUNK || st.epoch > e + 1,
	       "disk bytes of the last epoch: %llu", (unsigned long long)st.disk_bytes_last);
	repl_primary__free(r);
	fake_backup_join(&b);
	expect(b.ended, "the backup never read END");
	pvm_destroy(&v);
	unlink(img);

	make_image(img2, sizeof(img2));
	test_vm__create(&shared, 16ULL << 20, 1);
	add_disk(&shared, img2, true);
	repl_params__defaults(&p);
	expect(repl_primary__start(shared.vm, &p, "127.0.0.1:1", &sec, &r, err, sizeof(err)) ==
		       -EINVAL &&
		   strstr(err, "shared storage"),
	       "a disk on shared storage was not refused: %s", err);
	test_vm__destroy(&shared);
	unlink(img2);
}

START_TEST(test_disk_writes_in_event_mode)
{
	run_in_netns(disk_writes_in_event_mode);
}
END_TEST

/*
 * Epoch mode with an interval far beyond the test's bounds: disk writes reaching
 * disk_epoch_limit (3 chunks here) checkpoint at once, and that one epoch carries all three,
 * so a write burst never grows an epoch past what the backup stages.
 */
static void disk_burst_checkpoints_early(void)
{
	static const uint8_t data[VIRTIO_BLK_CHUNK] = {0x6b};
	struct iovec iov = {.iov_base = (void *)data, .iov_len = sizeof(data)};
	struct protected_vm v;
	struct fake_backup b;
	char img[64];
	struct virtio_blk *blk = disk_pair(&v, &b, img, sizeof(img));
	struct repl_primary *r;
	struct repl_status st;
	struct repl_params p;
	uint64_t e;

	repl_params__defaults(&p);
	p.interval_ns = 600 * 1000000000ULL;
	p.disk_epoch_limit = 3 * VIRTIO_BLK_CHUNK;
	r = protect_params(&v, b.port, &p);
	WAIT_STATUS(r, st, st.state == REPL_STATE_PROTECTED && st.acked_epoch == st.epoch,
		    "protected and caught up");
	e = st.epoch;
	for (unsigned int c = 0; c < 3; c++)
		expect(virtio_blk__write(blk, (5 + c) * VIRTIO_BLK_CHUNK, &iov, 1) == 0, "write");
	WAIT_STATUS(r, st, st.acked_epoch > e, "checkpointed the burst before the interval");
	expect(st.epoch == e + 1 && fb_get(&b, &b.epoch_chunks) == 3,
	       "the burst took epochs %llu..%llu, the last carrying %llu chunks",
	       (unsigned long long)e + 1, (unsigned long long)st.epoch,
	       (unsigned long long)fb_get(&b, &b.epoch_chunks));
	repl_primary__free(r);
	fake_backup_join(&b);
	pvm_destroy(&v);
	unlink(img);
}

START_TEST(test_disk_burst_checkpoints_early)
{
	run_in_netns(disk_burst_checkpoints_early);
}
END_TEST

/* A backup that stops acking is gone after the timeout: degraded, though it still listens. */
static void degraded_on_ack_timeout(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	struct repl_params p;

	pvm_boot(&v);
	fake_backup_start(&b, 2, 0);
	repl_params__defaults(&p);
	p.interval_ns = 5000000ULL;
	p.timeout_ns = 300000000ULL;
	r = protect_params(&v, b.port, &p);
	WAIT_STATUS(r, st, st.state == REPL_STATE_DEGRADED, "degraded");
	expect(st.acked_epoch == 2 &&
		   (strstr(st.error, "did not ack epoch 3") || strstr(st.error, "silent for 300")),
	       "acked %llu: %s", (unsigned long long)st.acked_epoch, st.error);
	set_die_at(&b, fb_get(&b, &b.last_epoch)); /* let the fake backup go */
	expect_guest_runs(&v);
	repl_primary__free(r);
	fake_backup_join(&b);
	pvm_destroy(&v);
}

START_TEST(test_degraded_on_ack_timeout)
{
	run_in_netns(degraded_on_ack_timeout);
}
END_TEST

/*
 * Hybrid mode: a burst of frames coalesces (I/O checkpoints at least min_spacing apart), and
 * with no I/O the timed checkpoints still come every interval.
 */
static void hybrid_spacing(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	char err[256];
	uint64_t e, t0, t1;

	pvm_boot(&v);
	fake_backup_start(&b, NO_LIMIT, 0);
	r = protect(&v, b.port, REPL_MODE_HYBRID, 50);
	WAIT_STATUS(r, st, st.state == REPL_STATE_PROTECTED, "protected");
	expect(repl_primary__set(r, REPL_MODE_HYBRID, 400000000ULL, 100000000ULL, err,
				 sizeof(err)) == 0,
	       "set: %s", err);
	WAIT_STATUS(r, st, st.acked_epoch == st.epoch, "caught up");
	expect(st.interval_ns == 400000000ULL && st.min_spacing_ns == 100000000ULL,
	       "interval %llu, spacing %llu", (unsigned long long)st.interval_ns,
	       (unsigned long long)st.min_spacing_ns);
	/* 20 frames sent as fast as possible: within 100 ms at most two I/O checkpoints. */
	e = st.epoch;
	t0 = mono_ns();
	for (uint8_t i = 0; i < 20; i++)
		send_frame(&v, i);
	t1 = mono_ns();
	for (int i = 0; i < 20; i++)
		expect(next_frame(&v, WAIT_MS) == i, "frame %d of the burst never left", i);
	status(r, &st);
	expect(t1 - t0 >= 100000000ULL || st.epoch <= e + 3,
	       "a %llu us burst took %llu checkpoints", (unsigned long long)((t1 - t0) / 1000),
	       (unsigned long long)(st.epoch - e));
	/* Quiet: the interval alone drives them. */
	e = st.epoch;
	WAIT_STATUS(r, st, st.epoch >= e + 2, "two timed checkpoints");
	repl_primary__free(r);
	fake_backup_join(&b);
	pvm_destroy(&v);
}

START_TEST(test_hybrid_spacing)
{
	run_in_netns(hybrid_spacing);
}
END_TEST

/*
 * The guest ends by itself (memwriter's last iteration) while protected: no checkpoint of the
 * ended VM (a capture would fail and degrade it), and unprotect still ends the stream with
 * END after the acks of what was sent.
 */
static void guest_ends_then_unprotect(void)
{
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r;
	struct repl_status st;
	struct pollfd done;
	uint64_t hb, e;
	char err[256];

	/* ~2 s of writing: 150 iterations of 64 pages at 5 pages a ms. */
	pvm_boot_guest(&v, NULL, "pages=64 ws=256 rate=5 vcpus=1 iters=150");
	fake_backup_start(&b, NO_LIMIT, 0);
	r = protect(&v, b.port, REPL_MODE_EPOCH, 10);
	WAIT_STATUS(r, st, st.state == REPL_STATE_PROTECTED, "protected");
	done = (struct pollfd){.fd = vm__done_fd(v.t.vm), .events = POLLIN};
	expect(poll(&done, 1, WAIT_MS) == 1, "memwriter never ended");
	WAIT_STATUS(r, st, st.acked_epoch == st.epoch, "caught up");
	e = st.epoch;
	hb = fb_get(&b, &b.heartbeats);
	wait_backup(&b, &b.heartbeats, hb + 2, "two heartbeats after the guest ended");
	status(r, &st);
	expect(st.state == REPL_STATE_PROTECTED && st.epoch == e,
	       "after the guest ended: state %s, epoch %llu -> %llu (%s)",
	       repl_state__to_str(st.state), (unsigned long long)e, (unsigned long long)st.epoch,
	       st.error);
	expect(repl_primary__stop(r, err, sizeof(err)) == 0, "unprotect: %s", err);
	fake_backup_join(&b);
	expect(b.ended, "the backup never read END");
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_guest_ends_then_unprotect)
{
	run_in_netns(guest_ends_then_unprotect);
}
END_TEST

/* Refused at once: bad params, a paused VM; and a backup that is not there: failed. */
static void refusals_and_failed_sync(void)
{
	struct channel_security sec = {.insecure = true};
	struct protected_vm v;
	struct fake_backup b;
	struct repl_primary *r = NULL;
	struct repl_params p;
	struct repl_status st;
	struct pollfd pfd;
	char err[256], peer[64];
	int lfd, port;

	pvm_boot(&v);
	repl_params__defaults(&p);
	p.interval_ns = 0;
	expect(repl_primary__start(v.t.vm, &p, "127.0.0.1:1", &sec, &r, err, sizeof(err)) ==
		       -EINVAL &&
		   strstr(err, "interval"),
	       "an interval of 0 was not refused: %s", err);
	repl_params__defaults(&p);
	p.mode = REPL_MODE_HYBRID;
	p.min_spacing_ns = p.interval_ns + 1;
	expect(repl_primary__start(v.t.vm, &p, "127.0.0.1:1", &sec, &r, err, sizeof(err)) ==
		       -EINVAL &&
		   strstr(err, "min-spacing"),
	       "a min spacing over the interval was not refused: %s", err);
	repl_params__defaults(&p);
	vm__pause_all(v.t.vm);
	expect(repl_primary__start(v.t.vm, &p, "127.0.0.1:1", &sec, &r, err, sizeof(err)) ==
		       -EINVAL &&
		   strstr(err, "paused"),
	       "a paused VM was not refused: %s", err);
	vm__resume_all(v.t.vm);

	/* A port nobody listens on (bound, then closed): the sync fails, the guest runs. */
	expect(channel__listen("127.0.0.1:0", &lfd, err, sizeof(err)) == 0, "listen: %s", err);
	port = channel__local_port(lfd);
	close(lfd);
	snprintf(peer, sizeof(peer), "127.0.0.1:%d", port);
	expect(repl_primary__start(v.t.vm, &p, peer, &sec, &r, err, sizeof(err)) == 0, "start: %s",
	       err);
	WAIT_STATUS(r, st, st.state == REPL_STATE_FAILED, "failed");
	expect(strstr(st.error, "connect") != NULL, "error \"%s\"", st.error);
	pfd = (struct pollfd){.fd = repl_primary__event_fd(r), .events = POLLIN};
	expect(poll(&pfd, 1, 0) == 1, "the event fd is not readable after a failed sync");
	expect_guest_runs(&v);
	repl_primary__free(r);

	/* A backup that refuses the VM: failed as a live migration fails, the guest unharmed. */
	fake_backup_start(&b, NO_LIMIT, 0);
	pthread_mutex_lock(&b.lock);
	b.refuse_u64 = 1;
	pthread_mutex_unlock(&b.lock);
	r = protect(&v, b.port, REPL_MODE_EPOCH, 10);
	WAIT_STATUS(r, st, st.state == REPL_STATE_FAILED, "failed");
	expect(strstr(st.error, "no room for the VM here") != NULL, "error \"%s\"", st.error);
	fake_backup_join(&b);
	/* Dirty logging is off again: enabling it works (and is undone). */
	expect(dirty__enable(v.t.vm) == 0 && dirty__disable(v.t.vm) == 0,
	       "dirty logging was left on after the failed sync");
	expect_guest_runs(&v);
	repl_primary__free(r);

	/* Unprotect during the sync (the backup never answers SYNC): cancelled, guest resumed. */
	fake_backup_start(&b, NO_LIMIT, 0);
	pthread_mutex_lock(&b.lock);
	b.stall_u64 = 1;
	pthread_mutex_unlock(&b.lock);
	r = protect(&v, b.port, REPL_MODE_EPOCH, 10);
	wait_backup(&b, &b.synced, 1, "SYNC");
	expect(repl_primary__stop(r, err, sizeof(err)) == 0, "unprotect during the sync: %s", err);
	status(r, &st);
	expect(st.state == REPL_STATE_UNPROTECTED &&
		   !strcmp(migrate_phase__to_str(st.sync.phase), "cancelled"),
	       "state %s, sync %s after unprotect", repl_state__to_str(st.state),
	       migrate_phase__to_str(st.sync.phase));
	pthread_mutex_lock(&b.lock);
	b.stall_u64 = 0;
	pthread_cond_broadcast(&b.cond);
	pthread_mutex_unlock(&b.lock);
	fake_backup_join(&b);
	expect_guest_runs(&v);
	repl_primary__free(r);
	pvm_destroy(&v);
}

START_TEST(test_refusals_and_failed_sync)
{
	run_in_netns(refusals_and_failed_sync);
}
END_TEST

Suite *repl_primary_suite(void)
{
	Suite *s = suite_create("repl_primary");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_epochs_switch_unprotect);
	tcase_add_test(tc, test_output_held_until_ack);
	tcase_add_test(tc, test_degraded_on_backup_eof);
	tcase_add_test(tc, test_failed_start_degrades);
	tcase_add_test(tc, test_unprotect_with_full_ring);
	tcase_add_test(tc, test_refusals_and_failed_sync);
	tcase_add_test(tc, test_protect_into_real_backup);
	tcase_add_test(tc, test_disk_writes_in_event_mode);
	tcase_add_test(tc, test_disk_burst_checkpoints_early);
	tcase_add_test(tc, test_degraded_on_ack_timeout);
	tcase_add_test(tc, test_hybrid_spacing);
	tcase_add_test(tc, test_guest_ends_then_unprotect);
	tcase_add_test(tc, test_cluster_stalls_until_degrade);
	tcase_add_test(tc, test_fence_holds_acked_output);
	tcase_add_test(tc, test_cluster_stop_while_stalled);
	tcase_add_test(tc, test_cluster_degrade_protected);
	suite_add_tcase(s, tc);
	return s;
}
