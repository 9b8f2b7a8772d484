#!/usr/bin/env python3
"""test_logflood.py: a guest cannot fill the disk through the daemon's log
(issue 10, item 1; the class of XSA-326's "unbounded resource from a
guest", applied to the log).

  quota-refusals   a guest whose every write is refused by its node quota
                   makes the daemon log a burst of lines, then one
                   "suppressed K similar" summary, not a line per refusal.
  size-bound       with --log-file and --log-max-size, the log file never
                   grows past the bound: it moves to FILE.1 and starts
                   afresh.
Output: PASS/FAIL lines, then "N passed, N failed".
"""
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from simenv import SimEnv, run_suite, wait_until  # noqa: E402
from xsproto import XsError  # noqa: E402

REFUSALS = 3000
BURST = 10  # lines per (domain, kind) and minute: common/log.c


def log_text(env):
    with open(env.daemon.log, errors="replace") as f:
        return f.read()


def t_quota_refusals(env):
    D = 21
    g = env.domain(D)
    env.dom0.set_quota(D, "nodes", 1)
    refused = 0
    for i in range(REFUSALS):
        try:
            g.write("data/flood-%d" % i, "v")
        except XsError as e:
            if e.err not in ("ENOSPC", "EDQUOT"):
                raise
            refused += 1
    if refused < REFUSALS - 5:
        raise AssertionError("only %d of %d writes refused" % (refused, REFUSALS))
    env.dom0.control("print", "flush-marker")  # something after the flood
    lines = [l for l in log_text(env).splitlines()
             if re.search(r"domain %d: \S+ refused: quota" % D, l)]
    if len(lines) > BURST:
        raise AssertionError("%d quota lines for %d refusals (burst %d)"
                             % (len(lines), refused, BURST))
    if not lines:
        raise AssertionError("no quota line at all: the refusal is not reported")


def t_size_bound(_env):
    tmp = tempfile.mkdtemp(prefix="xs-logsize-")
    logf = os.path.join(tmp, "xstored.log")
    env = SimEnv(extra_args=["--log-file", logf, "--log-max-size", "8192",
                             "--log-level", "debug"]).start()
    try:
        biggest = 0
        for i in range(400):
            # each connection logs "new" and "freed" at debug level
            with env.conn() as c:
                c.write("/size/%d" % i, "x")
            biggest = max(biggest, os.path.getsize(logf) if os.path.exists(logf) else 0)
        wait_until(lambda: os.path.exists(logf + ".1"), 5, "the log to move to .1")
        if biggest > 8192 + 512:
            raise AssertionError("log file reached %d bytes (bound 8192)" % biggest)
        if os.path.getsize(logf + ".1") > 8192 + 512:
            raise AssertionError("rotated file has %d bytes" % os.path.getsize(logf + ".1"))
    finally:
        env.cleanup()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


TESTS = [
    ("quota_refusals", t_quota_refusals),
    ("size_bound", t_size_bound),
]


if __name__ == "__main__":
    sys.exit(run_suite("logflood/", TESTS))
