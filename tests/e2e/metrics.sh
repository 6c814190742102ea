#!/bin/bash
# e2e: twin-clusterd's Prometheus metrics on one lab host with a running VM: a bad [metrics] listen named by file:line, GET /metrics parsed strictly and checked against twin status --json, offlined CPUs and pages against twin host cpus / mem-status, 404/405/HEAD, a stalled client does not block the loop; twin status --watch --count 2 prints two tables, Ctrl-C ends --watch with 0.
set -euo pipefail
. "$(dirname "$0")/clusterd-lib.sh"

require_kvm
require_vmm
require_cmd curl curl
TWIN_CLI=${TWIN_CLI:-${TWIN:-}}
[[ -n "$TWIN_CLI" && -x "$TWIN_CLI" ]] || fail "the twin CLI is not built at '$TWIN_CLI': run make first (or set TWIN_CLI)"
CHECK="$(dirname "$0")/metrics-check.py"
URL=http://198.18.0.1:9464/metrics
# The families every page has (a family stands even before it has samples).
FAMILIES=(twin_cluster_quorate twin_cluster_votes twin_cluster_expected_votes twin_host_member
	twin_host_cpus_offline twin_host_pages_offline twin_vm_info twin_vm_failovers_total twin_vm_epochs_total twin_vm_pause_seconds
	twin_vm_sent_bytes_total twin_vm_ack_latency_seconds twin_vm_held_output_bytes)

clusterd_lab_up

# A bad listen value: exit 2, the file, the line and the fix, before anything starts.
cp "$dir/clusterd.conf" "$dir/bad.conf"
printf '[metrics]\nlisten = 198.18.0.1\n' >>"$dir/bad.conf"
line=$(wc -l <"$dir/bad.conf")
run_bounded 10 bad-listen "$CLUSTERD" --config "$dir/bad.conf"
assert_status bad-listen 2
assert_one_error_line bad-listen "bad\.conf:$line: \[metrics\] listen '198\.18\.0\.1' is not ADDR:PORT.*use e\.g\. listen = "

printf '[metrics]\nlisten = 198.18.0.1:9464\n' >>"$dir/clusterd.conf"
clusterd_kv1_cfg
start_corosync
start_clusterd "$dir/clusterd.log"
grep -q "metrics: serving http://198.18.0.1:9464/metrics" "$dir/clusterd.log" ||
	{ show_file "$dir/clusterd.log"; fail "clusterd does not say where it serves the metrics"; }

# twin_h1 NAME ARGS...: the twin CLI in h1 (its /run holds clusterd's socket), bounded.
twin_h1()
{
	local name=$1
	shift
	run_bounded 60 "$name" "$LAB" --state "$E2E_TMP/lab-a" exec h1 "$TWIN_CLI" "$@"
}

# scrape NAME ARGS...: curl in h1 (the cluster network); the body in NAME.body, the
# status, content type and Allow header in NAME.out; RUN_RC is curl's.
scrape()
{
	local name=$1
	shift
	run_bounded 20 "$name" "$LAB" --state "$E2E_TMP/lab-a" exec h1 curl -sS --max-time 10 \
		-o "$E2E_TMP/$name.body" -D "$E2E_TMP/$name.headers" \
		-w '%{http_code} %{content_type}\n%{size_download} bytes in %{time_total} s\n' "$@"
}

# check NAME: scrape the page and check it against the status and cluster status now.
check()
{
	twin_h1 "$1-status" status --json
	assert_status "$1-status" 0
	twin_h1 "$1-cluster" cluster status --json
	assert_status "$1-cluster" 0
	scrape "$1" "$URL"
	assert_status "$1" 0
	assert_first_line "$E2E_TMP/$1.out" "200 text/plain; version=0.0.4; charset=utf-8"
	python3 "$CHECK" "$E2E_TMP/$1.body" "$E2E_TMP/$1-status.out" "$E2E_TMP/$1-cluster.out" h1 \
		"${FAMILIES[@]}" >"$E2E_TMP/$1.check" 2>&1 ||
		{ show_file "$E2E_TMP/$1.body"; show_file "$E2E_TMP/$1.check"; fail "$1: the page does not check"; }
	note "$1: $(cat "$E2E_TMP/$1.check"), $(sed -n 2p "$E2E_TMP/$1.out")"
}

