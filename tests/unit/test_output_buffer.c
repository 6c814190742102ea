/* Unit tests for the output-commit buffer: a NIC's TX frames held per epoch, on a tap in a netns.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include "netns_fixture.h"
#include "output_buffer.h"
#include "suites.h"
#include "virtio_net.h"

#define TAP	   "twob0"
#define TAP2	   "twob1"
#define TX_ETHTYPE 0x88b5 /* IEEE local experimental: nothing else sends these */
#define FRAME_LEN  60
#define SEED_AT	   20	/* the payload byte that numbers a test frame */
#define POLL_MS	   5000 /* a bound on a kernel hand-off that is immediate in practice */
#define LIMIT	   (1 << 20)

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};

static struct virtio_net *open_nic(const char *tap)
{
	struct virtio_net *net;
	char err[256];

	expect(virtio_net__open(tap, NULL, mac, 0, &net, err, sizeof(err)) == 0,
	       "virtio_net__open: %s", err);
	return net;
}

static struct output_buffer *make_ob(size_t limit, struct output_buffer_full full)
{
	struct output_buffer *ob;
	int rc = output_buffer__create(limit, full, &ob);

	expect(rc == 0, "output_buffer__create: %s", strerror(-rc));
	return ob;
}

/* The guest sends test frame n (n is in its payload); returns virtio_net__transmit's result. */
static int send_frame(struct virtio_net *net, uint8_t n)
{
	uint8_t f[FRAME_LEN];
	struct iovec iov[2] = {{f, 25}, {f + 25, FRAME_LEN - 25}};

	netns_make_frame(f, FRAME_LEN, mac, TX_ETHTYPE, 0);
	f[SEED_AT] = n;
	return virtio_net__transmit(net, iov, 2);
}

/* Reads the next test frame on the tap (flags 0: waits up to POLL_MS); its number or -1. */
static int next_frame(int s, int flags)
{
	struct pollfd p = {.fd = s, .events = POLLIN};
	uint8_t got[2048];
	ssize_t n;

	for (;;) {
		if (!(flags & MSG_DONTWAIT))
			expect(poll(&p, 1, POLL_MS) == 1, "a released frame never reached the tap");
		n = recv(s, got, sizeof(got), flags);
		if (n < 0 && errno == EAGAIN)
			return -1;
		expect(n >= 0, "recv: %s", strerror(errno));
		if (n == FRAME_LEN && got[12] == TX_ETHTYPE >> 8 && got[13] == (TX_ETHTYPE & 0xff))
			return got[SEED_AT];
	}
}

static void expect_frames(int s, const int *want, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		int got = next_frame(s, 0);

		expect(got == want[i], "frame %u on the tap is #%d, expected #%d", i, got, want[i]);
	}
	expect(next_frame(s, MSG_DONTWAIT) == -1, "a frame still held reached the tap");
}

