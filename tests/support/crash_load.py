"""crash_load.py: the load of test_crash.py and its bookkeeping of what
was acknowledged, so that after every SIGKILL and restart of the daemon
the test can say exactly what was lost.

Rules it checks (issue 12):
  * Acknowledged = a reply received.  Every acknowledged WRITE, RM and
    transaction commit is in the store after the restart; a change whose
    reply never came may or may not be there; a committed transaction is
    all or nothing.
  * A guest keeps its ring across the restart: the request it had in
    flight (sent before the kill or during the downtime) gets exactly one
    reply and is applied exactly once; its watch still fires (one extra
    event, the restored watch firing as after WATCH, is allowed); a
    transaction it had open answers EAGAIN.

The model: a Group is a set of nodes that change together (one node, or
the nodes of one transaction), with its acknowledged values and the
values of changes sent but not answered ("maybe").  A change is recorded
as "maybe" before it is sent and promoted to acknowledged when its reply
comes, so a kill at any moment leaves the model right.  After each
restart, while the load is parked, verify() reads every group, checks it
against the model, and settles the model on what the store holds (a
maybe that was, or was not, applied is decided from then on).

Threads: one per socket client and one per guest (the daemon does the
work; the GIL is no bottleneck), parked and resumed by the main thread
round by round (Load.resume / pause / wait_parked).
"""
import os
import random
import socket
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xsproto  # noqa: E402
from xsproto import XsClosed, XsError, XsTimeout  # noqa: E402


def show(v):
    if v is None:
        return "nothing"
    return repr(v.decode(errors="replace"))


def show_tuple(t):
    return show(t[0]) if len(t) == 1 else "(" + ", ".join(show(v) for v in t) + ")"


class Group:
    """Nodes that change together, with what was acknowledged of them."""

    __slots__ = ("name", "paths", "acked", "maybe", "is_tx")

    def __init__(self, name, paths, is_tx=False):
        self.name, self.paths, self.is_tx = name, tuple(paths), is_tx
        self.acked = (None,) * len(self.paths)
        self.maybe = set()

    def unsure(self, values):
        """A change about to be sent: it may be applied from now on."""
        self.maybe.add(tuple(values))

    def drop(self, values):
        """A change refused with an error reply: it was not applied."""
        self.maybe.discard(tuple(values))

    def ack(self, values):
        self.acked = tuple(values)
        self.maybe.clear()

    def check(self, got):
        """None if `got` (the values in the store) is allowed, else what
        is wrong.  Either way the model settles on `got`."""
        got = tuple(got)
        problem = None
        if got != self.acked and got not in self.maybe:
            alts = sorted(show_tuple(m) for m in self.maybe if m != self.acked)
            extra = " (or, unacknowledged: %s)" % ", ".join(alts) if alts else ""
            if self.is_tx and len(set(got[-2:])) > 1:
                what = "half-applied transaction"
            elif self.acked == (None,) * len(self.paths):
                what = "a change nobody acknowledged appeared"
            else:
                what = "acknowledged change lost"
            problem = "%s: %s: acknowledged %s%s, store has %s" % (
                what, self.name, show_tuple(self.acked), extra, show_tuple(got))
        self.acked = got
        self.maybe.clear()
        return problem


def read_or_none(conn, path):
    try:
        return conn.read(path)
    except XsError as e:
        if e.err == "ENOENT":
            return None
        raise


class Worker(threading.Thread):
    """A client of the load: runs session() in every round."""

    def __init__(self, load, name, rng):
        super().__init__(name=name, daemon=True)
        self.load, self.rng = load, rng
        self.label = name
        self.groups = []
        self.parked_round = 0
        self.failures = []
        self.dead = None     # why this worker stopped for good
        self.changes = 0     # acknowledged changes (WRITE, RM, commit)
        self.unanswered = 0  # changes sent whose reply never came

    def fail(self, msg):
        self.failures.append("%s: %s" % (self.label, msg))

    def die(self, msg):
        self.fail(msg)
        self.dead = msg

    def take_failures(self):
        f, self.failures = self.failures, []
        return f

    def run(self):
        seen = 0
        while True:
            rnd = self.load.wait_round(seen)
            if rnd is None:
                return
            seen = rnd
            try:
                if self.dead is None:
                    self.session()
            except Exception as e:  # a harness bug: show where
                self.die("harness: %s: %s\n%s" % (type(e).__name__, e,
                                                  "".join(traceback.format_tb(e.__traceback__)[-3:])))
            self.load.park(self, rnd)


