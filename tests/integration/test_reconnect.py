#!/usr/bin/env python3
"""test_reconnect.py: a libxstore client lives through kill -9 of its daemon.

xsreconnect (tests/integration/reconnect_client.c) holds one socket handle
and does what the test tells it, line by line.  The test SIGKILLs the
daemon and starts it again on the same run directory with the same
arguments.  Whether the store comes back (the journal) or not, the
client's next calls work without it doing anything, its watch fires again
(once for the registration, as after WATCH, then for another client's
write), a transaction it had open gets EAGAIN and its retry loop commits.
A daemon that stays away: calls fail with -ENOTCONN after the bound, and
the first call once it is back connects again.  XSTORE_RECONNECT_MS=0:
today's behaviour (the handle stays down).

Env: XSTORED (build/asan/xstored); XSRECONNECT (default: next to it).
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import errno
import os
import queue
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsproto  # noqa: E402
from daemon import DaemonError, XstoredDaemon, sanitizer_errors  # noqa: E402
from simenv import Runner, Skip, eq, wait_until  # noqa: E402

# A bound for a failing run on a loaded machine, not a timing check.
WAIT = 60.0


def client_binary(d):
    p = os.environ.get("XSRECONNECT") or os.path.join(os.path.dirname(d.binary), "xsreconnect")
    if not os.access(p, os.X_OK):
        raise Skip("not built: %s (set XSRECONNECT, or make)" % p)
    return p


class Client:
    """xsreconnect on the daemon's socket: answers and events apart."""

    def __init__(self, d, env=None):
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        e.pop("XSTORE_RECONNECT_MS", None)
        e.update(env or {})
        self.log = os.path.join(d.dir, "client-%d.log" % time.monotonic_ns())
        self.errf = open(self.log, "wb")
        self.p = subprocess.Popen([client_binary(d), d.socket], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.errf, env=e,
                                  text=True, bufsize=1)
        self.answers = queue.Queue()
        self.events = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        eq(self.answer(), "ready", "client start")

    def _read(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            if line.startswith("event "):
                with self.lock:
                    self.events.append(line[6:])
            else:
                self.answers.put(line)
        self.answers.put(None)

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def answer(self):
        try:
            a = self.answers.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("client gave no answer within %d s" % WAIT)
        if a is None:
            raise AssertionError("client died: %s" % self.tail())
        return a

    def do(self, line):
        self.send(line)
        return self.answer()

    def ok(self, line):
        a = self.do(line)
        if not a.startswith("ok"):
            raise AssertionError("%r: %s, want ok" % (line, a))
        return a[3:]

    def count(self, path):
        with self.lock:
            return self.events.count(path)

    def tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-2000:] or "(no stderr)"
        except OSError:
            return "(no log)"

    def close(self):
        try:
            self.send("quit")
            self.p.wait(WAIT)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()
        self.errf.close()
        bad = sanitizer_errors(self.log)
        if self.p.returncode != 0 or bad:
            raise AssertionError("client exit %s: %s" % (self.p.returncode, self.tail()))


def err_of(e):
    return "err %d" % -e


def restart(d):
    d.kill()
    d.start()


def t_restart(d):
    """kill -9, restart: writes, reads, the watch and the retry loop go on."""
    c = Client(d)
    try:
        c.ok("watch /test/rc")
        wait_until(lambda: c.count("/test/rc") >= 1, WAIT, "the first event")
        c.ok("write /test/rc/a 1")
        eq(c.ok("read /test/rc/a"), "1")
        c.ok("tstart")
        c.ok("twrite /test/rc/t 1")
        restart(d)
        c.ok("write /test/rc/b 2")
        eq(c.ok("read /test/rc/b"), "2")
        # The watch registered again fires once for that...
        wait_until(lambda: c.count("/test/rc") >= 2, WAIT, "the event of the new WATCH")
        # ... and then for another client's write.
        with xsproto.Conn(d.socket) as o:
            o.write("/test/rc/other", "x")
        wait_until(lambda: c.count("/test/rc/other") >= 1, WAIT, "the other client's event")
        # The transaction died with the connection.
        eq(c.do("twrite /test/rc/t 2"), err_of(errno.EAGAIN))
        eq(c.do("tend 1"), err_of(errno.EAGAIN))
        c.ok("retry /test/rc/t 3")
        eq(c.ok("read /test/rc/t"), "3")
    finally:
        c.close()


def t_wait_for_daemon(d):
    """A call made while the daemon is away waits for it to come back."""
    c = Client(d)
    try:
        c.ok("write /test/wait/a 1")
        d.kill()
        c.send("write /test/wait/b 2")
        time.sleep(0.2)  # let the call start while nobody answers
        d.start()
        eq(c.answer(), "ok")
        eq(c.ok("read /test/wait/b"), "2")
    finally:
        c.close()


def t_gone(d):
    """The daemon stays away: -ENOTCONN after the bound; back: next call."""
    c = Client(d)
    try:
        c.ok("bound 300")
        c.ok("write /test/gone/a 1")
        d.kill()
        eq(c.do("write /test/gone/b 2"), err_of(errno.ENOTCONN))
        eq(c.do("read /test/gone/a"), err_of(errno.ENOTCONN))
        d.start()
        c.ok("write /test/gone/c 3")
        eq(c.ok("read /test/gone/c"), "3")
    finally:
        c.close()


def t_off(d):
    """XSTORE_RECONNECT_MS=0: the handle stays down, as it always did."""
    c = Client(d, {"XSTORE_RECONNECT_MS": "0"})
    try:
        c.ok("write /test/off/a 1")
        restart(d)
        eq(c.do("write /test/off/b 2"), err_of(errno.ENOTCONN))
        eq(c.do("read /test/off/b"), err_of(errno.ENOTCONN))
    finally:
        c.close()


def main():
    r = Runner("reconnect.")
    d = XstoredDaemon()
    try:
        client_binary(d)
        d.start()
    except (Skip, DaemonError) as e:
        r.skip("all", str(e))
        d.cleanup()
        return r.final()
    try:
        for name, fn in (("restart", t_restart), ("wait_for_daemon", t_wait_for_daemon),
                         ("gone", t_gone), ("off", t_off)):
            r.run(name, fn, d)
            if not d.alive():
                d.start()
        r.run("clean_exit", lambda: eq(d.stop(), 0, "daemon exit status"))
    finally:
        d.cleanup()
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
