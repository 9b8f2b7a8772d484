#!/bin/bash
# test_install.sh: `make install` and `make uninstall` with every directory
# variable, programs built against the installed libxstore through its
# pkg-config file, the client library's dependencies, the configuration
# stamp, and the release build's hardening.
#
# Installs the variant of $XSTORED (default build/asan: V=asan, already
# built by run-all.sh; the variant is read from its config.stamp) into
# temporary DESTDIRs:
#   1. PREFIX=/usr with a multiarch LIBDIR, MANDIR, ...: every file where
#      asked, no xenstore-* names, xstore.pc right, libxstore.so and .a
#      free of Xen's libraries, examples/counter.c built against the
#      installed headers with `pkg-config --libs xstore` (shared) and
#      `--static` and run against the daemon; `make uninstall` leaves no
#      file, and not a foreign xenstore-read either.
#   2. the default PREFIX with INSTALL_COMPAT=1: the xenstore-* names.
# Then, in a scratch build directory: an unchanged second make compiles
# nothing, a command-line CPPFLAGS (or HAVE_XEN) change rebuilds, AR is
# used; and the release flags give a PIE, RELRO, BIND_NOW, stack-protected,
# fortified program (and $XSTORED itself, when it is a release build).
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
check() { # check NAME WHY-IF-FALSE CMD...: pass if CMD succeeds
	local n=$1 why=$2
	shift 2
	if "$@"; then pass "$n"; else fail "$n" "$why"; fi
}

TMP=$(mktemp -d /tmp/xstore-install.XXXXXX)
finish() {
	xsd_stop
	rm -rf "$TMP"
	echo "$PASSED passed, $FAILED failed$([ "$SKIPPED" -eq 0 ] || echo ", $SKIPPED skipped")"
	[ "$FAILED" -eq 0 ]
}
trap finish EXIT