# --------------------------------------------------------------------------
# Socket clients: lose their connection at the kill, reconnect next round
# --------------------------------------------------------------------------
class SockWorker(Worker):
    KEYS = 6

    def __init__(self, load, i, rng):
        super().__init__(load, "sock%d" % i, rng)
        self.base = "/crash/s%d" % i
        self.keys = [Group("%s/k%d" % (self.base, j), ["%s/k%d" % (self.base, j)])
                     for j in range(self.KEYS)]
        self.tx = Group("%s/tx{a,b,c}" % self.base,
                        ["%s/tx/%s" % (self.base, n) for n in "abc"], is_tx=True)
        self.groups = self.keys + [self.tx]
        self.seq = 0
        self.conn = None

    def cut(self):
        """From the main thread: end the connection as a kill would."""
        c = self.conn
        if c is not None:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def session(self):
        try:
            c = xsproto.Conn(self.load.socket, timeout=15.0, connect_timeout=2.0)
        except (OSError, XsTimeout):
            return  # killed before we got in: nothing sent
        self.conn = c
        if self.load.down:
            c.close()  # cut meanwhile (the self-test's pretend kill)
            return
        kills = self.load.kills
        try:
            while self.load.running and self.dead is None:
                self.op(c)
        except (XsClosed, OSError):
            pass  # the kill: the change in flight stays "maybe"
        except XsTimeout as e:
            if self.load.kills == kills:
                self.fail("no reply within 15 s from a daemon that was not killed: %s" % e)
        except XsError as e:
            self.fail("unexpected error reply %s" % e.err)
        finally:
            self.conn = None
            c.close()

    def _change(self, grp, values, fn, *args):
        grp.unsure(values)
        try:
            fn(*args)
        except XsError as e:
            grp.drop(values)
            return e.err
        grp.ack(values)
        self.changes += 1
        return None

    def op(self, c):
        self.seq += 1
        r = self.rng.random()
        if r < 0.45:
            g = self.rng.choice(self.keys)
            v = b"%s-%d" % (self.label.encode(), self.seq)
            e = self._change(g, (v,), c.write, g.paths[0], v)
            if e:
                self.fail("WRITE %s: %s" % (g.paths[0], e))
        elif r < 0.65:
            g = self.rng.choice(self.keys)
            e = self._change(g, (None,), c.rm, g.paths[0])
            if e == "ENOENT":  # already absent: the same outcome
                g.ack((None,))
            elif e:
                self.fail("RM %s: %s" % (g.paths[0], e))
        else:
            tag = b"%s-t%d" % (self.label.encode(), self.seq)
            for _ in range(5):
                tx = c.tx_start()
                for p in self.tx.paths:
                    c.write(p, tag, tx)
                e = self._change(self.tx, (tag,) * 3, c.tx_end, tx)
                if e != "EAGAIN":
                    break
            if e:
                self.fail("transaction commit: %s" % e)


# --------------------------------------------------------------------------
# Guests: keep their ring; a request in flight is answered after restart
# --------------------------------------------------------------------------
class GuestCheck(Exception):
    pass


