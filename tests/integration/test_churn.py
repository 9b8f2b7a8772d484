#!/usr/bin/env python3
"""test_churn.py: the daemon's memory stays flat under domain churn
(issue 10, item 5: nothing a dying domain or a reconnecting ring leaves
behind may accumulate; the class of XSA-326 "leaks per domain").

Cycle i: create a domain (domids reused from a pool of 16, so every
cycle also exercises domid reuse), connect to its ring as the guest,
write a few nodes, watch one, open a transaction and leave it open,
reset the ring (the reconnection protocol), write again, then destroy
the domain.  The daemon's RSS is sampled every CHURN_REPORT cycles and
printed; after a warm-up (the first 10 % of cycles), it must not grow by
more than CHURN_SLACK_KIB in all (allocator noise), and the store must be
back to its node count after the warm-up.

Env: CHURN_CYCLES (default 200 in make check; `make soak` runs 10 000),
CHURN_REPORT (every 10 % of the run), CHURN_SLACK_KIB (2048).
Output: the RSS series, PASS/FAIL lines, then "N passed, N failed".
"""
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from simenv import Runner, SimEnv, Skip, eq, require_binaries  # noqa: E402

CYCLES = int(os.environ.get("CHURN_CYCLES", "200"))
REPORT = int(os.environ.get("CHURN_REPORT", "0")) or max(1, CYCLES // 10)
SLACK_KIB = int(os.environ.get("CHURN_SLACK_KIB", "2048"))
POOL = 16
FIRST = 200


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def total_nodes(env):
    text = env.dom0.control("memreport").decode(errors="replace")
    if text.startswith("OK"):
        # memreport logs; the node count is in the log's last report
        with open(env.daemon.log, errors="replace") as f:
            found = re.findall(r"memreport: (\d+) nodes in the tree", f.read())
        return int(found[-1]) if found else -1
    return -1


def one_cycle(env, i):
    d = FIRST + i % POOL
    env.create(d)
    g = env.guest(d)
    for k in range(4):
        g.write("data/churn/%d" % k, "v%d" % i)
    g.watch("data/churn", "w%d" % i)
    tx = g.tx_start()
    g.write("data/churn/tx", "t", tx=tx)  # left open
    if not g.reconnect():
        raise AssertionError("dom%d: ring reconnection not acknowledged" % d)
    g.write("data/after-reset", "1")
    eq(g.read("data/after-reset"), b"1", "dom%d after the reset" % d)
    g.close()
    env.guests.remove(g)
    env.destroy(d)


def t_churn(env):
    pid = env.daemon.proc.pid
    warm = max(1, CYCLES // 10)
    series, base = [], None
    t0 = time.monotonic()
    for i in range(CYCLES):
        one_cycle(env, i)
        if i + 1 == warm:
            base = rss_kib(pid)
            # after the first cycles, which leave /local/domain, /vm, ...
            nodes_before = total_nodes(env)
        if (i + 1) % REPORT == 0 or i + 1 == CYCLES:
            series.append((i + 1, rss_kib(pid)))
            print("   churn: %6d cycles  RSS %7d KiB  (%.0f cycles/s)"
                  % (i + 1, series[-1][1], (i + 1) / (time.monotonic() - t0)), flush=True)
    grown = rss_kib(pid) - base
    nodes_after = total_nodes(env)
    if nodes_after != nodes_before:
        raise AssertionError("%d nodes in the tree after the churn, %d before"
                             % (nodes_after, nodes_before))
    if grown > SLACK_KIB:
        raise AssertionError("RSS grew %d KiB after the warm-up (slack %d): %s"
                             % (grown, SLACK_KIB, series))
    eq(env.dom0.control("check"), b"OK\0", "CONTROL check")


def main():
    # ASan's quarantine keeps freed blocks resident: keep it small so that
    # RSS measures live memory.
    os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                  ":quarantine_size_mb=1:thread_local_quarantine_size_kb=64").lstrip(":")
    r = Runner("churn/")
    try:
        require_binaries()
    except Skip as e:
        r.skip("all", str(e))
        return r.final()
    env = SimEnv().start()
    try:
        r.run("rss_flat_%d_cycles" % CYCLES, t_churn, env)
        r.run("clean_exit", env.check_clean_exit)
    finally:
        env.cleanup()
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
