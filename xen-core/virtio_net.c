/* virtio-net on a TAP: RX with backpressure, TX through one choke point, both on the I/O thread. */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <linux/virtio_net.h>
#include "iov.h"
#include "ioloop.h"
#include "log.h"
#include "output_buffer.h"
#include "tap.h"
#include "util.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "virtio_serve.h"
#include "vm.h"

#define NET_QUEUE_SIZE 256
/*
 * The header before every frame: 12 bytes (with num_buffers) once the driver
 * accepted VERSION_1, 10 for a legacy driver (MRG_RXBUF is never offered), and
 * the legacy header is the first 10 bytes of the other.  Users have net in scope.
 */
#define HDR_LEN (net->hdr_len)
/* Frames read per tap wakeup, dropped ones too, before other I/O-thread work gets a turn. */
#define RX_BATCH 64
/*
 * An announce is repeated, as QEMU's (qemu_announce_self: 5 rounds, 50 ms
 * then 100 ms more each time), so one lost frame does not leave the LAN's
 * switches and ARP caches pointing at the old host for minutes.
 */
#define ANNOUNCE_ROUNDS	  5
#define ANNOUNCE_FIRST_MS 50
#define ANNOUNCE_STEP_MS  100

struct virtio_net {
	struct virtio_dev vdev; /* first: the transport hands callbacks a vdev pointer */
	struct virtio_net_config config;
	int tap_fd;
	char name[32];
	size_t hdr_len; /* set at DRIVER_OK, with the I/O loop paused */
	/*
	 * Everything below is I/O-thread state (reset runs with the loop paused).
	 * rx_polling: the tap is watched for frames; off while the guest has
	 * no RX buffers, so frames wait in the tap's queue (backpressure).
	 * rx_held: rx_chain was popped but no frame has arrived for it yet.
	 */
	bool rx_polling;
	bool rx_held;
	bool tx_error_logged; /* atomic: a release sends from another thread */
	bool rx_trunc_logged;
	bool tap_gone; /* the tap failed for good: no longer watched */
	/* The guest's IPv4 address (network order) snooped from its TX; 0: none yet. Atomic. */
	uint32_t ipv4;
	/* Timer of the announce's repeats, on the I/O loop; -1 until registered. */
	int announce_fd;
	/* Announce frames sent in the current round of ANNOUNCE_ROUNDS.  Atomic. */
	unsigned int announced;
	struct vq_chain rx_chain;
	struct vq_chain tx_chain;
	/*
	 * The output-commit buffer every TX frame goes through while attached;
	 * NULL: frames go straight to the tap.  ob_lock guards ob, and is held
	 * across a frame's hand-off so a detach never races a transmit.
	 */
	pthread_mutex_t ob_lock;
	struct output_buffer *ob;
};

static const struct virtio_dev_ops net_ops;

static struct virtio_net *to_net(struct virtio_dev *vdev)
{
	return (struct virtio_net *)vdev;
}

int virtio_net__open(const char *tap, const char *bridge, const uint8_t mac[6], unsigned int index,
		     struct virtio_net **out, char *err, size_t errlen)
{
	struct virtio_net *net;
	int fd;

	fd = tap__open(tap, bridge, err, errlen);
	if (fd < 0)
		return fd;
	net = calloc(1, sizeof(*net));
	if (!net) {
		close(fd);
		util__set_err(err, errlen, "--nic tap=%s: out of memory", tap);
		return -ENOMEM;
	}
	net->tap_fd = fd;
	net->announce_fd = -1;
	pthread_mutex_init(&net->ob_lock, NULL);
	net->hdr_len = sizeof(struct virtio_net_hdr_v1);
	memcpy(net->config.mac, mac, 6);
	net->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	net->config.max_virtqueue_pairs = htole16(1);
	snprintf(net->name, sizeof(net->name), "virtio-net %u", index);
	*out = net;
	return 0;
}

