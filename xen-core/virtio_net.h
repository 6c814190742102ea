/* virtio-net (device id 1) on a TAP device: one RX and one TX queue, served on the I/O thread. */
#ifndef XEN_CORE_VIRTIO_NET_H
#define XEN_CORE_VIRTIO_NET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm;
struct vq_chain;
struct virtio_dev;
struct virtio_net;
struct output_buffer;

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

/*
 * Opens (creating if needed) the TAP device tap, attached to bridge unless
 * NULL (see tap__open), for a NIC with address mac; index numbers the NIC in
 * logs.  Returns 0 or -errno with one line in err naming the problem and fix.
 */
int virtio_net__open(const char *tap, const char *bridge, const uint8_t mac[6], unsigned int index,
		     struct virtio_net **out, char *err, size_t errlen);
/* Closes a NIC that was never registered (a VM frees its own); NULL is a no-op. */
void virtio_net__close(struct virtio_net *net);
/*
 * Before vm__start: makes net a virtio-pci function of vm (features MAC,
 * STATUS, plus the transport's VERSION_1 and EVENT_IDX), modern-only or, with
 * legacy, transitional (a legacy driver gets the 10-byte header), and watches
 * the tap on the VM's I/O loop.  Consumes net: the VM frees it in
 * vm__destroy, or this call does on failure.  0 or -errno, logged.
 */
int virtio_net__register(struct virtio_net *net, struct vm *vm, bool legacy);

/*
 * The single exit for guest frames: writes one Ethernet frame (no virtio
 * header) to the tap, or hands it to the attached output buffer, which holds
 * it until its epoch is acked.  Every TX frame passes here and nowhere else.
 * I/O thread only (output_buffer.h's threading note says why and names the
 * one exception, virtio_net__announce's first frame).  0 or -errno (output_buffer__transmit's while one is attached);
 * a failed frame is dropped (and logged once), as a NIC would.
 */
int virtio_net__transmit(struct virtio_net *net, const struct iovec *iov, unsigned int cnt);
/*
 * Attaches ob (created by the caller, who still owns it) as the NIC's output
 * buffer: from now on virtio_net__transmit hands every frame to it, and what
 * it lets out goes to the tap.  NULL detaches: the buffer lets out all it
 * holds first (output_buffer__release_all, so it is left passing through);
 * attaching another buffer detaches the old one so too.  Any thread: waits
 * for a transmit in progress.  0, or -EBUSY if ob serves another NIC.
 * virtio_net__close detaches without letting out.  Attaching while the VM's
 * I/O loop runs, a frame in flight may still pass unheld (it was sent before
 * the attach); replication attaches with the VM and its I/O loop paused, so
 * none is.
 */
int virtio_net__set_output_buffer(struct virtio_net *net, struct output_buffer *ob);

/*
 * The per-chain halves of the queue handlers, exposed for unit tests; I/O
 * thread.  tx sends the frame in a TX chain through virtio_net__transmit.  rx
 * reads one frame from the tap into an RX chain behind a virtio-net header
 * (12 bytes, or 10 once a legacy driver set DRIVER_OK) and sets *written: 1, or 0 if the tap has no
 * frame (frames larger than the chain are dropped, as a NIC drops oversize frames).  Every frame
 * rx reads, dropped or not, uses one of *budget; with none left it returns 0 and reads nothing
 * more (the tap may still hold frames).  Both return -EPROTO with the reason in why for a chain a
 * driver may not post (the caller marks the device broken).
 */
int virtio_net__tx(struct virtio_net *net, const struct vq_chain *chain, char *why, size_t whylen);
int virtio_net__rx(struct virtio_net *net, const struct vq_chain *chain, uint32_t *written,
		   unsigned int *budget, char *why, size_t whylen);
/* The DEVICE_STATE version of struct virtio_net_state (migrate/STREAM.md). */
#define VIRTIO_NET_STATE_VERSION 1

/*
 * The NIC's own state, after the transport's in its DEVICE_STATE.  A restore
 * refuses another MAC: the guest's driver read the MAC once at probe and its
 * peers' ARP caches hold it, so a NIC with another address would disagree
 * with the guest it carries; give the destination --nic ...,mac=SAVED.
 */
struct virtio_net_state {
	uint32_t version; /* VIRTIO_NET_STATE_VERSION */
	uint8_t mac[6];
	uint16_t status; /* config status bits (VIRTIO_NET_S_LINK_UP) */
	uint8_t ipv4[4]; /* the guest's address seen in its TX frames; 0.0.0.0: none yet */
};

/*
 * Announces the NIC on the LAN on the guest's behalf, through
 * virtio_net__transmit: a gratuitous ARP (an ARP announcement, RFC 5227) for
 * the guest's IPv4 address snooped from its TX frames (the sender of its
 * ARPs or the source of its IPv4 packets sent with its MAC), or without one
 * a RARP for the MAC, as QEMU announces.  Sends the first frame at once and
 * repeats it on the VM's I/O loop 4 more times, 50, 150, 250 and 350 ms apart
 * (QEMU's defaults); a new call starts a new round, vm__destroy ends one.
 * Any thread.  0 or -errno (logged) for the first frame or the timer.
 */
int virtio_net__announce(struct virtio_net *net);
/* The VM's NICs in PCI slot order: up to max of them into out; returns how many. */
unsigned int virtio_net__list(struct vm *vm, struct virtio_net **out, unsigned int max);
/* The NIC behind a virtio device, or NULL if it is not a virtio-net one. */
struct virtio_net *virtio_net__of(struct virtio_dev *vdev);

/* The tap's fd, non-blocking (tests poll it to know a frame is waiting; a backup drains it). */
int virtio_net__tap_fd(const struct virtio_net *net);
/* The NIC's transport device (tests call its queue_notify as the I/O loop would). */
struct virtio_dev *virtio_net__vdev(struct virtio_net *net);

#endif
