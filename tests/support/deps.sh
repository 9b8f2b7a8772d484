#!/bin/bash
# deps.sh: install what the test suites need, idempotently (Debian 12, root).
#
#   xenstore-utils      xenstore-read/-write/-ls/-list/-rm/-exists/-chmod/
#                       -watch and libxenstore (Debian's clients under test)
#   python3             the integration and differential tests
#   clang               the fuzz targets
#   libclang-rt-14-dev  only if `clang -fsanitize=fuzzer` cannot link
#   python3-pyxs        pyxs, a third XenStore client for test_mux.py
#   libxen-dev          headers and libraries of libxenctrl, libxenevtchn and
#                       libxengnttab, so that plat/xen.c is compiled (no
#                       hypervisor comes with it); also xen/io/blkif.h for
#                       the split block device (drivers/vbd)
#   nbdkit, nbdkit-plugin-dev
#                       the NBD server that xsblkfront's plugin runs in
#   libnbd-bin, python3-libnbd, qemu-utils, e2fsprogs
#                       NBD clients used on the guest's disk in the tests
#                       (nbdcopy, nbdinfo, qemu-img, mkfs.ext4/e2fsck)
#   debhelper, lintian  building and checking the Debian packages (debian/)
#   pkg-config          compiling against the installed libxstore (README, test_readme.py)
#   zlib1g-dev          zlib.h: the daemon journal's crc32 (also installed by
#                       tests/support/build-deps.sh when make finds it missing)
#   test-xenstore       Xen's own client test, from xen-utils-4.17: the .deb
#                       is downloaded and unpacked with dpkg -x into the cache
#                       (${XSTORE_DEPS_CACHE:-/var/cache/xstore-deps}/root),
#                       never installed (no hypervisor packages come in)
#   launch-xenstore     Xen's script that starts a xenstored, from
#                       xen-utils-common, unpacked the same way
#                       ($ROOT/etc/xen/scripts/launch-xenstore; test_systemd.py)
#
# apt-get update runs at most once, and only when an install fails.
# Not root: installs nothing and says so; still looks for test-xenstore.
# Prints "deps: ..." lines; the last one is "deps: test-xenstore=PATH" (or
# "deps: test-xenstore=" when it could not be had).  Exit 0 even when
# something is missing: the tests that need it print SKIP with the reason.
set -euo pipefail

CACHE=${XSTORE_DEPS_CACHE:-/var/cache/xstore-deps}
ROOT=$CACHE/root
TEST_XENSTORE=$ROOT/usr/lib/xen-4.17/bin/test-xenstore
UPDATED=0

