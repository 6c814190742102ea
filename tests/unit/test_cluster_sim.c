/* twin-clusterd's model on simulated hosts: failovers, partitions, merges, random runs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "cluster_fixture.h"
#include "suites.h"

/* A protected VM kv1 with its primary on node p: returns the backup's node. */
static uint32_t protected_vm(struct sim *s, uint32_t p, const char *vm)
{
	uint64_t req = sim_vm_start(s, p, vm, true);
	const struct cl_vm *v;

	sim_settle(s);
	ck_assert_msg(sim_reply(s, p, req) && sim_reply(s, p, req)->ok, "vm start %s", vm);
	v = sim_vm(s, p, vm);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(cl_vm_state__to_str(v->state), "protected");
	ck_assert_uint_eq(v->primary, p);
	ck_assert_uint_ne(v->backup, 0);
	ck_assert_uint_ne(v->backup, p);
	ck_assert_int_eq(sim_active(s, vm, NULL), 1);
	return v->backup;
}

static void expect_state(struct sim *s, uint32_t node, const char *vm, const char *state)
{
	const struct cl_vm *v = sim_vm(s, node, vm);

	ck_assert_msg(v, "node %u has no %s", node, vm);
	ck_assert_str_eq(cl_vm_state__to_str(v->state), state);
}

START_TEST(test_start_protect_converge)
{
	struct sim s;

	sim_init(&s, 3, 1, false);
	protected_vm(&s, 1, "kv1");
	sim_check_converged(&s, 0);
	sim_fini(&s);
}
END_TEST

/* The fast path: the primary's twin-vmm dies on a live host; then re-protection. */
START_TEST(test_vmm_death_fails_over)
{
	struct sim s;
	uint32_t b, p2 = 0;
	const struct cl_vm *v;

	sim_init(&s, 3, 2, false);
	b = protected_vm(&s, 1, "kv1");
	sim_vmm_exit(sim_node(&s, 1), sim_vmm(sim_node(&s, 1), "kv1"), 9);
	sim_settle(&s);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	v = sim_vm(&s, 1, "kv1");
	ck_assert_uint_eq(v->primary, b);
	expect_state(&s, 1, "kv1", "protected");
	ck_assert_uint_ne(v->backup, b);
	ck_assert_int_eq(s.activations, 1);
	sim_check_converged(&s, 0);
	/* The failover counts, everywhere, in the status JSON too; a second one counts again. */
	ck_assert_uint_eq(sim_vm(&s, 3, "kv1")->failovers, 1);
	ck_assert_ptr_nonnull(strstr(
	    sim_reply(&s, 3, sim_simple(&s, 3, CL_CMD_STATUS, "kv1"))->text, "\"failovers\":1"));
	sim_vmm_exit(sim_node(&s, b), sim_vmm(sim_node(&s, b), "kv1"), 9);
	sim_settle(&s);
	ck_assert_int_eq(s.activations, 2);
	sim_check_converged(&s, 0);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->failovers, 2);
	sim_fini(&s);
}
END_TEST

/* A drill: kill through the cluster, then the same confirmed-death path. */
START_TEST(test_drill)
{
	struct sim s;
	struct cl_request q = {.cmd = CL_CMD_DRILL};
	uint32_t b, p2 = 0;
	uint64_t req;

	sim_init(&s, 3, 3, false);
	b = protected_vm(&s, 1, "kv1");
	snprintf(q.vm, sizeof(q.vm), "kv1");
	req = sim_request(&s, 3, &q);
	sim_settle(&s);
	ck_assert_ptr_nonnull(sim_reply(&s, 3, req));
	ck_assert(sim_reply(&s, 3, req)->ok);
	ck_assert_ptr_nonnull(strstr(sim_reply(&s, 3, req)->text, "\"killed\":true"));
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	sim_fini(&s);
}
END_TEST

/* The primary's host dies whole: its leaving the membership confirms the death. */
START_TEST(test_host_death_fails_over)
{
	struct sim s;
	uint32_t b, p2 = 0;

	sim_init(&s, 3, 4, false);
	b = protected_vm(&s, 1, "kv1");
	sim_kill_host(&s, 1);
	sim_settle(&s);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	/* Two hosts left: the third is the new backup. */
	expect_state(&s, b, "kv1", "protected");
	ck_assert_uint_eq(sim_vm(&s, b, "kv1")->backup, b == 2 ? 3 : 2);
	/* The old host comes back: never a primary again, eligible as a backup. */
	sim_restart_host(&s, 1, 0);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->primary, b);
	ck_assert_ptr_null(sim_vmm(sim_node(&s, 1), "kv1"));
	sim_fini(&s);
}
END_TEST

