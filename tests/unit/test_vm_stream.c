/* Check suite for VM_CONFIG and the state records: round trip into a fresh VM, and refusals. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "boot.h"
#include "devstate.h"
#include "ioloop.h"
#include "suites.h"
#include "vcpu_state.h"
#include "virtio_blk.h"
#include "virtio_pci.h"
#include "vm.h"
#include "vm_state.h"
#include "vm_stream.h"
#include "vm_fixture.h"
#include "stream_sink.h"

#define VCPUS	   2
#define PAGES	   256
#define WS	   256
#define ITERS	   4
#define CMDLINE	   "pages=256 ws=256 rate=2 vcpus=2 iters=4"
#define IMAGE_SIZE (1 << 20)
#define MAX_RECS   (4 + VCPUS + VM_STREAM_MAX_DEVICES)

/* Disks on images of IMAGE_SIZE that vanish with the VM. */
static void add_disk(struct vm *vm, unsigned int index)
{
	char path[] = "/tmp/twin-vm-stream-XXXXXX", err[256];
	struct virtio_blk *blk;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, IMAGE_SIZE), 0);
	close(fd);
	ck_assert_msg(virtio_blk__open(path, false, index, &blk, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	ck_assert_int_eq(virtio_blk__register(blk, vm, false), 0);
}

static void rig_create(struct test_vm *r, uint64_t mem, unsigned int vcpus, unsigned int disks)
{
	test_vm__create(r, mem, vcpus);
	for (unsigned int i = 0; i < disks; i++)
		add_disk(r->vm, i);
}

/* header, VM_CONFIG, the state records and END of a paused (or never started) VM. */
static void write_stream(struct vm *vm, struct sink *s)
{
	struct stream_writer w;

	memset(s, 0, sizeof(*s));
	stream_writer__init(&w, sink_write, s);
	ck_assert_int_eq(stream_writer__header(&w, 0), 0);
	ck_assert_int_eq(vm_stream__write_config(&w, vm), 0);
	ck_assert_int_eq(vm_stream__write_state(&w, vm), 0);
	ck_assert_int_eq(stream_writer__end(&w), 0);
}

/* The records of a stream, each with its own copy of the body. */
struct recs {
	struct stream_record rec[MAX_RECS];
	int n;
};

static void split(const struct sink *s, struct recs *out)
{
	struct stream_mem src = {.data = s->data, .size = s->len};
	struct stream_reader r;

	memset(out, 0, sizeof(*out));
	stream_reader__init(&r, stream__mem_read, &src);
	ck_assert_msg(stream_reader__header(&r) == 0, "%s", r.err);
	for (;;) {
		struct stream_record *rec = &out->rec[out->n];
		uint8_t *body;

		ck_assert_int_lt(out->n, MAX_RECS);
		ck_assert_msg(stream_reader__next(&r, rec) == 0, "%s", r.err);
		body = malloc(rec->length + 16); /* room to make a record oversized */
		ck_assert_ptr_nonnull(body);
		memset(body, 0, rec->length + 16);
		memcpy(body, rec->body, rec->length);
		rec->body = body;
		out->n++;
		if (rec->type == STREAM_REC_END)
			break;
	}
	stream_reader__dispose(&r);
}

static void recs_free(struct recs *rs)
{
	for (int i = 0; i < rs->n; i++)
		free((void *)rs->rec[i].body);
}

/* The i-th record of a type (VCPU_STATE 1 is the second VCPU_STATE). */
static struct stream_record *find(struct recs *rs, uint32_t type, int i)
{
	for (int k = 0; k < rs->n; k++)
		if (rs->rec[k].type == type && i-- == 0)
			return &rs->rec[k];
	ck_abort_msg("no record %s #%d", stream__type_to_str(type), i);
	return NULL;
}

/*
 * What a receiver does: header, VM_CONFIG (parsed and checked against vm),
 * the state records, apply at END.  Returns the first error, with err set.
 */
static int load(const uint8_t *data, size_t len, struct vm *vm, char *err, size_t errlen)
{
	struct stream_mem src = {.data = data, .size = len};
	struct vm_stream_config *cfg = malloc(sizeof(*cfg));
	struct state_loader *l = NULL;
	struct stream_reader r;
	struct stream_record rec;
	int rc;

	ck_assert_ptr_nonnull(cfg);
	stream_reader__init(&r, stream__mem_read, &src);
	rc = stream_reader__header(&r);
	if (rc == 0)
		rc = stream_reader__next(&r, &rec);
	if (rc) {
		snprintf(err, errlen, "%s", r.err);
		goto out;
	}
	rc = vm_stream__parse_config(&rec, cfg, err, errlen);
	if (rc == 0)
		rc = vm_stream__check_config(cfg, vm, err, errlen);
	if (rc == 0)
		rc = state_loader__init(&l, vm);
	while (rc == 0) {
		rc = stream_reader__next(&r, &rec);
		if (rc) {
			snprintf(err, errlen, "%s", r.err);
			break;
		}
		if (rec.type == STREAM_REC_END) {
			rc = state_loader__apply(l, err, errlen);
			break;
		}
		rc = state_loader__record(l, &rec, err, errlen);
	}
out:
	state_loader__free(l);
	stream_reader__dispose(&r);
	free(cfg);
	return rc;
}

/*
 * memwriter paused mid-run (running, its state is refused), its VM_CONFIG and
 * state streamed (its RAM copied beside the stream) into a VM built from that
 * VM_CONFIG: the source is gone, the state read back from the new VM is the
 * stream's, and the guest finishes with the checksum of an uninterrupted run.
 */
START_TEST(test_round_trip)
{
	struct vm_stream_config *cfg = malloc(sizeof(*cfg));
	struct stream_writer w;
	struct sink s, back;
	struct recs a, b;
	struct test_vm src, dst;
	char err[512], want[128];
	uint8_t *ram;
	uint64_t mem;

	ck_assert_ptr_nonnull(cfg);
	rig_create(&src, 64 << 20, VCPUS, 1);
	test_vm__boot_memwriter(&src, CMDLINE);
	test_vm__wait_writing(&src);
	/* Running: refused, and nothing written. */
	memset(&s, 0, sizeof(s));
	stream_writer__init(&w, sink_write, &s);
	ck_assert_int_eq(vm_stream__write_state(&w, src.vm), -EBUSY);
	ck_assert_uint_eq(s.len, 0);
	vm__pause_all(src.vm);
	ioloop__pause(src.vm->ioloop);
	ck_assert_msg(!strstr(src.out, "memwriter: done"), "memwriter finished before the pause");
	write_stream(src.vm, &s);
	mem = src.vm->mem.size;
	ram = malloc(mem);
	ck_assert_ptr_nonnull(ram);
	memcpy(ram, src.vm->mem.base, mem);
	ioloop__resume(src.vm->ioloop);
	test_vm__destroy(&src);

	/* The destination is built from VM_CONFIG alone. */
	split(&s, &a);
	ck_assert_uint_eq(a.rec[0].type, STREAM_REC_VM_CONFIG);
	ck_assert_int_eq(vm_stream__parse_config(&a.rec[0], cfg, err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg->mem_size, 64 << 20);
	ck_assert_uint_eq(cfg->nr_vcpus, VCPUS);
	ck_assert(cfg->has_pit);
	ck_assert_uint_eq(cfg->nr_devices, 3); /* PCI bus, UART, the disk */
	ck_assert_uint_eq(cfg->devices[2].id, DEVSTATE_ID_VIRTIO(1));
	rig_create(&dst, cfg->mem_size, cfg->nr_vcpus, 1);
	memcpy(dst.vm->mem.base, ram, mem);
	ck_assert_msg(load(s.data, s.len, dst.vm, err, sizeof(err)) == 0, "%s", err);

	/* What the new VM holds now is what was sent, but for the running TSC and clock. */
	write_stream(dst.vm, &back);
	split(&back, &b);
	ck_assert_int_eq(a.n, b.n);
	for (int i = 0; i < a.n; i++) {
		const struct stream_record *x = &a.rec[i], *y = &b.rec[i];

		ck_assert_uint_eq(x->type, y->type);
		ck_assert_uint_eq(x->length, y->length);
		if (x->type == STREAM_REC_VCPU_STATE) {
			size_t regs =
			    sizeof(struct stream_vcpu_prefix) + offsetof(struct vcpu_state, regs);

			/* REGS and SREGS, then the vCPU id and layout. */
			ck_assert_mem_eq(x->body + regs, y->body + regs,
					 sizeof(struct kvm_regs) + sizeof(struct kvm_sregs));
			ck_assert_mem_eq(x->body, y->body, sizeof(struct stream_vcpu_prefix));
		} else if (x->type != STREAM_REC_VM_STATE) {
			ck_assert_msg(memcmp(x->body, y->body, x->length) == 0,
				      "%s record %d differs after the round trip",
				      stream__type_to_str(x->type), i);
		}
	}
	ck_assert_int_eq(vm__start(dst.vm), 0);
	snprintf(want, sizeof(want),
		 "memwriter: done iters=%d pages=%d vcpus=%d checksum=0x%016llx", ITERS, PAGES,
		 VCPUS, (unsigned long long)memwriter_checksum(VCPUS, PAGES, WS, ITERS));
	test_vm__wait_text(&dst, "memwriter: done");
	ck_assert_msg(strstr(dst.out, want), "wanted \"%s\"; the console said:\n%s", want, dst.out);
	ck_assert_int_eq(vm__join(dst.vm), 1); /* TWIN_GUEST_EXIT_OK */
	test_vm__destroy(&dst);
	recs_free(&a);
	recs_free(&b);
	free(s.data);
	free(back.data);
	free(ram);
	free(cfg);
}
END_TEST

/* What a refused load must leave alone: every vCPU's registers and every device's state. */
struct fingerprint {
	struct kvm_regs regs[VCPUS];
	struct kvm_sregs sregs[VCPUS];
	struct sink devices;
};

static void fingerprint(struct vm *vm, struct fingerprint *f)
{
	struct devstate_info info[VM_STREAM_MAX_DEVICES];
	unsigned int n = devstate__list(vm, info, VM_STREAM_MAX_DEVICES);

	memset(f, 0, sizeof(*f));
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		ck_assert_int_eq(ioctl(vm->vcpus[i].fd, KVM_GET_REGS, &f->regs[i]), 0);
		ck_assert_int_eq(ioctl(vm->vcpus[i].fd, KVM_GET_SREGS, &f->sregs[i]), 0);
	}
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *buf = malloc(info[i].size);

		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(devstate__save(vm, info[i].id, buf, info[i].size), 0);
		ck_assert_int_eq(sink_write(&f->devices, buf, info[i].size), 0);
		free(buf);
	}
}

