#!/bin/bash
# test_cli.sh: the xstore CLI against Debian's xenstore-utils.
#
# For each case, on one daemon ($XSTORED, default build/asan/xstored): the
# fixture tree /t is rebuilt, Debian's tool runs; /t is rebuilt, ours runs
# under the same argv[0]; then stdout, stderr, exit status and the
# resulting tree (xenstore-ls -f -p /t, by Debian's tool) must be equal.
# Then xstore's own commands (mkdir, getperms, quota, domain-path,
# control, request, trace) are checked for their documented output.
# One line per check, then "N passed, N failed[, N skipped]".
#
# Env: XSTORED (daemon), XSTORE_BIN (directory with xstore and its
# xenstore-* links; default: the daemon's directory).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../support/daemon.sh
. "$REPO/tests/support/daemon.sh"

PASSED=0 FAILED=0 SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS cli/$1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL cli/$1: $2"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP cli/$1: $2"; }

TMP=$(mktemp -d /tmp/xstore-cli.XXXXXX)
finish() {
	xsd_stop
	rm -rf "$TMP"
	echo "$PASSED passed, $FAILED failed$([ "$SKIPPED" -eq 0 ] || echo ", $SKIPPED skipped")"
	[ "$FAILED" -eq 0 ]
}
trap finish EXIT

