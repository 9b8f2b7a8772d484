#!/usr/bin/env python3
"""diff_guest.py: differential test of guest-side behaviour, our daemon
against Xen 4.17's C xenstored ("cx"), each seen from unprivileged guests.

Side A: xstored on the simulated platform (tests/support/simenv.py): a
domain is made with `xsim create --no-store` and introduced by the
scenario's dom0 connection; the guest is tests/support/xsguest.py on the
domain's ring page; a death is `xsim destroy`.
Side B: cx under shared/peers/peer-xenstored in its guest mode: a domain
exists while listed in DIR/domains, its ring is DIR/ring-<D> (zeroed
before each INTRODUCE, as a domain builder gives a fresh page), a guest
kicks the daemon through DIR/evtchn, and a death is the domain leaving
DIR/domains plus VIRQ_DOM_EXC.

Scenarios are written in diff_test.py's DSL (class Run), extended with
domains and guest connections; both transcripts are compared step by step
after the same normalisation.  Intended differences are listed in
KNOWN_GUEST_DIFFS with their reasons (--known prints them); any other
difference is a FAIL.

Usage (root, for the peer):
  tests/integration/diff_guest.py               A = $XSTORED, B = cx
  tests/integration/diff_guest.py --record      print cx's transcripts
  options: --scenario NAME (fnmatch, repeatable), --list, --known,
  --strict, --verbose
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import argparse
import fnmatch
import os
import signal
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
sys.path.insert(0, HERE)
import diff_test as dt  # noqa: E402
import xsguest  # noqa: E402
import xsproto  # noqa: E402
from daemon import DaemonError, PeerDaemon  # noqa: E402
from diff_test import C, Known, Run, Step  # noqa: E402
from simenv import SimEnv, Skip  # noqa: E402
from xsproto import strings  # noqa: E402

dt.REPLY_TIMEOUT = 3.0      # Run's replies and syncs
GUEST_TIMEOUT = 3.0
VIRQ_DOM_EXC_PORT = 65536 + 3
# Every domain of every scenario is made with this ring frame and port on
# both sides (cx takes any values; the sim's domain builder gives these).
GFN, PORT = 4096, 1

# --------------------------------------------------------------------------
# Known, intended differences (kind "xstored" = our daemon as side A)
# --------------------------------------------------------------------------
KNOWN_GUEST_DIFFS = [
    Known("absent-domain-entries-dropped", "a permission entry naming a domain "
          "that does not exist is kept by cx and ignored forever (XS_PERM_IGNORE); "
          "ours drops it when it is set, so GET_PERMS no longer shows it.  Both "
          "refuse it any right, now and for a later domain with that id "
          "(XSA-322 class)", {"xstored"}, "guest_quota", ("perms-after",),
          a=r"^GET_PERMS b'n50\\x00'$"),
    Known("ring-features", "cx 4.17 advertises no ring feature bits (the page's "
          "feature word stays 0); ours advertises reconnection, the error "
          "indicator and watch depth (xenstore-ring.txt bits 0-2), as Xen 4.18+",
          {"xstored"}, "*", ("ring-*",), b=r"features=0\b"),
    Known("guest-feature-ops", "cx 4.17 has no GET_FEATURE/SET_FEATURE/GET_QUOTA/"
          "SET_QUOTA (ENOSYS); ours implements them (xenstore.txt), the SET_ and "
          "per-domain GET_ forms for dom0 only (EACCES for a guest)",
          {"xstored"}, "*", ("*feature*", "*quota*"), b=r"ENOSYS"),
    Known("guest-watch-depth", "cx 4.17 rejects WATCH's depth argument (EINVAL); "
          "ours has the watch-depth feature", {"xstored"}, "*", ("*depth*",),
          b=r"EINVAL"),
    Known("release-domid-watch", "@releaseDomain/<domid> watches (xenstore.txt, with "
          "XENSTORE_SERVER_FEATURE_WATCHDEPTH) are not in cx 4.17: there it is an "
          "ordinary special path that fires only at registration; ours fires it "
          "when that domain is released", {"xstored"}, "guest_special", ("kill*",),
          same_without=r", b'@releaseDomain/[0-9]+' b'g?RD'"),
    Known("dead-perms-stripped", "when a domain dies cx 4.17 keeps its entries in "
          "other nodes' permission lists (it ignores them for a later domain "
          "with the same id by generation counts); ours strips them at death, "
          "so GET_PERMS no longer shows them (DESIGN.md: a reused domid "
          "inherits nothing, visibly)", {"xstored"}, "*", ("perms-after-death*",)),
    Known("released-perms-stripped", "as dead-perms-stripped, for XS_RELEASE: "
          "both daemons remove the nodes the released domain owns, cx keeps its "
          "entries in other nodes' permission lists, ours strips them (after "
          "RELEASE the domid may be reused)", {"xstored"}, "*",
          ("perms-after-release*",)),
    Known("release-event-order", "the @releaseDomain event of a RELEASE reaches the "
          "requesting connection before the reply on ours (as every event a "
          "request causes); cx's order depends on what other connections exist "
          "(CX_NOTES.md section 9: do not rely on it)", {"xstored"}, "guest_release",
          ("release",), same_without=dt.BEFORE_REPLY),
    Known("watch-parent-readable", "cx 4.17 sends a watch event when the changed "
          "node OR ITS PARENT is readable by the watcher (watch_permitted()); ours "
          "only when the node itself was or is readable (xenstore.txt: "
          "applications should not rely on notifications for paths they cannot "
          "read), so a guest does not hear of changes to nodes it cannot read "
          "under a directory it can list", {"xstored"}, "guest_watch_perms",
          ("rm-priv-subtree", "tx0-commit")),
    Known("rm-root-guest", "RM of / is refused with EINVAL for every caller on ours "
          "(the root can never be removed), before any permission check; cx "
          "checks the guest's permission first (EACCES).  Both refuse.",
          {"xstored"}, "guest_perms", ("rm-root",), a=r"EINVAL", b=r"EACCES"),
    Known("set-target-self", "SET_TARGET of a domain to itself is EINVAL on ours "
          "(meaningless); cx accepts it", {"xstored"}, "guest_set_target",
          ("set-target-self",), a=r"EINVAL", b=r"SET_TARGET b'OK"),
    Known("special-perms-guest", "GET_PERMS/SET_PERMS of @introduceDomain from a "
          "guest: ours answers EACCES (only dom0 may set them; reading them needs "
          "read permission), cx 4.17 EINVAL (it cannot read special paths' "
          "permissions at all, see diff_test.py's special-perms-readable)",
          {"xstored"}, "guest_special", ("g-getp-introduce", "g-setp-introduce"),
          a=r"EACCES", b=r"EINVAL"),
    Known("quota-off-by-one", "cx 4.17 lets a domain hold one more transaction or "
          "watch than its quota (it compares the count before adding with '>'): "
          "11 transactions, 129 watches; ours refuses the request that would "
          "exceed the documented limits (transactions 10: ENOSPC, watches 128: "
          "E2BIG)", {"xstored"}, "guest_*", ("b-tx-quota-over", "watch-129-over"),
          a=r"^ERROR b'E(NOSPC|2BIG)"),
    Known("ring-error-indicator", "both daemons stop serving a ring with a bad "
          "index or an oversized packet and write the error indicator (2, 3), "
          "but cx 4.17 does not advertise that feature (bit 1), so the indicator "
          "is not valid for its guest (xenstore-ring.txt) and the guest only sees "
          "its requests time out; ours advertises it, and the guest sees the "
          "connection closed", {"xstored"}, "guest_ring_abuse",
          ("b-ok-after-a-bad", "c-oversized"),
          same_without=r"  events\{ga: (CLOSED|TIMEOUT \(no reply to sync\))\}|CLOSED|NO REPLY"),
    Known("tx-snapshot", "as diff_test.py's tx-snapshot: cx reads a node from the "
          "live store the first time a transaction touches it, ours from the "
          "snapshot taken at TRANSACTION_START", {"xstored"}, "guest_tx",
          ("tx-read-after-other*", "tx-commit-snap*")),
]


# --------------------------------------------------------------------------
# Sides
# --------------------------------------------------------------------------
class SimSide:
    """Our daemon on the simulator."""

    def __init__(self, env):
        self.env = env
        self.name = self.kind = "xstored"
        self.socket = env.socket
        self.socket_ro = os.path.join(os.path.dirname(env.socket), "socket_ro")
        self.daemon = env.daemon
        self.made = set()

    def alive(self):
        return self.env.alive()

    def prepare(self, d):
        if d in self.made:
            self.env.xsim("destroy", d, check=False)
        self.env.xsim("create", d, "--no-store", "--no-mux", "--name", "g%d" % d)
        self.made.add(d)

    def guest(self, d):
        return xsguest.sim_guest(self.env.sim, d, GUEST_TIMEOUT)

    def kill(self, d):
        self.env.xsim("destroy", d)
        self.made.discard(d)

    def shutdown(self, d):
        self.env.xsim("shutdown", d)


class PeerSide:
    """cx in guest mode (shared/peers)."""

    def __init__(self, pd):
        self.pd = pd
        self.name = self.kind = pd.kind
        self.socket = pd.socket
        self.socket_ro = pd.socket_ro
        self.daemon = pd
        self.live = set()
        self._write_domains()

    def alive(self):
        return self.pd.alive()

    def _write_domains(self):
        with open(os.path.join(self.pd.dir, "domains.tmp"), "w") as f:
            f.write(" ".join(str(d) for d in sorted(self.live)) + "\n")
        os.rename(os.path.join(self.pd.dir, "domains.tmp"), os.path.join(self.pd.dir, "domains"))

    def prepare(self, d):
        self.live.add(d)
        self._write_domains()
        ring = os.path.join(self.pd.dir, "ring-%d" % d)
        if os.path.exists(ring):
            with open(ring, "r+b") as f:
                f.write(b"\0" * 4096)

    def guest(self, d):
        return xsguest.peer_guest(self.pd.dir, d, GUEST_TIMEOUT)

    def _virq(self):
        fd = os.open(os.path.join(self.pd.dir, "evtchn"), os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, struct.pack("=I", VIRQ_DOM_EXC_PORT))
        finally:
            os.close(fd)

    def kill(self, d):
        self.live.discard(d)
        self._write_domains()
        self._virq()
        with xsproto.Conn(self.socket, timeout=3) as c:
            deadline = time.monotonic() + 5
            while c.is_domain_introduced(d) and time.monotonic() < deadline:
                time.sleep(0.01)

    def shutdown(self, d):
        raise Skip("the peer stubs report every listed domain as running")


# --------------------------------------------------------------------------
# The DSL, extended
# --------------------------------------------------------------------------
class GRun(Run):
    def __init__(self, side, scenario, base):
        super().__init__(side, scenario)
        self.root = "/gdiff/%s" % scenario
        self.base = base
        self.doms = []

    def dom(self, i):
        return self.base + i

    def home(self, d, rel=""):
        return ("/local/domain/%d%s" % (d, "/" + rel if rel else "")).encode()

    def domain(self, c0, label, d, home=True):
        """Make domain d on the platform, give it a home as xsim would
        (/local/domain/D: n0 rD, .../data: nD; not recorded) and
        INTRODUCE it (recorded)."""
        self.side.prepare(d)
        if d not in self.doms:
            self.doms.append(d)
        if home:
            h = self.home(d)
            self.rm(c0, "", h, record=False)
            self.req(c0, "", "MKDIR", strings(h + b"/data"), record=False)
            self.setp(c0, "", h, "n0", "r%d" % d, record=False)
            self.setp(c0, "", h + b"/data", "n%d" % d, record=False)
        self.req(c0, label, "INTRODUCE", strings(d, GFN, PORT))
        if label:
            self.steps[-1].request = "%s INTRODUCE dom%d" % (c0.name, d)

    def guest(self, name, d):
        try:
            c = C(name, self.side.guest(d))
        except (xsguest.PortError, OSError) as e:
            c = C(name, None, "guest %d: %s" % (d, e))
        self.conns.append(c)
        return c

    def kill(self, label, d):
        """The domain dies (the platform says so)."""
        self._label(label)
        try:
            self.side.kill(d)
            res = "killed dom%d" % d
        except AssertionError as e:
            res = "kill failed: %s" % e
        self._record(label, C("-", None, "platform"), "platform: dom%d dies" % d, res, True)

    def ring(self, c, label, *names):
        """Record fields of a guest's ring page."""
        self._label(label)
        g = c.conn
        res = " ".join("%s=%d" % (n, g.get(n)) for n in names) if g else "NO GUEST"
        self.steps.append(Step(label, c.name, "ring fields", res, {}))

    def raw_ring(self, c, label, data):
        """Put raw bytes into a guest's request ring; record what comes back
        within NO_REPLY_WAIT."""
        return self.raw(c, label, data)


SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


def H(s, d, rel=""):
    return s.home(d, rel)


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------
@scenario
def guest_basic(s):
    """Every request type from a guest over its ring."""
    c0 = s.conn("dom0")
    s.setup(c0)
    D = s.dom(0)
    s.domain(c0, "introduce", D)
    g = s.guest("g", D)
    s.ring(g, "ring-fields", "features", "connection", "error")
    s.req(g, "gdp-self", "GET_DOMAIN_PATH", strings(D))
    s.req(g, "gdp-0", "GET_DOMAIN_PATH", strings(0))
    s.req(g, "introduced-self", "IS_DOMAIN_INTRODUCED", strings(D))
    s.req(g, "introduced-0", "IS_DOMAIN_INTRODUCED", strings(0))
    s.read(g, "read-home", H(s, D))
    s.write(g, "write-home-child", "x", "1")
    s.write(g, "write-rel", "data/a", "v")
    s.read(g, "read-rel", "data/a")
    s.read(g, "read-abs", H(s, D, "data/a"))
    s.getp(g, "perms-new", "data/a")
    s.getp(g, "perms-home", H(s, D))
    s.getp(g, "perms-data", "data")
    s.write(g, "write-deep", "data/d/e/f", "deep")
    s.getp(g, "perms-intermediate", "data/d/e")
    s.mkdir(g, "mkdir", "data/m")
    s.mkdir(g, "mkdir-existing", "data/a")
    s.read(g, "mkdir-kept-value", "data/a")
    s.ls(g, "ls", "data")
    s.dpart(g, "dpart", "data", 0)
    s.setp(g, "setp-own", "data/a", "n%d" % D, "r0")
    s.getp(g, "getp-own", "data/a")
    s.rm(g, "rm", "data/m")
    s.rm(g, "rm-missing", "data/nothing")
    s.rm(g, "rm-missing-parent", "data/no/thing")
    s.read(g, "read-missing", "data/nothing")
    s.write(g, "write-binary", "data/bin", b"x\0y\xff")
    s.read(g, "read-binary", "data/bin")
    s.watch(g, "watch", "data", "tok")
    s.write(c0, "dom0-write-watched", H(s, D, "data/a"), "from-dom0")
    s.write(g, "own-write-watched", "data/a", "own")
    s.watch(g, "watch-dup", "data", "tok")
    s.unwatch(g, "unwatch", "data", "tok")
    s.unwatch(g, "unwatch-again", "data", "tok")
    s.watch(g, "watch2", "data", "t2")
    s.req(g, "reset-watches", "RESET_WATCHES", b"")
    s.write(g, "write-after-reset", "data/a", "r")
    tx = s.tx_start(g, "tx-start")
    s.write(g, "tx-write", "data/t", "in", tx=tx)
    s.read(g, "tx-read", "data/t", tx=tx)
    s.read(g, "tx-read-outside", "data/t")
    s.tx_end(g, "tx-commit", tx)
    s.read(g, "tx-committed", "data/t")
    s.req(g, "tx-end-unknown", "TRANSACTION_END", b"T\0", tx=99)
    for name, payload in (("INTRODUCE", strings(D + 50, GFN, PORT)), ("RELEASE", strings(D)),
                          ("RESUME", strings(D)), ("SET_TARGET", strings(D, 0)),
                          ("CONTROL", strings("help")), ("GET_FEATURE", b""),
                          ("GET_QUOTA", b""), ("SET_QUOTA", strings("nodes", 1)),
                          ("SET_FEATURE", strings(D, 0))):
        s.req(g, "priv-" + name.lower().replace("_", "-"), name, payload)
    s.req(g, "type-watch-event", "WATCH_EVENT", strings("x", "y"))
    s.req(g, "type-error", "ERROR", strings("EINVAL"))
    s.req(g, "type-unknown", 99, b"")
    s.watch(g, "watch-depth", "data", "dtok", "0")
    s.ring(g, "ring-after", "error", "connection")


