#!/usr/bin/env python3
"""test_guests.py: guests on the simulated platform, served by xstored.

The daemon runs with --platform sim:DIR; domains are made by the toolstack
(xsim create: store page, grant, event channel, home nodes, INTRODUCE) and
destroyed by it (xsim destroy).  A guest is
  * tests/support/xsguest.py: Python mapping the ring page file itself
    (proves the layout is usable from outside the project's C code), or
  * xsguest-c (tests/integration/guest.c): libxstore's ring transport, run
    as several processes at once.

Covered: every operation through the ring; relative paths and relative
watches; permissions from an unprivileged guest (read/write per perms,
EACCES vs ENOENT, owner change EPERM, root, other guests' homes, watch
events only for readable nodes); SET_TARGET; special watches
(@introduceDomain/@releaseDomain for dom0, for a guest only when SET_PERMS
allows, depth 1, @releaseDomain/<domid>); domain death cleanup and domid
reuse; shutdown; ring reconnection; a corrupted ring index (error 2); an
oversized packet (error 3); several guest processes at once; and a clean
daemon exit without sanitizer reports.

Env: XSTORED (build/asan/xstored), XSIM and XSGUEST_C (default: next to
XSTORED).  Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import os
import re
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsguest  # noqa: E402
import xsproto  # noqa: E402
from simenv import (Runner, SimEnv, Skip, eq, err, events_of, expect_err,  # noqa: E402
                    require_binaries, wait_until)
from xsproto import XsTimeout, strings  # noqa: E402

HDR = struct.Struct("<IIII")


def home(d, rel=""):
    return "/local/domain/%d%s" % (d, "/" + rel if rel else "")


# --------------------------------------------------------------------------
# Every operation through the ring
# --------------------------------------------------------------------------
def t_ops(env):
    D = 11
    g = env.domain(D)
    eq(g.get_domain_path(D), home(D), "GET_DOMAIN_PATH")
    eq(g.get_domain_path(0), "/local/domain/0", "GET_DOMAIN_PATH 0")
    eq(g.read("name"), b"dom%d" % D, "READ name (written by xsim)")
    eq(g.write("data/a", "hello"), b"OK\0", "WRITE")
    eq(g.read("data/a"), b"hello", "READ")
    eq(g.read(home(D, "data/a")), b"hello", "READ absolute")
    g.write("data/bin", b"x\0y\xff\n")
    eq(g.read("data/bin"), b"x\0y\xff\n", "binary value")
    g.write("data/empty", "")
    eq(g.read("data/empty"), b"", "empty value")
    eq(g.mkdir("data/m/n"), b"OK\0", "MKDIR")
    eq(g.read("data/m/n"), b"", "MKDIR'd node")
    g.write("data/m", "keep")
    g.mkdir("data/m")
    eq(g.read("data/m"), b"keep", "MKDIR keeps the value")
    eq(sorted(g.directory("data")), ["a", "bin", "empty", "m"], "DIRECTORY")
    gen, kids, raw = g.directory_part("data", 0)
    eq(sorted(kids), ["a", "bin", "empty", "m"], "DIRECTORY_PART")
    if not raw.endswith(b"\0\0"):
        raise AssertionError("DIRECTORY_PART's last chunk lacks its final nul: %r" % raw)
    eq(g.get_perms("data/a"), ["n%d" % D], "GET_PERMS of a node the guest made")
    eq(g.set_perms("data/a", ["n%d" % D, "r0"]), b"OK\0", "SET_PERMS")
    eq(g.get_perms("data/a"), ["n%d" % D, "r0"], "GET_PERMS after SET_PERMS")
    eq(g.rm("data/m"), b"OK\0", "RM")
    expect_err("ENOENT", g.read, "data/m/n")
    expect_err("ENOENT", g.read, "data/nothing")
    # watches
    eq(g.watch("data", "tok"), b"OK\0", "WATCH")
    eq(events_of(g), [("data", "tok")], "the watch's first event")
    g.write("data/a", "2")
    env.dom0.write(home(D, "data/x"), "from dom0")
    eq(events_of(g), [("data/a", "tok"), ("data/x", "tok")], "events")
    expect_err("EEXIST", g.watch, "data", "tok")
    eq(g.unwatch("data", "tok"), b"OK\0", "UNWATCH")
    expect_err("ENOENT", g.unwatch, "data", "tok")
    g.write("data/a", "3")
    eq(events_of(g), [], "events after UNWATCH")
    g.watch("data", "t2")
    eq(g.reset_watches(), b"OK\0", "RESET_WATCHES")
    g.write("data/a", "4")
    eq(events_of(g), [("data", "t2")], "only the first event before RESET_WATCHES")
    # transactions
    tx = g.tx_start()
    g.write("data/t", "in-tx", tx)
    eq(g.read("data/t", tx), b"in-tx", "read inside the transaction")
    expect_err("ENOENT", g.read, "data/t")
    eq(g.tx_end(tx), b"OK\0", "commit")
    eq(g.read("data/t"), b"in-tx", "committed")
    tx = g.tx_start()
    g.write("data/t", "aborted", tx)
    g.tx_end(tx, commit=False)
    eq(g.read("data/t"), b"in-tx", "aborted")
    tx = g.tx_start()
    g.read("data/t", tx)
    env.dom0.write(home(D, "data/t"), "changed")
    g.write("data/t", "mine", tx)
    expect_err("EAGAIN", g.tx_end, tx)
    expect_err("ENOENT", g.read, "data/t", 77)
    # the domain requests
    feats = int(g.get_feature().rstrip(b"\0"))
    eq(feats & 7, g.features() & 7, "GET_FEATURE vs the page's feature bits")
    for name, payload in (("INTRODUCE", strings(99, 4096, 1)), ("RELEASE", strings(D)),
                          ("RESUME", strings(D)), ("SET_TARGET", strings(D, 0)),
                          ("CONTROL", strings("check")), ("GET_QUOTA", b""),
                          ("SET_QUOTA", strings("nodes", 1)),
                          ("SET_FEATURE", strings(D, 0))):
        m = g.request(name, payload)
        eq((m.name, m.payload), ("ERROR", b"EACCES\0"), name + " from a guest")
    for t in ("WATCH_EVENT", "ERROR", 27, 0xFFFF):
        m = g.request(t, b"x\0")
        eq((m.name, m.payload), ("ERROR", b"ENOSYS\0"), "type %s" % t)
    # big values wrap the 1024-byte rings several times
    for n in (1000, 1500, 2000):
        v = bytes((i * 7 + n) & 0xFF for i in range(n))
        g.write("data/big", v)
        eq(g.read("data/big"), v, "value of %d bytes" % n)
    # pipelining: many requests in one go, replies in order
    data = b"".join(HDR.pack(xsproto.XS_READ, 1000 + i, 0, len(b"data/a\0")) + b"data/a\0"
                    for i in range(40))
    g.send_raw(data)
    ids = [g.recv().req_id for _ in range(40)]
    eq(ids, list(range(1000, 1040)), "req_ids of pipelined replies")
    # indices are free-running: nothing assumes they start at 0
    f = g.fields()
    if f["req_prod"] != f["req_cons"] or f["rsp_prod"] != f["rsp_cons"]:
        raise AssertionError("ring not drained: %r" % f)
    if f["error"] != 0:
        raise AssertionError("error indicator set: %r" % f)


def t_is_introduced_privileged(env):
    """IS_DOMAIN_INTRODUCED is for dom0: a guest asking about any domain
    (itself included) gets EACCES, as from both Xen daemons (see
    diff_guest.py's guest_basic); answering it would let a guest list the
    domains of the host."""
    D = 32
    g = env.domain(D)
    for d in (D, 0, 11, 999):
        m = g.request("IS_DOMAIN_INTRODUCED", strings(d))
        eq((m.name, m.payload), ("ERROR", b"EACCES\0"), "IS_DOMAIN_INTRODUCED %d from a guest" % d)


def t_features(env):
    """The page advertises reconnection, the error indicator and watch
    depth (xenstore-ring.txt bits 0..2) before any data moves."""
    env.create(27, "--no-store")
    gfn, port = env.start_info(27)
    g = env.guest(27)
    eq(g.features(), 0, "features before INTRODUCE")
    env.dom0.introduce(27, gfn, port)
    eq(g.features() & 7, 7, "features after INTRODUCE")
    eq(g.get("connection"), 0, "connection state")
    eq(g.get_domain_path(27), home(27), "first request")
    # requests written before INTRODUCE are served once it comes
    env.create(28, "--no-store")
    gfn, port = env.start_info(28)
    g2 = env.guest(28)
    rid = g2.send(xsproto.XS_GET_DOMAIN_PATH, strings(28))
    env.dom0.introduce(28, gfn, port)
    eq(g2.reply(rid).payload, b"/local/domain/28\0", "request queued before INTRODUCE")


# --------------------------------------------------------------------------
# Relative paths
# --------------------------------------------------------------------------
def t_relative(env):
    D = 12
    g = env.domain(D)
    g.write("data/rel/a", "1")
    eq(env.dom0.read(home(D, "data/rel/a")), b"1", "relative write lands under the home")
    eq(g.read(home(D, "data/rel/a")), b"1", "absolute read of a relative write")
    eq(g.directory("data/rel"), ["a"], "relative DIRECTORY")
    eq(g.get_perms("data/rel/a"), ["n%d" % D], "relative GET_PERMS")
    g.set_perms("data/rel/a", ["n%d" % D, "r0"])
    g.mkdir("data/rel/m")
    eq(env.dom0.exists(home(D, "data/rel/m")), True, "relative MKDIR")
    g.watch("data/rel", "R")
    g.watch(home(D, "data/rel"), "A")
    eq(sorted(events_of(g)), sorted([("data/rel", "R"), (home(D, "data/rel"), "A")]), "first events")
    g.write("data/rel/b", "2")
    eq(events_of(g), [("data/rel/b", "R"), (home(D, "data/rel/b"), "A")],
       "relative watch: relative event; absolute watch: absolute event")
    env.dom0.write(home(D, "data/rel/c"), "3")
    eq(events_of(g), [("data/rel/c", "R"), (home(D, "data/rel/c"), "A")],
       "events of a change made by dom0 through the absolute path")
    g.rm("data/rel/m")
    eq(events_of(g), [("data/rel/m", "R"), (home(D, "data/rel/m"), "A")], "events of RM")
    eq(g.unwatch(home(D, "data/rel"), "R"), b"OK\0", "UNWATCH of a relative watch by its absolute spelling")
    tx = g.tx_start()
    g.write("data/rel/tx", "t", tx)
    eq(g.read("data/rel/tx", tx), b"t", "relative read in a transaction")
    g.tx_end(tx)
    eq(events_of(g), [(home(D, "data/rel/tx"), "A")], "commit event")
    for bad in (".", "data/rel/", "data/rel//a", "./data/rel", "data/rel/../x", ""):
        expect_err("EINVAL", g.read, bad)
    expect_err("EINVAL", g.write, "data/rel/a b", "x")


# --------------------------------------------------------------------------
# Permissions from an unprivileged guest
# --------------------------------------------------------------------------
def t_perms(env):
    A, B = 13, 14
    ga = env.domain(A)
    env.create(B)
    d0 = env.dom0
    d0.write("/perm/none/child", "n")
    d0.set_perms("/perm/none", ["n0"])
    for name, perm in (("r", "r"), ("w", "w"), ("b", "b")):
        d0.write("/perm/" + name, name)
        d0.set_perms("/perm/" + name, ["n0", "%s%d" % (perm, A)])
    d0.write("/perm/own", "o")
    d0.set_perms("/perm/own", ["n%d" % A])
    d0.write("/perm/other", "x")
    d0.set_perms("/perm/other", ["n0", "b%d" % B])
    d0.write("/perm/everyone", "e")
    d0.set_perms("/perm/everyone", ["b0"])  # owner dom0, default: both
    # reading
    expect_err("EACCES", ga.read, "/perm/none")
    expect_err("EACCES", ga.directory, "/perm/none")
    expect_err("EACCES", ga.get_perms, "/perm/none")
    eq(ga.read("/perm/r"), b"r", "READ with r")
    expect_err("EACCES", ga.read, "/perm/w")
    eq(ga.read("/perm/b"), b"b", "READ with b")
    eq(ga.read("/perm/own"), b"o", "READ as owner")
    expect_err("EACCES", ga.read, "/perm/other")
    eq(ga.read("/perm/everyone"), b"e", "READ via the owner's default")
    eq(ga.get_perms("/perm/r"), ["n0", "r%d" % A], "GET_PERMS with r")
    # EACCES vs ENOENT for missing nodes
    expect_err("ENOENT", ga.read, "/perm/r/missing")
    expect_err("EACCES", ga.read, "/perm/none/missing")
    expect_err("EACCES", ga.read, "/perm/none/child")
    # writing
    expect_err("EACCES", ga.write, "/perm/r", "x")
    eq(ga.write("/perm/w", "w2"), b"OK\0", "WRITE with w")
    eq(ga.write("/perm/b", "b2"), b"OK\0", "WRITE with b")
    expect_err("EACCES", ga.write, "/perm/none", "x")
    expect_err("EACCES", ga.write, "/perm/none/new", "x")
    expect_err("EACCES", ga.rm, "/perm/r")
    expect_err("EACCES", ga.mkdir, "/perm/r/sub")
    eq(d0.read("/perm/r"), b"r", "unchanged after refused writes")
    # a node created by the guest belongs to it
    ga.write("/perm/w/new", "n")
    owner = ga.get_perms("/perm/w/new")[0]
    if owner[1:] != str(A):
        raise AssertionError("owner of a node the guest created: %s, want domain %d" % (owner, A))
    # SET_PERMS: only the owner; not giving the node away
    expect_err("EACCES", ga.set_perms, "/perm/b", ["n0", "b%d" % A, "r%d" % B])
    eq(ga.set_perms("/perm/own", ["n%d" % A, "r%d" % B]), b"OK\0", "SET_PERMS as owner")
    expect_err("EPERM", ga.set_perms, "/perm/own", ["n%d" % B])
    expect_err("EPERM", ga.set_perms, "/perm/own", ["n0", "b%d" % A])
    eq(d0.get_perms("/perm/own"), ["n%d" % A, "r%d" % B], "perms after refused owner changes")
    # the root and dom0's nodes
    expect_err("EACCES", ga.write, "/x", "x")
    expect_err("EACCES", ga.mkdir, "/x")
    expect_err("EACCES", ga.set_perms, "/", ["n%d" % A])
    expect_err("EACCES", ga.directory, "/")
    for bad in ("/", "/tool"):
        e = err(ga.rm, bad)
        if e not in ("EACCES", "EINVAL"):
            raise AssertionError("RM %s from a guest: %s" % (bad, e))
    eq(d0.read("/tool/xenstored"), b"", "root intact")
    # another guest's home
    expect_err("EACCES", ga.read, home(B, "name"))
    expect_err("EACCES", ga.write, home(B, "data/x"), "x")
    expect_err("EACCES", ga.directory, home(B))
    # watch events only for nodes the watcher may read (XSA-115)
    ga.watch("/perm", "P")
    eq(events_of(ga), [("/perm", "P")], "first event")
    d0.write("/perm/none/child", "n2")
    d0.write("/perm/other", "x2")
    d0.write("/perm/r", "r2")
    eq(events_of(ga), [("/perm/r", "P")], "events only for readable nodes")
    # losing read access by a permission change still shows that change
    d0.set_perms("/perm/r", ["n0"])
    eq(events_of(ga), [("/perm/r", "P")], "event of the change that hid the node")
    d0.write("/perm/r", "r3")
    eq(events_of(ga), [], "no event once unreadable")


def t_set_target(env):
    T, DM = 15, 16
    gt = env.domain(T)
    gdm = env.domain(DM)
    gt.write("data/x", "t")
    env.dom0.write("/tgt/r", "r")
    env.dom0.set_perms("/tgt/r", ["n0", "r%d" % T])
    env.dom0.write("/tgt/own", "o")
    env.dom0.set_perms("/tgt/own", ["n%d" % T])
    expect_err("EACCES", gdm.read, home(T, "data/x"))
    expect_err("EACCES", gdm.read, "/tgt/r")
    m = gdm.request("SET_TARGET", strings(DM, T))
    eq(m.payload, b"EACCES\0", "SET_TARGET from a guest")
    eq(env.dom0.request("SET_TARGET", strings(DM, 99)).payload, b"ENOENT\0",
       "SET_TARGET to an unknown domain")
    env.dom0.call("SET_TARGET", strings(DM, T))
    eq(gdm.read(home(T, "data/x")), b"t", "the device model reads its target's node")
    eq(gdm.write(home(T, "data/x"), "dm"), b"OK\0", "and writes it")
    eq(gt.read("data/x"), b"dm", "the target sees the write")
    eq(gdm.read("/tgt/r"), b"r", "rights given to the target apply")
    expect_err("EACCES", gdm.write, "/tgt/r", "x")
    eq(gdm.set_perms("/tgt/own", ["n%d" % T, "r0"]), b"OK\0", "SET_PERMS on the target's node")
    expect_err("EPERM", gdm.set_perms, "/tgt/own", ["n%d" % DM])
    # not the other way round
    gdm.write("data/secret", "s")
    expect_err("EACCES", gt.read, home(DM, "data/secret"))
    # nor for a third domain
    expect_err("EACCES", gdm.read, "/tool/xenstored")


# --------------------------------------------------------------------------
# Special watches
# --------------------------------------------------------------------------
def t_special_watches(env):
    G, X, Y = 17, 18, 26
    d0 = env.conn()
    g = env.domain(G)
    d0.watch("@introduceDomain", "I")
    d0.watch("@releaseDomain", "R")
    d0.watch("@releaseDomain", "R1", 1)
    d0.watch("@releaseDomain/%d" % X, "RX")
    d0.watch("@releaseDomain/%d" % Y, "RY")
    eq(len(events_of(d0)), 5, "first events of dom0's special watches")
    eq(g.watch("@introduceDomain", "gI"), b"OK\0", "guest WATCH @introduceDomain")
    eq(g.watch("@releaseDomain", "gR"), b"OK\0", "guest WATCH @releaseDomain")
    eq(sorted(events_of(g)), [("@introduceDomain", "gI"), ("@releaseDomain", "gR")],
       "a guest's special watches fire once at registration")
    env.create(X)
    eq(events_of(d0), [("@introduceDomain", "I")], "dom0 sees @introduceDomain")
    eq(events_of(g), [], "a guest does not, without permission")
    env.destroy(X)
    eq(sorted(events_of(d0)), sorted([("@releaseDomain", "R"), ("@releaseDomain/%d" % X, "R1"),
                                      ("@releaseDomain/%d" % X, "RX")]),
       "dom0: @releaseDomain, depth 1 gives the domid, @releaseDomain/<domid> matches")
    eq(events_of(g), [], "a guest sees no @releaseDomain without permission")
    # SET_PERMS on the special paths lets the guest see them
    env.dom0.set_perms("@introduceDomain", ["n0", "r%d" % G])
    env.dom0.set_perms("@releaseDomain", ["n0", "r%d" % G])
    env.create(X)
    eq(events_of(g), [("@introduceDomain", "gI")], "guest sees @introduceDomain once allowed")
    events_of(d0)
    env.destroy(X)
    eq(events_of(g), [("@releaseDomain", "gR")], "guest sees @releaseDomain once allowed")
    # and not after the permission is taken back
    env.dom0.set_perms("@releaseDomain", ["n0"])
    env.create(X)
    env.destroy(X)
    eq(events_of(g), [("@introduceDomain", "gI")], "@releaseDomain hidden again")
    evs = events_of(d0)
    if ("@releaseDomain/%d" % Y, "RY") in evs:
        raise AssertionError("@releaseDomain/%d fired for domain %d" % (Y, X))
    # a shutdown fires @releaseDomain once, RESUME re-arms it
    env.create(Y)
    events_of(d0)
    env.shutdown(Y)
    seen = []
    wait_until(lambda: seen.extend(events_of(d0, 0.05)) or ("@releaseDomain/%d" % Y, "RY") in seen,
               what="@releaseDomain/%d after shutdown" % Y)
    if ("@releaseDomain", "R") not in seen:
        raise AssertionError("shutdown: no @releaseDomain: %r" % seen)
    eq(env.dom0.is_domain_introduced(Y), True, "a shut-down domain stays introduced")
    env.destroy(Y)
    evs = events_of(d0)
    if ("@releaseDomain/%d" % Y, "RY") not in evs:
        raise AssertionError("no @releaseDomain/%d when the shut-down domain died: %r" % (Y, evs))
    d0.close()


# --------------------------------------------------------------------------
# Domain death and domid reuse
# --------------------------------------------------------------------------
def t_death_and_reuse(env):
    D, O = 19, 20
    d0 = env.dom0
    w0 = env.conn()
    g = env.domain(D)
    go = env.domain(O)
    g.write("data/x", "mine")
    d0.write("/shared/own", "o")
    d0.set_perms("/shared/own", ["n%d" % D])
    d0.write("/shared/own/deep/er", "o2")
    d0.set_perms("/shared/own/deep/er", ["n%d" % D])
    d0.write("/shared/acl", "a")
    d0.set_perms("/shared/acl", ["n0", "r%d" % D, "w%d" % O])
    d0.write("/shared/keep", "k")
    d0.set_perms("/shared/keep", ["n0", "r%d" % O])
    go.write("data/p", "p")
    go.set_perms("data/p", ["n%d" % O, "r%d" % D])
    eq(g.read("/shared/acl"), b"a", "readable before death")
    eq(g.read(home(O, "data/p")), b"p", "readable before death")
    g.watch("/shared", "W")
    tx = g.tx_start()
    g.write("data/intx", "t", tx)
    events_of(g)
    w0.watch("@releaseDomain", "R")
    w0.watch("/shared", "S")
    events_of(w0)
    # what the toolstack set for this domain must not outlive it either
    d0.set_quota(D, "nodes", 50)
    d0.call("SET_TARGET", strings(D, O))
    go.write("data/private", "p")
    eq(g.read(home(O, "data/private")), b"p", "readable through SET_TARGET")
    eq(g.features() & 7, 7, "features")
    env.destroy(D)
    eq(d0.is_domain_introduced(D), False, "released")
    evs = events_of(w0)
    if ("@releaseDomain", "R") not in evs:
        raise AssertionError("no @releaseDomain at death: %r" % evs)
    expect_err("ENOENT", d0.read, home(D))
    expect_err("ENOENT", d0.read, "/shared/own")
    eq(d0.get_perms("/shared/acl"), ["n0", "w%d" % O], "the dead domain's entry stripped")
    eq(d0.get_perms(home(O, "data/p")), ["n%d" % O], "stripped from another guest's node")
    eq(d0.get_perms("/shared/keep"), ["n0", "r%d" % O], "others' entries kept")
    eq(go.read(home(O, "data/p")), b"p", "the other guest is unaffected")
    q = d0.control("quota", str(D)).decode()
    if not re.search(r"^watches\s*:\s*0$", q, re.M) or not re.search(r"^transactions\s*:\s*0$", q, re.M):
        raise AssertionError("the dead domain's watches or transactions remain: %r" % q)
    # the same domid again: it inherits nothing
    g.close()
    g2 = env.domain(D)
    eq(d0.get_quota(D, "nodes"), d0.get_quota("nodes"), "the new domain's node quota is the default")
    expect_err("EACCES", g2.read, home(O, "data/private"))
    expect_err("EACCES", g2.read, "/shared/acl")
    expect_err("EACCES", g2.read, home(O, "data/p"))
    expect_err("ENOENT", g2.read, "data/x")
    eq(d0.exists("/shared/own"), False, "old nodes stay gone")
    d0.write("/shared/acl", "changed")
    eq(events_of(g2), [], "no event from the old domain's watch")
    expect_err("ENOENT", g2.tx_end, tx)
    eq(g2.read("name"), b"dom%d" % D, "the new domain works")
    w0.close()


def t_release_by_dom0(env):
    """XS_RELEASE of a live guest: its connection goes, @releaseDomain
    fires; INTRODUCE again serves the same ring."""
    D = 29
    g = env.domain(D)
    gfn, port = env.start_info(D)
    g.write("data/x", "1")
    w = env.conn()
    w.watch("@releaseDomain", "R")
    events_of(w)
    env.dom0.release(D)
    eq(events_of(w), [("@releaseDomain", "R")], "@releaseDomain on RELEASE")
    eq(env.dom0.is_domain_introduced(D), False, "released")
    rid = g.send(xsproto.XS_READ, strings("data/x"))
    try:
        m = g.reply(rid, timeout=0.5)
        raise AssertionError("a released domain got a reply: %r" % m)
    except XsTimeout:
        pass
    env.dom0.introduce(D, gfn, port)
    g.set("rsp_cons", g.get("rsp_prod"))  # forget what was in flight
    g.buf, g.replies, g.events = b"", [], []
    eq(g.get_domain_path(D), home(D), "served again after INTRODUCE")
    w.close()


# --------------------------------------------------------------------------
# The ring itself
# --------------------------------------------------------------------------
def t_reconnect(env):
    D = 21
    g = env.domain(D)
    if not g.features() & xsguest.FEATURE_RECONNECTION:
        raise AssertionError("reconnection feature not advertised: %#x" % g.features())
    g.write("data/w", "0")
    g.watch("data/w", "W")
    events_of(g)
    tx = g.tx_start()
    g.write("data/w/intx", "1", tx)
    # a request half written when the guest resets
    g.send_raw(HDR.pack(xsproto.XS_READ, 555, 0, 100) + b"data/")
    time.sleep(0.05)
    if not g.reconnect(timeout=5):
        raise AssertionError("connection state not back to 0: %r" % g.fields())
    f = g.fields()
    eq((f["req_prod"] - f["req_cons"]) & 0xFFFFFFFF, 0, "input queue emptied")
    eq((f["rsp_prod"] - f["rsp_cons"]) & 0xFFFFFFFF, 0, "output queue emptied")
    eq(f["error"], 0, "error indicator")
    eq(g.read("data/w"), b"0", "the connection works after reconnection")
    env.dom0.write(home(D, "data/w"), "1")
    eq(events_of(g), [], "watches dropped by reconnection")
    expect_err("ENOENT", g.tx_end, tx)
    expect_err("ENOENT", g.read, "data/w/intx")
    eq(g.watch("data/w", "W"), b"OK\0", "the same watch can be set again")
    eq(events_of(g), [("data/w", "W")], "its first event")
    # twice in a row
    if not g.reconnect(timeout=5):
        raise AssertionError("second reconnection")
    eq(g.get_domain_path(D), home(D), "after the second reconnection")


def bystanders_ok(env, others):
    for o in others:
        eq(o.get_domain_path(o.domid), home(o.domid), "a well-behaved guest still served")
    env.dom0.write("/alive", "1")
    eq(env.dom0.read("/alive"), b"1", "dom0 still served")


def t_bad_req_index(env):
    D, B = 22, 23
    g = env.domain(D)
    b = env.domain(B)
    w = env.conn()
    w.watch("@releaseDomain", "R")
    events_of(w)
    g.write("data/x", "1")
    g.set("req_prod", g.get("req_cons") + 5000)
    g.kick()
    wait_until(lambda: g.error_indicator() == xsguest.ERROR_RINGIDX, what="error indicator 2")
    eq(g.is_closed(0.2), True, "the guest sees its connection closed")
    bystanders_ok(env, [b])
    # XSA-325: a protocol violation is no domain death
    eq(env.dom0.is_domain_introduced(D), True, "still introduced after a protocol violation")
    eq(events_of(w), [], "no @releaseDomain for a protocol violation")
    eq(env.dom0.read(home(D, "data/x")), b"1", "its nodes stay")
    # it may reconnect (xenstore-ring.txt: possible, not guaranteed)
    if g.reconnect(timeout=5):
        eq(g.get_domain_path(D), home(D), "served again after reconnection")
    # and its death is still reported
    env.destroy(D)
    eq(events_of(w), [("@releaseDomain", "R")], "@releaseDomain when it really dies")
    w.close()


def t_bad_rsp_index(env):
    D = 24
    g = env.domain(D)
    g.set("rsp_cons", g.get("rsp_prod") - 3000)  # consumer ahead of producer
    rid = g.send(xsproto.XS_GET_DOMAIN_PATH, strings(D))
    wait_until(lambda: g.error_indicator() == xsguest.ERROR_RINGIDX,
               what="error indicator 2 for a bad output index")
    del rid
    bystanders_ok(env, [])


def t_oversized_packet(env):
    D = 25
    g = env.domain(D)
    b = env.guest(23) if env.dom0.is_domain_introduced(23) else env.domain(30)
    g.send_raw(HDR.pack(xsproto.XS_WRITE, 1, 0, 4097))
    wait_until(lambda: g.error_indicator() == xsguest.ERROR_PROTO, what="error indicator 3")
    bystanders_ok(env, [b])
    eq(env.dom0.is_domain_introduced(D), True, "still introduced")
    # exactly 4096 is fine (another guest)
    g2 = env.domain(31)
    path = b"data/x\0"
    val = b"v" * (4096 - len(path))
    m = g2.request("WRITE", path + val)
    # the node-size quota may refuse it, but the connection must live
    if m.is_error and m.payload not in (b"ENOSPC\0", b"E2BIG\0", b"ENOMEM\0", b"EDQUOT\0"):
        raise AssertionError("WRITE of 4096 payload bytes: %r" % m)
    eq(g2.error_indicator(), 0, "4096 bytes is no violation")
    eq(g2.get_domain_path(31), home(31), "still served")


# --------------------------------------------------------------------------
# Several guest processes at once
# --------------------------------------------------------------------------
def py_worker(simdir, domid, rounds):
    """A guest process in Python (run as `test_guests.py --worker ...`)."""
    g = xsguest.sim_guest(simdir, domid, 10)
    for i in range(rounds):
        g.write("data/py/k%d" % i, "v%d" % i)
    for i in range(rounds):
        if g.read("/local/domain/%d/data/py/k%d" % (domid, i)) != b"v%d" % i:
            raise SystemExit("bad value k%d" % i)
    g.watch("data/py", "T")
    g.write("data/py/w", "1")
    evs = g.drain_events(0.3)
    if (b"data/py/w", b"T") not in evs:
        raise SystemExit("no event: %r" % evs)
    for _ in range(rounds):
        while True:
            tx = g.tx_start()
            try:
                n = int(g.read("data/py/n", tx))
            except xsproto.XsError:
                n = 0
            g.write("data/py/n", str(n + 1), tx)
            try:
                g.tx_end(tx)
                break
            except xsproto.XsError as e:
                if e.err != "EAGAIN":
                    raise
    if int(g.read("data/py/n")) != rounds:
        raise SystemExit("counter")
    try:
        g.read("/tool/xenstored")
        raise SystemExit("dom0 node readable")
    except xsproto.XsError as e:
        if e.err != "EACCES":
            raise
    g.rm("data/py")
    print("ok dom%d" % domid)


def t_parallel_processes(env):
    cbin = os.environ.get("XSGUEST_C") or os.path.join(os.path.dirname(env.xstored), "xsguest-c")
    if not os.access(cbin, os.X_OK):
        raise Skip("C guest not built: %s (make V=asan)" % cbin)
    c_doms, py_doms = list(range(40, 46)), list(range(46, 49))
    for d in c_doms + py_doms:
        env.create(d)
    procs = []
    for i, d in enumerate(c_doms):
        procs.append((d, subprocess.Popen(
            [cbin, "--dir", env.sim, "--domid", str(d), "--rounds", "30",
             "--peer", str(c_doms[(i + 1) % len(c_doms)]), "--hold", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for d in py_doms:
        procs.append((d, subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", env.sim, str(d), "30"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    bad = []
    for d, p in procs:
        try:
            out, _ = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            bad.append("dom%d: timed out: %s" % (d, out.strip()[-300:]))
            continue
        if p.returncode != 0 or "ok dom%d" % d not in out:
            bad.append("dom%d: exit %d: %s" % (d, p.returncode, out.strip()[-300:]))
    if bad:
        raise AssertionError("; ".join(bad))
    for d in c_doms + py_doms:
        if env.dom0.exists(home(d, "data/c")) or env.dom0.exists(home(d, "data/py")):
            raise AssertionError("dom%d: its nodes were not removed" % d)


def t_one_notify(env):
    """A request and its reply cost the guest one event, not one for the
    request space and another for the reply (each is a system call and a
    wakeup of the guest; the ring's notify is sent once per turn)."""
    D = 35
    g = env.domain(D)
    g.write("data/n", "v")
    for what, payload in (("READ", b"data/n\0"), ("WRITE", b"data/n\0w")):
        time.sleep(0.2)
        g.port.drain()
        before = g.get("rsp_prod")
        g.send(what, payload)
        deadline = time.monotonic() + 10
        while g.get("rsp_prod") == before:  # the reply, FIFO untouched
            if time.monotonic() > deadline:
                raise AssertionError("no reply to %s" % what)
            time.sleep(0.001)
        time.sleep(0.2)  # a late second notify would be there by now
        got = b""
        try:
            while True:
                chunk = os.read(g.port.fd, 4096)
                if not chunk:
                    break
                got += chunk
        except BlockingIOError:
            pass
        eq(len(got), 1, "events for one %s and its reply" % what)
        g.reply()  # take the reply off the ring


# --------------------------------------------------------------------------
TESTS = [
    ("ops", t_ops),
    ("is_introduced_privileged", t_is_introduced_privileged),
    ("features", t_features),
    ("relative", t_relative),
    ("perms", t_perms),
    ("set_target", t_set_target),
    ("special_watches", t_special_watches),
    ("death_and_reuse", t_death_and_reuse),
    ("release_by_dom0", t_release_by_dom0),
    ("reconnect", t_reconnect),
    ("bad_req_index", t_bad_req_index),
    ("bad_rsp_index", t_bad_rsp_index),
    ("oversized_packet", t_oversized_packet),
    ("parallel_processes", t_parallel_processes),
    ("one_notify", t_one_notify),
]


def main(argv):
    if len(argv) >= 5 and argv[1] == "--worker":
        py_worker(argv[2], int(argv[3]), int(argv[4]))
        return 0
    only = argv[1:]
    r = Runner("guests/")
    try:
        require_binaries()
    except Skip as e:
        r.skip("all", str(e))
        return r.final()
    env = SimEnv().start()
    try:
        for name, fn in TESTS:
            if only and name not in only:
                continue
            if not env.alive():
                r.skip(name, "daemon died earlier")
                continue
            ok = r.run(name, fn, env)
            if not env.alive():
                r.failed += 1 if ok else 0
                r.passed -= 1 if ok else 0
                print("FAIL guests/%s: the daemon died: %s" % (name, env.daemon.tail(8)))
        r.run("clean_exit", env.check_clean_exit)
    finally:
        env.cleanup(keep=bool(os.environ.get("KEEP")))
    return r.final()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
