/* The guest kit's virtio-net driver: polled RX and TX of whole Ethernet frames, for
 * tests/guests/net. */
#ifndef GUESTS_RT_VNET_H
#define GUESTS_RT_VNET_H

#include <stddef.h>
#include <stdint.h>

#define VNET_FRAME_MAX 1514 /* Ethernet II without FCS: no GSO, no jumbo frames */

/*
 * Find and start the first virtio-net device, with every RX buffer posted.
 * The MAC is the cmdline's `mac=` when given, else the device's config, else
 * 52:54:00:12:34:56.  0 or -errno (-ENODEV: none, -EINVAL: bad mac= or poll_us=).
 */
int vnet__init(void);
void vnet__mac(uint8_t mac[6]);

/*
 * Queue one frame for transmission (copied; the caller's buffer is free on
 * return).  The device is notified at the next vnet__poll or vnet__flush, so
 * a burst of replies costs one notification at most.  0, -EMSGSIZE, or
 * -ENOSPC when the ring stays full for a second.
 */
int vnet__send(const void *frame, size_t len);
/* Notify the device of queued frames, if it wants to be. */
void vnet__flush(void);

/*
 * Hand every received frame to fn (frame valid only during the call; fn may
 * vnet__send), repost the buffers, reclaim sent ones, then vnet__flush.
 * Returns the number of frames received.
 */
typedef void vnet_rx_fn(void *arg, const void *frame, size_t len);
int vnet__poll(vnet_rx_fn *fn, void *arg);
/* Whether a frame is waiting (cheap: one shared-memory read). */
int vnet__rx_ready(void);
/*
 * Idle until a frame may have arrived, for at most max_us: first poll the RX
 * ring for an adaptive window (0 up to cmdline poll_us=, default 200; it grows
 * while frames keep coming soon after a block and shrinks when they stop),
 * then block (WAIT_US under Twin, woken by the RX kick; a pause loop under QEMU).
 */
void vnet__wait(uint32_t max_us);

struct vnet_stats {
	uint64_t rx, tx, rx_notifies, tx_notifies;
};
void vnet__stats(struct vnet_stats *st);

#endif
