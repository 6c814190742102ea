/* peek and regs through twin-vmm's control protocol, against memwriter in a real VM (KVM). */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "control.h"
#include "layout.h"
#include "suites.h"
#include "vm_fixture.h"
#include "vm_introspect.h"

#define VCPUS 2
/* Paced (2 pages/ms per vCPU, through WAIT_US) and endless: the VM runs under every test. */
#define CMDLINE "pages=256 ws=256 rate=2 vcpus=2 iters=1000000"
/* memwriter's word j (1..511) of a page written in iteration i: i * MW_MUL + j. */
#define MW_MUL 0x9e3779b97f4a7c15ULL

static bool backup; /* what the ops say: a backup refuses both commands */

static bool ops_backup(void *opaque)
{
	return backup;
}

static int ops_peek(void *opaque, uint64_t gpa, uint32_t len, uint8_t *buf, uint64_t *pause_ns,
		    char *err, size_t errlen)
{
	return vm_introspect__peek(opaque, gpa, len, buf, pause_ns, err, errlen);
}

static int ops_regs(void *opaque, int vcpu, json_t **out, char *err, size_t errlen)
{
	return vm_introspect__regs(opaque, vcpu, out, err, errlen);
}

static struct test_vm g;
static struct control_ops ops;

/* memwriter on VCPUS vCPUs, writing; the protocol's ops act on its VM. */
static void setup(void)
{
	backup = false;
	test_vm__create(&g, 64 << 20, VCPUS);
	test_vm__boot_memwriter(&g, CMDLINE);
	test_vm__wait_writing(&g);
	ops = (struct control_ops){
	    .backup = ops_backup, .peek = ops_peek, .regs = ops_regs, .opaque = g.vm};
}

static void teardown(void)
{
	test_vm__destroy(&g);
}

/* Runs one request; the reply's "return" (to json_decref), failing the test on an error. */
static json_t *call(const char *req)
{
	char *line = control__handle_line(&ops, req, strlen(req));
	json_t *reply, *ret;

	ck_assert_ptr_nonnull(line);
	reply = json_loads(line, 0, NULL);
	ck_assert_msg(reply != NULL, "not JSON: %s", line);
	ret = json_incref(json_object_get(reply, "return"));
	ck_assert_msg(ret != NULL, "%s -> %s", req, line);
	json_decref(reply);
	free(line);
	return ret;
}

/* Runs one request that must fail with cls and a description holding want. */
static void refused(const char *req, const char *cls, const char *want)
{
	char *line = control__handle_line(&ops, req, strlen(req));
	json_t *reply = json_loads(line, 0, NULL), *e = json_object_get(reply, "error");

	ck_assert_msg(e != NULL, "%s was not refused: %s", req, line);
	ck_assert_str_eq(json_string_value(json_object_get(e, "class")), cls);
	ck_assert_msg(strstr(json_string_value(json_object_get(e, "desc")), want),
		      "%s -> %s, wanted \"%s\"", req, line, want);
	json_decref(reply);
	free(line);
}

/* The "data" of a peek reply as bytes, checking "gpa", "len" and the hex's form. */
static size_t peek_bytes(json_t *ret, uint64_t gpa, uint8_t *out, size_t max)
{
	const char *hex = json_string_value(json_object_get(ret, "data"));
	size_t len = (size_t)json_integer_value(json_object_get(ret, "len"));

	ck_assert_uint_eq(json_integer_value(json_object_get(ret, "gpa")), gpa);
	ck_assert_ptr_nonnull(hex);
	ck_assert_uint_eq(strlen(hex), 2 * len);
	ck_assert_uint_le(len, max);
	for (size_t i = 0; i < len; i++) {
		unsigned int b;

		ck_assert_msg(strchr("0123456789abcdef", hex[2 * i]) &&
				  strchr("0123456789abcdef", hex[2 * i + 1]),
			      "not lowercase hex at %zu: %.8s", i, hex + 2 * i);
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = b;
	}
	return len;
}

/* The command line twin-vmm wrote for the guest: a region whose bytes are known. */
START_TEST(test_peek_cmdline)
{
	char req[128];
	uint8_t got[sizeof(CMDLINE) + 1];
	json_t *ret;

	snprintf(req, sizeof(req),
		 "{\"execute\":\"peek\",\"arguments\":{\"gpa\":%llu,\"len\":%zu}}", LAYOUT_CMDLINE,
		 sizeof(CMDLINE));
	ret = call(req);
	ck_assert_uint_eq(peek_bytes(ret, LAYOUT_CMDLINE, got, sizeof(got)), sizeof(CMDLINE));
	ck_assert_mem_eq(got, CMDLINE, sizeof(CMDLINE)); /* with its NUL */
	ck_assert_int_gt(json_integer_value(json_object_get(ret, "pause_ns")), 0);
	json_decref(ret);
}
END_TEST

