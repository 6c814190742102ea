#!/bin/bash
# e2e: twin vm forget and twin host forget on a one-host cluster, end to end through clusterd's socket and the model: a stopped VM goes, a running one, an unknown one and a member host are refused by name, bad names never leave the CLI.
set -euo pipefail
. "$(dirname "$0")/clusterd-lib.sh"

require_kvm
require_vmm
TWIN=${TWIN:?TWIN is not set: run this test through make check}

clusterd_lab_up
clusterd_kv1_cfg
start_corosync
start_clusterd "$dir/clusterd.log"

# expect STATUS TEXT ARGS...: twin ARGS exits STATUS with TEXT in its output (0) or error.
expect()
{
	local status=$1 text=$2
	shift 2
	twin "$@"
	[ "$RC" = "$status" ] || { show_file "$dir/clusterd.log"; fail "twin $*: exit $RC, expected $status ($OUT$ERR)"; }
	grep -qF -- "$text" <<<"$OUT$ERR" || fail "twin $*: '$text' not in: $OUT$ERR"
}

# wait_state STATE: kv1's state in twin vm list, within 20 s.
wait_state()
{
	local deadline=$((SECONDS + 20))
	until twin vm list --json && python3 -c 'import json, sys
vms = [v for v in json.loads(sys.argv[1]) if v["name"] == "kv1"]
sys.exit(0 if vms and vms[0]["state"] == sys.argv[2] else 1)' "$OUT" "$1"; do
		[ "$SECONDS" -lt "$deadline" ] || { show_file "$dir/clusterd.log"; fail "kv1 is not $1 after 20 s: $OUT"; }
		sleep 0.1
	done
}

expect 0 "" vm start "$dir/vms/kv1.cfg"
wait_state running
expect 1 "vm forget: kv1 is running: stop it first (twin vm stop kv1)" vm forget kv1
expect 1 "no VM named \"kv9\"" vm forget kv9
expect 2 "twin vm forget: 'KV1' is not a VM name" vm forget KV1
expect 2 "twin vm forget: missing VM" vm forget
expect 0 "" vm stop kv1
wait_state stopped
expect 0 "vm forget: kv1: forgotten" vm forget kv1
twin vm list --json
[ "$OUT" = "[]" ] || fail "kv1 is still listed after vm forget: $OUT"
expect 1 "no VM named \"kv1\"" vm forget kv1

expect 1 "host forget: h1 is online: only a host that left can be forgotten" host forget h1
expect 1 "host forget: no host named \"h9\"" host forget h9
expect 2 "twin host forget: 'h/1' is not a host name" host forget h/1
expect 2 "twin host forget: missing HOST" host forget
reply=$(request '{"execute": "host-forget", "arguments": {"host": "h1", "vm": "kv1"}}')
grep -q 'host-forget: unknown argument \\"vm\\"' <<<"$reply" || fail "an unknown argument was not refused: $reply"
reply=$(request '{"execute": "vm-forget", "arguments": {}}')
grep -q '"InvalidParameter"' <<<"$reply" || fail "vm-forget without vm was not refused: $reply"
note "ok"
