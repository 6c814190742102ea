/* Fuzz target for control__handle_line: every request line gets one JSON reply line, QMP-shaped. */
/*
 * With libFuzzer (clang), from the top of the source tree after ./configure in build/:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ibuild -Itools -Itests/unit \
 *     tests/fuzz/fuzz_control.c tools/control.c -ljansson -o fuzz-control
 *   mkdir -p /tmp/control-corpus && cp -r tests/fuzz/corpus/control/. /tmp/control-corpus/
 *   ./fuzz-control -max_total_time=60 -max_len=4160 /tmp/control-corpus
 * make check runs the same checks without libFuzzer through fuzz-target-driver.c.
 * The fake VM persists across inputs, so stop and cont meet both states.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "control.h"
#include "control_fixture.h"
#include "fuzz_target.h"

#define CLS_OK	0
#define CLS_ERR 1

/* The error classes the README's "Control socket" section lists. */
static const char *const error_classes[] = {"GenericError", "CommandNotFound", "InvalidParameter",
					    "NotOwner"};

/* {"error": {"class": C, "desc": D}} with C a listed class and D a non-empty string. */
static const char *check_error(json_t *err)
{
	json_t *c = json_object_get(err, "class"), *d = json_object_get(err, "desc");

	if (!json_is_object(err) || json_object_size(err) != 2 || !json_is_string(c) ||
	    !json_is_string(d) || !json_string_length(d))
		return "error is not {\"class\": C, \"desc\": D}";
	for (size_t i = 0; i < sizeof(error_classes) / sizeof(error_classes[0]); i++)
		if (!strcmp(json_string_value(c), error_classes[i]))
			return NULL;
	return "error class the README does not list";
}

/* Whether the request asked for cmd and got a return. */
static int did(const char *cmd, int cls, const char *name)
{
	return cmd && cls == CLS_OK && !strcmp(cmd, name);
}

/* The VM may change only as the request's command (NULL if none ran) asks. */
static const char *check_vm(const struct fake_vm *before, const char *cmd, int cls)
{
	int stopped = did(cmd, cls, "stop") && before->running;
	int resumed = did(cmd, cls, "cont") && !before->running;
	int saved = did(cmd, cls, "save"), migrated = did(cmd, cls, "migrate");
	int cancelled = did(cmd, cls, "migrate-cancel"), failed_over = did(cmd, cls, "failover");
	int fenced = did(cmd, cls, "fence"), unfenced = did(cmd, cls, "unfence") && before->fenced;

	if (fake.stops != before->stops + stopped || fake.conts != before->conts + resumed ||
	    fake.quits != before->quits + did(cmd, cls, "quit") ||
	    fake.saves != before->saves + saved || fake.migrates != before->migrates + migrated ||
	    fake.cancels != before->cancels + cancelled ||
	    fake.protects != before->protects + did(cmd, cls, "protect") ||
	    fake.unprotects != before->unprotects + did(cmd, cls, "unprotect") ||
	    fake.sets != before->sets + did(cmd, cls, "set-replication") ||
	    fake.failovers != before->failovers + failed_over ||
	    fake.fences != before->fences + fenced ||
	    fake.unfences != before->unfences + did(cmd, cls, "unfence") ||
	    fake.degrades != before->degrades + did(cmd, cls, "degrade"))
		return "an op called other than as the request asks";
	if (fake.running != (stopped || saved || fenced		  ? false
			     : resumed || failed_over || unfenced ? true
								  : before->running))
		return "the VM's state changed other than through stop, cont, save, failover or "
		       "fence";
	/* A backup serves only its four commands: anything else is refused unheard. */
	if (before->backup && cls == CLS_OK && strcmp(cmd, "query-status") &&
	    strcmp(cmd, "query-replication") && strcmp(cmd, "failover") && strcmp(cmd, "quit") &&
	    strcmp(cmd, "mem-offline") && strcmp(cmd, "mem-online") && strcmp(cmd, "query-mem") &&
	    strcmp(cmd, "set-cpus") && strcmp(cmd, "query-cpus"))
		return "a backup served a command it does not serve";
	if (fake.busy != (migrated ? true : cancelled ? false : before->busy))
		return "a migration started or ended other than through migrate or migrate-cancel";
	return NULL;
}

