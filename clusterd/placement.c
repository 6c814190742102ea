/* Backup placement: free memory less what is promised, fewest protected VMs, never the primary's
 * host. */
#include "placement.h"

int placement__load(const struct cl_cluster *c, uint32_t node)
{
	int n = 0;

	for (int i = 0; i < CL_MAX_VMS; i++) {
		const struct cl_vm *v = &c->vms[i];

		if (v->name[0] && v->backup &&
		    (v->state == CL_VM_PROTECTING || v->state == CL_VM_PROTECTED) &&
		    (v->primary == node || v->backup == node))
			n++;
	}
	return n;
}

uint32_t placement__promised_mib(const struct cl_cluster *c, uint32_t node)
{
	const struct cl_host *h = NULL;
	uint64_t sum = 0;

	for (int i = 0; i < CL_MAX_HOSTS; i++)
		if (node && c->hosts[i].nodeid == node)
			h = &c->hosts[i];
	for (int i = 0; h && i < CL_MAX_VMS; i++) {
		const struct cl_vm *v = &c->vms[i];

		if (!v->name[0] || v->backup != node)
			continue;
		if (v->state == CL_VM_PROTECTING ||
		    (v->state == CL_VM_PROTECTED && v->synced_version > h->info_version))
			sum += v->memory_mib;
	}
	return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

uint32_t placement__pick_backup(const struct cl_cluster *c, const struct cl_vm *vm)
{
	const struct cl_host *best = NULL;
	uint32_t best_left = 0;
	int best_load = 0;

	for (int i = 0; i < CL_MAX_HOSTS; i++) {
		const struct cl_host *h = &c->hosts[i];
		uint32_t promised, left;
		int load;

		if (!h->nodeid || h->state != CL_HOST_ONLINE || h->nodeid == vm->primary)
			continue;
		promised = placement__promised_mib(c, h->nodeid);
		left = h->free_mib > promised ? h->free_mib - promised : 0;
		if (left < vm->memory_mib)
			continue;
		load = placement__load(c, h->nodeid);
		if (!best || load < best_load ||
		    (load == best_load &&
		     (left > best_left || (left == best_left && h->nodeid < best->nodeid)))) {
			best = h;
			best_load = load;
			best_left = left;
		}
	}
	return best ? best->nodeid : 0;
}
