/* Bounded copies between flat buffers and iovec arrays, and slices of iovec arrays. */
#ifndef XEN_CORE_IOV_H
#define XEN_CORE_IOV_H
#include <stddef.h>
#include <sys/uio.h>

/* Copies up to len bytes from iov (after skipping skip bytes) to buf; returns bytes copied. */
size_t iov__to_buf(const struct iovec *iov, unsigned int cnt, size_t skip, void *buf, size_t len);
/* Copies up to len bytes of buf into iov (after skipping skip bytes); returns bytes copied. */
size_t iov__from_buf(const struct iovec *iov, unsigned int cnt, size_t skip, const void *buf,
		     size_t len);
/*
 * Points dst (room for cnt entries) at bytes [skip, skip + len) of iov, clipped
 * to what iov holds, without empty entries; returns the number of entries.
 */
unsigned int iov__slice(const struct iovec *iov, unsigned int cnt, size_t skip, size_t len,
			struct iovec *dst);
/* Total bytes in iov. */
size_t iov__size(const struct iovec *iov, unsigned int cnt);

#endif
