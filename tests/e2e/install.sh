#!/bin/bash
# e2e: make install DESTDIR=... lays out exactly Twin's files; each man page renders without a groff warning and documents every command, option and config key its program takes; the systemd unit verifies; the example configs pass the real parsers (twin, twin-clusterd --check-config, corosync -t).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_cmd make make
require_cmd man man-db
require_cmd groff groff-base
require_cmd systemd-analyze systemd
require_cmd corosync corosync
[ -n "${TWIN_BUILDDIR:-}" ] || fail "TWIN_BUILDDIR is not set: run this test through make check"
[ -f "$TWIN_BUILDDIR/Makefile" ] || fail "no Makefile in TWIN_BUILDDIR=$TWIN_BUILDDIR: configure it first"
for v in TWIN_INST_BINDIR TWIN_INST_MANDIR TWIN_INST_DOCDIR TWIN_INST_SYSCONFDIR; do
	[ -n "${!v:-}" ] || fail "$v is not set: run this test through make check (tests/e2e/e2e.am)"
done
# Empty when configured --without-systemdsystemunitdir: then no unit is installed.
unitdir=${TWIN_INST_UNITDIR:-}

dest=$E2E_TMP/dest
bin=$dest$TWIN_INST_BINDIR
man_dir=$dest$TWIN_INST_MANDIR
examples=$dest$TWIN_INST_DOCDIR/examples
export LC_ALL=C.UTF-8

# The install, from the build tree (VPATH or not), without make check's jobserver.
note "make install DESTDIR=$dest"
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$TWIN_BUILDDIR" install \
	DESTDIR="$dest" >"$E2E_TMP/install.out" 2>"$E2E_TMP/install.err"; then
	show_file "$E2E_TMP/install.err"
	fail "make install DESTDIR=$dest failed"
fi

# Exactly these files: the three programs, five man pages, the unit, three examples.
{
	printf '%s\n' "$TWIN_INST_BINDIR"/{twin,twin-clusterd,twin-vmm}
	printf '%s\n' "$TWIN_INST_MANDIR"/{man1/twin.1,man5/twin.cfg.5,man5/twin-clusterd.conf.5}
	printf '%s\n' "$TWIN_INST_MANDIR"/{man8/twin-clusterd.8,man8/twin-vmm.8}
	printf '%s\n' "$TWIN_INST_DOCDIR"/examples/{clusterd.conf,corosync.conf,kv1.cfg}
	[ -z "$unitdir" ] || echo "$unitdir/twin-clusterd.service"
} | sort >"$E2E_TMP/want"
(cd "$dest" && find . ! -type d | sed 's|^\.||' | sort) >"$E2E_TMP/got"
diff -u "$E2E_TMP/want" "$E2E_TMP/got" >"$E2E_TMP/layout.diff" ||
	{ show_file "$E2E_TMP/layout.diff"; fail "make install laid out other files than Twin's (- missing, + extra)"; }

# The programs: executable, and each answers --help.
for p in twin twin-clusterd twin-vmm; do
	[ -x "$bin/$p" ] || fail "$bin/$p is not executable"
	run_bounded 10 "help-$p" "$bin/$p" --help
	assert_status "help-$p" 0
	assert_match "$E2E_TMP/help-$p.out" "^usage: $p "
