#!/usr/bin/env python3
"""test_options.py: xstored's command line as Xen's init scripts use it, and
the log line of every refused guest request (issue 14).

  help, version            --help (exit 0, the Xen options listed), --version
                           (names the platforms built in)
  unknown_option           prints the whole usage on stderr, exit 2
  refused_options          -K/--keep-orphans, -U/--live-update, --event, and
                           --master-domid/--priv-domid other than 0: exit 2
                           with a reason, the daemon not started
  accepted_options         Xen's -I[=on|off], "-I off", -R, -D, --master-domid 0,
                           --priv-domid 0, --trace-control=+obj: the daemon runs
  output_pid               -P: the daemonised pid, alone on stdout
  trace_control            -T FILE traces requests; --trace-control=-io stops it
  refusal_lines            one line per refused guest request naming the
                           domain, the request, the rule and the path:
                           permission, privileged request, quota, size limit,
                           invalid path, nested transaction, unknown type;
                           unprintable bytes of a path cannot forge lines;
                           dom0's errors make no line
  write_rate_line          a guest over its write rate gets a "delayed" line
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsproto  # noqa: E402
from daemon import XstoredDaemon, default_xstored  # noqa: E402
from simenv import Runner, SimEnv, Skip, require_binaries, wait_until  # noqa: E402
from xsproto import XsError  # noqa: E402

XSTORED = default_xstored()
TIMEOUT = 20


def run(*args, timeout=TIMEOUT):
    return subprocess.run([XSTORED] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def t_help():
    r = run("--help")
    if r.returncode != 0 or "Usage:" not in r.stdout:
        raise AssertionError("exit %d, stdout %r" % (r.returncode, r.stdout[:200]))
    for opt in ("--keep-orphans", "--live-update", "--master-domid", "--priv-domid",
                "--trace-control", "--log-syslog", "--output-pid", "--internal-db"):
        if opt not in r.stdout:
            raise AssertionError("--help does not mention %s" % opt)


def t_version():
    r = run("--version")
    if r.returncode != 0 or not r.stdout.startswith("xstored "):
        raise AssertionError("exit %d, stdout %r" % (r.returncode, r.stdout))
    m = re.search(r"^platforms: (.*)$", r.stdout, re.M)
    if not m or "sim" not in m.group(1).split():
        raise AssertionError("--version does not list the platforms: %r" % r.stdout)


def t_unknown_option():
    for opt in ("--no-such-option", "-Z"):
        r = run(opt)
        if r.returncode != 2:
            raise AssertionError("%s: exit %d, want 2" % (opt, r.returncode))
        if "unknown option" not in r.stderr or "Usage:" not in r.stderr \
                or "--pid-file" not in r.stderr:
            raise AssertionError("%s: no usage on stderr: %r" % (opt, r.stderr[:300]))


def t_refused_options():
    with tempfile.TemporaryDirectory(prefix="xs-opts-") as d:
        cases = [
            (["-K"], "XSA-322"),
            (["--keep-orphans"], "XSA-322"),
            (["-U"], "live update"),
            (["--live-update"], "live update"),
            (["--event", "5"], "stub domain"),
            (["--master-domid", "3"], "domain 0"),
            (["--priv-domid", "7"], "privileged"),
        ]
        for args, why in cases:
            r = run("--rundir", d, "--platform", "none", "-N", *args)
            if r.returncode != 2:
                raise AssertionError("%s: exit %d, want 2 (%r)" % (args, r.returncode, r.stderr))
            if "not supported" not in r.stderr or why not in r.stderr:
                raise AssertionError("%s: %r does not say why (%s)" % (args, r.stderr, why))
            if os.path.exists(os.path.join(d, "socket")):
                raise AssertionError("%s: the daemon started anyway" % (args,))


def t_accepted_options():
    for args in (["-I"], ["--internal-db=off"], ["-I", "off"], ["-R", "-D"],
                 ["--master-domid", "0", "--priv-domid", "0"],
                 ["--trace-control=+obj", "--trace-control", "-wrl"]):
        dmn = XstoredDaemon(XSTORED, extra_args=["--platform", "none"] + args)
        try:
            dmn.start()
            with xsproto.Conn(dmn.socket, timeout=TIMEOUT) as c:
                c.write("/opt", "1")
            st = dmn.stop()
            if st != 0:
                raise AssertionError("%s: exit %s" % (args, st))
        except Exception as e:
            raise AssertionError("%s: %s; log: %s" % (args, e, dmn.tail()))
        finally:
            dmn.kill()
            shutil.rmtree(dmn.dir, ignore_errors=True)


def t_output_pid():
    with tempfile.TemporaryDirectory(prefix="xs-opts-") as d:
        pidf = os.path.join(d, "pid")
        r = run("--rundir", d, "--platform", "none", "--pid-file", pidf, "-P")
        pid = None
        try:
            if r.returncode != 0:
                raise AssertionError("exit %d: %s" % (r.returncode, r.stderr))
            with open(pidf) as f:
                pid = int(f.read())
            if r.stdout != "%d\n" % pid:
                raise AssertionError("stdout %r, want the pid %d alone" % (r.stdout, pid))
        finally:
            if pid:
                os.kill(pid, signal.SIGTERM)
                wait_until(lambda: not os.path.exists(pidf), TIMEOUT, "the daemon to stop")


def t_trace_control():
    with tempfile.TemporaryDirectory(prefix="xs-opts-") as d:
        for extra, want in (([], True), (["--trace-control=-io"], False),
                            (["--trace-control=-io", "--trace-control=+io"], True)):
            tf = os.path.join(d, "trace-%d" % len(extra))
            dmn = XstoredDaemon(XSTORED, extra_args=["--platform", "none", "-T", tf] + extra)
            try:
                dmn.start()
                with xsproto.Conn(dmn.socket, timeout=TIMEOUT) as c:
                    c.write("/traced-node", "1")
                dmn.stop()
            finally:
                dmn.kill()
                shutil.rmtree(dmn.dir, ignore_errors=True)
            with open(tf) as f:
                has = "/traced-node" in f.read()
            if has != want:
                raise AssertionError("%s: request traced: %s, want %s" % (extra, has, want))


# ---------------------------------------------------------------------------
# refusal lines
# ---------------------------------------------------------------------------
def log_lines(env):
    with open(env.daemon.log, errors="replace") as f:
        return f.read().splitlines()


def refusal(env, D, req, rule, path):
    """The one line for domain D's refused `req`: AssertionError if absent."""
    pat = re.compile(r"domain %d: %s refused: .*%s.*; path %s$" %
                     (D, re.escape(req), re.escape(rule), re.escape(path)))
    env.dom0.control("print", "sync")  # the log is written by then
    lines = [l for l in log_lines(env) if pat.search(l)]
    if not lines:
        got = [l for l in log_lines(env) if "domain %d:" % D in l]
        raise AssertionError("no line for %s %s (%s); domain %d lines: %s"
                             % (req, path, rule, D, got[-5:]))
    return lines[-1]


