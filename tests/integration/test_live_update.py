#!/usr/bin/env python3
"""test_live_update.py: xstored replaces itself by a new binary while its
clients stay connected (issue 13: CONTROL live-update, docs/live-update.md).

The daemon runs on the simulated platform with its journal.  Under load
(socket clients writing with requests pipelined, a watcher and its writer,
a transaction client keeping its transactions open across the updates,
two simulated guests each writing and watching its own nodes, one socket
client stopped in the middle of a message) the test
updates the daemon 20 times in a row, with `xstore control live-update`
and, when the peers are unpacked, with Xen's own xenstore-control, plus
one update to a binary that cannot load the state.  Then: the same pid
serves, no client saw a disconnect, an error or a reply out of order,
every acknowledged write is there, every watch event came exactly once,
each transaction committed (none lost to an update: EAGAIN) and counted
once, and the half-sent message is answered once completed.

  load_updates      the above
  refused           a file that does not exist, is not executable, is not
                    an xstored, or reads another state format: refused at
                    -f; options (-c) it refuses: refused at -s; nothing
                    stops
  broken_binary     a binary that passes the probe but cannot load the
                    state: the old binary comes back and answers the -s
                    with the reason
  crash_on_load     a binary that passes the probe but crashes loading the
                    state (XSTORED_TEST_LOAD_CRASH): its check in a child
                    dies, the old binary comes back, nothing is lost
  exec_fails        the exec fails (XSTORED_TEST_EXEC_FAIL): the -s gets
                    the error and the daemon serves on, connections kept
  txn_across        transactions open across an update (socket and guest)
                    go on: -s does not wait for them (-t, -F accepted);
                    one with reads and writes before the update and
                    writes after it commits with all its writes; one whose
                    read node another client changed before or after the
                    update gets EAGAIN, as without the update; -b/-d
                    refused
  journal           the new binary owns the journal: after the updates a
                    kill -9 and restart brings the state back
  no_persist        --no-persist: the state goes across all the same (a
                    guest's request written just before each update is
                    served by the new binary, watches fire)
  sanitizers        no ASan/UBSan report in any daemon's log

Env: XSTORED (build/asan/xstored), XSIM and XSTORE (next to it).  Output:
PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsproto  # noqa: E402
from daemon import sanitizer_errors  # noqa: E402
from simenv import Runner, SimEnv, Skip, eq, require_binaries  # noqa: E402
from xsproto import XsError  # noqa: E402

UPDATES = 20
FORMAT = 2  # UPDATE_STREAM_VERSION
OTHER = FORMAT + 1
HDR = struct.Struct("<IIII")
XEN_CONTROL = os.path.join(os.environ.get("PEER_XS_CACHE", "/var/cache/peer-xenstored"),
                           "root/usr/lib/xen-4.17/bin/xenstore-control")
LOGS = []  # every daemon log, for the sanitizer check


def xstore_bin():
    return os.path.join(os.path.dirname(require_binaries()[0]), "xstore")


def live_update(env, binary, *opts, tool="xstore", check=True, timeout=60):
    """Run one live update of env's daemon to `binary`: (exit, output)."""
    e = dict(os.environ, XENSTORED_PATH=env.socket)
    if tool == "xen":
        cmd = [XEN_CONTROL, "live-update"] + list(opts) + [binary]
    else:
        cmd = [xstore_bin(), "control", "live-update", binary] + list(opts)
    r = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)
    out = (r.stdout + r.stderr).strip()
    if check and r.returncode != 0:
        raise AssertionError("%s live-update %s: exit %d: %s" % (tool, binary, r.returncode, out))
    return r.returncode, out


def xen_control_runs():
    """Is Xen's xenstore-control unpacked (shared/peers) and loadable?"""
    if not os.access(XEN_CONTROL, os.X_OK):
        return False
    r = subprocess.run([XEN_CONTROL], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, XENSTORED_PATH="/nonexistent"))
    return r.returncode != 127 and "error while loading" not in r.stderr


def updates_in_log(env):
    with open(env.daemon.log, errors="replace") as f:
        return f.read().count("serving after a live update")


