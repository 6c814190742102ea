/* A VM in the stream: VM_CONFIG, and the VM, vCPU and device state records written and loaded. */
#ifndef MIGRATE_VM_STREAM_H
#define MIGRATE_VM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "devstate.h"
#include "stream.h"

struct vm;

#define VM_STREAM_MAX_DEVICES STREAM_MAX_DEVICES

/* What VM_CONFIG says: the VM a destination must build before pages and state arrive. */
struct vm_stream_config {
	uint64_t mem_size;
	uint32_t nr_vcpus;
	bool has_pit;
	uint32_t nr_devices;
	struct devstate_info devices[VM_STREAM_MAX_DEVICES]; /* restore order */
};

/*
 * All of these run on the thread that drives the stream (save, migration or
 * replication), never a vCPU thread, and return 0 or -errno.  Errors worth a
 * user's eyes come back in err as one line naming the problem and the fix.
 */

/* VM_CONFIG for vm: any time after vm__create (the device table is fixed by then). */
int vm_stream__write_config(struct stream_writer *w, struct vm *vm);
/*
 * rec must be a VM_CONFIG the reader returned.  -EBADMSG for a corrupt body,
 * -EPROTONOSUPPORT for state layouts this build does not read.
 */
int vm_stream__parse_config(const struct stream_record *rec, struct vm_stream_config *cfg,
			    char *err, size_t errlen);
/*
 * The VM built for the stream matches it: RAM, vCPUs, PIT and the same
 * devices in the same slots with the same state versions and sizes.  -EINVAL
 * with the missing or extra device and the option to give (--nic, --disk).
 */
int vm_stream__check_config(const struct vm_stream_config *cfg, struct vm *vm, char *err,
			    size_t errlen);
/*
 * VM paused (vm__pause_all) and its I/O loop paused (ioloop__pause): VM_STATE,
 * one VCPU_STATE per vCPU, one DEVICE_STATE per device.  Leaves the VM as it was.
 */
int vm_stream__write_state(struct stream_writer *w, struct vm *vm);

/*
 * Buffers one epoch's state records until apply; replication reuses one
 * loader for every epoch.  A loader belongs to one VM and one thread.
 */
struct state_loader;

int state_loader__init(struct state_loader **l, struct vm *vm);
/* NULL is a no-op. */
void state_loader__free(struct state_loader *l);
/*
 * One VCPU_STATE, VM_STATE or DEVICE_STATE record, checked (STREAM.md,
 * "Loading state") and kept; the VM is not touched.  -EBADMSG (corrupt or
 * inconsistent: wrong size, id out of range, a duplicate),
 * -EPROTONOSUPPORT (another layout or device version), -EINVAL (not a
 * state record, or state that does not fit this VM).
 */
int state_loader__record(struct state_loader *l, const struct stream_record *rec, char *err,
			 size_t errlen);
/*
 * Before vm__start, or with the VM and its I/O loop paused (replication's
 * backup between epochs).  Refuses (-EBADMSG) before touching the VM
 * unless every vCPU, the VM state and every device is present; then
 * vcpu_state__restore for each vCPU, vm_state__restore, devstate__restore
 * for each device in VM_CONFIG order, and devstate__resume.  A failure in
 * there leaves the VM partly restored: the caller must not run it.  Either
 * way the buffered records are dropped, ready for the next epoch.  -EBADMSG
 * means only that: a missing record, the VM untouched; other errors come
 * from the restore steps.
 */
int state_loader__apply(struct state_loader *l, char *err, size_t errlen);

#endif
