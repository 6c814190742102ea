/* Fuzz target for the backup's epochs: staged, committed or refused, discarded (needs KVM). */
/*
 * Built as tests/fuzz/fuzz-backup-check (make check) and, with ./configure
 * --enable-libfuzzer (CC=clang), as tests/fuzz/fuzz-backup: see
 * tests/fuzz/README.md.  The input is a replication stream after the initial
 * sync (header, then epochs), fed to an epoch buffer on fuzz_vm_stream_vm.h's
 * VM as the backup's engine does: records staged, CHECKPOINT committed,
 * HEARTBEAT passed over; the open epoch discarded at the end, then the last
 * committed state restored as at a failover.
 */
#include <errno.h>
#include <string.h>
#include "epoch_buffer.h"
#include "memory.h"
#include "vm.h"
#include "fuzz_target.h"
#include "fuzz_vm_stream_vm.h"

#define MAX_INPUT (32u << 10) /* an epoch with the fuzz VM's whole state is ~23 KiB */
#define CAP	  (1u << 20)  /* past it, a page is refused -ENOBUFS: mutants reach it */

enum { CLS_COMMITTED, CLS_OPEN, CLS_REFUSED };

static const char *const classes[] = {"committed-", "open-", "refused-"};

static const uint64_t words[] = {
    0,
    1,
    2,
    8,
    STREAM_REC_PAGE_DATA,
    STREAM_REC_DISK_WRITES,
    STREAM_REC_CHECKPOINT,
    STREAM_REC_HEARTBEAT,
    STREAM_PAGE_DELTA,
    FUZZ_VM_MEM / 4096,
    FUZZ_VM_MEM / 4096 - 1,
    FUZZ_VM_DISK_SIZE / 512,
    4096,
    0x7fffffff,
    0xffffffff,
    0xffffffffffffffffull,
};

static struct vm *vm;
static uint8_t ram[FUZZ_VM_MEM]; /* guest RAM as of the last commit */

static const char *bad_message(const char *err, size_t size)
{
	size_t n = strnlen(err, size);

	if (n == 0 || n == size)
		return "error without a NUL-terminated message";
	if (strchr(err, '\n'))
		return "error message spans lines";
	return NULL;
}

static bool expected(int rc)
{
	return rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -EINVAL || rc == -ENOBUFS;
}

static void snapshot(uint8_t *guest)
{
	memcpy(ram, guest, sizeof(ram));
}

/* Every record until the first refusal: the class, and the broken rule if any. */
static const char *feed(struct epoch_buffer *eb, struct stream_reader *r, uint8_t *guest, int *cls)
{
	struct stream_record rec;
	char err[512] = "";
	int rc;

	*cls = CLS_OPEN;
	rc = stream_reader__header(r);
	while (rc == 0) {
		rc = stream_reader__next(r, &rec);
		if (rc)
			break;
		if (rec.type == STREAM_REC_END)
			return NULL;
		if (rec.type == STREAM_REC_HEARTBEAT)
			continue;
		if (rec.type != STREAM_REC_CHECKPOINT) {
			rc = epoch_buffer__record(eb, &rec, err, sizeof(err));
			continue;
		}
		rc = epoch_buffer__commit(eb, ((const struct stream_checkpoint *)rec.body)->epoch,
					  err, sizeof(err));
		if (rc == 0) {
			if (epoch_buffer__stats(eb).staged_bytes)
				return "a commit left bytes staged";
			snapshot(guest);
			*cls = CLS_COMMITTED;
		}
	}
	*cls = CLS_REFUSED;
	if (!err[0]) /* the reader refused: the buffer's refusals set err */
		snprintf(err, sizeof(err), "%s", r->err);
	if (!expected(rc))
		return "a refusal other than -EBADMSG, -EPROTONOSUPPORT, -EINVAL or -ENOBUFS";
	return bad_message(err, sizeof(err));
}

static const char *check(const uint8_t *data, size_t size, int *cls)
{
	struct stream_mem src = {.data = data, .size = size};
	struct epoch_buffer *eb;
	struct stream_reader r;
	const char *why;
	char err[512] = "";
	uint8_t *guest;
	int saved;

	if (!vm)
		vm = fuzz_vm_create("fuzz_backup");
	guest = memory__gpa_to_hva(vm, 0, FUZZ_VM_MEM);
	if (!guest || epoch_buffer__new(&eb, vm, CAP, err, sizeof(err)))
		abort();
	snapshot(guest);
	stream_reader__init(&r, stream__mem_read, &src);
	saved = fuzz_vm_stderr_mute(); /* a KVM refusal logs a line: the contract checks rc */
	why = feed(eb, &r, guest, cls);
	/* A failover: the open epoch never reaches the VM; the committed state restores. */
	if (!why && epoch_buffer__discard(eb))
		why = "discard failed";
	if (!why && memcmp(ram, guest, sizeof(ram)))
		why = "the open epoch reached guest RAM";
	err[0] = '\0';
	if (!why && epoch_buffer__restore_state(eb, err, sizeof(err)))
		why = bad_message(err, sizeof(err));
	fuzz_vm_stderr_restore(saved);
	stream_reader__dispose(&r);
	epoch_buffer__free(eb);
	return why;
}

const struct fuzz_target fuzz_target = {
    .name = "backup",
    .classes = classes,
    .nclasses = 3,
    .check = check,
    .max_input = MAX_INPUT,
    .words = words,
    .nwords = sizeof(words) / sizeof(words[0]),
};