def expect_error(fn, *args):
    try:
        fn(*args)
    except XsError as e:
        return e.err
    raise AssertionError("%s%r succeeded" % (fn.__name__, args))


def t_refusal_lines(env):
    # Nine refusals: under the 10 lines a (domain, kind) may log per
    # minute (common/log.c RL_BURST); past it they would be suppressed.
    D = 31
    g = env.domain(D)
    home = "/local/domain/%d" % D
    env.dom0.write("/secret", "x")  # dom0's, no access for guests
    expect_error(g.read, "/secret")
    refusal(env, D, "READ", "permission", "/secret")
    expect_error(g.write, "/secret", "y")
    refusal(env, D, "WRITE", "permission", "/secret")

    expect_error(g.introduce, 99, 1, 1)
    refusal(env, D, "INTRODUCE", "privileged", "99")

    # Invalid path: and a control byte must not start a forged line.
    expect_error(g.write, "bad//path\n0000-00-00 forged: x", "v")
    lines = log_lines(env)
    if any(l.startswith("0000-00-00 forged") for l in lines):
        raise AssertionError("a guest's path forged a log line")
    refusal(env, D, "WRITE", "invalid", "bad//path?0000-00-00 forged: x")

    # A reply too big: a directory of long names.
    env.dom0.mkdir("/big")
    env.dom0.set_perms("/big", ["n0", "r%d" % D])
    for i in range(80):
        env.dom0.write("/big/%s-%03d" % ("n" * 60, i), "")
    expect_error(g.directory, "/big")
    refusal(env, D, "DIRECTORY", "size limit", "/big")

    tx = g.tx_start()
    m = g.request("TRANSACTION_START", b"\0", tx_id=tx)
    if not m.is_error:
        raise AssertionError("nested transaction accepted")
    refusal(env, D, "TRANSACTION_START", "transaction", "-")
    g.tx_end(tx, False)

    env.dom0.set_quota(D, "nodes", 1)
    expect_error(g.write, "data/q1", "v")
    expect_error(g.write, "data/q2", "v")
    refusal(env, D, "WRITE", "quota nodes", home + "/data/q2")

    m = g.request(777, b"x\0")
    if not m.is_error:
        raise AssertionError("unknown type accepted")
    refusal(env, D, "?", "unknown request type 777", "x")

    # dom0's errors are answers to the toolstack, not refusals.
    n = len(log_lines(env))
    expect_error(env.dom0.write, "bad//dom0", "v")
    env.dom0.control("print", "sync")
    if any("domain 0:" in l and "refused" in l for l in log_lines(env)[n:]):
        raise AssertionError("dom0's error logged as a refusal")


def t_write_rate_line():
    env = SimEnv(extra_args=["--write-rate", "20/5"]).start()
    try:
        D = 32
        g = env.domain(D)
        for i in range(12):
            g.write("data/w%d" % i, "v")
        env.dom0.control("print", "sync")
        pat = re.compile(r"domain %d: WRITE delayed \d+ ms: write rate 20/s "
                         r"\(burst 5\) exceeded; path /local/domain/%d/data/w" % (D, D))
        if not any(pat.search(l) for l in log_lines(env)):
            raise AssertionError("no write-rate line: %s" % log_lines(env)[-5:])
        env.check_clean_exit()
    finally:
        env.cleanup()


TESTS = [
    ("help", t_help),
    ("version", t_version),
    ("unknown_option", t_unknown_option),
    ("refused_options", t_refused_options),
    ("accepted_options", t_accepted_options),
    ("output_pid", t_output_pid),
    ("trace_control", t_trace_control),
]


def main():
    r = Runner("options/")
    if not os.access(XSTORED, os.X_OK):
        r.skip("all", "not built: %s (set XSTORED)" % XSTORED)
        return r.final()
    for name, fn in TESTS:
        r.run(name, fn)
    try:
        require_binaries()
    except Skip as e:
        r.skip("refusal_lines", str(e))
        r.skip("write_rate_line", str(e))
        return r.final()
    env = SimEnv().start()
    try:
        r.run("refusal_lines", t_refusal_lines, env)
        r.run("clean_exit", env.check_clean_exit)
    finally:
        env.cleanup()
    r.run("write_rate_line", t_write_rate_line)
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
