/* twin-vmm's control protocol: parses a request, checks its arguments, dispatches, replies. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "config.h"
#include "control.h"
#include "cpu_list.h"
#include "host_port.h"
#include "vm_introspect.h"
#include "vmm_args.h"

/* An error reply's class and description, filled by a command that fails. */
struct failure {
	const char *cls;
	char desc[512];
};

struct command {
	const char *name;
	/* The argument names it takes, NULL-terminated; NULL: none. */
	const char *const *args;
	/* Returns the "return" object, or NULL after filling f. args is an object or NULL. */
	json_t *(*run)(const struct control_ops *ops, json_t *args, struct failure *f);
	bool on_backup; /* served by a backup whose VM does not run */
};

static json_t *__attribute__((format(printf, 3, 4)))
failed(struct failure *f, const char *cls, const char *fmt, ...)
{
	va_list ap;

	f->cls = cls;
	va_start(ap, fmt);
	vsnprintf(f->desc, sizeof(f->desc), fmt, ap);
	va_end(ap);
	return NULL;
}

/* An op failed with its own line in f->desc (a fallback if it gave none). */
static json_t *op_failed(struct failure *f)
{
	f->cls = "GenericError";
	if (!f->desc[0])
		snprintf(f->desc, sizeof(f->desc), "failed without a reason: see twin-vmm's log");
	return NULL;
}

static json_t *status_object(const struct control_ops *ops)
{
	bool running = ops->running(ops->opaque);
	const char *status = ops->backup(ops->opaque)	? "backup"
			     : ops->fenced(ops->opaque) ? "fenced"
			     : running			? "running"
							: "paused";

	return json_pack("{s:s, s:b}", "status", status, "running", running);
}

static json_t *cmd_query_status(const struct control_ops *ops, json_t *args, struct failure *f)
{
	return status_object(ops);
}

