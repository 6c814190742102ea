#!/bin/bash
# e2e: the twin CLI against a fake clusterd (twin-fake-clusterd.py): requests, tables, exit codes, the drill's report.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_cmd python3 python3
TWIN=${TWIN:-$(dirname "$TWIN_VMM")/twin}
[ -x "$TWIN" ] || fail "no twin binary at $TWIN: build it (make -C tools twin) or set TWIN"

sock=$E2E_TMP/clusterd.sock
log=$E2E_TMP/requests.log
python3 "$(dirname "$0")/twin-fake-clusterd.py" "$sock" "$E2E_TMP/kv.port" "$log" &
fake=$!
trap 'kill $fake 2>/dev/null || true; rm -rf "$E2E_TMP"' EXIT
for _ in $(seq 50); do [ -s "$E2E_TMP/kv.port" ] && break; sleep 0.1; done
[ -s "$E2E_TMP/kv.port" ] || fail "the fake clusterd did not start"
kv_port=$(cat "$E2E_TMP/kv.port")

# twin NAME ARGS...: the CLI on the fake's socket, bounded; RUN_RC and NAME.out/.err set.
twin()
{
	local name=$1
	shift
	run_bounded 20 "$name" env TWIN_SOCKET="$sock" "$TWIN" "$@"
}

# Usage: exit 2, the problem, then the command's usage line.
twin usage-vm protect
assert_status usage-vm 2
assert_first_line "$E2E_TMP/usage-vm.err" "twin: error: twin protect: missing VM: name the VM, e.g. kv1"
assert_has_line "$E2E_TMP/usage-vm.err" \
	"usage: twin protect VM [--peer HOST] [--mode epoch|event|hybrid] [--interval MS]"
twin usage-opt vm list --force
assert_status usage-opt 2
assert_match "$E2E_TMP/usage-opt.err" "^twin: error: --force does not apply to twin vm list"

# A bad config: exit 2 naming file:line, and nothing reaches clusterd.
printf 'name = kv1\nmemory = 64\nkernel = /k.elf\nvcpus = lots\n' >"$E2E_TMP/bad.cfg"
twin bad-cfg vm start "$E2E_TMP/bad.cfg"
assert_status bad-cfg 2
assert_one_error_line bad-cfg "^twin: error: .*/bad.cfg:4: vcpus 'lots' is invalid: use a count from 1 to 64$"
! grep -q vm-start "$log" || fail "a bad config reached clusterd"

# vm start sends the text and the absolute path.
printf 'name = kv1\nmemory = 64\nkernel = /k.elf  ; the guest\nprobe = 127.0.0.1:%s\n' \
	"$kv_port" >"$E2E_TMP/kv1.cfg"
twin start vm start kv1.cfg # run_bounded runs it in $E2E_TMP: a relative path
assert_status start 0
assert_has_line "$E2E_TMP/start.out" "vm start: kv1: starting on h1"
python3 - "$log" "$E2E_TMP/kv1.cfg" <<'EOF' || fail "vm-start request is not as the protocol says"
import json, sys
req = [json.loads(l) for l in open(sys.argv[1]) if '"vm-start"' in l][0]
a = req["arguments"]
assert a["config"] == open(sys.argv[2]).read(), a
assert a["path"] == sys.argv[2], a
EOF
printf 'name = kv2\nmemory = 64\nkernel = /k.elf\n' >"$E2E_TMP/kv2.cfg"
twin start2 vm start "$E2E_TMP/kv2.cfg"
assert_status start2 0

twin list vm list
assert_status list 0
assert_match "$E2E_TMP/list.out" "^NAME +STATE +PRIMARY +BACKUP +MODE +MEMORY$"
assert_match "$E2E_TMP/list.out" "^kv1 +running +h1 +- +epoch +64 MiB$"
twin list-json vm list --json
assert_status list-json 0
python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 2' \
	"$E2E_TMP/list-json.out" || fail "vm list --json is not the raw object"

# protect: progress, then protected (exit 0); a failed sync: exit 1 with the reason.
twin protect protect kv1 --mode hybrid --interval 40
assert_status protect 0
assert_match "$E2E_TMP/protect.out" "^protect: kv1: protecting toward h2, sync active, round 2, 3.0 MiB sent$"
assert_has_line "$E2E_TMP/protect.out" "protect: kv1: protected: primary h1, backup h2"
python3 - "$log" <<'EOF' || fail "protect's arguments are not as given"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert {"execute": "protect", "arguments": {"vm": "kv1", "mode": "hybrid", "interval_ms": 40}} in reqs
EOF
twin protect-fail protect kv2
assert_status protect-fail 1
assert_match "$E2E_TMP/protect-fail.err" "protect kv2: the sync failed \(the VM is running, unprotected\): sync: the backup closed the connection$"

twin status status
assert_status status 0
assert_match "$E2E_TMP/status.out" "^kv1 +protected +h1 +h2 +epoch +40.0 +1 +1.50 ms$"
twin cluster cluster status
assert_status cluster 0
assert_has_line "$E2E_TMP/cluster.out" \
	"cluster twin-lab: quorate, votes 3 of 3 expected, token 1000 ms, this host h3"
assert_match "$E2E_TMP/cluster.out" "^HOST +NODE +STATE +MEMBER +REPLICATION +FREE-MiB +PROTECTED$"
assert_match "$E2E_TMP/cluster.out" "^h1 +1 online +no +198.18.1.1 +1000 +0$"
assert_match "$E2E_TMP/cluster.out" "^h2 +2 online +yes +198.18.1.2 +1000 +0$"

# clusterd's refusal: exit 1 with its reason.
twin unknown status kv9
assert_status unknown 1
assert_one_error_line unknown '^twin: error: status: no VM named "kv9" \(twin vm list shows them\) \(GenericError\)$'
twin no-force failover kv2
assert_status no-force 1
assert_one_error_line no-force "^twin: error: failover: expected votes 2 < 3: .*\(NoQuorum\)$"

# The drill refuses to start when the kv service does not answer: nothing is killed.
twin drill-deaf drill failover kv1 --probe 127.0.0.1:1
assert_status drill-deaf 1
assert_one_error_line drill-deaf "^twin: error: drill: the kv service at 127.0.0.1:1 does not answer"
! grep -q '"drill"' "$log" || fail "a drill without a kv answer still asked for the kill"

# The drill: detection, activation, then the first kv answer, in order.
twin drill drill failover kv1 --json
assert_status drill 0
python3 - "$E2E_TMP/drill.out" <<'EOF' || fail "the drill's report is wrong"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["kind"] == "vmm" and r["killed_host"] == "h1" and r["new_primary"] == "h2", r
# The fake shows failing-over 20 ms after the kill, h2 and kv answers 40 ms after it.
assert 20 <= r["detection_ms"] <= r["activation_ms"] < 5000, r
assert 40 <= r["activation_ms"] and 40 <= r["first_answer_ms"] < 5000, r
assert r["detection_ms"] <= r["first_answer_ms"] and r["answers"] >= 1, r
EOF
twin drill-again drill failover kv1
assert_status drill-again 1
assert_one_error_line drill-again "drill kv1: the VM is running, not protected"

twin force failover kv2 --force
assert_status force 0
assert_match "$E2E_TMP/force.err" "^twin: warning: failover --force: .*two copies of kv2 serve at once$"

# No clusterd: exit 1 naming the socket and the fix.
run_bounded 20 nosock "$TWIN" --socket "$E2E_TMP/none.sock" status
assert_status nosock 1
assert_one_error_line nosock "--socket .*/none.sock: cannot connect: .* is twin-clusterd running"
note "ok"
