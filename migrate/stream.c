/* Twin stream framing: the header and records written and read with every length checked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "stream.h"
#include "util.h"

static const uint8_t zeros[STREAM_ALIGN];

static size_t pad_of(uint64_t len)
{
	return (STREAM_ALIGN - len % STREAM_ALIGN) % STREAM_ALIGN;
}

const char *stream__type_to_str(uint32_t type)
{
	switch (type) {
	case STREAM_REC_END:
		return "END";
	case STREAM_REC_PAGE_DATA:
		return "PAGE_DATA";
	case STREAM_REC_VCPU_STATE:
		return "VCPU_STATE";
	case STREAM_REC_VM_STATE:
		return "VM_STATE";
	case STREAM_REC_DEVICE_STATE:
		return "DEVICE_STATE";
	case STREAM_REC_DISK_WRITES:
		return "DISK_WRITES";
	case STREAM_REC_CHECKPOINT:
		return "CHECKPOINT";
	case STREAM_REC_VM_CONFIG:
		return "VM_CONFIG";
	case STREAM_REC_SYNC:
		return "SYNC";
	case STREAM_REC_HEARTBEAT:
		return "HEARTBEAT";
	default:
		return (type & STREAM_REC_OPTIONAL) ? "unknown optional" : "unknown mandatory";
	}
}

ssize_t stream__mem_read(void *ctx, void *buf, size_t len)
{
	struct stream_mem *m = ctx;
	size_t n = m->size - m->pos;

	if (n > len)
		n = len;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

ssize_t stream__fd_read(void *ctx, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, (uint8_t *)buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int stream__fd_write(void *ctx, const void *buf, size_t len)
{
	int fd = *(int *)ctx;
	size_t done = 0;

	while (done < len) {
		ssize_t r = write(fd, (const uint8_t *)buf + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		done += (size_t)r;
	}
	return 0;
}

void stream_writer__init(struct stream_writer *w, stream_write_fn write, void *ctx)
{
	w->write = write;
	w->ctx = ctx;
	w->offset = 0;
}

static int put(struct stream_writer *w, const void *buf, size_t len)
{
	int rc;

	if (len == 0)
		return 0;
	rc = w->write(w->ctx, buf, len);
	if (rc == 0)
		w->offset += len;
	return rc;
}

int stream_writer__header(struct stream_writer *w, uint32_t flags)
{
	struct stream_header h = {
	    .version = STREAM_VERSION,
	    .byte_order = STREAM_BYTE_ORDER,
	    .flags = flags,
	};

	if (flags & ~STREAM_FLAGS_KNOWN)
		return -EINVAL;
	memcpy(h.magic, STREAM_MAGIC, sizeof(h.magic));
	return put(w, &h, sizeof(h));
}

int stream_writer__record(struct stream_writer *w, uint32_t type, const void *const *parts,
			  const size_t *lens, int n)
{
	struct stream_rec_header h = {.type = type};
	size_t total = 0;
	int rc;

	for (int i = 0; i < n; i++) {
		if (lens[i] > STREAM_MAX_RECORD - total)
			return -EMSGSIZE;
		total += lens[i];
	}
	h.length = (uint32_t)total;
	rc = put(w, &h, sizeof(h));
	for (int i = 0; i < n && rc == 0; i++)
		rc = put(w, parts[i], lens[i]);
	if (rc == 0)
		rc = put(w, zeros, pad_of(total));
	return rc;
}

int stream_writer__checkpoint(struct stream_writer *w, uint64_t epoch)
{
	struct stream_checkpoint c = {.epoch = epoch};
	const void *part = &c;
	size_t len = sizeof(c);

	return stream_writer__record(w, STREAM_REC_CHECKPOINT, &part, &len, 1);
}

int stream_writer__end(struct stream_writer *w)
{
	return stream_writer__record(w, STREAM_REC_END, NULL, NULL, 0);
}

void stream_reader__init(struct stream_reader *r, stream_read_fn read, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->read = read;
	r->ctx = ctx;
}

void stream_reader__dispose(struct stream_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

/* Exactly len bytes, or an error naming what the stream stopped inside. */
static int get(struct stream_reader *r, void *buf, size_t len, const char *what)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = r->read(r->ctx, (uint8_t *)buf + got, len - got);

		if (n < 0)
			return util__fail(r->err, sizeof(r->err), (int)n,
					  "stream: read error at byte %llu in %s: %s",
					  (unsigned long long)(r->offset + got), what,
					  strerror((int)-n));
		if (n == 0)
			return util__fail(
			    r->err, sizeof(r->err), -EBADMSG,
			    "stream: truncated: input ends at byte %llu inside %s (%zu of "
			    "%zu bytes); the sender stopped or the file is incomplete",
			    (unsigned long long)(r->offset + got), what, got, len);
		got += (size_t)n;
	}
	r->offset += len;
	return 0;
}

