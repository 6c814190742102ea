/* The model's insides, shared by its files (model.c, model_state.c, model_sync.c, model_local.c).
 */
#ifndef CLUSTERD_MODEL_PRIV_H
#define CLUSTERD_MODEL_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include "cl_msg.h"
#include "model.h"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Messages held while a STATE_SYNC round runs: applied, in order, once it completes. */
#define DEFER_MAX 256
/* How long the leader waits before asking again to protect a VM that wants a backup. */
#define RETRY_MS 3000
/* ... after n backups in a row ended by a stall: RETRY_MS << n, at most this. */
#define STALL_BACKOFF_MAX_MS 300000
/* Targeted requests of ours (drills) whose answer may still come. */
#define PENDING_MAX 16
/* A free-memory change worth a HOST_INFO. */
#define MEMORY_STEP_MIB	    64
#define DEFAULT_INTERVAL_MS 25

struct deferred {
	uint32_t from;
	struct cl_msg msg;
};

struct model {
	struct cl_state s;
	struct cl_actions *out; /* the current model__input's */
	/* The STATE_SYNC round: who answered, and the best state so far. */
	bool sync_got[CL_MAX_HOSTS];
	struct cl_cluster *sync_best;
	uint32_t sync_best_node;
	bool sync_best_initialized;
	bool sync_midway; /* a member of the round said its partition won quorum midway */
	struct deferred defer[DEFER_MAX];
	int ndefer;
	/* Our targeted requests sent and not yet answered: each gets exactly one reply. */
	struct {
		uint64_t id;
		uint32_t target;
	} pending[PENDING_MAX];
	int npending;
	/* The leader's protect retries: local time only, the decision travels as a REQUEST. */
	uint64_t retry_at[CL_MAX_VMS];
	uint32_t retry_gen[CL_MAX_VMS]; /* the VM generation retry_at was set for */
	uint32_t sent_free_mib;
	/*
	 * The barrier before every act that lets output out (failover, degrade, unprotect,
	 * unfence): our own BARRIER, sent after the decision, delivered back with no confchg
	 * between, proves the decision's configuration still held after it.  A node cut off
	 * right after a decision would otherwise act on old-configuration messages before its
	 * own confchg arrives.
	 */
	uint64_t next_barrier;
	uint64_t barrier_seq;	  /* of the one in flight (0: none) */
	uint64_t barrier_version; /* the state version when it was sent */
	uint64_t passed_version;  /* the version a barrier passed at (UINT64_MAX: none) */
	uint64_t go_calls;	  /* go() calls: an act no longer wanted drops its gate */
	bool dirty;		  /* the replicated state changed during this input: persist it */
	int err;		  /* the first -ENOMEM while emitting */
};

/* model.c: actions, lookups, quorum */
struct cl_action *model_emit(struct model *m, enum cl_action_type type, const char *vm);
struct cl_host *model_host_by_node(struct model *m, uint32_t node);
const char *model_host_name(struct model *m, uint32_t node);
bool model_is_member(struct model *m, uint32_t node);
struct cl_local_vmm *model_local_by_name(struct model *m, const char *name);
struct cl_local_vmm *model_local_new(struct model *m, const char *name);
bool model_quorate(const struct model *m);
void model_reply_ok(struct model *m, uint64_t id, char *json);
bool model_safe(const struct model *m);
void model_send_msg(struct model *m, struct cl_msg *msg);
void model_set_data(struct model *m, struct cl_action *act, char *text);
struct cl_vm *model_vm_by_name(struct model *m, const char *name);
int model_vm_index(struct model *m, const struct cl_vm *v);
__attribute__((format(printf, 2, 3))) void model_note(struct model *m, const char *fmt, ...);
__attribute__((format(printf, 4, 5))) void model_reply_err(struct model *m, uint64_t id,
							   const char *cls, const char *fmt, ...);

/* model_state.c: the replicated state's transitions and what messages do to it */
void model_backup_died(struct model *m, struct cl_vm *v, const char *why);
uint32_t model_stall_backoff_ms(const struct cl_vm *v);
void model_host_set(struct model *m, struct cl_host *h, enum cl_host_state to, const char *why);
void model_on_host_info(struct model *m, const struct cl_msg *msg);
void model_on_report(struct model *m, const struct cl_msg *msg);
void model_on_request(struct model *m, uint32_t origin, const struct cl_request *q);
void model_on_targeted(struct model *m, uint32_t origin, const struct cl_request *q);
void model_primary_died(struct model *m, struct cl_vm *v, bool host_left, const char *why);
char *model_vm_reply(struct model *m, const struct cl_vm *v);

/* model_sync.c: membership, STATE_SYNC rounds, message dispatch */
void model_on_confchg(struct model *m, const struct cl_input *in);
bool model_pending_add(struct model *m, uint64_t id, uint32_t target);
int model_on_message(struct model *m, const struct cl_input *in);
void model_send_host_info(struct model *m);
void model_send_state(struct model *m);
void model_update_stream_quorate(struct model *m);

/* model_local.c: this host's vmms, local events, CLI requests, the barrier */
void model_barrier_reset(struct model *m);
void model_kill_vmm(struct model *m, struct cl_local_vmm *lv, const char *why);
void model_on_local(struct model *m, const struct cl_local_event *ev);
void model_on_request_in(struct model *m, const struct cl_request *q);
void model_on_tick(struct model *m, uint64_t now);
void model_reconcile(struct model *m);
void model_resend_reports(struct model *m);

#endif
