/* Runs every Check unit suite and exits non-zero if any test failed. */
#include <signal.h>
#include <stdlib.h>
#include "suites.h"
#include "util.h"

static Suite *(*const suites[])(void) = {
    elf_loader_suite, e820_suite,     pvh_suite, mptable_suite,
    cpuid_suite,      vmm_args_suite, vm_suite,	 devices_suite,
    guest_net_suite,  kv_suite,
    virtqueue_suite,  ioloop_suite,   pci_suite, virtio_pci_suite,
    bzimage_suite,
    tap_suite,
    virtio_blk_suite,
    virtio_serve_suite,
    virtio_net_suite,
    virtio_console_suite,
    guest_virtq_suite,
    virtq_wake_suite,
    virtio_legacy_suite,
    vcpu_state_suite,
    stream_suite,
    devstate_suite,
    control_suite,
    migrate_suite,
    page_cache_suite,
    page_encoder_suite,
    vm_stream_suite,
    epoch_buffer_suite,
    virtio_state_suite,
    throttle_suite,
    net_state_suite,
    channel_suite,
    output_buffer_suite,
    repl_wire_suite,
    repl_stats_suite,
    repl_primary_suite,
    repl_backup_suite,
    clusterd_conf_suite,
    clusterd_vmm_suite,
    clusterd_io_suite,
    vmcfg_suite,
    twin_args_suite,
    cluster_model_suite,
    cluster_sim_suite,
    page_offline_suite,
    metrics_text_suite,
    metrics_collect_suite,
    metrics_http_suite,
    vm_introspect_suite,
    api_auth_suite,
    clusterd_supervisor_suite,
    api_request_suite,
    host_cpus_suite,
    supervisor_call_suite,
    host_mem_suite,
};

int main(void)
{
	SRunner *sr = srunner_create(NULL);
	int failed;

	/*
	 * As in twin-vmm and twin-clusterd, whose code runs here: a write to a peer that died
	 * fails with EPIPE instead of killing the process (libevent writes without
	 * MSG_NOSIGNAL).
	 */
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
		srunner_add_suite(sr, suites[i]());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