void virtio_net__close(struct virtio_net *net)
{
	if (!net)
		return;
	if (net->ob) /* what it holds stays in it, for its owner to destroy */
		output_buffer__set_sink(net->ob, (struct output_buffer_sink){0});
	if (net->announce_fd >= 0)
		close(net->announce_fd);
	close(net->tap_fd);
	pthread_mutex_destroy(&net->ob_lock);
	free(net);
}

int virtio_net__tap_fd(const struct virtio_net *net)
{
	return net->tap_fd;
}

struct virtio_dev *virtio_net__vdev(struct virtio_net *net)
{
	return &net->vdev;
}

/* Ethernet and ARP (RFC 826) for IPv4 over Ethernet: the fields snooping and announcing use. */
#define ETH_HLEN_      14
#define ETHERTYPE_IP_  0x0800
#define ETHERTYPE_ARP_ 0x0806
#define ETHERTYPE_RARP 0x8035
#define ARP_LEN	       28
#define ETH_MIN_FRAME  60 /* without FCS */

static uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Every TX frame: remembers the guest's IPv4 address for the announce after
 * a migration.  One 42-byte copy of the headers; only frames with the NIC's
 * MAC as source count (the guest may bridge others), and never 0.0.0.0 (DHCP).
 */
static void snoop_ipv4(struct virtio_net *net, const struct iovec *iov, unsigned int cnt)
{
	uint8_t f[ETH_HLEN_ + ARP_LEN];
	size_t n = iov__to_buf(iov, cnt, 0, f, sizeof(f));
	const uint8_t *ip = NULL;
	uint32_t v;

	if (n < ETH_HLEN_ + 20 || memcmp(f + 6, net->config.mac, 6))
		return;
	if (be16_at(f + 12) == ETHERTYPE_ARP_ && n >= ETH_HLEN_ + ARP_LEN && be16_at(f + 14) == 1 &&
	    be16_at(f + 16) == ETHERTYPE_IP_ && f[18] == 6 && f[19] == 4)
		ip = f + ETH_HLEN_ + 14; /* sender protocol address */
	else if (be16_at(f + 12) == ETHERTYPE_IP_ && f[14] >> 4 == 4)
		ip = f + ETH_HLEN_ + 12; /* source address */
	if (!ip)
		return;
	memcpy(&v, ip, 4);
	if (v && v != __atomic_load_n(&net->ipv4, __ATOMIC_RELAXED))
		__atomic_store_n(&net->ipv4, v, __ATOMIC_RELAXED);
}

/* The tap write of one frame: the device's real send path, held frames' too.  Any thread. */
static int net_send(void *opaque, const struct iovec *iov, unsigned int cnt)
{
	struct virtio_net *net = opaque;
	ssize_t n;

	do
		n = writev(net->tap_fd, iov, cnt);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return 0;
	n = -errno;
	if (!__atomic_exchange_n(&net->tx_error_logged, true, __ATOMIC_RELAXED))
		log__warn("%s: sending a %zu-byte frame to the tap failed: %s; dropping it (logged "
			  "once)",
			  net->name, iov__size(iov, cnt), strerror(-n));
	return n;
}

int virtio_net__transmit(struct virtio_net *net, const struct iovec *iov, unsigned int cnt)
{
	int rc;

	snoop_ipv4(net, iov, cnt);
	/* Unprotected, the common case: no lock per frame (an attach pauses the I/O loop). */
	if (!__atomic_load_n(&net->ob, __ATOMIC_ACQUIRE))
		return net_send(net, iov, cnt);
	pthread_mutex_lock(&net->ob_lock);
	rc = net->ob ? output_buffer__transmit(net->ob, iov, cnt) : net_send(net, iov, cnt);
	pthread_mutex_unlock(&net->ob_lock);
	return rc;
}

