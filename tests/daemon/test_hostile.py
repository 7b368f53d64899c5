#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hostile clients, faults and restarts (issue 7).

Whatever arrives on the socket, the daemon keeps serving: an observer
client runs query-version all along and must get answers while each
hostile state holds (counted answers: this proves liveness, not speed),
memory stays bounded, and afterwards threads and fds are back where they
were.
Output as the other suites.
"""

import json
import os
import random
import re
import resource
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import (  # noqa: E402
    LOG_ERR, TestFailure, check, expect_error, fd_count,
    iothread_ids, iothreads, rss_kib, scaled, user_tasks, wait_for)
from casekit import Skip, case, main  # noqa: E402


def sanitized(pid):
    """ASan's quarantine keeps freed memory resident (256 MiB) and TSan
    maps shadow memory: RSS says nothing about leaks there (LeakSanitizer
    does), so the RSS bounds are checked on the plain build only."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
    except OSError:
        return False
    return "libasan" in maps or "libtsan" in maps


def rss_bound(d, kib):
    return 1 << 40 if sanitized(d.pid) else kib


def check_rss(d, rss, slack_kib, what):
    """@d's RSS is below @rss + @slack_kib KiB (on the plain build, see
    rss_bound()), else the case fails with @what % the RSS now."""
    now = rss_kib(d.pid)
    check(now < rss + rss_bound(d, slack_kib), what % now)


class Observer:
    """Another client, asking all the time.  progress() proves that it is
    answered while a hostile client is in some state: counted answers, not
    a time bound (the wait is a hang guard)."""

    def __init__(self, d):
        self.c = d.client()
        self.stop = False
        self.errors = []
        self.count = 0
        self.t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop:
            try:
                self.c.cmd_ok("query-version")
            except Exception as e:          # noqa: BLE001 - reported below
                self.errors.append(repr(e))
                return
            self.count += 1
            time.sleep(0.005)

    def progress(self, what, answers=2):
        """@answers more answers arrive while @what holds."""
        start = self.count
        ok = wait_for(lambda: self.count >= start + answers or self.errors,
                      timeout=scaled(30))
        check(not self.errors, "observer failed while %s: %s"
              % (what, self.errors[:1]))
        check(ok, "observer got %d answers in %.0fs while %s"
              % (self.count - start, scaled(30), what))

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.t.join()
        self.c.close()
        if exc[0] is None:
            check(not self.errors, "observer failed: %s" % self.errors[:1])
            check(self.count > 0, "observer never got an answer")


def baseline(d):
    """Threads, fds and RSS with one quiet client (the probe) connected,
    once the connections of the start-up check are gone."""
    probe = d.client()
    wait_for(lambda: probe.cmd_ok("query-status")["clients"] == 1,
             timeout=scaled(10))
    return (len(user_tasks(d.pid)), fd_count(d.pid), rss_kib(d.pid), probe)


def back_to(d, base, rss_slack_kib=16 << 10):
    threads, fds, rss, probe = base
    check(probe.cmd_ok("query-version"), "the probe client was dropped")
    ok = wait_for(lambda: len(user_tasks(d.pid)) == threads and
                  fd_count(d.pid) == fds, timeout=scaled(10))
    check(ok, "threads %d->%d, fds %d->%d" % (
        threads, len(user_tasks(d.pid)), fds, fd_count(d.pid)))
    check_rss(d, rss, rss_slack_kib, "RSS %d KiB -> %%d KiB" % rss)


@contextmanager
def observed(d):
    """The body runs with an Observer (yielded; its .base is the
    baseline()) answered all along; after it, threads, fds and RSS must be
    back to that baseline."""
    base = baseline(d)
    with Observer(d) as obs:
        obs.base = base
        yield obs
    back_to(d, base)


def raw(d):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(scaled(10))
    deadline = time.monotonic() + scaled(10)
    while True:
        try:
            s.connect(d.sock)
            return s
        except BlockingIOError:
            # The listen backlog is full: retry, as any client would.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def error_or_close(s, what):
    """The daemon answers a bad message with one error, or hangs up."""
    buf = b""
    try:
        while b"\n" not in buf.split(b"\n", 1)[-1] or b"error" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return
            buf += chunk
            if b'"error"' in buf:
                return
    except (ConnectionResetError, BrokenPipeError):
        return
    except socket.timeout:
        raise TestFailure("%s: neither an error nor a close" % what)


