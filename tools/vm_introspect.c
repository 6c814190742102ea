/* peek and regs: guest RAM and vCPU registers read while the VM stands still for a moment. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "layout.h"
#include "memory.h"
#include "util.h"
#include "vcpu_state.h"
#include "vm.h"
#include "vm_introspect.h"

/* vm__hold, timed: nothing writes RAM or changes a register meanwhile. */
static uint64_t hold_still(struct vm *vm)
{
	uint64_t t0 = util__mono_ns();

	vm__hold(vm);
	return t0;
}

static uint64_t let_go(struct vm *vm, uint64_t t0)
{
	vm__release(vm);
	return util__mono_ns() - t0;
}

/* "0x0-0x3ffffff" or "0x0-0xbfffffff and 0x100000000-0x13fffffff": where peek may read. */
static void describe_ram(const struct vm *vm, char *buf, size_t len)
{
	const struct memory *m = &vm->mem;
	int n = snprintf(buf, len, "0x0-0x%" PRIx64, m->low_size - 1);

	if (m->high_size && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - n, " and 0x%llx-0x%llx", LAYOUT_PCI_HOLE_END,
			 LAYOUT_PCI_HOLE_END + m->high_size - 1);
}

int vm_introspect__peek(struct vm *vm, uint64_t gpa, uint32_t len, uint8_t *buf, uint64_t *pause_ns,
			char *err, size_t errlen)
{
	const uint8_t *hva;
	char ram[96];
	uint64_t t0;

	*pause_ns = 0;
	if (len < 1 || len > VM_INTROSPECT_PEEK_MAX)
		return util__fail(err, errlen, -EINVAL,
				  "peek: len %" PRIu32 " is out of range: read 1 to %d bytes", len,
				  VM_INTROSPECT_PEEK_MAX);
	hva = gpa + len > gpa ? memory__gpa_to_hva(vm, gpa, len) : NULL;
	if (!hva) {
		describe_ram(vm, ram, sizeof(ram));
		if (gpa < vm->mem.low_size && gpa + len > vm->mem.low_size)
			return util__fail(err, errlen, -EFAULT,
					  "peek: 0x%" PRIx64 "+%" PRIu32 " runs past low RAM's end "
					  "(0x%" PRIx64 ") into %s: split the read at that address",
					  gpa, len, vm->mem.low_size,
					  vm->mem.low_size == LAYOUT_PCI_HOLE_START
					      ? "the MMIO hole"
					      : "unbacked space");
		return util__fail(err, errlen, -EFAULT,
				  "peek: 0x%" PRIx64 "+%" PRIu32
				  " is not wholly guest RAM (MMIO or "
				  "past the end): this VM's RAM is %s; read inside it",
				  gpa, len, ram);
	}
	t0 = hold_still(vm);
	memcpy(buf, hva, len);
	*pause_ns = let_go(vm, t0);
	return 0;
}

static json_t *hex64(uint64_t v)
{
	char s[19];

	snprintf(s, sizeof(s), "0x%016" PRIx64, v);
	return json_string(s);
}

static json_t *segment_json(const struct kvm_segment *s)
{
	return json_pack("{s:i, s:o, s:o, s:i, s:i, s:b, s:b, s:b}", "selector", s->selector,
			 "base", hex64(s->base), "limit", hex64(s->limit), "type", s->type, "dpl",
			 s->dpl, "present", s->present, "l", s->l, "db", s->db);
}

static json_t *dtable_json(const struct kvm_dtable *t)
{
	return json_pack("{s:o, s:i}", "base", hex64(t->base), "limit", t->limit);
}

static const char *mp_state_to_str(uint32_t s)
{
	static const char *const names[] = {
	    [KVM_MP_STATE_RUNNABLE] = "runnable",
	    [KVM_MP_STATE_UNINITIALIZED] = "uninitialized",
	    [KVM_MP_STATE_INIT_RECEIVED] = "init-received",
	    [KVM_MP_STATE_HALTED] = "halted",
	    [KVM_MP_STATE_SIPI_RECEIVED] = "sipi-received",
	};

	return s < ARRAY_SIZE(names) && names[s] ? names[s] : "other";
}