static void expect_held(struct output_buffer *ob, uint64_t frames, uint64_t released)
{
	struct output_buffer_stats st;

	output_buffer__stats(ob, &st);
	expect(st.held_frames == frames && st.held_bytes == frames * FRAME_LEN,
	       "held %llu frames, %llu bytes; expected %llu frames",
	       (unsigned long long)st.held_frames, (unsigned long long)st.held_bytes,
	       (unsigned long long)frames);
	expect(st.released_frames == released, "released %llu frames, expected %llu",
	       (unsigned long long)st.released_frames, (unsigned long long)released);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void hold_and_release(void)
{
	struct virtio_net *net = open_nic(TAP);
	struct output_buffer *ob = make_ob(LIMIT, (struct output_buffer_full){0});
	struct sockaddr_ll sll;
	struct output_buffer_stats st;
	int s = netns_packet_socket(TAP, &sll);
	uint64_t t0, t1;

	expect(virtio_net__set_output_buffer(net, ob) == 0, "attach");
	t0 = mono_ns();
	expect(send_frame(net, 1) == 0 && send_frame(net, 2) == 0, "held frames report success");
	expect(output_buffer__close_epoch(ob, 1) == 0, "close 1");
	expect(send_frame(net, 3) == 0, "transmit 3");
	expect(output_buffer__close_epoch(ob, 2) == 0, "close 2");
	expect(send_frame(net, 4) == 0, "transmit 4");
	expect_held(ob, 4, 0);
	output_buffer__stats(ob, &st);
	t1 = mono_ns();
	expect(st.oldest_age_ns <= t1 - t0,
	       "oldest age %llu ns, but it was held less than %llu ns ago",
	       (unsigned long long)st.oldest_age_ns, (unsigned long long)(t1 - t0));
	expect(next_frame(s, MSG_DONTWAIT) == -1, "a held frame reached the tap");

	/* ACK(1): only epoch 1's frames, in order; had 3 or 4 leaked, they would come first. */
	expect(output_buffer__release(ob, 1) == 0, "release 1");
	expect_frames(s, (const int[]){1, 2}, 2);
	expect_held(ob, 2, 2);
	expect(output_buffer__release(ob, 2) == 0, "release 2");
	expect_frames(s, (const int[]){3}, 1);
	expect_held(ob, 1, 3);

	/* Detach lets out the open epoch too, and later frames go straight to the tap. */
	expect(virtio_net__set_output_buffer(net, NULL) == 0, "detach");
	expect_held(ob, 0, 4);
	output_buffer__stats(ob, &st);
	expect(st.oldest_age_ns == 0 && !st.holding,
	       "an empty detached buffer: age %llu, holding %d",
	       (unsigned long long)st.oldest_age_ns, st.holding);
	expect(send_frame(net, 5) == 0, "transmit 5");
	expect_frames(s, (const int[]){4, 5}, 2);
	virtio_net__close(net);
	output_buffer__destroy(ob);
	close(s);
}

START_TEST(test_hold_release)
{
	run_in_netns(hold_and_release);
}
END_TEST

static void release_all_then_arm(void)
{
	struct virtio_net *net = open_nic(TAP);
	struct output_buffer *ob = make_ob(LIMIT, (struct output_buffer_full){0});
	struct sockaddr_ll sll;
	struct output_buffer_stats st;
	int s = netns_packet_socket(TAP, &sll);

	expect(virtio_net__set_output_buffer(net, ob) == 0, "attach");
	send_frame(net, 1);
	expect(output_buffer__close_epoch(ob, 7) == 0, "close 7");
	send_frame(net, 2);
	expect(next_frame(s, MSG_DONTWAIT) == -1, "a held frame reached the tap");

	/* Degraded: the closed and the open epoch go out, then frames pass straight through. */
	output_buffer__release_all(ob);
	expect_frames(s, (const int[]){1, 2}, 2);
	expect(send_frame(net, 3) == 0, "pass-through transmit");
	expect_frames(s, (const int[]){3}, 1);
	output_buffer__stats(ob, &st);
	expect(!st.holding && st.held_frames == 0 && st.released_frames == 2,
	       "after release_all: holding %d, held %llu, released %llu", st.holding,
	       (unsigned long long)st.held_frames, (unsigned long long)st.released_frames);
	expect(output_buffer__release(ob, 7) == -EINVAL, "release_all released epoch 7 already");

	/* Re-armed: held again, in an epoch after 7. */
	output_buffer__arm(ob);
	send_frame(net, 4);
	expect_held(ob, 1, 2);
	expect(next_frame(s, MSG_DONTWAIT) == -1, "a frame held after arm reached the tap");
	expect(output_buffer__close_epoch(ob, 7) == -EINVAL, "epoch 7 closed twice");
	expect(output_buffer__close_epoch(ob, 8) == 0, "close 8");
	expect(output_buffer__release(ob, 8) == 0, "release 8");
	expect_frames(s, (const int[]){4}, 1);
	expect(virtio_net__set_output_buffer(net, NULL) == 0, "detach");
	virtio_net__close(net);
	output_buffer__destroy(ob);
	close(s);
}

START_TEST(test_release_all)
{
	run_in_netns(release_all_then_arm);
}
END_TEST

/* A fenced VM's end: the held frames are freed, never sent; holding goes on. */
static void discard_drops(void)
{
	struct virtio_net *net = open_nic(TAP);
	struct output_buffer *ob = make_ob(LIMIT, (struct output_buffer_full){0});
	struct output_buffer_stats st;
	struct sockaddr_ll sll;
	int s = netns_packet_socket(TAP, &sll);

	expect(virtio_net__set_output_buffer(net, ob) == 0, "attach");
	send_frame(net, 1);
	expect(output_buffer__close_epoch(ob, 1) == 0, "close 1");
	send_frame(net, 2);
	output_buffer__discard(ob);
	output_buffer__stats(ob, &st);
	expect(st.discarded_frames == 2 && st.held_frames == 0 && st.held_bytes == 0 &&
		   st.released_frames == 0 && st.holding,
	       "after discard: discarded %llu, held %llu (%llu bytes), released %llu, holding %d",
	       (unsigned long long)st.discarded_frames, (unsigned long long)st.held_frames,
	       (unsigned long long)st.held_bytes, (unsigned long long)st.released_frames,
	       st.holding);
	/* Epoch 1's ack finds nothing of it; a later frame is held, in a later epoch. */
	expect(output_buffer__release(ob, 1) == 0, "release 1");
	send_frame(net, 3);
	expect(output_buffer__close_epoch(ob, 2) == 0, "close 2");
	expect(output_buffer__release(ob, 2) == 0, "release 2");
	expect_frames(s, (const int[]){3}, 1);
	expect(virtio_net__set_output_buffer(net, NULL) == 0, "detach");
	virtio_net__close(net);
	output_buffer__destroy(ob);
	close(s);
}

START_TEST(test_discard)
{
	run_in_netns(discard_drops);
}
END_TEST

/* The full callback as the replication engine would use it: an early checkpoint. */
struct full_count {
	struct output_buffer *ob;
	unsigned int calls;
	uint64_t epoch;
};

static void on_full(void *opaque)
{
	struct full_count *fc = opaque;

	fc->calls++;
	expect(output_buffer__close_epoch(fc->ob, ++fc->epoch) == 0,
	       "the full callback closes an epoch");
}

static void byte_limit(void)
{
	struct virtio_net *net = open_nic(TAP);
	struct full_count fc = {0};
	struct output_buffer *ob =
	    make_ob(2 * FRAME_LEN + FRAME_LEN / 2,
		    (struct output_buffer_full){.fn = on_full, .opaque = &fc});
	struct sockaddr_ll sll;
	struct output_buffer_stats st;
	int s = netns_packet_socket(TAP, &sll);

	fc.ob = ob;
	expect(virtio_net__set_output_buffer(net, ob) == 0, "attach");
	expect(send_frame(net, 1) == 0 && send_frame(net, 2) == 0, "two frames fit");
	expect(send_frame(net, 3) == -ENOBUFS, "a third frame is over the limit");
	expect(fc.calls == 1 && fc.epoch == 1, "full called %u times, epoch %llu", fc.calls,
	       (unsigned long long)fc.epoch);
	expect(send_frame(net, 4) == -ENOBUFS, "still full");
	expect(fc.calls == 1, "full signalled again before any room was made: %u calls", fc.calls);
	output_buffer__stats(ob, &st);
	expect(st.overflow_drops == 2 && st.held_frames == 2 && st.held_bytes == 2 * FRAME_LEN,
	       "drops %llu, held %llu frames, %llu bytes", (unsigned long long)st.overflow_drops,
	       (unsigned long long)st.held_frames, (unsigned long long)st.held_bytes);
	expect(next_frame(s, MSG_DONTWAIT) == -1, "a held or dropped frame reached the tap");

	/* The early checkpoint's ACK makes room; dropped frames never appear. */
	expect(output_buffer__release(ob, 1) == 0, "release 1");
	expect_frames(s, (const int[]){1, 2}, 2);
	expect(send_frame(net, 5) == 0 && send_frame(net, 6) == 0, "room again");
	expect(send_frame(net, 7) == -ENOBUFS, "full again");
	expect(fc.calls == 2 && fc.epoch == 2, "full after a release: %u calls", fc.calls);
	expect(output_buffer__release(ob, 2) == 0, "release 2");
	expect_frames(s, (const int[]){5, 6}, 2);
	output_buffer__stats(ob, &st);
	expect(st.overflow_drops == 3 && st.released_frames == 4, "drops %llu, released %llu",
	       (unsigned long long)st.overflow_drops, (unsigned long long)st.released_frames);
	expect(virtio_net__set_output_buffer(net, NULL) == 0, "detach");
	virtio_net__close(net);
	output_buffer__destroy(ob);
	close(s);
}

START_TEST(test_byte_limit)
{
	run_in_netns(byte_limit);
}
END_TEST

static void detach_releases(void)
{
	struct virtio_net *net = open_nic(TAP), *other = open_nic(TAP2);
	struct output_buffer *ob = make_ob(LIMIT, (struct output_buffer_full){0});
	struct output_buffer *ob2 = make_ob(LIMIT, (struct output_buffer_full){0});
	struct sockaddr_ll sll;
	int s = netns_packet_socket(TAP, &sll);

	expect(virtio_net__set_output_buffer(net, ob) == 0, "attach");
	expect(virtio_net__set_output_buffer(other, ob) == -EBUSY, "one buffer on two NICs");
	send_frame(net, 1);
	expect(output_buffer__close_epoch(ob, 1) == 0, "close 1");
	send_frame(net, 2);
	expect(next_frame(s, MSG_DONTWAIT) == -1, "a held frame reached the tap");

	/* Attaching another buffer detaches the first, which lets out all it held. */
	expect(virtio_net__set_output_buffer(net, ob2) == 0, "attach a second buffer");
	expect_frames(s, (const int[]){1, 2}, 2);
	expect_held(ob, 0, 2);
	send_frame(net, 3);
	expect_held(ob2, 1, 0);
	expect(next_frame(s, MSG_DONTWAIT) == -1, "the second buffer let a frame out");
	/* The first buffer, detached, can serve the other NIC now. */
	expect(virtio_net__set_output_buffer(other, ob) == 0, "reattach to another NIC");
	expect(virtio_net__set_output_buffer(net, NULL) == 0, "detach");
	expect_frames(s, (const int[]){3}, 1);
	expect(virtio_net__set_output_buffer(other, NULL) == 0, "detach the other");
	virtio_net__close(net);
	virtio_net__close(other);
	output_buffer__destroy(ob);
	output_buffer__destroy(ob2);
	close(s);
}

START_TEST(test_detach_releases)
{
	run_in_netns(detach_releases);
}
END_TEST

/* The replication thread: closes and releases epochs as fast as it can while frames arrive. */
struct churn {
	struct output_buffer *ob;
	int stop; /* atomic: the sender is done */
	int failed;
};

static void *churn_epochs(void *opaque)
{
	struct churn *c = opaque;
	uint64_t e = 0;

	do {
		e++;
		if (output_buffer__close_epoch(c->ob, e) ||
		    (e > 1 && output_buffer__release(c->ob, e - 1)))
			c->failed = 1;
	} while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE));
	if (output_buffer__close_epoch(c->ob, e + 1) || output_buffer__release(c->ob, e + 1))
		c->failed = 1;
	return NULL;
}

