/* Unit tests for CPU offlining: CPU lists, pinning, twin-vmm's set-cpus/query-cpus and --cpus,
 * and clusterd's host_cpus over a fake sysfs tree. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "control.h"
#include "cpu_list.h"
#include "cpu_pin.h"
#include "host_cpus.h"
#include "suites.h"
#include "vm_cpus.h"
#include "vmm_args.h"

static char list[CPU_LIST_MAX];

static const char *fmt(const cpu_set_t *set)
{
	ck_assert_int_eq(cpu_list__format(set, list, sizeof(list)), 0);
	return list;
}

/* ---- CPU lists ---- */

static const struct good_list {
	const char *in, *out;
} good_lists[] = {
    {"", ""},	      {"\n", ""},	    {"0", "0"},	  {"0-1\n", "0-1"},
    {"3,1", "1,3"},   {"0-2,2-4", "0-4"},   {"5-5", "5"}, {"0,2-3,7", "0,2-3,7"},
    {"1023", "1023"}, {"0-1023", "0-1023"},
};

START_TEST(test_list_good)
{
	cpu_set_t set;

	ck_assert_int_eq(cpu_list__parse(good_lists[_i].in, &set), 0);
	ck_assert_str_eq(fmt(&set), good_lists[_i].out);
}
END_TEST

static const char *const bad_lists[] = {
    ",",
    "1,",
    ",1",
    "1,,2",
    "a",
    "1-",
    "-1",
    "3-1",
    "1024",
    "0-1024",
    " 1",
    "1 ",
    "1\n\n",
    "0x1",
    "+1",
    "1-2-3",
    "99999999999999999999",
};

START_TEST(test_list_bad)
{
	cpu_set_t set;

	if (cpu_list__parse(bad_lists[_i], &set) != -EINVAL)
		ck_abort_msg("'%s' was accepted", bad_lists[_i]);
}
END_TEST

START_TEST(test_list_format_room)
{
	cpu_set_t set;
	char small[4];

	CPU_ZERO(&set);
	for (int c = 0; c < CPU_SETSIZE; c += 2)
		CPU_SET(c, &set);
	/* every other CPU: the longest list there is, and it fits */
	ck_assert_int_eq(cpu_list__format(&set, list, sizeof(list)), 0);
	ck_assert(!strncmp(list, "0,2,4,", 6));
	ck_assert(strstr(list, ",1022") && strlen(list) < CPU_LIST_MAX);
	ck_assert_int_eq(cpu_list__parse("0-1,3", &set), 0);
	ck_assert_int_eq(cpu_list__format(&set, small, sizeof(small)), -ENOSPC);
	ck_assert_str_eq(small, "");
}
END_TEST

/* ---- pinning, as twin-vmm does it ---- */

static void *named_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "vcpu3");
	/* until the test is done with it */
	pthread_mutex_lock(arg);
	pthread_mutex_unlock(arg);
	return NULL;
}

START_TEST(test_pin_and_query)
{
	pthread_mutex_t hold = PTHREAD_MUTEX_INITIALIZER;
	cpu_set_t mine, none, got;
	json_t *q, *v;
	char err[256];
	pthread_t t;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(mine), &mine), 0);
	pthread_mutex_lock(&hold);
	ck_assert_int_eq(pthread_create(&t, NULL, named_thread, &hold), 0);
	/* The thread's name is set by itself: wait until query-cpus sees it. */
	for (int i = 0; i < 2000; i++) {
		q = vm_cpus__query();
		ck_assert_ptr_nonnull(q);
		if (json_array_size(json_object_get(q, "vcpus")))
			break;
		json_decref(q);
		q = NULL;
		usleep(1000);
	}
	ck_assert_ptr_nonnull(q);
	ck_assert_str_eq(json_string_value(json_object_get(q, "allowed")), fmt(&mine));
	v = json_array_get(json_object_get(q, "vcpus"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(v, "vcpu")), 3);
	ck_assert_int_gt(json_integer_value(json_object_get(v, "tid")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(v, "cpus")), fmt(&mine));
	json_decref(q);
	/* Pinning to the set we have changes nothing and succeeds, for every thread. */
	ck_assert_int_eq(vm_cpus__pin(&mine, err, sizeof(err)), 0);
	ck_assert_int_eq(pthread_getaffinity_np(t, sizeof(got), &got), 0);
	ck_assert(CPU_EQUAL(&got, &mine));
	/* No online CPU in the set: refused by the kernel, said so. */
	CPU_ZERO(&none);
	CPU_SET(CPU_SETSIZE - 1, &none);
	ck_assert_int_eq(vm_cpus__pin(&none, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "no CPU of '1023' is online on this host: see its sysfs online");
	ck_assert_int_eq(cpu_pin__process(0x3fffffff, &mine), -ESRCH);
	pthread_mutex_unlock(&hold);
	pthread_join(t, NULL);
}
END_TEST

