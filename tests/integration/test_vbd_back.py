#!/usr/bin/env python3
"""test_vbd_back.py: xsblkback (drivers/vbd/back/) end to end against a
scripted blkif frontend (tests/support/blkfront_sim.py) on the simulator.

A daemon on a sim (simenv.py), a guest made by `xsim create`, its disk by
`xsim device-add D vbd --file IMG`; xsblkback runs as dom0 over the
daemon's socket.  The frontend is Python acting through the sim's files
(pages, grants, event channel, the ring of xen/io/blkif.h).  Each case
checks the bytes in the image file itself.

Cases: the handshake and the keys a blkfront reads; READ/WRITE (one and
many segments, many in flight on a multi-page ring, with and without
persistent grants); FLUSH and BARRIER; DISCARD (punches a hole); INDIRECT;
read-only mode refuses writes; device-remove closes cleanly; xsblkback
killed with SIGKILL and restarted: the device reconnects and acknowledged
writes are there; SIGTERM exits 0 without sanitizer reports.

Env: XSTORED (default build/asan/xstored); xsim and xsblkback next to it.
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import blkfront_sim as bf  # noqa: E402
from simenv import Runner, SimEnv, Skip, eq, require_binaries, wait_until  # noqa: E402

WAIT = 20.0
SAN_RE = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|WARNING: ThreadSanitizer")
IMG_SECTORS = 2048  # 1 MiB


def xsblkback_bin():
    p = os.path.join(os.path.dirname(require_binaries()[0]), "xsblkback")
    if not os.access(p, os.X_OK):
        raise Skip("not built: %s (needs /usr/include/xen/io/blkif.h)" % p)
    return p


class Back:
    """xsblkback over the daemon's socket; stderr kept in a file."""

    def __init__(self, env):
        self.env = env
        self.log = os.path.join(env.dir, "xsblkback.%d.log" % time.monotonic_ns())
        self.f = open(self.log, "w")
        self.p = subprocess.Popen(
            [xsblkback_bin(), "--store", "unix:" + env.socket, "--platform", "sim:" + env.sim,
             "-v"], stdin=subprocess.DEVNULL, stdout=self.f, stderr=self.f)

    def text(self):
        with open(self.log) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.f.close()
        return rc

    def check_clean(self):
        rc = self.stop()
        t = self.text()
        if rc != 0 or SAN_RE.search(t):
            raise AssertionError("xsblkback exit %s; log:\n%s" % (rc, t[-3000:]))


class Bench:
    """One env + one xsblkback for the whole suite."""

    def __init__(self):
        self.env = SimEnv().start()
        self.back = Back(self.env)
        self.old_backs = []
        self.fronts = []

    def disk(self, domid, *kv, fill=None, sectors=IMG_SECTORS):
        """A guest with one disk: (front, image path).  The image holds
        `fill` (default: a pattern of its sector numbers)."""
        if not os.path.isdir(os.path.join(self.env.sim, "dom%d" % domid)):
            self.env.create(domid)
        img = os.path.join(self.env.dir, "disk%d-%d.img" % (domid, len(self.fronts)))
        with open(img, "wb") as f:
            if fill is None:
                for s in range(sectors):
                    f.write(("s%07d" % s).encode() * 64)
            else:
                f.write(fill)
        fe = self.env.xsim("device-add", domid, "vbd", "--file", img, *kv).stdout.strip()
        devid = int(fe.rsplit("/", 1)[1])
        be = "/local/domain/0/backend/vbd/%d/%d" % (domid, devid)
        front = bf.SimBlkFront(self.env.sim, domid, fe, be, self.env.conn(), WAIT)
        front.devid = devid
        self.fronts.append(front)
        front.wait_be_state(2)
        return front, img

    def finish(self):
        """SIGTERM: every connected device goes Closing; the frontends
        follow (Closed) and xsblkback exits 0."""
        self.back.p.send_signal(signal.SIGTERM)
        for f in self.fronts:
            if f.be_read("state") in ("4", "5"):
                f.wait_be_state(5)
                f.state(6)
        for f in self.fronts:
            f.close()
        self.back.check_clean()
        # The instances killed on purpose: no sanitizer report either.
        for old in self.old_backs:
            m = SAN_RE.search(old.text())
            if m:
                raise AssertionError("killed xsblkback's log: %s" % old.text()[m.start():][:2000])

    def cleanup(self):
        for f in self.fronts:
            f.close()
        if self.back.p.poll() is None:
            self.back.p.kill()
        self.env.cleanup()


