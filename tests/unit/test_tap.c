/* Unit tests for xen-core/tap.c, each run in a throwaway network namespace (needs root). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include "netns_fixture.h"
#include "suites.h"
#include "tap.h"

static short if_flags(const char *name)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	expect(s >= 0, "socket: %s", strerror(errno));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	expect(ioctl(s, SIOCGIFFLAGS, &ifr) == 0, "SIOCGIFFLAGS %s: %s", name, strerror(errno));
	close(s);
	return ifr.ifr_flags;
}

static void add_bridge(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	expect(s >= 0 && ioctl(s, SIOCBRADDBR, name) == 0, "SIOCBRADDBR %s: %s", name,
	       strerror(errno));
	close(s);
}

/* The bridge `ip` reports for dev, or "" (independent of tap.c's own netlink query). */
static void master_by_ip(const char *dev, char out[16])
{
	char cmd[128], line[1024];
	const char *m;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ip -o link show dev %s", dev);
	f = popen(cmd, "r");
	expect(f != NULL, "popen %s: %s", cmd, strerror(errno));
	expect(fgets(line, sizeof(line), f) != NULL, "%s printed nothing: install iproute2", cmd);
	pclose(f);
	out[0] = '\0';
	m = strstr(line, " master ");
	if (m)
		sscanf(m + 8, "%15s", out);
}

static void create_up_nonblocking(void)
{
	char err[256], buf[64];
	int fd;

	fd = tap__open("twtap0", NULL, err, sizeof(err));
	expect(fd >= 0, "tap__open: %s", err);
	expect(if_nametoindex("twtap0") > 0, "twtap0 does not exist");
	expect(if_flags("twtap0") & IFF_UP, "twtap0 is not up");
	expect(fcntl(fd, F_GETFL) & O_NONBLOCK, "tap fd is blocking");
	expect(fcntl(fd, F_GETFD) & FD_CLOEXEC, "tap fd is not close-on-exec");
	expect(read(fd, buf, sizeof(buf)) < 0 && errno == EAGAIN, "read did not say EAGAIN");
	close(fd);
	/* Created here, so not persistent: it goes with its fd. */
	expect(if_nametoindex("twtap0") == 0, "twtap0 outlived its fd");
}

START_TEST(test_create)
{
	run_in_netns(create_up_nonblocking);
}
END_TEST

static void bridge_attach(void)
{
	char err[256], master[16];
	int fd, fd2;

	add_bridge("twbr0");
	fd = tap__open("twtap1", "twbr0", err, sizeof(err));
	expect(fd >= 0, "tap__open with bridge: %s", err);
	master_by_ip("twtap1", master);
	expect(!strcmp(master, "twbr0"), "twtap1's master is '%s', not twbr0", master);
	fd2 = tap__open("twtap1", "twbr0", err, sizeof(err));
	expect(fd2 == -EBUSY, "second open of an attached tap returned %d", fd2);
	expect(strstr(err, "already in use") != NULL, "busy error: %s", err);
	close(fd);
}

START_TEST(test_bridge)
{
	run_in_netns(bridge_attach);
}
END_TEST

/* A persistent tap, as `ip tuntap add` leaves it, on bridge twbr0. */
static void add_persistent_tap(const char *name)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	int fd = open("/dev/net/tun", O_RDWR);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	expect(fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0 && ioctl(fd, TUNSETPERSIST, 1) == 0,
	       "persistent tap %s: %s", name, strerror(errno));
	close(fd);
}

static void existing_tap(void)
{
	char err[256], master[16];
	int fd;

	add_bridge("twbr0");
	add_bridge("twbr1");
	add_persistent_tap("twtap2");
	expect(!(if_flags("twtap2") & IFF_UP), "a new persistent tap is already up");
	fd = tap__open("twtap2", "twbr0", err, sizeof(err));
	expect(fd >= 0, "tap__open of an existing tap: %s", err);
	close(fd);
	expect(if_nametoindex("twtap2") > 0, "closing removed a persistent tap");
	/* Reopening with the bridge it is already on is a no-op. */
	fd = tap__open("twtap2", "twbr0", err, sizeof(err));
	expect(fd >= 0, "reopen on the same bridge: %s", err);
	close(fd);
	master_by_ip("twtap2", master);
	expect(!strcmp(master, "twbr0"), "twtap2's master is '%s', not twbr0", master);
	fd = tap__open("twtap2", "twbr1", err, sizeof(err));
	expect(fd == -EBUSY, "moving to another bridge returned %d", fd);
	expect(strstr(err, "nomaster") != NULL, "other-bridge error: %s", err);
	/* Without bridge= it opens wherever it is attached. */
	fd = tap__open("twtap2", NULL, err, sizeof(err));
	expect(fd >= 0, "open without bridge: %s", err);
	close(fd);
}

START_TEST(test_existing)
{
	run_in_netns(existing_tap);
}
END_TEST

static void bad_bridges(void)
{
	char err[256];
	int fd;

	fd = tap__open("twtap3", "nobr", err, sizeof(err));
	expect(fd == -ENODEV, "missing bridge returned %d", fd);
	expect(strstr(err, "ip link add nobr type bridge") != NULL, "missing bridge: %s", err);
	expect(if_nametoindex("twtap3") == 0, "a failed open left twtap3 behind");
	fd = tap__open("twtap3", "lo", err, sizeof(err));
	expect(fd < 0, "lo accepted as a bridge");
	expect(strstr(err, "lo is not a bridge") != NULL, "non-bridge: %s", err);
}

START_TEST(test_bad_bridge)
{
	run_in_netns(bad_bridges);
}
END_TEST

static void bad_names(void)
{
	char err[256];
	int fd;

	fd = tap__open("lo", NULL, err, sizeof(err));
	expect(fd == -EINVAL, "lo opened as a tap: %d", fd);
	expect(strstr(err, "not a single-queue TAP") != NULL, "non-tap: %s", err);
	fd = tap__open("0123456789abcdef", NULL, err, sizeof(err));
	expect(fd == -EINVAL && strstr(err, "invalid"), "16-char name: %d %s", fd, err);
	fd = tap__open("a/b", NULL, err, sizeof(err));
	expect(fd == -EINVAL, "a/b: %d", fd);
	fd = tap__open("twtap4", "br 0", err, sizeof(err));
	expect(fd == -EINVAL && strstr(err, "bridge name"), "bridge 'br 0': %d %s", fd, err);
	expect(if_nametoindex("twtap4") == 0, "a bad bridge name still created twtap4");
}

START_TEST(test_bad_names)
{
	run_in_netns(bad_names);
	ck_assert(tap__valid_name("tap0"));
	ck_assert(tap__valid_name("0123456789abcde"));
	ck_assert(!tap__valid_name(""));
	ck_assert(!tap__valid_name("."));
	ck_assert(!tap__valid_name(".."));
	ck_assert(!tap__valid_name("a:b"));
	ck_assert(!tap__valid_name("a\tb"));
}
END_TEST

Suite *tap_suite(void)
{
	Suite *s = suite_create("tap");
	TCase *tc = tcase_create("netns");

	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_bridge);
	tcase_add_test(tc, test_existing);
	tcase_add_test(tc, test_bad_bridge);
	tcase_add_test(tc, test_bad_names);
	suite_add_tcase(s, tc);
	return s;
}