/* Like QMP, stop on a paused VM and cont on a running one succeed and change nothing. */
static json_t *cmd_stop(const struct control_ops *ops, json_t *args, struct failure *f)
{
	if (ops->running(ops->opaque) && ops->stop(ops->opaque, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static json_t *cmd_cont(const struct control_ops *ops, json_t *args, struct failure *f)
{
	if (!ops->running(ops->opaque) && ops->cont(ops->opaque, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static json_t *cmd_quit(const struct control_ops *ops, json_t *args, struct failure *f)
{
	ops->quit(ops->opaque);
	return json_object();
}

/*
 * A path argument: a non-empty string (jansson refuses an embedded NUL), absolute because the VM's
 * twin-vmm resolves it in its own working directory, not the client's.  NULL after filling f.
 */
static const char *path_arg(json_t *args, const char *cmd, const char *key, struct failure *f)
{
	json_t *v = json_object_get(args, key);
	const char *s;

	if (!json_is_string(v) || !json_string_length(v)) {
		failed(f, "InvalidParameter", "%s: \"%s\" must be a file name", cmd, key);
		return NULL;
	}
	s = json_string_value(v);
	if (s[0] != '/') {
		failed(f, "InvalidParameter",
		       "%s: \"%s\" must be an absolute path: twin-vmm does not share the "
		       "client's working directory",
		       cmd, key);
		return NULL;
	}
	return s;
}

/* An optional integer argument of cmd in [min, max]; *out keeps its default when absent. */
static bool uint_arg(json_t *args, const char *cmd, const char *key, uint64_t min, uint64_t max,
		     uint64_t *out, struct failure *f)
{
	json_t *v = json_object_get(args, key);

	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max) {
		failed(f, "InvalidParameter", "%s: \"%s\" must be an integer from %llu to %llu",
		       cmd, key, (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

/* An optional "compress" of cmd; *out keeps its default when absent. */
static bool compress_arg(json_t *args, const char *cmd, enum migrate_compress *out,
			 struct failure *f)
{
	json_t *v = json_object_get(args, "compress");

	if (v && (!json_is_string(v) || migrate_compress__from_str(json_string_value(v), out))) {
		failed(f, "InvalidParameter",
		       "%s: \"compress\" must be \"lz4\", \"zlib\" or \"none\"", cmd);
		return false;
	}
	return true;
}

static const char *const save_args[] = {"file", NULL};

static json_t *cmd_save(const struct control_ops *ops, json_t *args, struct failure *f)
{
	const char *file = path_arg(args, "save", "file", f);

	if (!file)
		return NULL;
	if (ops->save(ops->opaque, file, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static const char *const migrate_args[] = {
    "uri",	"tls_cert",	    "tls_key",	      "tls_ca",
    "tls_psk",	"insecure",	    "downtime_ms",    "bandwidth_mibs",
    "compress", "xbzrle_cache_mib", "shared_storage", "copy_storage",
    NULL,
};

/* Exactly one of tls_cert+tls_key+tls_ca, tls_psk, insecure: true; as the command line. */
static bool security_args(json_t *args, const char *cmd, struct channel_security *s,
			  struct failure *f)
{
	static const char *const tls_keys[] = {"tls_cert", "tls_key", "tls_ca"};
	json_t *insecure = json_object_get(args, "insecure");
	int tls = 0;

	for (int i = 0; i < 3; i++)
		tls += !!json_object_get(args, tls_keys[i]);
	if (insecure && !json_is_true(insecure)) {
		failed(f, "InvalidParameter",
		       "%s: \"insecure\" may only be true: leave it out for TLS", cmd);
		return false;
	}
	if ((tls > 0) + !!json_object_get(args, "tls_psk") + !!insecure != 1) {
		failed(f, "InvalidParameter",
		       "%s: give exactly one of \"tls_cert\"+\"tls_key\"+\"tls_ca\", "
		       "\"tls_psk\" or \"insecure\": true",
		       cmd);
		return false;
	}
	if (tls) {
		if (tls != 3) {
			failed(f, "InvalidParameter",
			       "%s: \"tls_cert\", \"tls_key\" and \"tls_ca\" go together: give "
			       "all three",
			       cmd);
			return false;
		}
		return (s->cert = path_arg(args, cmd, "tls_cert", f)) &&
		       (s->key = path_arg(args, cmd, "tls_key", f)) &&
		       (s->ca = path_arg(args, cmd, "tls_ca", f));
	}
	if (insecure) {
		s->insecure = true;
		return true;
	}
	return (s->psk_file = path_arg(args, cmd, "tls_psk", f));
}

static json_t *cmd_migrate(const struct control_ops *ops, json_t *args, struct failure *f)
{
	struct control_migrate m = {.params = {.live = true}};
	json_t *uri = json_object_get(args, "uri");
	uint64_t downtime_ms = VMM_ARGS_DEFAULT_DOWNTIME_MS, bandwidth = 0,
		 xbzrle = VMM_ARGS_DEFAULT_XBZRLE_MIB;

	if (!json_is_string(uri) || !host_port__valid(json_string_value(uri), false))
		return failed(f, "InvalidParameter",
			      "migrate: \"uri\" must be HOST:PORT, e.g. 198.18.0.2:4444 or "
			      "[fd00::2]:4444");
	m.uri = json_string_value(uri);
	m.params.compress = MIGRATE_COMPRESS_LZ4;
	if (!security_args(args, "migrate", &m.security, f) ||
	    !uint_arg(args, "migrate", "downtime_ms", 1, VMM_ARGS_MAX_DOWNTIME_MS, &downtime_ms,
		      f) ||
	    !uint_arg(args, "migrate", "bandwidth_mibs", 0, VMM_ARGS_MAX_BANDWIDTH_MIBS, &bandwidth,
		      f) ||
	    !uint_arg(args, "migrate", "xbzrle_cache_mib", 0, VMM_ARGS_MAX_XBZRLE_MIB, &xbzrle,
		      f) ||
	    !compress_arg(args, "migrate", &m.params.compress, f))
		return NULL;
	for (int i = 0; i < 2; i++) {
		const char *key = i ? "copy_storage" : "shared_storage";
		json_t *v = json_object_get(args, key);

		if (v && !json_is_boolean(v))
			return failed(f, "InvalidParameter",
				      "migrate: \"%s\" must be true or false", key);
		*(i ? &m.params.copy_storage : &m.params.shared_storage) = json_is_true(v);
	}
	if (m.params.shared_storage && m.params.copy_storage)
		return failed(
		    f, "InvalidParameter",
		    "migrate: \"shared_storage\" and \"copy_storage\" exclude each other");
	m.params.downtime_ns = downtime_ms * 1000000;
	m.params.max_bandwidth = bandwidth << 20;
	m.params.xbzrle_cache = xbzrle << 20;
	if (ops->migrate(ops->opaque, &m, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

json_t *control__migrate_status_json(const struct migrate_status *st)
{
	json_t *o = json_pack(
	    "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I}",
	    "phase", migrate_phase__to_str(st->phase), "rounds", (json_int_t)st->rounds, "bytes",
	    (json_int_t)st->bytes, "pages", (json_int_t)st->pages, "remaining_pages",
	    (json_int_t)st->remaining_pages, "dirty_rate_pps", (json_int_t)st->dirty_rate_pps,
	    "bandwidth_bps", (json_int_t)st->bandwidth_bps, "expected_downtime_ns",
	    (json_int_t)st->expected_downtime_ns, "eta_ns", (json_int_t)st->eta_ns, "total_ns",
	    (json_int_t)st->total_ns, "downtime_ns", (json_int_t)st->downtime_ns, "throttle_pct",
	    (json_int_t)st->throttle_pct, "zero_pages", (json_int_t)st->zero_pages, "raw_pages",
	    (json_int_t)st->raw_pages, "lz4_pages", (json_int_t)st->lz4_pages, "zlib_pages",
	    (json_int_t)st->zlib_pages, "delta_pages", (json_int_t)st->delta_pages, "cache_misses",
	    (json_int_t)st->cache_misses);

	if (o) {
		json_object_set_new(o, "disk_chunks", json_integer((json_int_t)st->disk_chunks));
		json_object_set_new(o, "end_sent", json_boolean(st->end_sent));
		json_object_set_new(o, "source_paused", json_boolean(st->source_paused));
	}
	/* Something to know that did not fail it (the downtime target missed, say). */
	if (o && st->warning[0])
		json_object_set_new(
		    o, "warning",
		    json_stringn(st->warning, strnlen(st->warning, sizeof(st->warning))));

	/* The reason, once there is one: failed or cancelled. */
	if (o && st->error[0])
		json_object_set_new(o, "error",
				    json_stringn(st->error, strnlen(st->error, sizeof(st->error))));
	return o;
}

static json_t *cmd_query_migrate(const struct control_ops *ops, json_t *args, struct failure *f)
{
	struct migrate_status st;

	ops->query_migrate(ops->opaque, &st);
	return control__migrate_status_json(&st);
}

static json_t *cmd_migrate_cancel(const struct control_ops *ops, json_t *args, struct failure *f)
{
	if (ops->migrate_cancel(ops->opaque, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

/* An optional "mode" of cmd: false after filling f; *set says whether it was given. */
static bool mode_arg(json_t *args, const char *cmd, enum repl_mode *out, bool *set,
		     struct failure *f)
{
	json_t *v = json_object_get(args, "mode");

	*set = v != NULL;
	if (v && (!json_is_string(v) || repl_mode__from_str(json_string_value(v), out))) {
		failed(f, "InvalidParameter",
		       "%s: \"mode\" must be \"epoch\", \"event\" or \"hybrid\"", cmd);
		return false;
	}
	return true;
}

/* interval_ms and min_spacing_ms of cmd, in nanoseconds; an absent one keeps its value. */
static bool timing_args(json_t *args, const char *cmd, uint64_t *interval_ns,
			uint64_t *min_spacing_ns, struct failure *f)
{
	uint64_t interval_ms = 0, spacing_ms = 0;

	if (!uint_arg(args, cmd, "interval_ms", 1, VMM_ARGS_MAX_INTERVAL_MS, &interval_ms, f) ||
	    !uint_arg(args, cmd, "min_spacing_ms", 1, VMM_ARGS_MAX_INTERVAL_MS, &spacing_ms, f))
		return false;
	if (interval_ms)
		*interval_ns = interval_ms * 1000000;
	if (spacing_ms)
		*min_spacing_ns = spacing_ms * 1000000;
	return true;
}

static const char *const protect_args[] = {
    "uri",     "tls_cert",    "tls_key",	"tls_ca",     "tls_psk",  "insecure",
    "mode",    "interval_ms", "min_spacing_ms", "timeout_ms", "compress", "xbzrle_cache_mib",
    "cluster", NULL,
};

static json_t *cmd_protect(const struct control_ops *ops, json_t *args, struct failure *f)
{
	struct control_protect p = {0};
	json_t *uri = json_object_get(args, "uri");
	json_t *cluster = json_object_get(args, "cluster");
	uint64_t timeout_ms = 0, xbzrle = 0;
	bool mode_set;

	repl_params__defaults(&p.params);
	if (!json_is_string(uri) || !host_port__valid(json_string_value(uri), false))
		return failed(f, "InvalidParameter",
			      "protect: \"uri\" must be the backup's HOST:PORT, e.g. "
			      "198.18.0.2:4444 or [fd00::2]:4444");
	p.uri = json_string_value(uri);
	if (cluster && !json_is_boolean(cluster))
		return failed(f, "InvalidParameter", "protect: \"cluster\" must be true or false");
	p.params.cluster = json_is_true(cluster);
	if (!security_args(args, "protect", &p.security, f) ||
	    !mode_arg(args, "protect", &p.params.mode, &mode_set, f) ||
	    !timing_args(args, "protect", &p.params.interval_ns, &p.params.min_spacing_ns, f) ||
	    !uint_arg(args, "protect", "timeout_ms", VMM_ARGS_MIN_TIMEOUT_MS,
		      VMM_ARGS_MAX_TIMEOUT_MS, &timeout_ms, f) ||
	    !uint_arg(args, "protect", "xbzrle_cache_mib", 0, VMM_ARGS_MAX_XBZRLE_MIB, &xbzrle,
		      f) ||
	    !compress_arg(args, "protect", &p.params.compress, f))
		return NULL;
	if (timeout_ms)
		p.params.timeout_ns = timeout_ms * 1000000;
	p.params.xbzrle_cache = xbzrle << 20;
	if (ops->protect(ops->opaque, &p, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static json_t *cmd_unprotect(const struct control_ops *ops, json_t *args, struct failure *f)
{
	if (ops->unprotect(ops->opaque, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static const char *const set_replication_args[] = {"mode", "interval_ms", "min_spacing_ms", NULL};

static json_t *cmd_set_replication(const struct control_ops *ops, json_t *args, struct failure *f)
{
	struct control_repl_set s = {0};

	if (!mode_arg(args, "set-replication", &s.mode, &s.mode_set, f) ||
	    !timing_args(args, "set-replication", &s.interval_ns, &s.min_spacing_ns, f))
		return NULL;
	if (!s.mode_set && !s.interval_ns && !s.min_spacing_ns)
		return failed(f, "InvalidParameter",
			      "set-replication: give \"mode\", \"interval_ms\" or "
			      "\"min_spacing_ms\"");
	if (ops->set_replication(ops->opaque, &s, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static json_t *quantiles_json(const struct repl_quantiles *q)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "p50", (json_int_t)q->p50, "p99",
			 (json_int_t)q->p99, "max", (json_int_t)q->max, "last", (json_int_t)q->last,
			 "count", (json_int_t)q->count, "sum", (json_int_t)q->sum);
}

json_t *control__replication_status_json(const struct repl_status *st)
{
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "state",
	    repl_state__to_str(st->fenced ? REPL_STATE_FENCED : st->state), "role",
	    st->primary ? "primary" : "backup", "mode", repl_mode__to_str(st->mode), "interval_ms",
	    (json_int_t)(st->interval_ns / 1000000), "min_spacing_ms",
	    (json_int_t)(st->min_spacing_ns / 1000000), "epoch", (json_int_t)st->epoch,
	    "acked_epoch", (json_int_t)st->acked_epoch, "epochs", (json_int_t)st->epochs,
	    "pause_ns", quantiles_json(&st->pause_ns), "ack_latency_ns",
	    quantiles_json(&st->ack_latency_ns), "output_held_ns",
	    quantiles_json(&st->output_held_ns), "commit_ns", quantiles_json(&st->commit_ns));
	json_t *more = json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:s%, s:s%, s:o}",
	    "dirty_pages_last", (json_int_t)st->dirty_pages_last, "dirty_pages_mean",
	    (json_int_t)st->dirty_pages_mean, "epoch_bytes_last", (json_int_t)st->epoch_bytes_last,
	    "epoch_bytes_mean", (json_int_t)st->epoch_bytes_mean, "disk_bytes_last",
	    (json_int_t)st->disk_bytes_last, "bytes_total", (json_int_t)st->bytes_total,
	    "held_bytes", (json_int_t)st->held_bytes, "held_frames", (json_int_t)st->held_frames,
	    "overflow_drops", (json_int_t)st->overflow_drops, "released_frames",
	    (json_int_t)st->released_frames, "peer_silent_ms",
	    (json_int_t)(st->peer_silent_ns / 1000000), "cluster", st->cluster, "peer", st->peer,
	    strnlen(st->peer, sizeof(st->peer)), "error", st->error,
	    strnlen(st->error, sizeof(st->error)), "sync", control__migrate_status_json(&st->sync));

	if (!o || !more || json_object_update(o, more)) {
		json_decref(o);
		o = NULL;
	}
	json_decref(more);
	return o;
}

static json_t *cmd_query_replication(const struct control_ops *ops, json_t *args, struct failure *f)
{
	struct repl_status st;

	ops->query_replication(ops->opaque, &st);
	return control__replication_status_json(&st);
}

static json_t *cmd_failover(const struct control_ops *ops, json_t *args, struct failure *f)
{
	if (ops->failover(ops->opaque, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static json_t *cmd_fence(const struct control_ops *ops, json_t *args, struct failure *f)
{
	if (ops->fence(ops->opaque, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static json_t *cmd_unfence(const struct control_ops *ops, json_t *args, struct failure *f)
{
	if (ops->unfence(ops->opaque, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static json_t *cmd_degrade(const struct control_ops *ops, json_t *args, struct failure *f)
{
	if (ops->degrade(ops->opaque, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return json_object();
}

static const char *const mem_page_args[] = {"pfn", "gpa", NULL};

/* Exactly one of "pfn" or "gpa", a non-negative integer.  false after filling f. */
static bool mem_page_arg(json_t *args, const char *cmd, struct control_mem_page *pg,
			 struct failure *f)
{
	json_t *pfn = json_object_get(args, "pfn"), *gpa = json_object_get(args, "gpa");
	json_t *v = pfn ? pfn : gpa;

	if (!pfn == !gpa) {
		failed(f, "InvalidParameter",
		       "%s: give exactly one of \"pfn\" (a host frame) or \"gpa\" (a guest page)",
		       cmd);
		return false;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		failed(f, "InvalidParameter", "%s: \"%s\" must be a non-negative integer", cmd,
		       pfn ? "pfn" : "gpa");
		return false;
	}
	pg->by_pfn = pfn != NULL;
	*(pfn ? &pg->pfn : &pg->gpa) = (uint64_t)json_integer_value(v);
	return true;
}

/* A page op's failure: its class says whether the frame was this VM's at all. */
static json_t *mem_failed(int rc, struct failure *f)
{
	op_failed(f);
	if (rc == -ESRCH)
		f->cls = "NotOwner";
	else if (rc == -EINVAL)
		f->cls = "InvalidParameter";
	return NULL;
}

static json_t *cmd_mem_offline(const struct control_ops *ops, json_t *args, struct failure *f)
{
	struct control_mem_page pg = {0};
	struct page_retired r;
	int rc;

	if (!mem_page_arg(args, "mem-offline", &pg, f))
		return NULL;
	rc = ops->mem_offline(ops->opaque, &pg, &r, f->desc, sizeof(f->desc));
	if (rc)
		return mem_failed(rc, f);
	return json_pack("{s:I, s:I, s:I, s:I, s:b, s:i, s:I}", "gpa", (json_int_t)r.gpa, "old_pfn",
			 (json_int_t)r.old_pfn, "new_pfn", (json_int_t)r.new_pfn, "pause_ns",
			 (json_int_t)r.pause_ns, "held", r.held, "hold_fd", r.hold_fd, "hold_ino",
			 (json_int_t)r.hold_ino);
}

static json_t *cmd_mem_online(const struct control_ops *ops, json_t *args, struct failure *f)
{
	struct control_mem_page pg = {0};
	uint64_t gpa, pfn;
	int rc;

	if (!mem_page_arg(args, "mem-online", &pg, f))
		return NULL;
	rc = ops->mem_online(ops->opaque, &pg, &gpa, &pfn, f->desc, sizeof(f->desc));
	if (rc)
		return mem_failed(rc, f);
	return json_pack("{s:I, s:I}", "gpa", (json_int_t)gpa, "pfn", (json_int_t)pfn);
}

/*
 * The query-mem reply's "return" object: {"offline": [{gpa, old_pfn, new_pfn, since, pause_ns,
 * held, hold_fd, hold_ino}]}; hold_fd (-1: none) and hold_ino name the pipe that holds the
 * old frame, which twin-clusterd opens through /proc/PID/fd to keep it held.
 */
static json_t *mem_status_json(const struct page_retired *r, size_t n)
{
	json_t *list = json_array(), *o = json_pack("{s:o}", "offline", list);

	for (size_t i = 0; o && i < n; i++) {
		json_t *e = json_pack(
		    "{s:I, s:I, s:I, s:I, s:I, s:b, s:i, s:I}", "gpa", (json_int_t)r[i].gpa,
		    "old_pfn", (json_int_t)r[i].old_pfn, "new_pfn", (json_int_t)r[i].new_pfn,
		    "since", (json_int_t)r[i].since, "pause_ns", (json_int_t)r[i].pause_ns, "held",
		    r[i].held, "hold_fd", r[i].hold_fd, "hold_ino", (json_int_t)r[i].hold_ino);

		if (!e || json_array_append_new(list, e)) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

static json_t *cmd_query_mem(const struct control_ops *ops, json_t *args, struct failure *f)
{
	struct page_retired *r;
	size_t n;
	json_t *o;

	if (ops->query_mem(ops->opaque, &r, &n))
		return failed(f, "GenericError", "query-mem: out of memory");
	o = mem_status_json(r, n);
	free(r);
	return o;
}

static const char *const set_cpus_args[] = {"cpus", NULL};

static json_t *cmd_set_cpus(const struct control_ops *ops, json_t *args, struct failure *f)
{
	const char *list = json_string_value(json_object_get(args, "cpus"));
	cpu_set_t cpus;

	if (!list || cpu_list__parse(list, &cpus) || !CPU_COUNT(&cpus))
		return failed(f, "InvalidParameter",
			      "set-cpus: \"cpus\" must be a list of host CPUs such as \"0,2-3\" "
			      "(below %d)",
			      CPU_SETSIZE);
	if (ops->set_cpus(ops->opaque, &cpus, f->desc, sizeof(f->desc)))
		return op_failed(f);
	return ops->query_cpus(ops->opaque);
}

static json_t *cmd_query_cpus(const struct control_ops *ops, json_t *args, struct failure *f)
{
	return ops->query_cpus(ops->opaque);
}

static const char *const peek_args[] = {"gpa", "len", NULL};

/* ops->peek is NULL where no VM stands behind the protocol (the fuzz target's fake). */
static json_t *cmd_peek(const struct control_ops *ops, json_t *args, struct failure *f)
{
	static const char digits[] = "0123456789abcdef";
	uint64_t gpa = 0, len = 0, pause_ns = 0;
	uint8_t buf[VM_INTROSPECT_PEEK_MAX];
	char hex[2 * VM_INTROSPECT_PEEK_MAX + 1];

	if (!json_object_get(args, "gpa") || !json_object_get(args, "len"))
		return failed(f, "InvalidParameter",
			      "peek: give \"gpa\" (a guest-physical address) and \"len\" (1 to "
			      "%d bytes)",
			      VM_INTROSPECT_PEEK_MAX);
	if (!uint_arg(args, "peek", "gpa", 0, INT64_MAX, &gpa, f) ||
	    !uint_arg(args, "peek", "len", 1, VM_INTROSPECT_PEEK_MAX, &len, f))
		return NULL;
	if (!ops->peek)
		return failed(f, "CommandNotFound", "peek: this twin-vmm has no VM to read");
	if (ops->peek(ops->opaque, gpa, len, buf, &pause_ns, f->desc, sizeof(f->desc)))
		return op_failed(f);
	for (uint64_t i = 0; i < len; i++) {
		hex[2 * i] = digits[buf[i] >> 4];
		hex[2 * i + 1] = digits[buf[i] & 15];
	}
	hex[2 * len] = 0;
	return json_pack("{s:I, s:I, s:s, s:I}", "gpa", (json_int_t)gpa, "len", (json_int_t)len,
			 "data", hex, "pause_ns", (json_int_t)pause_ns);
}

static const char *const regs_args[] = {"vcpu", NULL};

static json_t *cmd_regs(const struct control_ops *ops, json_t *args, struct failure *f)
{
	uint64_t vcpu = 0;
	json_t *ret;

	if (!uint_arg(args, "regs", "vcpu", 0, INT32_MAX, &vcpu, f))
		return NULL;
	if (!ops->regs)
		return failed(f, "CommandNotFound", "regs: this twin-vmm has no VM to read");
	if (ops->regs(ops->opaque, json_object_get(args, "vcpu") ? (int)vcpu : -1, &ret, f->desc,
		      sizeof(f->desc)))
		return op_failed(f);
	return ret;
}

static const struct command commands[] = {
    {"query-status", NULL, cmd_query_status, true},
    {"stop", NULL, cmd_stop, false},
    {"cont", NULL, cmd_cont, false},
    {"quit", NULL, cmd_quit, true},
    {"save", save_args, cmd_save, false},
    {"migrate", migrate_args, cmd_migrate, false},
    {"query-migrate", NULL, cmd_query_migrate, false},
    {"migrate-cancel", NULL, cmd_migrate_cancel, false},
    {"protect", protect_args, cmd_protect, false},
    {"unprotect", NULL, cmd_unprotect, false},
    {"set-replication", set_replication_args, cmd_set_replication, false},
    {"query-replication", NULL, cmd_query_replication, true},
    {"failover", NULL, cmd_failover, true},
    {"fence", NULL, cmd_fence, false},
    {"unfence", NULL, cmd_unfence, false},
    {"degrade", NULL, cmd_degrade, false},
    {"mem-offline", mem_page_args, cmd_mem_offline, true},
    {"mem-online", mem_page_args, cmd_mem_online, true},
    {"query-mem", NULL, cmd_query_mem, true},
    {"set-cpus", set_cpus_args, cmd_set_cpus, true},
    {"query-cpus", NULL, cmd_query_cpus, true},
    {"peek", peek_args, cmd_peek, false},
    {"regs", regs_args, cmd_regs, false},
};

/* The commands a backup serves, as "a, b and c". */
static void backup_commands(char *out, size_t size)
{
	size_t n = sizeof(commands) / sizeof(commands[0]), len = 0, left = 0;

	for (size_t i = 0; i < n; i++)
		left += commands[i].on_backup;
	out[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++) {
		if (!commands[i].on_backup)
			continue;
		left--;
		len += snprintf(out + len, size - len, "%s%s", commands[i].name,
				!left	    ? ""
				: left == 1 ? " and "
					    : ", ");
	}
}

/* Every argument given is one the command takes (required ones are checked by the command). */
static bool known_args(const struct command *cmd, json_t *args, struct failure *f)
{
	const char *key;
	json_t *v;

	if (!args || !json_object_size(args))
		return true;
	if (!cmd->args) {
		failed(f, "InvalidParameter", "%s takes no arguments: drop \"arguments\"",
		       cmd->name);
		return false;
	}
	json_object_foreach(args, key, v)
	{
		const char *const *k = cmd->args;

		while (*k && strcmp(*k, key))
			k++;
		if (!*k) {
			failed(f, "InvalidParameter", "%s: unknown argument \"%.64s\": see README",
			       cmd->name, key);
			return false;
		}
	}
	return true;
}

static char *reply(json_t *body_key_value, const char *key, json_t *id)
{
	json_t *r = json_object();
	char *s = NULL;

	if (!r || !body_key_value)
		goto out;
	json_object_set(r, key, body_key_value);
	if (id)
		json_object_set(r, "id", id);
	s = json_dumps(r, JSON_COMPACT);
out:
	json_decref(r);
	json_decref(body_key_value);
	return s;
}

static char *error_reply(const char *cls, const char *desc, json_t *id)
{
	return reply(json_pack("{s:s, s:s}", "class", cls, "desc", desc), "error", id);
}

char *control__greeting(void)
{
	return reply(
	    json_pack("{s:s, s:i}", "version", PACKAGE_VERSION, "protocol", CONTROL_PROTOCOL),
	    "twin", NULL);
}

char *control__handle_line(const struct control_ops *ops, const char *line, size_t len)
{
	struct failure f = {.cls = "GenericError"};
	const struct command *cmd = NULL;
	json_t *req = NULL, *id = NULL, *exec, *args, *ret;
	json_error_t jerr;
	char *out;

	if (len > CONTROL_LINE_MAX) {
		failed(&f, "GenericError", "request line longer than %d bytes: send shorter lines",
		       CONTROL_LINE_MAX);
		return error_reply(f.cls, f.desc, NULL);
	}
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		failed(&f, "GenericError", "request is not JSON: %.160s at column %d", jerr.text,
		       jerr.column);
		return error_reply(f.cls, f.desc, NULL);
	}
	if (!json_is_object(req)) {
		out = error_reply(f.cls, "request is not a JSON object: send {\"execute\": NAME}",
				  NULL);
		goto out;
	}
	id = json_object_get(req, "id");
	exec = json_object_get(req, "execute");
	args = json_object_get(req, "arguments");
	if (!exec) {
		out = error_reply(f.cls, "request has no \"execute\": name a command", id);
		goto out;
	}
	if (!json_is_string(exec)) {
		out = error_reply("InvalidParameter", "\"execute\" must be a string", id);
		goto out;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(json_string_value(exec), commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		failed(&f, "CommandNotFound", "the command %.64s was not found: see README",
		       json_string_value(exec));
		out = error_reply(f.cls, f.desc, id);
		goto out;
	}
	if (args && !json_is_object(args)) {
		out = error_reply("InvalidParameter", "\"arguments\" must be an object", id);
		goto out;
	}
	if (!known_args(cmd, args, &f)) {
		out = error_reply(f.cls, f.desc, id);
		goto out;
	}
	if (!cmd->on_backup && ops->backup(ops->opaque)) {
		char served[256];

		backup_commands(served, sizeof(served));
		failed(&f, "GenericError",
		       "%s: this twin-vmm is a backup (no vCPU runs): it serves %s; failover "
		       "makes it run the VM",
		       cmd->name, served);
		out = error_reply(f.cls, f.desc, id);
		goto out;
	}
	ret = cmd->run(ops, args, &f);
	out = ret ? reply(ret, "return", id) : error_reply(f.cls, f.desc, id);
out:
	json_decref(req);
	return out;
}
