/* twin-vmm's VM: serial sink and backends opened first, then the VM and its PCI functions. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "log.h"
#include "virtio_blk.h"
#include "virtio_console.h"
#include "virtio_net.h"
#include "vm_setup.h"

/* Errors from vm__create that mean the user's setup or request, not KVM, is at fault. */
static int create_error_status(int rc)
{
	switch (rc) {
	case -ENOENT:
	case -EACCES:
	case -EPERM:
	case -ENODEV:
	case -ENOMEM:
	case -EINVAL:
		return EXIT_BAD_INPUT;
	default:
		return EXIT_RUNTIME;
	}
}

static int open_serial(const struct vmm_args *a)
{
	int fd;

	if (a->serial == VMM_SERIAL_STDIO)
		return STDOUT_FILENO;
	fd = open(a->serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		log__error("--serial file:%s: cannot open: %s: give a writable path",
			   a->serial_path, strerror(errno));
	return fd;
}

int vm_setup__open(struct vm_setup *s, const struct vmm_args *a)
{
	char err[512];
	int rc;

	*s = (struct vm_setup){.serial_fd = open_serial(a)};
	if (s->serial_fd < 0)
		return EXIT_BAD_INPUT;
	for (unsigned int i = 0; i < a->nr_nics; i++) {
		const struct vmm_nic *n = &a->nics[i];

		rc = virtio_net__open(n->tap, n->bridge[0] ? n->bridge : NULL, n->mac, i,
				      &s->nics[i], err, sizeof(err));
		if (rc)
			goto fail;
	}
	for (unsigned int i = 0; i < a->nr_disks; i++) {
		/* Shared storage: the source holds the lock until it hands the image over. */
		rc = (a->command == VMM_CMD_INCOMING && a->migrate.shared_storage
			  ? virtio_blk__open_shared
			  : virtio_blk__open)(a->disks[i].path, a->disks[i].readonly, i,
					      &s->disks[i], err, sizeof(err));
		if (rc)
			goto fail;
	}
	return 0;
fail:
	log__error("%s", err);
	return EXIT_BAD_INPUT;
}

/* PCI functions in this order: the console, the NICs, the disks (errors are logged). */
static int add_devices(struct vm_setup *s, const struct vmm_args *a)
{
	int rc;

	if (a->console == VMM_CONSOLE_VIRTIO) {
		rc = virtio_console__create(s->vm, a->console_legacy);
		if (rc)
			return rc;
	}
	for (unsigned int i = 0; i < a->nr_nics; i++) {
		struct virtio_net *net = s->nics[i];

		s->nics[i] = NULL;
		rc = virtio_net__register(net, s->vm, a->nics[i].legacy);
		if (rc)
			return rc;
	}
	for (unsigned int i = 0; i < a->nr_disks; i++) {
		struct virtio_blk *blk = s->disks[i];

		s->disks[i] = NULL;
		rc = virtio_blk__register(blk, s->vm, a->disks[i].legacy);
		if (rc)
			return rc;
	}
	return 0;
}

int vm_setup__create(struct vm_setup *s, const struct vmm_args *a, uint64_t mem_size,
		     unsigned int nr_vcpus, bool pit)
{
	const struct vm_config cfg = {
	    .mem_size = mem_size,
	    .nr_vcpus = nr_vcpus,
	    .dirty_method = DIRTY_METHOD_DEFAULT,
	    .console_fd = s->serial_fd,
	    .no_pit = !pit,
	};
	int rc = vm__create(&cfg, &s->vm);

	if (rc)
		return create_error_status(rc);
	return add_devices(s, a) ? EXIT_RUNTIME : 0;
}

void vm_setup__dispose(struct vm_setup *s)
{
	vm__destroy(s->vm);
	s->vm = NULL;
	for (unsigned int i = 0; i < VMM_ARGS_MAX_NICS; i++) {
		virtio_net__close(s->nics[i]);
		s->nics[i] = NULL;
	}
	for (unsigned int i = 0; i < VMM_ARGS_MAX_DISKS; i++) {
		virtio_blk__close(s->disks[i]);
		s->disks[i] = NULL;
	}
	if (s->serial_fd > STDERR_FILENO)
		close(s->serial_fd);
	s->serial_fd = -1;
}
