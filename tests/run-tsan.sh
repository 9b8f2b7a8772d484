#!/bin/bash
# run-tsan.sh: the threaded tests under ThreadSanitizer.
#
# Builds the TSan variant of what they need (make V=tsan: the tests, the
# daemon, xsim; only those targets, so that a TSan build problem elsewhere
# in the tree does not hide a race here) and runs test_lib_threads (many
# threads: requests in flight, watches churned while events arrive,
# callbacks removing themselves, suspend/resume and reconnection under
# load), test_lib, test_lib_fake and test_xenbus (the bus thread, the
# watch callbacks feeding it, callers waiting on it), test_loop (a thread
# sending dom0's request while a bulk callback spins on the loop's
# io_uring hint, and the poll window's pacing thread), and the daemon's
# compaction thread: test_frozen (a frozen store dumped by a thread while
# the main thread changes the tree), test_journal (the snapshot writer's
# thread, cancelled, failed, killed) and the daemon itself compacting
# under load and kills (test_crash.py compaction, on the TSan xstored).  Any TSan report
# fails the binary (halt_on_error).  Prints each binary's output, then
# one final line "N passed, N failed".  Exit 1 if anything failed.
#
# Env: JOBS (make -j, default 2), TSAN_TIMEOUT (seconds per binary, 600).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TESTS="test_lib_threads test_lib test_lib_fake test_xenbus test_loop test_frozen test_journal"
O=build/tsan
targets="$O/xstored $O/xsim $O/xstore"
for t in $TESTS; do targets="$targets $O/tests/$t"; done

echo "== build: make V=tsan $targets"
if ! make V=tsan -j"${JOBS:-2}" $targets >build/tsan-build.log 2>&1; then
	tail -n 40 build/tsan-build.log
	echo "FAIL build (log: build/tsan-build.log)"
	echo "0 passed, 1 failed"
	exit 1
fi

export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in $TESTS; do
	echo "== $t"
	rc=0
	timeout "${TSAN_TIMEOUT:-600}" "$O/tests/$t" >"$out" 2>&1 || rc=$?
	cat "$out"
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	p=0 f=0
	if [ -n "$summary" ]; then
		p=${summary%% passed*}
		f=${summary#*, }
		f=${f%% failed}
	fi
	if grep -q 'WARNING: ThreadSanitizer' "$out"; then
		echo "FAIL $t: ThreadSanitizer report"
		[ "$f" -gt 0 ] || f=1
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $t: exit status $rc"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "== test_crash.py compaction (xstored under TSan)"
rc=0
XSTORED=$O/xstored timeout "${TSAN_TIMEOUT:-600}" python3 \
	tests/integration/test_crash.py compaction >"$out" 2>&1 || rc=$?
cat "$out"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
p=${summary%% passed*}
f=${summary#*, }
f=${f%% failed*}
case "$p$f" in
*[!0-9]* | "") p=0 f=1 ;;
esac
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
	echo "FAIL test_crash.py: exit status $rc"
	f=1
fi
passed=$((passed + p))
failed=$((failed + f))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