@scenario
def guest_paths(s):
    """Relative paths, bad paths and length limits, from a guest."""
    c0 = s.conn("dom0")
    s.setup(c0)
    D = s.dom(0)
    s.domain(c0, "introduce", D)
    # (after INTRODUCE: cx ignores entries naming a domain that does not exist)
    s.setp(c0, "", s.p(), "n0", "b%d" % D, record=False)
    g = s.guest("g", D)
    s.write(g, "rel-write", "data/r/a", "1")
    s.ls(g, "rel-ls", "data/r")
    s.watch(g, "rel-watch", "data/r", "R")
    s.watch(g, "abs-watch", H(s, D, "data/r"), "A")
    s.write(g, "rel-write-watched", "data/r/b", "2")
    s.write(c0, "dom0-abs-write-watched", H(s, D, "data/r/c"), "3")
    s.rm(g, "rel-rm-watched", "data/r/b")
    s.unwatch(g, "unwatch-rel-by-abs", H(s, D, "data/r"), "R")
    s.unwatch(g, "unwatch-rel-again", "data/r", "R")
    for label, bad in (("dot", "."), ("trailing-slash", "data/r/"), ("double-slash", "data//r"),
                       ("dotdot", "data/../x"), ("space", "data/a b"), ("empty", ""),
                       ("local-domain-slash", "/local/domain/"), ("local-domain", "/local/domain"),
                       ("local-domain-empty-id", "/local/domain//data"),
                       ("at-rel", "data/@x")):
        s.read(g, "read-" + label, bad)
    # lengths: relative / absolute under the home, and outside it
    base = "data/"
    for n in (2040, 2048, 2049, 3000):
        rel = base + "x" * (n - len(base))
        s.write(g, "len-rel-%d" % n, rel, "v")
        s.read(g, "len-abs-of-rel-%d" % n, H(s, D) + b"/" + rel.encode())
    for n in (2048, 2049, 3072, 3073):
        p = s.p("")
        absp = p + b"/" + b"y" * (n - len(p) - 1)
        s.write(g, "len-abs-%d" % n, absp, "v")
    s.req(g, "len-path-nul-4095", "READ", b"data/" + b"z" * 4090 + b"\0")


