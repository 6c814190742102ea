/* twin: the cluster's command line, a client of the local twin-clusterd's socket. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "twin_args.h"
#include "twin_client.h"
#include "twin_drill.h"
#include "twin_host.h"
#include "twin_status.h"
#include "twin_vm_introspect.h"
#include "vmcfg.h"

/* protect: how often it asks for the sync's progress, and how long the sync may take. */
#define PROTECT_POLL_MS	   200
#define PROTECT_TIMEOUT_MS (30 * 60 * 1000)
/* protect: the state may still be running this long after the request, before protecting. */
#define PROTECT_GRACE_MS 5000

/* {"vm": vm}, the arguments of most requests. */
static json_t *vm_args(const char *vm)
{
	return json_pack("{s:s}", "vm", vm);
}

/* vm start: the config is checked here first, so that a bad one never reaches the cluster. */
static int vm_start(struct twin_client *c, const struct twin_args *a)
{
	char err[512], path[PATH_MAX], *text;
	struct vmcfg cfg;
	json_t *ret;

	if (vmcfg__load(a->cfg, &cfg, &text, err, sizeof(err))) {
		twin__error("%s", err);
		return TWIN_EXIT_USAGE;
	}
	/* The path is for clusterd's log and status: the text is what it runs. */
	if (!realpath(a->cfg, path))
		snprintf(path, sizeof(path), "%s", a->cfg);
	if (twin_client__connect(c, a->socket)) {
		free(text);
		return TWIN_EXIT_FAILED;
	}
	ret =
	    twin_client__call(c, "vm-start", json_pack("{s:s, s:s}", "config", text, "path", path));
	free(text);
	if (!ret)
		return TWIN_EXIT_FAILED;
	printf("vm start: %s: %s on %s%s\n", cfg.name, twin_status__str(ret, "state"),
	       twin_status__str(ret, "primary"),
	       cfg.protect ? " (protect = yes: twin status shows the protection)" : "");
	json_decref(ret);
	return TWIN_EXIT_OK;
}

/* vm stop, unprotect: the request, then what clusterd says the VM's state is. */
static int simple(struct twin_client *c, const char *cmd, const char *what, const char *vm)
{
	json_t *ret = twin_client__call(c, cmd, vm_args(vm));

	if (!ret)
		return TWIN_EXIT_FAILED;
	printf("%s: %s: %s\n", what, vm, twin_status__str(ret, "state"));
	json_decref(ret);
	return TWIN_EXIT_OK;
}

static int failover(struct twin_client *c, const struct twin_args *a)
{
	json_t *args = vm_args(a->vm), *ret;

	if (a->force) {
		fprintf(stderr,
			"twin: warning: failover --force: an operator override without quorum or a "
			"confirmed death of the primary: if it still runs, two copies of %s serve "
			"at once\n",
			a->vm);
		json_object_set_new(args, "force", json_true());
	}
	ret = twin_client__call(c, "failover", args);
	if (!ret)
		return TWIN_EXIT_FAILED;
	printf("failover: %s: %s on %s\n", a->vm, twin_status__str(ret, "state"),
	       twin_status__str(ret, "primary"));
	json_decref(ret);
	return TWIN_EXIT_OK;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * protect: the request, then the VM's status until it is protected (0) or the sync failed
 * (1), with the sync's progress meanwhile (rewritten in place on a terminal, a line a
 * second otherwise).
 */
