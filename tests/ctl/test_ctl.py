#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""iothreadctl against a real iothreadd (issue 4).

Every verb, --json output parsed, the exit codes, pin visible in /proc,
and top driven in a pseudo-terminal.  Output as the other suites.
"""

import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))

from qmp_harness import check, scaled, thread_cpus_allowed  # noqa: E402
from casekit import (  # noqa: E402
    ExportSetup, case, complete, ctl, ctl_binary, import_nbd, main)


def run(d, *args, sock=None, input=None, env=None):
    """iothreadctl -s SOCK ARGS... (SOCK: @d's unless @sock): (status,
    stdout, stderr)."""
    return ctl(sock or d.sock, *args, input=input, env=env)


def ok(d, *args, **kw):
    st, out, err = run(d, *args, **kw)
    check(st == 0, "iothreadctl %s: status %d, stderr %r"
          % (" ".join(args), st, err))
    return out


def fails(d, code, *args, **kw):
    st, out, err = run(d, *args, **kw)
    check(st == code, "iothreadctl %s: status %d, expected %d (stderr %r)"
          % (" ".join(args), st, code, err))
    check(err.startswith("error: ") and err.count("\n") == 1,
          "iothreadctl %s: stderr is not one 'error:' line: %r"
          % (" ".join(args), err))
    return err


def listed(d):
    """iothreadctl --json list, as a dict id -> entry."""
    return {e["id"]: e for e in json.loads(ok(d, "--json", "list"))}


class Lines:
    """The lines a child writes to its stdout pipe, read with a deadline
    (readline() on the pipe would wait for ever if the line never comes)."""

    def __init__(self, proc):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def next(self, what, timeout=None):
        deadline = time.monotonic() + (scaled(10) if timeout is None
                                       else timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            r = select.select([self.fd], [], [], max(0, left))[0]
            if not r:
                check(timeout is not None, "no line from %s in %.0fs"
                      % (what, scaled(10)))
                return None
            chunk = os.read(self.fd, 65536)
            check(chunk, "%s closed its output after %r" % (what, self.buf))
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


@case("list-info-get")
def t_list(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0,poll-max-ns=1000"])
    out = ok(d, "list")
    lines = out.splitlines()
    check(lines[0].split()[:3] == ["ID", "TID", "CPUS"], "header %r"
          % lines[0])
    check(lines[1].split()[0] == "io0" and "1000" in lines[1].split(),
          "row %r" % lines[1])
    check(ok(d, "--no-legend", "list").splitlines()[0].startswith("io0"),
          "--no-legend keeps the header")
    short = ok(d, "--json=short", "list")
    check(short.count("\n") == 1, "--json=short is not one line")
    e = json.loads(short)[0]
    check(e["id"] == "io0" and e["poll-max-ns"] == 1000, "json %r" % e)
    info = json.loads(ok(d, "--json", "info", "io0"))
    check(info["thread-id"] == e["thread-id"], "info %r" % info)
    check("poll-max-ns: 1000" in ok(d, "info", "io0"), "info text")
    check(ok(d, "get", "io0", "poll-max-ns").strip() == "1000", "get")
    fails(d, 1, "info", "nope")
    fails(d, 1, "get", "io0", "no-such-prop")


@case("add-set-del")
def t_mutations(ctx):
    d = ctx.daemon()
    out = ok(d, "add", "io1", "--poll-max-ns", "2000", "--thread-pool-min",
             "1", "--thread-pool-max", "2", "--fdmon", "epoll")
    check(out == "", "add printed %r" % out)
    e = listed(d)["io1"]
    check((e["poll-max-ns"], e["thread-pool-min"], e["thread-pool-max"],
           e["fdmon"]) == (2000, 1, 2, "epoll"), "after add: %r" % e)
    # one atomic request: (1,2) -> (3,4)
    check(ok(d, "set", "io1", "--thread-pool-min", "3", "--thread-pool-max",
             "4", "--poll-grow", "3") == "", "set printed")
    e = listed(d)["io1"]
    check((e["thread-pool-min"], e["thread-pool-max"], e["poll-grow"]) ==
          (3, 4, 3), "after set: %r" % e)
    err = fails(d, 2, "set", "io1")
    check("nothing to set" in err, err)
    err = fails(d, 1, "add", "io1")
    check("'io1'" in err, "error does not name the object: %r" % err)
    check(ok(d, "del", "io1") == "", "del printed")
    check("io1" not in listed(d), "io1 still there")
    err = fails(d, 1, "del", "io1")
    check("'io1'" in err, err)


@case("usage-and-validation-errors")
def t_errors(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0"])
    fails(d, 2, "frobnicate")
    fails(d, 2, "add", "x", "--poll-max-ns", "-1")
    fails(d, 2, "add", "x", "--poll-max-ns", "12abc")
    fails(d, 2, "add", "x", "--thread-pool-max", "99999999999999999999")
    fails(d, 2, "add", "9x")
    fails(d, 2, "add", "x", "--fdmon", "kqueue")
    fails(d, 2, "pin", "io0", "0-")
    fails(d, 2, "pin", "io0", "4096")
    fails(d, 2, "set", "io0", "--fdmon", "poll")
    fails(d, 2, "list", "--raw")
    fails(d, 2, "--json=ugly", "list")
    check(set(listed(d)) == {"io0"}, "a failed command changed things")
    st, out, err = run(d, "--help")
    check(st == 0 and "Exit status" in out and "pin ID CPULIST" in out,
          "--help")


@case("daemon-down")
def t_down(ctx):
    st, out, err = run(None, "list", sock=ctx.path("nothing.sock"))
    check(st == 69, "status %d for a missing daemon" % st)
    check(err.startswith("error: "), "stderr %r" % err)
    # IOTHREADCTL_SOCKET is honoured
    d = ctx.daemon()
    p = subprocess.run([ctl_binary(), "status"], capture_output=True,
                       text=True, timeout=scaled(30),
                       env=dict(os.environ, IOTHREADCTL_SOCKET=d.sock))
    check(p.returncode == 0 and "pid:" in p.stdout, "IOTHREADCTL_SOCKET: %r"
          % (p.stdout + p.stderr))


@case("protocol-error")
def t_protocol(ctx):
    import socket
    import threading
    path = ctx.path("fake.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    srv.settimeout(scaled(10))

    def serve():
        c, _ = srv.accept()
        c.settimeout(scaled(10))
        c.sendall(b"hello, I am not QMP\r\n")
        try:
            while c.recv(4096):         # until iothreadctl hangs up
                pass
        except OSError:
            pass
        c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    st, out, err = run(None, "list", sock=path)
    check(st == 76, "status %d for a non-QMP peer (stderr %r)" % (st, err))
    t.join()
    srv.close()


@case("pin")
def t_pin(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0"])
    cpus = sorted(os.sched_getaffinity(0))
    tid = listed(d)["io0"]["thread-id"]
    ok(d, "pin", "io0", str(cpus[0]))
    check(thread_cpus_allowed(d.pid, tid) == str(cpus[0]),
          "Cpus_allowed_list %r" % thread_cpus_allowed(d.pid, tid))
    ok(d, "pin", "io0", "r")
    want = listed(d)["io0"]["cpu-affinity"]
    check(thread_cpus_allowed(d.pid, tid) == want,
          "after r: %r vs %r" % (thread_cpus_allowed(d.pid, tid), want))
    if len(cpus) > 1:
        ok(d, "pin", "io0", "%d-%d,^%d" % (cpus[0], cpus[-1], cpus[0]))
        check(str(cpus[0]) not in
              thread_cpus_allowed(d.pid, tid).split(","),
              "^ exclusion ignored")


@case("stats")
def t_stats(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0",
                    "--object", "iothread,id=io1"])
    out = ok(d, "stats")
    check(out.splitlines()[0].startswith("ID") and len(out.splitlines()) == 3,
          "stats table %r" % out)
    raw = ok(d, "stats", "--raw", "io1")
    check(re.search(r"^iothread\.io1\.iterations=\d+$", raw, re.M),
          "raw %r" % raw)
    check("io0" not in raw, "--raw io1 shows io0")
    js = json.loads(ok(d, "--json", "stats"))
    check({e["id"] for e in js} == {"io0", "io1"}, "json stats")
    p = subprocess.Popen([ctl_binary(), "-s", d.sock, "--json", "stats",
                          "--watch=0.2"], stdout=subprocess.PIPE)
    out = Lines(p)
    try:
        lines = [out.next("stats --watch") for _ in range(3)]
    finally:
        p.terminate()
        p.wait(scaled(10))
    samples = [json.loads(x) for x in lines]
    check(all(len(s["iothreads"]) == 2 for s in samples),
          "watch samples %r" % samples)
    fails(d, 1, "stats", "nope")


@case("status-reload-quit")
def t_daemon_verbs(ctx):
    cfg = ctx.write("c.json", '{"iothreads": [{"id": "a"}]}\n')
    d = ctx.daemon(["--config", cfg])
    st = json.loads(ok(d, "--json", "status"))
    check(st["pid"] == d.pid and st["iothreads"] == 1, "status %r" % st)
    ctx.write("c.json", '{"iothreads": [{"id": "a"}, {"id": "b"}]}\n')
    check(ok(d, "reload") == "", "reload printed")
    check(set(listed(d)) == {"a", "b"}, "reload not applied")
    ctx.write("c.json", '{"iothreads": [{"id": "a", "bogus": 1}]}\n')
    err = fails(d, 1, "reload")
    check("bogus" in err, err)
    check(ok(d, "quit") == "", "quit printed")
    d.wait_exit(0)


@case("qmp-and-shell")
def t_qmp(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0"])
    v = json.loads(ok(d, "qmp", "query-version"))
    check(v["package"].startswith("iothreadd"), "query-version %r" % v)
    check(json.loads(ok(d, "qmp", "qom-get", "path=io0",
                        "property=poll-max-ns")) == 32768, "key=value")
    ok(d, "qmp", "iothread-set", '{"id": "io0", "poll-max-ns": 5}')
    check(listed(d)["io0"]["poll-max-ns"] == 5, "JSON arguments")
    fails(d, 1, "qmp", "no-such-command")
    out = ok(d, "shell", input="query-status\n# comment\n"
             "iothread-set id=io0 poll-grow=2\nqom-get path=io0 "
             "property=poll-grow\n")
    check(out.rstrip().endswith("2") and '"pid"' in out, "shell %r" % out)


@case("monitor")
def t_monitor(ctx):
    d = ctx.daemon()
    p = subprocess.Popen([ctl_binary(), "-s", d.sock, "monitor"],
                         stdout=subprocess.PIPE)
    out = Lines(p)
    try:
        # The monitor sees events once it has negotiated, which nothing
        # outside shows: add iothreads until it reports one.
        first = None
        for i in range(100):
            ok(d, "add", "early%d" % i)
            first = out.next("monitor", timeout=0.2)
            if first is not None:
                break
        check(first is not None, "the monitor printed no event")
        ev = json.loads(first)
        check(ev["event"] == "IOTHREAD_CREATED" and
              re.fullmatch(r"early\d+", ev["data"]["id"]), "event %r" % ev)
        # From now on it gets every event, in order.
        ok(d, "add", "io5")
        ok(d, "del", "io5")
        seen = []
        while len(seen) < 2:
            ev = json.loads(out.next("monitor"))
            if ev["data"]["id"] == "io5":
                seen.append(ev["event"])
        check(seen == ["IOTHREAD_CREATED", "IOTHREAD_DELETED"],
              "events %r" % seen)
        ok(d, "quit")
        d.wait_exit(0)
        check(p.wait(scaled(10)) == 0, "monitor exit status when the "
              "daemon goes away")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def top_in_pty(d):
    """iothreadctl top on @d, in a pseudo-terminal: (pid, its fd)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(ctl_binary(), ["iothreadctl", "-s", d.sock, "top"])
    return pid, fd