class GuestWorker(Worker):
    KEYS = 4
    WATCH, TOKEN = "data/w", "w"

    def __init__(self, load, guest, rng):
        super().__init__(load, "dom%d" % guest.domid, rng)
        self.g = guest
        d = guest.domid
        self.home = "/local/domain/%d" % d
        self.keys = [Group("%s/data/k%d" % (self.home, j), ["%s/data/k%d" % (self.home, j)])
                     for j in range(self.KEYS)]
        self.toggle = Group(self.home + "/data/toggle", [self.home + "/data/toggle"])
        self.seqg = Group(self.home + "/data/seq", [self.home + "/data/seq"])
        self.tx = Group("%s/data/{ctr,tx/a,tx/b}" % self.home,
                        [self.home + "/data/ctr", self.home + "/data/tx/a", self.home + "/data/tx/b"],
                        is_tx=True)
        self.groups = self.keys + [self.toggle, self.seqg, self.tx]
        self.seq = 0
        self.cur = None
        self.eagain_after_restart = 0

    def setup(self):
        self.g.watch(self.WATCH, self.TOKEN)
        self.g.drain_events(0.05)

    def _req(self, what, fn, *args):
        """fn(*args), remembering what is in flight for the messages."""
        self.cur = (what, self.load.kills, self.load.down)
        return fn(*args)

    def _where(self):
        what, kills, down = self.cur
        if self.load.kills == kills:
            return "%s (sent %s)" % (what, "after the restart of kill #%d" % kills if kills else
                                     "before any kill")
        return "%s, sent %s kill #%d" % (what, "during the downtime after" if down else "before",
                                           kills + (0 if down else 1))

    def session(self):
        while self.load.running and self.dead is None:
            try:
                self.cur = ("a look at the ring", self.load.kills, self.load.down)
                self.g._fill(0)  # events already in the ring: not this op's
                self.g.take_events()
                self.op()
            except XsTimeout:
                self.die("not answered within %.0f s: %s" % (self.g.timeout, self._where()))
            except XsClosed as e:
                self.die("ring closed (%s): %s" % (e, self._where()))
            except XsError as e:
                self.die("unexpected %s: %s%s" % (e.err, self._where(), self._quota_hint(e)))
            except GuestCheck as e:
                self.die(str(e))

    def _quota_hint(self, e):
        """For ENOSPC/EQUOTA: what the daemon counts for this domain."""
        if e.err not in ("ENOSPC", "EQUOTA", "E2BIG"):
            return ""
        try:
            with xsproto.Conn(self.load.socket, timeout=2.0) as c:
                q = c.control("quota", str(self.g.domid)).decode(errors="replace")
        except (OSError, XsError, XsTimeout, XsClosed) as e2:
            return " (CONTROL quota failed: %s)" % e2
        lines = [l.strip() for l in q.splitlines() if l.split(":")[0].strip() in
                 ("transactions", "watches", "nodes")]
        return " (the daemon counts for it: %s)" % ", ".join(lines)

    def _change(self, grp, values, what, fn, *args):
        grp.unsure(values)
        try:
            self._req(what, fn, *args)
        except XsError:
            grp.drop(values)
            raise
        grp.ack(values)
        self.changes += 1

    def op(self):
        g = self.g
        self.seq += 1
        r = self.rng.random()
        if r < 0.3:
            grp = self.rng.choice(self.keys)
            rel = grp.paths[0][len(self.home) + 1:]
            v = b"dom%d-%d" % (self.g.domid, self.seq)
            self._change(grp, (v,), "WRITE " + rel, g.write, rel, v)
        elif r < 0.5:
            # RM of a node that exists must say OK: ENOENT would mean it
            # was applied twice (before the kill, and again after it).
            if self.toggle.acked[0] is not None:
                try:
                    self._change(self.toggle, (None,), "RM data/toggle", g.rm, "data/toggle")
                except XsError as e:
                    if e.err == "ENOENT":
                        raise GuestCheck("RM data/toggle of an existing node answered ENOENT "
                                         "(applied twice, or the node was lost): %s" % self._where())
                    raise
            else:
                v = b"t%d" % self.seq
                self._change(self.toggle, (v,), "WRITE data/toggle", g.write, "data/toggle", v)
        elif r < 0.7:
            # WRITE of a counter, then read it back.
            v = b"%d" % self.seq
            self._change(self.seqg, (v,), "WRITE data/seq", g.write, "data/seq", v)
            got = self._req("READ data/seq", g.read, "data/seq")
            if got != v:
                raise GuestCheck("READ data/seq after its WRITE: %s, want %s (%s)"
                                 % (show(got), show(v), self._where()))
        else:
            self.tx_increment()

    def tx_increment(self):
        """ctr += 1 with tx/a and tx/b tagged, in one transaction.  A
        commit answered EAGAIN must not be applied (the retry would count
        twice: the next read of ctr shows it)."""
        g = self.g
        for _ in range(8):
            kills = self.load.kills
            n = tx = None
            try:
                tx = self._req("TRANSACTION_START", g.tx_start)
                try:
                    cur = self._req("READ data/ctr in a transaction", g.read, "data/ctr", tx)
                except XsError as e:
                    if e.err != "ENOENT" or self.load.kills != kills:
                        raise
                    cur = None
                if cur != self.tx.acked[0]:
                    raise GuestCheck("READ data/ctr in a transaction: %s, acknowledged %s "
                                     "(a commit lost, or applied though answered EAGAIN)"
                                     % (show(cur), show(self.tx.acked[0])))
                n = b"%d" % (int(cur or b"0") + 1)
                tag = b"dom%d-ctr%s" % (g.domid, n)
                self._req("WRITE data/ctr in a transaction", g.write, "data/ctr", n, tx)
                self._req("WRITE data/tx/a in a transaction", g.write, "data/tx/a", tag, tx)
                self._req("WRITE data/tx/b in a transaction", g.write, "data/tx/b", tag, tx)
                self._change(self.tx, (n, tag, tag), "TRANSACTION_END", g.tx_end, tx)
                return
            except XsError as e:
                if e.err == "EAGAIN":
                    if self.load.kills != kills:
                        self.eagain_after_restart += 1
                    if self.cur[0] != "TRANSACTION_END":
                        # as a real client: end a transaction that failed
                        # before its commit (the daemon may keep it open)
                        try:
                            self._req("TRANSACTION_END (abort) after EAGAIN", g.tx_end, tx, False)
                        except XsError:
                            pass
                    continue
                if e.err == "ENOENT" and self.load.kills != kills:
                    raise GuestCheck("a transaction started before kill #%d: %s answered ENOENT, "
                                     "want EAGAIN%s" % (kills + 1, self._where(), self._applied(n, tx)))
                raise
        raise GuestCheck("8 transactions in a row answered EAGAIN")

    def _applied(self, n, tx):
        """For a message: did the commit whose reply was wrong apply?"""
        if not self.cur or self.cur[0] != "TRANSACTION_END":
            return ""
        try:
            now = self.g.read("data/ctr")
        except (XsError, XsTimeout, XsClosed) as e:
            return " (and READ data/ctr failed: %s)" % e
        if now == n:
            return " (yet it was applied: data/ctr is %s: executed twice?)" % show(now)
        return " (not applied: data/ctr is %s, the commit would have made it %s)" % (show(now), show(n))

    def check_watch(self, dom0, rnd, restarts):
        """After `restarts` restarts (this guest parked): the watch on
        data/w fires for a change, with at most one extra event per
        restart (the restored watch firing as after WATCH).  Returns a
        list of problems."""
        g = self.g
        try:
            g.sync()
            ours = (self.WATCH.encode(), self.TOKEN.encode())
            before = [e for e in g.take_events() if e == ours]
            probs = []
            if len(before) > restarts:
                probs.append("%s: %d events of its watch with no change (%d restart%s: one each "
                             "allowed)" % (self.label, len(before), restarts, "s" if restarts > 1 else ""))
            dom0.write(self.home + "/" + self.WATCH, "round%d" % rnd)
            deadline = time.monotonic() + 5
            seen = False
            while not seen and time.monotonic() < deadline:
                try:
                    ev = g.event(timeout=max(0.01, deadline - time.monotonic()))
                except XsTimeout:
                    break
                seen = tuple(ev.fields()[:2]) == ours
            if not seen:
                probs.append("%s: its watch on %s did not fire within 5 s of a change"
                             % (self.label, self.WATCH))
            g.sync()
            after = [e for e in g.take_events() if e == ours]
            if after:
                probs.append("%s: %d more events of its watch for one change" % (self.label, len(after)))
            if g.replies:
                probs.append("%s: replies nobody asked for (a request answered twice?): %r"
                             % (self.label, g.replies[:3]))
                g.replies = []
            return probs
        except (XsTimeout, XsClosed, XsError) as e:
            self.dead = "not served after restart"
            return ["%s: not served after the restart (%s: %s)" % (self.label, type(e).__name__, e)]


