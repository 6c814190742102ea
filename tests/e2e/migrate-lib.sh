# tests/e2e/migrate-lib.sh: talk to twin-vmm's control socket from the save and migration tests (sourced after lib.sh).
# shellcheck shell=bash
#
# Needs python3 (require_cmd python3 python3).

# ctl SOCK CMD [ARGS_JSON]: run CMD on the control socket at SOCK and print its "return"
# object as compact JSON; an error reply fails the test with its class and description.
ctl()
{
	local out
	out=$(python3 - "$@" <<'PY'
import json, socket, sys
path, cmd = sys.argv[1], sys.argv[2]
req = {"execute": cmd}
if len(sys.argv) > 3:
    req["arguments"] = json.loads(sys.argv[3])
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(path)
f = s.makefile("rwb")
f.readline()  # the greeting
f.write(json.dumps(req).encode() + b"\n")
f.flush()
r = json.loads(f.readline())
if "return" not in r:
    sys.exit("%s: %s" % (cmd, r.get("error")))
print(json.dumps(r["return"], separators=(",", ":")))
PY
	) || fail "control $1: $2 failed"
	echo "$out"
}

# ctl_refused SOCK CMD ERE: CMD on the control socket at SOCK gets an error reply whose
# description matches ERE (a return, or another error, fails the test).
ctl_refused()
{
	local desc
	desc=$(python3 - "$1" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
f = s.makefile("rwb")
f.readline()  # the greeting
f.write(json.dumps({"execute": sys.argv[2]}).encode() + b"\n")
f.flush()
r = json.loads(f.readline())
if "error" not in r:
    sys.exit("%s was not refused: %s" % (sys.argv[2], json.dumps(r)))
print(r["error"]["desc"])
PY
	) || fail "control $1: $2 was not refused"
	grep -qE -- "$3" <<<"$desc" || fail "control $1: $2 refused with '$desc', expected /$3/"
	echo "$desc"
}

# CTL_POLL_PY: the one control-socket poller (python3 -c "$CTL_POLL_PY" ARGS), behind
# ctl_poll, ctl_wait, repl_wait and repl_watch_bg.  ARGS: QUERY SOCK SECS EVERY_MS PY_EXPR
# [END_EXPR [watch]].  It sends QUERY (a command without arguments) on the control socket
# SOCK every EVERY_MS ms until PY_EXPR, over the returned dict s, holds, and prints that
# status as one JSON line; it fails if QUERY is refused, if END_EXPR ("" for none) holds
# first, or after SECS seconds.  With watch it prints "watching" once the first answer is
# in, and the match's time.time_ns() before the status.
CTL_POLL_PY='
import json, socket, sys, time
query, path, secs, every, expr = sys.argv[1:6]
end = sys.argv[6] if len(sys.argv) > 6 else ""
watch = len(sys.argv) > 7 and sys.argv[7] == "watch"
secs, every = float(secs), float(every) / 1000
sk = socket.socket(socket.AF_UNIX)
sk.settimeout(30)
sk.connect(path)
f = sk.makefile("rwb")
f.readline()
deadline = time.monotonic() + secs
first = True
while True:
    f.write(json.dumps({"execute": query}).encode() + b"\n")
    f.flush()
    r = json.loads(f.readline())
    if "return" not in r:
        sys.exit("%s: %s" % (query, r.get("error")))
    s = r["return"]
    if watch and first:
        print("watching", flush=True)
    first = False
    if eval(expr, {}, {"s": s}):
        status = json.dumps(s, separators=(",", ":"))
        print("%d %s" % (time.time_ns(), status) if watch else status)
        sys.exit(0)
    if end and eval(end, {}, {"s": s}):
        sys.exit("%s ended first: %s" % (query, json.dumps(s)))
    if time.monotonic() > deadline:
        sys.exit("still %s after %gs" % (json.dumps(s), secs))
    time.sleep(every)
'

# ctl_poll QUERY SOCK SECS EVERY_MS PY_EXPR [END_EXPR]: CTL_POLL_PY in the foreground;
# prints the status that matched; its exit status is the poller's.
ctl_poll()
{
	python3 -c "$CTL_POLL_PY" "$@"
}

# ctl_wait SOCK SECS PY_EXPR: poll query-migrate on SOCK (every 10 ms: the phases change
# fast) until PY_EXPR, over the status dict s, holds; fail after SECS seconds or if the
# migration ends first (unless PY_EXPR accepts its end).  Prints the status that matched.
ctl_wait()
{
	ctl_poll query-migrate "$1" "$2" 10 "$3" \
		's["phase"] in ("completed", "failed", "cancelled")' ||
		fail "query-migrate on $1 never showed: $3"
}

# wait_socket SOCK SECS: the control socket at SOCK accepts connections within SECS.
wait_socket()
{
	local sock=$1 deadline=$((SECONDS + $2))
	until python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
		"$sock" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no control socket at $sock within $2s"
		# The socket appears once twin-vmm has built the VM; nothing to wait on but the path.
		sleep 0.05
	done
}

# incoming_port NAME SECS: the port `twin-vmm incoming` (started as NAME with start_bg)
# announced on stderr.
incoming_port()
{
	local f="$E2E_TMP/$1.err"
	wait_for_text "$f" "incoming: waiting on" "$2" || {
		show_file "$f"
		fail "$1: twin-vmm incoming never said it was waiting"
	}
	sed -n 's/.*incoming: waiting on .*, port \([0-9]*\)$/\1/p' "$f" | head -n 1
}

# incoming_bg NAME ARGS...: twin-vmm incoming on 127.0.0.1, a port of its choosing, with
# ARGS (security, devices), serial $E2E_TMP/NAME.serial and control socket
# $E2E_TMP/NAME.sock, started with start_bg; sets DST_PID and DST_PORT.
incoming_bg()
{
	local name=$1
	shift
	start_bg "$name" "$TWIN_VMM" incoming --listen 127.0.0.1:0 "$@" \
		--serial "file:$E2E_TMP/$name.serial" --control "$E2E_TMP/$name.sock"
	DST_PID=$BG_PID
	DST_PORT=$(incoming_port "$name" "$E2E_ERROR_TIMEOUT")
}
