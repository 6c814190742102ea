/* An 8250/16550 UART at COM1 (0x3f8, IRQ 4), transmit-only, writing to the console sink. */
#ifndef XEN_CORE_SERIAL8250_H
#define XEN_CORE_SERIAL8250_H

struct vm;

#define SERIAL8250_PORT 0x3f8
#define SERIAL8250_IRQ	4

int serial8250__init(struct vm *vm);
void serial8250__exit(struct vm *vm);

#endif