class DowntimeGuest(GuestWorker):
    """A guest driven by the main thread (never started as a thread): its
    requests are sent while the daemon is down, pipelined, so that every
    restart has requests that were in the ring before the daemon was:
    WRITE data/dt/k<n>, RM data/dt/k<n-1> (ENOENT: applied twice, or the
    last round's WRITE lost), READ data/dt/k<n>.  Each must be answered
    exactly once, as if the daemon had never gone."""

    def __init__(self, load, guest, rng):
        super().__init__(load, guest, rng)
        self.label = "dom%d (downtime)" % guest.domid
        self.n = 0
        self.sent = None

    def send_during_downtime(self):
        if self.dead is not None:
            return
        self.n += 1
        n, g = self.n, self.g
        v = b"r%d" % n
        self.g.take_events()
        sent = [("WRITE data/dt/k%d" % n,
                 g.send(xsproto.XS_WRITE, b"data/dt/k%d\0" % n + v), b"OK\0")]
        if n > 1:
            sent.append(("RM data/dt/k%d" % (n - 1),
                         g.send(xsproto.XS_RM, xsproto.strings("data/dt/k%d" % (n - 1))), b"OK\0"))
        sent.append(("READ data/dt/k%d" % n, g.send(xsproto.XS_READ, xsproto.strings("data/dt/k%d" % n)), v))
        self.sent = sent

    def check_downtime(self, deadline):
        """The replies to what was sent during the downtime."""
        if not self.sent or self.dead is not None:
            return []
        sent, self.sent = self.sent, None
        for what, rid, want in sent:
            try:
                m = self.g.reply(rid, timeout=max(0.5, deadline - time.monotonic()))
            except XsTimeout:
                self.dead = "not answered"
                return ["%s: %s, sent during the downtime, not answered within %.0f s of the restart"
                        % (self.label, what, self.g.timeout)]
            except XsClosed as e:
                self.dead = "ring closed"
                return ["%s: ring closed (%s) waiting for %s, sent during the downtime"
                        % (self.label, e, what)]
            if m.payload != want:
                hint = " (applied twice, or the last round's WRITE lost)" if what.startswith("RM") else ""
                return ["%s: %s, sent during the downtime, answered %s %r, want %r%s"
                        % (self.label, what, m.name, m.payload, want, hint)]
        return []


