/* The model's replicated state on disk: tmp + fsync + rename, the classic atomic replace. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "persist.h"

/* Far beyond the model's JSON (64 VMs of 4 KiB configs, escaped). */
#define PERSIST_MAX (4u << 20)

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= n;
	}
	return 0;
}

/* Makes the rename itself durable. */
static int sync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd, rc = 0;

	snprintf(copy, sizeof(copy), "%s", path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

int persist__write(const char *path, const char *data, size_t len)
{
	char tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rc = fd < 0 ? -errno : write_all(fd, data, len);
	if (!rc && fsync(fd))
		rc = -errno;
	if (fd >= 0 && close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (!rc)
		rc = sync_dir(path);
	if (rc) {
		/* An older state must not pass for the last one after a restart: none is safer. */
		unlink(tmp);
		unlink(path);
	}
	return rc;
}

int persist__read(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	struct stat st;
	char *buf = NULL;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		rc = -errno;
	} else if (st.st_size > PERSIST_MAX) {
		rc = -EFBIG;
	} else if (!(buf = malloc(st.st_size + 1))) {
		rc = -ENOMEM;
	} else {
		n = read(fd, buf, st.st_size);
		if (n != st.st_size) {
			rc = n < 0 ? -errno : -EIO;
		} else {
			buf[n] = 0;
			*out = buf;
			*len = n;
			buf = NULL;
		}
	}
	free(buf);
	close(fd);
	return rc;
}
