#!/bin/bash
# test_utils.sh: the daemon under test driven by unchanged Xen clients.
#
# Starts $XSTORED (default build/asan/xstored) with a temporary --rundir,
# then checks Debian's xenstore-utils (xenstore-read/-write/-ls/-list/-rm/
# -exists/-chmod/-watch, over libxenstore and XENSTORED_PATH) and Xen's
# test-xenstore (every test it lists, then -i 100 and -r 5) against it,
# then stops it with SIGTERM: it must exit 0 with no sanitizer report.
# One line per check (PASS name / FAIL name: why / SKIP name: why), then
# "N passed, N failed[, N skipped]".  Exit 1 if anything failed.
#
# Env: XSTORED (daemon binary), TEST_XENSTORE (test-xenstore binary; default
# from tests/support/deps.sh's cache), XSTORE_DEPS_CACHE, XS_RANDOM_SECS (5).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../support/daemon.sh
. "$REPO/tests/support/daemon.sh"

PASSED=0 FAILED=0 SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS utils/$1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL utils/$1: $2"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP utils/$1: $2"; }

TMP=$(mktemp -d /tmp/xstore-utils.XXXXXX)
WATCH_PID=
finish() {
	local rc=$?
	[ -z "$WATCH_PID" ] || kill "$WATCH_PID" 2>/dev/null || true
	xsd_stop
	rm -rf "$TMP"
	echo "$PASSED passed, $FAILED failed$([ "$SKIPPED" -eq 0 ] || echo ", $SKIPPED skipped")"
	if [ "$FAILED" -ne 0 ]; then exit 1; fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 143' TERM INT

# run CMD...: run with a timeout; sets OUT, ERR, RC (never aborts the script).
run() {
	RC=0
	timeout 20 "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# expect NAME RC EXPECTED_STDOUT CMD...: exit status and stdout must match
# (EXPECTED_STDOUT "*" = anything).
expect() {
	local name=$1 want_rc=$2 want_out=$3
	shift 3
	run "$@"
	if [ "$RC" -ne "$want_rc" ]; then
		fail "$name" "'$*' exited $RC, want $want_rc (stderr: ${ERR:0:200})"
	elif [ "$want_out" != "*" ] && [ "$OUT" != "$want_out" ]; then
		fail "$name" "'$*' printed '$(printf '%s' "$OUT" | head -c 300)', want '$want_out'"
	else
		pass "$name"
	fi
}

# ---- the daemon --------------------------------------------------------------
if ! xsd_start "$TMP/run"; then
	case $XSD_WHY in
	"daemon not built"*) skip daemon "$XSD_WHY" ;;
	*) fail daemon-start "$XSD_WHY" ;;
	esac
	exit 0
fi
pass daemon-start
if grep -qxF "export XENSTORED_PATH=$XSD_DIR/socket" "$XSD_LOG"; then
	pass daemon-prints-export
else
	fail daemon-prints-export "no line 'export XENSTORED_PATH=$XSD_DIR/socket' in its output"
fi
if [ -S "$XSD_DIR/socket_ro" ]; then
	pass daemon-socket-ro
else
	fail daemon-socket-ro "no socket $XSD_DIR/socket_ro"
fi

# ---- xenstore-utils -------------------------------------------------------------
UTILS=1
for t in xenstore-read xenstore-write xenstore-ls xenstore-list xenstore-rm \
	xenstore-exists xenstore-chmod xenstore-watch; do
	command -v "$t" >/dev/null || { UTILS=0 && skip xenstore-utils "$t not installed (tests/support/deps.sh installs xenstore-utils)" && break; }
done

