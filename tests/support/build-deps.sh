#!/bin/sh
# build-deps.sh: install what the build itself needs when it is missing
# (the Makefile runs it only then).  Today: zlib1g-dev (zlib.h, the
# journal's crc32).  As root: apt-get install, with one apt-get update if
# that fails (a fresh machine).  Not root: says which package to install
# and exits 1.  Messages go to stderr (make captures stdout).
set -u

[ -f /usr/include/zlib.h ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "build-deps: zlib.h is missing: install zlib1g-dev (apt-get install zlib1g-dev)" >&2
	exit 1
fi
echo "build-deps: installing zlib1g-dev" >&2
install() {
	DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
		install zlib1g-dev >&2
}
if ! install; then
	echo "build-deps: apt-get install failed; running apt-get update once" >&2
	apt-get -q update >&2 || true
	install || exit 1
fi
[ -f /usr/include/zlib.h ]
