#!/usr/bin/env python3
"""test_persist.py: xstored survives kill -9 (issue 12, docs/persistence.md).

Each case kills the daemon with SIGKILL and starts it again with the same
arguments, then checks what came back:
  * socket clients' writes, removals and commits; --no-persist as the
    control (Xen's behaviour: everything lost); a clean stop keeps it too
  * a guest keeps its ring and event channel: a request it wrote while
    the daemon was down is answered once, its watch is back and fires, its
    open transaction answers EAGAIN
  * a guest that died while the daemon was down is cleaned up at restart
  * a torn journal tail is dropped and said so; what came before is there
  * a journal that cannot be written (RLIMIT_FSIZE): the reply to the
    change it could not record is held, other changes are refused with
    EIO, reads go on; once writable again (prlimit) a snapshot heals it,
    the held reply leaves, and every acknowledged change survives a kill
  * xstore control journal, and the start's log line

Env: XSTORED (build/asan/xstored), XSIM.  PASS/FAIL/SKIP lines, then
"N passed, N failed[, N skipped]".
"""
import glob
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsproto  # noqa: E402
from daemon import XstoredDaemon, default_xstored  # noqa: E402
from simenv import Runner, SimEnv, eq, events_of, expect_err, wait_until  # noqa: E402
from xsproto import XsError  # noqa: E402


def restart(d):
    d.kill()
    d.start()
    return xsproto.Conn(d.socket, timeout=5)


def log_of(d):
    with open(d.log, errors="replace") as f:
        return f.read()


def t_sockets():
    d = XstoredDaemon(extra_args=["--platform", "none"]).start()
    try:
        c = xsproto.Conn(d.socket, timeout=5)
        c.write("/p/a", "1")
        c.write("/p/b", "2")
        c.rm("/p/b")
        t = c.tx_start()
        c.write("/p/t1", "x", tx=t)
        c.write("/p/t2", "y", tx=t)
        c.tx_end(t, True)
        t2 = c.tx_start()
        c.write("/p/never", "z", tx=t2)  # open at the kill: never committed
        c = restart(d)
        eq(c.read("/p/a"), b"1", "a write")
        expect_err("ENOENT", c.read, "/p/b")
        eq((c.read("/p/t1"), c.read("/p/t2")), (b"x", b"y"), "a commit")
        expect_err("ENOENT", c.read, "/p/never")
        if "state loaded from" not in log_of(d):
            raise AssertionError("no 'state loaded' line: " + d.tail())
        out = subprocess.run([os.path.join(os.path.dirname(d.binary), "xstore"), "control",
                              "journal"], env=dict(os.environ, XENSTORED_PATH=d.socket),
                             capture_output=True, text=True, timeout=10).stdout
        for key in ("dir " + d.dir, "epoch ", "journal-bytes ", "last-compaction ", "state ok"):
            if key not in out:
                raise AssertionError("control journal lacks %r: %r" % (key, out))
        # A clean stop keeps the state as well.
        d.stop()
        d.start()
        c = xsproto.Conn(d.socket, timeout=5)
        eq(c.read("/p/a"), b"1", "after a clean stop")
    finally:
        d.cleanup()


def t_no_persist():
    d = XstoredDaemon(extra_args=["--platform", "none", "--no-persist"]).start()
    try:
        c = xsproto.Conn(d.socket, timeout=5)
        c.write("/p/a", "1")
        c = restart(d)
        expect_err("ENOENT", c.read, "/p/a")
        eq(glob.glob(os.path.join(d.dir, "journal.*")), [], "journal files")
    finally:
        d.cleanup()


def t_state_dir():
    sd = tempfile.mkdtemp(prefix="xsstate-")
    d = XstoredDaemon(extra_args=["--platform", "none", "--state-dir", sd]).start()
    try:
        c = xsproto.Conn(d.socket, timeout=5)
        c.write("/p/a", "1")
        if not glob.glob(os.path.join(sd, "journal.*")):
            raise AssertionError("no journal in --state-dir %s: %s" % (sd, os.listdir(sd)))
        eq(glob.glob(os.path.join(d.dir, "journal.*")), [], "journal in the run directory")
        c = restart(d)
        eq(c.read("/p/a"), b"1", "from --state-dir")
    finally:
        d.cleanup()
        subprocess.run(["rm", "-rf", sd])


