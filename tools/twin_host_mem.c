/* The twin CLI's host memory output: a retired frame's move, and the table of retired frames. */
#include <inttypes.h>
#include <time.h>
#include "twin_host_mem.h"

static uint64_t num(json_t *o, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(o, key));
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

static void print_since(uint64_t since, char *buf, size_t len)
{
	time_t t = (time_t)since;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%" PRIu64, since);
}

static void print_status(const struct twin_args *a, json_t *ret, FILE *out, FILE *err)
{
	json_t *list = json_object_get(ret, "offline"), *e;
	char since[32];
	size_t i, loose = 0, kept = 0;

	json_array_foreach(json_object_get(ret, "errors"), i, e)
	    fprintf(err, "twin: warning: VM %s (%s) did not answer: %s\n", str(e, "vm"),
		    str(e, "role"), str(e, "error"));
	if (!json_array_size(list)) {
		if (a->pfn_set)
			fprintf(out, "PFN 0x%" PRIx64 " is not offline on this host\n", a->pfn);
		else
			fprintf(out, "no frames retired on this host\n");
		return;
	}
	fprintf(out, "%-16s %-8s %-12s %-12s %-12s %-5s %s\n", "VM", "ROLE", "GPA", "OLD-PFN",
		"NEW-PFN", "HELD", "SINCE (UTC)");
	json_array_foreach(list, i, e)
	{
		bool held = json_is_true(json_object_get(e, "held"));

		loose += !held;
		print_since(num(e, "since"), since, sizeof(since));
		const char *state = json_string_value(json_object_get(e, "state"));

		kept += state != NULL;
		fprintf(out,
			"%-16s %-8s 0x%-10" PRIx64 " 0x%-10" PRIx64 " 0x%-10" PRIx64
			" %-5s %s%s%s\n",
			str(e, "vm"), str(e, "role"), num(e, "gpa"), num(e, "old_pfn"),
			num(e, "new_pfn"), held ? "yes" : "NO", since, state ? "  " : "",
			state ? state : "");
	}
	fprintf(out, "%zu frame%s quarantined\n", json_array_size(list),
		json_array_size(list) == 1 ? "" : "s");
	if (kept)
		fprintf(out,
			"%zu of them held by clusterd alone, their VM's twin-vmm gone: twin host "
			"mem-online OLD-PFN gives one back to the kernel\n",
			kept);
	if (loose)
		fprintf(out,
			"%zu of them NOT held: the kernel moved the frame or twin-vmm could not "
			"pin it (its log says which); take OLD-PFN out on the host "
			"(soft_offline_page, memmap=)\n",
			loose);
}

void twin_host_mem__print(const struct twin_args *a, json_t *ret, FILE *out, FILE *err)
{
	switch (a->command) {
	case TWIN_CMD_HOST_MEM_OFFLINE:
		fprintf(out,
			"PFN 0x%" PRIx64 " retired: GPA 0x%" PRIx64 " of VM %s (%s) moved to PFN "
			"0x%" PRIx64 " (the VM paused %" PRIu64 " us)\n",
			num(ret, "old_pfn"), num(ret, "gpa"), str(ret, "vm"), str(ret, "role"),
			num(ret, "new_pfn"), num(ret, "pause_ns") / 1000);
		break;
	case TWIN_CMD_HOST_MEM_ONLINE:
		if (json_is_true(json_object_get(ret, "released")))
			fprintf(out,
				"PFN 0x%" PRIx64 " (was GPA 0x%" PRIx64 " of VM %s, whose twin-vmm "
				"exited) released: clusterd no longer holds it, the kernel may "
				"reuse it\n",
				num(ret, "pfn"), num(ret, "gpa"), str(ret, "vm"));
		else
			fprintf(out,
				"GPA 0x%" PRIx64 " of VM %s (%s) is back on PFN 0x%" PRIx64 "\n",
				num(ret, "gpa"), str(ret, "vm"), str(ret, "role"), num(ret, "pfn"));
		break;
	default:
		print_status(a, ret, out, err);
		break;
	}
}