static void assert_untouched(struct vm *vm, const struct fingerprint *before)
{
	struct fingerprint *now = malloc(sizeof(*now));

	ck_assert_ptr_nonnull(now);
	fingerprint(vm, now);
	ck_assert_mem_eq(now->regs, before->regs, sizeof(now->regs));
	ck_assert_mem_eq(now->sregs, before->sregs, sizeof(now->sregs));
	ck_assert_uint_eq(now->devices.len, before->devices.len);
	ck_assert_msg(memcmp(now->devices.data, before->devices.data, now->devices.len) == 0,
		      "a refused load changed a device's state");
	free(now->devices.data);
	free(now);
}

/* Feeds every state record of rs but skip (NULL: none) to a loader; each must be taken. */
static void feed(struct state_loader *l, struct recs *rs, const struct stream_record *skip)
{
	char err[512];

	for (int i = 1; i < rs->n - 1; i++)
		if (&rs->rec[i] != skip)
			ck_assert_msg(state_loader__record(l, &rs->rec[i], err, sizeof(err)) == 0,
				      "%s", err);
}

/* One record refused with rc and a one-line message holding what. */
static void refused(struct state_loader *l, const struct stream_record *rec, int rc,
		    const char *what)
{
	char err[512] = "";

	ck_assert_int_eq(state_loader__record(l, rec, err, sizeof(err)), rc);
	ck_assert_msg(strstr(err, what) && !strchr(err, '\n'), "error \"%s\" lacks \"%s\"", err,
		      what);
}

