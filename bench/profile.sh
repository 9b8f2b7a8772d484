#!/bin/bash
# bench/profile.sh - profile xstored under one xsbench workload with
# callgrind (counts instructions; works where perf has no hardware
# counters, as in this VM).
#
#   bench/profile.sh WORKLOADS [XSBENCH-ARGS...]
#   bench/profile.sh 1                        # sequential read/write/dir
#   bench/profile.sh 1 --case read            # one case only
#   bench/profile.sh 7 --sizes 1000000        # 1M-node load and reads
#
# Prints callgrind_annotate's top functions (self instructions) and the
# daemon's instructions per op (all ops of the run, setup included).
# Files stay in $PROFDIR (default /tmp/bench-prof-cg): callgrind.out,
# xsbench.json, daemon log.
set -eu
[ $# -ge 1 ] || { sed -n 2,12p "$0"; exit 2; }
WL=$1; shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${PROFDIR:-/tmp/bench-prof-cg}
command -v valgrind >/dev/null || { echo "profile: valgrind is not installed" >&2; exit 1; }
make -s -C "$ROOT" -j2 build/release/xstored build/release/xsbench
rm -rf "$DIR"; mkdir -p "$DIR"
XSD=${XSTORED:-$ROOT/build/release/xstored}
# --poll-us 0: count the work per request, not the polls between requests
# (under valgrind every gap is long, so the count would be noise).  An
# older build given as XSTORED may not know the option.
POLL=""
"$XSD" --help | grep -q -- --poll-us && POLL="--poll-us 0"
# shellcheck disable=SC2086
valgrind --tool=callgrind --callgrind-out-file="$DIR/callgrind.out" \
	"$XSD" --rundir "$DIR" --foreground -F "$DIR/pid" \
	--log-file "$DIR/log" $POLL 2>"$DIR/valgrind.log" &
VG=$!
trap 'kill $VG 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -S "$DIR/socket" ] && [ -s "$DIR/pid" ] && break; sleep 0.1; done
[ -S "$DIR/socket" ] || { echo "profile: xstored did not start" >&2; cat "$DIR/valgrind.log" >&2; exit 1; }
"$ROOT/build/release/xsbench" --no-echo --runs 1 --secs 2 --slice 2 --workloads "$WL" \
	--server "xstored=$DIR/socket:$DIR/pid" --json "$DIR/xsbench.json" "$@" >/dev/null
kill -TERM $VG; wait $VG || true
trap - EXIT
OPS=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(int(sum(r["ops_per_s"] * d["secs_per_run"] for r in d["results"]
              if r["ops_per_s"] and r["case"] != "load")))' "$DIR/xsbench.json")
callgrind_annotate "$DIR/callgrind.out" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -${TOP:-25} || true
IR=$(callgrind_annotate "$DIR/callgrind.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
echo "ops measured: $OPS; daemon instructions: $IR; per op: $(( IR / (OPS > 0 ? OPS : 1) ))"
