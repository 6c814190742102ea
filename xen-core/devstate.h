/* Every device's state of a VM, each under a stable id: what DEVICE_STATE records carry. */
#ifndef XEN_CORE_DEVSTATE_H
#define XEN_CORE_DEVSTATE_H
#include <stddef.h>
#include <stdint.h>

struct vm;

#define DEVSTATE_ID_UART	 1
#define DEVSTATE_ID_PCI		 2
#define DEVSTATE_ID_VIRTIO(slot) (0x100u + (slot)) /* the virtio function in PCI slot */
#define DEVSTATE_NAME_MAX	 32

/* One device: its id, the version and size of its state, and its name for errors. */
struct devstate_info {
	uint32_t id, version, size;
	char name[DEVSTATE_NAME_MAX];
};

/*
 * The VM's device states in restore order: the PCI bus first (its restore
 * moves the BARs, and with them the virtio notify ioeventfds), then the UART,
 * then each virtio function by slot.  Fills up to max and returns how many it
 * filled.  Any thread; the list is fixed once the VM is created.
 */
unsigned int devstate__list(struct vm *vm, struct devstate_info *out, unsigned int max);

/*
 * Saves device id into buf (size = its info.size; the layouts are in
 * migrate/STREAM.md).  The VM paused (vm__pause_all) AND the I/O loop paused
 * (ioloop__pause).  0, or -EINVAL (unknown id or wrong size, logged).
 */
int devstate__save(struct vm *vm, uint32_t id, void *buf, uint32_t size);

/*
 * Restores device id before vm__start, or with the VM paused.  Refuses with
 * -EINVAL and one line in err (naming the device, the field and the fix)
 * before changing anything: an unknown id, another version or size, or a
 * state that does not fit this VM (another image size, another MAC, another
 * device).  Restore in devstate__list order, then call devstate__resume.
 */
int devstate__restore(struct vm *vm, uint32_t id, uint32_t version, const void *buf, uint32_t size,
		      char *err, size_t errlen);

/*
 * After every devstate__restore, before the vCPUs run: restarts the virtio
 * queues (in-flight requests are popped again: last_avail was rewound to the
 * used idx) and kicks each, so the I/O thread re-reads every avail ring.
 * Returns 0.
 */
int devstate__resume(struct vm *vm);

/*
 * For each NIC, on the guest's behalf: a gratuitous ARP for the IPv4 address
 * snooped from the guest's own TX frames (saved with the NIC's state), or,
 * when none was seen, a RARP with its MAC as QEMU sends.  Once the VM runs
 * (after a restore or migration): the first frame now, 4 repeats on the I/O
 * loop with QEMU's backoff (virtio_net__announce).  Any thread.  Returns the
 * NICs announced (a failed send is logged and not counted).
 */
int devstate__announce(struct vm *vm);

#endif
