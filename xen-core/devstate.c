/* Device state by stable id: the UART, PCI bus 0 and each virtio function, in restore order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "devstate.h"
#include "log.h"
#include "pci.h"
#include "serial8250.h"
#include "util.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "vm.h"

/* The virtio function behind a DEVSTATE_ID_VIRTIO id, or NULL. */
static struct virtio_dev *virtio_of_id(struct vm *vm, uint32_t id)
{
	if (id < DEVSTATE_ID_VIRTIO(1) || id >= DEVSTATE_ID_VIRTIO(PCI_MAX_SLOTS))
		return NULL;
	return virtio_dev__of_pci(pci__device(vm, id - DEVSTATE_ID_VIRTIO(0)));
}

/* The info of device id; false if this VM has no such device. */
static bool find(struct vm *vm, uint32_t id, struct devstate_info *info)
{
	struct virtio_dev *vdev;

	memset(info, 0, sizeof(*info));
	info->id = id;
	switch (id) {
	case DEVSTATE_ID_PCI:
		info->version = PCI_STATE_VERSION;
		info->size = sizeof(struct pci_state);
		snprintf(info->name, sizeof(info->name), "PCI bus");
		return true;
	case DEVSTATE_ID_UART:
		info->version = SERIAL8250_STATE_VERSION;
		info->size = sizeof(struct serial8250_state);
		snprintf(info->name, sizeof(info->name), "8250 UART");
		return vm->serial != NULL;
	default:
		vdev = virtio_of_id(vm, id);
		if (!vdev)
			return false;
		info->version = VIRTIO_STATE_VERSION;
		info->size = virtio_dev__state_size(vdev);
		snprintf(info->name, sizeof(info->name), "%s", vdev->name);
		return true;
	}
}

unsigned int devstate__list(struct vm *vm, struct devstate_info *out, unsigned int max)
{
	unsigned int n = 0;

	if (n < max && find(vm, DEVSTATE_ID_PCI, &out[n]))
		n++;
	if (n < max && find(vm, DEVSTATE_ID_UART, &out[n]))
		n++;
	for (unsigned int slot = 1; slot < PCI_MAX_SLOTS && n < max; slot++)
		if (find(vm, DEVSTATE_ID_VIRTIO(slot), &out[n]))
			n++;
	return n;
}

int devstate__save(struct vm *vm, uint32_t id, void *buf, uint32_t size)
{
	struct devstate_info info;
	struct serial8250_state uart;
	struct pci_state *pci;
	int rc;

	if (!find(vm, id, &info) || size != info.size) {
		log__error("device state 0x%x: %s (%u bytes given, %u needed)", id,
			   info.size ? "wrong size" : "no such device here", size, info.size);
		return -EINVAL;
	}
	switch (id) {
	case DEVSTATE_ID_PCI:
		pci = malloc(sizeof(*pci)); /* 10 KiB: off the stack */
		if (!pci)
			return -ENOMEM;
		rc = pci__save(vm, pci);
		memcpy(buf, pci, sizeof(*pci));
		free(pci);
		return rc;
	case DEVSTATE_ID_UART:
		rc = serial8250__save(vm, &uart);
		memcpy(buf, &uart, sizeof(uart));
		return rc;
	default:
		return virtio_dev__save(virtio_of_id(vm, id), buf, size);
	}
}

int devstate__restore(struct vm *vm, uint32_t id, uint32_t version, const void *buf, uint32_t size,
		      char *err, size_t errlen)
{
	struct devstate_info info;
	struct serial8250_state uart;
	struct pci_state *pci;
	int rc;

	if (!find(vm, id, &info)) {
		util__set_err(err, errlen,
			      "device state 0x%x: this VM has no such device: give it the same "
			      "devices (--nic, --disk) as the VM that was saved",
			      id);
		return -EINVAL;
	}
	if (version != info.version || size != info.size) {
		util__set_err(err, errlen,
			      "%s: device state version %u of %u bytes, this device takes version "
			      "%u of %u bytes: restore onto a VM with the same devices, with the "
			      "Twin that saved it",
			      info.name, version, size, info.version, info.size);
		return -EINVAL;
	}
	switch (id) {
	case DEVSTATE_ID_PCI:
		pci = malloc(sizeof(*pci));
		if (!pci) {
			util__set_err(err, errlen, "%s: out of memory", info.name);
			return -ENOMEM;
		}
		memcpy(pci, buf, sizeof(*pci));
		rc = pci__restore(vm, pci, err, errlen);
		free(pci);
		return rc;
	case DEVSTATE_ID_UART:
		memcpy(&uart, buf, sizeof(uart));
		return serial8250__restore(vm, &uart, err, errlen);
	default:
		return virtio_dev__restore(virtio_of_id(vm, id), buf, size, err, errlen);
	}
}

int devstate__resume(struct vm *vm)
{
	for (unsigned int slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		struct virtio_dev *vdev = virtio_of_id(vm, DEVSTATE_ID_VIRTIO(slot));

		if (vdev)
			virtio_dev__resume(vdev);
	}
	return 0;
}

int devstate__announce(struct vm *vm)
{
	int announced = 0;

	for (unsigned int slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		struct virtio_net *net = virtio_net__of(virtio_of_id(vm, DEVSTATE_ID_VIRTIO(slot)));

		if (net && virtio_net__announce(net) == 0)
			announced++;
	}
	return announced;
}
