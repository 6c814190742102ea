/* VM_CONFIG and the state records (STREAM.md): written from a paused VM, checked, and loaded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pci.h"
#include "serial8250.h"
#include "vcpu_state.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "vm.h"
#include "vm_state.h"
#include "vm_stream.h"
#include "util.h"

/*
 * The state structs are their own wire format (STREAM.md): pin them to their
 * layout number.  When one of these fails, raise STREAM_VCPU_LAYOUT or
 * STREAM_VM_LAYOUT, update the numbers here and the tables in STREAM.md.
 */
#define PIN(type, field, off, size)                                                                \
	_Static_assert(offsetof(struct type, field) == (off) &&                                    \
			   sizeof(((struct type *)0)->field) == (size),                            \
		       #type "." #field " moved: raise its layout or state version (STREAM.md)")
_Static_assert(STREAM_VCPU_LAYOUT == 1 && sizeof(struct vcpu_state) == 10296,
	       "struct vcpu_state changed: raise STREAM_VCPU_LAYOUT (STREAM.md)");
PIN(vcpu_state, mp_state, 0, 4);
PIN(vcpu_state, regs, 8, 144);
PIN(vcpu_state, sregs, 152, 312);
PIN(vcpu_state, xsave, 464, 4096);
PIN(vcpu_state, xcrs, 4560, 392);
PIN(vcpu_state, debugregs, 4952, 128);
PIN(vcpu_state, lapic, 5080, 1024);
PIN(vcpu_state, tsc_khz, 6104, 4);
PIN(vcpu_state, nr_msrs, 6108, 4);
PIN(vcpu_state, msrs, 6112, 4096);
PIN(vcpu_state, events, 10208, 64);
PIN(vcpu_state, debugdev, 10272, 24);
_Static_assert(STREAM_VM_LAYOUT == 1 && sizeof(struct vm_state) == 1736,
	       "struct vm_state changed: raise STREAM_VM_LAYOUT (STREAM.md)");
PIN(vm_state, nr_vcpus, 0, 4);
PIN(vm_state, pic_master, 8, 520);
PIN(vm_state, pic_slave, 528, 520);
PIN(vm_state, ioapic, 1048, 520);
PIN(vm_state, has_pit, 1568, 1);
PIN(vm_state, pit, 1576, 112);
PIN(vm_state, clock, 1688, 48);
/*
 * The device states' tables in STREAM.md, version 1 of each.  A device that
 * changes its struct raises its version, then updates STREAM.md and these.
 */
_Static_assert(PCI_STATE_VERSION == 1 && sizeof(struct pci_state) == 9992 &&
		   sizeof(struct pci_slot_state) == 312,
	       "struct pci_state changed: raise PCI_STATE_VERSION (STREAM.md)");
PIN(pci_state, slots, 8, 9984);
PIN(pci_slot_state, cfg, 8, 256);
PIN(pci_slot_state, bar_addr, 264, 48);
_Static_assert(SERIAL8250_STATE_VERSION == 1 && sizeof(struct serial8250_state) == 12,
	       "struct serial8250_state changed: raise SERIAL8250_STATE_VERSION (STREAM.md)");
PIN(serial8250_state, ier, 4, 1);
PIN(serial8250_state, thri_pending, 11, 1);
_Static_assert(VIRTIO_STATE_VERSION == 1 && sizeof(struct virtio_pci_state) == 360 &&
		   sizeof(struct virtio_queue_state) == 40,
	       "struct virtio_pci_state changed: raise VIRTIO_STATE_VERSION (STREAM.md)");
PIN(virtio_pci_state, device_features, 8, 8);
PIN(virtio_pci_state, queue_sel, 32, 2);
PIN(virtio_pci_state, broken, 37, 1);
PIN(virtio_pci_state, queues, 40, 320);
PIN(virtio_queue_state, size, 4, 2);
PIN(virtio_queue_state, signalled_used, 10, 2);
PIN(virtio_queue_state, desc_gpa, 16, 8);
_Static_assert(VIRTIO_NET_STATE_VERSION == 1 && sizeof(struct virtio_net_state) == 16,
	       "struct virtio_net_state changed: raise VIRTIO_NET_STATE_VERSION (STREAM.md)");
PIN(virtio_net_state, mac, 4, 6);
PIN(virtio_net_state, ipv4, 12, 4);
_Static_assert(VIRTIO_BLK_STATE_VERSION == 1 && sizeof(struct virtio_blk_state) == 16,
	       "struct virtio_blk_state changed: raise VIRTIO_BLK_STATE_VERSION (STREAM.md)");
PIN(virtio_blk_state, capacity, 8, 8);
_Static_assert(STREAM_DEVICE_NAME_MAX == DEVSTATE_NAME_MAX, "device names fit VM_CONFIG");
_Static_assert(VM_MAX_VCPUS <= 64, "VM_CONFIG allows 64 vCPUs (STREAM.md)");

#define VCPU_BODY  (sizeof(struct stream_vcpu_prefix) + sizeof(struct vcpu_state))
#define VM_BODY	   (sizeof(struct stream_vm_prefix) + sizeof(struct vm_state))
#define DEVICE_MAX (STREAM_MAX_RECORD - sizeof(struct stream_device_prefix))

/* The VM's devices in restore order; more than VM_STREAM_MAX_DEVICES is an error, not a cut. */
static int list_devices(struct vm *vm, struct devstate_info *out, unsigned int *n)
{
	struct devstate_info all[VM_STREAM_MAX_DEVICES + 1];
	unsigned int count = devstate__list(vm, all, VM_STREAM_MAX_DEVICES + 1);

	if (count > VM_STREAM_MAX_DEVICES)
		return -E2BIG;
	memcpy(out, all, count * sizeof(all[0]));
	*n = count;
	return 0;
}

/* "virtio-blk" for "virtio-blk 1": devices of a kind share the name but for an index. */
static size_t kind_len(const char *name)
{
	size_t n = strlen(name), k = n;

	while (k > 0 && name[k - 1] >= '0' && name[k - 1] <= '9')
		k--;
	return k < n && k > 1 && name[k - 1] == ' ' ? k - 1 : n;
}

static bool same_kind(const char *a, const char *b)
{
	size_t n = kind_len(a);

	return n == kind_len(b) && strncmp(a, b, n) == 0;
}

/* What a user calls a device of that kind, and the twin-vmm option that adds one. */
struct kind_words {
	const char *kind, *one, *many, *option;
};

static const struct kind_words kinds[] = {
    {"virtio-net", "NIC", "NICs", "--nic"},
    {"virtio-blk", "disk", "disks", "--disk"},
    {"virtio-console", "virtio console", "virtio consoles", "--console virtio"},
};

static struct kind_words words_of(const char *name)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (same_kind(name, kinds[i].kind))
			return kinds[i];
	return (struct kind_words){name, "device", "devices", NULL};
}

