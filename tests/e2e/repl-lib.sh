# tests/e2e/repl-lib.sh: backups, protect, query-replication, failover and kill -9 for the replication tests (sourced).
# shellcheck shell=bash disable=SC2034 # REPL_*, BACKUP_*, VM_PID are results for the caller
#
# Source after lib.sh (or kv-lib.sh, for a lab) and migrate-lib.sh (ctl, wait_socket).
# Every twin-vmm here is started with start_bg, so lib.sh's exit hook kills whatever a
# failing test leaves running, and lab-lib.sh's lab_down_all (first in the hook) kills
# everything left in a lab's hosts.  The CLI commands (protect, failover...) talk to the
# control sockets, which are files under $E2E_TMP, so they run in this namespace.
#
# WHERE, for the commands that start a twin-vmm: "-" runs it in this namespace, a host
# name (h1, h2...) runs it in that host of the lab named by REPL_LAB.

REPL_LAB=${REPL_LAB:-}

# python3 resolved once to the interpreter itself: a version manager's shim (pyenv) in PATH
# costs ~0.25 s a call, which these tests make dozens of times, and it would skew the times
# they measure.  Commands run in a lab host (`lab exec client python3`) are not affected.
if REPL_PYTHON=$(command python3 -c 'import sys; print(sys.executable)' 2>/dev/null) &&
	[ -x "$REPL_PYTHON" ]; then
	python3()
	{
		"$REPL_PYTHON" "$@"
	}
fi

# Bounds, in seconds: a protect includes the initial sync of a small guest (64 MiB here).
REPL_PROTECT_TIMEOUT=${REPL_PROTECT_TIMEOUT:-120}
REPL_CMD_TIMEOUT=${REPL_CMD_TIMEOUT:-30}

# repl_require: root, /dev/kvm, twin-vmm with the replication commands, python3.
repl_require()
{
	local help c
	require_root
	require_kvm
	require_vmm
	require_cmd python3 python3-minimal
	help=$("$TWIN_VMM" --help 2>&1 || true)
	for c in backup protect unprotect set-replication query-replication failover; do
		grep -q "twin-vmm $c" <<<"$help" ||
			fail "twin-vmm has no '$c' command (twin-vmm --help): build a twin-vmm with replication (issue 5)"
	done
}

# repl_where WHERE: REPL_IN becomes the command prefix that runs a command there.
repl_where()
{
	REPL_IN=()
	if [ "$1" != - ]; then
		[ -n "$REPL_LAB" ] || fail "repl_where $1: REPL_LAB names no lab"
		REPL_IN=("$LAB" --state "$E2E_TMP/lab-$REPL_LAB" exec "$1")
	fi
}

# repl_vmm_pid PID: the twin-vmm process at or under PID (start_bg's pid goes through
# exec all the way to twin-vmm, but a lab exec wrapper may fork on the way).
repl_vmm_pid()
{
	local p=$1 c
	for _ in 1 2 3 4; do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = twin-vmm ] && { echo "$p"; return; }
		c=$(cat /proc/"$p"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -m 1 . || true)
		[ -n "$c" ] || break
		p=$c
	done
	fail "cannot find twin-vmm at or under pid $1"
}

# repl_run_bg NAME WHERE RUN_ARGS...: `twin-vmm run RUN_ARGS --control $E2E_TMP/NAME.ctl`
# started with start_bg (output NAME.out, NAME.err); VM_PID; returns once the control
# socket answers.
repl_run_bg()
{
	local name=$1
	repl_where "$2"
	shift 2
	start_bg "$name" "${REPL_IN[@]}" "$TWIN_VMM" run "$@" --control "$E2E_TMP/$name.ctl"
	VM_PID=$BG_PID
	wait_socket "$E2E_TMP/$name.ctl" "$E2E_BOOT_TIMEOUT"
}

# repl_kv_lab LAB: the 2-host lab LAB (made REPL_LAB) and the kv guest running as "pri" on h1,
# its NIC tap $p-t0 in the LAN bridge; sets p (the lab's name prefix), br (the LAN bridge),
# pctl (pri's control socket) and KV_PID.  Needs kv-lib.sh.
repl_kv_lab()
{
	REPL_LAB=$1
	lab_up "$1" --hosts 2
	p=$(lab "$1" get prefix)
	br=$(lab "$1" get lan-bridge)
	pctl="$E2E_TMP/pri.ctl"
	repl_run_bg pri h1 --kernel "$(guest kv)" --mem 64M --nic "tap=$p-t0,mac=$KV_MAC,bridge=$br" \
		--cmdline "ip=$KV_IP/24 mac=$KV_MAC port=$KV_PORT"
	KV_PID=$VM_PID
	kv_wait_ready "$1" pri "$E2E_BOOT_TIMEOUT"
}

