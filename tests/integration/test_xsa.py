#!/usr/bin/env python3
"""test_xsa.py: one regression test per class of Xen security advisory that
applies to a XenStore daemon, played by unprivileged guests on the
simulated platform against xstored.

Each test's docstring names the advisory (XSA number and CVE where one
exists; "class" where the test covers a kind of attack with no advisory of
its own).  The advisories (xenbits.xen.org/xsa):
  XSA-115 (CVE-2020-29480) watch notifications lacking permission checks
  XSA-206               xenstore denial of service via repeated update
  XSA-322 (CVE-2020-29481) new domains inheriting existing node permissions
  XSA-323 (CVE-2020-29482) wrong path length check
  XSA-324 (CVE-2020-29484) guests can crash xenstored via watches
                        (watch events longer than the payload limit)
  XSA-325 (CVE-2020-29483) guests can disturb domain cleanup (a protocol
                        violation handled like a domain death)
  XSA-326 (CVE-2022-42311..42318) guests can let run xenstored out of memory
                        (unread replies, watch event floods, nodes and
                        transactions)
  XSA-352 (CVE-2020-29486) node ownership can be changed by unprivileged clients
  XSA-353 (CVE-2020-29479) permissions not checked on root node
  XSA-414 (CVE-2022-42309) crash in the error path of node creation
  XSA-415 (CVE-2022-42310) guests can create orphaned nodes
  XSA-416 (CVE-2022-42319) temporary memory held while replies are unread
  XSA-417 (CVE-2022-42320) access to nodes of deleted domains
  XSA-418 (CVE-2022-42321) stack exhaustion via deep nesting
  XSA-419 (CVE-2022-42322/42323) cooperating guests creating nodes via owner change
  XSA-421 (CVE-2022-42325/42326) nodes created and deleted in one transaction
  XSA-481 (CVE-2026-23555) the node path "/local/domain/"
  XSA-484 (CVE-2026-23557) XS_RESET_WATCHES inside a transaction

After every test the daemon must be alive, its store consistent (CONTROL
check) and dom0 served; at the end it must exit cleanly with no sanitizer
report in its log.

Env: XSTORED (build/asan/xstored), XSIM (next to it).
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import os
import re
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsguest  # noqa: E402
import xsproto  # noqa: E402
from simenv import (Runner, SimEnv, Skip, eq, err, events_of, expect_err,  # noqa: E402
                    require_binaries, wait_until)
from xsproto import XsClosed, XsError, strings  # noqa: E402

HDR = struct.Struct("<IIII")


def home(d, rel=""):
    return "/local/domain/%d%s" % (d, "/" + rel if rel else "")


def nodes_of(env, d):
    """The number of nodes domain d owns (CONTROL quota <domid>)."""
    text = env.dom0.control("quota", str(d)).decode()
    m = re.search(r"^nodes\s*:\s*(\d+)", text, re.M)
    if not m:
        raise AssertionError("CONTROL quota %d: no node count in %r" % (d, text))
    return int(m.group(1))


def healthy(env):
    """The daemon lives, its store is consistent, dom0 is served."""
    if not env.alive():
        raise AssertionError("the daemon died: %s" % env.daemon.tail(8))
    eq(env.dom0.control("check"), b"OK\0", "CONTROL check")
    env.dom0.write("/xsa-alive", "1")
    eq(env.dom0.read("/xsa-alive"), b"1", "dom0 served")


def bystander(env, d):
    g = env.guest(d) if env.dom0.is_domain_introduced(d) else env.domain(d)
    return g


def served(g):
    eq(g.get_domain_path(g.domid), home(g.domid), "dom%d served" % g.domid)


def flood_until_stalled(g, msg, max_msgs=100000, stall=0.5):
    """Write `msg` into the request ring again and again, never reading
    replies, until the daemon stops consuming for `stall` seconds.
    Returns (messages written, messages the daemon consumed)."""
    written, start = 0, g.get("req_cons")
    last, last_t = start, time.monotonic()
    while written < max_msgs:
        cons, prod = g.get("req_cons"), g.get("req_prod")
        if xsguest.RING_SIZE - ((prod - cons) & 0xFFFFFFFF) >= len(msg):
            g.put_bytes(msg, kick=False)
            written += 1
            continue
        g.kick()
        g.port.wait(0.02)
        if cons != last:
            last, last_t = cons, time.monotonic()
        elif time.monotonic() - last_t > stall:
            break
        if g.error_indicator():
            raise AssertionError("error indicator %d during a flood" % g.error_indicator())
    consumed = ((g.get("req_cons") - start) & 0xFFFFFFFF) // len(msg)
    return written, consumed


# --------------------------------------------------------------------------
def t_unread_replies(env):
    """XSA-326 (CVE-2022-42311..42318) and XSA-416 (CVE-2022-42319): a guest
    sends requests and never reads the replies.  The daemon must stop
    taking its requests once the outstanding-replies quota (20) is reached,
    not buffer replies without bound; others are served meanwhile, and the
    guest gets every reply once it reads."""
    D = 60
    g = env.domain(D)
    g.write("data/big", "x" * 1900)
    msg = HDR.pack(xsproto.XS_READ, 7, 0, len(b"data/big\0")) + b"data/big\0"
    written, consumed = flood_until_stalled(g, msg)
    # It answers 20 (the outstanding quota) and may hold one input buffer
    # (8 KiB) of requests not yet answered; nothing more.
    bound = 20 + (8192 + len(msg) - 1) // len(msg)
    if consumed > bound:
        raise AssertionError("the daemon took %d requests with no reply read (bound %d)"
                             % (consumed, bound))
    if written <= consumed:
        raise AssertionError("the flood never stalled (%d written, %d taken)" % (written, consumed))
    served(bystander(env, 61))
    healthy(env)
    # now read everything: every request gets its reply
    got = 0
    deadline = time.monotonic() + 20
    while got < written and time.monotonic() < deadline:
        m = g.recv(timeout=5)
        if m.type != xsproto.XS_READ or len(m.payload) != 1900:
            raise AssertionError("reply %d: %r" % (got, m))
        got += 1
    eq(got, written, "replies once read")
    served(g)


def t_watch_event_flood(env):
    """XSA-326 (CVE-2022-42311..42318), watch events: a guest with many
    watches (long tokens) that never reads its ring while dom0 changes the
    watched nodes.  Undelivered events are bounded per connection (the
    excess dropped and logged), the daemon and others carry on, and the
    guest can still be served afterwards."""
    D = 62
    g = env.domain(D)
    for i in range(100):
        g.watch("data/f", "t%03d-" % i + "T" * 1000)
    g.drain_events(0.2)
    # the guest stops reading; dom0 makes 100 x 300 = 30000 events (30 MB),
    # on 300 nodes: an event identical to one still queued is not queued
    # again (as Xen), so changes to one node would make only 100
    g.write("data/f/x", "0")
    for i in range(300):
        env.dom0.write(home(D, "data/f/x/%d" % i), "0")
    served(bystander(env, 63))
    healthy(env)
    with open(env.daemon.log, errors="replace") as f:
        if "dropping new events" not in f.read():
            raise AssertionError("no sign in the log of events dropped over the bound")
    evs = g.drain_events(3.0)
    if not 0 < len(evs) <= 4096 + 100:
        raise AssertionError("%d events delivered after the flood" % len(evs))
    g.reset_watches()
    g.drain_events(0.2)
    served(g)


def t_oversized_packet(env):
    """Oversized packets, class (a header announcing more than 4096 payload
    bytes), and XSA-325 (CVE-2020-29483): the guest's connection is
    stopped with error indicator 3 (xenstore-ring.txt), the domain is not
    treated as dead (still introduced, no @releaseDomain), others carry on,
    and its real death is still reported."""
    D = 64
    g = env.domain(D)
    w = env.conn()
    w.watch("@releaseDomain", "R")
    events_of(w)
    for n in (4097, 0x7FFFFFFF, 0xFFFFFFFF):
        g2 = env.domain(D + 1 + n % 3)
        g2.send_raw(HDR.pack(xsproto.XS_WRITE, 1, 0, n))
        wait_until(lambda: g2.error_indicator() == xsguest.ERROR_PROTO,
                   what="error indicator 3 for len %d" % n)
    g.send_raw(HDR.pack(xsproto.XS_READ, 2, 0, 4097) + b"x" * 100)
    wait_until(lambda: g.error_indicator() == xsguest.ERROR_PROTO, what="error indicator 3")
    eq(env.dom0.is_domain_introduced(D), True, "still introduced")
    eq(events_of(w), [], "no @releaseDomain for a protocol violation")
    served(bystander(env, 68))
    healthy(env)
    env.destroy(D)
    eq(events_of(w), [("@releaseDomain", "R")], "@releaseDomain at the real death")
    w.close()


def t_oversized_watch_event(env):
    """XSA-324 (CVE-2020-29484): a watch whose path and token fit in 4096
    bytes fires for a node below it whose event would exceed the payload
    limit.  The daemon must not crash; it drops (or refuses) that event
    and goes on serving the guest."""
    D = 69
    g = env.domain(D)
    tok = "T" * (4096 - len(b"data\0") - 1 - 1)
    eq(g.request("WATCH", b"data\0" + tok.encode() + b"\0").name, "WATCH", "WATCH near 4096")
    g.drain_events(0.2)
    g.write("data/" + "n" * 200, "v")
    g.write("data/" + "n" * 200 + "/" + "m" * 500, "v")
    served(g)
    g.drain_events(0.3)
    # a request whose payload is too big by one byte is a protocol error
    # only in the header; a WATCH of exactly 4096 bytes is fine
    m = g.request("WATCH", b"data\0" + b"U" * (4096 - 6) + b"\0")
    if m.is_error and m.payload not in (b"E2BIG\0", b"EINVAL\0", b"ENOMEM\0", b"ENOSPC\0"):
        raise AssertionError("WATCH of 4096 bytes: %r" % m)
    g.drain_events(0.2)
    served(g)
    healthy(env)


def t_bad_ring_indices(env):
    """Bad ring indices, class (a guest's indices are untrusted: a
    producer/consumer distance over the ring size, in either queue), and
    XSA-325 (CVE-2020-29483): error indicator 2, the connection stops, the
    domain stays introduced without any @releaseDomain, others carry on."""
    w = env.conn()
    w.watch("@releaseDomain", "R")
    events_of(w)
    cases = (("req_prod", lambda g: g.get("req_cons") + 1025),
             ("req_prod", lambda g: g.get("req_cons") - 1),
             ("req_cons", lambda g: g.get("req_prod") + 7),
             ("rsp_cons", lambda g: g.get("rsp_prod") + 1),
             ("rsp_cons", lambda g: g.get("rsp_prod") - 2000))
    for i, (field, val) in enumerate(cases):
        D = 70 + i
        g = env.domain(D)
        g.write("data/x", "1")
        g.set(field, val(g))
        try:
            if field.startswith("rsp"):
                g.send(xsproto.XS_GET_DOMAIN_PATH, strings(D))  # makes a reply
            g.kick()
        except xsproto.XsClosed:
            pass  # the daemon checks indices on every event: caught already
        wait_until(lambda: g.error_indicator() == xsguest.ERROR_RINGIDX,
                   what="error indicator 2 after %s = %s" % (field, val(g)))
        eq(env.dom0.is_domain_introduced(D), True, "dom%d still introduced" % D)
    # huge indices that are consistent are fine: they are free-running
    D = 76
    env.create(D, "--no-store")
    gfn, port = env.start_info(D)
    g = env.guest(D)
    for f in ("req_cons", "req_prod", "rsp_cons", "rsp_prod"):
        g.set(f, 0xFFFFFFF0)
    env.dom0.introduce(D, gfn, port)
    for _ in range(5):
        eq(g.get_domain_path(D), home(D), "indices wrapping past 2^32")
    eq(events_of(w), [], "no @releaseDomain for protocol violations")
    served(bystander(env, 77))
    healthy(env)
    w.close()


def t_deep_tree(env):
    """XSA-418 (CVE-2022-42321): deep nesting must not exhaust the daemon's
    stack: a guest builds a path of ~1000 levels (the longest a guest may
    write), with watches, then removes it; dom0 builds a deeper one and
    the guest owning part of it dies."""
    D = 78
    g = env.domain(D)
    env.dom0.set_quota(D, "nodes", 5000)
    depth = (2048 - len("data/")) // 2
    path = "data/" + "/".join(["a"] * depth)
    g.write(path, "deep")
    eq(g.read(path), b"deep", "deepest node")
    g.watch("data/a", "W")
    g.watch(path, "X")
    g.drain_events(0.2)
    tx = g.tx_start()
    g.write(path[:-2] + "/b", "1", tx)
    g.tx_end(tx)
    g.rm("data/a/a/a")
    evs = events_of(g, 0.3)
    if ("data/a/a/a", "W") not in evs or (path, "X") not in evs:
        raise AssertionError("events of the deep RM: %r" % evs[:5])
    expect_err("ENOENT", g.read, path)
    # dom0: as deep, partly owned by the guest, then the guest dies
    p = "/deep/" + "/".join(["b"] * 1000)
    env.dom0.write(p, "v")
    env.dom0.set_perms("/deep/b/b/b", ["n%d" % D])
    env.dom0.watch("/deep", "D")
    events_of(env.dom0)
    env.destroy(D)
    healthy(env)
    eq(env.dom0.exists("/deep/b/b/b"), False, "the dead domain's deep subtree is gone")
    env.dom0.rm("/deep")
    env.dom0.unwatch("/deep", "D")
    events_of(env.dom0)
    healthy(env)


def t_node_and_tx_quotas(env):
    """XSA-326 (CVE-2022-42311..42318), nodes and transactions: the
    per-domain node quota holds however the nodes are made (directly, or
    in many transactions committed together), the transaction quota and
    the transaction-nodes quota hold, and accounting returns to where it
    was once the nodes are gone."""
    D = 80
    g = env.domain(D)
    env.dom0.set_quota(D, "nodes", 200)
    base = nodes_of(env, D)
    made = 0
    try:
        for i in range(400):
            g.write("data/q/%d/%d" % (i // 20, i % 20), "v")
            made += 1
    except XsError as e:
        if e.err not in ("ENOSPC", "EDQUOT"):
            raise
    if nodes_of(env, D) > 200:
        raise AssertionError("%d nodes owned with a quota of 200" % nodes_of(env, D))
    if made < 150:
        raise AssertionError("only %d nodes made before the quota (base %d)" % (made, base))
    g.rm("data/q")
    eq(nodes_of(env, D), base, "accounting after RM")
    # many transactions, each within the quota, together over it
    txs = [g.tx_start() for _ in range(10)]
    expect_err("ENOSPC", g.tx_start)
    for k, tx in enumerate(txs):
        for i in range(60):
            try:
                g.write("data/t%d/%d" % (k, i), "v", tx)
            except XsError as e:
                if e.err not in ("ENOSPC", "EDQUOT"):
                    raise
                break
    ok = 0
    for tx in txs:
        try:
            g.tx_end(tx)
            ok += 1
        except XsError as e:
            if e.err not in ("ENOSPC", "EDQUOT", "EAGAIN"):
                raise
    if nodes_of(env, D) > 200:
        raise AssertionError("%d nodes owned after %d commits (quota 200)" % (nodes_of(env, D), ok))
    for k in range(10):
        try:
            g.rm("data/t%d" % k)
        except XsError:
            pass
    eq(nodes_of(env, D), base, "accounting after the transactions' nodes are gone")
    # transaction-nodes: one transaction may not touch more than 1024 nodes
    env.dom0.set_quota(D, "nodes", 5000)
    for i in range(30):
        for j in range(40):
            g.write("data/r/%d/%d" % (i, j), "v")
    tx = g.tx_start()
    e = None
    try:
        for i in range(30):
            for j in range(40):
                g.read("data/r/%d/%d" % (i, j), tx)
    except XsError as x:
        e = x.err
    if e is None:
        try:
            g.tx_end(tx)
            raise AssertionError("a transaction touching 1200 nodes committed (quota 1024)")
        except XsError as x:
            e = x.err
    else:
        try:
            g.tx_end(tx, commit=False)
        except XsError:
            pass
    if e not in ("ENOSPC", "E2BIG", "EDQUOT", "ENOMEM"):
        raise AssertionError("transaction over transaction-nodes: %s" % e)
    g.rm("data/r")
    healthy(env)


def t_create_delete_in_tx(env):
    """XSA-421 (CVE-2022-42325/42326): a node created and deleted in the
    same transaction must leave the accounting as it was, whatever the
    commit does; repeated, it must not let a guest exceed its quota."""
    D = 81
    g = env.domain(D)
    base = nodes_of(env, D)
    for i in range(300):
        tx = g.tx_start()
        g.write("data/cd/%d/x/y" % i, "v", tx)
        g.write("data/cd/%d/z" % i, "v", tx)
        g.rm("data/cd/%d" % i, tx)
        if i % 3 == 0:
            g.write("data/keep%d" % (i % 2), "k", tx)
        try:
            g.tx_end(tx, commit=(i % 5 != 4))
        except XsError as e:
            if e.err != "EAGAIN":
                raise
    eq(g.directory("data/cd"), [], "nothing left of the nodes created and deleted")
    g.rm("data/cd")
    g.rm("data/keep0")
    g.rm("data/keep1")
    eq(nodes_of(env, D), base, "node accounting after create+delete transactions")
    healthy(env)


def t_orphaned_nodes(env):
    """XSA-415 (CVE-2022-42310) and XSA-414 (CVE-2022-42309): nodes made in
    a transaction in which a later creation fails (quota) must not leave
    nodes without a parent once the transaction commits, and the error
    path must not crash."""
    D = 82
    g = env.domain(D)
    env.dom0.set_quota(D, "nodes", nodes_of(env, D) + 8)
    for attempt in range(3):
        tx = g.tx_start()
        refused = None
        try:
            g.write("data/o%d/a/b/c/d/e/f/g/h/i/j/k" % attempt, "v", tx)
        except XsError as e:
            refused = e.err
        if refused not in ("ENOSPC", "EDQUOT"):
            raise AssertionError("deep write over the node quota: %s" % refused)
        g.write("data/o%d/a" % attempt, "v", tx)
        try:
            g.tx_end(tx)
        except XsError as e:
            if e.err not in ("EAGAIN", "ENOSPC", "EDQUOT"):
                raise
        # outside a transaction too
        try:
            g.write("data/p%d/a/b/c/d/e/f/g/h/i/j" % attempt, "v")
        except XsError as e:
            if e.err not in ("ENOSPC", "EDQUOT"):
                raise
    eq(env.dom0.control("check"), b"OK\0", "CONTROL check (no orphans)")
    # every node the guest can see has its parent, and is listed in it
    def walk(p):
        for ch in env.dom0.directory(p):
            c = p.rstrip("/") + "/" + ch
            env.dom0.read(c)
            walk(c)
    walk(home(D, "data"))
    for attempt in range(3):
        for top in ("o", "p"):
            try:
                g.rm("data/%s%d" % (top, attempt))
            except XsError:
                pass
    env.dom0.set_quota(D, "nodes", 1000)
    healthy(env)


def t_domid_reuse(env):
    """XSA-322 (CVE-2020-29481) and XSA-417 (CVE-2022-42320): a new domain
    with the id of a dead one inherits nothing: not its nodes, not its
    permission entries (also not through a transaction that was open
    across the death), not its watches."""
    D, O = 83, 84
    g = env.domain(D)
    go = env.domain(O)
    d0 = env.dom0
    d0.write("/reuse/acl", "a")
    d0.set_perms("/reuse/acl", ["n0", "r%d" % D])
    d0.write("/reuse/owned", "o")
    d0.set_perms("/reuse/owned", ["n%d" % D])
    d0.write("/reuse/ox", "x")
    d0.set_perms("/reuse/ox", ["n%d" % O, "r%d" % D])
    g.watch("/reuse", "W")
    eq(g.read("/reuse/acl"), b"a", "readable while alive")
    tx = go.tx_start()
    go.write("/reuse/ox", "in-tx", tx)  # its copy still names D
    env.destroy(D)
    try:
        go.tx_end(tx)
    except XsError as e:
        if e.err != "EAGAIN":
            raise
    g.close()
    g2 = env.domain(D)
    expect_err("EACCES", g2.read, "/reuse/acl")
    expect_err("EACCES", g2.read, "/reuse/ox")
    eq(d0.exists("/reuse/owned"), False, "the dead domain's node is gone")
    d0.write("/reuse/acl", "b")
    eq(events_of(g2), [], "no event from the old watch")
    healthy(env)


def t_dead_rights_in_tx(env):
    """XSA-322 class (issue 10, item 3a): a transaction of dom0 opened
    while domain D lived names D in a SET_PERMS; D dies and a new D is
    born before the commit.  The commit must not give the new D the old
    one's rights: it fails with EAGAIN (the retry's SET_PERMS is checked
    again)."""
    D = 98
    env.create(D)
    d0 = env.dom0
    d0.write("/dead-tx/n", "secret")
    d0.set_perms("/dead-tx/n", ["n0"])
    tx = d0.tx_start()
    d0.set_perms("/dead-tx/n", ["n0", "r%d" % D], tx=tx)
    env.destroy(D)
    g2 = env.domain(D)
    e = err(d0.tx_end, tx)
    if e != "EAGAIN":
        raise AssertionError("the commit naming the dead domain: %s" % e)
    expect_err("EACCES", g2.read, "/dead-tx/n")
    healthy(env)


def t_dead_target(env):
    """XSA-322 class (issue 10, item 3b): SET_TARGET A -> T gives A the
    rights of T; when T dies, A must not keep them over the next domain
    born with T's id."""
    A, T = 99, 100
    ga = env.domain(A)
    env.create(T)
    env.dom0.call(xsproto.XS_SET_TARGET, strings(A, T))
    env.dom0.write("/local/domain/%d/priv" % T, "t")
    env.dom0.set_perms("/local/domain/%d/priv" % T, ["n%d" % T])
    eq(ga.read("/local/domain/%d/priv" % T), b"t", "the target's node, by its targeter")
    env.destroy(T)
    env.create(T)
    env.dom0.write("/local/domain/%d/priv" % T, "new")
    env.dom0.set_perms("/local/domain/%d/priv" % T, ["n%d" % T])
    expect_err("EACCES", ga.read, "/local/domain/%d/priv" % T)
    healthy(env)


