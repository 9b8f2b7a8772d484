#!/usr/bin/env python3
"""test_crash.py: xstored survives kill -9 (issue 12).

The daemon runs on the simulated platform with its journal (in its run
directory by default).  A load of socket clients (WRITE, RM, transactions
of three nodes with one tag) and simulated guests (the same over their
rings, plus a watch each; and one guest whose requests are sent while the
daemon is down) runs while the test SIGKILLs the daemon and starts it
again with the same arguments.  After every restart, with the
load parked, it checks (tests/support/crash_load.py has the rules): every
acknowledged change is there, no transaction is half applied, each guest's
request in flight got exactly one reply and was applied once, each guest's
watch still fires, a guest's open transaction answered EAGAIN.

  random_kills       24 kills at random moments (--kills N), default options
  points             the daemon kills itself at chosen points
                     (XSTORED_TEST_CRASH): torn:N (half a journal batch
                     written), after-commit:N (journaled, replies not sent)
  compaction         --compact-min 16384: random kills while compactions
                     run, and compact:N (killed right after the start)
  state_dir          --state-dir DIR --sync: the state goes to DIR
  no_persist         --no-persist: nothing survives (Xen's behaviour): the
                     control that the checks can fail
  libxstore          a libxstore client (`xstore watch`) goes on by itself
                     across kills: it reconnects and its watch fires again
  sanitizers         no ASan/UBSan report in any of the daemons' logs

Usage: test_crash.py [--seed N] [--kills N] [--selftest] [TEST...]
The seed is random unless given, and printed: `--seed N` repeats a run.
--selftest checks the checker on a daemon without persistence: instead of
a kill, the daemon is paused (SIGSTOP) while the socket connections are
cut, then continued; nothing may be reported lost.
Env: XSTORED (build/asan/xstored), XSIM (next to it), KEEP=1 keeps the
temporary directories of failed tests.  Output: PASS/FAIL/SKIP lines, then
"N passed, N failed[, N skipped]".
"""
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from crash_load import Load, read_or_none  # noqa: E402
from daemon import DaemonError, sanitizer_errors  # noqa: E402
from simenv import Runner, SimEnv, Skip, require_binaries  # noqa: E402

CRASH_VAR = "XSTORED_TEST_CRASH"
GUEST_TIMEOUT = 20.0   # a guest's request must be answered within this after restart
START_TIMEOUT = 30.0   # the daemon must answer within this after it starts (a loaded CI)
SHOW = 12              # problems listed per failure


class Ctx:
    seed = 0
    kills = 24
    selftest = False   # SIGSTOP/SIGCONT instead of kill and restart
    dirs = []          # every temporary directory (daemons' logs for the sanitizer check)


def say(msg):
    print("  " + msg, flush=True)


# --------------------------------------------------------------------------
# The daemon: start, kill, restart with the same arguments
# --------------------------------------------------------------------------
def start_daemon(env, crash=None):
    """(Re)start env's daemon, with XSTORED_TEST_CRASH=crash if given
    (a crash point reached while it starts is no error)."""
    os.environ.pop(CRASH_VAR, None)
    if crash:
        os.environ[CRASH_VAR] = crash
    try:
        env.daemon.start(timeout=START_TIMEOUT)
    except DaemonError as e:
        if crash and env.daemon.proc is not None and env.daemon.proc.returncode == -9:
            return
        why = str(e)
        if env.daemon.proc is not None and env.daemon.proc.returncode == 2:
            # a usage error: its first lines say which option (the tail is --help)
            head = [l for l in log_text(env).splitlines() if l.strip()][:2]
            why = "usage error (exit 2): %s" % " / ".join(head)
        raise AssertionError("xstored %s did not start%s: %s" % (
            " ".join(env.daemon.extra_args), " with %s=%s" % (CRASH_VAR, crash) if crash else "", why))
    finally:
        os.environ.pop(CRASH_VAR, None)
    if env.dom0 is not None:
        env.dom0.close()
    try:
        env.dom0 = env.conn()
    except OSError:
        if not (crash and env.daemon.proc.poll() == -9):
            raise


def new_env(args):
    """A SimEnv whose daemon runs with `args`; a usage error is a FAIL
    naming the option, not a hang."""
    env = SimEnv(extra_args=args, timeout=5.0)
    Ctx.dirs.append(env.dir)
    start_daemon(env)
    return env


def kill(env):
    p = env.daemon.proc
    p.kill()
    p.wait()