# repl_backup_bg NAME WHERE LISTEN ARGS...: `twin-vmm backup --listen LISTEN ARGS
# --control $E2E_TMP/NAME.ctl` (ARGS: security, devices as incoming's, --auto-failover,
# --timeout) started with start_bg; BACKUP_PID, and BACKUP_PORT from its "waiting on
# ..., port N" line (LISTEN may give port 0).
repl_backup_bg()
{
	local name=$1 listen=$3 f
	repl_where "$2"
	shift 3
	start_bg "$name" "${REPL_IN[@]}" "$TWIN_VMM" backup --listen "$listen" "$@" \
		--control "$E2E_TMP/$name.ctl"
	BACKUP_PID=$BG_PID
	f="$E2E_TMP/$name.err"
	wait_for_text "$f" "waiting on" "$E2E_BOOT_TIMEOUT" || {
		show_file "$f"
		fail "$name: twin-vmm backup never said it was waiting on $listen"
	}
	BACKUP_PORT=$(sed -n 's/.*: waiting on .*, port \([0-9]*\)$/\1/p' "$f" | head -n 1)
	[[ "$BACKUP_PORT" =~ ^[1-9][0-9]*$ ]] || {
		show_file "$f"
		fail "$name: no port in twin-vmm backup's 'waiting on ..., port N' line"
	}
}

# repl_json FILE PREFIX: the JSON after the last line of FILE that starts with PREFIX
# ("protect: "); fails if there is none or it does not parse.
repl_json()
{
	local f=$1 prefix=$2 j
	j=$(tr -d '\r' <"$f" | sed -n "s/^$prefix//p" | tail -n 1)
	[ -n "$j" ] || { show_file "$f"; fail "$(basename "$f"): no '$prefix{...}' line"; }
	python3 -c 'import json, sys; json.loads(sys.argv[1])' "$j" 2>/dev/null ||
		{ show_file "$f"; fail "$(basename "$f"): '$prefix' is not followed by JSON: $j"; }
	echo "$j"
}

# repl_check JSON PY_EXPR WHAT: PY_EXPR over the status dict s holds, else fail naming WHAT.
repl_check()
{
	python3 -c '
import json, sys
s = json.loads(sys.argv[1])
sys.exit(0 if eval(sys.argv[2], {}, {"s": s}) else 1)' "$1" "$2" ||
		fail "$3: $2 does not hold for $1"
}

# repl_get JSON PY_EXPR: print PY_EXPR over the status dict s.
repl_get()
{
	python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print(eval(sys.argv[2], {}, {"s": s}))' "$1" "$2" || fail "cannot read $2 from $1"
}

# repl_protect NAME CTL PEER ARGS...: `twin-vmm protect` of the VM at CTL toward PEER with
# ARGS (security first, then --mode etc.); it must exit 0 having printed
# `protect: {JSON}` with state "protected".  REPL_STATUS is that JSON.
repl_protect()
{
	local name=$1 ctl=$2 peer=$3
	shift 3
	run_bounded "$REPL_PROTECT_TIMEOUT" "$name" "$TWIN_VMM" protect --control "$ctl" \
		--peer "$peer" "$@"
	assert_status "$name" 0
	REPL_STATUS=$(repl_json "$E2E_TMP/$name.out" "protect: ")
	repl_check "$REPL_STATUS" 's["state"] == "protected"' "$name: protect's final status"
}

# repl_protect_refused NAME CTL PEER ERE ARGS...: `twin-vmm protect` exits 1 and its
# stderr matches ERE.
repl_protect_refused()
{
	local name=$1 ctl=$2 peer=$3 re=$4
	shift 4
	run_bounded "$REPL_PROTECT_TIMEOUT" "$name" "$TWIN_VMM" protect --control "$ctl" \
		--peer "$peer" "$@"
	assert_status "$name" 1
	assert_match "$E2E_TMP/$name.err" "$re"
}

