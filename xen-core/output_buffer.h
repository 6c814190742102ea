/* Output commit: a NIC's TX frames held per epoch until the backup acks the epoch's state. */
#ifndef XEN_CORE_OUTPUT_BUFFER_H
#define XEN_CORE_OUTPUT_BUFFER_H
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct output_buffer;

/*
 * Threads: output_buffer__transmit runs on the NIC's I/O thread; every other
 * call may come from another thread (the replication thread).  One mutex
 * guards the buffer; frames a call lets out are written to the sink with it
 * held, so frames reach the wire in the order the guest sent them and a
 * transmit waits while a release writes (writes to a tap do not block).
 *
 * Epochs: frames are held in the open epoch until output_buffer__close_epoch
 * names it; the numbers given to close_epoch strictly increase.
 * output_buffer__release(N) lets out every frame of epochs <= N, which must
 * be closed and not yet released.
 *
 * Full: the held bytes never exceed the limit given at creation.  A frame
 * that would exceed it is dropped and counted in overflow_drops, as a
 * congested link drops (TCP retransmits it; the output-commit invariant
 * holds, since nothing unacked leaves), and the full callback asks for an
 * early checkpoint, whose ACK makes room.  The guest is never blocked.
 */

/*
 * Called on the I/O thread, with no lock held, once when the buffer first
 * drops a frame, and again only after a release has made room.  It must not
 * block; it may call output_buffer__close_epoch and __stats, but not
 * virtio_net__set_output_buffer (the NIC's lock is held).
 */
struct output_buffer_full {
	void (*fn)(void *opaque);
	void *opaque;
};

/*
 * Event-triggered checkpoints (replication's event and hybrid modes): called
 * on the I/O thread, with no lock held, each time a frame is held into an
 * open epoch that was empty, i.e. the guest has new output waiting for a
 * checkpoint.  It must not block; the same calls as the full callback.
 */
struct output_buffer_trigger {
	void (*fn)(void *opaque);
	void *opaque;
};

/* Where let-out frames go: the NIC's send path (virtio_net__set_output_buffer sets it). */
struct output_buffer_sink {
	int (*send)(void *opaque, const struct iovec *iov, unsigned int cnt);
	void *opaque;
};

/* For query-replication.  Ages on CLOCK_MONOTONIC. */
struct output_buffer_stats {
	uint64_t held_bytes;
	uint64_t held_frames;
	uint64_t oldest_age_ns; /* how long the oldest held frame has waited; 0 if none */
	uint64_t released_frames;
	uint64_t overflow_drops;
	uint64_t discarded_frames; /* dropped by output_buffer__discard */
	int holding;		   /* 0: passing frames straight through (after release_all) */
};

/*
 * A buffer holding at most limit bytes of frames (limit > 0), holding from
 * the start; full may have a NULL fn.  0, -EINVAL or -ENOMEM.
 */
int output_buffer__create(size_t limit, struct output_buffer_full full, struct output_buffer **out);
/* Sets (fn NULL: clears) the trigger; any thread, it applies from the next frame. */
void output_buffer__set_trigger(struct output_buffer *ob, struct output_buffer_trigger trigger);
/* Frees the buffer and drops what it holds; detach it from its NIC first.  NULL is a no-op. */
void output_buffer__destroy(struct output_buffer *ob);

/*
 * Sets the sink, or clears it with send NULL; -EBUSY if one is set already
 * (a buffer serves one NIC at a time).  Frames held stay held:
 * virtio_net__set_output_buffer lets them out before it clears the sink.
 */
int output_buffer__set_sink(struct output_buffer *ob, struct output_buffer_sink sink);

/*
 * I/O thread: one frame the guest sends (iov points into guest RAM, so a
 * held frame is copied).  Held: 0.  Passed through: the sink's result.
 * Dropped because the buffer is full: -ENOBUFS.  Out of memory: -ENOMEM
 * (dropped too).
 */
int output_buffer__transmit(struct output_buffer *ob, const struct iovec *iov, unsigned int cnt);

/*
 * The open epoch is epoch: the frames held since the last close belong to
 * it, and later frames to the next one.  -EINVAL unless epoch is greater
 * than every epoch closed before.
 */
int output_buffer__close_epoch(struct output_buffer *ob, uint64_t epoch);
/*
 * ACK(epoch): lets out every frame of epochs <= epoch, oldest first, and
 * frees them.  -EINVAL unless epoch was closed and not yet released.
 */
int output_buffer__release(struct output_buffer *ob, uint64_t epoch);
/*
 * Degraded mode: lets out everything held, the open epoch too, and passes
 * later frames straight through until output_buffer__arm.
 */
void output_buffer__release_all(struct output_buffer *ob);
/*
 * A fenced VM's end (DESIGN.md §8: nothing unacked may leave a node outside quorum): frees
 * every held frame without letting it out, counted in discarded_frames.  Holding goes on.
 */
void output_buffer__discard(struct output_buffer *ob);
/* Holds frames again, in a new open epoch (after the last closed one); no-op while holding. */
void output_buffer__arm(struct output_buffer *ob);

void output_buffer__stats(struct output_buffer *ob, struct output_buffer_stats *st);

#endif
