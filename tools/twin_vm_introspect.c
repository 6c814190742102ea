/* twin vm peek / vm regs: the requests to clusterd and how their answers are shown. */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>
#include "twin_host.h"
#include "twin_status.h"
#include "twin_vm_introspect.h"

/* hex's bytes into buf: how many, or -1 when hex is not an even run of hex digits or over max. */
static long unhex(const char *hex, uint8_t *buf, size_t max)
{
	size_t n = strlen(hex);

	if (n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)hex[i]))
			return -1;
	for (size_t i = 0; i < n / 2; i++) {
		char byte[3] = {hex[2 * i], hex[2 * i + 1], 0};

		buf[i] = (uint8_t)strtoul(byte, NULL, 16);
	}
	return (long)(n / 2);
}

static void dump_line(FILE *out, uint64_t addr, const uint8_t *p, size_t n)
{
	fprintf(out, "%08" PRIx64 " ", addr);
	for (size_t i = 0; i < 16; i++) {
		if (i % 8 == 0)
			fputc(' ', out);
		if (i < n)
			fprintf(out, "%02x ", p[i]);
		else
			fputs("   ", out);
	}
	fputs(" |", out);
	for (size_t i = 0; i < n; i++)
		fputc(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.', out);
	fputs("|\n", out);
}

/*
 * As `hexdump -C`, addresses starting at gpa: 16 bytes a line, a repeated line squeezed to
 * "*", then the address past the end.
 */
static void hexdump(FILE *out, uint64_t gpa, const uint8_t *buf, size_t len)
{
	bool squeezed = false;

	for (size_t off = 0; off < len; off += 16) {
		size_t n = len - off < 16 ? len - off : 16;

		/* A full line like the one before: one "*" stands for the run. */
		if (off && n == 16 && !memcmp(buf + off, buf + off - 16, 16)) {
			if (!squeezed)
				fputs("*\n", out);
			squeezed = true;
			continue;
		}
		squeezed = false;
		dump_line(out, gpa + off, buf + off, n);
	}
	fprintf(out, "%08" PRIx64 "\n", gpa + len);
}

int twin_vm_introspect__peek(struct twin_client *c, const struct twin_args *a)
{
	const char *cmd, *hex;
	json_t *args = twin_host__request(a, &cmd), *ret = twin_client__call(c, cmd, args);
	uint8_t buf[TWIN_PEEK_MAX];
	long n;

	if (!ret)
		return TWIN_EXIT_FAILED;
	hex = json_string_value(json_object_get(ret, "data"));
	n = hex ? unhex(hex, buf, sizeof(buf)) : -1;
	if (n < 0) {
		twin__error("vm peek %s: the answer holds no hex \"data\": is clusterd as new as "
			    "this twin?",
			    a->vm);
		json_decref(ret);
		return TWIN_EXIT_FAILED;
	}
	if (a->json)
		twin_status__print_json(ret);
	else if (a->hex)
		printf("%s\n", hex);
	else
		hexdump(stdout, a->gpa, buf, (size_t)n);
	json_decref(ret);
	return TWIN_EXIT_OK;
}

static const char *reg(json_t *v, const char *name)
{
	const char *s = json_string_value(json_object_get(v, name));

	return s ? s : "-";
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void print_segment(FILE *out, const char *name, json_t *s)
{
	fprintf(out, "  %-4s sel 0x%04llx  base %s  limit %s  type %2lld  dpl %lld%s%s%s\n", name,
		num(s, "selector"), reg(s, "base"), reg(s, "limit"), num(s, "type"), num(s, "dpl"),
		json_is_true(json_object_get(s, "present")) ? "  present" : "",
		json_is_true(json_object_get(s, "l")) ? "  64-bit" : "",
		json_is_true(json_object_get(s, "db")) ? "  32-bit" : "");
}

/* vm-regs' return: for each vCPU a heading, then registers three a line, segments, tables. */
static void print_regs(FILE *out, json_t *ret)
{
	static const char *const regs[] = {
	    "rip", "rsp", "rflags", "rax", "rbx", "rcx",  "rdx",       "rsi", "rdi",
	    "rbp", "r8",  "r9",	    "r10", "r11", "r12",  "r13",       "r14", "r15",
	    "cr0", "cr2", "cr3",    "cr4", "cr8", "efer", "apic_base",
	};
	static const char *const segs[] = {"cs", "ss", "ds", "es", "fs", "gs", "tr", "ldt"};
	const size_t nregs = sizeof(regs) / sizeof(regs[0]);
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(ret, "vcpus"), i, v)
	{
		fprintf(out, "%svCPU %lld: %s, ring %lld\n", i ? "\n" : "", num(v, "vcpu"),
			reg(v, "mp_state"), num(v, "cpl"));
		for (size_t r = 0; r < nregs; r++)
			fprintf(out, "  %-9s %s%s", regs[r], reg(v, regs[r]),
				r % 3 == 2 || r + 1 == nregs ? "\n" : "");
		for (size_t s = 0; s < sizeof(segs) / sizeof(segs[0]); s++)
			print_segment(out, segs[s], json_object_get(v, segs[s]));
		for (int t = 0; t < 2; t++) {
			json_t *d = json_object_get(v, t ? "idt" : "gdt");

			fprintf(out, "  %-4s base %s  limit 0x%04llx\n", t ? "idt" : "gdt",
				reg(d, "base"), num(d, "limit"));
		}
	}
}

int twin_vm_introspect__regs(struct twin_client *c, const struct twin_args *a)
{
	const char *cmd;
	json_t *args = twin_host__request(a, &cmd), *ret = twin_client__call(c, cmd, args);

	if (!ret)
		return TWIN_EXIT_FAILED;
	if (a->json)
		twin_status__print_json(ret);
	else
		print_regs(stdout, ret);
	json_decref(ret);
	return TWIN_EXIT_OK;
}
