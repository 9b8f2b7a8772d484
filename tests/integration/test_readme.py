#!/usr/bin/env python3
"""test_readme.py: README.md runs as written.

Every ```sh block of the README is run, in order, in ONE bash shell started
at the repository root, as a person pastes them into a fresh shell after
`make`: the blocks share variables, background jobs and the current
directory, and each block stops at its first failing command, as under
`set -e` (an ERR trap returns from the block; a failing command in a
subshell or pipeline ends that subshell).  One PASS/FAIL/SKIP line per
block, naming its section and first line.

Special cases:
  * a block whose first line is `# not run by the test: WHY` is skipped
    with that reason.  The README's set-up block (`make run`, `make check`)
    is one: `make check` runs this test and `make run` never returns.
  * a block with `make install` runs only as root, and only when no xstore
    is installed under /usr/local yet; afterwards the test runs
    `make uninstall` with the same variables, then `ldconfig`, and checks
    that /usr/local holds the files and links it held before, unchanged
    (whatever is new is removed again, empty directories included, even
    when that check fails).
  * no runnable block may name a fixed /tmp path (private directories
    from `mktemp -d` instead).

The shell gets a private $TMPDIR (so the README's `mktemp -d` directories
are removed at the end) and the environment of a fresh shell: none of the
store's variables, none of make's.  Every process it started, daemonised
ones included (found by a marker in their environment), is stopped at the
end whatever happened; one still running after the last block is a
failure (the README must stop what it starts).

Before the blocks, `make -j2` builds the release binaries the README
names (build/release/...); nothing to do when they are up to date.

Usage: test_readme.py [README]     (default: the repository's README.md)
Env: README_NO_BUILD=1 skips the `make` (build/release taken as it is).
Output: PASS/FAIL/SKIP lines, then "N passed, N failed, N skipped".
"""
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOT_RUN = "# not run by the test"
BLOCK_TIMEOUT = 60  # seconds; a block with `make install` gets 300
PREFIX_ROOT = "/usr/local"
# Variables a fresh login shell would not have: the store's, and those of
# the `make check` that runs this test (MAKEFLAGS names its jobserver).
DROP_ENV = ("XENSTORED_PATH", "XENSTORED_RUNDIR", "XSIM_DIR", "XSTORE_CONNECT",
            "XSTORED", "XSIM", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES",
            "MAKE_TERMOUT", "MAKE_TERMERR", "TMPDIR")

counts = {"passed": 0, "failed": 0, "skipped": 0}


