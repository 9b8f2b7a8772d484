#!/usr/bin/env python3
"""xsguest: play an unprivileged XenStore guest over its shared ring page
(Python 3 stdlib only: mmap, os, struct, select).

The ring is the 4096-byte page of xenstore-ring.txt: requests go into the
first 1024 bytes, replies and watch events come back in the next 1024,
each queue with free-running 32-bit consumer/producer indices at 2048..2063,
then the server's feature bits, the connection state and the error
indicator.  A guest writes its request bytes, publishes req_prod, and
signals the event channel; it reads replies up to rsp_prod, publishes
rsp_cons and signals again (so that a daemon waiting for room goes on).

Two backends give the page and the event channel:

  SimPort(simdir, domid)   our simulator (docs/sim.md, DESIGN.md): reads
      dom<D>/start-info (store_gfn, store_evtchn), maps dom<D>/page/<gfn>,
      waits on its own FIFO dom<D>/evtchn/<port>, and signals the daemon by
      writing a byte into dom0/evtchn/<p>, p being the daemon's port named
      by dom<D>/evtchn/<port>.peer ("<remote-domid> <remote-port>").
  PeerPort(dir, domid)     Xen's daemons under shared/peers (guest mode):
      the ring is DIR/ring-<D> (made by the daemon at INTRODUCE), a signal
      is the 4-byte native-endian port D+1 written into the FIFO DIR/evtchn,
      and nothing ever signals the guest, so it polls the page.

Guest(port) is an xsproto.Conn: the same request API (read, write, watch,
tx_start, call, request, sync, take_events ...), with watch events kept
apart from replies, so one scenario runs unchanged on a socket, on our
daemon's ring and on cx's ring.  Receives have deadlines (XsTimeout); a
connection the server has flagged broken (error indicator != 0 with
feature bit 1) raises XsClosed.

Raw access for abuse tests: Guest.get(name) / Guest.set(name, value) on the
index and state fields ("req_cons", "req_prod", "rsp_cons", "rsp_prod",
"features", "connection", "error"), Guest.put_bytes() to write request bytes
without any checks, Guest.reconnect() for the ring reconnection feature.

CLI (a guest from the shell):
    xsguest.py SIMDIR DOMID TYPE [ARG...]   one request, args joined with nuls
"""
import mmap
import os
import select
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xsproto  # noqa: E402
from xsproto import XsClosed, XsTimeout  # noqa: E402

PAGE_SIZE = 4096
RING_SIZE = 1024
OFF_REQ, OFF_RSP = 0, 1024
FIELDS = {
    "req_cons": 2048, "req_prod": 2052, "rsp_cons": 2056, "rsp_prod": 2060,
    "features": 2064, "connection": 2068, "error": 2072,
}
FEATURE_RECONNECTION = 1 << 0
FEATURE_ERROR = 1 << 1
FEATURE_WATCHDEPTH = 1 << 2
CONNECTED, RECONNECT = 0, 1
ERROR_NONE, ERROR_COMM, ERROR_RINGIDX, ERROR_PROTO = 0, 1, 2, 3
U32 = struct.Struct("=I")  # the peers' event-channel kick (4 bytes, native order)
# The index fields are read and written as whole 32-bit words through a
# memoryview cast to "I": one load or store each, never byte by byte (the
# "=I" struct format packs byte by byte, and a daemon reading an index
# half-written sees a corrupted ring, rightly).


class PortError(Exception):
    """The guest's platform side is missing or malformed."""


# --------------------------------------------------------------------------
# Backends: the page and the event channel
# --------------------------------------------------------------------------
def _map_file(path):
    fd = os.open(path, os.O_RDWR)
    try:
        if os.fstat(fd).st_size < PAGE_SIZE:
            raise PortError("%s: not a page (%d bytes)" % (path, os.fstat(fd).st_size))
        return mmap.mmap(fd, PAGE_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)


def _read_text(path):
    with open(path) as f:
        return f.read()


