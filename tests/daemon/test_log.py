#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The daemon's log format on stderr.

Plain lines ("iothreadd: iothread io0 created") on a terminal, a pipe or a
file; journald's "<6>iothread io0 created" only when stderr is the journal,
which systemd says with JOURNAL_STREAM=DEVICE:INODE of that stream; and
--log-format journal|plain|auto to choose.  Each case starts the daemon with
one iothread, its stderr a pipe or a socket (journald's streams are UNIX
sockets), waits until it serves, stops it with SIGTERM and reads every line
it wrote.
"""

import os
import re
import signal
import socket
import subprocess
import sys

from casekit import case, main
from qmp_harness import (QMPClient, TestFailure, check, daemon_binary,
                         run_binary, scaled, wait_for)

JOURNAL_LINE = re.compile(r"^<[0-7]>\S")
PLAIN_PREFIX = "iothreadd: "
# Variables the daemon reads that must come from the case, not from us.
OWN_ENV = ("JOURNAL_STREAM", "IOTHREADD_SOCKET", "NOTIFY_SOCKET",
           "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID")


def stream_id(fd):
    """DEVICE:INODE of @fd, as systemd writes it into JOURNAL_STREAM."""
    st = os.fstat(fd)
    return "%d:%d" % (st.st_dev, st.st_ino)


def other_stream_id():
    """The id of another pipe: same device as a pipe stderr, not the same
    inode."""
    r, w = os.pipe()
    try:
        return stream_id(w)
    finally:
        os.close(r)
        os.close(w)


def wait_serving(proc, sock):
    def serving():
        if proc.poll() is not None:
            raise TestFailure("daemon exited with status %s before serving"
                              % proc.returncode)
        try:
            QMPClient(sock, timeout=scaled(5)).close()
            return True
        except (OSError, EOFError):
            return False
    check(wait_for(serving), "socket %s not serving" % sock)


def read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks).decode("utf-8", "replace")
        chunks.append(b)


def run_logging(ctx, stderr="pipe", journal_stream=None, args=()):
    """Run the daemon once (see the module's comment); its stderr lines.

    @stderr: "pipe" or "socket".  @journal_stream: None (unset), a function
    of stderr's own id giving the value, or a fixed value."""
    if stderr == "socket":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        read_fd, write_fd = ours.detach(), theirs.detach()
    else:
        read_fd, write_fd = os.pipe()
    env = {k: v for k, v in os.environ.items() if k not in OWN_ENV}
    if callable(journal_stream):
        env["JOURNAL_STREAM"] = journal_stream(stream_id(write_fd))
    elif journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    argv = [daemon_binary(), "--socket", ctx.sock,
            "--object", "iothread,id=io0"] + list(args)
    proc = None
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=write_fd,
                                env=env, close_fds=True)
        os.close(write_fd)
        write_fd = -1
        wait_serving(proc, ctx.sock)
        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(scaled(10))
        except subprocess.TimeoutExpired:
            raise TestFailure("daemon still running %.1fs after SIGTERM"
                              % scaled(10))
        check(status == 0, "daemon exit status %s" % status)
        return [ln for ln in read_all(read_fd).splitlines() if ln.strip()]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)


def check_plain(lines, what):
    check(lines, "%s: nothing logged" % what)
    bad = [ln for ln in lines
           if not ln.startswith(PLAIN_PREFIX) or JOURNAL_LINE.match(ln)]
    check(not bad, "%s: lines not in the plain format: %r" % (what, bad[:3]))
    check(PLAIN_PREFIX + "iothread io0 created" in lines,
          "%s: no 'iothreadd: iothread io0 created' line in %r"
          % (what, lines[:5]))


def check_journal(lines, what):
    check(lines, "%s: nothing logged" % what)
    bad = [ln for ln in lines if not JOURNAL_LINE.match(ln)]
    check(not bad, "%s: lines without a <N> priority: %r" % (what, bad[:3]))
    check("<6>iothread io0 created" in lines,
          "%s: no '<6>iothread io0 created' line in %r" % (what, lines[:5]))


@case("plain-on-a-pipe")
def t_plain_pipe(ctx):
    check_plain(run_logging(ctx), "stderr a pipe, no JOURNAL_STREAM")


@case("journal-when-journal-stream-is-stderr")
def t_journal(ctx):
    lines = run_logging(ctx, stderr="socket", journal_stream=lambda me: me)
    check_journal(lines, "JOURNAL_STREAM naming stderr")
    check(any(ln.startswith("<5>") and "serving" in ln for ln in lines),
          "start-up line not at notice priority: %r" % lines[:5])


@case("plain-when-journal-stream-is-not-stderr")
def t_mismatch(ctx):
    # Inherited from a service whose stderr was then redirected, or not a
    # well-formed DEVICE:INODE of stderr: plain.
    values = [("another pipe", other_stream_id()),
              ("stderr's id with ':0' after it", lambda me: me + ":0"),
              ("stderr's id with 'x' after it", lambda me: me + "x"),
              ("stderr's id after a space", lambda me: " " + me),
              ("no inode", lambda me: me.split(":")[0] + ":"),
              ("garbage", "journal")]
    for what, value in values:
        check_plain(run_logging(ctx, journal_stream=value),
                    "JOURNAL_STREAM = %s" % what)


@case("log-format-option-overrides-detection")
def t_option(ctx):
    check_plain(run_logging(ctx, stderr="socket",
                            journal_stream=lambda me: me,
                            args=["--log-format", "plain"]),
                "--log-format plain, JOURNAL_STREAM naming stderr")
    check_journal(run_logging(ctx, args=["--log-format=journal"]),
                  "--log-format=journal on a pipe")
    check_journal(run_logging(ctx, stderr="socket",
                              journal_stream=lambda me: me,
                              args=["--log-format", "auto"]),
                  "--log-format auto, JOURNAL_STREAM naming stderr")


@case("bad-log-format-is-a-usage-error")
def t_bad_option(ctx):
    for value in ["syslog", "", "JOURNAL"]:
        status, out, err = run_binary(["--socket", ctx.sock,
                                       "--log-format", value])
        check(status == 2, "--log-format '%s': exit status %s, not 2 "
              "(usage)" % (value, status))
        check("invalid --log-format '%s'" % value in err and
              "journal" in err and "plain" in err,
              "--log-format '%s': unclear message %r" % (value, err))
        check(not os.path.exists(ctx.sock),
              "--log-format '%s': the daemon started serving" % value)


if __name__ == "__main__":
    sys.exit(main())
