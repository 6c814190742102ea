/* Fuzz target for a destination's whole receive: pages, disk writes, state and END (needs KVM). */
/*
 * Built as tests/fuzz/fuzz-receive-check (make check) and, with ./configure
 * --enable-libfuzzer (CC=clang), as tests/fuzz/fuzz-receive: see
 * tests/fuzz/README.md.  The input is a whole stream, received by
 * migrate__receive_config, vm_stream__check_config and migrate__receive into
 * fuzz_vm_stream_vm.h's VM, as twin-vmm restore and incoming do.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "migrate.h"
#include "vm.h"
#include "vm_stream.h"
#include "fuzz_target.h"
#include "fuzz_vm_stream_vm.h"

#define MAX_INPUT (32u << 10) /* seeds with pages and a disk chunk are ~30 KiB */

enum { CLS_OK, CLS_REFUSED };

static const char *const classes[] = {"ok-", "refused-"};

static const uint64_t words[] = {
    0,
    1,
    8,
    0x100,
    STREAM_REC_PAGE_DATA,
    STREAM_REC_DISK_WRITES,
    STREAM_REC_CHECKPOINT,
    STREAM_REC_SYNC,
    STREAM_PAGE_DELTA,
    STREAM_PAGE_ZLIB,
    FUZZ_VM_MEM / 4096,
    FUZZ_VM_MEM / 4096 - 1,
    FUZZ_VM_DISK_SIZE / 512,
    FUZZ_VM_DISK_SIZE / 512 - 8,
    4096,
    0x7fffffff,
    0xffffffff,
    0xffffffffffffffffull,
};

static struct vm *vm;

/* A refusal's message: one line, not empty. */
static const char *bad_message(const char *err, size_t size)
{
	size_t n = strnlen(err, size);

	if (n == 0 || n == size)
		return "error without a NUL-terminated message";
	if (strchr(err, '\n'))
		return "error message spans lines";
	return NULL;
}

/* Where READY goes when the input holds a SYNC: the source is imaginary. */
static int discard(void *ctx, const void *buf, size_t len)
{
	return 0;
}

/* The receive, with xen-core's log lines (a KVM refusal each) sent to /dev/null. */
static int quiet_receive(struct stream_reader *r, char *err, size_t errlen)
{
	int saved = fuzz_vm_stderr_mute(), rc;

	rc = migrate__receive(r, vm, discard, NULL, NULL, err, errlen);
	fuzz_vm_stderr_restore(saved);
	return rc;
}

/* Received whole (0) or refused with a one-line reason; never a crash or a hang. */
static const char *check(const uint8_t *data, size_t size, int *cls)
{
	static struct vm_stream_config cfg;
	struct stream_mem src = {.data = data, .size = size};
	struct stream_reader r;
	char err[512] = "";
	int rc;

	if (!vm)
		vm = fuzz_vm_create("fuzz_receive");
	stream_reader__init(&r, stream__mem_read, &src);
	rc = migrate__receive_config(&r, &cfg, err, sizeof(err));
	if (!rc)
		rc = vm_stream__check_config(&cfg, vm, err, sizeof(err));
	if (!rc)
		rc = quiet_receive(&r, err, sizeof(err));
	stream_reader__dispose(&r);
	*cls = rc ? CLS_REFUSED : CLS_OK;
	if (rc > 0)
		return "a positive return";
	return rc ? bad_message(err, sizeof(err)) : NULL;
}

const struct fuzz_target fuzz_target = {
    .name = "receive",
    .classes = classes,
    .nclasses = 2,
    .check = check,
    .max_input = MAX_INPUT,
    .words = words,
    .nwords = sizeof(words) / sizeof(words[0]),
};