/*
 * A page memwriter rewrites all the time, read whole (4096 bytes): under an outer pause it is
 * exactly RAM's bytes; and a peek leaves the VM running (memwriter goes on).
 */
START_TEST(test_peek_page_and_resume)
{
	static uint8_t got[4096];
	char req[128];
	uint64_t before, w0, word;
	json_t *ret;

	snprintf(req, sizeof(req), "{\"execute\":\"peek\",\"arguments\":{\"gpa\":%d,\"len\":4096}}",
		 RT_MEMWRITER_BASE);
	vm__pause_all(g.vm);
	ret = call(req);
	ck_assert_uint_eq(peek_bytes(ret, RT_MEMWRITER_BASE, got, sizeof(got)), 4096);
	ck_assert_mem_eq(got, memory__gpa_to_hva(g.vm, RT_MEMWRITER_BASE, 4096), 4096);
	vm__resume_all(g.vm);
	json_decref(ret);

	/* No outer pause: the page is memwriter's, each word of iteration w0 or the next. */
	ret = call(req);
	peek_bytes(ret, RT_MEMWRITER_BASE, got, sizeof(got));
	memcpy(&w0, got, 8);
	ck_assert_uint_ge(w0, 1);
	for (int j = 1; j < 512; j++) {
		memcpy(&word, got + 8 * j, 8);
		ck_assert_msg(word == w0 * MW_MUL + j || word == (w0 + 1) * MW_MUL + j,
			      "word %d is 0x%llx, not of iteration %llu or the next", j,
			      (unsigned long long)word, (unsigned long long)w0);
	}
	json_decref(ret);

	before = memwriter_progress(g.vm);
	for (int ms = 0; memwriter_progress(g.vm) == before; ms++) {
		ck_assert_msg(ms < TEST_VM_WAIT_MS, "memwriter stopped after a peek");
		usleep(1000);
	}
}
END_TEST

/* [lo, hi) of memwriter.elf's executable segment: where a vCPU's rip must be. */
static void code_range(uint64_t *lo, uint64_t *hi)
{
	char path[4096];
	FILE *f;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	snprintf(path, sizeof(path), "%s/memwriter.elf", getenv("TWIN_GUESTS_DIR"));
	f = fopen(path, "re");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fread(&eh, sizeof(eh), 1, f), 1);
	*lo = *hi = 0;
	for (int i = 0; i < eh.e_phnum; i++) {
		ck_assert_int_eq(fseek(f, eh.e_phoff + i * eh.e_phentsize, SEEK_SET), 0);
		ck_assert_int_eq(fread(&ph, sizeof(ph), 1, f), 1);
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
			*lo = ph.p_vaddr;
			*hi = ph.p_vaddr + ph.p_memsz;
		}
	}
	fclose(f);
	ck_assert_uint_lt(*lo, *hi);
}

static uint64_t reg(json_t *vcpu, const char *name)
{
	const char *s = json_string_value(json_object_get(vcpu, name));

	ck_assert_msg(s && strlen(s) == 18 && !strncmp(s, "0x", 2), "%s: %s", name, s);
	return strtoull(s, NULL, 16);
}

/* vCPU 0 of memwriter: in ring 3 of long mode, its rip inside the guest's code. */
START_TEST(test_regs_vcpu0)
{
	uint64_t lo, hi;
	json_t *ret = call("{\"execute\":\"regs\",\"arguments\":{\"vcpu\":0}}");
	json_t *list = json_object_get(ret, "vcpus"), *v = json_array_get(list, 0);

	code_range(&lo, &hi);
	ck_assert_uint_eq(json_array_size(list), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "vcpu")), 0);
	ck_assert_msg(
	    reg(v, "rip") >= lo && reg(v, "rip") < hi, "rip 0x%llx outside the code 0x%llx-0x%llx",
	    (unsigned long long)reg(v, "rip"), (unsigned long long)lo, (unsigned long long)hi);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "cpl")), 3);
	ck_assert_uint_eq(reg(v, "cr0") & 0x80000001, 0x80000001); /* PG, PE */
	ck_assert_uint_eq(reg(v, "efer") & 0x500, 0x500);	   /* LMA, LME */
	ck_assert(json_is_true(json_object_get(json_object_get(v, "cs"), "l")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(v, "cs"), "selector")),
			 RT_SEL_UCODE64 | 3);
	for (const char *const *r =
		 (const char *const[]){"rsp", "rflags", "rax", "r15", "cr2", "cr3", "cr4", NULL};
	     *r; r++)
		reg(v, *r);
	ck_assert_int_gt(json_integer_value(json_object_get(ret, "pause_ns")), 0);
	json_decref(ret);
}
END_TEST

