#!/usr/bin/env python3
"""test_sock.py: the unix-socket transport as a plain blocking client sees it
(Xen's libxenstore and xenstore-* sleep in read(2) for each reply).

The daemon reads requests with MSG_PEEK and takes them off the socket only
after their replies are out (daemon/sock.c, sock_settle): a read that frees
a request wakes its client, asleep in read(2), for nothing.

  one_wakeup_per_request   a blocking client on a CPU of its own, the daemon
                           on another (sleeping between requests, --poll-us 0):
                           at most 1.15 sleeps of the client per request (1.25-2 when
                           the daemon took requests off at once)
  shared_cpu               the client and the daemon on one CPU (a dom0 with
                           one vCPU): at most 1.2 sleeps per request (the
                           reply's wakeup preempts the daemon, the client
                           sends its next request and sleeps: the daemon
                           puts off taking the last one off), and once the
                           client stops the daemon sleeps (input put off
                           keeps the fd readable: under 0.1 s of CPU in 1 s)
  byte_by_byte             a request sent one byte at a time, a turn each: one
                           reply, then the next request is answered as usual
  pipelined_past_buffer    500 requests in one send (more than the daemon's
                           8 KB input buffer), TRANSACTION_STARTs among them,
                           which are not idempotent: exactly 500 replies, in
                           order, and nothing after them (a request peeked twice
                           would be served twice)
  close_after_requests     requests, then the client goes: the daemon serves on
Env: XSTORED (build/asan/xstored).  Output: PASS/FAIL/SKIP lines, then
"N passed, N failed[, N skipped]".
"""
import contextlib
import os
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from daemon import XstoredDaemon, default_xstored  # noqa: E402
from simenv import Runner, Skip  # noqa: E402

XSTORED = default_xstored()
XS_READ, XS_TRANSACTION_START, XS_WRITE, XS_ERROR = 2, 6, 11, 16
HDR = struct.Struct("<IIII")


def request(typ, req_id, *parts, tx=0):
    payload = b"".join(p.encode() + b"\0" for p in parts)
    if typ == XS_WRITE:  # the value has no nul
        payload = payload[:-1]
    return HDR.pack(typ, req_id, tx, len(payload)) + payload


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        got = s.recv(n - len(buf))
        if not got:
            raise AssertionError("daemon closed the connection")
        buf += got
    return buf


def reply(s):
    typ, req_id, tx, n = HDR.unpack(recv_exact(s, HDR.size))
    return typ, req_id, recv_exact(s, n)


def connect(d):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.socket)
    s.settimeout(None)  # CPython then calls recv(2) at once: sleeps in it
    return s


def ask(s, typ, req_id, *parts):
    s.sendall(request(typ, req_id, *parts))
    t, rid, body = reply(s)
    assert rid == req_id, "reply to %d, asked %d" % (rid, req_id)
    assert t == typ, "%d %s: %s" % (typ, parts, body)
    return body


