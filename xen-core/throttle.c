/* The auto-converge throttle: a thread that parks the vCPUs for pct% of each 10 ms slice. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "log.h"
#include "throttle.h"
#include "vm.h"

struct throttle {
	struct vm *vm;
	/* setter serialises throttle__set callers, so starting and joining never race. */
	pthread_mutex_t setter;
	/* lock guards pct and stop; cond (CLOCK_MONOTONIC) wakes the thread early to stop. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int pct;
	bool stop;
	bool running; /* the thread exists (under setter) */
	pthread_t thread;
	uint64_t pauses; /* atomic */
};

static void add_ns(struct timespec *t, uint64_t ns)
{
	ns += (uint64_t)t->tv_nsec;
	t->tv_sec += (time_t)(ns / 1000000000ull);
	t->tv_nsec = (long)(ns % 1000000000ull);
}

/* Under lock: waits until deadline or until asked to stop; true if asked to stop. */
static bool wait_until_locked(struct throttle *t, const struct timespec *deadline)
{
	while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock, deadline) != ETIMEDOUT)
		;
	return t->stop;
}

static void *throttle_thread(void *arg)
{
	struct throttle *t = arg;
	struct timespec slice, mid, now;

	clock_gettime(CLOCK_MONOTONIC, &slice);
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		mid = slice;
		add_ns(&mid, THROTTLE_SLICE_NS * t->pct / 100);
		pthread_mutex_unlock(&t->lock);
		vm__pause_all(t->vm);
		__atomic_add_fetch(&t->pauses, 1, __ATOMIC_RELAXED);
		pthread_mutex_lock(&t->lock);
		wait_until_locked(t, &mid);
		pthread_mutex_unlock(&t->lock);
		/* Always paired, also when stopping: the pause depth stays balanced. */
		vm__resume_all(t->vm);
		add_ns(&slice, THROTTLE_SLICE_NS);
		clock_gettime(CLOCK_MONOTONIC, &now);
		/* Fell a slice behind (a long pause elsewhere): start afresh, do not catch up. */
		if (now.tv_sec > slice.tv_sec ||
		    (now.tv_sec == slice.tv_sec && now.tv_nsec > slice.tv_nsec))
			slice = now;
		pthread_mutex_lock(&t->lock);
		wait_until_locked(t, &slice);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int throttle__init(struct vm *vm)
{
	struct throttle *t = calloc(1, sizeof(*t));
	pthread_condattr_t a;

	if (!t) {
		log__error("allocating the vCPU throttle failed: out of memory");
		return -ENOMEM;
	}
	t->vm = vm;
	pthread_mutex_init(&t->setter, NULL);
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &a);
	pthread_condattr_destroy(&a);
	vm->throttle = t;
	return 0;
}

/* Under setter: ends and joins the thread if it runs. */
static void stop_locked(struct throttle *t)
{
	if (!t->running)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	t->running = false;
	t->stop = false;
	log__info("vCPU throttle off");
}

int throttle__set(struct vm *vm, unsigned int pct)
{
	struct throttle *t = vm->throttle;
	int rc = 0;

	if (pct > THROTTLE_MAX_PCT)
		return -EINVAL;
	pthread_mutex_lock(&t->setter);
	if (pct == 0) {
		stop_locked(t);
		goto out;
	}
	pthread_mutex_lock(&t->lock);
	t->pct = pct;
	pthread_mutex_unlock(&t->lock);
	if (!t->running) {
		rc = -pthread_create(&t->thread, NULL, throttle_thread, t);
		if (rc) {
			log__error("starting the vCPU throttle thread failed: %s", strerror(-rc));
			goto out;
		}
		t->running = true;
	}
	log__info("vCPU throttle at %u%%", pct);
out:
	pthread_mutex_unlock(&t->setter);
	return rc;
}

uint64_t throttle__pauses(const struct vm *vm)
{
	return __atomic_load_n(&vm->throttle->pauses, __ATOMIC_RELAXED);
}

void throttle__exit(struct vm *vm)
{
	struct throttle *t = vm->throttle;

	if (!t)
		return;
	pthread_mutex_lock(&t->setter);
	stop_locked(t);
	pthread_mutex_unlock(&t->setter);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->setter);
	free(t);
	vm->throttle = NULL;
}