BIN=${XSTORE_BIN:-$(dirname "$(xsd_binary)")}
case $BIN in /*) ;; *) BIN=$REPO/$BIN ;; esac
XSTORE=$BIN/xstore
if [ ! -x "$XSTORE" ]; then
	skip all "not built: $XSTORE"
	exit 0
fi
if ! xsd_start "$TMP/run"; then
	fail daemon-start "$XSD_WHY"
	exit 1
fi
HAVE_DEBIAN=1
command -v xenstore-read >/dev/null && [ -x /usr/bin/xenstore ] || HAVE_DEBIAN=0

# The fixture: values with escapes, binary bytes, long values, perms.
fixture() {
	local w=/usr/bin/xenstore-write
	[ "$HAVE_DEBIAN" = 1 ] || w="$XSTORE write"
	/usr/bin/xenstore-rm /t 2>/dev/null || "$XSTORE" rm /t 2>/dev/null
	$w /t/a hello /t/b 'two words' /t/esc 'tab\there\\back\001\x7f\xff' \
		/t/d/e/f deep /t/d/g '' /t/empty '' \
		/t/long "$(printf 'y%.0s' $(seq 100))" \
		/t/sixty "$(printf 'z%.0s' $(seq 58))" \
		"/t/$(printf 'n%.0s' $(seq 90))" v \
		/t/tidy/x/y 1 /t/w/a 1
	# (the owner must exist: with no platform, only dom0 does)
	xenstore-chmod /t/b r0 w2 2>/dev/null || "$XSTORE" chmod /t/b r0 w2
}

# run_as NAME BINARY ARGS...: run BINARY with argv[0] NAME; sets OUT ERR RC.
run_as() {
	local name=$1 bin=$2
	shift 2
	RC=0
	# argv[0] is NAME for both: usage lines print it.
	timeout 10 bash -c 'exec -a "$0" "$@"' "$name" "$bin" "$@" \
		>"$TMP/out" 2>"$TMP/err" </dev/null || RC=$?
	OUT=$(od -An -c "$TMP/out")
	ERR=$(cat "$TMP/err")
}

tree() { /usr/bin/xenstore-ls -f -p /t 2>&1 || true; }

# cmp_case ID NAME ARGS...: Debian's NAME against ours, same argv[0].
cmp_case() {
	local id=$1 name=$2 dbin rdbin
	shift 2
	dbin=/usr/bin/$name
	rdbin=$BIN/$name
	[ "$name" = xenstore ] && rdbin=$XSTORE
	fixture
	run_as "$name" "$dbin" "$@"
	local d_out=$OUT d_err=$ERR d_rc=$RC d_tree
	d_tree=$(tree)
	fixture
	run_as "$name" "$rdbin" "$@"
	local r_tree
	r_tree=$(tree)
	if [ "$RC" != "$d_rc" ]; then
		fail "$id" "$name $*: exit $RC, Debian $d_rc (stderr: ${ERR:0:200} / ${d_err:0:200})"
	elif [ "$OUT" != "$d_out" ]; then
		fail "$id" "$name $*: stdout differs:$(diff <(echo "$d_out") <(echo "$OUT") | head -20)"
	elif [ "$ERR" != "$d_err" ]; then
		fail "$id" "$name $*: stderr '$ERR', Debian '$d_err'"
	elif [ "$r_tree" != "$d_tree" ]; then
		fail "$id" "$name $*: tree differs:$(diff <(echo "$d_tree") <(echo "$r_tree") | head -20)"
	else
		pass "$id"
	fi
}

if [ "$HAVE_DEBIAN" = 1 ]; then
	N=90
	L=$(printf 'n%.0s' $(seq $N))
	# read
	cmp_case read-1 xenstore-read /t/a
	cmp_case read-many xenstore-read /t/a /t/b /t/esc
	cmp_case read-prefix xenstore-read -p /t/a /t/esc
	cmp_case read-prefix-long xenstore-read --prefix /t/a
	cmp_case read-prefix-after xenstore-read /t/a -p
	cmp_case read-raw xenstore-read -R /t/esc /t/a
	cmp_case read-socket xenstore-read -s /t/a
	cmp_case read-missing xenstore-read /t/none
	cmp_case read-some-missing xenstore-read /t/a /t/none /t/b
	cmp_case read-noargs xenstore-read
	cmp_case read-help xenstore-read -h
	cmp_case read-badopt xenstore-read -x /t/a
	cmp_case read-wrongopt xenstore-read -f /t/a
	cmp_case read-empty xenstore-read ''
	cmp_case read-badpath xenstore-read '/t//a'
	cmp_case read-relative xenstore-read local/domain
	# write
	cmp_case write-1 xenstore-write /t/n v
	cmp_case write-odd xenstore-write /t/n
	cmp_case write-esc xenstore-write /t/n 'a\tb\x41\101\n\\\q\x\x4g\777\'
	cmp_case write-raw xenstore-write -R /t/n 'a\tb\x41'
	cmp_case write-many xenstore-write /t/x 1 /t/y 2
	cmp_case write-abort xenstore-write /t/x 1 '/bad//p' 2 /t/y 3
	cmp_case write-noargs xenstore-write
	cmp_case write-wrongopt xenstore-write -p /t/x 1
	cmp_case write-empty xenstore-write /t/x ''
	# ls
	cmp_case ls-t xenstore-ls /t
	cmp_case ls-flat xenstore-ls -f /t
	cmp_case ls-perms xenstore-ls -p /t
	cmp_case ls-flat-perms xenstore-ls -f -p /t
	cmp_case ls-root xenstore-ls
	cmp_case ls-root-flat xenstore-ls -f
	cmp_case ls-missing xenstore-ls /none
	cmp_case ls-leaf xenstore-ls /t/a
	cmp_case ls-many xenstore-ls /t/d /t/tidy
	cmp_case ls-slash xenstore-ls /
	cmp_case ls-empty xenstore-ls ''
	cmp_case ls-wrongopt xenstore-ls -R /t
	cmp_case ls-badopt xenstore-ls -x /t/d
	cmp_case ls-help xenstore-ls -h
	# list
	cmp_case list-t xenstore-list /t
	cmp_case list-prefix xenstore-list -p /t /t/d
	cmp_case list-missing xenstore-list /none
	cmp_case list-root xenstore-list -p /
	cmp_case list-noargs xenstore-list
	cmp_case list-leaf xenstore-list /t/a
	# rm
	cmp_case rm-1 xenstore-rm /t/a
	cmp_case rm-tree xenstore-rm /t/d
	cmp_case rm-tidy xenstore-rm -t /t/tidy/x/y
	cmp_case rm-tidy-stop xenstore-rm -t /t/d/e/f
	cmp_case rm-missing xenstore-rm /t/none
	cmp_case rm-noparent xenstore-rm /none/x
	cmp_case rm-abort xenstore-rm /t/a /none/x /t/b
	cmp_case rm-noargs xenstore-rm
	cmp_case rm-wrongopt xenstore-rm -p /t/a
	# exists
	cmp_case exists-yes xenstore-exists /t/a
	cmp_case exists-no xenstore-exists /t/none
	cmp_case exists-some xenstore-exists /t/a /t/none
	cmp_case exists-prefix xenstore-exists -p /t
	cmp_case exists-noargs xenstore-exists
	# chmod
	cmp_case chmod-1 xenstore-chmod /t/a r1 w2
	cmp_case chmod-owner xenstore-chmod /t/a b5
	cmp_case chmod-upto xenstore-chmod -u /t/d/e/f b3
	cmp_case chmod-recurse xenstore-chmod -r /t/d n4 r5
	cmp_case chmod-both xenstore-chmod -u -r /t/d/e n6
	cmp_case chmod-badmode xenstore-chmod /t x1
	cmp_case chmod-nomode xenstore-chmod /t
	cmp_case chmod-missing xenstore-chmod /none r1
	cmp_case chmod-nodomid xenstore-chmod /t/a r
	cmp_case chmod-bigdomid xenstore-chmod /t/a r99999
	cmp_case chmod-emptypath xenstore-chmod '' r1
	cmp_case chmod-wrongopt xenstore-chmod -t /t/a r1
	# watch (events: the initial ones only; see below for changes)
	cmp_case watch-1 xenstore-watch -n 1 /t
	cmp_case watch-0 xenstore-watch -n 0 /t
	cmp_case watch-2 xenstore-watch -n 2 /t /t/d
	cmp_case watch-dup xenstore-watch -n 1 /t /t
	cmp_case watch-bad xenstore-watch -n 1 'bad//'
	cmp_case watch-noargs xenstore-watch
	cmp_case watch-wrongopt xenstore-watch -p /t
	# the multi-call name
	cmp_case multi-read xenstore read /t/a
	cmp_case multi-ls xenstore ls -f /t/d
	cmp_case multi-noargs xenstore
	cmp_case multi-bogus xenstore bogus
	cmp_case multi-help xenstore -h
	cmp_case multi-usage xenstore read
	cmp_case multi-badopt xenstore read -x /t/a

	# watch with changes: both see the same events in the same order.
	watch_events() {
		local bin=$1
		fixture
		timeout 10 bash -c 'exec -a xenstore-watch "$0" -n 4 /t/w' "$bin" \
			>"$TMP/wout" 2>&1 &
		local pid=$!
		sleep 0.5
		/usr/bin/xenstore-write /t/w/b 1 /t/other 2
		/usr/bin/xenstore-rm /t/w/a
		/usr/bin/xenstore-write /t/w/c 3
		wait "$pid"
		echo "rc=$?"
		cat "$TMP/wout"
	}
	d=$(watch_events /usr/bin/xenstore-watch)
	r=$(watch_events "$BIN/xenstore-watch")
	if [ "$d" = "$r" ] && [ "${r%%$'\n'*}" = rc=0 ]; then
		pass watch-events
	else
		fail watch-events "'$r', Debian '$d'"
	fi
else
	skip compare "Debian's xenstore-utils are not installed"
fi

# ---- xstore's own commands ----------------------------------------------------
# expect ID RC EXPECTED_STDOUT CMD...
expect() {
	local id=$1 rc=$2 want=$3
	shift 3
	RC=0
	timeout 10 "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || RC=$?
	local got
	got=$(cat "$TMP/out")
	if [ "$RC" != "$rc" ]; then
		fail "$id" "'$*' exited $RC, want $rc (stderr: $(head -c 200 "$TMP/err"))"
	elif [ "$want" != "*" ] && [ "$got" != "$want" ]; then
		fail "$id" "'$*' printed '$got', want '$want'"
	else
		pass "$id"
	fi
}

fixture
X=$XSTORE
expect x-read 0 hello $X read /t/a
expect x-connect 0 hello env -u XENSTORED_PATH $X -c "unix:$XSD_DIR/socket" read /t/a
expect x-connect-env 0 hello env -u XENSTORED_PATH XSTORE_CONNECT="unix:$XSD_DIR/socket" $X read /t/a
expect x-noconnect 1 "" env XENSTORED_PATH=/nonexistent $X read /t/a
expect x-mkdir 0 "" $X mkdir /t/m/n /t/m/o
expect x-mkdir-check 0 "n
o" $X list /t/m
expect x-mkdir-bad 1 "" $X mkdir '/t//x'
expect x-getperms 0 "n0" $X getperms /t/a
expect x-getperms-many 0 "/t/a: n0
/t/b: r0 w2" $X getperms /t/a /t/b
expect x-getperms-missing 1 "" $X getperms /t/none
expect x-chmod-roundtrip 0 "" $X chmod /t/a $($X getperms /t/b)
expect x-chmod-roundtrip-check 0 "r0 w2" $X getperms /t/a
expect x-domain-path 0 "/local/domain/3
/local/domain/0" $X domain-path 3 0
expect x-domain-path-bad 1 "" $X domain-path x
expect x-quota-get 0 "*" $X quota nodes
Q=$($X quota nodes)
expect x-quota-set 0 "" $X quota nodes $((Q + 5))
expect x-quota-check 0 "$((Q + 5))" $X quota nodes
expect x-quota-reset 0 "" $X quota nodes "$Q"
expect x-quota-list 0 "*" $X quota
if $X quota | grep -q "^nodes $Q\$"; then pass x-quota-list-format; else fail x-quota-list-format "$($X quota | head -3)"; fi
expect x-quota-bad 1 "" $X quota no-such-quota
expect x-is-introduced 0 "T" $X is-introduced 0
expect x-is-introduced-no 1 "F" $X is-introduced 42
expect x-control-help 0 "*" $X control help
expect x-control-bad 2 "" $X control no-such-command
expect x-control-usage 3 "" $X control
expect x-xenstore-control 0 "*" "$BIN/xenstore-control" help
expect x-request 0 'hello' $X request READ /t/a
expect x-request-num 0 'hello' $X request 2 /t/a
expect x-request-err 1 "" $X request READ /t/none
expect x-watch-depth 0 "/t/d" $X watch -n 1 -d 1 /t/d
# The trace view: requests and replies on stderr, output unchanged.
RC=0
$X -T read /t/a >"$TMP/out" 2>"$TMP/err" || RC=$?
if [ "$RC" = 0 ] && [ "$(cat "$TMP/out")" = hello ] &&
	grep -q '^> READ req_id=[0-9]* tx_id=0 len=5 "/t/a\\000"$' "$TMP/err" &&
	grep -q '^< READ req_id=[0-9]* tx_id=0 len=5 "hello"$' "$TMP/err"; then
	pass x-trace
else
	fail x-trace "rc $RC, stderr: $(head -c 300 "$TMP/err")"
fi
RC=0
$X trace read /t/none >"$TMP/out" 2>"$TMP/err" || RC=$?
if [ "$RC" = 1 ] && grep -q '^< ERROR .*"ENOENT\\000"$' "$TMP/err"; then
	pass x-trace-error
else
	fail x-trace-error "rc $RC, stderr: $(head -c 300 "$TMP/err")"
fi
expect x-help 0 "*" $X --help
expect x-unknown 1 "" $X no-such-command
expect x-noargs 1 "" $X

# ---- devices: split devices as the store describes them ------------------------
FE=/local/domain/3/device/vif BE=/local/domain/0/backend/vif/3
$X rm /local/domain/3 2>/dev/null
$X rm /local/domain/0/backend 2>/dev/null
$X write $FE/0/state 4 $FE/0/backend $BE/0 $FE/0/backend-id 0 \
	$BE/0/state 4 $BE/0/frontend $FE/0 $BE/0/frontend-id 3 \
	$FE/1/state 1 $FE/junk/state 4 $FE/2/state 9x
expect x-devices 0 "$FE/0 vif Connected $BE/0 Connected
$FE/1 vif Initialising - -
$FE/2 vif - - -" $X devices 3
expect x-devices-be 0 "$BE/0 vif Connected $FE/0 Connected" $X devices 0
if $X devices | grep -qx "$BE/0 vif Connected $FE/0 Connected" &&
	$X devices | grep -qx "$FE/1 vif Initialising - -"; then
	pass x-devices-all
else
	fail x-devices-all "$($X devices 2>&1 | head -5)"
fi
RC=0
$X devices --json 3 >"$TMP/out" 2>"$TMP/err" || RC=$?
if [ "$RC" = 0 ] && python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
fe, be = sys.argv[2], sys.argv[3]
assert [d["node"] for d in v] == [fe + "/0", fe + "/1", fe + "/2"], v
d = v[0]
assert (d["type"], d["domid"], d["id"], d["backend"], d["state"], d["state_value"],
        d["otherend"], d["otherend_id"], d["otherend_state"]) == \
       ("vif", 3, 0, False, "Connected", 4, be + "/0", 0, "Connected"), d
assert (v[1]["otherend"], v[1]["otherend_id"], v[1]["otherend_state"]) == (None, None, None), v[1]
assert (v[2]["state"], v[2]["state_value"]) == (None, None), v[2]
' "$TMP/out" "$FE" "$BE" 2>"$TMP/err"; then
	pass x-devices-json
else
	fail x-devices-json "rc $RC: $(head -c 300 "$TMP/out") $(head -c 300 "$TMP/err")"
fi
expect x-devices-json-empty 0 "[]" $X devices 4000 --json
expect x-devices-bad 1 "" $X devices x
expect x-devices-two 1 "" $X devices 3 4
$X rm /local/domain/3
$X rm /local/domain/0/backend

# ---- the examples (examples/*.c, built by make) --------------------------------
EX=$BIN/examples
if [ -x "$EX/counter" ] && [ -x "$EX/watcher" ]; then
	$X rm /t/counter 2>/dev/null
	pids=()
	for i in 1 2 3 4; do
		"$EX/counter" -n 25 /t/counter >"$TMP/counter.$i" 2>&1 &
		pids+=($!)
	done
	rc=0
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	got=$($X read /t/counter)
	if [ "$rc" = 0 ] && [ "$got" = 100 ]; then
		pass example-counter
	else
		fail example-counter "exit $rc, /t/counter = '$got' (want 100): $(cat "$TMP"/counter.* | head -5)"
	fi
	$X write /t/wx first
	timeout 10 "$EX/watcher" -n 3 /t/wx >"$TMP/watcher" 2>&1 &
	wp=$!
	sleep 0.5
	$X write /t/wx second
	$X rm /t/wx
	rc=0
	wait "$wp" || rc=$?
	want="/t/wx = first
/t/wx = second
/t/wx removed"
	if [ "$rc" = 0 ] && [ "$(cat "$TMP/watcher")" = "$want" ]; then
		pass example-watcher
	else
		fail example-watcher "exit $rc: $(cat "$TMP/watcher")"
	fi
else
	skip examples "not built: $EX/counter, $EX/watcher"
fi
