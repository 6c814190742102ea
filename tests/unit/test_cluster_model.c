/* twin-clusterd's model alone: the state table, the gates of the safety rule, messages, placement.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cl_msg.h"
#include "cluster_fixture.h"
#include "placement.h"
#include "suites.h"

/* ---- The VM state table, exactly ---- */

static const enum cl_vm_state allowed[][2] = {
    {CL_VM_STOPPED, CL_VM_STARTING},	   {CL_VM_STARTING, CL_VM_RUNNING},
    {CL_VM_RUNNING, CL_VM_PROTECTING},	   {CL_VM_DEGRADED, CL_VM_PROTECTING},
    {CL_VM_PROTECTING, CL_VM_PROTECTED},   {CL_VM_PROTECTING, CL_VM_RUNNING},
    {CL_VM_PROTECTED, CL_VM_FAILING_OVER}, {CL_VM_FAILING_OVER, CL_VM_RUNNING},
    {CL_VM_PROTECTED, CL_VM_DEGRADED},	   {CL_VM_PROTECTED, CL_VM_RUNNING},
    {CL_VM_DEGRADED, CL_VM_RUNNING},	   {CL_VM_STARTING, CL_VM_STOPPING},
    {CL_VM_RUNNING, CL_VM_STOPPING},	   {CL_VM_PROTECTING, CL_VM_STOPPING},
    {CL_VM_PROTECTED, CL_VM_STOPPING},	   {CL_VM_DEGRADED, CL_VM_STOPPING},
    {CL_VM_FAILING_OVER, CL_VM_STOPPING},  {CL_VM_STOPPING, CL_VM_STOPPED},
    {CL_VM_STARTING, CL_VM_STOPPED},	   {CL_VM_RUNNING, CL_VM_STOPPED},
    {CL_VM_PROTECTING, CL_VM_STOPPED},	   {CL_VM_DEGRADED, CL_VM_STOPPED},
    {CL_VM_FAILING_OVER, CL_VM_STOPPED},   {CL_VM_PROTECTED, CL_VM_STOPPED},
};

START_TEST(test_table_exact)
{
	for (int f = 0; f < CL_VM_NSTATES; f++)
		for (int t = 0; t < CL_VM_NSTATES; t++) {
			bool want = false;

			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
				want = want || (allowed[i][0] == (enum cl_vm_state)f &&
						allowed[i][1] == (enum cl_vm_state)t);
			ck_assert_msg(model__vm_allowed(f, t) == want, "%s -> %s",
				      cl_vm_state__to_str(f), cl_vm_state__to_str(t));
		}
	/* Never straight to a second primary, never from stopped to anything but starting. */
	ck_assert(!model__vm_allowed(CL_VM_RUNNING, CL_VM_FAILING_OVER));
	ck_assert(!model__vm_allowed(CL_VM_PROTECTING, CL_VM_FAILING_OVER));
	ck_assert(!model__vm_allowed(CL_VM_STOPPED, CL_VM_RUNNING));
	ck_assert(model__host_allowed(CL_HOST_OFFLINE, CL_HOST_ONLINE));
	ck_assert(model__host_allowed(CL_HOST_ONLINE, CL_HOST_OFFLINE));
	ck_assert(!model__host_allowed(CL_HOST_ONLINE, CL_HOST_ONLINE));
}
END_TEST

START_TEST(test_names)
{
	enum cl_cmd c;
	enum cl_mode mo;

	for (int i = 0; i < CL_VM_NSTATES; i++)
		ck_assert_str_ne(cl_vm_state__to_str(i), "?");
	for (int i = 0; i < CL_CMD_NCMDS; i++) {
		ck_assert_int_eq(cl_cmd__from_str(cl_cmd__to_str(i), &c), 0);
		ck_assert_int_eq(c, i);
	}
	ck_assert_int_eq(cl_cmd__from_str("reboot", &c), -EINVAL);
	ck_assert_int_eq(cl_mode__from_str("hybrid", &mo), 0);
	ck_assert_int_eq(mo, CL_MODE_HYBRID);
	ck_assert_int_eq(cl_mode__from_str("fast", &mo), -EINVAL);
	ck_assert_str_eq(cl_vm_state__to_str(CL_VM_FAILING_OVER), "failing-over");
	ck_assert_ptr_null(model__new(0, "h1", "10.0.0.1", 7400));
	ck_assert_ptr_null(model__new(1, "bad name", "10.0.0.1", 7400));
}
END_TEST

/* ---- One model, fed by hand ---- */

static struct cl_actions acts;

static int feed(struct model *m, const struct cl_input *in)
{
	cl_actions__dispose(&acts);
	return model__input(m, in, &acts);
}

static int count(enum cl_action_type t, int vmm_cmd)
{
	int n = 0;

	for (size_t i = 0; i < acts.n; i++)
		n += acts.v[i].type == t && (vmm_cmd < 0 || (int)acts.v[i].vmm_cmd == vmm_cmd);
	return n;
}

static bool logged(const char *needle)
{
	for (size_t i = 0; i < acts.n; i++)
		if (acts.v[i].type == CL_ACT_LOG && strstr(acts.v[i].data, needle))
			return true;
	return false;
}

static int feed_msg(struct model *m, uint32_t from, const struct cl_msg *msg)
{
	struct cl_msg copy = *msg;
	struct cl_input in = {.type = CL_IN_MESSAGE};
	char *data;
	size_t len;
	int rc;

	copy.node = from;
	ck_assert_int_eq(cl_msg__encode(&copy, &data, &len), 0);
	in.msg.from = from;
	in.msg.data = (const uint8_t *)data;
	in.msg.len = len;
	rc = feed(m, &in);
	free(data);
	return rc;
}

