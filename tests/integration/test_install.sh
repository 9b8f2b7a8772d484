#!/bin/bash
# test_install.sh: `make install` with PREFIX and DESTDIR, and a program
# built against the installed libxstore through its pkg-config file.
#
# Installs the variant of $XSTORED (default build/asan: V=asan, already
# built by run-all.sh) into a temporary DESTDIR with PREFIX=/usr, checks
# every file (libraries with their soname links, headers, xstore.pc, the
# daemon, the tools and the xenstore-* names), then compiles
# examples/counter.c against the installed headers and static library
# (with the variant's sanitizer flags) and runs it against the daemon,
# and checks that the shared library exports only the public API.
# Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../support/daemon.sh
. "$REPO/tests/support/daemon.sh"

PASSED=0 FAILED=0 SKIPPED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS install/$1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL install/$1: $2"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP install/$1: $2"; }

TMP=$(mktemp -d /tmp/xstore-install.XXXXXX)
finish() {
	xsd_stop
	rm -rf "$TMP"
	echo "$PASSED passed, $FAILED failed$([ "$SKIPPED" -eq 0 ] || echo ", $SKIPPED skipped")"
	[ "$FAILED" -eq 0 ]
}
trap finish EXIT

BIN=$(dirname "$(xsd_binary)")
V=$(basename "$BIN")
D=$TMP/root
if ! make -C "$REPO" V="$V" install PREFIX=/usr DESTDIR="$D" >"$TMP/make.log" 2>&1; then
	fail make-install "$(tail -n 20 "$TMP/make.log")"
	exit 1
fi
pass make-install

for f in usr/sbin/xstored usr/bin/xstore usr/lib/libxstore.a \
	usr/lib/libxstore.so.0.1.0 usr/lib/libxstore.so.0 usr/lib/libxstore.so \
	usr/include/xstore/xstore.h usr/include/xstore/wire.h \
	usr/lib/pkgconfig/xstore.pc; do
	if [ -e "$D/$f" ]; then pass "file:$f"; else fail "file:$f" "missing"; fi
done
for n in read write ls list rm exists chmod watch control; do
	l=$D/usr/bin/xenstore-$n
	if [ -L "$l" ] && [ "$(readlink "$l")" = xstore ]; then
		pass "link:xenstore-$n"
	else
		fail "link:xenstore-$n" "not a link to xstore"
	fi
done
if objdump -p "$D/usr/lib/libxstore.so.0.1.0" 2>/dev/null | grep -q 'SONAME *libxstore.so.0$'; then
	pass soname
else
	fail soname "$(objdump -p "$D/usr/lib/libxstore.so.0.1.0" 2>&1 | grep SONAME)"
fi
# Only the public API leaves the shared library.
bad=$(nm -D --defined-only "$D/usr/lib/libxstore.so.0.1.0" | awk '$2 ~ /[TDBR]/ {print $3}' |
	sed 's/@.*//' | grep -Ev '^(xstore_|xenbus_|xs_type_name$|xs_errno_name$|xs_errno_parse$)' || true)
if [ -z "$bad" ]; then pass exports; else fail exports "$(echo "$bad" | head -5 | tr '\n' ' ')"; fi

export PKG_CONFIG_PATH=$D/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
if ! command -v pkg-config >/dev/null; then
	skip pkg-config "pkg-config not installed"
	exit 0
fi
cflags=$(pkg-config --cflags xstore) libs=$(pkg-config --static --libs xstore)
case $cflags in *"$D/usr/include"*) pass pc-cflags ;; *) fail pc-cflags "$cflags" ;; esac
san=
case $V in
asan) san="-fsanitize=address,undefined" ;;
tsan) san="-fsanitize=thread" ;;
esac
if cc $san -o "$TMP/counter" "$REPO/examples/counter.c" $cflags \
	-Wl,-Bstatic -lxstore -Wl,-Bdynamic ${libs/-lxstore/} 2>"$TMP/cc.log"; then
	pass build-against-install
else
	fail build-against-install "$(head -c 400 "$TMP/cc.log")"
	exit 1
fi
if ! xsd_start "$TMP/run"; then
	fail daemon-start "$XSD_WHY"
	exit 1
fi
out=$("$TMP/counter" -n 3 /installed 2>&1)
if [ "$out" = 3 ]; then pass run-installed; else fail run-installed "$out"; fi
