#!/usr/bin/env python3
"""bench/run.py - run xsbench against xstored, Xen 4.17's C xenstored (cx),
oxenstored (ox) and the built-in echo server; write latest.json and
latest.csv and print the table with ratios and where each target stands.

    bench/run.py            full run (make bench; under ten minutes)
    bench/run.py --quick    quick run (make bench-quick; under one minute)
    bench/run.py --update   write the results into bench/results/ (tracked)

The results go to $XDG_CACHE_HOME/xstore/bench (~/.cache/xstore/bench)
unless --update or --out DIR says otherwise: a run does not touch the
tracked tree unless asked to.  The daemons' run directories and the
simulator's are private (mkdtemp) and removed at the end, on failure and
on SIGTERM too.

Two phases, each with freshly started daemons: phase 1 runs workloads
1-6, 8 and 9 (the guests' rings); phase 2 runs workload 7 (store size), so that its memory figures
start from a fresh process.  A last short phase measures xstored's
adaptive polling: workloads 1 and 2 against xstored --poll-us 0, in the
same slices, with the CPU each spends per request (--no-poll-ab: skip).
Issue 12's phases: the persistence A/B (xstored, whose journal is on
tmpfs, against --no-persist and --sync in the same slices, on the cases
that write: 1 write and 3 mix; --no-persist-ab: skip) and bench/restart.py
(restart after kill -9 and compaction at 1 000 000 nodes; --no-restart).  cx and ox run through ../shared/peers
(or $XSTORE_SHARED/peers); a peer that cannot start is skipped with the
reason printed.  Standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TWIN = "xstored-empty"  # workload 7's reference: a second xstored kept empty
NOPOLL = "xstored-nopoll"  # the A/B of polling: xstored --poll-us 0
MEM = "xstored-mem"  # issue 12: the in-memory daemon (--no-persist)
SYNC = "xstored-sync"  # issue 12: the journal with fdatasync (--sync)
# The persistence A/B: only the cases whose requests write.
PERSIST_WL, PERSIST_CASES = "1,3", "write,mix"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACKED = os.path.join(ROOT, "bench", "results")
OUT = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                   "xstore", "bench")
RUNDIR_NAMES = {"xstored": "xs", "cx": "cx", "ox": "ox", TWIN: "xs0", NOPOLL: "xs1",
                MEM: "xs2", SYNC: "xs3"}

# Workload 8's domains: Xen's daemons want a domain to exist before it owns
# a node; the peers' stub hypervisor lists existing domains in DIR/domains.
STORM_DOMIDS = range(1000, 5000)
# Workload 9's guests (bench/xsbench/work_ring.c: RING_DOMID0, 200 guests).
RING_DOMIDS = range(32000, 32200)


class Dirs:
    """The run's private directories: one run directory per daemon under a
    mkdtemp, and xstored's simulator directory (workload 8's guests) on
    tmpfs, so that the simulated hypervisor's file work stays cheap, as
    hypercalls are.  Private, so that two runs, or a run and what a killed
    one left, never share a socket; remove() at the end."""

    def __init__(self):
        self.top = tempfile.mkdtemp(prefix="xsbench-")
        self.rundir = {n: os.path.join(self.top, d) for n, d in RUNDIR_NAMES.items()}
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else self.top
        self.sim = tempfile.mkdtemp(prefix="xsbench-sim-", dir=shm)
        # The journals (xstored persists by default): on tmpfs, as the
        # default /var/run/xenstored is on a host; --sync's stays in its
        # run directory, on $TMPDIR's disk, which is what --sync is for.
        self.state = tempfile.mkdtemp(prefix="xsbench-state-", dir=shm)

    def remove(self):
        shutil.rmtree(self.sim, ignore_errors=True)
        shutil.rmtree(self.state, ignore_errors=True)
        shutil.rmtree(self.top, ignore_errors=True)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def peers_dir():
    shared = os.environ.get("XSTORE_SHARED")
    for d in ([os.path.join(shared, "peers")] if shared else []) + [
        os.path.join(ROOT, "..", "shared", "peers")
    ]:
        if os.path.exists(os.path.join(d, "peer-xenstored")):
            return os.path.abspath(d)
    return None


def read_pid(path, tries=50):
    for _ in range(tries):
        try:
            with open(path) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.1)
    return None


class Servers:
    """Start and stop the daemons under test; remember why one is missing."""

    def __init__(self, names, xstored_bin, dirs):
        self.names = names
        self.dirs = dirs
        self.xstored_bin = xstored_bin
        self.peers = peers_dir()
        self.running = {}  # name -> (socket, pidfile)
        self.skipped = {}  # name -> reason
        self.procs = {}    # name -> Popen, for our own daemons

    def start(self, twin=False):
        for name in self.names + ([TWIN] if twin and "xstored" in self.names else []):
            if name in self.skipped:
                continue
            d = self.dirs.rundir[name]
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            try:
                self.running[name] = (
                    self._start_peer(name, d) if name in ("cx", "ox")
                    else self._start_xstored(name, d))
            except RuntimeError as e:
                self.skipped[name] = str(e)
                log("bench: %s skipped: %s" % (name, e))

    def _start_xstored(self, name, d):
        pidfile = os.path.join(d, "pid")
        args = [self.xstored_bin, "--rundir", d, "--foreground", "-F", pidfile,
                "--log-file", os.path.join(d, "log")]
        if name == "xstored":
            shutil.rmtree(self.dirs.sim, ignore_errors=True)
            os.makedirs(self.dirs.sim)
            args += ["--platform", "sim:" + self.dirs.sim]
        elif name == NOPOLL:
            args += ["--platform", "none", "--poll-us", "0"]
        elif name == MEM:
            args += ["--platform", "none", "--no-persist"]
        elif name == SYNC:
            args += ["--platform", "none", "--sync"]
        if name != MEM and name != SYNC:
            # A fresh journal per start: the last phase's must not load.
            state = os.path.join(self.dirs.state, RUNDIR_NAMES[name])
            shutil.rmtree(state, ignore_errors=True)
            os.makedirs(state)
            args += ["--state-dir", state]
        proc = self.procs[name] = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sock = os.path.join(d, "socket")
        for _ in range(100):
            if os.path.exists(sock) and read_pid(pidfile, 1):
                return sock, pidfile
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("xstored did not start (see %s/log)" % d)

    def _start_peer(self, name, d):
        if not self.peers:
            raise RuntimeError("no peers directory (set XSTORE_SHARED)")
        with open(os.path.join(d, "domains"), "w") as f:
            f.write("\n".join(str(i) for i in list(STORM_DOMIDS) + list(RING_DOMIDS)) + "\n")
        r = subprocess.run(
            [os.path.join(self.peers, "peer-xenstored"), name, "start", d],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
        )
        if r.returncode != 0:
            why = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
            raise RuntimeError("peer-xenstored failed: " + why)
        return os.path.join(d, "socket"), os.path.join(d, "pid")

    def stop(self):
        for name in list(self.running):
            if name in self.procs:
                proc = self.procs.pop(name)
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                if name == "xstored":
                    shutil.rmtree(self.dirs.sim, ignore_errors=True)
            else:
                subprocess.run(
                    [os.path.join(self.peers, "peer-xenstored"), name, "stop",
                     self.dirs.rundir[name]],
                    stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                )
            del self.running[name]

    def args(self):
        a = []
        for name in self.names + [TWIN]:
            if name in self.running:
                sock, pidfile = self.running[name]
                a += ["--server", "%s=%s:%s" % (name, sock, pidfile)]
                if name == "xstored":
                    a += ["--sim", "xstored=" + self.dirs.sim]
                if name == TWIN:
                    a += ["--empty-twin", TWIN]
        return a


def run_xsbench(xsbench, servers, workloads, extra, out_json):
    cmd = [xsbench] + servers.args() + ["--workloads", workloads, "--json", out_json] + extra
    log("bench: " + " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        rc = proc.wait()
    finally:
        if proc.poll() is None:  # we are being stopped: stop it first
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # xsbench's echo server socket (bench/xsbench/main.c), which it
        # removes itself only when it finishes.
        try:
            os.unlink("/tmp/xsbench-echo-%d" % proc.pid)
        except OSError:
            pass
    if rc != 0:
        sys.exit("bench: xsbench failed (exit %d)" % rc)
    with open(out_json) as f:
        return json.load(f)


# ---- the table ----

WORKLOAD_TITLES = {
    "1": "sequential, one client",
    "2": "pipelined reads, one client",
    "3": "concurrent clients, 3 reads : 1 write",
    "4": "transactions (start, 5 writes, commit)",
    "5": "watch fan-out: writes of a watched path, N unrelated watches",
    "6": "read latency of one client, N idle clients",
    "7": "store size: N leaf nodes",
    "8": "domain-creation storm: toolstack requests, 2 devices, INTRODUCE",
    "9": "guests on their rings (N guests, polling); echo = ring echo",
}


def fmt(v, spec="%.0f"):
    return "-" if v is None else spec % v


def index(results):
    by = {}
    for r in results:
        by.setdefault((r["workload"], r["case"], r["param"]), {})[r["server"]] = r
    return by


def ratio(rows, a, b):
    ra, rb = rows.get(a), rows.get(b)
    if ra and ra["ratio"].get(b) is not None:
        return ra["ratio"][b]
    if ra and rb and ra["ops_per_s"] and rb["ops_per_s"]:
        return ra["ops_per_s"] / rb["ops_per_s"]
    return None


ECHOS = ("echo", "echo-poll")


def echo_cols(results):
    """The echo servers that ran (echo-poll: since issue 15)."""
    return [e for e in ECHOS if any(r["server"] == e for r in results)] or ["echo"]


def table(results, names):
    out = []
    cols = [n for n in names if n not in ECHOS] + echo_cols(results)
    hdr = "%-22s" % "case" + "".join("%11s" % n for n in cols)
    hdr += "%9s%9s%9s" % ("p50 us", "p99 us", "cpu us") + "".join("%9s" % ("/" + n)[:9] for n in cols[1:])
    out.append(hdr)
    out.append("%-22s" % "" + "".join("%11s" % "op/s" for n in cols) + "%27s" % (cols[0] + " latency, cpu/op")
               + "".join("%9s" % "ratio" for n in cols[1:]))
    by = index(results)
    last_w = None
    for key in sorted(by, key=lambda k: (k[0], order_of(results, k))):
        w, case, param = key
        rows = by[key]
        if w != last_w:
            out.append("-- %s. %s" % (w, WORKLOAD_TITLES.get(w, "")))
            last_w = w
        label = case + ("" if param < 0 else " %d" % param)
        line = "%-22s" % label[:22]
        for n in cols:
            r = rows.get(n)
            line += "%11s" % (fmt(r["ops_per_s"]) if r else "-")
        s = rows.get(cols[0])
        line += "%9s%9s%9s" % (fmt(s and s["p50_us"], "%.1f"), fmt(s and s["p99_us"], "%.1f"),
                               fmt(s and s.get("cpu_us_per_op"), "%.2f"))
        for n in cols[1:]:
            line += "%9s" % fmt(ratio(rows, cols[0], n), "%.2f")
        out.append(line)
        for n in cols:
            r = rows.get(n)
            if not r:
                continue
            bits = []
            if r.get("event_p50_us") is not None:
                bits.append("event p50 %.1f p99 %.1f us" % (r["event_p50_us"], r["event_p99_us"]))
            x = r.get("extra") or {}
            if "eagain" in x and x.get("attempts"):
                bits.append("EAGAIN %d of %d attempts (%.1f%%)"
                            % (x["eagain"], x["attempts"], 100.0 * x["eagain"] / x["attempts"]))
            if x.get("events"):
                bits.append("%.0f watch events" % x["events"])
            if x.get("guest_ops"):
                bits.append("guests %.0f ring ops beside" % x["guest_ops"])
            if "load_s" in x:
                bits.append("loaded in %.2f s" % x["load_s"])
            if x.get("bytes_per_node") is not None:
                bits.append("%.0f B/node (key+value %.1f, overhead %.0f)"
                            % (x["bytes_per_node"], x["kv_per_node"], x["overhead_per_node"] or 0))
            if n == cols[0] and r["ratio"].get(TWIN) is not None:
                bits.append("%.2f of an empty xstored in the same slices" % r["ratio"][TWIN])
            if "kb_per_domain" in x:
                bits.append("%.1f kB/domain (RSS %.0f MB)" % (x["kb_per_domain"],
                                                              x.get("rss_kb", 0) / 1024))
            if "first_us" in x:
                bits.append("last of %d watchers; first after %.0f us; %d domains live"
                            % (x["watchers"], x["first_us"], x.get("domains", 0)))
            if "parts" in x:
                bits.append("%d names in %d DIRECTORY_PARTs" % (x["children"], x["parts"]))
            if "reply_bytes" in x:
                bits.append("reply %d bytes" % x["reply_bytes"])
            if case == "storm" and r.get("runs"):
                bits.append("runs " + ", ".join("%.0f" % v for v in r["runs"] if v)
                            + " /s (domains accumulate)")
            if r.get("note"):
                bits.append(r["note"])
            if bits:
                out.append("%22s%s: %s" % ("", n, "; ".join(bits)))
    return "\n".join(out)


def poll_table(rows):
    """xstored's polling against --poll-us 0: rate, latency, CPU per op."""
    by = index(rows)
    out = ["Polling A/B: xstored (adaptive polling, --poll-us 50) vs --poll-us 0,"
           " same slices",
           "%-22s%11s%11s%8s%9s%9s%12s%12s" % ("case", "on op/s", "off op/s", "on/off",
                                              "p50 on", "p50 off", "cpu us on",
                                              "cpu us off")]
    for key in sorted(by, key=lambda k: (k[0], order_of(rows, k))):
        on, off = by[key].get("xstored"), by[key].get(NOPOLL)
        if not (on and off):
            continue
        label = key[1] + ("" if key[2] < 0 else " %d" % key[2])
        out.append("%-22s%11s%11s%8s%9s%9s%12s%12s" % (
            label[:22], fmt(on["ops_per_s"]), fmt(off["ops_per_s"]),
            fmt(on["ratio"].get(NOPOLL), "%.2f"), fmt(on["p50_us"], "%.1f"),
            fmt(off["p50_us"], "%.1f"), fmt(on.get("cpu_us_per_op"), "%.2f"),
            fmt(off.get("cpu_us_per_op"), "%.2f")))
    return "\n".join(out)


