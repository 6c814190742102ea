/* virtio-console (device id 3): port 0 output to the VM's console sink, the serial port's. */
#ifndef XEN_CORE_VIRTIO_CONSOLE_H
#define XEN_CORE_VIRTIO_CONSOLE_H
#include <stdbool.h>
#include <stddef.h>

struct vm;
struct vq_chain;

/*
 * Before vm__start: adds a virtio console (single port, no multiport, no
 * input: its receive queue is never filled) whose output goes to
 * console__write, so guests print through it as through the 8250 and Linux
 * gets hvc0.  Modern-only or, with legacy, transitional.  0 or -errno, logged.
 */
int virtio_console__create(struct vm *vm, bool legacy);

/*
 * I/O thread (exposed for unit tests): writes the readable part of one
 * transmit chain to vm's console.  -EPROTO with the reason in why if the
 * chain has a writable part (the caller marks the device broken).
 */
int virtio_console__tx(struct vm *vm, const struct vq_chain *chain, char *why, size_t whylen);

#endif
