#!/bin/bash
# e2e: SIGTERM (and SIGINT) to twin-vmm running an idle guest stops it cleanly with exit 0.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_root
require_kvm
require_vmm

# A nearly idle guest: memwriter at 1 page per ms per vCPU blocks in the debug device's
# wait register between bursts of 16 pages, for 10^9 iterations.  IDLE_LINE is the
# parameter line it prints before it starts writing.
IDLE_GUEST=memwriter
IDLE_CMDLINE="pages=1 rate=1 ws=1 vcpus=2 iters=1000000000"
IDLE_LINE="memwriter: pages=1 rate=1 ws=1 vcpus=2 "
kernel=$(guest "$IDLE_GUEST")

for sig in TERM INT; do
	serial="$E2E_TMP/serial-$sig.txt"
	# Created first so that tail follows one file from the start.
	: >"$serial"
	start_bg "sig-$sig" "$TWIN_VMM" run --kernel "$kernel" --vcpus 2 \
		--cmdline "$IDLE_CMDLINE" --serial "file:$serial"
	pid=$BG_PID
	if ! wait_for_text "$serial" "$IDLE_LINE" "$E2E_BOOT_TIMEOUT"; then
		show_file "$serial"
		show_file "$E2E_TMP/sig-$sig.err"
		fail "SIG$sig: the guest never printed '$IDLE_LINE'"
	fi
	kill -0 "$pid" 2>/dev/null || fail "SIG$sig: twin-vmm exited before the signal"
	start=$(date +%s%N)
	kill -"$sig" "$pid"
	# Stopping must not wait for a guest deadline or a watchdog: a few seconds at most.
	wait_bounded "$pid" 10
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	if [ "$WAIT_RC" -ne 0 ]; then
		show_file "$E2E_TMP/sig-$sig.err"
		fail "SIG$sig: twin-vmm exited $WAIT_RC, expected 0"
	fi
	note "SIG$sig: stopped cleanly with exit 0 in ${ms} ms"
done
note "ok"
