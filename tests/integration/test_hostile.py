#!/usr/bin/env python3
"""test_hostile.py: what a hostile guest can do through the simulator
itself, beyond the protocol (issue 10).

  shrunk_ring_page   a guest process truncates its own ring page file,
                     which the daemon has mapped: touching the mapping
                     would raise SIGBUS.  The daemon survives, drops that
                     guest's connection, and keeps serving everyone else
                     (item 6; the sim's counterpart of XSA-? "guest
                     controlled mapping").  Xen never lets a guest shrink
                     a granted page; docs/sim.md says how the daemon
                     survives it here.
Output: PASS/FAIL/SKIP lines, then "N passed, N failed".
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from simenv import eq, run_suite  # noqa: E402


def page_path(env, d):
    gfn, _ = env.start_info(d)
    return os.path.join(env.sim, "dom%d" % d, "page", str(gfn))


def t_shrunk_ring_page(env):
    D, B = 31, 32
    g = env.domain(D)
    other = env.domain(B)
    eq(g.read("name") is not None, True, "guest served before")
    os.truncate(page_path(env, D), 0)
    g.kick()  # the daemon looks at the page on the guest's event
    time.sleep(0.3)
    if not env.alive():
        raise AssertionError("the daemon died: %s" % env.daemon.tail(6))
    env.dom0.write("/hostile-alive", "1")
    eq(env.dom0.read("/hostile-alive"), b"1", "dom0 served")
    eq(other.get_domain_path(B), "/local/domain/%d" % B, "another guest served")
    if "faulted" not in open(env.daemon.log, errors="replace").read():
        raise AssertionError("no log line about the faulted page")
    env.destroy(D)
    eq(env.dom0.is_domain_introduced(D), False, "the domain released")


TESTS = [("shrunk_ring_page", t_shrunk_ring_page)]


if __name__ == "__main__":
    sys.exit(run_suite("hostile/", TESTS))
