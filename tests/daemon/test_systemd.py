#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""iothreadd as a systemd service, without systemd as PID 1 (issue 5).

A fake NOTIFY_SOCKET (a datagram socket this test reads) stands in for the
service manager; systemd-socket-activate hands over listening sockets;
systemd-analyze checks the unit files.  Output as in test_qmp.py.
"""

import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import (  # noqa: E402
    REPO_ROOT, QMPClient, TestFailure, check, daemon_binary, expect_error,
    iothread_ids, scaled, wait_for)
from casekit import Skip, case, main, nogroup_gid  # noqa: E402


class Notify:
    """A fake service manager: collects sd_notify datagrams in order.

    A thread drains the socket all the time (a full queue would block the
    daemon in sd_notify); sync() takes every datagram already queued, so
    that after it, all() holds everything the daemon sent before the
    moment sync() was called."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.msgs = []              # {key: value}, in arrival order
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _drain(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.stop = True
                return
            self.msgs.append(dict(line.split("=", 1) for line in
                                  data.decode().split("\n") if "=" in line))

    def _run(self):
        while not self.stop:
            select.select([self.sock], [], [], 0.1)
            with self.lock:
                if not self.stop:
                    self._drain()

    def sync(self):
        with self.lock:
            self._drain()

    def all(self):
        self.sync()
        with self.lock:
            return list(self.msgs)

    def pings(self):
        return sum(1 for m in self.all() if m.get("WATCHDOG") == "1")

    def wait(self, key, value=None, after=0, timeout=None):
        """The first message at index >= @after with @key (= @value)."""
        def find():
            for i, m in enumerate(self.all()[after:], after):
                if key in m and (value is None or m[key] == value):
                    return i, m
            return None
        r = wait_for(find, timeout=scaled(10) if timeout is None else timeout)
        check(r, "no %s%s from the daemon; got %s" % (
            key, "=" + value if value else "", self.all()[-8:]))
        return r

    def close(self):
        with self.lock:
            self.stop = True
        self.thread.join()
        self.sock.close()


def notify_daemon(ctx, args=(), env=None, start=True):
    n = Notify(ctx.path("notify"))
    ctx.notify = n
    e = {"NOTIFY_SOCKET": n.path}
    e.update(env or {})
    return n, ctx.daemon(list(args), env=e, start=start)


@case("notify-ready-after-socket-serves")
def t_ready(ctx):
    n, d = notify_daemon(ctx, ["--object", "iothread,id=io0"], start=False)
    d.start()
    i, m = n.wait("READY", "1")
    # READY comes only once the socket serves and io0 runs: connecting
    # right now must work at the first try.
    c = QMPClient(d.sock)
    c.negotiate()
    ids = iothread_ids(c)
    check(ids == ["io0"], "iothreads at READY: %s" % ids)
    check(m.get("STATUS") == "1 iothread, 1 polling",
          "STATUS with READY: %r" % m.get("STATUS"))
    c.close()
    n.close()


@case("notify-status-updates")
def t_status(ctx):
    n, d = notify_daemon(ctx)
    n.wait("READY", "1")
    c = d.client()
    c.cmd_ok("object-add", {"qom-type": "iothread", "id": "a"})
    c.cmd_ok("object-add", {"qom-type": "iothread", "id": "b",
                            "poll-max-ns": 0})
    n.wait("STATUS", "2 iothreads, 1 polling")
    c.cmd_ok("iothread-set", {"id": "a", "poll-max-ns": 0})
    n.wait("STATUS", "2 iothreads, 0 polling")
    c.cmd_ok("object-del", {"id": "b"})
    n.wait("STATUS", "1 iothread, 0 polling")
    n.close()


@case("notify-reload-and-stopping")
def t_reload(ctx):
    cfg = ctx.write("c.json", '{"iothreads": [{"id": "io0"}]}\n')
    n, d = notify_daemon(ctx, ["--config", cfg])
    i, _ = n.wait("READY", "1")
    ctx.write("c.json", '{"iothreads": [{"id": "io0"}, {"id": "io1"}]}\n')
    t0 = monotonic_usec()
    d.signal(signal.SIGHUP)
    j, m = n.wait("RELOADING", "1", after=i + 1)
    t1 = monotonic_usec()
    usec = m.get("MONOTONIC_USEC", "")
    check(re.fullmatch(r"\d+", usec), "MONOTONIC_USEC %r" % usec)
    # The time of the request: after we sent SIGHUP, before we saw it.
    check(t0 <= int(usec) <= t1, "MONOTONIC_USEC %s is not between %d and %d"
          % (usec, t0, t1))
    k, m = n.wait("READY", "1", after=j + 1)
    check(m.get("STATUS") == "2 iothreads, 2 polling",
          "STATUS after reload: %r" % m.get("STATUS"))
    # The reload command does the same.
    c = d.client()
    c.cmd_ok("reload")
    j2, _ = n.wait("RELOADING", "1", after=k + 1)
    n.wait("READY", "1", after=j2 + 1)
    d.signal(signal.SIGTERM)
    d.wait_exit(0)
    n.wait("STOPPING", "1")
    n.close()


@case("notify-startup-failure")
def t_failure(ctx):
    n = Notify(ctx.path("notify"))
    d = ctx.daemon(sock="/proc/no-such-dir/qmp.sock", start=False,
                   env={"NOTIFY_SOCKET": n.path})
    d.start()
    d.wait_exit(1, "a daemon that cannot bind")
    _, m = n.wait("ERRNO")
    check(re.fullmatch(r"\d+", m["ERRNO"]) and int(m["ERRNO"]) > 0,
          "ERRNO=%r" % m["ERRNO"])
    check(m.get("STATUS", "").startswith("Failed"), "STATUS=%r"
          % m.get("STATUS"))
    check(not any("READY" in m for m in n.all()), "READY sent anyway")
    n.close()


def monotonic_usec():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def ticks(c):
    """Watchdog ticks so far, counted by io0: each tick sends every
    iothread that answered the last one a heartbeat BH, and nothing else
    runs BHs in an idle iothread."""
    return c.cmd_ok("query-iothread-stats", {"id": "io0"})[0]["bh-runs"]


def wait_ticks(c, n, also=lambda: False):
    start = ticks(c)
    check(wait_for(lambda: ticks(c) >= start + n or also(),
                   timeout=scaled(30)),
          "fewer than %d watchdog ticks in %.0fs" % (n, scaled(30)))


@case("watchdog-pings-only-while-iothreads-respond")
def t_watchdog(ctx):
    period = 0.4 * scaled(1)
    n, d = notify_daemon(ctx, ["--object", "iothread,id=io0",
                               "--object", "iothread,id=io1"],
                         env={"WATCHDOG_USEC": str(int(period * 1e6))})
    n.wait("READY", "1")
    c = d.client()
    # Cadence, counted: one ping per tick while every iothread answers
    # (give or take one: a tick's BH and its ping are not read at once).
    t0, p0 = ticks(c), n.pings()
    wait_ticks(c, 8)
    t1, p1 = ticks(c), n.pings()
    check(abs((p1 - p0) - (t1 - t0)) <= 2,
          "%d pings in %d watchdog ticks" % (p1 - p0, t1 - t0))
    # Stall io1: once the daemon says it does not respond, no ping for the
    # next ticks; then it responds again and the pings resume.  The stall
    # ends by itself: if it ended before the ticks were counted, it was
    # too short for this machine, and a longer one is tried.
    stall_ms = int(3000 * scaled(1))
    for attempt in range(4):
        log = len(d.stderr())
        c.cmd_ok("x-debug-iothread-stall", {"id": "io1", "ms": stall_ms})
        check(wait_for(lambda: "does not respond" in d.stderr()[log:],
                       timeout=scaled(30)),
              "the stall of io1 was not noticed: %r" % d.stderr()[log:])
        check(re.search(r"watchdog: iothread 'io1' does not respond",
                        d.stderr()[log:]),
              "io1 (alone) not named as stuck: %r" % d.stderr()[log:])
        stuck = n.pings()

        def resumed():
            return "responds again" in d.stderr()[log:]
        wait_ticks(c, 3, also=resumed)
        quiet = n.pings()
        if not resumed():
            check(quiet == stuck, "%d pings while io1 was stalled"
                  % (quiet - stuck))
            break
        stall_ms = min(stall_ms * 2, 60000)
    else:
        raise TestFailure("io1's stall always ended before 3 watchdog ticks")
    check(wait_for(resumed, timeout=scaled(60)),
          "recovery not logged: %r" % d.stderr()[log:])
    again = n.pings()
    check(wait_for(lambda: n.pings() >= again + 2, timeout=scaled(30)),
          "no pings after io1 responded again")
    n.close()


def have(tool):
    return shutil.which(tool) is not None


def socket_activate(listen, names, env):
    """The argv prefix that runs a program as systemd would on socket
    activation: LISTEN_FDS for @listen (named @names), environment @env."""
    argv = ["systemd-socket-activate"]
    for p in listen:
        argv += ["-l", p]
    argv += ["--fdname=" + ":".join(names)]
    for k, v in env.items():
        argv += ["-E", "%s=%s" % (k, v)]
    return argv


@case("socket-activation")
def t_activation(ctx):
    if not have("systemd-socket-activate"):
        raise Skip("systemd-socket-activate not installed")
    ro = ctx.path("ro.sock")
    n = Notify(ctx.path("notify"))
    d = ctx.daemon(["--object", "iothread,id=io0"], start=False,
                   socket_arg=False, launcher=socket_activate(
                       [ctx.sock, ro], ["qmp", "ro"],
                       {"NOTIFY_SOCKET": n.path}))
    d.start()
    wait_for(lambda: os.path.exists(ctx.sock) and os.path.exists(ro))
    c = d.client()          # the first connection starts the daemon
    n.wait("READY", "1")
    check(iothread_ids(c) == ["io0"], "iothreads")
    st = c.cmd_ok("query-status")
    check(st.get("socket") == ctx.sock, "socket in query-status: %r"
          % st.get("socket"))
    # The read-only socket: queries yes, changes no.
    r = QMPClient(ro)
    r.negotiate()
    check(len(r.cmd_ok("query-iothreads")) == 1, "query on ro socket")
    r.cmd_ok("qom-get", {"path": "io0", "property": "poll-max-ns"})
    for cmd, args in [("object-add", {"qom-type": "iothread", "id": "x"}),
                      ("iothread-set", {"id": "io0", "poll-max-ns": 1}),
                      ("qom-set", {"path": "io0", "property": "poll-max-ns",
                                   "value": 1}),
                      ("object-del", {"id": "io0"}), ("reload", None),
                      ("quit", None),
                      ("blockdev-add", {"driver": "file", "node-name": "n",
                                        "filename": ctx.path("n.img")}),
                      ("nbd-server-start", {"addr": {"type": "unix", "data": {
                          "path": ctx.path("nbd.sock")}}}),
                      ("block-export-add", {"type": "nbd", "id": "e",
                                            "node-name": "n"}),
                      ("x-debug-iothread-stall", {"id": "io0", "ms": 1})]:
        expect_error(r.cmd(cmd, args), "GenericError", what=cmd + " on ro")
    r.close()
    check(iothread_ids(c) == ["io0"], "the ro socket changed something")
    c.cmd_ok("quit")
    d.wait_exit(0)
    # Inherited sockets belong to the service manager: never unlinked.
    check(os.path.exists(ctx.sock) and os.path.exists(ro),
          "an inherited socket was removed")
    n.close()


@case("socket-mode-and-group")
def t_mode_group(ctx):
    gid = nogroup_gid()
    sock = os.path.join(ctx.path("sub"), "qmp.sock")
    d = ctx.daemon(["--socket-mode", "0660", "--socket-group", "nogroup"],
                   sock=sock)
    st = os.stat(sock)
    check(oct(st.st_mode & 0o777) == "0o660", "socket mode %o"
          % (st.st_mode & 0o777))
    check(st.st_gid == gid, "socket group %d" % st.st_gid)
    dst = os.stat(ctx.path("sub"))
    check(oct(dst.st_mode & 0o777) == "0o750" and dst.st_gid == gid,
          "directory %o gid %d" % (dst.st_mode & 0o777, dst.st_gid))
    d.client().cmd_ok("query-version")


@case("no-command-touches-arbitrary-paths")
def t_no_paths(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0"])
    c = d.client()
    evil = ctx.path("evil")
    for e in c.cmd_ok("query-commands"):
        name = e["name"]
        if name in ("quit", "qmp_capabilities", "x-debug-iothread-stall"):
            continue
        for key in ("path", "file", "filename", "id", "socket", "pidfile",
                    "state-file", "config"):
            c.cmd(name, {key: evil})
        c.cmd(name, {"qom-type": "iothread", "id": "x", "path": evil})
    check(not os.path.exists(evil), "a command created %s" % evil)
    check(sorted(os.listdir(ctx.dir)) == sorted(
        n for n in os.listdir(ctx.dir) if not n.startswith("evil")),
        "files appeared")


@case("ro-socket-option")
def t_ro_socket(ctx):
    ro = ctx.path("ro.sock")
    d = ctx.daemon(["--ro-socket", ro, "--object", "iothread,id=io0"])
    r = QMPClient(ro)
    r.negotiate()
    check(len(r.cmd_ok("query-iothreads")) == 1, "query on ro socket")
    expect_error(r.cmd("object-del", {"id": "io0"}), "GenericError",
                 what="object-del on ro socket")
    r.close()
    d.signal(signal.SIGTERM)
    d.wait_exit(0)
    check(not os.path.exists(ro), "created ro socket left behind")


def connect_as(path, uid):
    """Connect and read the greeting as @uid (we run as root)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgid(uid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(5)
            s.connect(path)
            data = s.recv(100)
            os.write(w, b"G" if data.startswith(b'{"QMP"') else b"C")
        except Exception:
            os.write(w, b"E")
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    res = os.read(r, 1)
    os.close(r)
    return res


@case("allow-uid")
def t_allow_uid(ctx):
    if os.geteuid() != 0:
        raise Skip("needs root to connect as other users")
    os.chmod(ctx.dir, 0o755)
    d = ctx.daemon(["--allow-uid", "4242", "--socket-mode", "0666"])
    check(connect_as(d.sock, 4242) == b"G", "uid 4242 refused")
    check(connect_as(d.sock, 4343) in (b"C", b"E"), "uid 4343 let in")
    check(re.search(r"uid 4343", d.stderr()), "refusal not logged")
    d.client().cmd_ok("query-version")          # our own uid: always


def unit_dir(ctx):
    """The units as make install writes them, pointing at this build."""
    out = ctx.path("units")
    os.makedirs(out)
    build = os.path.dirname(os.path.abspath(daemon_binary()))
    src = os.path.join(REPO_ROOT, "systemd")
    with open(os.path.join(src, "iothreadd.service.in")) as f:
        text = f.read().replace("@BINDIR@", build).replace(
            "@SBINDIR@", build).replace(
            "@SYSCONFDIR@", os.path.join(REPO_ROOT, "etc"))
    with open(os.path.join(out, "iothreadd.service"), "w") as f:
        f.write(text)
    shutil.copy(os.path.join(src, "iothreadd.socket"), out)
    return out


@case("units-verify")
def t_units_verify(ctx):
    if not have("systemd-analyze"):
        raise Skip("systemd-analyze not installed")
    out = unit_dir(ctx)
    check(os.path.exists(os.path.join(
        os.path.dirname(os.path.abspath(daemon_binary())), "iothreadctl")),
        "iothreadctl not built (ExecReload needs it)")
    # verify exits 0 on unknown keys: its stderr is the verdict.  Man
    # pages are linted by tests/man-lint.sh, not looked up here.
    p = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        os.path.join(out, "iothreadd.service"),
                        os.path.join(out, "iothreadd.socket")],
                       capture_output=True, text=True, timeout=scaled(60))
    check(p.returncode == 0 and not p.stderr.strip(),
          "systemd-analyze verify: %d %r" % (p.returncode, p.stderr[-500:]))


@case("units-security")
def t_units_security(ctx):
    if not have("systemd-analyze"):
        raise Skip("systemd-analyze not installed")
    out = unit_dir(ctx)
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                        os.path.join(out, "iothreadd.service")],
                       capture_output=True, text=True, timeout=scaled(60))
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
    check(m, "no exposure level: %r" % (p.stdout[-300:] + p.stderr[-300:]))
    check(float(m.group(1)) <= 1.0, "exposure %s > 1.0" % m.group(1))


if __name__ == "__main__":
    sys.exit(main())