def log_text(env):
    try:
        with open(env.daemon.log, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def report(what, probs, env):
    lines = ["%s (seed %d): %d problem%s:" % (what, Ctx.seed, len(probs), "s" if len(probs) > 1 else "")]
    lines += ["    - " + p for p in probs[:SHOW]]
    if len(probs) > SHOW:
        lines.append("    ... and %d more" % (len(probs) - SHOW))
    return "\n".join(lines)


def cycle(env, load, rng, what, self_killed=False, crash_next=None):
    """The daemon dies (SIGKILL from us, unless it killed itself), stays
    down a moment (guests may send requests meanwhile), is started again
    with the same arguments, and the state is checked with the load
    parked.  AssertionError on any problem.  Then, with crash_next, one
    more kill and a start with XSTORED_TEST_CRASH=crash_next (armed only
    after the check, whose own writes would count as commits)."""
    if Ctx.selftest:
        # the checker's own check: a pause loses nothing
        os.kill(env.daemon.proc.pid, signal.SIGSTOP)
        load.killed()
        load.cut_sockets()
        time.sleep(rng.uniform(0.0, 0.3))
        load.pause()
        os.kill(env.daemon.proc.pid, signal.SIGCONT)
    else:
        if not self_killed:
            kill(env)
        load.killed()
        time.sleep(rng.uniform(0.0, 0.3))
        load.pause()
        start_daemon(env)
    load.restarted()
    late = load.wait_parked(GUEST_TIMEOUT + 5)
    probs = []
    if late:
        probs.append("still busy %.0f s after the restart: %s" % (GUEST_TIMEOUT + 5, ", ".join(late)))
    probs += load.verify(env.dom0, load.kills)
    if not env.alive():
        probs.append("the daemon died after the restart; log: %s" % env.daemon.tail(6))
    if probs:
        raise AssertionError(report(what, probs, env))
    if crash_next:
        kill(env)
        load.killed_quietly()
        start_daemon(env, crash_next)
        load.restarted()


def run_until_self_kill(env, load, spec, bound_changes=None, limit=15.0):
    """Run the load until the daemon, armed with `spec`, kills itself."""
    load.resume()
    c0, t0 = load.changes(), time.monotonic()
    while env.daemon.proc.poll() is None:
        n = load.changes() - c0
        if time.monotonic() - t0 > limit or (bound_changes and n > bound_changes):
            raise AssertionError(
                "%s=%s: the daemon did not kill itself (%d acknowledged changes in %.1f s): "
                "crash point not reached, or the variable not read" % (
                    CRASH_VAR, spec, n, time.monotonic() - t0))
        time.sleep(0.01)
    st = env.daemon.proc.returncode
    if st != -9:
        raise AssertionError("%s=%s: the daemon exited with status %s, not by SIGKILL; log: %s"
                             % (CRASH_VAR, spec, st, env.daemon.tail(8)))


def make_guests(env, domids):
    gs = []
    for d in domids:
        env.create(d)
        gs.append(env.guest(d, timeout=GUEST_TIMEOUT))
    return gs


def make_load(env, rng, n_sock, domids=(), downtime=None):
    """n_sock socket clients, a guest thread per domid, and `downtime`,
    the domid of a guest whose requests are sent while the daemon is
    down."""
    dt = make_guests(env, (downtime,))[0] if downtime else None
    return Load(env.socket, rng, n_sock=n_sock, guests=make_guests(env, domids), downtime_guest=dt)


def finish(env, load):
    """Stop the load and the daemon; main() removes the directory after
    the sanitizer check (unless KEEP is set)."""
    if load is not None:
        load.stop()
    env.cleanup(keep=True)


def stats(load, extra=""):
    eag = sum(g.eagain_after_restart for g in load.guests)
    say("%d kills, %d acknowledged changes, guests' transactions answered EAGAIN after a "
        "restart: %d%s" % (load.kills, load.changes(), eag, extra))


# --------------------------------------------------------------------------
# 1. Random kills
# --------------------------------------------------------------------------
def t_random_kills():
    rng = random.Random(Ctx.seed)
    env, load = new_env([]), None
    try:
        load = make_load(env, rng, 3, (5, 6, 7), downtime=4)
        for k in range(1, Ctx.kills + 1):
            load.resume()
            time.sleep(rng.uniform(0.15, 0.9))
            cycle(env, load, rng, "after random kill %d of %d" % (k, Ctx.kills))
        stats(load)
    finally:
        finish(env, load)


# --------------------------------------------------------------------------
# 2. Chosen crash points
# --------------------------------------------------------------------------
def t_points():
    rng = random.Random(Ctx.seed + 1)
    env, load = new_env([]), None
    try:
        load = make_load(env, rng, 3, (8, 9), downtime=13)
        conns = len(load.workers) + 1
        specs = ["torn:1", "torn:%d" % rng.randint(5, 60),
                 "after-commit:1", "after-commit:%d" % rng.randint(5, 60)]
        for spec in specs:
            n = int(spec.split(":")[1])
            # a random kill first, so that the crash point is armed on a
            # daemon that has already been through a restart
            load.resume()
            time.sleep(rng.uniform(0.1, 0.4))
            cycle(env, load, rng, "after the random kill before %s" % spec, crash_next=spec)
            run_until_self_kill(env, load, spec, bound_changes=4 * n * conns + 200)
            cycle(env, load, rng, "after the crash at %s" % spec, self_killed=True)
            if spec.startswith("torn") and "drop" not in log_text(env).lower():
                raise AssertionError("after the crash at %s the restarted daemon's log does not say "
                                     "what was dropped: %s" % (spec, env.daemon.tail(8)))
        stats(load, ", points %s" % " ".join(specs))
    finally:
        finish(env, load)


# --------------------------------------------------------------------------
# 3. Compaction
# --------------------------------------------------------------------------
def state_files(root, skip=None):
    """Journal and snapshot files below root (not under `skip`)."""
    out = []
    for d, dirs, files in os.walk(root):
        if skip and os.path.abspath(d).startswith(os.path.abspath(skip)):
            continue
        out += [os.path.join(d, f) for f in files if f.startswith(("journal.", "snapshot."))]
    return out


def t_compaction():
    rng = random.Random(Ctx.seed + 2)
    env, load = new_env(["--compact-min", "16384"]), None
    try:
        load = make_load(env, rng, 3, (10, 11), downtime=14)
        for k in range(1, 7):
            load.resume()
            time.sleep(rng.uniform(0.3, 1.0))
            cycle(env, load, rng, "after random kill %d of 6 (compacting)" % k)
        for spec in ("compact:1", "compact:%d" % rng.randint(2, 3)):
            load.resume()
            time.sleep(rng.uniform(0.1, 0.3))
            cycle(env, load, rng, "after the random kill before %s" % spec, crash_next=spec)
            run_until_self_kill(env, load, spec, limit=30.0)
            cycle(env, load, rng, "after the crash at %s" % spec, self_killed=True)
        snaps = [f for f in state_files(env.dir, env.sim) if os.path.basename(f).startswith("snapshot.")]
        if not snaps:
            raise AssertionError("no snapshot file in %s after the load with --compact-min 16384: "
                                 "no compaction ever finished" % env.dir)
        stats(load, ", snapshots now: %s" % " ".join(sorted(os.path.basename(f) for f in snaps)))
    finally:
        finish(env, load)


# --------------------------------------------------------------------------
# 4. --state-dir and --sync
# --------------------------------------------------------------------------
def t_state_dir():
    rng = random.Random(Ctx.seed + 3)
    sd = os.path.join("/tmp", "xscrash-state-%d-%d" % (os.getpid(), rng.randint(0, 1 << 30)))
    Ctx.dirs.append(sd)
    env, load = new_env(["--state-dir", sd, "--sync"]), None
    try:
        load = make_load(env, rng, 2, (12,), downtime=15)
        for k in range(1, 4):
            load.resume()
            time.sleep(rng.uniform(0.2, 0.6))
            cycle(env, load, rng, "after kill %d of 3 with --state-dir --sync" % k)
        if not state_files(sd):
            raise AssertionError("--state-dir %s: no journal or snapshot file there: %r"
                                 % (sd, sorted(os.listdir(sd)) if os.path.isdir(sd) else "missing"))
        stray = state_files(env.dir, env.sim)
        if stray:
            raise AssertionError("--state-dir given, yet state files in the run directory: %s" % stray)
        stats(load)
    finally:
        finish(env, load)


# --------------------------------------------------------------------------
# 5. --no-persist: the control
# --------------------------------------------------------------------------
def t_no_persist():
    rng = random.Random(Ctx.seed + 4)
    env, load = new_env(["--no-persist"]), None
    try:
        load = make_load(env, rng, 2)
        load.resume()
        time.sleep(0.5)
        load.pause()
        if load.wait_parked(10):
            raise AssertionError("the load did not stop")
        acked = [(p, v) for w in load.workers for g in w.groups if not g.maybe
                 for p, v in zip(g.paths, g.acked) if v is not None]
        if not acked:
            raise AssertionError("nothing acknowledged in 0.5 s of load")
        kill(env)
        start_daemon(env)
        # the same checker as the other tests must see every one lost
        probs = load.verify(env.dom0, 1)
        survived = [p for p, _ in acked if read_or_none(env.dom0, p) is not None]
        if survived:
            raise AssertionError("--no-persist: %d of %d acknowledged nodes survived kill -9, e.g. %s"
                                 % (len(survived), len(acked), survived[:3]))
        if read_or_none(env.dom0, "/crash") is not None:
            raise AssertionError("--no-persist: /crash survived kill -9")
        lost = [p for p in probs if p.startswith("acknowledged change lost")]
        if not lost:
            raise AssertionError("the checker saw no loss after a restart that lost everything: %r"
                                 % probs[:3])
        say("--no-persist: all %d acknowledged nodes gone, the checker reported %d lost groups"
            % (len(acked), len(lost)))
    finally:
        finish(env, load)


# --------------------------------------------------------------------------
# 6. A libxstore client across kills
# --------------------------------------------------------------------------
def t_libxstore():
    """`xstore watch` (libxstore's socket transport and watch thread) keeps
    running across kills: the library connects again by itself and
    registers its watch again (which fires once, as after WATCH); a
    change after each restart is printed."""
    cli = os.path.join(os.path.dirname(require_binaries()[0]), "xstore")
    if not os.access(cli, os.X_OK):
        raise Skip("not built: %s" % cli)
    rng = random.Random(Ctx.seed + 5)
    env, proc = new_env([]), None
    try:
        env.dom0.write("/crash/lx", "0")
        penv = dict(os.environ, XENSTORED_PATH=env.socket, XSTORE_RECONNECT_MS="20000")
        proc = subprocess.Popen([cli, "watch", "/crash/lx"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=penv)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l.rstrip("\n")) for l in proc.stdout] + [lines.put(None)],
                         daemon=True).start()
        seen = []

        def expect(want, what):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    l = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if l is None:
                    raise AssertionError("libxstore client (xstore watch) exited with %s before %s; "
                                         "it printed %r" % (proc.wait(), what, seen[-6:]))
                seen.append(l)
                if l == want:
                    return
            raise AssertionError("libxstore client (xstore watch): no event %s (%s) within 10 s; "
                                 "it printed %r" % (want, what, seen[-6:]))

        expect("/crash/lx", "the watch's first event")
        env.dom0.write("/crash/lx/k0", "0")
        expect("/crash/lx/k0", "a change before any kill")
        for k in range(1, 4):
            kill(env)
            time.sleep(rng.uniform(0.0, 0.3))
            start_daemon(env)
            expect("/crash/lx", "its watch registered again after restart %d" % k)
            env.dom0.write("/crash/lx/k%d" % k, str(k))
            expect("/crash/lx/k%d" % k, "a change after restart %d" % k)
        say("xstore watch went on by itself across 3 kills")
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        env.cleanup(keep=True)


