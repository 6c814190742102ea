/* Runs test code in a forked child inside a throwaway network namespace (needs root). */
#ifndef TESTS_UNIT_NETNS_FIXTURE_H
#define TESTS_UNIT_NETNS_FIXTURE_H
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <stdint.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <check.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

static int netns_report_fd = -1;

/* Child side: a failed expectation writes its line to the parent and ends the child. */
static inline void __attribute__((format(printf, 2, 3))) expect(int ok, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (ok)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (write(netns_report_fd, msg,
		  n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : strlen(msg)) < 0)
		_exit(2);
	_exit(1);
}

/* New interfaces would put IPv6 autoconfiguration frames on a tap: keep the netns quiet. */
static inline void netns_quiet(void)
{
	int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);

	if (fd < 0)
		return; /* no IPv6 in this kernel: nothing to silence */
	expect(write(fd, "1", 1) == 1, "disabling IPv6 in the test netns: %s", strerror(errno));
	close(fd);
}

/*
 * Runs fn in a forked child inside a new network namespace, so the host's
 * interfaces are never touched; fails the test with the child's message.
 */
static inline void run_in_netns(void (*fn)(void))
{
	char msg[512] = "";
	int p[2], status;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		netns_report_fd = p[1];
		expect(unshare(CLONE_NEWNET) == 0,
		       "unshare(CLONE_NEWNET): %s: network tests must run as root (make check as "
		       "root)",
		       strerror(errno));
		netns_quiet();
		fn();
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s", msg);
}

/* A broadcast frame of len bytes from src with ethertype type and a payload pattern from seed. */
static inline void netns_make_frame(uint8_t *f, size_t len, const uint8_t src[6], uint16_t type,
				    uint8_t seed)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, src, 6);
	f[12] = type >> 8;
	f[13] = type & 0xff;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seed + i * 3);
}

/*
 * A packet socket on a tap's host side: it sees what the guest sends, and a
 * sendto() to *sll (broadcast) reaches the guest.
 */
static inline int netns_packet_socket(const char *tap, struct sockaddr_ll *sll)
{
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

	*sll = (struct sockaddr_ll){
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(ETH_P_ALL),
	    .sll_ifindex = (int)if_nametoindex(tap),
	    .sll_halen = 6,
	};
	memset(sll->sll_addr, 0xff, 6);
	expect(s >= 0 && bind(s, (struct sockaddr *)sll, sizeof(*sll)) == 0,
	       "packet socket on %s: %s", tap, strerror(errno));
	return s;
}

#endif
