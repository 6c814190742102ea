/* twin-vmm's command line, parsed into a struct by a pure function (unit-tested). */
#ifndef TOOLS_VMM_ARGS_H
#define TOOLS_VMM_ARGS_H
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "replication.h"

#define VMM_ARGS_DEFAULT_MEM (256ULL << 20)
#define VMM_ARGS_MIN_MEM     (2ULL << 20)
#define VMM_ARGS_MAX_MEM     (1ULL << 40)
#define VMM_ARGS_MAX_VCPUS   64
#define VMM_ARGS_MAX_NICS    4
#define VMM_ARGS_MAX_DISKS   4
#define VMM_ARGS_PATH_MAX    4096
/* A unix socket path fits sockaddr_un.sun_path with its NUL. */
#define VMM_ARGS_SOCKET_PATH_MAX 108

/* Migration defaults: the downtime target and no bandwidth cap, as the issue sets them. */
#define VMM_ARGS_DEFAULT_DOWNTIME_MS 30
#define VMM_ARGS_MAX_DOWNTIME_MS     60000
#define VMM_ARGS_MAX_BANDWIDTH_MIBS  (1U << 20) /* 1 TiB/s: beyond any link */
#define VMM_ARGS_DEFAULT_XBZRLE_MIB  0		/* off: NEWS has the measurement */
#define VMM_ARGS_MAX_XBZRLE_MIB	     65536

/* Replication's timing bounds: an epoch longer than a minute protects nothing. */
#define VMM_ARGS_MAX_INTERVAL_MS 60000
/* The peer's silence bound: above twice the 100 ms heartbeat, at most an hour. */
#define VMM_ARGS_MIN_TIMEOUT_MS 200
#define VMM_ARGS_MAX_TIMEOUT_MS 3600000

/*
 * What twin-vmm does.  run, restore, incoming and backup host a VM; the others are clients
 * of a running twin-vmm's control socket.
 */
enum vmm_command {
	VMM_CMD_RUN,
	VMM_CMD_RESTORE,
	VMM_CMD_INCOMING,
	VMM_CMD_SAVE,
	VMM_CMD_MIGRATE,
	VMM_CMD_PROTECT,
	VMM_CMD_UNPROTECT,
	VMM_CMD_SET_REPLICATION,
	VMM_CMD_QUERY_REPLICATION,
	VMM_CMD_FAILOVER,
	VMM_CMD_FENCE,
	VMM_CMD_UNFENCE,
	VMM_CMD_DEGRADE,
	VMM_CMD_BACKUP,
};

enum vmm_serial { VMM_SERIAL_STDIO, VMM_SERIAL_FILE };
enum vmm_console { VMM_CONSOLE_VIRTIO, VMM_CONSOLE_NONE };

/* --nic tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,bridge=BR][,legacy] */
struct vmm_nic {
	char tap[16];	 /* interface name, at most 15 bytes */
	char bridge[16]; /* "" for none */
	/* Default 52:54:00:12:34:56 plus the NIC's index, as QEMU numbers its NICs. */
	uint8_t mac[6];
	bool legacy; /* transitional: also the virtio 0.9.5 interface, for old drivers */
};

/* --disk path=FILE[,readonly][,legacy] */
struct vmm_disk {
	char path[VMM_ARGS_PATH_MAX];
	bool readonly;
	bool legacy; /* as vmm_nic.legacy */
};

/* How a migration connection is secured: exactly one of cert+key+ca, psk, insecure. */
struct vmm_security {
	const char *cert, *key, *ca; /* --tls-cert/--tls-key/--tls-ca: mutual TLS 1.3 */
	const char *psk;	     /* --tls-psk FILE: TLS 1.3 with a pre-shared key */
	bool insecure;		     /* --insecure: plaintext, asked for explicitly */
};

enum vmm_compress { VMM_COMPRESS_LZ4, VMM_COMPRESS_ZLIB, VMM_COMPRESS_NONE };