/* A record with one field changed, or its length: a copy the caller frees. */
static struct stream_record *edited(const struct stream_record *rec, size_t off, uint32_t value,
				    int grow)
{
	struct stream_record *c = malloc(sizeof(*c));
	uint8_t *b = calloc(1, rec->length + 16);

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(b);
	*c = *rec;
	memcpy(b, rec->body, rec->length);
	if (off != SIZE_MAX)
		memcpy(b + off, &value, sizeof(value));
	c->length = (uint32_t)((int64_t)rec->length + grow);
	c->body = b;
	return c;
}

static void edited_free(struct stream_record *c)
{
	free((void *)c->body);
	free(c);
}

#define VCPU_MSRS  (sizeof(struct stream_vcpu_prefix) + offsetof(struct vcpu_state, nr_msrs))
#define VM_HAS_PIT (sizeof(struct stream_vm_prefix) + offsetof(struct vm_state, has_pit))
#define VM_PIT	   (sizeof(struct stream_vm_prefix) + offsetof(struct vm_state, pit))

/*
 * The state of a VM whose vCPUs hold a marker, offered to a fresh VM with
 * one record missing, doubled, cut, grown or corrupt: each refused with a
 * clear error, and the fresh VM untouched until a whole epoch arrives; then
 * it takes the marker, twice, from one loader.
 */
