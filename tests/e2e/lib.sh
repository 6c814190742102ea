# tests/e2e/lib.sh: helpers shared by the end-to-end test scripts (sourced, never run).
# shellcheck shell=bash disable=SC2034 # RUN_RC, WAIT_RC, BG_PID are results for the caller
#
# Paths come from the automake test environment (tests/e2e/e2e.am):
#   TWIN_VMM     the twin-vmm binary
#   TWIN_GUESTS  the build directory holding the guest ELF files
#   TWIN_SRCDIR  the top source directory
# A test that needs /dev/kvm, root or QEMU fails loudly when it is missing: it never
# skips, because a skipped lab test reads as a pass in CI.

set -euo pipefail
shopt -s inherit_errexit

E2E_NAME=$(basename "$0" .sh)
# Bounds, in seconds.  Guest ring-0 code is emulated in the lab (LAB.md), so a boot is
# slow but still far below these; hitting one means a hang, which is a failure.
E2E_BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-60}
E2E_ERROR_TIMEOUT=${E2E_ERROR_TIMEOUT:-20}

fail()
{
	echo "FAIL: $E2E_NAME: $*" >&2
	exit 1
}

note()
{
	echo "$E2E_NAME: $*"
}

# Show a captured file on stderr so a failing test log explains itself.
show_file()
{
	local f=$1
	echo "---- $f (first 40 lines) ----" >&2
	head -n 40 "$f" >&2 || true
	echo "---- end of $f ----" >&2
}

E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/twin-e2e-$E2E_NAME.XXXXXX")
E2E_PIDS=()
# Commands e2e_cleanup runs first (lab-lib.sh's lab teardown): a test that sets its own
# EXIT trap calls e2e_cleanup and so cannot drop them.
E2E_ON_EXIT=()