/*
 * clusterd crashes on the primary's host; corosync lives on there, so its vote stays and the
 * ring does not change.  Its twin-vmms die with it (PDEATHSIG); the others see it leave the
 * group: a confirmed death, they fail over.  It restarts with its persisted state, which the
 * newer history overrides: it never runs a second primary, it may take the backup.
 */
START_TEST(test_clusterd_crash_and_restart)
{
	struct sim s;
	uint32_t b, p2 = 0;

	sim_init(&s, 3, 37, false);
	b = protected_vm(&s, 1, "kv1");
	sim_vm_start(&s, 1, "kv2", false); /* its only copy dies with the clusterd */
	sim_settle(&s);
	expect_state(&s, 2, "kv2", "running");
	sim_crash_clusterd(&s, 1);
	sim_settle(&s);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	ck_assert(model__state(sim_node(&s, b)->m)->local.vq_quorate);
	ck_assert_int_eq(sim_active(&s, "kv2", NULL), 0);
	sim_restart_clusterd(&s, 1);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert(model__state(sim_node(&s, 1)->m)->local.initialized);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->primary, b);
	expect_state(&s, 1, "kv1", "protected");
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	ck_assert(!sim_vmm(sim_node(&s, 1), "kv1") ||
		  sim_vmm(sim_node(&s, 1), "kv1")->role == CL_ROLE_BACKUP);
	/* kv2 had no backup: the restarted clusterd reports its copy gone; it stops. */
	expect_state(&s, 2, "kv2", "stopped");
	ck_assert_int_eq(sim_active(&s, "kv2", NULL), 0);
	sim_fini(&s);
}
END_TEST

/* The backup's host dies: degrade (quorate, confirmed), then re-protect on the third. */
START_TEST(test_backup_death_degrades_and_reprotects)
{
	struct sim s;
	uint32_t b, third;
	struct sim_vmm *x;

	sim_init(&s, 3, 5, false);
	b = protected_vm(&s, 1, "kv1");
	third = b == 2 ? 3 : 2;
	sim_kill_host(&s, b);
	sim_settle(&s);
	expect_state(&s, 1, "kv1", "protected");
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->backup, third);
	x = sim_vmm(sim_node(&s, 1), "kv1");
	ck_assert_int_eq(x->degrades, 1);
	ck_assert_int_eq(x->fences, 0);
	ck_assert_int_eq(sim_active(&s, "kv1", NULL), 1);
	sim_fini(&s);
}
END_TEST

/* 2|1 with the primary alone: it fences; the majority fails over; the merge kills it. */
START_TEST(test_partition_primary_in_minority)
{
	struct sim s;
	uint32_t b, p2 = 0;
	struct sim_vmm *old;

	sim_init(&s, 3, 6, false);
	b = protected_vm(&s, 1, "kv1");
	{
		int parts[] = {1, 0, 0};

		sim_partition(&s, parts);
	}
	old = sim_vmm(sim_node(&s, 1), "kv1");
	ck_assert(old && old->fenced);
	sim_settle(&s);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	/* The minority changed nothing: its state is the old one, still fenced. */
	expect_state(&s, 1, "kv1", "protected");
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->primary, 1);
	ck_assert(sim_vmm(sim_node(&s, 1), "kv1")->fenced);
	sim_check_converged(&s, 0);
	sim_heal(&s);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->primary, b);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	/* The old primary's vmm is gone; node 1 may now hold the backup. */
	old = sim_vmm(sim_node(&s, 1), "kv1");
	ck_assert(!old || old->role == CL_ROLE_BACKUP);
	sim_fini(&s);
}
END_TEST

/* 2|1 with the backup alone: the primary degrades in the majority and re-protects. */
START_TEST(test_partition_backup_in_minority)
{
	struct sim s;
	uint32_t b;
	int parts[3] = {0, 0, 0};

	sim_init(&s, 3, 7, false);
	b = protected_vm(&s, 1, "kv1");
	parts[b - 1] = 1;
	sim_partition(&s, parts);
	sim_settle(&s);
	expect_state(&s, 1, "kv1", "protected");
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->backup, b == 2 ? 3 : 2);
	ck_assert(!sim_vmm(sim_node(&s, 1), "kv1")->fenced);
	/* The isolated old backup activated nothing. */
	ck_assert_int_eq(s.activations, 0);
	sim_heal(&s);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert_ptr_null(sim_vmm(sim_node(&s, b), "kv1"));
	sim_fini(&s);
}
END_TEST

