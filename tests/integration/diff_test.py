#!/usr/bin/env python3
"""diff_test.py: differential test of a XenStore daemon against Xen 4.17's C
xenstored ("cx").

Every scenario below is a deterministic sequence of requests over one or
more connections, written in a small DSL (class Run).  It is played once on
side A (the daemon under test) and once on side B (cx), each step's reply
and the watch events every connection received are recorded in a
normalised form, and the two transcripts are compared step by step.
Normalised: transaction ids (opaque; mapped to <t1>, <t2>... in order of
appearance), DIRECTORY_PART generation counts (mapped per node to <g1>,
<g2>...: equal stays equal, changed stays changed), and the initial tree
(every scenario works under its own scratch node /xsdiff/<scenario>).
After each step every connection does a round trip (GET_DOMAIN_PATH 0), so
every event queued before it has been received: no sleeps.

Differences that are intended are listed in KNOWN_DIFFS, each with a name
and a reason; any other difference is a FAIL that prints the request and
both replies.

Usage (from the repo root, as root for the peers):
  tests/integration/diff_test.py                 A = $XSTORED (started here)
  tests/integration/diff_test.py --a-peer ox     A = oxenstored (validates
                                                 the harness: cx/ox differ)
  tests/integration/diff_test.py --a-socket P    A = a running server
  tests/integration/diff_test.py --record        print what cx answers
  options: --scenario NAME (repeatable), --list, --strict (ignore
  KNOWN_DIFFS), --verbose (print both transcripts of failed scenarios),
  --b-socket P (B = a running server instead of starting cx)
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import argparse
import fnmatch
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsproto  # noqa: E402
from xsproto import Conn, XsClosed, XsTimeout, strings, type_name, type_num  # noqa: E402
from daemon import DaemonError, PeerDaemon, XstoredDaemon, sanitizer_errors  # noqa: E402

REPLY_TIMEOUT = 5.0     # a reply slower than this is recorded as TIMEOUT
NO_REPLY_WAIT = 0.3     # how long to wait where no reply may be the answer
ROOT = "/xsdiff"
# Marks a watch event that reached the requesting connection before the reply.
BEFORE_REPLY_MARK = "(before reply) "
BEFORE_REPLY = re.escape(BEFORE_REPLY_MARK)

# --------------------------------------------------------------------------
# Known, intended differences.  kinds: which side-A kinds an entry applies to
# ("xstored" = our daemon, "ox" = oxenstored when validating the harness).
# scenario/step: fnmatch patterns; a/b: regexes searched in the rendered
# step result of side A / side B (None = anything).
# --------------------------------------------------------------------------
# same_without: a regex; the entry explains a step only if both results are
# equal once every match of it is deleted (for differences in one detail).
class Known:
    def __init__(self, name, why, kinds, scenario, steps=("*",), a=None, b=None,
                 same_without=None):
        self.name, self.why, self.kinds = name, why, set(kinds)
        self.scenario, self.steps, self.a, self.b = scenario, steps, a, b
        self.same_without = same_without

    def matches(self, kind, scenario, step, ra, rb):
        return (kind in self.kinds and fnmatch.fnmatchcase(scenario, self.scenario)
                and any(fnmatch.fnmatchcase(step, p) for p in self.steps)
                and (self.a is None or re.search(self.a, ra))
                and (self.b is None or re.search(self.b, rb))
                and (self.same_without is None
                     or re.sub(self.same_without, "", ra) == re.sub(self.same_without, "", rb)))


KNOWN_DIFFS = [
    # ---- our daemon vs cx --------------------------------------------------
    Known("no-socket-ro", "Xen 4.17's daemons have no socket_ro (cx dropped it "
          "in 4.16: every socket client is privileged); our daemon keeps a "
          "read-only socket", {"xstored", "ox"}, "socket_ro", b=r"NO SOCKET"),
    Known("quota-ops", "cx 4.17 predates GET_QUOTA/SET_QUOTA (types 25/26, "
          "Xen 4.18) and answers ENOSYS; our daemon implements them per "
          "xenstore.txt", {"xstored"}, "quota", b=r"ENOSYS"),
    Known("feature-ops", "cx 4.17 predates GET_FEATURE/SET_FEATURE (types "
          "23/24, Xen 4.18) and answers ENOSYS; ours implements them",
          {"xstored"}, "*", ("*feature*",), b=r"ENOSYS"),
    Known("watch-depth", "cx 4.17 rejects WATCH's <depth> argument with "
          "EINVAL (XENSTORE_SERVER_FEATURE_WATCHDEPTH came in 4.18); ours "
          "implements it, so depth-limited watches exist and fire",
          {"xstored"}, "watch_depth"),
    Known("watch-depth-special", "as watch-depth, for @releaseDomain with depth 1",
          {"xstored"}, "watch_special", ("watch-release-depth1",), b=r"EINVAL"),
    Known("tx-snapshot", "cx's transactions are not true snapshots: a node "
          "first read after another connection changed it shows the new "
          "value, and the commit then succeeds; ours reads the snapshot taken "
          "at TRANSACTION_START, and the commit fails with EAGAIN because a "
          "node it read changed (DESIGN.md)", {"xstored", "ox"}, "tx_snapshot",
          ("read-after-other-write", "commit")),
    Known("tx-blind-write", "a transaction that only overwrote a node commits "
          "though another connection changed that node meanwhile: the result "
          "is that of running it after that change (issue 15; oxenstored "
          "replays and commits too); cx fails with EAGAIN on any change of a "
          "node the transaction touched, so the value read later differs",
          {"xstored", "ox"}, "tx_conflict", ("t3-commit", "a-is-c2", "t8-read-a")),
    Known("control-text", "CONTROL output text and the set of commands that "
          "take no argument are implementation specific (xenstore.txt: 'likely "
          "to change from one Xen version to the next')", {"xstored", "ox", "cx"},
          "control", ("help*", "log*", "quota*")),
    Known("no-socket-ro-events", "as no-socket-ro: on our daemon the "
          "read-only connection's watch exists and fires", {"xstored"},
          "socket_ro", same_without=r"  events\{ro: [^}]*\}"),
    # Stricter input checking (DESIGN.md: bad input gets a clear error).
    # Each entry only covers our daemon answering EINVAL where cx, parsing
    # leniently, answers something else.
    Known("strict-payload-shape", "cx takes a payload without its nul "
          "terminator, or with extra arguments, as some other path and "
          "answers ENOENT (or ENOMEM for MKDIR/RM); ours rejects the "
          "malformed payload with EINVAL", {"xstored"}, "*",
          ("*no-nul*", "*empty*", "*extra-arg*", "*no-payload*"),
          a=r"^ERROR b'EINVAL\\x00'$", b=r"^ERROR b'E(NOENT|NOMEM)\\x00'$"),
    Known("strict-domid", "cx parses domids like atoi/strtoul ('abc' and '' "
          "are 0, '-1' is 4294967295, '0x10' is 0, '+5' and ' 5' are 5, "
          "65536 and 99999999999 are accepted); ours accepts only decimal "
          "0..65535 and answers EINVAL", {"xstored"}, "*",
          ("gdp-*", "introduced-*", "introduce-bad-domid", "owner-domid-*",
           "other-domid-*"),
          a=r"^ERROR b'EINVAL\\x00'$"),
    Known("strict-domid-unchanged", "follows from strict-domid: our daemon "
          "refused the SET_PERMS, so GET_PERMS still shows the permissions "
          "from before it (n0 r0)", {"xstored"}, "perms",
          ("get-owner-domid-*", "get-other-domid-*"), a=r"^GET_PERMS b'n0\\x00r0\\x00'$"),
    Known("strict-offset", "cx reads DIRECTORY_PART's offset with atoi ('x' "
          "and '' are 0, '-1' is past the end); ours answers EINVAL",
          {"xstored"}, "directory_part", ("off-negative", "off-text", "empty-offset"),
          a=r"^ERROR b'EINVAL\\x00'$"),
    # Specification over 4.17, and what waits for the platform layer.
    Known("special-perms-readable", "xenstore.txt lets SET_PERMS set the "
          "permissions of @introduceDomain/@releaseDomain; cx 4.17 cannot "
          "read them back (GET_PERMS answers EINVAL), ours answers them",
          {"xstored"}, "*", ("perms-introduce", "perms-release", "get-introduce",
                             "get-release"),
          a=r"^GET_PERMS b'n0", b=r"^ERROR b'EINVAL\\x00'$"),
    Known("domains-pending", "INTRODUCE, and what needs an introduced domain "
          "(SET_TARGET, RESUME, RELEASE, IS_DOMAIN_INTRODUCED of a guest), "
          "arrive with the platform layer (the guests issue): until then "
          "INTRODUCE is validated and refused with ENOSYS, and no guest "
          "domain exists", {"xstored"}, "*",
          ("introduce", "introduce-again", "introduce-dom0", "is-introduced",
           "set-target", "resume", "release")),
    # ---- oxenstored vs cx (harness validation, see peers/README.md) -------
    Known("ox-initial-tree", "ox creates /@introduceDomain, /@releaseDomain, "
          "/local and sets /tool/xenstored to its binary path", {"ox"},
          "initial_tree"),
    Known("ox-event-order", "ox queues the watch events a request causes on "
          "its own connection after the reply (except for INTRODUCE/RELEASE); "
          "cx queues them before it", {"ox"}, "*", same_without=BEFORE_REPLY),
    Known("ox-release-perms", "ox drops a released domain's permission entries",
          {"ox"}, "introduce_release", ("perms-after-release",)),
    Known("ox-release-event-order", "ox sends @releaseDomain before the RELEASE "
          "reply, cx after it", {"ox"}, "introduce_release", ("release",)),
]


# --------------------------------------------------------------------------
# The DSL
# --------------------------------------------------------------------------
def show(data):
    """bytes as a Python literal; long runs of one repeated byte are
    abbreviated, exactly (b'/a/' + 'x'*300 + b'...')."""
    data = bytes(data)
    out, i = [], 0
    for m in re.finditer(rb"(.)\1{39,}", data, re.S):
        out.append(repr(data[i:m.start()]))
        out.append("%r*%d" % (m.group(1), len(m.group(0))))
        i = m.end()
    if not out:
        return repr(data)
    out.append(repr(data[i:]))
    return "+".join(x for x in out if x != "b''")


class Tx:
    """A transaction handle: the real id on this side and its label."""

    def __init__(self, id_, label):
        self.id, self.label = id_, label


class C:
    """A named connection of a Run."""

    def __init__(self, name, conn=None, why=None):
        self.name, self.conn, self.why = name, conn, why
        self.state = "open" if conn else "NO SOCKET (%s)" % why
        self.pending = False  # a partial message is in flight: no sync
        self.reply_seq = 0    # arrival number of the last reply: events before it are marked


class Step:
    def __init__(self, label, conn, request, result, events):
        self.label, self.conn, self.request = label, conn, request
        self.result, self.events = result, events

    def outcome(self):
        ev = "; ".join("%s: %s" % (k, ", ".join(v)) for k, v in sorted(self.events.items()))
        return self.result + ("  events{" + ev + "}" if ev else "")


class Run:
    """One scenario played on one side; builds its transcript."""

    def __init__(self, side, scenario):
        self.side, self.scenario = side, scenario
        self.root = "%s/%s" % (ROOT, scenario)
        self.steps, self.conns = [], []
        self.txlabels = {}  # (connection name, real id) -> "<tN>"
        self.gens = {}      # (path, gencnt) -> "<gN>"
        self.labels = set()

    # paths -----------------------------------------------------------------
    def p(self, rel=""):
        """Absolute path under the scenario's scratch node, as bytes."""
        return (self.root + ("/" + rel if rel else "")).encode()

    # connections -------------------------------------------------------------
    def conn(self, name=None, ro=False):
        name = name or "c%d" % (len(self.conns) + 1)
        path = self.side.socket_ro if ro else self.side.socket
        try:
            c = C(name, Conn(path, timeout=REPLY_TIMEOUT))
        except OSError as e:
            c = C(name, None, "%s: %s" % (os.path.basename(path), e.strerror or e))
        self.conns.append(c)
        return c

    def close(self, c):
        if c.conn:
            c.conn.close()
        c.state = "closed by test"

    # rendering ---------------------------------------------------------------
    def txl(self, cname, tx_id):
        return self.txlabels.get((cname, tx_id), str(tx_id))

    def render(self, c, m, req_id, tx_id, path=None):
        """A reply as text; transaction ids are per connection in cx, so
        they are mapped per connection."""
        payload = m.payload
        if m.type == xsproto.XS_TRANSACTION_START and payload.rstrip(b"\0").isdigit():
            tid = int(payload.rstrip(b"\0"))
            label = self.txlabels.setdefault((c.name, tid), "<t%d>" % (len(self.txlabels) + 1))
            payload = label.encode() + payload[len(payload.rstrip(b"\0")):]
        elif m.type == xsproto.XS_DIRECTORY_PART and b"\0" in payload:
            gen, rest = payload.split(b"\0", 1)
            key = (path, gen)
            label = self.gens.setdefault(key, "<g%d>" % (len(self.gens) + 1))
            payload = label.encode() + b"\0" + rest
        s = "%s %s" % (type_name(m.type), show(payload))
        if m.req_id != req_id:
            s += " [req_id=%d]" % m.req_id
        if m.tx_id != tx_id:
            s += " [tx_id=%s]" % self.txl(c.name, m.tx_id)
        return s

    def collect(self):
        """Round trip on every open connection; their new events."""
        out = {}
        for c in self.conns:
            if c.state != "open" or c.pending:
                continue
            evs = []
            try:
                c.conn.sync(timeout=REPLY_TIMEOUT)
            except XsClosed:
                c.state = "closed"
                evs.append("CLOSED")
            except XsTimeout:
                c.state = "timeout"
                evs.append("TIMEOUT (no reply to sync)")
            evs[:0] = ["%s%s %s" % (BEFORE_REPLY_MARK if seq < c.reply_seq else "", show(p), show(t))
                       for p, t, seq in c.conn.take_events(with_seq=True)]
            c.reply_seq = 0
            if evs:
                out[c.name] = evs
        return out

    def _label(self, label):
        assert label not in self.labels, "duplicate step label %r" % label
        self.labels.add(label)

    def _record(self, label, c, request, result, record):
        events = self.collect()
        if record:
            self.steps.append(Step(label, c.name, request, result, events))
        return result

    # steps -------------------------------------------------------------------
    def req(self, c, label, type_, payload=b"", tx=0, req_id=None, record=True, path=None):
        """One request; records its rendered reply.  tx: Tx or int."""
        if record:
            self._label(label)
        self.last = None
        tx_id = tx.id if isinstance(tx, Tx) else tx
        t = type_num(type_)
        request = "%s %s %s%s" % (c.name, type_name(t), show(payload),
                                  " tx=%s" % (tx.label if isinstance(tx, Tx) else tx) if tx_id else "")
        if req_id is not None:
            request += " req_id=%d" % req_id
        if c.state != "open":
            return self._record(label, c, request, "NOT SENT: connection " + c.state, record)
        try:
            rid = c.conn.send(t, payload, req_id=req_id, tx_id=tx_id)
            m = c.conn.reply(rid)
            c.reply_seq = m.seq
            result = self.render(c, m, rid, tx_id, path)
            self.last = m
        except XsClosed:
            c.state = "closed"
            result = "CLOSED"
        except XsTimeout:
            c.state = "timeout"
            result = "TIMEOUT"
        return self._record(label, c, request, result, record)

    def raw(self, c, label, data, expect_reply=True, wait=NO_REPLY_WAIT):
        """Send raw bytes.  Records the first message back, CLOSED, or
        NO REPLY (after `wait` s).  expect_reply=False: send only, mark the
        connection pending (a partial message is in flight)."""
        self._label(label)
        request = "%s RAW %s" % (c.name, show(data[:64]) + ("...(%d bytes)" % len(data) if len(data) > 64 else ""))
        if c.state != "open":
            return self._record(label, c, request, "NOT SENT: connection " + c.state, True)
        try:
            c.conn.send_raw(data)
            if not expect_reply:
                c.pending = True
                result = "SENT"
            else:
                c.pending = False
                m = c.conn.recv(timeout=wait)
                result = self.render(c, m, m.req_id, m.tx_id)
        except XsClosed:
            c.state = "closed"
            result = "CLOSED"
        except XsTimeout:
            c.pending = True
            result = "NO REPLY"
            if c.conn.is_closed(0.05):
                c.state = "closed"
                result = "CLOSED"
        return self._record(label, c, request, result, True)

    def replies(self, c, label, n):
        """Read n messages that are due (pipelined requests)."""
        self._label(label)
        out = []
        c.pending = False
        for _ in range(n):
            try:
                m = c.conn.recv()
                out.append(self.render(c, m, m.req_id, m.tx_id))
            except XsClosed:
                c.state = "closed"
                out.append("CLOSED")
                break
            except XsTimeout:
                out.append("TIMEOUT")
                break
        return self._record(label, c, "%s (read %d replies)" % (c.name, n), " | ".join(out), True)

    def note(self, label, text):
        """Record a fact that must be equal on both sides."""
        self._label(label)
        self.steps.append(Step(label, "-", "note", text, {}))

    # shorthands --------------------------------------------------------------
    def read(self, c, label, path, tx=0):
        return self.req(c, label, "READ", strings(path), tx)

    def write(self, c, label, path, value, tx=0, record=True):
        return self.req(c, label, "WRITE", xsproto.b(path) + b"\0" + xsproto.b(value), tx, record=record)

    def mkdir(self, c, label, path, tx=0):
        return self.req(c, label, "MKDIR", strings(path), tx)

    def rm(self, c, label, path, tx=0, record=True):
        return self.req(c, label, "RM", strings(path), tx, record=record)

    def ls(self, c, label, path, tx=0):
        return self.req(c, label, "DIRECTORY", strings(path), tx)

    def dpart(self, c, label, path, offset, tx=0):
        return self.req(c, label, "DIRECTORY_PART", strings(path, offset), tx, path=xsproto.b(path))

    def getp(self, c, label, path, tx=0):
        return self.req(c, label, "GET_PERMS", strings(path), tx)

    def setp(self, c, label, path, *perms, tx=0, record=True):
        return self.req(c, label, "SET_PERMS", strings(path, *perms), tx, record=record)

    def watch(self, c, label, path, token, *rest):
        return self.req(c, label, "WATCH", strings(path, token, *rest))

    def unwatch(self, c, label, path, token):
        return self.req(c, label, "UNWATCH", strings(path, token))

    def tx_start(self, c, label):
        self.req(c, label, "TRANSACTION_START", b"\0")
        m = getattr(self, "last", None)
        if m is not None and m.type == xsproto.XS_TRANSACTION_START:
            tid = int(m.payload.rstrip(b"\0") or 0)
            return Tx(tid, self.txl(c.name, tid))
        return Tx(0, "<failed>")

    def tx_end(self, c, label, tx, commit=True):
        return self.req(c, label, "TRANSACTION_END", b"T\0" if commit else b"F\0", tx)

    def setup(self, c):
        """Fresh scratch node (not recorded)."""
        self.rm(c, "", self.p(), record=False)
        self.req(c, "", "MKDIR", strings(self.p()), record=False)


SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


# --------------------------------------------------------------------------
# Scenarios.  Step labels are unique within a scenario; they name the step
# in FAIL output and in KNOWN_DIFFS.
# --------------------------------------------------------------------------
@scenario
def initial_tree(s):
    """The tree a fresh daemon starts with (first scenario: nothing else
    has written yet, if side A was started by this test)."""
    c = s.conn()
    s.ls(c, "dir-root", "/")
    s.getp(c, "perms-root", "/")
    s.read(c, "read-root", "/")
    s.ls(c, "dir-tool", "/tool")
    s.read(c, "read-tool-xenstored", "/tool/xenstored")
    s.getp(c, "perms-tool-xenstored", "/tool/xenstored")
    s.read(c, "read-local", "/local")
    s.read(c, "read-local-domain-0", "/local/domain/0")
    s.read(c, "read-introduce", "@introduceDomain")
    s.getp(c, "perms-introduce", "@introduceDomain")
    s.getp(c, "perms-release", "@releaseDomain")


@scenario
def read_write(s):
    c = s.conn()
    s.setup(c)
    s.write(c, "write", s.p("a"), "hello")
    s.read(c, "read", s.p("a"))
    s.read(c, "read-missing", s.p("b"))
    s.read(c, "read-missing-parent", s.p("b/c"))
    s.write(c, "overwrite", s.p("a"), "bye")
    s.read(c, "read-overwritten", s.p("a"))
    s.write(c, "write-empty", s.p("a"), "")
    s.read(c, "read-empty", s.p("a"))
    s.write(c, "write-binary", s.p("a"), b"x\0y\xff\n")
    s.read(c, "read-binary", s.p("a"))
    s.write(c, "write-deep", s.p("d/e/f/g"), "deep")
    s.read(c, "read-intermediate", s.p("d/e"))
    s.ls(c, "dir-deep", s.p("d"))
    s.getp(c, "perms-intermediate", s.p("d/e"))
    s.req(c, "write-no-nul", "WRITE", s.p("nonul"))
    s.read(c, "read-no-nul", s.p("nonul"))
    s.req(c, "write-path-nul-only", "WRITE", s.p("pathonly") + b"\0")
    s.read(c, "read-path-nul-only", s.p("pathonly"))
    s.req(c, "write-value-trailing-nul", "WRITE", s.p("tn") + b"\0v\0")
    s.read(c, "read-value-trailing-nul", s.p("tn"))
    s.req(c, "read-extra-arg", "READ", strings(s.p("a"), "extra"))
    s.req(c, "read-path-no-nul", "READ", s.p("a"))
    s.req(c, "read-empty-payload", "READ", b"")
    s.req(c, "write-empty-payload", "WRITE", b"")
    s.req(c, "read-tx-id-0xffffffff", "READ", strings(s.p("a")), tx=0xFFFFFFFF)


