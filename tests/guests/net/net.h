/* The guest network stack's API: Ethernet, ARP, IPv4, ICMP echo and UDP over one interface. */
#ifndef GUESTS_NET_NET_H
#define GUESTS_NET_NET_H

#include <stddef.h>
#include <stdint.h>

/*
 * Built twice: freestanding into the guests (with rt/rt.h's libc subset) and
 * hosted into the unit tests and fuzz targets.  No malloc, no global state:
 * everything lives in struct net_if.  Not thread-safe; call every function of
 * one interface from one CPU.  Nothing here ever calls net__input back.
 *
 * Addresses: IPv4 addresses, masks and ports are host-order integers
 * (198.18.2.10 is 0xc612020a); MACs are 6 bytes in wire order.
 * Frames are Ethernet II without FCS, as virtio-net hands them over after its
 * virtio_net_hdr; the stack pads what it sends to the 60-byte minimum.
 */

#define NET_ETH_ALEN	    6
#define NET_ETH_HLEN	    14
#define NET_MTU		    1500
#define NET_FRAME_MAX	    (NET_ETH_HLEN + NET_MTU) /* 1514 */
#define NET_UDP_PAYLOAD_MAX (NET_MTU - 20 - 8)	     /* 1472: no fragments */
#define NET_ARP_ENTRIES	    16
#define NET_UDP_BINDINGS    8

/* Why net__input dropped a frame; counted in net_stats.drop[]. */
enum net_drop {
	NET_DROP_SHORT,	    /* shorter than a header or than its own length field */
	NET_DROP_NOT_US,    /* Ethernet or IPv4 destination is not ours */
	NET_DROP_ETHERTYPE, /* neither ARP nor IPv4 */
	NET_DROP_ARP,	    /* not Ethernet/IPv4 ARP, or an unknown op */
	NET_DROP_IP_HDR,    /* version is not 4, IHL < 5 or total length < IHL */
	NET_DROP_IP_CSUM,   /* IPv4 header checksum */
	NET_DROP_IP_FRAG,   /* a fragment (MF set or offset != 0): not reassembled */
	NET_DROP_BAD_SRC,   /* source is 0, broadcast, multicast or our own address */
	NET_DROP_PROTO,	    /* IPv4 protocol other than ICMP and UDP */
	NET_DROP_ICMP,	    /* ICMP checksum, or a type other than echo request */
	NET_DROP_UDP,	    /* UDP length or checksum */
	NET_DROP_NO_PORT,   /* UDP to a port nobody bound */
	NET_DROP_MAX
};
const char *net__drop_to_str(enum net_drop d);

struct net_stats {
	uint64_t rx;	       /* frames given to net__input */
	uint64_t tx;	       /* frames handed to tx() that it accepted */
	uint64_t tx_err;       /* frames tx() refused */
	uint64_t arp_replies;  /* ARP replies sent for our address */
	uint64_t arp_requests; /* ARP requests sent to resolve a peer */
	uint64_t
	    arp_overwrites; /* queued frames replaced by a newer one (RFC 1122 keeps the latest) */
	uint64_t icmp_echo; /* echo replies sent */
	uint64_t udp_rx;    /* datagrams delivered to a handler */
	uint64_t drop[NET_DROP_MAX];
};

struct net_if;

/*
 * Receives one UDP datagram to a bound port, synchronously from net__input.
 * data points into the frame given to net__input and is valid only during the
 * call.  The handler may call net__udp_send (for example to reply).
 */
typedef void net_udp_handler(struct net_if *nif, void *arg, uint32_t src_ip, uint16_t src_port,
			     const void *data, size_t len);

/* Internal state, in the struct so that it needs no allocation; do not touch. */
enum net_arp_state { NET_ARP_FREE, NET_ARP_PENDING, NET_ARP_RESOLVED };
struct net_arp_entry {
	enum net_arp_state state;
	uint32_t ip;
	uint8_t mac[NET_ETH_ALEN];
	uint64_t used;		       /* LRU stamp: the oldest entry is reused when full */
	size_t queued_len;	       /* 0, or the latest frame waiting for the reply */
	uint8_t queued[NET_FRAME_MAX]; /* Ethernet header filled in on resolution */
};
struct net_udp_binding {
	uint16_t port; /* 0: free */
	net_udp_handler *fn;
	void *arg;
};

struct net_if {
	/* Set by net__init. */
	uint8_t mac[NET_ETH_ALEN];
	uint32_t ip, mask;
	/* Sends one complete frame; returns 0 or a negative errno.  The frame is
	 * only valid during the call. */
	int (*tx)(void *opaque, const void *frame, size_t len);
	void *opaque;

	struct net_stats stats;

	struct net_arp_entry arp[NET_ARP_ENTRIES];
	uint64_t arp_clock;
	struct net_udp_binding udp[NET_UDP_BINDINGS];
	uint16_t ip_id;
	uint8_t txbuf[NET_FRAME_MAX];
};

/* Resets nif (ARP cache, bindings, stats) and sets its addresses and transmit hook. */
void net__init(struct net_if *nif, const uint8_t mac[NET_ETH_ALEN], uint32_t ip, uint32_t mask,
	       int (*tx)(void *opaque, const void *frame, size_t len), void *opaque);

/*
 * Handles one received frame: answers ARP requests for our address and learns
 * the sender (RFC 826), completes pending resolutions, answers ICMP echo
 * requests, delivers UDP datagrams to bound ports.  Anything else, and any
 * malformed frame, is dropped and counted in stats.drop[] by reason.
 */
void net__input(struct net_if *nif, const void *frame, size_t len);

/*
 * Calls fn(nif, arg, ...) for every datagram to port.  Returns 0, -EINVAL
 * (port 0 or fn NULL), -EADDRINUSE or -ENOSPC (NET_UDP_BINDINGS in use).
 */
int net__udp_bind(struct net_if *nif, uint16_t port, net_udp_handler *fn, void *arg);

/*
 * Sends len bytes from src_port to dst_ip:dst_port, which must be on our
 * subnet.  An unresolved peer gets an ARP request and the frame waits for the
 * reply (only the latest one per peer, as RFC 1122 2.3.2.2 asks).  Returns 0
 * when the frame was sent or queued, -EMSGSIZE (len > NET_UDP_PAYLOAD_MAX),
 * -ENETUNREACH (dst_ip is off-link, 0, broadcast or ours), or tx()'s error.
 */
int net__udp_send(struct net_if *nif, uint32_t dst_ip, uint16_t dst_port, uint16_t src_port,
		  const void *data, size_t len);

/* Copies ip's resolved MAC into mac; 0, or -ENOENT when it is not (yet) resolved. */
int net__arp_lookup(const struct net_if *nif, uint32_t ip, uint8_t mac[NET_ETH_ALEN]);

/* Parses "198.18.2.10/24" (the prefix is required, 0-32); 0 or -EINVAL. */
int net__parse_ip_prefix(const char *s, uint32_t *ip, uint32_t *mask);
/* Parses "52:54:00:12:34:56" (hex, colon-separated, exactly 6 bytes); 0 or -EINVAL. */
int net__parse_mac(const char *s, uint8_t mac[NET_ETH_ALEN]);

#endif
