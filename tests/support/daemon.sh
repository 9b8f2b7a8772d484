# shellcheck shell=bash disable=SC2034
# daemon.sh: start and stop the daemon under test from bash tests.
# Source it; needs bash, python3 (for the readiness probe) and set -u safe.
#
#   xsd_start DIR      start "$XSTORED --rundir DIR --foreground" (XSTORED
#                      defaults to build/asan/xstored), stdout+stderr to
#                      DIR/log, wait until DIR/socket answers a request.
#                      Sets XSD_PID, XSD_DIR, XSD_LOG and exports
#                      XENSTORED_PATH=DIR/socket.  Returns 1 with the reason
#                      in XSD_WHY if the daemon is not built, dies or does
#                      not answer within XSD_START_TIMEOUT seconds (10).
#   xsd_stop           SIGTERM, wait (XSD_STOP_TIMEOUT, 10 s, then SIGKILL);
#                      sets XSD_STATUS to the exit status (137 = killed).
#   xsd_sanitizer_errors   print the log lines of sanitizer reports (none:
#                      prints nothing, returns 1).
#   xsd_log_tail [N]   the last N (15) log lines.
# The Python twin of this file is daemon.py.

XSD_SUPPORT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XSD_REPO=$(cd "$XSD_SUPPORT/../.." && pwd)
XSD_PID=
XSD_DIR=
XSD_LOG=
XSD_WHY=
XSD_STATUS=

xsd_binary() {
	local b=${XSTORED:-build/asan/xstored}
	case $b in
	/*) echo "$b" ;;
	*) echo "$XSD_REPO/$b" ;;
	esac
}

xsd_start() {
	local dir=$1 bin i
	bin=$(xsd_binary)
	XSD_WHY=
	if [ ! -x "$bin" ]; then
		XSD_WHY="daemon not built: $bin (set XSTORED)"
		return 1
	fi
	mkdir -p "$dir"
	XSD_DIR=$(cd "$dir" && pwd)
	XSD_LOG=$XSD_DIR/log
	: "${ASAN_OPTIONS:=abort_on_error=0:detect_leaks=1}"
	: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
	export ASAN_OPTIONS UBSAN_OPTIONS
	"$bin" --rundir "$XSD_DIR" --foreground </dev/null >"$XSD_LOG" 2>&1 &
	XSD_PID=$!
	for ((i = 0; i < ${XSD_START_TIMEOUT:-10} * 10; i++)); do
		if ! kill -0 "$XSD_PID" 2>/dev/null; then
			wait "$XSD_PID" && XSD_STATUS=0 || XSD_STATUS=$?
			XSD_WHY="daemon exited at start (status $XSD_STATUS): $(xsd_log_tail 5 | tr '\n' ' ')"
			XSD_PID=
			return 1
		fi
		if [ -S "$XSD_DIR/socket" ] &&
			python3 "$XSD_SUPPORT/xsproto.py" ping "$XSD_DIR/socket" 0.5 2>/dev/null; then
			export XENSTORED_PATH=$XSD_DIR/socket
			return 0
		fi
		sleep 0.1
	done
	XSD_WHY="daemon does not answer on $XSD_DIR/socket: $(xsd_log_tail 5 | tr '\n' ' ')"
	kill -KILL "$XSD_PID" 2>/dev/null || true
	wait "$XSD_PID" 2>/dev/null || true
	XSD_PID=
	return 1
}

xsd_stop() {
	local i
	XSD_STATUS=
	[ -n "$XSD_PID" ] || return 0
	kill -TERM "$XSD_PID" 2>/dev/null || true
	for ((i = 0; i < ${XSD_STOP_TIMEOUT:-10} * 10; i++)); do
		kill -0 "$XSD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$XSD_PID" 2>/dev/null; then
		kill -KILL "$XSD_PID" 2>/dev/null || true
	fi
	wait "$XSD_PID" && XSD_STATUS=0 || XSD_STATUS=$?
	XSD_PID=
}

xsd_sanitizer_errors() {
	[ -n "$XSD_LOG" ] && [ -f "$XSD_LOG" ] || return 1
	grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' "$XSD_LOG"
}

xsd_log_tail() {
	[ -n "$XSD_LOG" ] && [ -f "$XSD_LOG" ] || return 0
	tail -n "${1:-15}" "$XSD_LOG"
}
