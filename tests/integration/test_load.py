#!/usr/bin/env python3
"""test_load.py: the bounded variant of the hostile-guest load test
(issue 10) for make check: 60 good guests (LOAD_GUESTS) and one hostile
guest of every class at once, while dom0 runs a domain storm.  The long
version with 1 000 guests is `make load` (load_hostile.py, which says
what each hostile guest does and what is checked).

Functional checks only: the daemon lives and its store is consistent,
every good guest finishes and finds what it wrote, every hostile guest
meets its refusal, the daemon's RSS stays within the sum of the guests'
memory quotas plus a base, teardown releases everything, clean exit.
dom0's p50/p99 latency, quiet and loaded, and their ratio are printed,
not asserted (no timing assertions in make check).

Env: XSTORED (build/asan/xstored), XSIM, XSGUEST_C, LOAD_GUESTS (60).
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load_hostile  # noqa: E402


def main():
    n = load_hostile.env_int("LOAD_GUESTS", 60)
    # time_limit stops a hung run; it is no timing assertion.  The
    # slowest guest is the hostile "absent" one (~11 000 round trips from
    # Python, beside 60 C guests on one CPU): 90-120 s under ASan on a
    # busy 2-CPU machine, so 120 s made a slow machine fail it.
    return load_hostile.run_load(n_good=n, parallel=n, storm_cycles=10, rounds=4,
                                 assert_ratio=False, time_limit=300)


if __name__ == "__main__":
    sys.exit(main())
