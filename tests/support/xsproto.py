#!/usr/bin/env python3
"""xsproto: a small raw XenStore wire-protocol client (Python 3 stdlib only).

Speaks xenstore.txt over a unix socket: every message is a 16-byte header
(type, req_id, tx_id, len: four host-order uint32, "<IIII" on x86/arm)
followed by `len` payload bytes.  Watch events (type WATCH_EVENT) arriving
in between are kept in a separate queue, so that `reply()` returns only the
answer to a request.  Every receive has a deadline: a hung server raises
XsTimeout (the test fails), it never hangs the test.

Used by the integration and differential tests; also a tiny CLI:
    xsproto.py ping SOCKET [TIMEOUT]   exit 0 if the server answers
    xsproto.py req SOCKET TYPE [ARG...] one request, args joined with nuls
"""
import os
import select
import socket
import struct
import sys
import time

HDR = struct.Struct("<IIII")
HDR_SIZE = HDR.size
PAYLOAD_MAX = 4096

TYPES = {
    "CONTROL": 0, "DIRECTORY": 1, "READ": 2, "GET_PERMS": 3, "WATCH": 4,
    "UNWATCH": 5, "TRANSACTION_START": 6, "TRANSACTION_END": 7,
    "INTRODUCE": 8, "RELEASE": 9, "GET_DOMAIN_PATH": 10, "WRITE": 11,
    "MKDIR": 12, "RM": 13, "SET_PERMS": 14, "WATCH_EVENT": 15, "ERROR": 16,
    "IS_DOMAIN_INTRODUCED": 17, "RESUME": 18, "SET_TARGET": 19,
    "RESTRICT": 20, "RESET_WATCHES": 21, "DIRECTORY_PART": 22,
    "GET_FEATURE": 23, "SET_FEATURE": 24, "GET_QUOTA": 25, "SET_QUOTA": 26,
    "INVALID": 0xFFFF,
}
NAMES = {v: k for k, v in TYPES.items()}
(XS_CONTROL, XS_DIRECTORY, XS_READ, XS_GET_PERMS, XS_WATCH, XS_UNWATCH,
 XS_TRANSACTION_START, XS_TRANSACTION_END, XS_INTRODUCE, XS_RELEASE,
 XS_GET_DOMAIN_PATH, XS_WRITE, XS_MKDIR, XS_RM, XS_SET_PERMS, XS_WATCH_EVENT,
 XS_ERROR, XS_IS_DOMAIN_INTRODUCED, XS_RESUME, XS_SET_TARGET, XS_RESTRICT,
 XS_RESET_WATCHES, XS_DIRECTORY_PART, XS_GET_FEATURE, XS_SET_FEATURE,
 XS_GET_QUOTA, XS_SET_QUOTA) = range(27)
XS_INVALID = 0xFFFF

DEFAULT_TIMEOUT = float(os.environ.get("XSPROTO_TIMEOUT", "5"))


def type_name(t):
    return NAMES.get(t, str(t))


def type_num(t):
    return TYPES[t] if isinstance(t, str) else int(t)


def b(x):
    """bytes of a str/bytes/int."""
    if isinstance(x, bytes):
        return x
    if isinstance(x, int):
        x = str(x)
    return x.encode()


def strings(*parts):
    """Payload of nul-terminated strings: strings('a', 'b') = b'a\\0b\\0'."""
    return b"".join(b(p) + b"\0" for p in parts)


class XsError(Exception):
    """An ERROR reply: .err is the errno name ('ENOENT')."""

    def __init__(self, err, msg=None):
        super().__init__(err)
        self.err = err
        self.msg = msg


class XsTimeout(Exception):
    pass


class XsClosed(Exception):
    """The server closed the connection."""


class Msg:
    __slots__ = ("type", "req_id", "tx_id", "payload", "seq")

    def __init__(self, type_, req_id, tx_id, payload, seq=0):
        self.type, self.req_id, self.tx_id, self.payload = type_, req_id, tx_id, payload
        self.seq = seq  # arrival order on its connection (1, 2, ...)

    @property
    def name(self):
        return type_name(self.type)

    @property
    def is_error(self):
        return self.type == XS_ERROR

    def error(self):
        return self.payload.rstrip(b"\0").decode(errors="replace")

    def fields(self):
        """Payload split at nuls (a trailing nul ends the last field)."""
        p = self.payload
        if p.endswith(b"\0"):
            p = p[:-1]
        return p.split(b"\0") if p else []

    def __repr__(self):
        return "Msg(%s, req=%d, tx=%d, %r)" % (self.name, self.req_id, self.tx_id, self.payload)