/* No "vcpu": every vCPU, in order, both running memwriter in ring 3. */
START_TEST(test_regs_all)
{
	json_t *ret = call("{\"execute\":\"regs\"}");
	json_t *list = json_object_get(ret, "vcpus");

	ck_assert_uint_eq(json_array_size(list), VCPUS);
	for (int i = 0; i < VCPUS; i++) {
		json_t *v = json_array_get(list, i);

		ck_assert_int_eq(json_integer_value(json_object_get(v, "vcpu")), i);
		ck_assert_int_eq(json_integer_value(json_object_get(v, "cpl")), 3);
		ck_assert_str_eq(json_string_value(json_object_get(v, "mp_state")), "runnable");
	}
	/*
	 * Registers only: the MSR list a full capture probes (unlocked, on the replication
	 * thread of a protected VM) is never touched by regs.
	 */
	ck_assert_ptr_null(g.vm->state_msrs);
	json_decref(ret);
}
END_TEST

START_TEST(test_refusals)
{
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":4096}}", "InvalidParameter",
		"give \"gpa\"");
	refused("{\"execute\":\"peek\",\"arguments\":{\"len\":16}}", "InvalidParameter",
		"give \"gpa\"");
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":4096,\"len\":0}}", "InvalidParameter",
		"\"len\" must be an integer from 1 to 4096");
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":4096,\"len\":4097}}",
		"InvalidParameter", "from 1 to 4096");
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":-1,\"len\":1}}", "InvalidParameter",
		"\"gpa\" must be an integer");
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":\"0x1000\",\"len\":1}}",
		"InvalidParameter", "\"gpa\" must be an integer");
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":0,\"len\":1,\"vcpu\":0}}",
		"InvalidParameter", "unknown argument \"vcpu\"");
	/* Past the end of 64 MiB of RAM, and across it. */
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":67108864,\"len\":16}}",
		"GenericError", "this VM's RAM is 0x0-0x3ffffff");
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":67108856,\"len\":16}}",
		"GenericError", "runs past low RAM's end (0x4000000) into unbacked space");
	/* The local APIC: MMIO, never RAM. */
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":4276092928,\"len\":4}}",
		"GenericError", "is not wholly guest RAM");
	refused("{\"execute\":\"regs\",\"arguments\":{\"vcpu\":2}}", "GenericError",
		"this VM has no vCPU 2: it has 2 (0 to 1)");
	refused("{\"execute\":\"regs\",\"arguments\":{\"vcpu\":-1}}", "InvalidParameter",
		"\"vcpu\" must be an integer");
	refused("{\"execute\":\"regs\",\"arguments\":{\"cpu\":0}}", "InvalidParameter",
		"unknown argument \"cpu\"");
	backup = true;
	refused("{\"execute\":\"peek\",\"arguments\":{\"gpa\":0,\"len\":1}}", "GenericError",
		"peek: this twin-vmm is a backup (no vCPU runs)");
	refused("{\"execute\":\"regs\"}", "GenericError", "regs: this twin-vmm is a backup");
}
END_TEST

/* Over 3 GiB: low RAM ends at the 32-bit MMIO hole, high RAM starts at 4 GiB (never touched). */
START_TEST(test_peek_mmio_hole)
{
	struct test_vm big;
	uint8_t buf[16];
	uint64_t pause_ns;
	char err[256] = "";

	test_vm__create(&big, LAYOUT_PCI_HOLE_START + (4 << 20), 1);
	ck_assert_int_eq(vm_introspect__peek(big.vm, LAYOUT_PCI_HOLE_START - 8, 16, buf, &pause_ns,
					     err, sizeof(err)),
			 -EFAULT);
	ck_assert_msg(strstr(err, "runs past low RAM's end (0xc0000000) into the MMIO hole: split"),
		      "%s", err);
	ck_assert_int_eq(vm_introspect__peek(big.vm, LAYOUT_PCI_HOLE_START, 16, buf, &pause_ns, err,
					     sizeof(err)),
			 -EFAULT);
	ck_assert_msg(strstr(err, "RAM is 0x0-0xbfffffff and 0x100000000-0x1003fffff"), "%s", err);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_int_eq(vm_introspect__peek(big.vm, LAYOUT_PCI_HOLE_END + (4 << 20) - 16, 16, buf,
					     &pause_ns, err, sizeof(err)),
			 0);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(buf[i], 0);
	ck_assert_int_eq(
	    vm_introspect__peek(big.vm, UINT64_MAX - 7, 16, buf, &pause_ns, err, sizeof(err)),
	    -EFAULT);
	test_vm__destroy(&big);
}
END_TEST

Suite *vm_introspect_suite(void)
{
	Suite *s = suite_create("vm_introspect");
	TCase *tc = tcase_create("memwriter");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_peek_cmdline);
	tcase_add_test(tc, test_peek_page_and_resume);
	tcase_add_test(tc, test_regs_vcpu0);
	tcase_add_test(tc, test_regs_all);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	tc = tcase_create("layout");
	tcase_add_test(tc, test_peek_mmio_hole);
	suite_add_tcase(s, tc);
	return s;
}