/* "virtio-blk 1 in slot 3", or the name alone for a device outside the PCI slots. */
static void describe(char *buf, size_t len, const struct devstate_info *d)
{
	if (d->id >= DEVSTATE_ID_VIRTIO(0))
		snprintf(buf, len, "%s in slot %u", d->name, d->id - DEVSTATE_ID_VIRTIO(0));
	else
		snprintf(buf, len, "%s", d->name);
}

int vm_stream__write_config(struct stream_writer *w, struct vm *vm)
{
	struct devstate_info list[VM_STREAM_MAX_DEVICES];
	struct stream_config_device devs[VM_STREAM_MAX_DEVICES];
	struct stream_vm_config h = {
	    .mem_size = vm->mem.size,
	    .nr_vcpus = vm->nr_vcpus,
	    .flags = vm->cfg.no_pit ? 0 : STREAM_CONFIG_PIT,
	    .vcpu_layout = STREAM_VCPU_LAYOUT,
	    .vm_layout = STREAM_VM_LAYOUT,
	};
	const void *parts[2] = {&h, devs};
	size_t lens[2];
	unsigned int n;
	int rc = list_devices(vm, list, &n);

	if (rc)
		return rc;
	memset(devs, 0, sizeof(devs));
	for (unsigned int i = 0; i < n; i++) {
		devs[i].id = list[i].id;
		devs[i].version = list[i].version;
		devs[i].size = list[i].size;
		memcpy(devs[i].name, list[i].name, strnlen(list[i].name, DEVSTATE_NAME_MAX - 1));
	}
	h.nr_devices = n;
	lens[0] = sizeof(h);
	lens[1] = n * sizeof(devs[0]);
	return stream_writer__record(w, STREAM_REC_VM_CONFIG, parts, lens, 2);
}