def image(img, sector, n):
    with open(img, "rb") as f:
        f.seek(sector * 512)
        return f.read(n * 512)


def pattern(sector, n):
    return b"".join(("s%07d" % s).encode() * 64 for s in range(sector, sector + n))


# --------------------------------------------------------------------------
def t_handshake_keys(b):
    f, img = b.disk(5)
    want = {"sectors": str(IMG_SECTORS), "sector-size": "512", "physical-sector-size": "512",
            "info": "0", "feature-flush-cache": "1", "feature-barrier": "1",
            "feature-discard": "1", "discard-granularity": "4096", "discard-alignment": "0",
            "discard-secure": "0", "feature-persistent": "1",
            "feature-max-indirect-segments": "256", "max-ring-page-order": "4",
            "hotplug-status": "connected", "mode": "w"}
    for k, v in want.items():
        eq(f.be_read(k), v, k)
    f.connect()
    b.d5 = (f, img)


def t_read_write(b):
    f, img = b.d5
    eq(f.read(16, 8), (0, pattern(16, 8)), "read of the image's own bytes")
    data = os.urandom(3 * 4096)
    eq(f.write(100, data), 0, "write status")
    eq(image(img, 100, 24), data, "bytes in the image")
    eq(f.read(100, 24), (0, data), "read back")
    eq(image(img, 99, 1), pattern(99, 1), "sector before untouched")
    eq(image(img, 124, 1), pattern(124, 1), "sector after untouched")
    # Partial pages: sectors 2..5 of a page to sector 7.
    (g, r), = f.buffers(1)
    f.poke_page(g, 0, os.urandom(4096))
    page = f.peek_page(g, 0, 4096)
    st = f.simple(bf.req_rw(bf.OP_WRITE, 77, 7, [(r, 2, 5)]))
    eq(st, (77, bf.OP_WRITE, 0), "partial write")
    eq(image(img, 7, 4), page[1024:3072], "partial bytes")


def t_in_flight_multipage(b):
    """Order-2 ring (128 slots), per-request grants, 100 writes put on
    the ring before one kick, answered all; then read back."""
    f, img = b.disk(6)
    f.connect(order=2, persistent=False)
    bufs = []
    for i in range(100):
        g, r = f.page_grant(rw=False)  # a write's page: read-only grant
        f.poke_page(g, 0, bytes([i]) * 4096)
        bufs.append(r)
    for i, r in enumerate(bufs):
        f.put(bf.req_rw(bf.OP_WRITE, 1000 + i, 8 * i, [(r, 0, 7)]), publish=False)
    f.publish()
    rs = f.responses(100)
    eq(sorted(x[0] for x in rs), list(range(1000, 1100)), "ids answered")
    eq([x[2] for x in rs], [0] * 100, "statuses")
    for i in (0, 37, 99):
        eq(image(img, 8 * i, 8), bytes([i]) * 4096, "page %d in the image" % i)
    b.d6 = (f, img)


def t_flush_barrier(b):
    f, img = b.d5
    eq(f.simple(bf.req_rw(bf.OP_FLUSH, 5, 0, [])), (5, bf.OP_FLUSH, 0), "flush")
    (g, r), = f.buffers(1)
    f.poke_page(g, 0, b"B" * 4096)
    eq(f.simple(bf.req_rw(bf.OP_BARRIER, 6, 200, [(r, 0, 7)])), (6, bf.OP_BARRIER, 0),
       "barrier with data")
    eq(image(img, 200, 8), b"B" * 4096, "barrier's data")
    # A barrier between writes: all answered, in a consistent image.
    (g2, r2), = f.buffers(2)[1:]
    f.poke_page(g2, 0, b"C" * 4096)
    f.put(bf.req_rw(bf.OP_WRITE, 7, 300, [(r2, 0, 7)]), publish=False)
    f.put(bf.req_rw(bf.OP_BARRIER, 8, 0, []), publish=False)
    f.put(bf.req_rw(bf.OP_WRITE, 9, 308, [(r2, 0, 7)]))
    eq(sorted(f.responses(3)), [(7, 1, 0), (8, 2, 0), (9, 1, 0)], "write, barrier, write")
    eq(image(img, 300, 16), b"C" * 8192, "both writes")