/* 1|1|1: nobody is quorate: the primary fences, nothing activates; the merge unfences. */
START_TEST(test_partition_three_ways)
{
	struct sim s;
	int parts[] = {0, 1, 2};
	uint32_t p2 = 0;
	struct sim_vmm *x;

	sim_init(&s, 3, 8, false);
	protected_vm(&s, 1, "kv1");
	sim_partition(&s, parts);
	sim_settle(&s);
	ck_assert_int_eq(sim_active(&s, "kv1", NULL), 0);
	ck_assert_int_eq(s.activations, 0);
	sim_heal(&s);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, 1);
	x = sim_vmm(sim_node(&s, 1), "kv1");
	ck_assert_int_eq(x->unfences, 1);
	expect_state(&s, 2, "kv1", "protected");
	sim_fini(&s);
}
END_TEST

/* Two hosts: two votes expected: automatic failover refused with the reason; --force works. */
START_TEST(test_two_hosts_refuse_then_force)
{
	struct sim s;
	struct cl_request q = {.cmd = CL_CMD_FAILOVER};
	uint64_t req;
	uint32_t p2 = 0;

	sim_init(&s, 2, 9, false);
	protected_vm(&s, 1, "kv1");
	sim_vmm_exit(sim_node(&s, 1), sim_vmm(sim_node(&s, 1), "kv1"), 9);
	sim_settle(&s);
	ck_assert_int_eq(s.activations, 0);
	ck_assert_int_ge(s.failovers_refused, 1);
	ck_assert(sim_vm(&s, 2, "kv1")->awaiting_operator);
	/* Without --force: refused, with the reason. */
	snprintf(q.vm, sizeof(q.vm), "kv1");
	req = sim_request(&s, 2, &q);
	sim_settle(&s);
	ck_assert(!sim_reply(&s, 2, req)->ok);
	ck_assert_ptr_nonnull(strstr(sim_reply(&s, 2, req)->text, "expected votes 2 < 3"));
	q.force = true;
	req = sim_request(&s, 2, &q);
	sim_settle(&s);
	ck_assert(sim_reply(&s, 2, req)->ok);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, 2);
	sim_fini(&s);
}
END_TEST

static uint64_t force_failover(struct sim *s, uint32_t node, const char *vm)
{
	struct cl_request q = {.cmd = CL_CMD_FAILOVER, .force = true};
	uint64_t req;

	snprintf(q.vm, sizeof(q.vm), "%s", vm);
	s->forced = true;
	req = sim_request(s, node, &q);
	sim_settle(s);
	ck_assert_ptr_nonnull(sim_reply(s, node, req));
	ck_assert_msg(sim_reply(s, node, req)->ok, "failover --force: %s",
		      sim_reply(s, node, req)->text);
	return req;
}

/*
 * Three hosts; the primary's and the third die at once: the backup's host alone has no
 * quorum and activates nothing.  failover --force there activates it, and it serves
 * unfenced while alone (the forced copy is exempt from quorum fencing).  The dead hosts
 * come back: the forced history is the latest, and stays; one copy throughout.
 */
START_TEST(test_forced_failover_without_quorum)
{
	struct sim s;
	uint32_t b, other, p2 = 0;
	struct sim_vmm *x;

	sim_init(&s, 3, 33, false);
	b = protected_vm(&s, 1, "kv1");
	other = b == 2 ? 3 : 2;
	sim_kill_host(&s, 1);
	sim_kill_host(&s, other);
	sim_settle(&s);
	ck_assert(!model__state(sim_node(&s, b)->m)->local.vq_quorate);
	ck_assert_int_eq(s.activations, 0);
	expect_state(&s, b, "kv1", "protected");
	force_failover(&s, b, "kv1");
	ck_assert_int_eq(s.activations, 1);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	x = sim_vmm(sim_node(&s, b), "kv1");
	sim_tick_all(&s, 10000);
	sim_settle(&s);
	ck_assert(!x->fenced);
	ck_assert_int_eq(x->fences, 0);
	sim_restart_host(&s, 1, 0);
	sim_restart_host(&s, other, 0);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->primary, b);
	expect_state(&s, 1, "kv1", "protected");
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	ck_assert_int_eq(x->fences, 0);
	sim_fini(&s);
}
END_TEST

/*
 * A forced copy in a minority while the majority runs on: two copies serve (the risk the
 * operator took); at the merge the majority's history (a later quorate ring) wins and the
 * forced copy is killed: one copy again, the majority's.
 */
START_TEST(test_forced_minority_loses_the_merge)
{
	struct sim s;
	uint32_t b, other, p2 = 0;
	int parts[3] = {0, 0, 0};

	sim_init(&s, 3, 34, false);
	b = protected_vm(&s, 1, "kv1");
	other = b == 2 ? 3 : 2;
	parts[b - 1] = 1;
	sim_partition(&s, parts);
	sim_settle(&s);
	expect_state(&s, 1, "kv1", "protected");
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->backup, other);
	s.two_actives_ok = true;
	force_failover(&s, b, "kv1");
	ck_assert_int_eq(sim_active(&s, "kv1", NULL), 2);
	sim_heal(&s);
	sim_settle(&s);
	s.two_actives_ok = false;
	sim_check_invariants(&s);
	sim_check_converged(&s, 0);
	ck_assert_uint_eq(sim_vm(&s, b, "kv1")->primary, 1);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, 1);
	ck_assert_ptr_null(sim_vmm(sim_node(&s, b), "kv1"));
	sim_fini(&s);
}
END_TEST

