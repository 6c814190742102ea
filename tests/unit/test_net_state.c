/* The NIC's state and announce: snooped IPv4, GARP/RARP on the tap and its repeats, MAC refusal
 * (KVM, netns). */
#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include "devstate.h"
#include "ioloop.h"
#include "netns_fixture.h"
#include "suites.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "vm.h"

#define POLL_MS	  5000 /* a bound on a kernel hand-off that is immediate in practice */
#define FRAME_MIN 60

static const uint8_t mac_a[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0a};
static const uint8_t mac_b[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x0b};
static const uint8_t guest_ip[4] = {198, 18, 0, 7};

struct nic_vm {
	struct vm *vm;
	struct virtio_net *net;
	int sock; /* packet socket on the tap's host side */
};

static void nic_vm_create(struct nic_vm *n, const char *tap, const uint8_t mac[6])
{
	struct vm_config cfg = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = -1};
	struct sockaddr_ll sll;
	char err[256];

	expect(vm__create(&cfg, &n->vm) == 0, "vm__create failed");
	expect(virtio_net__open(tap, NULL, mac, 0, &n->net, err, sizeof(err)) == 0,
	       "virtio_net__open: %s", err);
	expect(virtio_net__register(n->net, n->vm, false) == 0, "virtio_net__register failed");
	n->sock = netns_packet_socket(tap, &sll);
}

static void nic_vm_destroy(struct nic_vm *n)
{
	close(n->sock);
	vm__destroy(n->vm);
}

/* The next frame on the tap with ethertype type (others, e.g. the host's own, are skipped). */
static size_t next_frame(struct nic_vm *n, uint16_t type, uint8_t *f, size_t len)
{
	struct pollfd p = {.fd = n->sock, .events = POLLIN};
	ssize_t got;

	for (;;) {
		expect(poll(&p, 1, POLL_MS) == 1, "no frame of type 0x%04x on the tap", type);
		got = recv(n->sock, f, len, 0);
		expect(got >= 0, "recv: %s", strerror(errno));
		if (got >= 14 && (f[12] << 8 | f[13]) == type)
			return (size_t)got;
	}
}

/* What the guest sends: an IPv4 (UDP-less, header only) frame from mac with source ip. */
static void guest_sends_ipv4(struct nic_vm *n, const uint8_t mac[6], const uint8_t ip[4])
{
	uint8_t f[FRAME_MIN] = {0};
	struct iovec iov = {.iov_base = f, .iov_len = sizeof(f)};

	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	f[14] = 0x45; /* IPv4, 20-byte header */
	f[23] = 17;
	memcpy(f + 26, ip, 4);
	memset(f + 30, 0xff, 4);
	expect(virtio_net__transmit(n->net, &iov, 1) == 0, "transmit failed");
}

/* A gratuitous ARP from mac for ip: broadcast, request, sender = target = ip. */
static void expect_garp(struct nic_vm *n, const uint8_t mac[6], const uint8_t ip[4])
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, zero[6];
	uint8_t f[2048];
	size_t len;

	/* The guest's own frames are IPv4: the first ARP on the tap is the announce. */
	len = next_frame(n, 0x0806, f, sizeof(f));
	expect(len >= 42, "ARP frame of %zu bytes", len);
	expect(!memcmp(f, bcast, 6) && !memcmp(f + 6, mac, 6), "GARP addresses wrong");
	expect(f[14] == 0 && f[15] == 1 && f[16] == 8 && f[17] == 0 && f[18] == 6 && f[19] == 4,
	       "GARP is not Ethernet/IPv4 ARP");
	expect(f[20] == 0 && f[21] == 1, "GARP opcode %u, want a request", f[21]);
	expect(!memcmp(f + 22, mac, 6) && !memcmp(f + 28, ip, 4), "GARP sender wrong");
	expect(!memcmp(f + 32, zero, 6) && !memcmp(f + 38, ip, 4), "GARP target wrong");
}