@scenario
def guest_perms(s):
    """What a guest may read and write, per the nodes' permissions."""
    c0 = s.conn("dom0")
    s.setup(c0)
    A, B = s.dom(0), s.dom(1)
    s.domain(c0, "introduce-a", A)
    s.domain(c0, "introduce-b", B)
    ga = s.guest("ga", A)
    gb = s.guest("gb", B)
    P = s.p
    s.write(c0, "mk-none", P("none/child"), "n")
    s.setp(c0, "set-none", P("none"), "n0")
    for name in ("r", "w", "b"):
        s.write(c0, "mk-" + name, P(name), name)
        s.setp(c0, "set-" + name, P(name), "n0", "%s%d" % (name, A))
    s.write(c0, "mk-own", P("own"), "o")
    s.setp(c0, "set-own", P("own"), "n%d" % A)
    s.write(c0, "mk-other", P("other"), "x")
    s.setp(c0, "set-other", P("other"), "n0", "b%d" % B)
    s.write(c0, "mk-default-r", P("defr"), "d")
    s.setp(c0, "set-default-r", P("defr"), "r0", "n%d" % B)
    s.write(c0, "mk-deny-a", P("deny"), "d")
    s.setp(c0, "set-deny-a", P("deny"), "b0", "n%d" % A)
    for node in ("none", "r", "w", "b", "own", "other", "defr", "deny"):
        s.read(ga, "read-" + node, P(node))
        s.ls(ga, "ls-" + node, P(node))
        s.getp(ga, "getp-" + node, P(node))
        s.dpart(ga, "dpart-" + node, P(node), 0)
    s.read(ga, "read-missing-under-none", P("none/missing"))
    s.read(ga, "read-child-of-none", P("none/child"))
    s.read(ga, "read-missing-under-r", P("r/missing"))
    s.read(ga, "read-missing-under-w", P("w/missing"))
    s.read(ga, "read-missing-deep-under-none", P("none/a/b/c"))
    s.read(ga, "read-missing-top", "/gdiff-nothing/x")
    s.write(ga, "write-r", P("r"), "x")
    s.write(ga, "write-w", P("w"), "w2")
    s.write(ga, "write-b", P("b"), "b2")
    s.write(ga, "write-none", P("none"), "x")
    s.write(ga, "write-new-under-none", P("none/new"), "x")
    s.write(ga, "write-new-under-r", P("r/new"), "x")
    s.write(ga, "write-new-under-w", P("w/new"), "n")
    s.getp(c0, "perms-new-under-w", P("w/new"))
    s.write(ga, "write-new-deep-under-w", P("w/d1/d2"), "n")
    s.getp(c0, "perms-new-deep-under-w", P("w/d1"))
    s.mkdir(ga, "mkdir-under-b", P("b/m"))
    s.getp(c0, "perms-mkdir-under-b", P("b/m"))
    s.rm(ga, "rm-r", P("r"))
    s.rm(ga, "rm-w-child-own", P("w/new"))
    s.rm(ga, "rm-none-child", P("none/child"))
    s.rm(ga, "rm-missing-under-none", P("none/zz"))
    s.mkdir(ga, "mkdir-r-child", P("r/sub"))
    s.setp(ga, "setp-b-not-owner", P("b"), "n0", "b%d" % A, "r%d" % B)
    s.setp(ga, "setp-own-ok", P("own"), "n%d" % A, "r%d" % B)
    s.getp(c0, "getp-own-after", P("own"))
    s.read(gb, "read-own-by-b", P("own"))
    s.setp(ga, "setp-own-give-away", P("own"), "n%d" % B)
    s.setp(ga, "setp-own-give-dom0", P("own"), "n0", "b%d" % A)
    s.setp(ga, "setp-own-same-owner-other-entries", P("own"), "b%d" % A, "w0")
    s.getp(c0, "getp-own-final", P("own"))
    s.setp(ga, "setp-missing", P("nothere"), "n%d" % A)
    s.write(ga, "write-root", "/", "x")
    s.mkdir(ga, "mkdir-root-child", "/gdiff-guest")
    s.setp(ga, "setp-root", "/", "n%d" % A)
    s.rm(ga, "rm-root", "/")
    s.rm(ga, "rm-tool", "/tool")
    s.ls(ga, "ls-root", "/")
    s.read(ga, "read-tool", "/tool/xenstored")
    s.read(ga, "read-other-home", H(s, B))
    s.read(ga, "read-other-data", H(s, B, "data"))
    s.write(ga, "write-other-data", H(s, B, "data/x"), "x")
    s.write(gb, "b-write-own", "data/x", "x")
    s.setp(gb, "b-share-with-a", "data/x", "n%d" % B, "r%d" % A)
    s.read(ga, "read-shared", H(s, B, "data/x"))
    s.ls(ga, "ls-parent-of-shared", H(s, B, "data"))
    s.setp(ga, "setp-perm-many", "data", "n%d" % A, *("r%d" % i for i in range(1, 8)))
    s.getp(ga, "getp-perm-many", "data")
    s.setp(ga, "setp-perm-unknown-dom", "data", "n%d" % A, "r777")
    s.setp(ga, "setp-owner-unknown", "data", "n777")


