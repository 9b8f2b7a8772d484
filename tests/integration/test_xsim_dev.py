#!/usr/bin/env python3
"""test_xsim_dev.py: xsim's device commands, suspend and resume.

  device-add     the nodes and permissions libxl writes (frontend, backend,
                 /libxl copy), default devids, --file, while another
                 client writes elsewhere in a loop
  device-remove  the Closing/Closed handshake with a fake backend (a
                 thread answering state 5 with 6); without a backend a
                 clean timeout, then --force
  device-list    its lines
  destroy        removes the backends serving the dead domain; the daemon
                 reads the dead domain's state only, and forgets it
                 without walking the tree (libxl's order)
  names          unique; dom<N> is domain N's default name only
  suspend/resume a --no-mux domain's sim state; the daemon fires
                 @releaseDomain on suspend and RESUME re-arms it; with
                 xsmux (when built) the guest's own acknowledgement
  create         without xsmux next to xsim: a clear failure; with it:
                 the socket answers, destroy stops it
  no daemon      every command fails with a message naming the socket

Env: XSTORED (build/asan/xstored), XSIM (next to XSTORED).
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsproto  # noqa: E402
from simenv import Runner, SimEnv, Skip, eq, events_of, wait_until  # noqa: E402

FE = "/local/domain/%d/device/%s/%d"
BE = "/local/domain/%d/backend/%s/%d/%d"
LX = "/libxl/%d/device/%s/%d"


def tree(conn, path):
    """{relative path: (value, perms)} of path's subtree ('' is path)."""
    out, todo = {}, [""]
    while todo:
        rel = todo.pop()
        full = path + ("/" + rel if rel else "")
        out[rel] = (conn.read(full).decode(), conn.get_perms(full))
        todo += [(rel + "/" if rel else "") + c for c in conn.directory(full)]
    return out


def xsim_fails(env, *args, want=None):
    r = env.xsim(*args, check=False)
    if r.returncode != 1:
        raise AssertionError("xsim %s: exit %d, want 1 (%s)" % (
            " ".join(map(str, args)), r.returncode, (r.stderr + r.stdout).strip()))
    if want and want not in r.stderr:
        raise AssertionError("xsim %s: stderr %r lacks %r" % (
            " ".join(map(str, args)), r.stderr.strip(), want))
    return r.stderr


# --------------------------------------------------------------------------
def t_add_nodes(env):
    env.create(5)
    env.create(6)
    r = env.xsim("device-add", 5, "vbd", "mode=w", "--file", "disk.img", "type=phy")
    fe, be, lx = FE % (5, "vbd", 51712), BE % (0, "vbd", 5, 51712), LX % (5, "vbd", 51712)
    eq(r.stdout.strip(), fe, "printed path")
    c = env.dom0
    eq(tree(c, fe), {
        "": ("", ["n5", "r0"]),
        "backend": (be, ["n5", "r0"]),
        "backend-id": ("0", ["n5", "r0"]),
        "state": ("1", ["n5", "r0"]),
        "virtual-device": ("51712", ["n5", "r0"]),
    }, "frontend")
    eq(tree(c, be), {
        "": ("", ["n0", "r5"]),
        "frontend": (fe, ["n0", "r5"]),
        "frontend-id": ("5", ["n0", "r5"]),
        "online": ("1", ["n0", "r5"]),
        "state": ("1", ["n0", "r5"]),
        "mode": ("w", ["n0", "r5"]),
        "params": (os.path.join(os.getcwd(), "disk.img"), ["n0", "r5"]),
        "type": ("phy", ["n0", "r5"]),
    }, "backend")
    eq(tree(c, lx), {
        "": ("", ["n0"]),
        "frontend": (fe, ["n0"]),
        "backend": (be, ["n0"]),
    }, "/libxl copy")

    # A driver domain as backend; non-vbd types count from 0.
    r = env.xsim("device-add", 5, "vif", "--backend-domid", 6, "mac=00:16:3e:00:00:01")
    fe, be = FE % (5, "vif", 0), BE % (6, "vif", 5, 0)
    eq(r.stdout.strip(), fe, "vif path")
    eq(tree(c, fe), {
        "": ("", ["n5", "r6"]),
        "backend": (be, ["n5", "r6"]),
        "backend-id": ("6", ["n5", "r6"]),
        "state": ("1", ["n5", "r6"]),
    }, "vif frontend")
    eq(tree(c, be)["mac"], ("00:16:3e:00:00:01", ["n6", "r5"]), "vif backend key")
    eq(tree(c, be)["frontend-id"], ("5", ["n6", "r5"]), "vif frontend-id")

    # Defaults: the lowest free devid; an explicit one replaces (libxl).
    eq(env.xsim("device-add", 5, "vbd").stdout.strip(), FE % (5, "vbd", 51728), "xvdb")
    eq(env.xsim("device-add", 5, "vif").stdout.strip(), FE % (5, "vif", 1), "vif 1")
    eq(env.xsim("device-add", 5, "vbd", "--devid", 51712, "params=/new").stdout.strip(),
       FE % (5, "vbd", 51712), "explicit devid")
    t = tree(c, BE % (0, "vbd", 5, 51712))
    eq(t["params"][0], "/new", "replaced backend")
    if "mode" in t:
        raise AssertionError("the old backend's keys survived the re-add")

    # Refusals.
    xsim_fails(env, "device-add", 9, "vbd", want="no home")
    xsim_fails(env, "device-add", 5, "vbd", "--backend-domid", 77, want="no backend domain 77")
    for bad in (["5", "vbd", "state=4"], ["5", "vbd", "noequals"], ["5", "v/bd"],
                ["5", "vif", "--file", "x"]):
        r = env.xsim("device-add", *bad, check=False)
        eq(r.returncode, 2, "device-add %s: exit" % " ".join(bad))