@scenario
def write_root(s):
    c = s.conn()
    s.write(c, "write-root", "/", "")
    s.read(c, "read-root", "/")
    s.mkdir(c, "mkdir-root", "/")
    s.setp(c, "setperms-root-same", "/", "n0")
    s.getp(c, "getperms-root", "/")
    s.rm(c, "rm-root", "/")
    s.read(c, "root-still-there", "/tool/xenstored")


@scenario
def mkdir(s):
    c = s.conn()
    s.setup(c)
    s.mkdir(c, "mkdir-new", s.p("m"))
    s.read(c, "read-new", s.p("m"))
    s.write(c, "write", s.p("m"), "keep")
    s.mkdir(c, "mkdir-existing", s.p("m"))
    s.read(c, "value-kept", s.p("m"))
    s.mkdir(c, "mkdir-nested", s.p("x/y/z"))
    s.ls(c, "dir-nested", s.p("x"))
    s.req(c, "mkdir-no-nul", "MKDIR", s.p("nn"))
    s.read(c, "read-no-nul", s.p("nn"))
    s.req(c, "mkdir-empty", "MKDIR", b"\0")


@scenario
def directory(s):
    c = s.conn()
    s.setup(c)
    for name in ("b", "a", "c", "10", "9", "A", "_", "-", "@x"):
        s.write(c, "w-" + name, s.p("d/" + name), name)
    s.ls(c, "order", s.p("d"))
    s.rm(c, "rm-a", s.p("d/a"))
    s.write(c, "w-a-again", s.p("d/a"), "again")
    s.ls(c, "order-after-readd", s.p("d"))
    s.ls(c, "leaf", s.p("d/b"))
    s.ls(c, "missing", s.p("nope"))
    s.ls(c, "missing-parent", s.p("nope/x"))
    s.req(c, "no-nul", "DIRECTORY", s.p("d"))
    s.req(c, "empty", "DIRECTORY", b"")


@scenario
def directory_part(s):
    c = s.conn()
    s.setup(c)
    for name in ("aa", "b", "ccc", "d"):
        s.write(c, "w-" + name, s.p("d/" + name), "")
    d = s.p("d")
    s.dpart(c, "off0", d, 0)
    s.dpart(c, "off0-again", d, 0)
    s.dpart(c, "off3", d, 3)
    s.dpart(c, "off1-mid-name", d, 1)
    s.dpart(c, "off-at-end", d, 12)
    s.dpart(c, "off-past-end", d, 13)
    s.dpart(c, "off-far", d, 100000)
    s.dpart(c, "off-negative", d, -1)
    s.dpart(c, "off-text", d, "x")
    s.req(c, "no-offset", "DIRECTORY_PART", strings(d), path=d)
    s.req(c, "empty-offset", "DIRECTORY_PART", strings(d, ""), path=d)
    s.write(c, "child-value", s.p("d/aa"), "v")
    s.dpart(c, "after-child-value", d, 0)
    s.write(c, "node-value", d, "v")
    s.dpart(c, "after-node-value", d, 0)
    s.write(c, "add-child", s.p("d/e"), "")
    s.dpart(c, "after-add", d, 0)
    s.dpart(c, "after-add-again", d, 0)
    s.rm(c, "rm-child", s.p("d/e"))
    s.dpart(c, "after-rm", d, 0)
    s.setp(c, "set-perms", d, "n0", "r1")
    s.dpart(c, "after-perms", d, 0)
    s.dpart(c, "leaf", s.p("d/b"), 0)
    s.dpart(c, "missing", s.p("nope"), 0)
    t = s.tx_start(c, "tx-start")
    s.dpart(c, "in-tx", d, 0, tx=t)
    s.write(c, "tx-add", s.p("d/f"), "", tx=t)
    s.dpart(c, "in-tx-after-add", d, 0, tx=t)
    s.tx_end(c, "tx-end", t)
    s.dpart(c, "after-commit", d, 0)


@scenario
def directory_part_large(s):
    c = s.conn()
    s.setup(c)
    d = s.p("big")
    for i in range(90):
        s.write(c, "", s.p("big/child-%03d-%s" % (i, "x" * 40)), "", record=False)
    s.ls(c, "dir-big", d)
    s.dpart(c, "part0", d, 0)
    s.dpart(c, "part-4000", d, 4000)
    s.dpart(c, "part-4050", d, 4050)


@scenario
def rm(s):
    c = s.conn()
    s.setup(c)
    s.write(c, "w1", s.p("r/a/b"), "1")
    s.write(c, "w2", s.p("r/a/c"), "2")
    s.write(c, "w3", s.p("r/d"), "3")
    s.rm(c, "rm-leaf", s.p("r/d"))
    s.read(c, "leaf-gone", s.p("r/d"))
    s.rm(c, "rm-subtree", s.p("r/a"))
    s.read(c, "subtree-gone", s.p("r/a/b"))
    s.ls(c, "parent-left", s.p("r"))
    s.rm(c, "rm-missing-parent-exists", s.p("r/zz"))
    s.rm(c, "rm-missing-parent-missing", s.p("r/zz/yy"))
    s.rm(c, "rm-missing-grandparent-missing", s.p("q/zz/yy"))
    s.req(c, "rm-no-nul", "RM", s.p("r"))
    s.req(c, "rm-empty", "RM", b"\0")
    s.req(c, "rm-bad-path", "RM", strings(s.p("r") + b"/"))
    s.rm(c, "rm-special", "@introduceDomain")
    s.rm(c, "rm-tool", "/tool/xenstored/nothere")