def persist_table(rows):
    """The journal's price: xstored (persistent) against --no-persist and
    --sync, in the same slices."""
    by = index(rows)
    out = ["Persistence A/B: xstored (journal on tmpfs) vs %s (--no-persist) and %s"
           " (--sync, journal on disk), same slices" % (MEM, SYNC),
           "%-22s%11s%11s%11s%9s%9s%9s%10s%10s" % (
               "case", "persist", "mem", "sync", "/mem", "sync/mem", "p50 us",
               "cpu us", "cpu mem")]
    for key in sorted(by, key=lambda k: (k[0], order_of(rows, k))):
        p, m, y = (by[key].get(n) for n in ("xstored", MEM, SYNC))
        if not (p and m):
            continue
        label = key[1] + ("" if key[2] < 0 else " %d" % key[2])
        out.append("%-22s%11s%11s%11s%9s%9s%9s%10s%10s" % (
            label[:22], fmt(p["ops_per_s"]), fmt(m["ops_per_s"]),
            fmt(y and y["ops_per_s"]), fmt(p["ratio"].get(MEM), "%.2f"),
            fmt(y and y["ratio"].get(MEM), "%.3f"), fmt(p["p50_us"], "%.1f"),
            fmt(p.get("cpu_us_per_op"), "%.2f"), fmt(m.get("cpu_us_per_op"), "%.2f")))
    return "\n".join(out)


