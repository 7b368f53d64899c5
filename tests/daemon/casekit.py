#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The test-case runner shared by the daemon's Python suites.

A suite registers cases with @case(name); main() runs them (or those whose
names contain a command-line FILTER) and prints "ok - NAME", "not ok -
NAME: reason" or "ok - NAME # SKIP reason" lines and "N passed, N failed,
N skipped" last.

Each case runs under a watchdog (IOTHREAD_TEST_CASE_TIMEOUT seconds,
default 120, times IOTHREAD_TEST_TIMEOUT_SCALE): a case that hangs fails
with its name and where it hung, its daemons are killed, and the run goes
on.  Every daemon a case started must end with the status the case
expected (0 after SIGTERM unless it said otherwise): a crash, a non-zero
exit or a daemon that needs SIGKILL fails the case.

Besides the runner, what several suites set up the same way lives here,
so that a suite's file holds only what its cases check: ExportSetup (a
daemon serving an NBD export of a fresh image), Ctx.image(), ctl() and
complete() (iothreadctl and its bash completion), import_nbd() and
nbd_refused() (libnbd), nogroup_gid().
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import traceback

from qmp_harness import (  # noqa: F401 - how() is re-exported
    REPO_ROOT, Daemon, TestFailure, expect_return, how, scaled,
    unprivileged_uid)

CASES = []


class Skip(Exception):
    pass


class CaseTimeout(BaseException):
    """Raised in the main thread by the per-case watchdog.  A BaseException
    so that no `except Exception` in a case can swallow it."""


def need(*tools):
    """Skip the case unless every program in @tools is installed."""
    for t in tools:
        if not shutil.which(t):
            raise Skip("%s is not installed" % t)


def nogroup_gid():
    """The gid of the group 'nogroup' (for socket-group cases); the case
    is skipped where there is none."""
    import grp
    try:
        return grp.getgrnam("nogroup").gr_gid
    except KeyError:
        raise Skip("no group 'nogroup'")


def import_nbd():
    """libnbd's Python binding (python3-libnbd), which Debian installs for
    its own python3: reach it from another interpreter too."""
    try:
        import nbd  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            import nbd  # noqa: F401,F811
        except ImportError:
            raise Skip("python3-libnbd is not installed")
    return sys.modules["nbd"]


def nbd_refused(nbd, what, fn, *args):
    """libnbd's @fn(*args) must fail (nbd.Error of the module @nbd), or
    the case fails with @what."""
    try:
        fn(*args)
    except nbd.Error:
        return
    raise TestFailure(what)


def sanitized_build():
    """Whether the daemon under test is the ASan or TSan build (slower:
    loops that only need to run long enough run shorter there)."""
    build = os.environ.get("IOTHREADD_BUILD", "build")
    return "asan" in build or "tsan" in build


def ctl_binary():
    return os.path.join(os.environ.get("IOTHREADD_BUILD", "build"),
                        "iothreadctl")


def ctl(sock, *args, input=None, env=None):
    """iothreadctl -s @sock ARGS... (with @env added to the environment,
    @input on its stdin): (status, stdout, stderr)."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([ctl_binary(), "-s", sock] + list(args),
                       input=input, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL if input is None else None,
                       timeout=scaled(30), env=e)
    return p.returncode, p.stdout, p.stderr


def complete(words):
    """COMPREPLY of completion/iothreadctl.bash for the command line
    @words (the last one is completed), the build's iothreadctl on PATH."""
    script = ('source completion/iothreadctl.bash\n'
              'COMP_WORDS=(%s); COMP_CWORD=%d\n'
              '_iothreadctl\nprintf "%%s\\n" "${COMPREPLY[@]}"\n'
              % (" ".join("'%s'" % w for w in words), len(words) - 1))
    env = dict(os.environ, PATH=os.path.dirname(os.path.abspath(
        ctl_binary())) + ":" + os.environ["PATH"])
    p = subprocess.run(["bash", "-c", script], capture_output=True,
                       text=True, env=env, timeout=scaled(30))
    return set(p.stdout.split())


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco


class Ctx:
    """Per-case state: a temporary directory and the daemons started."""

    def __init__(self, tmpdir):
        self.dir = tmpdir
        self.sock = os.path.join(tmpdir, "qmp.sock")
        self.daemons = []
        self.uid = None             # see unprivileged()

    def path(self, name):
        return os.path.join(self.dir, name)

    def teardown(self):
        """Stops what a suite's own Ctx started besides daemons (servers,
        sockets); returns the problem with how they ended, or None."""
        return None

    def failure_tails(self):
        """(name, lines) of output worth printing under a failed case,
        besides the daemons' stderr."""
        return []

    def write(self, name, text):
        p = self.path(name)
        with open(p + ".tmp", "w") as f:
            f.write(text)
        self._own(p + ".tmp")
        os.rename(p + ".tmp", p)      # atomic, as an editor would save
        return p

    def image(self, name="disk.img", size=64 << 20, data=()):
        """A sparse image file of @size bytes in the case's directory,
        each (offset, bytes) of @data written into it; its path."""
        p = self.path(name)
        with open(p, "wb") as f:
            f.truncate(size)
            for off, b in data:
                f.seek(off)
                f.write(b)
        self._own(p)
        return p

    def mkdir(self, name, mode=0o700):
        p = self.path(name)
        os.mkdir(p, mode)
        self._own(p)
        return p

    def _own(self, p):
        if self.uid is not None:
            os.chown(p, self.uid, self.uid)

    def unprivileged(self):
        """For a case that needs permissions to apply, which root passes
        all: as root, the case's daemons run as an unused uid that owns
        the case's directory and what write() and mkdir() make in it.
        Returns that uid (None when not root: we are unprivileged)."""
        self.uid = unprivileged_uid()
        if self.uid is not None:
            self.give_to(self.uid)
        return self.uid

    def daemon(self, args=(), env=None, sock=None, start=True, **kw):
        kw.setdefault("user", self.uid)
        d = Daemon(self.dir, args=args, env=env, sock=sock,
                   name=kw.pop("name", "daemon%d" % len(self.daemons)
                               if self.daemons else "daemon"), **kw)
        self.daemons.append(d)
        if start:
            d.launch()
        return d

    def give_to(self, uid):
        """Let @uid (a daemon started with user=@uid) use the case's
        directory: socket, state and log files live there."""
        os.chown(self.dir, uid, uid)
        os.chmod(self.dir, 0o700)


class ExportSetup:
    """qemu-storage-daemon's command line of issue 14, on iothreadd: the
    iothreads @iothreads, a file node f0 on the case's disk.img (a fresh
    one of @size bytes unless not @create; @node_opts added to its
    options), an NBD server on the case's nbd.sock and the export e0 of
    f0, writable=on plus @export_opts.  @before come before the block
    options, @extra after them.  self.d is the daemon, self.c a client."""

    def __init__(self, ctx, size=64 << 20, iothreads=("io0",),
                 node_opts="", export_opts=",iothread=io0", before=(),
                 extra=(), name="daemon", create=True, env=None):
        self.img = ctx.path("disk.img")
        self.nbd_sock = ctx.path("nbd.sock")
        if create:
            ctx.image("disk.img", size)
        args = []
        for io in iothreads:
            args += ["--object", "iothread,id=%s" % io]
        args += list(before) + [
            "--blockdev", "driver=file,node-name=f0,filename=%s%s"
            % (self.img, node_opts),
            "--nbd-server", "addr.type=unix,addr.path=%s" % self.nbd_sock,
            "--export", "type=nbd,id=e0,node-name=f0,writable=on%s"
            % export_opts] + list(extra)
        self.d = ctx.daemon(args, name=name, env=env)
        self.c = self.d.client()

    def uri(self, name="f0"):
        return "nbd+unix:///%s?socket=%s" % (name, self.nbd_sock)

    def connect(self):
        """A libnbd handle connected to uri() (the case is skipped without
        python3-libnbd)."""
        h = import_nbd().NBD()
        h.connect_uri(self.uri())
        return h

    def export(self, id="e0"):
        """Export @id as query-block-exports shows it (None: not there)."""
        for e in expect_return(self.c.cmd("query-block-exports")):
            if e["id"] == id:
                return e
        return None


# ---------------------------------------------------------------------------