# --------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------
class Load:
    def __init__(self, socket, rng, n_sock=3, guests=(), downtime_guest=None):
        self.socket = socket
        self.cv = threading.Condition()
        self.round = 0
        self.running = False
        self.stopping = False
        self.kills = 0      # kills so far (the daemon's own included)
        self.down = False   # between a kill and the restart
        self.verified_kills = 0
        self.workers = [SockWorker(self, i, random.Random(rng.random())) for i in range(n_sock)]
        self.guests = [GuestWorker(self, g, random.Random(rng.random())) for g in guests]
        self.workers += self.guests
        self.dt = DowntimeGuest(self, downtime_guest, random.Random(rng.random())) if downtime_guest else None
        self.restart_time = 0.0
        for g in self.guests + ([self.dt] if self.dt else []):
            g.setup()
        for w in self.workers:
            w.start()

    # -- the main thread drives the rounds ------------------------------------
    def wait_round(self, seen):
        with self.cv:
            while not self.stopping and self.round <= seen:
                self.cv.wait()
            return None if self.stopping else self.round

    def park(self, w, rnd):
        with self.cv:
            w.parked_round = rnd
            self.cv.notify_all()

    def resume(self):
        with self.cv:
            self.round += 1
            self.running = True
            self.cv.notify_all()

    def pause(self):
        self.running = False

    def killed(self):
        """The daemon is dead: the downtime guest sends its requests."""
        self.kills += 1
        self.down = True
        if self.dt:
            self.dt.send_during_downtime()

    def killed_quietly(self):
        """A kill with the load parked and nothing sent meanwhile."""
        self.kills += 1
        self.down = True

    def cut_sockets(self):
        for w in self.workers:
            if isinstance(w, SockWorker):
                w.cut()

    def restarted(self):
        self.down = False
        self.restart_time = time.monotonic()

    def wait_parked(self, timeout):
        """Wait until every worker finished the round; returns the labels
        of those that did not within `timeout` s."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                late = [w.label for w in self.workers if w.parked_round < self.round]
                left = deadline - time.monotonic()
                if not late or left <= 0:
                    return late
                self.cv.wait(left)

    def stop(self):
        with self.cv:
            self.running = False
            self.stopping = True
            self.cv.notify_all()
        for w in self.workers:
            w.join(timeout=15)

    # -- checks ---------------------------------------------------------------
    def changes(self):
        return sum(w.changes for w in self.workers)

    def verify(self, dom0, rnd):
        """Everything wrong after a restart (the load parked), as lines."""
        probs = []
        guests = self.guests[:]
        if self.dt:
            probs += self.dt.check_downtime(self.restart_time + self.dt.g.timeout)
            guests.append(self.dt)
        for w in self.workers:
            probs += w.take_failures()
        for w in self.workers:
            for grp in w.groups:
                got = [read_or_none(dom0, p) for p in grp.paths]
                p = grp.check(got)
                if p:
                    probs.append(p)
        restarts = self.kills - self.verified_kills
        self.verified_kills = self.kills
        for w in guests:
            if w.dead is None:
                probs += w.check_watch(dom0, rnd, restarts)
        return probs