def read_pty(fd, done, timeout):
    """What top draws on @fd, read until done(what was read) or @timeout
    seconds (scaled) or the terminal's end."""
    out = b""
    deadline = time.monotonic() + scaled(timeout)
    while not done(out) and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


@case("top-in-a-pty")
def t_top(ctx):
    d = ctx.daemon(["--object", "iothread,id=topio"])
    pid, fd = top_in_pty(d)
    out = read_pty(fd, lambda out: b"topio" in out, 10)
    check(b"topio" in out, "no iothread row: %r" % out[-300:])
    check(b"CPU%" in out and b"POLL-HIT%" in out, "no header")
    os.write(fd, b"wq")     # sort by wake-ups (read one key at a time), quit
    deadline = time.monotonic() + scaled(10)
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          "top exit status %r" % status)
    # the terminal is given back: cursor shown, main screen restored
    check(out.rstrip(b"\r\n").endswith(b"\x1b[?25h\x1b[?1049l"),
          "terminal not restored: %r" % out[-40:])


# An export line of top: "  - ID  r N IOPS N MB/s  w N IOPS N MB/s  qd N".
TOP_EXPORT = re.compile(
    rb"^  - (\S+)\s+r\s+(\d+) IOPS\s+([\d.]+) MB/s\s+w\s+(\d+) IOPS"
    rb"\s+([\d.]+) MB/s\s+qd\s+(\d+)\s*$")