def scripts(dirname, real):
    """Wrappers of the real binary: one that claims another state format,
    one that passes the probe but reads another format (cannot load)."""
    v2 = os.path.join(dirname, "xstored-v2")
    bad = os.path.join(dirname, "xstored-badload")
    with open(v2, "w") as f:
        f.write('#!/bin/sh\nexec "%s" --test-state-format=%d "$@"\n' % (real, OTHER))
    with open(bad, "w") as f:
        f.write('#!/bin/sh\nfor a; do last=$a; done\n'
                'if [ "$last" = --state-format ]; then\n'
                '  echo "xstored state-format %d"; exit 0\nfi\n'
                'exec "%s" --test-state-format=%d "$@"\n' % (FORMAT, real, OTHER))
    os.chmod(v2, 0o755)
    os.chmod(bad, 0o755)
    return v2, bad


def new_env(*extra, env_vars=None):
    saved = dict(os.environ)
    os.environ.update(env_vars or {})
    try:
        env = SimEnv(extra_args=["--write-rate", "0", "-Q", "nodes=0", "-Q", "memory=0"] + list(extra), timeout=20.0).start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    LOGS.append(env.daemon.log)
    return env


# --------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------
class Worker(threading.Thread):
    def __init__(self, name):
        super().__init__(daemon=True)
        self.name = name
        self.stop = threading.Event()
        self.errors = []
        self.ops = 0

    def run(self):
        try:
            while not self.stop.is_set():
                self.step()
                self.ops += 1
        except Exception as e:  # any failure is the test's failure
            self.errors.append("%s: %s: %s" % (self.name, type(e).__name__, e))

    def check(self):
        return self.errors


class PipelineWriter(Worker):
    """Writes in batches of 4 pipelined requests; replies must match."""

    def __init__(self, env, i):
        super().__init__("writer%d" % i)
        self.c = env.conn()
        self.base = "/lu/s%d" % i
        self.last = {}
        self.lat = []  # seconds per batch of 4, for the report

    def step(self):
        ids = {}
        t0 = time.monotonic()
        for k in range(4):
            path = "%s/k%d" % (self.base, k)
            val = "%d" % (self.ops * 4 + k)
            ids[self.c.send("WRITE", path.encode() + b"\0" + val.encode())] = (path, val)
        for rid, (path, val) in ids.items():
            m = self.c.reply(rid)
            if m.payload != b"OK\0":
                raise AssertionError("WRITE %s: %r" % (path, m.payload))
            self.last[path] = val
        self.lat.append(time.monotonic() - t0)
        if self.ops % 8 == 0:
            path, val = next(iter(self.last.items()))
            got = self.c.read(path)
            if got != val.encode():
                raise AssertionError("READ %s: %r, want %r" % (path, got, val))