def t_discard(b):
    f, img = b.d5
    eq(f.simple(bf.req_discard(11, 512, 64)), (11, bf.OP_DISCARD, 0), "discard")
    eq(image(img, 512, 64), b"\0" * (64 * 512), "discarded range reads zero")
    eq(image(img, 511, 1), pattern(511, 1), "before the range")
    eq(image(img, 576, 1), pattern(576, 1), "after the range")
    eq(os.path.getsize(img), IMG_SECTORS * 512, "size kept")


def t_indirect(b):
    """20 segments through one indirect page (persistent grants)."""
    f, img = b.d5
    bufs = f.buffers(20)
    for i, (g, _) in enumerate(bufs):
        f.poke_page(g, 0, bytes([0x40 + i]) * 4096)
    ig, iref = f.page_grant()
    segs = b"".join(bf.struct.pack("<IBBH", r, 0, 7, 0) for _, r in bufs)
    f.poke_page(ig, 0, segs)
    eq(f.simple(bf.req_indirect(21, bf.OP_WRITE, 800, 20, [iref])), (21, bf.OP_INDIRECT, 0),
       "indirect write")
    eq(image(img, 800, 160), b"".join(bytes([0x40 + i]) * 4096 for i in range(20)),
       "indirect bytes")
    for g, _ in bufs:
        f.poke_page(g, 0, b"\0" * 4096)
    eq(f.simple(bf.req_indirect(22, bf.OP_READ, 800, 20, [iref])), (22, bf.OP_INDIRECT, 0),
       "indirect read")
    eq(f.peek_page(bufs[19][0], 0, 4096), bytes([0x40 + 19]) * 4096, "read into the last page")


def t_readonly(b):
    f, img = b.disk(7, "mode=r")
    eq(f.be_read("info"), "4", "info: VDISK_READONLY")
    eq(f.be_read("feature-discard"), "0", "no discard on a read-only disk")
    f.connect()
    before = image(img, 0, IMG_SECTORS)
    eq(f.write(0, b"W" * 4096), bf.RSP_ERROR, "write refused")
    eq(f.simple(bf.req_discard(3, 0, 8))[2], bf.RSP_EOPNOTSUPP, "discard not offered")
    eq(f.read(0, 8), (0, pattern(0, 8)), "reads work")
    eq(image(img, 0, IMG_SECTORS), before, "image unchanged")
    wait_until(lambda: "write on a read-only device" in b.back.text(), WAIT, "the log line")


def t_frontend_reconnect(b):
    """The frontend closes (guest shutdown, driver unloaded) and comes
    back: the backend lets go of everything, goes Closed, then InitWait
    again when the frontend is Initialising (the reconnect rule), and
    serves the new ring."""
    f, img = b.disk(10)
    f.connect()
    data = os.urandom(4096)
    eq(f.write(40, data), 0, "first connection")
    f.state(5)
    f.wait_be_state(6)
    f.state(6)
    f.free_port()
    f.state(1)
    f.wait_be_state(2)
    f.connect(order=1)
    eq(f.read(40, 8), (0, data), "second connection reads the first's write")


