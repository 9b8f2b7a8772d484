#!/usr/bin/env python3
"""test_mux.py: xsmux, the per-guest multiplexer (tools/xsmux).

Several processes of one simulated guest share its ring through xsmux's
socket dom<D>/xenbus: libxstore ("ring:D" finds the socket), Debian's
xenstore-utils (XENSTORED_PATH) and pyxs, at once.  Each client's
transactions and watches stay its own; a client that leaves loses them on
the daemon too; a client that never reads stalls nobody; xsmux leaves
with its domain.

xsim create starts xsmux when it knows how; else (or with --no-mux) the
test starts it itself, so the test runs either way.

Env: XSTORED (build/asan/xstored); XSIM, XSTORE (default: next to
XSTORED); XSMUX: an xsmux binary to test, which the test then starts itself
(default: the one xsim create starts, next to xsim).  Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsproto  # noqa: E402
from simenv import Runner, SimEnv, Skip, eq, expect_err, wait_until  # noqa: E402
from xsproto import XsTimeout  # noqa: E402


def home(d, rel=""):
    return "/local/domain/%d%s" % (d, "/" + rel if rel else "")


def next_to_xstored(env, var, name):
    p = os.environ.get(var) or os.path.join(os.path.dirname(env.xstored), name)
    if not os.access(p, os.X_OK):
        raise Skip("not built: %s (set %s)" % (p, var))
    return p


class Mux:
    """dom D with its multiplexer: the one xsim create starts, else (or
    when `own`: xsim create --no-mux) one this test starts."""

    def __init__(self, env, domid, own=False):
        self.env, self.domid = env, domid
        self.dir = os.path.join(env.sim, "dom%d" % domid)
        self.sock = os.path.join(self.dir, "xenbus")
        self.pidfile = os.path.join(self.dir, "xenbus.pid")
        self.bin = next_to_xstored(env, "XSMUX", "xsmux")
        # $XSMUX names a binary to test: this test starts it.
        own = own or bool(os.environ.get("XSMUX"))
        help_ = env.xsim("--help", check=False)
        has_no_mux = "--no-mux" in (help_.stdout + help_.stderr)
        env.xsim("create", domid, *(["--no-mux"] if own and has_no_mux else []))
        # xsim's own mux logs there (tools/xsim/mux.c).
        self.log = os.path.join(env.sim, "xsmux-dom%d.log" % domid)
        if not self.answers():
            self.log = os.path.join(env.dir, "xsmux-%d.log" % domid)
            # Sanitizer reports go to the log (xsmux's stderr) or, before
            # it has one, to these files.
            senv = dict(os.environ, ASAN_OPTIONS="log_path=%s" % san_prefix(env),
                        UBSAN_OPTIONS="log_path=%s" % san_prefix(env))
            r = subprocess.run([self.bin, "--dir", env.sim, "--domid", str(domid),
                                "--log", self.log], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30, env=senv)
            if r.returncode != 0:
                raise AssertionError("xsmux: exit %d: %s" % (r.returncode, r.stderr.strip()))
        env.mux_logs.append(self.log)
        if not self.answers():
            raise AssertionError("xsmux does not answer on %s" % self.sock)
        with open(self.pidfile) as f:
            self.pid = int(f.read())

    def answers(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def conn(self, timeout=5.0):
        return xsproto.Conn(self.sock, timeout=timeout)

    def alive(self):
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        # A zombie is gone for our purposes.
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            wait_until(lambda: not self.alive(), 5, "xsmux to exit")


def san_prefix(env):
    return os.path.join(env.dir, "xsmux-san")


def t_no_sanitizer_reports(env):
    """Every xsmux exited without a sanitizer report."""
    for f in [os.path.join(env.dir, f) for f in os.listdir(env.dir)
              if f.startswith("xsmux-san")] + env.mux_logs:
        try:
            with open(f, errors="replace") as fh:
                text = fh.read()
        except FileNotFoundError:
            continue
        if "Sanitizer" in text or "runtime error" in text:
            raise AssertionError("xsmux sanitizer report in %s: %s" % (f, text[-2000:]))


def quota_of(env, domid):
    """The daemon's count of dom's (watches, transactions)."""
    text = env.dom0.control("quota", str(domid)).decode()
    vals = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            vals[k.strip()] = v.strip()
    return int(vals["watches"]), int(vals["transactions"])


# --------------------------------------------------------------------------
def t_tools(env):
    """libxstore (ring:D via the socket), xenstore-utils, several at once."""
    D = 21
    m = Mux(env, D)
    xstore = next_to_xstored(env, "XSTORE", "xstore")
    spec = "ring:%d:%s" % (D, env.sim)
    run = lambda *a, **kw: subprocess.run(a, capture_output=True, text=True, timeout=20, **kw)
    utils_env = dict(os.environ, XENSTORED_PATH=m.sock)
    # Two libxstore clients at once: a watcher stays connected while
    # another writes; relative paths are the guest's home.
    watcher = subprocess.Popen([xstore, "-c", spec, "watch", "-n", "2", "data/t"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if shutil.which("xenstore-watch"):
            uwatch = subprocess.Popen(["xenstore-watch", "-n", "2", "data/t"], env=utils_env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        else:
            uwatch = None
        # Both watches registered before the write (their initial events).
        wait_until(lambda: quota_of(env, D)[0] >= (3 if uwatch else 2), 10,
                   "the watches to reach the daemon")
        r = run(xstore, "-c", spec, "write", "data/t", "v1")
        eq(r.returncode, 0, "xstore write: " + r.stderr)
        eq(env.dom0.read(home(D, "data/t")), b"v1", "relative path resolved in the guest's home")
        r = run(xstore, "-c", spec, "read", "data/t")
        eq((r.returncode, r.stdout.strip()), (0, "v1"), "xstore read")
        out, errs = watcher.communicate(timeout=10)
        eq(watcher.returncode, 0, "xstore watch: " + errs)
        eq(out.split(), ["data/t", "data/t"], "xstore watch's events")
        if uwatch:
            out, errs = uwatch.communicate(timeout=10)
            eq(uwatch.returncode, 0, "xenstore-watch: " + errs)
            eq(out.split(), ["data/t", "data/t"], "xenstore-watch's events")
    finally:
        for p in (watcher,):
            if p.poll() is None:
                p.kill()
                p.wait()
    if not shutil.which("xenstore-read"):
        raise Skip("xenstore-utils not installed (libxstore part passed)")
    r = run("xenstore-write", "data/u", "from-utils", env=utils_env)
    eq(r.returncode, 0, "xenstore-write: " + r.stderr)
    r = run("xenstore-read", "data/u", env=utils_env)
    eq((r.returncode, r.stdout.strip()), (0, "from-utils"), "xenstore-read")
    eq(env.dom0.read(home(D, "data/u")), b"from-utils", "utils' relative path")
    r = run("xenstore-ls", "data", env=utils_env)
    eq(r.returncode, 0, "xenstore-ls: " + r.stderr)
    if "u = \"from-utils\"" not in r.stdout:
        raise AssertionError("xenstore-ls data: %r" % r.stdout)
    r = run("xenstore-read", "/local/domain/0/name", env=utils_env)
    eq(r.returncode != 0, True, "a guest reading dom0's node: refused as for the guest")
    m.stop()


def t_tx_isolation(env):
    """B cannot use A's transaction; A's still works."""
    D = 22
    m = Mux(env, D)
    a, b = m.conn(), m.conn()
    a.write("data/x", "0")
    tx = a.tx_start()
    a.write("data/x", "a", tx)
    expect_err("ENOENT", b.read, "data/x", tx)
    expect_err("ENOENT", b.write, "data/x", "b", tx)
    expect_err("ENOENT", b.tx_end, tx)
    eq(a.read("data/x", tx), b"a", "A's transaction intact")
    eq(b.read("data/x"), b"0", "outside the transaction")
    a.tx_end(tx)
    eq(b.read("data/x"), b"a", "A's commit")
    # B's own transaction, alongside a new one of A's.
    ta, tb = a.tx_start(), b.tx_start()
    b.write("data/y", "b", tb)
    expect_err("ENOENT", a.read, "data/y", tb)
    b.tx_end(tb)
    a.tx_end(ta, commit=False)
    a.close()
    b.close()
    m.stop()


def t_watch_isolation(env):
    """Events go to their own client, with its token; UNWATCH and
    RESET_WATCHES touch only the client's own watches."""
    D = 23
    m = Mux(env, D)
    a, b = m.conn(), m.conn()
    a.write("data/w", "0")
    a.write("data/o", "0")
    a.watch("data/w", "tok")
    b.watch("data/o", "tok")            # the same token in another client
    b.watch("data/w", "btok")
    eq(sorted(ev for ev in events_s(a)), [("data/w", "tok")], "A's initial event")
    eq(sorted(events_s(b)), [("data/o", "tok"), ("data/w", "btok")], "B's initial events")
    env.dom0.write(home(D, "data/o"), "1")
    eq(events_s(b), [("data/o", "tok")], "B's event")
    eq(events_s(a, 0.3), [], "A gets no event of B's watch")
    env.dom0.write(home(D, "data/w"), "1")
    eq(events_s(a), [("data/w", "tok")], "A's event")
    eq(events_s(b), [("data/w", "btok")], "B's event, its own token")
    # The same (path, token) in both clients: no EEXIST, one event each.
    b.watch("data/w", "tok")
    events_s(b)
    env.dom0.write(home(D, "data/w"), "2")
    eq(events_s(a), [("data/w", "tok")], "A once")
    eq(sorted(events_s(b)), [("data/w", "btok"), ("data/w", "tok")], "B once per watch")
    # A's own duplicate: EEXIST, as from the daemon.
    expect_err("EEXIST", a.watch, "data/w", "tok")
    # B unwatching A's watch (B has no data/o... ) is refused.
    expect_err("ENOENT", b.unwatch, "data/w", "nosuch")
    b.unwatch("data/w", "tok")
    b.reset_watches()
    env.dom0.write(home(D, "data/w"), "3")
    eq(events_s(a), [("data/w", "tok")], "A's watch survives B's UNWATCH and RESET_WATCHES")
    eq(events_s(b, 0.3), [], "B has none left")
    a.close()
    b.close()
    m.stop()