START_TEST(test_loader_refusals)
{
	struct fingerprint *before = malloc(sizeof(*before));
	struct state_loader *l;
	struct kvm_regs regs;
	struct stream_record *c;
	struct test_vm src, dst;
	struct recs rs;
	struct sink s;
	char err[512] = "";

	ck_assert_ptr_nonnull(before);
	rig_create(&src, 16 << 20, VCPUS, 1);
	for (unsigned int i = 0; i < VCPUS; i++) {
		ck_assert_int_eq(ioctl(src.vm->vcpus[i].fd, KVM_GET_REGS, &regs), 0);
		regs.rbx = 0x5eed0000 + i;
		ck_assert_int_eq(ioctl(src.vm->vcpus[i].fd, KVM_SET_REGS, &regs), 0);
	}
	write_stream(src.vm, &s);
	split(&s, &rs);
	rig_create(&dst, 16 << 20, VCPUS, 1);
	fingerprint(dst.vm, before);
	ck_assert_int_eq(state_loader__init(&l, dst.vm), 0);

	/* Missing: every record but one, then apply. */
	feed(l, &rs, find(&rs, STREAM_REC_VCPU_STATE, 1));
	ck_assert_int_eq(state_loader__apply(l, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "no VCPU_STATE for vCPU 1"), "%s", err);
	feed(l, &rs, find(&rs, STREAM_REC_VM_STATE, 0));
	ck_assert_int_eq(state_loader__apply(l, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "no VM_STATE"), "%s", err);
	feed(l, &rs, find(&rs, STREAM_REC_DEVICE_STATE, 2));
	ck_assert_int_eq(state_loader__apply(l, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "no DEVICE_STATE for virtio-blk 0 in slot 1"), "%s", err);
	assert_untouched(dst.vm, before);

	/* Doubled, within one epoch. */
	feed(l, &rs, NULL);
	refused(l, find(&rs, STREAM_REC_VCPU_STATE, 0), -EBADMSG, "second state for vCPU 0");
	refused(l, find(&rs, STREAM_REC_VM_STATE, 0), -EBADMSG, "second one");
	refused(l, find(&rs, STREAM_REC_DEVICE_STATE, 1), -EBADMSG, "second state for 8250 UART");
	/* A fresh loader: applying this one would restore a whole epoch. */
	state_loader__free(l);
	ck_assert_int_eq(state_loader__init(&l, dst.vm), 0);

	/* Cut short or grown by 8 bytes: the size of each is fixed. */
	for (int grow = -8; grow <= 8; grow += 16) {
		c = edited(find(&rs, STREAM_REC_VCPU_STATE, 0), SIZE_MAX, 0, grow);
		refused(l, c, -EBADMSG, "a layout-1 vCPU state record is 10304");
		edited_free(c);
		c = edited(find(&rs, STREAM_REC_VM_STATE, 0), SIZE_MAX, 0, grow);
		refused(l, c, -EBADMSG, "a layout-1 VM state record is 1744");
		edited_free(c);
		c = edited(find(&rs, STREAM_REC_DEVICE_STATE, 2), SIZE_MAX, 0, grow);
		refused(l, c, -EBADMSG, "virtio-blk 0 in slot 1 state is");
		edited_free(c);
	}
	/* Out of range, unknown, another version or layout, corrupt inside. */
	c = edited(find(&rs, STREAM_REC_VCPU_STATE, 0), 0, VCPUS, 0);
	refused(l, c, -EBADMSG, "is for vCPU 2; the VM has 2");
	edited_free(c);
	c = edited(find(&rs, STREAM_REC_VCPU_STATE, 0), 4, STREAM_VCPU_LAYOUT + 1, 0);
	refused(l, c, -EPROTONOSUPPORT, "has layout 2, this build reads 1");
	edited_free(c);
	c = edited(find(&rs, STREAM_REC_VCPU_STATE, 0), VCPU_MSRS, VCPU_STATE_MAX_MSRS + 1, 0);
	refused(l, c, -EBADMSG, "257 MSRs");
	edited_free(c);
	c = edited(find(&rs, STREAM_REC_VM_STATE, 0), VM_HAS_PIT, 2, 0);
	refused(l, c, -EBADMSG, "has_pit is 2");
	edited_free(c);
	c = edited(find(&rs, STREAM_REC_VM_STATE, 0), VM_HAS_PIT, 0, 0);
	((uint8_t *)c->body)[VM_PIT] |= 1;
	refused(l, c, -EBADMSG, "has_pit is 0 but the PIT state is not zero");
	edited_free(c);
	c = edited(find(&rs, STREAM_REC_DEVICE_STATE, 2), 0, DEVSTATE_ID_VIRTIO(9), 0);
	refused(l, c, -EBADMSG, "device id 0x109, which this VM lacks");
	edited_free(c);
	c = edited(find(&rs, STREAM_REC_DEVICE_STATE, 2), 4, VIRTIO_STATE_VERSION + 1, 0);
	refused(l, c, -EPROTONOSUPPORT, "state version 2, this build reads version 1");
	edited_free(c);
	refused(l, find(&rs, STREAM_REC_END, 0), -EINVAL, "not a state record");
	/* Nothing was taken: apply still refuses, and the VM is as it was. */
	ck_assert_int_eq(state_loader__apply(l, err, sizeof(err)), -EBADMSG);
	assert_untouched(dst.vm, before);

	/* A whole epoch, twice through the same loader: the marker arrives. */
	for (int epoch = 0; epoch < 2; epoch++) {
		feed(l, &rs, NULL);
		ck_assert_msg(state_loader__apply(l, err, sizeof(err)) == 0, "%s", err);
		for (unsigned int i = 0; i < VCPUS; i++) {
			ck_assert_int_eq(ioctl(dst.vm->vcpus[i].fd, KVM_GET_REGS, &regs), 0);
			ck_assert_uint_eq(regs.rbx, 0x5eed0000 + i);
		}
	}
	state_loader__free(l);
	test_vm__destroy(&dst);
	test_vm__destroy(&src);
	recs_free(&rs);
	free(before->devices.data);
	free(before);
	free(s.data);
}
END_TEST

