#!/usr/bin/env python3
"""test_vbd.py: a simulated guest's disk end to end: xsblkback (dom0)
and xsblkfront (the guest, drivers/vbd/front/) on the simulator, the
guest's disk used through its NBD export with nbdcopy, nbdinfo and
libnbd, every byte checked against the image file.

Cases: 64 MiB of random data written and read back (checksums of the
image file); nbdinfo's view (size, flush, trim) and trim/flush through
libnbd; read-only mode refuses writes; mkfs.ext4 on the export, then
e2fsck -fn clean (through nbdfuse when FUSE mounts work here, else a
file system made on a scratch file, copied through the export and back
and checked there: the test says which); hot-plug of a second disk into
a running guest, and its unplug (the export ends, the first disk goes
on); xsblkback SIGKILLed and restarted mid-transfer (the transfer
completes, every acknowledged write is in the image); xsblkfront
SIGKILLed mid-transfer and restarted (acknowledged writes are there, the
restarted frontend reconnects); SIGTERM closes the device cleanly.

The plugin is built with ASan/UBSan in the asan variant and nbdkit is
not: the ASan runtime is LD_PRELOADed into nbdkit (the only way an
ASan-built shared object loads into an uninstrumented program), with
detect_leaks=0 since nbdkit itself is not ours to make leak-free.

Env: XSTORED (default build/asan/xstored); xsim, xsblkback, xsblkfront
and nbdkit-xsblkfront-plugin.so next to it.  Needs nbdkit, nbdcopy,
nbdinfo and python3-libnbd (tests/support/deps.sh): SKIP without them.
Output: PASS/FAIL/SKIP lines, then "N passed, N failed[, N skipped]".
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from simenv import Runner, SimEnv, Skip, eq, require_binaries, wait_until  # noqa: E402

WAIT = 20.0
MIB = 1 << 20
XVDA, XVDB = 51712, 51728
SAN_RE = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer")
BIG = int(os.environ.get("VBD_TEST_MIB", "64"))


def bindir():
    return os.path.dirname(require_binaries()[0])


def need(path):
    if not os.access(path, os.X_OK if not path.endswith(".so") else os.R_OK):
        raise Skip("not built: %s (needs xen/io/blkif.h and nbdkit-plugin.h)" % path)
    return path


def need_tools():
    for t in ("nbdkit", "nbdcopy", "nbdinfo"):
        if not shutil.which(t):
            raise Skip("%s not installed (tests/support/deps.sh)" % t)
    try:
        import nbd  # noqa: F401
    except ImportError:
        # Debian's python3-libnbd lives in the system's dist-packages,
        # which another python3 on PATH (pyenv) does not search.
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import nbd  # noqa: F401,F811
        except ImportError:
            raise Skip("python3-libnbd not installed (tests/support/deps.sh)")


def sanitizer_env():
    """LD_PRELOAD the ASan runtime when the plugin was built with it."""
    env = dict(os.environ)
    plugin = os.path.join(bindir(), "nbdkit-xsblkfront-plugin.so")
    ldd = subprocess.run(["ldd", plugin], capture_output=True, text=True).stdout
    m = re.search(r"libasan\.so\S* => (\S+)", ldd)
    if m:
        env["LD_PRELOAD"] = m.group(1)
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0"
    return env


def md5(path, size=None):
    h = hashlib.md5()
    with open(path, "rb") as f:
        left = size if size is not None else 1 << 62
        while left > 0:
            b = f.read(min(left, 4 * MIB))
            if not b:
                break
            h.update(b)
            left -= len(b)
    return h.hexdigest()


class Logged:
    """A process with stdout+stderr in a file."""

    def __init__(self, args, log, env=None):
        self.log = log
        self.f = open(log, "a")
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.f,
                                  stderr=self.f, env=env)

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=WAIT):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise AssertionError("%s did not exit on signal %d:\n%s" %
                                     (self.p.args[0], sig, self.text()[-2000:]))
        return self.p.returncode

    def check_clean(self):
        t = self.text()
        if SAN_RE.search(t):
            raise AssertionError("sanitizer report in %s:\n%s" % (self.log, t[-3000:]))

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.f.close()


class Disk:
    """Daemon, sim, guest, xsblkback and the guest's xsblkfronts."""

    def __init__(self):
        need_tools()
        self.back_bin = need(os.path.join(bindir(), "xsblkback"))
        self.front_bin = need(os.path.join(bindir(), "xsblkfront"))
        need(os.path.join(bindir(), "nbdkit-xsblkfront-plugin.so"))
        self.env = SimEnv().start()
        self.dir = self.env.dir
        self.backs, self.fronts = [], []
        self.fenv = sanitizer_env()
        self.fenv["XSIM_DIR"] = self.env.sim

    def path(self, name):
        return os.path.join(self.dir, name)

    def image(self, name, mib):
        p = self.path(name)
        with open(p, "wb") as f:
            f.truncate(mib * MIB)
        return p

    def guest(self, d, *disks):
        """Guest d with disks (image, devid, key=value...) attached."""
        self.env.create(d, mux=True)
        for img, devid, *kv in disks:
            self.attach(d, img, devid, *kv)

    def attach(self, d, img, devid, *kv):
        self.env.xsim("device-add", d, "vbd", "--file", img, "--devid", devid, *kv)

    def back(self):
        b = Logged([self.back_bin, "--store", "unix:" + self.env.socket,
                    "--platform", "sim:" + self.env.sim, "-v"],
                   self.path("back.log"))
        self.backs.append(b)
        return b

    def front(self, d, devid=XVDA, *opts, expect_ready=True):
        """xsblkfront in the foreground (this process is nbdkit); returns
        (proc, uri) once the export answers."""
        sock = self.path("nbd-%d-%d.sock" % (d, devid))
        if os.path.exists(sock):
            os.unlink(sock)
        f = Logged([self.front_bin, "--domid", str(d), "--devid", str(devid),
                    "--nbd-socket", sock, "--platform", "sim:" + self.env.sim,
                    "--foreground", "--verbose", "--wait", "15"] + list(opts),
                   self.path("front-%d-%d.%d.log" % (d, devid, len(self.fronts))),
                   env=self.fenv)
        self.fronts.append(f)
        uri = "nbd+unix:///?socket=" + sock
        if expect_ready:
            wait_until(lambda: f.p.poll() is not None or "connected: " in f.text(), WAIT,
                       "xsblkfront connected")
            if f.p.poll() is not None:
                raise AssertionError("xsblkfront exited %d:\n%s" % (f.p.returncode,
                                                                    f.text()[-3000:]))
        return f, uri

    def read(self, path):
        return self.env.dom0.read(path).decode(errors="replace")

    def try_read(self, path):
        try:
            return self.read(path)
        except Exception:
            return None

    def finish(self):
        for p in self.fronts + self.backs:
            if p.p.poll() is None:
                eq(p.stop(), 0, "%s exit status on SIGTERM" % os.path.basename(p.p.args[0]))
        for p in self.fronts + self.backs:
            p.check_clean()
        self.env.check_clean_exit()

    def cleanup(self):
        for p in self.fronts + self.backs:
            p.kill()
        self.env.cleanup()


