#!/bin/bash
# run-all.sh: THE test command (`make check` runs it; so does .ci/run).
#
#   1. tests/support/deps.sh     install what is missing (as root)
#   2. make V=asan -j2           ASan+UBSan build; a build error stops here
#   3. the suites, each with its own time limit, output shown as it comes:
#        unit   tests/run-unit.sh build/asan      (if present)
#        <name> every tests/integration/test_<name>.sh and .py, e.g. utils
#               (test_utils.sh: xenstore-utils and test-xenstore)
#        diff   tests/integration/diff_test.py    differential test against cx
#        diff_guest tests/integration/diff_guest.py the same, as unprivileged guests
#        fuzz   tests/run-fuzz.sh                 (if present)
#        tsan   tests/run-tsan.sh                 libxstore's threaded tests
#               under ThreadSanitizer (builds what it needs with V=tsan)
#   4. one final line "N passed, N failed[, N skipped]" summing the suites'
#      own final lines.  A suite that exits non-zero without counting a
#      failure, or prints no final line (crash, time limit), counts as one
#      failure.  Exit 1 if anything failed.
#
# Env: XSTORED (daemon under test, default build/asan/xstored), JOBS (2),
# SUITE_TIMEOUT (seconds per suite, default 300), XSTORE_SUITES (space
# separated subset of "unit integration diff fuzz tsan", or suite names such
# as "utils" or "diff_guest").  Logs: build/test-logs/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
LOGS=$REPO/build/test-logs
mkdir -p "$LOGS"
export XSTORED=${XSTORED:-build/asan/xstored}
SUITES=${XSTORE_SUITES:-unit integration diff fuzz tsan}
T0=$SECONDS

TOTAL_P=0 TOTAL_F=0 TOTAL_S=0
SUMMARY=()

final() {
	echo
	echo "== summary ($((SECONDS - T0)) s)"
	local l
	for l in "${SUMMARY[@]+"${SUMMARY[@]}"}"; do echo "   $l"; done
	echo "$TOTAL_P passed, $TOTAL_F failed$([ "$TOTAL_S" -eq 0 ] || echo ", $TOTAL_S skipped")"
	[ "$TOTAL_F" -eq 0 ]
}

# suite NAME CMD...: run with a time limit, tee to the log, add its counts.
suite() {
	local name=$1 rc=0 line p f s
	shift
	echo
	echo "== $name: $*"
	timeout --kill-after=10 "${SUITE_TIMEOUT:-300}" "$@" 2>&1 | tee "$LOGS/$name.log" || rc=$?
	# With pipefail, rc is the suite's status (124: time limit).
	line=$(grep -E '^([A-Za-z_-]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$LOGS/$name.log" | tail -n 1 || true)
	if [ -z "$line" ]; then
		TOTAL_F=$((TOTAL_F + 1))
		SUMMARY+=("$name: FAILED: no final 'N passed, N failed' line (exit $rc$([ "$rc" -ne 124 ] || echo ': time limit'))")
		echo "FAIL $name: no final count line (exit $rc); log: $LOGS/$name.log"
		return 0
	fi
	p=$(sed -E 's/^([A-Za-z_-]+: )?([0-9]+) passed.*/\2/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	s=0
	[[ $line != *skipped* ]] || s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "FAIL $name: exited $rc with no failure counted"
	fi
	TOTAL_P=$((TOTAL_P + p)) TOTAL_F=$((TOTAL_F + f)) TOTAL_S=$((TOTAL_S + s))
	SUMMARY+=("$name: $p passed, $f failed, $s skipped (exit $rc)")
}

wanted() { [[ " $SUITES " == *" $1 "* ]]; }

# 1. dependencies
echo "== deps"
if [ "$(id -u)" -eq 0 ]; then
	bash tests/support/deps.sh || echo "deps: tests/support/deps.sh failed (exit $?); going on"
else
	echo "deps: not root: installing nothing (tests that need a missing tool SKIP)"
fi

# 2. build
echo
echo "== build: make V=asan -j${JOBS:-2}"
if ! make V=asan -j"${JOBS:-2}" >"$LOGS/build.log" 2>&1; then
	tail -n 60 "$LOGS/build.log"
	echo "FAIL build: make V=asan failed (full log: $LOGS/build.log)"
	TOTAL_F=$((TOTAL_F + 1))
	SUMMARY+=("build: FAILED")
	final || exit 1
fi
echo "PASS build"
TOTAL_P=$((TOTAL_P + 1))
SUMMARY+=("build: passed")

# 3. suites
if wanted unit; then
	if [ -f tests/run-unit.sh ]; then
		suite unit bash tests/run-unit.sh build/asan
	else
		SUMMARY+=("unit: not present (tests/run-unit.sh)")
	fi
fi
for t in tests/integration/test_*.sh tests/integration/test_*.py; do
	[ -f "$t" ] || continue
	name=${t##*/test_}
	name=${name%.*}
	wanted integration || wanted "$name" || continue
	case $t in
	*.sh) suite "$name" bash "$t" ;;
	*.py) suite "$name" python3 "$t" ;;
	esac
done
wanted diff && suite diff python3 tests/integration/diff_test.py
{ wanted diff || wanted diff_guest; } && suite diff_guest python3 tests/integration/diff_guest.py
if wanted tsan && [ -f tests/run-tsan.sh ]; then
	suite tsan bash tests/run-tsan.sh
fi
if wanted fuzz; then
	if [ -f tests/run-fuzz.sh ]; then
		suite fuzz bash tests/run-fuzz.sh
	else
		SUMMARY+=("fuzz: not present (tests/run-fuzz.sh)")
	fi
fi

final
