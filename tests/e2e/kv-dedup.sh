#!/bin/bash
# e2e: retransmitted kv requests to the guest under twin-vmm get the remembered reply and are never applied twice.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3-minimal
require_kv_client

lab_up dd --hosts 1
kv_boot_twin dd vmm
kv_wait_ready dd vmm "$E2E_BOOT_TIMEOUT"

# GET __stats counts itself once it has answered, so between two stats requests the
# count grows by the requests applied in between plus one.
before=$(kv_stats dd s1)
# The same (CLIENT, SEQ) three times: one INCR applied, the same reply each time.
mapfile -t r < <(kv_udp dd "d 1 INCR x" "d 1 INCR x" "d 1 INCR x")
[ "${#r[@]}" -eq 3 ] || fail "3 requests got ${#r[@]} replies"
for got in "${r[@]}"; do
	[ "$got" = "d 1 OK 1" ] || fail "a retransmitted INCR got '$got', expected 'd 1 OK 1'"
done
kv_expect dd "d 2 GET x" "d 2 OK 1"
# A PUT retransmitted after a newer request of another client is still not reapplied.
kv_expect dd "e 1 PUT y 5" "e 1 OK 5"
kv_expect dd "f 1 INCR y" "f 1 OK 6"
kv_expect dd "e 1 PUT y 5" "e 1 OK 5"
kv_expect dd "f 2 GET y" "f 2 OK 6"
after=$(kv_stats dd s2)
# Applied in between: the first stats, INCR x, GET x, PUT y, INCR y, GET y.
[ "$((after - before))" -eq 6 ] ||
	fail "__stats went from $before to $after: $((after - before - 6)) requests applied twice (or lost)"

# The client's own retransmit mode: every request sent more than once, each answer
# verified against the client's model, which counts each request once.
kv_client_retransmit dd 2000
kill -0 "$KV_PID" 2>/dev/null || fail "twin-vmm died during the retransmit run"
kv_stop
[ "$WAIT_RC" -eq 0 ] || fail "twin-vmm exited $WAIT_RC after SIGTERM, expected 0"
note "ok"