@scenario
def guest_watch_perms(s):
    """Watch events reach a guest only for nodes it may read (XSA-115)."""
    c0 = s.conn("dom0")
    s.setup(c0)
    A = s.dom(0)
    s.domain(c0, "introduce", A)
    g = s.guest("g", A)
    P = s.p
    s.write(c0, "mk-pub", P("pub"), "p")
    s.setp(c0, "set-pub", P("pub"), "n0", "r%d" % A)
    s.write(c0, "mk-priv", P("priv/x"), "q")
    s.setp(c0, "set-priv", P("priv"), "n0")
    s.setp(c0, "set-priv-x", P("priv/x"), "n0")
    s.setp(c0, "set-root", P(), "n0", "r%d" % A)
    s.watch(g, "watch-root", P(), "W")
    s.watch(g, "watch-priv", P("priv"), "V")
    s.watch(g, "watch-missing-under-priv", P("priv/none"), "M")
    s.write(c0, "w-pub", P("pub"), "1")
    s.write(c0, "w-priv", P("priv/x"), "1")
    s.write(c0, "w-new-priv-child", P("priv/y"), "1")
    s.setp(c0, "setp-priv-x-open", P("priv/x"), "n0", "r%d" % A)
    s.write(c0, "w-priv-x-open", P("priv/x"), "2")
    s.setp(c0, "setp-priv-x-close", P("priv/x"), "n0")
    s.write(c0, "w-priv-x-closed", P("priv/x"), "3")
    s.setp(c0, "setp-pub-close", P("pub"), "n0")
    s.rm(c0, "rm-priv-subtree", P("priv"))
    s.write(c0, "w-missing-under-priv-recreated", P("priv/none"), "1")
    tx = s.tx_start(c0, "tx0-start")
    s.write(c0, "tx0-w-pub", P("pub"), "t", tx=tx)
    s.write(c0, "tx0-w-new", P("txnew"), "t", tx=tx)
    s.tx_end(c0, "tx0-commit", tx)
    s.watch(g, "watch-home-of-dom0", "/local/domain/0", "H")
    s.write(c0, "w-dom0-home", "/local/domain/0/x", "1")
    s.watch(g, "watch-slash", "/", "S")
    s.write(c0, "w-under-slash", P("pub2"), "1")


@scenario
def guest_set_target(s):
    c0 = s.conn("dom0")
    s.setup(c0)
    T, DM = s.dom(0), s.dom(1)
    s.domain(c0, "introduce-t", T)
    s.domain(c0, "introduce-dm", DM)
    gt = s.guest("gt", T)
    gdm = s.guest("gdm", DM)
    P = s.p
    s.write(gt, "t-write", "data/x", "t")
    s.write(c0, "mk-r", P("r"), "r")
    s.setp(c0, "set-r", P("r"), "n0", "r%d" % T)
    s.write(c0, "mk-own", P("own"), "o")
    s.setp(c0, "set-own", P("own"), "n%d" % T)
    s.read(gdm, "dm-read-before", H(s, T, "data/x"))
    s.req(gdm, "dm-set-target-self", "SET_TARGET", strings(DM, T))
    s.req(c0, "set-target-unknown", "SET_TARGET", strings(DM, 999))
    s.req(c0, "set-target-self", "SET_TARGET", strings(DM, DM))
    s.req(c0, "set-target", "SET_TARGET", strings(DM, T))
    s.read(gdm, "dm-read-target-data", H(s, T, "data/x"))
    s.write(gdm, "dm-write-target-data", H(s, T, "data/x"), "dm")
    s.read(gt, "t-read-after-dm", "data/x")
    s.read(gdm, "dm-read-target-home", H(s, T))
    s.read(gdm, "dm-read-r", P("r"))
    s.write(gdm, "dm-write-r", P("r"), "x")
    s.setp(gdm, "dm-setp-own", P("own"), "n%d" % T, "r0")
    s.setp(gdm, "dm-setp-own-take", P("own"), "n%d" % DM)
    s.write(gdm, "dm-create-under-target", H(s, T, "data/new"), "n")
    s.getp(c0, "perms-dm-created", H(s, T, "data/new"))
    s.write(gdm, "dm-own-data", "data/s", "s")
    s.read(gt, "t-read-dm-data", H(s, DM, "data/s"))
    s.read(gdm, "dm-read-dom0", "/tool/xenstored")
    s.watch(gdm, "dm-watch-target", H(s, T, "data"), "T")
    s.write(gt, "t-write-watched", "data/y", "1")
    s.req(c0, "set-target-again", "SET_TARGET", strings(DM, T))