# No VM yet: quorate alone (1 of 1 votes), h1 a member, no VM samples.
check empty
grep -q '^twin_vm_info' "$E2E_TMP/empty.body" && fail "twin_vm_info samples without a VM"

request '{"execute": "vm-start", "arguments": {"path": "kv1"}}' | grep -q '"return"' || fail "vm-start"
deadline=$((SECONDS + 20))
until request '{"execute": "status", "arguments": {"vm": "kv1"}}' |
	python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["return"]["state"] != "running")'; do
	[ "$SECONDS" -lt "$deadline" ] || { show_file "$dir/clusterd.log"; fail "kv1 not running after 20 s"; }
	sleep 0.1
done
check running
assert_has_line "$E2E_TMP/running.body" 'twin_vm_info{vm="kv1",state="running",primary="h1",backup="",role="primary"} 1'
assert_has_line "$E2E_TMP/running.body" 'twin_cluster_quorate 1'
assert_has_line "$E2E_TMP/running.body" 'twin_vm_failovers_total{vm="kv1"} 0'
assert_has_line "$E2E_TMP/running.body" 'twin_host_member{host="h1"} 1'

# page_value NAME: the value of sample line NAME (e.g. 'twin_host_cpus_offline{host="h1"}') of
# a fresh scrape.
page_value()
{
	scrape page "$URL"
	assert_status page 0
	python3 -c '
import sys
v = [l.split(" ")[-1] for l in open(sys.argv[1]).read().splitlines() if l.rsplit(" ", 1)[0] == sys.argv[2]]
assert len(v) == 1, v
print("%g" % float(v[0]))' "$E2E_TMP/page.body" "$1" || { show_file "$E2E_TMP/page.body"; fail "no one sample $1"; }
}

# json_get NAME PY_EXPR: PY_EXPR over the JSON NAME.out holds (as j), printed.
json_get()
{
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$E2E_TMP/$1.out" "$2" || { show_file "$E2E_TMP/$1.out"; fail "$1: cannot read $2"; }
}

# Offlined CPUs: the page follows twin host cpus (CPU 1 offline for Twin, no sysfs change).
[ "$(nproc)" -ge 2 ] || fail "this host has one CPU: cpu-offline needs another one online"
[ "$(page_value 'twin_host_cpus_offline{host="h1"}')" = 0 ] || fail "CPUs offline before any cpu-offline"
twin_h1 cpu-off host cpu-offline 1
assert_status cpu-off 0
twin_h1 cpus host cpus --json
assert_status cpus 0
[ "$(json_get cpus 'sum(c["twin_offline"] for c in j["cpus"])')" = 1 ] || fail "host cpus --json does not show CPU 1 offline"
[ "$(page_value 'twin_host_cpus_offline{host="h1"}')" = 1 ] || fail "the page does not show the CPU offline"
twin_h1 cpu-on host cpu-online 1
assert_status cpu-on 0
[ "$(page_value 'twin_host_cpus_offline{host="h1"}')" = 0 ] || fail "the page still shows a CPU offline after cpu-online"

# Offlined pages: a page of kv1's RAM (its code, which the loader wrote) retired, then back;
# the page follows mem-status.
[ "$(page_value 'twin_host_pages_offline{host="h1"}')" = 0 ] || fail "pages offline before any mem-offline"
twin_h1 mem-off host mem-offline --vm kv1 --gpa 0x101000
assert_status mem-off 0
twin_h1 mem-status host mem-status --json
assert_status mem-status 0
[ "$(json_get mem-status 'len(j["offline"])')" = 1 ] || fail "mem-status --json does not show one page offline"
[ "$(page_value 'twin_host_pages_offline{host="h1"}')" = 1 ] || fail "the page does not show the page offline"
twin_h1 mem-on host mem-online --vm kv1 --gpa 0x101000
assert_status mem-on 0
[ "$(page_value 'twin_host_pages_offline{host="h1"}')" = 0 ] || fail "the page still shows a page offline after mem-online"

