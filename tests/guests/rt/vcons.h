/* The guest kit's virtio-console driver: port 0 output, the runtime's console when present. */
#ifndef GUESTS_RT_VCONS_H
#define GUESTS_RT_VCONS_H

#include <stddef.h>

/* Find and start the first virtio console.  0, or -ENODEV when there is none. */
int vcons__init(void);
int vcons__active(void);
/* Queue n bytes on port 0 and notify the device if it wants it.  Caller serialises. */
void vcons__write(const char *s, size_t n);
/*
 * Wait (at most max_us) until the device consumed everything published.
 * Changes nothing: callable without the console lock, and from ring 0.
 */
void vcons__drain(uint32_t max_us);

#endif