@scenario
def perms(s):
    c = s.conn()
    s.setup(c)
    a = s.p("a")
    s.write(c, "write", a, "v")
    s.getp(c, "get-default", a)
    s.setp(c, "set-valid", a, "n0", "r5", "b7", "w9")
    s.getp(c, "get-valid", a)
    s.write(c, "child-created", s.p("a/child"), "c")
    s.getp(c, "child-inherits", s.p("a/child"))
    s.mkdir(c, "mkdir-child", s.p("a/m/n"))
    s.getp(c, "mkdir-inherits", s.p("a/m/n"))

    def try_perms(label, *perms):
        # from the same start every time, so that one difference does not
        # carry over into the following steps
        s.setp(c, "", a, "n0", "r0", record=False)
        s.setp(c, label, a, *perms)
        s.getp(c, "get-" + label, a)

    for label, bad in (("bad-letter", "x5"), ("bad-letter-upper", "R5"),
                       ("domid-hex", "r0x5"), ("domid-negative", "r-1"),
                       ("domid-65536", "r65536"), ("domid-65535", "r65535"),
                       ("domid-32752", "r32752"), ("domid-letter", "rr"),
                       ("domid-empty", "r"), ("domid-trailing", "r5x"),
                       ("domid-space", "r 5"), ("domid-plus", "r+5"),
                       ("domid-huge", "r99999999999"), ("domid-leading-zero", "r007"),
                       ("empty-perm", "")):
        try_perms("owner-" + label, bad)
        try_perms("other-" + label, "n0", bad)
    try_perms("owner-existing-dom", "r0", "w65535")
    try_perms("owner-unknown-dom", "r12")
    try_perms("owner-unknown-dom-with-others", "b12", "r0")
    # an owner that is no domain is refused with no platform too (issue 10,
    # item 9): only dom0 and introduced domains exist
    try_perms("owner-unknown-dom-32000", "n32000")
    try_perms("owner-unknown-dom-32000-with-dom0", "n32000", "b0")
    try_perms("owner-dom0-other-unknown", "n0", "r32000")
    s.req(c, "set-no-perms", "SET_PERMS", strings(a))
    s.req(c, "set-no-nul", "SET_PERMS", a + b"\0n0")
    s.req(c, "set-path-only-no-nul", "SET_PERMS", a)
    s.setp(c, "set-many-6", a, "n0", *("r%d" % i for i in range(1, 6)))
    s.getp(c, "get-many-6", a)
    # (with the peer stubs cx spends ~40 ms per entry naming an unknown
    # domain: keep this list short)
    s.setp(c, "set-many-12", a, "n0", *("r%d" % i for i in range(1, 12)))
    s.getp(c, "get-many-12", a)
    s.setp(c, "set-dup", a, "n0", "r5", "w5")
    s.getp(c, "get-dup", a)
    s.setp(c, "set-owner-dup", a, "b0", "n0")
    s.getp(c, "get-owner-dup", a)
    s.setp(c, "set-missing", s.p("nope"), "n0")
    s.getp(c, "get-missing", s.p("nope"))
    s.req(c, "get-no-nul", "GET_PERMS", a)
    s.req(c, "get-empty", "GET_PERMS", b"")
    s.setp(c, "set-introduce", "@introduceDomain", "n0", "r5")
    s.getp(c, "get-introduce", "@introduceDomain")
    s.setp(c, "set-introduce-back", "@introduceDomain", "n0")
    s.setp(c, "set-special-other", "@other", "n0")
    s.getp(c, "get-special-other", "@other")


@scenario
def watch_basic(s):
    c = s.conn()
    s.setup(c)
    w = s.p("w")
    s.watch(c, "watch", w, "tok")
    s.write(c, "write-watched", w, "1")
    s.write(c, "write-child", s.p("w/x"), "1")
    s.write(c, "write-grandchild", s.p("w/x/y"), "1")
    s.write(c, "write-sibling-prefix", s.p("wx"), "1")
    s.write(c, "write-parent", s.p(), "1")
    s.write(c, "write-same-value", w, "1")
    s.mkdir(c, "mkdir-existing", w)
    s.setp(c, "set-perms", w, "n0")
    s.rm(c, "rm-missing-child", s.p("w/nope"))
    s.read(c, "read-no-event", w)
    s.write(c, "failed-write-no-event", s.p("w") + b"//x", "1")
    s.watch(c, "watch-dup", w, "tok")
    s.watch(c, "watch-other-token", w, "tok2")
    s.write(c, "write-two-watches", w, "2")
    s.unwatch(c, "unwatch", w, "tok")
    s.write(c, "write-after-unwatch", w, "3")
    s.unwatch(c, "unwatch-again", w, "tok")
    s.unwatch(c, "unwatch-wrong-token", w, "nosuch")
    s.unwatch(c, "unwatch-unknown-path", s.p("zz"), "tok2")
    s.watch(c, "watch-missing-node", s.p("nope/deeper"), "t3")
    s.mkdir(c, "create-watched", s.p("nope/deeper/x"))
    s.watch(c, "watch-empty-token", s.p("e"), "")
    s.req(c, "watch-no-token", "WATCH", strings(s.p("e")))
    s.req(c, "watch-no-nul", "WATCH", s.p("e") + b"\0tok")
    s.watch(c, "watch-bad-path", s.p("e") + b"/", "t")
    s.watch(c, "watch-bad-char", s.p("e") + b" x", "t")
    s.watch(c, "watch-token-with-space", s.p("t"), "a b")
    s.watch(c, "watch-root", "/", "root")
    s.write(c, "write-under-root-watch", s.p("r"), "1")
    s.unwatch(c, "unwatch-root", "/", "root")
    s.watch(c, "watch-with-tx-id-ignored", s.p("t2"), "tx", )
    s.req(c, "watch-tx-id", "WATCH", strings(s.p("t3"), "txid"), tx=12345)


@scenario
def watch_depth(s):
    c = s.conn()
    s.setup(c)
    w = s.p("d")
    s.write(c, "init", s.p("d/a/b/c"), "")
    s.watch(c, "depth0", w, "d0", "0")
    s.watch(c, "depth1", w, "d1", "1")
    s.watch(c, "depth2", w, "d2", "2")
    s.write(c, "write-node", w, "x")
    s.write(c, "write-child", s.p("d/a"), "x")
    s.write(c, "write-grandchild", s.p("d/a/b"), "x")
    s.write(c, "write-depth3", s.p("d/a/b/c"), "x")
    s.rm(c, "rm-child", s.p("d/a"))
    s.watch(c, "depth-text", w, "dx", "x")
    s.watch(c, "depth-negative", w, "dn", "-1")
    s.watch(c, "depth-empty", w, "de", "")
    s.watch(c, "depth-huge", w, "dh", "99999999999")
    s.watch(c, "depth-extra-arg", w, "da", "1", "extra")
    s.unwatch(c, "unwatch-depth1", w, "d1")
    s.write(c, "write-after-unwatch", s.p("d/z"), "x")


@scenario
def watch_rm(s):
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    s.write(c1, "init-b", s.p("r/a/b"), "")
    s.write(c1, "init-c", s.p("r/a/c/d"), "")
    s.watch(c1, "watch-parent", s.p("r"), "parent")
    s.watch(c1, "watch-node", s.p("r/a"), "node")
    s.watch(c1, "watch-child", s.p("r/a/b"), "child")
    s.watch(c1, "watch-grandchild", s.p("r/a/c/d"), "grandchild")
    s.watch(c1, "watch-absent-below", s.p("r/a/b/absent"), "absent")
    s.watch(c1, "watch-sibling", s.p("r/s"), "sibling")
    s.rm(c2, "rm-subtree", s.p("r/a"))
    s.rm(c2, "rm-again-missing", s.p("r/a"))
    s.write(c2, "recreate", s.p("r/a/b/absent"), "")
    s.rm(c2, "rm-ancestor", s.p("r"))


@scenario
def watch_conns(s):
    c1, c2, c3 = s.conn(), s.conn(), s.conn()
    s.setup(c1)
    w = s.p("w")
    s.watch(c1, "c1-watch", w, "t")
    s.watch(c3, "c3-watch-same", w, "t")
    s.write(c2, "c2-write", s.p("w/a"), "1")
    s.mkdir(c2, "c2-mkdir", s.p("w/b"))
    s.setp(c2, "c2-setperms", s.p("w/a"), "n0", "r3")
    s.rm(c2, "c2-rm-child", s.p("w/a"))
    s.unwatch(c2, "c2-unwatch-c1s-watch", w, "t")
    s.close(c3)
    s.write(c2, "c2-write-after-c3-closed", s.p("w/c"), "1")
    s.rm(c2, "c2-rm-ancestor", s.p())
    s.mkdir(c2, "c2-recreate", s.p("w"))