# repl_query CTL: `twin-vmm query-replication` of the twin-vmm at CTL: one line of JSON.
repl_query()
{
	local out rc=0
	out=$(timeout "$REPL_CMD_TIMEOUT" "$TWIN_VMM" query-replication --control "$1" 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || fail "twin-vmm query-replication --control $1 exited $rc: $out"
	[ "$(wc -l <<<"$out")" -eq 1 ] || fail "query-replication printed more than one line: $out"
	python3 -c 'import json, sys; assert isinstance(json.loads(sys.argv[1]), dict)' "$out" \
		2>/dev/null || fail "query-replication did not print a JSON object: $out"
	echo "$out"
}

# repl_cmd NAME CMD ARGS...: `twin-vmm CMD ARGS` (unprotect, set-replication, failover),
# bounded; RUN_RC.
repl_cmd()
{
	local name=$1
	shift
	run_bounded "$REPL_CMD_TIMEOUT" "$name" "$TWIN_VMM" "$@"
}

# repl_wait CTL SECS PY_EXPR: poll query-replication on the control socket CTL (every
# 10 ms: a state change is what is awaited, observed as soon as it shows) until PY_EXPR
# over the status dict s holds; prints that status; fails after SECS seconds.
repl_wait()
{
	ctl_poll query-replication "$1" "$2" 10 "$3" ||
		fail "query-replication on $1 never showed $3 within $2 s"
}

# repl_watch_bg NAME CTL SECS PY_EXPR: in the background (start_bg NAME), poll
# query-replication on CTL every 5 ms until PY_EXPR over the status dict s holds, for at
# most SECS seconds; returns once it polls.  Started before an event (a kill), it times
# the event's effect without a process start in the way; repl_watch_wait collects it.
repl_watch_bg()
{
	start_bg "$1" "${REPL_PYTHON:-python3}" -c "$CTL_POLL_PY" query-replication "$2" "$3" 5 \
		"$4" "" watch
	REPL_WATCH_PID=$BG_PID
	wait_for_text "$E2E_TMP/$1.out" watching "$E2E_ERROR_TIMEOUT" ||
		{ show_file "$E2E_TMP/$1.err"; fail "$1: the query-replication watcher did not start"; }
}

# repl_watch_wait NAME PID: the watcher NAME (pid PID) saw its condition: REPL_WATCH_NS is
# when (date +%s%N), REPL_WATCH_STATUS the status that matched.
repl_watch_wait()
{
	local line
	wait_bounded "$2" 60
	[ "$WAIT_RC" -eq 0 ] || { show_file "$E2E_TMP/$1.err"; fail "$1: query-replication never showed what it waited for"; }
	line=$(grep -m 1 '^[0-9]' "$E2E_TMP/$1.out" || true)
	REPL_WATCH_NS=${line%% *}
	REPL_WATCH_STATUS=${line#* }
	[[ "$REPL_WATCH_NS" =~ ^[0-9]+$ ]] || fail "$1: no time in its line '$line'"
}

# repl_status CTL: query-status of the twin-vmm at CTL (compact JSON).
repl_status()
{
	ctl "$1" query-status
}

# repl_failover NAME CTL: `twin-vmm failover` to the backup at CTL exits 0, after which
# the VM runs there: query-status "running" and query-replication "failed-over".
# REPL_FAILOVER_MS is how long the command took.
repl_failover()
{
	local name=$1 ctl=$2 t0 st
	t0=$(date +%s%N)
	repl_cmd "$name" failover --control "$ctl"
	REPL_FAILOVER_MS=$((($(date +%s%N) - t0) / 1000000))
	assert_status "$name" 0
	st=$(repl_status "$ctl")
	repl_check "$st" 's["status"] == "running" and s["running"] is True' "$name: query-status after failover"
	repl_check "$(repl_query "$ctl")" 's["state"] == "failed-over"' "$name: query-replication after failover"
}

# repl_kill9 PID NAME: kill -9 the twin-vmm PID (started with start_bg as NAME) and reap it.
repl_kill9()
{
	local pid
	pid=$(repl_vmm_pid "$1")
	kill -KILL "$pid" || fail "$2: cannot kill -9 twin-vmm pid $pid"
	wait_bounded "$1" 10
	[ "$WAIT_RC" -eq 137 ] || { show_file "$E2E_TMP/$2.err"; fail "$2: twin-vmm exited $WAIT_RC before its kill -9 took"; }
}

# repl_seed: REPL_SEED from TWIN_SEED, else random; seeds $RANDOM and is printed, so a
# failing run's random moments can be replayed with TWIN_SEED=N.
repl_seed()
{
	REPL_SEED=${TWIN_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
	[[ "$REPL_SEED" =~ ^[0-9]+$ ]] || fail "TWIN_SEED=$REPL_SEED is not a number"
	RANDOM=$REPL_SEED
	note "seed $REPL_SEED (TWIN_SEED=$REPL_SEED replays this run's random moments)"
}

# repl_random VAR MIN MAX: VAR becomes a seeded random number in [MIN, MAX].  Never in a
# $(...) subshell: $RANDOM would advance there only, and every call return the same.
repl_random()
{
	printf -v "$1" %d $(($2 + (RANDOM * 32768 + RANDOM) % ($3 - $2 + 1)))
}

# repl_pause_ms MS: let the guest run MS milliseconds: the seeded random moment of a kill
# is the experiment here, not a wait for anything.
repl_pause_ms()
{
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}
