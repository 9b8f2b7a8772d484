#!/bin/bash
# test_debian.sh: debian/ builds the four binary packages, lintian finds no
# error, and each .deb holds what it should.
#
# The build runs on a copy of the tree (tracked files and new untracked
# ones, not build/) in a temporary directory: dpkg-buildpackage writes
# debian/tmp, debian/<package>/ and the .debs (next to the source), none
# of which may land in the work tree.  DEB_BUILD_OPTIONS="nocheck
# parallel=2": one release build, no tests.  SKIPs, saying why, without
# dpkg-buildpackage, debhelper or the Build-Depends.
# Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

PASSED=0 FAILED=0 SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS debian/$1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL debian/$1: $2"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP debian/$1: $2"; }
check() { # check NAME WHY-IF-FALSE CMD...
	local n=$1 why=$2
	shift 2
	if "$@"; then pass "$n"; else fail "$n" "$why"; fi
}

TMP=$(mktemp -d /tmp/xstore-deb.XXXXXX)
finish() {
	rm -rf "$TMP"
	echo "$PASSED passed, $FAILED failed$([ "$SKIPPED" -eq 0 ] || echo ", $SKIPPED skipped")"
	[ "$FAILED" -eq 0 ]
}
trap finish EXIT

for t in dpkg-buildpackage dh dpkg-deb; do
	if ! command -v "$t" >/dev/null; then
		skip build "$t not installed (dpkg-dev, debhelper)"
		exit 0
	fi
done
if [ ! -f "$REPO/debian/control" ] || [ ! -x "$REPO/debian/rules" ]; then
	fail debian-dir "no debian/control or executable debian/rules"
	exit 1
fi
if ! why=$(cd "$REPO" && dpkg-checkbuilddeps 2>&1); then
	skip build "build dependencies missing: $why"
	exit 0
fi

# The copy: what git knows, plus new files not ignored.
S=$TMP/xstore
mkdir -p "$S"
(cd "$REPO" && git ls-files -co --exclude-standard -z |
	tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$S" -xf -
check copy "no debian/rules in the copy" test -x "$S/debian/rules"

t0=$SECONDS
if (cd "$S" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
	dpkg-buildpackage -us -uc -b >"$TMP/build.log" 2>&1); then
	pass "build ($((SECONDS - t0)) s)"
else
	fail build "$(grep -E 'error|Error|dh_[a-z]*: ' "$TMP/build.log" | tail -n 15)"
	exit 1
fi
# What a build in the work tree would have left there.
left=$(cd "$REPO" && ls -d debian/tmp debian/files debian/.debhelper debian/debhelper-build-stamp \
	debian/xstored debian/libxstore0 debian/libxstore-dev debian/xstore-tools build/deb 2>/dev/null)
check work-tree-untouched "the build wrote $left" test -z "$left"

declare -A DEB
for p in xstored libxstore0 libxstore-dev xstore-tools; do
	f=$(find "$TMP" -maxdepth 1 -name "${p}_*.deb" | head -n 1)
	if [ -n "$f" ]; then
		DEB[$p]=$f
		pass "deb:$p"
	else
		fail "deb:$p" "no ${p}_*.deb"
	fi
done
[ "${#DEB[@]}" -eq 4 ] || exit 1

if command -v lintian >/dev/null; then
	changes=$(find "$TMP" -maxdepth 1 -name 'xstore_*.changes' | head -n 1)
	lintian --tag-display-limit 0 "$changes" >"$TMP/lintian.log" 2>&1
	errors=$(grep -c '^E: ' "$TMP/lintian.log")
	warnings=$(grep '^W: ' "$TMP/lintian.log" | sed 's/^W: //' | sort -u)
	while read -r w; do
		[ -z "$w" ] || echo "  lintian warning (allowed): $w"
	done <<<"$warnings"
	check lintian "$errors errors: $(grep '^E: ' "$TMP/lintian.log" | head -n 10 | tr '\n' ' ')" \
		test "$errors" -eq 0
else
	skip lintian "lintian not installed"
fi

# contents PKG PATH...: each PATH (a grep -E pattern) is in PKG's .deb.
contents() {
	local p=$1 list path miss=
	shift
	list=$(dpkg-deb -c "${DEB[$p]}" | awk '{print $6}')
	for path in "$@"; do
		grep -qE "^\./$path\$" <<<"$list" || miss="$miss $path"
	done
	check "contents:$p" "missing:$miss" test -z "$miss"
}
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
units=()
for u in "$REPO"/systemd/*.service "$REPO"/systemd/*.socket; do
	[ ! -f "$u" ] || units+=("lib/systemd/system/$(basename "$u")")
done
contents xstored usr/sbin/xstored usr/share/man/man8/xstored.8.gz "${units[@]}"
contents libxstore0 "usr/lib/$MA/libxstore.so.0" "usr/lib/$MA/libxstore.so.0.1.0"
contents libxstore-dev usr/include/xstore/xstore.h usr/include/xstore/xenbus.h \
	usr/include/xstore/wire.h "usr/lib/$MA/libxstore.a" "usr/lib/$MA/libxstore.so" \
	"usr/lib/$MA/pkgconfig/xstore.pc" usr/share/man/man3/libxstore.3.gz
tools=(usr/bin/xstore usr/bin/xsim usr/bin/xsmux usr/share/man/man1/xstore.1.gz
	usr/share/man/man1/xsim.1.gz)
[ ! -d "$REPO/drivers/vbd/back" ] || tools+=(usr/sbin/xsblkback)
[ ! -d "$REPO/drivers/vbd/front" ] || tools+=(usr/bin/xsblkfront
	"usr/lib/$MA/nbdkit/plugins/nbdkit-xsblkfront-plugin.so")
contents xstore-tools "${tools[@]}"

compat=$(for f in "${DEB[@]}"; do dpkg-deb -c "$f"; done | grep -o 'xenstore-[a-z]*' | sort -u | tr '\n' ' ')
check no-xenstore-names "installed: $compat" test -z "$compat"

# The binaries: the client library needs no Xen library; the daemon is
# hardened.
X=$TMP/x
for p in xstored libxstore0; do dpkg-deb -x "${DEB[$p]}" "$X"; done
needed=$(readelf -d "$X/usr/lib/$MA/libxstore.so.0.1.0" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
check lib-needed "NEEDED: $needed" test "$(tr ' ' '\n' <<<"$needed" | grep -Evc '^(libc\.so\.6|)$')" -eq 0
dep=$(dpkg-deb -f "${DEB[libxstore0]}" Depends)
check lib-depends "Depends: $dep" bash -c "! grep -q libxen <<<'$dep'"
f=$X/usr/sbin/xstored
why=
h=$(readelf -hW "$f") l=$(readelf -lW "$f") d=$(readelf -dW "$f") s=$(nm -D "$f" 2>/dev/null)
grep -q 'Type:.*DYN' <<<"$h" || why="$why not-PIE"
grep -q GNU_RELRO <<<"$l" || why="$why no-RELRO"
grep -qE 'BIND_NOW|FLAGS_1.*NOW' <<<"$d" || why="$why no-BIND_NOW"
grep -q __stack_chk_fail <<<"$s" || why="$why no-stack-protector"
grep -q '__[a-z]*_chk' <<<"$s" || why="$why no-FORTIFY"
check hardening:xstored "$why" test -z "$why"