START_TEST(test_gates)
{
	struct model *m = model__new(1, "h1", "10.0.0.1", 7400);
	struct cl_request q = {.id = 7, .cmd = CL_CMD_VM_STOP};
	struct cl_input in = {.type = CL_IN_REQUEST, .req = &q};
	struct cl_msg rep = {.type = CL_MSG_VM_REPORT};
	uint64_t v;

	cl_actions__init(&acts);
	snprintf(q.vm, sizeof(q.vm), "kv1");
	/* No quorum yet: a change is refused at once, with the class and the reason. */
	ck_assert_int_eq(feed(m, &in), 0);
	ck_assert_int_eq(count(CL_ACT_REPLY, -1), 1);
	ck_assert(!acts.v[acts.n - 1].ok);
	ck_assert_str_eq(acts.v[acts.n - 1].err_class, "NoQuorum");
	ck_assert_int_eq(count(CL_ACT_SEND, -1), 0);
	/* A message that does not decode, or lies about its sender: dropped, logged. */
	in = (struct cl_input){.type = CL_IN_MESSAGE};
	in.msg.from = 2;
	in.msg.data = (const uint8_t *)"{\"v\":1,\"type\":\"nope\",\"node\":2}";
	in.msg.len = strlen((const char *)in.msg.data);
	ck_assert_int_eq(feed(m, &in), -EBADMSG);
	ck_assert(logged("refused"));
	snprintf(rep.report.vm, sizeof(rep.report.vm), "kv1");
	rep.report.role = CL_ROLE_PRIMARY;
	rep.report.what = CL_REP_VMM_DIED;
	rep.node = 3;
	{
		char *data;
		size_t len;

		ck_assert_int_eq(cl_msg__encode(&rep, &data, &len), 0);
		in.msg.data = (const uint8_t *)data;
		in.msg.len = len;
		ck_assert_int_eq(feed(m, &in), -EBADMSG);
		ck_assert(logged("claims node 3"));
		free(data);
	}
	/* Not quorate: a report changes nothing. */
	v = model__state(m)->cluster.version;
	ck_assert_int_eq(feed_msg(m, 2, &rep), 0);
	ck_assert_uint_eq(model__state(m)->cluster.version, v);
	/* A stall (replication heartbeat lost) licenses nothing: a log line, no act. */
	in = (struct cl_input){.type = CL_IN_LOCAL};
	in.ev.type = CL_EV_VMM_STALLED;
	snprintf(in.ev.vm, sizeof(in.ev.vm), "kv1");
	ck_assert_int_eq(feed(m, &in), 0);
	ck_assert_int_eq(count(CL_ACT_VMM, -1) + count(CL_ACT_SEND, -1) + count(CL_ACT_KILL, -1),
			 0);
	cl_actions__dispose(&acts);
	model__free(m);
}
END_TEST

/*
 * A stall (the primary hears its backup no more) licenses nothing by itself: the primary
 * only reports it; the backup's host ends its backup; that confirmed death degrades the
 * primary, which re-protects.  Nothing activates.
 */
START_TEST(test_stall_licenses_nothing)
{
	struct sim s;
	struct cl_input in = {.type = CL_IN_LOCAL};
	struct cl_actions out;
	uint32_t b;
	int sends = 0;

	sim_init(&s, 3, 21, false);
	sim_vm_start(&s, 1, "kv1", true);
	sim_settle(&s);
	b = sim_vm(&s, 1, "kv1")->backup;
	in.ev.type = CL_EV_VMM_STALLED;
	snprintf(in.ev.vm, sizeof(in.ev.vm), "kv1");
	cl_actions__init(&out);
	ck_assert_int_eq(model__input(sim_node(&s, 1)->m, &in, &out), 0);
	for (size_t i = 0; i < out.n; i++) {
		ck_assert(out.v[i].type == CL_ACT_LOG || out.v[i].type == CL_ACT_SEND);
		if (out.v[i].type == CL_ACT_SEND) {
			ck_assert_ptr_nonnull(strstr(out.v[i].data, "\"stalled\""));
			sim_act(&s, sim_node(&s, 1), &out.v[i]);
			sends++;
		}
	}
	ck_assert_int_eq(sends, 1);
	cl_actions__dispose(&out);
	/* On another host there is no primary of it: nothing at all but a log line. */
	ck_assert_int_eq(model__input(sim_node(&s, b)->m, &in, &out), 0);
	for (size_t i = 0; i < out.n; i++)
		ck_assert_int_eq(out.v[i].type, CL_ACT_LOG);
	cl_actions__dispose(&out);
	sim_settle(&s);
	ck_assert_int_eq(s.activations, 0);
	ck_assert_int_eq(sim_vmm(sim_node(&s, 1), "kv1")->degrades, 1);
	ck_assert_int_eq(sim_active(&s, "kv1", NULL), 1);
	/* Re-protection waits out the stall's backoff, then happens. */
	ck_assert(sim_vm(&s, 2, "kv1")->stall_hold);
	sim_tick_all(&s, 10000);
	sim_settle(&s);
	ck_assert_str_eq(cl_vm_state__to_str(sim_vm(&s, 2, "kv1")->state), "protected");
	sim_fini(&s);
}
END_TEST

/*
 * A stall reported where no partition is quorate is dropped by every member; the primary's
 * host sends it again after the next quorate round (its twin-vmm reports a stall once).
 */
START_TEST(test_stall_report_survives_no_quorum)
{
	struct sim s;
	int parts[] = {0, 1, 2};

	sim_init(&s, 3, 26, false);
	sim_vm_start(&s, 1, "kv1", true);
	sim_settle(&s);
	sim_partition(&s, parts);
	sim_settle(&s);
	sim_local(sim_node(&s, 1), CL_EV_VMM_STALLED, "kv1", CL_ROLE_PRIMARY);
	sim_settle(&s);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->stalled_gen, 0);
	sim_heal(&s);
	sim_settle(&s);
	ck_assert_uint_ne(sim_vm(&s, 1, "kv1")->stalled_gen, 0);
	ck_assert_int_eq(sim_vmm(sim_node(&s, 1), "kv1")->degrades, 1);
	ck_assert_int_eq(s.activations, 0);
	ck_assert_int_eq(sim_active(&s, "kv1", NULL), 1);
	sim_fini(&s);
}
END_TEST

