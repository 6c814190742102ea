/* A VM's config file (xl.cfg-like `key = value` lines), parsed into a struct and rendered back. */
#ifndef TOOLS_VMCFG_H
#define TOOLS_VMCFG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A VM name: [a-z0-9-], 1 to 32 characters (clusterd derives tap and file names from it). */
#define VMCFG_NAME_MAX	       32
#define VMCFG_MAX_DISKS	       4 /* as twin-vmm's --disk */
#define VMCFG_MAX_NICS	       4 /* as twin-vmm's --nic */
#define VMCFG_IFNAME_MAX       15
#define VMCFG_PROBE_MAX	       64
#define VMCFG_MIN_MEMORY       2	 /* MiB, as twin-vmm --mem */
#define VMCFG_MAX_MEMORY       (1 << 20) /* MiB: 1 TiB */
#define VMCFG_MAX_VCPUS	       64
#define VMCFG_MAX_INTERVAL     60000 /* ms, as twin-vmm --interval */
#define VMCFG_DEFAULT_INTERVAL 25
/* The largest config text: it travels whole in CPG messages (clusterd's CL_CONFIG_MAX, NUL aside).
 */
#define VMCFG_TEXT_MAX 4095
/* libinih reads lines into a 200-byte buffer: the newline and NUL leave this much. */
#define VMCFG_LINE_MAX 198
/* The longest value: its line still fits when rendered as `interval_ms = "VALUE"`. */
#define VMCFG_VALUE_MAX (VMCFG_LINE_MAX - 16)

enum vmcfg_mode { VMCFG_MODE_EPOCH, VMCFG_MODE_EVENT, VMCFG_MODE_HYBRID };

/* disk = path=FILE[,readonly][,legacy]: FILE is absolute, may hold %h (this host's name), %%. */
struct vmcfg_disk {
	char path[VMCFG_VALUE_MAX + 1];
	bool readonly;
	bool legacy;
};

/* nic = [mac=52:54:00:xx:xx:xx][,bridge=BR][,legacy]: clusterd names the tap. */
struct vmcfg_nic {
	bool has_mac; /* else twin-vmm's default MAC for the NIC's index */
	uint8_t mac[6];
	char bridge[VMCFG_IFNAME_MAX + 1]; /* "" for none */
	bool legacy;
};

/* Zeroed by the parser first, so two parses of the same text compare equal with memcmp. */
struct vmcfg {
	char name[VMCFG_NAME_MAX + 1];
	unsigned int memory_mib;
	unsigned int vcpus;		   /* default 1 */
	char kernel[VMCFG_VALUE_MAX + 1];  /* absolute */
	char cmdline[VMCFG_VALUE_MAX + 1]; /* default "" */
	unsigned int nr_disks;
	struct vmcfg_disk disks[VMCFG_MAX_DISKS];
	unsigned int nr_nics;
	struct vmcfg_nic nics[VMCFG_MAX_NICS];
	bool protect;		     /* protect on start; default no */
	enum vmcfg_mode mode;	     /* default epoch */
	unsigned int interval_ms;    /* default 25 */
	char probe[VMCFG_PROBE_MAX]; /* ADDR:PORT of the kv service, "" for none */
};

/*
 * Parses text[0..len) (need not be NUL-terminated).  file names the text in errors: each is
 * one line "FILE:LINE: problem: fix" (a missing key names the last line) in err.  Returns 0
 * or -EINVAL.  Pure: no I/O, no global state.
 */
int vmcfg__parse_text(const char *text, size_t len, const char *file, struct vmcfg *out, char *err,
		      size_t errlen);

/*
 * Reads and parses the file at path.  On success *text (if text is not NULL) is its whole
 * content, malloc'd and NUL-terminated: what clusterd ships.  Returns 0, -EINVAL (bad config)
 * or -errno (unreadable), with one line in err either way.
 */
int vmcfg__load(const char *path, struct vmcfg *out, char **text, char *err, size_t errlen);

/*
 * Expands %h in a disk path to host and %% to %: 0, or -ENAMETOOLONG if out[outlen] is too
 * small, or -EINVAL for another % sequence (the parser already refuses those).
 */
int vmcfg__expand_host(const char *path, const char *host, char *out, size_t outlen);

/*
 * The config as text, one `key = value` line each in a fixed order, that vmcfg__parse_text
 * turns back into the same struct; malloc'd, NULL when out of memory.
 */
char *vmcfg__render(const struct vmcfg *cfg);

const char *vmcfg__mode_to_str(enum vmcfg_mode mode);
/* 0 and *out, or -EINVAL: s is not epoch, event or hybrid. */
int vmcfg__mode_from_str(const char *s, enum vmcfg_mode *out);

/* Whether s is a VM name: 1 to VMCFG_NAME_MAX of [a-z0-9-], not starting with '-'. */
bool vmcfg__valid_name(const char *s);

#endif
