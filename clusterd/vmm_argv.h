/* The twin-vmm command lines clusterd runs for a VM's roles: built by pure functions (tested). */
#ifndef CLUSTERD_VMM_ARGV_H
#define CLUSTERD_VMM_ARGV_H
#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "vmcfg.h"

#define VMM_ARGV_MAX 64

/* A built command line: argv[argc] is NULL; every string is heap. */
struct vmm_argv {
	char *argv[VMM_ARGV_MAX + 1];
	int argc;
};

enum vmm_argv_role {
	VMM_ARGV_PRIMARY, /* twin-vmm run */
	VMM_ARGV_BACKUP,  /* twin-vmm backup --listen REPL_ADDR:PORT */
};

/*
 * The tap of the VM's NIC index: "tw-NAME-I", at most 15 bytes.  A name over 10 characters
 * keeps its first 6 and adds 4 hex digits of its hash, so taps stay distinct and stable.
 */
void vmm_argv__tap_name(const char *vm, unsigned int index, char out[16]);

/* STATE_DIR/vms/NAME (dir) and STATE_DIR/vms/NAME/control.sock: 0 or -ENAMETOOLONG. */
int vmm_argv__vm_dir(const struct clusterd_conf *conf, const char *vm, char *out, size_t size);
int vmm_argv__control_path(const struct clusterd_conf *conf, const char *vm, char *out,
			   size_t size);

/*
 * The command line for role: devices from cfg (disk paths with %h as conf's host name), the
 * control socket in the VM's state dir; a backup listens on conf's replication address at
 * port, secured as conf's [tls] says.  0, or -errno with one line in err.  a starts zeroed;
 * vmm_argv__dispose frees it (also after a failure).
 */
int vmm_argv__build(const struct clusterd_conf *conf, const struct vmcfg *cfg,
		    enum vmm_argv_role role, uint16_t port, struct vmm_argv *a, char *err,
		    size_t errlen);

void vmm_argv__dispose(struct vmm_argv *a);

#endif