@scenario
def guest_special(s):
    """Special watches seen by dom0 and by guests."""
    c0 = s.conn("dom0")
    w0 = s.conn("dom0w")
    s.setup(c0)
    G, X = s.dom(0), s.dom(1)
    s.domain(c0, "introduce-g", G)
    g = s.guest("g", G)
    s.watch(w0, "dom0-watch-introduce", "@introduceDomain", "I")
    s.watch(w0, "dom0-watch-release", "@releaseDomain", "R")
    s.watch(w0, "dom0-watch-release-domid", "@releaseDomain/%d" % X, "RD")
    s.watch(g, "g-watch-introduce", "@introduceDomain", "gI")
    s.watch(g, "g-watch-release", "@releaseDomain", "gR")
    s.watch(g, "g-watch-release-domid", "@releaseDomain/%d" % X, "gRD")
    s.getp(g, "g-getp-introduce", "@introduceDomain")
    s.setp(g, "g-setp-introduce", "@introduceDomain", "n%d" % G)
    s.read(g, "g-read-special", "@introduceDomain")
    s.domain(c0, "introduce-x", X)
    s.kill("kill-x", X)
    s.setp(c0, "setp-introduce-for-g", "@introduceDomain", "n0", "r%d" % G)
    s.setp(c0, "setp-release-for-g", "@releaseDomain", "n0", "r%d" % G)
    s.domain(c0, "introduce-x-again", X)
    s.kill("kill-x-again", X)
    s.req(c0, "release-g", "RELEASE", strings(G))
    s.setp(c0, "setp-introduce-back", "@introduceDomain", "n0")
    s.setp(c0, "setp-release-back", "@releaseDomain", "n0")


@scenario
def guest_death(s):
    """A domain dies: its nodes, its permission entries, its watches and
    transactions; then the same domid comes back."""
    c0 = s.conn("dom0")
    w0 = s.conn("dom0w")
    s.setup(c0)
    D, O = s.dom(0), s.dom(1)
    s.domain(c0, "introduce-d", D)
    s.domain(c0, "introduce-o", O)
    g = s.guest("g", D)
    go = s.guest("go", O)
    P = s.p
    s.write(g, "d-write-data", "data/x", "mine")
    s.write(c0, "mk-owned", P("owned/sub"), "o")
    s.setp(c0, "set-owned", P("owned"), "n%d" % D)
    s.setp(c0, "set-owned-sub", P("owned/sub"), "n%d" % D)
    s.write(c0, "mk-owned-deep", P("keep/owned"), "o")
    s.setp(c0, "set-owned-deep", P("keep/owned"), "n%d" % D, "r%d" % O)
    s.write(c0, "mk-acl", P("acl"), "a")
    s.setp(c0, "set-acl", P("acl"), "n0", "r%d" % D, "w%d" % O, "b%d" % D)
    s.write(go, "o-write", "data/p", "p")
    s.setp(go, "o-share", "data/p", "n%d" % O, "r%d" % D)
    s.watch(g, "d-watch", P(), "W")
    tx = s.tx_start(g, "d-tx-start")
    s.write(g, "d-tx-write", "data/intx", "t", tx=tx)
    s.watch(w0, "dom0-watch-release", "@releaseDomain", "R")
    s.watch(w0, "dom0-watch-tree", P(), "T")
    s.rm(c0, "toolstack-rm-home", H(s, D))
    s.kill("kill-d", D)
    s.req(c0, "introduced-after-death", "IS_DOMAIN_INTRODUCED", strings(D))
    s.read(c0, "read-owned-after-death", P("owned"))
    s.read(c0, "read-owned-deep-after-death", P("keep/owned"))
    s.ls(c0, "ls-keep-after-death", P("keep"))
    s.getp(c0, "perms-after-death-acl", P("acl"))
    s.getp(c0, "perms-after-death-o", H(s, O, "data/p"))
    s.write(c0, "dom0-write-after-death", P("acl"), "changed")
    s.domain(c0, "reintroduce-d", D)
    g2 = s.guest("g2", D)
    s.read(g2, "new-d-read-acl", P("acl"))
    s.read(g2, "new-d-read-o", H(s, O, "data/p"))
    s.read(g2, "new-d-read-old-data", "data/x")
    s.read(g2, "new-d-read-owned", P("owned"))
    s.write(g2, "new-d-write-acl", P("acl"), "x")
    s.req(g2, "new-d-tx-end-old", "TRANSACTION_END", b"T\0", tx=tx)
    s.write(c0, "dom0-write-watched-again", P("acl"), "again")


@scenario
def guest_absent_domain_perms(s):
    """Permission entries naming a domain that does not exist (yet, or any
    more) when they are set: do they give a later domain with that id
    access?  (The XSA-322 / XSA-417 class.)"""
    c0 = s.conn("dom0")
    s.setup(c0)
    F, U = s.dom(0), s.dom(1)
    P = s.p
    # F does not exist yet when dom0 names it
    s.write(c0, "mk-future", P("future"), "f")
    s.setp(c0, "set-future", P("future"), "n0", "r%d" % F)
    s.domain(c0, "introduce-f", F)
    g = s.guest("g", F)
    s.read(g, "future-read", P("future"))
    s.write(c0, "mk-future-child", P("future/child"), "c")
    s.read(g, "future-child-read", P("future/child"))
    # U exists on the platform but is never introduced, and dies
    s.side.prepare(U)
    s.write(c0, "mk-unintroduced", P("unintro"), "u")
    s.setp(c0, "set-unintroduced", P("unintro"), "n0", "r%d" % U)
    s.kill("kill-unintroduced", U)
    s.getp(c0, "perms-after-death-unintroduced", P("unintro"))
    s.domain(c0, "introduce-u-new", U)
    gu = s.guest("gu", U)
    s.read(gu, "new-u-read", P("unintro"))