def t_add_concurrent(env):
    """device-add commits while another client keeps writing elsewhere."""
    env.create(7)
    stop = threading.Event()
    errors = []

    def writer():
        c = env.conn()
        i = 0
        try:
            while not stop.is_set():
                c.write("/tool/busy/n", str(i))
                i += 1
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            c.close()

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    try:
        wait_until(lambda: env.dom0.exists("/tool/busy/n"), what="the writer")
        fails = []
        for _ in range(5):
            r = env.xsim("device-add", 7, "vbd", check=False)
            if r.returncode != 0:
                fails.append(r.stderr.strip())
    finally:
        stop.set()
        th.join(10)
    if errors:
        raise AssertionError("writer: %s" % errors[0])
    if fails:
        raise AssertionError("%d of 5 device-adds failed beside a writer (the "
                             "rm-then-write livelock, issue 10 item 0?): %s"
                             % (len(fails), fails[0]))
    eq(len(env.dom0.directory("/local/domain/7/device/vbd")), 5, "devices added")


class FakeBackend:
    """A thread answering backend state 5 (Closing) with 6 (Closed)."""

    def __init__(self, env, be):
        self.conn, self.be = env.conn(), be
        self.conn.watch(be + "/state", "fake")
        self.stop, self.closed = threading.Event(), threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop.is_set():
            if not self.conn.drain_events(0.05):
                continue
            try:
                if self.conn.read(self.be + "/state") == b"5":
                    self.conn.write(self.be + "/state", "6")
                    self.closed.set()
            except xsproto.XsError:
                pass  # removed under us

    def finish(self):
        self.stop.set()
        self.th.join(10)
        self.conn.close()


def t_remove_handshake(env):
    env.create(8)
    env.xsim("device-add", 8, "vbd", "params=/a")
    fe, be, lx = FE % (8, "vbd", 51712), BE % (0, "vbd", 8, 51712), LX % (8, "vbd", 51712)
    fake = FakeBackend(env, be)
    try:
        env.xsim("device-remove", 8, "vbd", 51712, "--timeout", 10)
    finally:
        fake.finish()
    if not fake.closed.is_set():
        raise AssertionError("the backend never saw state 5")
    for p in (fe, be, lx):
        eq(env.dom0.exists(p), False, "%s after remove" % p)
    # Empty type directories go too (libxl's path cleanup); the homes stay.
    eq(env.dom0.exists("/local/domain/8/device/vbd"), False, "frontend type dir")
    eq(env.dom0.exists("/local/domain/8/device"), True, "device/")
    eq(env.dom0.exists("/libxl/8/device"), False, "/libxl/8/device")
    eq(env.dom0.exists("/libxl/8"), True, "/libxl/8")