# Other paths 404, other methods 405 (Allow: GET, HEAD); HEAD is the headers alone; a
# query string is still the page.
scrape other "http://198.18.0.1:9464/other"
assert_status other 0
assert_match "$E2E_TMP/other.out" '^404 '
scrape root "http://198.18.0.1:9464/"
assert_match "$E2E_TMP/root.out" '^404 '
for m in POST PUT DELETE OPTIONS PATCH; do
	scrape "method-$m" -X "$m" "$URL"
	assert_status "method-$m" 0
	assert_match "$E2E_TMP/method-$m.out" '^405 '
	assert_match "$E2E_TMP/method-$m.headers" '^Allow: GET, HEAD$'
done
run_bounded 20 head "$LAB" --state "$E2E_TMP/lab-a" exec h1 python3 -c '
import socket
s = socket.create_connection(("198.18.0.1", 9464), timeout=10)
s.sendall(b"HEAD /metrics HTTP/1.0\r\n\r\n")
r = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    r += b
head, _, body = r.partition(b"\r\n\r\n")
print(head.split(b"\r\n")[0].decode())
print("body bytes: %d" % len(body))
print([l for l in head.decode().split("\r\n") if l.lower().startswith("content-length: ")][0])
'
assert_status head 0
assert_first_line "$E2E_TMP/head.out" "HTTP/1.0 200 OK"
assert_has_line "$E2E_TMP/head.out" "body bytes: 0"
assert_match "$E2E_TMP/head.out" '^Content-Length: [1-9][0-9]*$'
scrape query "$URL?x=1"
assert_match "$E2E_TMP/query.out" '^200 '
grep -q '^# TYPE twin_vm_info gauge$' "$E2E_TMP/query.body" || fail "GET /metrics?x=1 is not the page"

# Bounded: headers beyond 8 KiB are refused, not read on.
scrape big-header -H "X-Pad: $(head -c 10000 /dev/zero | tr '\0' a)" "$URL"
if [ "$RUN_RC" -eq 0 ] && grep -q '^200 ' "$E2E_TMP/big-header.out"; then
	fail "a request with 10 KB of headers was served"
fi

# A client that sends half a request and stalls: the loop still serves a scrape and the
# CLI meanwhile, and the stalled connection is closed within the server's timeout (10 s).
start_bg stalled "$LAB" --state "$E2E_TMP/lab-a" exec h1 python3 -c '
import socket, sys, time
s = socket.create_connection(("198.18.0.1", 9464), timeout=30)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: h1\r\n")
print("sent", flush=True)
t0 = time.monotonic()
while True:
    b = s.recv(4096)
    if not b:
        break
print("closed after %.1f s" % (time.monotonic() - t0), flush=True)
'
wait_for_text "$E2E_TMP/stalled.out" sent 10 || { show_file "$E2E_TMP/stalled.err"; fail "the stalled client did not connect"; }
check beside-stalled
wait_bounded "$BG_PID" 25
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/stalled.err"; fail "the stalled client ended with $WAIT_RC"; }
note "stalled client: $(tail -n 1 "$E2E_TMP/stalled.out")"

# twin status --watch --count 2 (not a terminal): two tables, each after a time line.
twin_h1 watch status --watch --interval 0.2 --count 2
assert_status watch 0
[ "$(grep -c '^twin status at [0-9-]*T[0-9:]*Z (every 0.2 s, refresh [12] of 2)$' "$E2E_TMP/watch.out")" -eq 2 ] ||
	{ show_file "$E2E_TMP/watch.out"; fail "status --watch --count 2 did not print two timestamped refreshes"; }
[ "$(grep -c '^NAME  *STATE' "$E2E_TMP/watch.out")" -eq 2 ] ||
	{ show_file "$E2E_TMP/watch.out"; fail "status --watch --count 2 did not print two tables"; }