@scenario
def guest_release(s):
    """XS_RELEASE of a live guest by dom0, then INTRODUCE again."""
    c0 = s.conn("dom0")
    s.setup(c0)
    D = s.dom(0)
    s.domain(c0, "introduce", D)
    g = s.guest("g", D)
    P = s.p
    s.write(c0, "mk-acl", P("acl"), "a")
    s.setp(c0, "set-acl", P("acl"), "n0", "r%d" % D)
    s.write(c0, "mk-owned", P("owned"), "o")
    s.setp(c0, "set-owned", P("owned"), "n%d" % D)
    s.write(g, "g-write", "data/x", "1")
    s.watch(c0, "watch-release", "@releaseDomain", "R")
    s.req(c0, "release", "RELEASE", strings(D))
    s.req(c0, "release-again", "RELEASE", strings(D))
    s.req(c0, "introduced", "IS_DOMAIN_INTRODUCED", strings(D))
    s.getp(c0, "perms-after-release-acl", P("acl"))
    s.read(c0, "exists-after-release-owned", P("owned"))
    s.read(c0, "exists-after-release-data", H(s, D, "data/x"))


@scenario
def guest_tx(s):
    """Transactions of two guests."""
    c0 = s.conn("dom0")
    s.setup(c0)
    A, B = s.dom(0), s.dom(1)
    s.domain(c0, "introduce-a", A)
    s.domain(c0, "introduce-b", B)
    s.setp(c0, "", s.p(), "n0", "b%d" % A, "b%d" % B, record=False)
    ga = s.guest("ga", A)
    gb = s.guest("gb", B)
    P = s.p
    s.write(c0, "mk-x", P("x"), "0")
    ta = s.tx_start(ga, "a-tx-start")
    tb = s.tx_start(gb, "b-tx-start")
    s.read(ga, "a-read", P("x"), tx=ta)
    s.read(gb, "b-read", P("x"), tx=tb)
    s.write(ga, "a-write", P("x"), "a", tx=ta)
    s.write(gb, "b-write", P("x"), "b", tx=tb)
    s.tx_end(ga, "a-commit", ta)
    s.tx_end(gb, "b-commit-conflict", tb)
    s.read(c0, "x-final", P("x"))
    s.req(gb, "b-uses-a-tx", "READ", strings(P("x")), tx=ta.id)
    t1 = s.tx_start(ga, "a-tx-snap")
    s.write(c0, "dom0-write-y", P("y"), "1")
    s.read(ga, "tx-read-after-other", P("y"), tx=t1)
    s.tx_end(ga, "tx-commit-snap", t1)
    t2 = s.tx_start(ga, "a-tx-nested-start")
    s.req(ga, "a-tx-start-in-tx", "TRANSACTION_START", b"\0", tx=t2.id)
    s.mkdir(ga, "a-tx-mkdir", P("m/n"), tx=t2)
    s.rm(ga, "a-tx-rm-new", P("m"), tx=t2)
    s.write(ga, "a-tx-create", P("c/d"), "1", tx=t2)
    s.rm(ga, "a-tx-rm-created", P("c"), tx=t2)
    s.tx_end(ga, "a-tx-commit-created-deleted", t2)
    s.read(c0, "c-after", P("c"))
    s.ls(c0, "ls-after", P())
    for i in range(10):
        s.tx_start(gb, "b-many-tx-%d" % i)
    s.tx_start(gb, "b-tx-quota-over")


@scenario
def guest_quota(s):
    """Per-domain limits seen from a guest."""
    c0 = s.conn("dom0")
    s.setup(c0)
    D = s.dom(0)
    s.domain(c0, "introduce", D)
    g = s.guest("g", D)
    for n in (1000, 2000, 2030, 2048, 2049, 3000):
        s.write(g, "node-size-%d" % n, "data/v", b"v" * n)
    s.write(g, "node-size-after", "data/w", "small")
    for i in range(128):
        s.req(g, "", "WATCH", strings("data/w%d" % i, "t"), record=False)
    s.collect()
    s.watch(g, "watch-129-over", "data/w129", "t")
    s.req(g, "reset", "RESET_WATCHES", b"")
    s.setp(g, "perms-5", "data/w", "n%d" % D, "r1", "r2", "r3", "r4")
    s.setp(g, "perms-6-over", "data/w", "n%d" % D, "r1", "r2", "r3", "r4", "r5")
    s.getp(g, "perms-after", "data/w")


@scenario
def guest_reset_watches_tx(s):
    """RESET_WATCHES sent inside a transaction by a guest (XSA-484)."""
    c0 = s.conn("dom0")
    s.setup(c0)
    D = s.dom(0)
    s.domain(c0, "introduce", D)
    g = s.guest("g", D)
    s.watch(g, "watch", "data", "W")
    t = s.tx_start(g, "tx-start")
    s.write(g, "tx-write", "data/t", "1", tx=t)
    s.req(g, "reset-watches-in-tx", "RESET_WATCHES", b"", tx=t.id)
    s.tx_end(g, "tx-end-after-reset", t)
    s.write(c0, "dom0-write", H(s, D, "data/x"), "1")
    s.read(g, "still-served", "data/t")


