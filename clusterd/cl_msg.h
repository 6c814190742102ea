/* twin-clusterd's CPG messages: JSON on the wire, decoded strictly into structs. */
#ifndef CLUSTERD_CL_MSG_H
#define CLUSTERD_CL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model.h"

/*
 * One message is one JSON object {"v": 1, "type": T, "node": SENDER, ...}.  Decoding
 * refuses: another version, an unknown type, a missing or unknown key, a value of the
 * wrong type or out of range, a string too long for its field, more than CL_MSG_MAX
 * bytes.  What decodes re-encodes to an equal message.
 */
#define CL_MSG_VERSION 1
#define CL_MSG_MAX     (1u << 20)

enum cl_msg_type {
	CL_MSG_HOST_INFO,  /* a host's name, replication address, port base, free memory */
	CL_MSG_STATE_SYNC, /* after a confchg: the sender's whole replicated state */
	CL_MSG_REQUEST,	   /* a CLI request, applied by every member or by target alone */
	CL_MSG_REPLY,	   /* target's answer to a targeted request's origin */
	CL_MSG_VM_REPORT,  /* a host's news about one of its vmms */
	CL_MSG_BARRIER,	   /* to the sender itself: its decisions' configuration still holds */
	CL_MSG_NTYPES
};

enum cl_report {
	CL_REP_STARTED,	    /* the (role) vmm runs; a backup: listens */
	CL_REP_SYNC_DONE,   /* the primary finished the initial sync */
	CL_REP_SYNC_FAILED, /* the primary's protect failed */
	CL_REP_ACTIVATED,   /* the backup became the primary */
	CL_REP_STOPPED,	    /* the vmm exited as asked (vm stop) */
	CL_REP_VMM_DIED,    /* the vmm died: the confirmed death the safety rule needs */
	CL_REP_STALLED,	    /* the primary hears its backup no more (licenses nothing) */
	CL_REP_NKINDS
};

struct cl_msg {
	enum cl_msg_type type;
	uint32_t node; /* the sender; the model checks it against CPG's */
	union {
		struct cl_host host; /* HOST_INFO: nodeid == node; state unused */
		struct {
			uint32_t members[CL_MAX_HOSTS]; /* the membership it answers, sorted */
			int nmembers;
			bool initialized; /* the sender holds the history (cl_local) */
			bool midway;	  /* its partition won quorum midway through the ring */
			struct cl_cluster *cluster; /* heap */
		} sync;
		struct {
			uint32_t target;	/* 0: every member applies it */
			struct cl_request *req; /* heap; req->id with node: unique */
		} request;
		struct {
			uint32_t origin; /* the request's sender */
			uint64_t id;
			bool ok;
			char err_class[32];
			char *text; /* heap: JSON ("return" value) if ok, else the desc */
		} reply;
		struct {
			char vm[CL_NAME_MAX + 1];
			enum cl_report what;
			enum cl_role role;
			uint32_t gen;
		} report;
		uint64_t barrier; /* BARRIER: the sender's sequence number */
	};
};

/* Frees what msg points to (idempotent after the first call zeroes the pointers). */
void cl_msg__dispose(struct cl_msg *msg);
/* A heap buffer (NUL-terminated) and its length; 0, -ENOMEM, -E2BIG, -EINVAL. */
int cl_msg__encode(const struct cl_msg *msg, char **out, size_t *len);
/* 0, or -EBADMSG with one line in err; msg needs cl_msg__dispose either way. */
int cl_msg__decode(const void *data, size_t len, struct cl_msg *msg, char *err, size_t errlen);

/* A replicated state back from cl_msg__cluster_json's text: 0 or -EBADMSG (err). */
int cl_msg__cluster_from_json(const char *text, size_t len, struct cl_cluster *c, char *err,
			      size_t errlen);
/* The JSON of a replicated state (deterministic: equal states give equal text). */
char *cl_msg__cluster_json(const struct cl_cluster *c, bool pretty);
/* Status replies (heap JSON text): one VM, every VM, the cluster. */
char *cl_msg__vm_json(const struct cl_cluster *c, const struct cl_vm *vm);
char *cl_msg__vm_list_json(const struct cl_cluster *c);
char *cl_msg__cluster_status_json(const struct cl_state *s);

const char *cl_msg_type__to_str(enum cl_msg_type t);
const char *cl_report__to_str(enum cl_report r);
/* Whether text is fit for a VM config: printable ASCII, tab and newline, shorter than max. */
bool cl_msg__text_ok(const char *text, size_t max);
/* Whether name is a VM name ([a-z0-9-]) or a host name (also A-Z . _), 1..CL_NAME_MAX. */
bool cl_msg__name_ok(const char *name, bool host);

#endif