/* ---- twin-vmm's control commands and --cpus ---- */

static cpu_set_t set_to;
static int set_calls;

static int fake_set_cpus(void *opaque, const cpu_set_t *cpus, char *err, size_t errlen)
{
	set_calls++;
	set_to = *cpus;
	if (CPU_ISSET(7, cpus)) {
		snprintf(err, errlen, "no CPU of '7' is online on this host");
		return -EINVAL;
	}
	return 0;
}

static json_t *fake_query_cpus(void *opaque)
{
	return json_pack("{s:s, s:[]}", "allowed", fmt(&set_to), "vcpus");
}

static bool fake_backup(void *opaque)
{
	return true; /* set-cpus and query-cpus are served on a backup too */
}

static char *handle(const char *line)
{
	static const struct control_ops ops = {
	    .backup = fake_backup,
	    .set_cpus = fake_set_cpus,
	    .query_cpus = fake_query_cpus,
	};

	return control__handle_line(&ops, line, strlen(line));
}

START_TEST(test_control)
{
	char *r;

	set_calls = 0;
	r = handle("{\"execute\":\"set-cpus\",\"arguments\":{\"cpus\":\"0,2-3\"}}");
	ck_assert_str_eq(r, "{\"return\":{\"allowed\":\"0,2-3\",\"vcpus\":[]}}");
	free(r);
	ck_assert_int_eq(set_calls, 1);
	r = handle("{\"execute\":\"query-cpus\"}");
	ck_assert_str_eq(r, "{\"return\":{\"allowed\":\"0,2-3\",\"vcpus\":[]}}");
	free(r);
	r = handle("{\"execute\":\"set-cpus\",\"arguments\":{\"cpus\":\"7\"}}");
	ck_assert_str_eq(r, "{\"error\":{\"class\":\"GenericError\",\"desc\":\"no CPU of '7' is "
			    "online on this host\"}}");
	free(r);
	for (const char *const *bad =
		 (const char *const[]){
		     "{\"execute\":\"set-cpus\"}", "{\"execute\":\"set-cpus\",\"arguments\":{}}",
		     "{\"execute\":\"set-cpus\",\"arguments\":{\"cpus\":\"\"}}",
		     "{\"execute\":\"set-cpus\",\"arguments\":{\"cpus\":\"1-0\"}}",
		     "{\"execute\":\"set-cpus\",\"arguments\":{\"cpus\":3}}", NULL};
	     *bad; bad++) {
		r = handle(*bad);
		if (!strstr(r, "InvalidParameter") || !strstr(r, "a list of host CPUs"))
			ck_abort_msg("%s -> %s", *bad, r);
		free(r);
	}
	r = handle("{\"execute\":\"set-cpus\",\"arguments\":{\"cpus\":\"1\",\"x\":1}}");
	ck_assert(strstr(r, "unknown argument \\\"x\\\""));
	free(r);
	r = handle("{\"execute\":\"query-cpus\",\"arguments\":{\"cpus\":\"1\"}}");
	ck_assert(strstr(r, "query-cpus takes no arguments"));
	free(r);
	ck_assert_int_eq(set_calls, 2);
}
END_TEST