static const struct sim_reply *host_forget(struct sim *s, uint32_t node, const char *host)
{
	struct cl_request q = {.cmd = CL_CMD_HOST_FORGET};
	uint64_t req;

	snprintf(q.host_name, sizeof(q.host_name), "%s", host);
	req = sim_request(s, node, &q);
	sim_settle(s);
	ck_assert_ptr_nonnull(sim_reply(s, node, req));
	return sim_reply(s, node, req);
}

static const struct sim_reply *simple_settled(struct sim *s, uint32_t node, enum cl_cmd cmd,
					      const char *vm)
{
	uint64_t req = sim_simple(s, node, cmd, vm);

	sim_settle(s);
	ck_assert_ptr_nonnull(sim_reply(s, node, req));
	return sim_reply(s, node, req);
}

/*
 * vm forget removes a stopped VM (only a stopped one, only with quorum); its generations
 * are never given again.  host forget removes a host that left and holds no VM role.
 */
START_TEST(test_forget)
{
	struct sim s;
	int parts[] = {1, 0, 0};
	uint32_t gen;

	sim_init(&s, 3, 35, false);
	protected_vm(&s, 1, "kv1");
	ck_assert_ptr_nonnull(
	    strstr(simple_settled(&s, 2, CL_CMD_VM_FORGET, "kv1")->text, "stop it first"));
	ck_assert(simple_settled(&s, 2, CL_CMD_VM_STOP, "kv1")->ok);
	expect_state(&s, 3, "kv1", "stopped");
	gen = sim_vm(&s, 3, "kv1")->generation;
	sim_partition(&s, parts);
	sim_settle(&s);
	ck_assert_str_eq(simple_settled(&s, 1, CL_CMD_VM_FORGET, "kv1")->cls, "NoQuorum");
	ck_assert(simple_settled(&s, 2, CL_CMD_VM_FORGET, "kv1")->ok);
	ck_assert_ptr_null(sim_vm(&s, 3, "kv1"));
	ck_assert_ptr_null(strstr(simple_settled(&s, 3, CL_CMD_VM_LIST, "")->text, "kv1"));
	/* A new VM in a fresh slot starts above every generation ever given. */
	sim_vm_start(&s, 2, "kv2", false);
	sim_settle(&s);
	ck_assert_uint_gt(sim_vm(&s, 3, "kv2")->generation, gen);
	/* host forget: not a member host; not one that holds a role. */
	ck_assert_ptr_nonnull(strstr(host_forget(&s, 3, "h2")->text, "is online"));
	ck_assert_ptr_nonnull(strstr(host_forget(&s, 3, "h9")->text, "no host named"));
	sim_heal(&s);
	sim_settle(&s);
	sim_kill_host(&s, 2);
	sim_settle(&s);
	ck_assert_ptr_nonnull(strstr(host_forget(&s, 3, "h2")->text, "kv2's primary"));
	ck_assert(simple_settled(&s, 3, CL_CMD_VM_STOP, "kv2")->ok);
	ck_assert(host_forget(&s, 3, "h2")->ok);
	ck_assert_ptr_null(
	    strstr(simple_settled(&s, 3, CL_CMD_CLUSTER_STATUS, "")->text, "\"h2\""));
	/* It may come back: a new host to the cluster, with no role. */
	sim_restart_host(&s, 2, 0);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert_ptr_nonnull(
	    strstr(simple_settled(&s, 3, CL_CMD_CLUSTER_STATUS, "")->text, "\"h2\""));
	sim_fini(&s);
}
END_TEST

/* All 64 slots taken: vm start takes a stopped VM's slot (its record is only history). */
START_TEST(test_vm_start_reuses_a_stopped_slot)
{
	struct sim s;
	char name[16];
	uint64_t req;

	sim_init(&s, 3, 36, false);
	for (int i = 0; i < CL_MAX_VMS; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		sim_vm_start(&s, 1 + (uint32_t)i % 3, name, false);
	}
	sim_settle(&s);
	req = sim_vm_start(&s, 1, "one-more", false);
	sim_settle(&s);
	ck_assert_ptr_nonnull(strstr(sim_reply(&s, 1, req)->text, "none stopped"));
	ck_assert(simple_settled(&s, 2, CL_CMD_VM_STOP, "vm7")->ok);
	req = sim_vm_start(&s, 1, "one-more", false);
	sim_settle(&s);
	ck_assert(sim_reply(&s, 1, req)->ok);
	expect_state(&s, 2, "one-more", "running");
	ck_assert_ptr_null(sim_vm(&s, 2, "vm7"));
	sim_check_converged(&s, 0);
	sim_fini(&s);
}
END_TEST