def t_device_remove(b):
    f, img = b.d6
    p = subprocess.Popen([b.env.xsim_bin, "--dir", b.env.sim, "--socket", b.env.socket,
                          "device-remove", "6", "vbd", str(f.devid), "--timeout", "20"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    f.wait_be_state(5)  # the toolstack asked the backend to close
    f.state(5)
    f.state(6)
    out, err = p.communicate(timeout=WAIT)
    eq(p.returncode, 0, "device-remove exit (%s)" % err.strip())
    wait_until(lambda: f.be_read("state") is None, WAIT, "backend node gone")
    eq(b.back.p.poll(), None, "xsblkback still running")


def t_kill_restart(b):
    """SIGKILL mid-life: the restarted xsblkback takes the device over,
    the frontend sets up again, acknowledged writes are in the image."""
    f, img = b.d5
    data = os.urandom(8192)
    eq(f.write(1000, data), 0, "acknowledged write")
    b.back.stop(signal.SIGKILL)
    b.old_backs.append(b.back)
    b.back = Back(b.env)
    f.wait_be_state(2)  # taken over: InitWait again
    f.connect(persistent=True)
    eq(f.read(1000, 16), (0, data), "the acknowledged write, read back")
    eq(f.write(1016, data), 0, "writes go on")
    eq(image(img, 1016, 16), data, "in the image")


def t_kill_mid_transfer(b):
    """Killed with writes in flight while its frontend is still
    Initialised: the restarted xsblkback does not take the stale offer;
    the frontend frees its port (and gets the same number back), sets
    up a new ring, resubmits what was not answered; every write is in
    the image."""
    f, img = b.disk(8)
    f.connect(wait=False)  # stays Initialised, as if just set up
    f.wait_be_state(4)
    pages = []
    for i in range(24):
        g, r = f.page_grant()
        f.poke_page(g, 0, bytes([0x80 + i]) * 4096)
        pages.append(r)
    for i, r in enumerate(pages):
        f.put(bf.req_rw(bf.OP_WRITE, 500 + i, 8 * i, [(r, 0, 7)]), publish=False)
    f.publish()
    b.back.stop(signal.SIGKILL)
    b.old_backs.append(b.back)
    answered = {x[0] for x in f.responses(f.idx("rsp_prod") - f.rsp_cons, timeout=1)} \
        if f.idx("rsp_prod") != f.rsp_cons else set()
    b.back = Back(b.env)
    f.wait_be_state(2)
    time.sleep(0.2)
    eq(f.be_read("state"), "2", "the stale Initialised was not taken")
    old_port = f.port
    f.free_port()
    f.connect(persistent=False)
    eq(f.port, old_port, "the port number came back (the ambiguous case)")
    left = [i for i in range(24) if 500 + i not in answered]
    for i in left:
        f.put(bf.req_rw(bf.OP_WRITE, 500 + i, 8 * i, [(pages[i], 0, 7)]), publish=False)
    f.publish()
    eq(sorted(x[2] for x in f.responses(len(left))), [0] * len(left), "resubmitted")
    for i in range(24):
        eq(image(img, 8 * i, 8), bytes([0x80 + i]) * 4096, "write %d" % i)


def t_bad_params(b):
    """An image that cannot be opened: the device is refused (Closed,
    hotplug-status and the error node say why); xsblkback goes on."""
    b.env.create(9)
    fe = b.env.xsim("device-add", 9, "vbd", "--file", "/nonexistent/disk.img").stdout.strip()
    be = "/local/domain/0/backend/vbd/9/%s" % fe.rsplit("/", 1)[1]
    f = bf.SimBlkFront(b.env.sim, 9, fe, be, b.env.conn(), WAIT)
    b.fronts.append(f)
    f.wait_be_state(6)
    st = f.be_read("hotplug-status") or ""
    if not st.startswith("error: opening /nonexistent/disk.img: "):
        raise AssertionError("hotplug-status %r" % st)
    if not f._error():
        raise AssertionError("no error node")
    wait_until(lambda: "opening /nonexistent/disk.img" in b.back.text(), WAIT, "the log line")
    eq(b.back.p.poll(), None, "xsblkback still running")


def main():
    r = Runner("vbd_back.")
    try:
        require_binaries()
        xsblkback_bin()
    except Skip as e:
        r.skip("all", str(e))
        return r.final()
    b = Bench()
    try:
        for name, fn in [("handshake_keys", t_handshake_keys), ("read_write", t_read_write),
                         ("in_flight_multipage", t_in_flight_multipage),
                         ("flush_barrier", t_flush_barrier), ("discard", t_discard),
                         ("indirect", t_indirect), ("readonly", t_readonly),
                         ("frontend_reconnect", t_frontend_reconnect),
                         ("device_remove", t_device_remove), ("kill_restart", t_kill_restart),
                         ("kill_mid_transfer", t_kill_mid_transfer), ("bad_params", t_bad_params)]:
            r.run(name, fn, b)
        r.run("clean_exit", b.finish)
    finally:
        b.cleanup()
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