/* The operator unprotects and protects: the stall count starts afresh. */
static bool simple_protect_resets(struct sim *s)
{
	sim_simple(s, 3, CL_CMD_UNPROTECT, "kv1");
	sim_settle(s);
	sim_simple(s, 3, CL_CMD_PROTECT, "kv1");
	sim_settle(s);
	return sim_vm(s, 2, "kv1")->stall_ends == 0 && !sim_vm(s, 2, "kv1")->stall_hold &&
	       sim_vm(s, 2, "kv1")->state == CL_VM_PROTECTED;
}

static int degraded_for_ms(struct sim *s)
{
	int waited = 0;

	while (sim_step(s))
		;
	ck_assert_str_eq(cl_vm_state__to_str(sim_vm(s, 2, "kv1")->state), "degraded");
	while (sim_vm(s, 2, "kv1")->state != CL_VM_PROTECTED) {
		sim_tick_all(s, 1000);
		while (sim_step(s))
			;
		waited += 1000;
		ck_assert_int_lt(waited, 1000000);
	}
	return waited;
}

/* A failover makes a new pair: the old pair's stalls hold nothing back. */
START_TEST(test_failover_clears_the_stall_count)
{
	struct sim s;
	uint32_t b;

	sim_init(&s, 3, 27, false);
	sim_vm_start(&s, 1, "kv1", true);
	sim_settle(&s);
	sim_local(sim_node(&s, 1), CL_EV_VMM_STALLED, "kv1", CL_ROLE_PRIMARY);
	degraded_for_ms(&s);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->stall_ends, 1);
	b = sim_vm(&s, 1, "kv1")->backup;
	sim_vmm_exit(sim_node(&s, 1), sim_vmm(sim_node(&s, 1), "kv1"), 9);
	while (sim_step(&s))
		;
	ck_assert_uint_eq(sim_vm(&s, b, "kv1")->primary, b);
	ck_assert_uint_eq(sim_vm(&s, b, "kv1")->stall_ends, 0);
	ck_assert(!sim_vm(&s, b, "kv1")->stall_hold);
	/* re-protected at once, without ticks */
	ck_assert_str_eq(cl_vm_state__to_str(sim_vm(&s, b, "kv1")->state), "protected");
	sim_fini(&s);
}
END_TEST

/*
 * A flapping replication link: each stall ends the backup (once: a stall reported again
 * changes nothing), and each re-protection waits twice as long as the last, up to 5 min;
 * the operator's protect starts afresh.
 */
START_TEST(test_stall_resync_backs_off)
{
	struct sim s;
	int backoff = 6000;

	sim_init(&s, 3, 25, false);
	sim_vm_start(&s, 1, "kv1", true);
	sim_settle(&s);
	for (int k = 1; k <= 8; k++) {
		int waited;

		sim_local(sim_node(&s, 1), CL_EV_VMM_STALLED, "kv1", CL_ROLE_PRIMARY);
		sim_local(sim_node(&s, 1), CL_EV_VMM_STALLED, "kv1", CL_ROLE_PRIMARY);
		waited = degraded_for_ms(&s);
		ck_assert_uint_eq(sim_vm(&s, 2, "kv1")->stall_ends, k);
		ck_assert_msg(waited >= backoff && waited <= backoff + 2000,
			      "stall %d: re-protected after %d ms, not %d", k, waited, backoff);
		backoff = backoff * 2 > 300000 ? 300000 : backoff * 2;
	}
	ck_assert_int_eq(sim_vmm(sim_node(&s, 1), "kv1")->degrades, 8);
	ck_assert_int_eq(s.activations, 0);
	/* Held after a stall, the operator's protect (from a third host) restarts the count,
	 * on every member alike. */
	sim_local(sim_node(&s, 1), CL_EV_VMM_STALLED, "kv1", CL_ROLE_PRIMARY);
	while (sim_step(&s))
		;
	ck_assert(sim_vm(&s, 2, "kv1")->stall_hold);
	sim_simple(&s, 3, CL_CMD_PROTECT, "kv1");
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->stall_ends, 0);
	ck_assert_str_eq(cl_vm_state__to_str(sim_vm(&s, 1, "kv1")->state), "protected");
	ck_assert(simple_protect_resets(&s));
	sim_fini(&s);
}
END_TEST

/* Actions name the vmm they are for; a drill of the whole host marks its kill. */
START_TEST(test_action_roles_and_host_drill)
{
	struct sim s;
	struct cl_request q = {.cmd = CL_CMD_DRILL, .host = true};
	struct cl_msg req = {.type = CL_MSG_REQUEST};
	struct cl_input in = {.type = CL_IN_MESSAGE};
	struct cl_actions out;
	char *data;
	size_t len;
	int kills = 0;

	sim_init(&s, 3, 24, false);
	sim_vm_start(&s, 1, "kv1", true);
	sim_settle(&s);
	/* The drill request as h3 sends it, delivered to the primary's host. */
	snprintf(q.vm, sizeof(q.vm), "kv1");
	q.id = 77;
	req.node = 3;
	req.request.target = 1;
	req.request.req = &q;
	ck_assert_int_eq(cl_msg__encode(&req, &data, &len), 0);
	in.msg.from = 3;
	in.msg.data = (const uint8_t *)data;
	in.msg.len = len;
	cl_actions__init(&out);
	ck_assert_int_eq(model__input(sim_node(&s, 1)->m, &in, &out), 0);
	for (size_t i = 0; i < out.n; i++) {
		if (out.v[i].type == CL_ACT_KILL) {
			ck_assert(out.v[i].host);
			ck_assert_int_eq(out.v[i].role, CL_ROLE_PRIMARY);
			kills++;
		}
		ck_assert(out.v[i].type != CL_ACT_VMM || out.v[i].role != CL_ROLE_NONE);
	}
	ck_assert_int_eq(kills, 1);
	free(data);
	cl_actions__dispose(&out);
	sim_fini(&s);
}
END_TEST