/* A name is printable ASCII, 1 to 31 bytes, then zeros to the end of its field. */
static bool name_ok(const char *name)
{
	size_t n = strnlen(name, STREAM_DEVICE_NAME_MAX);

	if (n == 0 || n == STREAM_DEVICE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	for (size_t i = n; i < STREAM_DEVICE_NAME_MAX; i++)
		if (name[i])
			return false;
	return true;
}

int vm_stream__parse_config(const struct stream_record *rec, struct vm_stream_config *cfg,
			    char *err, size_t errlen)
{
	unsigned long long off = (unsigned long long)rec->offset;
	struct stream_vm_config h;

	memset(cfg, 0, sizeof(*cfg));
	if (rec->type != STREAM_REC_VM_CONFIG)
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: the first record (byte %llu) is %s, not VM_CONFIG: this is "
		    "not a stream of a whole VM",
		    off, stream__type_to_str(rec->type));
	if (rec->length < sizeof(h))
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: VM_CONFIG at byte %llu is %u bytes, shorter than its %zu-byte "
		    "header",
		    off, rec->length, sizeof(h));
	memcpy(&h, rec->body, sizeof(h));
	if (h.vcpu_layout != STREAM_VCPU_LAYOUT || h.vm_layout != STREAM_VM_LAYOUT)
		return util__fail(
		    err, errlen, -EPROTONOSUPPORT,
		    "stream: VM_CONFIG: vCPU/VM state layouts %u/%u, this build reads %u/%u: "
		    "use twin-vmm of the same version on both sides",
		    h.vcpu_layout, h.vm_layout, STREAM_VCPU_LAYOUT, STREAM_VM_LAYOUT);
	if (h.reserved || (h.flags & ~STREAM_CONFIG_FLAGS_KNOWN))
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: VM_CONFIG at byte %llu: unknown flags 0x%x or reserved field "
		    "0x%x not zero",
		    off, h.flags & ~STREAM_CONFIG_FLAGS_KNOWN, h.reserved);
	if (h.mem_size == 0 || h.mem_size % STREAM_PAGE_SIZE)
		return util__fail(err, errlen, -EBADMSG,
				  "stream: VM_CONFIG at byte %llu: RAM size %llu is not a non-zero "
				  "multiple of 4 KiB",
				  off, (unsigned long long)h.mem_size);
	if (h.nr_vcpus == 0 || h.nr_vcpus > VM_MAX_VCPUS)
		return util__fail(err, errlen, -EBADMSG,
				  "stream: VM_CONFIG at byte %llu: %u vCPUs, not 1 to %d", off,
				  h.nr_vcpus, VM_MAX_VCPUS);
	if (h.nr_devices > VM_STREAM_MAX_DEVICES ||
	    rec->length != sizeof(h) + h.nr_devices * sizeof(struct stream_config_device))
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: VM_CONFIG at byte %llu is %u bytes for %u devices (at most %u, "
		    "%zu bytes each after a %zu-byte header)",
		    off, rec->length, h.nr_devices, VM_STREAM_MAX_DEVICES,
		    sizeof(struct stream_config_device), sizeof(h));
	cfg->mem_size = h.mem_size;
	cfg->nr_vcpus = h.nr_vcpus;
	cfg->has_pit = h.flags & STREAM_CONFIG_PIT;
	cfg->nr_devices = h.nr_devices;
	for (uint32_t i = 0; i < h.nr_devices; i++) {
		struct stream_config_device d;

		memcpy(&d, rec->body + sizeof(h) + i * sizeof(d), sizeof(d));
		if (d.reserved || !name_ok(d.name) || d.size > DEVICE_MAX)
			return util__fail(
			    err, errlen, -EBADMSG,
			    "stream: VM_CONFIG at byte %llu: device %u (id 0x%x) is corrupt: "
			    "reserved field, name or a state size over %zu bytes",
			    off, i, d.id, (size_t)DEVICE_MAX);
		for (uint32_t j = 0; j < i; j++)
			if (cfg->devices[j].id == d.id)
				return util__fail(
				    err, errlen, -EBADMSG,
				    "stream: VM_CONFIG at byte %llu lists device id 0x%x "
				    "twice",
				    off, d.id);
		cfg->devices[i].id = d.id;
		cfg->devices[i].version = d.version;
		cfg->devices[i].size = d.size;
		memcpy(cfg->devices[i].name, d.name, sizeof(d.name));
	}
	return 0;
}