@case("connect-disconnect-storm")
def t_storm(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0"])
    with observed(d) as obs:
        for i in range(300):
            s = socket.socket(socket.AF_UNIX)
            s.connect(d.sock)
            if i % 3 == 0:
                s.recv(10)          # part of the greeting
            if i % 3 == 1:
                s.sendall(b'{"execute": "qmp_capa')
            if i % 50 == 49:
                obs.progress("connection %d of the storm is open" % i)
            s.close()


@case("more-clients-than-the-limit")
def t_limit(ctx):
    cfg = ctx.write("c.json", '{"max-clients": 8}\n')
    d = ctx.daemon(["--config", cfg])
    base = baseline(d)
    obs = Observer(d)           # counts as one of the 8
    with obs:
        socks, served = [], 0
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(scaled(5))
            s.connect(d.sock)
            socks.append(s)
        for s in socks:
            try:
                served += s.recv(100).startswith(b'{"QMP"')
            except (ConnectionResetError, socket.timeout):
                pass
        obs.progress("12 clients over the limit are connected")
        # 8 allowed: the probe and the observer hold two.
        check(served == 6, "%d clients served beyond the limit" % served)
        for s in socks:
            s.close()
    obs.c.close()
    back_to(d, base)
    d.client().cmd_ok("query-version")


@case("slowloris")
def t_slowloris(ctx):
    d = ctx.daemon()
    s = raw(d)
    s.recv(4096)
    msg = b'{"execute": "qmp_capabilities"}{"execute": "query-status"}'
    with Observer(d) as obs:
        for i, b in enumerate(msg):
            s.sendall(bytes([b]))
            if i % 10 == 0:
                obs.progress("a client is %d bytes into a message" % (i + 1),
                             answers=1)
    buf = b""
    while buf.count(b"\r\n") < 2:
        chunk = s.recv(4096)
        check(chunk, "slow client: connection closed after %r" % buf)
        buf += chunk
    check(b'"pid"' in buf, "slow client not answered: %r" % buf)


@case("never-reads")
def t_never_reads(ctx):
    d = ctx.daemon()
    base = baseline(d)
    s = raw(d)
    s.setblocking(False)
    req = b'{"execute":"qmp_capabilities"}' + \
        b'{"execute":"query-commands"}' * 200
    sent = 0
    with Observer(d) as obs:
        stalled = 0
        while sent < (32 << 20) and stalled < 20:
            try:
                sent += s.send(req)
                stalled = 0
            except BlockingIOError:
                # Both socket buffers are full: the daemon stopped reading
                # this client.  The others must still be served.
                stalled += 1
                obs.progress("a client that never reads has %d bytes "
                             "queued" % sent, answers=1)
            except (BrokenPipeError, ConnectionResetError):
                break
        check_rss(d, base[2], 48 << 10,
                  "RSS grew to %d KiB for a client that never reads")
    s.close()
    back_to(d, base)


@case("huge-and-deep-messages")
def t_huge(ctx):
    d = ctx.daemon()
    with observed(d) as obs:
        s = raw(d)
        s.recv(4096)
        try:
            s.sendall(b'{"execute":"query-version","id":"' +
                      b"x" * (64 << 20) + b'"}')
        except (BrokenPipeError, ConnectionResetError):
            pass
        error_or_close(s, "64 MiB message")
        obs.progress("a 64 MiB message was refused")
        check_rss(d, obs.base[2], 16 << 10,
                  "a 64 MiB message grew RSS to %d KiB")
        s.close()
        c = d.client()
        c.send_raw(b'{"execute":"query-version","id":' + b"[" * 20000)
        expect_error(c.recv_reply(), "GenericError", what="20000-deep")
        obs.progress("a message is 20000 levels deep")
        # The rest of that message is skipped up to its end; then the
        # stream goes on.
        c.send_raw(b"]" * 20000 + b"}")
        c.cmd_ok("query-version")
        c.close()


@case("bad-bytes")
def t_bad_bytes(ctx):
    d = ctx.daemon()
    with observed(d) as obs:
        c = d.client()
        for bad in (b'{"execute": "query-version", "id": "\xc3\x28"}',
                    b'{"execute": "query-version"}\x00',
                    b'\x00\x00\x00', b'{"execute": "query-version", '
                    b'"id": "\\u0000"}'):
            c.send_raw(bad)
            c.send({"execute": "query-version", "id": "marker"})
            # At least one error, then the stream goes on (a NUL resets
            # the parser, and what follows is judged on its own).
            replies = []
            while not (replies and replies[-1].get("id") == "marker"):
                replies.append(c.recv_reply())
            check(any("error" in r for r in replies[:-1]),
                  "bad bytes %r accepted: %r" % (bad[:24], replies))
            check("return" in replies[-1], "no recovery after %r"
                  % bad[:24])
        c.close()
        rnd = random.Random(7)
        for _ in range(20):
            s = raw(d)
            s.settimeout(scaled(1))
            try:
                # Garbage makes errors; a client that does not read them
                # is paused, so the send may stall: that is fine.
                s.sendall(bytes(rnd.getrandbits(8) for _ in range(50000)))
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
            obs.progress("a client sent %d bytes of garbage" % 50000,
                         answers=1)
            s.close()
        for i in range(100):       # hang up in the middle of a message
            s = raw(d)
            s.sendall(b'{"execute": "object-add", "arguments": {"qom-t'[:10 + i % 30])
            s.close()
        obs.progress("100 clients hung up mid-message")
    check(json.dumps(d.client().cmd_ok("query-iothreads")) == "[]",
          "hostile input created something")


@case("qmp-churn")
def t_qmp_churn(ctx):
    quick = os.environ.get("IOTHREAD_TEST_QUICK", "0") not in ("", "0")
    n = 200 if quick else 2000
    d = ctx.daemon(["--object", "iothread,id=keep"])
    base = baseline(d)
    c = d.client()
    with Observer(d) as obs:
        for i in range(n):
            c.cmd_ok("object-add", {"qom-type": "iothread", "id": "c%d" % i,
                                    "poll-max-ns": i % 3 * 1000})
            if i % 10 == 0:
                c.cmd_ok("iothread-set", {"id": "c%d" % i,
                                          "thread-pool-min": 1})
            c.cmd_ok("object-del", {"id": "c%d" % i})
            if i % 100 == 99:
                obs.progress("%d iothreads were made and deleted" % (i + 1),
                             answers=1)
    c.close()
    back_to(d, base)


@case("restart-after-sigkill")
def t_sigkill(ctx):
    pid = ctx.path("p.pid")
    d = ctx.daemon(["--pidfile", pid, "--object", "iothread,id=io0"])
    d.signal(signal.SIGKILL)
    d.wait_exit(-signal.SIGKILL)
    check(os.path.exists(d.sock) and os.path.exists(pid),
          "SIGKILL should leave socket and pidfile behind")
    d2 = ctx.daemon(["--pidfile", pid, "--object", "iothread,id=io0"],
                    name="second")
    check(open(pid).read().strip() == str(d2.pid), "pidfile not rewritten")
    check(iothread_ids(d2.client()) == ["io0"], "restarted daemon")


@case("unwritable-socket-path")
def t_unwritable(ctx):
    ctx.unprivileged()              # root writes anywhere
    ro = ctx.mkdir("ro", 0o555)
    d = ctx.daemon(sock=os.path.join(ro, "sub", "qmp.sock"), start=False)
    d.start()
    d.wait_exit(1)
    check(re.search(LOG_ERR + r".*%s/sub.*Permission denied"
                    % re.escape(ro), d.stderr(), re.M),
          "no clear start-up error: %r" % d.stderr())


def nproc_daemon(ctx, args, limit=6):
    """A daemon as an unprivileged uid whose RLIMIT_NPROC (which counts
    that uid's threads) lets the main thread and a few iothreads start,
    not a dozen."""
    if os.geteuid() != 0:
        raise Skip("needs root to run the daemon as another uid with its "
                   "own RLIMIT_NPROC")
    ctx.unprivileged()
    return ctx.daemon(args, rlimits=[(resource.RLIMIT_NPROC, limit)])


@case("thread-creation-failure")
def t_nproc(ctx):
    d = nproc_daemon(ctx, [])
    c = d.client()
    made, err = [], None
    for i in range(12):
        r = c.cmd("object-add", {"qom-type": "iothread", "id": "t%d" % i})
        if "error" in r:
            err = r["error"]["desc"]
            break
        made.append("t%d" % i)
    check(err is not None, "RLIMIT_NPROC never reached")
    check("t%d" % len(made) in err and "Resource" in err,
          "unclear error: %r" % err)
    ids = iothread_ids(c)
    check(ids == made, "half-made object: %s vs %s" % (ids, made))
    c.cmd_ok("object-del", {"id": made[0]})
    c.cmd_ok("object-add", {"qom-type": "iothread", "id": "again"})


@case("reload-creation-failure-rolls-back")
def t_reload_nproc(ctx):
    cfg = ctx.write("c.json", '{"iothreads": [{"id": "a"}]}\n')
    d = nproc_daemon(ctx, ["--config", cfg])
    c = d.client()
    threads = user_tasks(d.pid)
    status = c.cmd_ok("query-status")
    # Twelve new iothreads: the first few start, then one fails; the
    # reload must stop those it started and change nothing else.
    ctx.write("c.json", json.dumps({"iothreads": [
        {"id": "a", "poll-max-ns": 7}] + [{"id": "n%d" % i}
                                            for i in range(12)]}) + "\n")
    desc = expect_error(c.cmd("reload"), "GenericError",
                        what="reload beyond RLIMIT_NPROC")
    check("Resource" in desc and re.search(r"'n\d+'", desc),
          "the error names neither the iothread nor the cause: %r" % desc)
    check(iothread_ids(c) == ["a"], "after a failed reload: %s"
          % iothread_ids(c))
    check(iothreads(c)["a"]["poll-max-ns"] != 7,
          "a failed reload retuned 'a'")
    after = c.cmd_ok("query-status")
    check(after["max-iothreads"] == status["max-iothreads"],
          "a failed reload changed max-iothreads: %d -> %d"
          % (status["max-iothreads"], after["max-iothreads"]))
    created = [e for e in c.events if e["event"] == "IOTHREAD_CREATED"]
    deleted = [e for e in c.events if e["event"] == "IOTHREAD_DELETED"]
    check(len(created) == len(deleted) and len(created) >= 1,
          "rolled back %d of %d iothreads started (or none started: the "
          "case proves nothing)" % (len(deleted), len(created)))
    check(wait_for(lambda: user_tasks(d.pid) == threads),
          "threads %s -> %s" % (threads, user_tasks(d.pid)))
    # A reload that fits still works afterwards.
    ctx.write("c.json", '{"iothreads": [{"id": "a"}, {"id": "b"}]}\n')
    c.cmd_ok("reload")
    check(iothread_ids(c) == ["a", "b"], "after a good reload: %s"
          % iothread_ids(c))


def open_files_limit(pid):
    """The soft and hard RLIMIT_NOFILE of @pid, from /proc/PID/limits."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    return None


@case("open-files-limit-raised-at-start")
def t_nofile(ctx):
    """An iothread holds up to three fds (its loop's, its eventfd, its
    /proc stat file), so max-iothreads' default needs more than the
    soft 1024 that select() users keep: the daemon raises the soft limit
    to the hard one."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        raise Skip("the hard open-files limit is %d: nothing to raise to"
                   % hard)
    d = ctx.daemon([], rlimits=[(resource.RLIMIT_NOFILE, 1024)])
    want = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    check(open_files_limit(d.pid) == (want, want),
          "limits %s, want soft = hard = %s" % (open_files_limit(d.pid),
                                                want))


if __name__ == "__main__":
    sys.exit(main())
