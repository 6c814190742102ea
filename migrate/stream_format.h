/* The Twin stream's wire format (STREAM.md): header, record and PAGE_DATA layouts and limits. */
#ifndef MIGRATE_STREAM_FORMAT_H
#define MIGRATE_STREAM_FORMAT_H

#include <stdint.h>

/* Integers are little-endian on the wire and Twin is x86-64 only: structs map the bytes. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the stream is little-endian");

#define STREAM_MAGIC	      "TWINSTRM"
#define STREAM_VERSION	      1u
#define STREAM_BYTE_ORDER     0x01020304u
#define STREAM_BYTE_ORDER_REV 0x04030201u

#define STREAM_FLAG_LIVE	 (1u << 0) /* pages may be sent again; the last copy wins */
#define STREAM_FLAG_CHECKPOINTED (1u << 1) /* replication: epochs closed by CHECKPOINT */
#define STREAM_FLAGS_KNOWN	 (STREAM_FLAG_LIVE | STREAM_FLAG_CHECKPOINTED)

struct stream_header {
	char magic[8];
	uint32_t version;
	uint32_t byte_order;
	uint32_t flags;
	uint32_t reserved;
};
_Static_assert(sizeof(struct stream_header) == 24, "stream header is 24 bytes");

#define STREAM_REC_END		0u
#define STREAM_REC_PAGE_DATA	1u
#define STREAM_REC_VCPU_STATE	2u
#define STREAM_REC_VM_STATE	3u
#define STREAM_REC_DEVICE_STATE 4u
#define STREAM_REC_DISK_WRITES	5u
#define STREAM_REC_CHECKPOINT	6u
#define STREAM_REC_VM_CONFIG	7u
#define STREAM_REC_SYNC		8u /* live: the source waits for READY (STREAM.md, handshake) */
#define STREAM_REC_HEARTBEAT	9u /* replication: the primary is alive (STREAM.md, Replication) */
#define STREAM_REC_LAST		STREAM_REC_HEARTBEAT /* the highest type this build knows */
#define STREAM_REC_OPTIONAL	(1u << 31)	/* a reader that does not know the type skips it */

#define STREAM_ALIGN	  8u
#define STREAM_MAX_RECORD (8u << 20) /* largest record body */

struct stream_rec_header {
	uint32_t type;
	uint32_t length; /* body bytes, without padding */
};
_Static_assert(sizeof(struct stream_rec_header) == 8, "record header is 8 bytes");

/*
 * Fixed prefixes of the state records.  The state after each is xen-core's
 * struct in its native x86-64 layout (STREAM.md); the layout numbers name that
 * layout, so a build whose structs differ refuses the record instead of
 * misreading it.  migrate/vm_stream.c pins each struct's size and offsets to
 * its layout number at compile time.
 */
#define STREAM_VCPU_LAYOUT 1u /* struct vcpu_state, 10296 bytes */
#define STREAM_VM_LAYOUT   1u /* struct vm_state, 1736 bytes */

struct stream_vcpu_prefix {
	uint32_t vcpu_id;
	uint32_t layout; /* STREAM_VCPU_LAYOUT */
};
_Static_assert(sizeof(struct stream_vcpu_prefix) == 8, "VCPU_STATE prefix is 8 bytes");

struct stream_vm_prefix {
	uint32_t layout; /* STREAM_VM_LAYOUT */
	uint32_t reserved;
};
_Static_assert(sizeof(struct stream_vm_prefix) == 8, "VM_STATE prefix is 8 bytes");

struct stream_device_prefix {
	uint32_t device_id;
	uint32_t version;
};
_Static_assert(sizeof(struct stream_device_prefix) == 8, "DEVICE_STATE prefix is 8 bytes");

/* VM_CONFIG: what the destination must build before any page or state arrives. */
#define STREAM_CONFIG_PIT	  (1u << 0) /* the VM has an in-kernel i8254 PIT */
#define STREAM_CONFIG_FLAGS_KNOWN STREAM_CONFIG_PIT
#define STREAM_MAX_DEVICES	  64u
#define STREAM_DEVICE_NAME_MAX	  32u

struct stream_vm_config {
	uint64_t mem_size; /* bytes, a multiple of 4 KiB */
	uint32_t nr_vcpus;
	uint32_t flags;	      /* STREAM_CONFIG_* */
	uint32_t vcpu_layout; /* of this stream's VCPU_STATE records */
	uint32_t vm_layout;   /* of its VM_STATE records */
	uint32_t nr_devices;  /* entries that follow, <= STREAM_MAX_DEVICES */
	uint32_t reserved;
};
_Static_assert(sizeof(struct stream_vm_config) == 32, "VM_CONFIG header is 32 bytes");

struct stream_config_device {
	uint32_t id;	  /* the device's stable id (xen-core/devstate.h) */
	uint32_t version; /* of its DEVICE_STATE */
	uint32_t size;	  /* of its DEVICE_STATE after the prefix */
	uint32_t reserved;
	char name[STREAM_DEVICE_NAME_MAX]; /* NUL-terminated, zero-padded */
};
_Static_assert(sizeof(struct stream_config_device) == 48, "VM_CONFIG device entry is 48 bytes");

struct stream_checkpoint {
	uint64_t epoch;
};
_Static_assert(sizeof(struct stream_checkpoint) == 8, "CHECKPOINT body is 8 bytes");

/* DISK_WRITES: a header, then per write an entry and its sectors (a multiple of 8 bytes). */
#define STREAM_SECTOR_SIZE 512u

struct stream_disk_writes_header {
	uint32_t disk_id; /* the VM's disks in PCI slot order, from 0 */
	uint32_t count;	  /* >= 1 */
};
_Static_assert(sizeof(struct stream_disk_writes_header) == 8, "DISK_WRITES header is 8 bytes");

struct stream_disk_write {
	uint64_t sector;
	uint32_t nsectors; /* >= 1 */
	uint32_t reserved;
};
_Static_assert(sizeof(struct stream_disk_write) == 16, "DISK_WRITES entry is 16 bytes");

/* PAGE_DATA: a batch header, then per page a header, its data and padding to 8. */
#define STREAM_PAGE_SIZE 4096u
#define STREAM_MAX_BATCH 1024u
#define STREAM_LZ4_BOUND 4128u /* LZ4_COMPRESSBOUND(4096), checked in page_data.c */

#define STREAM_PAGE_RAW	  0u
#define STREAM_PAGE_ZERO  1u
#define STREAM_PAGE_LZ4	  2u
#define STREAM_PAGE_DELTA 3u
#define STREAM_PAGE_ZLIB  4u /* raw deflate (no zlib header) of one page */

struct stream_batch_header {
	uint32_t count;
	uint32_t reserved;
};
_Static_assert(sizeof(struct stream_batch_header) == 8, "PAGE_DATA header is 8 bytes");

struct stream_page_header {
	uint64_t pfn;
	uint8_t encoding;
	uint8_t reserved[3];
	uint32_t length; /* data bytes, without padding */
};
_Static_assert(sizeof(struct stream_page_header) == 16, "page header is 16 bytes");

/* The largest PAGE_DATA body: every page at its longest encoding. */
_Static_assert(sizeof(struct stream_batch_header) +
		       STREAM_MAX_BATCH *
			   (sizeof(struct stream_page_header) + STREAM_LZ4_BOUND + 7) <=
		   STREAM_MAX_RECORD,
	       "a full batch fits a record");

#endif