def t_remove_timeout_force(env):
    env.create(9)
    env.xsim("device-add", 9, "vbd", "params=/b")
    fe, be, lx = FE % (9, "vbd", 51712), BE % (0, "vbd", 9, 51712), LX % (9, "vbd", 51712)
    err = xsim_fails(env, "device-remove", 9, "vbd", 51712, "--timeout", 1,
                     want="did not close within 1 s")
    if "--force" not in err or be not in err:
        raise AssertionError("timeout message: %r" % err)
    eq(env.dom0.read(be + "/state"), b"5", "backend asked to close")
    eq(env.dom0.read(be + "/online"), b"0", "backend offline")
    for p in (fe, be, lx):
        eq(env.dom0.exists(p), True, "%s after the timeout" % p)
    env.xsim("device-remove", 9, "vbd", 51712, "--force")
    for p in (fe, be, lx):
        eq(env.dom0.exists(p), False, "%s after --force" % p)
    xsim_fails(env, "device-remove", 9, "vbd", 51712, want="has no vbd device 51712")


def t_list(env):
    env.create(10)
    env.create(11)
    env.xsim("device-add", 10, "vbd", "params=/c")
    env.xsim("device-add", 10, "vbd", "params=/d")
    env.xsim("device-add", 10, "vif", "--backend-domid", 11)
    env.dom0.write(FE % (10, "vbd", 51728) + "/state", "4")
    env.dom0.write(BE % (11, "vif", 10, 0) + "/state", "2")
    out = env.xsim("device-list", 10).stdout.splitlines()
    eq(out, [
        "vbd 51712 1 0 1 " + BE % (0, "vbd", 10, 51712),
        "vbd 51728 4 0 1 " + BE % (0, "vbd", 10, 51728),
        "vif 0 1 11 2 " + BE % (11, "vif", 10, 0),
    ], "device-list")
    eq(env.xsim("device-list", 11).stdout, "", "no devices")
    xsim_fails(env, "device-list", 12, want="not in the store")


def t_destroy_backends(env):
    """dom0's backends of the dead domain go, and those in the driver
    domains that libxl's copy of its devices names (checked against the
    layout), as libxl finds them: not by reading every domain's backend
    directory, a request per domain of the host."""
    env.create(12)
    env.create(13)
    env.create(19)
    env.xsim("device-add", 12, "vbd", "params=/e")
    env.xsim("device-add", 12, "vif", "--backend-domid", 13)
    env.xsim("device-add", 13, "vbd", "params=/f")  # another domain's: stays
    d0 = env.dom0
    d0.write(BE % (0, "console", 12, 0) + "/state", "4")  # dom0's, no record: goes
    d0.write(BE % (19, "vkbd", 12, 0) + "/state", "4")  # a driver domain's, no record
    # A record pointing off the layout names no backend domain.
    d0.write(LX % (12, "vfb", 0) + "/backend", "/local/domain/19/data")
    env.destroy(12)
    for p in ("/local/domain/0/backend/vbd/12", "/local/domain/13/backend/vif/12",
              "/local/domain/0/backend/console/12", "/libxl/12", "/local/domain/12"):
        eq(d0.exists(p), False, "%s after destroy" % p)
    eq(d0.exists(BE % (0, "vbd", 13, 51712)), True, "dom13's backend")
    eq(d0.exists(BE % (19, "vkbd", 12, 0)), True, "an unrecorded driver domain's backend")
    env.destroy(13)
    env.destroy(19)


def t_destroy_cost(env):
    """A destroy makes the daemon read the state of the dead domain only
    (the simulator's virq-dom-exc names it), and with libxl's order (the
    nodes go, then the domain dies) forgetting it walks no node; a writer
    that names no domain (a byte "x") still makes it check every domain,
    as Xen's VIRQ_DOM_EXC.  From the daemon's counters at exit."""
    doms = list(range(20, 40))
    for d in doms:
        env.create(d)
    for d in doms[:5]:
        env.destroy(d)
    set_state_by_hand(env, doms[5], "running")  # "x": some domain changed
    # Nothing tells when the sweep (15 state reads, in 100 us slices)
    # is over: it takes about a millisecond.
    time.sleep(0.5)
    env.dom0.control("log", "+debug")
    env.check_clean_exit()
    got = checks_at_exit(env)
    if got is None:
        raise AssertionError("no domain state checks line at exit: %s" % env.daemon.tail(5))
    n, sweeps, walked = got
    eq(sweeps, 1, "sweeps of every domain")
    # 5 named, then the 15 left, once
    eq(n, 5 + 15, "domain state checks")
    eq(walked, 0, "nodes walked to forget the dead domains")


