#!/bin/sh
# run-fuzz.sh - build the libFuzzer targets (make V=fuzz: build/fuzz/fuzz/
# fuzz_* from fuzz/fuzz_*.c, with clang) and run each for a bounded time.
#
# Each target starts from a temporary copy of its seeds, fuzz/corpus/NAME/
# (the seeds run first, as regression inputs; nothing new is ever written
# into the repository), and prints "PASS NAME (N runs, N exec/s)" or
# "FAIL NAME" with the path of the input that crashed, kept under
# build/fuzz-artifacts/NAME/.  The last line is "N passed, N failed".
# Targets: fuzz_store (the store against a model), fuzz_dispatch (framed
# requests on sockets), fuzz_ring (a guest's ring page), fuzz_control
# (CONTROL and quota requests, file paths confined to a temp dir).
# Without a clang able to link libFuzzer binaries it prints
# "SKIP fuzz: why" and "0 passed, 0 failed, 1 skipped"; a build error of
# the project itself is a failure.
#
# Env: FUZZ_SECONDS (per target, default 25: four targets stay under two
# minutes), JOBS (make -j, default 2), FUZZ_TARGETS (space-separated
# subset of the target names), FUZZ_BUILD (build directory, default
# build/fuzz), FUZZ_CORPUS (a directory: each target's corpus lives and
# grows in FUZZ_CORPUS/NAME, seeded from fuzz/corpus/NAME, instead of a
# temporary copy; `make fuzz-long` uses build/fuzz-corpus).
# Exit status: 0 if nothing failed, 1 otherwise.
set -u

cd "$(dirname "$0")/.." || exit 2
secs=${FUZZ_SECONDS:-25}
build=${FUZZ_BUILD:-build/fuzz}
bindir=$build/fuzz
artdir=$(pwd)/build/fuzz-artifacts
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

skip() {
	echo "SKIP fuzz: $1"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
}

# Can clang build a libFuzzer binary at all?
command -v clang >/dev/null 2>&1 || skip "clang not found"
cat >"$tmp/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	return d && n > 1000000;
}
EOF
if ! clang -fsanitize=fuzzer,address,undefined -o "$tmp/probe" \
	"$tmp/probe.c" >"$tmp/probe.log" 2>&1; then
	skip "clang cannot link a libFuzzer binary: $(head -n 1 "$tmp/probe.log")"
fi

echo "== build: make V=fuzz O=$build -j${JOBS:-2}"
if ! make V=fuzz O="$build" -j"${JOBS:-2}" >"$tmp/build.log" 2>&1; then
	grep -E 'error:|\*\*\* ' "$tmp/build.log" | head -n 20
	echo "FAIL build: make V=fuzz failed"
	echo "0 passed, 1 failed"
	exit 1
fi

passed=0
failed=0
for src in fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	if [ -n "${FUZZ_TARGETS:-}" ]; then
		case " $FUZZ_TARGETS " in
		*" $name "*) ;;
		*) continue ;;
		esac
	fi
	bin=$bindir/$name
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: $bin was not built"
		failed=$((failed + 1))
		continue
	fi
	# The request stream needs long inputs (requests up to 4200 bytes)
	# from the start; the store's programs stay short.
	case $name in
	fuzz_dispatch) opts="-max_len=16384 -len_control=0" ;;
	*) opts="-max_len=2048" ;;
	esac
	corpus=$tmp/$name/corpus
	[ -n "${FUZZ_CORPUS:-}" ] && corpus=$FUZZ_CORPUS/$name
	mkdir -p "$corpus" "$tmp/$name" "$artdir/$name"
	[ -d "fuzz/corpus/$name" ] && cp -R "fuzz/corpus/$name/." "$corpus/"
	log=$tmp/$name/log
	# shellcheck disable=SC2086 # $opts is a list of options
	timeout --kill-after=10 $((secs + 60)) "$bin" $opts \
		-max_total_time="$secs" -timeout=20 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$artdir/$name/" "$corpus" \
		>"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
		echo "PASS $name (${runs:-0} runs, ${speed:-0} exec/s)"
		passed=$((passed + 1))
	else
		grep -E 'mismatch|ERROR|SUMMARY|runtime error' "$log" | head -n 5
		if [ -n "$crash" ]; then
			echo "FAIL $name: crash input $crash"
		else
			cp "$log" "$artdir/$name/last.log"
			echo "FAIL $name: exit status $rc, log $artdir/$name/last.log"
		fi
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