/* A vmm-died report from a host that is not the primary's licenses nothing. */
START_TEST(test_death_only_from_its_host)
{
	struct sim s;
	struct cl_msg rep = {.type = CL_MSG_VM_REPORT};
	const struct cl_vm *v;
	uint32_t b, other;
	char *data;
	size_t len;

	sim_init(&s, 3, 22, false);
	sim_vm_start(&s, 1, "kv1", true);
	sim_settle(&s);
	v = sim_vm(&s, 1, "kv1");
	b = v->backup;
	other = b == 2 ? 3 : 2;
	snprintf(rep.report.vm, sizeof(rep.report.vm), "kv1");
	rep.report.role = CL_ROLE_PRIMARY;
	rep.report.what = CL_REP_VMM_DIED;
	rep.report.gen = v->primary_gen;
	rep.node = other; /* the third host speaks about the primary */
	ck_assert_int_eq(cl_msg__encode(&rep, &data, &len), 0);
	sim_send(&s, sim_node(&s, other), data, len);
	free(data);
	/* ... and the primary's own host, about an older generation. */
	rep.node = 1;
	rep.report.gen = v->primary_gen - 1;
	ck_assert_int_eq(cl_msg__encode(&rep, &data, &len), 0);
	sim_send(&s, sim_node(&s, 1), data, len);
	free(data);
	sim_settle(&s);
	ck_assert_int_eq(s.activations, 0);
	ck_assert_str_eq(cl_vm_state__to_str(sim_vm(&s, 2, "kv1")->state), "protected");
	sim_fini(&s);
}
END_TEST

/* Quorum loss fences at once; the unfence waits for the round and the barrier. */
START_TEST(test_fence_then_unfence)
{
	struct sim s;
	struct cl_input q = {.type = CL_IN_QUORUM};
	struct cl_actions out;
	struct model *m;
	int fences = 0;

	sim_init(&s, 3, 23, false);
	sim_vm_start(&s, 1, "kv1", true);
	sim_settle(&s);
	m = sim_node(&s, 1)->m;
	q.quorum.quorate = false;
	q.quorum.votes = 1;
	q.quorum.expected_votes = 3;
	cl_actions__init(&out);
	ck_assert_int_eq(model__input(m, &q, &out), 0);
	for (size_t i = 0; i < out.n; i++)
		if (out.v[i].type == CL_ACT_VMM) {
			ck_assert_int_eq(out.v[i].vmm_cmd, CL_VMM_FENCE);
			ck_assert_str_eq(out.v[i].vm, "kv1");
			fences++;
		}
	ck_assert_int_eq(fences, 1);
	cl_actions__dispose(&out);
	/* Quorum back: no unfence in the same breath (a round and a barrier first). */
	q.quorum.quorate = true;
	q.quorum.votes = 3;
	ck_assert_int_eq(model__input(m, &q, &out), 0);
	for (size_t i = 0; i < out.n; i++)
		ck_assert(out.v[i].type != CL_ACT_VMM);
	for (size_t i = 0; i < out.n; i++)
		sim_act(&s, sim_node(&s, 1), &out.v[i]);
	cl_actions__dispose(&out);
	sim_vmm(sim_node(&s, 1), "kv1")->fenced = true;
	sim_settle(&s);
	ck_assert(!sim_vmm(sim_node(&s, 1), "kv1")->fenced);
	sim_fini(&s);
}
END_TEST

static bool quorate(const struct model *m)
{
	const struct cl_local *l = &model__state(m)->local;

	return l->vq_quorate && l->stream_quorate && l->initialized;
}

/*
 * Quorum is votequorum's verdict about the configuration this host delivers in: votes,
 * not members, decide (one member of three expected votes, with a qdevice's).  A verdict
 * about another ring, whichever of the two comes first, counts only with a majority of
 * members.
 */
START_TEST(test_quorum_is_the_rings_verdict)
{
	static const struct cl_cluster empty = {.version = 1};
	char *history = cl_msg__cluster_json(&empty, false);
	struct model *m = model__new(1, "h1", "10.0.0.1", 7400);
	struct cl_input c = {.type = CL_IN_CONFCHG}, q = {.type = CL_IN_QUORUM};
	char err[160];

	cl_actions__init(&acts);
	ck_assert_int_eq(model__restore(m, history, strlen(history), err, sizeof(err)), 0);
	c.confchg.nmembers = 1;
	c.confchg.members[0] = 1;
	c.confchg.ring_seq = 8;
	ck_assert_int_eq(feed(m, &c), 0);
	q.quorum =
	    (typeof(q.quorum)){.quorate = true, .votes = 2, .expected_votes = 3, .ring_seq = 4};
	ck_assert_int_eq(feed(m, &q), 0);
	ck_assert(!quorate(m));
	q.quorum.ring_seq = 8;
	ck_assert_int_eq(feed(m, &q), 0);
	ck_assert(quorate(m));
	/* A new ring: not quorate until its verdict, which may come before the confchg. */
	q.quorum.ring_seq = 12;
	ck_assert_int_eq(feed(m, &q), 0);
	ck_assert(!quorate(m));
	c.confchg.ring_seq = 12;
	ck_assert_int_eq(feed(m, &c), 0);
	ck_assert(quorate(m));
	/* No ring seqs (an older daemon): the members must be a majority of the votes. */
	q.quorum.ring_seq = 0;
	ck_assert_int_eq(feed(m, &q), 0);
	ck_assert(!quorate(m));
	q.quorum.expected_votes = 1;
	ck_assert_int_eq(feed(m, &q), 0);
	ck_assert(quorate(m));
	/* Three members of three votes while the verdict on their ring is late: quorate. */
	c.confchg.nmembers = 3;
	c.confchg.members[1] = 2;
	c.confchg.members[2] = 3;
	c.confchg.ring_seq = 16;
	q.quorum =
	    (typeof(q.quorum)){.quorate = true, .votes = 3, .expected_votes = 3, .ring_seq = 12};
	ck_assert_int_eq(feed(m, &q), 0);
	ck_assert_int_eq(feed(m, &c), 0);
	ck_assert(quorate(m));
	cl_actions__dispose(&acts);
	free(history);
	model__free(m);
}
END_TEST

