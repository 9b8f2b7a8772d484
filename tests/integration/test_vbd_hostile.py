#!/usr/bin/env python3
"""test_vbd_hostile.py: xsblkback against a hostile blkif frontend that
writes raw ring entries and indexes (tests/support/blkfront_sim.py), on
the simulator.  Each case names the class it attacks:

  out_of_range      sectors beyond the image, sector_number near 2^64
  bad_grant         refs never granted, granted to another domain, a
                    read into a read-only grant
  too_many_segments nr_segments 0 / 12 / 255, indirect 0 / over the max
  garbage_op        unknown operation codes, an indirect of a non-r/w op
  bad_first_last    first_sect > last_sect, last_sect > 7
  events_only       events with no request behind them
  double_fetch      the slot rewritten between valid and invalid while
                    the backend reads it (XSA-155 class): what was
                    checked is what was used
  flood             a guest that keeps its ring full of valid requests
                    does not starve another guest
  req_prod_jump     req_prod far ahead of the ring: the device is closed
                    with an error node, nothing else happens
  truncated_pages   (sim only) guest page files truncated under our
                    mappings: data, indirect and ring pages

Every refused request gets BLKIF_RSP_ERROR (EOPNOTSUPP for unknown ops);
the image is checked whole after each case (the hostile device's image
ends in 511 guard bytes no sector covers); a second, well-behaved guest
does I/O after every case and at the end; xsblkback exits cleanly.

Env: XSTORED (default build/asan/xstored); xsim and xsblkback next to it.
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import hashlib
import os
import signal
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import blkfront_sim as bf  # noqa: E402
from simenv import Runner, Skip, eq, require_binaries, wait_until  # noqa: E402
from test_vbd_back import WAIT, Bench, xsblkback_bin  # noqa: E402

SECTORS = 1024
GUARD = b"\xee" * 511
ERR, NOTSUPP = bf.RSP_ERROR, bf.RSP_EOPNOTSUPP


class Hostile:
    def __init__(self, b):
        self.b = b
        fill = b"".join(("h%07d" % s).encode() * 64 for s in range(SECTORS)) + GUARD
        self.f, self.img = b.disk(20, fill=fill)
        self.f.connect(persistent=False)
        self.good, self.good_img = b.disk(21)
        self.good.connect()
        self.n_good = 0
        self.digest = self.hash()

    def hash(self):
        with open(self.img, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()

    def untouched(self, what, is_connected=True):
        with open(self.img, "rb") as fh:
            data = fh.read()
        eq(data[-511:], GUARD, what + ": guard bytes")
        eq(hashlib.sha256(data).hexdigest(), self.digest, what + ": image unchanged")
        # Bad requests fail themselves, never the device.
        if is_connected:
            eq(self.f.be_read("state"), "4", what + ": backend still Connected")

    def good_io(self, what):
        """The other guest still gets its I/O done."""
        self.n_good += 1
        data = os.urandom(4096)
        eq(self.good.write(8 * self.n_good, data), 0, what + ": good guest's write")
        eq(self.good.read(8 * self.n_good, 8), (0, data), what + ": good guest's read")

    def expect(self, req, status, what):
        rid = struct.unpack_from("<Q", req, 8)[0]
        got = self.f.simple(req)
        eq((got[0], got[2]), (rid, status), what)


def seg_page(h, rw=True):
    g, r = h.f.page_grant(rw)
    h.f.poke_page(g, 0, b"X" * 4096)
    return g, r


def t_out_of_range(h):
    _, r = seg_page(h)
    ok = [(r, 0, 7)]
    h.expect(bf.req_rw(bf.OP_WRITE, 1, SECTORS - 4, ok), ERR, "write across the end")
    h.expect(bf.req_rw(bf.OP_WRITE, 2, SECTORS, [(r, 0, 0)]), ERR, "write at the end")
    h.expect(bf.req_rw(bf.OP_READ, 3, SECTORS + 1, ok), ERR, "read past the end")
    h.expect(bf.req_rw(bf.OP_WRITE, 4, (1 << 64) - 2, ok), ERR, "sector near 2^64")
    h.expect(bf.req_rw(bf.OP_WRITE, 5, SECTORS - 8, [(r, 0, 7)] * 2), ERR, "two pages, one out")
    h.expect(bf.req_discard(6, SECTORS - 1, 2), ERR, "discard across the end")
    h.expect(bf.req_discard(7, 1 << 63, 1 << 63), ERR, "discard wrapping 2^64")
    h.expect(bf.req_rw(bf.OP_WRITE, 8, SECTORS - 1, [(r, 7, 7)]), 0, "the last sector is fine")
    with open(h.img, "rb") as fh:
        fh.seek((SECTORS - 1) * 512)
        eq(fh.read(), b"X" * 512 + GUARD, "last sector written, guard kept")
    # Restore it for the whole-image checks that follow.
    with open(h.img, "r+b") as fh:
        fh.seek((SECTORS - 1) * 512)
        fh.write(("h%07d" % (SECTORS - 1)).encode() * 64)
    h.untouched("out_of_range")
    h.good_io("out_of_range")


def t_bad_grant(h):
    h.expect(bf.req_rw(bf.OP_WRITE, 11, 0, [(99999, 0, 7)]), ERR, "never granted")
    # A page granted to domain 3, not to the backend's domain 0.
    g = h.f.alloc_page()
    d = os.path.join(h.f.dom, "grant")
    ref = max(int(n) for n in os.listdir(d) if n.isdigit()) + 1
    with open(os.path.join(d, str(ref)), "w") as fh:
        fh.write("%d 3 rw\n" % g)
    h.expect(bf.req_rw(bf.OP_WRITE, 12, 0, [(ref, 0, 7)]), ERR, "granted to another domain")
    _, ro = seg_page(h, rw=False)
    h.expect(bf.req_rw(bf.OP_READ, 13, 0, [(ro, 0, 7)]), ERR, "read into a read-only grant")
    _, good = seg_page(h)
    h.expect(bf.req_rw(bf.OP_WRITE, 14, 0, [(good, 0, 7), (0, 0, 7)]), ERR, "one bad of two")
    h.expect(bf.req_indirect(15, bf.OP_WRITE, 0, 4, [424242]), ERR, "bad indirect page")
    h.untouched("bad_grant")
    h.good_io("bad_grant")


def t_too_many_segments(h):
    _, r = seg_page(h)
    raw = bytearray(bf.req_rw(bf.OP_WRITE, 21, 0, [(r, 0, 7)]))
    for n, what in ((0, "zero segments"), (12, "12 segments"), (255, "255 segments")):
        raw[1] = n
        struct.pack_into("<Q", raw, 8, 21 + n)
        h.expect(bytes(raw), ERR, what)
    ig, iref = h.f.page_grant()
    h.f.poke_page(ig, 0, struct.pack("<IBBH", r, 0, 7, 0) * 512)
    h.expect(bf.req_indirect(22, bf.OP_WRITE, 0, 0, [iref]), ERR, "indirect, 0 segments")
    h.expect(bf.req_indirect(23, bf.OP_WRITE, 0, 257, [iref]), ERR, "indirect over the max")
    h.expect(bf.req_indirect(24, bf.OP_WRITE, 0, 0xffff, [iref] * 8), ERR, "indirect 65535")
    h.untouched("too_many_segments")
    h.good_io("too_many_segments")


def t_garbage_op(h):
    _, r = seg_page(h)
    for op in (4, 7, 8, 100, 255):
        h.expect(bf.req_rw(op, 30 + op, 0, [(r, 0, 7)]), NOTSUPP, "op %d" % op)
    ig, iref = h.f.page_grant()
    h.f.poke_page(ig, 0, struct.pack("<IBBH", r, 0, 7, 0))
    h.expect(bf.req_indirect(31, bf.OP_DISCARD, 0, 1, [iref]), ERR, "indirect discard")
    h.expect(bf.req_indirect(32, bf.OP_INDIRECT, 0, 1, [iref]), ERR, "indirect indirect")
    h.untouched("garbage_op")
    h.good_io("garbage_op")


def t_bad_first_last(h):
    _, r = seg_page(h)
    for i, (fs, ls) in enumerate(((3, 2), (0, 8), (8, 8), (200, 255), (7, 0))):
        h.expect(bf.req_rw(bf.OP_WRITE, 40 + i, 0, [(r, fs, ls)]), ERR,
                 "first %d last %d" % (fs, ls))
    ig, iref = h.f.page_grant()
    h.f.poke_page(ig, 0, struct.pack("<IBBH", r, 0, 7, 0) + struct.pack("<IBBH", r, 5, 9, 0))
    h.expect(bf.req_indirect(49, bf.OP_WRITE, 0, 2, [iref]), ERR, "bad indirect segment")
    h.untouched("bad_first_last")
    h.good_io("bad_first_last")


def t_events_only(h):
    for _ in range(300):
        h.f.notify()
    eq(h.f.no_response(0.3), True, "no response to no request")
    h.f.set_idx("rsp_prod", 12345)  # ours to write, not theirs: ignored
    for _ in range(50):
        h.f.notify()
    h.f.set_idx("rsp_prod", h.f.rsp_cons)
    h.untouched("events_only")
    h.good_io("events_only")
    _, r = seg_page(h)
    st, _ = h.f.rw(bf.OP_READ, 0, nsect=8)
    eq(st, 0, "the hostile guest's own device still works")


def t_double_fetch(h):
    """Flip one slot between a valid read of sector 0 and a write past
    the end with 255 segments, as fast as Python can, while resubmitting
    it: every answer is OK or ERROR, and nothing was written."""
    _, r = seg_page(h)
    n = 300
    stop = threading.Event()
    good = bf.req_rw(bf.OP_READ, 50, 0, [(r, 0, 7)])
    bad = bytearray(bf.req_rw(bf.OP_WRITE, 50, SECTORS - 1, [(r, 0, 7)] * 11))
    bad[1] = 255
    bad = bytes(bad)

    def flipper():
        while not stop.is_set():
            off = h.f.slot_off(h.f.req_prod - 1)
            h.f._ring_rw(off, data=bad)
            h.f._ring_rw(off, data=good)

    statuses = set()
    t = threading.Thread(target=flipper)
    h.f.put(good)
    t.start()
    try:
        statuses.add(h.f.responses(1)[0][2])
        for _ in range(n - 1):
            h.f.put(good)
            statuses.add(h.f.responses(1)[0][2])
    finally:
        stop.set()
        t.join()
    if not statuses <= {0, ERR, NOTSUPP}:
        raise AssertionError("statuses %r" % statuses)
    h.untouched("double_fetch")
    h.good_io("double_fetch")


def t_flood(h):
    """The hostile guest keeps its ring full of valid reads and its
    event channel busy; the good guest's 20 writes all complete."""
    stop = threading.Event()
    _, r = seg_page(h)
    req = bf.req_rw(bf.OP_READ, 60, 0, [(r, 0, 7)] * 11)
    err = []

    def flooder():
        try:
            while not stop.is_set():
                room = h.f.nents - ((h.f.req_prod - h.f.rsp_cons) & 0xffffffff)
                for _ in range(room):
                    h.f.put(req, publish=False)
                h.f.publish()
                # Consume whatever is there, never wait long.
                prod = h.f.idx("rsp_prod")
                h.f.rsp_cons = prod
                h.f.notify()
        except Exception as e:  # noqa: BLE001
            err.append(e)

    t = threading.Thread(target=flooder)
    t.start()
    try:
        for _ in range(20):
            h.good_io("flood")
    finally:
        stop.set()
        t.join()
    if err:
        raise AssertionError("flooder: %r" % err[0])
    # Let the backend answer the last of the flood, then resync.
    wait_until(lambda: h.f.idx("rsp_prod") == h.f.req_prod, WAIT, "flood drained")
    h.f.rsp_cons = h.f.req_prod
    h.untouched("flood")