def t_dying_domain_perms(env):
    """XSA-322 class (issue 10, item 3c): SET_PERMS naming a domain that
    is dying (the platform says so, the daemon has not cleaned it up yet)
    is refused as for an unknown domain."""
    D = 101
    env.create(D)
    state = os.path.join(env.sim, "dom%d" % D, "state")
    tmp = state + ".tmp.test"
    with open(tmp, "w") as f:
        f.write("dying\n")
    os.rename(tmp, state)  # no virq: the daemon has not seen it yet
    env.dom0.write("/dying/n", "x")
    expect_err("ENOENT", env.dom0.set_perms, "/dying/n", ["n%d" % D])
    env.dom0.set_perms("/dying/n", ["n0", "r%d" % D])
    eq(env.dom0.get_perms("/dying/n"), ["n0"], "the dying domain's entry dropped")
    env.destroy(D)
    healthy(env)


def mem_of(env, d):
    """What CONTROL quota <domid> says domain d holds against its memory
    quota."""
    text = env.dom0.control("quota", str(d)).decode()
    m = re.search(r"^memory\s*:\s*(\d+)", text, re.M)
    if not m:
        raise AssertionError("CONTROL quota %d: no memory line in %r" % (d, text))
    return int(m.group(1))


def count_until_refused(fn, n, want=("ENOMEM", "ENOSPC", "EDQUOT")):
    done = 0
    for i in range(n):
        try:
            fn(i)
        except XsError as e:
            if e.err not in want:
                raise
            return done, e.err
        done += 1
    return done, None


