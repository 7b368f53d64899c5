#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the NBD server's Python suites share: tests/daemon/casekit.py's
case runner (its output, watchdog and skip rules) with a Ctx that also
stops the case's test servers and raw clients, the test server (build/tests/nbd/nbd-test-server, or
$IOTHREADD_BUILD's) and a raw NBD client for what real clients never
send.

Every case starts its own server on a fresh image; when the case ends the
server gets SIGTERM and must exit 0 (clean teardown) with no sanitizer
report on its stderr, or the case fails.
"""

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "daemon"))

import casekit  # noqa: E402
from casekit import (  # noqa: E402,F401 - re-exported to the suites
    REPO_ROOT, SANITIZER, Skip, case, import_nbd, nbd_refused, need)
from qmp_harness import TestFailure, check, scaled  # noqa: E402,F401

# Wire constants (doc/proto.md of NetworkBlockDevice/nbd).
NBDMAGIC = 0x4e42444d41474943
IHAVEOPT = 0x49484156454f5054
REPLY_MAGIC = 0x3e889045565a9
REQUEST_MAGIC = 0x25609513
SIMPLE_MAGIC = 0x67446698
STRUCTURED_MAGIC = 0x668e33ef
OPT = {"EXPORT_NAME": 1, "ABORT": 2, "LIST": 3, "STARTTLS": 5, "INFO": 6,
       "GO": 7, "STRUCTURED_REPLY": 8, "LIST_META_CONTEXT": 9,
       "SET_META_CONTEXT": 10}
REP_ACK, REP_SERVER, REP_INFO, REP_META_CONTEXT = 1, 2, 3, 4
REP_ERR_UNSUP = (1 << 31) + 1
REP_ERR_INVALID = (1 << 31) + 3
REP_ERR_UNKNOWN = (1 << 31) + 6
CMD = {"READ": 0, "WRITE": 1, "DISC": 2, "FLUSH": 3, "TRIM": 4, "CACHE": 5,
       "WRITE_ZEROES": 6, "BLOCK_STATUS": 7}
EPERM, EINVAL, ENOSPC = 1, 22, 28
SIZE = 64 << 20
MAX_PAYLOAD = 32 << 20


def option_header(opt, length, magic=IHAVEOPT):
    """An option's 16-byte header; a test may give it a wrong @magic or a
    @length its data does not have."""
    return struct.pack(">QII", magic, opt, length)


def request_header(cmd, offset=0, length=0, flags=0, cookie=1,
                   magic=REQUEST_MAGIC):
    """A request's 28-byte header; @cmd is a name of CMD or, for what the
    server must refuse, any number."""
    return struct.pack(">IHHQQI", magic, flags, CMD.get(cmd, cmd), cookie,
                       offset, length)


class Server:
    """The test server of the build being checked, on a socket of the
    case's directory, serving a 64 MiB image as "disk" and "ro"."""

    def __init__(self, ctx, args=(), image=None):
        build = os.environ.get("IOTHREADD_BUILD", "build")
        self.binary = os.path.join(REPO_ROOT, build, "tests", "nbd",
                                   "nbd-test-server")
        self.sock = ctx.path("nbd.sock")
        self.image = image or ctx.path("disk.img")
        if not os.path.exists(self.image):
            with open(self.image, "wb") as f:
                f.truncate(SIZE)
        self.stderr_path = ctx.path("server.stderr")
        self.stdout_path = ctx.path("server.stdout")
        self.proc = subprocess.Popen(
            [self.binary, "--socket", self.sock, "--image", self.image]
            + list(args),
            stdout=open(self.stdout_path, "w"),
            stderr=open(self.stderr_path, "w"))
        self.wait_output("ready")
        self.stopped = False

    def uri(self, export="disk"):
        m = re.search(r"^port (\d+)$", self.output(), re.M)
        if m:
            return "nbd://127.0.0.1:%s/%s" % (m.group(1), export)
        return "nbd+unix:///%s?socket=%s" % (export, self.sock)

    def connect(self, export="disk"):
        """A libnbd handle connected to @export (the case is skipped
        without python3-libnbd)."""
        h = import_nbd().NBD()
        h.connect_uri(self.uri(export))
        return h

    def output(self):
        with open(self.stdout_path) as f:
            return f.read()

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def wait_output(self, text, timeout=20):
        deadline = time.monotonic() + scaled(timeout)
        while text not in self.output():
            if self.proc.poll() is not None:
                raise TestFailure("server exited (%d) before %r: %s" % (
                    self.proc.returncode, text, self.stderr()[-500:]))
            if time.monotonic() > deadline:
                raise TestFailure("server never printed %r" % text)
            time.sleep(0.02)

    def wait_stderr(self, pattern, timeout=20):
        deadline = time.monotonic() + scaled(timeout)
        while not re.search(pattern, self.stderr()):
            if time.monotonic() > deadline:
                raise TestFailure("server never logged /%s/; stderr: %s" % (
                    pattern, self.stderr()[-500:]))
            time.sleep(0.02)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        """SIGTERM; the problem with how it ended, or None."""
        if self.stopped:
            return None
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=scaled(30))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "server did not stop on SIGTERM (killed)"
        if rc != 0:
            return "server exited with status %d: %s" % (
                rc, self.stderr()[-800:].replace("\n", " | "))
        m = SANITIZER.search(self.stderr())
        if m:
            return "sanitizer report on the server's stderr: %s" % m.group(0)
        return None