SANITIZER = re.compile(r"ERROR: \w+Sanitizer|WARNING: ThreadSanitizer|"
                       r"runtime error:|LeakSanitizer")


def make_tmpdir():
    base = tempfile.gettempdir()
    if len(base) > 60:
        base = "/tmp"
    return tempfile.mkdtemp(prefix="iothreadd-t-", dir=base)


def case_timeout():
    try:
        limit = float(os.environ.get("IOTHREAD_TEST_CASE_TIMEOUT", "120"))
    except ValueError:
        limit = 120.0
    return scaled(limit if limit > 0 else 120.0)


def _on_alarm(signum, frame):
    raise CaseTimeout()


def where_hung(tb):
    """The innermost frame of traceback @tb outside this file and the
    standard library."""
    frames = [f for f in traceback.extract_tb(tb)
              if f.filename != __file__ and f.filename.startswith("/")
              and "/lib/python" not in f.filename]
    if not frames:
        return "?"
    f = frames[-1]
    return "%s:%d in %s()" % (os.path.basename(f.filename), f.lineno, f.name)


def run_case(name, fn, make_ctx=None):
    """Runs one case in a fresh @make_ctx(tmpdir) (default: Ctx); returns
    "pass", "fail" or "skip"."""
    tmp = make_tmpdir()
    ctx = (make_ctx or Ctx)(tmp)
    reason, skip = None, None
    limit = case_timeout()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        try:
            fn(ctx)
            for d in ctx.daemons:
                for c in d.clients:
                    c.check_wire()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except CaseTimeout:
        reason = "timed out after %g s (hung at %s)" % (
            limit, where_hung(sys.exc_info()[2]))
    except Skip as e:
        skip = str(e) or "no reason given"
    except TestFailure as e:
        reason = str(e)
    except (socket.timeout, TimeoutError) as e:
        reason = "timed out waiting for the daemon (%s)" % (e or "timeout")
    except EOFError as e:
        reason = str(e) or "connection closed"
    except Exception as e:              # a bug here or an unexpected reply
        reason = "%s: %s (at %s)" % (type(e).__name__, e,
                                     where_hung(sys.exc_info()[2]))
    finally:
        signal.signal(signal.SIGALRM, old)
    if reason is not None:
        for d in ctx.daemons:
            st = d.proc.poll() if d.proc is not None else None
            if st is not None and st != d.expect_status:
                reason += " [%s had exited: %s]" % (d.name, how(st))
    for d in ctx.daemons:
        try:
            d.stop()
            problem = d.exit_problem()
        except Exception as e:          # noqa: BLE001 - reported
            problem = "stopping %s: %s" % (d.name, e)
        if problem and reason is None:
            reason = problem
    problem = ctx.teardown()
    if problem and reason is None:
        reason = problem
    if reason is None:
        for d in ctx.daemons:
            m = SANITIZER.search(d.stderr())
            if m:
                reason = "sanitizer report on %s's stderr: %s" % (
                    d.name, m.group(0))
                break
    if reason is not None:
        print("not ok - %s: %s" % (name, reason.replace("\n", "\\n")))
        for d in ctx.daemons:
            tail = d.stderr_tail()
            if tail:
                print("#   %s stderr (last %d lines):" % (d.name, len(tail)))
                for ln in tail:
                    print("#     " + ln)
        for what, lines in ctx.failure_tails():
            if not lines:
                continue
            print("#   %s (last %d lines):" % (what, len(lines)))
            for ln in lines:
                print("#     " + ln)
    elif skip is not None:
        print("ok - %s # SKIP %s" % (name, skip.replace("\n", " ")))
    else:
        print("ok - %s" % name)
    sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)
    if reason is not None:
        return "fail"
    return "skip" if skip is not None else "pass"


def main(make_ctx=None):
    os.chdir(REPO_ROOT)
    filters = sys.argv[1:]
    selected = [(n, f) for n, f in CASES
                if not filters or any(x in n for x in filters)]
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for name, fn in selected:
        counts[run_case(name, fn, make_ctx)] += 1
    print("%d passed, %d failed, %d skipped"
          % (counts["pass"], counts["fail"], counts["skip"]))
    sys.stdout.flush()
    return 1 if counts["fail"] or not selected else 0