static unsigned int count_kind(const struct devstate_info *list, unsigned int n, const char *name)
{
	unsigned int c = 0;

	for (unsigned int i = 0; i < n; i++)
		c += same_kind(list[i].name, name);
	return c;
}

/* "virtio-blk 0 in slot 3, virtio-blk 1 in slot 4": the devices of one kind. */
static void list_kind(char *buf, size_t len, const struct devstate_info *list, unsigned int n,
		      const char *name)
{
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < n && used < len; i++) {
		char one[64];

		if (!same_kind(list[i].name, name))
			continue;
		describe(one, sizeof(one), &list[i]);
		used += snprintf(buf + used, len - used, "%s%s", used ? ", " : "", one);
	}
}

/* A kind the stream and the VM have in different numbers: the option to add or drop. */
static int count_mismatch(const struct vm_stream_config *cfg, const struct devstate_info *here,
			  unsigned int n, const char *name, char *err, size_t errlen)
{
	unsigned int want = count_kind(cfg->devices, cfg->nr_devices, name);
	unsigned int have = count_kind(here, n, name);
	struct kind_words k = words_of(name);
	char saved[512];
	char fix[128];

	list_kind(saved, sizeof(saved), cfg->devices, cfg->nr_devices, name);
	if (!k.option)
		snprintf(fix, sizeof(fix), "give twin-vmm the device options of the saved VM");
	else if (want > have)
		snprintf(fix, sizeof(fix), "give twin-vmm %s %s",
			 want - have == 1 ? "another" : "more", k.option);
	else
		snprintf(fix, sizeof(fix), "give twin-vmm %u %s fewer", have - want, k.option);
	return util__fail(err, errlen, -EINVAL,
			  "stream is for a VM with %u %.*s %s%s%s%s; this one has %u: %s", want,
			  (int)kind_len(name), name, want == 1 ? k.one : k.many, want ? " (" : "",
			  saved, want ? ")" : "", have, fix);
}