say() { echo "deps: $*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# apt-get with one 'apt-get update' if the first try fails (fresh machine).
apt_retry() {
	local log
	log=$(mktemp)
	if DEBIAN_FRONTEND=noninteractive apt-get -q -y -o APT::Sandbox::User=root "$@" >"$log" 2>&1; then
		rm -f "$log"
		return 0
	fi
	if [ "$UPDATED" -eq 0 ]; then
		UPDATED=1
		say "apt-get $1 failed; running apt-get update once"
		apt-get -q update >/dev/null 2>&1 || say "apt-get update failed"
		if DEBIAN_FRONTEND=noninteractive apt-get -q -y -o APT::Sandbox::User=root "$@" >"$log" 2>&1; then
			rm -f "$log"
			return 0
		fi
	fi
	say "apt-get $* failed:"
	tail -n 5 "$log" | sed 's/^/deps:   /'
	rm -f "$log"
	return 1
}

install_pkgs() {
	[ $# -gt 0 ] || return 0
	if ! is_root; then
		say "not root: not installing $*"
		return 0
	fi
	say "installing $*"
	apt_retry install --no-install-recommends "$@" || true
}

fuzzer_links() {
	local dir rc=0
	dir=$(mktemp -d)
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$dir/t.c"
	clang -fsanitize=fuzzer -o "$dir/t" "$dir/t.c" >/dev/null 2>&1 || rc=1
	rm -rf "$dir"
	return "$rc"
}

is_root || say "not root: installing nothing (missing tools make their tests SKIP)"

missing=()
for tool in xenstore-read xenstore-write xenstore-ls xenstore-list xenstore-rm \
	xenstore-exists xenstore-chmod xenstore-watch; do
	if ! command -v "$tool" >/dev/null; then
		missing+=(xenstore-utils)
		break
	fi
done
command -v python3 >/dev/null || missing+=(python3)
[ -f /usr/lib/python3/dist-packages/pyxs/__init__.py ] || missing+=(python3-pyxs)
command -v clang >/dev/null || missing+=(clang)
for h in xenctrl xenevtchn xengnttab; do
	if [ ! -f "/usr/include/$h.h" ]; then
		missing+=(libxen-dev)
		break
	fi
done
[ -f /usr/include/xen/io/blkif.h ] || missing+=(libxen-dev)
command -v nbdkit >/dev/null || missing+=(nbdkit)
[ -f /usr/include/nbdkit-plugin.h ] || missing+=(nbdkit-plugin-dev)
command -v nbdcopy >/dev/null || missing+=(libnbd-bin)
python3 -c 'import nbd' 2>/dev/null || missing+=(python3-libnbd)
command -v qemu-img >/dev/null || missing+=(qemu-utils)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v dh >/dev/null || missing+=(debhelper)
command -v lintian >/dev/null || missing+=(lintian)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
install_pkgs "${missing[@]+"${missing[@]}"}"

if command -v clang >/dev/null && ! fuzzer_links; then
	install_pkgs libclang-rt-14-dev
	fuzzer_links || say "clang -fsanitize=fuzzer still cannot link: fuzzing will be skipped"
fi

# test-xenstore: unpack xen-utils-4.17 into the cache, never install it.
if [ ! -x "$TEST_XENSTORE" ]; then
	if mkdir -p "$CACHE/debs" 2>/dev/null && [ -w "$CACHE/debs" ]; then
		(
			flock 9
			if [ ! -x "$TEST_XENSTORE" ]; then
				say "downloading xen-utils-4.17 (unpacked into $ROOT, not installed)"
				cd "$CACHE/debs"
				rm -f xen-utils-4.17_*.deb
				if apt_retry download xen-utils-4.17; then
					mkdir -p "$ROOT"
					dpkg -x xen-utils-4.17_*.deb "$ROOT"
				fi
			fi
		) 9>"$CACHE/lock" || true
	else
		say "cache $CACHE not writable: cannot fetch test-xenstore"
	fi
fi

# launch-xenstore: unpack xen-utils-common the same way (never installed).
LAUNCH_XENSTORE=$ROOT/etc/xen/scripts/launch-xenstore
if [ ! -f "$LAUNCH_XENSTORE" ] && mkdir -p "$CACHE/debs" 2>/dev/null && [ -w "$CACHE/debs" ]; then
	(
		flock 9
		if [ ! -f "$LAUNCH_XENSTORE" ]; then
			say "downloading xen-utils-common (unpacked into $ROOT, not installed)"
			cd "$CACHE/debs"
			rm -f xen-utils-common_*.deb
			if apt_retry download xen-utils-common; then
				mkdir -p "$ROOT"
				dpkg -x xen-utils-common_*.deb "$ROOT"
			fi
		fi
	) 9>"$CACHE/lock" || true
fi

for tool in xenstore-read python3 clang; do
	command -v "$tool" >/dev/null || say "still missing: $tool"
done
[ -f /usr/include/xenctrl.h ] || say "still missing: libxen-dev (plat/xen.c is not compiled)"
if [ -x "$TEST_XENSTORE" ]; then
	say "test-xenstore=$TEST_XENSTORE"
else
	say "test-xenstore="
fi