e2e_cleanup()
{
	local c p
	for c in "${E2E_ON_EXIT[@]}"; do
		"$c" || true
	done
	for p in "${E2E_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT

require_root()
{
	[ "$(id -u)" -eq 0 ] ||
		fail "this test must run as root (uid is $(id -u)); run make check as root"
}

require_kvm()
{
	[ -c /dev/kvm ] ||
		fail "/dev/kvm is missing: load kvm (modprobe kvm_intel, kvm_amd or kvm-pvm)"
	( exec 3<>/dev/kvm ) 2>/dev/null ||
		fail "/dev/kvm cannot be opened read-write by uid $(id -u): run as root or join group kvm"
}

require_cmd()
{
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null ||
		fail "$cmd not found: install the Debian package $pkg (apt-get install $pkg)"
}

require_vmm()
{
	[ -n "${TWIN_VMM:-}" ] || fail "TWIN_VMM is not set: run this test through make check"
	[ -x "$TWIN_VMM" ] || fail "twin-vmm not built at $TWIN_VMM: run make first"
}

# Print the path of guest NAME.elf after checking that it was built.
guest()
{
	local f="${TWIN_GUESTS:?TWIN_GUESTS is not set: run this test through make check}/$1.elf"
	[ -f "$f" ] || fail "guest $1 not built at $f: run make first"
	echo "$f"
}

# The QEMU boot script of the guest kit: generated into the build tree or kept in the
# source tree.
qemu_run_path()
{
	local f
	for f in "${TWIN_QEMU_RUN:-}" "${TWIN_GUESTS:-}/qemu-run" \
		"${TWIN_SRCDIR:-}/tests/guests/qemu-run"; do
		if [ -n "$f" ] && [ -f "$f" ]; then
			echo "$f"
			return 0
		fi
	done
	fail "tests/guests/qemu-run not found in $TWIN_GUESTS or $TWIN_SRCDIR/tests/guests"
}

# run_bounded SECS NAME CMD...: run CMD in the temp dir with stdout in $E2E_TMP/NAME.out
# and stderr in $E2E_TMP/NAME.err; set RUN_RC.  A run that outlives SECS, or that dies
# on a signal (a crash, a core dump), fails the test here.  Guest statuses reach 221, so
# the shell's 128 + signal convention cannot tell a crash from an exit: perl reads the
# wait status and notes a signal in NAME.sig.
run_bounded()
{
	local secs=$1 name=$2
	shift 2
	RUN_RC=0
	rm -f "$E2E_TMP/$name.sig"
	(cd "$E2E_TMP" && SIGFILE="$E2E_TMP/$name.sig" exec perl -e '
		system { $ARGV[0] } @ARGV;
		exit 127 if $? == -1;
		exit($? >> 8) unless $? & 127;
		open(my $f, ">", $ENV{SIGFILE}) or die "$ENV{SIGFILE}: $!";
		print $f ($? & 127), "\n";
		exit 255;
	' timeout -k 5 "$secs" "$@") \
		>"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" </dev/null || RUN_RC=$?
	if [ -s "$E2E_TMP/$name.sig" ]; then
		show_file "$E2E_TMP/$name.err"
		fail "$name: killed by signal $(cat "$E2E_TMP/$name.sig") (crash): $*"
	fi
	# 124: timeout's status when it had to stop CMD; 137: it had to SIGKILL it.
	if [ "$RUN_RC" -eq 124 ] || [ "$RUN_RC" -eq 137 ]; then
		show_file "$E2E_TMP/$name.out"
		show_file "$E2E_TMP/$name.err"
		fail "$name: still running after ${secs}s (hang): $*"
	fi
	if compgen -G "$E2E_TMP/core*" >/dev/null; then
		fail "$name: left a core file in $E2E_TMP"
	fi
}

# vmm NAME SECS ARGS...: run `twin-vmm run ARGS...` through run_bounded.
vmm()
{
	local name=$1 secs=$2
	shift 2
	run_bounded "$secs" "$name" "$TWIN_VMM" run "$@"
}

assert_status()
{
	local name=$1 want=$2
	if [ "$RUN_RC" -ne "$want" ]; then
		show_file "$E2E_TMP/$name.out"
		show_file "$E2E_TMP/$name.err"
		fail "$name: exit status $RUN_RC, expected $want"
	fi
}

# assert_has_line FILE LINE: FILE holds LINE as a whole line (a trailing CR is ignored).
assert_has_line()
{
	local f=$1 line=$2
	if ! tr -d '\r' <"$f" | grep -qxF -- "$line"; then
		show_file "$f"
		fail "$(basename "$f"): no line '$line'"
	fi
}

# assert_match FILE ERE: some line of FILE matches the extended regex ERE.
assert_match()
{
	local f=$1 re=$2
	if ! tr -d '\r' <"$f" | grep -qE -- "$re"; then
		show_file "$f"
		fail "$(basename "$f"): no line matches /$re/"
	fi
}

# assert_first_line FILE LINE: the first line of FILE is exactly LINE.
assert_first_line()
{
	local f=$1 line=$2 got
	got=$(head -n 1 "$f" | tr -d '\r')
	if [ "$got" != "$line" ]; then
		show_file "$f"
		fail "$(basename "$f"): first line is '$got', expected '$line'"
	fi
}

# assert_one_error_line NAME ERE: stderr of run NAME is exactly one non-empty line, and
# it matches ERE (case-insensitive): the user gets one clear message, not a trace.
assert_one_error_line()
{
	local name=$1 re=$2 f="$E2E_TMP/$1.err" n
	n=$(wc -l <"$f")
	if [ "$n" -ne 1 ] || [ "$(wc -c <"$f")" -le 1 ]; then
		show_file "$f"
		fail "$name: stderr has $n lines, expected exactly one error line"
	fi
	if ! grep -qiE -- "$re" "$f"; then
		show_file "$f"
		fail "$name: the error line does not match /$re/"
	fi
}

# wait_for_text FILE TEXT SECS: block until FILE contains TEXT, for at most SECS seconds.
# tail -F follows the file by inotify, so this waits on the output itself, not on a
# guess of how long the guest takes.  Returns 1 if TEXT never appeared.
wait_for_text()
{
	local file=$1 text=$2 secs=$3 rc=0 fd tpid
	exec {fd}< <(exec timeout "$secs" tail -s 0.1 -n +1 -F "$file" 2>/dev/null)
	tpid=$!
	grep -qF -m 1 -- "$text" <&"$fd" || rc=1
	kill "$tpid" 2>/dev/null || true
	exec {fd}<&-
	return "$rc"
}

# start_bg NAME CMD...: start CMD in the background with stdout and stderr in
# $E2E_TMP/NAME.out and .err; set BG_PID to CMD's pid.  Default dispositions for SIGINT
# and SIGTERM: a non-interactive shell starts background jobs with SIGINT ignored.
# CMD is the child of a perl reaper, not of this shell, which would print a "Killed"
# notice into the log for every process a test or `lab down` kills on purpose.  The
# reaper sends CMD's pid, then its exit status (128 + signal, as bash gives it) through
# a pipe for wait_bounded, and reports on stderr a death by any signal other than the
# ones tests send on purpose (INT, KILL, PIPE, TERM): a crash still shows in the log.
declare -gA E2E_BG_FD
start_bg()
{
	local name=$1 fd
	shift
	exec {fd}< <(exec perl -e '
		my $base = shift;
		my $pid = fork() // die "start_bg: fork: $!\n";
		if (!$pid) {
			open(STDIN, "<", "/dev/null") && open(STDOUT, ">", "$base.out") &&
			    open(STDERR, ">", "$base.err") or die "start_bg: $base: $!\n";
			exec { $ARGV[0] } @ARGV or die "start_bg: cannot run $ARGV[0]: $!\n";
		}
		$SIG{PIPE} = "IGNORE"; # the test may be gone, or done with this pid
		$| = 1;
		print "$pid\n";
		waitpid($pid, 0);
		my $sig = $? & 127;
		warn "$base: pid $pid killed by signal $sig\n" if $sig && !grep { $_ == $sig } 2, 9, 13, 15;
		print $sig ? 128 + $sig : $? >> 8, "\n";
	' "$E2E_TMP/$name" env --default-signal=INT,TERM "$@")
	read -r BG_PID <&"$fd" || fail "$name: could not start $1 in the background"
	E2E_BG_FD[$BG_PID]=$fd
	E2E_PIDS+=("$BG_PID")
}

# wait_bounded PID SECS: wait for PID (from start_bg) to exit, at most SECS seconds; set
# WAIT_RC to its exit status.  A process still running after SECS is killed and fails
# the test.
wait_bounded()
{
	local pid=$1 secs=$2 fd=${E2E_BG_FD[$1]:?wait_bounded: pid $1 was not started by start_bg} rc=0
	read -r -t "$secs" WAIT_RC <&"$fd" || rc=$?
	if [ "$rc" -gt 128 ]; then
		kill -KILL "$pid" 2>/dev/null || true
		fail "pid $pid still running ${secs}s after it was told to stop (hang)"
	fi
	[ "$rc" -eq 0 ] || fail "the reaper of pid $pid ended without its exit status"
	exec {fd}<&-
	unset "E2E_BG_FD[$pid]"
}

# expected_checksum PAGES WS VCPUS ITERS: the checksum tests/guests/memwriter.c prints,
# computed from the arguments alone.  Each vCPU writes PAGES pages per iteration into
# its own WS-page window, cycling through it, with the iteration number (1..ITERS) in
# word 0.  The checksum is 64-bit FNV-1a over the 8 little-endian bytes of word 0 of
# every page of the VCPUS windows, in address order; a page never written holds 0.
expected_checksum()
{
	local pages=$1 ws=$2 vcpus=$3 iters=$4 total cpu j last v b
	local h=$((0xcbf29ce484222325))
	total=$((pages * iters))
	for ((cpu = 0; cpu < vcpus; cpu++)); do
		for ((j = 0; j < ws; j++)); do
			if ((j >= total)); then
				v=0
			else
				# The last write index w < total with w % ws == j.
				last=$((j + (total - 1 - j) / ws * ws))
				v=$((last / pages + 1))
			fi
			for ((b = 0; b < 8; b++)); do
				# bash arithmetic is 64-bit and wraps, as FNV wants.
				h=$(((h ^ ((v >> (8 * b)) & 0xff)) * 0x100000001b3))
			done
		done
	done
	printf '0x%016x' "$h"
}

# assert_quiet NAME: run NAME wrote nothing on stderr.  twin-vmm warns there about
# unhandled port and MMIO accesses, so a clean guest run must leave it empty.
assert_quiet()
{
	local f="$E2E_TMP/$1.err"
	if [ -s "$f" ]; then
		show_file "$f"
		fail "$1: twin-vmm wrote to stderr during a clean run"
	fi
}