START_TEST(test_vmm_args_cpus)
{
	struct vmm_args a;
	char err[256];
	char *ok[] = {"twin-vmm", "run", "--kernel", "k", "--cpus", "0,2-3"};
	char *backup[] = {"twin-vmm",	     "backup",	   "--listen",
			  "198.18.1.2:7400", "--insecure", "--cpus=1"};
	char *none[] = {"twin-vmm", "run", "--kernel", "k"};
	char *bad[] = {"twin-vmm", "run", "--kernel", "k", "--cpus", "2-1"};
	char *empty[] = {"twin-vmm", "run", "--kernel", "k", "--cpus="};
	char *wrong[] = {"twin-vmm", "save", "--control", "/tmp/s", "f", "--cpus", "1"};

	ck_assert_int_eq(vmm_args__parse(6, ok, &a, err, sizeof(err)), 0);
	ck_assert(a.cpus_set);
	ck_assert_str_eq(fmt(&a.cpus), "0,2-3");
	ck_assert_int_eq(vmm_args__parse(6, backup, &a, err, sizeof(err)), 0);
	ck_assert_str_eq(fmt(&a.cpus), "1");
	ck_assert_int_eq(vmm_args__parse(4, none, &a, err, sizeof(err)), 0);
	ck_assert(!a.cpus_set);
	ck_assert_int_eq(vmm_args__parse(6, bad, &a, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "--cpus '2-1' is not a list of host CPUs: use numbers and ranges "
			      "below 1024, e.g. 0,2-3");
	ck_assert_int_eq(vmm_args__parse(5, empty, &a, err, sizeof(err)), -EINVAL);
	ck_assert(strstr(err, "--cpus '' is not a list of host CPUs"));
	ck_assert_int_eq(vmm_args__parse(7, wrong, &a, err, sizeof(err)), -EINVAL);
	ck_assert(strstr(err, "--cpus"));
}
END_TEST

/* ---- clusterd's host_cpus over a fake sysfs tree ---- */

static char root[64], state[96];

static void put(const char *name, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static const char *get(const char *name)
{
	static char text[256];
	char path[160];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	return text;
}

/* 4 CPUs: cpu0 without an online file (as x86 has it), cpu3 offline in the kernel. */
static void make_tree(void)
{
	char dir[96];

	snprintf(root, sizeof(root), "/tmp/test-host-cpus-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	for (int c = 0; c < 4; c++) {
		snprintf(dir, sizeof(dir), "%s/cpu%d", root, c);
		ck_assert_int_eq(mkdir(dir, 0755), 0);
	}
	put("present", "0-3\n");
	put("online", "0-2\n");
	put("cpu1/online", "1\n");
	put("cpu2/online", "1\n");
	put("cpu3/online", "0\n");
	snprintf(state, sizeof(state), "%s/cpus.json", root);
}

static void remove_tree(void)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	ck_assert_int_eq(system(cmd), 0);
}

static struct host_cpus *open_cpus(char *err, size_t errlen)
{
	struct host_cpus *h;

	ck_assert_int_eq(host_cpus__new(root, state, &h, err, errlen), 0);
	return h;
}

static const char *allowed(const struct host_cpus *h)
{
	cpu_set_t set;

	host_cpus__allowed(h, &set);
	return fmt(&set);
}

START_TEST(test_host_offline_online)
{
	struct host_cpus *h;
	char err[512];

	make_tree();
	h = open_cpus(err, sizeof(err));
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(allowed(h), "0-2");
	ck_assert_uint_eq(host_cpus__offline_count(h), 0);

	ck_assert_int_eq(host_cpus__offline(h, 5, false, err, sizeof(err)), -ENODEV);
	ck_assert_str_eq(err, "cpu-offline 5: this host has no CPU 5 (present: 0-3): twin host "
			      "cpus lists them");
	ck_assert_int_eq(host_cpus__online(h, 1023, err, sizeof(err)), -ENODEV);
	ck_assert(strstr(err, "cpu-online 1023: this host has no CPU 1023"));

	ck_assert_int_eq(host_cpus__offline(h, 1, false, err, sizeof(err)), 0);
	ck_assert_str_eq(allowed(h), "0,2");
	ck_assert_uint_eq(host_cpus__offline_count(h), 1);
	ck_assert_str_eq(get("cpu1/online"), "1\n"); /* no --hotplug: the kernel keeps it */
	ck_assert_str_eq(get("cpus.json"), "{\"offline\":\"1\",\"hotplugged\":\"\"}");
	ck_assert_int_eq(host_cpus__offline(h, 1, true, err, sizeof(err)), -EALREADY);
	ck_assert_str_eq(err, "cpu-offline 1: CPU 1 is offline for Twin already: twin host "
			      "cpu-online 1 brings it back");

	/* --hotplug: offline in sysfs too */
	ck_assert_int_eq(host_cpus__offline(h, 2, true, err, sizeof(err)), 0);
	ck_assert_str_eq(get("cpu2/online"), "0");
	ck_assert_str_eq(allowed(h), "0");
	ck_assert_str_eq(get("cpus.json"), "{\"offline\":\"1-2\",\"hotplugged\":\"2\"}");

	/* the last CPU Twin may use */
	ck_assert_int_eq(host_cpus__offline(h, 0, false, err, sizeof(err)), -EBUSY);
	ck_assert_str_eq(err,
			 "cpu-offline 0: CPU 0 is the last CPU Twin may use (allowed: 0): its "
			 "VMs would have nowhere to run; bring another online first (twin host "
			 "cpu-online N)");
	ck_assert_int_eq(host_cpus__offline(h, 0, true, err, sizeof(err)), -EBUSY);
	ck_assert_str_eq(allowed(h), "0");

	/* offline in the kernel already: Twin-offline, never written, never brought back */
	ck_assert_int_eq(host_cpus__offline(h, 3, true, err, sizeof(err)), 0);
	ck_assert_str_eq(get("cpu3/online"), "0\n");
	ck_assert_uint_eq(host_cpus__offline_count(h), 3);
	ck_assert_int_eq(host_cpus__online(h, 3, err, sizeof(err)), 0);
	ck_assert_str_eq(get("cpu3/online"), "0\n");

	/* cpu-online of a hotplugged CPU: online in sysfs again */
	ck_assert_int_eq(host_cpus__online(h, 2, err, sizeof(err)), 0);
	ck_assert_str_eq(get("cpu2/online"), "1");
	ck_assert_str_eq(allowed(h), "0,2");
	ck_assert_int_eq(host_cpus__online(h, 2, err, sizeof(err)), -EALREADY);
	ck_assert_str_eq(err, "cpu-online 2: CPU 2 is not offline for Twin: nothing to do (twin "
			      "host cpus shows each CPU)");

	/* cpu0 has no online file: the kernel cannot hotplug it */
	ck_assert_int_eq(host_cpus__offline(h, 0, true, err, sizeof(err)), -EOPNOTSUPP);
	ck_assert(
	    strstr(err, "cpu-offline 0 --hotplug: the kernel cannot take CPU 0 offline (no "));
	ck_assert(strstr(err, "/cpu0/online): offline it for Twin only, without --hotplug"));
	ck_assert_uint_eq(host_cpus__offline_count(h), 1);
	host_cpus__free(h);
	remove_tree();
}
END_TEST

START_TEST(test_host_hotplug_refused)
{
	struct host_cpus *h;
	char err[512], path[160];

	make_tree();
	h = open_cpus(err, sizeof(err));
	ck_assert_int_eq(host_cpus__offline(h, 1, true, err, sizeof(err)), 0);
	/* The kernel refuses to bring it back: nothing changes, the error says what. */
	snprintf(path, sizeof(path), "%s/cpu1/online", root);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(symlink("/dev/full", path), 0);
	ck_assert_int_eq(host_cpus__online(h, 1, err, sizeof(err)), -ENOSPC);
	ck_assert(strstr(err, "cannot write 1 to "));
	ck_assert(strstr(err, "the kernel refused the hotplug (see its log); nothing changed"));
	ck_assert_uint_eq(host_cpus__offline_count(h), 1);
	host_cpus__free(h);
	remove_tree();
}
END_TEST

START_TEST(test_host_restore)
{
	struct host_cpus *h;
	char err[512];
	json_t *j, *c;

	make_tree();
	h = open_cpus(err, sizeof(err));
	ck_assert_int_eq(host_cpus__offline(h, 2, true, err, sizeof(err)), 0);
	host_cpus__free(h);
	/* clusterd restarts: the set is back, sysfs untouched */
	h = open_cpus(err, sizeof(err));
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(allowed(h), "0-1");
	ck_assert_uint_eq(host_cpus__offline_count(h), 1);
	j = host_cpus__json(h);
	ck_assert_str_eq(json_string_value(json_object_get(j, "present")), "0-3");
	ck_assert_str_eq(json_string_value(json_object_get(j, "online")), "0-1");
	ck_assert_str_eq(json_string_value(json_object_get(j, "offline")), "2");
	ck_assert_str_eq(json_string_value(json_object_get(j, "hotplugged")), "2");
	ck_assert_str_eq(json_string_value(json_object_get(j, "allowed")), "0-1");
	ck_assert_uint_eq(json_array_size(json_object_get(j, "cpus")), 4);
	c = json_array_get(json_object_get(j, "cpus"), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "cpu")), 2);
	ck_assert(json_is_false(json_object_get(c, "online")));
	ck_assert(json_is_true(json_object_get(c, "twin_offline")));
	ck_assert(json_is_true(json_object_get(c, "hotplugged")));
	ck_assert(json_is_true(json_object_get(c, "hotpluggable")));
	c = json_array_get(json_object_get(j, "cpus"), 0);
	ck_assert(json_is_true(json_object_get(c, "online")));
	ck_assert(json_is_false(json_object_get(c, "hotpluggable")));
	json_decref(j);
	host_cpus__free(h);

	/* a corrupt state: said, and every CPU starts online for Twin */
	put("cpus.json", "{\"offline\":\"1-\"}");
	h = open_cpus(err, sizeof(err));
	ck_assert(strstr(err, "cpus.json is not {\"offline\": LIST, \"hotplugged\": LIST}: remove "
			      "it or fix it"));
	ck_assert_uint_eq(host_cpus__offline_count(h), 0);
	host_cpus__free(h);
	/* a state that leaves no CPU (the kernel has fewer online now): not restored */
	put("cpus.json", "{\"offline\":\"0-2\",\"hotplugged\":\"\"}");
	h = open_cpus(err, sizeof(err));
	ck_assert(strstr(err, "has every online CPU offline for Twin (0-2): not restoring it"));
	ck_assert_str_eq(allowed(h), "0-1"); /* cpu2 is still hotplugged offline */
	host_cpus__free(h);
	/* CPUs no longer present are dropped */
	put("cpus.json", "{\"offline\":\"1,9\",\"hotplugged\":\"9\"}");
	h = open_cpus(err, sizeof(err));
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(host_cpus__offline_count(h), 1);
	host_cpus__free(h);
	remove_tree();
}
END_TEST

