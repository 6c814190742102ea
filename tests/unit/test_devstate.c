/* Check suite for device state save/restore: each device round-trips into a fresh VM (needs KVM).
 */
#include <errno.h>
#include <string.h>
#include "iobus.h"
#include "serial8250.h"
#include "suites.h"
#include "vm.h"

static struct vm *new_vm(void)
{
	struct vm_config cfg = {.mem_size = 16 << 20, .nr_vcpus = 1, .console_fd = -1};
	struct vm *vm;

	ck_assert_int_eq(vm__create(&cfg, &vm), 0);
	return vm;
}

static void uart_out(struct vm *vm, unsigned int reg, uint8_t v)
{
	iobus__access(&vm->pio, NULL, SERIAL8250_PORT + reg, &v, 1, 1);
}

static uint8_t uart_in(struct vm *vm, unsigned int reg)
{
	uint8_t v;

	iobus__access(&vm->pio, NULL, SERIAL8250_PORT + reg, &v, 1, 0);
	return v;
}

/* Every register the guest set, and the pending THRE interrupt, survive save/restore. */
START_TEST(test_serial8250_round_trip)
{
	struct serial8250_state a, b;
	struct vm *src = new_vm(), *dst = new_vm();

	uart_out(src, 3, 0x83); /* LCR: DLAB, 8N1 */
	uart_out(src, 0, 0x03); /* DLL */
	uart_out(src, 1, 0x01); /* DLM */
	uart_out(src, 3, 0x1b); /* LCR: 8E1, DLAB off */
	uart_out(src, 2, 0x07); /* FCR: FIFO on */
	uart_out(src, 4, 0x1b); /* MCR: loopback, so no output */
	uart_out(src, 7, 0x5a); /* SCR */
	uart_out(src, 1, 0x02); /* IER: THRE interrupt, which becomes pending */
	ck_assert_int_eq(serial8250__save(src, &a), 0);
	ck_assert_uint_eq(a.version, SERIAL8250_STATE_VERSION);
	ck_assert_uint_eq(a.thri_pending, 1);
	ck_assert_int_eq(serial8250__restore(dst, &a), 0);
	ck_assert_int_eq(serial8250__save(dst, &b), 0);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	/* The guest of the restored VM reads what it wrote. */
	ck_assert_uint_eq(uart_in(dst, 3), 0x1b);
	ck_assert_uint_eq(uart_in(dst, 4), 0x1b);
	ck_assert_uint_eq(uart_in(dst, 7), 0x5a);
	ck_assert_uint_eq(uart_in(dst, 1), 0x02);
	ck_assert_uint_eq(uart_in(dst, 2), 0xc2); /* FIFO on, THRE pending */
	ck_assert_uint_eq(uart_in(dst, 2), 0xc1); /* reading IIR cleared it */
	uart_out(dst, 3, 0x9b);
	ck_assert_uint_eq(uart_in(dst, 0), 0x03);
	ck_assert_uint_eq(uart_in(dst, 1), 0x01);
	vm__destroy(src);
	vm__destroy(dst);
}
END_TEST

/* A state the registers cannot produce is refused, and the UART keeps what it had. */
START_TEST(test_serial8250_corrupt_refused)
{
	struct serial8250_state good, bad, now;
	struct vm *vm = new_vm();

	uart_out(vm, 7, 0x42);
	ck_assert_int_eq(serial8250__save(vm, &good), 0);
	bad = good;
	bad.version = SERIAL8250_STATE_VERSION + 1;
	ck_assert_int_eq(serial8250__restore(vm, &bad), -EINVAL);
	bad = good;
	bad.ier = 0x10;
	ck_assert_int_eq(serial8250__restore(vm, &bad), -EINVAL);
	bad = good;
	bad.mcr = 0x20;
	ck_assert_int_eq(serial8250__restore(vm, &bad), -EINVAL);
	bad = good;
	bad.thri_pending = 2;
	bad.scr = 0x99;
	ck_assert_int_eq(serial8250__restore(vm, &bad), -EINVAL);
	ck_assert_int_eq(serial8250__save(vm, &now), 0);
	ck_assert_mem_eq(&good, &now, sizeof(good));
	vm__destroy(vm);
}
END_TEST

Suite *devstate_suite(void)
{
	Suite *s = suite_create("devstate");
	TCase *uart = tcase_create("serial8250");

	tcase_add_test(uart, test_serial8250_round_trip);
	tcase_add_test(uart, test_serial8250_corrupt_refused);
	suite_add_tcase(s, uart);
	return s;
}