class Ctx(casekit.Ctx):
    """casekit's per-case state, plus the case's test servers and raw
    clients, which the runner stops when the case ends."""

    def __init__(self, tmpdir):
        super().__init__(tmpdir)
        self.servers = []
        self.socks = []

    def teardown(self):
        for c in self.socks:
            c.close()
        problem = None
        for s in self.servers:
            p = s.stop()
            problem = problem or p
        return problem

    def failure_tails(self):
        return [("test server stderr", s.stderr().splitlines()[-8:])
                for s in self.servers]

    def server(self, args=(), **kw):
        s = Server(self, args, **kw)
        self.servers.append(s)
        return s

    def raw(self, server, **kw):
        c = RawClient(server.sock, **kw)
        self.socks.append(c)
        return c

    def greeted(self, args=()):
        """A new server (with @args) and a raw client past its greeting,
        about to send options: (server, client)."""
        s = self.server(args)
        c = self.raw(s)
        c.greeting()
        return s, c

    def serving(self, export="disk", structured=True):
        """A new server and a raw client of @export past the handshake
        (see RawClient.go()), about to send requests: (server, client)."""
        s = self.server()
        c = self.raw(s)
        c.go(export, structured)
        return s, c


def run(args, timeout=60, ok=True, **kw):
    """Run a client program; its CompletedProcess (failure if @ok and it
    failed)."""
    try:
        p = subprocess.run(args, capture_output=True, text=True,
                           timeout=scaled(timeout), **kw)
    except subprocess.TimeoutExpired:
        raise TestFailure("%s timed out" % " ".join(args))
    if ok and p.returncode != 0:
        raise TestFailure("%s failed (%d): %s" % (
            " ".join(args), p.returncode, (p.stderr or p.stdout)[-400:]))
    return p


# ---------------------------------------------------------------------------
# A raw client: every byte under the test's control.