BIN=$(dirname "$(xsd_binary)")
V=$(sed -n 's/^V=//p' "$BIN/config.stamp" 2>/dev/null)
[ -n "$V" ] || V=$(basename "$BIN")
MK=(make -C "$REPO" --no-print-directory V="$V" O="$BIN")
MULTI=/usr/lib/$(cc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
DIRS=(PREFIX=/usr LIBDIR="$MULTI" MANDIR=/usr/share/man INCLUDEDIR=/usr/include
	SYSTEMDUNITDIR=/lib/systemd/system NBDKIT_PLUGINDIR="$MULTI/nbdkit/plugins")

# ---- 1. PREFIX=/usr, multiarch, no compat names ----
D=$TMP/root
if ! "${MK[@]}" install "${DIRS[@]}" DESTDIR="$D" >"$TMP/make.log" 2>&1; then
	fail make-install "$(tail -n 20 "$TMP/make.log")"
	exit 1
fi
pass make-install

L=${MULTI#/}
for f in usr/sbin/xstored usr/bin/xstore usr/bin/xsim usr/bin/xsmux \
	"$L/libxstore.a" "$L/libxstore.so.0.1.0" "$L/libxstore.so.0" "$L/libxstore.so" \
	usr/include/xstore/xstore.h usr/include/xstore/wire.h usr/include/xstore/xenbus.h \
	"$L/pkgconfig/xstore.pc" usr/share/man/man8/xstored.8 usr/share/man/man1/xstore.1 \
	usr/share/man/man1/xsim.1 usr/share/man/man3/libxstore.3; do
	check "file:$f" missing test -e "$D/$f"
done
for u in "$REPO"/systemd/*.service "$REPO"/systemd/*.socket; do
	[ -f "$u" ] || continue
	n=$(basename "$u")
	if [ ! -f "$D/lib/systemd/system/$n" ]; then
		fail "unit:$n" "not installed in SYSTEMDUNITDIR"
	elif grep -q '@[A-Z]*@' "$D/lib/systemd/system/$n"; then
		fail "unit:$n" "placeholder left: $(grep '@[A-Z]*@' "$D/lib/systemd/system/$n")"
	elif grep -q '^ExecStart=' "$D/lib/systemd/system/$n" &&
		! grep -q '^ExecStart=/usr/sbin/xstored' "$D/lib/systemd/system/$n"; then
		fail "unit:$n" "$(grep '^ExecStart=' "$D/lib/systemd/system/$n")"
	else
		pass "unit:$n"
	fi
done
for p in "$BIN"/xsblk* "$BIN"/drivers/*/*.so; do
	[ -f "$p" ] || continue
	n=$(basename "$p")
	if [ -n "$(find "$D" -name "$n" -print -quit)" ]; then pass "driver:$n"; else fail "driver:$n" "not installed"; fi
done
compat=$(find "$D" -name 'xenstore-*' | sed "s|^$D||")
check no-compat-names "installed without INSTALL_COMPAT: $compat" test -z "$compat"
check no-lib-in-prefix-lib "files in /usr/lib besides LIBDIR: $(ls "$D/usr/lib" 2>&1)" \
	test -z "$(find "$D/usr/lib" -maxdepth 1 -type f 2>/dev/null)"

# (Output captured before grep -q: with pipefail, grep's early exit would
# fail the pipe.)
out=$(objdump -p "$D/$L/libxstore.so.0.1.0" 2>&1)
check soname "$(grep SONAME <<<"$out")" grep -q 'SONAME *libxstore.so.0$' <<<"$out"
# Only the public API leaves the shared library.
bad=$(nm -D --defined-only "$D/$L/libxstore.so.0.1.0" | awk '$2 ~ /[TDBR]/ {print $3}' |
	sed 's/@.*//' | grep -Ev '^(xstore_|xenbus_|xs_type_name$|xs_errno_name$|xs_errno_parse$)' || true)
if [ -z "$bad" ]; then pass exports; else fail exports "$(echo "$bad" | head -5 | tr '\n' ' ')"; fi
# A client needs libc, not the hypervisor's libraries (the sanitizer
# variants add their runtime).
needed=$(readelf -d "$D/$L/libxstore.so.0.1.0" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
extra=$(tr ' ' '\n' <<<"$needed" | grep -Ev '^(libc\.so\.6|libpthread\.so\.0|libasan\.so\..*|libubsan\.so\..*|libtsan\.so\..*|)$' || true)
check so-needed "NEEDED: $needed" test -z "$extra"
# Nor do the client programs: the CLI and the simulator's tool link what
# a program built against libxstore gets (issue 12: each binary links
# only the libraries it uses).  The daemon and the drivers may use Xen's.
for b in usr/bin/xstore usr/bin/xsim; do
	needed=$(readelf -d "$D/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
	check "no-xen:$b" "NEEDED: $needed" bash -c "! grep -q libxen <<<'$needed'"
done
xen=$(nm "$D/$L/libxstore.a" 2>/dev/null | grep -E ' U (xc_|xenevtchn_|xengnttab_|xenforeignmemory_)' | sort -u | head -3 | tr '\n' ' ')
check static-no-xen "libxstore.a needs Xen's libraries: $xen" test -z "$xen"
pc=$D/$L/pkgconfig/xstore.pc
check pc-libdir "$(grep ^libdir= "$pc")" grep -qx "libdir=$MULTI" "$pc"
check pc-no-xen "$(grep ^Libs "$pc" | tr '\n' ' ')" bash -c "! grep -q -- -lxen '$pc'"

export PKG_CONFIG_PATH=$D/$L/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
have_pc=1
if ! command -v pkg-config >/dev/null; then
	skip pkg-config "pkg-config not installed"
	have_pc=
fi
san=
case $V in
asan) san="-fsanitize=address,undefined" ;;
tsan) san="-fsanitize=thread" ;;
esac
if [ -n "$have_pc" ]; then
	cflags=$(pkg-config --cflags xstore)
	case $cflags in *"$D/usr/include"*) pass pc-cflags ;; *) fail pc-cflags "$cflags" ;; esac
	# shellcheck disable=SC2086,SC2046 # flags are words
	if cc $san -o "$TMP/counter-so" "$REPO/examples/counter.c" $cflags \
		$(pkg-config --libs xstore) 2>"$TMP/cc.log"; then
		pass build-shared
	else
		fail build-shared "$(head -c 400 "$TMP/cc.log")"
	fi
	libs=$(pkg-config --static --libs xstore)
	# shellcheck disable=SC2086
	if cc $san -o "$TMP/counter-a" "$REPO/examples/counter.c" $cflags \
		-Wl,-Bstatic -lxstore -Wl,-Bdynamic ${libs/-lxstore/} 2>"$TMP/cc.log"; then
		pass build-static
	else
		fail build-static "$(head -c 400 "$TMP/cc.log")"
	fi
	if ! xsd_start "$TMP/run"; then
		fail daemon-start "$XSD_WHY"
	else
		if [ -x "$TMP/counter-so" ]; then
			out=$(LD_LIBRARY_PATH=$D/$L "$TMP/counter-so" -n 3 /installed-so 2>&1)
			check run-shared "$out" test "$out" = 3
			out=$(LD_LIBRARY_PATH=$D/$L ldd "$TMP/counter-so" 2>&1)
			check run-shared-uses-installed "$(grep xstore <<<"$out")" \
				grep -q "$D/$L/libxstore.so.0" <<<"$out"
		fi
		if [ -x "$TMP/counter-a" ]; then
			out=$("$TMP/counter-a" -n 3 /installed-a 2>&1)
			check run-static "$out" test "$out" = 3
		fi
		xsd_stop
	fi