/* This input's STATE_SYNC of ours, fed back to us as CPG would deliver it. */
static void deliver_own_state(struct model *m, uint32_t me)
{
	struct cl_input in = {.type = CL_IN_MESSAGE};
	char *data = NULL;

	for (size_t i = 0; i < acts.n; i++)
		if (acts.v[i].type == CL_ACT_SEND && strstr(acts.v[i].data, "\"state-sync\""))
			data = strdup(acts.v[i].data);
	ck_assert_ptr_nonnull(data);
	in.msg.from = me;
	in.msg.data = (const uint8_t *)data;
	in.msg.len = strlen(data);
	ck_assert_int_eq(feed(m, &in), 0);
	free(data);
}

/*
 * A clusterd that joins a partition after the partition won quorum midway through the ring
 * (a qdevice's vote) heard only the latest verdict; it still stamps the round's ring as
 * midway, like the members that saw it happen: the stamp is the round's, not the host's.
 */
START_TEST(test_midway_stamp_is_the_rounds)
{
	struct model *m = model__new(2, "h2", "10.0.0.2", 7400);
	struct cl_cluster *c = calloc(1, sizeof(*c));
	struct cl_input cc = {.type = CL_IN_CONFCHG}, q = {.type = CL_IN_QUORUM};
	struct cl_msg sync = {.type = CL_MSG_STATE_SYNC};
	char *history, err[160];

	cl_actions__init(&acts);
	c->version = 5;
	c->ring = 8;
	history = cl_msg__cluster_json(c, false);
	ck_assert_int_eq(model__restore(m, history, strlen(history), err, sizeof(err)), 0);
	q.quorum =
	    (typeof(q.quorum)){.quorate = true, .votes = 3, .expected_votes = 3, .ring_seq = 12};
	ck_assert_int_eq(feed(m, &q), 0);
	cc.confchg.nmembers = 2;
	cc.confchg.members[0] = 1;
	cc.confchg.members[1] = 2;
	cc.confchg.ring_seq = 12;
	ck_assert_int_eq(feed(m, &cc), 0);
	deliver_own_state(m, 2);
	sync.sync.nmembers = 2;
	sync.sync.members[0] = 1;
	sync.sync.members[1] = 2;
	sync.sync.initialized = true;
	sync.sync.midway = true;
	sync.sync.cluster = c;
	ck_assert_int_eq(feed_msg(m, 1, &sync), 0);
	ck_assert(!model__state(m)->local.syncing);
	ck_assert_uint_eq(model__state(m)->cluster.ring, 12 * 2 + 1);
	cl_actions__dispose(&acts);
	free(history);
	free(c);
	model__free(m);
}
END_TEST

static const struct cl_action *reply_to(uint64_t id)
{
	for (size_t i = 0; i < acts.n; i++)
		if (acts.v[i].type == CL_ACT_REPLY && acts.v[i].req_id == id)
			return &acts.v[i];
	return NULL;
}

/*
 * A drill's answer held by a round that a confchg cuts short fails the drill at once, and
 * so does its target leaving before it answered: no request waits for a timeout.
 */
START_TEST(test_lost_answers_fail_at_once)
{
	struct model *m = model__new(3, "h3", "10.0.0.3", 7400);
	struct cl_cluster *c = calloc(1, sizeof(*c));
	struct cl_input cc = {.type = CL_IN_CONFCHG}, q = {.type = CL_IN_QUORUM};
	struct cl_input in = {.type = CL_IN_REQUEST};
	struct cl_request drill = {.cmd = CL_CMD_DRILL};
	struct cl_msg rep = {.type = CL_MSG_REPLY};
	char *history, err[160];

	cl_actions__init(&acts);
	for (uint32_t i = 0; i < 3; i++) {
		c->hosts[i] = (struct cl_host){.nodeid = i + 1, .state = CL_HOST_ONLINE};
		snprintf(c->hosts[i].name, sizeof(c->hosts[i].name), "h%u", i + 1);
	}
	c->vms[0] = (struct cl_vm){.name = "kv1",
				   .state = CL_VM_PROTECTED,
				   .primary = 1,
				   .backup = 2,
				   .memory_mib = 64,
				   .primary_gen = 1,
				   .backup_gen = 2,
				   .generation = 2};
	snprintf(c->vms[0].config, sizeof(c->vms[0].config), "name = kv1\n");
	history = cl_msg__cluster_json(c, false);
	ck_assert_int_eq(model__restore(m, history, strlen(history), err, sizeof(err)), 0);
	q.quorum =
	    (typeof(q.quorum)){.quorate = true, .votes = 3, .expected_votes = 3, .ring_seq = 8};
	ck_assert_int_eq(feed(m, &q), 0);
	cc.confchg.nmembers = 3;
	for (int i = 0; i < 3; i++)
		cc.confchg.members[i] = (uint32_t)i + 1;
	cc.confchg.ring_seq = 8;
	ck_assert_int_eq(feed(m, &cc), 0); /* a round runs: messages wait */
	snprintf(drill.vm, sizeof(drill.vm), "kv1");
	drill.id = 41;
	in.req = &drill;
	ck_assert_int_eq(feed(m, &in), 0);
	ck_assert_int_eq(count(CL_ACT_SEND, -1), 1);
	rep.reply.origin = 3;
	rep.reply.id = 41;
	rep.reply.ok = true;
	rep.reply.text = "{}";
	ck_assert_int_eq(feed_msg(m, 1, &rep), 0);
	ck_assert_ptr_null(reply_to(41));
	/* The round is cut short: the held answer is dropped, and the drill fails now. */
	cc.confchg.ring_seq = 12;
	ck_assert_int_eq(feed(m, &cc), 0);
	ck_assert_ptr_nonnull(reply_to(41));
	ck_assert(!reply_to(41)->ok);
	ck_assert_ptr_nonnull(strstr(reply_to(41)->data, "answer from h1 was lost"));
	/* Exactly one answer: the same reply delivered later is not passed on. */
	ck_assert_int_eq(feed_msg(m, 1, &rep), 0);
	ck_assert_ptr_null(reply_to(41));
	/* The target leaves before it answers: the drill fails at that confchg. */
	drill.id = 42;
	ck_assert_int_eq(feed(m, &in), 0);
	cc.confchg.nmembers = 2;
	cc.confchg.members[0] = 2;
	cc.confchg.members[1] = 3;
	cc.confchg.ring_seq = 16;
	ck_assert_int_eq(feed(m, &cc), 0);
	ck_assert_ptr_nonnull(reply_to(42));
	ck_assert_ptr_nonnull(strstr(reply_to(42)->data, "h1 left before it answered"));
	cl_actions__dispose(&acts);
	free(history);
	free(c);
	model__free(m);
}
END_TEST