static const char *check_reply(const char *out, json_t *req, const struct fake_vm *before, int *cls)
{
	json_t *r, *ret, *err, *id, *exec;
	const char *why = NULL, *cmd = NULL;
	json_error_t jerr;

	if (strchr(out, '\n') || strchr(out, '\r'))
		return "reply is more than one line";
	r = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
	if (!r)
		return "reply is not valid JSON";
	ret = json_object_get(r, "return");
	err = json_object_get(r, "error");
	id = json_object_get(r, "id");
	if (!json_is_object(r) || !ret == !err || json_object_size(r) != 1u + !!id) {
		why = "reply is not {\"return\": ...} or {\"error\": ...}, with an optional id";
		goto out;
	}
	*cls = ret ? CLS_OK : CLS_ERR;
	if (ret && !json_is_object(ret))
		why = "return is not an object";
	else if (err)
		why = check_error(err);
	if (why)
		goto out;
	/* The request as the parser saw it: an object's id is echoed, else there is none. */
	if (json_is_object(req) && json_object_get(req, "id")) {
		if (!id || !json_equal(id, json_object_get(req, "id")))
			why = "the request's id is not echoed unchanged";
	} else if (id) {
		why = "reply has an id the request did not give";
	}
	if (why)
		goto out;
	exec = json_is_object(req) ? json_object_get(req, "execute") : NULL;
	if (json_is_string(exec))
		cmd = json_string_value(exec);
	if (ret && !cmd) {
		why = "a request without a command string got a return";
		goto out;
	}
	if (ret && !strcmp(cmd, "query-status")) {
		json_t *want = json_pack("{s:s, s:b}", "status",
					 before->backup	   ? "backup"
					 : before->fenced  ? "fenced"
					 : before->running ? "running"
							   : "paused",
					 "running", before->running);

		if (!json_equal(ret, want))
			why = "query-status does not report the VM's state";
		json_decref(want);
	}
	if (ret && !strcmp(cmd, "query-migrate")) {
		json_t *want = control__migrate_status_json(&fake.status);

		if (!json_equal(ret, want))
			why = "query-migrate does not report the migration's status";
		json_decref(want);
	}
	if (ret && !strcmp(cmd, "query-replication")) {
		json_t *want = control__replication_status_json(&fake.repl_status);

		if (!json_equal(ret, want))
			why = "query-replication does not report the replication's status";
		json_decref(want);
	}
	if (!why)
		why = check_vm(before, cmd, *cls);
out:
	json_decref(r);
	return why;
}

/*
 * Inputs that hold the string "backup" (quotes included; the seeds use it as their id)
 * meet a backup whose VM does not run, the others a VM: both sides of the backup's
 * command filter are reached.
 */
static const char *check(const uint8_t *data, size_t size, int *cls)
{
	char *line = malloc(size ? size : 1); /* exact size, so that ASan sees over-reads */
	struct fake_vm before = fake;
	json_t *req = NULL;
	json_error_t jerr;
	const char *why;
	char *out;

	if (!line)
		return "out of memory";
	memcpy(line, data, size);
	fake.backup = memmem(data, size, "\"backup\"", 8) != NULL;
	if (fake.backup)
		fake.running = false;
	before = fake;
	out = control__handle_line(&ops, line, size);
	if (size <= CONTROL_LINE_MAX)
		req = json_loadb(line, size, JSON_REJECT_DUPLICATES, &jerr);
	why = out ? check_reply(out, req, &before, cls) : "no reply (out of memory)";
	json_decref(req);
	free(out);
	free(line);
	return why;
}

static const char *const classes[] = {"ok-", "err-"};

const struct fuzz_target fuzz_target = {
    .name = "control",
    .classes = classes,
    .nclasses = 2,
    .check = check,
    .max_input = CONTROL_LINE_MAX + 64,
};