int stream_reader__header(struct stream_reader *r)
{
	struct stream_header h;
	int rc = get(r, &h, sizeof(h), "the stream header");

	if (rc)
		return rc;
	if (memcmp(h.magic, STREAM_MAGIC, sizeof(h.magic)) != 0)
		return util__fail(r->err, sizeof(r->err), -EBADMSG,
				  "stream: bad magic: this is not a Twin stream");
	if (h.byte_order == STREAM_BYTE_ORDER_REV)
		return util__fail(
		    r->err, sizeof(r->err), -EPROTONOSUPPORT,
		    "stream: written big-endian; Twin streams are little-endian only");
	if (h.byte_order != STREAM_BYTE_ORDER)
		return util__fail(r->err, sizeof(r->err), -EBADMSG,
				  "stream: corrupt byte order marker 0x%08x", h.byte_order);
	if (h.version != STREAM_VERSION)
		return util__fail(
		    r->err, sizeof(r->err), -EPROTONOSUPPORT,
		    "stream: version %u, this build reads version %u; use a matching twin-vmm",
		    h.version, STREAM_VERSION);
	if (h.flags & ~STREAM_FLAGS_KNOWN)
		return util__fail(r->err, sizeof(r->err), -EPROTONOSUPPORT,
				  "stream: unknown header flags 0x%08x",
				  h.flags & ~STREAM_FLAGS_KNOWN);
	if (h.reserved)
		return util__fail(r->err, sizeof(r->err), -EBADMSG,
				  "stream: header reserved field is not zero");
	r->flags = h.flags;
	return 0;
}

/* The checks a known type's body gets here; PAGE_DATA's batch is page_data.c's. */
static int check_known(struct stream_reader *r, const struct stream_record *rec)
{
	const char *name = stream__type_to_str(rec->type);
	unsigned long long off = (unsigned long long)rec->offset;

	switch (rec->type) {
	case STREAM_REC_END:
	case STREAM_REC_SYNC:
	case STREAM_REC_HEARTBEAT:
		if (rec->length)
			return util__fail(r->err, sizeof(r->err), -EBADMSG,
					  "stream: %s at byte %llu has a %u-byte body", name, off,
					  rec->length);
		return 0;
	case STREAM_REC_CHECKPOINT: {
		struct stream_checkpoint c;

		if (rec->length != sizeof(c))
			return util__fail(r->err, sizeof(r->err), -EBADMSG,
					  "stream: CHECKPOINT at byte %llu is %u bytes, not %zu",
					  off, rec->length, sizeof(c));
		memcpy(&c, rec->body, sizeof(c));
		if (r->have_epoch && c.epoch <= r->last_epoch)
			return util__fail(
			    r->err, sizeof(r->err), -EBADMSG,
			    "stream: CHECKPOINT at byte %llu: epoch %llu after epoch %llu; "
			    "epochs must increase",
			    off, (unsigned long long)c.epoch, (unsigned long long)r->last_epoch);
		r->have_epoch = 1;
		r->last_epoch = c.epoch;
		return 0;
	}
	case STREAM_REC_VM_STATE: {
		struct stream_vm_prefix p;

		if (rec->length < sizeof(p))
			break;
		memcpy(&p, rec->body, sizeof(p));
		if (p.reserved)
			return util__fail(
			    r->err, sizeof(r->err), -EBADMSG,
			    "stream: VM_STATE at byte %llu: reserved field is not zero", off);
		return 0;
	}
	case STREAM_REC_VM_CONFIG:
		/* The destination builds its VM from it: nothing may come before. */
		if (r->records)
			return util__fail(
			    r->err, sizeof(r->err), -EBADMSG,
			    "stream: VM_CONFIG at byte %llu follows other records; it must "
			    "be the first record and appear once",
			    off);
		if (rec->length < sizeof(struct stream_vm_config))
			break;
		return 0;
	case STREAM_REC_PAGE_DATA:
	case STREAM_REC_VCPU_STATE:
	case STREAM_REC_DEVICE_STATE:
	case STREAM_REC_DISK_WRITES:
		if (rec->length < 8)
			break;
		return 0;
	}
	return util__fail(r->err, sizeof(r->err), -EBADMSG,
			  "stream: %s at byte %llu is %u bytes, shorter than its prefix", name, off,
			  rec->length);
}

