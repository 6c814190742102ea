/* virtio-console: drains the transmit queue into the console sink on the I/O thread. */
#include <errno.h>
#include <stdlib.h>
#include <linux/virtio_console.h>
#include "console.h"
#include "log.h"
#include "util.h"
#include "virtio_console.h"
#include "virtio_pci.h"
#include "virtio_serve.h"
#include "vm.h"

#define CONSOLE_QUEUE_SIZE 64
/* Port 0's queues when VIRTIO_CONSOLE_F_MULTIPORT is not offered (virtio 1.x, 5.3.2). */
#define CONSOLE_RXQ 0
#define CONSOLE_TXQ 1

/* Transitional consoles show their config after the 20 legacy registers, in 236 bytes. */
_Static_assert(sizeof(struct virtio_console_config) <= 236,
	       "virtio-console config too big for legacy");

struct virtio_console {
	struct virtio_dev vdev; /* first: the transport hands callbacks a vdev pointer */
	struct virtio_console_config config;
	struct vq_chain chain; /* I/O thread only */
};

int virtio_console__tx(struct vm *vm, const struct vq_chain *chain, char *why, size_t whylen)
{
	if (chain->nr_in) {
		util__set_err(why, whylen, "transmit chain has %u writable descriptors",
			      chain->nr_in);
		return -EPROTO;
	}
	for (unsigned int i = 0; i < chain->nr_out; i++)
		console__write(vm, chain->iov[i].iov_base, chain->iov[i].iov_len);
	return 0;
}

static int console_serve(struct virtio_dev *vdev, const struct vq_chain *chain, uint32_t *written,
			 char *why, size_t whylen)
{
	*written = 0; /* transmit buffers are only read */
	return virtio_console__tx(vdev->vm, chain, why, whylen);
}

/*
 * I/O thread: prints a batch of queued transmit buffers and comes back for the
 * rest; receive buffers stay unused (no input).
 */
static void console_queue_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_console *con = (struct virtio_console *)vdev;

	if (q == CONSOLE_TXQ)
		virtio_serve__queue(vdev, q, &con->chain, VIRTIO_SERVE_BATCH, console_serve);
}

/* vCPU thread: logged so a run shows its guest output goes through this device. */
static void console_driver_ok(struct virtio_dev *vdev)
{
	log__info("%s: driver ready: guest output through the virtio console", vdev->name);
}

/* vm__destroy, I/O thread stopped. */
static void console_release(struct virtio_dev *vdev)
{
	free(vdev);
}

/*
 * No state of its own beyond the transport's (no state_* hooks): output is
 * written at once, there is no input, and its config never changes.
 */
static const struct virtio_dev_ops console_ops = {
    .queue_notify = console_queue_notify,
    .driver_ok = console_driver_ok,
    .release = console_release,
};

int virtio_console__create(struct vm *vm, bool legacy)
{
	struct virtio_console *con = calloc(1, sizeof(*con));
	int rc;

	if (!con) {
		log__error("virtio-console: out of memory");
		return -ENOMEM;
	}
	con->vdev = (struct virtio_dev){
	    .name = "virtio-console",
	    .device_id = VIRTIO_ID_CONSOLE,
	    .nr_queues = 2,
	    .queue_max_size = CONSOLE_QUEUE_SIZE,
	    .config = &con->config,
	    .config_len = sizeof(con->config),
	    .legacy = legacy,
	    .ops = &console_ops,
	};
	rc = virtio_dev__register(vm, &con->vdev);
	if (rc)
		free(con); /* not the VM's yet */
	return rc;
}