@scenario
def watch_special(s):
    c = s.conn()
    s.watch(c, "watch-introduce", "@introduceDomain", "i")
    s.watch(c, "watch-release", "@releaseDomain", "r")
    s.watch(c, "watch-release-depth1", "@releaseDomain", "r1", "1")
    s.watch(c, "watch-release-5", "@releaseDomain/5", "r5")
    s.watch(c, "watch-other-special", "@other", "o")
    s.watch(c, "watch-at-only", "@", "at")
    s.write(c, "write-special", "@introduceDomain", "x")
    s.write(c, "write-special-child", "@foo/bar", "x")
    s.mkdir(c, "mkdir-special", "@foo")
    s.read(c, "read-special", "@releaseDomain")
    s.ls(c, "dir-special", "@releaseDomain")
    s.unwatch(c, "unwatch-introduce", "@introduceDomain", "i")
    s.req(c, "reset", "RESET_WATCHES", b"")


@scenario
def reset_watches(s):
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    s.watch(c1, "watch-a", s.p("a"), "a")
    s.watch(c1, "watch-b", s.p("b"), "b")
    t = s.tx_start(c1, "tx-start")
    s.write(c1, "tx-write", s.p("t"), "1", tx=t)
    s.req(c1, "reset", "RESET_WATCHES", b"")
    s.write(c2, "write-a", s.p("a"), "1")
    s.tx_end(c1, "tx-end-after-reset", t)
    s.read(c1, "tx-write-gone", s.p("t"))
    s.unwatch(c1, "unwatch-after-reset", s.p("a"), "a")
    s.watch(c1, "watch-again", s.p("a"), "a")
    s.req(c1, "reset-with-payload", "RESET_WATCHES", strings("junk"))
    s.write(c2, "write-a-2", s.p("a"), "2")


@scenario
def tx_basic(s):
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    s.write(c1, "init", s.p("x"), "old")
    t = s.tx_start(c1, "start")
    s.read(c1, "tx-read", s.p("x"), tx=t)
    s.write(c1, "tx-write", s.p("x"), "new", tx=t)
    s.write(c1, "tx-write-new", s.p("n/m"), "1", tx=t)
    s.read(c1, "tx-read-own-write", s.p("x"), tx=t)
    s.read(c1, "outside-read-old", s.p("x"))
    s.read(c2, "other-conn-read-old", s.p("x"))
    s.ls(c1, "tx-dir", s.p(), tx=t)
    s.ls(c1, "outside-dir", s.p())
    s.mkdir(c1, "tx-mkdir", s.p("k"), tx=t)
    s.rm(c1, "tx-rm", s.p("n"), tx=t)
    s.ls(c1, "tx-dir-2", s.p(), tx=t)
    s.getp(c1, "tx-getperms", s.p("x"), tx=t)
    s.setp(c1, "tx-setperms", s.p("x"), "n0", "r4", tx=t)
    s.getp(c1, "tx-getperms-2", s.p("x"), tx=t)
    s.getp(c1, "outside-getperms", s.p("x"))
    s.tx_end(c1, "commit", t)
    s.read(c1, "after-commit", s.p("x"))
    s.getp(c1, "after-commit-perms", s.p("x"))
    s.ls(c1, "after-commit-dir", s.p())
    t2 = s.tx_start(c1, "start-2")
    s.write(c1, "tx2-write", s.p("x"), "aborted", tx=t2)
    s.tx_end(c1, "abort", t2, commit=False)
    s.read(c1, "after-abort", s.p("x"))
    t3 = s.tx_start(c1, "start-empty")
    s.tx_end(c1, "commit-empty", t3)
    t4 = s.tx_start(c1, "start-readonly")
    s.read(c1, "tx4-read", s.p("x"), tx=t4)
    s.tx_end(c1, "commit-readonly", t4)
    s.req(c1, "start-no-nul", "TRANSACTION_START", b"")
    s.req(c1, "start-junk", "TRANSACTION_START", strings("junk"))


@scenario
def tx_conflict(s):
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    s.write(c1, "init-a", s.p("a"), "1")
    s.write(c1, "init-b", s.p("b"), "1")
    # read-write conflict
    t = s.tx_start(c1, "t1-start")
    s.read(c1, "t1-read-a", s.p("a"), tx=t)
    s.write(c2, "c2-write-a", s.p("a"), "2")
    s.write(c1, "t1-write-b", s.p("b"), "x", tx=t)
    s.tx_end(c1, "t1-commit", t)
    s.read(c1, "b-unchanged", s.p("b"))
    s.tx_end(c1, "t1-end-again", t)
    # unrelated write: no conflict
    t = s.tx_start(c1, "t2-start")
    s.read(c1, "t2-read-a", s.p("a"), tx=t)
    s.write(c2, "c2-write-other", s.p("other"), "2")
    s.write(c1, "t2-write-b", s.p("b"), "y", tx=t)
    s.tx_end(c1, "t2-commit", t)
    s.read(c1, "b-committed", s.p("b"))
    # write-write conflict
    t = s.tx_start(c1, "t3-start")
    s.write(c1, "t3-write-a", s.p("a"), "t3", tx=t)
    s.write(c2, "c2-write-a-2", s.p("a"), "c2")
    s.tx_end(c1, "t3-commit", t)
    s.read(c1, "a-is-c2", s.p("a"))
    # absent node read, then created by another
    t = s.tx_start(c1, "t4-start")
    s.read(c1, "t4-read-absent", s.p("absent"), tx=t)
    s.write(c2, "c2-create-absent", s.p("absent"), "now")
    s.write(c1, "t4-write-b", s.p("b"), "z", tx=t)
    s.tx_end(c1, "t4-commit", t)
    # directory listing read, then a child added
    t = s.tx_start(c1, "t5-start")
    s.ls(c1, "t5-ls", s.p("dir"), tx=t)
    s.write(c2, "c2-add-child", s.p("dir/new"), "")
    s.write(c1, "t5-write-b", s.p("b"), "w", tx=t)
    s.tx_end(c1, "t5-commit", t)
    # two transactions writing the same node
    t6 = s.tx_start(c1, "t6-start")
    t7 = s.tx_start(c2, "t7-start")
    s.write(c1, "t6-write", s.p("same"), "6", tx=t6)
    s.write(c2, "t7-write", s.p("same"), "7", tx=t7)
    s.tx_end(c1, "t6-commit", t6)
    s.tx_end(c2, "t7-commit", t7)
    s.read(c1, "same-value", s.p("same"))
    # successful directory listing read, then a child added
    t = s.tx_start(c1, "t9-start")
    s.ls(c1, "t9-ls", s.p("dir"), tx=t)
    s.write(c2, "c2-add-child-2", s.p("dir/new2"), "")
    s.write(c1, "t9-write-b", s.p("b"), "v", tx=t)
    s.tx_end(c1, "t9-commit", t)
    # node read, then removed by another
    t = s.tx_start(c1, "t10-start")
    s.read(c1, "t10-read", s.p("dir/new2"), tx=t)
    s.rm(c2, "c2-rm-read-node", s.p("dir/new2"))
    s.write(c1, "t10-write-b", s.p("b"), "u", tx=t)
    s.tx_end(c1, "t10-commit", t)
    # child value changed under a listed directory: no conflict?
    t = s.tx_start(c1, "t11-start")
    s.ls(c1, "t11-ls", s.p("dir"), tx=t)
    s.write(c2, "c2-change-child-value", s.p("dir/new"), "changed")
    s.write(c1, "t11-write-b", s.p("b"), "s", tx=t)
    s.tx_end(c1, "t11-commit", t)
    # abort of a conflicting transaction is fine
    t = s.tx_start(c1, "t8-start")
    s.read(c1, "t8-read-a", s.p("a"), tx=t)
    s.write(c2, "c2-write-a-3", s.p("a"), "3")
    s.tx_end(c1, "t8-abort", t, commit=False)


@scenario
def tx_snapshot(s):
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    s.write(c1, "init", s.p("a"), "1")
    t = s.tx_start(c1, "start")
    s.write(c2, "other-write", s.p("a"), "2")
    s.read(c1, "read-after-other-write", s.p("a"), tx=t)
    s.tx_end(c1, "commit", t)
    t = s.tx_start(c1, "start-2")
    s.read(c1, "read-first", s.p("a"), tx=t)
    s.write(c2, "other-write-2", s.p("a"), "3")
    s.read(c1, "read-again", s.p("a"), tx=t)
    s.tx_end(c1, "commit-2", t)


