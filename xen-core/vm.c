/* KVM VM setup: open the KVM device, check API and capabilities, create the VM and its parts. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "devices.h"
#include "ioloop.h"
#include "layout.h"
#include "log.h"
#include "throttle.h"
#include "vcpu.h"
#include "vm.h"
#include "util.h"

#define KVM_API_VERSION_EXPECTED 12
#define CPUID_FIRST_ENTRIES	 256
#define CPUID_MAX_ENTRIES	 4096

static const struct {
	int cap;
	const char *name;
} required_caps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_REINJECT_CONTROL, "KVM_CAP_REINJECT_CONTROL"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

static const char *kvm_dev_path(const struct vm_config *cfg)
{
	const char *env = getenv("TWIN_KVM_DEV");

	if (cfg->kvm_dev)
		return cfg->kvm_dev;
	return env && *env ? env : "/dev/kvm";
}

static int open_kvm(struct vm *vm)
{
	const char *path = kvm_dev_path(&vm->cfg);
	int rc = 0, r;

	vm->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			log__error("%s: no such device: load KVM (modprobe kvm_intel or kvm_amd) "
				   "and enable virtualization in the firmware",
				   path);
		else if (rc == -EACCES || rc == -EPERM)
			log__error("%s: permission denied: run as root or add the user to the "
				   "group that owns it (usually kvm)",
				   path);
		else
			log__error("%s: cannot open: %s: check that KVM is loaded", path,
				   strerror(-rc));
		goto out;
	}
	r = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (r < 0) {
		rc = -ENODEV;
		log__error("%s: not a KVM device (KVM_GET_API_VERSION failed): point TWIN_KVM_DEV "
			   "at /dev/kvm or unset it",
			   path);
		goto out;
	}
	if (r != KVM_API_VERSION_EXPECTED) {
		rc = -ENOSYS;
		log__error("%s: KVM API version %d, expected %d: use a host kernel with the "
			   "stable KVM API",
			   path, r, KVM_API_VERSION_EXPECTED);
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			rc = -ENOSYS;
			log__error("%s: KVM lacks %s, which twin-vmm needs: use a newer host "
				   "kernel",
				   path, required_caps[i].name);
			goto out;
		}
	}
	r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (r <= 0)
		r = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (r > 0 && (unsigned int)r < vm->cfg.nr_vcpus) {
		rc = -EINVAL;
		log__error("KVM allows at most %d vCPUs per VM, %u requested: lower --vcpus", r,
			   vm->cfg.nr_vcpus);
		goto out;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		/* 0 is no error to KVM, so errno would be stale. */
		rc = vm->run_size < 0 ? -errno : -EINVAL;
		log__error("KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(-rc));
	}
out:
	return rc;
}

/*
 * No catch-up of missed PIT ticks (guests keep time with the TSC and LAPIC). With
 * reinjection on, destroying the PIT waits out a full SRCU grace period: 13-18 ms
 * of every exit in the lab.  Turning it off costs the same wait about half the
 * time (two grace periods back to back), so it runs beside the rest of setup
 * (the BSP's first KVM_RUN then waits for it on the PIT lock).  Best effort:
 * on failure the PIT just keeps reinjecting.
 */
static void *pit_no_reinject_thread(void *arg)
{
	struct vm *vm = arg;
	struct kvm_reinject_control r = {.pit_reinject = 0};

	if (ioctl(vm->vm_fd, KVM_REINJECT_CONTROL, &r) < 0)
		log__warn("KVM_REINJECT_CONTROL failed: %s; the PIT keeps reinjecting missed "
			  "ticks, which only slows VM teardown",
			  strerror(errno));
	return NULL;
}

/*
 * The in-kernel parts every guest relies on: TSS, identity map, PIC+IOAPIC+LAPIC, and
 * the PIT unless cfg.no_pit (guests that time with the TSC and LAPIC need none).
 * Created after the RAM slots: in the lab, registering 256 MiB of RAM takes 5-10 ms
 * once the irqchip exists and 0.2 ms before (measured), and KVM allows either order.
 */
static int create_platform(struct vm *vm)
{
	uint64_t identity = LAYOUT_IDENTITY_MAP;
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	const char *what;
	int rc = 0;

	what = "KVM_SET_TSS_ADDR";
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_TSS_ADDR) < 0)
		goto fail;
	what = "KVM_SET_IDENTITY_MAP_ADDR";
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		goto fail;
	what = "KVM_CREATE_IRQCHIP";
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		goto fail;
	if (vm->cfg.no_pit)
		return 0;
	what = "KVM_CREATE_PIT2";
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		goto fail;
	if (pthread_create(&vm->pit_thread, NULL, pit_no_reinject_thread, vm) == 0)
		vm->pit_thread_started = true;
	else
		pit_no_reinject_thread(vm);
	return 0;
