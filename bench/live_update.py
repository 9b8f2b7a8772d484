#!/usr/bin/env python3
"""bench/live_update.py - the pause clients see when xstored replaces
itself by a new binary (issue 13, docs/live-update.md).

    bench/live_update.py                       1 000 and 1 000 000 nodes
    bench/live_update.py --nodes 1000 --updates 5
    bench/live_update.py --json FILE           the figures, for bench/run.py

For each size: a daemon (with its journal, state directory on /dev/shm)
is loaded with N leaves by xsbench's loader (workload 7), then a client
reads back to back while `xstore control live-update` replaces the
daemon by the same binary, --updates times.  For each update the longest
READ the client saw while it ran is its pause; the report gives the
p50 and p99 of those pauses, the update's whole time as the CLI saw it,
and the size of the stream (from the daemon's log).  Standard library
only; daemons and directories are removed at the end, on failure too.
"""
import argparse
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HDR = struct.Struct("<IIII")
XS_READ, XS_ERROR = 2, 16


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Reader(threading.Thread):
    """Back-to-back READs of one key; every latency with its start."""

    def __init__(self, path, key):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(60)
        self.s.connect(path)
        self.key = key.encode() + b"\0"
        self.stop = threading.Event()
        self.lat = []
        self.err = None

    def rpc(self, rid):
        self.s.sendall(HDR.pack(XS_READ, rid, 0, len(self.key)) + self.key)
        buf = b""
        while len(buf) < 16 or len(buf) < 16 + HDR.unpack_from(buf)[3]:
            d = self.s.recv(65536)
            if not d:
                raise OSError("connection closed")
            buf += d
        typ, got, _, _ = HDR.unpack_from(buf)
        if typ == XS_ERROR or got != rid:
            raise OSError("READ: %r" % buf[16:])

    def run(self):
        pc = time.perf_counter
        rid = 0
        try:
            while not self.stop.is_set():
                rid += 1
                t = pc()
                self.rpc(rid)
                self.lat.append((t, pc() - t))
        except OSError as e:
            self.err = str(e)
        finally:
            self.s.close()

    def max_in(self, t0, t1):
        v = [d for t, d in self.lat if t0 <= t < t1]
        return max(v) if v else None


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def one_size(a, top, nodes):
    rundir = os.path.join(top, "run%d" % nodes)
    state = tempfile.mkdtemp(prefix="xslu-state-", dir=a.state_base)
    os.makedirs(rundir)
    sock = os.path.join(rundir, "socket")
    logf = os.path.join(rundir, "log")
    proc = subprocess.Popen([a.xstored, "--rundir", rundir, "--foreground", "--log-file", logf,
                             "--platform", "none", "--state-dir", state],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(2000):
            if os.path.exists(sock):
                break
            time.sleep(0.005)
        out = os.path.join(top, "load%d.json" % nodes)
        t0 = time.perf_counter()
        subprocess.run([a.xsbench, "--no-echo", "--server", "xstored=" + sock,
                        "--workloads", "7", "--case", "load", "--sizes", str(nodes),
                        "--runs", "1", "--load-budget", "600", "--keep", "--json", out],
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        load_s = time.perf_counter() - t0
        r = Reader(sock, "/bench/s/0/0/0")
        r.start()
        time.sleep(0.2)
        pauses, totals = [], []
        env = dict(os.environ, XENSTORED_PATH=sock)
        for _ in range(a.updates):
            t0 = time.perf_counter()
            p = subprocess.run([a.xstore, "control", "live-update", a.xstored], env=env,
                               capture_output=True, text=True, timeout=600)
            t1 = time.perf_counter()
            if p.returncode != 0:
                raise RuntimeError("live-update: %s" % (p.stdout + p.stderr).strip())
            time.sleep(0.1)
            m = r.max_in(t0, t1 + 0.05)
            if r.err:
                raise RuntimeError("the reader: %s" % r.err)
            pauses.append(m or 0.0)
            totals.append(t1 - t0)
        r.stop.set()
        r.join(10)
        if r.err:
            raise RuntimeError("the reader: %s" % r.err)
        if proc.poll() is not None:
            raise RuntimeError("xstored exited; see %s" % logf)
        with open(logf, errors="replace") as f:
            text = f.read()
        sizes = [int(x) for x in re.findall(r"stream of (\d+) bytes", text)]
        taken = [float(x) for x in re.findall(r"state taken over in ([0-9.]+) ms", text)]
        parts = re.findall(r"loaded in ([0-9.]+) ms, the journal taken over in ([0-9.]+) ms",
                           text)
        written = [float(x) for x in re.findall(r"written in ([0-9.]+) ms", text)]
        return {"nodes": nodes, "load_s": load_s, "updates": a.updates,
                "pause_p50_ms": pct(pauses, 50) * 1e3, "pause_p99_ms": pct(pauses, 99) * 1e3,
                "update_p50_ms": pct(totals, 50) * 1e3,
                "stream_bytes": sizes[-1] if sizes else None,
                "load_stream_p50_ms": pct(taken, 50) if taken else None,
                "write_stream_p50_ms": pct(written, 50) if written else None,
                "load_tree_p50_ms": pct([float(t) for t, _ in parts], 50) if parts else None,
                "adopt_journal_p50_ms": pct([float(j) for _, j in parts], 50) if parts else None}
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(state, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bindir", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--nodes", default="1000,1000000")
    ap.add_argument("--updates", type=int, default=10)
    ap.add_argument("--state-base", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    ap.add_argument("--json")
    a = ap.parse_args()
    a.xstored = os.path.join(os.path.abspath(a.bindir), "xstored")
    a.xstore = os.path.join(os.path.abspath(a.bindir), "xstore")
    a.xsbench = os.path.join(os.path.abspath(a.bindir), "xsbench")
    for p in (a.xstored, a.xstore, a.xsbench):
        if not os.access(p, os.X_OK):
            log("live_update: not built: %s" % p)
            return 2
    top = tempfile.mkdtemp(prefix="xslu-bench-")
    rows = []
    try:
        for n in (int(x) for x in a.nodes.split(",")):
            log("live_update: %d nodes ..." % n)
            rows.append(one_size(a, top, n))
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print("live update (xstored replaced by itself, a client reading back to back):")
    print("  %10s  %8s  %9s  %9s  %10s  %12s  %10s" % (
        "nodes", "updates", "pause p50", "pause p99", "update p50", "stream", "load p50"))
    for r in rows:
        print("  %10d  %8d  %7.1f ms  %7.1f ms  %8.1f ms  %9.1f MB  %7.1f ms" % (
            r["nodes"], r["updates"], r["pause_p50_ms"], r["pause_p99_ms"],
            r["update_p50_ms"], (r["stream_bytes"] or 0) / 1e6, r["load_stream_p50_ms"] or 0))
    for r in rows:
        if r["load_tree_p50_ms"] is not None:
            print("  %10d  of which: stream written %.1f ms, tree loaded %.1f ms, journal taken "
                  "over %.1f ms (p50)" % (r["nodes"], r["write_stream_p50_ms"] or 0,
                                          r["load_tree_p50_ms"], r["adopt_journal_p50_ms"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"live_update": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