# --------------------------------------------------------------------------
def t_sanitizers():
    bad = []
    for d in Ctx.dirs:
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f == "log" or f.startswith("log."):
                bad += ["%s: %s" % (os.path.join(d, f), l) for l in sanitizer_errors(os.path.join(d, f))]
    if bad:
        raise AssertionError("sanitizer reports: %s" % "; ".join(bad[:5]))


TESTS = [
    ("random_kills", t_random_kills),
    ("points", t_points),
    ("compaction", t_compaction),
    ("state_dir", t_state_dir),
    ("no_persist", t_no_persist),
    ("libxstore", t_libxstore),
]


def main(argv):
    args, only = argv[1:], []
    while args:
        a = args.pop(0)
        if a == "--seed" and args:
            Ctx.seed = int(args.pop(0))
            continue
        if a == "--selftest":
            Ctx.selftest = True
            continue
        if a == "--kills" and args:
            Ctx.kills = max(1, int(args.pop(0)))
            continue
        only.append(a)
    if "--seed" not in argv:
        Ctx.seed = int.from_bytes(os.urandom(4), "little")
    r = Runner("crash/")
    try:
        require_binaries()
    except Skip as e:
        r.skip("all", str(e))
        return r.final()
    os.environ.pop(CRASH_VAR, None)
    print("crash: seed %d (repeat with --seed %d)" % (Ctx.seed, Ctx.seed), flush=True)
    if Ctx.selftest:
        print("crash: self-test of the checker: the daemon is paused (SIGSTOP, SIGCONT), "
              "never killed; socket connections are cut as a kill would", flush=True)
        only = only or ["random_kills"]
    try:
        for name, fn in TESTS:
            if not only or name in only:
                r.run(name, fn)
        r.run("sanitizers", t_sanitizers)
    finally:
        if os.environ.get("KEEP"):
            print("crash: kept %s" % " ".join(Ctx.dirs), flush=True)
        else:
            for d in Ctx.dirs:
                shutil.rmtree(d, ignore_errors=True)
    return r.final()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
