#!/bin/sh
# run-unit.sh BUILD_DIR - run every BUILD_DIR/tests/test_* unit-test binary,
# show its output, and print one aggregated final line "N passed, N failed".
#
# Each binary ends with its own "N passed, N failed" line (tests/support/
# check.h); those are summed.  A binary that exits non-zero without
# reporting a failed test -- a crash, a sanitizer report, a hang past
# UNIT_TIMEOUT seconds (default 300), a missing summary line -- counts as
# one more failure, named after the binary.  Exits 1 if anything failed or
# no test binary was found, 2 on a usage error.
set -u

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
dir=$1
timeout=${UNIT_TIMEOUT:-300}
passed=0
failed=0
found=0
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT

for bin in "$dir"/tests/test_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	found=$((found + 1))
	name=$(basename "$bin")
	echo "== $name"
	if command -v timeout >/dev/null 2>&1; then
		timeout "$timeout" "$bin" >"$out" 2>&1
	else
		"$bin" >"$out" 2>&1
	fi
	rc=$?
	cat "$out"
	# The binary's own summary: the last line of exactly this form.
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	p=0
	f=0
	if [ -n "$summary" ]; then
		p=${summary%% passed*}
		f=${summary#*, }
		f=${f%% failed}
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		failed=$((failed + 1))
		if [ "$rc" -eq 124 ]; then
			why="timed out after ${timeout}s"
		elif [ "$rc" -gt 128 ]; then
			why="killed by signal $((rc - 128))"
		elif [ -z "$summary" ]; then
			why="exit status $rc, no summary line (crashed?)"
		else
			why="exit status $rc after its tests passed"
		fi
		echo "FAIL $name ($why)"
	fi
done

if [ "$found" -eq 0 ]; then
	echo "run-unit.sh: no test binaries in $dir/tests" >&2
	echo "0 passed, 0 failed"
	exit 1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
