/* The VM life cycle: vCPU threads, kicks out of KVM_RUN, pause/resume, stop, join. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "console.h"
#include "ioloop.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

static void kick_handler(int sig)
{
	/* Only interrupts KVM_RUN (EINTR); immediate_exit carries the request. */
}

void vm__kick_vcpu_locked(struct vcpu *vcpu)
{
	/* A vCPU that failed half-way through vcpu__init has no run page and no thread. */
	if (vcpu->run == MAP_FAILED)
		return;
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

static void kick_all_locked(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm__kick_vcpu_locked(&vm->vcpus[i]);
	pthread_cond_broadcast(&vm->wake);
}

int vm__start(struct vm *vm)
{
	struct sigaction sa;
	int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the point is that KVM_RUN returns. */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	/* Device I/O first, so the first notify of a vCPU finds its thread. */
	rc = ioloop__start(vm->ioloop);
	if (rc)
		return rc;
	pthread_mutex_lock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		rc = -pthread_create(&vcpu->thread, NULL, vcpu__thread, vcpu);
		if (rc) {
			log__error("starting the thread of vCPU %u failed: %s", i, strerror(-rc));
			vm->stopping = true;
			vm->exit_status = VM_EXIT_FAILURE;
			kick_all_locked(vm);
			break;
		}
		vcpu->thread_started = true;
		vm->nr_running++;
	}
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

void vm__stop(struct vm *vm, int status)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->stopping) {
		vm->stopping = true;
		vm->exit_status = status;
		kick_all_locked(vm);
	}
	pthread_mutex_unlock(&vm->lock);
}

int vm__done_fd(const struct vm *vm)
{
	return vm->done_fd;
}

int vm__join(struct vm *vm)
{
	int status;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		bool started;

		/*
		 * Cleared under the lock before the join, so a concurrent
		 * vm__kick_vcpu_locked never pthread_kill()s a reaped thread.
		 */
		pthread_mutex_lock(&vm->lock);
		started = vcpu->thread_started;
		vcpu->thread_started = false;
		pthread_mutex_unlock(&vm->lock);
		if (started)
			pthread_join(vcpu->thread, NULL);
	}
	/* No vCPU is left to consume device output. */
	if (vm->ioloop)
		ioloop__stop(vm->ioloop);
	pthread_mutex_lock(&vm->lock);
	status = vm->exit_status;
	pthread_mutex_unlock(&vm->lock);
	return status;
}

void vm__pause_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_depth++;
	kick_all_locked(vm);
	while (vm->nr_parked < vm->nr_running)
		pthread_cond_wait(&vm->parked_cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

void vm__resume_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->pause_depth && --vm->pause_depth == 0)
		pthread_cond_broadcast(&vm->wake);
	pthread_mutex_unlock(&vm->lock);
}

void vm__hold(struct vm *vm)
{
	vm__pause_all(vm);
	ioloop__pause(vm->ioloop);
}

void vm__release(struct vm *vm)
{
	vm__resume_all(vm);
	ioloop__resume(vm->ioloop);
}

bool vm__vcpu_sync(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	bool run;

	pthread_mutex_lock(&vm->lock);
	for (;;) {
		/*
		 * Cleared under the lock: a kicker sets its flag, then immediate_exit,
		 * both under the lock, so either we see the flag now or KVM_RUN sees
		 * immediate_exit.
		 */
		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (vm->stopping || !vm->pause_depth)
			break;
		if (vcpu->io_pending) {
			pthread_mutex_unlock(&vm->lock);
			vcpu__complete_io(vcpu);
			pthread_mutex_lock(&vm->lock);
			continue;
		}
		vm->nr_parked++;
		pthread_cond_broadcast(&vm->parked_cond);
		while (vm->pause_depth && !vm->stopping)
			pthread_cond_wait(&vm->wake, &vm->lock);
		vm->nr_parked--;
	}
	run = !vm->stopping;
	pthread_mutex_unlock(&vm->lock);
	return run;
}

void vm__vcpu_exited(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	uint64_t one = 1;

	console__flush(vm); /* all output is out before anyone learns the VM ended */
	pthread_mutex_lock(&vm->lock);
	vm->nr_running--;
	pthread_cond_broadcast(&vm->parked_cond);
	if (vm->nr_running == 0 && write(vm->done_fd, &one, sizeof(one)) < 0)
		log__warn("signalling VM completion failed: %s", strerror(errno));
	pthread_mutex_unlock(&vm->lock);
}