def t_req_prod_jump(h):
    h.f.set_idx("req_prod", h.f.req_prod + 1000)
    h.f.notify()
    h.f.wait_be_state(5)  # dev_fatal: Closing, with an error node
    rel = h.f.be.split("/", 4)[4]
    e = h.b.env.dom0.read("/local/domain/0/error/%s/error" % rel).decode()
    if "req_prod" not in e:
        raise AssertionError("error node: %r" % e)
    h.f.state(6)
    h.f.wait_be_state(6)
    h.untouched("req_prod_jump", is_connected=False)
    h.good_io("req_prod_jump")
    wait_until(lambda: "impossible" in h.b.back.text(), WAIT, "the log line")


def t_truncated_pages(h):
    """The sim lets a guest truncate a page file we have mapped (Xen
    would not): data and indirect pages that vanish fail their request,
    a ring page that vanishes closes its device; xsblkback survives."""
    with open(xsblkback_bin(), "rb") as fh:
        if b"__tsan_init" in fh.read():
            raise Skip("ThreadSanitizer takes over SIGBUS raised inside its "
                       "memcpy; the guard is tested in the other builds")
    f, img = h.b.disk(22)
    f.connect(persistent=True)
    g, r = f.page_grant()
    eq(f.write(0, b"D" * 4096), 0, "a first write maps the pages persistently")
    (bg, br), = f.buffers(1)
    os.truncate(os.path.join(f.dom, "page", str(bg)), 0)
    st = f.simple(bf.req_rw(bf.OP_READ, 71, 0, [(br, 0, 7)]))
    eq(st[2], ERR, "read into a vanished persistent page")
    ig, iref = f.page_grant()
    f.poke_page(ig, 0, struct.pack("<IBBH", r, 0, 7, 0))
    eq(f.simple(bf.req_indirect(72, bf.OP_READ, 0, 1, [iref])), (72, bf.OP_INDIRECT, 0),
       "indirect read, persistent indirect page")
    os.truncate(os.path.join(f.dom, "page", str(ig)), 0)
    eq(f.simple(bf.req_indirect(73, bf.OP_READ, 0, 1, [iref]))[2], ERR, "vanished indirect page")
    eq(f.be_read("state"), "4", "still connected")
    os.truncate(os.path.join(f.dom, "page", str(f.ring_gfns[0])), 0)
    f.notify()
    f.wait_be_state(5)
    rel = f.be.split("/", 4)[4]
    e = h.b.env.dom0.read("/local/domain/0/error/%s/error" % rel).decode()
    if "faulted" not in e:
        raise AssertionError("error node: %r" % e)
    eq(h.b.back.p.poll(), None, "xsblkback alive")
    h.good_io("truncated_pages")
    f.state(6)
    f.wait_be_state(6)


