/* Check suite for the backup's engine: epochs acked, heartbeat, END, refusals, failover (KVM). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "backup.h"
#include "channel.h"
#include "memory.h"
#include "migrate.h"
#include "page_data.h"
#include "repl_wire.h"
#include "suites.h"
#include "vm.h"
#include "vm_stream.h"
#include "vm_fixture.h"

#define MEM	 (16 << 20)
#define VCPUS	 1
#define LONG_NS	 (30ULL * 1000000000u) /* a timeout no test reaches */
#define SHORT_NS (200ULL * 1000000u)
#define WAIT_MS	 10000 /* the longest a test waits for the backup's end */

/* The primary's end of the connection and its VM; the backup's VM and engine. */
static struct test_vm src, dst;
static struct channel *pch, *bch;
static struct stream_writer w;
static struct stream_reader br;
static struct repl_backup *b;

struct acceptor {
	int lfd;
	struct channel *ch;
	char err[256];
};

static void *accept_one(void *arg)
{
	struct channel_security plain = {.insecure = true};
	struct acceptor *a = arg;

	channel__accept(a->lfd, &plain, &a->ch, a->err, sizeof(a->err));
	return NULL;
}

/* A plaintext loopback connection: pch the primary's side, bch the backup's. */
static void connect_pair(void)
{
	struct channel_security plain = {.insecure = true};
	struct acceptor a = {0};
	char hp[64], err[256];
	pthread_t t;

	ck_assert_msg(channel__listen("127.0.0.1:0", &a.lfd, err, sizeof(err)) == 0, "%s", err);
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", channel__local_port(a.lfd));
	ck_assert_int_eq(pthread_create(&t, NULL, accept_one, &a), 0);
	ck_assert_msg(channel__connect(hp, &plain, &pch, err, sizeof(err)) == 0, "%s", err);
	pthread_join(t, NULL);
	ck_assert_msg(a.ch, "%s", a.err);
	bch = a.ch;
	close(a.lfd);
}

static uint64_t rbx(struct vm *vm)
{
	struct kvm_regs regs;

	ck_assert_int_eq(ioctl(vm->vcpus[0].fd, KVM_GET_REGS, &regs), 0);
	return regs.rbx;
}

static void set_rbx(struct vm *vm, uint64_t v)
{
	struct kvm_regs regs;

	ck_assert_int_eq(ioctl(vm->vcpus[0].fd, KVM_GET_REGS, &regs), 0);
	regs.rbx = v;
	ck_assert_int_eq(ioctl(vm->vcpus[0].fd, KVM_SET_REGS, &regs), 0);
}

static uint8_t *page_of(struct vm *vm, uint64_t pfn)
{
	return memory__gpa_to_hva(vm, pfn * STREAM_PAGE_SIZE, STREAM_PAGE_SIZE);
}

/* The primary writes page pfn filled with byte (in src too, as a guest would). */
static void send_page(uint64_t pfn, uint8_t byte)
{
	struct page_batch pb;

	memset(page_of(src.vm, pfn), byte, STREAM_PAGE_SIZE);
	page_batch__init(&pb);
	ck_assert_int_eq(page_batch__add(&pb, pfn, page_of(src.vm, pfn)), 0);
	ck_assert_int_eq(page_batch__write(&pb, &w), 0);
	page_batch__dispose(&pb);
}

/* The state records of src with its rbx at mark: what tells epochs apart in the vCPU. */
static void send_state(uint64_t mark)
{
	set_rbx(src.vm, mark);
	ck_assert_int_eq(vm_stream__write_state(&w, src.vm), 0);
}

static void read_reply(struct repl_reply *rep)
{
	char err[256];

	ck_assert_msg(repl_reply__read(channel__read, pch, rep, err, sizeof(err)) == 0, "%s", err);
}