int vm_stream__check_config(const struct vm_stream_config *cfg, struct vm *vm, char *err,
			    size_t errlen)
{
	struct devstate_info here[VM_STREAM_MAX_DEVICES];
	unsigned int n;
	int rc;

	if (cfg->mem_size != vm->mem.size)
		return util__fail(
		    err, errlen, -EINVAL,
		    "stream is for a VM with %llu KiB of RAM; this one has %llu KiB: create "
		    "it with --mem %lluK",
		    (unsigned long long)cfg->mem_size >> 10, (unsigned long long)vm->mem.size >> 10,
		    (unsigned long long)cfg->mem_size >> 10);
	if (cfg->nr_vcpus != vm->nr_vcpus)
		return util__fail(
		    err, errlen, -EINVAL,
		    "stream is for a VM with %u vCPUs; this one has %u: create it with "
		    "--vcpus %u",
		    cfg->nr_vcpus, vm->nr_vcpus, cfg->nr_vcpus);
	if (cfg->has_pit == vm->cfg.no_pit)
		return util__fail(
		    err, errlen, -EINVAL,
		    "stream is for a VM %s a PIT; this one %s: create it with --pit %s",
		    cfg->has_pit ? "with" : "without", cfg->has_pit ? "has none" : "has one",
		    cfg->has_pit ? "on" : "off");
	rc = list_devices(vm, here, &n);
	if (rc)
		return util__fail(err, errlen, rc, "this VM has more than %u devices",
				  VM_STREAM_MAX_DEVICES);
	/* Counts first: a missing --nic is the likely mistake, and says what to add. */
	for (uint32_t i = 0; i < cfg->nr_devices; i++)
		if (count_kind(cfg->devices, cfg->nr_devices, cfg->devices[i].name) !=
		    count_kind(here, n, cfg->devices[i].name))
			return count_mismatch(cfg, here, n, cfg->devices[i].name, err, errlen);
	for (unsigned int i = 0; i < n; i++)
		if (!count_kind(cfg->devices, cfg->nr_devices, here[i].name))
			return count_mismatch(cfg, here, n, here[i].name, err, errlen);
	for (uint32_t i = 0; i < cfg->nr_devices; i++) {
		const struct devstate_info *s = &cfg->devices[i], *h = NULL;
		char what[64];

		for (unsigned int j = 0; j < n && !h; j++)
			if (here[j].id == s->id)
				h = &here[j];
		describe(what, sizeof(what), s);
		if (!h || !same_kind(h->name, s->name))
			return util__fail(
			    err, errlen, -EINVAL,
			    "stream has %s, this VM has %s there: give twin-vmm its "
			    "--nic, --disk and --console options in the saved VM's order",
			    what, h ? h->name : "nothing");
		if (h->version != s->version || h->size != s->size)
			return util__fail(
			    err, errlen, -EPROTONOSUPPORT,
			    "stream has %s with state version %u (%u bytes), this build "
			    "version %u (%u bytes): use twin-vmm of the same version on both "
			    "sides",
			    what, s->version, s->size, h->version, h->size);
	}
	return 0;
}