static int protect(struct twin_client *c, const struct twin_args *a)
{
	json_t *args = vm_args(a->vm), *ret, *vm = NULL;
	long long start = now_ms();
	bool tty = isatty(STDOUT_FILENO), seen = false;
	int status = TWIN_EXIT_FAILED;

	if (a->peer)
		json_object_set_new(args, "peer", json_string(a->peer));
	if (a->mode_set)
		json_object_set_new(args, "mode", json_string(vmcfg__mode_to_str(a->mode)));
	if (a->interval_ms)
		json_object_set_new(args, "interval_ms", json_integer(a->interval_ms));
	ret = twin_client__call(c, "protect", args);
	if (!ret)
		return TWIN_EXIT_FAILED;
	json_decref(ret);
	for (unsigned int n = 0;; n++) {
		const char *state;

		json_decref(vm);
		vm = twin_status__vm(c, a->vm);
		if (!vm)
			break;
		state = twin_status__str(vm, "state");
		if (!strcmp(state, "protected")) {
			printf("%sprotect: %s: protected: primary %s, backup %s\n",
			       tty ? "\r\033[K" : "", a->vm, twin_status__str(vm, "primary"),
			       twin_status__str(vm, "backup"));
			status = TWIN_EXIT_OK;
			break;
		}
		seen = seen || !strcmp(state, "protecting");
		if (!seen && now_ms() - start > PROTECT_GRACE_MS) {
			twin__error("protect %s: the VM is %s, not protecting: see twin status %s",
				    a->vm, state, a->vm);
			break;
		}
		if (seen && strcmp(state, "protecting")) {
			twin__error("%sprotect %s: the sync failed (the VM is %s, unprotected): %s",
				    tty ? "\n" : "", a->vm, state,
				    strcmp(twin_status__str(vm, "error"), "-")
					? twin_status__str(vm, "error")
					: "see clusterd.log on the primary's host");
			break;
		}
		if (now_ms() - start > PROTECT_TIMEOUT_MS) {
			twin__error("protect %s: not protected after %d min: see twin status %s",
				    a->vm, PROTECT_TIMEOUT_MS / 60000, a->vm);
			break;
		}
		if (tty || n % (1000 / PROTECT_POLL_MS) == 0) {
			printf("%s", tty ? "\r\033[K" : "");
			twin_status__print_sync(a->vm, vm);
			printf("%s", tty ? "" : "\n");
			fflush(stdout);
		}
		usleep(PROTECT_POLL_MS * 1000);
	}
	json_decref(vm);
	return status;
}

/* vm list, status, cluster status: a table, or with --json the raw object. */
static int show(struct twin_client *c, const struct twin_args *a)
{
	static const char *const cmds[] = {
	    [TWIN_CMD_VM_LIST] = "vm-list",
	    [TWIN_CMD_STATUS] = "status",
	    [TWIN_CMD_CLUSTER_STATUS] = "cluster-status",
	};
	json_t *ret;

	if (a->command == TWIN_CMD_STATUS && a->watch)
		return twin_status__watch(c, a->vm, a->json, a->watch_interval_ms, a->watch_count);
	ret = twin_client__call(c, cmds[a->command], a->vm ? vm_args(a->vm) : NULL);
	if (!ret)
		return TWIN_EXIT_FAILED;
	if (a->json) {
		twin_status__print_json(ret);
	} else if (a->command == TWIN_CMD_VM_LIST) {
		twin_status__print_vm_list(ret);
	} else if (a->command == TWIN_CMD_STATUS) {
		/* One VM's status is its object: the table takes a list. */
		if (a->vm)
			ret = json_pack("[o]", ret);
		twin_status__print_status(ret);
	} else {
		twin_status__print_cluster(ret);
	}
	json_decref(ret);
	return TWIN_EXIT_OK;
}

static int run(struct twin_client *c, const struct twin_args *a)
{
	if (a->command == TWIN_CMD_VM_START)
		return vm_start(c, a);
	if (twin_client__connect(c, a->socket))
		return TWIN_EXIT_FAILED;
	switch (a->command) {
	case TWIN_CMD_VM_STOP:
		return simple(c, "vm-stop", "vm stop", a->vm);
	case TWIN_CMD_UNPROTECT:
		return simple(c, "unprotect", "unprotect", a->vm);
	case TWIN_CMD_PROTECT:
		return protect(c, a);
	case TWIN_CMD_FAILOVER:
		return failover(c, a);
	case TWIN_CMD_DRILL_FAILOVER:
		return twin_drill__run(c, a);
	case TWIN_CMD_VM_LIST:
	case TWIN_CMD_STATUS:
	case TWIN_CMD_CLUSTER_STATUS:
		return show(c, a);
	case TWIN_CMD_VM_PEEK:
		return twin_vm_introspect__peek(c, a);
	case TWIN_CMD_VM_REGS:
		return twin_vm_introspect__regs(c, a);
	default: /* vm forget, host forget, cpus and mem */
		return twin_host__run(c, a);
	}
}

int main(int argc, char **argv)
{
	struct twin_args a;
	struct twin_client c = {.lines.fd = -1};
	char err[512];
	int rc = twin_args__parse(argc, argv, getenv("TWIN_SOCKET"), &a, err, sizeof(err));

	if (rc == TWIN_ARGS_HELP) {
		fputs(twin_args_usage, stdout);
		return TWIN_EXIT_OK;
	}
	if (rc) {
		twin__error("%s", err);
		fprintf(stderr, "%s\n", twin_args__usage(a.command));
		return TWIN_EXIT_USAGE;
	}
	rc = run(&c, &a);
	twin_client__close(&c);
	return rc;
}