def events_s(conn, wait=1.0):
    """Events arriving within `wait` s (the first waited for up to `wait`)."""
    out = []
    try:
        ev = conn.event(timeout=wait)
        out.append(ev)
    except XsTimeout:
        return []
    out += [e for e in (conn.drain_events(0.1) or [])]
    res = []
    for e in out:
        if isinstance(e, tuple):
            p, t = e
        else:
            f = e.fields()
            p, t = f[0], f[1]
        res.append((p.decode(), t.decode()))
    return res


def t_disconnect(env):
    """A client leaving with a transaction and watches open: gone on the
    daemon's side too."""
    D = 24
    m = Mux(env, D)
    base_w, base_t = quota_of(env, D)
    a, b = m.conn(), m.conn()
    a.watch("data", "a1")
    a.watch("name", "a2")
    tx = a.tx_start()
    a.write("data/z", "in-tx", tx)
    b.watch("data", "b1")
    eq(quota_of(env, D), (base_w + 3, base_t + 1), "on the daemon: 3 watches, 1 transaction")
    a.close()
    wait_until(lambda: quota_of(env, D) == (base_w + 1, base_t), 5,
               "A's watches and transaction to go (now %r)" % (quota_of(env, D),))
    events_s(b)
    env.dom0.write(home(D, "data/k"), "1")
    eq(events_s(b), [("data/k", "b1")], "B's watch stays")
    expect_err("ENOENT", b.read, "data/z")
    b.close()
    m.stop()