/* Started on fewer CPUs: Twin stays within them, and the last of them is refused. */
START_TEST(test_host_bound)
{
	struct host_cpus *h;
	cpu_set_t bound;
	char err[512];

	make_tree();
	h = open_cpus(err, sizeof(err));
	ck_assert_int_eq(cpu_list__parse("1-3", &bound), 0);
	ck_assert_int_eq(host_cpus__bound(h, &bound), 0);
	ck_assert_str_eq(allowed(h), "1-2"); /* cpu3 is offline in the kernel */
	ck_assert_int_eq(host_cpus__offline(h, 1, false, err, sizeof(err)), 0);
	ck_assert_int_eq(host_cpus__offline(h, 2, false, err, sizeof(err)), -EBUSY);
	ck_assert(strstr(err, "CPU 2 is the last CPU Twin may use (allowed: 2)"));
	/* a bound that leaves nothing is not taken */
	ck_assert_int_eq(cpu_list__parse("1,3", &bound), 0);
	ck_assert_int_eq(host_cpus__bound(h, &bound), -EINVAL);
	ck_assert_str_eq(allowed(h), "2");
	host_cpus__free(h);
	remove_tree();
}
END_TEST

START_TEST(test_host_no_sysfs)
{
	struct host_cpus *h = (void *)1;
	char err[512];

	ck_assert_int_eq(
	    host_cpus__new("/nonexistent", "/nonexistent/cpus.json", &h, err, sizeof(err)),
	    -ENOENT);
	ck_assert_ptr_null(h);
	ck_assert_str_eq(err, "cannot read the CPU list /nonexistent/present: No such file or "
			      "directory: set [host] cpu_sysfs to the kernel's CPU directory, "
			      "/sys/devices/system/cpu");
}
END_TEST

Suite *host_cpus_suite(void)
{
	Suite *s = suite_create("host_cpus");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_list_good, 0, sizeof(good_lists) / sizeof(good_lists[0]));
	tcase_add_loop_test(tc, test_list_bad, 0, sizeof(bad_lists) / sizeof(bad_lists[0]));
	tcase_add_test(tc, test_list_format_room);
	tcase_add_test(tc, test_pin_and_query);
	tcase_add_test(tc, test_control);
	tcase_add_test(tc, test_vmm_args_cpus);
	tcase_add_test(tc, test_host_offline_online);
	tcase_add_test(tc, test_host_hotplug_refused);
	tcase_add_test(tc, test_host_restore);
	tcase_add_test(tc, test_host_bound);
	tcase_add_test(tc, test_host_no_sysfs);
	suite_add_tcase(s, tc);
	return s;
}