@scenario
def tx_errors(s):
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    s.read(c1, "read-bad-tx", s.p(), tx=12345)
    s.write(c1, "write-bad-tx", s.p("x"), "1", tx=12345)
    s.req(c1, "end-bad-tx", "TRANSACTION_END", b"T\0", tx=12345)
    s.req(c1, "end-no-tx", "TRANSACTION_END", b"T\0")
    t = s.tx_start(c1, "start")
    s.req(c1, "start-with-tx-id", "TRANSACTION_START", b"\0", tx=t)
    s.req(c1, "start-with-bogus-tx-id", "TRANSACTION_START", b"\0", tx=777)
    s.read(c2, "other-conn-uses-tx", s.p(), tx=t)
    s.req(c1, "end-payload-X", "TRANSACTION_END", b"X\0", tx=t)
    s.req(c1, "end-payload-t-lower", "TRANSACTION_END", b"t\0", tx=t)
    s.req(c1, "end-payload-TT", "TRANSACTION_END", b"TT\0", tx=t)
    s.req(c1, "end-payload-empty", "TRANSACTION_END", b"\0", tx=t)
    s.req(c1, "end-payload-none", "TRANSACTION_END", b"", tx=t)
    s.req(c1, "end-T-no-nul", "TRANSACTION_END", b"T", tx=t)
    s.read(c1, "tx-still-valid", s.p(), tx=t)
    s.req(c1, "end-T-extra", "TRANSACTION_END", b"T\0junk\0", tx=t)
    s.read(c1, "tx-still-valid-2", s.p(), tx=t)
    s.req(c1, "end-F", "TRANSACTION_END", b"F\0", tx=t)
    s.req(c1, "end-again", "TRANSACTION_END", b"F\0", tx=t)
    s.req(c1, "watch-with-tx", "WATCH", strings(s.p(), "w"), tx=t)
    t2 = s.tx_start(c1, "start-2")
    s.req(c1, "watch-in-tx", "WATCH", strings(s.p("q"), "q"), tx=t2)
    s.req(c1, "unwatch-in-tx", "UNWATCH", strings(s.p("q"), "q"), tx=t2)
    s.req(c1, "gdp-in-tx", "GET_DOMAIN_PATH", strings(0), tx=t2)
    s.req(c1, "introduced-in-tx", "IS_DOMAIN_INTRODUCED", strings(0), tx=t2)
    s.req(c1, "reset-in-tx", "RESET_WATCHES", b"", tx=t2)
    s.req(c1, "end-after-reset", "TRANSACTION_END", b"F\0", tx=t2)
    ts = [s.tx_start(c1, "many-%d" % i) for i in range(12)]
    for i, t in enumerate(ts):
        s.tx_end(c1, "many-end-%d" % i, t, commit=False)


@scenario
def tx_events(s):
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    s.write(c1, "init", s.p("w/old"), "")
    s.watch(c1, "watch", s.p("w"), "w")
    t = s.tx_start(c2, "start")
    s.write(c2, "tx-write", s.p("w/a"), "1", tx=t)
    s.mkdir(c2, "tx-mkdir", s.p("w/b/c"), tx=t)
    s.write(c2, "tx-write-again", s.p("w/a"), "2", tx=t)
    s.setp(c2, "tx-setperms", s.p("w/a"), "n0", "r2", tx=t)
    s.rm(c2, "tx-rm", s.p("w/old"), tx=t)
    s.tx_end(c2, "commit", t)
    t = s.tx_start(c2, "start-2")
    s.write(c2, "tx2-write", s.p("w/z"), "1", tx=t)
    s.tx_end(c2, "abort", t, commit=False)
    t = s.tx_start(c2, "start-3")
    s.write(c2, "tx3-write", s.p("w/y"), "1", tx=t)
    s.write(c1, "conflicting-write", s.p("w/y"), "0")
    s.tx_end(c2, "failed-commit", t)
    t = s.tx_start(c2, "start-4")
    s.rm(c2, "tx4-rm-watched", s.p("w"), tx=t)
    s.tx_end(c2, "commit-rm", t)


@scenario
def domain_ops(s):
    c = s.conn()
    for arg in ("0", "1", "7", "65535", "65536", "-1", "abc", "", "0x10", "007"):
        s.req(c, "gdp-%s" % (arg or "empty"), "GET_DOMAIN_PATH", strings(arg))
    s.req(c, "gdp-no-nul", "GET_DOMAIN_PATH", b"3")
    s.req(c, "gdp-no-payload", "GET_DOMAIN_PATH", b"")
    for arg in ("0", "1", "7", "65535", "abc", ""):
        s.req(c, "introduced-%s" % (arg or "empty"), "IS_DOMAIN_INTRODUCED", strings(arg))
    s.req(c, "introduce-empty", "INTRODUCE", b"")
    s.req(c, "introduce-short", "INTRODUCE", strings("9", "0"))
    s.req(c, "introduce-dom0", "INTRODUCE", strings("0", "0", "1"))
    s.req(c, "introduce-bad-domid", "INTRODUCE", strings("x", "0", "1"))
    s.req(c, "release-unknown", "RELEASE", strings("9"))
    s.req(c, "release-dom0", "RELEASE", strings("0"))
    s.req(c, "release-bad", "RELEASE", strings("x"))
    s.req(c, "resume-unknown", "RESUME", strings("9"))
    s.req(c, "resume-dom0", "RESUME", strings("0"))
    s.req(c, "set-target-unknown", "SET_TARGET", strings("9", "8"))
    s.req(c, "set-target-short", "SET_TARGET", strings("9"))


@scenario
def introduce_release(s):
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    s.side.prepare_domain(5, 0, 1)
    s.watch(c2, "watch-introduce", "@introduceDomain", "intro")
    s.watch(c2, "watch-release", "@releaseDomain", "rel")
    s.watch(c1, "c1-watch-release", "@releaseDomain", "c1rel")
    s.watch(c1, "c1-watch-introduce", "@introduceDomain", "c1intro")
    s.req(c1, "is-introduced-before", "IS_DOMAIN_INTRODUCED", strings(5))
    s.req(c1, "introduce", "INTRODUCE", strings(5, 0, 1))
    s.req(c1, "is-introduced", "IS_DOMAIN_INTRODUCED", strings(5))
    s.req(c1, "introduce-again", "INTRODUCE", strings(5, 0, 1))
    s.req(c1, "gdp", "GET_DOMAIN_PATH", strings(5))
    s.write(c1, "write", s.p("p"), "v")
    s.setp(c1, "set-perms", s.p("p"), "n0", "r5", "w7")
    s.req(c1, "get-feature-5", "GET_FEATURE", strings(5))
    s.req(c1, "set-feature-5", "SET_FEATURE", strings(5, 1))
    s.req(c1, "set-target", "SET_TARGET", strings(5, 0))
    s.req(c1, "resume", "RESUME", strings(5))
    s.req(c1, "release", "RELEASE", strings(5))
    s.req(c1, "is-introduced-after", "IS_DOMAIN_INTRODUCED", strings(5))
    s.getp(c1, "perms-after-release", s.p("p"))
    s.req(c1, "release-again", "RELEASE", strings(5))


@scenario
def features(s):
    c = s.conn()
    s.req(c, "get-feature-own", "GET_FEATURE", b"")
    s.req(c, "get-feature-0", "GET_FEATURE", strings(0))
    s.req(c, "get-feature-unknown-dom", "GET_FEATURE", strings(9))
    s.req(c, "set-feature-0", "SET_FEATURE", strings(0, 1))
    s.req(c, "set-feature-unknown-dom", "SET_FEATURE", strings(9, 1))


@scenario
def quota(s):
    c = s.conn()
    s.req(c, "get-quota-list", "GET_QUOTA", b"")
    s.req(c, "get-quota-nodes", "GET_QUOTA", strings("nodes"))
    s.req(c, "get-quota-dom0-nodes", "GET_QUOTA", strings(0, "nodes"))
    s.req(c, "get-quota-unknown", "GET_QUOTA", strings("nosuch"))
    s.req(c, "set-quota-nodes", "SET_QUOTA", strings("nodes", 1000))
    s.req(c, "set-quota-bad-value", "SET_QUOTA", strings("nodes", "x"))
    s.req(c, "set-quota-unknown", "SET_QUOTA", strings("nosuch", 1))


@scenario
def control(s):
    c = s.conn()
    s.req(c, "help", "CONTROL", strings("help"))
    s.req(c, "check", "CONTROL", strings("check"))
    s.req(c, "print", "CONTROL", strings("print", "xsdiff hello"))
    s.req(c, "print-no-arg", "CONTROL", strings("print"))
    s.req(c, "log", "CONTROL", strings("log"))
    s.req(c, "log-bad", "CONTROL", strings("log", "bogus"))
    s.req(c, "quota", "CONTROL", strings("quota"))
    s.req(c, "quota-dom0", "CONTROL", strings("quota", "0"))
    s.req(c, "quota-soft", "CONTROL", strings("quota-soft"))
    s.req(c, "unknown", "CONTROL", strings("nosuch"))
    s.req(c, "empty", "CONTROL", b"")
    s.req(c, "empty-command", "CONTROL", b"\0")
    s.req(c, "help-no-nul", "CONTROL", b"help")


@scenario
def unknown_types(s):
    c = s.conn()
    for t in (15, 16, 20, 27, 28, 100, 0xFFFE, 0xFFFF, 0x10000, 0xFFFFFFFF):
        s.req(c, "type-%d" % t, t, b"")
    s.req(c, "type-20-payload", 20, strings("/x"))
    s.req(c, "watch-event-as-request", "WATCH_EVENT", strings(s.p(), "tok"))
    s.req(c, "error-as-request", "ERROR", strings("EINVAL"))


@scenario
def bad_paths(s):
    c = s.conn()
    s.setup(c)
    base = s.p()
    cases = [("empty", b""), ("double-slash", base + b"//a"), ("slash-slash-only", b"//"),
             ("trailing-slash", base + b"/a/"), ("space", base + b"/a b"),
             ("star", base + b"/a*"), ("dot", base + b"/a.b"), ("dotdot", base + b"/.."),
             ("utf8", base + b"/\xc3\xa4"), ("high-byte", base + b"/\xff"),
             ("tab", base + b"/a\tb"), ("colon", base + b"/a:b"), ("plus", base + b"/a+b"),
             ("tilde", base + b"/a~"), ("backslash", base + b"/a\\b"),
             ("at-inside", base + b"/a@b"), ("at-start-rel", b"@a/b"),
             ("ok-chars", base + b"/aZ09-_@")]
    for label, path in cases:
        s.write(c, "write-" + label, path, "v")
        s.read(c, "read-" + label, path)
    s.ls(c, "dir-after", base)


