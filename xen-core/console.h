/* The console sink that the 8250 and the MMIO debug device write guest output to. */
#ifndef XEN_CORE_CONSOLE_H
#define XEN_CORE_CONSOLE_H
#include <stddef.h>

struct vm;

/*
 * Writes all of buf to the VM's console_fd (retrying partial writes); failures
 * are logged once.  Once the VM is stopping, output the sink does not take
 * within 100 ms is dropped, so a stalled reader cannot keep the VM from
 * ending.  Thread-safe; takes vm->lock, so never call it holding that.
 */
void console__write(struct vm *vm, const void *buf, size_t len);
/*
 * Queues one byte for the VM's console; the line goes out at '\n', when 256
 * bytes are queued, or at console__flush (a vCPU idling or exiting calls it).
 * Thread-safe, as console__write.
 */
void console__putc(struct vm *vm, char c);
/* Writes out any queued part line. */
void console__flush(void);

#endif