#define CHURN_FRAMES 100

static void concurrent_epochs(void)
{
	struct virtio_net *net = open_nic(TAP);
	struct churn c = {.ob = make_ob(LIMIT, (struct output_buffer_full){0})};
	struct sockaddr_ll sll;
	int s = netns_packet_socket(TAP, &sll);
	int want[CHURN_FRAMES];
	pthread_t t;

	expect(virtio_net__set_output_buffer(net, c.ob) == 0, "attach");
	expect(pthread_create(&t, NULL, churn_epochs, &c) == 0, "pthread_create");
	for (int i = 0; i < CHURN_FRAMES; i++) {
		want[i] = i + 1;
		expect(send_frame(net, (uint8_t)(i + 1)) == 0, "transmit %d", i + 1);
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	expect(pthread_join(t, NULL) == 0, "pthread_join");
	expect(!c.failed, "an epoch operation failed");
	/* Every frame out once, in the guest's order, whichever epoch each fell in. */
	expect_frames(s, want, CHURN_FRAMES);
	expect_held(c.ob, 0, CHURN_FRAMES);
	expect(virtio_net__set_output_buffer(net, NULL) == 0, "detach");
	virtio_net__close(net);
	output_buffer__destroy(c.ob);
	close(s);
}

START_TEST(test_concurrent_epochs)
{
	run_in_netns(concurrent_epochs);
}
END_TEST

START_TEST(test_bad_epochs)
{
	struct output_buffer *ob;

	ck_assert_int_eq(output_buffer__create(0, (struct output_buffer_full){0}, &ob), -EINVAL);
	ck_assert_int_eq(output_buffer__create(LIMIT, (struct output_buffer_full){0}, &ob), 0);
	ck_assert_int_eq(output_buffer__release(ob, 0), -EINVAL); /* nothing closed yet */
	ck_assert_int_eq(output_buffer__close_epoch(ob, 5), 0);
	ck_assert_int_eq(output_buffer__close_epoch(ob, 5), -EINVAL);
	ck_assert_int_eq(output_buffer__close_epoch(ob, 3), -EINVAL);
	ck_assert_int_eq(output_buffer__release(ob, 6), -EINVAL); /* never closed */
	ck_assert_int_eq(output_buffer__close_epoch(ob, 6), 0);
	ck_assert_int_eq(output_buffer__release(ob, 5), 0);
	ck_assert_int_eq(output_buffer__release(ob, 5), -EINVAL); /* released already */
	ck_assert_int_eq(output_buffer__release(ob, 4), -EINVAL);
	ck_assert_int_eq(output_buffer__release(ob, 6), 0);
	output_buffer__destroy(ob);
}
END_TEST

Suite *output_buffer_suite(void)
{
	Suite *s = suite_create("output_buffer");
	TCase *tc = tcase_create("epochs");

	tcase_add_test(tc, test_bad_epochs);
	suite_add_tcase(s, tc);
	tc = tcase_create("netns");
	tcase_add_test(tc, test_hold_release);
	tcase_add_test(tc, test_release_all);
	tcase_add_test(tc, test_discard);
	tcase_add_test(tc, test_byte_limit);
	tcase_add_test(tc, test_detach_releases);
	tcase_add_test(tc, test_concurrent_epochs);
	suite_add_tcase(s, tc);
	return s;
}