fail:
	rc = -errno;
	log__error("%s failed: %s", what, strerror(-rc));
	return rc;
}

/* KVM says E2BIG when the list does not fit, without saying how big it is: double and retry. */
static int get_supported_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *c = NULL;
	uint32_t n = CPUID_FIRST_ENTRIES;
	int rc;

	for (;;) {
		free(c);
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c) {
			rc = -ENOMEM;
			log__error("allocating %u CPUID entries failed: out of memory", n);
			goto out;
		}
		c->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		rc = -errno;
		if (rc != -E2BIG || n >= CPUID_MAX_ENTRIES) {
			log__error("KVM_GET_SUPPORTED_CPUID with room for %u entries failed: %s", n,
				   strerror(-rc));
			goto out;
		}
		n *= 2;
	}
	vm->supported_cpuid = c;
	c = NULL;
	rc = 0;
out:
	free(c);
	return rc;
}

int vm__create(const struct vm_config *cfg, struct vm **out)
{
	struct vm *vm;
	int rc;

	*out = NULL;
	if (cfg->nr_vcpus == 0 || cfg->nr_vcpus > VM_MAX_VCPUS) {
		log__error("%u vCPUs requested: use 1 to %d", cfg->nr_vcpus, VM_MAX_VCPUS);
		return -EINVAL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		log__error("allocating the VM state failed: out of memory");
		return -ENOMEM;
	}
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->done_fd = -1;
	vm->mem.fd = -1;
	vm->mem.base = MAP_FAILED;
	pthread_mutex_init(&vm->lock, NULL);
	console__init(&vm->console);
	{
		pthread_condattr_t a;

		/* WAIT_US deadlines are monotonic. */
		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		pthread_cond_init(&vm->wake, &a);
		pthread_cond_init(&vm->parked_cond, &a);
		pthread_condattr_destroy(&a);
	}
	iobus__init(&vm->pio, "port", LOG_KIND_PIO);
	iobus__init(&vm->mmio, "mmio", LOG_KIND_MMIO);

	rc = open_kvm(vm);
	if (rc)
		goto out;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		rc = -errno;
		log__error("KVM_CREATE_VM failed: %s", strerror(-rc));
		goto out;
	}
	rc = dirty__vm_init(vm); /* the dirty ring must exist before any vCPU */
	if (rc)
		goto out;
	rc = memory__init(vm, cfg->mem_size);
	if (rc)
		goto out;
	rc = create_platform(vm);
	if (rc)
		goto out;
	rc = get_supported_cpuid(vm);
	if (rc)
		goto out;
	vm->done_fd = eventfd(0, EFD_CLOEXEC);
	if (vm->done_fd < 0) {
		rc = -errno;
		log__error("creating the VM completion eventfd failed: %s", strerror(-rc));
		goto out;
	}
	rc = ioloop__create(&vm->ioloop); /* devices watch their fds from init on */
	if (rc)
		goto out;
	rc = throttle__init(vm);
	if (rc)
		goto out;
	rc = devices__init(vm);
	if (rc)
		goto out;
	vm->vcpus = calloc(cfg->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		rc = -ENOMEM;
		log__error("allocating %u vCPUs failed: out of memory", cfg->nr_vcpus);
		goto out;
	}
	for (unsigned int i = 0; i < cfg->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		/* Counted before init so vm__destroy releases a half-made vCPU too. */
		vcpu->vm = vm;
		vcpu->index = i;
		vcpu->fd = -1;
		vcpu->run = MAP_FAILED;
		vm->nr_vcpus++;
		rc = vcpu__init(vm, i);
		if (rc)
			goto out;
	}
out:
	if (rc)
		vm__destroy(vm);
	else
		*out = vm;
	return rc;
}

int vm__setup_boot_cpu(struct vm *vm, uint64_t pvh_entry)
{
	return vcpu__setup_pvh(&vm->vcpus[0], pvh_entry);
}

void vm__settle(struct vm *vm)
{
	if (vm->pit_thread_started)
		pthread_join(vm->pit_thread, NULL);
	vm->pit_thread_started = false;
}

void vm__destroy(struct vm *vm)
{
	if (!vm)
		return;
	/* Its thread pauses the vCPUs: gone before they are. */
	throttle__exit(vm);
	/* Callers on error paths need not know whether the vCPUs ever started. */
	vm__stop(vm, VM_EXIT_STOPPED);
	vm__join(vm);
	vm__settle(vm);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu__exit(&vm->vcpus[i]);
	free(vm->vcpus);
	devices__exit(vm);
	ioloop__destroy(vm->ioloop);
	dirty__vm_exit(vm);
	memory__exit(vm);
	free(vm->supported_cpuid);
	free(vm->state_msrs);
	if (vm->done_fd >= 0)
		close(vm->done_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	pthread_cond_destroy(&vm->wake);
	pthread_cond_destroy(&vm->parked_cond);
	console__dispose(&vm->console);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}