/* ---- Messages ---- */

static void round_trip(const struct cl_msg *msg)
{
	struct cl_msg back;
	char *a, *b, err[160];
	size_t alen, blen;

	ck_assert_int_eq(cl_msg__encode(msg, &a, &alen), 0);
	ck_assert_msg(cl_msg__decode(a, alen, &back, err, sizeof(err)) == 0, "%s: %s", a, err);
	ck_assert_int_eq(cl_msg__encode(&back, &b, &blen), 0);
	ck_assert_str_eq(a, b);
	cl_msg__dispose(&back);
	free(a);
	free(b);
}

START_TEST(test_msg_round_trips)
{
	struct cl_msg m = {.type = CL_MSG_HOST_INFO, .node = 3};
	struct cl_cluster *c = calloc(1, sizeof(*c));
	struct cl_request r = {.id = 9, .cmd = CL_CMD_VM_START, .memory_mib = 64, .protect = true};

	snprintf(m.host.name, sizeof(m.host.name), "h3");
	snprintf(m.host.repl_addr, sizeof(m.host.repl_addr), "198.18.1.3");
	m.host.port_base = 7400;
	m.host.free_mib = 1234;
	round_trip(&m);
	c->version = 42;
	c->hosts[2] = (struct cl_host){.nodeid = 3, .port_base = 7400, .state = CL_HOST_ONLINE};
	snprintf(c->hosts[2].name, sizeof(c->hosts[2].name), "h3");
	c->vms[5] = (struct cl_vm){.state = CL_VM_PROTECTED,
				   .primary = 3,
				   .backup = 1,
				   .mode = CL_MODE_HYBRID,
				   .interval_ms = 25,
				   .generation = 4,
				   .synced_version = 40,
				   .stalled_gen = 3,
				   .stall_ends = 2,
				   .stall_hold = true,
				   .failovers = 7};
	c->gen_floor = 2;
	c->hosts[2].info_version = 41;
	snprintf(c->vms[5].name, sizeof(c->vms[5].name), "kv1");
	snprintf(c->vms[5].config, sizeof(c->vms[5].config), "name = kv1\n\"quoted\" \\ x\n");
	m = (struct cl_msg){.type = CL_MSG_STATE_SYNC, .node = 1};
	m.sync.nmembers = 2;
	m.sync.members[0] = 1;
	m.sync.members[1] = 3;
	m.sync.initialized = true;
	m.sync.cluster = c;
	round_trip(&m);
	m = (struct cl_msg){.type = CL_MSG_REQUEST, .node = 2};
	snprintf(r.vm, sizeof(r.vm), "kv1");
	snprintf(r.config, sizeof(r.config), "name = kv1\n");
	m.request.req = &r;
	round_trip(&m);
	r = (struct cl_request){.id = 10, .cmd = CL_CMD_HOST_FORGET};
	snprintf(r.host_name, sizeof(r.host_name), "h-3.lab_A");
	round_trip(&m);
	m = (struct cl_msg){.type = CL_MSG_REPLY, .node = 2};
	m.reply.origin = 1;
	m.reply.id = 9;
	m.reply.ok = true;
	m.reply.text = "{\"a\":1}";
	round_trip(&m);
	m = (struct cl_msg){.type = CL_MSG_VM_REPORT, .node = 2};
	snprintf(m.report.vm, sizeof(m.report.vm), "kv1");
	m.report.what = CL_REP_ACTIVATED;
	m.report.role = CL_ROLE_PRIMARY;
	m.report.gen = 7;
	round_trip(&m);
	m = (struct cl_msg){.type = CL_MSG_BARRIER, .node = 2, .barrier = 5};
	round_trip(&m);
	free(c);
}
END_TEST

/*
 * cluster.json as the first layout wrote it (no gen_floor, info_version, synced_version,
 * stall counters, failovers): it restores, with those at their defaults and the ring on
 * today's scale, so an upgrade keeps every host's history.  Garbage is still refused.
 */
