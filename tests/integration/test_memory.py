#!/usr/bin/env python3
"""test_memory.py: xstored gives memory back after the store shrinks
(issue 15: RSS after deleting a big store back near the empty daemon's).

glibc returns only the top of its heap by itself, so a daemon that once
held a big store would keep that size for good.  xstored calls
malloc_trim at the end of a turn in which the store fell by a quarter
and 4 MiB from its high-water mark; `memreport` counts those.  The RSS
itself is judged by bench/run.py (workload 7, "unload"), not here: under
AddressSanitizer the allocator keeps freed memory in its quarantine.
  * a big removal (8 MiB of values): one trim
  * a small removal, and a shrink of less than a quarter: none
  * growing again, then removing again: a second trim

Env: XSTORED (build/asan/xstored).  PASS/FAIL/SKIP lines, then
"N passed, N failed[, N skipped]".
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsproto  # noqa: E402
from daemon import XstoredDaemon  # noqa: E402
from simenv import Runner, eq  # noqa: E402

BIG = "v" * 4000


def trims(c, d):
    """The daemon's memreport trim count (memreport to a file)."""
    path = os.path.join(d.dir, "memreport.txt")
    if os.path.exists(path):
        os.unlink(path)
    c.control("memreport", path)
    with open(path) as f:
        m = re.search(r"given back to the system (\d+) times", f.read())
    if not m:
        raise AssertionError("no trim count in memreport")
    return int(m.group(1))


def fill(c, prefix, n):
    """n nodes of 4000 bytes under prefix, pipelined."""
    ids = [c.send("WRITE", ("%s/%d" % (prefix, i)).encode() + b"\0" + BIG.encode())
           for i in range(n)]
    for i in ids:
        c.reply(i)


def t_trims():
    d = XstoredDaemon(extra_args=["--platform", "none", "--no-persist"]).start()
    try:
        c = xsproto.Conn(d.socket, timeout=30)
        eq(trims(c, d), 0, "trims of a new daemon")
        fill(c, "/m/a", 2500)  # ~10 MB of nodes
        c.write("/m/small", "x")
        c.rm("/m/small")
        c.rm("/m/a/0")
        eq(trims(c, d), 0, "trims after small removals")
        # 500 of 2500 nodes: a fifth, over 4 MiB but under a quarter.
        for i in range(1, 501):
            c.rm("/m/a/%d" % i)
        eq(trims(c, d), 0, "trims after a shrink of a fifth")
        c.rm("/m/a")
        eq(trims(c, d), 1, "trims after removing the rest")
        fill(c, "/m/b", 2500)
        c.rm("/m/b")
        eq(trims(c, d), 2, "trims after growing and removing again")
    finally:
        d.stop()
        d.cleanup()


def main():
    r = Runner("memory/")
    r.run("memory given back after the store shrinks, not before", t_trims)
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
