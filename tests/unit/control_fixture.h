/* A fake VM behind twin-vmm's control protocol: a running flag and a count of each call. */
#ifndef TESTS_UNIT_CONTROL_FIXTURE_H
#define TESTS_UNIT_CONTROL_FIXTURE_H

#include <stdbool.h>
#include "control.h"

struct fake_vm {
	bool running;
	int stops, conts, quits;
};

/* One per including file (the unit suite and the fuzz target each have their own). */
static struct fake_vm fake = {.running = true};

static bool fake_running(void *opaque)
{
	return ((struct fake_vm *)opaque)->running;
}

static void fake_stop(void *opaque)
{
	struct fake_vm *f = opaque;

	f->running = false;
	f->stops++;
}

static void fake_cont(void *opaque)
{
	struct fake_vm *f = opaque;

	f->running = true;
	f->conts++;
}

static void fake_quit(void *opaque)
{
	((struct fake_vm *)opaque)->quits++;
}

static const struct control_ops ops = {
    .running = fake_running,
    .stop = fake_stop,
    .cont = fake_cont,
    .quit = fake_quit,
    .opaque = &fake,
};

#endif
