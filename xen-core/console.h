/* The console sink that the 8250 and the MMIO debug device write guest output to. */
#ifndef XEN_CORE_CONSOLE_H
#define XEN_CORE_CONSOLE_H
#include <stddef.h>

/* Writes all of buf to fd (retrying partial writes); failures are logged once. Thread-safe. */
void console__write(int fd, const void *buf, size_t len);
/*
 * Queues one byte for fd; the line goes out at '\n', when 256 bytes are queued,
 * or at console__flush (a vCPU idling or exiting calls it).  Thread-safe.
 */
void console__putc(int fd, char c);
/* Writes out any queued part line. */
void console__flush(void);

#endif