int virtio_net__set_output_buffer(struct virtio_net *net, struct output_buffer *ob)
{
	int rc = 0;

	pthread_mutex_lock(&net->ob_lock);
	if (ob == net->ob)
		goto out;
	if (ob && output_buffer__set_sink(
		      ob, (struct output_buffer_sink){.send = net_send, .opaque = net})) {
		log__error(
		    "%s: the output buffer serves another NIC already: give each NIC its own",
		    net->name);
		rc = -EBUSY;
		goto out;
	}
	if (net->ob) {
		output_buffer__release_all(net->ob);
		output_buffer__set_sink(net->ob, (struct output_buffer_sink){0});
	}
	__atomic_store_n(&net->ob, ob, __ATOMIC_RELEASE);
	log__info("%s: output buffer %s", net->name, ob ? "attached" : "detached");
out:
	pthread_mutex_unlock(&net->ob_lock);
	return rc;
}

int virtio_net__tx(struct virtio_net *net, const struct vq_chain *chain, char *why, size_t whylen)
{
	struct iovec frame[VIRTQUEUE_MAX_SIZE];
	unsigned int cnt;

	if (chain->nr_in || chain->out_len < HDR_LEN) {
		util__set_err(why, whylen,
			      "TX chain with %u readable bytes and %u writable descriptors: it "
			      "needs a %zu-byte header and no writable part",
			      chain->out_len, chain->nr_in, HDR_LEN);
		return -EPROTO;
	}
	/* The header carries no offload requests (none are offered), so only the frame goes. */
	cnt = iov__slice(chain->iov, chain->nr_out, HDR_LEN, chain->out_len - HDR_LEN, frame);
	virtio_net__transmit(net, frame, cnt);
	return 0;
}

int virtio_net__rx(struct virtio_net *net, const struct vq_chain *chain, uint32_t *written,
		   unsigned int *budget, char *why, size_t whylen)
{
	const struct iovec *in = chain->iov + chain->nr_out;
	struct virtio_net_hdr_v1 hdr = {.num_buffers = htole16(1)};
	struct iovec frame[VIRTQUEUE_MAX_SIZE + 1];
	unsigned int cnt;
	uint8_t overflow;
	size_t room;
	ssize_t n;

	if (chain->nr_out || chain->in_len <= HDR_LEN) {
		util__set_err(why, whylen,
			      "RX chain with %u writable bytes and %u readable descriptors: it "
			      "needs room past the %zu-byte header and no readable part",
			      chain->in_len, chain->nr_out, HDR_LEN);
		return -EPROTO;
	}
	room = chain->in_len - HDR_LEN;
	cnt = iov__slice(in, chain->nr_in, HDR_LEN, room, frame);
	/* The tap cuts a frame to the buffer silently: a byte past it shows one was cut. */
	frame[cnt++] = (struct iovec){.iov_base = &overflow, .iov_len = 1};
	for (;;) {
		/* An oversize flood must not hold the I/O thread: the tap stays readable. */
		if (!*budget)
			return 0;
		n = readv(net->tap_fd, frame, cnt);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		--*budget;
		if ((size_t)n <= room)
			break;
		if (!net->rx_trunc_logged) {
			net->rx_trunc_logged = true;
			log__warn("%s: dropped a frame larger than the %zu-byte RX buffer "
				  "(logged once): the driver should post buffers of at least 1526 "
				  "bytes",
				  net->name, room);
		}
	}
	iov__from_buf(in, chain->nr_in, 0, &hdr, HDR_LEN);
	*written = HDR_LEN + n;
	return 1;
}