class RawClient:
    def __init__(self, path, timeout=20):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(scaled(timeout))
        self.s.connect(path)

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("server closed after %d of %d bytes"
                               % (len(buf), n))
            buf += chunk
        return buf

    def closed_by_server(self, timeout=20):
        """True once the server has closed the connection (EOF or reset);
        data the server sent before is drained."""
        self.s.settimeout(scaled(timeout))
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def greeting(self, cflags=3):
        magic, opt, hflags = struct.unpack(">QQH", self.recv_exact(18))
        check(magic == NBDMAGIC and opt == IHAVEOPT,
              "bad greeting %x %x" % (magic, opt))
        check(hflags & 1, "no NBD_FLAG_FIXED_NEWSTYLE")
        self.send(struct.pack(">I", cflags))
        return hflags

    def option(self, opt, data=b""):
        self.send(option_header(opt, len(data)) + data)

    def reply(self):
        magic, opt, rtype, length = struct.unpack(">QIII", self.recv_exact(20))
        check(magic == REPLY_MAGIC, "bad option reply magic %x" % magic)
        return opt, rtype, self.recv_exact(length)

    def replies(self, opt):
        """Replies to @opt up to its final ACK or error: a list of
        (type, data)."""
        out = []
        while True:
            o, t, d = self.reply()
            check(o == opt, "reply for option %d, expected %d" % (o, opt))
            out.append((t, d))
            if t == REP_ACK or t & (1 << 31):
                return out

    def ask(self, opt, data=b""):
        """Send option @opt with @data; its replies (see replies())."""
        self.option(opt, data)
        return self.replies(opt)

    def answer(self, opt, data=b""):
        """Send option @opt with @data; the type of its final reply (an
        ACK or an error)."""
        return self.ask(opt, data)[-1][0]

    @staticmethod
    def info_data(name, infos=()):
        n = name.encode()
        return (struct.pack(">I", len(n)) + n + struct.pack(">H", len(infos))
                + b"".join(struct.pack(">H", i) for i in infos))

    def go(self, name="disk", structured=True):
        """Handshake up to transmission; returns (size, flags)."""
        self.greeting()
        if structured:
            self.option(OPT["STRUCTURED_REPLY"])
            check(self.replies(OPT["STRUCTURED_REPLY"])[-1][0] == REP_ACK,
                  "STRUCTURED_REPLY refused")
        self.structured = structured
        self.option(OPT["GO"], self.info_data(name))
        size = flags = None
        for t, d in self.replies(OPT["GO"]):
            if t == REP_INFO and struct.unpack(">H", d[:2])[0] == 0:
                size, flags = struct.unpack(">QH", d[2:12])
            check(not t & (1 << 31), "GO refused: %x %r" % (t, d))
        return size, flags

    def request(self, cmd, offset=0, length=0, flags=0, cookie=1, data=b""):
        self.send(request_header(CMD[cmd], offset, length, flags, cookie)
                  + data)

    def expect(self, what, cmd, offset=0, length=0, err=0, cookie=1,
               read_len=0, **kw):
        """Send one request and check that its reply carries its @cookie
        and error @err (0: success), or fail with @what; the reply as
        read_reply(@read_len) returns it."""
        self.request(cmd, offset, length, cookie=cookie, **kw)
        got = self.read_reply(read_len)
        check(got[:2] == (cookie, err), "%s: reply (cookie, error) %r, "
              "expected %r" % (what, got[:2], (cookie, err)))
        return got

    def read_reply(self, read_len=0):
        """The (possibly multi-chunk) reply to one request: (cookie, error,
        data).  For a structured read its OFFSET_DATA and OFFSET_HOLE
        chunks, for simple replies to reads @read_len bytes.  An error
        chunk's message is kept in self.message."""
        magic = struct.unpack(">I", self.recv_exact(4))[0]
        if magic == SIMPLE_MAGIC:
            err, cookie = struct.unpack(">IQ", self.recv_exact(12))
            data = self.recv_exact(read_len) if read_len and not err else b""
            return cookie, err, data
        check(magic == STRUCTURED_MAGIC, "bad reply magic %x" % magic)
        data, err = b"", 0
        while True:
            flags, rtype, cookie, length = struct.unpack(
                ">HHQI", self.recv_exact(16))
            payload = self.recv_exact(length)
            if rtype == 1:
                data += payload[8:]
            elif rtype == 2:
                # A hole (chunks come in order from this server).
                data += b"\0" * struct.unpack(">QI", payload)[1]
            elif rtype & (1 << 15):
                err, n = struct.unpack(">IH", payload[:6])
                self.message = payload[6:6 + n].decode()
            elif rtype == 5:
                data += payload
            if flags & 1:
                return cookie, err, data
            check(struct.unpack(">I", self.recv_exact(4))[0]
                  == STRUCTURED_MAGIC, "bad chunk magic")



def main():
    return casekit.main(make_ctx=Ctx)
