/* The console sink that the 8250 and the MMIO debug device write guest output to. */
#ifndef XEN_CORE_CONSOLE_H
#define XEN_CORE_CONSOLE_H
#include <stddef.h>

/* Writes all of buf to fd (retrying partial writes); failures are logged once. Thread-safe. */
void console__write(int fd, const void *buf, size_t len);

#endif