/* One GARP or RARP frame for the NIC on its tap (see virtio_net__announce). */
static int announce_once(struct virtio_net *net)
{
	uint8_t f[ETH_MIN_FRAME] = {0};
	uint8_t *arp = f + ETH_HLEN_;
	uint32_t ip = __atomic_load_n(&net->ipv4, __ATOMIC_RELAXED);
	struct iovec iov = {.iov_base = f, .iov_len = sizeof(f)};
	const uint8_t *mac = net->config.mac;

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = (ip ? ETHERTYPE_ARP_ : ETHERTYPE_RARP) >> 8;
	f[13] = (ip ? ETHERTYPE_ARP_ : ETHERTYPE_RARP) & 0xff;
	arp[1] = 1;		     /* hardware: Ethernet */
	arp[2] = ETHERTYPE_IP_ >> 8; /* protocol: IPv4 */
	arp[4] = 6;
	arp[5] = 4;
	arp[7] = ip ? 1 : 3;	  /* ARP request, or RARP "request reverse" */
	memcpy(arp + 8, mac, 6);  /* sender hardware address */
	memcpy(arp + 14, &ip, 4); /* sender IP: ours, or 0 */
	if (!ip)
		memcpy(arp + 18, mac, 6); /* RARP: whose IP is asked for */
	memcpy(arp + 24, &ip, 4);	  /* target IP = sender IP: an announcement */
	int rc = virtio_net__transmit(net, &iov, 1);

	if (rc)
		return rc;
	log__info("%s: announced %s", net->name, ip ? "with a gratuitous ARP" : "with a RARP");
	return 0;
}

/* Arms the timer for the repeat after the n-th frame (n >= 1), or disarms it after the last. */
static int arm_announce(struct virtio_net *net, unsigned int n)
{
	unsigned int ms = ANNOUNCE_FIRST_MS + ANNOUNCE_STEP_MS * (n - 1);
	struct itimerspec t = {0};

	if (n < ANNOUNCE_ROUNDS) {
		t.it_value.tv_sec = ms / 1000;
		t.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	}
	if (timerfd_settime(net->announce_fd, 0, &t, NULL) < 0) {
		int rc = -errno;

		log__error("%s: announce timer: %s: the announce is not repeated", net->name,
			   strerror(errno));
		return rc;
	}
	return 0;
}

/* I/O thread: the announce timer fired; send the next frame of the round. */
static void announce_due(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;
	uint64_t expirations;
	unsigned int n;

	(void)events;
	if (read(net->announce_fd, &expirations, sizeof(expirations)) < 0)
		return; /* EAGAIN: a restart re-armed it in between */
	n = __atomic_add_fetch(&net->announced, 1, __ATOMIC_RELAXED);
	if (n > ANNOUNCE_ROUNDS)
		return;
	announce_once(net);
	arm_announce(net, n);
}

int virtio_net__announce(struct virtio_net *net)
{
	int rc;

	/* A new announce (another migration) starts a new round. */
	__atomic_store_n(&net->announced, 1, __ATOMIC_RELAXED);
	rc = announce_once(net);
	if (rc)
		return rc;
	return net->announce_fd >= 0 ? arm_announce(net, 1) : 0;
}

unsigned int virtio_net__list(struct vm *vm, struct virtio_net **out, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int slot = 1; slot < PCI_MAX_SLOTS && n < max; slot++) {
		struct virtio_net *net = virtio_net__of(virtio_dev__of_pci(pci__device(vm, slot)));

		if (net)
			out[n++] = net;
	}
	return n;
}

struct virtio_net *virtio_net__of(struct virtio_dev *vdev)
{
	return vdev && vdev->ops == &net_ops ? to_net(vdev) : NULL;
}

static void set_rx_polling(struct virtio_net *net, bool on)
{
	if (net->rx_polling == on || net->tap_gone)
		return;
	if (ioloop__mod(net->vdev.vm->ioloop, net->tap_fd, on ? EPOLLIN : 0) == 0)
		net->rx_polling = on;
}

/*
 * I/O thread: the tap has frames; move them into RX buffers until either side
 * runs dry or RX_BATCH frames were read (the level-triggered tap fd calls again).
 */
