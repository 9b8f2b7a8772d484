#!/usr/bin/env python3
"""test_systemd.py: xstored on a systemd host (issue 14).

  notify_foreground   NOTIFY_SOCKET (a path), --no-fork: READY=1 with a
                      STATUS= line once the socket answers, STOPPING=1 on
                      SIGTERM.
  notify_forking      NOTIFY_SOCKET (abstract "@name"), daemonising: READY=1
                      comes from the daemon, with MAINPID= its pid (the one
                      in the pid file), before the starting process exits.
  notify_failure      a daemon that cannot start says STATUS=... ERRNO=.
  journal_stderr      stderr is $JOURNAL_STREAM: lines carry "<level>" prefixes.
  activation_names    socket activation: fds 3 and 4 from a launcher that
                      sets LISTEN_PID to the child, told apart by
                      LISTEN_FDNAMES (passed in the other order); the socket
                      files are neither replaced nor removed.
  activation_paths    the same, names not ours: told apart by bound path.
  activation_other    LISTEN_PID of another process: the fds are not taken.
  socket_activate     through systemd-socket-activate, if installed.
  units_verify        systemd/*.service and *.socket pass
                      `systemd-analyze verify` (SKIP without it).
  syslog              --log-syslog: lines reach /dev/log (facility daemon,
                      levels mapped); daemonised with INVOCATION_ID set and
                      no --log-file, syslog is the default.  /dev/log is
                      redirected in a private mount namespace (unshare -m;
                      SKIP without the right to).
  launch_xenstore     Xen 4.17's /etc/xen/scripts/launch-xenstore with
                      XENSTORED=xstored, both its ways of waiting (pid file
                      without systemd; READY=1 with it).  The script is
                      Xen's: $XEN_LAUNCH_XENSTORE, /etc/xen/scripts/
                      launch-xenstore, or the copy tests/support/deps.sh
                      unpacks from xen-utils-common, else SKIP;
                      run as a copy whose fixed paths point into a temporary
                      directory (so no root and nothing outside it).
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import xsproto  # noqa: E402
from daemon import default_xstored, sanitizer_errors  # noqa: E402
from simenv import Runner, Skip, wait_until  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
XSTORED = default_xstored()
TIMEOUT = 20  # generous: ASan builds on a loaded 2-core machine


class Tmp:
    """A private directory, removed at the end."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="xs-systemd-", dir="/tmp")
        return self.dir

    def __exit__(self, *a):
        shutil.rmtree(self.dir, ignore_errors=True)


def notify_listener(addr):
    """A datagram socket like systemd's notify socket at `addr` (a path,
    or "@name" for the abstract namespace)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
    s.settimeout(TIMEOUT)
    return s


def recv_fields(s):
    msg = s.recv(4096).decode()
    return dict(l.split("=", 1) for l in msg.splitlines() if "=" in l), msg


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


def stop_pid(pid):
    """SIGTERM a daemon that is not our child; wait for it to go."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    wait_until(lambda: not os.path.exists("/proc/%d" % pid) or
               open("/proc/%d/stat" % pid).read().split()[2] == "Z",
               TIMEOUT, "pid %d to exit" % pid)


def kill_daemon(pid, pidf):
    """After a failure: SIGKILL the daemon that forked away from us, known
    by `pid` or else by its pid file, so that no test leaves one behind."""
    if not pid and os.path.exists(pidf):
        try:
            pid = read_pid(pidf)
        except ValueError:
            return
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def answers(path):
    try:
        with xsproto.Conn(path, timeout=5) as c:
            c.write("/probe", "x") if not path.endswith("_ro") else c.read("/")
        return True
    except (OSError, xsproto.XsError, xsproto.XsTimeout, xsproto.XsClosed):
        return False


def check_log(path):
    errs = sanitizer_errors(path)
    if errs:
        raise AssertionError("sanitizer: %s" % errs[0])