@scenario
def path_lengths(s):
    """xenstore.txt: absolute paths up to 3072 bytes, relative ones up to
    2048.  cx 4.17 also applies its path-max quota (2048) to the part after
    /local/domain/<id>/, for dom0 too."""
    c = s.conn()
    s.setup(c)
    base = s.p()

    def path_of(total, prefix):
        # prefix + "/" + segments of <=200 chars; exactly `total` bytes
        p = prefix
        while len(p) < total:
            p += b"/" + b"x" * min(total - len(p) - 1, 200)
        assert len(p) == total, (len(p), total)
        return p

    for n in (2048, 2049, 3072, 3073):
        p = path_of(n, base)
        s.write(c, "write-abs-%d" % n, p, "v")
        s.read(c, "read-abs-%d" % n, p)
        s.watch(c, "watch-abs-%d" % n, p, "t%d" % n)
        s.ls(c, "dir-abs-%d" % n, p)
    s.rm(c, "rm-long", base)
    rbase = b"/local/domain/0"
    s.rm(c, "", rbase + b"/xsdiff-rel", record=False)
    for n in (2048, 2049, 3056, 3057):
        full = path_of(len(rbase) + 1 + n, rbase + b"/xsdiff-rel")
        rel = full[len(rbase) + 1:]
        s.write(c, "write-rel-%d" % n, rel, "v")
        s.read(c, "read-abs-of-rel-%d" % n, full)
        s.watch(c, "watch-rel-%d" % n, rel, "r%d" % n)
        s.write(c, "write-local-abs-%d" % n, full, "w")
    s.rm(c, "rm-rel", b"xsdiff-rel")


@scenario
def payload_size(s):
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    p = s.p("big")
    value = b"v" * (4096 - len(p) - 1)
    s.write(c1, "write-4096", p, value)
    s.read(c1, "read-4096", p)
    s.write(c1, "write-4097", p, value + b"w")
    s.read(c2, "other-conn-alive", p)
    s.note("c1-state", s.conns[0].state)
    c3 = s.conn()
    s.raw(c3, "header-len-4097-no-payload",
          xsproto.HDR.pack(xsproto.XS_READ, 1, 0, 4097))
    c4 = s.conn()
    s.raw(c4, "header-len-max", xsproto.HDR.pack(xsproto.XS_READ, 1, 0, 0xFFFFFFFF))
    c5 = s.conn()
    s.raw(c5, "header-len-4096-partial",
          xsproto.HDR.pack(xsproto.XS_READ, 9, 0, 4096) + b"/a\0")
    s.read(c2, "still-alive", p)


@scenario
def relative_paths(s):
    c = s.conn()
    s.rm(c, "", "/local/domain/0/xsdiff-rel", record=False)
    s.write(c, "write-rel", "xsdiff-rel/a", "v")
    s.read(c, "read-rel", "xsdiff-rel/a")
    s.read(c, "read-abs", "/local/domain/0/xsdiff-rel/a")
    s.ls(c, "dir-rel", "xsdiff-rel")
    s.getp(c, "perms-rel", "xsdiff-rel/a")
    s.watch(c, "watch-rel", "xsdiff-rel", "rel")
    s.write(c, "write-abs-watched", "/local/domain/0/xsdiff-rel/b", "v")
    s.watch(c, "watch-abs", "/local/domain/0/xsdiff-rel", "abs")
    s.write(c, "write-rel-two-watches", "xsdiff-rel/c", "v")
    s.rm(c, "rm-rel-child", "xsdiff-rel/c")
    s.mkdir(c, "mkdir-rel", "xsdiff-rel/m")
    t = s.tx_start(c, "tx-start")
    s.write(c, "tx-write-rel", "xsdiff-rel/t", "1", tx=t)
    s.tx_end(c, "tx-commit", t)
    s.unwatch(c, "unwatch-rel-by-abs", "/local/domain/0/xsdiff-rel", "rel")
    s.unwatch(c, "unwatch-rel", "xsdiff-rel", "rel")
    s.read(c, "read-dot", ".")
    s.read(c, "read-rel-trailing", "xsdiff-rel/")
    s.rm(c, "rm-rel", "xsdiff-rel")
    s.read(c, "gone", "/local/domain/0/xsdiff-rel")


@scenario
def pipelining(s):
    c = s.conn()
    s.setup(c)
    msgs = b""
    for rid, (t, payload) in ((7, (xsproto.XS_WRITE, s.p("a") + b"\0one")),
                              (0, (xsproto.XS_READ, strings(s.p("a")))),
                              (0xFFFFFFFF, (xsproto.XS_READ, strings(s.p("nope")))),
                              (7, (xsproto.XS_DIRECTORY, strings(s.p()))),
                              (3, (99, b"")),
                              (2, (xsproto.XS_RM, strings(s.p("a"))))):
        msgs += xsproto.HDR.pack(t, rid, 0, len(payload)) + payload
    s.raw(c, "send-6", msgs, expect_reply=False)
    s.replies(c, "replies-6", 6)
    hdr = xsproto.HDR.pack(xsproto.XS_WRITE, 11, 0, len(s.p("b")) + 2)
    s.raw(c, "header-in-two-parts-1", hdr[:5], expect_reply=False)
    time.sleep(0.05)
    s.raw(c, "header-in-two-parts-2", hdr[5:] + s.p("b"), expect_reply=False)
    time.sleep(0.05)
    s.raw(c, "payload-rest", b"\0x")
    s.read(c, "read-b", s.p("b"))


@scenario
def socket_ro(s):
    ro = s.conn("ro", ro=True)
    rw = s.conn("rw")
    s.setup(rw)
    s.write(rw, "rw-write", s.p("a"), "v")
    s.read(ro, "ro-read", s.p("a"))
    s.write(ro, "ro-write", s.p("a"), "x")
    s.mkdir(ro, "ro-mkdir", s.p("m"))
    s.rm(ro, "ro-rm", s.p("a"))
    s.setp(ro, "ro-setperms", s.p("a"), "n0")
    s.getp(ro, "ro-getperms", s.p("a"))
    s.ls(ro, "ro-dir", s.p())
    s.watch(ro, "ro-watch", s.p("a"), "ro")
    s.write(rw, "rw-write-watched", s.p("a"), "w")
    t = s.tx_start(ro, "ro-tx-start")
    s.tx_end(ro, "ro-tx-end", t)
    s.req(ro, "ro-introduce", "INTRODUCE", strings(9, 0, 1))
    s.req(ro, "ro-control", "CONTROL", strings("check"))
    s.read(rw, "rw-read", s.p("a"))


@scenario
def watch_same_event(s):
    """An event identical to one still queued for the connection (same
    path, same token) is not queued again (issue 10, item 8): cx sends one
    event for one change that two watches with one token match, and one
    per (path, token) to a reader that fell behind, whatever the number
    of changes."""
    c1, c2 = s.conn(), s.conn()
    s.setup(c1)
    s.watch(c1, "watch-a", s.p("a"), "tok")
    s.watch(c1, "watch-a-b", s.p("a/b"), "tok")
    s.watch(c1, "watch-a-b-other-token", s.p("a/b"), "other")
    s.write(c2, "write-matches-both", s.p("a/b/c"), "1")
    s.write(c1, "own-write-matches-both", s.p("a/b/c"), "2")
    s.mkdir(c2, "mkdir-matches-both", s.p("a/b/d"))
    s.setp(c2, "setperms-matches-both", s.p("a/b/c"), "n0")
    t = s.tx_start(c2, "tx-start")
    s.write(c2, "tx-write-c", s.p("a/b/c"), "3", tx=t)
    s.write(c2, "tx-write-e", s.p("a/b/e"), "3", tx=t)
    s.tx_end(c2, "tx-commit-matches-both", t)
    s.rm(c2, "rm-matches-both", s.p("a/b"))
    s.write(c2, "write-matches-one", s.p("a/x"), "1")
    # A reader that stops reading: once its socket is full the events wait
    # in the daemon, and a node changed again adds nothing.
    f = s.p("f")
    s.write(c2, "f-init", f, "")
    s.watch(c1, "watch-f-long-token", f, "T" * 1800)
    c1.pending = True  # no round trip on c1 until the end
    for i in range(400):
        s.write(c2, "", s.p("f/x%d" % i), "v", record=False)
    s.write(c2, "same-1", s.p("f/same"), "1")
    s.write(c2, "same-2", s.p("f/same"), "2")
    s.write(c2, "other", s.p("f/other"), "1")
    s.write(c2, "same-3", s.p("f/same"), "3")
    c1.pending = False
    try:
        c1.conn.sync(timeout=REPLY_TIMEOUT)
        paths = [p for p, _ in c1.conn.take_events()]
        got = "%d events; %s x%d; %s x%d; last %s" % (
            len(paths), show(s.p("f/same")), paths.count(s.p("f/same")),
            show(s.p("f/other")), paths.count(s.p("f/other")),
            ", ".join(show(p) for p in paths[-3:]))
    except (XsClosed, XsTimeout) as e:
        got = "no round trip: %s" % type(e).__name__
    s.note("events-after-falling-behind", got)


