/* twin-clusterd's decisions, pure: inputs (CPG, quorum, local vmm events, CLI) in, actions out. */
#ifndef CLUSTERD_MODEL_H
#define CLUSTERD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The model does no I/O and reads no clock: the daemon feeds it every event as a
 * struct cl_input and carries out the struct cl_action list it gets back, in order.
 * One model per host; every call runs on the daemon's event-loop thread.
 *
 * Replicated state (struct cl_cluster) changes only when a delivered CPG message or
 * confchg is applied, identically on every member, and only in a quorate partition
 * (failover --force excepted).  Local state (struct cl_local) is this host's view: its
 * quorum, the members, and the twin-vmm processes it runs.
 *
 * How the pieces keep the safety rule (DESIGN.md section 8):
 * - quorate = votequorum says so, about the ring of the last confchg (votes, not
 *   members, decide: a qdevice counts) AND this host holds the history
 *   (cl_local.initialized);
 * - a STATE_SYNC round at each confchg (or when a member's quorum flips): every
 *   member sends its state, the one with a history, then the highest version, then
 *   the lowest nodeid wins; messages wait until the round completes;
 * - a backup activates, a primary degrades, unprotects or unfences only when quorate,
 *   on the state's word, after our own BARRIER message came back in the same
 *   configuration (so a host cut off just after a decision does not act on it);
 * - losing quorum fences every primary this host runs, at once;
 * - the state is persisted (CL_ACT_PERSIST, model__restore), so a majority of
 *   restarted hosts still remembers what the last majority did.
 */

#define CL_MAX_HOSTS	   16
#define CL_MAX_VMS	   64
#define CL_NAME_MAX	   32	/* host and VM names, without the NUL */
#define CL_ADDR_MAX	   64	/* a replication address (IPv4/IPv6 text), with the NUL */
#define CL_CONFIG_MAX	   4096 /* a VM's config text, with the NUL */
#define CL_INTERVAL_MAX_MS 10000
#define CL_MEMORY_MAX_MIB  (1u << 20)

/* ---- Replicated state ---- */

enum cl_host_state { CL_HOST_OFFLINE, CL_HOST_ONLINE };

/* The VM state table (model.c has the allowed transitions; model__vm_allowed says). */
enum cl_vm_state {
	CL_VM_STOPPED,
	CL_VM_STARTING,	    /* primary spawned, not yet reported started */
	CL_VM_RUNNING,	    /* a primary, no backup */
	CL_VM_PROTECTING,   /* backup assigned: spawned, then the initial sync */
	CL_VM_PROTECTED,    /* replicating */
	CL_VM_DEGRADED,	    /* the backup's death confirmed: the primary releases output alone */
	CL_VM_FAILING_OVER, /* the primary's death confirmed: the backup activates */
	CL_VM_STOPPING,
	CL_VM_NSTATES
};

enum cl_mode { CL_MODE_EPOCH, CL_MODE_EVENT, CL_MODE_HYBRID };
enum cl_role { CL_ROLE_NONE, CL_ROLE_PRIMARY, CL_ROLE_BACKUP };

struct cl_host {
	uint32_t nodeid; /* corosync nodeid; 0: an empty slot */
	char name[CL_NAME_MAX + 1];
	char repl_addr[CL_ADDR_MAX]; /* its backups listen here */
	uint16_t port_base;	     /* ... on port_base + the VM's index */
	uint32_t free_mib;
	enum cl_host_state state;
	uint64_t info_version; /* the state version its last HOST_INFO made (placement) */
};

struct cl_vm {
	char name[CL_NAME_MAX + 1]; /* "": an empty slot; the slot's index is the VM index */
	char config[CL_CONFIG_MAX]; /* the VM config text, as given to vm start */
	uint32_t memory_mib;
	enum cl_vm_state state;
	uint32_t primary, backup; /* nodeids; 0: none */
	enum cl_mode mode;
	uint32_t interval_ms;
	bool want_protect;	/* protect = yes, or a protect request: re-protect after losses */
	bool backup_ready;	/* the backup's twin-vmm listens (VM_REPORT started) */
	bool awaiting_operator; /* the primary died and automatic failover was refused */
	bool forced;		/* failing over by failover --force: activate without quorum */
	/* Bumped at every role assignment; reports name the generation they are about. */
	uint32_t generation, primary_gen, backup_gen;
	uint64_t synced_version; /* the state version its backup's initial sync made */
	/*
	 * Stalls: the backup a STALLED report named (its generation), the backups ended by a
	 * stall in a row, and whether re-protection waits for the leader's backoff (so a
	 * flapping replication link costs a full sync at most every few minutes).
	 */
	uint32_t stalled_gen, stall_ends;
	bool stall_hold;
	uint32_t failovers; /* backups activated since vm start (status "failovers") */
};

struct cl_cluster {
	uint64_t version; /* bumped by every applied change; STATE_SYNC's highest wins */
	/*
	 * The ring of the last quorate round that made this state: corosync's seq times two,
	 * plus one if that partition won its quorum midway through the ring (its first
	 * verdict on the ring said not quorate: a qdevice's vote that came later).  A later
	 * quorate ring's state wins over any version of an earlier one, whose last changes
	 * a cut-short round may have left known to one host only.  Within one ring, two
	 * quorate partitions can only be the two halves of a split a qdevice decides, and
	 * the one that won its quorum midway did so after the other lost its own.
	 */
	uint64_t ring;
	/*
	 * No VM generation below this: a forgotten VM's, so a VM started in a free slot never
	 * takes a generation a stale vmm of a forgotten one (on a host away) still has.
	 */
	uint32_t gen_floor;
	struct cl_host hosts[CL_MAX_HOSTS];
	struct cl_vm vms[CL_MAX_VMS];
};

/* ---- Local state ---- */

/* A twin-vmm this host runs (or has been told to spawn). */
struct cl_local_vmm {
	char vm[CL_NAME_MAX + 1]; /* "": an empty slot */
	enum cl_role role;
	uint32_t gen; /* the VM generation of this role assignment */
	bool alive;   /* spawned (or adopted by failover) and not yet exited */
	bool started; /* CL_EV_VMM_STARTED seen */
	bool killed;  /* SIGKILL or quit sent: waiting for the exit */
	bool synced;  /* the primary's initial sync done (CL_EV_VMM_PROTECTED) */
	bool fenced;  /* fence sent, no unfence since */
	/*
	 * Activated by failover --force outside quorum: not fenced for the lack of quorum
	 * until quorum returns (then the rules hold again: the round's state keeps it as
	 * the primary, or kills it).
	 */
	bool forced;
	uint32_t protect_gen; /* backup_gen the primary was told to protect toward; 0 none */
	uint32_t stall_sent;  /* the protect_gen a STALLED report went out for */
	bool failover_sent;
	/* an output-releasing act waits for a barrier sent at or after gate_version */
	bool gate_set;
	uint64_t gate_version;
};

struct cl_local {
	uint32_t nodeid;
	char name[CL_NAME_MAX + 1];
	char repl_addr[CL_ADDR_MAX];
	uint16_t port_base;
	uint32_t free_mib;
	/* votequorum's last word, and the ring it is about (0: not said) */
	bool vq_quorate;
	uint32_t votes, expected_votes;
	uint64_t vq_ring;
	/* votequorum's first verdict on ring vq_first_ring: quorate or not */
	uint64_t vq_first_ring;
	bool vq_first_quorate;
	/* the CPG membership of the last confchg, sorted */
	uint32_t members[CL_MAX_HOSTS];
	int nmembers;
	/*
	 * This, with vq_quorate, is "quorate": votequorum's word is about the configuration
	 * this host delivers in (its ring is the last confchg's), so votes decide (a
	 * qdevice, quorum_votes > 1); or, while that word is late (or without ring seqs),
	 * the CPG members alone are a strict majority of expected_votes, which no host
	 * with a vote can make wrong.  So a new configuration without a majority of members
	 * is seen at its confchg, before votequorum speaks, and one with a majority does not
	 * fence a healthy primary while votequorum is still on its way.
	 */
	bool stream_quorate;
	bool syncing;	   /* a confchg's STATE_SYNC round is not complete */
	uint64_t ring_seq; /* the last confchg's */
	/*
	 * This host holds the cluster's history: it synced from a host that did, or it
	 * was there at the cold start (every expected vote present, none with a history).
	 * Until then it counts as not quorate: a majority of restarted hosts has
	 * forgotten what the cluster did, and must not overrule a host that remembers.
	 */
	bool initialized;
	struct cl_local_vmm vmms[CL_MAX_VMS];
};

struct cl_state {
	struct cl_cluster cluster;
	struct cl_local local;
	/* transitions refused by the tables (an internal error if ever non-zero) */
	uint64_t refused;
};

/* ---- Inputs ---- */

enum cl_cmd {
	CL_CMD_VM_START,
	CL_CMD_VM_STOP,
	CL_CMD_VM_LIST,
	CL_CMD_PROTECT,
	CL_CMD_UNPROTECT,
	CL_CMD_FAILOVER,
	CL_CMD_STATUS,
	CL_CMD_CLUSTER_STATUS,
	CL_CMD_DRILL,
	CL_CMD_VM_FORGET,   /* through the model */
	CL_CMD_HOST_FORGET, /* through the model */
	CL_CMD_HOST_CPUS,   /* local (local_cmd.h) from here on */
	CL_CMD_HOST_CPU_OFFLINE,
	CL_CMD_HOST_CPU_ONLINE,
	CL_CMD_HOST_MEM_OFFLINE,
	CL_CMD_HOST_MEM_ONLINE,
	CL_CMD_HOST_MEM_STATUS,
	CL_CMD_VM_PEEK,
	CL_CMD_VM_REGS,
	CL_CMD_NCMDS
};

/* A CLI request as the daemon parsed it (and for vm start, the VM config). */
struct cl_request {
	uint64_t id; /* the daemon's, echoed in the reply action */
	enum cl_cmd cmd;
	char vm[CL_NAME_MAX + 1]; /* all but vm-list, cluster-status; status: optional */
	/* vm-start */
	char config[CL_CONFIG_MAX];
	uint32_t memory_mib;
	bool protect;
	/* vm-start and protect; protect: only if mode_set / interval_ms != 0 */
	bool mode_set;
	enum cl_mode mode;
	uint32_t interval_ms;
	char peer[CL_NAME_MAX + 1]; /* protect: the backup host's name; "": placement */
	bool force;		    /* failover */
	bool host;		    /* drill: the primary's whole host (the daemon's affair) */

	char host_name[CL_NAME_MAX + 1]; /* host-forget: the host */
	uint32_t cpu;			 /* host-cpu-offline, host-cpu-online */
	bool hotplug;			 /* host-cpu-offline: also in sysfs */
	/* host-mem-*: a host frame, or (vm, gpa); vm-peek: gpa */
	bool pfn_set;
	uint64_t pfn;
	bool gpa_set;
	uint64_t gpa;
	uint32_t len; /* vm-peek: 1 to 4096 */
	int32_t vcpu; /* vm-regs: -1 every vCPU */
};

enum cl_event {
	CL_EV_VMM_STARTED,   /* the vmm of (vm, role) runs; a backup: it listens */
	CL_EV_VMM_EXITED,    /* the vmm of (vm, role) exited or was killed (status) */
	CL_EV_VMM_PROTECTED, /* the primary's initial sync is done */
	CL_EV_SYNC_FAILED,   /* the primary's protect or initial sync failed */
	CL_EV_ACTIVATED,     /* the backup's failover is done: it is the primary */
	/*
	 * The primary's query-replication says stalled (its backup unheard): licenses
	 * nothing by itself.  The supervisor says it once per stall, after 3 polls in a row;
	 * the model reports it over CPG once per backup (again after a quorate round if no
	 * quorate partition applied it): the backup's host then kills
	 * its backup, whose confirmed death lets the primary degrade; re-protection then
	 * backs off (cl_vm.stall_hold).
	 */
	CL_EV_VMM_STALLED,
	CL_EV_HOST_MEMORY, /* this host's free memory (free_mib) */
};

struct cl_local_event {
	enum cl_event type;
	char vm[CL_NAME_MAX + 1];
	enum cl_role role;
	int status; /* VMM_EXITED: a wait status */
	uint32_t free_mib;
};

enum cl_input_type {
	CL_IN_MESSAGE, /* a CPG message, in agreed order (our own ones too) */
	CL_IN_CONFCHG, /* a CPG configuration change of group "twin" */
	CL_IN_QUORUM,  /* a votequorum notification */
	CL_IN_LOCAL,   /* a local event about this host's vmms */
	CL_IN_REQUEST, /* a CLI request on the local socket */
	CL_IN_TICK,    /* time passes: now_ms, any monotonic clock (retries) */
};

struct cl_input {
	enum cl_input_type type;
	union {
		struct {
			uint32_t from; /* the sender's nodeid */
			const uint8_t *data;
			size_t len;
		} msg;
		struct {
			uint32_t members[CL_MAX_HOSTS], left[CL_MAX_HOSTS], joined[CL_MAX_HOSTS];
			int nmembers, nleft, njoined;
			/* corosync's ring id seq (cpg_model_v1 totem confchg); 0: unknown */
			uint64_t ring_seq;
		} confchg;
		struct {
			bool quorate;
			uint32_t votes, expected_votes;
			/* the ring id seq the verdict is for (quorum_notify_fn's); 0: unknown */
			uint64_t ring_seq;
		} quorum;
		struct cl_local_event ev;
		const struct cl_request *req;
		uint64_t now_ms;
	};
};

/* ---- Actions (for the local host, to be done in order) ---- */

enum cl_action_type {
	CL_ACT_SEND,	      /* mcast data/len on CPG, agreed order */
	CL_ACT_SPAWN_PRIMARY, /* twin-vmm run for vm, config text in data */
	CL_ACT_SPAWN_BACKUP,  /* twin-vmm backup --listen repl_addr:port, config in data */
	CL_ACT_VMM,	      /* a control-socket command to vm's vmm (vmm_cmd) */
	CL_ACT_KILL,	      /* signal (SIGKILL) to vm's vmm */
	CL_ACT_REPLY, /* answer CLI request req_id: ok + JSON in data, or err_class + data */
	CL_ACT_LOG,   /* one log line in data */
	/*
	 * The replicated state changed: data is its JSON (model__restore takes it back).
	 * It comes after the list's fences (CL_VMM_FENCE) and kills, which let no output
	 * out and so need nothing on disk, and before every other action: write it to
	 * stable storage (temporary file, fsync, rename) before doing those.  A host that
	 * restarts with it still holds the cluster's history; one without it counts as new.
	 */
	CL_ACT_PERSIST,
};

enum cl_vmm_cmd {
	CL_VMM_PROTECT, /* peer_addr:peer_port, mode, interval_ms, "cluster": true */
	CL_VMM_FAILOVER,
	CL_VMM_DEGRADE,
	CL_VMM_FENCE,
	CL_VMM_UNFENCE,
	CL_VMM_UNPROTECT,
	CL_VMM_QUIT,
};

struct cl_action {
	enum cl_action_type type;
	char vm[CL_NAME_MAX + 1];
	enum cl_role role; /* SPAWN_*, KILL: which of the VM's vmms */
	enum cl_vmm_cmd vmm_cmd;
	char peer_addr[CL_ADDR_MAX]; /* PROTECT */
	uint16_t port;		     /* PROTECT: the peer's; SPAWN_BACKUP: to listen on */
	enum cl_mode mode;
	uint32_t interval_ms;
	int signal; /* KILL */
	/* KILL of a drill of the whole host: after this action list, the daemon kills every
	 * vmm, its corosync and itself. */
	bool host;
	uint64_t req_id;    /* REPLY */
	bool ok;	    /* REPLY */
	char err_class[32]; /* REPLY, !ok: "GenericError", "NoQuorum", ... */
	char *data;	    /* heap, NUL-terminated (SEND: len bytes + NUL) */
	size_t len;
};

struct cl_actions {
	struct cl_action *v;
	size_t n, cap;
};

void cl_actions__init(struct cl_actions *a);
/* Frees every action's data and empties the list (idempotent). */
void cl_actions__dispose(struct cl_actions *a);

/* ---- The model ---- */

struct model;

/* NULL on a bad argument or no memory.  port_base: where this host's backups listen. */
struct model *model__new(uint32_t nodeid, const char *name, const char *repl_addr,
			 uint16_t port_base);
/*
 * Applies one input; appends this host's actions to out.  Returns 0, -EBADMSG for a
 * message that does not decode (logged and dropped, no state change), -ENOMEM.
 */
int model__input(struct model *m, const struct cl_input *in, struct cl_actions *out);
/*
 * Before the first input: the state a CL_ACT_PERSIST wrote, from this host's last life.
 * 0, or -EBADMSG with one line in err (start without it: the host counts as new).
 */
int model__restore(struct model *m, const char *json, size_t len, char *err, size_t errlen);
const struct cl_state *model__state(const struct model *m);
void model__free(struct model *m);
/* The VM called name in st (a model__state snapshot), or NULL. */
const struct cl_vm *cl_state__find_vm(const struct cl_state *st, const char *name);

/* The tables, for logs, status and tests. */
const char *cl_vm_state__to_str(enum cl_vm_state s);
const char *cl_host_state__to_str(enum cl_host_state s);
const char *cl_mode__to_str(enum cl_mode m);
int cl_mode__from_str(const char *s, enum cl_mode *out); /* 0 or -EINVAL */
const char *cl_role__to_str(enum cl_role r);
const char *cl_cmd__to_str(enum cl_cmd c);
int cl_cmd__from_str(const char *s, enum cl_cmd *out); /* 0 or -EINVAL */
const char *cl_action_type__to_str(enum cl_action_type t);
const char *cl_vmm_cmd__to_str(enum cl_vmm_cmd c);
/* Whether the VM (host) state table has from -> to. */
bool model__vm_allowed(enum cl_vm_state from, enum cl_vm_state to);
bool model__host_allowed(enum cl_host_state from, enum cl_host_state to);

#endif
