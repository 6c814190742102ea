/* The guest kit's virtio-net driver: receiveq0/transmitq0, one descriptor per frame, polled. */
#include "rt.h"

#include "virtio.h"
#include "vnet.h"

#define VIRTIO_NET_F_MAC (1ull << 5)
#define VNET_RXQ	 0
#define VNET_TXQ	 1
#define VNET_BUF	 2048 /* >= header + VNET_FRAME_MAX: no MRG_RXBUF needed */
/*
 * vnet__wait polls the RX ring for a while before it blocks, adaptively like
 * KVM's halt polling: a frame that comes within the window costs no WAIT_US
 * exit and no vCPU wakeup.  The window grows (doubling from VNET_POLL_GROW_US)
 * while a frame ends the wait within the cap, so traffic that keeps coming
 * finds the guest polling, and halves when a wait outlasts the cap or ends
 * without a frame, so an idle guest soon stops polling at all.  The cap is
 * cmdline poll_us= (0 = never poll).
 */
#define VNET_POLL_US_DEFAULT 200
#define VNET_POLL_GROW_US    10

/* With VERSION_1 the header always has num_buffers: 12 bytes, all zero on TX. */
struct virtio_net_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
};

static struct virtio_dev dev;
static struct virtq rxq, txq;
static struct vring_mem rxq_mem, txq_mem;
/* Buffers are indexed by the chain head that carries them (one descriptor each). */
static uint8_t rx_bufs[VQ_MAX][VNET_BUF] __attribute__((aligned(64)));
static uint8_t tx_bufs[VQ_MAX][VNET_BUF] __attribute__((aligned(64)));
static uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static uint64_t nrx, ntx;
static uint64_t poll_us = VNET_POLL_US_DEFAULT; /* the polling window's cap */
static uint64_t poll_window_us;			/* 0..poll_us, adapted by vnet__wait */

static int parse_mac(const char *s, uint8_t out[6])
{
	for (int i = 0; i < 6; i++) {
		char *end;
		unsigned long v = strtoul(s, &end, 16);

		if (end == s || end - s > 2 || v > 0xff || *end != (i < 5 ? ':' : '\0'))
			return -EINVAL;
		out[i] = (uint8_t)v;
		s = end + 1;
	}
	return 0;
}

static void post_rx(void)
{
	while (rxq.num_free) {
		uint16_t head = rxq.free_head;
		struct vq_buf b = {rx_bufs[head], VNET_BUF, 1};

		virtq__add(&rxq, &b, 1);
	}
	virtq__kick(&rxq);
}

int vnet__init(void)
{
	const char *m = args__get("mac");
	int rc;

	if (m && parse_mac(m, mac))
		return -EINVAL;
	if (args__u64("poll_us", VNET_POLL_US_DEFAULT, &poll_us) || poll_us > 1000000)
		return -EINVAL;
	rc = virtio__probe(&dev, VIRTIO_ID_NET, 0, VIRTIO_RING_F_EVENT_IDX | VIRTIO_NET_F_MAC);
	if (!rc)
		rc = virtio__setup_queue(&dev, VNET_RXQ, &rxq, &rxq_mem);
	if (!rc)
		rc = virtio__setup_queue(&dev, VNET_TXQ, &txq, &txq_mem);
	if (rc)
		return rc;
	/* We wait for frames only in vnet__wait, and never for TX completions but on a full ring.
	 */
	virtq__wake_on_arm(&rxq);
	virtq__wake_on_arm(&txq);
	if (!m && (dev.features & VIRTIO_NET_F_MAC) && dev.device_cfg)
		for (int i = 0; i < 6; i++)
			mac[i] = dev.device_cfg[i];
	virtio__ready(&dev);
	post_rx();
	return 0;
}

void vnet__mac(uint8_t out[6])
{
	memcpy(out, mac, 6);
}

static void reclaim_tx(void)
{
	while (virtq__get_used(&txq, NULL) >= 0)
		;
}

int vnet__send(const void *frame, size_t len)
{
	uint64_t end = 0;
	struct vq_buf b;
	uint16_t head;

	if (len > VNET_FRAME_MAX)
		return -EMSGSIZE;
	for (reclaim_tx(); !txq.num_free; reclaim_tx()) {
		if (!end)
			end = clock__us() + 1000000;
		else if (clock__us() > end)
			return -ENOSPC;
		virtq__kick(&txq);
		virtio__idle_on(&txq, 1000);
	}
	head = txq.free_head;
	memset(tx_bufs[head], 0, sizeof(struct virtio_net_hdr));
	memcpy(tx_bufs[head] + sizeof(struct virtio_net_hdr), frame, len);
	b = (struct vq_buf){tx_bufs[head], (uint32_t)(sizeof(struct virtio_net_hdr) + len), 0};
	virtq__add(&txq, &b, 1);
	ntx++;
	return 0;
}

void vnet__flush(void)
{
	virtq__kick(&txq);
}

int vnet__rx_ready(void)
{
	return virtq__has_used(&rxq);
}

int vnet__poll(vnet_rx_fn *fn, void *arg)
{
	int n = 0, head;
	uint32_t len;

	while ((head = virtq__get_used(&rxq, &len)) >= 0) {
		n++;
		if (len > sizeof(struct virtio_net_hdr) && len <= VNET_BUF)
			fn(arg, rx_bufs[head] + sizeof(struct virtio_net_hdr),
			   len - sizeof(struct virtio_net_hdr));
	}
	nrx += (uint64_t)n;
	if (n) {
		post_rx();
	}
	reclaim_tx();
	vnet__flush();
	return n;
}

void vnet__wait(uint32_t max_us)
{
	uint64_t start = clock__us(), blocked_us;

	while (clock__us() - start < poll_window_us) {
		if (virtq__has_used(&rxq))
			return; /* the window paid off: keep it */
		cpu__relax();
	}
	virtio__idle_on(&rxq, max_us);
	blocked_us = clock__us() - start;
	/* Grow only for a frame that came soon; a deadline or a late frame shrinks. */
	if (blocked_us <= poll_us && virtq__has_used(&rxq)) {
		poll_window_us = poll_window_us ? poll_window_us * 2 : VNET_POLL_GROW_US;
		if (poll_window_us > poll_us)
			poll_window_us = poll_us;
	} else {
		poll_window_us /= 2;
		if (poll_window_us < VNET_POLL_GROW_US)
			poll_window_us = 0;
	}
}

void vnet__stats(struct vnet_stats *st)
{
	*st = (struct vnet_stats){nrx, ntx, rxq.notifies, txq.notifies};
}
