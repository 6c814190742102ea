/* MMIO debug device: console, buffer print, exit, WAIT_US/EVENTS idling, vCPU and device IDs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "console.h"
#include "debugdev.h"
#include "log.h"
#include "twin_abi.h"
#include "vm.h"

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void print_buffer(struct vcpu *vcpu, uint32_t len)
{
	const void *p;

	if (len > TWIN_DEBUGDEV_BUF_MAX) {
		if (log__once(LOG_KIND_DEBUGDEV_BUF_LEN, len))
			log__warn("vCPU %u: debug device buffer of %u bytes is over the %u limit: "
				  "ignored",
				  vcpu->index, len, TWIN_DEBUGDEV_BUF_MAX);
		return;
	}
	p = memory__gpa_to_hva(vcpu->vm, vcpu->debug_buf_gpa, len);
	if (!p) {
		if (log__once(LOG_KIND_DEBUGDEV_BUF_GPA, vcpu->debug_buf_gpa))
			log__warn("vCPU %u: debug device buffer 0x%llx+%u is outside guest RAM: "
				  "ignored",
				  vcpu->index, (unsigned long long)vcpu->debug_buf_gpa, len);
		return;
	}
	console__write(vcpu->vm, p, len);
}

static void start_wait(struct vcpu *vcpu, uint32_t us)
{
	/* The run loop does the blocking (debugdev__wait), so a pause can interrupt it. */
	if (us == TWIN_WAIT_FOREVER)
		vcpu->wait_deadline_ns = UINT64_MAX;
	else
		vcpu->wait_deadline_ns = monotonic_ns() + (uint64_t)us * 1000 + 1;
}

static void debugdev_write(struct vcpu *vcpu, void *opaque, uint64_t offset, const void *data,
			   uint32_t len)
{
	uint32_t v = 0;

	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	switch (offset) {
	case TWIN_DEBUGDEV_REG_CONSOLE:
		console__putc(vcpu->vm, v & 0xff);
		break;
	case TWIN_DEBUGDEV_REG_EXIT:
		log__info("vCPU %u: debug device exit 0x%x", vcpu->index, v);
		vm__stop(vcpu->vm, ((v << 1) | 1) & 0xff);
		break;
	case TWIN_DEBUGDEV_REG_WAIT_US:
		start_wait(vcpu, v);
		break;
	case TWIN_DEBUGDEV_REG_BUF_ADDR_LO:
		vcpu->debug_buf_gpa = (vcpu->debug_buf_gpa & ~0xffffffffULL) | v;
		break;
	case TWIN_DEBUGDEV_REG_BUF_ADDR_HI:
		vcpu->debug_buf_gpa = (vcpu->debug_buf_gpa & 0xffffffffULL) | ((uint64_t)v << 32);
		break;
	case TWIN_DEBUGDEV_REG_BUF_LEN:
		print_buffer(vcpu, v);
		break;
	default:
		if (log__once(LOG_KIND_DEBUGDEV_REG, offset))
			log__warn("vCPU %u: write to read-only or unknown debug device register "
				  "0x%llx: ignored",
				  vcpu->index, (unsigned long long)offset);
		break;
	}
}

static void debugdev_read(struct vcpu *vcpu, void *opaque, uint64_t offset, void *data,
			  uint32_t len)
{
	struct vm *vm = vcpu->vm;
	uint32_t v = 0xffffffffu;

	switch (offset) {
	case TWIN_DEBUGDEV_REG_ID:
		v = TWIN_DEBUGDEV_ID;
		break;
	case TWIN_DEBUGDEV_REG_VERSION:
		v = TWIN_DEBUGDEV_VERSION;
		break;
	case TWIN_DEBUGDEV_REG_EVENTS:
		pthread_mutex_lock(&vm->lock);
		v = vcpu->woken_by | vcpu->events;
		vcpu->woken_by = 0;
		vcpu->events = 0;
		pthread_mutex_unlock(&vm->lock);
		break;
	case TWIN_DEBUGDEV_REG_VCPU_ID:
		v = vcpu->index;
		break;
	}
	memset(data, 0, len);
	memcpy(data, &v, len < sizeof(v) ? len : sizeof(v));
}

static const struct io_ops debugdev_ops = {
    .read = debugdev_read,
    .write = debugdev_write,
};

void debugdev__kick(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].events |= TWIN_EVENT_KICK;
	pthread_cond_broadcast(&vm->wake);
	pthread_mutex_unlock(&vm->lock);
}

void debugdev__wait(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct timespec ts;

	console__flush(vcpu->vm); /* an idle guest's part line is all it has to say for now */
	pthread_mutex_lock(&vm->lock);
	while (!vm->stopping && !vm->pause_depth && !vcpu->events) {
		uint64_t dl = vcpu->wait_deadline_ns;

		if (dl == UINT64_MAX) {
			pthread_cond_wait(&vm->wake, &vm->lock);
			continue;
		}
		if (monotonic_ns() >= dl) {
			vcpu->events |= TWIN_EVENT_DEADLINE;
			break;
		}
		ts.tv_sec = dl / 1000000000ULL;
		ts.tv_nsec = dl % 1000000000ULL;
		pthread_cond_timedwait(&vm->wake, &vm->lock, &ts);
	}
	/*
	 * The wait consumes what ended it, so the next wait blocks without the guest
	 * spending an exit on EVENTS; EVENTS still tells what it was.
	 */
	if (vcpu->events) {
		vcpu->wait_deadline_ns = 0;
		vcpu->woken_by = vcpu->events;
		vcpu->events = 0;
	}
	pthread_mutex_unlock(&vm->lock);
}

int debugdev__init(struct vm *vm)
{
	return iobus__register(&vm->mmio, TWIN_DEBUGDEV_GPA, TWIN_DEBUGDEV_SIZE, &debugdev_ops,
			       NULL);
}
