#!/usr/bin/env python3
"""test_top.py: CONTROL domstats, `xstore top`, quota lines in the log, the
tools' --help/--version, and the tools failing (not hanging) on a daemon
that does not answer (issue 14).

Covered:
  * domstats against a known state: guests made with xsim, nodes written,
    watches set, a transaction open, a request refused by permission and
    one by quota, exact request counts; paging ("more <domid>") with many
    domains; totals that do not go down when a domain goes;
  * `quota ... set` log lines naming the domain or "default";
  * xstore top --once (text), --json (parsed), --sort; the refresh mode on
    a pty for a few frames, then SIGINT: exit 0, the screen restored
    (alternate screen left, cursor shown), the terminal modes unchanged;
  * xstore, xenstore-read, xenstore-control and xsim against a stopped
    daemon (SIGSTOP), a socket nobody listens on, and a listening socket
    that accepts and never answers: each fails with a message naming the
    socket instead of hanging ($XSTORE_TIMEOUT short, the subprocess's own
    limit long: only a hang fails, never slowness);
  * --help and --version of xstore, xsim and xsmux; xenstore-read keeps
    Debian's behaviour (usage on stderr, exit 1, no --version).

Env: XSTORED (build/asan/xstored); xstore, xsim, xsmux next to it.
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from daemon import default_xstored  # noqa: E402
from simenv import Runner, SimEnv, Skip, eq, err, require_binaries  # noqa: E402

BIN = os.path.dirname(default_xstored())
XSTORE = os.path.join(BIN, "xstore")
XSIM = os.path.join(BIN, "xsim")
XSMUX = os.path.join(BIN, "xsmux")
# A hang is what these tests catch; a slow machine must not fail them.
HANG = 60


def tool_env(sock, **extra):
    e = dict(os.environ)
    e.pop("XENSTORED_PATH", None)
    e["XSTORE_CONNECT"] = "unix:" + sock
    e.update(extra)
    return e


def run(cmd, env=None, timeout=HANG):
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=env, timeout=timeout)


def domstats(conn, first=None):
    """{"total": {...}, "domains": {domid: {...}}, "more": domid or None}."""
    args = ("domstats",) + (() if first is None else (str(first),))
    text = conn.control(*args).rstrip(b"\0").decode()
    out = {"total": None, "domains": {}, "more": None}
    for line in text.splitlines():
        words = line.split()
        if words[0] == "total":
            out["total"] = {k: int(v) for k, v in (w.split("=") for w in words[1:])}
        elif words[0] == "domain":
            out["domains"][int(words[1])] = {k: int(v) for k, v in
                                             (w.split("=") for w in words[2:])}
        elif words[0] == "more":
            out["more"] = int(words[1])
        else:
            raise AssertionError("domstats: unexpected line %r" % line)
    if out["total"] is None:
        raise AssertionError("domstats: no total line in %r" % text)
    return out


# --------------------------------------------------------------------------
# domstats
# --------------------------------------------------------------------------
def t_domstats_counts(env):
    env.create(21)
    env.create(22)
    g, h = env.guest(21), env.guest(22)
    before = domstats(env.dom0)
    for d in (0, 21, 22):
        if d not in before["domains"]:
            raise AssertionError("domain %d missing from %r" % (d, before["domains"]))
    b = before["domains"][21]
    eq((b["watches"], b["transactions"], b["outstanding"], b["requests"], b["refused"]),
       (0, 0, 0, 0, 0), "a fresh guest's counters")
    if b["nodes"] <= 0 or b["memory"] <= 0:
        raise AssertionError("a guest's home nodes are its own: %r" % b)
    # Six requests: 3 writes (3 nodes under its data/), 2 watches, 1 start.
    g.write("data/a", "1")
    g.write("data/b", "22")
    g.write("data/c", "333")
    g.watch("data", "t1")
    g.watch("name", "t2")
    g.tx_start()
    # Refused: CONTROL from a guest (privilege) ...
    eq(err(g.control, "check"), "EACCES", "CONTROL from a guest")
    # ... and a node over domain 22's quota, set from dom0.
    n22 = before["domains"][22]["nodes"]
    env.dom0.set_quota(22, "nodes", n22 + 1)
    h.write("data/ok", "x")
    if err(h.write, "data/over", "y") not in ("ENOSPC", "EQUOTA", "E2BIG"):
        raise AssertionError("the write over the quota was not refused for quota")
    after = domstats(env.dom0)
    a = after["domains"][21]
    eq(a["nodes"] - b["nodes"], 3, "nodes written by dom21")
    if a["memory"] <= b["memory"]:
        raise AssertionError("memory did not grow: %r -> %r" % (b["memory"], a["memory"]))
    eq((a["watches"], a["transactions"], a["outstanding"]), (2, 1, 0),
       "dom21 watches, transactions, outstanding")
    eq(a["requests"], 7, "dom21 requests (6 and the refused CONTROL)")
    eq((a["refused"], a["refused_perm"], a["refused_quota"]), (1, 1, 0), "dom21 refusals")
    c = after["domains"][22]
    eq(c["requests"], 2, "dom22 requests")
    eq(c["nodes"], n22 + 1, "dom22 nodes (up to its quota)")
    eq((c["refused"], c["refused_quota"], c["refused_perm"]), (1, 1, 0), "dom22 refusals")
    t0, t1 = before["total"], after["total"]
    eq(t1["domains"], len(after["domains"]), "total domains = rows")
    for k in ("requests", "refused", "refused_quota", "refused_perm"):
        eq(t1[k], sum(r[k] for r in after["domains"].values()), "total %s = sum of rows" % k)
    if t1["watches"] < 2 or t1["transactions"] < 1 or t1["requests"] <= t0["requests"]:
        raise AssertionError("totals: %r" % t1)
    # A domain that goes takes its row, not its share of the totals.
    g.close()
    env.guests.remove(g)
    env.destroy(21)
    gone = domstats(env.dom0)
    if 21 in gone["domains"]:
        raise AssertionError("domain 21 still listed after destroy")
    if gone["total"]["requests"] < t1["requests"] or gone["total"]["refused"] < t1["refused"]:
        raise AssertionError("totals went down: %r -> %r" % (t1, gone["total"]))
    # A page from a domid on.
    eq(sorted(domstats(env.dom0, 22)["domains"]), [22], "domstats 22")
    h.close()
    env.guests.remove(h)
    env.destroy(22)


def t_domstats_pages(env):
    ids = list(range(40, 72))
    with ThreadPoolExecutor(4) as pool:  # xsim is a process each: overlap them
        list(pool.map(env.create, ids))
    first = domstats(env.dom0)
    if first["more"] is None:
        raise AssertionError("%d domains fit one reply: no paging tested" % len(ids))
    seen, nxt = set(first["domains"]), first["more"]
    while nxt is not None:
        page = domstats(env.dom0, nxt)
        if min(page["domains"]) < nxt:
            raise AssertionError("page from %d has %r" % (nxt, sorted(page["domains"])))
        seen |= set(page["domains"])
        nxt = page["more"]
    if not set([0] + ids) <= seen or len(seen) != first["total"]["domains"]:
        raise AssertionError("the pages have %r, want all %d domains" % (
            sorted(seen), first["total"]["domains"]))
    # xstore top --json follows the pages itself.
    r = run([XSTORE, "top", "--once", "--json", "-d", "0.1"], env=tool_env(env.socket))
    eq(r.returncode, 0, "xstore top --json: " + r.stderr)
    eq(sorted(d["domid"] for d in json.loads(r.stdout)["domains"]), sorted(seen),
       "xstore top --json domains")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(env.destroy, ids))


def t_domstats_usage(env):
    eq(err(env.dom0.control, "domstats", "x"), "EINVAL", "domstats x")
    eq(err(env.dom0.control, "domstats", "1", "2"), "EINVAL", "domstats 1 2")
    helptext = env.dom0.control("help").decode()
    if not re.search(r"^domstats\t.*total.*domain.*more", helptext, re.M):
        raise AssertionError("help does not document domstats: %r" % helptext)


def t_quota_log(env):
    env.create(23)
    env.dom0.control("quota", "set", "watches", "77")
    env.dom0.set_quota(23, "nodes", 900)
    env.dom0.set_quota("transactions", 9)
    env.dom0.control("quota-soft", "set", "nodes", "5000")
    with open(env.daemon.log, errors="replace") as f:
        log = f.read()
    for want in (r"quota set: default watches 77 \(was \d+\)",
                 r"quota set: domain 23 nodes 900 \(was \d+\)",
                 r"quota set: default transactions 9 \(was \d+\)",
                 r"quota-soft set: default nodes 5000 \(was \d+\)"):
        if not re.search(want, log):
            raise AssertionError("no log line like %r; log ends: %s" % (want, log[-600:]))
    env.destroy(23)


# --------------------------------------------------------------------------
# xstore top
# --------------------------------------------------------------------------
def t_top_once(env):
    env.create(24)
    g = env.guest(24)
    for i in range(5):
        g.write("data/n%d" % i, "v")
    e = tool_env(env.socket)
    r = run([XSTORE, "top", "--once"], env=e)
    eq(r.returncode, 0, "xstore top --once: " + r.stderr)
    lines = r.stdout.splitlines()
    if not lines[0].startswith("xstore top: rates over"):
        raise AssertionError("first line: %r" % lines[0])
    if not re.search(r"^domains \d+ +connections \d+ +nodes \d+", lines[1]):
        raise AssertionError("totals line: %r" % lines[1])
    head = lines.index(next(l for l in lines if l.split()[:2] == ["DOMID", "NODES"]))
    rows = {int(l.split()[0]): l.split() for l in lines[head + 1:] if l.strip()}
    want = domstats(env.dom0)["domains"][24]
    eq(int(rows[24][1]), want["nodes"], "top's NODES of dom24")
    eq(int(rows[24][7]), want["requests"], "top's REQUESTS of dom24")
    # JSON, sorted by nodes (dom0 owns the most).
    r = run([XSTORE, "top", "--once", "--json", "--sort", "nodes", "-d", "0.2"], env=e)
    eq(r.returncode, 0, "xstore top --json: " + r.stderr)
    j = json.loads(r.stdout)
    nodes = [d["nodes"] for d in j["domains"]]
    eq(nodes, sorted(nodes, reverse=True), "--sort nodes")
    if j["interval"] is None or j["interval"] <= 0 or j["total"]["requests_per_s"] is None:
        raise AssertionError("--once has no rate: %r" % j)
    eq(j["total"]["domains"], len(j["domains"]), "json total domains")
    r = run([XSTORE, "top", "--sort", "bogus", "--once"], env=e)
    if r.returncode == 0 or "sort" not in r.stderr:
        raise AssertionError("--sort bogus accepted: %r" % (r,))
    g.close()
    env.guests.remove(g)
    env.destroy(24)


def t_top_pty(env):
    """The refresh mode on a terminal: frames drawn in place, SIGINT
    quits with the screen and the terminal modes as they were."""
    master, slave = pty.openpty()
    modes = termios.tcgetattr(slave)
    p = subprocess.Popen([XSTORE, "top", "-d", "0.2"], stdin=slave, stdout=slave,
                         stderr=slave, env=tool_env(env.socket), start_new_session=True)
    out = b""
    deadline = time.monotonic() + HANG
    try:
        while out.count(b"xstore top:") < 3 and time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 1.0)
            if r:
                out += os.read(master, 65536)
        if out.count(b"xstore top:") < 3:
            raise AssertionError("fewer than 3 frames: %r" % out[-300:])
        p.send_signal(signal.SIGINT)
        st = p.wait(HANG)
        while True:
            r, _, _ = select.select([master], [], [], 0.5)
            if not r:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        eq(st, 0, "exit status after SIGINT")
        if not out.startswith(b"\033[?1049h"):
            raise AssertionError("no alternate screen: %r" % out[:40])
        if not out.rstrip(b"\r\n").endswith(b"\033[?25h\033[?1049l"):
            raise AssertionError("screen not restored at exit: %r" % out[-60:])
        if b"DOMID" not in out or b"REQ/S" not in out:
            raise AssertionError("no table drawn: %r" % out[-300:])
        # The second frame has rates: a number under REQ/S for dom0.
        frames = out.split(b"xstore top:")
        if b"\033[H" not in frames[1] or b"\033[H" not in frames[2]:
            raise AssertionError("frames not drawn from the home position: %r" % out[:400])
        if not re.search(rb"\n +0 +\d+ +\d+ +\d+ +\d+ +\d+ +\d+\.\d", frames[3]):
            raise AssertionError("no rate for dom0 in frame 2: %r" % frames[3][:400])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        # The modes of the terminal: untouched (no curses, no raw mode).
        eq(termios.tcgetattr(slave), modes, "terminal modes after top")
        os.close(slave)
        os.close(master)


# --------------------------------------------------------------------------
# Daemons that do not answer
# --------------------------------------------------------------------------
def expect_no_hang(cmd, env, sock, what):
    try:
        r = run(cmd, env=env)
    except subprocess.TimeoutExpired:
        raise AssertionError("%s hung (killed after %d s)" % (what, HANG))
    if r.returncode == 0:
        raise AssertionError("%s succeeded against a dead daemon: %r" % (what, r.stdout))
    if sock not in r.stderr:
        raise AssertionError("%s: the message does not name %s: %r" % (what, sock, r.stderr))
    return r


def dead_commands(sock, simdir, domid):
    return [
        ([XSTORE, "read", "/local"], "xstore read"),
        ([os.path.join(BIN, "xenstore-read"), "/local"], "xenstore-read"),
        ([os.path.join(BIN, "xenstore-control"), "check"], "xenstore-control"),
        ([XSTORE, "top", "--once"], "xstore top"),
        ([XSIM, "--dir", simdir, "--socket", sock, "create", str(domid), "--no-mux"],
         "xsim create"),
    ]


def t_stopped_daemon(env):
    pid = env.daemon.proc.pid
    e = tool_env(env.socket, XSTORE_TIMEOUT="0.5")
    os.kill(pid, signal.SIGSTOP)
    try:
        for cmd, what in dead_commands(env.socket, env.sim, 31):
            r = expect_no_hang(cmd, e, env.socket, what)
            if "answer" not in r.stderr:
                raise AssertionError("%s: %r" % (what, r.stderr))
    finally:
        os.kill(pid, signal.SIGCONT)
    # The create that failed left nothing behind on the platform.
    r = run([XSIM, "--dir", env.sim, "--socket", env.socket, "list"])
    if re.search(r"^31 ", r.stdout, re.M):
        env.destroy(31)
    # And the daemon serves again.
    r = run([XSTORE, "read", "/local/domain"], env=tool_env(env.socket))
    eq(r.returncode, 0, "xstore after SIGCONT: " + r.stderr)


def t_no_daemon(env):
    d = tempfile.mkdtemp(prefix="xstop-")
    try:
        # A socket file with nobody listening, and no file at all.
        stale = os.path.join(d, "stale")
        s = socket.socket(socket.AF_UNIX)
        s.bind(stale)
        s.close()
        for sock in (stale, os.path.join(d, "absent")):
            e = tool_env(sock, XSTORE_TIMEOUT="0.5")
            for cmd, what in dead_commands(sock, os.path.join(d, "sim"), 32):
                # Debian's tools keep their wording ("xs_open: ..."); the
                # rest fail at once here, one of each is enough.
                if what in ("xstore read", "xsim create"):
                    expect_no_hang(cmd, e, sock, what)
        # Listening, accepting, never answering.
        mute = os.path.join(d, "mute")
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(mute)
        srv.listen(64)
        held = []
        srv.setblocking(False)
        e = tool_env(mute, XSTORE_TIMEOUT="0.5")
        for cmd, what in dead_commands(mute, os.path.join(d, "sim"), 33):
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=e)
            try:
                deadline = time.monotonic() + HANG
                while p.poll() is None and time.monotonic() < deadline:
                    try:
                        c, _ = srv.accept()
                        held.append(c)  # accepted, never read, never answered
                    except BlockingIOError:
                        time.sleep(0.02)
                if p.poll() is None:
                    raise AssertionError("%s hung on a mute socket" % what)
                _, errout = p.communicate()
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            if p.returncode == 0 or mute not in errout:
                raise AssertionError("%s on a mute socket: exit %d, %r" % (
                    what, p.returncode, errout))
        for c in held:
            c.close()
        srv.close()
    finally:
        subprocess.run(["rm", "-rf", d])


# --------------------------------------------------------------------------
# --help and --version
# --------------------------------------------------------------------------
def t_help_version(env):
    for b, name in ((XSTORE, "xstore"), (XSIM, "xsim"), (XSMUX, "xsmux")):
        r = run([b, "--help"])
        eq(r.returncode, 0, name + " --help")
        if "usage" not in r.stdout.lower():
            raise AssertionError("%s --help: %r" % (name, r.stdout))
        if "--version" not in r.stdout:
            raise AssertionError("%s --help does not list --version" % name)
        r = run([b, "--version"])
        eq(r.returncode, 0, name + " --version")
        m = re.match(r"^%s \(xstore\) \d+\.\d+\.\d+\nplatforms: (.*)\n$" % name, r.stdout)
        if not m or "sim" not in m.group(1).split():
            raise AssertionError("%s --version: %r" % (name, r.stdout))
    r = run([XSTORE, "top", "--help"])
    eq(r.returncode, 0, "xstore top --help")
    for opt in ("--once", "--json", "-d", "-n", "--sort"):
        if opt not in r.stdout:
            raise AssertionError("xstore top --help lacks %s" % opt)
    # Debian's xenstore-read: usage on stderr, exit 1; --version unknown.
    rd = os.path.join(BIN, "xenstore-read")
    r = run([rd, "--help"])
    if r.returncode != 1 or "Usage" not in r.stderr or r.stdout:
        raise AssertionError("xenstore-read --help: %r" % (r,))
    r = run([rd, "--version"])
    if r.returncode != 1 or "Usage" not in r.stderr:
        raise AssertionError("xenstore-read --version: %r" % (r,))


TESTS = [
    ("help_version", t_help_version),
    ("domstats_usage", t_domstats_usage),
    ("domstats_counts", t_domstats_counts),
    ("domstats_pages", t_domstats_pages),
    ("quota_log", t_quota_log),
    ("top_once", t_top_once),
    ("top_pty", t_top_pty),
    ("no_daemon", t_no_daemon),
    ("stopped_daemon", t_stopped_daemon),
]


def main():
    r = Runner("top.")
    try:
        require_binaries()
        for b in (XSTORE, XSMUX):
            if not os.access(b, os.X_OK):
                raise Skip("not built: %s" % b)
    except Skip as e:
        r.skip("all", str(e))
        return r.final()
    env = SimEnv().start()
    try:
        for name, fn in TESTS:
            r.run(name, fn, env)
        r.run("clean_exit", env.check_clean_exit)
    finally:
        env.cleanup()
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