def persist_targets(rows):
    """Issue 12: >= 0.9 of in-memory op/s on single-client writes and on
    the 16-client mix; --sync's ratio shown, no target."""
    by = index(rows)
    out = []
    for w, case in (("1", "write"), ("3", "mix")):
        for key in sorted(k for k in by if k[0] == w and k[1] == case):
            r, y = by[key].get("xstored"), by[key].get(SYNC)
            v = r and r["ratio"].get(MEM)
            label = case + ("" if key[2] < 0 else " %d" % key[2])
            out.append("%s persistent %s >= 0.9 of in-memory: %s (--sync: %s)" % (
                "n/a " if v is None else ("MET " if v >= 0.9 else "MISS"), label,
                fmt(v, "%.2f"), fmt(y and y["ratio"].get(MEM), "%.3f")))
    return "\n".join(out)


def order_of(results, key):
    for i, r in enumerate(results):
        if (r["workload"], r["case"], r["param"]) == key:
            return i
    return 0


# ---- targets ----

def get(by, w, case, param, server):
    return by.get((w, case, param), {}).get(server)


def frac(by, w, case, param, subj="xstored", ref="echo"):
    r = get(by, w, case, param, subj)
    return r and r["ratio"].get(ref)


def targets(results, subj="xstored"):
    by = index(results)
    out = []

    def verdict(ok):
        return "n/a " if ok is None else ("MET " if ok else "MISS")

    single = [("1", "read", -1), ("1", "write", -1), ("1", "dir", -1)]
    single += [k for k in by if k[0] == "7" and k[1] in ("size-read", "size-write")]
    single += [k for k in by if k[0] == "6"]
    vals = [(k, frac(by, *k, subj=subj)) for k in sorted(single)]
    vals = [(k, v) for k, v in vals if v is not None]
    worst = min(vals, key=lambda kv: kv[1]) if vals else None
    out.append("%s every single-client request/reply >= 0.85 of echo: worst %s" % (
        verdict(worst and worst[1] >= 0.85),
        "%.2f (%s%s)" % (worst[1], worst[0][1], "" if worst[0][2] < 0 else " %d" % worst[0][2])
        if worst else "-"))

    sizes = sorted(k[2] for k in by if k[0] == "7" and k[1] == "size-read")
    for case in ("size-read", "size-write"):
        # Against the empty twin measured in the same slices; else the
        # fractions of echo at size 0 and at the largest size.
        r = get(by, "7", case, sizes[-1], subj) if sizes else None
        twin = r and r["ratio"].get(TWIN)
        f0 = frac(by, "7", case, 0, subj)
        fmax = frac(by, "7", case, sizes[-1], subj) if sizes else None
        if twin is not None:
            ok, how = twin >= 0.9, "%.2f of an empty xstored" % twin
        else:
            ok = None if not (f0 and fmax) else fmax >= 0.9 * f0
            how = "frac to echo %s -> %s" % (fmt(f0, "%.2f"), fmt(fmax, "%.2f"))
        out.append("%s %s flat (within 10%%) from empty to %s nodes: %s" % (
            verdict(ok), case, sizes[-1] if sizes else "?", how))

    pr = frac(by, "2", "pread", next((k[2] for k in by if k[0] == "2"), 32), subj)
    out.append("%s pipelined reads >= 0.5 of pipelined echo: %s" % (
        verdict(None if pr is None else pr >= 0.5), fmt(pr, "%.2f")))

    # Issue 15, an honest ceiling: against an echo server that polls as
    # xstored does, so that a ratio above 1 cannot come from the poll.
    single1 = [("1", "read", -1), ("1", "write", -1), ("1", "dir", -1)]
    vp = [(k, frac(by, *k, subj=subj, ref="echo-poll")) for k in single1]
    vp = [(k, v) for k, v in vp if v is not None]
    wp = min(vp, key=lambda kv: kv[1]) if vp else None
    out.append("%s every single-client request/reply >= 0.85 of the polling echo: worst %s" % (
        verdict(wp and wp[1] >= 0.85), "%.2f (%s)" % (wp[1], wp[0][1]) if wp else "-"))
    out.append("%s pipelined reads >= 0.9 of pipelined echo: %s" % (
        verdict(None if pr is None else pr >= 0.9), fmt(pr, "%.2f")))
    # CPU against the echo that waits as xstored does (a poll's spin is
    # CPU in both); against the blocking one for information.
    for ref, judged in (("echo-poll", True), ("echo", False)):
        cpu = []
        for k in single1:
            a, e = get(by, *k, subj), get(by, *k, ref)
            if a and e and a.get("cpu_us_per_op") and e.get("cpu_us_per_op"):
                cpu.append((a["cpu_us_per_op"] / e["cpu_us_per_op"], k[1],
                            a["cpu_us_per_op"], ref, e["cpu_us_per_op"]))
        worst_cpu = max(cpu) if cpu else None
        out.append("%s CPU per single-client request <= 1.5x %s's: worst %s" % (
            verdict(worst_cpu and worst_cpu[0] <= 1.5) if judged else "info", ref,
            "%.2fx (%s: %.2f vs %s %.2f us)" % worst_cpu if worst_cpu else "-"))

    # Issue 15: committed transactions on overlapping keys, against
    # oxenstored (which validates by replaying) in the same slices.
    for key in sorted(k for k in by if k[0] == "4" and k[1] == "tx-overlap"):
        r = get(by, *key, subj)
        ox = r and r["ratio"].get("ox")
        x = (r or {}).get("extra") or {}
        tries = x.get("attempts")
        out.append("%s tx-overlap %d committed txn/s >= 1.5x oxenstored: %s%s" % (
            verdict(None if ox is None else ox >= 1.5), key[2], fmt(ox, "%.2f"),
            " (EAGAIN %.0f of %.0f attempts)" % (x.get("eagain") or 0, tries) if tries else ""))

    ws = sorted(k[2] for k in by if k[0] == "5")
    if ws:
        f1, fn = frac(by, "5", "watch", ws[0], subj), frac(by, "5", "watch", ws[-1], subj)
        ok = None if not (f1 and fn) else fn >= 0.9 * f1
        out.append("%s write throughput flat from %d to %d watches: frac to echo %s -> %s" % (
            verdict(ok), ws[0], ws[-1], fmt(f1, "%.2f"), fmt(fn, "%.2f")))

    idle = sorted(k[2] for k in by if k[0] == "6")
    if idle:
        a, b = get(by, "6", "idle", idle[0], subj), get(by, "6", "idle", idle[-1], subj)
        fa, fb = frac(by, "6", "idle", idle[0], subj), frac(by, "6", "idle", idle[-1], subj)
        if a and b:
            # Rates as fractions of echo in the same slices: robust to the
            # machine's drift between the two cases.
            ok = None if not (fa and fb) else fb >= 0.9 * fa
            out.append("%s read latency flat from %d to %d idle connections: frac to echo"
                       " %s -> %s (p50 %.1f -> %.1f us)" % (
                           verdict(ok), idle[0], idle[-1], fmt(fa, "%.2f"), fmt(fb, "%.2f"),
                           a["p50_us"], b["p50_us"]))

    out += storm_targets(by, subj, verdict)

    loads = sorted((k[2], get(by, *k, subj)) for k in by if k[0] == "7" and k[1] == "load")
    loads = [(n, r) for n, r in loads if r]
    if loads:
        n, r = loads[-1]
        x = r["extra"]
        ov = x.get("overhead_per_node")
        out.append("%s %d nodes held in < 200 bytes/node beyond key+value: %s" % (
            verdict(None if ov is None else ov < 200), n,
            "-" if ov is None else "%.0f B/node overhead (%.0f total, %.1f key+value)" % (
                ov, x["bytes_per_node"], x["kv_per_node"])))
        ok = r["note"] == "" and x["load_s"] < 2
        out.append("%s %d nodes loaded in < 2 s: %.2f s%s" % (
            verdict(ok), n, x["load_s"], (" (" + r["note"] + ")") if r["note"] else ""))
        # Issue 15: a store's memory is its nodes', not its peak's.
        full = n >= 1000000
        out.append("%s %d nodes held in <= 64 bytes/node beyond key+value: %s" % (
            (verdict(None if ov is None else ov <= 64) if full else "n/a "), n,
            "-" if ov is None else "%.0f B/node" % ov))
        u = get(by, "7", "unload", n, subj)
        ob = u and u["extra"].get("over_base")
        out.append("%s RSS after removing %d nodes within 10%% of the empty daemon's: %s" % (
            verdict(None if ob is None else ob <= 0.10), n,
            "-" if ob is None else "%.0f kB against %.0f kB (%+.0f%%)" % (
                u["extra"]["rss_kb"], u["extra"]["rss_base_kb"], ob * 100)))
        # VmRSS also counts shared library and program pages that the
        # load ran for the first time (libc's: +256 kB in one run at 1 M,
        # smaps): the anonymous part is what the daemon's own allocations
        # and stacks kept.
        ak, ab = u and u["extra"].get("anon_kb"), u and u["extra"].get("anon_base_kb")
        if ak is not None and ab:
            out.append("info anonymous memory (heap, stacks) after removing them: "
                       "%.0f kB against %.0f kB (%+.0f%%)" % (ak, ab, (ak - ab) * 100.0 / ab))
    out += ring_targets(by, verdict, subj)
    return "\n".join(out)


