/* Guest RAM: one shared memfd, as KVM slot 0 (low RAM from GPA 0) and slot 1 (from 4 GiB). */
#ifndef XEN_CORE_MEMORY_H
#define XEN_CORE_MEMORY_H
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct page_offline;

#define MEMORY_SLOT_LOW	 0
#define MEMORY_SLOT_HIGH 1

struct memory {
	int fd;	       /* memfd; a retired page maps a spare memfd instead: read RAM through base */
	uint8_t *base; /* host mapping of all RAM: low part, then high part */
	uint64_t size;
	uint64_t low_size;  /* RAM at GPA [0, low_size) */
	uint64_t high_size; /* RAM at GPA [4 GiB, 4 GiB + high_size) */
	bool log_dirty;
	/* Retired pages and their spare frames (page_offline.h); NULL until the first. */
	struct page_offline *offline;
};

/* Creates and maps RAM and registers the slots.  -ENOMEM (logged) if the host cannot give it. */
int memory__init(struct vm *vm, uint64_t size);
/* Re-registers every slot with or without KVM_MEM_LOG_DIRTY_PAGES. */
int memory__set_log_dirty(struct vm *vm, bool on);
/* What the host can still give: MemAvailable + SwapFree in bytes, 0 if /proc/meminfo is unreadable.
 */
uint64_t memory__host_available(void);
/* Host pointer for [gpa, gpa+len) if it lies entirely in one RAM slot, else NULL. */
void *memory__gpa_to_hva(const struct vm *vm, uint64_t gpa, uint64_t len);
/* The GPA of a host pointer into RAM (the inverse of gpa_to_hva), or UINT64_MAX if not RAM. */
uint64_t memory__hva_to_gpa(const struct vm *vm, const void *hva);
void memory__exit(struct vm *vm);

#endif
