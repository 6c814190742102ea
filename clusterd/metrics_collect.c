/* The metrics page of this host: the model's view of the cluster and its VMs' replication. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cl_msg.h"
#include "metrics_collect.h"
#include "metrics_text.h"

/*
 * The figures of a primary's query-replication answer (tools/control.c) on the page: a
 * number member, or a {p50, p99} member as a summary's two quantiles; scaled to the
 * Prometheus base unit (seconds, bytes).
 */
struct repl_family {
	const char *name;
	enum metrics_type type;
	const char *help;
	const char *key;
	double scale;
};

static const struct repl_family repl_families[] = {
    {"twin_vm_epochs_total", METRICS_COUNTER,
     "Checkpoints (epochs) the VM's primary on this host took since its protect.", "epochs", 1},
    {"twin_vm_pause_seconds", METRICS_SUMMARY,
     "The VM's pause per checkpoint: quantiles over its last 1024 epochs, _sum and _count "
     "since its protect.",
     "pause_ns", 1e-9},
    {"twin_vm_sent_bytes_total", METRICS_COUNTER,
     "Replication stream bytes the primary sent since its protect, initial sync included.",
     "bytes_total", 1},
    {"twin_vm_ack_latency_seconds", METRICS_SUMMARY,
     "A checkpoint's send to the backup's ack: quantiles over the last 1024 epochs, _sum and "
     "_count since its protect.",
     "ack_latency_ns", 1e-9},
    {"twin_vm_held_output_bytes", METRICS_GAUGE,
     "Output bytes held (all NICs) until the backup acks their epoch.", "held_bytes", 1},
};

/* Both quantiles of a {p50, p99} object, in the format's spelling. */
static const struct {
	const char *label, *key;
} quantiles[] = {{"0.5", "p50"}, {"0.99", "p99"}};

/* The page in progress. */
struct collect {
	const struct metrics_source *src;
	struct metrics_text t;
	json_t *vms;	 /* status of every VM (cl_msg__vm_list_json) */
	json_t *cluster; /* cluster-status (cl_msg__cluster_status_json) */
};

static json_t *load(char *text)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;

	free(text);
	return o;
}

/* A JSON string member, or "" (a VM without a backup has a null "backup"). */
static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void one(struct collect *c, const char *name, enum metrics_type type, const char *help,
		double value)
{
	metrics_text__family(&c->t, name, type, help);
	metrics_text__sample(&c->t, name, NULL, 0, value);
}

static void quorum(struct collect *c)
{
	json_t *cl = c->cluster;

	one(c, "twin_cluster_quorate", METRICS_GAUGE,
	    "1 if this host's partition is quorate in clusterd's sense (votequorum, the CPG "
	    "majority and the cluster's history), else 0.",
	    json_is_true(json_object_get(cl, "quorate")));
	one(c, "twin_cluster_votes", METRICS_GAUGE, "Votequorum's current votes.",
	    json_integer_value(json_object_get(cl, "votes")));
	one(c, "twin_cluster_expected_votes", METRICS_GAUGE, "Votequorum's expected votes.",
	    json_integer_value(json_object_get(cl, "expected_votes")));
}

/* Whether node is among cluster-status's current CPG members. */
static bool member(json_t *cluster, json_t *node)
{
	json_t *m;
	size_t i;

	json_array_foreach(json_object_get(cluster, "members"), i, m)
	{
		if (json_equal(json_object_get(m, "node"), node))
			return true;
	}
	return false;
}

static void hosts(struct collect *c)
{
	struct metrics_label self = {"host", c->src->state->local.name};
	json_t *h;
	size_t i;

	metrics_text__family(&c->t, "twin_host_member", METRICS_GAUGE,
			     "1 if the host is in this host's current Corosync (CPG) membership, "
			     "else 0; one per host the cluster knows.");
	json_array_foreach(json_object_get(c->cluster, "hosts"), i, h)
	{
		struct metrics_label l = {"host", str(h, "name")};

		metrics_text__sample(&c->t, "twin_host_member", &l, 1,
				     member(c->cluster, json_object_get(h, "node")));
	}
	metrics_text__family(&c->t, "twin_host_cpus_offline", METRICS_GAUGE,
			     "CPUs of this host taken offline for Twin (twin host cpu-offline).");
	metrics_text__sample(&c->t, "twin_host_cpus_offline", &self, 1, c->src->cpus_offline);
	metrics_text__family(&c->t, "twin_host_pages_offline", METRICS_GAUGE,
			     "Memory pages of this host taken offline and held in quarantine "
			     "(twin host mem-offline).");
	metrics_text__sample(&c->t, "twin_host_pages_offline", &self, 1, c->src->pages_offline);
}