static void tap_readable(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;
	struct virtio_dev *vdev = &net->vdev;
	unsigned int received = 0, budget = RX_BATCH;
	uint32_t written;
	char why[160];
	int rc = events & (EPOLLERR | EPOLLHUP) ? -EIO : 0;

	while (rc == 0 && budget) {
		/* A reset or a broken ring stopped the queue: a held buffer is no longer ours. */
		if (!__atomic_load_n(&vdev->queues[VIRTIO_NET_RXQ].ready, __ATOMIC_ACQUIRE)) {
			net->rx_held = false;
			set_rx_polling(net, false);
			break;
		}
		if (!net->rx_held) {
			if (virtio_dev__pop(vdev, VIRTIO_NET_RXQ, &net->rx_chain) <= 0) {
				/* No buffers (or a ring the transport found broken). */
				set_rx_polling(net, false);
				break;
			}
			net->rx_held = true;
		}
		rc = virtio_net__rx(net, &net->rx_chain, &written, &budget, why, sizeof(why));
		if (rc <= 0)
			break;
		rc = 0;
		virtio_dev__push(vdev, VIRTIO_NET_RXQ, &net->rx_chain, written);
		net->rx_held = false;
		received++;
	}
	if (rc == -EPROTO) {
		net->rx_held = false;
		set_rx_polling(net, false);
		virtio_dev__set_broken(vdev, "%s", why);
	} else if (rc < 0) {
		/* The tap was deleted or failed: stop watching it rather than spin on it. */
		log__error("%s: the tap failed (%s): the NIC receives nothing more; recreate "
			   "the VM to reconnect it",
			   net->name, strerror(-rc));
		ioloop__del(vdev->vm->ioloop, net->tap_fd);
		net->tap_gone = true;
		net->rx_polling = false;
	}
	if (received)
		virtio_dev__notify_used(vdev, VIRTIO_NET_RXQ);
}

/* A TX chain is only read: its used length is 0. */
static int tx_serve(struct virtio_dev *vdev, const struct vq_chain *chain, uint32_t *written,
		    char *why, size_t whylen)
{
	*written = 0;
	return virtio_net__tx(to_net(vdev), chain, why, whylen);
}

/*
 * I/O thread: TX sends a batch of what the driver queued and comes back for
 * the rest; RX means new buffers, so watch the tap again.
 */
static void net_queue_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_net *net = to_net(vdev);

	if (q == VIRTIO_NET_TXQ)
		virtio_serve__queue(vdev, q, &net->tx_chain, VIRTIO_SERVE_BATCH, tx_serve);
	else if (q == VIRTIO_NET_RXQ)
		set_rx_polling(net, true);
}

/* vCPU thread, I/O loop paused: the features are final, and with them the header size. */
static void net_driver_ok(struct virtio_dev *vdev)
{
	to_net(vdev)->hdr_len = virtio_dev__has_feature(vdev, VIRTIO_F_VERSION_1)
				    ? sizeof(struct virtio_net_hdr_v1)
				    : sizeof(struct virtio_net_hdr);
}

/* vCPU thread, I/O loop paused: forget the held buffer; frames wait in the tap meanwhile. */
static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *net = to_net(vdev);

	net->rx_held = false;
	set_rx_polling(net, false);
}

/* vm__destroy, I/O thread stopped. */
static void net_release(struct virtio_dev *vdev)
{
	virtio_net__close(to_net(vdev));
}

_Static_assert(sizeof(struct virtio_net_state) == 16, "virtio_net_state has no padding");

/* Transport lock held, VM and I/O loop paused. */
static void net_state_save(struct virtio_dev *vdev, void *buf)
{
	struct virtio_net *net = to_net(vdev);
	struct virtio_net_state st = {
	    .version = VIRTIO_NET_STATE_VERSION,
	    .status = le16toh(net->config.status),
	};
	uint32_t ip = __atomic_load_n(&net->ipv4, __ATOMIC_RELAXED);

	memcpy(st.mac, net->config.mac, 6);
	memcpy(st.ipv4, &ip, 4);
	memcpy(buf, &st, sizeof(st));
}