def ring_targets(by, verdict, subj="xstored"):
    """Issue 15 item 1, the guests' path (workload 9): against the ring
    echo (same transport, woken as cx is) and cx, in the same slices."""
    if not any(k[0] == "9" for k in by):
        return []
    out = []
    e1, p1 = frac(by, "9", "ring-read", 1, subj), frac(by, "9", "ring-read", 1, subj, "echo-poll")
    out.append("%s one guest's ring request/reply >= 0.85 of the ring echo: %s"
               " (of the polling ring echo: %s; ring-mix 1: %s)" % (
                   verdict(None if e1 is None else e1 >= 0.85), fmt(e1, "%.2f"),
                   fmt(p1, "%.2f"), fmt(frac(by, "9", "ring-mix", 1, subj), "%.2f")))
    # The same with guests that sleep until notified (xstored and the
    # echoes only: the peers deliver no events to guests).
    ev, evp = frac(by, "9", "ring-ev", 1, subj), frac(by, "9", "ring-ev", 1, subj, "echo-poll")
    if ev is not None or evp is not None:
        out.append("info one guest sleeping until notified (ring-ev 1): %s of the ring echo,"
                   " %s of the polling ring echo" % (fmt(ev, "%.2f"), fmt(evp, "%.2f")))
    cx = frac(by, "9", "ring-mix", 200, subj, "cx")
    out.append("%s 200 guests (read, write, watch, transact) >= 2x cx: %s"
               " (ring-read 200: %s; ring-mix 16: %s)" % (
                   verdict(None if cx is None else cx >= 2), fmt(cx, "%.2f"),
                   fmt(frac(by, "9", "ring-read", 200, subj, "cx"), "%.2f"),
                   fmt(frac(by, "9", "ring-mix", 16, subj, "cx"), "%.2f")))
    a, b = get(by, "9", "dom0-read", 0, subj), get(by, "9", "dom0-read", 200, subj)
    ok = None if not (a and b and a["p99_us"] and b["p99_us"]) else b["p99_us"] <= 1.2 * a["p99_us"]
    out.append("%s dom0 socket read p99 within 20%% while 200 guests run flat out:"
               " %s -> %s us (p50 %s -> %s us)" % (
                   verdict(ok), fmt(a and a["p99_us"], "%.0f"), fmt(b and b["p99_us"], "%.0f"),
                   fmt(a and a["p50_us"], "%.1f"), fmt(b and b["p50_us"], "%.1f")))
    return out