done
for f in "$man_dir"/man*/* "$examples"/*; do
	[ ! -x "$f" ] || fail "$f is executable: data files install mode 0644"
done

# page SECTION NAME: the installed page's path, as man finds it by name in the tree.
page()
{
	local p
	p=$(man -M "$man_dir" -w "$1" "$2" 2>/dev/null) ||
		fail "man -M $man_dir $1 $2 finds no page: installed in the wrong section?"
	[ "$p" = "$man_dir/man$1/$2.$1" ] || fail "man $1 $2 found $p, not man$1/$2.$1"
	echo "$p"
}

# Every page renders with no warning from man or groff, and has the sections a page needs.
for sp in 1:twin 5:twin.cfg 5:twin-clusterd.conf 8:twin-clusterd 8:twin-vmm; do
	name=${sp#*:}
	p=$(page "${sp%%:*}" "$name")
	MANWIDTH=80 man --warnings=all -l "$p" >"$E2E_TMP/$name.txt" 2>"$E2E_TMP/$name.man-err" ||
		{ show_file "$E2E_TMP/$name.man-err"; fail "man -l $p failed"; }
	[ ! -s "$E2E_TMP/$name.man-err" ] ||
		{ show_file "$E2E_TMP/$name.man-err"; fail "man --warnings -l $p warned"; }
	groff -ww -man -z "$p" 2>"$E2E_TMP/$name.groff-err" ||
		{ show_file "$E2E_TMP/$name.groff-err"; fail "groff -ww -man $p failed"; }
	[ ! -s "$E2E_TMP/$name.groff-err" ] ||
		{ show_file "$E2E_TMP/$name.groff-err"; fail "groff -ww -man warned on $p"; }
	for s in NAME SYNOPSIS DESCRIPTION 'SEE ALSO'; do
		grep -qx "$s" "$E2E_TMP/$name.txt" || fail "$p has no $s section"
	done
	# Wide, for the checks below: no line breaks inside an option or a command.
	MANWIDTH=250 man -l "$p" >"$E2E_TMP/$name.wide" 2>/dev/null
done

# documented PAGE WHAT ITEM...: each ITEM appears in PAGE's rendered text.
documented()
{
	local page=$1 what=$2 item
	shift 2
	[ $# -gt 0 ] || fail "no $what found to check against $page: did the program's --help change?"
	for item in "$@"; do
		grep -qF -- "$item" "$E2E_TMP/$page.wide" ||
			fail "$page's man page does not document $what '$item'"
	done
}

# The options each program's --help lists, and the commands of its synopsis.
for p in twin twin-clusterd twin-vmm; do
	mapfile -t opts < <(grep -o -- '--[a-z][a-z0-9-]*' "$E2E_TMP/help-$p.out" | sort -u)
	documented "$p" option "${opts[@]}"
done
mapfile -t cmds < <(sed -n 's/^\(usage: \|       \)twin \([a-z][a-z -]*[a-z]\).*/\2/p' \
	"$E2E_TMP/help-twin.out" | sed 's/ [A-Z].*//' | sort -u)
documented twin command "${cmds[@]}"
mapfile -t cmds < <(sed -n 's/^\(usage: \|       \)twin-vmm \([a-z|-]*\).*/\2/p' \
	"$E2E_TMP/help-twin-vmm.out" | tr '|' '\n' | sort -u)
documented twin-vmm command "${cmds[@]}"

# twin.cfg(5): every key the parser knows (it lists them for an unknown key).
printf 'name = kv1\nmemory = 64\nkernel = /k.elf\nnot_a_key = 1\n' >"$E2E_TMP/keys.cfg"
run_bounded 10 cfg-keys "$bin/twin" --socket "$E2E_TMP/none.sock" vm start "$E2E_TMP/keys.cfg"
assert_status cfg-keys 2
mapfile -t keys < <(sed -n "s/.*unknown key 'not_a_key': use //p" "$E2E_TMP/cfg-keys.err" |
	sed 's/ or /, /' | tr ',' '\n' | tr -d ' ' | grep .)
documented twin.cfg key "${keys[@]/%/ = }"

# twin-clusterd.conf(5): every [section] key of clusterd/conf.c's table, under its section.
mapfile -t keys < <(sed -n 's/^ *{"\([a-z_]*\)", "\([a-z_]*\)", K_.*/\1 \2/p' \
	"${TWIN_SRCDIR:?}/clusterd/conf.c")
