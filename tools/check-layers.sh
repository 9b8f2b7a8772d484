#!/bin/bash
# check-layers.sh - fail when a source file includes a header its layer
# may not see.  Run by the Makefile on every build (a stamp file), and by
# tests/integration/test_layers.sh on fake trees.
#
#   tools/check-layers.sh [ROOT]     (ROOT: the source tree, default .)
#
# Dependencies point one way (docs/STYLE: "the tree is the architecture"):
#   common/  only common/ and xstore/ (include/xstore/)
#   store/   only store/, common/ and xstore/wire.h: pure, no I/O
#   plat/    only plat/, common/ and xstore/: never daemon/, store/, lib/
#   client side: lib/ (lib/xenbus/), tools/, drivers/, examples/ never
#            include daemon/ or store/
#   daemon/  never lib/, drivers/ or tools/; inside daemon/, a module may
#            include only its own headers and those of lower-ranked
#            modules (the table below, the graph in daemon/daemon.h).
# Only quoted includes are checked (system headers use <>); a bare name
# ("log.h") is the file's own directory.  Tests, fuzzers and benchmarks
# are not checked: reaching into internals is their job.
# Output: one line per violation naming file:line, the include and the
# rule; exit 1 if any, else 0 (silent).  Plain bash and grep: ~50 ms.

root=${1:-.}
cd "$root" || exit 2

# The daemon's modules by rank: a file of a module may include headers of
# its own module or of a module of strictly lower rank.  A file is its
# module's by its stem; the extras (dispatch_int.h, control.c: part of
# dispatch) are mapped in daemon_module.  A new daemon file needs a line.
declare -A rank=(
	[readyhint]=5
	[loop]=10 [notify]=10 [state]=10
	[conn]=20
	[ring]=30 [sock]=30
	[domain]=40
	[session]=42
	[events]=45
	[dispatch]=50
	[journal]=60
	[persist]=65
	[update]=67
	[daemon]=70 [options]=70
	[main]=80
)

daemon_module() {
	local stem=${1##*/}
	stem=${stem%.[ch]}
	[[ $stem == control ]] && stem=dispatch
	[[ -z ${rank[$stem]} && -n ${rank[${stem%%_*}]} ]] && stem=${stem%%_*}
	printf '%s' "$stem"
}

bad=0
violation() {
	printf 'layers: %s: includes "%s": %s\n' "$1" "$2" "$3" >&2
	bad=1
}

files=$(find common store plat lib tools drivers examples daemon \
	-name '*.[ch]' 2>/dev/null | sort)
[ -n "$files" ] || exit 0

# file:line:#include "x" for every quoted include, in one grep.
while IFS= read -r hit; do
	file=${hit%%:*}
	rest=${hit#*:}
	line=${rest%%:*}
	inc=${rest#*:}
	inc=${inc#*\"}
	inc=${inc%%\"*}
	dir=${file%/*}
	[[ $inc == */* ]] || inc=$dir/$inc
	where="$file:$line"
	top=${inc%%/*}
	case $file in
	common/*)
		[[ $top == common || $top == xstore ]] ||
			violation "$where" "$inc" "common/ includes only common/ and xstore/"
		;;
	store/*)
		[[ $top == store || $top == common || $inc == xstore/wire.h ]] ||
			violation "$where" "$inc" \
				"store/ includes only store/, common/ and xstore/wire.h"
		;;
	plat/*)
		[[ $top == plat || $top == common || $top == xstore ]] ||
			violation "$where" "$inc" \
				"plat/ includes only plat/, common/ and xstore/ (never daemon/, store/, lib/)"
		;;
	lib/* | tools/* | drivers/* | examples/*)
		[[ $top == daemon || $top == store ]] &&
			violation "$where" "$inc" \
				"the client side (lib/, tools/, drivers/, examples/) never includes daemon/ or store/"
		;;
	daemon/*)
		case $top in
		lib | drivers | tools)
			violation "$where" "$inc" "daemon/ never includes lib/, drivers/ or tools/"
			;;
		daemon)
			from=$(daemon_module "$file")
			to=$(daemon_module "$inc")
			if [[ -z ${rank[$from]} ]]; then
				violation "$where" "$inc" \
					"daemon module '$from' has no rank in tools/check-layers.sh"
			elif [[ -z ${rank[$to]} ]]; then
				violation "$where" "$inc" \
					"daemon module '$to' has no rank in tools/check-layers.sh"
			elif [[ $from != "$to" ]] && ((rank[$to] >= rank[$from])); then
				violation "$where" "$inc" \
					"daemon/$from (rank ${rank[$from]}) may include only lower modules, not $to (rank ${rank[$to]}): see daemon/daemon.h"
			fi
			;;
		esac
		;;
	esac
done < <(grep -HnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $files)

exit $bad
