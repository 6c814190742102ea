/* Check suite for the MP table: parse back what mptable__write wrote, as a guest would. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "suites.h"
#include "layout.h"
#include "mptable.h"
#include "util.h"

#define RAM_SIZE (2ULL << 20)
#include "ram_fixture.h"

static char err[256];

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	for (size_t i = 0; i < len; i++)
		s += p[i];
	return s;
}

/* Scan the BIOS area on 16-byte boundaries for a valid floating pointer, as Linux does. */
static const struct mp_floating *find_floating(void)
{
	for (uint64_t a = LAYOUT_BIOS_START; a < LAYOUT_HIGH_START; a += 16)
		if (memcmp(ram + a, "_MP_", 4) == 0 && sum(ram + a, 16) == 0)
			return (const struct mp_floating *)(ram + a);
	return NULL;
}

struct parsed {
	int cpus, buses, ioapics, ioints, lints;
	uint8_t bsp_apic_id, ioapic_id;
	int pin_of_irq[16];
};

static void parse(int ncpus, struct parsed *r)
{
	const struct mp_floating *mpf = find_floating();
	const struct mp_config *cfg;
	const uint8_t *p, *end;
	int entries = 0;

	memset(r, 0, sizeof(*r));
	memset(r->pin_of_irq, -1, sizeof(r->pin_of_irq));
	r->bsp_apic_id = 0xff;
	ck_assert_ptr_nonnull(mpf);
	ck_assert_uint_eq(mpf->length, 1);
	ck_assert_uint_eq(mpf->spec_rev, 4);
	ck_assert_uint_eq(mpf->feature[0], 0); /* a config table follows, no default config */
	ck_assert_uint_lt(mpf->config_paddr, RAM_SIZE - sizeof(*cfg));

	cfg = (const struct mp_config *)(ram + mpf->config_paddr);
	ck_assert_int_eq(memcmp(cfg->signature, "PCMP", 4), 0);
	ck_assert_uint_eq(cfg->spec_rev, 4);
	ck_assert_uint_eq(sum((const uint8_t *)cfg, cfg->length), 0);
	ck_assert_uint_eq(cfg->lapic_paddr, LAYOUT_LAPIC);
	ck_assert_uint_eq(cfg->ext_length, 0);
	ck_assert_uint_le(mpf->config_paddr + cfg->length, LAYOUT_HIGH_START);

	p = (const uint8_t *)(cfg + 1);
	end = (const uint8_t *)cfg + cfg->length;
	while (p < end) {
		entries++;
		switch (p[0]) {
		case MP_ENTRY_PROCESSOR: {
			const struct mp_processor *c = (const void *)p;

			ck_assert_uint_eq(c->apic_id, r->cpus); /* IDs 0..n-1, in order */
			ck_assert_uint_eq(c->flags & MP_CPU_ENABLED, MP_CPU_ENABLED);
			if (c->flags & MP_CPU_BSP) {
				ck_assert_uint_eq(r->bsp_apic_id, 0xff); /* only one BSP */
				r->bsp_apic_id = c->apic_id;
			}
			r->cpus++;
			p += sizeof(*c);
			break;
		}
		case MP_ENTRY_BUS: {
			const struct mp_bus *b = (const void *)p;

			ck_assert_int_eq(memcmp(b->bus_type, "ISA   ", 6), 0);
			ck_assert_uint_eq(b->bus_id, MP_ISA_BUS_ID);
			r->buses++;
			p += sizeof(*b);
			break;
		}
		case MP_ENTRY_IOAPIC: {
			const struct mp_ioapic *io = (const void *)p;

			ck_assert_uint_eq(io->paddr, LAYOUT_IOAPIC);
			ck_assert_uint_eq(io->flags & MP_IOAPIC_ENABLED, MP_IOAPIC_ENABLED);
			r->ioapic_id = io->apic_id;
			r->ioapics++;
			p += sizeof(*io);
			break;
		}
		case MP_ENTRY_IOINT: {
			const struct mp_intsrc *i = (const void *)p;

			ck_assert_uint_eq(i->irq_type, MP_INT_INT);
			ck_assert_uint_eq(i->src_bus, MP_ISA_BUS_ID);
			ck_assert_uint_lt(i->src_irq, 16);
			ck_assert_int_eq(r->pin_of_irq[i->src_irq], -1); /* one entry per IRQ */
			ck_assert_uint_eq(i->dst_apic, r->ioapic_id);	 /* IOAPIC listed first */
			r->pin_of_irq[i->src_irq] = i->dst_pin;
			r->ioints++;
			p += sizeof(*i);
			break;
		}
		case MP_ENTRY_LINT: {
			const struct mp_intsrc *l = (const void *)p;

			ck_assert_uint_eq(l->dst_apic, MP_LINT_ALL_APICS);
			if (l->irq_type == MP_INT_EXTINT)
				ck_assert_uint_eq(l->dst_pin, 0);
			else
				ck_assert(l->irq_type == MP_INT_NMI && l->dst_pin == 1);
			r->lints++;
			p += sizeof(*l);
			break;
		}
		default:
			ck_abort_msg("unknown MP entry type %u", p[0]);
		}
	}
	ck_assert_ptr_eq(p, end);
	ck_assert_int_eq(entries, cfg->entry_count);
	ck_assert_int_eq(r->cpus, ncpus);
}

START_TEST(test_parse_back)
{
	const int counts[] = {1, 2, 3, 8, MPTABLE_MAX_CPUS};
	int ncpus = counts[_i];
	struct parsed r;

	ck_assert_int_eq(mptable__write(ram, RAM_SIZE, ncpus, err, sizeof(err)), 0);
	parse(ncpus, &r);
	ck_assert_uint_eq(r.bsp_apic_id, 0);
	ck_assert_int_eq(r.buses, 1);
	ck_assert_int_eq(r.ioapics, 1);
	ck_assert_uint_eq(r.ioapic_id, ncpus);
	ck_assert_int_eq(r.ioints, 15);
	ck_assert_int_eq(r.lints, 2);
	ck_assert_int_eq(r.pin_of_irq[0], 2);
	ck_assert_int_eq(r.pin_of_irq[2], -1); /* the cascade has no entry: pin 2 is IRQ 0's */
	for (int irq = 1; irq < 16; irq++)
		if (irq != 2)
			ck_assert_int_eq(r.pin_of_irq[irq], irq);
	/* Nothing outside the BIOS area was touched. */
	ck_assert(ram_untouched(0, LAYOUT_BIOS_START));
	ck_assert(ram_untouched(LAYOUT_HIGH_START, RAM_SIZE));
}
END_TEST

START_TEST(test_bad_cpu_count)
{
	const int bad[] = {0, -1, MPTABLE_MAX_CPUS + 1, 1000};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		ck_assert_int_eq(mptable__write(ram, RAM_SIZE, bad[i], err, sizeof(err)), -EINVAL);
		ck_assert_str_ne(err, "");
	}
	ck_assert_int_eq(mptable__write(ram, 512 * 1024, 1, err, sizeof(err)), -EINVAL);
	ck_assert(ram_untouched(0, RAM_SIZE));
}
END_TEST

Suite *mptable_suite(void)
{
	Suite *s = suite_create("mptable");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, ram_setup, ram_teardown);
	tcase_add_loop_test(tc, test_parse_back, 0, 5);
	tcase_add_test(tc, test_bad_cpu_count);
	suite_add_tcase(s, tc);
	return s;
}
