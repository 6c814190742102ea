/* kv: the UDP key-value service (tests/guests/net) on virtio-net, polled, idle on WAIT_US. */
#include "rt.h"

#include "kv.h"
#include "net.h"
#include "virtio.h"
#include "vnet.h"

TWIN_GUEST("kv");

/*
 * How long one idle wait lasts when no frame arrives (cmdline idle_us=; an RX
 * kick ends it sooner).  Tests raise it so that a lost wakeup shows as a stall.
 */
#define IDLE_US_DEFAULT 1000000

static struct kv kv;
static struct net_if nif;
static uint16_t port;

static int tx(void *opaque, const void *frame, size_t len)
{
	return vnet__send(frame, len);
}

static void rx(void *arg, const void *frame, size_t len)
{
	net__input(&nif, frame, len);
}

static void on_request(struct net_if *n, void *arg, uint32_t src_ip, uint16_t src_port,
		       const void *data, size_t len)
{
	char reply[KV_REPLY_MAX];
	size_t rlen = kv__handle(&kv, data, len, reply, sizeof(reply));

	if (rlen)
		net__udp_send(n, src_ip, src_port, port, reply, rlen);
}

int guest_main(void)
{
	const char *ip_arg = args__get("ip");
	uint32_t ip, mask;
	uint64_t p, idle_us;
	uint8_t mac[6];
	int rc;

	if (!ip_arg || net__parse_ip_prefix(ip_arg, &ip, &mask)) {
		console__printf("kv: give ip=A.B.C.D/PREFIX (for example ip=198.18.2.10/24)\n");
		return TWIN_GUEST_EXIT_FAIL;
	}
	if (args__u64("port", KV_PORT, &p) || !p || p > 0xffff) {
		console__printf("kv: port must be a number in 1-65535\n");
		return TWIN_GUEST_EXIT_FAIL;
	}
	port = (uint16_t)p;
	if (args__u64("idle_us", IDLE_US_DEFAULT, &idle_us) || !idle_us || idle_us > 0xffffffffu) {
		console__printf("kv: idle_us must be a number in 1-4294967295\n");
		return TWIN_GUEST_EXIT_FAIL;
	}
	rc = vnet__init();
	if (rc == -EINVAL) {
		console__printf("kv: mac= must be XX:XX:XX:XX:XX:XX and poll_us= a number in "
				"0-1000000\n");
		return TWIN_GUEST_EXIT_FAIL;
	}
	if (rc) {
		console__printf("kv: no virtio-net device (%d): attach one with --nic\n", rc);
		return TWIN_GUEST_EXIT_FAIL;
	}
	vnet__mac(mac);
	kv__init(&kv);
	net__init(&nif, mac, ip, mask, tx, NULL);
	if (net__udp_bind(&nif, port, on_request, NULL)) {
		console__printf("kv: cannot bind port %u\n", port);
		return TWIN_GUEST_EXIT_FAIL;
	}
	console__printf("kv: listening on %u.%u.%u.%u:%u mac=%02x:%02x:%02x:%02x:%02x:%02x\n",
			ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff, port, mac[0],
			mac[1], mac[2], mac[3], mac[4], mac[5]);
	for (;;)
		if (!vnet__poll(rx, NULL))
			vnet__wait((uint32_t)idle_us);
}