fi

# A file of the same name that is not ours (Debian's xenstore-utils) stays.
echo foreign >"$D/usr/bin/xenstore-read"
if ! "${MK[@]}" uninstall "${DIRS[@]}" DESTDIR="$D" >"$TMP/make.log" 2>&1; then
	fail make-uninstall "$(tail -n 20 "$TMP/make.log")"
else
	pass make-uninstall
	check uninstall-keeps-foreign "xenstore-read removed" test -f "$D/usr/bin/xenstore-read"
	rm -f "$D/usr/bin/xenstore-read"
	left=$(find "$D" ! -type d | sed "s|^$D||" | head -5 | tr '\n' ' ')
	check uninstall-leaves-nothing "left: $left" test -z "$left"
fi

# ---- 2. default PREFIX, INSTALL_COMPAT=1 ----
D2=$TMP/root2
if ! "${MK[@]}" install INSTALL_COMPAT=1 DESTDIR="$D2" >"$TMP/make.log" 2>&1; then
	fail make-install-compat "$(tail -n 20 "$TMP/make.log")"
else
	pass make-install-compat
	check compat-prefix "no /usr/local/sbin/xstored" test -x "$D2/usr/local/sbin/xstored"
	check compat-libdir "no /usr/local/lib/libxstore.so.0" test -e "$D2/usr/local/lib/libxstore.so.0"
	check compat-pc "no /usr/local/lib/pkgconfig/xstore.pc" test -f "$D2/usr/local/lib/pkgconfig/xstore.pc"
	bad=
	for n in read write ls list rm exists chmod watch control; do
		l=$D2/usr/local/bin/xenstore-$n
		[ -L "$l" ] && [ "$(readlink "$l")" = xstore ] || bad="$bad xenstore-$n"
	done
	check compat-links "not links to xstore:$bad" test -z "$bad"
	"${MK[@]}" uninstall INSTALL_COMPAT=1 DESTDIR="$D2" >"$TMP/make.log" 2>&1
	left=$(find "$D2" ! -type d | sed "s|^$D2||" | head -5 | tr '\n' ' ')
	check compat-uninstall "left: $left" test -z "$left"
fi

# ---- the configuration stamp, CPPFLAGS, AR (scratch build, one library) ----
C=$TMP/cfg
T=$C/libxsplat.a
cmk() { make -C "$REPO" --no-print-directory V=release O="$C" "$@" "$T" >"$TMP/cfg.log" 2>&1; }
compiled() { grep -c -- ' -c -o ' "$TMP/cfg.log"; }
if ! cmk; then
	fail cfg-build "$(tail -n 10 "$TMP/cfg.log")"