/* A stream cut inside a state record is refused by the reader: nothing is applied. */
START_TEST(test_truncated_stream)
{
	struct fingerprint *before = malloc(sizeof(*before));
	struct test_vm src, dst;
	struct recs rs;
	struct sink s;
	char err[512] = "";
	size_t cut;

	ck_assert_ptr_nonnull(before);
	rig_create(&src, 16 << 20, VCPUS, 1);
	write_stream(src.vm, &s);
	split(&s, &rs);
	rig_create(&dst, 16 << 20, VCPUS, 1);
	fingerprint(dst.vm, before);
	cut = find(&rs, STREAM_REC_VCPU_STATE, 1)->offset + 100;
	ck_assert_int_eq(load(s.data, cut, dst.vm, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "truncated"), "%s", err);
	/* Without END, nothing applies either: the last record whole, the END cut off. */
	ck_assert_int_eq(load(s.data, s.len - 4, dst.vm, err, sizeof(err)), -EBADMSG);
	assert_untouched(dst.vm, before);
	ck_assert_msg(load(s.data, s.len, dst.vm, err, sizeof(err)) == 0, "%s", err);
	test_vm__destroy(&dst);
	test_vm__destroy(&src);
	recs_free(&rs);
	free(before->devices.data);
	free(before);
	free(s.data);
}
END_TEST

