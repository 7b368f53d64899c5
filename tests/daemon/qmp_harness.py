# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for the iothreadd integration tests (Python 3 standard library).

QMPClient speaks QMP over a Unix socket: messages are JSON objects, one per
line, ending in CRLF.  It keeps every byte it received so that tests can
check the wire format (CRLF, ASCII only), and it collects the events that
arrive while waiting for a reply.

Daemon starts build/iothreadd (or $IOTHREADD_BUILD/iothreadd) on a socket in
a temporary directory, waits until the socket serves, and stops it again;
every way of starting a daemon (another uid, rlimits, socket activation)
goes through it, so that every daemon's exit status is checked.

All timeouts are multiplied by $IOTHREAD_TEST_TIMEOUT_SCALE (default 1).
They bound how long a test waits for something that should happen; no test
asserts that anything is fast.
"""

import errno
import json
import os
import signal
import socket
import subprocess
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def timeout_scale():
    try:
        scale = float(os.environ.get("IOTHREAD_TEST_TIMEOUT_SCALE", "1"))
    except ValueError:
        scale = 1.0
    return scale if scale > 0 else 1.0


def scaled(seconds):
    return seconds * timeout_scale()


def daemon_binary():
    build = os.environ.get("IOTHREADD_BUILD", "build")
    return os.path.join(build, "iothreadd")


def project_version():
    """VERSION from the Makefile (e.g. "0.1.0"), or None."""
    try:
        with open(os.path.join(REPO_ROOT, "Makefile")) as f:
            for line in f:
                parts = line.split(":=")
                if len(parts) == 2 and parts[0].strip() == "VERSION":
                    return parts[1].strip()
    except OSError:
        pass
    return None


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def jeq(a, b):
    """JSON equality that tells 1, 1.0 and true apart."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(jeq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(jeq(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def brief(obj, limit=300):
    s = obj if isinstance(obj, str) else json.dumps(obj)
    return s if len(s) <= limit else s[:limit] + "..."


def expect_return(reply, what=""):
    check(isinstance(reply, dict) and "return" in reply,
          "%sexpected a return, got %s" % (what + ": " if what else "",
                                          brief(reply)))
    return reply["return"]


def expect_error(reply, cls=None, desc=None, what=""):
    """Check that @reply is an error of class @cls with text @desc (if given).
    Returns the error's desc."""
    pre = what + ": " if what else ""
    check(isinstance(reply, dict) and isinstance(reply.get("error"), dict),
          "%sexpected an error, got %s" % (pre, brief(reply)))
    err = reply["error"]
    check(isinstance(err.get("class"), str) and isinstance(err.get("desc"), str),
          "%serror lacks class/desc strings: %s" % (pre, brief(reply)))
    if cls is not None:
        check(err["class"] == cls, "%sexpected class %s, got %s" %
              (pre, cls, brief(reply)))
    if desc is not None:
        check(err["desc"] == desc, "%sexpected desc %r, got %r" %
              (pre, desc, err["desc"]))
    return err["desc"]