/* Two hosts and a qdevice are three votes: the survivor of a host death fails over alone. */
START_TEST(test_two_hosts_qdevice_fail_over)
{
	struct sim s;
	uint32_t p2 = 0;

	sim_init_votes(&s, 2, 31, false, true);
	ck_assert_uint_eq(protected_vm(&s, 1, "kv1"), 2);
	sim_kill_host(&s, 1);
	sim_settle(&s);
	ck_assert_int_eq(s.failovers_refused, 0);
	ck_assert_int_eq(s.activations, 1);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, 2);
	expect_state(&s, 2, "kv1", "running");
	/* The old host comes back: the backup, never a second primary. */
	sim_restart_host(&s, 1, 0);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	expect_state(&s, 1, "kv1", "protected");
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->backup, 1);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, 2);
	sim_fini(&s);
}
END_TEST

/*
 * Two hosts and a qdevice, split: the qdevice's half keeps its primary, the other half's
 * backup does nothing.  Then that primary's host dies: the qdevice's vote moves to the
 * survivor within its ring (no membership change there), and that verdict fails over.
 */
START_TEST(test_two_hosts_qdevice_split)
{
	struct sim s;
	int parts[] = {0, 1};
	uint32_t p2 = 0;

	sim_init_votes(&s, 2, 32, false, true);
	protected_vm(&s, 1, "kv1");
	sim_partition(&s, parts);
	sim_settle(&s);
	ck_assert_int_eq(s.activations, 0);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, 1);
	ck_assert(!model__state(sim_node(&s, 2)->m)->local.vq_quorate);
	/* The qdevice's half works on: its history gets the higher version. */
	for (int i = 0; i < 4; i++) {
		sim_vm_start(&s, 1, "kv2", false);
		sim_settle(&s);
		sim_simple(&s, 1, CL_CMD_VM_STOP, "kv2");
		sim_settle(&s);
	}
	sim_kill_host(&s, 1);
	sim_settle(&s);
	ck_assert(model__state(sim_node(&s, 2)->m)->local.vq_quorate);
	ck_assert_int_eq(s.activations, 1);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, 2);
	/*
	 * The old primary's host comes back with its disk: both halves were quorate in the
	 * same ring (no host in common), and the later one, which won its quorum midway
	 * through the ring, wins the merge whatever the versions say.
	 */
	sim_restart_host(&s, 1, 1);
	sim_settle(&s);
	sim_check_converged(&s, 1);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->primary, 2);
	expect_state(&s, 1, "kv1", "protected");
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, 2);
	sim_fini(&s);
}
END_TEST

/* Two VMs protected in opposite directions survive a host death each way. */
START_TEST(test_opposite_directions)
{
	struct sim s;
	struct cl_request q = {.cmd = CL_CMD_PROTECT};

	sim_init(&s, 3, 10, false);
	sim_vm_start(&s, 1, "kv1", false);
	sim_vm_start(&s, 2, "kv2", false);
	sim_settle(&s);
	snprintf(q.vm, sizeof(q.vm), "kv1");
	snprintf(q.peer, sizeof(q.peer), "h2");
	sim_request(&s, 3, &q);
	snprintf(q.vm, sizeof(q.vm), "kv2");
	snprintf(q.peer, sizeof(q.peer), "h1");
	sim_request(&s, 3, &q);
	sim_settle(&s);
	expect_state(&s, 3, "kv1", "protected");
	expect_state(&s, 3, "kv2", "protected");
	ck_assert_uint_eq(sim_vm(&s, 3, "kv1")->backup, 2);
	ck_assert_uint_eq(sim_vm(&s, 3, "kv2")->backup, 1);
	sim_kill_host(&s, 2);
	sim_settle(&s);
	/* kv1 degraded and re-protected on h3; kv2 failed over to h1. */
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->primary, 1);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->backup, 3);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv2")->primary, 1);
	ck_assert_uint_eq(sim_vm(&s, 1, "kv2")->backup, 3);
	sim_fini(&s);
}
END_TEST

/* A failed initial sync returns to running; the leader retries by placement later. */
START_TEST(test_sync_failure_retried)
{
	struct sim s;

	sim_init(&s, 3, 11, false);
	sim_node(&s, 1)->fail_syncs = true;
	sim_vm_start(&s, 1, "kv1", true);
	sim_settle(&s);
	expect_state(&s, 2, "kv1", "running");
	ck_assert_uint_eq(sim_vm(&s, 2, "kv1")->backup, 0);
	sim_node(&s, 1)->fail_syncs = false;
	sim_settle(&s);
	expect_state(&s, 2, "kv1", "protected");
	sim_check_converged(&s, 0);
	sim_fini(&s);
}
END_TEST

