#!/usr/bin/env python3
"""vbd.py: how fast a simulated guest's disk is through its NBD export
(xsblkfront + xsblkback on the simulator), against nbdkit's `file`
plugin serving the same image to the same client in the same run.

Workloads (libnbd's python bindings, one connection, aio):
  seq-read, seq-write    1 MiB requests over the whole image, 8 in flight
  rand-read, rand-write  4 KiB requests at random 4 KiB offsets, 32 in flight
Each is run --runs times (default 3) per server; the median is reported
as MB/s, IOPS, and CPU milliseconds per MB of the serving processes
(xstored + xsmux + xsblkback + nbdkit/xsblkfront for the guest's disk;
nbdkit for `file`), read from /proc before and after.  Then the ratios
guest/file against the goals: >= 0.5 sequential, >= 0.3 random.

Usage: bench/vbd.py [--build DIR] [--size-mib N] [--rand-ops N] [--runs N]
                    [--no-persistent] [--both]
  --build DIR       binaries (default build/release: make V=release first)
  --both            the guest's disk with and without persistent grants
                    (without: a 16th of the size and of the random ops)
Not part of `make check`.
"""
import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "support"))
MIB = 1 << 20
TICK = os.sysconf("SC_CLK_TCK")


def import_nbd():
    try:
        import nbd
    except ImportError:
        # Debian's python3-libnbd is in the system's dist-packages.
        sys.path.append("/usr/lib/python3/dist-packages")
        import nbd
    return nbd


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def pids_of(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in r.stdout.split()]


