/* The net stack's entry points: interface setup, Ethernet demux, transmit, UDP bindings. */
#include "net_priv.h"

const uint8_t net_eth_broadcast[NET_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

const char *net__drop_to_str(enum net_drop d)
{
	static const char *const names[NET_DROP_MAX] = {
	    [NET_DROP_SHORT] = "short",
	    [NET_DROP_NOT_US] = "not-us",
	    [NET_DROP_ETHERTYPE] = "ethertype",
	    [NET_DROP_ARP] = "arp",
	    [NET_DROP_IP_HDR] = "ip-hdr",
	    [NET_DROP_IP_CSUM] = "ip-csum",
	    [NET_DROP_IP_FRAG] = "ip-frag",
	    [NET_DROP_BAD_SRC] = "bad-src",
	    [NET_DROP_PROTO] = "proto",
	    [NET_DROP_ICMP] = "icmp",
	    [NET_DROP_UDP] = "udp",
	    [NET_DROP_NO_PORT] = "no-port",
	};

	return (unsigned int)d < NET_DROP_MAX ? names[d] : "unknown";
}

void net__init(struct net_if *nif, const uint8_t mac[NET_ETH_ALEN], uint32_t ip, uint32_t mask,
	       int (*tx)(void *opaque, const void *frame, size_t len), void *opaque)
{
	memset(nif, 0, sizeof(*nif));
	memcpy(nif->mac, mac, NET_ETH_ALEN);
	nif->ip = ip;
	nif->mask = mask;
	nif->tx = tx;
	nif->opaque = opaque;
}

int net_xmit(struct net_if *nif, uint8_t *frame, size_t len)
{
	int rc;

	/* Our buffers are NET_FRAME_MAX long, so padding in place is safe. */
	if (len < ETH_MIN_FRAME) {
		memset(frame + len, 0, ETH_MIN_FRAME - len);
		len = ETH_MIN_FRAME;
	}
	rc = nif->tx(nif->opaque, frame, len);
	if (rc)
		nif->stats.tx_err++;
	else
		nif->stats.tx++;
	return rc;
}

void net__input(struct net_if *nif, const void *frame, size_t len)
{
	const uint8_t *f = frame;

	nif->stats.rx++;
	if (len < NET_ETH_HLEN) {
		drop(nif, NET_DROP_SHORT);
	} else if (memcmp(f + ETH_DST, nif->mac, NET_ETH_ALEN) != 0 &&
		   memcmp(f + ETH_DST, net_eth_broadcast, NET_ETH_ALEN) != 0) {
		drop(nif, NET_DROP_NOT_US);
	} else if (get16(f + ETH_TYPE) == ETHERTYPE_ARP) {
		arp_input(nif, f, len);
	} else if (get16(f + ETH_TYPE) == ETHERTYPE_IP) {
		ipv4_input(nif, f, len);
	} else {
		drop(nif, NET_DROP_ETHERTYPE);
	}
}

int net__udp_bind(struct net_if *nif, uint16_t port, net_udp_handler *fn, void *arg)
{
	struct net_udp_binding *free_slot = NULL;

	if (port == 0 || !fn)
		return -EINVAL;
	for (size_t i = 0; i < NET_UDP_BINDINGS; i++) {
		struct net_udp_binding *b = &nif->udp[i];

		if (b->port == port)
			return -EADDRINUSE;
		if (!b->port && !free_slot)
			free_slot = b;
	}
	if (!free_slot)
		return -ENOSPC;
	free_slot->port = port;
	free_slot->fn = fn;
	free_slot->arg = arg;
	return 0;
}