QUOTA_MEM = 2621440  # xenstored 4.17's default, and ours
VAL = "v" * 2000  # under the node-size quota (2048)


def t_txn_memory(env):
    """XSA-326 class (issue 10, item 2): what an open transaction records
    counts against its domain's memory quota.  Rewriting one 2 KB node in
    one transaction again and again (the log grows), and reading absent
    paths in ten transactions (the touched sets grow), are refused once
    the quota is reached, and CONTROL quota shows it."""
    D = 102
    g = env.domain(D)
    tx = g.tx_start()
    done, why = count_until_refused(lambda i: g.write("data/big", VAL, tx), 2000)
    if why is None:
        raise AssertionError("2000 rewrites of 2 KB in one transaction all accepted")
    held = mem_of(env, D)
    if held > QUOTA_MEM + 8192:
        raise AssertionError("quota reports %d bytes held, over %d" % (held, QUOTA_MEM))
    g.tx_end(tx, commit=False)
    eq(mem_of(env, D) < QUOTA_MEM // 4, True, "memory back after the abort")
    long = "data/" + "/".join(["absent-component-%03d" % i for i in range(60)])
    txs = [g.tx_start() for _ in range(10)]
    refused = 0
    def read_absent(t, i):
        try:
            g.read("%s/%d" % (long, i), t)
        except XsError as e:
            if e.err != "ENOENT":
                raise

    for t in txs:
        _, why = count_until_refused(lambda i: read_absent(t, i), 1100)
        refused += why is not None
    if not refused:
        raise AssertionError("10 transactions read 1100 absent long paths each, unrefused")
    if mem_of(env, D) > QUOTA_MEM + 8192:
        raise AssertionError("touched sets hold %d bytes, over the quota" % mem_of(env, D))
    for t in txs:
        g.tx_end(t, commit=False)
    healthy(env)


def t_pinned_versions(env):
    """XSA-326 class (issue 10, item 2): a guest holding transactions open
    while it rewrites its nodes outside them pins the old versions in their
    snapshots; that counts against its memory quota."""
    D = 103
    g = env.domain(D)
    txs = [g.tx_start() for _ in range(7)]
    for t in txs:
        g.read("name", t)
    done, why = count_until_refused(lambda i: g.write("data/p%d" % (i % 50), VAL[:-4] + "%04d" % i), 3000)
    if why is None:
        raise AssertionError("3000 rewrites of 2 KB while 7 transactions pin them: all accepted")
    for t in txs:
        g.tx_end(t, commit=False)
    g.write("data/after", "ok")  # the pins are gone with the transactions
    healthy(env)


def t_unread_events_memory(env):
    """XSA-326 class (issue 10, item 2): watch events a guest never reads
    are memory it makes the daemon keep: they are bounded by its memory
    quota, not only by the per-connection event count."""
    D = 104
    g = env.domain(D)
    env.dom0.write(home(D, "ev"), "")
    env.dom0.set_perms(home(D, "ev"), ["n%d" % D])
    g.watch("ev", "E")
    events_of(g)
    # ~1.95 KB of path per event (a guest-owned path stays under 2048
    # bytes relative to its home: XSA-323)
    deep = "/".join(["n" * 190] * 10)
    for i in range(2000):  # 3.9 MB if unbounded
        env.dom0.write(home(D, "ev/%d/%s" % (i, deep)), "")
    got = len(events_of(g, wait=1.0))
    while True:
        more = len(events_of(g, wait=0.3))
        if not more:
            break
        got += more
    if got * 1900 > QUOTA_MEM + 65536:
        raise AssertionError("the guest received %d events (%d bytes) over its quota" % (got, got * 1900))
    env.dom0.rm(home(D, "ev"))
    healthy(env)


def t_domid_reuse_unintroduced(env):
    """XSA-322 (CVE-2020-29481) / XSA-417 (CVE-2022-42320) class: dom0
    names a domain that exists on the platform but is never introduced
    (a failed domain build); it dies; a new domain with the same id must
    not get those rights.  (Xen 4.17 refuses: see diff_guest.py's
    guest_absent_domain_perms.)"""
    U = 85
    env.create(U, "--no-store")
    env.dom0.write("/reuse2/u", "u")
    env.dom0.set_perms("/reuse2/u", ["n0", "r%d" % U])
    env.destroy(U)
    g = env.domain(U)
    expect_err("EACCES", g.read, "/reuse2/u")


def t_absent_domain_entries(env):
    """XSA-322 (CVE-2020-29481) class: a permission entry naming a domain
    that does not exist when it is set must not give rights to a domain
    later created with that id (Xen 4.17 marks such entries ignored; see
    diff_guest.py's guest_absent_domain_perms)."""
    F = 86
    env.dom0.write("/reuse3/f", "f")
    env.dom0.set_perms("/reuse3/f", ["n0", "r%d" % F])
    g = env.domain(F)
    expect_err("EACCES", g.read, "/reuse3/f")


def t_special_watch_perms(env):
    """XSA-115 (CVE-2020-29480): watch events only for what the watcher may
    read; @introduceDomain/@releaseDomain only for dom0 and for domains the
    special path's permissions (SET_PERMS) allow."""
    G, X = 87, 88
    g = env.domain(G)
    g.watch("@introduceDomain", "I")
    g.watch("@releaseDomain", "R")
    g.watch("/", "ROOT")
    g.watch("/local/domain", "LD")
    events_of(g)
    env.create(X)
    gx = env.guest(X)
    gx.write("data/secret", "s")
    env.dom0.write("/tool/secret", "s")
    env.destroy(X)
    eq(events_of(g), [], "events for nodes and special paths the guest may not read")
    env.dom0.set_perms("@releaseDomain", ["n0", "r%d" % G])
    env.create(X)
    env.destroy(X)
    eq([e for e in events_of(g) if e[0].startswith("@")], [("@releaseDomain", "R")],
       "@releaseDomain once permitted")
    env.dom0.set_perms("@releaseDomain", ["n0"])
    # a guest may not change the special paths' permissions
    e = err(g.set_perms, "@releaseDomain", ["n0", "r%d" % G])
    if e not in ("EACCES", "EPERM", "EINVAL"):
        raise AssertionError("guest SET_PERMS @releaseDomain: %s" % e)
    healthy(env)


def t_event_perms_after_commit(env):
    """XSA-115 class, in a transaction (issue 10, item 4): a node created
    and made unreadable in one transaction was never readable outside it;
    a guest watching its parent must not learn its path.  A node the
    guest could read before the commit (or can after) is still announced."""
    G = 97
    g = env.domain(G)
    base = home(G, "data")
    env.dom0.write(base + "/open", "o")
    g.watch("data", "W")
    events_of(g)
    tx = env.dom0.tx_start()
    env.dom0.write(base + "/hidden", "h", tx=tx)
    env.dom0.set_perms(base + "/hidden", ["n0"], tx=tx)
    env.dom0.write(base + "/shown", "s", tx=tx)
    env.dom0.write(base + "/open", "o2", tx=tx)
    env.dom0.set_perms(base + "/open", ["n0"], tx=tx)  # readable before
    env.dom0.tx_end(tx)
    got = sorted(p for p, t in events_of(g))
    eq(got, ["data/open", "data/shown"],
       "events after a commit that hid one new node")
    healthy(env)


def t_owner_changes(env):
    """XSA-352 (CVE-2020-29486) and XSA-419 (CVE-2022-42322/42323): a guest
    cannot give a node away (to dom0 or another guest: quota evasion), and
    nodes a guest made in another guest's tree go when it dies, so that
    cooperating guests cannot pile up nodes owned by nobody (or by dom0)."""
    A, B = 89, 90
    ga = env.domain(A)
    gb = env.domain(B)
    ga.write("data/mine", "m")
    expect_err("EPERM", ga.set_perms, "data/mine", ["n0"])
    expect_err("EPERM", ga.set_perms, "data/mine", ["n%d" % B])
    expect_err("EPERM", ga.set_perms, "data/mine", ["b0", "r%d" % A])
    # A lets B write into its tree; B fills it and dies
    ga.write("data/share", "")
    ga.set_perms("data/share", ["n%d" % A, "b%d" % B])
    for i in range(50):
        gb.write(home(A, "data/share/b%d" % i), "x")
    eq(env.dom0.get_perms(home(A, "data/share/b0"))[0], "n%d" % B, "B owns what it made")
    dom0_before = nodes_of(env, 0)
    env.destroy(B)
    eq(ga.directory("data/share"), [], "B's nodes in A's tree are gone")
    if nodes_of(env, 0) > dom0_before:
        raise AssertionError("dom0 gained %d nodes from a dead guest" % (nodes_of(env, 0) - dom0_before))
    healthy(env)


def t_root_perms(env):
    """XSA-353 (CVE-2020-29479): the root node's permissions are checked
    like any other's: a guest can neither write, create under, remove,
    re-permission nor list it."""
    D = 91
    g = env.domain(D)
    expect_err("EACCES", g.write, "/", "x")
    expect_err("EACCES", g.mkdir, "/evil")
    expect_err("EACCES", g.write, "/evil/x", "x")
    expect_err("EACCES", g.set_perms, "/", ["n%d" % D])
    expect_err("EACCES", g.set_perms, "/", ["b0"])
    expect_err("EACCES", g.directory, "/")
    expect_err("EACCES", g.read, "/")
    e = err(g.rm, "/")
    if e not in ("EACCES", "EINVAL"):
        raise AssertionError("RM / from a guest: %s" % e)
    tx = g.tx_start()
    expect_err("EACCES", g.set_perms, "/", ["n%d" % D], tx)
    expect_err("EACCES", g.write, "/evil", "x", tx)
    g.tx_end(tx, commit=False)
    eq(env.dom0.get_perms("/"), ["n0"], "root permissions unchanged")
    eq(env.dom0.exists("/evil"), False, "nothing created under /")
    healthy(env)


def t_path_lengths(env):
    """XSA-323 (CVE-2020-29482) and XSA-481 (CVE-2026-23555): a guest may
    create paths as long as its relative limit allows, and dom0 must still
    reach them by their (longer) absolute path; just over the limit is
    refused the same in both spellings; malformed domain paths such as
    "/local/domain/" are refused, not crashed on."""
    D = 92
    g = env.domain(D)
    longest = None
    for n in (2048, 2047, 2040, 2000):
        rel = "data/" + "x" * (n - len("data/"))
        try:
            g.write(rel, "v")
            longest = rel
            break
        except XsError as e:
            if e.err not in ("EINVAL", "ENOSPC", "E2BIG"):
                raise
    if longest is None:
        raise AssertionError("no long relative path could be written")
    absp = home(D, longest)
    eq(env.dom0.read(absp), b"v", "dom0 reads the guest's longest path (%d bytes absolute)" % len(absp))
    env.dom0.set_perms(absp, ["n%d" % D, "r0"])
    env.dom0.watch(absp, "L")
    events_of(env.dom0)
    g.write(longest, "w")
    eq(events_of(env.dom0), [(absp, "L")], "dom0's watch on the long path")
    env.dom0.unwatch(absp, "L")
    env.dom0.rm(absp)
    over = "data/" + "y" * (2049 - len("data/"))
    e1, e2 = err(g.write, over, "v"), err(g.write, home(D, over), "v")
    eq((e1, e2), ("EINVAL", "EINVAL"), "one over the relative limit, both spellings")
    for bad in ("/local/domain/", "/local/domain//data", "/local/domain/%d/" % D,
                "/local/domain/%d//x" % D, "/local//domain", "//", "/local/domain/x/../0"):
        for fn in (g.read, g.directory, g.get_perms):
            e = err(fn, bad)
            if e not in ("EINVAL", "EACCES", "ENOENT"):
                raise AssertionError("%s %r: %s" % (fn.__name__, bad, e))
        e = err(g.write, bad, "x")
        if e not in ("EINVAL", "EACCES"):
            raise AssertionError("WRITE %r: %s" % (bad, e))
        m = g.request("WATCH", strings(bad, "t"))
        if not m.is_error:
            g.unwatch(bad, "t")
    served(g)
    healthy(env)


def t_reset_watches_in_tx(env):
    """XSA-484 (CVE-2026-23557): XS_RESET_WATCHES sent with a transaction
    id must not crash the daemon; the guest stays usable."""
    D = 93
    g = env.domain(D)
    g.watch("data", "W")
    tx = g.tx_start()
    g.write("data/t", "1", tx)
    m = g.request("RESET_WATCHES", b"", tx_id=tx)
    if m.is_error and m.payload not in (b"EINVAL\0", b"ENOENT\0", b"EBUSY\0"):
        raise AssertionError("RESET_WATCHES in a transaction: %r" % m)
    try:
        g.tx_end(tx)
    except XsError as e:
        if e.err not in ("ENOENT", "EAGAIN"):
            raise
    m = g.request("RESET_WATCHES", b"", tx_id=12345)
    if m.is_error and m.payload not in (b"EINVAL\0", b"ENOENT\0"):
        raise AssertionError("RESET_WATCHES with an unknown transaction: %r" % m)
    tx = g.tx_start()
    g.request("RESET_WATCHES", b"", tx_id=tx)
    g.request("RESET_WATCHES", b"", tx_id=tx)
    g.write("data/u", "1")
    g.drain_events(0.2)
    served(g)
    healthy(env)


def t_repeated_update(env):
    """XSA-206: a guest updating a node as fast as it can must not starve
    other domains' transactions that read it: dom0's transactions still
    commit within a few attempts, since the guest's writes are rate
    limited."""
    D = 94
    g = env.domain(D)
    env.dom0.write("/hot/x", "0")
    env.dom0.set_perms("/hot/x", ["n0", "b%d" % D])
    msg_of = lambda i: (HDR.pack(xsproto.XS_WRITE, i, 0, len(b"/hot/x\0") + 4)
                        + b"/hot/x\0" + b"%04d" % (i % 10000))
    sent = 0
    t0 = time.monotonic()
    worst = 0
    commits = 0
    while time.monotonic() - t0 < 4 and commits < 20:
        # keep the guest's request ring full (and read its replies)
        for _ in range(30):
            m = msg_of(sent)
            if xsguest.RING_SIZE - ((g.get("req_prod") - g.get("req_cons")) & 0xFFFFFFFF) < len(m):
                break
            g.put_bytes(m, kick=False)
            sent += 1
        g.kick()
        try:
            g._pull()
        except XsClosed:
            raise AssertionError("the writer was disconnected")
        g._parse()
        g.replies = []
        for attempt in range(1, 1000):
            tx = env.dom0.tx_start()
            v = env.dom0.read("/hot/x", tx)
            env.dom0.write("/hot/seen", v, tx)
            try:
                env.dom0.tx_end(tx)
                break
            except XsError as e:
                if e.err != "EAGAIN":
                    raise
        worst = max(worst, attempt)
        commits += 1
    if commits < 20:
        raise AssertionError("dom0 committed only %d transactions in 4 s" % commits)
    if worst > 50:
        raise AssertionError("a dom0 transaction needed %d attempts" % worst)
    g.drain_events(0.1)
    healthy(env)


def t_identical_events(env):
    """XSA-326 (CVE-2022-42311..42318) class, watch events: an event
    identical to one still queued for the connection (same path, same
    token) is not queued again, as Xen 4.17 does (issue 10, item 8).  Two
    watches with one token that one change matches give one event; a
    guest that stopped reading holds one event per (path, token), not one
    per change, however often dom0 changes the node."""
    D = 95
    g = env.domain(D)
    g.watch("data/i", "tok")
    g.watch("data/i/a", "tok")
    g.drain_events(0.2)
    env.dom0.write(home(D, "data/i/a/b"), "0")
    served(g)
    evs = g.drain_events(0.2)
    eq(evs, [(b"data/i/a/b", b"tok")], "events of one change matching two watches")
    # The guest stops reading: its ring holds about 1024 / 31 events, the
    # daemon's queue then one more, whatever the number of changes.
    for i in range(200):
        env.dom0.write(home(D, "data/i/a/b"), str(i))
    served(bystander(env, D + 1))
    evs = g.drain_events(1.0)
    if not 1 <= len(evs) <= 40 or set(evs) != {(b"data/i/a/b", b"tok")}:
        raise AssertionError("%d events after 200 changes of one node: %r"
                             % (len(evs), evs[:4]))
    served(g)
    healthy(env)


def t_owner_must_exist_without_platform(env):
    """XSA-322 (CVE-2020-29481) class: a node given to a domain that does
    not exist would be owned by whichever domain later gets that id.  The
    owner must exist with no platform configured too (issue 10, item 9;
    Xen 4.17 answers ENOENT): only dom0 exists there.  Other entries are
    kept, as Xen keeps them (no domain can ever be born there)."""
    from daemon import XstoredDaemon, sanitizer_errors
    d = XstoredDaemon(binary=env.xstored, extra_args=["--platform", "none"])
    try:
        d.start()
        with xsproto.Conn(d.socket) as c:
            c.write("/own", "v")
            for owner in ("n32000", "b1", "r65535"):
                expect_err("ENOENT", c.set_perms, "/own", [owner])
                expect_err("ENOENT", c.set_perms, "/own", [owner, "b0"])
            eq(c.get_perms("/own"), ["n0"], "perms after refused owners")
            c.set_perms("/own", ["n0", "r32000"])
            eq(c.get_perms("/own"), ["n0", "r32000"], "other entries kept")
            tx = c.tx_start()
            expect_err("ENOENT", c.set_perms, "/own", ["n32000"], tx)
            c.tx_end(tx)
        status = d.stop()
        if status != 0 or sanitizer_errors(d.log):
            raise AssertionError("xstored --platform none: exit %s, %s"
                                 % (status, sanitizer_errors(d.log)[:3]))
    finally:
        d.cleanup()


TESTS = [
    ("xsa326_unread_replies", t_unread_replies),
    ("xsa326_watch_event_flood", t_watch_event_flood),
    ("oversized_packet_xsa325", t_oversized_packet),
    ("xsa324_oversized_watch_event", t_oversized_watch_event),
    ("bad_ring_indices_xsa325", t_bad_ring_indices),
    ("xsa418_deep_tree", t_deep_tree),
    ("xsa326_node_and_tx_quotas", t_node_and_tx_quotas),
    ("xsa421_create_delete_in_tx", t_create_delete_in_tx),
    ("xsa415_orphaned_nodes", t_orphaned_nodes),
    ("xsa322_domid_reuse", t_domid_reuse),
    ("xsa322_reuse_after_unintroduced_death", t_domid_reuse_unintroduced),
    ("xsa322_dead_rights_in_tx", t_dead_rights_in_tx),
    ("xsa326_txn_memory", t_txn_memory),
    ("xsa326_pinned_versions", t_pinned_versions),
    ("xsa326_unread_events_memory", t_unread_events_memory),
    ("xsa322_dead_target", t_dead_target),
    ("xsa322_dying_domain_perms", t_dying_domain_perms),
    ("xsa322_entries_for_absent_domains", t_absent_domain_entries),
    ("xsa115_special_watch_perms", t_special_watch_perms),
    ("xsa115_event_perms_after_commit", t_event_perms_after_commit),
    ("xsa352_419_owner_changes", t_owner_changes),
    ("xsa353_root_perms", t_root_perms),
    ("xsa323_481_path_lengths", t_path_lengths),
    ("xsa484_reset_watches_in_tx", t_reset_watches_in_tx),
    ("xsa206_repeated_update", t_repeated_update),
    ("xsa326_identical_events", t_identical_events),
    ("xsa322_owner_must_exist_without_platform", t_owner_must_exist_without_platform),
]


def main(argv):
    only = argv[1:]
    r = Runner("xsa/")
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
                try:
                    env.cleanup()
                    env = SimEnv().start()
                except Exception as e:
                    r.skip(name, "daemon died earlier and could not restart: %s" % e)
                    continue
            r.run(name, fn, env)
            if not env.alive():
                print("FAIL xsa/%s: the daemon died: %s" % (name, env.daemon.tail(8)))
                r.failed += 1
        r.run("clean_exit", env.check_clean_exit)
    finally:
        env.cleanup(keep=bool(os.environ.get("KEEP")))
    return r.final()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