[ ${#keys[@]} -gt 0 ] || fail "no keys found in clusterd/conf.c's table: did its layout change?"
for sk in "${keys[@]}"; do
	section=${sk% *} key=${sk#* }
	awk -v s="[$section]" '$0 == s { on = 1; next } /^[^ ]/ { on = 0 } on' \
		"$E2E_TMP/twin-clusterd.conf.wide" | grep -qF -- "$key = " ||
		fail "twin-clusterd.conf(5) does not document $key under [$section]"
done

# The unit: substituted, the right dependencies and policies, and systemd-analyze verify clean.
if [ -n "$unitdir" ]; then
	unit=$dest$unitdir/twin-clusterd.service
	! grep -n '@[a-z_]*@' "$unit" || fail "$unit holds an unsubstituted @variable@"
	for line in "Requires=corosync.service" "Restart=on-failure" "KillMode=mixed" \
		"RestartPreventExitStatus=2" "WantedBy=multi-user.target" \
		"ExecStart=$TWIN_INST_BINDIR/twin-clusterd --config $TWIN_INST_SYSCONFDIR/twin/clusterd.conf"; do
		grep -qxF "$line" "$unit" || fail "$unit lacks the line '$line'"
	done
	grep -qE '^After=(.* )?corosync\.service( |$)' "$unit" || fail "$unit is not After=corosync.service"
	# verify checks that ExecStart is executable and Documentation= pages exist: point both
	# at the DESTDIR tree.
	mkdir -p "$E2E_TMP/unit"
	sed "s|^ExecStart=/|ExecStart=$dest/|" "$unit" >"$E2E_TMP/unit/twin-clusterd.service"
	run_bounded 30 verify env MANPATH="$man_dir" systemd-analyze verify \
		"$E2E_TMP/unit/twin-clusterd.service"
	if [ "$RUN_RC" -ne 0 ] || [ -s "$E2E_TMP/verify.err" ] || [ -s "$E2E_TMP/verify.out" ]; then
		show_file "$E2E_TMP/verify.err"
		fail "systemd-analyze verify complains about $unit"
	fi
fi

# The example clusterd.conf, through twin-clusterd's own parser; a broken copy is refused.
run_bounded 10 conf-ok "$bin/twin-clusterd" --check-config --config "$examples/clusterd.conf"
assert_status conf-ok 0
if [ -s "$E2E_TMP/conf-ok.out" ] || [ -s "$E2E_TMP/conf-ok.err" ]; then
	show_file "$E2E_TMP/conf-ok.err"
	fail "twin-clusterd --check-config is not silent on the example"
fi
grep -qxF "twin_vmm = $TWIN_INST_BINDIR/twin-vmm" "$examples/clusterd.conf" ||
	fail "the example clusterd.conf does not name the installed twin-vmm ($TWIN_INST_BINDIR)"
sed 's/^port_base = .*/port_base = 80/' "$examples/clusterd.conf" >"$E2E_TMP/bad.conf"
run_bounded 10 conf-bad "$bin/twin-clusterd" --check-config --config "$E2E_TMP/bad.conf"
assert_status conf-bad 2
assert_match "$E2E_TMP/conf-bad.err" "$E2E_TMP/bad.conf:[0-9]*: \\[replication\\] port_base '80'"

# The example VM config, through twin's parser: vm start checks it before it connects, so a
# good one gets as far as the (absent) socket, a broken copy stops at its line.
run_bounded 10 cfg-ok "$bin/twin" --socket "$E2E_TMP/none.sock" vm start "$examples/kv1.cfg"
assert_status cfg-ok 1
assert_match "$E2E_TMP/cfg-ok.err" "cannot connect"
sed 's/^memory = .*/memory = lots/' "$examples/kv1.cfg" >"$E2E_TMP/bad.cfg"
run_bounded 10 cfg-bad "$bin/twin" --socket "$E2E_TMP/none.sock" vm start "$E2E_TMP/bad.cfg"
assert_status cfg-bad 2
assert_match "$E2E_TMP/cfg-bad.err" "$E2E_TMP/bad.cfg:[0-9]*: memory 'lots' is invalid"

# The example corosync.conf, through corosync's own parser (-t), as h1: corosync wants one of
# its nodelist addresses local and its key readable.  Three votes, votequorum, no two_node.
[ "$(grep -c '^[[:space:]]*ring0_addr:' "$examples/corosync.conf")" -eq 3 ] ||
	fail "the example corosync.conf does not list three nodes"
grep -qE '^[[:space:]]*provider: corosync_votequorum$' "$examples/corosync.conf" ||
	fail "the example corosync.conf has no votequorum"
! grep -qE '^[[:space:]]*two_node:' "$examples/corosync.conf" ||
	fail "the example corosync.conf sets two_node: both halves of a partition keep quorum"
head -c 256 /dev/urandom >"$E2E_TMP/authkey"
sed -e '0,/ring0_addr: [0-9.]*/s//ring0_addr: 127.0.0.1/' \
	-e "s|^\\([[:space:]]*\\)crypto_hash: .*|&\\n\\1keyfile: $E2E_TMP/authkey|" \
	"$examples/corosync.conf" >"$E2E_TMP/corosync.conf"
grep -q "keyfile: $E2E_TMP/authkey" "$E2E_TMP/corosync.conf" || fail "the example has no crypto_hash line"
run_bounded 10 corosync-ok corosync -c "$E2E_TMP/corosync.conf" -t
[ "$RUN_RC" -eq 0 ] || { show_file "$E2E_TMP/corosync-ok.err"; fail "corosync -t refuses the example corosync.conf"; }
sed 's/token: [0-9]*/token: soon/' "$E2E_TMP/corosync.conf" >"$E2E_TMP/bad-corosync.conf"
run_bounded 10 corosync-bad corosync -c "$E2E_TMP/bad-corosync.conf" -t
[ "$RUN_RC" -ne 0 ] || fail "corosync -t accepts a broken copy: the check above proves nothing"

note "installed files, man pages, unit and examples all check"
