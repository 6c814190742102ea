/* twin-vmm's control protocol: one JSON request line in, one reply line out (QMP-like). */
#ifndef TOOLS_CONTROL_H
#define TOOLS_CONTROL_H
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "channel.h"
#include "migrate.h"
#include "page_offline.h"
#include "replication.h"

/* Longest request line accepted, newline excluded; a longer one closes the connection. */
#define CONTROL_LINE_MAX 4096
/* Bumped when a command changes incompatibly; sent in the greeting. */
#define CONTROL_PROTOCOL 1

/* A checked migrate request: file paths are absolute, params complete (live). */
struct control_migrate {
	const char *uri; /* HOST:PORT */
	struct channel_security security;
	struct migrate_params params;
};

/* A checked protect request: file paths are absolute, params complete. */
struct control_protect {
	const char *uri; /* the backup's HOST:PORT */
	struct channel_security security;
	struct repl_params params;
};

/* A checked set-replication request: what to change (0: keep that interval). */
struct control_repl_set {
	bool mode_set;
	enum repl_mode mode;
	uint64_t interval_ns, min_spacing_ns;
};

/* A checked mem-offline or mem-online request: a host frame, or a guest page. */
struct control_mem_page {
	bool by_pfn;
	uint64_t pfn; /* by_pfn */
	uint64_t gpa; /* !by_pfn */
};

/*
 * What the commands act on.  Called on the control server's thread, one request at a
 * time, with arguments already checked.  stop and cont are only called on a state change.
 * Those returning int give 0, or -errno with one line in err (the reply's GenericError).
 */
struct control_ops {
	bool (*running)(void *opaque);
	int (*stop)(void *opaque, char *err, size_t errlen);
	int (*cont)(void *opaque, char *err, size_t errlen);
	/* Asks the VM to end cleanly (exit status 0); returns at once. */
	void (*quit)(void *opaque);
	/*
	 * Pauses the VM (it stays paused) and starts writing it to file on another thread;
	 * returns at once, query_migrate follows it.
	 */
	int (*save)(void *opaque, const char *file, char *err, size_t errlen);
	/* Starts a live migration in the background; returns at once. */
	int (*migrate)(void *opaque, const struct control_migrate *m, char *err, size_t errlen);
	/* The last save's or migration's status (phase none before any). */
	void (*query_migrate)(void *opaque, struct migrate_status *out);
	/* Cancels a save or migration in progress (nothing if none is), or refuses: too late. */
	int (*migrate_cancel)(void *opaque, char *err, size_t errlen);
	/*
	 * True while this twin-vmm is a backup whose VM does not run: query-status says
	 * "backup", and only the commands marked so in control.c (queries, failover, quit, the
	 * page and CPU commands) are served.
	 */
	bool (*backup)(void *opaque);
	/* Starts protecting the VM (the initial sync runs in the background); returns at once. */
	int (*protect)(void *opaque, const struct control_protect *p, char *err, size_t errlen);
	/* Stops protecting cleanly: returns once the backup has the last checkpoint and END. */
	int (*unprotect)(void *opaque, char *err, size_t errlen);
	int (*set_replication)(void *opaque, const struct control_repl_set *s, char *err,
			       size_t errlen);
	/* The primary's or the backup's status (state none before any protect). */
	void (*query_replication)(void *opaque, struct repl_status *out);
	/* A backup: runs the VM from its last committed checkpoint; returns once it runs. */
	int (*failover)(void *opaque, char *err, size_t errlen);
	/*
	 * The cluster's (DESIGN.md §8).  fence: no output released (acks release nothing, an
	 * unprotected VM's TX goes nowhere) and the VM paused, returning once both hold;
	 * query-status then says "fenced".  unfence undoes it.  Both succeed when already so.
	 */
	bool (*fenced)(void *opaque);
	int (*fence)(void *opaque, char *err, size_t errlen);
	int (*unfence)(void *opaque, char *err, size_t errlen);
	/* clusterd confirmed the backup's death: a cluster-managed primary releases its output. */
	int (*degrade)(void *opaque, char *err, size_t errlen);
	/*
	 * Page retirement (tools/vm_mem.h, xen-core/page_offline.h); served by a backup too,
	 * which answers whether a frame is its own.  -ESRCH: the PFN is no frame of this VM
	 * (reply class NotOwner: ask the next VM); -EINVAL: a bad PFN or GPA (InvalidParameter).
	 */
	int (*mem_offline)(void *opaque, const struct control_mem_page *pg,
			   struct page_retired *out, char *err, size_t errlen);
	int (*mem_online)(void *opaque, const struct control_mem_page *pg, uint64_t *gpa,
			  uint64_t *pfn, char *err, size_t errlen);
	/* The retired frames, oldest first (malloc'd, NULL if none): 0 or -ENOMEM. */
	int (*query_mem)(void *opaque, struct page_retired **out, size_t *n);
	/* set-cpus: pins every thread of this twin-vmm to cpus (not empty; a backup too). */
	int (*set_cpus)(void *opaque, const cpu_set_t *cpus, char *err, size_t errlen);
	/* query-cpus: {"allowed": LIST, "vcpus": [{"vcpu", "tid", "cpus"}]} (NULL: no memory). */
	json_t *(*query_cpus)(void *opaque);
	/*
	 * Introspection (tools/vm_introspect.h), read-only, the VM paused for the read alone.
	 * peek: guest RAM [gpa, gpa + len) into buf (len 1..4096 checked here).  regs: *out the
	 * reply's "return" for vcpu (-1: all).  Both refused on a backup by the table.
	 */
	int (*peek)(void *opaque, uint64_t gpa, uint32_t len, uint8_t *buf, uint64_t *pause_ns,
		    char *err, size_t errlen);
	int (*regs)(void *opaque, int vcpu, json_t **out, char *err, size_t errlen);
	void *opaque;
};

/* The query-migrate reply's "return" object, one member per field of st (tested shape). */
json_t *control__migrate_status_json(const struct migrate_status *st);

/* The query-replication reply's "return" object, one member per field of st (tested shape). */
json_t *control__replication_status_json(const struct repl_status *st);

/* The line sent on connect, e.g. {"twin": {"version": "0.1.0", "protocol": 1}} (malloc'd). */
char *control__greeting(void);

/*
 * Runs the request in line[0..len) (no newline) and returns the reply line, malloc'd and
 * without a newline; NULL only when out of memory.  A line over CONTROL_LINE_MAX gets a
 * GenericError reply here too; the server then closes the connection.
 */
char *control__handle_line(const struct control_ops *ops, const char *line, size_t len);

#endif