def report(kind, name, why=""):
    counts[{"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}[kind]] += 1
    print("%s readme: %s%s" % (kind, name, ": " + why if why else ""), flush=True)


def blocks_of(text):
    """[(section, [lines])] for each ```sh fence, in order."""
    out, section, cur, other = [], "(top)", None, False
    for line in text.splitlines():
        fence = line.strip().startswith("```")
        if cur is not None:
            if fence:
                out.append((section, cur))
                cur = None
            else:
                cur.append(line)
        elif other:  # inside another fence (output, python, ...)
            other = not fence
        elif re.match(r"\s*```\s*(sh|bash|shell)\b", line):
            cur = []
        elif fence:
            other = True
        elif re.match(r"#{2,3}\s", line):
            section = line.lstrip("#").strip()
    return out


def label(section, lines):
    """The section and the first command (comments are not commands)."""
    first = next((l.strip() for l in lines if l.strip() and not l.strip().startswith("#")),
                 next((l.strip() for l in lines if l.strip()), "(empty)"))
    first = re.sub(r"\s+#.*", "", first) if not first.startswith("#") else first
    return "[%s] %s" % (section, first[:70])


# ---- /usr/local before and after ----

def install_roots():
    """/usr/local, and nbdkit's plugin directory: nbdkit loads plugins
    from there only, so `make install` puts the block frontend's there
    whatever PREFIX says."""
    roots = [PREFIX_ROOT]
    try:
        r = subprocess.run(["nbdkit", "--dump-config"], capture_output=True, text=True)
        roots += [l.split("=", 1)[1] for l in r.stdout.splitlines()
                  if l.startswith("plugindir=") and os.path.isdir(l.split("=", 1)[1])]
    except OSError:
        pass
    return roots


def snapshot(roots):
    """{path: what} for everything under roots but the directories' times."""
    snap = {}
    for d, dirs, files in (w for root in roots for w in os.walk(root)):
        for n in dirs + files:
            p = os.path.join(d, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if os.path.islink(p):
                snap[p] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                snap[p] = ("dir",)
            else:
                snap[p] = ("file", st.st_size, st.st_mtime_ns)
        dirs[:] = [n for n in dirs if not os.path.islink(os.path.join(d, n))]
    return snap


def installed_already(root):
    names = ["sbin/xstored", "bin/xstore", "include/xstore"]
    for d, _, files in os.walk(os.path.join(root, "lib")):
        if any(f.startswith("libxstore") for f in files):
            return os.path.join(d, "libxstore...")
    return next((os.path.join(root, n) for n in names
                 if os.path.lexists(os.path.join(root, n))), None)


def undo_install(before, roots):
    """Remove what is under roots now and was not before; the list."""
    after = snapshot(roots)
    new = sorted((p for p in after if p not in before), key=len, reverse=True)
    for p in new:
        try:
            if after[p][0] == "dir":
                os.rmdir(p)
            else:
                os.unlink(p)
        except OSError:
            pass
    return new


# ---- the shell ----

class Shell:
    """One bash reading its commands from fd 3 (stdin is /dev/null, so no
    command of the README can eat the ones that follow)."""

    def __init__(self, env):
        self.token = secrets.token_hex(8)
        self.env = dict(env, XSTORE_README_TEST=self.token)
        r, self.w = os.pipe()
        # The ERR trap plays `set -e` for the block: in a subshell (a
        # pipeline element, $(...), ( )), exit it; in the block, return
        # from the sourced block (__in: only once, and never at top level).
        boot = (
            "set -E\n"
            "trap '__rc=$?; if [ \"$BASH_SUBSHELL\" -gt 0 ]; then exit $__rc; "
            "elif [ -n \"$__in\" ]; then __in=; "
            "echo \"readme-test: exit $__rc at line $LINENO: $BASH_COMMAND\" >&2; "
            "return $__rc; fi' ERR\n"
            "while IFS= read -r -u 3 __line; do eval \"$__line\"; done\n")
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-c", boot], cwd=REPO, env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(r,), preexec_fn=lambda: os.dup2(r, 3), start_new_session=True)
        os.close(r)
        self.lines = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put(None)

    def run(self, path, n, timeout):
        """Source one block; (rc or None on time limit or death, output)."""
        mark = "@@readme-%s-%d" % (self.token, n)
        cmd = ("__in=1; source %s; __rc=$?; __in=; printf '\\n%s %%s\\n' \"$__rc\"\n"
               % (path, mark))
        os.write(self.w, cmd.encode())
        out, end = [], time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                return None, out
            if line is None:
                return None, out + ["(the shell exited)"]
            if line.startswith(mark + " "):
                if out and out[-1] == "":
                    out.pop()
                return int(line.split()[-1]), out
            out.append(line)

    def close(self):
        try:
            os.close(self.w)  # end of its commands: the loop ends
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def marked(self):
        """Pids of live processes carrying our marker in their environment."""
        want = ("XSTORE_README_TEST=%s" % self.token).encode()
        pids = []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == os.getpid():
                continue
            try:
                with open("/proc/%s/environ" % p, "rb") as f:
                    if want in f.read().split(b"\0"):
                        with open("/proc/%s/stat" % p) as s:
                            if s.read().rsplit(")", 1)[1].split()[0] != "Z":
                                pids.append(int(p))
            except OSError:
                pass
        return pids

    def kill_all(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except OSError:
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.marked():
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            for _ in range(30):
                if not self.marked():
                    break
                time.sleep(0.1)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def describe(pids):
    out = []
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                out.append("%d %s" % (pid, f.read().replace(b"\0", b" ").decode().strip()))
        except OSError:
            pass
    return ", ".join(out)


def main():
    readme = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "README.md")
    with open(readme) as f:
        blocks = blocks_of(f.read())
    if not blocks:
        report("FAIL", "blocks", "no ```sh block in %s" % readme)
        return finish()

    if os.environ.get("README_NO_BUILD"):
        r = subprocess.CompletedProcess([], 0)
        report("SKIP", "build: make", "README_NO_BUILD is set: build/release as it is")
    else:
        r = subprocess.run(["make", "-s", "-j2"], cwd=REPO, capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k not in DROP_ENV})
    if r.returncode != 0:
        print("\n".join((r.stdout + r.stderr).splitlines()[-30:]))
        report("FAIL", "build: make (the release binaries the README uses)")
        return finish()
    if r.args:
        report("PASS", "build: make (the release binaries the README uses)")

    # A time limit's SIGTERM still cleans up (the finally clause below):
    # processes stopped, /usr/local restored, directories removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("test_readme: terminated"))
    tmp = tempfile.mkdtemp(prefix="xs-readme-")
    env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
    env["TMPDIR"] = tmp
    sh = Shell(env)
    install = None  # (make variables, /usr/local before) once it ran
    aborted = None
    try:
        for n, (section, lines) in enumerate(blocks):
            name = label(section, lines)
            first = next((l.strip() for l in lines if l.strip()), "")
            if first.startswith(NOT_RUN):
                report("SKIP", name, first[len(NOT_RUN):].lstrip(": ") or "marked so")
                continue
            if aborted:
                report("SKIP", name, "not run: " + aborted)
                continue
            # Never run from here: `make check` runs this test, and `make run`
            # serves the default run directory in the foreground forever.
            setup = [l.strip() for l in lines
                     if re.match(r"\s*make\s+(run|check)\b", l.split("#", 1)[0])]
            if setup:
                report("FAIL", name, "%s: mark the block '%s: WHY'" % (setup[0], NOT_RUN))
                continue
            fixed = [l.strip() for l in lines
                     if re.search(r"(^|[\s=:\"'])/tmp/", l.split("#", 1)[0])]
            if fixed:
                report("FAIL", name, "a fixed /tmp path (use mktemp -d): " + fixed[0])
                continue
            inst = [l for l in lines if re.match(r"\s*make\s+install\b", l)]
            timeout = BLOCK_TIMEOUT
            if inst:
                if os.geteuid() != 0:
                    report("SKIP", name, "not root: make install writes to " + PREFIX_ROOT)
                    continue
                already = installed_already(PREFIX_ROOT)
                if already:
                    report("SKIP", name, "%s exists: an xstore is installed there already, "
                           "not touching it" % already)
                    continue
                args = re.match(r"\s*make\s+install\b(.*?)(&&|;|\||#|$)", inst[0]).group(1)
                install = (args.split(), snapshot(install_roots()))
                timeout = 300
            path = os.path.join(tmp, ".block%d.sh" % n)
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            rc, out = sh.run(path, n, timeout)
            if rc == 0:
                report("PASS", name)
                continue
            for l in out[-40:]:
                print("    | " + l)
            if rc is None:
                report("FAIL", name, "did not finish within %d s" % timeout)
                aborted = "the shell was stopped after %s" % name
                sh.kill_all()
            else:
                report("FAIL", name, "exit %d" % rc)
        if not aborted:
            sh.close()
            # A README's `kill` returns before the daemon has exited.
            for _ in range(50):
                if not sh.marked():
                    break
                time.sleep(0.1)
            left = sh.marked()
            if left:
                report("FAIL", "the README stops what it starts",
                       "still running: " + describe(left))
            else:
                report("PASS", "the README stops what it starts")
    finally:
        sh.kill_all()
        if install:
            check_uninstall(*install)
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


def check_uninstall(args, before):
    roots = install_roots()
    name = "make uninstall %s leaves %s as before" % (" ".join(args), " and ".join(roots))
    r = subprocess.run(["make", "-s", "uninstall"] + args, cwd=REPO, capture_output=True,
                       text=True, env={k: v for k, v in os.environ.items() if k not in DROP_ENV})
    after = snapshot(roots)
    # Directories that install made and uninstall left empty are only
    # noted (removing them is a matter of taste: GNU's uninstall leaves
    # them); files and links left, and anything that was there before and
    # is gone or changed, are failures.
    dirs = sorted(p for p in after if p not in before and after[p][0] == "dir")
    new = [p for p in after if p not in before and after[p][0] != "dir"]
    gone = [p for p in before if p not in after]
    changed = [p for p in before if p in after and before[p] != after[p]]
    removed = undo_install(before, roots)
    subprocess.run(["ldconfig"], capture_output=True)
    if r.returncode != 0:
        print("\n".join((r.stdout + r.stderr).splitlines()[-10:]))
        report("FAIL", name, "make uninstall failed (exit %d); removed by the test: %s"
               % (r.returncode, " ".join(removed[:8]) or "nothing"))
    elif new or gone or changed:
        report("FAIL", name, "left behind: %s; removed: %s; changed: %s" % (
            " ".join(new[:8]) or "-", " ".join(gone[:8]) or "-", " ".join(changed[:8]) or "-"))
    else:
        report("PASS", name)
        if dirs:
            print("    note: empty directories left by make uninstall (removed by the test): "
                  + " ".join(dirs))


def finish():
    print("%d passed, %d failed, %d skipped"
          % (counts["passed"], counts["failed"], counts["skipped"]))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