def t_sigterm(env):
    """xsmux stopped (SIGTERM) with clients connected: their transactions
    and watches end on the daemon; socket and pid file go."""
    D = 31
    m = Mux(env, D)
    base = quota_of(env, D)
    a = m.conn()
    a.watch("data", "a1")
    a.tx_start()
    eq(quota_of(env, D), (base[0] + 1, base[1] + 1), "on the daemon")
    m.stop()
    eq(quota_of(env, D), base, "after xsmux stopped")
    for p in (m.sock, m.pidfile):
        if os.path.exists(p):
            raise AssertionError("left behind: %s" % p)
    a.close()


def t_slow_reader(env):
    """A client that never reads while events flood does not stall
    another; xsmux drops the slow client's oldest events, and says so."""
    D = 25
    m = Mux(env, D)
    slow, fast = m.conn(), m.conn()
    big = "t" * 1000            # big events fill the socket buffer soon
    slow.watch("data/f", big)
    fast.watch("data/f", "fast")
    fast.drain_events(0.2)
    # In batches that the fast client takes in full before the next: the
    # daemon's own cap on undelivered events never comes into play.  Each
    # event of a batch names another node: the daemon drops an event
    # identical to one still queued (as Xen's does), distinct ones never.
    n, batch, got = 1600, 100, 0
    for i in range(0, n, batch):
        for j in range(i, i + batch):
            env.dom0.write(home(D, "data/f/%d" % (j % batch)), str(j))
        want = i + batch
        while got < want:
            fast.event(timeout=10)
            got += 1 + len(fast.take_events())
    eq(got, n, "fast client's events")
    eq(fast.read("data/f/%d" % (batch - 1)), str(n - 1).encode(), "fast client's read")
    wait_until(lambda: "dropping the oldest" in m.log_text(), 5,
               "xsmux to log dropping the slow client's events")
    slow.close()
    fast.close()
    m.stop()