def t_torn_tail():
    d = XstoredDaemon(extra_args=["--platform", "none"]).start()
    try:
        c = xsproto.Conn(d.socket, timeout=5)
        c.write("/p/first", "1")
        c.write("/p/last", "2")
        d.kill()
        j = sorted(glob.glob(os.path.join(d.dir, "journal.*")))[-1]
        # A torn last record.  The file may end in zeros: the mapped
        # writer's preallocation, which recovery reads as the end.
        with open(j, "rb") as f:
            end = len(f.read().rstrip(b"\0"))
        os.truncate(j, end - 3)
        d.start()
        c = xsproto.Conn(d.socket, timeout=5)
        eq(c.read("/p/first"), b"1", "the record before the torn one")
        expect_err("ENOENT", c.read, "/p/last")
        if "dropped" not in log_of(d):
            raise AssertionError("the torn tail is not reported: " + d.tail())
        c.write("/p/after", "3")  # appends follow the valid data
        c = restart(d)
        eq((c.read("/p/first"), c.read("/p/after")), (b"1", b"3"), "after the cut")
    finally:
        d.cleanup()


def t_guest(env):
    D = 5
    g = env.domain(D)
    g.write("data/x", "1")
    g.watch("data", "tok")
    events_of(g)
    t = g.tx_start()
    env.daemon.kill()
    # While the daemon is down: a request in the ring, and a kick.
    rid = g.send("WRITE", b"data/down\0while down")
    env.daemon.start()
    m = g.reply(rid, timeout=10)
    eq(m.payload, b"OK\0", "the request written while the daemon was down")
    dom0 = xsproto.Conn(env.daemon.socket, timeout=5)
    eq(dom0.read("/local/domain/%d/data/down" % D), b"while down", "its write")
    eq(g.read("data/x"), b"1", "READ after the restart")
    evs = events_of(g, 0.5)
    if ("data", "tok") not in evs:
        raise AssertionError("the watch did not fire once on restore: %r" % evs)
    dom0.write("/local/domain/%d/data/z" % D, "from dom0")
    wait_until(lambda: ("data/z", "tok") in events_of(g, 0.1), 5, "the watch to fire")
    expect_err("EAGAIN", g.read, "data/x", tx=t)
    expect_err("EAGAIN", g.tx_end, t, True)
    t = g.tx_start()  # a retry works
    g.write("data/tx", "ok", tx=t)
    g.tx_end(t, True)
    eq(dom0.read("/local/domain/%d/data/tx" % D), b"ok", "a new transaction")
    eq(dom0.call("IS_DOMAIN_INTRODUCED", b"%d\0" % D), b"T\0", "still introduced")


def t_guest_died(env):
    D = 6
    g = env.domain(D)
    g.write("data/mine", "1")
    env.daemon.kill()
    state = os.path.join(env.sim, "dom%d" % D, "state")
    with open(state + ".tmp", "w") as f:
        f.write("dying\n")
    os.rename(state + ".tmp", state)
    env.daemon.start()
    dom0 = xsproto.Conn(env.daemon.socket, timeout=5)
    eq(dom0.call("IS_DOMAIN_INTRODUCED", b"%d\0" % D), b"F\0", "released")
    expect_err("ENOENT", dom0.read, "/local/domain/%d/data/mine" % D)
    if "domain %d died while the daemon was down" % D not in log_of(env.daemon):
        raise AssertionError("no log line for the death: " + env.daemon.tail())


