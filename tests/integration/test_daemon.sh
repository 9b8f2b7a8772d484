#!/usr/bin/env bash
# test_daemon.sh: xstored's command line, sockets, files and signals.
#
# Options (--help, --version, bad ones), a live socket refused and a stale
# one replaced, an unusable run directory, the read-only socket, the pid
# file, daemon mode, SIGHUP reopening the log, SIGTERM shutting down
# cleanly.  Output: PASS/FAIL/SKIP lines, then "N passed, N failed".
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../support/daemon.sh
. "$HERE/../support/daemon.sh"

BIN=$(xsd_binary)
TMP=$(mktemp -d /tmp/xstored-daemon-test.XXXXXX)
passed=0 failed=0 skipped=0
trap 'xsd_stop >/dev/null 2>&1; rm -rf "$TMP"' EXIT

pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
skip() { echo "SKIP $1: $2"; skipped=$((skipped + 1)); }
# check NAME COMMAND...: pass if the command succeeds
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name" "'$*' failed"; fi
}

if [ ! -x "$BIN" ]; then
	echo "SKIP daemon: not built ($BIN)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

# ---- options ----
out=$("$BIN" --help 2>&1)
st=$?
if [ $st -eq 0 ] && grep -q -- "--rundir" <<<"$out"; then
	pass help
else
	fail help "status $st"
fi
out=$("$BIN" --version 2>&1)
if [[ $out == "xstored (xstore) "* ]]; then pass version; else fail version "got '$out'"; fi
out=$("$BIN" --no-such-option 2>&1)
st=$?
if [ $st -eq 2 ] && grep -q "no-such-option" <<<"$out"; then
	pass bad-option
else
	fail bad-option "status $st, '$out'"
fi
out=$("$BIN" -E notanumber --rundir "$TMP/x" --foreground 2>&1)
st=$?
if [ $st -eq 2 ] && grep -q "notanumber" <<<"$out"; then
	pass bad-number
else
	fail bad-number "status $st, '$out'"
fi

# ---- run directory problems ----
touch "$TMP/file"
out=$("$BIN" --rundir "$TMP/file/sub" --foreground 2>&1)
st=$?
if [ $st -ne 0 ] && grep -qi "$TMP/file" <<<"$out"; then
	pass unusable-rundir
else
	fail unusable-rundir "status $st, '$out'"
fi

# ---- a running daemon ----
if ! xsd_start "$TMP/run"; then
	fail start "$XSD_WHY"
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 1
fi
pass start
check socket-mode test "$(stat -c %a "$TMP/run/socket")" = 600
check socket-ro-exists test -S "$TMP/run/socket_ro"

# A second daemon on the same directory is refused, the first unharmed.
out=$(timeout 10 "$BIN" --rundir "$TMP/run" --foreground 2>&1)
st=$?
if [ $st -ne 0 ] && grep -qi "in use" <<<"$out"; then
	pass live-socket-refused
else
	fail live-socket-refused "status $st, '$out'"
fi
check first-still-serves xenstore-write /t/a 1

# The read-only socket: reads work, writes get EROFS and change nothing.
out=$(XENSTORED_PATH=$TMP/run/socket_ro xenstore-read /t/a 2>&1)
check ro-read test "$out" = 1
out=$(XENSTORED_PATH=$TMP/run/socket_ro xenstore-write /t/a 2 2>&1)
st=$?
if [ $st -ne 0 ] && [ "$(xenstore-read /t/a)" = 1 ]; then
	pass ro-write-refused
else
	fail ro-write-refused "status $st, '$out', value $(xenstore-read /t/a)"
fi
# Every kind of change is refused with EROFS on the read-only socket.
if out=$(python3 - "$HERE/../support" "$TMP/run/socket_ro" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from xsproto import Conn, strings, type_num
c = Conn(sys.argv[2])
bad = []
for name, payload in [("WRITE", strings("/t/a") + b"x"), ("MKDIR", strings("/t/m")),
                      ("RM", strings("/t/a")), ("SET_PERMS", strings("/t/a", "n0")),
                      ("CONTROL", strings("check")), ("SET_QUOTA", strings("nodes", "5"))]:
    r = c.request(type_num(name), payload)
    if not r.is_error or r.error() != "EROFS":
        bad.append("%s: %r" % (name, r))
for name, payload in [("READ", strings("/t/a")), ("DIRECTORY", strings("/t")),
                      ("WATCH", strings("/t", "tok"))]:
    r = c.request(type_num(name), payload)
    if r.is_error:
        bad.append("%s refused: %r" % (name, r))
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
); then pass ro-erofs-every-change; else fail ro-erofs-every-change "$out"; fi

# SIGHUP reopens the log: after a rotation, new lines go to the new file.
xsd_stop
if [ "$XSD_STATUS" = 0 ]; then pass sigterm-exit-0; else fail sigterm-exit-0 "status $XSD_STATUS"; fi
check sockets-removed test ! -e "$TMP/run/socket" -a ! -e "$TMP/run/socket_ro"
if out=$(xsd_sanitizer_errors); then fail sanitizers "$out"; else pass sanitizers; fi

"$BIN" --rundir "$TMP/hup" --foreground --log-file "$TMP/hup.log" \
	--log-level debug -F "$TMP/hup.pid" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do [ -S "$TMP/hup/socket" ] && break; sleep 0.1; done
check pid-file test "$(cat "$TMP/hup.pid" 2>/dev/null)" = "$pid"
mv "$TMP/hup.log" "$TMP/hup.log.1"
kill -HUP "$pid"
sleep 0.3
XENSTORED_PATH=$TMP/hup/socket xenstore-write /hup x >/dev/null 2>&1
kill -INT "$pid"
wait "$pid"
st=$?
check sigint-exit-0 test $st -eq 0
check sighup-reopens test -s "$TMP/hup.log"
check pid-file-removed test ! -e "$TMP/hup.pid"

# A stale socket (no daemon behind it) is replaced.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' \
	"$TMP/stale-socket" && mkdir -p "$TMP/stale" && mv "$TMP/stale-socket" "$TMP/stale/socket"
if xsd_start "$TMP/stale"; then
	pass stale-socket-replaced
	xsd_stop
else
	fail stale-socket-replaced "$XSD_WHY"
fi

# Daemon mode: the parent returns once the child serves.
out=$("$BIN" --rundir "$TMP/bg" -F "$TMP/bg.pid" --log-file "$TMP/bg.log" 2>&1)
st=$?
if [ $st -eq 0 ] && XENSTORED_PATH=$TMP/bg/socket xenstore-write /bg 1 2>/dev/null; then
	pass daemonise
else
	fail daemonise "status $st, '$out'"
fi
if [ -s "$TMP/bg.pid" ]; then
	kill -TERM "$(cat "$TMP/bg.pid")"
	for _ in $(seq 50); do [ -e "$TMP/bg/socket" ] || break; sleep 0.1; done
	check daemon-stops test ! -e "$TMP/bg/socket"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