/* VM_STATE, every VCPU_STATE and every DEVICE_STATE of a paused VM. */
int vm_stream__write_state(struct stream_writer *w, struct vm *vm)
{
	struct devstate_info devs[VM_STREAM_MAX_DEVICES];
	struct vcpu_state *vs = malloc(sizeof(*vs));
	struct vm_state *ms = malloc(sizeof(*ms));
	uint8_t *buf = NULL;
	uint32_t max = 0;
	unsigned int n;
	int rc;

	if (!vs || !ms) {
		rc = -ENOMEM;
		goto out;
	}
	rc = list_devices(vm, devs, &n);
	if (rc)
		goto out;
	for (unsigned int i = 0; i < n; i++)
		max = devs[i].size > max ? devs[i].size : max;
	buf = malloc(max ? max : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	rc = vm_state__capture(vm, ms);
	if (rc == 0) {
		struct stream_vm_prefix p = {.layout = STREAM_VM_LAYOUT};
		const void *parts[2] = {&p, ms};
		size_t lens[2] = {sizeof(p), sizeof(*ms)};

		rc = stream_writer__record(w, STREAM_REC_VM_STATE, parts, lens, 2);
	}
	for (unsigned int i = 0; i < vm->nr_vcpus && rc == 0; i++) {
		struct stream_vcpu_prefix p = {.vcpu_id = i, .layout = STREAM_VCPU_LAYOUT};
		const void *parts[2] = {&p, vs};
		size_t lens[2] = {sizeof(p), sizeof(*vs)};

		rc = vcpu_state__capture(&vm->vcpus[i], vs);
		if (rc == 0)
			rc = stream_writer__record(w, STREAM_REC_VCPU_STATE, parts, lens, 2);
	}
	for (unsigned int i = 0; i < n && rc == 0; i++) {
		struct stream_device_prefix p = {.device_id = devs[i].id,
						 .version = devs[i].version};
		const void *parts[2] = {&p, buf};
		size_t lens[2] = {sizeof(p), devs[i].size};

		rc = devstate__save(vm, devs[i].id, buf, devs[i].size);
		if (rc == 0)
			rc = stream_writer__record(w, STREAM_REC_DEVICE_STATE, parts, lens, 2);
	}
out:
	free(buf);
	free(ms);
	free(vs);
	return rc;
}

struct state_loader {
	struct vm *vm;
	struct vm_state vm_state;
	bool have_vm;
	struct vcpu_state *vcpus; /* [vm->nr_vcpus] */
	bool have_vcpu[VM_MAX_VCPUS];
	unsigned int nr_devices;
	struct devstate_info devices[VM_STREAM_MAX_DEVICES];
	uint8_t *device_state[VM_STREAM_MAX_DEVICES]; /* [devices[i].size] */
	bool have_device[VM_STREAM_MAX_DEVICES];
};

void state_loader__free(struct state_loader *l)
{
	if (!l)
		return;
	for (unsigned int i = 0; i < l->nr_devices; i++)
		free(l->device_state[i]);
	free(l->vcpus);
	free(l);
}

int state_loader__init(struct state_loader **out, struct vm *vm)
{
	struct state_loader *l = calloc(1, sizeof(*l));
	int rc;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->vm = vm;
	rc = list_devices(vm, l->devices, &l->nr_devices);
	if (rc) {
		l->nr_devices = 0;
		goto fail;
	}
	rc = -ENOMEM;
	l->vcpus = calloc(vm->nr_vcpus, sizeof(l->vcpus[0]));
	if (!l->vcpus)
		goto fail;
	for (unsigned int i = 0; i < l->nr_devices; i++) {
		l->device_state[i] = malloc(l->devices[i].size ? l->devices[i].size : 1);
		if (!l->device_state[i])
			goto fail;
	}
	*out = l;
	return 0;
fail:
	state_loader__free(l);
	return rc;
}

static void loader_reset(struct state_loader *l)
{
	l->have_vm = false;
	memset(l->have_vcpu, 0, sizeof(l->have_vcpu));
	memset(l->have_device, 0, sizeof(l->have_device));
}

/* What vcpu_state__restore would refuse, refused now, before any vCPU is touched. */
static int vcpu_record(struct state_loader *l, const struct stream_record *rec, char *err,
		       size_t errlen)
{
	unsigned long long off = (unsigned long long)rec->offset;
	struct stream_vcpu_prefix p;
	struct vcpu_state *st;

	if (rec->length < sizeof(p))
		return util__fail(err, errlen, -EBADMSG,
				  "stream: VCPU_STATE at byte %llu is %u bytes", off, rec->length);
	memcpy(&p, rec->body, sizeof(p));
	if (p.layout != STREAM_VCPU_LAYOUT)
		return util__fail(
		    err, errlen, -EPROTONOSUPPORT,
		    "stream: VCPU_STATE at byte %llu has layout %u, this build reads %u: "
		    "use twin-vmm of the same version on both sides",
		    off, p.layout, STREAM_VCPU_LAYOUT);
	if (rec->length != VCPU_BODY)
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: VCPU_STATE at byte %llu is %u bytes; a layout-%u vCPU state "
		    "record is %zu",
		    off, rec->length, STREAM_VCPU_LAYOUT, VCPU_BODY);
	if (p.vcpu_id >= l->vm->nr_vcpus)
		return util__fail(err, errlen, -EBADMSG,
				  "stream: VCPU_STATE at byte %llu is for vCPU %u; the VM has %u",
				  off, p.vcpu_id, l->vm->nr_vcpus);
	if (l->have_vcpu[p.vcpu_id])
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: VCPU_STATE at byte %llu is a second state for vCPU %u in one "
		    "epoch",
		    off, p.vcpu_id);
	st = &l->vcpus[p.vcpu_id];
	memcpy(st, rec->body + sizeof(p), sizeof(*st));
	if (st->nr_msrs > VCPU_STATE_MAX_MSRS || st->tsc_khz == 0)
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: VCPU_STATE at byte %llu (vCPU %u): %u MSRs (at most %d) or a "
		    "TSC frequency of 0",
		    off, p.vcpu_id, st->nr_msrs, VCPU_STATE_MAX_MSRS);
	for (uint32_t i = st->nr_msrs; i < VCPU_STATE_MAX_MSRS; i++)
		if (st->msrs[i].index || st->msrs[i].reserved || st->msrs[i].data)
			return util__fail(
			    err, errlen, -EBADMSG,
			    "stream: VCPU_STATE at byte %llu (vCPU %u): MSR slot %u past "
			    "the %u in use is not zero",
			    off, p.vcpu_id, i, st->nr_msrs);
	l->have_vcpu[p.vcpu_id] = true;
	return 0;
}