def fe_node(d, devid):
    return "/local/domain/%d/device/vbd/%d" % (d, devid)


def be_node(d, devid):
    return "/local/domain/0/backend/vbd/%d/%d" % (d, devid)


def run(*args, check=True, timeout=120):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise AssertionError("%s: exit %d: %s" % (" ".join(map(str, args)), r.returncode,
                                                   (r.stderr or r.stdout).strip()[-1500:]))
    return r


def connect(uri):
    import nbd
    h = nbd.NBD()
    h.connect_uri(uri)
    return h


def block(i, size):
    """The content of block i: its number, then a pattern of it."""
    head = b"blk%08d" % i
    return (head * (size // len(head) + 1))[:size]


# --------------------------------------------------------------------------
def t_write_read_big(t):
    """BIG MiB of random data through the export, checked in the image."""
    img = t.image("a.img", BIG)
    t.guest(5, (img, XVDA))
    t.back()
    _, uri = t.front(5)
    src = t.path("rand")
    with open(src, "wb") as f:
        for _ in range(BIG):
            f.write(os.urandom(MIB))
    run("nbdcopy", src, uri)
    eq(md5(img), md5(src), "image checksum after writing through the export")
    out = t.path("back")
    run("nbdcopy", uri, out)
    eq(md5(out), md5(src), "checksum of what the export reads back")
    eq(t.read(fe_node(5, XVDA) + "/state"), "4", "frontend Connected")
    eq(t.read(be_node(5, XVDA) + "/state"), "4", "backend Connected")


def t_info_trim_flush(t):
    """nbdinfo's view; trim punches, flush succeeds, unaligned refused."""
    img = t.image("a.img", 8)
    with open(img, "r+b") as f:
        f.write(b"\xaa" * (8 * MIB))
    t.guest(5, (img, XVDA))
    t.back()
    _, uri = t.front(5)
    info = run("nbdinfo", "--json", uri).stdout
    for k, v in (("export-size", "%d" % (8 * MIB)), ("can_flush", "true"),
                 ("can_trim", "true"), ("is_read_only", "false")):
        if not re.search(r'"%s":\s*%s' % (re.escape(k), v), info):
            raise AssertionError("nbdinfo: want %s=%s in %s" % (k, v, info))
    h = connect(uri)
    h.trim(MIB, 2 * MIB)
    h.flush()
    h.pwrite(b"\x55" * 4096, 5 * MIB)
    got = h.pread(2 * MIB, 2 * MIB)
    eq(got[:MIB] == b"\x00" * MIB, True, "trimmed range reads zeros")
    eq(got[MIB:] == b"\xaa" * MIB, True, "past the trim untouched")
    try:
        h.pwrite(b"x" * 100, 7)
        raise AssertionError("an unaligned write was accepted")
    except Exception as e:
        if "accepted" in str(e):
            raise
    h.shutdown()
    with open(img, "rb") as f:
        data = f.read()
    eq(data[2 * MIB:3 * MIB] == b"\x00" * MIB, True, "image zero where trimmed")
    eq(data[5 * MIB:5 * MIB + 4096] == b"\x55" * 4096, True, "write in the image")
    eq(data[:2 * MIB] == b"\xaa" * (2 * MIB), True, "image untouched before the trim")


def t_readonly(t):
    img = t.image("ro.img", 4)
    with open(img, "r+b") as f:
        f.write(b"\x77" * (4 * MIB))
    before = md5(img)
    t.guest(5, (img, XVDA, "mode=r"))
    t.back()
    _, uri = t.front(5)
    info = run("nbdinfo", "--json", uri).stdout
    if not re.search(r'"is_read_only":\s*true', info):
        raise AssertionError("export not read-only: %s" % info)
    src = t.path("junk")
    with open(src, "wb") as f:
        f.write(b"\x01" * (4 * MIB))
    r = run("nbdcopy", src, uri, check=False)
    eq(r.returncode != 0, True, "nbdcopy to a read-only export fails")
    h = connect(uri)
    try:
        h.pwrite(b"\x02" * 4096, 0)
        raise AssertionError("a write to the read-only export was accepted")
    except Exception as e:
        if "accepted" in str(e):
            raise
    eq(h.pread(4096, 0), b"\x77" * 4096, "read-only export reads")
    h.shutdown()
    eq(md5(img), before, "read-only image unchanged")


def try_nbdfuse(t, uri):
    """Mount the export with nbdfuse: (mountpoint, proc) or None."""
    if not shutil.which("nbdfuse") or not os.path.exists("/dev/fuse"):
        return None
    mnt = t.path("fuse")
    os.mkdir(mnt)
    p = subprocess.Popen(["nbdfuse", mnt, uri], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(os.path.join(mnt, "nbd")):
            return mnt, p
        if p.poll() is not None:
            return None
        time.sleep(0.05)
    p.kill()
    p.wait()
    return None


def t_mkfs_ext4(t):
    img = t.image("fs.img", 32)
    t.guest(5, (img, XVDA))
    t.back()
    _, uri = t.front(5)
    fuse = try_nbdfuse(t, uri)
    if fuse:
        mnt, p = fuse
        try:
            run("mkfs.ext4", "-q", "-F", os.path.join(mnt, "nbd"))
            run("e2fsck", "-fn", os.path.join(mnt, "nbd"))
        finally:
            um = shutil.which("fusermount3") or shutil.which("fusermount")
            subprocess.run([um, "-u", mnt] if um else ["umount", mnt], capture_output=True)
            p.wait(WAIT)
        how = "nbdfuse"
    else:
        scratch = t.path("scratch.fs")
        with open(scratch, "wb") as f:
            f.truncate(32 * MIB)
        run("mkfs.ext4", "-q", "-F", scratch)
        run("nbdcopy", scratch, uri)
        out = t.path("fs.back")
        run("nbdcopy", uri, out)
        run("e2fsck", "-fn", out)
        eq(md5(out), md5(scratch), "file system read back unchanged")
        how = "scratch file through the export and back"
    run("e2fsck", "-fn", img)
    print("  (mkfs.ext4 via %s; e2fsck -fn clean on the image)" % how, flush=True)


def t_hotplug_unplug(t):
    a = t.image("a.img", 4)
    b = t.image("b.img", 4)
    t.guest(5, (a, XVDA))
    t.back()
    fa, ua = t.front(5)
    ha = connect(ua)
    ha.pwrite(block(1, 64 * 1024), 0)
    # A second disk into the running guest, and its own frontend.
    t.attach(5, b, XVDB)
    fb, ub = t.front(5, XVDB)
    hb = connect(ub)
    hb.pwrite(block(2, 64 * 1024), 64 * 1024)
    hb.flush()
    with open(b, "rb") as f:
        f.seek(64 * 1024)
        eq(f.read(64 * 1024), block(2, 64 * 1024), "second disk's write in its image")
    hb.shutdown()
    # Unplug it: the backend closes, the export ends, the nodes go.
    t.env.xsim("device-remove", 5, "vbd", XVDB)
    fb.p.wait(WAIT)
    eq(fb.p.returncode, 0, "unplugged xsblkfront's exit status")
    eq(t.try_read(fe_node(5, XVDB) + "/state"), None, "unplugged frontend node gone")
    # The first disk did not notice.
    eq(ha.pread(64 * 1024, 0), block(1, 64 * 1024), "first disk still reads")
    ha.pwrite(block(3, 4096), MIB)
    ha.shutdown()
    eq(t.read(fe_node(5, XVDA) + "/state"), "4", "first disk still Connected")


class Writer(threading.Thread):
    """Writes blocks 0..n-1 in order, one at a time, records each one the
    export acknowledged; stops at the first error."""

    def __init__(self, uri, n, size):
        super().__init__(daemon=True)
        self.uri, self.n, self.size = uri, n, size
        self.acked = []
        self.error = None

    def run(self):
        try:
            h = connect(self.uri)
            for i in range(self.n):
                h.pwrite(block(i, self.size), i * self.size)
                self.acked.append(i)
            h.flush()
            h.shutdown()
        except Exception as e:
            self.error = e


def check_acked(img, acked, size):
    with open(img, "rb") as f:
        for i in acked:
            f.seek(i * size)
            if f.read(size) != block(i, size):
                raise AssertionError("acknowledged block %d is not in the image" % i)


def t_kill_backend(t):
    size, n = 64 * 1024, 256  # 16 MiB
    img = t.image("a.img", 16)
    t.guest(5, (img, XVDA))
    back = t.back()
    front, uri = t.front(5, XVDA, "--timeout", "20")
    w = Writer(uri, n, size)
    w.start()
    wait_until(lambda: len(w.acked) >= 32 or not w.is_alive(), WAIT, "writes under way")
    back.p.kill()
    back.p.wait()
    time.sleep(0.3)
    mid = len(w.acked)
    t.back()
    w.join(60)
    eq(w.is_alive(), False, "writer finished")
    if w.error:
        raise AssertionError("writer failed after the backend restarted: %s\n%s" %
                             (w.error, front.text()[-2000:]))
    eq(len(w.acked), n, "every write acknowledged")
    check_acked(img, w.acked, size)
    if mid >= n:
        raise AssertionError("the transfer ended before the kill: not a mid-transfer test")
    wait_until(lambda: t.try_read(be_node(5, XVDA) + "/state") == "4", WAIT,
               "backend Connected again")


def t_kill_frontend(t):
    size, n = 64 * 1024, 256
    img = t.image("a.img", 16)
    t.guest(5, (img, XVDA))
    t.back()
    front, uri = t.front(5)
    w = Writer(uri, n, size)
    w.start()
    wait_until(lambda: len(w.acked) >= 32 or not w.is_alive(), WAIT, "writes under way")
    front.p.kill()
    front.p.wait()
    w.join(WAIT)
    acked = list(w.acked)
    if len(acked) >= n:
        raise AssertionError("the transfer ended before the kill: not a mid-transfer test")
    check_acked(img, acked, size)
    # A new frontend resets the half-connected device and serves on.
    front2, uri = t.front(5)
    h = connect(uri)
    for i in acked:
        if h.pread(size, i * size) != block(i, size):
            raise AssertionError("block %d reads wrong after the restart" % i)
    h.pwrite(block(999, size), 0)
    h.flush()
    h.shutdown()
    with open(img, "rb") as f:
        eq(f.read(size), block(999, size), "write after restart in the image")


def t_sigterm_closes(t):
    img = t.image("a.img", 4)
    t.guest(5, (img, XVDA))
    t.back()
    front, uri = t.front(5)
    h = connect(uri)
    h.pwrite(block(7, 4096), 0)
    h.shutdown()
    eq(front.stop(), 0, "xsblkfront exit status on SIGTERM")
    front.check_clean()
    eq(t.read(fe_node(5, XVDA) + "/state"), "6", "frontend Closed")
    wait_until(lambda: t.try_read(be_node(5, XVDA) + "/state") in ("6", "2"), WAIT,
               "backend closed (or waiting for a new frontend)")
    # And a new one connects to the same device.
    _, uri = t.front(5)
    h = connect(uri)
    eq(h.pread(4096, 0), block(7, 4096), "data after reconnect")
    h.shutdown()


def t_background_ready(t):
    """Without --foreground xsblkfront returns once the export is ready."""
    img = t.image("a.img", 4)
    t.guest(5, (img, XVDA))
    t.back()
    sock, pidf = t.path("bg.sock"), t.path("bg.pid")
    r = subprocess.run([t.front_bin, "--domid", "5", "--nbd-socket", sock, "--platform",
                        "sim:" + t.env.sim, "--pid-file", pidf], env=t.fenv,
                       capture_output=True, text=True, timeout=60)
    eq(r.returncode, 0, "xsblkfront exit status (%s)" % r.stderr.strip())
    pid = int(open(pidf).read())
    try:
        out = run("nbdinfo", "--size", "nbd+unix:///?socket=" + sock).stdout.strip()
        eq(out, str(4 * MIB), "size right after xsblkfront returned")
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not os.path.exists("/proc/%d" % pid) or
                   open("/proc/%d/stat" % pid).read().split()[2] == "Z", WAIT,
                   "background nbdkit exited")
    # No disk at all: a clear failure, not a hang.
    r = subprocess.run([t.front_bin, "--domid", "5", "--devid", "xvdc", "--nbd-socket",
                        t.path("none.sock"), "--platform", "sim:" + t.env.sim, "--wait", "1"],
                       env=t.fenv, capture_output=True, text=True, timeout=60)
    eq(r.returncode, 1, "xsblkfront without a disk: exit status")
    if "not connected in time" not in r.stderr:
        raise AssertionError("no clear error: %r" % r.stderr)


CASES = [
    ("write_read_%dmib" % BIG, t_write_read_big),
    ("info_trim_flush", t_info_trim_flush),
    ("readonly", t_readonly),
    ("mkfs_ext4", t_mkfs_ext4),
    ("hotplug_unplug", t_hotplug_unplug),
    ("kill_backend_mid_transfer", t_kill_backend),
    ("kill_frontend_mid_transfer", t_kill_frontend),
    ("sigterm_closes", t_sigterm_closes),
    ("background_ready", t_background_ready),
]


def case(fn):
    def go():
        t = Disk()
        ok = False
        try:
            fn(t)
            t.finish()
            ok = True
        finally:
            if not ok and os.environ.get("VBD_TEST_KEEP"):
                print("  kept %s" % t.dir, flush=True)
            else:
                t.cleanup()
    return go


def main():
    r = Runner("vbd.")
    only = sys.argv[1:]
    for name, fn in CASES:
        if only and name not in only:
            continue
        r.run(name, case(fn))
    return r.final()


if __name__ == "__main__":
    sys.exit(main())