def t_write_failure():
    d = XstoredDaemon(extra_args=["--platform", "none", "--compact-min", "1000000"])

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.RLIM_INFINITY))

    # XstoredDaemon has no hook for the child: start it by hand the same way.
    env = dict(os.environ)
    logf = open(d.log, "wb")
    d.proc = subprocess.Popen([d.binary, "--rundir", d.dir, "--foreground"] + d.extra_args,
                              stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                              env=env, preexec_fn=limit)
    logf.close()
    try:
        if not xsproto.wait_for_server(d.socket, 10):
            raise AssertionError("did not start: " + d.tail())
        c = xsproto.Conn(d.socket, timeout=1)
        acked, held = [], None
        for i in range(400):
            rid = c.send("WRITE", b"/f/%d\0%s" % (i, b"v" * 60))
            try:
                c.reply(rid, timeout=1)
                acked.append(i)
            except xsproto.XsTimeout:
                held = (i, rid)
                break
        if held is None:
            raise AssertionError("the journal never filled")
        other = xsproto.Conn(d.socket, timeout=5)
        expect_err("EIO", other.write, "/f/refused", "x")
        eq(other.read("/f/0"), b"v" * 60, "reads go on")
        # Writable again: the next snapshot heals it and the held reply leaves.
        resource.prlimit(d.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        m = c.reply(held[1], timeout=10)
        eq(m.payload, b"OK\0", "the held reply")
        wait_until(lambda: _writes(other), 5, "changes to be accepted again")
        acked.append(held[0])
        d.proc.kill()
        d.proc.wait()
        d.proc = None
        d.start()
        c = xsproto.Conn(d.socket, timeout=5)
        missing = [i for i in acked if not _has(c, "/f/%d" % i)]
        eq(missing, [], "acknowledged writes missing after the restart")
    finally:
        d.cleanup()


def t_enospc():
    """A full file system (a small tmpfs as --state-dir, root only)."""
    from simenv import Skip
    if os.geteuid() != 0:
        raise Skip("needs root to mount a small tmpfs")
    sd = tempfile.mkdtemp(prefix="xsfull-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", sd],
                      capture_output=True).returncode != 0:
        raise Skip("cannot mount a tmpfs here")
    d = XstoredDaemon(extra_args=["--platform", "none", "--state-dir", sd,
                                  "--compact-min", "1000000"])
    try:
        d.start()
        c = xsproto.Conn(d.socket, timeout=1)
        acked, held = [], None
        for i in range(2000):
            rid = c.send("WRITE", b"/f/%d\0%s" % (i, b"v" * 200))
            try:
                c.reply(rid, timeout=0.2)
                acked.append(i)
                continue
            except xsproto.XsTimeout:
                pass
            if "its replies are held" in log_of(d):
                held = i
                break
            c.reply(rid, timeout=30)  # only slow (ASan on a busy machine)
            acked.append(i)
        if held is None:
            raise AssertionError("the tmpfs never filled")
        # The daemon retries its compaction 1 s after the failure, and
        # with the tmpfs's last pages that succeeds and heals the
        # journal: a probe sent after it was held, not refused (a slow
        # machine lost that race).  Take the last pages first, so that
        # the probe meets the full file system whenever it arrives.
        fd = os.open(os.path.join(sd, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass  # ENOSPC: full
        finally:
            os.close(fd)
        other = xsproto.Conn(d.socket, timeout=5)
        expect_err("ENOSPC", other.write, "/f/refused", "x")
        if "No space left on device" not in log_of(d):
            raise AssertionError("no log line naming ENOSPC: " + d.tail())
        d.kill()
        subprocess.run(["umount", sd])  # its contents go: start afresh elsewhere
    finally:
        d.cleanup()
        subprocess.run(["umount", sd], capture_output=True)
        subprocess.run(["rm", "-rf", sd])


def _writes(c):
    try:
        c.write("/f/again", "1")
        return True
    except XsError:
        return False


def _has(c, path):
    try:
        c.read(path)
        return True
    except XsError:
        return False


def main():
    os.environ.setdefault("XSTORED", default_xstored())
    r = Runner()
    r.run("sockets: writes, removals, commits survive kill -9; control journal",
          t_sockets)
    r.run("--no-persist: kill -9 loses everything (the control)", t_no_persist)
    r.run("--state-dir moves the journal", t_state_dir)
    r.run("a torn tail is dropped, the records before it stay", t_torn_tail)
    r.run("a full journal: held reply, EIO for changes, healed by a snapshot",
          t_write_failure)
    r.run("a full file system: ENOSPC for changes, logged", t_enospc)
    for name, fn in (("a guest keeps its ring, request in flight, watch, EAGAIN", t_guest),
                     ("a guest that died while the daemon was down is released",
                      t_guest_died)):
        env = SimEnv().start()
        try:
            r.run(name, fn, env)
        finally:
            env.cleanup()
    r.final()
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
