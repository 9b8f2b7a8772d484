#!/bin/bash
# test_man.sh: the man pages in man/ format without a warning.
#
# Each page goes through `man --warnings -l` (at MANWIDTH=80, as a reader
# sees it) and `groff -ww -man -z`; anything on their stderr fails the
# page.  Then xstored.8 must name every long option `xstored --help` lists
# ($XSTORED, default build/asan/xstored; skipped when not built), and the
# pages `make install` installs must exist.
# Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

PASSED=0 FAILED=0 SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS man/$1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL man/$1: $2"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP man/$1: $2"; }
finish() {
	echo "$PASSED passed, $FAILED failed$([ "$SKIPPED" -eq 0 ] || echo ", $SKIPPED skipped")"
	[ "$FAILED" -eq 0 ]
}
trap finish EXIT

for p in xstored.8 xstore.1 xsim.1 xsmux.1 libxstore.3; do
	if [ -f "$REPO/man/$p" ]; then pass "exists:$p"; else fail "exists:$p" "missing"; fi
done

have_man=1 have_groff=1
command -v man >/dev/null || have_man=
command -v groff >/dev/null || have_groff=
for page in "$REPO"/man/*.[1-8]; do
	[ -f "$page" ] || continue
	n=$(basename "$page")
	if [ -n "$have_man" ]; then
		out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
		lines=$(MANWIDTH=80 man --warnings -l "$page" 2>/dev/null | wc -l)
		if [ -n "$out" ]; then
			fail "man-l:$n" "$(head -n 5 <<<"$out" | tr '\n' ' ')"
		elif [ "$lines" -lt 10 ]; then
			fail "man-l:$n" "only $lines lines of output"
		else
			pass "man-l:$n"
		fi
	else
		skip "man-l:$n" "man not installed"
	fi
	if [ -n "$have_groff" ]; then
		out=$(groff -ww -man -z "$page" 2>&1)
		if [ -z "$out" ]; then pass "groff:$n"; else fail "groff:$n" "$(head -n 5 <<<"$out" | tr '\n' ' ')"; fi
	else
		skip "groff:$n" "groff not installed"
	fi
done

# Every option of the daemon's --help is in its page (as roff writes it).
bin=${XSTORED:-build/asan/xstored}
case $bin in /*) ;; *) bin=$REPO/$bin ;; esac
if [ -x "$bin" ]; then
	missing=
	for o in $("$bin" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
		grep -qF -- "${o//-/\\-}" "$REPO/man/xstored.8" 2>/dev/null || missing="$missing $o"
	done
	if [ -z "$missing" ]; then pass xstored-options; else fail xstored-options "not in xstored.8:$missing"; fi
else
	skip xstored-options "daemon not built: $bin (set XSTORED)"
fi

# libxstore(3)'s example compiles against the headers.
if command -v cc >/dev/null; then
	T=$(mktemp -d /tmp/xstore-man.XXXXXX)
	sed -n '/^\.EX/,/^\.EE/{/^\.E[XE]/d;p}' "$REPO/man/libxstore.3" |
		sed -n '1,/^}/p' | sed 's/\\-/-/g' >"$T/ex.c"
	if cc -std=c11 -Wall -Wextra -Werror -I"$REPO/include" -c -o "$T/ex.o" "$T/ex.c" 2>"$T/cc.log"; then
		pass libxstore-example
	else
		fail libxstore-example "$(head -c 300 "$T/cc.log")"
	fi
	rm -rf "$T"
else
	skip libxstore-example "no C compiler"
fi
