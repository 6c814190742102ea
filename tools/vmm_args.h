/* twin-vmm's command line, parsed into a struct by a pure function (unit-tested). */
#ifndef TOOLS_VMM_ARGS_H
#define TOOLS_VMM_ARGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_ARGS_DEFAULT_MEM (256ULL << 20)
#define VMM_ARGS_MIN_MEM     (2ULL << 20)
#define VMM_ARGS_MAX_MEM     (1ULL << 40)
#define VMM_ARGS_MAX_VCPUS   64
#define VMM_ARGS_MAX_NICS    4
#define VMM_ARGS_MAX_DISKS   4
#define VMM_ARGS_PATH_MAX    4096
/* A unix socket path fits sockaddr_un.sun_path with its NUL. */
#define VMM_ARGS_SOCKET_PATH_MAX 108

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

struct vmm_args {
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
};

#define VMM_ARGS_HELP 1

/*
 * Parses `twin-vmm run --kernel FILE [--initrd FILE] [--mem SIZE] [--vcpus N]
 * [--cmdline STR] [--serial stdio|file:PATH] [--pit on|off] [--nic ...]... [--disk ...]...
 * [--console virtio[,legacy]|none] [--control PATH]` (also `--opt=value`); --nic and --disk repeat
 * up to 4 times each, other options may repeat and the last wins.  Returns 0, VMM_ARGS_HELP for
 * -h/--help, or -EINVAL with one line in err (no trailing newline). Touches no global state.
 */
int vmm_args__parse(int argc, char *const argv[], struct vmm_args *out, char *err, size_t errlen);

/* Parses SIZE: a number with an optional K, M, G or T suffix (binary; a bare number is MiB, as
 * in QEMU). */
int vmm_args__parse_size(const char *s, uint64_t *out);

extern const char vmm_args_usage[];

#endif
