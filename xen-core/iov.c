/* iovec helpers for the virtio devices: every copy is bounded by both sides. */
#include <string.h>
#include "iov.h"

unsigned int iov__slice(const struct iovec *iov, unsigned int cnt, size_t skip, size_t len,
			struct iovec *dst)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < cnt && len; i++) {
		size_t take;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - skip;
		if (take > len)
			take = len;
		dst[n].iov_base = (char *)iov[i].iov_base + skip;
		dst[n].iov_len = take;
		n++;
		len -= take;
		skip = 0;
	}
	return n;
}

/* Copies between buf and iov's bytes from skip on, in the direction to_iov says. */
static size_t copy(const struct iovec *iov, unsigned int cnt, size_t skip, char *buf, size_t len,
		   int to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		char *p = iov[i].iov_base;
		size_t take;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - skip;
		if (take > len - done)
			take = len - done;
		if (to_iov)
			memcpy(p + skip, buf + done, take);
		else
			memcpy(buf + done, p + skip, take);
		done += take;
		skip = 0;
	}
	return done;
}

size_t iov__to_buf(const struct iovec *iov, unsigned int cnt, size_t skip, void *buf, size_t len)
{
	return copy(iov, cnt, skip, buf, len, 0);
}

size_t iov__from_buf(const struct iovec *iov, unsigned int cnt, size_t skip, const void *buf,
		     size_t len)
{
	return copy(iov, cnt, skip, (char *)buf, len, 1);
}

size_t iov__size(const struct iovec *iov, unsigned int cnt)
{
	size_t n = 0;

	for (unsigned int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}
