"""daemon.py: start and stop XenStore servers for tests (Python side).

Two kinds of server:
  XstoredDaemon  the daemon under test: `$XSTORED --rundir DIR --foreground`
                 (a child of this process, so its exit status is known);
                 stdout+stderr go to DIR/log.
  PeerDaemon     Xen 4.17's cx or ox through shared/peers/peer-xenstored.

Both give .socket (DIR/socket), .socket_ro (DIR/socket_ro) and .dir, and
raise DaemonError with the reason when the server cannot be started (the
caller prints SKIP or FAIL).  The shell twin of this module is daemon.sh.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xsproto  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error",
                      "WARNING: ThreadSanitizer")


class DaemonError(Exception):
    pass


def default_xstored():
    p = os.environ.get("XSTORED", "build/asan/xstored")
    return p if os.path.isabs(p) else os.path.join(REPO, p)


def shared_dir():
    """The project's shared/ directory: $XSTORE_SHARED, else ../shared."""
    s = os.environ.get("XSTORE_SHARED")
    return os.path.abspath(s) if s else os.path.abspath(os.path.join(REPO, "..", "shared"))


def sanitizer_errors(log_path):
    """Lines of a log naming a sanitizer report (empty list if none)."""
    try:
        with open(log_path, errors="replace") as f:
            return [l.rstrip() for l in f if any(p in l for p in SANITIZER_PATTERNS)]
    except OSError:
        return []


def _mkdir(prefix, path):
    if path:
        os.makedirs(path, exist_ok=True)
        return os.path.abspath(path), False
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp"), True


class XstoredDaemon:
    """The daemon under test, run in the foreground as our child."""

    def __init__(self, binary=None, rundir=None, extra_args=()):
        self.binary = binary or default_xstored()
        self.dir, self._own_dir = _mkdir("xstored-", rundir)
        self.socket = os.path.join(self.dir, "socket")
        self.socket_ro = os.path.join(self.dir, "socket_ro")
        self.log = os.path.join(self.dir, "log")
        self.extra_args = list(extra_args)
        self.proc = None
        self.exit_status = None

    def start(self, timeout=10.0):
        if not os.access(self.binary, os.X_OK):
            raise DaemonError("daemon not built: %s (set XSTORED)" % self.binary)
        if self.proc is not None and os.path.exists(self.log):
            # a restart: keep the previous run's log (it may hold a crash report)
            n = 1
            while os.path.exists("%s.%d" % (self.log, n)):
                n += 1
            os.rename(self.log, "%s.%d" % (self.log, n))
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        logf = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--rundir", self.dir, "--foreground"] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env)
        logf.close()
        if not xsproto.wait_for_server(self.socket, timeout, alive=lambda: self.proc.poll() is None):
            why = ("exited with status %s" % self.proc.returncode
                   if self.proc.poll() is not None else "does not answer on %s" % self.socket)
            self.kill()
            raise DaemonError("%s %s; log: %s" % (self.binary, why, self.tail()))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM, wait; returns the exit status (negative: killed by a
        signal; None: had to SIGKILL it)."""
        if self.proc is None:
            return self.exit_status
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.exit_status = None
                return None
        self.exit_status = self.proc.returncode
        return self.exit_status

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n=15):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:]).strip() or "(empty)"
        except OSError:
            return "(no log)"

    def cleanup(self):
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class PeerDaemon:
    """cx or ox through shared/peers/peer-xenstored (needs root)."""

    def __init__(self, kind, rundir=None):
        self.kind = kind
        self.script = os.path.join(shared_dir(), "peers", "peer-xenstored")
        self.dir, self._own_dir = _mkdir("xs%s-" % kind, rundir)
        self.socket = os.path.join(self.dir, "socket")
        self.socket_ro = os.path.join(self.dir, "socket_ro")
        self.log = os.path.join(self.dir, "log")

    def start(self, timeout=300):
        if not os.access(self.script, os.X_OK):
            raise DaemonError("peer-xenstored not found at %s (set XSTORE_SHARED)" % self.script)
        if os.geteuid() != 0:
            raise DaemonError("peer-xenstored needs root")
        try:
            r = subprocess.run([self.script, self.kind, "start", self.dir],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DaemonError("peer-xenstored %s start timed out" % self.kind)
        if r.returncode != 0:
            raise DaemonError("peer-xenstored %s start failed (%d): %s"
                              % (self.kind, r.returncode, (r.stderr or r.stdout).strip()[-500:]))
        if not xsproto.wait_for_server(self.socket, 5):
            raise DaemonError("%s does not answer on %s" % (self.kind, self.socket))
        return self

    def alive(self):
        try:
            with open(os.path.join(self.dir, "pid")) as f:
                os.kill(int(f.read().strip()), 0)
            return True
        except (OSError, ValueError):
            return False

    def stop(self):
        subprocess.run([self.script, self.kind, "stop", self.dir],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        return 0

    def cleanup(self):
        try:
            self.stop()
        except Exception:
            pass
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
