#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""--state-file: runtime changes survive a restart, a kill at any moment
leaves a file that parses and holds every acknowledged change (issue 7),
a corrupt file stops the start, a failed save is logged and loses nothing
(issue 16).  Output as the other suites."""

import errno
import json
import os
import re
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import (  # noqa: E402
    LOG_ERR, TestFailure, brief, check, iothreads, wait_for)
from casekit import Skip, case, main  # noqa: E402


def file_state(path):
    """The state file as {id: poll-max-ns}; None if there is no file."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        raise TestFailure("corrupt state file %r" % text[-200:])
    return {e["id"]: e["poll-max-ns"] for e in doc["iothreads"]}


def live_state(c):
    return {k: e["poll-max-ns"] for k, e in iothreads(c).items()}


@case("state-survives-restart")
def t_restart(ctx):
    state = ctx.path("state.json")
    args = ["--state-file", state, "--object", "iothread,id=io0"]
    d = ctx.daemon(args)
    c = d.client()
    c.cmd_ok("object-add", {"qom-type": "iothread", "id": "io1",
                            "poll-max-ns": 1000, "fdmon": "poll"})
    c.cmd_ok("iothread-set", {"id": "io0", "thread-pool-min": 2,
                              "thread-pool-max": 5})
    c.cmd_ok("object-add", {"qom-type": "iothread", "id": "gone"})
    c.cmd_ok("object-del", {"id": "gone"})
    check(oct(os.stat(state).st_mode & 0o777) == "0o600", "state mode")
    d.signal(signal.SIGTERM)
    d.wait_exit(0)
    d2 = ctx.daemon(args, name="second")
    got = iothreads(d2.client())
    check(set(got) == {"io0", "io1"}, "restored %s" % sorted(got))
    check(got["io1"]["poll-max-ns"] == 1000 and got["io1"]["fdmon"] == "poll",
          "io1 %r" % got["io1"])
    check((got["io0"]["thread-pool-min"], got["io0"]["thread-pool-max"]) ==
          (2, 5), "io0 %r" % got["io0"])


class Churn:
    """Changes the iothreads as fast as the daemon answers, keeping a model
    of what the daemon acknowledged (@acked) and of what the change in
    flight would make (@next).  Stops at the first error: once the daemon
    is killed that is a closed connection, anything else is a failure."""

    def __init__(self, c, start, tag):
        self.c = c
        self.acked = dict(start)
        self.next = dict(start)
        self.count = 0
        self.error = None
        self.tag = tag
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _do(self, cmd, args, after):
        with self.lock:
            self.next = after
        self.c.cmd_ok(cmd, args)
        with self.lock:
            self.acked = after
            self.count += 1

    def _run(self):
        i = 0
        try:
            while True:
                new = "%s_%d" % (self.tag, i)
                s = dict(self.acked)
                s[new] = 32768
                self._do("object-add", {"qom-type": "iothread", "id": new},
                         s)
                s = dict(s)
                s[new] = i
                self._do("iothread-set", {"id": new, "poll-max-ns": i}, s)
                if i > 0:
                    old = "%s_%d" % (self.tag, i - 1)
                    s = dict(s)
                    del s[old]
                    self._do("object-del", {"id": old}, s)
                i += 1
        except (EOFError, OSError):
            pass                        # the kill
        except BaseException as e:      # noqa: BLE001 - reported
            self.error = e

    def snapshot(self):
        with self.lock:
            return dict(self.acked), dict(self.next)


@case("kill-during-writes-keeps-acknowledged-changes")
def t_kill(ctx):
    state = ctx.path("state.json")
    args = ["--state-file", state]
    expect = {}
    for round in range(8):
        d = ctx.daemon(args, name="d%d" % round)
        c = d.client()
        check(live_state(c) == expect, "round %d restored %s, the file "
              "said %s" % (round, live_state(c), expect))
        churn = Churn(c, expect, "r%d" % round)
        # Kill after a different number of changes each round.
        check(wait_for(lambda: churn.count >= 3 + 7 * round or churn.error
                       or not churn.t.is_alive()),
              "round %d: no progress" % round)
        d.signal(signal.SIGKILL)
        d.wait_exit(-signal.SIGKILL)
        churn.t.join()
        if churn.error is not None:
            raise TestFailure("round %d: %s: %s" % (
                round, type(churn.error).__name__, churn.error))
        acked, pending = churn.snapshot()
        got = file_state(state)
        check(got is not None, "round %d: no state file after %d "
              "acknowledged changes" % (round, churn.count))
        check(got in (acked, pending), "round %d: the file says %s; "
              "acknowledged %s (or %s with the change in flight)"
              % (round, got, acked, pending))
        expect = got
        # A temporary file may be left by the kill; it is never read.
        for n in os.listdir(ctx.dir):
            if n.startswith("state.json."):
                os.unlink(ctx.path(n))
    d = ctx.daemon(args, name="last")
    check(live_state(d.client()) == expect, "the last restart lost changes")