static int net_state_check(struct virtio_dev *vdev, const void *buf, char *err, size_t errlen)
{
	struct virtio_net *net = to_net(vdev);
	struct virtio_net_state st;
	const uint8_t *m;

	memcpy(&st, buf, sizeof(st));
	if (st.version != VIRTIO_NET_STATE_VERSION || st.status & ~VIRTIO_NET_S_LINK_UP) {
		util__set_err(err, errlen,
			      "%s: NIC state version %u (this build knows %u) or status 0x%x "
			      "unknown: restore with the Twin that saved it",
			      net->name, st.version, VIRTIO_NET_STATE_VERSION, st.status);
		return -EINVAL;
	}
	if (memcmp(st.mac, net->config.mac, 6)) {
		m = net->config.mac;
		util__set_err(err, errlen,
			      "%s: the saved guest has MAC %02x:%02x:%02x:%02x:%02x:%02x, this NIC "
			      "%02x:%02x:%02x:%02x:%02x:%02x: give it --nic ...,mac=%02x:%02x:%02x:"
			      "%02x:%02x:%02x",
			      net->name, st.mac[0], st.mac[1], st.mac[2], st.mac[3], st.mac[4],
			      st.mac[5], m[0], m[1], m[2], m[3], m[4], m[5], st.mac[0], st.mac[1],
			      st.mac[2], st.mac[3], st.mac[4], st.mac[5]);
		return -EINVAL;
	}
	return 0;
}

/* After the checks: also forgets a held RX buffer, which the rewound queue pops again. */
static void net_state_restore(struct virtio_dev *vdev, const void *buf)
{
	struct virtio_net *net = to_net(vdev);
	struct virtio_net_state st;
	uint32_t ip;

	memcpy(&st, buf, sizeof(st));
	memcpy(&ip, st.ipv4, 4);
	net->config.status = htole16(st.status);
	__atomic_store_n(&net->ipv4, ip, __ATOMIC_RELAXED);
	net->rx_held = false;
	set_rx_polling(net, false); /* the RX queue's kick at resume watches the tap again */
	if (vdev->status & VIRTIO_STATUS_DRIVER_OK)
		net_driver_ok(vdev);
}

static const struct virtio_dev_ops net_ops = {
    .queue_notify = net_queue_notify,
    .driver_ok = net_driver_ok,
    .reset = net_reset,
    .release = net_release,
    .state_size = sizeof(struct virtio_net_state),
    .state_save = net_state_save,
    .state_check = net_state_check,
    .state_restore = net_state_restore,
};

int virtio_net__register(struct virtio_net *net, struct vm *vm, bool legacy)
{
	int rc;

	net->vdev = (struct virtio_dev){
	    .name = net->name,
	    .device_id = VIRTIO_ID_NET,
	    .features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS),
	    .nr_queues = 2,
	    .queue_max_size = NET_QUEUE_SIZE,
	    .config = &net->config,
	    .config_len = sizeof(net->config),
	    .legacy = legacy,
	    .ops = &net_ops,
	};
	rc = virtio_dev__register(vm, &net->vdev);
	if (rc) {
		virtio_net__close(net); /* not the VM's yet: ours to free */
		return rc;
	}
	/* Watched with no events until the driver posts RX buffers. */
	rc = ioloop__add(vm->ioloop, net->tap_fd, 0, tap_readable, net);
	if (rc)
		return rc;
	/* The VM owns net now: vm__destroy closes the timer with it, ending any round. */
	net->announce_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (net->announce_fd < 0) {
		rc = -errno;
		log__error("%s: timerfd_create: %s: raise the open-file limit (ulimit -n)",
			   net->name, strerror(errno));
		return rc;
	}
	return ioloop__add(vm->ioloop, net->announce_fd, EPOLLIN, announce_due, net);
}