class SimPort:
    """Domain `domid` of the simulator at `simdir`: its store page and its
    store event channel."""

    kind = "sim"

    def __init__(self, simdir, domid):
        self.simdir, self.domid = simdir, domid
        self.dom = os.path.join(simdir, "dom%d" % domid)
        try:
            info = dict(l.split("=", 1) for l in _read_text(
                os.path.join(self.dom, "start-info")).split() if "=" in l)
            self.gfn = int(info["store_gfn"])
            self.port = int(info["store_evtchn"])
        except (OSError, KeyError, ValueError) as e:
            raise PortError("dom%d/start-info: %s" % (domid, e))
        self.page = _map_file(os.path.join(self.dom, "page", str(self.gfn)))
        fifo = os.path.join(self.dom, "evtchn", str(self.port))
        try:
            self.fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        except OSError as e:
            self.page.close()
            raise PortError("%s: %s" % (fifo, e.strerror))
        self.peer_path = fifo + ".peer"
        self._kick_key = None   # (.peer inode, mtime) the kick fd belongs to
        self._kick_fd = -1
        self.kicks = 0

    def remote(self):
        """(domid, port) of the other end of our store port, or None while
        it is unbound (the daemon has not introduced us yet)."""
        try:
            d, p = _read_text(self.peer_path).split()
            return int(d), int(p)
        except (OSError, ValueError):
            return None

    def _kick_target(self):
        try:
            st = os.stat(self.peer_path)
        except OSError:
            return -1
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._kick_key:
            if self._kick_fd >= 0:
                os.close(self._kick_fd)
                self._kick_fd = -1
            r = self.remote()
            if r is None:
                return -1
            path = os.path.join(self.simdir, "dom%d" % r[0], "evtchn", str(r[1]))
            try:
                self._kick_fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
            except OSError:
                return -1
            self._kick_key = key
        return self._kick_fd

    def kick(self):
        """Signal the daemon (a no-op while our port is unbound)."""
        fd = self._kick_target()
        if fd < 0:
            return False
        try:
            os.write(fd, b"\1")
        except BlockingIOError:
            pass  # a full pipe: an event is pending already
        self.kicks += 1
        return True

    def drain(self):
        try:
            while os.read(self.fd, 4096):
                pass
        except BlockingIOError:
            pass

    def wait(self, timeout):
        """Wait up to `timeout` s for an event on our port; drain it."""
        if timeout > 0:
            select.select([self.fd], [], [], timeout)
        self.drain()

    def fileno(self):
        return self.fd

    def close(self):
        for fd in (self.fd, self._kick_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self._kick_fd = -1
        try:
            self.page.close()
        except (ValueError, BufferError):
            pass


class PeerPort:
    """Guest `domid` of a peer daemon (shared/peers, guest mode) in `dir`:
    the ring file DIR/ring-<D> exists once dom0 has introduced D."""

    kind = "peer"
    POLL = 0.0005

    def __init__(self, dir_, domid):
        self.dir, self.domid = dir_, domid
        path = os.path.join(dir_, "ring-%d" % domid)
        try:
            self.page = _map_file(path)
        except OSError as e:
            raise PortError("%s: %s (introduce the domain first)" % (path, e.strerror))
        try:
            self.evt = os.open(os.path.join(dir_, "evtchn"), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            self.page.close()
            raise PortError("%s/evtchn: %s" % (dir_, e.strerror))
        self.kicks = 0

    def kick(self):
        try:
            os.write(self.evt, U32.pack(self.domid + 1))
        except BlockingIOError:
            time.sleep(0.001)
            os.write(self.evt, U32.pack(self.domid + 1))
        self.kicks += 1
        return True

    def wait(self, timeout):
        # Nothing signals a peer guest: poll the page.
        if timeout > 0:
            time.sleep(min(timeout, self.POLL))

    def drain(self):
        pass

    def fileno(self):
        return -1

    def close(self):
        if self.evt >= 0:
            os.close(self.evt)
            self.evt = -1
        try:
            self.page.close()
        except (ValueError, BufferError):
            pass


# --------------------------------------------------------------------------
# The guest
# --------------------------------------------------------------------------
class Guest(xsproto.Conn):
    """A guest's XenStore connection over its ring (an xsproto.Conn)."""

    def __init__(self, port, timeout=xsproto.DEFAULT_TIMEOUT, name=None):
        # No socket: set up what xsproto.Conn's methods use.
        self.port = port
        self.page = port.page
        self.words = memoryview(self.page).cast("I")
        self.path = name or "%s-guest-%d" % (port.kind, port.domid)
        self.domid = port.domid
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self.events = []
        self.replies = []
        self.closed = False
        self.next_req = 1
        self.seq = 0

    # -- raw page access ----------------------------------------------------
    def get(self, name):
        return self.words[FIELDS[name] // 4]

    def set(self, name, value):
        self.words[FIELDS[name] // 4] = value & 0xFFFFFFFF

    def fields(self):
        return {k: self.get(k) for k in FIELDS}

    def error_indicator(self):
        return self.get("error")

    def features(self):
        return self.get("features")

    def kick(self):
        return self.port.kick()

    def _check_error(self):
        if self.get("features") & FEATURE_ERROR and self.get("error") != ERROR_NONE:
            self.closed = True
            raise XsClosed("ring error indicator %d" % self.get("error"))

    def put_bytes(self, data, kick=True):
        """Write `data` at req_prod and advance it, whatever the consumer
        says (may overwrite unread bytes: for abuse tests)."""
        prod = self.get("req_prod")
        for i in range(0, len(data)):
            self.page[OFF_REQ + (prod + i) % RING_SIZE] = data[i]
        self.set("req_prod", prod + len(data))
        if kick:
            self.kick()

    # -- xsproto.Conn's transport ----------------------------------------------
    def close(self):
        if not self.closed or self.port is not None:
            self.closed = True
        if self.port is not None:
            self.words.release()
            self.port.close()
            self.port = None

    def _pull(self):
        """Move available reply bytes from the ring into self.buf; returns
        how many.  Raises XsClosed if the server flagged an error or broke
        its own indices."""
        self._check_error()
        cons, prod = self.get("rsp_cons"), self.get("rsp_prod")
        n = (prod - cons) & 0xFFFFFFFF
        if n == 0:
            return 0
        if n > RING_SIZE:
            self.closed = True
            raise XsClosed("server broke the output indices (cons %d prod %d)" % (cons, prod))
        off = cons % RING_SIZE
        first = min(n, RING_SIZE - off)
        data = self.page[OFF_RSP + off:OFF_RSP + off + first]
        if n > first:
            data += self.page[OFF_RSP:OFF_RSP + n - first]
        self.buf += data
        self.set("rsp_cons", cons + n)
        self.port.kick()  # there is room again
        return n

    def send_raw(self, data):
        """Write bytes into the request ring, waiting for room (and taking
        replies meanwhile, so that a daemon blocked on a full output ring
        can go on)."""
        if self.port is None:
            raise XsClosed("guest closed")
        view = memoryview(bytes(data))
        deadline = time.monotonic() + self.timeout
        while view:
            self._check_error()
            cons, prod = self.get("req_cons"), self.get("req_prod")
            used = (prod - cons) & 0xFFFFFFFF
            space = RING_SIZE - used if used <= RING_SIZE else 0
            if space:
                n = min(space, len(view))
                off = prod % RING_SIZE
                first = min(n, RING_SIZE - off)
                self.page[OFF_REQ + off:OFF_REQ + off + first] = view[:first]
                if n > first:
                    self.page[OFF_REQ:OFF_REQ + n - first] = view[first:n]
                self.set("req_prod", prod + n)
                self.port.kick()
                view = view[n:]
                continue
            self._pull()
            left = deadline - time.monotonic()
            if left <= 0:
                raise XsTimeout("%s: no room in the request ring" % self.path)
            self.port.wait(min(left, 0.05))

    def _fill(self, deadline):
        if self.port is None:
            raise XsClosed("guest closed")
        while True:
            self.port.drain()
            if self._pull():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.port.wait(min(left, 0.05))

    def is_closed(self, timeout=1.0):
        try:
            self._check_error()
        except XsClosed:
            return True
        return super().is_closed(timeout)

    # -- ring reconnection -------------------------------------------------------
    def reconnect(self, timeout=None):
        """Ask the server to reset the ring (feature bit 0): set the
        connection state to 1, signal, wait for 0.  Local queues are
        emptied.  Returns True when the server said "connected"."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self.set("connection", RECONNECT)
        self.port.kick()
        while self.get("connection") != CONNECTED:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.port.wait(min(left, 0.05))
        self.buf, self.events, self.replies = b"", [], []
        self.closed = False
        return True


def sim_guest(simdir, domid, timeout=xsproto.DEFAULT_TIMEOUT):
    return Guest(SimPort(simdir, domid), timeout)


def peer_guest(dir_, domid, timeout=xsproto.DEFAULT_TIMEOUT):
    return Guest(PeerPort(dir_, domid), timeout)


def _main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    g = sim_guest(argv[1], int(argv[2]))
    try:
        t = argv[3].upper()
        m = g.request(int(t) if t.isdigit() else t,
                      xsproto.strings(*argv[4:]) if len(argv) > 4 else b"")
        print(m)
        return 1 if m.is_error else 0
    finally:
        g.close()


if __name__ == "__main__":
    try:
        sys.exit(_main(sys.argv))
    except (PortError, XsTimeout, XsClosed) as e:
        print("xsguest: %s" % e, file=sys.stderr)
        sys.exit(1)