@case("corrupt-state-file-stops-the-start")
def t_corrupt(ctx):
    state = ctx.write("state.json", '{"iothreads": [{"id": "io0",, }]}\n')
    d = ctx.daemon(["--state-file", state], start=False)
    d.start()
    d.wait_exit(1, "a corrupt state file")
    check(re.search(LOG_ERR + r"%s:1:\d+: " % re.escape(state), d.stderr(), re.M),
          "the error does not name the file and position: %r" % d.stderr())
    with open(state) as f:
        check(f.read() == '{"iothreads": [{"id": "io0",, }]}\n',
              "the corrupt file was overwritten: the user lost it")
    check(not os.path.exists(d.sock), "socket left behind")
    # A state file with valid JSON but a bad value stops it too.
    ctx.write("state.json", '{"iothreads": [{"id": "io0", '
              '"poll-max-ns": -1}]}\n')
    d2 = ctx.daemon(["--state-file", state], start=False, name="second")
    d2.start()
    d2.wait_exit(1, "an invalid state file")
    check("poll-max-ns" in d2.stderr(), "unclear error: %r" % d2.stderr())


def check_failed_save(ctx, d, c, state, reason):
    """A change whose save fails: logged with the cause, the change stays
    in effect, the file keeps the last good state, no temporary file is
    left behind."""
    before = file_state(state)
    log = len(d.stderr())
    c.cmd_ok("object-add", {"qom-type": "iothread", "id": "unsaved"})
    check(wait_for(lambda: "cannot" in d.stderr()[log:]),
          "the failed save was not logged")
    line = d.stderr()[log:]
    check(re.search(LOG_ERR + r"cannot write %s.*: %s$" % (
        re.escape(state), reason), line, re.M),
        "the log does not say which file and why: %r" % line)
    check(set(iothreads(c)) == set(before) | {"unsaved"},
          "the daemon's state after a failed save: %s" % set(iothreads(c)))
    check(file_state(state) == before, "the file changed: %s -> %s"
          % (before, file_state(state)))
    left = [n for n in os.listdir(os.path.dirname(state))
            if n.startswith("state.json.")]
    check(not left, "temporary files left: %s" % left)


@case("failed-save-read-only-directory")
def t_save_read_only(ctx):
    ctx.unprivileged()               # root writes anywhere
    sdir = ctx.mkdir("state")
    state = os.path.join(sdir, "state.json")
    d = ctx.daemon(["--state-file", state, "--object", "iothread,id=io0"])
    c = d.client()
    c.cmd_ok("iothread-set", {"id": "io0", "poll-max-ns": 5})
    check(file_state(state) == {"io0": 5}, "first save: %s"
          % file_state(state))
    os.chmod(sdir, 0o500)
    check_failed_save(ctx, d, c, state, "Permission denied")
    # Writable again: the next change saves everything.
    os.chmod(sdir, 0o700)
    c.cmd_ok("iothread-set", {"id": "io0", "poll-max-ns": 6})
    check(file_state(state) == {"io0": 6, "unsaved": 32768},
          "after the directory is writable again: %s" % file_state(state))


@case("failed-save-disk-full")
def t_save_disk_full(ctx):
    if os.geteuid() != 0:
        raise Skip("needs root to mount a small tmpfs")
    sdir = ctx.path("state")
    os.mkdir(sdir)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700",
                        "tmpfs", sdir], capture_output=True, text=True)
    if p.returncode != 0:
        raise Skip("cannot mount a tmpfs: %s" % p.stderr.strip())
    try:
        state = os.path.join(sdir, "state.json")
        d = ctx.daemon(["--state-file", state,
                        "--object", "iothread,id=io0"])
        c = d.client()
        c.cmd_ok("iothread-set", {"id": "io0", "poll-max-ns": 5})
        check(file_state(state) == {"io0": 5}, "first save")
        filler = os.path.join(sdir, "filler")
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"x" * 512)
            except OSError as e:
                check(e.errno == errno.ENOSPC, "filling the tmpfs: %s" % e)
        check_failed_save(ctx, d, c, state, "No space left on device")
        os.unlink(filler)
        c.cmd_ok("iothread-set", {"id": "io0", "poll-max-ns": 6})
        check(file_state(state) == {"io0": 6, "unsaved": 32768},
              "after space is free again: %s" % brief(file_state(state)))
        d.signal(signal.SIGTERM)
        d.wait_exit(0)
    finally:
        for dd in ctx.daemons:
            dd.stop()
        subprocess.run(["umount", "-l", sdir], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