static int is_known(uint32_t type)
{
	return type <= STREAM_REC_LAST;
}

int stream_reader__next(struct stream_reader *r, struct stream_record *rec)
{
	for (;;) {
		struct stream_rec_header h;
		uint8_t pad[STREAM_ALIGN];
		size_t padlen;
		int rc;

		if (r->ended)
			return util__fail(r->err, sizeof(r->err), -EINVAL, "stream: read past END");
		rec->offset = r->offset;
		rc = get(r, &h, sizeof(h), "a record header");
		if (rc)
			return rc;
		if (h.length > STREAM_MAX_RECORD)
			return util__fail(
			    r->err, sizeof(r->err), -EBADMSG,
			    "stream: %s record (type 0x%08x) at byte %llu claims %u bytes, "
			    "over the %u-byte limit",
			    stream__type_to_str(h.type), h.type, (unsigned long long)rec->offset,
			    h.length, STREAM_MAX_RECORD);
		if (!is_known(h.type) && !(h.type & STREAM_REC_OPTIONAL))
			return util__fail(
			    r->err, sizeof(r->err), -EPROTONOSUPPORT,
			    "stream: unknown mandatory record type 0x%08x at byte %llu; the "
			    "sender is newer than this build",
			    h.type, (unsigned long long)rec->offset);
		/* Grow only once the length passed its limit; an empty body still gets a buffer. */
		if (h.length > r->cap || !r->buf) {
			uint8_t *nb = realloc(r->buf, h.length ? h.length : 1);

			if (!nb)
				return util__fail(r->err, sizeof(r->err), -ENOMEM,
						  "stream: out of memory for a %u-byte record",
						  h.length);
			r->buf = nb;
			r->cap = h.length;
		}
		rc = get(r, r->buf, h.length, "a record body");
		padlen = pad_of(h.length);
		if (rc == 0)
			rc = get(r, pad, padlen, "a record's padding");
		if (rc)
			return rc;
		if (memcmp(pad, zeros, padlen) != 0)
			return util__fail(r->err, sizeof(r->err), -EBADMSG,
					  "stream: record at byte %llu has non-zero padding",
					  (unsigned long long)rec->offset);
		rec->type = h.type;
		rec->length = h.length;
		rec->body = r->buf;
		if (!is_known(h.type)) {
			r->skipped++;
			continue;
		}
		rc = check_known(r, rec);
		if (rc)
			return rc;
		if (h.type == STREAM_REC_END)
			r->ended = 1;
		r->records++;
		return 0;
	}
}

int stream_reader__expect_eof(struct stream_reader *r)
{
	uint8_t byte;
	ssize_t n;

	if (!r->ended)
		return util__fail(r->err, sizeof(r->err), -EINVAL,
				  "stream: end of input checked before END was read");
	n = r->read(r->ctx, &byte, 1);
	if (n < 0)
		return util__fail(r->err, sizeof(r->err), (int)n,
				  "stream: read error after END at byte %llu: %s",
				  (unsigned long long)r->offset, strerror((int)-n));
	if (n > 0)
		return util__fail(r->err, sizeof(r->err), -EBADMSG,
				  "stream: data after END at byte %llu: the file holds more than "
				  "one Twin stream or was appended to; save it again",
				  (unsigned long long)r->offset);
	return 0;
}