class Conn:
    """One client connection to a XenStore unix socket."""

    def __init__(self, path, timeout=DEFAULT_TIMEOUT, connect_timeout=None):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(connect_timeout or timeout)
        # Xen's daemons listen() with a backlog of 1: a full backlog gives
        # EAGAIN on a unix socket, so retry until the deadline.
        deadline = time.monotonic() + (connect_timeout or timeout)
        while True:
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.sock.close()
                    raise
                time.sleep(0.005)
            except Exception:
                self.sock.close()
                raise
        self.sock.setblocking(False)
        self.buf = b""
        self.events = []    # WATCH_EVENT messages not yet taken
        self.replies = []   # other messages not yet taken, in arrival order
        self.closed = False
        self.next_req = 1
        self.seq = 0        # messages parsed so far

    # -- low level --------------------------------------------------------
    def close(self):
        try:
            self.sock.close()
        finally:
            self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        """Send arbitrary bytes (malformed input).  Raises XsClosed if the
        server has gone (EPIPE/ECONNRESET)."""
        view = memoryview(data)
        deadline = time.monotonic() + self.timeout
        while view:
            try:
                n = self.sock.send(view)
                view = view[n:]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise XsTimeout("send to %s timed out" % self.path)
                select.select([], [self.sock], [], left)
            except (BrokenPipeError, ConnectionResetError) as e:
                self.closed = True
                raise XsClosed(str(e))

    def send(self, type_, payload=b"", req_id=None, tx_id=0, length=None):
        """Send one message; returns its req_id.  `length` overrides the
        header's len field (to lie about the size)."""
        if req_id is None:
            req_id = self.next_req
            self.next_req = (self.next_req + 1) & 0xFFFFFFFF or 1
        payload = b(payload)
        n = len(payload) if length is None else length
        self.send_raw(HDR.pack(type_num(type_), req_id, tx_id, n) + payload)
        return req_id

    def _fill(self, deadline):
        """Read what is available, waiting until `deadline`.  Returns False
        on timeout; raises XsClosed at EOF."""
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                select.select([self.sock], [], [], left)
                continue
            except ConnectionResetError as e:
                self.closed = True
                raise XsClosed(str(e))
            if not data:
                self.closed = True
                raise XsClosed("connection closed by server")
            self.buf += data
            return True

    def _parse(self):
        while len(self.buf) >= HDR_SIZE:
            t, rid, tid, n = HDR.unpack_from(self.buf)
            if len(self.buf) < HDR_SIZE + n:
                return
            self.seq += 1
            m = Msg(t, rid, tid, self.buf[HDR_SIZE:HDR_SIZE + n], self.seq)
            self.buf = self.buf[HDR_SIZE + n:]
            (self.events if t == XS_WATCH_EVENT else self.replies).append(m)

    def recv(self, timeout=None):
        """The next message of any kind (event or reply) not yet taken, in
        arrival order.  Raises XsTimeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            self._parse()
            if self.replies or self.events:
                if not self.events or (self.replies and self.replies[0].seq < self.events[0].seq):
                    return self.replies.pop(0)
                return self.events.pop(0)
            if not self._fill(deadline):
                raise XsTimeout("no message from %s" % self.path)

    def reply(self, req_id=None, timeout=None):
        """The next non-event message (with `req_id` if given); watch events
        that arrive meanwhile are queued in self.events."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            self._parse()
            for i, m in enumerate(self.replies):
                if req_id is None or m.req_id == req_id:
                    return self.replies.pop(i)
            if not self._fill(deadline):
                raise XsTimeout("no reply%s from %s" % (
                    "" if req_id is None else " to req %d" % req_id, self.path))

    def event(self, timeout=None):
        """The next watch event (queued or arriving).  Raises XsTimeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            self._parse()
            if self.events:
                return self.events.pop(0)
            if not self._fill(deadline):
                raise XsTimeout("no watch event from %s" % self.path)

    def take_events(self, with_seq=False):
        """All queued watch events, as (path, token) byte pairs (or
        (path, token, seq) triples)."""
        self._parse()
        evs, self.events = self.events, []
        return [tuple((e.fields() + [b"", b""])[:2]) + ((e.seq,) if with_seq else ())
                for e in evs]

    def drain_events(self, wait=0.1):
        """Watch events arriving within `wait` seconds, as (path, token)."""
        deadline = time.monotonic() + wait
        try:
            while self._fill(deadline):
                pass
        except XsClosed:
            pass
        return self.take_events()

    def sync(self, timeout=None):
        """Round trip (GET_DOMAIN_PATH 0): once it returns, every event the
        server queued for us before it has been received."""
        rid = self.send(XS_GET_DOMAIN_PATH, b"0\0")
        return self.reply(rid, timeout)

    def is_closed(self, timeout=1.0):
        """Wait up to `timeout` for EOF; True if the server closed us."""
        if self.closed:
            return True
        try:
            deadline = time.monotonic() + timeout
            while self._fill(deadline):
                pass
        except XsClosed:
            return True
        return False

    # -- requests ---------------------------------------------------------
    def request(self, type_, payload=b"", tx_id=0, req_id=None, timeout=None):
        """Send and return the reply Msg (ERROR replies included)."""
        rid = self.send(type_, payload, req_id=req_id, tx_id=tx_id)
        return self.reply(rid, timeout)

    def call(self, type_, payload=b"", tx_id=0):
        """Send; return the reply payload, raising XsError on ERROR."""
        m = self.request(type_, payload, tx_id)
        if m.is_error:
            raise XsError(m.error(), m)
        if m.type != type_num(type_):
            raise XsError("EPROTO", m)
        return m.payload

    def read(self, path, tx=0):
        return self.call(XS_READ, strings(path), tx)

    def write(self, path, value, tx=0):
        return self.call(XS_WRITE, b(path) + b"\0" + b(value), tx)

    def mkdir(self, path, tx=0):
        return self.call(XS_MKDIR, strings(path), tx)

    def rm(self, path, tx=0):
        return self.call(XS_RM, strings(path), tx)

    def exists(self, path, tx=0):
        try:
            self.read(path, tx)
            return True
        except XsError as e:
            if e.err == "ENOENT":
                return False
            raise

    def directory(self, path, tx=0):
        m = self.call(XS_DIRECTORY, strings(path), tx)
        return [x.decode() for x in Msg(0, 0, 0, m).fields()]

    def directory_part(self, path, offset=0, tx=0):
        """(gencnt, [children...], payload)"""
        p = self.call(XS_DIRECTORY_PART, strings(path, offset), tx)
        parts = p.split(b"\0")
        return parts[0].decode(), [x.decode() for x in parts[1:] if x], p

    def get_perms(self, path, tx=0):
        m = self.call(XS_GET_PERMS, strings(path), tx)
        return [x.decode() for x in Msg(0, 0, 0, m).fields()]

    def set_perms(self, path, perms, tx=0):
        return self.call(XS_SET_PERMS, strings(path, *perms), tx)

    def watch(self, path, token, depth=None):
        args = (path, token) if depth is None else (path, token, depth)
        return self.call(XS_WATCH, strings(*args))

    def unwatch(self, path, token):
        return self.call(XS_UNWATCH, strings(path, token))

    def reset_watches(self):
        return self.call(XS_RESET_WATCHES, b"")

    def tx_start(self):
        p = self.call(XS_TRANSACTION_START, b"\0")
        return int(p.rstrip(b"\0"))

    def tx_end(self, tx, commit=True):
        return self.call(XS_TRANSACTION_END, b"T\0" if commit else b"F\0", tx)

    def get_domain_path(self, domid):
        return self.call(XS_GET_DOMAIN_PATH, strings(domid)).rstrip(b"\0").decode()

    def is_domain_introduced(self, domid):
        return self.call(XS_IS_DOMAIN_INTRODUCED, strings(domid)).rstrip(b"\0") == b"T"

    def introduce(self, domid, gfn, port):
        return self.call(XS_INTRODUCE, strings(domid, gfn, port))

    def release(self, domid):
        return self.call(XS_RELEASE, strings(domid))

    def get_feature(self, *domid):
        return self.call(XS_GET_FEATURE, strings(*domid))

    def get_quota(self, *args):
        return self.call(XS_GET_QUOTA, strings(*args))

    def set_quota(self, *args):
        return self.call(XS_SET_QUOTA, strings(*args))

    def control(self, *args):
        return self.call(XS_CONTROL, strings(*args))


def wait_for_server(path, timeout=10.0, alive=None):
    """Poll until a connection to `path` answers a request.  `alive()` (if
    given) returning False stops the wait early.  Returns True/False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        try:
            with Conn(path, timeout=1.0) as c:
                c.sync(timeout=1.0)
                return True
        except (OSError, XsTimeout, XsClosed):
            time.sleep(0.05)
    return False


def _main(argv):
    if len(argv) >= 3 and argv[1] == "ping":
        t = float(argv[3]) if len(argv) > 3 else 1.0
        return 0 if wait_for_server(argv[2], timeout=t) else 1
    if len(argv) >= 4 and argv[1] == "req":
        with Conn(argv[2]) as c:
            m = c.request(argv[3].upper() if not argv[3].isdigit() else int(argv[3]),
                          strings(*argv[4:]) if len(argv) > 4 else b"")
            print(m)
            return 1 if m.is_error else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
