/* Fuzz target for VM_CONFIG and the state records as a receiver loads them into a VM (needs KVM).
 */
/*
 * Built as tests/fuzz/fuzz-vm-stream-check (make check) and, with
 * ./configure --enable-libfuzzer (CC=clang), as tests/fuzz/fuzz-vm-stream, a
 * libFuzzer binary: see tests/fuzz/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "vcpu_state.h"
#include "vm.h"
#include "vm_stream.h"
#include "fuzz_target.h"
#include "fuzz_vm_stream_vm.h"

#define MAX_INPUT (24u << 10)

enum { CLS_OK, CLS_STREAM, CLS_CONFIG, CLS_STATE };

static const char *const classes[] = {"ok-", "stream-", "config-", "state-"};

static const uint64_t words[] = {
    0,
    1,
    2,
    0x100,
    0x101,
    STREAM_REC_VM_CONFIG,
    STREAM_REC_VCPU_STATE,
    STREAM_REC_VM_STATE,
    STREAM_REC_DEVICE_STATE,
    STREAM_REC_CHECKPOINT,
    STREAM_VCPU_LAYOUT + 1,
    STREAM_MAX_DEVICES,
    STREAM_MAX_DEVICES + 1,
    VCPU_STATE_MAX_MSRS,
    VCPU_STATE_MAX_MSRS + 1,
    2 << 20,
    4095,
    sizeof(struct stream_vm_config) + 2 * sizeof(struct stream_config_device),
    sizeof(struct stream_vcpu_prefix) + sizeof(struct vcpu_state),
    0x7fffffff,
    0xffffffff,
    0xffffffffffffffffull,
};

/* One VM for every input (fuzz_vm_stream_vm.h). */
static struct vm *vm;

static struct vm *the_vm(void)
{
	if (!vm)
		vm = fuzz_vm_create("fuzz_vm_stream");
	return vm;
}

static const char *bad_message(const char *err, size_t size)
{
	size_t n = strnlen(err, size);

	if (n == 0 || n == size)
		return "error without a NUL-terminated message";
	if (strchr(err, '\n'))
		return "error message spans lines";
	return NULL;
}

static int is_either(int rc, int a, int b)
{
	return rc == -a || rc == -b;
}

/*
 * apply, with xen-core's log lines (one per KVM refusal: thousands of mutants'
 * worth) sent to /dev/null; the contract checks the error it returns.
 */
static int quiet_apply(struct state_loader *l, char *err, size_t errlen)
{
	int saved = fuzz_vm_stderr_mute(), rc;

	rc = state_loader__apply(l, err, errlen);
	fuzz_vm_stderr_restore(saved);
	return rc;
}

/* vCPU 0's general registers: what a refused load must leave alone. */
static void regs_of(struct kvm_regs *regs)
{
	if (ioctl(vm->vcpus[0].fd, KVM_GET_REGS, regs) < 0)
		abort();
}

/* The general registers the last VCPU_STATE for vCPU 0 carried, which a good apply sets. */
static int same_gprs(const struct kvm_regs *a, const struct kvm_regs *b)
{
	return memcmp(a, b, offsetof(struct kvm_regs, rip)) == 0;
}

/*
 * A receiver: header, VM_CONFIG (parsed, checked against the VM), then state
 * records into a loader that is applied at each CHECKPOINT and at END.
 */
static const char *check(const uint8_t *data, size_t size, int *cls)
{
	static struct vm_stream_config cfg;
	struct stream_mem src = {.data = data, .size = size};
	struct state_loader *l = NULL;
	struct kvm_regs before, after, sent;
	struct stream_reader r;
	struct stream_record rec;
	const char *why = NULL;
	char err[256] = "";
	int rc, have_sent = 0, applied = 0, pending = 0;

	the_vm();
	regs_of(&before);
	stream_reader__init(&r, stream__mem_read, &src);
	if (state_loader__init(&l, vm))
		abort();
	rc = stream_reader__header(&r);
	if (rc == 0)
		rc = stream_reader__next(&r, &rec);
	if (rc)
		goto reader;
	*cls = CLS_CONFIG;
	rc = vm_stream__parse_config(&rec, &cfg, err, sizeof(err));
	if (rc && !is_either(rc, EBADMSG, EPROTONOSUPPORT))
		why = "VM_CONFIG refused with an error other than -EBADMSG or -EPROTONOSUPPORT";
	if (rc == 0) {
		rc = vm_stream__check_config(&cfg, vm, err, sizeof(err));
		if (rc && !is_either(rc, EINVAL, EPROTONOSUPPORT))
			why = "VM_CONFIG checked with an error other than -EINVAL or "
			      "-EPROTONOSUPPORT";
	}
	if (rc)
		goto refused;
	for (;;) {
		rc = stream_reader__next(&r, &rec);
		if (rc)
			goto reader;
		/* END after a CHECKPOINT only stops: that epoch was applied already. */
		if (rec.type == STREAM_REC_END && applied && !pending) {
			*cls = CLS_OK;
			goto out;
		}
		if (rec.type == STREAM_REC_CHECKPOINT || rec.type == STREAM_REC_END) {
			rc = quiet_apply(l, err, sizeof(err));
			applied = 1;
			pending = 0;
			*cls = CLS_STATE;
			/*
			 * -EBADMSG: incomplete, refused untouched; anything else: a device
			 * or KVM refused it part way, and a receiver stops there.
			 */
			if (rc == -EBADMSG)
				goto refused;
			if (rc) {
				why = bad_message(err, sizeof(err));
				goto out;
			}
			regs_of(&after);
			if (!have_sent)
				why = "an epoch without vCPU 0 was applied";
			if (!same_gprs(&after, &sent))
				why = "vCPU 0's registers are not those the stream sent";
			if (why)
				goto out;
			before = after;
			have_sent = 0;
			if (rec.type == STREAM_REC_END) {
				*cls = CLS_OK;
				goto out;
			}
			continue;
		}
		if (rec.type != STREAM_REC_VCPU_STATE && rec.type != STREAM_REC_VM_STATE &&
		    rec.type != STREAM_REC_DEVICE_STATE)
			continue; /* pages and disk writes are other targets' */
		rc = state_loader__record(l, &rec, err, sizeof(err));
		if (rc) {
			*cls = CLS_STATE;
			if (!is_either(rc, EBADMSG, EPROTONOSUPPORT) && rc != -EINVAL)
				why = "a state record refused with an unexpected error";
			goto refused;
		}
		pending = 1;
		if (rec.type == STREAM_REC_VCPU_STATE) {
			memcpy(&sent,
			       rec.body + sizeof(struct stream_vcpu_prefix) +
				   offsetof(struct vcpu_state, regs),
			       sizeof(sent));
			have_sent = 1;
		}
	}
reader:
	*cls = CLS_STREAM;
	if (rc != -EBADMSG && rc != -EPROTONOSUPPORT)
		why = "the reader failed with an error other than -EBADMSG or -EPROTONOSUPPORT";
	if (!why)
		why = bad_message(r.err, sizeof(r.err));
	goto untouched;
refused:
	if (!why)
		why = bad_message(err, sizeof(err));
untouched:
	regs_of(&after);
	if (!why && memcmp(&before, &after, sizeof(before)))
		why = "a refused stream changed vCPU 0";
out:
	state_loader__free(l);
	stream_reader__dispose(&r);
	return why;
}

const struct fuzz_target fuzz_target = {
    .name = "vm-stream",
    .classes = classes,
    .nclasses = 4,
    .check = check,
    .max_input = MAX_INPUT,
    .words = words,
    .nwords = sizeof(words) / sizeof(words[0]),
};