if [ "$UTILS" -eq 1 ]; then
	expect write 0 "" xenstore-write /xsu/a hello
	expect read 0 "hello" xenstore-read /xsu/a
	expect write-several 0 "" xenstore-write /xsu/b 1 /xsu/c "two words" /xsu/e ""
	expect read-several 0 $'1\ntwo words' xenstore-read /xsu/b /xsu/c
	expect read-empty-value 0 "" xenstore-read /xsu/e
	expect read-missing 1 "" xenstore-read /xsu/missing
	if [[ $ERR == *"couldn't read path /xsu/missing"* ]]; then
		pass read-missing-message
	else
		fail read-missing-message "stderr '$ERR'"
	fi
	expect read-missing-parent 1 "" xenstore-read /xsu/nope/deeper
	expect read-bad-path 1 "" xenstore-read /xsu//a
	expect read-bad-char 1 "" xenstore-read '/xsu/a b'
	expect write-bad-path 1 "" xenstore-write /xsu/bad/ v
	big=$(head -c 2000 /dev/zero | tr '\0' 'z')
	expect write-2000 0 "" xenstore-write /xsu/big "$big"
	expect read-2000 0 "$big" xenstore-read /xsu/big
	expect rm-big 0 "" xenstore-rm /xsu/big
	expect exists 0 "" xenstore-exists /xsu/a
	expect exists-missing 1 "" xenstore-exists /xsu/missing
	expect ls 0 $'a = "hello"\nb = "1"\nc = "two words"\ne = ""' xenstore-ls /xsu
	expect ls-full 0 $'/xsu/a = "hello"\n/xsu/b = "1"\n/xsu/c = "two words"\n/xsu/e = ""' xenstore-ls -f /xsu
	expect ls-missing 1 "" xenstore-ls /xsu/missing
	expect list 0 $'a\nb\nc\ne' xenstore-list /xsu
	expect list-missing 1 "" xenstore-list /xsu/missing
	expect chmod 0 "" xenstore-chmod /xsu/a n0 r5 b7
	run xenstore-ls -p /xsu
	if grep -q '^a = "hello" .*(n0,r5,b7)$' <<<"$OUT"; then pass chmod-shown; else fail chmod-shown "xenstore-ls -p: $OUT"; fi
	expect chmod-bad-letter 1 "" xenstore-chmod /xsu/a x5
	expect chmod-missing 1 "" xenstore-chmod /xsu/missing n0
	expect chmod-recursive 0 "" xenstore-chmod -r /xsu b0
	run xenstore-ls -p /xsu
	if [ "$(grep -c '(b0)$' <<<"$OUT")" -eq 4 ]; then pass chmod-recursive-shown; else fail chmod-recursive-shown "xenstore-ls -p: $OUT"; fi
	expect rm 0 "" xenstore-rm /xsu/a
	expect rm-gone 1 "" xenstore-exists /xsu/a
	expect rm-missing-parent-exists 0 "" xenstore-rm /xsu/missing
	expect rm-missing-parent-missing 1 "" xenstore-rm /xsu/nope/deeper
	expect rm-subtree-setup 0 "" xenstore-write /xsu/t/x/y 1 /xsu/t/z 2
	expect rm-subtree 0 "" xenstore-rm /xsu/t
	expect rm-subtree-gone 1 "" xenstore-exists /xsu/t/x/y
	expect rm-t-setup 0 "" xenstore-write /xsu/u/x/y 1
	expect rm-t 0 "" xenstore-rm -t /xsu/u/x/y
	expect rm-t-empty-parents-gone 1 "" xenstore-exists /xsu/u
	expect rm-t-others-kept 0 "" xenstore-exists /xsu/b
	expect write-relative 0 "" xenstore-write xsu-rel/a relv
	expect read-relative-as-absolute 0 "relv" xenstore-read /local/domain/0/xsu-rel/a
	expect rm-relative 0 "" xenstore-rm xsu-rel

	# watch: the first event is immediate, the second comes from a write
	timeout 10 xenstore-watch -n 2 /xsu/w >"$TMP/watch" 2>&1 &
	WATCH_PID=$!
	for _ in $(seq 50); do
		grep -q . "$TMP/watch" && break
		sleep 0.1
	done
	expect watch-trigger 0 "" xenstore-write /xsu/w/x 1
	wrc=0
	wait "$WATCH_PID" || wrc=$?
	WATCH_PID=
	if [ "$wrc" -ne 0 ]; then
		fail watch "xenstore-watch -n 2 /xsu/w exited $wrc; printed: $(head -c 300 "$TMP/watch")"
	elif [ "$(cat "$TMP/watch")" != $'/xsu/w\n/xsu/w/x' ]; then
		fail watch "printed '$(head -c 300 "$TMP/watch")', want '/xsu/w' then '/xsu/w/x'"
	else
		pass watch
	fi

	# the read-only socket (not in Xen 4.17; our daemon keeps one)
	if [ -S "$XSD_DIR/socket_ro" ]; then
		expect ro-read 0 "1" env XENSTORED_PATH="$XSD_DIR/socket_ro" xenstore-read /xsu/b
		expect ro-write-refused 1 "" env XENSTORED_PATH="$XSD_DIR/socket_ro" xenstore-write /xsu/b 2
		expect ro-write-had-no-effect 0 "1" xenstore-read /xsu/b
	fi
	expect rm-all 0 "" xenstore-rm /xsu