def t_names(env):
    """A name is one domain's: a second domain with it is refused, naming
    the first.  dom<N> is domain N's default name, never another's (so a
    create with its default name reads no other domain's name)."""
    env.create(41, "--name", "web")
    err = xsim_fails(env, "create", 42, "--no-mux", "--name", "web")
    if "taken by domain 41" not in err:
        raise AssertionError("a taken name: %r" % err.strip())
    for bad in ("dom44", "dom044", "dom99999"):
        r = env.xsim("create", 43, "--no-mux", "--name", bad, check=False)
        if r.returncode == 0 or "reserved" not in r.stderr:
            raise AssertionError("--name %s for domain 43: exit %d, %r"
                                 % (bad, r.returncode, r.stderr.strip()))
    eq(os.path.exists(os.path.join(env.sim, "dom43")), False, "dom43 after refusals")
    env.create(44, "--name", "dom44")  # its own default: fine
    env.create(45)
    with open(os.path.join(env.sim, "dom45", "name")) as f:
        eq(f.read().strip(), "dom45", "the default name")
    for d in (41, 44, 45):
        env.destroy(d)


def checks_at_exit(env):
    """(checks, sweeps, walked) from the daemon's line at exit, or None."""
    with open(env.daemon.log, errors="replace") as f:
        m = re.findall(r"domain state checks: (\d+), in (\d+) sweeps .*; (\d+) nodes walked",
                       f.read())
    return tuple(int(x) for x in m[-1]) if m else None


def state_of(env, d):
    with open(os.path.join(env.sim, "dom%d" % d, "state")) as f:
        return f.read().strip()


def set_state_by_hand(env, d, st):
    """As docs/sim.md says any process may: rename, then signal."""
    tmp = os.path.join(env.sim, "dom%d" % d, "state.tmp.%d" % os.getpid())
    with open(tmp, "w") as f:
        f.write(st + "\n")
    os.rename(tmp, os.path.join(env.sim, "dom%d" % d, "state"))
    fd = os.open(os.path.join(env.sim, "virq-dom-exc"), os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)


def releases(conn, d, wait=0.3):
    return [p for p, t in events_of(conn, wait) if p == "@releaseDomain" and t == "rel"]


def t_suspend_resume(env):
    D = 14
    env.create(D)
    w = env.conn()
    try:
        w.watch("@releaseDomain", "rel")
        events_of(w, 0.2)  # the initial event
        env.xsim("suspend", D)
        eq(state_of(env, D), "suspended", "state after suspend")
        eq(env.dom0.read("/local/domain/%d/control/shutdown" % D), b"",
           "control/shutdown acknowledged")
        wait_until(lambda: releases(w, D, 0.1), what="@releaseDomain on suspend")
        eq(env.dom0.is_domain_introduced(D), True, "still introduced")
        xsim_fails(env, "suspend", D, want="is suspended, not running")

        # Not re-armed without RESUME: running then suspended by hand.
        set_state_by_hand(env, D, "running")
        set_state_by_hand(env, D, "suspended")
        env.dom0.write("/tool/sync", "1")
        eq(releases(w, D, 0.5), [], "a second @releaseDomain without RESUME")

        env.xsim("resume", D)
        eq(state_of(env, D), "running", "state after resume")
        xsim_fails(env, "resume", D, want="is running, not suspended")
        eq(releases(w, D, 0.3), [], "@releaseDomain on resume")
        env.xsim("suspend", D)
        wait_until(lambda: releases(w, D, 0.1), what="@releaseDomain after RESUME re-armed it")
        env.xsim("resume", D)
        # The ring still works after all of it.
        g = env.guest(D)
        eq(g.read("name"), b"dom%d" % D, "guest read after resume")
    finally:
        w.close()


def mux_bin(env):
    p = os.path.join(os.path.dirname(env.xsim_bin), "xsmux")
    if not os.access(p, os.X_OK):
        raise Skip("not built: %s" % p)
    return p