class WatchWriter(Worker):
    """Creates /lu/w/eN, N = 0, 1, ...: each change one event."""

    def __init__(self, conn, base, name):
        super().__init__(name)
        self.c = conn
        self.base = base
        self.acked = []

    def step(self):
        path = "%s/d%d/e%d" % (self.base, self.ops // 100, self.ops)
        self.c.write(path, "x")
        self.acked.append(path)
        time.sleep(0.002)


class Watcher(Worker):
    def __init__(self, conn, path, token, name):
        super().__init__(name)
        self.c = conn
        self.c.watch(path, token)
        self.got = []

    def step(self):
        try:
            ev = self.c.event(timeout=0.1)
        except xsproto.XsTimeout:
            return
        self.got.append(ev.fields()[0].decode())

    def drain(self):
        self.c.sync()
        self.got += [p.decode() for p, _ in self.c.take_events()]


class TxnClient(Worker):
    """Increments /lu/t/count in transactions held open until an update
    comes (or 0.5 s), so that many are open across one; each commit
    counts once.  It is
    the only writer of its nodes: every commit must succeed (an EAGAIN
    would be a transaction lost to an update)."""

    def __init__(self, env, updates):
        super().__init__("txn")
        self.c = env.conn()
        self.c.write("/lu/t/count", "0")
        self.committed = 0
        self.conflicts = 0
        self.updates = updates  # [updates done], set by the main thread
        self.across = 0  # committed with an update between start and end

    def step(self):
        before = self.updates[0]
        tx = self.c.tx_start()
        n = int(self.c.read("/lu/t/count", tx=tx))
        self.c.write("/lu/t/n%d" % (self.ops % 8), str(n), tx=tx)
        # Open until an update comes (at most 0.5 s).  A fixed 100 ms
        # made the count across an update depend on how long updates
        # take: on a faster machine 20 of them fit in 8 transactions.
        deadline = time.monotonic() + 0.5
        while (self.updates[0] == before and time.monotonic() < deadline
               and not self.stop.is_set()):
            time.sleep(0.005)
        self.c.write("/lu/t/count", str(n + 1), tx=tx)
        self.c.directory("/lu/t", tx=tx)
        time.sleep(0.05)
        try:
            self.c.tx_end(tx, True)
            self.committed += 1
            if self.updates[0] != before:
                self.across += 1
        except XsError as e:
            if "EAGAIN" not in str(e):
                raise
            self.conflicts += 1


class GuestLoad(Worker):
    """A guest writing under its home and watching it (relative paths)."""

    def __init__(self, env, domid):
        super().__init__("guest%d" % domid)
        self.g = env.domain(domid)
        self.g.watch("data/lu", "g")
        self.g.event()  # the watch fires once when set
        self.domid = domid
        self.acked = []
        self.events = []

    def step(self):
        path = "data/lu/d%d/e%d" % (self.ops // 100, self.ops)
        self.g.write(path, "y")
        self.acked.append(path)
        for p, _ in self.g.take_events():
            self.events.append(p.decode())

    def drain(self):
        self.g.sync()
        self.events += [p.decode() for p, _ in self.g.take_events()]


def once_each(what, acked, got, extra=()):
    """Every acked path in `got` exactly once, nothing else but `extra`."""
    probs = []
    counts = {}
    for p in got:
        counts[p] = counts.get(p, 0) + 1
    for p in acked:
        n = counts.pop(p, 0)
        if n != 1:
            probs.append("%s: %d events for %s" % (what, n, p))
    for p in extra:
        counts.pop(p, None)
    if counts:
        probs.append("%s: unexpected events %s" % (what, sorted(counts)[:5]))
    return probs


def t_load_updates(ctx):
    env = new_env()
    try:
        pid = env.daemon.proc.pid
        _, bad = scripts(ctx.tmp, env.xstored)
        # A client stopped in the middle of a WRITE.
        blocked = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        blocked.connect(env.socket)
        msg = b"/lu/blocked\0finally"
        whole = HDR.pack(xsproto.type_num("WRITE"), 77, 0, len(msg)) + msg
        blocked.sendall(whole[:21])
        wconn = env.conn()
        watcher = Watcher(wconn, "/lu/w", "tok", "watcher")
        watcher.c.event()  # fired once when set
        workers = [PipelineWriter(env, i) for i in range(3)]
        wwriter = WatchWriter(env.conn(), "/lu/w", "watch-writer")
        updates = [0]
        txn = TxnClient(env, updates)
        guests = [GuestLoad(env, 5), GuestLoad(env, 6)]
        workers += [watcher, wwriter, txn] + guests
        for w in workers:
            w.start()
        has_xen = xen_control_runs()
        done = 0
        for i in range(UPDATES):
            if i == UPDATES // 2:
                rc, out = live_update(env, bad, check=False)
                if rc == 0 or "cannot load the state" not in out:
                    raise AssertionError("a binary that cannot load: exit %d: %s" % (rc, out))
            tool = "xen" if has_xen and i % 4 == 3 else "xstore"
            live_update(env, env.xstored, tool=tool)
            done += 1
            updates[0] = done
            if any(w.errors for w in workers):
                break
        time.sleep(0.3)
        for w in workers:
            w.stop.set()
        for w in workers:
            w.join(10)
        probs = [e for w in workers for e in w.errors]
        if probs:
            raise AssertionError("after %d updates: %s" % (done, "; ".join(probs[:5])))
        eq(env.daemon.proc.pid, pid, "pid")
        if not env.alive():
            raise AssertionError("the daemon died: %s" % env.daemon.tail())
        # +1: the previous binary coming back after the broken one
        eq(updates_in_log(env), UPDATES + 1, "updates in the log")
        blocked.sendall(whole[21:])
        hdr = blocked.recv(16)
        t, rid, _, n = HDR.unpack(hdr)
        eq((t, rid, blocked.recv(n)), (xsproto.type_num("WRITE"), 77, b"OK\0"),
           "the half-sent request, completed")
        eq(env.dom0.read("/lu/blocked"), b"finally", "its write")
        blocked.close()
        watcher.drain()
        probs += once_each("watcher", wwriter.acked, watcher.got)
        for g in guests:
            g.drain()
            probs += once_each("guest%d" % g.domid, g.acked, g.events)
        eq(int(env.dom0.read("/lu/t/count")), txn.committed, "committed transactions")
        eq(txn.conflicts, 0, "transactions ended with EAGAIN (lost to an update)")
        if txn.across < UPDATES // 2:
            raise AssertionError("only %d transactions open across an update" % txn.across)
        for w in workers[:3]:
            for path, val in w.last.items():
                eq(env.dom0.read(path), val.encode(), path)
        if probs:
            raise AssertionError("; ".join(probs[:6]))
        lat = sorted(x for w in workers[:3] for x in w.lat)
        print("  batches of 4 pipelined writes: p50 %.1f ms, p99 %.1f ms, longest %.1f ms "
              "(the pause of an update, ASan build, 2 shared cores)" % (
                  lat[len(lat) // 2] * 1e3, lat[len(lat) * 99 // 100] * 1e3, lat[-1] * 1e3),
              flush=True)
        print("  %d updates%s; ops: %s; %d transactions committed across an update" % (
            done, " (every 4th by Xen's xenstore-control)" if has_xen else
            " (Xen's xenstore-control not unpacked: ours only)",
            ", ".join("%s %d" % (w.name, w.ops) for w in workers), txn.across), flush=True)
        st, errs = env.finish()
        if st != 0 or errs:
            raise AssertionError("exit %s %s" % (st, errs[:1]))
    finally:
        env.cleanup(keep=bool(os.environ.get("KEEP")))


# --------------------------------------------------------------------------
# Safety
# --------------------------------------------------------------------------
def t_refused(ctx):
    env = new_env()
    try:
        v2, _ = scripts(ctx.tmp, env.xstored)
        noexec = os.path.join(ctx.tmp, "noexec")
        shutil.copy(env.xstored, noexec)
        os.chmod(noexec, 0o644)
        env.dom0.write("/r", "1")
        c = env.conn()
        c.watch("/r", "t")
        c.event()
        rc, out = live_update(env, env.xstored, "-c", "--no-such-option", check=False)
        if rc == 0 or "refuses the options" not in out:
            raise AssertionError("-c --no-such-option: exit %d: %r" % (rc, out))
        for f, want in ((os.path.join(ctx.tmp, "missing"), "No such file"),
                        (noexec, "Permission denied"),
                        ("/bin/true", "not an xstored"),
                        (v2, "state format %d, this daemon %d" % (OTHER, FORMAT))):
            rc, out = live_update(env, f, check=False)
            if rc == 0 or want not in out:
                raise AssertionError("%s: exit %d: %r (want %r)" % (f, rc, out, want))
        eq(updates_in_log(env), 0, "updates")
        env.dom0.write("/r", "2")
        eq(c.event().fields()[0], b"/r", "the watch still fires")
    finally:
        env.cleanup()


def t_broken_binary(ctx):
    env = new_env()
    try:
        _, bad = scripts(ctx.tmp, env.xstored)
        c = env.conn()
        c.watch("/b", "t")
        c.event()
        rc, out = live_update(env, bad, check=False)
        want = "stream is of format version %d, this xstored reads version %d" % (FORMAT, OTHER)
        if rc == 0 or want not in out:
            raise AssertionError("exit %d: %s" % (rc, out))
        env.dom0.write("/b", "1")
        eq(c.event().fields()[0], b"/b", "the watch fires after the fall-back")
        eq(c.read("/b"), b"1", "the connection serves")
        live_update(env, env.xstored)  # and a good one still works
    finally:
        env.cleanup()


def t_crash_on_load(ctx):
    env = new_env()
    try:
        crash = os.path.join(ctx.tmp, "xstored-crash")
        with open(crash, "w") as f:
            f.write('#!/bin/sh\nXSTORED_TEST_LOAD_CRASH=1 exec "%s" "$@"\n' % env.xstored)
        os.chmod(crash, 0o755)
        c = env.conn()
        c.write("/k/before", "1")
        c.watch("/k", "t")
        c.event()
        rc, out = live_update(env, crash, check=False)
        if rc == 0 or "crashed loading the state" not in out:
            raise AssertionError("exit %d: %s" % (rc, out))
        env.dom0.write("/k/after", "2")
        eq(c.event().fields()[0], b"/k/after", "the watch fires after the fall-back")
        eq((c.read("/k/before"), c.read("/k/after")), (b"1", b"2"), "the store")
        live_update(env, env.xstored)  # and a good one still works
        eq(c.read("/k/before"), b"1", "after a good update")
    finally:
        env.cleanup()


def t_exec_fails(ctx):
    env = new_env(env_vars={"XSTORED_TEST_EXEC_FAIL": "1"})
    try:
        c = env.conn()
        c.write("/e", "1")
        rc, out = live_update(env, env.xstored, check=False)
        if rc == 0 or "cannot exec" not in out:
            raise AssertionError("exit %d: %s" % (rc, out))
        eq(c.read("/e"), b"1", "the connection serves")
        eq(updates_in_log(env), 0, "updates")
    finally:
        env.cleanup()


def ctl(c, *args):
    return c.call("CONTROL", b"".join(a.encode() + b"\0" for a in ("live-update",) + args))


def t_txn_across(ctx):
    env = new_env()
    try:
        c = env.conn()  # the transaction that commits
        other = env.conn()  # the client that changes what others read
        for path in ("/x/read", "/x/b", "/x/a"):
            env.dom0.write(path, "0")
        g = env.domain(9)
        g.write("data/g", "0")
        # Reads and writes before the update.
        tx = c.tx_start()
        eq(c.read("/x/read", tx=tx), b"0", "read in the transaction")
        c.write("/x/new/before", "1", tx=tx)
        c.write("/x/read", "1", tx=tx)
        c.rm("/x/a", tx=tx)
        # One whose read node another client changes before the update,
        # one after it.
        tb, ta = other.tx_start(), other.tx_start()
        eq(other.read("/x/b", tx=tb), b"0", "tb's read")
        other.write("/x/b-out", "1", tx=tb)
        eq(other.read("/x/a", tx=ta), b"0", "ta's read")
        other.write("/x/a-out", "1", tx=ta)
        env.dom0.write("/x/b", "changed before")
        # A guest's transaction.
        gt = g.tx_start()
        eq(g.read("data/g", tx=gt), b"0", "the guest's read")
        g.write("data/g", "1", tx=gt)
        # -s does not wait for them; -t and -F are accepted.  A READ
        # pipelined behind the -s is answered after it, by the new binary.
        eq(ctl(c, "-f", env.xstored), b"OK\0", "-f")
        args = ("live-update", "-s", "-t", "1", "-F")
        c.send("CONTROL", b"".join(a.encode() + b"\0" for a in args))
        c.send("READ", b"/x/new/before\0", tx_id=tx)
        first, second = c.recv(), c.recv()
        eq((first.name, first.payload), ("CONTROL", b"OK\0"), "-s: the new binary's answer")
        eq((second.name, second.payload), ("READ", b"1"),
           "the transaction's READ after it sees its own write")
        eq(updates_in_log(env), 1, "updates")
        env.dom0.write("/x/a", "changed after")
        # More after the update, then the commit.
        eq(c.read("/x/read", tx=tx), b"1", "its own write, read after the update")
        try:
            c.read("/x/a", tx=tx)
            raise AssertionError("a node it removed, read after the update")
        except XsError as e:
            if "ENOENT" not in str(e):
                raise
        c.write("/x/new/after", "2", tx=tx)
        eq(sorted(c.directory("/x/new", tx=tx)), ["after", "before"], "its directory")
        c.tx_end(tx, True)
        eq(env.dom0.read("/x/new/before"), b"1", "a write before the update")
        eq(env.dom0.read("/x/new/after"), b"2", "a write after the update")
        eq(env.dom0.read("/x/read"), b"1", "its write over what it read")
        for t, what in ((tb, "changed before the update"), (ta, "changed after the update")):
            try:
                other.tx_end(t, True)
                raise AssertionError("a transaction whose read node was %s committed" % what)
            except XsError as e:
                if "EAGAIN" not in str(e):
                    raise
        for path in ("/x/b-out", "/x/a-out"):
            try:
                env.dom0.read(path)
                raise AssertionError("%s written by a failed commit" % path)
            except XsError as e:
                if "ENOENT" not in str(e):
                    raise
        g.write("data/h", "1", tx=gt)
        g.tx_end(gt, True)
        eq(env.dom0.read("/local/domain/9/data/g"), b"1", "the guest's transaction")
        eq(env.dom0.read("/local/domain/9/data/h"), b"1", "the guest's write after")
        for o in ("-b", "-d"):
            ans = ctl(c, o, "10")
            if b"stub domain" not in ans:
                raise AssertionError("%s: %r" % (o, ans))
        eq(ctl(c, "-a"), b"OK\0", "-a")
        if b"no new binary" not in ctl(c, "-s"):
            raise AssertionError("-s after -a")
    finally:
        env.cleanup()


def t_journal(ctx):
    env = new_env()
    try:
        env.dom0.write("/j/before", "1")
        g = env.domain(7)
        g.write("data", "g")
        live_update(env, env.xstored)
        live_update(env, env.xstored)
        env.dom0.write("/j/after", "2")
        report = env.dom0.call("CONTROL", b"journal\0")
        if b"state ok" not in report:
            raise AssertionError("journal after updates: %r" % report)
        g.close()
        env.guests = []
        env.dom0.close()
        env.dom0 = None
        env.daemon.proc.send_signal(signal.SIGKILL)
        env.daemon.proc.wait()
        env.daemon.start()
        c = env.conn()
        eq(c.read("/j/before"), b"1", "before")
        eq(c.read("/j/after"), b"2", "after the updates")
        eq(c.read("/local/domain/7/data"), b"g", "the guest's")
    finally:
        env.cleanup()


def t_no_persist(ctx):
    env = new_env("--no-persist")
    try:
        c = env.conn()
        c.watch("/np", "t")
        c.event()
        g = env.domain(8)
        g.watch("data", "g")
        g.event()
        for i in range(3):
            # A guest request written while nothing reads the ring: the
            # new binary serves it.
            rid = g.send("WRITE", b"data/n%d\0v" % i)
            live_update(env, env.xstored)
            eq(g.reply(rid).payload, b"OK\0", "the guest's write across update %d" % i)
            env.dom0.write("/np/%d" % i, "x")
            eq(c.event().fields()[0], b"/np/%d" % i, "the socket's watch")
            evs = [e for e in g.drain_events(0.3)]
            if (b"data/n%d" % i, b"g") not in evs:
                raise AssertionError("the guest's watch after update %d: %r" % (i, evs))
        eq(updates_in_log(env), 3, "updates")
        report = env.dom0.call("CONTROL", b"journal\0")
        if b"--no-persist" not in report:
            raise AssertionError("a journal appeared: %r" % report)
    finally:
        env.cleanup()


def t_sanitizers(ctx):
    bad = [l for log in LOGS for l in sanitizer_errors(log)]
    if bad:
        raise AssertionError(bad[0])


class Ctx:
    pass


def main():
    r = Runner()
    try:
        require_binaries()
        if not os.access(xstore_bin(), os.X_OK):
            raise Skip("not built: %s" % xstore_bin())
    except Skip as e:
        r.skip("all", str(e))
        return r.final()
    ctx = Ctx()
    ctx.tmp = tempfile.mkdtemp(prefix="xslu-", dir="/tmp")
    only = sys.argv[1:]
    try:
        for name, fn in (("load_updates", t_load_updates), ("refused", t_refused),
                         ("broken_binary", t_broken_binary),
                         ("crash_on_load", t_crash_on_load), ("exec_fails", t_exec_fails),
                         ("txn_across", t_txn_across), ("journal", t_journal),
                         ("no_persist", t_no_persist),
                         ("sanitizers", t_sanitizers)):
            if not only or name in only:
                r.run(name, fn, ctx)
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