@scenario
def guest_ring_abuse(s):
    """A corrupted index and an oversized packet; the others carry on."""
    c0 = s.conn("dom0")
    s.setup(c0)
    A, B, C2 = s.dom(0), s.dom(1), s.dom(2)
    s.domain(c0, "introduce-a", A)
    s.domain(c0, "introduce-b", B)
    s.domain(c0, "introduce-c", C2)
    ga = s.guest("ga", A)
    gb = s.guest("gb", B)
    gc = s.guest("gc", C2)
    s.ring(ga, "ring-a-start", "features", "error")
    s.req(ga, "a-ok", "GET_DOMAIN_PATH", strings(A))
    if ga.conn:
        ga.conn.set("req_prod", ga.conn.get("req_cons") + 5000)
        ga.conn.kick()
        time.sleep(0.2)
    s.ring(ga, "ring-a-after-bad-index", "error")
    s.req(gb, "b-ok-after-a-bad", "GET_DOMAIN_PATH", strings(B))
    s.req(c0, "a-introduced-after-bad", "IS_DOMAIN_INTRODUCED", strings(A))
    s.raw(gc, "c-oversized", xsproto.HDR.pack(xsproto.XS_WRITE, 7, 0, 4097))
    s.ring(gc, "ring-c-after-oversized", "error")
    s.req(gb, "b-ok-after-c-oversized", "GET_DOMAIN_PATH", strings(B))
    s.req(c0, "dom0-ok", "GET_DOMAIN_PATH", strings(0))


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
def play(fn, side, base):
    r = GRun(side, fn.__name__, base)
    try:
        fn(r)
    except Skip as e:
        r.skipped = str(e)
    except Exception as e:  # a harness bug or a dead server: show it
        r.steps.append(Step("exception", "-", "scenario code", "EXCEPTION %s: %s"
                            % (type(e).__name__, e), {}))
    for c in r.conns:
        if c.conn:
            c.conn.close()
    for d in r.doms:  # leave no domain behind for the next scenario
        try:
            side.kill(d)
        except Exception:
            pass
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", action="store_true", help="print cx's transcripts")
    ap.add_argument("--scenario", action="append", help="run only these (fnmatch)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--known", action="store_true", help="print the known differences")
    ap.add_argument("--strict", action="store_true", help="ignore the known differences")
    ap.add_argument("--verbose", action="store_true", help="transcripts of failed scenarios")
    args = ap.parse_args()
    todo = [f for f in SCENARIOS if not args.scenario
            or any(fnmatch.fnmatchcase(f.__name__, p) for p in args.scenario)]
    if args.list:
        print("\n".join(f.__name__ for f in SCENARIOS))
        return 0
    if args.known:
        for k in KNOWN_GUEST_DIFFS:
            print("%s [%s: %s]\n    %s" % (k.name, k.scenario, ",".join(k.steps), k.why))
        return 0
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    owned = []
    try:
        return run(args, todo, counts, owned)
    finally:
        for o in owned:
            try:
                o.cleanup()
            except Exception:
                pass


def run(args, todo, counts, owned):
    def final():
        print("%d passed, %d failed%s" % (counts["passed"], counts["failed"],
              ", %d skipped" % counts["skipped"] if counts["skipped"] else ""), flush=True)
        return 1 if counts["failed"] else 0

    def skip_all(why):
        print("SKIP diff_guest: %s" % why)
        counts["skipped"] += 1
        return final()

    env = None
    if not args.record:
        try:
            env = SimEnv()
        except Skip as e:
            return skip_all(str(e))
        owned.append(env)
    cx = PeerDaemon("cx")
    owned.append(cx)
    try:
        cx.start()
    except DaemonError as e:
        return skip_all("cannot start cx: %s" % e)
    side_b = PeerSide(cx)
    bases = {fn.__name__: 10 + 4 * SCENARIOS.index(fn) for fn in SCENARIOS}
    if args.record:
        for fn in todo:
            r = play(fn, side_b, bases[fn.__name__])
            print("== %s" % fn.__name__)
            dt.print_transcript(r, "  ")
        return final()
    try:
        env.start()
    except DaemonError as e:
        print("FAIL diff_guest-start: %s" % e)
        counts["failed"] += 1
        return final()
    side_a = SimSide(env)
    for fn in todo:
        name = "diff_guest/%s" % fn.__name__
        ra = play(fn, side_a, bases[fn.__name__])
        died_a = None if env.alive() else "xstored died: %s" % env.daemon.tail(8)
        if died_a:
            try:
                env.daemon.start()
                side_a = SimSide(env)
            except DaemonError as e:
                died_a += "; restart failed: %s" % e
        rb = play(fn, side_b, bases[fn.__name__])
        died_b = None
        if not cx.alive():
            died_b = "cx died"
            try:
                cx.start()
            except DaemonError:
                pass
            side_b = PeerSide(cx)
        if getattr(rb, "skipped", None) or getattr(ra, "skipped", None):
            counts["skipped"] += 1
            print("SKIP %s: %s" % (name, getattr(rb, "skipped", None) or ra.skipped))
            continue
        bad, known = dt.compare(ra, rb, side_a.kind, args.strict, KNOWN_GUEST_DIFFS)
        if died_a:
            bad.insert(0, ("(daemon)", "-", died_a, "alive"))
        if died_b:
            known.append("cx-died (cx crashed in this scenario; ours did not)")
        if bad:
            counts["failed"] += 1
            print("FAIL %s: %d unexplained difference(s)" % (name, len(bad)))
            for label, request, oa, ob in bad:
                print("    step %s: %s\n      A (%s): %s\n      B (cx): %s"
                      % (label, request, side_a.name, oa, ob))
            if args.verbose:
                print("  transcript A:")
                dt.print_transcript(ra)
                print("  transcript B:")
                dt.print_transcript(rb)
        else:
            counts["passed"] += 1
            print("PASS %s%s" % (name, " (known differences: %s)" % ", ".join(known)
                                 if known else ""), flush=True)
    st, errs = env.finish()
    if st == 0 and not errs:
        counts["passed"] += 1
        print("PASS diff_guest/xstored-clean-exit")
    else:
        counts["failed"] += 1
        print("FAIL diff_guest/xstored-clean-exit: exit status %s%s; log: %s"
              % (st, ", sanitizer: " + errs[0] if errs else "", env.daemon.tail()))
    return final()


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
