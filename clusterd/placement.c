/* Backup placement: free memory, fewest protected VMs, never the primary's host. */
#include "placement.h"

int placement__load(const struct cl_cluster *c, uint32_t node)
{
	int n = 0;

	for (int i = 0; i < CL_MAX_VMS; i++) {
		const struct cl_vm *v = &c->vms[i];

		if (v->name[0] && v->state != CL_VM_STOPPED &&
		    (v->primary == node || v->backup == node))
			n++;
	}
	return n;
}

uint32_t placement__pick_backup(const struct cl_cluster *c, const struct cl_vm *vm, uint32_t avoid)
{
	const struct cl_host *best = NULL;
	int best_load = 0;

	for (int i = 0; i < CL_MAX_HOSTS; i++) {
		const struct cl_host *h = &c->hosts[i];
		int load;

		if (!h->nodeid || h->state != CL_HOST_ONLINE || h->nodeid == vm->primary ||
		    h->nodeid == avoid || h->free_mib < vm->memory_mib)
			continue;
		load = placement__load(c, h->nodeid);
		if (!best || load < best_load ||
		    (load == best_load &&
		     (h->free_mib > best->free_mib ||
		      (h->free_mib == best->free_mib && h->nodeid < best->nodeid)))) {
			best = h;
			best_load = load;
		}
	}
	return best ? best->nodeid : 0;
}
