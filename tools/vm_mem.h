/* twin-vmm's page retirement commands (mem-offline, mem-online, query-mem) on its VM. */
#ifndef TOOLS_VM_MEM_H
#define TOOLS_VM_MEM_H
#include <stdbool.h>
#include <stddef.h>
#include "control.h"

struct vm;

/*
 * On the control thread, as control_ops.mem_offline/mem_online/query_mem say (control.h).
 * backup: this twin-vmm holds a backup's copy of the RAM, which its checkpoints write from
 * another thread: it answers whether a frame is its own, and refuses to move it.
 */
int vm_mem__offline(struct vm *vm, bool backup, const struct control_mem_page *pg,
		    struct page_retired *out, char *err, size_t errlen);
int vm_mem__online(struct vm *vm, const struct control_mem_page *pg, uint64_t *gpa, uint64_t *pfn,
		   char *err, size_t errlen);
int vm_mem__query(struct vm *vm, struct page_retired **out, size_t *n);

#endif