/* Requests: no quorum, unknown VM, peer checks; stop; unprotect. */
START_TEST(test_requests)
{
	struct sim s;
	struct cl_request q = {.cmd = CL_CMD_PROTECT};
	uint64_t req;
	int parts[] = {1, 0, 0};

	sim_init(&s, 3, 12, false);
	sim_vm_start(&s, 1, "kv1", false);
	sim_settle(&s);
	expect_state(&s, 3, "kv1", "running");
	snprintf(q.vm, sizeof(q.vm), "kv1");
	snprintf(q.peer, sizeof(q.peer), "h1");
	req = sim_request(&s, 2, &q);
	sim_settle(&s);
	ck_assert(!sim_reply(&s, 2, req)->ok);
	ck_assert_ptr_nonnull(strstr(sim_reply(&s, 2, req)->text, "--peer h1"));
	req = sim_simple(&s, 2, CL_CMD_PROTECT, "nope");
	sim_settle(&s);
	ck_assert_ptr_nonnull(strstr(sim_reply(&s, 2, req)->text, "no VM named"));
	req = sim_simple(&s, 2, CL_CMD_PROTECT, "kv1");
	sim_settle(&s);
	ck_assert(sim_reply(&s, 2, req)->ok);
	expect_state(&s, 3, "kv1", "protected");
	req = sim_vm_start(&s, 3, "kv1", false);
	sim_settle(&s);
	ck_assert_ptr_nonnull(strstr(sim_reply(&s, 3, req)->text, "already protected"));
	req = sim_simple(&s, 3, CL_CMD_UNPROTECT, "kv1");
	sim_settle(&s);
	ck_assert(sim_reply(&s, 3, req)->ok);
	expect_state(&s, 1, "kv1", "running");
	ck_assert_int_eq(sim_vmm(sim_node(&s, 1), "kv1")->unprotects, 1);
	/* The partitioned host may not change anything. */
	sim_partition(&s, parts);
	sim_settle(&s);
	req = sim_simple(&s, 1, CL_CMD_VM_STOP, "kv1");
	ck_assert_str_eq(sim_reply(&s, 1, req)->cls, "NoQuorum");
	/* Its only copy waits for it: back, unfenced. */
	expect_state(&s, 2, "kv1", "running");
	sim_heal(&s);
	sim_settle(&s);
	ck_assert_int_eq(sim_active(&s, "kv1", NULL), 1);
	ck_assert_int_eq(sim_vmm(sim_node(&s, 1), "kv1")->unfences, 1);
	req = sim_simple(&s, 2, CL_CMD_VM_STOP, "kv1");
	sim_settle(&s);
	ck_assert(sim_reply(&s, 2, req)->ok);
	expect_state(&s, 1, "kv1", "stopped");
	ck_assert_ptr_null(sim_vmm(sim_node(&s, 1), "kv1"));
	/* Status and lists come from the local replica. */
	req = sim_simple(&s, 3, CL_CMD_CLUSTER_STATUS, "");
	ck_assert_ptr_nonnull(strstr(sim_reply(&s, 3, req)->text, "\"quorate\":true"));
	req = sim_simple(&s, 3, CL_CMD_VM_LIST, "");
	ck_assert_ptr_nonnull(strstr(sim_reply(&s, 3, req)->text, "\"state\":\"stopped\""));
	sim_check_converged(&s, 0);
	sim_fini(&s);
}
END_TEST

/*
 * Amnesia: the last majority's only survivor in the next majority restarted.  With its
 * persisted state it still carries that history; without its disk it counts as new and the
 * others (who missed the history) cannot form a majority that overrules the host that has it.
 */
