#!/bin/bash
# Runs the libFuzzer binaries (configure --enable-libfuzzer): each replays its seed corpus, and the
# stream targets (fuzz-stream, fuzz-vm-stream, fuzz-receive) then fuzz for SECONDS each.  Fails on
# any finding.
# Usage: run-libfuzzer.sh SECONDS CORPUS_DIR OUT_DIR BINARY...
# Without arguments (as the automake test of the --enable-libfuzzer build) they come from
# LIBFUZZER_SECONDS, LIBFUZZER_CORPUS, LIBFUZZER_OUT and LIBFUZZER_PROGS (tests/fuzz/libfuzzer.am).
set -euo pipefail

if [ $# -eq 0 ] && [ -n "${LIBFUZZER_PROGS:-}" ]; then
	# shellcheck disable=SC2086 # a list of binaries
	set -- "$LIBFUZZER_SECONDS" "$LIBFUZZER_CORPUS" "$LIBFUZZER_OUT" $LIBFUZZER_PROGS
fi
if [ $# -lt 4 ]; then
	echo "usage: run-libfuzzer.sh SECONDS CORPUS_DIR OUT_DIR BINARY... (or run it through" \
		"make check in a ./configure --enable-libfuzzer build)" >&2
	exit 2
fi
seconds=$1 corpus=$2 out=$3
shift 3
rm -rf "$out"
mkdir -p "$out"
for bin in "$@"; do
	name=$(basename "$bin") # fuzz-vm-stream
	bin="$(cd "$(dirname "$bin")" && pwd)/$name"
	seeds=${name#fuzz-}
	seeds="$corpus/${seeds//-/_}" # corpus/vm_stream
	if [ ! -d "$seeds" ]; then
		echo "run-libfuzzer: $name has no seed corpus $seeds" >&2
		exit 1
	fi
	# libFuzzer adds what it finds to its first directory: a scratch copy, never the seeds.
	work="$out/$name"
	mkdir -p "$work/corpus"
	cp "$seeds"/* "$work/corpus/"
	case $name in
	fuzz-stream | fuzz-vm-stream | fuzz-receive) args=(-max_total_time="$seconds") ;;
	*) args=(-runs=0) ;;
	esac
	echo "run-libfuzzer: $name ${args[*]}"
	if ! (cd "$work" && "$bin" "${args[@]}" -artifact_prefix="$work/" corpus >"$work/log" 2>&1); then
		tail -n 30 "$work/log" >&2
		echo "run-libfuzzer: $name failed: the input is in $work (crash-*), its log in $work/log" >&2
		exit 1
	fi
	grep -E '^(#[0-9]+\s+DONE|Done)' "$work/log" | tail -n 1
done