# ---------------------------------------------------------------------------
# sd_notify
# ---------------------------------------------------------------------------
def t_notify_foreground():
    with Tmp() as d:
        ns = os.path.join(d, "notify")
        lis = notify_listener(ns)
        env = dict(os.environ, NOTIFY_SOCKET=ns)
        log = open(os.path.join(d, "log"), "w")
        rundir = os.path.join(d, "run")
        p = subprocess.Popen([XSTORED, "--rundir", rundir, "--platform", "none", "-N"],
                             env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            f, msg = recv_fields(lis)
            if f.get("READY") != "1":
                raise AssertionError("first message %r, want READY=1" % msg)
            if "serving" not in f.get("STATUS", ""):
                raise AssertionError("no STATUS= with READY=1: %r" % msg)
            if "MAINPID" in f:
                raise AssertionError("MAINPID= without forking: %r" % msg)
            # READY=1 means "serving": the socket answers at once.
            if not answers(os.path.join(rundir, "socket")):
                raise AssertionError("READY=1 sent before the socket answers")
            p.send_signal(signal.SIGTERM)
            f, msg = recv_fields(lis)
            if f.get("STOPPING") != "1":
                raise AssertionError("on SIGTERM: %r, want STOPPING=1" % msg)
            if p.wait(TIMEOUT) != 0:
                raise AssertionError("exit status %d" % p.returncode)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            log.close()
        check_log(os.path.join(d, "log"))


def t_notify_forking():
    with Tmp() as d:
        name = "@xs-systemd-test-%d" % os.getpid()
        lis = notify_listener(name)
        env = dict(os.environ, NOTIFY_SOCKET=name)
        rundir = os.path.join(d, "run")
        pidf = os.path.join(d, "pid")
        logf = os.path.join(d, "log")
        p = subprocess.Popen([XSTORED, "--rundir", rundir, "--platform", "none",
                              "--pid-file", pidf, "--log-file", logf],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pid = None
        try:
            f, msg = recv_fields(lis)
            if f.get("READY") != "1" or "MAINPID" not in f:
                raise AssertionError("got %r, want READY=1 and MAINPID=" % msg)
            # The pid file exists by then (launch-xenstore's check), and
            # names the same process.
            pid = read_pid(pidf)
            if int(f["MAINPID"]) != pid:
                raise AssertionError("MAINPID=%s, pid file %d" % (f["MAINPID"], pid))
            if pid == p.pid:
                raise AssertionError("the daemon did not fork")
            out, err = p.communicate(timeout=TIMEOUT)
            if p.returncode != 0:
                raise AssertionError("starting process exit %d: %s" % (p.returncode, err))
            if not answers(os.path.join(rundir, "socket")):
                raise AssertionError("the daemon does not answer")
            stop_pid(pid)
            f, msg = recv_fields(lis)
            if f.get("STOPPING") != "1":
                raise AssertionError("on SIGTERM: %r, want STOPPING=1" % msg)
            pid = None
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            kill_daemon(pid, pidf)
        check_log(logf)


def t_notify_failure():
    with Tmp() as d:
        ns = os.path.join(d, "notify")
        lis = notify_listener(ns)
        blocker = os.path.join(d, "file")
        open(blocker, "w").close()
        env = dict(os.environ, NOTIFY_SOCKET=ns)
        # The run directory cannot be made: a file is in the way.
        r = subprocess.run([XSTORED, "--rundir", os.path.join(blocker, "run"),
                            "--platform", "none", "-N"],
                           env=env, capture_output=True, text=True, timeout=TIMEOUT)
        if r.returncode == 0:
            raise AssertionError("started on an impossible run directory")
        f, msg = recv_fields(lis)
        if "READY" in f or "failed" not in f.get("STATUS", "") or "ERRNO" not in f:
            raise AssertionError("got %r, want STATUS=failed... and ERRNO=" % msg)


def t_journal_stderr():
    with Tmp() as d:
        logp = os.path.join(d, "log")
        with open(logp, "w") as log:
            st = os.fstat(log.fileno())
            env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
            p = subprocess.Popen([XSTORED, "--rundir", os.path.join(d, "run"),
                                  "--platform", "none", "-N"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=log)
            try:
                wait_until(lambda: "started" in open(logp).read(), TIMEOUT,
                           "the started line")
                p.send_signal(signal.SIGTERM)
                p.wait(TIMEOUT)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        with open(logp) as f:
            lines = f.read().splitlines()
        # sd-daemon(3) prefixes: the journal takes the level from them.
        started = [l for l in lines if "started" in l]
        if not started or not started[0].startswith("<6>xstored "):
            raise AssertionError("stderr is the journal, want '<6>xstored ...': %s" % lines[:3])


# ---------------------------------------------------------------------------
# socket activation
# ---------------------------------------------------------------------------
def listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    return s


def activate(d, socks, names, pid_of_child=True, extra=()):
    """Start xstored as systemd would: the fds of `socks` at 3, 4, ...
    and LISTEN_PID the child's pid (or our own, if not pid_of_child)."""
    rundir = os.path.join(d, "run")
    logf = os.path.join(d, "log")
    parent = os.getpid()
    fds = [s.fileno() for s in socks]
    argv = [XSTORED, "--rundir", rundir, "--platform", "none", "-N"] + list(extra)
    pid = os.fork()
    if pid == 0:
        try:
            log = os.open(logf, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            # Out of the way of 3.., then into place.
            high = [os.dup(fd) for fd in fds]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i, inheritable=True)
            env = dict(os.environ, LISTEN_FDS=str(len(fds)),
                       LISTEN_PID=str(os.getpid() if pid_of_child else parent))
            if names is not None:
                env["LISTEN_FDNAMES"] = names
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid, rundir, logf


def wait_child(pid):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(st)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("daemon did not exit")


def activation_case(names, order_ro_first):
    with Tmp() as d:
        rundir = os.path.join(d, "run")
        os.makedirs(rundir)
        rw = listening(os.path.join(rundir, "socket"))
        ro = listening(os.path.join(rundir, "socket_ro"))
        inodes = {n: os.stat(os.path.join(rundir, n)).st_ino for n in ("socket", "socket_ro")}
        socks = [ro, rw] if order_ro_first else [rw, ro]
        pid, rundir, logf = activate(d, socks, names)
        rw.close()
        ro.close()  # the daemon holds its copies
        try:
            with xsproto.Conn(os.path.join(rundir, "socket"), timeout=TIMEOUT) as c:
                c.write("/sa/x", "1")
            with xsproto.Conn(os.path.join(rundir, "socket_ro"), timeout=TIMEOUT) as c:
                if c.read("/sa/x") != b"1":
                    raise AssertionError("read-only socket reads wrong value")
                try:
                    c.write("/sa/y", "2")
                    raise AssertionError("write accepted on the fd passed as socket_ro")
                except xsproto.XsError:
                    pass
            for n in ("socket", "socket_ro"):
                if os.stat(os.path.join(rundir, n)).st_ino != inodes[n]:
                    raise AssertionError("%s was replaced (bound anew)" % n)
            os.kill(pid, signal.SIGTERM)
            st = wait_child(pid)
            pid = None
            if st != 0:
                raise AssertionError("exit status %d" % st)
            for n in ("socket", "socket_ro"):
                if not os.path.exists(os.path.join(rundir, n)):
                    raise AssertionError("%s removed at exit: it is the service "
                                         "manager's" % n)
            with open(logf) as f:
                if "socket activation" not in f.read():
                    raise AssertionError("no log line about socket activation")
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        check_log(logf)


def t_activation_names():
    activation_case("socket_ro:socket", True)


def t_activation_paths():
    activation_case("xstored.socket:xstored.socket", True)


def t_activation_other():
    with Tmp() as d:
        # Sockets bound elsewhere: taking them would serve on the wrong path.
        other = os.path.join(d, "other")
        os.makedirs(other)
        rw = listening(os.path.join(other, "socket"))
        ro = listening(os.path.join(other, "socket_ro"))
        pid, rundir, logf = activate(d, [rw, ro], "socket:socket_ro", pid_of_child=False)
        try:
            wait_until(lambda: os.path.exists(os.path.join(rundir, "socket_ro")),
                       TIMEOUT, "the daemon to bind its own sockets")
            if not answers(os.path.join(rundir, "socket")):
                raise AssertionError("own socket does not answer")
            os.kill(pid, signal.SIGTERM)
            st = wait_child(pid)
            pid = None
            if st != 0:
                raise AssertionError("exit status %d" % st)
            if os.path.exists(os.path.join(rundir, "socket")):
                raise AssertionError("own socket left behind")
        finally:
            rw.close()
            ro.close()
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def t_socket_activate():
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        raise Skip("systemd-socket-activate not installed (package systemd)")
    with Tmp() as d:
        rundir = os.path.join(d, "run")
        os.makedirs(rundir)
        logf = open(os.path.join(d, "log"), "w")
        p = subprocess.Popen([tool, "-l", os.path.join(rundir, "socket"),
                              "-l", os.path.join(rundir, "socket_ro"),
                              "--fdname=socket:socket_ro",
                              XSTORED, "--rundir", rundir, "--platform", "none", "-N"],
                             stdout=logf, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: os.path.exists(os.path.join(rundir, "socket_ro")),
                       TIMEOUT, "systemd-socket-activate to listen")
            # The first connection starts the daemon (it execs in place).
            with xsproto.Conn(os.path.join(rundir, "socket"), timeout=TIMEOUT) as c:
                c.write("/ssa", "1")
            with xsproto.Conn(os.path.join(rundir, "socket_ro"), timeout=TIMEOUT) as c:
                if c.read("/ssa") != b"1":
                    raise AssertionError("wrong value")
            p.send_signal(signal.SIGTERM)
            if p.wait(TIMEOUT) != 0:
                raise AssertionError("exit status %d" % p.returncode)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            logf.close()
        with open(os.path.join(d, "log")) as f:
            text = f.read()
        if "socket activation: socket_ro is fd 4" not in text:
            raise AssertionError("the daemon did not take the fds: %s" % text[-500:])
        check_log(os.path.join(d, "log"))


def t_units_verify():
    tool = shutil.which("systemd-analyze")
    if not tool:
        raise Skip("systemd-analyze not installed (package systemd)")
    src = os.path.join(REPO, "systemd")
    units = sorted(f for f in os.listdir(src) if f.endswith((".service", ".socket")))
    for want in ("xstored.service", "xstored.socket", "xstored-ro.socket"):
        if want not in units:
            raise AssertionError("systemd/%s missing" % want)
    with Tmp() as d:
        for u in units:
            with open(os.path.join(src, u)) as f:
                text = f.read()
            if u.endswith(".service") and "@SBINDIR@" not in text:
                raise AssertionError("%s: no @SBINDIR@ placeholder" % u)
            with open(os.path.join(d, u), "w") as f:
                f.write(text.replace("@SBINDIR@", os.path.dirname(XSTORED)))
        # --man=no: the man page is installed with the package, not here.
        r = subprocess.run([tool, "verify", "--man=no"] + [os.path.join(d, u) for u in units],
                           capture_output=True, text=True, timeout=60)
        # verify exits 0 on some warnings ("ignoring"): any output fails.
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0 or out:
            raise AssertionError("systemd-analyze verify: exit %d: %s" % (r.returncode, out))
    with open(os.path.join(src, "xstored.service")) as f:
        svc = f.read()
    for want in ("Type=notify", "--no-fork"):
        if want not in svc:
            raise AssertionError("xstored.service lacks %s" % want)


# ---------------------------------------------------------------------------
# syslog
# ---------------------------------------------------------------------------
# In a private mount namespace, /dev becomes a tmpfs whose "log" is a
# link to the test's socket; the real devices stay reachable through
# links.  syslog(3) has no other way to be pointed elsewhere.
NS_SCRIPT = r'''
set -e
T="$1"; shift
mkdir -p "$T/realdev"
mount --rbind /dev "$T/realdev"
mount -t tmpfs tmpfs /dev
for f in null zero full random urandom tty; do ln -s "$T/realdev/$f" /dev/$f; done
ln -s "$T/devlog" /dev/log
exec "$@"
'''


def syslog_run(d, args, env_extra=None):
    unshare = shutil.which("unshare")
    if not unshare:
        raise Skip("unshare not installed (util-linux)")
    r = subprocess.run([unshare, "-m", "true"], capture_output=True, timeout=30)
    if r.returncode != 0:
        raise Skip("no right to make a mount namespace (unshare -m): %s" %
                   r.stderr.decode().strip())
    lis = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    lis.bind(os.path.join(d, "devlog"))
    lis.settimeout(TIMEOUT)
    env = dict(os.environ, **(env_extra or {}))
    p = subprocess.Popen([unshare, "-m", "sh", "-c", NS_SCRIPT, "ns", d, XSTORED] + args,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p, lis


def recv_until(lis, needle):
    got = []
    while True:
        m = lis.recv(8192).decode(errors="replace")
        got.append(m)
        if needle in m:
            return m, got


def t_syslog():
    with Tmp() as d:
        rundir = os.path.join(d, "run")
        # A NOTIFY_SOCKET that is no address gives a warning line.
        p, lis = syslog_run(d, ["--rundir", rundir, "--platform", "none", "-N",
                                "--log-syslog"], {"NOTIFY_SOCKET": "bogus"})
        try:
            warn, _ = recv_until(lis, "NOTIFY_SOCKET")
            info, _ = recv_until(lis, "started")
            # <facility * 8 + level>: daemon (3), warning (4) and info (6).
            if not warn.startswith("<28>"):
                raise AssertionError("warning line %r: want priority <28> "
                                     "(daemon.warning)" % warn)
            if not info.startswith("<30>") or "xstored[" not in info:
                raise AssertionError("info line %r: want <30> and xstored[PID]" % info)
            p.send_signal(signal.SIGTERM)
            recv_until(lis, "stopped")
            p.wait(TIMEOUT)
            if p.returncode != 0:
                raise AssertionError("exit status %d: %s" % (p.returncode, p.stderr.read()))
            err = p.stderr.read().decode()
            if "started" in err:
                raise AssertionError("lines went to stderr too: %s" % err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            lis.close()


def t_syslog_default_systemd():
    with Tmp() as d:
        rundir = os.path.join(d, "run")
        pidf = os.path.join(d, "pid")
        p, lis = syslog_run(d, ["--rundir", rundir, "--platform", "none",
                                "--pid-file", pidf], {"INVOCATION_ID": "0" * 32})
        pid = None
        try:
            line, _ = recv_until(lis, "started")
            if not line.startswith("<30>"):
                raise AssertionError("line %r: want <30>" % line)
            p.wait(TIMEOUT)
            pid = read_pid(pidf)
            if os.path.exists(os.path.join(rundir, "xstored.log")):
                raise AssertionError("logged to the run directory, not syslog")
            stop_pid(pid)
            pid = None
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            kill_daemon(pid, pidf)
            lis.close()


# ---------------------------------------------------------------------------
# Xen's launch-xenstore
# ---------------------------------------------------------------------------
def find_launch_xenstore():
    cache = os.environ.get("XSTORE_DEPS_CACHE", "/var/cache/xstore-deps")
    for p in (os.environ.get("XEN_LAUNCH_XENSTORE"), "/etc/xen/scripts/launch-xenstore",
              os.path.join(cache, "root/etc/xen/scripts/launch-xenstore")):
        if p and os.path.isfile(p):
            return p
    raise Skip("Xen's launch-xenstore not found: set XEN_LAUNCH_XENSTORE, or run "
               "tests/support/deps.sh (it unpacks xen-utils-common into %s)" % cache)


def launch_case(script, with_systemd):
    """Run a copy of `script` whose fixed paths (/etc/xen/scripts,
    /etc/default/xencommons, /var/run/xen) point into a private
    directory, the rest of it unchanged."""
    with Tmp() as d:
        rundir = os.path.join(d, "run")
        xenrun = os.path.join(d, "var-run-xen")
        with open(script) as f:
            text = f.read()
        for old, new in (("/etc/xen/scripts/hotplugpath.sh", os.path.join(d, "hotplugpath.sh")),
                         ("/etc/default/xencommons", os.path.join(d, "xencommons")),
                         ("/var/run/xen", xenrun)):
            if old not in text:
                raise AssertionError("%s does not name %s: another version?" % (script, old))
            text = text.replace(old, new)
        copy = os.path.join(d, "launch-xenstore")
        with open(copy, "w") as f:
            f.write(text)
        open(os.path.join(d, "hotplugpath.sh"), "w").close()
        with open(os.path.join(d, "xencommons"), "w") as f:
            f.write('XENSTORED="%s"\nXENSTORED_ARGS="--rundir %s --platform none"\n'
                    % (XSTORED, rundir))
            # The script raises the fd limit to fs.nr_open, which needs
            # CAP_SYS_RESOURCE: keep the hard limit we have.
            f.write("XENSTORED_MAX_OPEN_FDS=%d\n" % resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        bindir = os.path.join(d, "bin")
        os.makedirs(bindir)
        # systemd-notify --booted says whether systemd runs the host: the
        # script then leaves the wait to it (READY=1), else polls the pid file.
        with open(os.path.join(bindir, "systemd-notify"), "w") as f:
            f.write("#!/bin/sh\nexit %d\n" % (0 if with_systemd else 1))
        os.chmod(os.path.join(bindir, "systemd-notify"), 0o755)
        ns = os.path.join(d, "notify")
        lis = notify_listener(ns)
        env = dict(os.environ, NOTIFY_SOCKET=ns,
                   PATH=bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        r = subprocess.run(["bash", copy], env=env, capture_output=True, text=True,
                           timeout=60)
        pidf = os.path.join(xenrun, "xenstored.pid")
        pid = read_pid(pidf) if os.path.exists(pidf) else None
        try:
            if r.returncode != 0 or pid is None:
                raise AssertionError("launch-xenstore: exit %d, pid file %s: %s %s"
                                     % (r.returncode, pid, r.stdout, r.stderr))
            f, msg = recv_fields(lis)
            if f.get("READY") != "1" or f.get("MAINPID") != str(pid):
                raise AssertionError("notify %r, pid file %s" % (msg, pid))
            if not answers(os.path.join(rundir, "socket")):
                raise AssertionError("xstored does not answer after launch-xenstore")
            # Lowering an OOM score needs CAP_SYS_RESOURCE (as does the
            # script's own write): check it only where that is possible.
            if subprocess.run(["sh", "-c", "echo -1 > /proc/self/oom_score_adj"],
                              capture_output=True).returncode == 0:
                with open("/proc/%d/oom_score_adj" % pid) as fo:
                    if fo.read().strip() != "-500":
                        raise AssertionError("the script did not set the OOM score of "
                                             "the pid in the pid file")
            stop_pid(pid)
            pid = None
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
            lis.close()


def t_launch_xenstore_pidfile():
    launch_case(find_launch_xenstore(), False)


def t_launch_xenstore_systemd():
    launch_case(find_launch_xenstore(), True)


TESTS = [
    ("notify_foreground", t_notify_foreground),
    ("notify_forking", t_notify_forking),
    ("notify_failure", t_notify_failure),
    ("journal_stderr", t_journal_stderr),
    ("activation_names", t_activation_names),
    ("activation_paths", t_activation_paths),
    ("activation_other", t_activation_other),
    ("socket_activate", t_socket_activate),
    ("units_verify", t_units_verify),
    ("syslog", t_syslog),
    ("syslog_default_systemd", t_syslog_default_systemd),
    ("launch_xenstore_pidfile", t_launch_xenstore_pidfile),
    ("launch_xenstore_systemd", t_launch_xenstore_systemd),
]


def main():
    r = Runner("systemd/")
    if not os.access(XSTORED, os.X_OK):
        r.skip("all", "not built: %s (set XSTORED)" % XSTORED)
        return r.final()
    only = sys.argv[1:]
    for name, fn in TESTS:
        if not only or name in only:
            r.run(name, fn)
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
