#!/bin/bash
# e2e: the kv guest under twin-vmm in a lab host answers ping and 10,000 verified kv requests from the client namespace.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"

require_root
require_kvm
require_vmm
require_cmd python3 python3-minimal
require_kv_client

lab_up kv --hosts 1
kv_boot_twin kv vmm
kv_wait_ready kv vmm "$E2E_BOOT_TIMEOUT"

# The guest itself answers: every ping comes back, and the client learned the guest's
# MAC by ARP (nothing on the host answers for 198.18.2.10).
lab kv exec client ping -n -q -c 20 -i 0.05 -W 2 "$KV_IP" >"$E2E_TMP/ping.out" ||
	{ show_file "$E2E_TMP/ping.out"; fail "ping of the guest lost replies"; }
assert_match "$E2E_TMP/ping.out" "^20 packets transmitted, 20 received"
lab kv exec client ip neigh show "$KV_IP" >"$E2E_TMP/neigh.out"
assert_match "$E2E_TMP/neigh.out" "lladdr $KV_MAC "

# The protocol, answer by answer.
kv_expect kv "t1 1 GET nokey" "t1 1 OK 0"
kv_expect kv "t1 2 PUT a 41" "t1 2 OK 41"
kv_expect kv "t1 3 INCR a" "t1 3 OK 42"
kv_expect kv "t2 1 GET a" "t2 1 OK 42"
kv_expect kv "t1 4 FETCH a" "t1 4 ERR BADOP"

# 10,000 requests, every answer checked by the client against its own model.
kv_client_verify kv 10000 1
kill -0 "$KV_PID" 2>/dev/null || fail "twin-vmm died during the kv run"

kv_stop
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/vmm.err"; fail "twin-vmm exited $WAIT_RC after SIGTERM, expected 0"; }
note "ok"