/* Epoch n: page 100 + n and page 10 hold n, rbx 0x1000 + n; its ACK read. */
static void epoch(uint64_t n)
{
	struct repl_reply rep;

	send_page(10, (uint8_t)n);
	send_page(100 + n, (uint8_t)n);
	send_state(0x1000 + n);
	ck_assert_int_eq(stream_writer__checkpoint(&w, n), 0);
	read_reply(&rep);
	ck_assert_uint_eq(rep.kind, REPL_REPLY_ACK);
	ck_assert_uint_eq(rep.epoch, n);
	/* Acked means committed: the pages are in, the state is only kept. */
	ck_assert_uint_eq(page_of(dst.vm, 10)[0], (uint8_t)n);
	ck_assert_uint_eq(rbx(dst.vm), 0x1000); /* the initial sync's */
}

/* Both VMs, the connection, the initial sync received and acked, the engine started. */
static void start(uint64_t timeout_ns, bool auto_failover)
{
	struct repl_backup_params p = {.timeout_ns = timeout_ns, .auto_failover = auto_failover};
	struct vm_stream_config cfg;
	struct migrate_ack ack;
	char err[512];
	size_t got = 0;

	signal(SIGPIPE, SIG_IGN);
	test_vm__create(&src, MEM, VCPUS);
	test_vm__create(&dst, MEM, VCPUS);
	connect_pair();
	/* The initial sync, as the primary's checkpointed migrate__send ends it. */
	stream_writer__init(&w, channel__write, pch);
	ck_assert_int_eq(stream_writer__header(&w, STREAM_FLAG_LIVE | STREAM_FLAG_CHECKPOINTED), 0);
	ck_assert_int_eq(vm_stream__write_config(&w, src.vm), 0);
	send_page(10, 0xee);
	send_state(0x1000);
	ck_assert_int_eq(stream_writer__checkpoint(&w, 0), 0);
	stream_reader__init(&br, channel__read, bch);
	ck_assert_msg(migrate__receive_config(&br, &cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert(br.flags & STREAM_FLAG_CHECKPOINTED);
	ck_assert_msg(vm_stream__check_config(&cfg, dst.vm, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(migrate__receive(&br, dst.vm, channel__write, bch, NULL, err, sizeof(err)) ==
			  0,
		      "%s", err);
	ck_assert_uint_eq(page_of(dst.vm, 10)[0], 0xee);
	ck_assert_uint_eq(rbx(dst.vm), 0x1000);
	ck_assert_int_eq(migrate__ack(channel__write, bch, 0, NULL), 0);
	while (got < sizeof(ack)) {
		ssize_t n = channel__read(pch, (uint8_t *)&ack + got, sizeof(ack) - got);

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert_int_eq(ack.status, 0);
	ck_assert_msg(
	    repl_backup__start(dst.vm, bch, &br, &p, "127.0.0.1:1", &b, err, sizeof(err)) == 0,
	    "%s", err);
}

static void stop(void)
{
	repl_backup__free(b); /* closes bch */
	b = NULL;
	stream_reader__dispose(&br);
	channel__close(pch);
	test_vm__destroy(&src);
	test_vm__destroy(&dst);
}

/* Waits (bounded) for the engine's end; returns it. */
static enum repl_backup_end wait_end(void)
{
	struct pollfd pfd = {.fd = repl_backup__event_fd(b), .events = POLLIN};

	ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "the backup did not end in %d ms", WAIT_MS);
	return repl_backup__end(b);
}

static void activate_ok(void)
{
	char err[512];

	ck_assert_msg(repl_backup__activate(b, err, sizeof(err)) == 0, "%s", err);
}

START_TEST(test_epochs_acked_in_order)
{
	struct repl_status st;

	start(LONG_NS, false);
	for (uint64_t n = 1; n <= 5; n++)
		epoch(n);
	for (uint64_t n = 1; n <= 5; n++)
		ck_assert_uint_eq(page_of(dst.vm, 100 + n)[0], n);
	repl_backup__status(b, &st);
	ck_assert_int_eq(st.state, REPL_STATE_PROTECTED);
	ck_assert(!st.primary);
	ck_assert_uint_eq(st.epoch, 5);
	ck_assert_uint_eq(st.epochs, 5);
	ck_assert_uint_gt(st.commit_ns.last, 0);
	ck_assert_uint_ge(st.commit_ns.max, st.commit_ns.p50);
	ck_assert_str_eq(st.peer, "127.0.0.1:1");
	ck_assert_str_eq(st.error, "");
	ck_assert_int_eq(repl_backup__end(b), REPL_BACKUP_RUNNING);
	stop();
}
END_TEST

START_TEST(test_heartbeat_answered)
{
	struct repl_reply rep;

	start(LONG_NS, false);
	epoch(1);
	ck_assert_int_eq(stream_writer__record(&w, STREAM_REC_HEARTBEAT, NULL, NULL, 0), 0);
	read_reply(&rep);
	ck_assert_uint_eq(rep.kind, REPL_REPLY_HEARTBEAT);
	ck_assert_uint_eq(rep.epoch, 1);
	stop();
}
END_TEST

/* A partly received epoch is dropped at failover: the committed pages and state win. */
START_TEST(test_activate_discards_open_epoch)
{
	struct repl_reply rep;
	struct repl_status st;
	char err[256];

	start(LONG_NS, false);
	epoch(1);
	epoch(2);
	send_page(10, 0x33);
	send_page(50, 0x33);
	send_state(0x3333);
	/* Records are handled in order: once this is answered, the partial epoch is staged. */
	ck_assert_int_eq(stream_writer__record(&w, STREAM_REC_HEARTBEAT, NULL, NULL, 0), 0);
	read_reply(&rep);
	ck_assert_uint_eq(rep.kind, REPL_REPLY_HEARTBEAT);
	activate_ok();
	ck_assert_int_eq(repl_backup__end(b), REPL_BACKUP_ACTIVATE);
	ck_assert_uint_eq(page_of(dst.vm, 10)[0], 2);
	ck_assert_uint_eq(page_of(dst.vm, 50)[0], 0);
	ck_assert_uint_eq(rbx(dst.vm), 0x1002);
	repl_backup__status(b, &st);
	ck_assert_int_eq(st.state, REPL_STATE_FAILED_OVER);
	ck_assert_uint_eq(st.epoch, 2);
	ck_assert_int_eq(repl_backup__activate(b, err, sizeof(err)), -EALREADY);
	stop();
}
END_TEST

START_TEST(test_end_unprotects)
{
	struct repl_status st;
	char err[256];

	start(LONG_NS, false);
	epoch(1);
	ck_assert_int_eq(stream_writer__end(&w), 0);
	ck_assert_int_eq(wait_end(), REPL_BACKUP_UNPROTECTED);
	repl_backup__status(b, &st);
	ck_assert_int_eq(st.state, REPL_STATE_UNPROTECTED);
	/* The primary still runs the VM: this copy must not. */
	ck_assert_int_eq(repl_backup__activate(b, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unprotected"));
	ck_assert_int_eq(repl_backup__end(b), REPL_BACKUP_UNPROTECTED);
	stop();
}
END_TEST

/* A corrupt record: FAIL back with the reason, LOST; the committed image still activates. */
START_TEST(test_corrupt_record_fails)
{
	static const uint64_t body = 7;
	const void *part = &body;
	size_t len = sizeof(body);
	struct repl_reply rep;
	struct repl_status st;

	start(LONG_NS, false);
	epoch(1);
	send_page(10, 0x44);
	ck_assert_int_eq(stream_writer__record(&w, STREAM_REC_HEARTBEAT, &part, &len, 1), 0);
	read_reply(&rep);
	ck_assert_uint_eq(rep.kind, REPL_REPLY_FAIL);
	ck_assert_int_eq(rep.status, -EBADMSG);
	ck_assert_uint_eq(rep.epoch, 1);
	ck_assert_msg(strstr(rep.message, "HEARTBEAT at byte"), "%s", rep.message);
	ck_assert_int_eq(wait_end(), REPL_BACKUP_LOST);
	repl_backup__status(b, &st);
	ck_assert_int_eq(st.state, REPL_STATE_DEGRADED);
	ck_assert_ptr_nonnull(strstr(st.error, "8-byte body"));
	activate_ok();
	ck_assert_int_eq(repl_backup__end(b), REPL_BACKUP_ACTIVATE);
	ck_assert_uint_eq(page_of(dst.vm, 10)[0], 1);
	ck_assert_uint_eq(rbx(dst.vm), 0x1001);
	stop();
}
END_TEST

/* A record an epoch cannot hold is refused by the epoch buffer, named in the FAIL. */
START_TEST(test_foreign_record_fails)
{
	struct repl_reply rep;

	start(LONG_NS, false);
	ck_assert_int_eq(stream_writer__record(&w, STREAM_REC_SYNC, NULL, NULL, 0), 0);
	read_reply(&rep);
	ck_assert_uint_eq(rep.kind, REPL_REPLY_FAIL);
	/* The reason comes first, the place after: a long reason must not be cut off. */
	ck_assert_msg(strstr(rep.message, " (record SYNC at stream byte") &&
			  strncmp(rep.message, "record ", 7),
		      "%s", rep.message);
	ck_assert_int_eq(wait_end(), REPL_BACKUP_LOST);
	stop();
}
END_TEST

/* The primary silent past the timeout: LOST without auto-failover, and failover still works. */
START_TEST(test_timeout_lost)
{
	struct repl_status st;

	start(SHORT_NS, false);
	epoch(1);
	send_page(10, 0x55); /* then silence, mid-epoch */
	ck_assert_int_eq(wait_end(), REPL_BACKUP_LOST);
	repl_backup__status(b, &st);
	ck_assert_int_eq(st.state, REPL_STATE_DEGRADED);
	ck_assert_ptr_nonnull(strstr(st.error, "nothing heard"));
	ck_assert_uint_ge(st.peer_silent_ns, SHORT_NS);
	ck_assert_uint_eq(rbx(dst.vm), 0x1000);
	activate_ok();
	ck_assert_uint_eq(page_of(dst.vm, 10)[0], 1);
	ck_assert_uint_eq(rbx(dst.vm), 0x1001);
	stop();
}
END_TEST

START_TEST(test_timeout_auto_failover)
{
	char err[256];

	start(SHORT_NS, true);
	epoch(1);
	epoch(2);
	send_page(10, 0x66);
	ck_assert_int_eq(wait_end(), REPL_BACKUP_ACTIVATE);
	ck_assert_uint_eq(page_of(dst.vm, 10)[0], 2);
	ck_assert_uint_eq(rbx(dst.vm), 0x1002);
	ck_assert_int_eq(repl_backup__activate(b, err, sizeof(err)), -EALREADY);
	stop();
}
END_TEST

/* The connection closed under the backup: the primary is gone as surely as silent. */
START_TEST(test_eof_auto_failover)
{
	start(LONG_NS, true);
	epoch(1);
	channel__close(pch);
	pch = NULL;
	ck_assert_int_eq(wait_end(), REPL_BACKUP_ACTIVATE);
	ck_assert_uint_eq(rbx(dst.vm), 0x1001);
	stop();
}
END_TEST

/* Any byte is a sign of life: an epoch arriving slowly, past the timeout in all, is no silence. */
START_TEST(test_slow_epoch_is_not_silence)
{
	start(SHORT_NS, true);
	for (int i = 0; i < 6; i++) {
		send_page(60 + i, 0x77);
		usleep(SHORT_NS /
		       2000); /* half the timeout between records: time passing, no sync */
	}
	epoch(1);
	ck_assert_int_eq(repl_backup__end(b), REPL_BACKUP_RUNNING);
	ck_assert_uint_eq(page_of(dst.vm, 65)[0], 0x77);
	stop();
}
END_TEST

Suite *repl_backup_suite(void)
{
	Suite *s = suite_create("repl_backup");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_epochs_acked_in_order);
	tcase_add_test(tc, test_heartbeat_answered);
	tcase_add_test(tc, test_activate_discards_open_epoch);
	tcase_add_test(tc, test_end_unprotects);
	tcase_add_test(tc, test_corrupt_record_fails);
	tcase_add_test(tc, test_foreign_record_fails);
	tcase_add_test(tc, test_timeout_lost);
	tcase_add_test(tc, test_timeout_auto_failover);
	tcase_add_test(tc, test_eof_auto_failover);
	tcase_add_test(tc, test_slow_epoch_is_not_silence);
	suite_add_tcase(s, tc);
	return s;
}
