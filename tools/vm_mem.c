/* twin-vmm's page retirement commands: a PFN or a GPA to page_offline, backups refused. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "page_offline.h"
#include "util.h"
#include "vm.h"
#include "vm_mem.h"

int vm_mem__offline(struct vm *vm, bool backup, const struct control_mem_page *pg,
		    struct page_retired *out, char *err, size_t errlen)
{
	uint64_t gpa = pg->gpa;
	int rc;

	if (!backup)
		return pg->by_pfn ? page_offline__offline_pfn(vm, pg->pfn, out, err, errlen)
				  : page_offline__offline_gpa(vm, pg->gpa, out, err, errlen);
	/* Whose frame it is decides between "ask the next VM" and this refusal. */
	if (pg->by_pfn) {
		rc = page_offline__pfn_to_gpa(vm, pg->pfn, &gpa);
		if (rc == -ESRCH)
			return util__fail(err, errlen, rc,
					  "PFN 0x%" PRIx64 " backs no page of this VM", pg->pfn);
		if (rc)
			return util__fail(err, errlen, rc,
					  "looking PFN 0x%" PRIx64 " up in /proc/self/pagemap "
					  "failed: %s",
					  pg->pfn, strerror(-rc));
	}
	return util__fail(err, errlen, -EOPNOTSUPP,
			  "%s%" PRIx64 " is in a backup's copy of the VM's RAM, which checkpoints "
			  "write from another thread: Twin cannot retire a backup's frame; to stop "
			  "this host using it, move the backup (unprotect, then protect to "
			  "another host)",
			  pg->by_pfn ? "PFN 0x" : "GPA 0x", pg->by_pfn ? pg->pfn : gpa);
}

int vm_mem__online(struct vm *vm, const struct control_mem_page *pg, uint64_t *gpa, uint64_t *pfn,
		   char *err, size_t errlen)
{
	return pg->by_pfn ? page_offline__online_pfn(vm, pg->pfn, gpa, pfn, err, errlen)
			  : page_offline__online_gpa(vm, pg->gpa, gpa, pfn, err, errlen);
}

int vm_mem__query(struct vm *vm, struct page_retired **out, size_t *n)
{
	return page_offline__list(vm, out, n);
}