def top_frames(out):
    """The complete frames top drew (each begins with home + clear), as
    lists of lines without escapes."""
    frames = out.split(b"\x1b[H\x1b[2J")[1:-1]
    return [[re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", ln)
             for ln in f.split(b"\r\n")] for f in frames]


@case("top-shows-exports-beneath-their-iothread-with-io-rates")
def t_top_exports(ctx):
    nbd = import_nbd()
    s = ExportSetup(ctx, 16 << 20, iothreads=("topio", "idle"),
                    export_opts=",iothread=topio")
    d = s.d
    # A client reading and writing 64 KiB blocks until told to stop.
    stop = threading.Event()
    errors = []

    def client():
        try:
            h = nbd.NBD()
            h.connect_uri(s.uri())
            buf = b"t" * 65536
            while not stop.is_set():
                h.pwrite(buf, 0)
                h.pread(65536, 0)
            h.shutdown()
        except Exception as e:  # reported by the case
            errors.append(e)

    def export_line(out):
        """The last frame's export line under topio with read and write
        rates, or None."""
        found = None
        for lines in top_frames(out):
            ids = [ln.split(b" ")[0] for ln in lines]
            if b"topio" not in ids:
                continue
            m = TOP_EXPORT.match(lines[ids.index(b"topio") + 1])
            if m and all(float(m.group(k)) > 0 for k in (2, 3, 4, 5)):
                found = m
        return found

    io = threading.Thread(target=client)
    io.start()
    pid, fd = top_in_pty(d)
    out = b""
    try:
        out = read_pty(fd, lambda out: export_line(out) is not None, 15)
        found = export_line(out)
    finally:
        stop.set()
        io.join(scaled(10))
        os.write(fd, b"q")
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    check(not errors, "the NBD client failed: %r" % errors)
    last = top_frames(out)[-1] if top_frames(out) else out[-600:]
    check(found is not None, "no frame shows e0 under topio with read and "
          "write rates; last frame: %r" % last)
    check(found.group(1) == b"e0", "export line %r" % found.group(0))
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          "top exit status %r" % status)
    # the idle iothread has no export beneath it
    for lines in top_frames(out):
        ids = [ln.split(b" ")[0] for ln in lines]
        if b"idle" in ids and ids.index(b"idle") + 1 < len(lines):
            check(not TOP_EXPORT.match(lines[ids.index(b"idle") + 1]),
                  "an export under the idle iothread: %r" % lines)


@case("bash-completion")
def t_completion(ctx):
    d = ctx.daemon(["--object", "iothread,id=alpha",
                    "--object", "iothread,id=beta"])
    check({"pin", "info", "stats"} <= complete(["iothreadctl", ""]),
          "verbs")
    check("--poll-max-ns" in complete(["iothreadctl", "set", "x", "--p"]),
          "knobs")
    got = complete(["iothreadctl", "-s", d.sock, "pin", ""])
    check(got == {"alpha", "beta"}, "live ids: %r" % got)


if __name__ == "__main__":
    sys.exit(main())
