/* TAP devices: open or create by name through /dev/net/tun, bring up, attach to a bridge. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include "tap.h"
#include "util.h"

#define TUN_DEV "/dev/net/tun"

bool tap__valid_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > TAP_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static int attach_tun(const char *name, char *err, size_t errlen)
{
	/*
	 * No IFF_VNET_HDR: Twin offers no checksum or segmentation offloads, so the
	 * header would carry nothing, and guest-written header fields never reach
	 * the host kernel's GSO paths.
	 */
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	int fd, rc;

	fd = open(TUN_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		util__set_err(err, errlen, "tap %s: cannot open %s: %s: %s", name, TUN_DEV,
			      strerror(-rc),
			      rc == -EACCES || rc == -EPERM ? "run as root (CAP_NET_ADMIN)"
							    : "load the tun module (modprobe tun)");
		return rc;
	}
	memcpy(ifr.ifr_name, name, strlen(name) + 1);
	if (ioctl(fd, TUNSETIFF, &ifr) == 0)
		return fd;
	rc = -errno;
	close(fd);
	switch (rc) {
	case -EBUSY:
		util__set_err(err, errlen,
			      "tap %s is already in use by another process: "
			      "give each VM its own tap",
			      name);
		break;
	case -EINVAL:
		util__set_err(err, errlen,
			      "%s exists but is not a single-queue TAP device: "
			      "use another name or remove it with ip link delete %s",
			      name, name);
		break;
	case -EPERM:
		util__set_err(
		    err, errlen,
		    "tap %s: not permitted: run as root (CAP_NET_ADMIN) or "
		    "create the tap for this user with ip tuntap add %s mode tap user USER",
		    name, name);
		break;
	default:
		util__set_err(err, errlen, "tap %s: TUNSETIFF failed: %s", name, strerror(-rc));
	}
	return rc;
}

static int bring_up(int sock, const char *name, char *err, size_t errlen)
{
	struct ifreq ifr = {0};
	int rc;

	memcpy(ifr.ifr_name, name, strlen(name) + 1);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
		if (ifr.ifr_flags & IFF_UP)
			return 0;
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(sock, SIOCSIFFLAGS, &ifr) == 0)
			return 0;
	}
	rc = -errno;
	util__set_err(err, errlen,
		      "tap %s: cannot bring it up: %s: run as root or bring it up "
		      "with ip link set %s up",
		      name, strerror(-rc), name);
	return rc;
}

/* The ifindex of ifindex's master (its bridge), 0 if none, or -errno; asks rtnetlink. */
static int master_of(int ifindex)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
	    .nh = {.nlmsg_len = sizeof(req),
		   .nlmsg_type = RTM_GETLINK,
		   .nlmsg_flags = NLM_F_REQUEST},
	    .ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
	};
	union {
		struct nlmsghdr nh;
		char buf[16384];
	} resp;
	struct nlmsghdr *nh = &resp.nh;
	struct rtattr *rta;
	int fd, len, master = 0, rc = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) < 0 || (len = recv(fd, &resp, sizeof(resp), 0)) < 0) {
		rc = -errno;
		goto out;
	}
	if (!NLMSG_OK(nh, (unsigned int)len)) {
		rc = -EPROTO;
		goto out;
	}
	if (nh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(nh);

		rc = e->error ? e->error : -EPROTO;
		goto out;
	}
	if (nh->nlmsg_type != RTM_NEWLINK) {
		rc = -EPROTO;
		goto out;
	}
	len = IFLA_PAYLOAD(nh);
	for (rta = IFLA_RTA((struct ifinfomsg *)NLMSG_DATA(nh)); RTA_OK(rta, len);
	     rta = RTA_NEXT(rta, len))
		if (rta->rta_type == IFLA_MASTER && RTA_PAYLOAD(rta) >= sizeof(int))
			memcpy(&master, RTA_DATA(rta), sizeof(int));
	rc = master;
out:
	close(fd);
	return rc;
}

static int attach_bridge(int sock, const char *name, const char *bridge, char *err, size_t errlen)
{
	struct ifreq ifr = {0};
	int tap_idx, br_idx, master, rc;

	br_idx = if_nametoindex(bridge);
	if (!br_idx) {
		util__set_err(err, errlen,
			      "bridge %s does not exist: create it with ip link add %s "
			      "type bridge",
			      bridge, bridge);
		return -ENODEV;
	}
	tap_idx = if_nametoindex(name);
	master = tap_idx ? master_of(tap_idx) : -ENODEV;
	if (master < 0) {
		util__set_err(err, errlen, "tap %s: cannot read its bridge: %s", name,
			      strerror(-master));
		return master;
	}
	if (master == br_idx)
		return 0;
	if (master) {
		util__set_err(err, errlen,
			      "tap %s is already attached to another bridge: detach it "
			      "with ip link set %s nomaster",
			      name, name);
		return -EBUSY;
	}
	memcpy(ifr.ifr_name, bridge, strlen(bridge) + 1);
	ifr.ifr_ifindex = tap_idx;
	if (ioctl(sock, SIOCBRADDIF, &ifr) == 0)
		return 0;
	rc = -errno;
	if (rc == -EOPNOTSUPP || rc == -EINVAL)
		util__set_err(err, errlen,
			      "%s is not a bridge: name a bridge (ip link add %s type "
			      "bridge) in bridge=",
			      bridge, bridge);
	else
		util__set_err(err, errlen,
			      "tap %s: cannot attach it to bridge %s: %s: run as root "
			      "or attach it with ip link set %s master %s",
			      name, bridge, strerror(-rc), name, bridge);
	return rc;
}

int tap__open(const char *name, const char *bridge, char *err, size_t errlen)
{
	int fd = -1, sock = -1, rc;

	if (!tap__valid_name(name)) {
		util__set_err(err, errlen,
			      "tap name '%s' is invalid: use 1 to %d characters "
			      "without '/', ':' or spaces",
			      name, TAP_NAME_MAX);
		return -EINVAL;
	}
	if (bridge && !tap__valid_name(bridge)) {
		util__set_err(err, errlen,
			      "bridge name '%s' is invalid: use 1 to %d characters "
			      "without '/', ':' or spaces",
			      bridge, TAP_NAME_MAX);
		return -EINVAL;
	}
	fd = attach_tun(name, err, errlen);
	if (fd < 0)
		return fd;
	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		rc = -errno;
		util__set_err(err, errlen, "tap %s: socket for interface ioctls: %s", name,
			      strerror(-rc));
		goto fail;
	}
	rc = bring_up(sock, name, err, errlen);
	if (rc)
		goto fail;
	if (bridge) {
		rc = attach_bridge(sock, name, bridge, err, errlen);
		if (rc)
			goto fail;
	}
	close(sock);
	return fd;
fail:
	if (sock >= 0)
		close(sock);
	close(fd);
	return rc;
}

int tap__drain(int fd, unsigned int max)
{
	/* A tap hands one frame per read and cuts it to the buffer: one byte discards it. */
	char byte;
	unsigned int n = 0;

	while (n < max) {
		if (read(fd, &byte, 1) >= 0) {
			n++;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		return -errno;
	}
	return (int)n;
}