fi

# ---- test-xenstore ---------------------------------------------------------------
TX=${TEST_XENSTORE:-${XSTORE_DEPS_CACHE:-/var/cache/xstore-deps}/root/usr/lib/xen-4.17/bin/test-xenstore}
if [ ! -x "$TX" ]; then
	skip test-xenstore "not found at $TX (tests/support/deps.sh unpacks it from xen-utils-4.17)"
elif ! "$TX" -l >"$TMP/tests" 2>&1; then
	fail test-xenstore-list "'$TX -l' failed: $(head -c 300 "$TMP/tests")"
else
	mapfile -t TESTS < <(sed -n 's/^\(.*[^ ]\) *: .*$/\1/p' "$TMP/tests")
	if [ "${#TESTS[@]}" -eq 0 ]; then
		fail test-xenstore-list "no tests in: $(head -c 300 "$TMP/tests")"
	fi
	for t in "${TESTS[@]}"; do
		name="test-xenstore/${t// /_}"
		run "$TX" -t "$t"
		# test-xenstore exits 0 for an unknown test name: insist on its line
		if [ "$RC" -ne 0 ]; then
			fail "$name" "exit $RC: $(printf '%s %s' "$OUT" "$ERR" | tr '\n' ' ' | head -c 300)"
		elif ! grep -q "^$t *:" <<<"$OUT"; then
			fail "$name" "did not report the test: $(printf '%s' "$OUT" | head -c 200)"
		else
			pass "$name"
		fi
	done
	RC=0
	timeout 300 "$TX" -i 100 >"$TMP/out" 2>&1 || RC=$?
	if [ "$RC" -eq 0 ]; then pass test-xenstore/iterations-100; else
		fail test-xenstore/iterations-100 "exit $RC: $(tail -c 300 "$TMP/out" | tr '\n' ' ')"
	fi
	secs=${XS_RANDOM_SECS:-5}
	RC=0
	timeout $((secs + 60)) "$TX" -r "$secs" >"$TMP/out" 2>&1 || RC=$?
	if [ "$RC" -eq 0 ]; then pass "test-xenstore/random-${secs}s"; else
		fail "test-xenstore/random-${secs}s" "exit $RC: $(tail -c 300 "$TMP/out" | tr '\n' ' ')"
	fi
fi

# ---- stop --------------------------------------------------------------------------
if ! kill -0 "$XSD_PID" 2>/dev/null; then
	fail daemon-alive "the daemon died during the tests: $(xsd_log_tail 10 | tr '\n' ' ')"
	XSD_PID_DEAD=1
else
	XSD_PID_DEAD=0
fi
xsd_stop
if [ "$XSD_PID_DEAD" -eq 0 ]; then
	if [ "$XSD_STATUS" -eq 0 ]; then pass daemon-sigterm-exit-0; else
		fail daemon-sigterm-exit-0 "exit status $XSD_STATUS after SIGTERM: $(xsd_log_tail 5 | tr '\n' ' ')"
	fi
fi
if errs=$(xsd_sanitizer_errors); then
	fail daemon-sanitizers "$(head -n 3 <<<"$errs" | tr '\n' ' ') (log: $XSD_LOG)"
	cp "$XSD_LOG" "/tmp/xstore-utils-daemon.log" 2>/dev/null && echo "    daemon log kept in /tmp/xstore-utils-daemon.log"
else
	pass daemon-sanitizers
fi
