/* ARP (RFC 826) for Ethernet/IPv4: answer for our address, resolve peers, a small LRU cache. */
#include "net_priv.h"

static struct net_arp_entry *arp_find(struct net_if *nif, uint32_t ip)
{
	for (size_t i = 0; i < NET_ARP_ENTRIES; i++)
		if (nif->arp[i].state != NET_ARP_FREE && nif->arp[i].ip == ip)
			return &nif->arp[i];
	return NULL;
}

/* A free entry, or else the least recently used one (its queued frame is lost). */
static struct net_arp_entry *arp_alloc(struct net_if *nif, uint32_t ip)
{
	struct net_arp_entry *e = &nif->arp[0];

	for (size_t i = 0; i < NET_ARP_ENTRIES; i++) {
		if (nif->arp[i].state == NET_ARP_FREE) {
			e = &nif->arp[i];
			break;
		}
		if (nif->arp[i].used < e->used)
			e = &nif->arp[i];
	}
	e->state = NET_ARP_PENDING;
	e->ip = ip;
	e->queued_len = 0;
	e->used = ++nif->arp_clock;
	return e;
}

static void fill_eth(const struct net_if *nif, uint8_t *frame, const uint8_t *dst, uint16_t type)
{
	memcpy(frame + ETH_DST, dst, NET_ETH_ALEN);
	memcpy(frame + ETH_SRC, nif->mac, NET_ETH_ALEN);
	put16(frame + ETH_TYPE, type);
}

/* Record ip's MAC and send the frame that was waiting for it, if any. */
static void arp_resolved(struct net_if *nif, struct net_arp_entry *e, const uint8_t *mac)
{
	memcpy(e->mac, mac, NET_ETH_ALEN);
	e->state = NET_ARP_RESOLVED;
	e->used = ++nif->arp_clock;
	if (e->queued_len) {
		size_t len = e->queued_len;

		e->queued_len = 0;
		fill_eth(nif, e->queued, mac, get16(e->queued + ETH_TYPE));
		net_xmit(nif, e->queued, len);
	}
}

static int arp_send(struct net_if *nif, uint16_t op, const uint8_t *eth_dst, const uint8_t *tha,
		    uint32_t tpa)
{
	uint8_t *f = nif->txbuf;
	uint8_t *a = f + NET_ETH_HLEN;

	fill_eth(nif, f, eth_dst, ETHERTYPE_ARP);
	put16(a + ARP_HTYPE, ARP_HW_ETHER);
	put16(a + ARP_PTYPE, ETHERTYPE_IP);
	a[ARP_HLEN] = NET_ETH_ALEN;
	a[ARP_PLEN] = 4;
	put16(a + ARP_OP, op);
	memcpy(a + ARP_SHA, nif->mac, NET_ETH_ALEN);
	put32(a + ARP_SPA, nif->ip);
	memcpy(a + ARP_THA, tha, NET_ETH_ALEN);
	put32(a + ARP_TPA, tpa);
	return net_xmit(nif, f, NET_ETH_HLEN + ARP_LEN);
}

void arp_input(struct net_if *nif, const uint8_t *frame, size_t len)
{
	const uint8_t *a = frame + NET_ETH_HLEN;
	const uint8_t *sha = a + ARP_SHA;
	uint32_t spa, tpa;
	uint16_t op;
	struct net_arp_entry *e = NULL;

	if (len < NET_ETH_HLEN + ARP_LEN) {
		drop(nif, NET_DROP_SHORT);
		return;
	}
	op = get16(a + ARP_OP);
	/* A multicast sender hardware address is never a real station. */
	if (get16(a + ARP_HTYPE) != ARP_HW_ETHER || get16(a + ARP_PTYPE) != ETHERTYPE_IP ||
	    a[ARP_HLEN] != NET_ETH_ALEN || a[ARP_PLEN] != 4 ||
	    (op != ARP_OP_REQ && op != ARP_OP_REPLY) || (sha[0] & 1)) {
		drop(nif, NET_DROP_ARP);
		return;
	}
	spa = get32(a + ARP_SPA);
	tpa = get32(a + ARP_TPA);

	/* RFC 826: update a sender we already know, whoever the packet is for. */
	if (net_peer_ok(nif, spa)) {
		e = arp_find(nif, spa);
		if (e)
			arp_resolved(nif, e, sha);
	}
	if (tpa != nif->ip) {
		if (!e)
			drop(nif, NET_DROP_NOT_US);
		return;
	}
	/* For us: learn the sender (it is about to talk to us), then answer a request. */
	if (!e && net_peer_ok(nif, spa))
		arp_resolved(nif, arp_alloc(nif, spa), sha);
	if (op == ARP_OP_REQ && arp_send(nif, ARP_OP_REPLY, sha, sha, spa) == 0)
		nif->stats.arp_replies++;
}

int arp_output(struct net_if *nif, uint32_t ip, uint16_t type, uint8_t *frame, size_t len)
{
	static const uint8_t unknown[NET_ETH_ALEN];
	struct net_arp_entry *e = arp_find(nif, ip);
	int rc;

	if (e && e->state == NET_ARP_RESOLVED) {
		e->used = ++nif->arp_clock;
		fill_eth(nif, frame, e->mac, type);
		return net_xmit(nif, frame, len);
	}
	if (!e)
		e = arp_alloc(nif, ip);
	if (e->queued_len)
		nif->stats.arp_overwrites++;
	/* Copy before asking: frame may be txbuf, which the request reuses. */
	memcpy(e->queued, frame, len);
	put16(e->queued + ETH_TYPE, type);
	e->queued_len = len;
	rc = arp_send(nif, ARP_OP_REQ, net_eth_broadcast, unknown, ip);
	if (rc == 0)
		nif->stats.arp_requests++;
	return rc;
}

int net__arp_lookup(const struct net_if *nif, uint32_t ip, uint8_t mac[NET_ETH_ALEN])
{
	for (size_t i = 0; i < NET_ARP_ENTRIES; i++) {
		const struct net_arp_entry *e = &nif->arp[i];

		if (e->state == NET_ARP_RESOLVED && e->ip == ip) {
			memcpy(mac, e->mac, NET_ETH_ALEN);
			return 0;
		}
	}
	return -ENOENT;
}