/* This host's part in v: primary, backup or none. */
static const char *role_here(const struct cl_state *st, const char *vm)
{
	const struct cl_vm *v = cl_state__find_vm(st, vm);

	if (v && v->primary && v->primary == st->local.nodeid)
		return "primary";
	if (v && v->backup && v->backup == st->local.nodeid)
		return "backup";
	return "none";
}

static void vm_info(struct collect *c)
{
	json_t *vm;
	size_t i;

	metrics_text__family(&c->t, "twin_vm_info", METRICS_GAUGE,
			     "Always 1: the VM's state, its primary and backup hosts (\"\" if "
			     "none) and this host's role in it, as labels.");
	json_array_foreach(c->vms, i, vm)
	{
		struct metrics_label l[] = {
		    {"vm", str(vm, "name")},
		    {"state", str(vm, "state")},
		    {"primary", str(vm, "primary")},
		    {"backup", str(vm, "backup")},
		    {"role", role_here(c->src->state, str(vm, "name"))},
		};

		metrics_text__sample(&c->t, "twin_vm_info", l, 5, 1);
	}
	/* The model's replicated counter, in every VM's status once the model keeps it. */
	metrics_text__family(&c->t, "twin_vm_failovers_total", METRICS_COUNTER,
			     "Failovers of the VM: activations of a backup, cluster-wide.");
	json_array_foreach(c->vms, i, vm)
	{
		struct metrics_label l = {"vm", str(vm, "name")};
		json_t *n = json_object_get(vm, "failovers");

		if (json_is_integer(n))
			metrics_text__sample(&c->t, "twin_vm_failovers_total", &l, 1,
					     json_integer_value(n));
	}
}

/* The primary's answer for vm if its primary is this host, else NULL. */
static json_t *replication(struct collect *c, json_t *vm)
{
	const char *name = str(vm, "name");

	if (strcmp(role_here(c->src->state, name), "primary"))
		return NULL;
	return c->src->replication(c->src->opaque, name);
}

/*
 * A summary's NAME_sum and NAME_count (vm label only): cumulative since the protect, as
 * Prometheus clients keep them, while the quantiles slide over the window.
 */
static void summary_totals(struct collect *c, const struct repl_family *f,
			   const struct metrics_label *vm, json_t *v)
{
	json_t *sum = json_object_get(v, "sum"), *count = json_object_get(v, "count");
	char name[METRICS_NAME_MAX + 1];

	if (!json_is_number(sum) || !json_is_number(count))
		return;
	snprintf(name, sizeof(name), "%s_sum", f->name);
	metrics_text__sample(&c->t, name, vm, 1, json_number_value(sum) * f->scale);
	snprintf(name, sizeof(name), "%s_count", f->name);
	metrics_text__sample(&c->t, name, vm, 1, json_number_value(count));
}

static void repl_family(struct collect *c, const struct repl_family *f)
{
	json_t *vm;
	size_t i;

	metrics_text__family(&c->t, f->name, f->type, f->help);
	json_array_foreach(c->vms, i, vm)
	{
		json_t *v = json_object_get(replication(c, vm), f->key);
		struct metrics_label l[2] = {{"vm", str(vm, "name")}, {"quantile", NULL}};

		if (f->type != METRICS_SUMMARY) {
			if (json_is_number(v))
				metrics_text__sample(&c->t, f->name, l, 1,
						     json_number_value(v) * f->scale);
			continue;
		}
		for (size_t q = 0; q < sizeof(quantiles) / sizeof(quantiles[0]); q++) {
			json_t *x = json_object_get(v, quantiles[q].key);

			l[1].value = quantiles[q].label;
			if (json_is_number(x))
				metrics_text__sample(&c->t, f->name, l, 2,
						     json_number_value(x) * f->scale);
		}
		summary_totals(c, f, l, v);
	}
}

int metrics_collect__page(const struct metrics_source *src, char **out, size_t *len)
{
	struct collect c = {.src = src};
	int rc;

	metrics_text__init(&c.t);
	c.vms = load(cl_msg__vm_list_json(&src->state->cluster));
	c.cluster = load(cl_msg__cluster_status_json(src->state));
	if (!json_is_array(c.vms) || !json_is_object(c.cluster)) {
		rc = -ENOMEM;
		goto out;
	}
	quorum(&c);
	hosts(&c);
	vm_info(&c);
	for (size_t i = 0; i < sizeof(repl_families) / sizeof(repl_families[0]); i++)
		repl_family(&c, &repl_families[i]);
	rc = metrics_text__finish(&c.t, out, len);
out:
	metrics_text__dispose(&c.t);
	json_decref(c.vms);
	json_decref(c.cluster);
	return rc;
}