START_TEST(test_restore_first_layout)
{
	static const char old[] =
	    "{\"version\":12,\"ring\":7,\"hosts\":[{\"i\":0,\"node\":1,\"name\":\"h1\","
	    "\"addr\":\"198.18.1.1\",\"port_base\":7400,\"free_mib\":4096,\"state\":"
	    "\"online\"}],\"vms\":[{\"i\":0,\"name\":\"kv1\",\"config\":\"name = kv1\\n\","
	    "\"memory_mib\":64,\"state\":\"protected\",\"primary\":2,\"backup\":1,\"mode\":"
	    "\"epoch\",\"interval_ms\":25,\"want_protect\":true,\"backup_ready\":true,"
	    "\"awaiting_operator\":false,\"forced\":false,\"gen\":2,\"primary_gen\":1,"
	    "\"backup_gen\":2}]}";
	struct model *m = model__new(1, "h1", "10.0.0.1", 7400);
	struct cl_cluster *c = calloc(1, sizeof(*c));
	const struct cl_state *st;
	char err[160];

	ck_assert_msg(!model__restore(m, old, strlen(old), err, sizeof(err)), "%s", err);
	st = model__state(m);
	ck_assert(st->local.initialized);
	ck_assert_uint_eq(st->cluster.version, 12);
	ck_assert_uint_eq(st->cluster.ring, 14);
	ck_assert_uint_eq(st->cluster.gen_floor, 0);
	ck_assert_str_eq(st->cluster.vms[0].name, "kv1");
	ck_assert_uint_eq(st->cluster.vms[0].primary_gen, 1);
	ck_assert_uint_eq(st->cluster.vms[0].failovers, 0);
	ck_assert(!st->cluster.vms[0].stall_hold);
	ck_assert_uint_eq(st->cluster.hosts[0].info_version, 0);
	/* A later key present must still be right; an unknown one is still refused. */
	ck_assert_int_eq(
	    cl_msg__cluster_from_json("{\"version\":1,\"ring\":0,\"gen_floor\":-1,"
				      "\"hosts\":[],\"vms\":[]}",
				      strlen("{\"version\":1,\"ring\":0,\"gen_floor\":-1,"
					     "\"hosts\":[],\"vms\":[]}"),
				      c, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "gen_floor"));
	ck_assert_int_eq(cl_msg__cluster_from_json("{\"version\":1,\"ring\":0,\"nope\":1,"
						   "\"hosts\":[],\"vms\":[]}",
						   strlen("{\"version\":1,\"ring\":0,\"nope\":1,"
							  "\"hosts\":[],\"vms\":[]}"),
						   c, err, sizeof(err)),
			 -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "unknown key"));
	free(c);
	model__free(m);
}
END_TEST

static void refused(const char *text, const char *why)
{
	struct cl_msg m;
	char err[160];

	ck_assert_msg(cl_msg__decode(text, strlen(text), &m, err, sizeof(err)) == -EBADMSG,
		      "accepted: %s", text);
	ck_assert_msg(strstr(err, why), "%s: said \"%s\", not \"%s\"", text, err, why);
	ck_assert_ptr_null(strchr(err, '\n'));
	cl_msg__dispose(&m);
}

START_TEST(test_msg_refusals)
{
	static char big[CL_MSG_MAX + 2];
	struct cl_msg m;
	char err[160];

	refused("", "not JSON");
	refused("{\"v\":1,\"type\":\"barrier\",\"node\":2,\"seq\":", "not JSON"); /* truncated */
	refused("[1]", "not a JSON object");
	refused("{\"v\":2,\"type\":\"barrier\",\"node\":2,\"seq\":1}", "version 2");
	refused("{\"v\":1,\"type\":\"reboot\",\"node\":2}", "\"type\"");
	refused("{\"v\":1,\"type\":\"barrier\",\"node\":0,\"seq\":1}", "node 0");
	refused("{\"v\":1,\"type\":\"barrier\",\"node\":2,\"seq\":1,\"x\":1}", "unknown key");
	refused("{\"v\":1,\"type\":\"barrier\",\"node\":2}", "missing key \"seq\"");
	refused("{\"v\":1,\"type\":\"barrier\",\"node\":2,\"seq\":-1}", "\"seq\"");
	refused("{\"v\":1,\"type\":\"barrier\",\"node\":2,\"seq\":1,\"seq\":2}", "not JSON");
	refused("{\"v\":1,\"type\":\"vm-report\",\"node\":2,\"vm\":\"KV\",\"what\":\"started\","
		"\"role\":\"primary\",\"gen\":1}",
		"not a VM name");
	refused("{\"v\":1,\"type\":\"vm-report\",\"node\":2,\"vm\":\"kv1\",\"what\":\"started\","
		"\"role\":\"none\",\"gen\":1}",
		"role none");
	refused("{\"v\":1,\"type\":\"vm-report\",\"node\":2,\"vm\":\"kv1\",\"what\":\"started\","
		"\"role\":\"primary\",\"gen\":4294967296}",
		"\"gen\"");
	refused("{\"v\":1,\"type\":\"host-info\",\"node\":2,\"name\":\"h\\u0000x\",\"addr\":\"a\","
		"\"port_base\":1,\"free_mib\":1}",
		"NUL");
	refused("{\"v\":1,\"type\":\"host-info\",\"node\":2,\"name\":\"h2\",\"addr\":\"a\","
		"\"port_base\":65536,\"free_mib\":1}",
		"\"port_base\"");
	refused(
	    "{\"v\":1,\"type\":\"state-sync\",\"node\":2,\"members\":[3,1],\"initialized\":true,"
	    "\"state\":{\"version\":1,\"ring\":0,\"hosts\":[],\"vms\":[]}}",
	    "not sorted");
	refused("{\"v\":1,\"type\":\"state-sync\",\"node\":2,\"members\":[1],\"initialized\":true,"
		"\"state\":{\"version\":1,\"ring\":0,\"hosts\":[],\"vms\":[{}]}}",
		"missing key");
	memset(big, ' ', sizeof(big) - 1);
	ck_assert_int_eq(cl_msg__decode(big, sizeof(big) - 1, &m, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "more than"));
	ck_assert(cl_msg__name_ok("h-1.b_C", true));
	ck_assert(!cl_msg__name_ok("h-1.b_C", false));
	ck_assert(!cl_msg__name_ok("", false));
	ck_assert(!cl_msg__text_ok("a\001b", 16));
	ck_assert(cl_msg__text_ok("a\tb\n", 16));
}
END_TEST