/* twin-vmm migrate's tuning, sent as they are in the control socket's migrate command. */
struct vmm_migrate_opts {
	unsigned int downtime_ms;    /* --downtime MS: the final pause's target */
	unsigned int bandwidth_mibs; /* --bandwidth MiB/s; 0 = no cap */
	enum vmm_compress compress;  /* --compress lz4|zlib|none */
	unsigned int xbzrle_mib;     /* --xbzrle-cache MiB; 0 = no delta encoding */
	/* Writable disks: --shared-storage (migrate, incoming) or --copy-storage (migrate). */
	bool shared_storage, copy_storage;
};

/* Replication (protect, set-replication, backup); 0 or false: not given, the default holds. */
struct vmm_repl_opts {
	const char *peer; /* protect --peer HOST:PORT; into argv */
	bool mode_set;
	enum repl_mode mode;	     /* --mode epoch|event|hybrid */
	unsigned int interval_ms;    /* --interval MS */
	unsigned int min_spacing_ms; /* --min-spacing MS */
	unsigned int timeout_ms;     /* --timeout MS: the peer unheard this long is gone */
	bool auto_failover;	     /* backup --auto-failover: UNSAFE under a partition */
	bool cluster;		     /* protect --cluster: clusterd decides degrading */
};

struct vmm_args {
	enum vmm_command command;
	const char *file;		 /* restore, save: FILE; into argv */
	const char *listen;		 /* incoming --listen ADDR:PORT; into argv */
	const char *to;			 /* migrate --to HOST:PORT; into argv */
	struct vmm_security security;	 /* incoming, migrate, protect, backup */
	struct vmm_migrate_opts migrate; /* also protect's --compress and --xbzrle-cache */
	struct vmm_repl_opts repl;
	const char *kernel; /* points into argv */
	uint64_t mem_size;  /* bytes */
	unsigned int nr_vcpus;
	const char *cmdline; /* "" if not given */
	enum vmm_serial serial;
	const char *serial_path;  /* VMM_SERIAL_FILE: into argv */
	bool pit;		  /* in-kernel i8254 PIT (default); off = QEMU microvm pit=off */
	const char *initrd;	  /* NULL if not given; into argv */
	enum vmm_console console; /* virtio-console to the serial sink (default) or none */
	bool console_legacy;	  /* --console virtio,legacy: a transitional virtio console */
	unsigned int nr_nics;
	struct vmm_nic nics[VMM_ARGS_MAX_NICS];
	unsigned int nr_disks;
	struct vmm_disk disks[VMM_ARGS_MAX_DISKS];
	const char *control; /* --control PATH: the control socket; NULL for none; into argv */
	bool cpus_set;	     /* --cpus LIST: every thread runs on these host CPUs only */
	cpu_set_t cpus;
};

#define VMM_ARGS_HELP 1

/*
 * Parses one of (also `--opt=value`; vmm_args_usage has the whole of it):
 *   twin-vmm run --kernel FILE [VM options] [--control PATH]
 *   twin-vmm restore FILE [device options] [--control PATH]
 *   twin-vmm incoming --listen ADDR:PORT SECURITY [device options] [--control PATH]
 *   twin-vmm save --control PATH FILE
 *   twin-vmm migrate --control PATH --to HOST:PORT SECURITY [tuning]
 *   twin-vmm protect --control PATH --peer HOST:PORT SECURITY [replication tuning]
 *   twin-vmm unprotect|query-replication|failover|fence|unfence|degrade --control PATH
 *   twin-vmm set-replication --control PATH [--mode M] [--interval MS] [--min-spacing MS]
 *   twin-vmm backup --listen ADDR:PORT SECURITY [device options] [--control PATH]
 *                   [--auto-failover] [--timeout MS]
 * An option another command takes is refused by name.  --nic and --disk repeat up to 4 times
 * each, other options may repeat and the last wins.  Returns 0, VMM_ARGS_HELP for -h/--help,
 * or -EINVAL with one line in err (no trailing newline).  Touches no global state.
 */
int vmm_args__parse(int argc, char *const argv[], struct vmm_args *out, char *err, size_t errlen);

/* Parses SIZE: a number with an optional K, M, G or T suffix (binary; a bare number is MiB, as
 * in QEMU). */
int vmm_args__parse_size(const char *s, uint64_t *out);

const char *vmm_args__compress_to_str(enum vmm_compress c);

extern const char vmm_args_usage[];

#endif