# --------------------------------------------------------------------------
# Sides and the driver
# --------------------------------------------------------------------------
class Side:
    """One server: its sockets, its kind (xstored|cx|ox|socket) and, if we
    started it, the daemon object."""

    def __init__(self, name, kind, socket, socket_ro=None, daemon=None):
        self.name, self.kind, self.daemon = name, kind, daemon
        self.socket = socket
        self.socket_ro = socket_ro or os.path.join(os.path.dirname(socket), "socket_ro")

    def alive(self):
        return self.daemon.alive() if self.daemon else os.path.exists(self.socket)

    def prepare_domain(self, domid, gfn, port):
        """Whatever the platform needs before INTRODUCE of `domid`: the
        peers' stubs need nothing; our daemon's sim needs the domain's
        directory (DESIGN.md's layout) under $XSIM_DIR or DIR/sim."""
        if self.kind != "xstored":
            return
        sim = os.environ.get("XSIM_DIR") or os.path.join(os.path.dirname(self.socket), "sim")
        d = os.path.join(sim, "dom%d" % domid)
        try:
            os.makedirs(os.path.join(d, "page"), exist_ok=True)
            os.makedirs(os.path.join(d, "grant"), exist_ok=True)
            os.makedirs(os.path.join(d, "evtchn"), exist_ok=True)
            with open(os.path.join(d, "state"), "w") as f:
                f.write("running\n")
            with open(os.path.join(d, "start-info"), "w") as f:
                f.write("store_gfn=%d\nstore_evtchn=%d\n" % (gfn, port))
            with open(os.path.join(d, "page", str(gfn)), "wb") as f:
                f.write(b"\0" * 4096)
            with open(os.path.join(d, "grant", "1"), "w") as f:
                f.write("%d 0 rw\n" % gfn)
            fifo = os.path.join(d, "evtchn", str(port))
            if not os.path.exists(fifo):
                os.mkfifo(fifo)
        except OSError:
            pass


def play(fn, side):
    r = Run(side, fn.__name__)
    try:
        fn(r)
    except Exception as e:  # a harness bug or a dead server: show it
        r.steps.append(Step("exception", "-", "scenario code", "EXCEPTION %s: %s"
                            % (type(e).__name__, e), {}))
    for c in r.conns:
        if c.conn:
            c.conn.close()
    return r


def compare(ra, rb, kind, strict, table=None):
    """(unexplained diffs, known names used) between two runs; `table` is
    the list of known differences (KNOWN_DIFFS by default)."""
    table = KNOWN_DIFFS if table is None else table
    bad, known = [], []
    la = {st.label: st for st in ra.steps}
    lb = {st.label: st for st in rb.steps}
    order = [st.label for st in rb.steps] + [st.label for st in ra.steps if st.label not in lb]
    for label in order:
        sa, sb = la.get(label), lb.get(label)
        oa = sa.outcome() if sa else "(step missing)"
        ob = sb.outcome() if sb else "(step missing)"
        if oa == ob:
            continue
        k = None if strict else next(
            (k for k in table if k.matches(kind, ra.scenario, label, oa, ob)), None)
        if k:
            if k.name not in known:
                known.append(k.name)
        else:
            bad.append((label, (sa or sb).request, oa, ob))
    return bad, known


def print_transcript(r, prefix="    "):
    for st in r.steps:
        print("%s[%s] %s\n%s    -> %s" % (prefix, st.label, st.request, prefix, st.outcome()))


def restart_if_dead(side, scenario):
    if side.daemon is None or side.daemon.alive():
        return None
    why = "%s died during %s" % (side.name, scenario)
    if isinstance(side.daemon, XstoredDaemon):
        why += " (exit %s); log: %s" % (side.daemon.proc.returncode, side.daemon.tail())
    try:
        side.daemon.start()
    except DaemonError as e:
        why += "; restart failed: %s" % e
    return why


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a-socket", help="side A: a running server's socket")
    ap.add_argument("--a-kind", default="xstored", help="side A's kind for KNOWN_DIFFS (with --a-socket)")
    ap.add_argument("--a-peer", choices=("cx", "ox"), help="side A: a peer daemon (harness validation)")
    ap.add_argument("--b-socket", help="side B: a running server's socket instead of starting cx")
    ap.add_argument("--record", action="store_true", help="print what side B (cx) answers per scenario")
    ap.add_argument("--scenario", action="append", help="run only these scenarios (fnmatch)")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    ap.add_argument("--known", action="store_true", help="print the table of known differences")
    ap.add_argument("--strict", action="store_true", help="ignore KNOWN_DIFFS")
    ap.add_argument("--verbose", action="store_true", help="print transcripts of failed scenarios")
    args = ap.parse_args()

    todo = [f for f in SCENARIOS if not args.scenario
            or any(fnmatch.fnmatchcase(f.__name__, pat) for pat in args.scenario)]
    if args.list:
        for f in SCENARIOS:
            print(f.__name__)
        return 0
    if args.known:
        for k in KNOWN_DIFFS:
            print("%s [%s; %s: %s]\n    %s" % (k.name, ",".join(sorted(k.kinds)), k.scenario,
                                              ",".join(k.steps), k.why))
        return 0

    counts = {"passed": 0, "failed": 0, "skipped": 0}
    owned = []
    try:
        return run(args, todo, counts, owned)
    finally:
        for d in owned:
            d.cleanup()


def run(args, todo, counts, owned):
    def final(rc=None):
        print("%d passed, %d failed%s" % (counts["passed"], counts["failed"],
              ", %d skipped" % counts["skipped"] if counts["skipped"] else ""))
        return rc if rc is not None else (1 if counts["failed"] else 0)

    def skip_all(why):
        print("SKIP diff_test: %s" % why)
        counts["skipped"] += 1
        return final()

    if not (args.record or args.a_socket or args.a_peer):
        xstored = XstoredDaemon(rundir=None)
        owned.append(xstored)
        if not os.access(xstored.binary, os.X_OK):
            return skip_all("daemon not built: %s (set XSTORED)" % xstored.binary)

    # side B: cx
    if args.b_socket:
        side_b = Side("B", "socket", args.b_socket)
    else:
        cx = PeerDaemon("cx")
        owned.append(cx)
        try:
            cx.start()
        except DaemonError as e:
            return skip_all("cannot start cx: %s" % e)
        side_b = Side("cx", "cx", cx.socket, daemon=cx)

    if args.record:
        for fn in todo:
            r = play(fn, side_b)
            print("== %s" % fn.__name__)
            print_transcript(r, "  ")
        return final(0)

    # side A
    if args.a_socket:
        side_a = Side("A", args.a_kind, args.a_socket)
    elif args.a_peer:
        pd = PeerDaemon(args.a_peer)
        owned.append(pd)
        try:
            pd.start()
        except DaemonError as e:
            return skip_all("cannot start %s: %s" % (args.a_peer, e))
        side_a = Side(args.a_peer, args.a_peer, pd.socket, daemon=pd)
    else:
        xd = xstored
        try:
            xd.start()
        except DaemonError as e:
            if not os.access(xd.binary, os.X_OK):
                return skip_all(str(e))
            print("FAIL diff_test-start: %s" % e)
            counts["failed"] += 1
            return final()
        side_a = Side("xstored", "xstored", xd.socket, daemon=xd)

    for fn in todo:
        ra = play(fn, side_a)
        died = restart_if_dead(side_a, fn.__name__)
        rb = play(fn, side_b)
        restart_if_dead(side_b, fn.__name__)
        bad, known = compare(ra, rb, side_a.kind, args.strict)
        if died:
            bad.insert(0, ("(daemon)", "-", died, "alive"))
        name = "diff/%s" % fn.__name__
        if bad:
            counts["failed"] += 1
            print("FAIL %s: %d unexplained difference(s)" % (name, len(bad)))
            for label, request, oa, ob in bad:
                print("    step %s: %s\n      A (%s): %s\n      B (%s): %s"
                      % (label, request, side_a.name, oa, side_b.name, ob))
            if args.verbose:
                print("  transcript A:")
                print_transcript(ra)
                print("  transcript B:")
                print_transcript(rb)
        else:
            counts["passed"] += 1
            print("PASS %s%s" % (name, " (known differences: %s)" % ", ".join(known) if known else ""))

    # the daemon under test must stop cleanly and without sanitizer reports
    if isinstance(side_a.daemon, XstoredDaemon):
        xd = side_a.daemon
        st = xd.stop()
        errs = sanitizer_errors(xd.log)
        if st == 0 and not errs:
            counts["passed"] += 1
            print("PASS diff/xstored-clean-exit")
        else:
            counts["failed"] += 1
            print("FAIL diff/xstored-clean-exit: exit status %s%s; log: %s"
                  % (st, ", sanitizer: " + errs[0] if errs else "", xd.tail()))
    return final()


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # so that the daemons we started are stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