START_TEST(test_restart_keeps_history)
{
	struct sim s;
	uint32_t b, p2 = 0;
	int parts[] = {0, 1, 1};

	sim_init(&s, 3, 14, false);
	b = protected_vm(&s, 1, "kv1");
	/* 1 | 2 3: the majority fails kv1 over (h1 fences). */
	sim_partition(&s, parts);
	sim_settle(&s);
	ck_assert_int_eq(sim_active(&s, "kv1", &p2), 1);
	ck_assert_uint_eq(p2, b);
	/* Both majority hosts die; one comes back with its disk, and the partition heals. */
	sim_kill_host(&s, 2);
	sim_kill_host(&s, 3);
	sim_restart_host(&s, b, 0);
	sim_heal(&s);
	sim_settle(&s);
	/* The history that failed kv1 over wins: h1 never serves kv1 again. */
	ck_assert_uint_eq(sim_vm(&s, 1, "kv1")->primary == 1, 0);
	ck_assert_int_le(sim_active(&s, "kv1", NULL), 1);
	ck_assert(!sim_vmm(sim_node(&s, 1), "kv1") ||
		  sim_vmm(sim_node(&s, 1), "kv1")->role == CL_ROLE_BACKUP ||
		  sim_vmm(sim_node(&s, 1), "kv1")->fenced);
	/* The other one lost its disk: it joins as a new host and learns the state. */
	free(sim_node(&s, b == 2 ? 3 : 2)->disk);
	sim_node(&s, b == 2 ? 3 : 2)->disk = NULL;
	sim_restart_host(&s, b == 2 ? 3 : 2, 0);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert(model__state(sim_node(&s, b == 2 ? 3 : 2)->m)->local.initialized);
	sim_fini(&s);
}
END_TEST

/* A clusterd whose votequorum callback comes after its first confchg still joins in. */
START_TEST(test_late_quorum_callback)
{
	struct sim s;
	struct sim_ev ev;
	struct sim_node *nd;
	uint64_t req;

	memset(&s, 0, sizeof(s));
	s.n = 3;
	s.seed = s.seed0 = 13;
	s.verbose = getenv("CLSIM_VERBOSE") != NULL;
	for (uint32_t id = 1; id <= 3; id++) {
		s.nodes[id - 1].id = id;
		sim_boot(&s, id);
	}
	sim_membership(&s);
	/* Node 3's votequorum speaks only after the first round is over. */
	nd = sim_node(&s, 3);
	ck_assert_int_eq(nd->inbox[0].type, SIM_QUORUM);
	ev = nd->inbox[0];
	memmove(nd->inbox, nd->inbox + 1, --nd->n * sizeof(*nd->inbox));
	sim_settle(&s);
	sim_push(nd, &ev);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	ck_assert(model__state(nd->m)->local.initialized);
	req = sim_vm_start(&s, 3, "kv1", true);
	sim_settle(&s);
	ck_assert(sim_reply(&s, 3, req)->ok);
	expect_state(&s, 1, "kv1", "protected");
	sim_fini(&s);
}
END_TEST

/* Random operations, scheduling and losses; invariants after every step. */
static void random_run(unsigned seed, int n, int ops, bool qdevice)
{
	struct sim s;
	static const char *const vms[] = {"kv1", "kv2", "kv3"};

	printf("cluster_sim: random run, %d hosts%s, seed %u (CLSIM_SEED=%u CLSIM_HOSTS=%d%s to "
	       "replay)\n",
	       n, qdevice ? " and a qdevice" : "", seed, seed, n,
	       qdevice ? " CLSIM_QDEVICE=1" : "");
	sim_init_votes(&s, n, seed, true, qdevice);
	for (int op = 0; op < ops; op++) {
		unsigned r = sim_rand(&s);
		uint32_t node = 1 + sim_rand(&s) % (unsigned)n;
		const char *vm = vms[sim_rand(&s) % 3];
		int parts[SIM_MAX];

		switch (r % 10) {
		case 0:
		case 1:
			if (sim_node(&s, node)->up)
				sim_vm_start(&s, node, vm, true);
			break;
		case 2:
			if (sim_node(&s, node)->up && sim_vmm(sim_node(&s, node), vm))
				sim_vmm_exit(sim_node(&s, node), sim_vmm(sim_node(&s, node), vm),
					     9);
			break;
		case 3:
			for (int i = 0; i < n; i++)
				parts[i] = (int)(sim_rand(&s) % 3);
			sim_partition(&s, parts);
			break;
		case 4:
			sim_heal(&s);
			break;
		case 5:
			if (sim_node(&s, node)->up && r & 16)
				sim_crash_clusterd(&s, node);
			else if (sim_node(&s, node)->up)
				sim_kill_host(&s, node);
			else if (sim_node(&s, node)->cs_only && r & 32)
				sim_restart_clusterd(&s, node);
			else
				sim_restart_host(&s, node, sim_node(&s, node)->part);
			break;
		case 6:
			if (sim_node(&s, node)->up && r & 32) {
				/* forget a host (refused unless it left and has no role) */
				struct cl_request q = {.cmd = CL_CMD_HOST_FORGET};

				snprintf(q.host_name, sizeof(q.host_name), "h%u",
					 1 + sim_rand(&s) % (unsigned)n);
				sim_request(&s, node, &q);
			} else if (sim_node(&s, node)->up) {
				sim_simple(&s, node, r & 16 ? CL_CMD_PROTECT : CL_CMD_UNPROTECT,
					   vm);
			}
			break;
		case 7:
			if (sim_node(&s, node)->up)
				sim_simple(&s, node,
					   r & 16   ? CL_CMD_DRILL
					   : r & 32 ? CL_CMD_VM_FORGET
						    : CL_CMD_VM_STOP,
					   vm);
			break;
		case 8:
			/* A primary that hears its backup no more (a link broken between them). */
			if (sim_node(&s, node)->up && sim_vmm(sim_node(&s, node), vm) &&
			    sim_vmm(sim_node(&s, node), vm)->role == CL_ROLE_PRIMARY)
				sim_local(sim_node(&s, node), CL_EV_VMM_STALLED, vm,
					  CL_ROLE_PRIMARY);
			break;
		default:
			sim_tick_all(&s, 700);
			break;
		}
		for (int k = (int)(sim_rand(&s) % 40); k > 0 && sim_step(&s); k--)
			;
	}
	/* Everyone back, together: one state, at most one active copy of each VM. */
	for (int i = 0; i < n; i++)
		if (!s.nodes[i].up)
			sim_restart_host(&s, (uint32_t)i + 1, 0);
	sim_heal(&s);
	sim_settle(&s);
	sim_check_converged(&s, 0);
	for (int i = 0; i < 3; i++) {
		const struct cl_vm *v = sim_vm(&s, 1, vms[i]);
		uint32_t where = 0;
		int active = sim_active(&s, vms[i], &where);

		if (!v || v->state == CL_VM_STOPPED) {
			ck_assert_int_eq(active, 0);
			continue;
		}
		if (v->state != CL_VM_PROTECTED || v->awaiting_operator)
			continue;
		ck_assert_msg(active == 1 && where == v->primary,
			      "%s protected on %u but %d active (on %u), seed %u", vms[i],
			      v->primary, active, where, seed);
	}
	sim_fini(&s);
}

