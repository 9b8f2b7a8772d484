#!/bin/bash
# test_layers.sh: tools/check-layers.sh passes the real tree and fails
# each kind of wrong-way include, naming the file, the include and the
# rule.
#
# The wrong-way cases run on a small fake tree in a temporary directory
# (one clean file per layer, then one bad include at a time), so the
# real tree is never touched.  No daemon, no build needed.
# Output: PASS/FAIL lines, then "N passed, N failed".
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CHECK="$REPO/tools/check-layers.sh"

PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS layers/$1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL layers/$1: $2"; }
TMP=$(mktemp -d)
finish() {
	rm -rf "$TMP"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ] || exit 1
}
trap finish EXIT

if out=$(bash "$CHECK" "$REPO" 2>&1); then
	pass "real-tree"
else
	fail "real-tree" "$out"
fi

# A fake tree that follows every rule.
fake() {
	rm -rf "$TMP/t"
	mkdir -p "$TMP/t"/{common,store,plat,daemon,lib/xenbus,tools/x,drivers/d,examples}
	cd "$TMP/t" || exit 1
	printf '#include "log.h"\n#include "xstore/wire.h"\n' >common/a.c
	printf '#include "common/log.h"\n#include "store/tree.h"\n#include "xstore/wire.h"\n' >store/a.c
	printf '#include "plat/plat.h"\n#include "common/log.h"\n' >plat/a.c
	printf '#include "daemon/state.h"\n#include "daemon/loop.h"\n#include "store/store.h"\n#include "plat/plat.h"\n' >daemon/conn.c
	printf '#include "daemon/conn.h"\n#include "daemon/dispatch.h"\n#include "daemon/domain.h"\n' >daemon/daemon.c
	printf '#include "daemon/dispatch_int.h"\n#include "daemon/domain.h"\n' >daemon/control.c
	printf '#include "lib/transport.h"\n#include "plat/plat.h"\n#include "xstore/xstore.h"\n' >lib/a.c
	printf '#include "lib/xenbus/xb_int.h"\n' >lib/xenbus/a.c
	printf '#include "common/log.h"\n#include "plat/plat.h"\n' >tools/x/a.c
	printf '#include "xstore/xenbus.h"\n' >drivers/d/a.c
	printf '#include "xstore/xstore.h"\n' >examples/a.c
}

# expect_bad NAME FILE INCLUDE RULE-WORDS: adding `#include "INCLUDE"` to
# FILE of a clean fake tree fails, with a line naming FILE and INCLUDE
# and containing RULE-WORDS.
expect_bad() {
	local name=$1 file=$2 inc=$3 words=$4 out
	fake
	printf '#include "%s"\n' "$inc" >>"$file"
	if out=$(bash "$CHECK" "$TMP/t" 2>&1); then
		fail "$name" "passed with $file including $inc"
	elif ! grep -F "$file:" <<<"$out" | grep -F "\"$inc\"" | grep -qF "$words"; then
		fail "$name" "unclear message: $out"
	else
		pass "$name"
	fi
	cd "$REPO" || exit 1
}

fake
if out=$(bash "$CHECK" "$TMP/t" 2>&1); then
	pass "fake-clean"
else
	fail "fake-clean" "$out"
fi
cd "$REPO" || exit 1

expect_bad store-daemon store/a.c daemon/conn.h "store/ includes only"
expect_bad store-plat store/a.c plat/plat.h "store/ includes only"
expect_bad store-client-api store/a.c xstore/xstore.h "store/ includes only"
expect_bad common-store common/a.c store/tree.h "common/ includes only"
expect_bad plat-lib plat/a.c lib/transport.h "plat/ includes only"
expect_bad lib-daemon lib/a.c daemon/conn.h "client side"
expect_bad xenbus-store lib/xenbus/a.c store/store.h "client side"
expect_bad tools-store tools/x/a.c store/store.h "client side"
expect_bad drivers-daemon drivers/d/a.c daemon/state.h "client side"
expect_bad daemon-lib daemon/conn.c lib/transport.h "daemon/ never includes"
expect_bad conn-dispatch daemon/conn.c daemon/dispatch.h "may include only lower modules"
expect_bad conn-daemon daemon/conn.c daemon/daemon.h "may include only lower modules"
expect_bad ring-domain daemon/ring.c daemon/domain.h "may include only lower modules"
expect_bad domain-dispatch daemon/domain.c daemon/dispatch.h "may include only lower modules"
expect_bad same-rank daemon/ring.c daemon/sock.h "may include only lower modules"
expect_bad unranked-module daemon/newthing.c daemon/state.h "has no rank"
expect_bad prefix-module daemon/conn_extra.c daemon/domain.h "may include only lower modules"