static void state_and_announce(void)
{
	struct nic_vm a, b, c;
	struct devstate_info infos[4], info;
	struct virtio_net_state ns;
	uint8_t f[2048], *buf, *before, *after;
	char err[256] = "";
	size_t len;

	nic_vm_create(&a, "twst0", mac_a);
	/* PCI bus, UART, the NIC in slot 1. */
	expect(devstate__list(a.vm, infos, 4) == 3, "not 3 device states listed");
	info = infos[2];
	expect(info.id == DEVSTATE_ID_VIRTIO(1) && info.version == VIRTIO_STATE_VERSION &&
		   info.size == sizeof(struct virtio_pci_state) + sizeof(struct virtio_net_state),
	       "the NIC's state is listed as 0x%x version %u size %u", info.id, info.version,
	       info.size);

	/* Nothing seen yet: a RARP for the MAC, as QEMU sends. */
	expect(devstate__announce(a.vm) == 1, "announce did not count the NIC");
	len = next_frame(&a, 0x8035, f, sizeof(f));
	expect(len >= 42 && f[21] == 3 && !memcmp(f + 6, mac_a, 6) && !memcmp(f + 22, mac_a, 6) &&
		   !memcmp(f + 32, mac_a, 6),
	       "RARP malformed");

	/* The guest's address from its own frames; another MAC's frames do not count. */
	guest_sends_ipv4(&a, mac_a, guest_ip);
	guest_sends_ipv4(&a, mac_b, (const uint8_t[]){198, 18, 0, 99});
	expect(devstate__announce(a.vm) == 1, "announce did not count the NIC");
	expect_garp(&a, mac_a, guest_ip);

	buf = calloc(1, info.size);
	before = calloc(1, info.size);
	after = calloc(1, info.size);
	expect(devstate__save(a.vm, info.id, buf, info.size) == 0, "save failed");
	memcpy(&ns, buf + sizeof(struct virtio_pci_state), sizeof(ns));
	expect(ns.version == VIRTIO_NET_STATE_VERSION && !memcmp(ns.mac, mac_a, 6) &&
		   !memcmp(ns.ipv4, guest_ip, 4) && ns.status == 1,
	       "NIC state: version %u, ip %u.%u.%u.%u, status %u", ns.version, ns.ipv4[0],
	       ns.ipv4[1], ns.ipv4[2], ns.ipv4[3], ns.status);

	/* Another MAC is refused, naming the saved one and the option, and nothing changes. */
	nic_vm_create(&b, "twst1", mac_b);
	expect(devstate__save(b.vm, info.id, before, info.size) == 0, "save failed");
	expect(devstate__restore(b.vm, info.id, info.version, buf, info.size, err, sizeof(err)) ==
		   -EINVAL,
	       "a state with another MAC was accepted");
	expect(strstr(err, "52:54:00:00:00:0a") && strstr(err, "mac="), "error: %s", err);
	expect(devstate__save(b.vm, info.id, after, info.size) == 0, "save failed");
	expect(!memcmp(before, after, info.size), "the refused restore changed the NIC");

	/* The same MAC takes it, and announces the snooped address it never saw itself. */
	nic_vm_create(&c, "twst2", mac_a);
	expect(devstate__restore(c.vm, info.id, info.version, buf, info.size, err, sizeof(err)) ==
		   0,
	       "restore: %s", err);
	expect(devstate__resume(c.vm) == 0, "resume failed");
	expect(devstate__announce(c.vm) == 1, "announce did not count the NIC");
	expect_garp(&c, mac_a, guest_ip);

	free(buf);
	free(before);
	free(after);
	nic_vm_destroy(&a);
	nic_vm_destroy(&b);
	nic_vm_destroy(&c);
}

/*
 * One devstate__announce on a running I/O loop puts the frame on the tap 5
 * times (QEMU's count), the repeats from the loop's timer.  Each wait is
 * bounded by POLL_MS, far above the 350 ms backoff; the gaps are not asserted.
 */
static void announce_repeats(void)
{
	struct nic_vm a;
	uint8_t f[2048];
	size_t len;

	nic_vm_create(&a, "twst3", mac_a);
	expect(ioloop__start(a.vm->ioloop) == 0, "ioloop__start failed");
	expect(devstate__announce(a.vm) == 1, "announce did not count the NIC");
	for (int i = 1; i <= 5; i++) {
		len = next_frame(&a, 0x8035, f, sizeof(f));
		expect(len >= 42 && !memcmp(f + 22, mac_a, 6), "RARP %d of 5 malformed", i);
	}
	/* A new round, ended by the VM going away mid-round (the timer goes with it). */
	expect(devstate__announce(a.vm) == 1, "second announce did not count the NIC");
	nic_vm_destroy(&a);
}

START_TEST(test_announce_repeats)
{
	run_in_netns(announce_repeats);
}
END_TEST

START_TEST(test_state_and_announce)
{
	run_in_netns(state_and_announce);
}
END_TEST

Suite *net_state_suite(void)
{
	Suite *s = suite_create("net_state");
	TCase *tc = tcase_create("net_state");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_state_and_announce);
	tcase_add_test(tc, test_announce_repeats);
	suite_add_tcase(s, tc);
	return s;
}
