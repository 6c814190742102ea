#!/bin/bash
# e2e: a flapping cluster link (partition and heal of the primary's host in a loop, at Corosync token 300) under kv client load: every answer verified exactly once, never two copies answering, and afterwards one primary, protected.
#
# Three lab hosts, token TOKEN (default 300: membership changes in about 0.7 s, and the
# lab's Corosync flaps on its own after a rejoin, LAB.md), kv1 (the kv guest, 198.18.2.10)
# protected.  twin-kv-client on the lab's client (2 clients, every 4th request twice and
# again after its answer, resent every 20 ms for up to 30 s) runs across the whole loop:
# an answer from a second copy differs from the one it verified (kv INCRs), a write lost
# or applied twice fails it.  FLAPS times: the cluster veth of the host that runs kv1's
# primary (as the cluster says now) is unplugged for DOWN_MS, then plugged back for UP_MS;
# both cycle through values below, around and above the membership-change time, so the
# link flaps while a membership change, a failover or an initial sync is under way.
# Afterwards every host's clusterd agrees on kv1's primary and backup, protected, and of
# all the twin-vmms of kv1 exactly one is a running primary: on that host.
set -euo pipefail
. "$(dirname "$0")/cluster-lib.sh"

cluster_require
TOKEN=${TOKEN:-300}
FLAPS=${FLAPS:-6}
DOWN_MS=(200 1200 500 2000)
UP_MS=(300 1500 3000)
KV1_IP=198.18.2.10 KV1_MAC=52:54:00:12:34:56

cluster_up fl "$TOKEN"
cluster_start_protected h1 kv1 "$KV1_IP" "$KV1_MAC"
note "lab $CL_PREFIX: token $TOKEN ms; kv1 protected from $CL_PRIMARY to $CL_BACKUP; $FLAPS flaps"

total=0
for ((i = 0; i < FLAPS; i++)); do
	total=$((total + ${DOWN_MS[i % ${#DOWN_MS[@]}]} + ${UP_MS[i % ${#UP_MS[@]}]}))
done
# Each flap also asks clusterd and runs the lab twice (under 1.5 s): the client outlasts them.
cluster_client_bg client-flap kv1 "$KV1_IP" $((total + FLAPS * 1500 + 2000))
asked=h1 flapped=""
for ((i = 0; i < FLAPS; i++)); do
	down=${DOWN_MS[i % ${#DOWN_MS[@]}]} up=${UP_MS[i % ${#UP_MS[@]}]}
	# The primary as a host that was not cut off last sees it (any one: all are plugged).
	st=$(cluster_status "$asked" kv1)
	p=$(cluster_get "$st" 'v["primary"]')
	[[ "$p" =~ ^h[0-9]+$ ]] || p=$asked
	lab fl partition "$p" cluster
	# The sleeps are the flapping itself, not a wait for anything.
	sleep "$(printf '%d.%03d' $((down / 1000)) $((down % 1000)))"
	lab fl heal "$p"
	sleep "$(printf '%d.%03d' $((up / 1000)) $((up % 1000)))"
	flapped+=" $p:$down/$up"
	asked=$(cluster_other "$p" "$p")
done
cluster_client_wait client-flap "$(date +%s%N)"
gap=$CL_GAP_MS

# Settled: every host agrees, kv1 protected.
st=$(cluster_wait h1 kv1 "$CL_PROTECT_SECS" "v['state'] == 'protected'")
CL_PRIMARY=$(cluster_get "$st" 'v["primary"]') CL_BACKUP=$(cluster_get "$st" 'v["backup"]')
for h in h2 h3; do
	cluster_wait "$h" kv1 "$CL_CHANGE_SECS" \
		"v['state'] == 'protected' and v['primary'] == '$CL_PRIMARY' and v['backup'] == '$CL_BACKUP'" >/dev/null
done
# One running primary twin-vmm of kv1, on the cluster's primary host.
running=$(python3 - "$CL_DIR" h1 h2 h3 <<'PY'
import json, socket, sys
def ask(path, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rw")
    f.readline()
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    return json.loads(f.readline())["return"]
for h in sys.argv[2:]:
    path = "%s/%s/state/vms/kv1/control.sock" % (sys.argv[1], h)
    try:
        if ask(path, "query-replication")["role"] == "primary" and ask(path, "query-status")["status"] == "running":
            print(h, end=" ")
    except (OSError, KeyError, ValueError):
        pass  # no twin-vmm of kv1 there (a killed one's socket file may stay)
PY
)
[ "$running" = "$CL_PRIMARY " ] ||
	fail "after the flaps kv1 has running primary twin-vmms on: ${running:-none}; the cluster says $CL_PRIMARY"
# The service after the flaps.
kv_expect fl "fl 1 PUT after 7" "fl 1 OK 7"
note "flaps (host:down/up ms):$flapped; every answer verified, longest wait $gap ms; settled: kv1 protected from $CL_PRIMARY to $CL_BACKUP, one running primary"

cluster_passed
note "ok"