/*
 * 36 runs from CLSIM_BASE (default: a fixed base, so make check is repeatable;
 * CLSIM_BASE=time explores new seeds): 3 and 5 hosts, 2 and 4 hosts with a qdevice;
 * CLSIM_SEED=S CLSIM_HOSTS=N [CLSIM_QDEVICE=1] replays one run; CLSIM_OPS: operations per
 * run (300).
 */
START_TEST(test_random_runs)
{
	const char *env = getenv("CLSIM_SEED"), *hosts = getenv("CLSIM_HOSTS");
	const char *runs = getenv("CLSIM_BASE"), *ops_env = getenv("CLSIM_OPS");
	unsigned base = 20261126;
	int ops = ops_env ? atoi(ops_env) : 300;

	if (env) {
		random_run((unsigned)strtoul(env, NULL, 0), hosts ? atoi(hosts) : 3, ops,
			   getenv("CLSIM_QDEVICE") != NULL);
		return;
	}
	if (runs)
		base =
		    !strcmp(runs, "time") ? (unsigned)time(NULL) : (unsigned)strtoul(runs, NULL, 0);
	printf("cluster_sim: random runs from CLSIM_BASE=%u\n", base);
	for (int i = 0; i < 12; i++) {
		random_run(base + (unsigned)i, 3, ops, false);
		random_run(base + 1000u + (unsigned)i, 5, ops, false);
		random_run(base + 2000u + (unsigned)i, i & 1 ? 4 : 2, ops, true);
	}
}
END_TEST

Suite *cluster_sim_suite(void)
{
	Suite *s = suite_create("cluster_sim");
	TCase *tc = tcase_create("sim");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_start_protect_converge);
	tcase_add_test(tc, test_vmm_death_fails_over);
	tcase_add_test(tc, test_drill);
	tcase_add_test(tc, test_host_death_fails_over);
	tcase_add_test(tc, test_clusterd_crash_and_restart);
	tcase_add_test(tc, test_backup_death_degrades_and_reprotects);
	tcase_add_test(tc, test_partition_primary_in_minority);
	tcase_add_test(tc, test_partition_backup_in_minority);
	tcase_add_test(tc, test_partition_three_ways);
	tcase_add_test(tc, test_two_hosts_refuse_then_force);
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_vm_start_reuses_a_stopped_slot);
	tcase_add_test(tc, test_forced_failover_without_quorum);
	tcase_add_test(tc, test_forced_minority_loses_the_merge);
	tcase_add_test(tc, test_two_hosts_qdevice_fail_over);
	tcase_add_test(tc, test_two_hosts_qdevice_split);
	tcase_add_test(tc, test_opposite_directions);
	tcase_add_test(tc, test_sync_failure_retried);
	tcase_add_test(tc, test_requests);
	tcase_add_test(tc, test_late_quorum_callback);
	tcase_add_test(tc, test_restart_keeps_history);
	tcase_add_test(tc, test_random_runs);
	suite_add_tcase(s, tc);
	return s;
}