def storm_targets(by, subj, verdict):
    """Issue 15, item 3: workload 8's scale phase (storm-scale) up to
    10 000 live domains, then all destroyed.  Rates are per step (e.g.
    the 1 000 domains made between 8 000 and 9 000), single runs on a
    machine that drifts: CPU per domain (the daemon's own) is beside."""
    out = []
    steps = {}
    for case in ("create", "destroy"):
        rows = sorted((k[2], get(by, *k, subj)) for k in by if k[0] == "8" and k[1] == case)
        steps[case] = [(n, r) for n, r in rows if r and r["ops_per_s"]]
    cr, de = steps["create"], steps["destroy"]
    if not cr:
        return out
    top = cr[-1][0]
    note = cr[-1][1].get("note") or ""
    out.append("%s storm reached 10000 live domains: %d%s" % (
        verdict(top >= 10000) if top >= 1000 else "n/a ", top,
        (" (" + note + ")") if note else " (--quick)" if top < 1000 else ""))
    for case, rows in (("creation", cr), ("destruction", de)):
        if not rows:
            continue
        # From ~100 live domains to the most: creation's first step
        # ends at 100, destruction's last starts at 100.
        small, big = rows[0], rows[-1]
        f = big[1]["ops_per_s"] / small[1]["ops_per_s"]
        slow = min(rows, key=lambda nr: nr[1]["ops_per_s"])
        cpu0, cpu1 = small[1].get("cpu_us_per_op"), big[1].get("cpu_us_per_op")
        out.append("%s storm %s rate flat (within 10%%) between %d and %d live domains: %.0f -> %.0f /s"
                   " (%.2f; slowest step at %d: %.0f /s; daemon CPU %s -> %s us/domain)" % (
                       verdict(f >= 0.9), case, small[0], big[0], small[1]["ops_per_s"],
                       big[1]["ops_per_s"], f, slow[0], slow[1]["ops_per_s"],
                       fmt(cpu0), fmt(cpu1)))
    x = cr[-1][1]["extra"]
    if "kb_per_domain" in x:
        out.append("info storm memory per domain at %d domains: %.1f kB (RSS %.0f MB)" % (
            top, x["kb_per_domain"], x["rss_kb"] / 1024))
    for k in sorted(k for k in by if k[0] == "8" and k[1] == "release-fanout"):
        r = get(by, *k, subj)
        if r:
            out.append("info @releaseDomain to %d watchers, RELEASE to the last one's event:"
                       " p50 %.0f us, max %.0f us (first watcher %.0f us; %d domains live)" % (
                           k[2], r["p50_us"], r["p99_us"], r["extra"].get("first_us", -1),
                           r["extra"].get("domains", 0)))
    for k in sorted(k for k in by if k[0] == "8" and k[1] in ("dir-domains", "dir-part")):
        r = get(by, *k, subj)
        if not r:
            continue
        if k[1] == "dir-domains":
            out.append("info DIRECTORY /local/domain at %d domains: %s" % (
                k[2], r["note"] or "p50 %.0f us, p99 %.0f us" % (r["p50_us"], r["p99_us"])))
        else:
            x = r["extra"]
            out.append("info DIRECTORY_PART /local/domain, the whole list at %d domains:"
                       " p50 %.0f us, p99 %.0f us (%s names, %s parts)%s" % (
                           k[2], r["p50_us"], r["p99_us"], fmt(x.get("children")),
                           fmt(x.get("parts")), (" " + r["note"]) if r["note"] else ""))
    return out


