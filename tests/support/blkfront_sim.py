"""blkfront_sim.py: a scripted blkif frontend, a guest of the simulator
(docs/sim.md) acting through its files: pages, grants, an event channel,
the shared ring of xen/io/blkif.h (native x86_64 layout) and the store
keys of Linux's blkfront.  For the backend's tests (test_vbd_back.py,
test_vbd_hostile.py): well-behaved requests, or raw ring entries and
indexes, as the test wants.

  f = SimBlkFront(sim_dir, domid, fe_node, be_node, conn)
  f.connect(order=0, persistent=True)     pages, grant, port, keys, Initialised
  f.write(sector, data) / f.read(sector, nsect)   whole requests, checked
  f.submit(raw_bytes) ... f.responses()   raw access for the hostile tests

Store writes go through a dom0 connection `conn` (xsproto.Conn): the
nodes are the guest's, and dom0 may write them; the backend cannot tell.
"""
import os
import select
import struct
import time

PAGE = 4096
SECT = 512
REQ_SIZE, RSP_SIZE, RING_OFF = 112, 16, 64
OP_READ, OP_WRITE, OP_BARRIER, OP_FLUSH, OP_DISCARD, OP_INDIRECT = 0, 1, 2, 3, 5, 6
RSP_OKAY, RSP_ERROR, RSP_EOPNOTSUPP = 0, -1, -2
SEGS_PER_INDIRECT = PAGE // 8


def ring_entries(order):
    n = (PAGE * (1 << order) - RING_OFF) // REQ_SIZE
    p = 1
    while p * 2 <= n:
        p *= 2
    return p


def req_rw(op, rid, sector, segs, handle=0):
    """A READ/WRITE/FLUSH/BARRIER request: segs = [(gref, first, last)]."""
    b = struct.pack("<BBHIQQ", op, len(segs), handle, 0, rid, sector)
    for g, f, l in segs[:11]:
        b += struct.pack("<IBBH", g, f, l, 0)
    return b.ljust(REQ_SIZE, b"\0")


def req_discard(rid, sector, nsect, flag=0):
    return struct.pack("<BBHIQQQ", OP_DISCARD, flag, 0, 0, rid, sector, nsect).ljust(REQ_SIZE, b"\0")


def req_indirect(rid, op, sector, nseg, grefs):
    b = struct.pack("<BBHIQQHH", OP_INDIRECT, op, nseg, 0, rid, sector, 0, 0)
    b += b"".join(struct.pack("<I", g) for g in grefs[:8])
    return b.ljust(REQ_SIZE, b"\0")


def _atomic_write(path, text, exclusive=False):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    if exclusive:
        try:
            os.link(tmp, path)
        finally:
            os.unlink(tmp)
    else:
        os.rename(tmp, path)