def answers(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except OSError:
        return False


def t_mux_create_suspend_destroy(env):
    mux_bin(env)
    D = 15
    env.create(D, mux=True)
    sock = os.path.join(env.sim, "dom%d" % D, "xenbus")
    eq(answers(sock), True, "the multiplexer answers on create's return")
    with open(sock + ".pid") as f:
        pid = int(f.read())
    c = xsproto.Conn(sock)
    try:
        eq(c.read("name"), b"dom%d" % D, "read through the multiplexer")
    finally:
        c.close()
    env.xsim("suspend", D, "--timeout", 10)
    eq(state_of(env, D), "suspended", "state set by the guest's multiplexer")
    eq(env.dom0.read("/local/domain/%d/control/shutdown" % D), b"", "acknowledged")
    env.xsim("resume", D)
    eq(state_of(env, D), "running", "resumed")
    c = xsproto.Conn(sock)
    try:
        eq(c.read("name"), b"dom%d" % D, "read after resume")
    finally:
        c.close()
    env.destroy(D)
    wait_until(lambda: not pid_alive(pid), what="the multiplexer to exit")
    eq(os.path.exists(os.path.join(env.sim, "xsmux-dom%d.log" % D)), False, "log removed")


def t_mux_missing(env):
    tmp = tempfile.mkdtemp(prefix="xsim-nomux-")
    try:
        lone = os.path.join(tmp, "xsim")
        shutil.copy(env.xsim_bin, lone)
        r = subprocess.run([lone, "--dir", env.sim, "--socket", env.socket, "create", "16"],
                           capture_output=True, text=True, timeout=30)
        eq(r.returncode, 1, "create without xsmux: exit")
        for want in (os.path.join(tmp, "xsmux"), "--no-mux"):
            if want not in r.stderr:
                raise AssertionError("message %r lacks %r" % (r.stderr.strip(), want))
        eq(os.path.exists(os.path.join(env.sim, "dom16")), False, "no domain made")
        r = subprocess.run([lone, "--dir", env.sim, "--socket", env.socket, "create", "16",
                            "--no-mux"], capture_output=True, text=True, timeout=30)
        eq(r.returncode, 0, "create --no-mux: exit (%s)" % r.stderr.strip())
        env.destroy(16)
        # A multiplexer that fails: create says so and takes the domain down.
        fake = os.path.join(tmp, "xsmux")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\necho 'xsmux: cannot serve (fake)' >&2\nexit 1\n")
        os.chmod(fake, 0o755)
        r = subprocess.run([lone, "--dir", env.sim, "--socket", env.socket, "create", "16"],
                           capture_output=True, text=True, timeout=30)
        eq(r.returncode, 1, "create with a failing xsmux: exit")
        if "cannot serve (fake)" not in r.stderr or fake not in r.stderr:
            raise AssertionError("message %r" % r.stderr.strip())
        eq(os.path.exists(os.path.join(env.sim, "dom16")), False, "domain taken down")
        eq(env.dom0.exists("/local/domain/16"), False, "home removed")
        eq(env.dom0.is_domain_introduced(16), False, "released")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def t_no_daemon(env):
    dead = os.path.join(env.dir, "no-such-socket")
    sim = env.sim
    if not os.path.exists(os.path.join(sim, "dom5")):
        env.create(5)
    for args in (["device-add", 5, "vbd"], ["device-remove", 5, "vbd", 51712],
                 ["device-list", 5], ["suspend", 5], ["destroy", 5]):
        r = subprocess.run([env.xsim_bin, "--dir", sim, "--socket", dead] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 1 or dead not in r.stderr:
            raise AssertionError("xsim %s without a daemon: exit %d, %r" % (
                args[0], r.returncode, r.stderr.strip()))
    # destroy without a daemon still removed the platform side
    eq(os.path.exists(os.path.join(sim, "dom5")), False, "dom5 after destroy")


def main():
    run = Runner("xsim_dev.")
    env = None
    try:
        env = SimEnv().start()
    except Skip as e:
        run.skip("all", str(e))
        return run.final()
    try:
        for name, fn in [("add_nodes", t_add_nodes), ("add_concurrent", t_add_concurrent),
                         ("remove_handshake", t_remove_handshake),
                         ("remove_timeout_force", t_remove_timeout_force),
                         ("list", t_list), ("destroy_backends", t_destroy_backends),
                         ("names", t_names),
                         ("suspend_resume", t_suspend_resume),
                         ("mux_create_suspend_destroy", t_mux_create_suspend_destroy),
                         ("mux_missing", t_mux_missing), ("no_daemon", t_no_daemon)]:
            run.run(name, fn, env)
        run.run("clean_exit", env.check_clean_exit)
    finally:
        env.cleanup()
    env = SimEnv().start()  # its own daemon: the test stops it
    try:
        run.run("destroy_cost", t_destroy_cost, env)
    finally:
        env.cleanup()
    return run.final()


if __name__ == "__main__":
    sys.exit(main())
