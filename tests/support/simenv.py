"""simenv.py: the daemon under test on the simulated platform, its
toolstack (xsim) and guests, for the guest-side integration tests
(test_guests.py, test_xsa.py, test_stress.py, diff_guest.py).

  env = SimEnv(extra_args=[...]).start()   xstored --platform sim:DIR/sim
  env.create(5)                  xsim create 5 --no-mux (domain + home nodes +
                                 INTRODUCE; the test owns the ring);
                                 env.create(5, mux=True): with xsmux
  g = env.guest(5)               an xsguest.Guest on dom5's ring
  env.destroy(5)                 xsim destroy 5 (dying, nodes gone, released)
  env.dom0                       an xsproto.Conn on the daemon's socket
  env.finish()                   stop; (exit status, sanitizer lines)

Binaries: $XSTORED (default build/asan/xstored) and $XSIM (default: the
xsim next to $XSTORED).  A missing binary raises Skip.

Also a minimal test runner (Runner) printing "PASS/FAIL/SKIP name[: why]"
and the final "N passed, N failed[, N skipped]" line.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xsguest  # noqa: E402
import xsproto  # noqa: E402
from daemon import DaemonError, XstoredDaemon, default_xstored, sanitizer_errors  # noqa: E402
from xsproto import XsClosed, XsError, XsTimeout  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


class Skip(Exception):
    pass


def default_xsim():
    p = os.environ.get("XSIM")
    if p:
        return p if os.path.isabs(p) else os.path.join(REPO, p)
    return os.path.join(os.path.dirname(default_xstored()), "xsim")


def require_binaries():
    """(xstored, xsim) paths, or Skip naming what is not built."""
    xd, xs = default_xstored(), default_xsim()
    for p, var in ((xd, "XSTORED"), (xs, "XSIM")):
        if not os.access(p, os.X_OK):
            raise Skip("not built: %s (set %s)" % (p, var))
    return xd, xs


class SimEnv:
    """One xstored on its own simulator directory."""

    def __init__(self, extra_args=(), timeout=5.0):
        self.xstored, self.xsim_bin = require_binaries()
        self.dir = tempfile.mkdtemp(prefix="xsguest-", dir="/tmp")
        self.sim = os.path.join(self.dir, "sim")
        os.makedirs(self.sim)
        self.timeout = timeout
        self.daemon = XstoredDaemon(self.xstored, rundir=self.dir,
                                    extra_args=["--platform", "sim:" + self.sim] + list(extra_args))
        self.dom0 = None
        self.guests = []

    def start(self):
        self.daemon.start()
        self.dom0 = xsproto.Conn(self.daemon.socket, timeout=self.timeout)
        return self

    @property
    def socket(self):
        return self.daemon.socket

    def conn(self):
        """Another dom0 connection."""
        return xsproto.Conn(self.daemon.socket, timeout=self.timeout)

    # -- the toolstack ---------------------------------------------------------
    def xsim(self, *args, check=True, timeout=30):
        cmd = [self.xsim_bin, "--dir", self.sim, "--socket", self.daemon.socket] + [str(a) for a in args]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("xsim %s: exit %d: %s" % (" ".join(map(str, args)), r.returncode,
                                                         (r.stderr or r.stdout).strip()))
        return r

    def create(self, domid, *opts, mux=False):
        """xsim create: without the multiplexer unless mux=True, since
        the tests drive the ring themselves (one owner per ring)."""
        self.xsim("create", domid, *((() if mux else ("--no-mux",)) + opts))

    def destroy(self, domid, *opts):
        self.xsim("destroy", domid, *opts)

    def shutdown(self, domid):
        self.xsim("shutdown", domid)

    def start_info(self, domid):
        with open(os.path.join(self.sim, "dom%d" % domid, "start-info")) as f:
            info = dict(l.split("=", 1) for l in f.read().split() if "=" in l)
        return int(info["store_gfn"]), int(info["store_evtchn"])

    def guest(self, domid, timeout=None):
        g = xsguest.sim_guest(self.sim, domid, timeout or self.timeout)
        self.guests.append(g)
        return g

    def domain(self, domid, timeout=None):
        """create + guest."""
        self.create(domid)
        return self.guest(domid, timeout)

    # -- the end ----------------------------------------------------------------
    def alive(self):
        return self.daemon.alive()

    def finish(self):
        """Stop the daemon: (exit status, sanitizer lines of its log)."""
        for g in self.guests:
            g.close()
        self.guests = []
        if self.dom0:
            self.dom0.close()
            self.dom0 = None
        st = self.daemon.stop()
        return st, sanitizer_errors(self.daemon.log)

    def check_clean_exit(self):
        """AssertionError unless the daemon exits 0 without sanitizer reports."""
        st, errs = self.finish()
        if st != 0 or errs:
            raise AssertionError("daemon exit status %s%s; log: %s" % (
                st, ", sanitizer: " + errs[0] if errs else "", self.daemon.tail()))

    def cleanup(self, keep=False):
        for g in self.guests:
            g.close()
        if self.dom0:
            self.dom0.close()
        self.daemon.kill()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# Assertions
# --------------------------------------------------------------------------
def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s%r, want %r" % (what + ": " if what else "", got, want))


def err(fn, *args, **kw):
    """The errno name fn(*args) fails with (AssertionError if it succeeds)."""
    try:
        r = fn(*args, **kw)
    except XsError as e:
        return e.err
    raise AssertionError("%s%r succeeded (%r), want an error" % (
        getattr(fn, "__name__", "call"), args, r))


def expect_err(want, fn, *args, **kw):
    e = err(fn, *args, **kw)
    if e != want:
        raise AssertionError("%s%r: %s, want %s" % (getattr(fn, "__name__", "call"), args, e, want))


def wait_until(cond, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.01)


def events_of(conn, wait=0.2):
    """Watch events queued or arriving within `wait` s, as (path, token)
    str pairs."""
    return [(p.decode(), t.decode()) for p, t in conn.drain_events(wait)]


# --------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------
class Runner:
    def __init__(self, prefix=""):
        self.prefix = prefix
        self.passed = self.failed = self.skipped = 0
        self.only = None

    def run(self, name, fn, *args):
        full = self.prefix + name
        t0 = time.monotonic()
        try:
            fn(*args)
        except Skip as e:
            self.skipped += 1
            print("SKIP %s: %s" % (full, e), flush=True)
            return None
        except (AssertionError, XsError, XsTimeout, XsClosed, xsguest.PortError, OSError,
                DaemonError) as e:
            self.failed += 1
            msg = str(e) or type(e).__name__
            if isinstance(e, (XsError, XsTimeout, XsClosed, OSError)):
                msg = "%s: %s (at %s)" % (type(e).__name__, msg, _where(e))
            print("FAIL %s: %s" % (full, msg), flush=True)
            return False
        except Exception as e:  # a harness bug: show where
            self.failed += 1
            print("FAIL %s: %s: %s\n%s" % (full, type(e).__name__, e,
                                            "".join(traceback.format_tb(e.__traceback__)[-3:])),
                  flush=True)
            return False
        self.passed += 1
        dt = time.monotonic() - t0
        print("PASS %s%s" % (full, " (%.1f s)" % dt if dt >= 2 else ""), flush=True)
        return True

    def skip(self, name, why):
        self.skipped += 1
        print("SKIP %s%s: %s" % (self.prefix, name, why), flush=True)

    def final(self):
        print("%d passed, %d failed%s" % (self.passed, self.failed,
              ", %d skipped" % self.skipped if self.skipped else ""), flush=True)
        return 1 if self.failed else 0


def run_suite(prefix, tests):
    """The usual main of a suite: each (name, fn) of `tests` on one
    SimEnv, then a clean exit of its daemon; SKIP all if the binaries are
    missing.  Returns the exit status."""
    r = Runner(prefix)
    try:
        require_binaries()
    except Skip as e:
        r.skip("all", str(e))
        return r.final()
    env = SimEnv().start()
    try:
        for name, fn in tests:
            r.run(name, fn, env)
        r.run("clean_exit", env.check_clean_exit)
    finally:
        env.cleanup()
    return r.final()


def _where(e):
    tb = traceback.extract_tb(e.__traceback__)
    for fr in reversed(tb):
        if os.path.basename(fr.filename).startswith(("test_", "diff_")):
            return "%s:%d" % (os.path.basename(fr.filename), fr.lineno)
    return "%s:%d" % (os.path.basename(tb[-1].filename), tb[-1].lineno) if tb else "?"