class SimBlkFront:
    def __init__(self, sim, domid, fe, be, conn, timeout=20.0):
        self.sim, self.domid, self.fe, self.be, self.c = sim, domid, fe, be, conn
        self.dom = os.path.join(sim, "dom%d" % domid)
        self.timeout = timeout
        self.pages = {}  # gfn -> fd of the page file
        self.grants = []
        self.port = None
        self.port_fd = -1
        self.ring_fd = -1
        self.order = 0
        self.req_prod = self.rsp_cons = 0
        self.next_id = 1

    # ---- simulator resources ----
    def alloc_page(self):
        d = os.path.join(self.dom, "page")
        os.makedirs(d, exist_ok=True)
        used = {int(n) for n in os.listdir(d) if n.isdigit()}
        gfn = max(used | {8191}) + 1
        tmp = os.path.join(d, "%d.tmp.%d" % (gfn, os.getpid()))
        with open(tmp, "wb") as f:
            f.write(b"\0" * PAGE)
        os.link(tmp, os.path.join(d, str(gfn)))
        os.unlink(tmp)
        self.pages[gfn] = os.open(os.path.join(d, str(gfn)), os.O_RDWR)
        return gfn

    def grant(self, gfn, rw=True):
        d = os.path.join(self.dom, "grant")
        os.makedirs(d, exist_ok=True)
        used = {int(n) for n in os.listdir(d) if n.isdigit()}
        ref = max(used | {7}) + 1
        _atomic_write(os.path.join(d, str(ref)), "%d 0 %s\n" % (gfn, "rw" if rw else "ro"),
                      exclusive=True)
        self.grants.append(ref)
        return ref

    def page_grant(self, rw=True):
        gfn = self.alloc_page()
        return gfn, self.grant(gfn, rw)

    def poke_page(self, gfn, off, data):
        os.pwrite(self.pages[gfn], data, off)

    def peek_page(self, gfn, off, n):
        return os.pread(self.pages[gfn], n, off)

    def alloc_port(self):
        d = os.path.join(self.dom, "evtchn")
        os.makedirs(d, exist_ok=True)
        p = 2
        while True:
            try:
                os.mkfifo(os.path.join(d, str(p)))
                break
            except FileExistsError:
                p += 1
        _atomic_write(os.path.join(d, "%d.unbound" % p), "0\n")
        self.port = p
        self.port_fd = os.open(os.path.join(d, str(p)), os.O_RDWR | os.O_NONBLOCK)
        return p

    def free_port(self):
        """Unbind and close our port as the sim's rule 5 says (the dead
        peer's end unbound again), so the next alloc_port may get the
        same number back."""
        d = os.path.join(self.dom, "evtchn")
        q = self.port
        try:
            with open(os.path.join(d, "%d.peer" % q)) as f:
                rd, rp = f.read().split()
            rdir = os.path.join(self.sim, "dom%s" % rd, "evtchn")
            with open(os.path.join(rdir, "%s.peer" % rp)) as f:
                if f.read().split() == [str(self.domid), str(q)]:
                    _atomic_write(os.path.join(rdir, "%s.unbound" % rp), "%d\n" % self.domid)
                    os.unlink(os.path.join(rdir, "%s.peer" % rp))
        except OSError:
            pass
        for n in ("%d.peer" % q, "%d.unbound" % q, str(q)):
            try:
                os.unlink(os.path.join(d, n))
            except OSError:
                pass
        if self.port_fd >= 0:
            os.close(self.port_fd)
        self.port_fd = -1

    def notify(self):
        try:
            with open(os.path.join(self.dom, "evtchn", "%d.peer" % self.port)) as f:
                d, q = f.read().split()
        except OSError:
            return False
        fd = os.open(os.path.join(self.sim, "dom%s" % d, "evtchn", q), os.O_RDWR | os.O_NONBLOCK)
        try:
            os.write(fd, b"\1")
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
        return True

    def wait_event(self, timeout):
        r, _, _ = select.select([self.port_fd], [], [], timeout)
        if r:
            try:
                while os.read(self.port_fd, 4096):
                    pass
            except BlockingIOError:
                pass
        return bool(r)

    # ---- the store ----
    def key(self, k, v):
        self.c.write("%s/%s" % (self.fe, k), str(v))

    def state(self, s):
        self.key("state", s)

    def be_read(self, k):
        try:
            return self.c.read("%s/%s" % (self.be, k)).decode()
        except Exception:
            return None

    def wait_be_state(self, want, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if self.be_read("state") == str(want):
                return
            time.sleep(0.02)
        raise AssertionError("backend state %s, want %s (error: %s)" % (
            self.be_read("state"), want, self._error()))

    def _error(self):
        try:
            rel = self.be.split("/", 4)[4]  # backend/vbd/D/N
            return self.c.read("/local/domain/0/error/%s/error" % rel).decode()
        except Exception:
            return None

    # ---- the handshake ----
    def connect(self, order=0, persistent=True, protocol="x86_64-abi", wait=True):
        self.order = order
        self.nents = ring_entries(order)
        gfns, refs = [], []
        for _ in range(1 << order):
            g, r = self.page_grant()
            gfns.append(g)
            refs.append(r)
        self.ring_gfns = gfns
        # Contiguous ring view over the page files: we address it by
        # offset and split the access per page.
        hdr = struct.pack("<IIII", 0, 1, 0, 1)  # SHARED_RING_INIT
        self.poke_page(gfns[0], 0, hdr)
        self.req_prod = self.rsp_cons = 0
        self.alloc_port()
        if order:
            self.key("ring-page-order", order)
            for i, r in enumerate(refs):
                self.key("ring-ref%d" % i, r)
        else:
            self.key("ring-ref", refs[0])
        self.key("event-channel", self.port)
        if protocol is not None:
            self.key("protocol", protocol)
        self.key("feature-persistent", 1 if persistent else 0)
        self.state(3)
        if wait:
            self.wait_be_state(4)
            self.state(4)

    def _ring_rw(self, off, data=None, n=0):
        """Read or write the ring at byte offset `off` (never across a
        page: entries are 112-byte aligned from 64, a page holds whole
        ones? not always: split)."""
        out = b""
        pos = 0
        length = len(data) if data is not None else n
        while pos < length:
            pg, po = divmod(off + pos, PAGE)
            k = min(PAGE - po, length - pos)
            if data is not None:
                self.poke_page(self.ring_gfns[pg], po, data[pos:pos + k])
            else:
                out += self.peek_page(self.ring_gfns[pg], po, k)
            pos += k
        return out

    def idx(self, name):
        off = {"req_prod": 0, "req_event": 4, "rsp_prod": 8, "rsp_event": 12}[name]
        return struct.unpack("<I", self.peek_page(self.ring_gfns[0], off, 4))[0]

    def set_idx(self, name, v):
        off = {"req_prod": 0, "req_event": 4, "rsp_prod": 8, "rsp_event": 12}[name]
        self.poke_page(self.ring_gfns[0], off, struct.pack("<I", v & 0xffffffff))

    def slot_off(self, i):
        return RING_OFF + (i % self.nents) * REQ_SIZE

    def put(self, req, publish=True):
        """Put raw request bytes in the next slot; publish req_prod."""
        self._ring_rw(self.slot_off(self.req_prod), data=req)
        self.req_prod = (self.req_prod + 1) & 0xffffffff
        if publish:
            self.publish()

    def publish(self, kick=True):
        self.set_idx("req_prod", self.req_prod)
        if kick:
            self.notify()

    def responses(self, want=1, timeout=None):
        """Wait for `want` responses: [(id, op, status)]."""
        out = []
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(out) < want:
            prod = self.idx("rsp_prod")
            while self.rsp_cons != prod and len(out) < want:
                b = self._ring_rw(self.slot_off(self.rsp_cons), n=RSP_SIZE)
                rid, op, st = struct.unpack_from("<QB", b)[0], b[8], struct.unpack_from("<h", b, 10)[0]
                out.append((rid, op, st))
                self.rsp_cons = (self.rsp_cons + 1) & 0xffffffff
            self.set_idx("rsp_event", self.rsp_cons + 1)
            if len(out) >= want:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%d of %d responses (rsp_prod %d, req_prod %d)" % (
                    len(out), want, self.idx("rsp_prod"), self.req_prod))
            if self.idx("rsp_prod") == self.rsp_cons:
                self.wait_event(min(left, 0.2))
        return out

    def no_response(self, wait=0.3):
        time.sleep(wait)
        return self.idx("rsp_prod") == self.rsp_cons

    # ---- whole requests ----
    def new_id(self):
        self.next_id += 1
        return self.next_id

    def buffers(self, n, rw=True):
        if not hasattr(self, "_bufs"):
            self._bufs = []
        while len(self._bufs) < n:
            self._bufs.append(self.page_grant(rw))
        return self._bufs[:n]

    def rw(self, op, sector, data=None, nsect=0):
        """One READ or WRITE of whole pages (data: bytes, a multiple of
        4096 up to 11 pages).  Returns (status, bytes read)."""
        npages = (len(data) if data is not None else nsect * SECT) // PAGE
        bufs = self.buffers(npages)
        if data is not None:
            for i, (g, _) in enumerate(bufs):
                self.poke_page(g, 0, data[i * PAGE:(i + 1) * PAGE])
        rid = self.new_id()
        self.put(req_rw(op, rid, sector, [(r, 0, 7) for _, r in bufs]))
        (got_id, got_op, st), = self.responses(1)
        assert got_id == rid and got_op == op, (got_id, rid, got_op, op)
        out = b""
        if op == OP_READ and st == RSP_OKAY:
            out = b"".join(self.peek_page(g, 0, PAGE) for g, _ in bufs)
        return st, out

    def write(self, sector, data):
        return self.rw(OP_WRITE, sector, data=data)[0]

    def read(self, sector, nsect):
        return self.rw(OP_READ, sector, nsect=nsect)

    def simple(self, req):
        """Submit one raw request, wait for its one response."""
        self.put(req)
        return self.responses(1)[0]

    def close(self):
        for fd in list(self.pages.values()) + [self.port_fd]:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pages = {}
        self.port_fd = -1