static void check_refused(const struct vm_stream_config *cfg, struct vm *vm, int rc,
			  const char *what)
{
	char err[512] = "";

	ck_assert_int_eq(vm_stream__check_config(cfg, vm, err, sizeof(err)), rc);
	ck_assert_msg(strstr(err, what) && !strchr(err, '\n'), "error \"%s\" lacks \"%s\"", err,
		      what);
}

static void parse_refused(const struct stream_record *rec, int rc, const char *what)
{
	struct vm_stream_config *cfg = malloc(sizeof(*cfg));
	char err[512] = "";

	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(vm_stream__parse_config(rec, cfg, err, sizeof(err)), rc);
	ck_assert_msg(strstr(err, what) && !strchr(err, '\n'), "error \"%s\" lacks \"%s\"", err,
		      what);
	free(cfg);
}

#define DEV0 (sizeof(struct stream_vm_config))

/*
 * VM_CONFIG against VMs that differ from the saved one, each refused with the
 * option to fix it, and corrupt VM_CONFIG bodies refused by the parser.
 */
START_TEST(test_config_refusals)
{
	struct vm_stream_config *cfg = malloc(sizeof(*cfg));
	struct stream_record *rec, *c;
	struct state_loader *l;
	struct test_vm src, other;
	struct recs rs;
	struct sink s;
	char err[512];

	ck_assert_ptr_nonnull(cfg);
	rig_create(&src, 16 << 20, VCPUS, 2);
	write_stream(src.vm, &s);
	split(&s, &rs);
	rec = &rs.rec[0];
	ck_assert_msg(vm_stream__parse_config(rec, cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(vm_stream__check_config(cfg, src.vm, err, sizeof(err)) == 0, "%s", err);

	rig_create(&other, 32 << 20, VCPUS, 2);
	check_refused(cfg, other.vm, -EINVAL, "16384 KiB of RAM; this one has 32768 KiB");
	check_refused(cfg, other.vm, -EINVAL, "--mem 16384K");
	test_vm__destroy(&other);
	rig_create(&other, 16 << 20, 1, 2);
	check_refused(cfg, other.vm, -EINVAL, "--vcpus 2");
	/* Past a VM_CONFIG check, the loader still refuses the VM state of another VM. */
	ck_assert_int_eq(state_loader__init(&l, other.vm), 0);
	refused(l, find(&rs, STREAM_REC_VM_STATE, 0), -EINVAL,
		"is for 2 vCPUs and a PIT; this VM has 1");
	state_loader__free(l);
	test_vm__destroy(&other);
	rig_create(&other, 16 << 20, VCPUS, 1);
	check_refused(cfg, other.vm, -EINVAL,
		      "stream is for a VM with 2 virtio-blk disks (virtio-blk 0 in slot 1, "
		      "virtio-blk 1 in slot 2); this one has 1: give twin-vmm another --disk");
	test_vm__destroy(&other);
	rig_create(&other, 16 << 20, VCPUS, 3);
	check_refused(cfg, other.vm, -EINVAL, "this one has 3: give twin-vmm 1 --disk fewer");
	test_vm__destroy(&other);
	/* A NIC the stream has and this VM lacks (no tap needed to say so). */
	cfg->devices[cfg->nr_devices++] = (struct devstate_info){.id = DEVSTATE_ID_VIRTIO(3),
								 .version = VIRTIO_STATE_VERSION,
								 .size = 376,
								 .name = "virtio-net 0"};
	check_refused(cfg, src.vm, -EINVAL,
		      "stream is for a VM with 1 virtio-net NIC (virtio-net 0 in slot 3); this one "
		      "has 0: give twin-vmm another --nic");
	cfg->nr_devices--;
	/* Another state version of the disk's device. */
	cfg->devices[3].version++;
	check_refused(cfg, src.vm, -EPROTONOSUPPORT, "use twin-vmm of the same version");
	cfg->devices[3].version--;

	/* Corrupt bodies. */
	c = edited(rec, SIZE_MAX, 0, -1);
	parse_refused(c, -EBADMSG, "bytes for 4 devices");
	edited_free(c);
	c = edited(rec, 16, STREAM_VCPU_LAYOUT + 1, 0);
	parse_refused(c, -EPROTONOSUPPORT, "use twin-vmm of the same version on both sides");
	edited_free(c);
	c = edited(rec, 8, 0, 0);
	parse_refused(c, -EBADMSG, "0 vCPUs");
	edited_free(c);
	c = edited(rec, 0, 4095, 0);
	parse_refused(c, -EBADMSG, "not a non-zero multiple of 4 KiB");
	edited_free(c);
	c = edited(rec, 12, 2, 0);
	parse_refused(c, -EBADMSG, "unknown flags 0x2");
	edited_free(c);
	c = edited(rec, 24, VM_STREAM_MAX_DEVICES + 1, 0);
	parse_refused(c, -EBADMSG, "65 devices");
	edited_free(c);
	c = edited(rec, DEV0 + 48 + 0, DEVSTATE_ID_PCI, 0); /* the UART's id: the bus's */
	parse_refused(c, -EBADMSG, "lists device id 0x2 twice");
	edited_free(c);
	c = edited(rec, DEV0 + 16 + 28, 0x41414141, 0); /* the bus's name, unterminated */
	parse_refused(c, -EBADMSG, "is corrupt");
	edited_free(c);
	parse_refused(find(&rs, STREAM_REC_VM_STATE, 0), -EBADMSG, "is VM_STATE, not VM_CONFIG");

	test_vm__destroy(&src);
	recs_free(&rs);
	free(s.data);
	free(cfg);
}
END_TEST

Suite *vm_stream_suite(void)
{
	Suite *s = suite_create("vm_stream");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_loader_refusals);
	tcase_add_test(tc, test_truncated_stream);
	tcase_add_test(tc, test_config_refusals);
	suite_add_tcase(s, tc);
	return s;
}
