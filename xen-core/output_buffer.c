/* Output commit: held TX frames in one FIFO, stamped with their epoch when it closes. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include "iov.h"
#include "log.h"
#include "output_buffer.h"

struct held_frame {
	struct held_frame *next;
	uint64_t epoch; /* valid once closed */
	bool closed;
	uint64_t since_ns; /* CLOCK_MONOTONIC when held */
	size_t len;
	uint8_t data[];
};

struct output_buffer {
	pthread_mutex_t lock; /* guards everything below */
	size_t limit;
	struct output_buffer_full full;
	struct output_buffer_trigger trigger;
	struct output_buffer_sink sink;
	bool holding;
	bool full_signalled; /* the full callback ran and no release has made room since */
	/* Oldest first; the frames of the open epoch are the tail from open_first on. */
	struct held_frame *head, **tailp, *open_first;
	bool any_closed, any_released;
	uint64_t last_closed, last_released;
	struct output_buffer_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int output_buffer__create(size_t limit, struct output_buffer_full full, struct output_buffer **out)
{
	struct output_buffer *ob;
	int r;

	if (!limit)
		return -EINVAL;
	ob = calloc(1, sizeof(*ob));
	if (!ob)
		return -ENOMEM;
	r = pthread_mutex_init(&ob->lock, NULL);
	if (r) {
		free(ob);
		return -r;
	}
	ob->limit = limit;
	ob->full = full;
	ob->holding = true;
	ob->tailp = &ob->head;
	*out = ob;
	return 0;
}

static void free_frames(struct held_frame *f)
{
	while (f) {
		struct held_frame *next = f->next;

		free(f);
		f = next;
	}
}

void output_buffer__destroy(struct output_buffer *ob)
{
	if (!ob)
		return;
	free_frames(ob->head);
	pthread_mutex_destroy(&ob->lock);
	free(ob);
}

void output_buffer__set_trigger(struct output_buffer *ob, struct output_buffer_trigger trigger)
{
	pthread_mutex_lock(&ob->lock);
	ob->trigger = trigger;
	pthread_mutex_unlock(&ob->lock);
}

int output_buffer__set_sink(struct output_buffer *ob, struct output_buffer_sink sink)
{
	int rc = 0;

	pthread_mutex_lock(&ob->lock);
	if (sink.send && ob->sink.send)
		rc = -EBUSY;
	else
		ob->sink = sink;
	pthread_mutex_unlock(&ob->lock);
	return rc;
}

/* Lock held: a frame goes out through the sink (a sink's failure drops it, as a NIC would). */
static int send_out(struct output_buffer *ob, const struct iovec *iov, unsigned int cnt)
{
	return ob->sink.send ? ob->sink.send(ob->sink.opaque, iov, cnt) : -ENOTCONN;
}

/* Lock held: lets out and frees the held frames up to (not including) stop. */
static void let_out_until(struct output_buffer *ob, const struct held_frame *stop)
{
	while (ob->head && ob->head != stop) {
		struct held_frame *f = ob->head;
		struct iovec iov = {.iov_base = f->data, .iov_len = f->len};

		ob->head = f->next;
		send_out(ob, &iov, 1);
		ob->st.held_bytes -= f->len;
		ob->st.held_frames--;
		ob->st.released_frames++;
		free(f);
	}
	if (!ob->head) {
		ob->tailp = &ob->head;
		ob->open_first = NULL;
	}
	ob->full_signalled = false;
}

int output_buffer__transmit(struct output_buffer *ob, const struct iovec *iov, unsigned int cnt)
{
	size_t len = iov__size(iov, cnt);
	struct held_frame *f;
	struct output_buffer_trigger trigger = {0};
	bool signal = false;
	int rc = 0;

	pthread_mutex_lock(&ob->lock);
	if (!ob->holding) {
		rc = send_out(ob, iov, cnt);
		goto out;
	}
	if (len > ob->limit - ob->st.held_bytes) {
		ob->st.overflow_drops++;
		signal = !ob->full_signalled && ob->full.fn;
		ob->full_signalled = true;
		rc = -ENOBUFS;
		goto out;
	}
	f = malloc(sizeof(*f) + len);
	if (!f) {
		rc = -ENOMEM;
		goto out;
	}
	iov__to_buf(iov, cnt, 0, f->data, len);
	f->next = NULL;
	f->closed = false;
	f->epoch = 0;
	f->since_ns = now_ns();
	f->len = len;
	*ob->tailp = f;
	ob->tailp = &f->next;
	if (!ob->open_first) {
		ob->open_first = f;
		trigger = ob->trigger;
	}
	ob->st.held_bytes += len;
	ob->st.held_frames++;
out:
	pthread_mutex_unlock(&ob->lock);
	if (signal)
		ob->full.fn(ob->full.opaque);
	if (trigger.fn)
		trigger.fn(trigger.opaque);
	return rc;
}

int output_buffer__close_epoch(struct output_buffer *ob, uint64_t epoch)
{
	int rc = 0;

	pthread_mutex_lock(&ob->lock);
	if (ob->any_closed && epoch <= ob->last_closed) {
		log__error(
		    "output buffer: epoch %llu closed after epoch %llu: epochs must increase",
		    (unsigned long long)epoch, (unsigned long long)ob->last_closed);
		rc = -EINVAL;
		goto out;
	}
	for (struct held_frame *f = ob->open_first; f; f = f->next) {
		f->epoch = epoch;
		f->closed = true;
	}
	ob->open_first = NULL;
	ob->any_closed = true;
	ob->last_closed = epoch;
out:
	pthread_mutex_unlock(&ob->lock);
	return rc;
}

int output_buffer__release(struct output_buffer *ob, uint64_t epoch)
{
	struct held_frame *stop;
	int rc = 0;

	pthread_mutex_lock(&ob->lock);
	if (!ob->any_closed || epoch > ob->last_closed ||
	    (ob->any_released && epoch <= ob->last_released)) {
		log__error("output buffer: release of epoch %llu, which is not closed or was "
			   "released already",
			   (unsigned long long)epoch);
		rc = -EINVAL;
		goto out;
	}
	/* Epochs only grow along the FIFO, and the open epoch is its tail. */
	for (stop = ob->head; stop && stop->closed && stop->epoch <= epoch; stop = stop->next)
		;
	let_out_until(ob, stop);
	ob->any_released = true;
	ob->last_released = epoch;
out:
	pthread_mutex_unlock(&ob->lock);
	return rc;
}

void output_buffer__release_all(struct output_buffer *ob)
{
	pthread_mutex_lock(&ob->lock);
	let_out_until(ob, NULL);
	if (ob->any_closed) {
		ob->any_released = true;
		ob->last_released = ob->last_closed;
	}
	ob->holding = false;
	pthread_mutex_unlock(&ob->lock);
}

void output_buffer__discard(struct output_buffer *ob)
{
	pthread_mutex_lock(&ob->lock);
	for (struct held_frame *f = ob->head; f; f = f->next)
		ob->st.discarded_frames++;
	free_frames(ob->head);
	ob->head = ob->open_first = NULL;
	ob->tailp = &ob->head;
	ob->st.held_bytes = ob->st.held_frames = 0;
	ob->full_signalled = false;
	pthread_mutex_unlock(&ob->lock);
}

void output_buffer__arm(struct output_buffer *ob)
{
	pthread_mutex_lock(&ob->lock);
	ob->holding = true;
	pthread_mutex_unlock(&ob->lock);
}

void output_buffer__stats(struct output_buffer *ob, struct output_buffer_stats *st)
{
	pthread_mutex_lock(&ob->lock);
	*st = ob->st;
	st->holding = ob->holding;
	st->oldest_age_ns = ob->head ? now_ns() - ob->head->since_ns : 0;
	pthread_mutex_unlock(&ob->lock);
}