def t_log_lines(h):
    text = h.b.back.text()
    for cls in ("sectors beyond the image", "grant reference not mappable",
                "bad segment count", "unknown or unadvertised operation",
                "bad first_sect/last_sect"):
        if cls not in text:
            raise AssertionError("no log line for %r" % cls)
    lines = [l for l in text.splitlines() if "refused" in l]
    # Rate limited: one line per class per few seconds, not per request.
    if len(lines) > 40:
        raise AssertionError("%d refusal lines" % len(lines))


def main():
    r = Runner("vbd_hostile.")
    try:
        require_binaries()
        xsblkback_bin()
    except Skip as e:
        r.skip("all", str(e))
        return r.final()
    b = Bench()
    hs = []
    try:
        if not r.run("setup", lambda: hs.append(Hostile(b))):
            r.run("clean_exit", b.finish)
            return r.final()
        h = hs[0]
        for name, fn in [("out_of_range", t_out_of_range), ("bad_grant", t_bad_grant),
                         ("too_many_segments", t_too_many_segments),
                         ("garbage_op", t_garbage_op), ("bad_first_last", t_bad_first_last),
                         ("events_only", t_events_only), ("double_fetch", t_double_fetch),
                         ("flood", t_flood), ("req_prod_jump", t_req_prod_jump),
                         ("truncated_pages", t_truncated_pages),
                         ("log_lines", t_log_lines)]:
            r.run(name, fn, h)
        r.run("clean_exit", b.finish)
    finally:
        b.cleanup()
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
