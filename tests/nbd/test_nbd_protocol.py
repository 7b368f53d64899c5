#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The NBD server against a raw client: each handshake option and each
bad input of doc/proto.md, answered as the spec says (an error reply or a
disconnect), while another client keeps being served and the server
still tears down cleanly at the end (its exit status)."""

import os
import select
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdcase import (  # noqa: E402
    CMD, EINVAL, ENOSPC, EPERM, MAX_PAYLOAD, OPT, REP_ACK, REP_ERR_INVALID,
    REP_ERR_UNKNOWN, REP_ERR_UNSUP, REP_INFO, REP_META_CONTEXT, REP_SERVER,
    REQUEST_MAGIC, SIZE, case, check, main, scaled)


def still_served(ctx, s, export="disk"):
    """Another client completes a write and a read on @export."""
    c = ctx.raw(s)
    c.go(export)
    data = os.urandom(4096)
    if export == "disk":
        c.request("WRITE", 12288, 4096, cookie=77, data=data)
        check(c.read_reply()[:2] == (77, 0), "write on a fresh client")
    c.request("READ", 12288, 4096, cookie=78)
    cookie, err, got = c.read_reply(4096)
    check((cookie, err) == (78, 0) and len(got) == 4096,
          "read on a fresh client")
    c.request("DISC")
    check(c.closed_by_server(), "DISC did not close")


# ---- handshake ----

@case("greeting-is-fixed-newstyle-with-no-zeroes")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    flags = c.greeting()
    check(flags == 3, "handshake flags %d" % flags)


@case("bad-option-magic-disconnects")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.greeting()
    c.send(struct.pack(">QII", 0x1122334455667788, OPT["GO"], 0))
    check(c.closed_by_server(), "server kept a client with a bad magic")
    s.wait_stderr("bad option magic")
    still_served(ctx, s)


@case("unknown-client-flags-disconnect")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.greeting(cflags=0x80)
    check(c.closed_by_server(), "unknown client flags accepted")
    still_served(ctx, s)


@case("unknown-option-gets-err-unsup-and-haggling-goes-on")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.greeting()
    for opt in (99, OPT["STARTTLS"], 11):
        c.option(opt, b"abc")
        r = c.replies(opt)
        check(r[-1][0] == REP_ERR_UNSUP, "option %d: %r" % (opt, r))
    c.option(OPT["GO"], c.info_data("disk"))
    check(c.replies(OPT["GO"])[-1][0] == REP_ACK, "GO after UNSUP")


@case("bad-option-lengths-get-err-invalid")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.greeting()
    bad = [
        (OPT["LIST"], b"x"),
        (OPT["STRUCTURED_REPLY"], b"x"),
        (OPT["INFO"], b"\0\0"),
        (OPT["GO"], c.info_data("disk") + b"extra"),
        (OPT["GO"], struct.pack(">I", 1000) + b"disk\0\0"),
        (OPT["INFO"], struct.pack(">I", 4) + b"disk" + struct.pack(">H", 5)),
    ]
    for opt, data in bad:
        c.option(opt, data)
        r = c.replies(opt)
        check(r[-1][0] == REP_ERR_INVALID, "%d %r: %r" % (opt, data, r))
    # Meta contexts need structured replies first.
    meta = struct.pack(">I", 4) + b"disk" + struct.pack(">I", 0)
    c.option(OPT["SET_META_CONTEXT"], meta)
    check(c.replies(OPT["SET_META_CONTEXT"])[-1][0] == REP_ERR_INVALID,
          "SET_META_CONTEXT without structured replies")
    c.option(OPT["STRUCTURED_REPLY"])
    check(c.replies(OPT["STRUCTURED_REPLY"])[-1][0] == REP_ACK, "SR")
    c.option(OPT["SET_META_CONTEXT"],
             meta[:-4] + struct.pack(">I", 2) + struct.pack(">I", 3) + b"ab")
    check(c.replies(OPT["SET_META_CONTEXT"])[-1][0] == REP_ERR_INVALID,
          "truncated query list")
    still_served(ctx, s)


@case("option-too-long-disconnects")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.greeting()
    c.send(struct.pack(">QII", 0x49484156454f5054, OPT["GO"], 1 << 30))
    check(c.closed_by_server(), "a 1 GiB option was not refused")
    s.wait_stderr("too long")
    still_served(ctx, s)


@case("list-info-go-unknown-export")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.greeting()
    c.option(OPT["LIST"])
    r = c.replies(OPT["LIST"])
    names = sorted(d[4:4 + struct.unpack(">I", d[:4])[0]].decode()
                   for t, d in r if t == REP_SERVER)
    check(names == ["disk", "ro"], "LIST: %r" % r)
    c.option(OPT["INFO"], c.info_data("nosuch"))
    check(c.replies(OPT["INFO"])[-1][0] == REP_ERR_UNKNOWN, "INFO unknown")
    c.option(OPT["INFO"], c.info_data("disk", (1, 2, 3)))
    r = c.replies(OPT["INFO"])
    infos = {struct.unpack(">H", d[:2])[0]: d[2:] for t, d in r
             if t == REP_INFO}
    check(infos[1] == b"disk" and infos[2] == b"test disk", "%r" % infos)
    check(struct.unpack(">III", infos[3]) == (1, 4096, MAX_PAYLOAD),
          "block size %r" % infos[3])
    size, flags = struct.unpack(">QH", infos[0])
    check(size == SIZE and flags & 1 and not flags & 2, "export %r" % infos)
    c.option(OPT["GO"], c.info_data("nosuch"))
    check(c.replies(OPT["GO"])[-1][0] == REP_ERR_UNKNOWN, "GO unknown")
    c.option(OPT["GO"], c.info_data("ro"))
    r = c.replies(OPT["GO"])
    flags = [struct.unpack(">QH", d[2:12])[1] for t, d in r
             if t == REP_INFO and d[:2] == b"\0\0"]
    check(flags and flags[0] & 2, "ro export not read-only: %r" % r)


@case("meta-context-list-and-set")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.greeting()
    c.option(OPT["STRUCTURED_REPLY"])
    c.replies(OPT["STRUCTURED_REPLY"])

    def meta(opt, name, queries):
        data = struct.pack(">I", len(name)) + name + struct.pack(
            ">I", len(queries))
        for q in queries:
            data += struct.pack(">I", len(q)) + q
        c.option(opt, data)
        return c.replies(opt)
    for queries in ([], [b"base:"], [b"base:allocation"]):
        r = meta(OPT["LIST_META_CONTEXT"], b"disk", queries)
        check([t for t, d in r] == [REP_META_CONTEXT, REP_ACK] and
              r[0][1][4:] == b"base:allocation", "LIST %r: %r" % (queries, r))
    r = meta(OPT["LIST_META_CONTEXT"], b"disk", [b"qemu:dirty-bitmap:x"])
    check([t for t, d in r] == [REP_ACK], "unknown context: %r" % r)
    r = meta(OPT["SET_META_CONTEXT"], b"nosuch", [b"base:allocation"])
    check(r[-1][0] == REP_ERR_UNKNOWN, "SET on unknown export %r" % r)
    r = meta(OPT["SET_META_CONTEXT"], b"disk", [b"base:allocation"])
    check(r[0][0] == REP_META_CONTEXT and r[-1][0] == REP_ACK, "SET %r" % r)
    ctx_id = struct.unpack(">I", r[0][1][:4])[0]
    c.option(OPT["GO"], c.info_data("disk"))
    c.replies(OPT["GO"])
    c.structured = True
    c.request("BLOCK_STATUS", 0, 1 << 20, cookie=5)
    cookie, err, data = c.read_reply()
    check(cookie == 5 and err == 0, "BLOCK_STATUS error %d" % err)
    cid, length, st = struct.unpack(">III", data[:12])
    check(cid == ctx_id and length == 1 << 20 and st == 3,
          "extent %r" % ((cid, length, st),))


@case("export-name-option-with-and-without-zeroes")
def _(ctx):
    s = ctx.server()
    for cflags, tail in ((3, 0), (1, 124)):
        c = ctx.raw(s)
        c.greeting(cflags)
        c.option(OPT["EXPORT_NAME"], b"disk")
        size, flags = struct.unpack(">QH", c.recv_exact(10))
        check(size == SIZE and flags & 1, "reply %d %x" % (size, flags))
        check(c.recv_exact(tail) == b"\0" * tail, "zeroes")
        c.request("READ", 0, 512, cookie=9)
        check(c.read_reply(512)[:2] == (9, 0), "simple read")
    c = ctx.raw(s)
    c.greeting()
    c.option(OPT["EXPORT_NAME"], b"nosuch")
    check(c.closed_by_server(), "EXPORT_NAME of nothing must close")
    still_served(ctx, s)


@case("abort-is-acked-then-closed")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.greeting()
    c.option(OPT["ABORT"])
    check(c.replies(OPT["ABORT"])[-1][0] == REP_ACK, "ABORT not acked")
    check(c.closed_by_server(), "not closed after ABORT")


@case("disconnect-mid-handshake")
def _(ctx):
    s = ctx.server()
    for cut in (0, 2, 20):
        c = ctx.raw(s)
        c.greeting()
        c.send((struct.pack(">QII", 0x49484156454f5054, OPT["GO"], 100)
                + b"x" * 50)[:cut])
        c.close()
    c = ctx.raw(s)
    c.recv_exact(10)
    c.close()
    still_served(ctx, s)


@case("handshake-timeout-disconnects")
def _(ctx):
    s = ctx.server(["--handshake-max-seconds", "1"])
    c = ctx.raw(s, timeout=60)
    c.greeting()
    check(c.closed_by_server(timeout=60), "handshake never timed out")
    s.wait_stderr("handshake not finished after 1 s")
    # A client that finished its handshake is not timed out.
    d = ctx.raw(s)
    d.go()
    time.sleep(scaled(1.5))
    d.request("READ", 0, 512, cookie=3)
    check(d.read_reply(512)[:2] == (3, 0), "timed out after the handshake")


@case("max-connections-exceeded-is-closed-at-once")
def _(ctx):
    s = ctx.server(["--max-connections", "2"])
    a, b = ctx.raw(s), ctx.raw(s)
    a.greeting()
    b.go()
    c = ctx.raw(s)
    check(c.closed_by_server(), "third client served")
    s.wait_stderr("max-connections")
    a.close()
    # Its slot is free once the server has seen it go.
    deadline = time.monotonic() + scaled(20)
    while True:
        d = ctx.raw(s)
        try:
            d.go("ro")
            break
        except EOFError:
            check(time.monotonic() < deadline, "slot never freed")
            time.sleep(0.05)
    d.request("READ", 0, 512, cookie=4)
    check(d.read_reply(512)[:2] == (4, 0), "read")


# ---- transmission ----

@case("bad-request-magic-disconnects")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.go()
    c.send(struct.pack(">IHHQQI", 0xdeadbeef, 0, 0, 1, 0, 512))
    check(c.closed_by_server(), "bad request magic accepted")
    s.wait_stderr("bad request magic")
    still_served(ctx, s)


@case("unknown-command-and-flags-get-einval")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.go()
    c.send(struct.pack(">IHHQQI", 0x25609513, 0, 42, 11, 0, 0))
    check(c.read_reply()[:2] == (11, EINVAL), "unknown command")
    c.request("READ", 0, 512, flags=1 << 9, cookie=12)
    check(c.read_reply(512)[:2] == (12, EINVAL), "unknown flag")
    c.request("FLUSH", cookie=13, flags=1 << 3)
    check(c.read_reply()[:2] == (13, EINVAL), "REQ_ONE on FLUSH")
    c.request("BLOCK_STATUS", 0, 512, cookie=14)
    check(c.read_reply()[:2] == (14, EINVAL), "BLOCK_STATUS without meta")
    c.request("READ", 0, 512, cookie=15)
    check(c.read_reply(512)[:2] == (15, 0), "served after the errors")


@case("df-without-structured-replies-is-einval")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.go(structured=False)
    c.request("READ", 0, 512, flags=1 << 2, cookie=1)
    check(c.read_reply(512)[:2] == (1, EINVAL), "DF accepted")
    c.request("READ", 0, 0, cookie=2)
    check(c.read_reply()[:2] == (2, 0), "zero-length read")


@case("out-of-range-requests-are-refused")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.go()
    c.request("READ", SIZE - 512, 1024, cookie=1)
    check(c.read_reply()[:2] == (1, EINVAL), "read past the end")
    c.request("READ", 1 << 63, 512, cookie=2)
    check(c.read_reply()[:2] == (2, EINVAL), "huge offset")
    c.request("WRITE", SIZE, 512, cookie=3, data=b"w" * 512)
    check(c.read_reply()[:2] == (3, ENOSPC), "write past the end")
    c.request("WRITE_ZEROES", SIZE - 4096, 8192, cookie=4)
    check(c.read_reply()[:2] == (4, ENOSPC), "zero past the end")
    c.request("TRIM", (1 << 64) - 512, 1024, cookie=5)
    check(c.read_reply()[:2] == (5, ENOSPC), "trim wrapping around")
    c.request("CACHE", SIZE, 1, cookie=6)
    check(c.read_reply()[:2] == (6, EINVAL), "cache past the end")
    c.request("READ", SIZE - 512, 512, cookie=7)
    cookie, err, data = c.read_reply(512)
    check((cookie, err, len(data)) == (7, 0, 512), "last sector")


@case("too-long-requests-are-refused-and-the-payload-dropped")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.go()
    c.request("READ", 0, MAX_PAYLOAD + 1, cookie=1)
    check(c.read_reply()[:2] == (1, EINVAL), "long read")
    n = MAX_PAYLOAD + 4096
    c.request("WRITE", 0, n, cookie=2, data=b"\xee" * n)
    check(c.read_reply()[:2] == (2, EINVAL), "long write")
    c.request("READ", 0, 4096, cookie=3)
    cookie, err, data = c.read_reply()
    check((cookie, err) == (3, 0) and data == b"\0" * 4096,
          "the dropped payload was written or misparsed")
    c.request("WRITE", 0, 0xffffffff, cookie=4)
    check(c.closed_by_server(), "a 4 GiB write was not refused")
    s.wait_stderr("too long")
    still_served(ctx, s)


@case("write-to-read-only-export-is-eperm")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.go("ro")
    c.request("WRITE", 0, 4096, cookie=1, data=b"r" * 4096)
    check(c.read_reply()[:2] == (1, EPERM), "write on ro")
    for i, cmd in enumerate(("TRIM", "WRITE_ZEROES"), 2):
        c.request(cmd, 0, 4096, cookie=i)
        check(c.read_reply()[:2] == (i, EPERM), cmd)
    c.request("READ", 0, 4096, cookie=9)
    cookie, err, data = c.read_reply()
    check((cookie, err) == (9, 0) and data == b"\0" * 4096,
          "the refused payload was misparsed or written")
    c.request("FLUSH", cookie=10)
    check(c.read_reply()[:2] == (10, 0), "flush on ro")
    with open(s.image, "rb") as f:
        check(f.read(4096) == b"\0" * 4096, "ro write reached the file")


@case("error-chunks-say-why")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.go("ro")
    cases = [
        ("READ", SIZE, 4096, 0, EINVAL, "beyond the end of the export"),
        ("WRITE", 0, 0, 0, EPERM, "the export is read-only"),
        ("READ", 0, 4096, 1 << 3, EINVAL, "a flag the command does not take"),
        ("BLOCK_STATUS", 0, 4096, 0, EINVAL,
         "BLOCK_STATUS without a meta context"),
    ]
    for i, (cmd, off, length, flags, err, why) in enumerate(cases):
        c.message = None
        c.request(cmd, off, length, flags=flags, cookie=i)
        got = c.read_reply()[:2]
        check(got == (i, err) and c.message == why,
              "%s: %r %r, expected %r" % (cmd, got, c.message, why))
    c.send(struct.pack(">IHHQQI", 0x25609513, 0, 99, 50, 0, 0))
    check(c.read_reply()[:2] == (50, EINVAL) and
          c.message == "unknown command", "unknown: %r" % c.message)
    still_served(ctx, s)


@case("disconnect-mid-request")
def _(ctx):
    s = ctx.server()
    for cut in (10, 28, 28 + 1000):
        c = ctx.raw(s)
        c.go()
        hdr = struct.pack(">IHHQQI", 0x25609513, 0, 1, 1, 0, 65536)
        c.send((hdr + b"p" * 65536)[:cut])
        c.close()
    c = ctx.raw(s)
    c.go()
    for i in range(8):
        c.request("READ", 0, 1 << 20, cookie=i)
    c.close()                     # replies never read
    still_served(ctx, s)


@case("client-gone-with-replies-queued-frees-them")
def _(ctx):
    # Replies queued behind a full socket (big reads, some in hole and data
    # chunks, some simple), then the client goes: the queue and the read
    # buffers it holds must be freed (the sanitizer build finds a leak), the
    # requests leave the in-flight counts (or the server never finishes
    # the client and does not stop cleanly), and the others are served.
    with open(ctx.path("disk.img"), "wb") as f:
        f.truncate(SIZE)
        for i in range(0, 16, 2):
            f.seek(i << 20)
            f.write(os.urandom(1 << 20))
    s = ctx.server()
    for structured in (True, False):
        c = ctx.raw(s)
        c.go(structured=structured)
        blob = b""
        for i in range(40):
            blob += struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD["READ"],
                                i, (i % 12) << 20, 3 << 20)
        c.send(blob)
        # The server is sending: its queue is in use.  Then it fills the
        # socket; leave it so for a moment (a wait, asserting nothing).
        c.recv_exact(4096)
        time.sleep(0.3)
        c.close()
        ctx.socks.remove(c)
    still_served(ctx, s)


@case("disc-answers-requests-in-flight-first")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.go()
    blob = b""
    for i in range(8):
        blob += struct.pack(">IHHQQI", 0x25609513, 0, 1, 100 + i,
                            i * 65536, 65536) + bytes([i]) * 65536
    blob += struct.pack(">IHHQQI", 0x25609513, 0, 2, 999, 0, 0)
    c.send(blob)
    cookies = sorted(c.read_reply()[0] for _ in range(8))
    check(cookies == list(range(100, 108)), "replies %r" % cookies)
    check(c.closed_by_server(), "DISC did not close")
    with open(s.image, "rb") as f:
        for i in range(8):
            f.seek(i * 65536)
            check(f.read(65536) == bytes([i]) * 65536, "write %d lost" % i)


@case("client-that-never-reads-does-not-block-others")
def _(ctx):
    s = ctx.server()
    stuck = ctx.raw(s)
    stuck.go()
    stuck.s.setblocking(False)
    # Small reads whose replies are never read: the server must stop
    # taking new requests (bounded in flight), so the socket fills up long
    # before 50000 of them (a few thousand fit in its buffers).
    req = struct.pack(">IHHQQI", 0x25609513, 0, 0, 1, 0, 512) * 16
    sent = 0
    while sent < 50000:
        try:
            sent += stuck.s.send(req) // 28
        except BlockingIOError:
            # Full: only a server that goes on reading makes room again.
            if not select.select([], [stuck.s], [], scaled(1))[1]:
                break
    check(sent < 50000, "the server took %d requests it cannot answer"
          % sent)
    for _ in range(3):
        still_served(ctx, s)
    # Leave it stuck: the server must still stop cleanly at the end.


@case("hard-export-removal-disconnects-its-clients")
def _(ctx):
    s = ctx.server()
    a = ctx.raw(s)
    a.go()
    stuck = ctx.raw(s)
    stuck.go()
    stuck.s.send(struct.pack(">IHHQQI", 0x25609513, 0, 0, 1, 0,
                             MAX_PAYLOAD) * 40)
    s.signal(signal.SIGUSR1)
    check(a.closed_by_server(), "client of a removed export kept")
    s.wait_output("removed disk")
    c = ctx.raw(s)
    c.greeting()
    c.option(OPT["GO"], c.info_data("disk"))
    check(c.replies(OPT["GO"])[-1][0] == REP_ERR_UNKNOWN, "removed export")
    still_served(ctx, s, "ro")


@case("soft-export-removal-waits-for-its-clients")
def _(ctx):
    s = ctx.server()
    a = ctx.raw(s)
    a.go()
    s.signal(signal.SIGUSR2)
    c = ctx.raw(s)
    c.greeting()
    # The signal arrives when it does: ask until the export is gone.
    deadline = time.monotonic() + scaled(20)
    while True:
        c.option(OPT["INFO"], c.info_data("disk"))
        if c.replies(OPT["INFO"])[-1][0] == REP_ERR_UNKNOWN:
            break
        check(time.monotonic() < deadline, "export never removed")
        time.sleep(0.02)
    a.request("READ", 0, 512, cookie=1)
    check(a.read_reply(512)[:2] == (1, 0), "old client not served")
    check("removed disk" not in s.output(), "removed with a client left")
    a.request("DISC")
    s.wait_output("removed disk")


@case("stop-with-clients-connected-and-requests-in-flight")
def _(ctx):
    s = ctx.server()
    clients = []
    for i in range(4):
        c = ctx.raw(s)
        c.go()
        c.s.send(struct.pack(">IHHQQI", 0x25609513, 0, 0, 1, 0,
                             MAX_PAYLOAD) * 20)
        clients.append(c)
    half = ctx.raw(s)
    half.greeting()
    problem = s.stop()
    check(problem is None, problem or "")


@case("connect-disconnect-cycles-leave-no-fds-or-threads")
def _(ctx):
    # The case that kills qemu-storage-daemon 7.2: clients of an export on
    # an iothread coming and going.
    s = ctx.server()
    pid = s.proc.pid

    def counts():
        return (len(os.listdir("/proc/%d/fd" % pid)),
                len(os.listdir("/proc/%d/task" % pid)))
    still_served(ctx, s)
    base = counts()
    for i in range(300):
        c = ctx.raw(s)
        c.go("disk" if i % 2 else "ro", structured=bool(i % 3))
        c.request("READ", i * 4096, 4096, cookie=i)
        check(c.read_reply(4096)[:2] == (i, 0), "read %d" % i)
        if i % 4:
            c.request("DISC")
        c.close()
        ctx.socks.remove(c)
    deadline = time.monotonic() + scaled(20)
    while counts() != base:
        check(time.monotonic() < deadline,
              "fds/threads %r, were %r" % (counts(), base))
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
