/* The explicit device table (no constructor lists): what a VM gets, in init order. */
#include <string.h>
#include "debug_exit.h"
#include "debugdev.h"
#include "devices.h"
#include "log.h"
#include "pci.h"
#include "serial8250.h"
#include "vm.h"
#include "util.h"

struct device_desc {
	const char *name;
	int (*init)(struct vm *vm);
	void (*exit)(struct vm *vm); /* may be NULL; safe after a failed init */
};

static const struct device_desc devices[] = {
    {.name = "8250 UART", .init = serial8250__init, .exit = serial8250__exit},
    {.name = "debug-exit port", .init = debug_exit__init},
    {.name = "MMIO debug device", .init = debugdev__init},
    /* Last: its exit releases the PCI devices (virtio) first, while the rest still exist. */
    {.name = "PCI bus", .init = pci__init, .exit = pci__exit},
};

#define NR_DEVICES ARRAY_SIZE(devices)

int devices__init(struct vm *vm)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < NR_DEVICES; i++) {
		rc = devices[i].init(vm);
		if (rc) {
			log__error("setting up the %s failed: %s", devices[i].name, strerror(-rc));
			break;
		}
	}
	if (rc)
		while (i--)
			if (devices[i].exit)
				devices[i].exit(vm);
	return rc;
}

void devices__exit(struct vm *vm)
{
	for (size_t i = NR_DEVICES; i--;)
		if (devices[i].exit)
			devices[i].exit(vm);
}