class QMPClient:
    """One QMP connection."""

    def __init__(self, path, timeout=None, read_greeting=True):
        self.path = path
        self.timeout = scaled(10) if timeout is None else timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buf = bytearray()
        self.raw = bytearray()        # every byte received
        self.events = []              # events not yet consumed
        self.all_events = []          # every event received
        self.violations = []          # wire format problems seen
        self.eof = False
        self.greeting = self.recv() if read_greeting else None

    # -- low level ---------------------------------------------------------

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\r\n")

    def _fill(self, deadline):
        """Read more bytes into self.buf.  Raises socket.timeout (TimeoutError)
        at @deadline and EOFError when the peer closed."""
        if self.eof:
            raise EOFError("connection closed by the daemon")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for the daemon")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise EOFError("connection closed by the daemon")
        self.raw += data
        self.buf += data

    def recv(self, timeout=None):
        """Next message (event or reply) as a dict."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[:nl + 1])
                del self.buf[:nl + 1]
                msg = self._parse_line(line)
                if msg is None:
                    continue
                if isinstance(msg, dict) and "event" in msg:
                    self.all_events.append(msg)
                return msg
            self._fill(deadline)

    def _parse_line(self, line):
        if not line.endswith(b"\r\n"):
            self.violations.append("line does not end with CRLF: %r"
                                   % line[:200])
        if any(b >= 0x80 for b in line):
            self.violations.append("non-ASCII output: %r" % line[:200])
        text = line.decode("utf-8", "replace").strip("\r\n")
        if text.strip() == "":
            self.violations.append("empty line in output")
            return None
        try:
            msg = json.loads(text)
        except ValueError as e:
            self.violations.append("line is not one JSON value (%s): %r"
                                   % (e, text[:200]))
            raise TestFailure("daemon sent invalid JSON: %r" % text[:200])
        if not isinstance(msg, dict):
            self.violations.append("message is not an object: %r" % text[:200])
        return msg

    def recv_reply(self, timeout=None):
        """Next non-event message; events seen meanwhile go to self.events."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        while True:
            msg = self.recv(max(0.0, deadline - time.monotonic()) or 0.001)
            if isinstance(msg, dict) and "event" in msg:
                self.events.append(msg)
                continue
            return msg

    # -- QMP ---------------------------------------------------------------

    def send_cmd(self, name, args=None, id=None):
        """Send command @name (with @args and @id where given); its reply
        is left to be read."""
        req = {"execute": name}
        if args is not None:
            req["arguments"] = args
        if id is not None:
            req["id"] = id
        self.send(req)

    def cmd(self, name, args=None, id=None, timeout=None):
        """Send a command; return its reply (events arriving in between are
        appended to self.events)."""
        self.send_cmd(name, args, id)
        return self.recv_reply(timeout)

    def cmd_ok(self, name, args=None):
        """cmd() that must succeed; returns the "return" value."""
        reply = self.cmd(name, args)
        return expect_return(reply, name + " " + brief(args or {}, 120))

    def negotiate(self):
        reply = self.cmd("qmp_capabilities")
        check(reply == {"return": {}},
              "qmp_capabilities: expected {\"return\": {}}, got %s"
              % brief(reply))

    def wait_event(self, name, timeout=None, pred=None):
        """Wait for event @name (optionally satisfying @pred) and remove it
        from self.events; other events stay there, so several events can be
        waited for in any order.  A reply arriving meanwhile is an error."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("event") == name and (pred is None or pred(ev)):
                    del self.events[i]
                    return ev
            try:
                msg = self.recv(max(0.001, deadline - time.monotonic()))
            except socket.timeout:
                raise TestFailure("no %s event within %.1fs (events seen: %s)"
                                  % (name, limit,
                                     brief([e.get("event") for e in
                                            self.all_events])))
            if "event" in msg:
                self.events.append(msg)
            else:
                raise TestFailure("unexpected reply while waiting for %s: %s"
                                  % (name, brief(msg)))

    def read_until_eof(self, timeout=None):
        """Read messages until the daemon closes the connection; returns them.
        Raises TestFailure if it stays open past @timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None
                                       else timeout)
        msgs = []
        while True:
            try:
                msgs.append(self.recv(max(0.001, deadline - time.monotonic())))
            except EOFError:
                return msgs
            except socket.timeout:
                raise TestFailure("connection still open after %.1fs"
                                  % (self.timeout if timeout is None
                                     else timeout))

    def check_wire(self):
        check(not self.violations, "wire format: " + "; ".join(
            self.violations[:3]))


def how(status):
    """A process's exit status in words: "status 1", "signal SIGSEGV"."""
    if status is None:
        return "no exit status (still running)"
    if status >= 0:
        return "status %d" % status
    try:
        return "signal %s" % signal.Signals(-status).name
    except ValueError:
        return "signal %d" % -status