def workload(nbd, uri, name, size, rand_ops, seed):
    h = nbd.NBD()
    h.connect_uri(uri)
    if name.startswith("seq"):
        bs, qd = MIB, 8
        offs = list(range(0, size, bs))
    else:
        bs, qd = 4096, 32
        rng = random.Random(seed)
        offs = [rng.randrange(size // bs) * bs for _ in range(rand_ops)]
    is_write = name.endswith("write")
    bufs = [nbd.Buffer(bs) for _ in range(qd)]
    if is_write:
        data = os.urandom(bs)
        bufs = [nbd.Buffer.from_bytearray(bytearray(data)) for _ in range(qd)]
    free = list(range(qd))
    errors = []

    def done(slot):
        def cb(err):
            if err.value if hasattr(err, "value") else err:
                errors.append(err)
            free.append(slot)
            return 1
        return cb

    t0 = time.monotonic()
    i = 0
    while i < len(offs) or len(free) < qd:
        while i < len(offs) and free:
            s = free.pop()
            if is_write:
                h.aio_pwrite(bufs[s], offs[i], completion=done(s))
            else:
                h.aio_pread(bufs[s], offs[i], completion=done(s))
            i += 1
        h.poll(-1)
    if is_write:
        h.flush()
    dt = time.monotonic() - t0
    h.shutdown()
    if errors:
        raise RuntimeError("%s: %d I/O errors" % (name, len(errors)))
    return dt, len(offs), len(offs) * bs


class Guest:
    """Daemon, guest 5 with the image as xvda, xsblkback, xsblkfront."""

    def __init__(self, bindir, img, persistent):
        os.environ["XSTORED"] = os.path.join(bindir, "xstored")
        from simenv import SimEnv
        self.env = SimEnv().start()
        self.env.create(5, mux=True)
        self.env.xsim("device-add", 5, "vbd", "--file", img)
        self.log = open(os.path.join(self.env.dir, "drivers.log"), "w")
        self.back = subprocess.Popen(
            [os.path.join(bindir, "xsblkback"), "--store", "unix:" + self.env.socket,
             "--platform", "sim:" + self.env.sim], stdout=self.log, stderr=self.log)
        sock = os.path.join(self.env.dir, "nbd.sock")
        env = dict(os.environ, XSIM_DIR=self.env.sim)
        self.front = subprocess.Popen(
            [os.path.join(bindir, "xsblkfront"), "--domid", "5", "--nbd-socket", sock,
             "--platform", "sim:" + self.env.sim, "--foreground", "--verbose"]
            + ([] if persistent else ["--no-persistent"]),
            stdout=self.log, stderr=self.log, env=env)
        self.uri = "nbd+unix:///?socket=" + sock
        for _ in range(1500):
            if "connected: " in open(self.log.name).read():
                break
            if self.front.poll() is not None:
                raise RuntimeError("xsblkfront exited: see " + self.log.name)
            time.sleep(0.02)
        self.pids = ([self.env.daemon.proc.pid] if hasattr(self.env.daemon, "proc") else
                     pids_of(self.env.dir + " ")) + [self.back.pid, self.front.pid] + \
            pids_of("xsmux --dir " + self.env.sim)

    def close(self):
        for p in (self.front, self.back):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.log.close()
        self.env.cleanup()


class FilePlugin:
    def __init__(self, img, d):
        sock = os.path.join(d, "file.sock")
        self.p = subprocess.Popen(["nbdkit", "--foreground", "--unix", sock, "file", img],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.uri = "nbd+unix:///?socket=" + sock
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        self.pids = [self.p.pid]

    def close(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(10)


def measure(nbd, server, name, args, run, scale=1):
    c0 = cpu_ticks(server.pids)
    dt, ops, nbytes = workload(nbd, server.uri, name, args.size_mib * MIB // scale,
                               args.rand_ops // scale, run)
    cpu = (cpu_ticks(server.pids) - c0) / TICK
    mb = nbytes / 1e6
    return {"mbs": mb / dt, "iops": ops / dt, "cpu_ms_per_mb": 1000 * cpu / mb}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build", "release"))
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--rand-ops", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-persistent", action="store_true")
    ap.add_argument("--both", action="store_true")
    args = ap.parse_args()
    nbd = import_nbd()
    bindir = os.path.abspath(args.build)
    for b in ("xstored", "xsim", "xsblkback", "xsblkfront", "nbdkit-xsblkfront-plugin.so"):
        if not os.path.exists(os.path.join(bindir, b)):
            sys.exit("vbd.py: %s/%s not built (make V=release)" % (bindir, b))
    if not shutil.which("nbdkit"):
        sys.exit("vbd.py: nbdkit not installed")
    d = subprocess.run(["mktemp", "-d", "/tmp/vbdbench-XXXXXX"], capture_output=True,
                       text=True).stdout.strip()
    img = os.path.join(d, "disk.img")
    with open(img, "wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(MIB))
    variants = [("guest", not args.no_persistent)]
    if args.both:
        variants = [("guest", True), ("guest-nopersist", False)]
    names = ["seq-read", "seq-write", "rand-read", "rand-write"]
    results = {}
    try:
        for label, persistent in variants + [("file", None)]:
            srv = FilePlugin(img, d) if label == "file" else Guest(bindir, img, persistent)
            # Without persistent grants every request maps and ends its
            # grants: ~100x slower, so a 16th of the work (MB/s compare).
            scale = 16 if persistent is False else 1
            try:
                # Untimed first pass: page cache, and the guest's pool of
                # persistent grants (granted on first use of each slot).
                measure(nbd, srv, "seq-read", args, 0, scale)
                for name in names:
                    runs = [measure(nbd, srv, name, args, r, scale)
                            for r in range(args.runs)]
                    results[(label, name)] = {k: statistics.median(r[k] for r in runs)
                                              for k in runs[0]}
            finally:
                srv.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("%-16s %-11s %10s %10s %12s" % ("server", "workload", "MB/s", "IOPS", "CPU ms/MB"))
    for label, _ in variants + [("file", None)]:
        for name in names:
            r = results[(label, name)]
            print("%-16s %-11s %10.1f %10.0f %12.2f" % (label, name, r["mbs"], r["iops"],
                                                       r["cpu_ms_per_mb"]))
    print("\nratio guest/file (goal: >= 0.5 sequential, >= 0.3 random 4 KiB, 32 in flight)")
    for label, _ in variants:
        for name in names:
            ratio = results[(label, name)]["mbs"] / results[("file", name)]["mbs"]
            goal = 0.5 if name.startswith("seq") else 0.3
            print("%-16s %-11s %6.2f  %s" % (label, name, ratio,
                                             "ok" if ratio >= goal else "BELOW GOAL"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