/* What vm_state__restore would refuse, refused now. */
static int vm_record(struct state_loader *l, const struct stream_record *rec, char *err,
		     size_t errlen)
{
	unsigned long long off = (unsigned long long)rec->offset;
	struct stream_vm_prefix p;
	struct vm_state *st = &l->vm_state;
	uint8_t has_pit;

	if (rec->length < sizeof(p))
		return util__fail(err, errlen, -EBADMSG,
				  "stream: VM_STATE at byte %llu is %u bytes", off, rec->length);
	memcpy(&p, rec->body, sizeof(p));
	if (p.layout != STREAM_VM_LAYOUT)
		return util__fail(
		    err, errlen, -EPROTONOSUPPORT,
		    "stream: VM_STATE at byte %llu has layout %u, this build reads %u: use "
		    "twin-vmm of the same version on both sides",
		    off, p.layout, STREAM_VM_LAYOUT);
	if (rec->length != VM_BODY)
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: VM_STATE at byte %llu is %u bytes; a layout-%u VM state record "
		    "is %zu",
		    off, rec->length, STREAM_VM_LAYOUT, VM_BODY);
	if (l->have_vm)
		return util__fail(err, errlen, -EBADMSG,
				  "stream: VM_STATE at byte %llu is a second one in one epoch",
				  off);
	/* A bool must hold 0 or 1 before it is read as one. */
	has_pit = rec->body[sizeof(p) + offsetof(struct vm_state, has_pit)];
	if (has_pit > 1)
		return util__fail(err, errlen, -EBADMSG,
				  "stream: VM_STATE at byte %llu: has_pit is %u, not 0 or 1", off,
				  has_pit);
	memcpy(st, rec->body + sizeof(p), sizeof(*st));
	if (!has_pit && memcmp(&st->pit, &(struct kvm_pit_state2){0}, sizeof(st->pit)))
		return util__fail(err, errlen, -EBADMSG,
				  "stream: VM_STATE at byte %llu: has_pit is 0 but the PIT state "
				  "is not zero",
				  off);
	if (st->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
	    st->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    st->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return util__fail(err, errlen, -EBADMSG,
				  "stream: VM_STATE at byte %llu: irqchip ids %u/%u/%u, not 0/1/2",
				  off, st->pic_master.chip_id, st->pic_slave.chip_id,
				  st->ioapic.chip_id);
	if (st->nr_vcpus != l->vm->nr_vcpus || st->has_pit == l->vm->cfg.no_pit)
		return util__fail(
		    err, errlen, -EINVAL,
		    "stream: VM_STATE at byte %llu is for %u vCPUs %s a PIT; this VM has %u "
		    "vCPUs %s one: restore into a VM made from the stream's VM_CONFIG",
		    off, st->nr_vcpus, st->has_pit ? "and" : "without", l->vm->nr_vcpus,
		    l->vm->cfg.no_pit ? "without" : "and");
	l->have_vm = true;
	return 0;
}