def my_sleeps():
    with open("/proc/thread-self/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise Skip("no voluntary_ctxt_switches in /proc/thread-self/status")


@contextlib.contextmanager
def daemon(*args, cpu=None):
    """A started daemon (and this thread) on `cpu` if given; both undone
    after."""
    mine = os.sched_getaffinity(0)
    d = XstoredDaemon(extra_args=["--platform", "none"] + list(args))
    try:
        d.start()
        if cpu is not None:
            os.sched_setaffinity(d.proc.pid, {cpu})
        yield d
    finally:
        os.sched_setaffinity(0, mine)
        d.cleanup()


def sleeps_per_read(s, n):
    """Sleeps of this thread per READ over `n` READs on `s`, after a
    warm-up of both sides' code and pages; printed."""
    ask(s, XS_WRITE, 1, "/t", "v")
    for i in range(20):
        ask(s, XS_READ, 2, "/t")
    before = my_sleeps()
    for i in range(n):
        ask(s, XS_READ, 3 + i, "/t")
    per = (my_sleeps() - before) / n
    print("     client sleeps per request: %.2f" % per, flush=True)
    return per


def t_one_wakeup_per_request():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise Skip("needs 2 CPUs (client and daemon each on its own); have %d" % len(cpus))
    with daemon("--poll-us", "0", cpu=cpus[1]) as d:
        os.sched_setaffinity(0, {cpus[0]})
        s = connect(d)
        per = sleeps_per_read(s, 300)
        assert per <= 1.15, ("the client slept %.2f times per request: the daemon's "
                             "read of a request woke it before its reply" % per)
        s.close()


def cpu_secs(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def t_shared_cpu():
    cpu = min(os.sched_getaffinity(0))
    with daemon(cpu=cpu) as d:
        os.sched_setaffinity(0, {cpu})
        s = connect(d)
        per = sleeps_per_read(s, 500)
        time.sleep(0.2)  # the poll window ends
        c0 = cpu_secs(d.proc.pid)
        time.sleep(1.0)
        spent = cpu_secs(d.proc.pid) - c0
        print("     daemon CPU while the client is idle: %.2f s in 1 s" % spent, flush=True)
        assert spent < 0.1, "the daemon spins while its client is idle: %.2f s" % spent
        assert per <= 1.2, ("the client slept %.2f times per request: taking its "
                            "request off woke it again" % per)
        assert ask(s, XS_READ, 9999, "/t") == b"v"
        s.close()


def t_byte_by_byte():
    with daemon() as d:
        s = connect(d)
        ask(s, XS_WRITE, 1, "/b", "bytes")
        msg = request(XS_READ, 2, "/b")
        for i in range(len(msg)):
            s.send(msg[i:i + 1])
            time.sleep(0.005)  # a turn of the daemon's each
        t, rid, body = reply(s)
        assert (t, rid, body) == (XS_READ, 2, b"bytes"), (t, rid, body)
        assert ask(s, XS_READ, 3, "/b") == b"bytes"
        s.close()


def t_pipelined_past_buffer():
    with daemon() as d:
        s = connect(d)
        ask(s, XS_WRITE, 1, "/p", "x" * 8)
        n, batch = 500, b""
        for i in range(n):
            if i % 50 == 7:
                batch += request(XS_TRANSACTION_START, 100 + i, "")
            else:
                batch += request(XS_READ, 100 + i, "/p")
        assert len(batch) > 8192, len(batch)
        s.sendall(batch)
        txids = set()
        for i in range(n):
            t, rid, body = reply(s)
            assert rid == 100 + i, "reply %d is to request %d" % (i, rid - 100)
            if i % 50 == 7:
                assert t == XS_TRANSACTION_START, (t, body)
                txids.add(body)
            else:
                assert (t, body) == (XS_READ, b"x" * 8), (t, body)
        assert len(txids) == n // 50, "transaction ids %s" % sorted(txids)
        s.settimeout(0.3)
        try:
            extra = s.recv(4096)
        except socket.timeout:
            extra = None
        assert extra is None, "%d bytes after the last reply: a request served twice" % len(
            extra)
        s.close()


def t_close_after_requests():
    with daemon() as d:
        s = connect(d)
        s.sendall(b"".join(request(XS_WRITE, i, "/c/%d" % i, "v") for i in range(20)))
        s.close()
        s = connect(d)
        # Whatever of them ran, the daemon serves on and answers the next.
        assert ask(s, XS_WRITE, 1, "/c/x", "w") == b"OK\0"
        assert ask(s, XS_READ, 2, "/c/x") == b"w"
        s.close()
        assert d.alive(), "daemon died: %s" % d.tail()


TESTS = [
    ("one_wakeup_per_request", t_one_wakeup_per_request),
    ("shared_cpu", t_shared_cpu),
    ("byte_by_byte", t_byte_by_byte),
    ("pipelined_past_buffer", t_pipelined_past_buffer),
    ("close_after_requests", t_close_after_requests),
]


def main():
    r = Runner("sock/")
    if not os.access(XSTORED, os.X_OK):
        r.skip("all", "not built: %s (set XSTORED)" % XSTORED)
        return r.final()
    for name, fn in TESTS:
        r.run(name, fn)
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
