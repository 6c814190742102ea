/* An 8250/16550 UART at COM1 (0x3f8, IRQ 4), transmit-only, writing to the console sink. */
#ifndef XEN_CORE_SERIAL8250_H
#define XEN_CORE_SERIAL8250_H

#include <stddef.h>
#include <stdint.h>

struct vm;

#define SERIAL8250_PORT 0x3f8
#define SERIAL8250_IRQ	4

int serial8250__init(struct vm *vm);
void serial8250__exit(struct vm *vm);

/* The DEVICE_STATE version of struct serial8250_state (migrate/STREAM.md). */
#define SERIAL8250_STATE_VERSION 1

/*
 * The UART's state as plain data.  There is no FIFO content: output is written
 * at once and there is no input.  There is no IRQ line level either: the IRQ is
 * pulsed (edge), so an undelivered one lives in the irqchip (vm_state), and
 * thri_pending is only what IIR reports next.
 */
struct serial8250_state {
	uint32_t version; /* SERIAL8250_STATE_VERSION */
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	uint8_t thri_pending; /* 0 or 1 */
};

/*
 * Save and restore the UART at vm->serial, under its lock (any thread; the
 * caller pauses the VM so the state stays meaningful).  Restore refuses an
 * unknown version, reserved IER or MCR bits or a thri_pending other than 0 or
 * 1 with -EINVAL and one line in err, before changing anything.  It raises no
 * interrupt.  Both return 0 or -errno.
 */
int serial8250__save(struct vm *vm, struct serial8250_state *st);
int serial8250__restore(struct vm *vm, const struct serial8250_state *st, char *err, size_t errlen);

#endif