def t_pyxs(env):
    try:
        import pyxs  # noqa: F401
    except ImportError:
        # Debian's python3-pyxs, under a python3 that is not Debian's.
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import pyxs  # noqa: F401
        except ImportError:
            raise Skip("pyxs not installed (Debian: python3-pyxs; tests/support/deps.sh)")
    D = 26
    m = Mux(env, D)
    from pyxs import Client
    with Client(unix_socket_path=m.sock) as c1, Client(unix_socket_path=m.sock) as c2:
        c1.write(b"data/p", b"py")
        eq(c2.read(b"data/p"), b"py", "pyxs: another client reads it")
        eq(env.dom0.read(home(D, "data/p")), b"py", "pyxs: relative path")
        eq(sorted(c2.list(b"data")), [b"p"], "pyxs list")
    m.stop()


def set_state(env, domid, state):
    """What the toolstack does: dom<D>/state atomically, then virq-dom-exc."""
    d = os.path.join(env.sim, "dom%d" % domid)
    tmp = os.path.join(d, "state.tmp.%d" % os.getpid())
    with open(tmp, "w") as f:
        f.write(state + "\n")
    os.rename(tmp, os.path.join(d, "state"))
    fd = os.open(os.path.join(env.sim, "virq-dom-exc"), os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(fd, b"x")
    except BlockingIOError:
        pass
    os.close(fd)


def state_of(env, domid):
    with open(os.path.join(env.sim, "dom%d" % domid, "state")) as f:
        return f.read().strip()


def t_suspend_resume(env):
    """control/shutdown = suspend: acknowledged, state "suspended",
    requests held; state "running": watches back, old transactions gone
    (EAGAIN at the end, ENOENT otherwise), held requests answered."""
    D = 28
    m = Mux(env, D)
    a, b = m.conn(), m.conn()
    a.write("data/s", "0")
    a.watch("data/s", "sa")
    events_s(a)
    tx = a.tx_start()
    tx2 = a.tx_start()
    a.write("data/s", "in-tx", tx)
    env.dom0.write(home(D, "control/shutdown"), "suspend")
    wait_until(lambda: state_of(env, D) == "suspended", 5, "xsmux to set state suspended")
    eq(env.dom0.read(home(D, "control/shutdown")), b"", "the acknowledgement")
    rid = b.send(xsproto.XS_READ, b"data/s\0")
    try:
        msg = b.reply(rid, timeout=0.3)
        raise AssertionError("a request answered while suspended: %r" % (msg,))
    except XsTimeout:
        pass
    set_state(env, D, "running")
    eq(b.reply(rid, timeout=5).payload, b"0", "the held request, answered after resume")
    expect_err("ENOENT", a.read, "data/s", tx)
    expect_err("EAGAIN", a.tx_end, tx)
    expect_err("EAGAIN", a.tx_end, tx2, False)
    # Registered again, the watch fires at once (as any new watch does;
    # Linux's processes see the same after a resume), then on changes.
    eq(events_s(a), [("data/s", "sa")], "the watch's event at its registration")
    env.dom0.write(home(D, "data/s"), "1")
    eq(events_s(a), [("data/s", "sa")], "the watch, registered again")
    # A new transaction works.
    t = a.tx_start()
    a.write("data/s", "2", t)
    a.tx_end(t)
    eq(b.read("data/s"), b"2", "after resume")
    a.close()
    b.close()
    m.stop()


def t_suspend_xsim(env):
    """xsim suspend / resume (the toolstack's side of the same protocol)
    with clients connected."""
    help_ = env.xsim("--help", check=False)
    if "suspend DOMID" not in help_.stdout + help_.stderr:
        raise Skip("this xsim has no suspend/resume")
    D = 30
    m = Mux(env, D)
    a = m.conn()
    a.watch("data", "w")
    events_s(a)
    env.xsim("suspend", D)
    eq(state_of(env, D), "suspended", "state after xsim suspend")
    env.xsim("resume", D)
    eq(events_s(a), [("data", "w")], "the watch's event at its registration")
    a.write("data/r", "1")
    eq(events_s(a), [("data/r", "w")], "the watch after resume")
    a.close()
    m.stop()


def t_exit_on_dying(env):
    """xsmux leaves by itself when its domain is dying."""
    D = 27
    m = Mux(env, D, own=True)
    c = m.conn()
    c.write("data/d", "1")
    set_state(env, D, "dying")
    wait_until(lambda: not m.alive(), 10, "xsmux to exit with its domain")
    for p in (m.sock, m.pidfile):
        if os.path.exists(p):
            raise AssertionError("left behind: %s" % p)
    c.close()
    env.destroy(D)


def t_exit_on_destroy(env):
    """xsim destroy: the guest's xsmux is gone after it."""
    D = 29
    m = Mux(env, D)
    m.conn().close()
    env.destroy(D)
    wait_until(lambda: not m.alive(), 10, "xsmux to exit with its domain")


def main():
    r = Runner("mux: ")
    try:
        env = SimEnv().start()
        env.mux_logs = []
    except Skip as e:
        r.skip("all", str(e))
        return r.final()
    try:
        for name, fn in (("tools", t_tools), ("tx_isolation", t_tx_isolation),
                         ("watch_isolation", t_watch_isolation),
                         ("disconnect", t_disconnect), ("sigterm", t_sigterm), ("slow_reader", t_slow_reader),
                         ("pyxs", t_pyxs), ("suspend_resume", t_suspend_resume),
                         ("suspend_xsim", t_suspend_xsim),
                         ("exit_on_dying", t_exit_on_dying),
                         ("exit_on_destroy", t_exit_on_destroy)):
            r.run(name, fn, env)
        r.run("xsmux_sanitizers", t_no_sanitizer_reports, env)
        r.run("daemon_clean_exit", env.check_clean_exit)
    finally:
        env.cleanup()
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