/* One vCPU's entry of the reply, in the order a register dump reads. */
static json_t *vcpu_json(unsigned int index, const struct vcpu_regs *st)
{
	const struct kvm_regs *r = &st->regs;
	const struct kvm_sregs *s = &st->sregs;
	const struct {
		const char *name;
		uint64_t v;
	} regs[] = {
	    {"rip", r->rip},
	    {"rsp", r->rsp},
	    {"rflags", r->rflags},
	    {"rax", r->rax},
	    {"rbx", r->rbx},
	    {"rcx", r->rcx},
	    {"rdx", r->rdx},
	    {"rsi", r->rsi},
	    {"rdi", r->rdi},
	    {"rbp", r->rbp},
	    {"r8", r->r8},
	    {"r9", r->r9},
	    {"r10", r->r10},
	    {"r11", r->r11},
	    {"r12", r->r12},
	    {"r13", r->r13},
	    {"r14", r->r14},
	    {"r15", r->r15},
	    {"cr0", s->cr0},
	    {"cr2", s->cr2},
	    {"cr3", s->cr3},
	    {"cr4", s->cr4},
	    {"cr8", s->cr8},
	    {"efer", s->efer},
	    {"apic_base", s->apic_base},
	};
	const struct {
		const char *name;
		const struct kvm_segment *seg;
	} segs[] = {
	    {"cs", &s->cs}, {"ss", &s->ss}, {"ds", &s->ds}, {"es", &s->es},
	    {"fs", &s->fs}, {"gs", &s->gs}, {"tr", &s->tr}, {"ldt", &s->ldt},
	};
	/* CPL is CS's RPL once in protected mode (CR0.PE), 0 in real mode. */
	int cpl = (s->cr0 & 1) ? (s->cs.selector & 3) : 0;
	json_t *o = json_pack("{s:i, s:s, s:i}", "vcpu", index, "mp_state",
			      mp_state_to_str(st->mp_state.mp_state), "cpl", cpl);

	for (size_t i = 0; o && i < ARRAY_SIZE(regs); i++)
		if (json_object_set_new(o, regs[i].name, hex64(regs[i].v)))
			goto fail;
	for (size_t i = 0; o && i < ARRAY_SIZE(segs); i++)
		if (json_object_set_new(o, segs[i].name, segment_json(segs[i].seg)))
			goto fail;
	if (o && (json_object_set_new(o, "gdt", dtable_json(&s->gdt)) ||
		  json_object_set_new(o, "idt", dtable_json(&s->idt))))
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

int vm_introspect__regs(struct vm *vm, int vcpu, json_t **out, char *err, size_t errlen)
{
	unsigned int first = vcpu < 0 ? 0 : (unsigned int)vcpu;
	unsigned int last = vcpu < 0 ? vm->nr_vcpus : first + 1;
	struct vcpu_regs *st = NULL;
	json_t *list = NULL, *ret = NULL;
	uint64_t t0, pause_ns;
	int rc = 0;

	*out = NULL;
	if (vcpu >= 0 && (unsigned int)vcpu >= vm->nr_vcpus)
		return util__fail(err, errlen, -ENOENT,
				  "regs: this VM has no vCPU %d: it has %u (0 to %u)", vcpu,
				  vm->nr_vcpus, vm->nr_vcpus - 1);
	st = calloc(last - first, sizeof(*st));
	list = json_array();
	if (!st || !list) {
		rc = util__fail(err, errlen, -ENOMEM, "regs: out of memory");
		goto out;
	}
	/* Every vCPU captured inside one pause: the registers are of one instant. */
	t0 = hold_still(vm);
	for (unsigned int i = first; i < last && !rc; i++)
		rc = vcpu_state__read_regs(&vm->vcpus[i], &st[i - first]);
	pause_ns = let_go(vm, t0);
	if (rc) {
		util__set_err(err, errlen,
			      "regs: reading a vCPU's registers failed: %s: see twin-vmm's log",
			      strerror(-rc));
		goto out;
	}
	for (unsigned int i = first; i < last; i++)
		if (json_array_append_new(list, vcpu_json(i, &st[i - first]))) {
			rc = util__fail(err, errlen, -ENOMEM, "regs: out of memory");
			goto out;
		}
	ret = json_pack("{s:O, s:I}", "vcpus", list, "pause_ns", (json_int_t)pause_ns);
	if (!ret)
		rc = util__fail(err, errlen, -ENOMEM, "regs: out of memory");
out:
	json_decref(list);
	free(st);
	*out = ret;
	return rc;
}