/* ---- Placement ---- */

START_TEST(test_placement)
{
	struct cl_cluster *c = calloc(1, sizeof(*c));
	struct cl_vm vm = {.memory_mib = 512, .primary = 1};

	for (int i = 0; i < 4; i++) {
		c->hosts[i] = (struct cl_host){
		    .nodeid = (uint32_t)i + 1, .free_mib = 4096, .state = CL_HOST_ONLINE};
		snprintf(c->hosts[i].name, sizeof(c->hosts[i].name), "h%d", i + 1);
	}
	/* Ties: the lowest nodeid other than the primary's. */
	ck_assert_uint_eq(placement__pick_backup(c, &vm), 2);
	/* Fewest protected VMs first: a pair counts on both its hosts ... */
	c->vms[0] =
	    (struct cl_vm){.name = "a", .state = CL_VM_PROTECTED, .primary = 4, .backup = 2};
	ck_assert_int_eq(placement__load(c, 2), 1);
	ck_assert_int_eq(placement__load(c, 4), 1);
	ck_assert_uint_eq(placement__pick_backup(c, &vm), 3);
	/* ... an unprotected VM is no protected VM ... */
	c->vms[1] = (struct cl_vm){.name = "b", .state = CL_VM_RUNNING, .primary = 3};
	ck_assert_int_eq(placement__load(c, 3), 0);
	ck_assert_uint_eq(placement__pick_backup(c, &vm), 3);
	/* ... then the most free memory (a stopped VM weighs nothing) ... */
	c->hosts[3].free_mib = 8192;
	c->vms[0].state = CL_VM_STOPPED;
	ck_assert_uint_eq(placement__pick_backup(c, &vm), 4);
	/* ... and only hosts online, with room. */
	c->hosts[3].state = CL_HOST_OFFLINE;
	c->hosts[1].free_mib = 100;
	ck_assert_uint_eq(placement__pick_backup(c, &vm), 3);
	c->hosts[2].free_mib = 100;
	ck_assert_uint_eq(placement__pick_backup(c, &vm), 0);
	free(c);
}
END_TEST

/*
 * Memory promised to backups counts against a host until its HOST_INFO shows it: two
 * protects in a row against the same free memory do not both land on one host.
 */
START_TEST(test_placement_promised_memory)
{
	struct cl_cluster *c = calloc(1, sizeof(*c));
	struct cl_vm vm = {.memory_mib = 768, .primary = 1};

	for (int i = 0; i < 3; i++)
		c->hosts[i] = (struct cl_host){.nodeid = (uint32_t)i + 1,
					       .free_mib = 1024,
					       .state = CL_HOST_ONLINE,
					       .info_version = 5};
	/* A backup of 512 MiB on h2 still syncing, its primary on h3: h2 has 512 left. */
	c->vms[0] = (struct cl_vm){
	    .name = "a", .memory_mib = 512, .state = CL_VM_PROTECTING, .primary = 3, .backup = 2};
	ck_assert_uint_eq(placement__promised_mib(c, 2), 512);
	ck_assert_uint_eq(placement__promised_mib(c, 3), 0);
	ck_assert_uint_eq(placement__pick_backup(c, &vm), 3);
	/* Synced, but h2 has said nothing since: still promised. */
	c->vms[0].state = CL_VM_PROTECTED;
	c->vms[0].synced_version = 9;
	ck_assert_uint_eq(placement__promised_mib(c, 2), 512);
	ck_assert_uint_eq(placement__pick_backup(c, &vm), 3);
	/* h2's next HOST_INFO shows the memory used: no longer counted twice. */
	c->hosts[1].info_version = 10;
	c->hosts[1].free_mib = 512;
	ck_assert_uint_eq(placement__promised_mib(c, 2), 0);
	c->hosts[2].free_mib = 256;
	vm.memory_mib = 512;
	ck_assert_uint_eq(placement__pick_backup(c, &vm), 2);
	free(c);
}
END_TEST

Suite *cluster_model_suite(void)
{
	Suite *s = suite_create("cluster_model");
	TCase *tc = tcase_create("model");
	TCase *msg = tcase_create("cl_msg");

	tcase_add_test(tc, test_table_exact);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_gates);
	tcase_add_test(tc, test_stall_licenses_nothing);
	tcase_add_test(tc, test_stall_resync_backs_off);
	tcase_add_test(tc, test_stall_report_survives_no_quorum);
	tcase_add_test(tc, test_failover_clears_the_stall_count);
	tcase_add_test(tc, test_action_roles_and_host_drill);
	tcase_add_test(tc, test_death_only_from_its_host);
	tcase_add_test(tc, test_fence_then_unfence);
	tcase_add_test(tc, test_quorum_is_the_rings_verdict);
	tcase_add_test(tc, test_lost_answers_fail_at_once);
	tcase_add_test(tc, test_midway_stamp_is_the_rounds);
	tcase_add_test(tc, test_placement);
	tcase_add_test(tc, test_placement_promised_memory);
	suite_add_tcase(s, tc);
	tcase_add_test(msg, test_msg_round_trips);
	tcase_add_test(msg, test_msg_refusals);
	tcase_add_test(msg, test_restore_first_layout);
	suite_add_tcase(s, msg);
	return s;
}
