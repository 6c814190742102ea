#!/bin/bash
# e2e: the kv guest under twin-vmm is woken for every request it waits for (no lost wakeups), and idles without spinning.
#
# The guest kit asks for a notification only while it waits (virtq__arm), and twin-vmm
# kicks WAIT_US only when asked.  With poll_us=0 every request finds the guest blocked
# in WAIT_US, and with idle_us=4294967295 that wait has no deadline: one lost wakeup
# leaves a request unanswered until the client's retry, which must then also be lost,
# so the run stalls and fails instead of hiding behind a timeout.
set -euo pipefail
. "$(dirname "$0")/kv-lib.sh"

require_root
require_kvm
require_vmm
require_kv_client

# twin-vmm's pid: KV_PID is the lab's exec wrapper, which may fork before it execs.
vmm_pid()
{
	local p=$KV_PID c
	for _ in 1 2 3 4; do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = twin-vmm ] && { echo "$p"; return; }
		c=$(cat /proc/"$p"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -m 1 . || true)
		[ -n "$c" ] || break
		p=$c
	done
	fail "cannot find twin-vmm under pid $KV_PID"
}

# cpu_ticks PID: user + system clock ticks of all of PID's threads so far.
cpu_ticks()
{
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# run_client LAB N CLIENTS: every answer verified, and not one resend: the client resends
# after 2 s, far above any answer time, so a resend means a request waited on a wakeup
# (and gives up after 3 sends, so a lost wakeup fails in seconds).
run_client()
{
	local out="$E2E_TMP/client-$2-$3.out"
	lab "$1" exec client "$KV_CLIENT" --requests "$2" --clients "$3" --timeout-ms 2000 --tries 3 \
		"$KV_IP" >"$out" 2>&1 || {
		show_file "$out"
		fail "twin-kv-client: $2 requests from $3 clients not all verified"
	}
	assert_match "$out" "^twin-kv-client: $2 of $2 requests verified, $3 clients, 0 retries,"
	note "$(grep throughput "$out")"
}

lab_up kw --hosts 1

kv_boot_twin kw wake "poll_us=0 idle_us=4294967295"
kv_wait_ready kw wake "$E2E_BOOT_TIMEOUT"
run_client kw 2000 1
run_client kw 4000 4
kv_stop
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/wake.err"; fail "twin-vmm exited $WAIT_RC after SIGTERM, expected 0"; }

# A poll window spins only after traffic: idle, the guest blocks (LAB.md: a spinning
# vCPU takes a core from everyone).  With a 100 ms cap and 2 ms waits, a window that
# did not shrink once the traffic stopped would spin ~98% of the time.  Allowed: 10% of
# one core over 3 s.
kv_boot_twin kw idle "poll_us=100000 idle_us=2000"
kv_wait_ready kw idle "$E2E_BOOT_TIMEOUT"
run_client kw 1000 4
pid=$(vmm_pid)
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks "$pid")
sleep 3 # the measurement interval itself, not a synchronisation
used=$(($(cpu_ticks "$pid") - t0))
note "idle twin-vmm used $used of $((3 * hz)) clock ticks in 3 s"
[ "$used" -le $((3 * hz / 10)) ] ||
	fail "the idle kv guest spins: twin-vmm used $used ticks in 3 s, at most $((3 * hz / 10)) allowed"
kv_stop
[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/idle.err"; fail "twin-vmm exited $WAIT_RC after SIGTERM, expected 0"; }
note "ok"