def write_csv(path, results, names):
    cols = [n for n in names if n not in ECHOS] + echo_cols(results)
    with open(path, "w") as f:
        f.write("workload,case,param,unit,server,ops_per_s,p50_us,p99_us,event_p50_us,event_p99_us,"
                + ",".join("ratio_" + n for n in cols) + ",extra,note,cpu_us_per_op\n")
        for r in results:
            def v(x):
                return "" if x is None else "%.6g" % x
            f.write(",".join([r["workload"], r["case"], str(r["param"]), r["unit"], r["server"],
                              v(r["ops_per_s"]), v(r["p50_us"]), v(r["p99_us"]),
                              v(r["event_p50_us"]), v(r["event_p99_us"])]
                             + [v(r["ratio"].get(n)) for n in cols]
                             + [";".join("%s=%.6g" % kv for kv in r["extra"].items() if kv[1] is not None),
                                '"%s"' % r["note"].replace('"', "'"),
                                v(r.get("cpu_us_per_op"))]) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs, small sizes (< 1 min)")
    ap.add_argument("--servers", default="xstored,cx,ox", help="daemons to run (default: all)")
    ap.add_argument("--workloads", default="1,2,3,4,5,6,7,8,9")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--bindir", default=None,
                    help="xstored and xsbench from there, not built (default: build/release)")
    ap.add_argument("--no-poll-ab", action="store_true",
                    help="skip the polling A/B (xstored against --poll-us 0)")
    ap.add_argument("--no-persist-ab", action="store_true",
                    help="skip the persistence A/B (xstored against --no-persist and --sync)")
    ap.add_argument("--no-restart", action="store_true",
                    help="skip bench/restart.py (restart time at 1 000 000 nodes)")
    ap.add_argument("--out", default=None,
                    help="where latest.json and latest.csv go (default: %s)" % OUT)
    ap.add_argument("--update", action="store_true",
                    help="write them into bench/results/, the tracked copy")
    ap.add_argument("xsbench_args", nargs="*", help="passed to xsbench (after --)")
    a = ap.parse_args()
    if a.update and a.out:
        ap.error("--update and --out are exclusive")
    a.out = TRACKED if a.update else a.out or OUT
    # SIGTERM (a time limit, a kill) ends the run through the finally
    # clauses below: daemons stopped, private directories removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))
    dirs = Dirs()
    try:
        run(a, dirs)
    finally:
        dirs.remove()


