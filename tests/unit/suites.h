/* Every Check suite the unit runner collects; each test_*.c defines one. */
#ifndef TESTS_UNIT_SUITES_H
#define TESTS_UNIT_SUITES_H
#include <check.h>

Suite *elf_loader_suite(void);
Suite *e820_suite(void);
Suite *pvh_suite(void);
Suite *mptable_suite(void);
Suite *cpuid_suite(void);
Suite *vmm_args_suite(void);
Suite *vm_suite(void);
Suite *devices_suite(void);
Suite *guest_net_suite(void);
Suite *kv_suite(void);
Suite *virtqueue_suite(void);
Suite *ioloop_suite(void);
Suite *pci_suite(void);
Suite *virtio_pci_suite(void);
Suite *bzimage_suite(void);
Suite *tap_suite(void);
Suite *virtio_blk_suite(void);
Suite *virtio_serve_suite(void);
Suite *virtio_net_suite(void);
Suite *virtio_console_suite(void);
Suite *guest_virtq_suite(void);
Suite *virtq_wake_suite(void);
Suite *virtio_legacy_suite(void);
Suite *vcpu_state_suite(void);
Suite *stream_suite(void);
Suite *devstate_suite(void);
Suite *control_suite(void);
Suite *migrate_suite(void);
Suite *page_cache_suite(void);
Suite *page_encoder_suite(void);
Suite *vm_stream_suite(void);
Suite *epoch_buffer_suite(void);
Suite *virtio_state_suite(void);
Suite *throttle_suite(void);
Suite *net_state_suite(void);
Suite *channel_suite(void);
Suite *output_buffer_suite(void);
Suite *repl_wire_suite(void);
Suite *repl_stats_suite(void);
Suite *repl_primary_suite(void);
Suite *repl_backup_suite(void);

#endif