static int device_record(struct state_loader *l, const struct stream_record *rec, char *err,
			 size_t errlen)
{
	unsigned long long off = (unsigned long long)rec->offset;
	struct stream_device_prefix p;
	const struct devstate_info *d = NULL;
	unsigned int i;
	char what[64];

	if (rec->length < sizeof(p))
		return util__fail(err, errlen, -EBADMSG,
				  "stream: DEVICE_STATE at byte %llu is %u bytes", off,
				  rec->length);
	memcpy(&p, rec->body, sizeof(p));
	for (i = 0; i < l->nr_devices && !d; i++)
		if (l->devices[i].id == p.device_id)
			d = &l->devices[i];
	if (!d)
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: DEVICE_STATE at byte %llu is for device id 0x%x, which this VM "
		    "lacks",
		    off, p.device_id);
	i--;
	describe(what, sizeof(what), d);
	if (p.version != d->version)
		return util__fail(
		    err, errlen, -EPROTONOSUPPORT,
		    "stream: DEVICE_STATE at byte %llu: %s state version %u, this build "
		    "reads version %u: use twin-vmm of the same version on both sides",
		    off, what, p.version, d->version);
	if (rec->length - sizeof(p) != d->size)
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: DEVICE_STATE at byte %llu: %s state is %zu bytes, version %u "
		    "is %u",
		    off, what, rec->length - sizeof(p), d->version, d->size);
	if (l->have_device[i])
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: DEVICE_STATE at byte %llu is a second state for %s in one epoch", off,
		    what);
	memcpy(l->device_state[i], rec->body + sizeof(p), d->size);
	l->have_device[i] = true;
	return 0;
}

int state_loader__record(struct state_loader *l, const struct stream_record *rec, char *err,
			 size_t errlen)
{
	switch (rec->type) {
	case STREAM_REC_VCPU_STATE:
		return vcpu_record(l, rec, err, errlen);
	case STREAM_REC_VM_STATE:
		return vm_record(l, rec, err, errlen);
	case STREAM_REC_DEVICE_STATE:
		return device_record(l, rec, err, errlen);
	default:
		return util__fail(err, errlen, -EINVAL,
				  "stream: %s at byte %llu is not a state record",
				  stream__type_to_str(rec->type), (unsigned long long)rec->offset);
	}
}

/* The first state record missing, or 0 when the epoch is whole. */
static int check_complete(const struct state_loader *l, char *err, size_t errlen)
{
	char what[64];

	for (unsigned int i = 0; i < l->vm->nr_vcpus; i++)
		if (!l->have_vcpu[i])
			return util__fail(
			    err, errlen, -EBADMSG,
			    "stream: state incomplete: no VCPU_STATE for vCPU %u of %u; the "
			    "stream was cut or its sender is broken",
			    i, l->vm->nr_vcpus);
	if (!l->have_vm)
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: state incomplete: no VM_STATE; the stream was cut or its "
		    "sender is broken");
	for (unsigned int i = 0; i < l->nr_devices; i++) {
		if (l->have_device[i])
			continue;
		describe(what, sizeof(what), &l->devices[i]);
		return util__fail(
		    err, errlen, -EBADMSG,
		    "stream: state incomplete: no DEVICE_STATE for %s; the stream was cut or "
		    "its sender is broken",
		    what);
	}
	return 0;
}

static int restore(struct state_loader *l, char *err, size_t errlen)
{
	struct vm *vm = l->vm;
	int rc;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		rc = vcpu_state__restore(&vm->vcpus[i], &l->vcpus[i]);
		if (rc)
			return util__fail(err, errlen, rc,
					  "restoring vCPU %u failed: %s (the log names the step)",
					  i, strerror(-rc));
	}
	rc = vm_state__restore(vm, &l->vm_state);
	if (rc)
		return util__fail(err, errlen, rc,
				  "restoring the VM state failed: %s (the log names the step)",
				  strerror(-rc));
	for (unsigned int i = 0; i < l->nr_devices; i++) {
		const struct devstate_info *d = &l->devices[i];

		rc = devstate__restore(vm, d->id, d->version, l->device_state[i], d->size, err,
				       errlen);
		if (rc)
			return rc;
	}
	rc = devstate__resume(vm);
	if (rc)
		return util__fail(err, errlen, rc, "restarting the device queues failed: %s",
				  strerror(-rc));
	return 0;
}

int state_loader__apply(struct state_loader *l, char *err, size_t errlen)
{
	int rc = check_complete(l, err, errlen);

	if (rc == 0)
		rc = restore(l, err, errlen);
	loader_reset(l);
	return rc;
}