else
	pass cfg-build
	cmk
	check cfg-unchanged-nothing "second make compiled $(compiled) files" test "$(compiled)" -eq 0
	if cmk CPPFLAGS=-DXSTORE_CFG_TEST; then
		n=$(compiled)
		check cfg-cppflags-rebuilds "compiled $n files" test "$n" -gt 0
		check cfg-cppflags-used "-DXSTORE_CFG_TEST not passed" grep -q -- '-Iinclude.*-DXSTORE_CFG_TEST' "$TMP/cfg.log"
	else
		fail cfg-cppflags "make CPPFLAGS=... failed: $(grep -m1 error "$TMP/cfg.log")"
	fi
	cmk CPPFLAGS=-DXSTORE_CFG_TEST
	check cfg-cppflags-unchanged "second make compiled $(compiled) files" test "$(compiled)" -eq 0
	cmk CPPFLAGS=-DXSTORE_CFG_TEST HAVE_XEN=
	check cfg-have-xen-rebuilds "HAVE_XEN change compiled $(compiled) files" test "$(compiled)" -gt 0
	printf '#!/bin/sh\necho "$@" >>"%s"\nexec ar "$@"\n' "$TMP/ar.log" >"$TMP/myar"
	chmod +x "$TMP/myar"
	rm -f "$T"
	cmk CPPFLAGS=-DXSTORE_CFG_TEST HAVE_XEN= AR="$TMP/myar"
	check cfg-ar "AR not used: $(tail -n 3 "$TMP/cfg.log")" test -s "$TMP/ar.log"
fi

# ---- hardening: the release flags (from the stamp), on a small program ----
# readelf only: hardening-check (devscripts) is not needed.
hardened() { # hardened NAME FILE: PIE, RELRO, BIND_NOW, canary, fortify
	local n=$1 f=$2 h d why=
	h=$(readelf -lW "$f" 2>/dev/null)
	d=$(readelf -dW "$f" 2>/dev/null)
	grep -q 'Type:.*DYN' <(readelf -hW "$f") || why="$why not-PIE"
	grep -q 'FLAGS_1.*PIE' <<<"$d" || why="$why no-PIE-flag"
	grep -q GNU_RELRO <<<"$h" || why="$why no-RELRO"
	grep -qE 'BIND_NOW|FLAGS_1.*NOW' <<<"$d" || why="$why no-BIND_NOW"
	d=$(nm -D "$f" 2>/dev/null)
	grep -q __stack_chk_fail <<<"$d" || why="$why no-stack-protector"
	grep -q '__[a-z]*_chk' <<<"$d" || why="$why no-FORTIFY"
	check "hardening:$n" "$why" test -z "$why"
}
stamp=$C/config.stamp
if [ ! -f "$stamp" ]; then
	fail hardening:release-flags "no $stamp to read the release flags from"
else
	cfg() { sed -n "s/^$1=//p" "$stamp"; }
	cat >"$TMP/h.c" <<'CEOF'
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	char buf[64];
	strcpy(buf, argc > 1 ? argv[1] : "x");
	printf("%s\n", buf);
	return 0;
}
CEOF
	# shellcheck disable=SC2046
	if cc $(cfg ALL_CPPFLAGS) $(cfg ALL_CFLAGS) -Wno-error $(cfg EXE_LDFLAGS) \
		-o "$TMP/h" "$TMP/h.c" 2>"$TMP/h.log"; then
		hardened release-flags "$TMP/h"
		if grep -q -- '-fcf-protection' <<<"$(cfg ALL_CFLAGS)"; then
			# On the object: the C runtime's start files of the system
			# may lack the note, and then the program does too.
			# shellcheck disable=SC2046
			cc $(cfg ALL_CPPFLAGS) $(cfg ALL_CFLAGS) -Wno-error -c -o "$TMP/h.o" "$TMP/h.c"
			check hardening:cf-protection "no IBT/SHSTK note" \
				bash -c "readelf -nW '$TMP/h.o' | grep -q 'IBT'"
		else
			skip hardening:cf-protection "the compiler does not take -fcf-protection"
		fi
	else
		fail hardening:build "$(head -c 300 "$TMP/h.log")"
	fi
fi
if [ "$V" = release ]; then
	hardened xstored "$BIN/xstored"
	hardened xstore "$BIN/xstore"
else
	skip hardening:xstored "$XSTORED is a $V build: the hardening is the release build's"
fi
