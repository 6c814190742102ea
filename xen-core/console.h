/* The console sink that the 8250 and the MMIO debug device write guest output to. */
#ifndef XEN_CORE_CONSOLE_H
#define XEN_CORE_CONSOLE_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct vm;

/* One per VM (struct vm's console); all fields under lock. */
struct console {
	pthread_mutex_t lock; /* taken before vm->lock, never under it */
	/*
	 * The part line console__putc has not written yet.  Guests print a byte per
	 * VM exit; one write(2) per byte woke the reader per byte and cost ~1 ms of
	 * a 20 ms hello boot.
	 */
	char line[256];
	size_t line_len;
	bool dropping; /* the VM is stopping and its reader stalled: drop the rest */
};

void console__init(struct console *c);
void console__dispose(struct console *c);
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
void console__flush(struct vm *vm);

#endif