[ "$(grep -c '^kv1  *running  *h1 ' "$E2E_TMP/watch.out")" -eq 2 ] ||
	{ show_file "$E2E_TMP/watch.out"; fail "the tables lack kv1"; }

# On a terminal (script(1) gives it one) each refresh clears the screen and redraws.
run_bounded 30 watch-tty "$LAB" --state "$E2E_TMP/lab-a" exec h1 script -qec "$TWIN_CLI status --watch --interval 0.1 --count 2" /dev/null
assert_status watch-tty 0
[ "$(grep -o $'\e\\[H\e\\[2J' "$E2E_TMP/watch-tty.out" | wc -l)" -eq 2 ] ||
	{ show_file "$E2E_TMP/watch-tty.out"; fail "status --watch on a terminal did not redraw twice in place"; }
assert_match "$E2E_TMP/watch-tty.out" 'refresh 2 of 2, Ctrl-C to stop\)'

# --watch --json: one JSON line per refresh (JSON lines), nothing else.
twin_h1 watch-json status kv1 --watch --json --interval 0.1 --count 2
assert_status watch-json 0
python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
for l in lines:
    assert json.loads(l)[0]["name"] == "kv1", l' "$E2E_TMP/watch-json.out" ||
	{ show_file "$E2E_TMP/watch-json.out"; fail "status --watch --json --count 2 did not print two JSON lines"; }

# --watch without --count runs until Ctrl-C, which ends it with status 0.
start_bg watch-int "$LAB" --state "$E2E_TMP/lab-a" exec h1 "$TWIN_CLI" status kv1 --watch --interval 0.1
wait_for_text "$E2E_TMP/watch-int.out" "refresh 2" 20 || { show_file "$E2E_TMP/watch-int.err"; fail "status --watch printed no second refresh"; }
pkill -INT -P "$BG_PID" -x twin || kill -INT "$BG_PID"
wait_bounded "$BG_PID" 10
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/watch-int.err"; fail "status --watch ended with $WAIT_RC after Ctrl-C, not 0"; }

# Ctrl-C while clusterd has not answered yet (review 7, finding 11): a socket that greets
# and then never replies stands for a stuck clusterd; --watch ends at once with 0, not
# after the client's 30 s timeout.
stuck_sock=$E2E_TMP/stuck.sock
start_bg stuck python3 -c '
import socket, sys
l = socket.socket(socket.AF_UNIX)
l.bind(sys.argv[1])
l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
c.sendall(b"{\"twin\": {\"version\": \"x\", \"protocol\": 1, \"service\": \"clusterd\"}}\n")
f = c.makefile("rb")
print("request:", f.readline().decode().strip(), flush=True)
f.read()  # until the client is gone
' "$stuck_sock"
stuck_pid=$BG_PID
wait_for_text "$E2E_TMP/stuck.out" listening 20 || { show_file "$E2E_TMP/stuck.err"; fail "the stuck socket did not come up"; }
start_bg watch-stuck env TWIN_SOCKET= "$TWIN_CLI" --socket "$stuck_sock" status --watch
watch_pid=$BG_PID
wait_for_text "$E2E_TMP/stuck.out" '"status"' 20 ||
	{ show_file "$E2E_TMP/stuck.err"; show_file "$E2E_TMP/watch-stuck.err"; fail "status --watch sent no request to the stuck socket"; }
kill -INT "$watch_pid"
t0=$(date +%s%N)
wait_bounded "$watch_pid" 5
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/watch-stuck.err"; fail "status --watch ended with $WAIT_RC after a Ctrl-C mid-request, not 0"; }
[ ! -s "$E2E_TMP/watch-stuck.err" ] || { show_file "$E2E_TMP/watch-stuck.err"; fail "a Ctrl-C mid-request printed an error"; }
wait_bounded "$stuck_pid" 5
note "Ctrl-C during a request clusterd never answers: status --watch ended in ${ms} ms"
note "ok"
