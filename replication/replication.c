/* Replication's names and defaults, shared by the primary, the backup and the CLI. */
#include <errno.h>
#include <string.h>
#include "replication.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const mode_names[] = {
    [REPL_MODE_EPOCH] = "epoch",
    [REPL_MODE_EVENT] = "event",
    [REPL_MODE_HYBRID] = "hybrid",
};

static const char *const state_names[] = {
    [REPL_STATE_NONE] = "none",
    [REPL_STATE_SYNCING] = "syncing",
    [REPL_STATE_PROTECTED] = "protected",
    [REPL_STATE_DEGRADED] = "degraded",
    [REPL_STATE_UNPROTECTED] = "unprotected",
    [REPL_STATE_FAILED] = "failed",
    [REPL_STATE_FAILED_OVER] = "failed-over",
    [REPL_STATE_STALLED] = "stalled",
    [REPL_STATE_FENCED] = "fenced",
};

int repl_mode__from_str(const char *s, enum repl_mode *out)
{
	for (unsigned int m = 0; m < ARRAY_LEN(mode_names); m++) {
		if (!strcmp(s, mode_names[m])) {
			*out = (enum repl_mode)m;
			return 0;
		}
	}
	return -EINVAL;
}

const char *repl_mode__to_str(enum repl_mode m)
{
	return (unsigned)m < ARRAY_LEN(mode_names) ? mode_names[m] : "unknown";
}

const char *repl_state__to_str(enum repl_state s)
{
	return (unsigned)s < ARRAY_LEN(state_names) ? state_names[s] : "unknown";
}

void repl_params__defaults(struct repl_params *p)
{
	*p = (struct repl_params){
	    .mode = REPL_MODE_EPOCH,
	    .interval_ns = REPL_INTERVAL_DEFAULT_NS,
	    .min_spacing_ns = REPL_MIN_SPACING_DEFAULT_NS,
	    .timeout_ns = REPL_TIMEOUT_DEFAULT_NS,
	    .output_limit = REPL_OUTPUT_LIMIT_DEFAULT,
	    .disk_epoch_limit = REPL_DISK_EPOCH_LIMIT_DEFAULT,
	    .compress = MIGRATE_COMPRESS_LZ4,
	    .xbzrle_cache = 0,
	    .downtime_ns = MIGRATE_DOWNTIME_DEFAULT_NS,
	};
}