class Daemon:
    """One iothreadd process on DIR/qmp.sock (or @sock).

    Every way the tests start a daemon goes through here: @launcher is an
    argv prefix (systemd-socket-activate ...), @user a uid to run as (the
    tests run as root and need an unprivileged daemon), @extra_rlimits
    (resource, soft) pairs set for the child only.

    The exit status is part of every case: stop() ends the daemon with
    SIGTERM and exit_problem() says what was wrong if it did not exit with
    @expect_status (0 unless the case said otherwise with wait_exit()),
    or had to be killed.
    """

    def __init__(self, tmpdir, args=(), env=None, sock=None, name="daemon",
                 socket_arg=True, launcher=(), user=None, rlimits=()):
        self.tmpdir = tmpdir
        self.sock = sock or os.path.join(tmpdir, "qmp.sock")
        self.args = list(args)
        self.env = dict(os.environ)
        for k in ("IOTHREADD_SOCKET", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                  "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
                  "LISTEN_FDNAMES"):
            self.env.pop(k, None)
        if env:
            self.env.update(env)
        self.name = name
        self.socket_arg = socket_arg
        self.launcher = list(launcher)
        self.user = user
        self.rlimits = list(rlimits)
        self.stderr_path = os.path.join(tmpdir, name + ".stderr")
        self.stdout_path = os.path.join(tmpdir, name + ".stdout")
        self.proc = None
        self.clients = []
        self._files = []
        self.expect_status = 0
        self.sigterm_sent = False   # by stop()
        self.killed = False         # stop() had to use SIGKILL

    @property
    def pid(self):
        return self.proc.pid

    def command(self):
        binary = daemon_binary()
        if not os.path.exists(binary):
            raise TestFailure("daemon binary %s does not exist" % binary)
        argv = self.launcher + [binary]
        if self.socket_arg:
            argv += ["--socket", self.sock]
        return argv + self.args

    def _child_setup(self):
        import resource
        for res, soft in self.rlimits:
            hard = resource.getrlimit(res)[1]
            resource.setrlimit(res, (soft, hard))

    def start(self):
        argv = self.command()
        err = open(self.stderr_path, "wb")
        out = open(self.stdout_path, "wb")
        self._files = [err, out]
        kw = {}
        if self.user is not None:
            kw = {"user": self.user, "group": self.user, "extra_groups": []}
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            env=self.env, close_fds=True,
            preexec_fn=self._child_setup if self.rlimits else None, **kw)
        return self

    def wait_ready(self, timeout=None):
        """Poll connect() until the socket serves (greeting received)."""
        deadline = time.monotonic() + (scaled(10) if timeout is None
                                       else timeout)
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure("daemon exited with %s before serving"
                                  % how(self.proc.returncode))
            try:
                c = QMPClient(self.sock, timeout=max(0.5, deadline -
                                                     time.monotonic()))
                c.close()
                check("QMP" in c.greeting, "first message is not a greeting:"
                      " %s" % brief(c.greeting))
                return self
            except (OSError, EOFError) as e:
                last = e
            time.sleep(0.02)
        raise TestFailure("socket %s not serving after %.1fs (%s)"
                          % (self.sock, scaled(10) if timeout is None
                             else timeout, last))

    def launch(self):
        return self.start().wait_ready()

    def client(self, negotiate=True, timeout=None):
        c = QMPClient(self.sock, timeout=timeout)
        self.clients.append(c)
        if negotiate:
            c.negotiate()
        return c

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout=None):
        """Wait for exit; returns the status or raises TestFailure."""
        t = scaled(10) if timeout is None else timeout
        try:
            return self.proc.wait(t)
        except subprocess.TimeoutExpired:
            raise TestFailure("%s still running %.1fs later" % (self.name, t))

    def wait_exit(self, status, what=None):
        """Wait for the exit the case caused, which must be @status (a
        negative number for a signal, as subprocess has it)."""
        self.expect_status = status
        got = self.wait()
        check(got == status, "%s%s exited with %s, expected %s"
              % (what + ": " if what else "", self.name, how(got),
                 how(status)))
        return got

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """SIGTERM if still running, wait, SIGKILL if it does not exit
        (which exit_problem() reports).  Returns the exit status."""
        for c in self.clients:
            c.close()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.sigterm_sent = True
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
        for f in self._files:
            f.close()
        self._files = []
        return None if self.proc is None else self.proc.returncode

    def exit_problem(self):
        """After stop(): what was wrong with the way the daemon ended, or
        None."""
        if self.proc is None:
            return None
        st = self.proc.returncode
        if self.killed:
            return ("%s did not exit within %.0fs of SIGTERM; killed with "
                    "SIGKILL" % (self.name, scaled(10)))
        if st != self.expect_status:
            return "%s exited with %s%s, expected %s" % (
                self.name, how(st),
                " after SIGTERM" if self.sigterm_sent else " by itself",
                how(self.expect_status))
        return None

    @staticmethod
    def _text_of(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr(self):
        return self._text_of(self.stderr_path)

    def stdout(self):
        return self._text_of(self.stdout_path)

    def stderr_tail(self, n=15):
        return self.stderr().splitlines()[-n:]


# What an error line of the daemon's log starts with: "<3>" in journald's
# format, "iothreadd: " in the plain one (which has no priority).
LOG_ERR = r"^(?:<3>|iothreadd: )"

UNPRIVILEGED_UID = 4321


def unprivileged_uid():
    """The uid to run a daemon as when the case needs permissions to
    apply (root passes every permission check): an unused uid as root,
    None (run as ourselves) otherwise."""
    return UNPRIVILEGED_UID if os.geteuid() == 0 else None


def iothreads(c):
    """query-iothreads over client @c as a dict id -> entry (checked: a
    list of objects with distinct string ids)."""
    ret = c.cmd_ok("query-iothreads")
    check(isinstance(ret, list), "query-iothreads: not a list: %s" % brief(ret))
    out = {}
    for e in ret:
        check(isinstance(e, dict) and isinstance(e.get("id"), str),
              "query-iothreads: bad entry %s" % brief(e))
        check(e["id"] not in out, "query-iothreads: %s twice" % e["id"])
        out[e["id"]] = e
    return out


def iothread_ids(c):
    """The ids query-iothreads lists, in its order."""
    return list(iothreads(c))


def run_binary(args, env=None, timeout=None):
    """Run the daemon binary to completion (for --help, --check-config...).
    Returns (status, stdout, stderr)."""
    binary = daemon_binary()
    if not os.path.exists(binary):
        raise TestFailure("daemon binary %s does not exist" % binary)
    e = dict(os.environ)
    e.pop("IOTHREADD_SOCKET", None)
    e.pop("NOTIFY_SOCKET", None)
    if env:
        e.update(env)
    t = scaled(10) if timeout is None else timeout
    try:
        p = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=e, timeout=t)
    except subprocess.TimeoutExpired:
        raise TestFailure("%s %s did not exit within %.1fs"
                          % (binary, " ".join(args), t))
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def wait_for(pred, timeout=None, interval=0.02):
    """Poll @pred until it returns a true value (returned) or time is up
    (returns the last value)."""
    deadline = time.monotonic() + (scaled(10) if timeout is None else timeout)
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def task_dir(pid, tid):
    return "/proc/%d/task/%d" % (pid, tid)


def read_proc(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def thread_comm(pid, tid):
    s = read_proc(task_dir(pid, tid) + "/comm")
    return None if s is None else s.rstrip("\n")


def user_tasks(pid):
    """The daemon's thread ids, without the kernel's io_uring workers
    (iou-wrk-*, iou-sqp-*), which come and go on their own."""
    out = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tids:
        comm = thread_comm(pid, int(t))
        if comm is not None and not comm.startswith("iou-"):
            out.append(int(t))
    return sorted(out)


def fd_count(pid):
    """How many file descriptors @pid has open."""
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    """Resident set size of @pid in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def thread_cpus_allowed(pid, tid):
    s = read_proc(task_dir(pid, tid) + "/status")
    if s is None:
        return None
    for line in s.splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return None


def bind_stale_socket(path):
    """Leave a Unix socket file at @path with nobody listening."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()


def is_refused(exc):
    return isinstance(exc, OSError) and exc.errno in (
        errno.ECONNREFUSED, errno.ENOENT, errno.ECONNRESET, errno.EPIPE,
        errno.EAGAIN)