def run(a, dirs):
    t_start = time.time()
    names = [n for n in a.servers.split(",") if n]
    bindir = os.path.abspath(a.bindir) if a.bindir else os.path.join(ROOT, "build", "release")
    if not a.no_build and not a.bindir:
        subprocess.run(["make", "-s", "-j2", "-C", ROOT, "build/release/xstored",
                        "build/release/xsbench"], check=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # 1 000 idle connections, inherited by every daemon
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if "8" in a.workloads.split(",") and hard < 32768:
        # Workload 8: 10 000 domains (the simulator keeps one fd per
        # domain open in xstored, plus up to 1 024 guests' FIFOs) and
        # 1 000 @releaseDomain watchers.
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (32768, 32768))
        except (ValueError, OSError):
            log("bench: cannot raise the fd limit past %d: workload 8's"
                " xstored holds at most %d domains" % (hard, hard - 64 - 1024))
    xsbench = os.path.join(bindir, "xsbench")
    extra = (["--quick"] if a.quick else []) + a.xsbench_args
    os.makedirs(a.out, exist_ok=True)
    wl = set(a.workloads.split(","))
    phases = [",".join(sorted(wl - {"7"})), "7" if "7" in wl else ""]
    results, meta, poll_ab, persist_ab, restart = [], None, [], [], None
    srv = Servers(names, os.path.join(bindir, "xstored"), dirs)
    try:
        for i, w in enumerate(p for p in phases if p):
            srv.start(twin=(w == "7"))
            if not srv.running:
                sys.exit("bench: no daemon could start")
            part = run_xsbench(xsbench, srv, w, extra, os.path.join(dirs.top, "part%d.json" % i))
            srv.stop()
            results += part["results"]
            meta = meta or part
        if "xstored" in names and not a.no_poll_ab and wl & {"1", "2"}:
            ab = Servers(["xstored", NOPOLL], os.path.join(bindir, "xstored"), dirs)
            try:
                ab.start()
                if len(ab.running) == 2:
                    poll_ab = run_xsbench(xsbench, ab, ",".join(sorted(wl & {"1", "2"})),
                                          extra + ["--no-echo"],
                                          os.path.join(dirs.top, "part2.json"))["results"]
            finally:
                ab.stop()
        if "xstored" in names and not a.no_persist_ab and wl & {"1", "3"}:
            # Three daemons, the two write-heavy cases, in the same slices.
            ab = Servers(["xstored", MEM, SYNC], os.path.join(bindir, "xstored"), dirs)
            try:
                ab.start()
                if {"xstored", MEM} <= set(ab.running):
                    persist_ab = run_xsbench(
                        xsbench, ab, ",".join(sorted(wl & {"1", "3"})),
                        extra + ["--no-echo", "--case", PERSIST_CASES],
                        os.path.join(dirs.top, "part3.json"))["results"]
            finally:
                ab.stop()
        if "xstored" in names and not a.no_restart:
            rj = os.path.join(dirs.top, "restart.json")
            cmd = [sys.executable, os.path.join(ROOT, "bench", "restart.py"),
                   "--bindir", bindir, "--json", rj]
            cmd += ["--nodes", "100000", "--runs", "1"] if a.quick else []
            log("bench: " + " ".join(cmd))
            if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode == 0:
                with open(rj) as f:
                    restart = json.load(f)
            else:
                log("bench: restart.py failed (its messages are above)")
            # issue 13: the pause of a live update at 1 000 and 1 000 000
            # nodes (its table goes to stdout as it comes).
            cmd = [sys.executable, os.path.join(ROOT, "bench", "live_update.py"),
                   "--bindir", bindir, "--json", os.path.join(a.out, "live_update.json")]
            cmd += ["--nodes", "1000,100000", "--updates", "3"] if a.quick else []
            log("bench: " + " ".join(cmd))
            if subprocess.run(cmd).returncode != 0:
                log("bench: live_update.py failed (its messages are above)")
    finally:
        srv.stop()
    doc = {
        "date": meta["date"], "host": platform.node(), "machine": machine(),
        "mode": meta["mode"], "runs": meta["runs"], "secs_per_run": meta["secs_per_run"],
        "slice": meta["slice"], "servers": [n for n in names if n not in srv.skipped] + echo_cols(results),
        "skipped": srv.skipped,
        "notes": {"8": "xstored's domains are built in the simulator, on %s (as xsim create "
                       "does; not timed); Xen's daemons run on the peers' stub hypervisor"
                       % ("tmpfs" if dirs.sim.startswith("/dev/shm/") else "disk")},
        "wall_s": round(time.time() - t_start, 1),
        "results": results,
        "poll_ab": poll_ab,
        "persist_ab": persist_ab,
        "restart": restart,
    }
    with open(os.path.join(a.out, "latest.json"), "w") as f:
        json.dump(doc, f, indent=1)
    cols = [n for n in doc["servers"] if n not in ECHOS]
    write_csv(os.path.join(a.out, "latest.csv"), results, cols)
    print("xsbench %s, %s, %s; %d runs x %gs per case per server, medians"
          % (doc["mode"], doc["date"], doc["machine"], doc["runs"], doc["secs_per_run"]))
    for n, why in srv.skipped.items():
        print("skipped %s: %s" % (n, why))
    print(table(results, cols))
    if "8" in wl:
        print("8 storm: " + doc["notes"]["8"])
    if poll_ab:
        print("\n" + poll_table(poll_ab))
    if persist_ab:
        print("\n" + persist_table(persist_ab))
    if restart:
        print("\n" + restart_text(restart))
    if "xstored" in cols:
        print("\nTargets (xstored):")
        print(targets(results))
        if persist_ab:
            print(persist_targets(persist_ab))
        if restart:
            print(restart["target"])
    print("\nwritten: %s/latest.json, latest.csv (%.0f s)%s" % (
        a.out, doc["wall_s"], "" if a.update else "; --update writes bench/results/"))


def restart_text(doc):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import restart as rs  # bench/restart.py
    return rs.report(doc)[0]


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d x %s, %s" % (os.cpu_count() or 0, model, platform.release())


if __name__ == "__main__":
    main()
