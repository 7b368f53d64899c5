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
    EINVAL, ENOSPC, EPERM, MAX_PAYLOAD, OPT, REP_ACK, REP_ERR_INVALID,
    REP_ERR_UNKNOWN, REP_ERR_UNSUP, REP_INFO, REP_META_CONTEXT, REP_SERVER,
    SIZE, case, check, main, option_header, request_header, scaled)


def still_served(ctx, s, export="disk"):
    """Another client completes a write and a read on @export."""
    c = ctx.raw(s)
    c.go(export)
    data = os.urandom(4096)
    if export == "disk":
        c.expect("write on a fresh client", "WRITE", 12288, 4096, cookie=77,
                 data=data)
    got = c.expect("read on a fresh client", "READ", 12288, 4096, cookie=78,
                   read_len=4096)[2]
    check(len(got) == 4096, "read on a fresh client")
    c.request("DISC")
    check(c.closed_by_server(), "DISC did not close")


def cut_off(ctx, s, c, data, what, logged):
    """Sending @data makes the server close @c (else: failure @what) and
    log @logged, while another client is still served."""
    c.send(data)
    check(c.closed_by_server(), what)
    s.wait_stderr(logged)
    still_served(ctx, s)


# ---- handshake ----

@case("greeting-is-fixed-newstyle-with-no-zeroes")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    flags = c.greeting()
    check(flags == 3, "handshake flags %d" % flags)


@case("bad-option-magic-disconnects")
def _(ctx):
    s, c = ctx.greeted()
    cut_off(ctx, s, c, option_header(OPT["GO"], 0, magic=0x1122334455667788),
            "server kept a client with a bad magic", "bad option magic")


@case("unknown-client-flags-disconnect")
def _(ctx):
    s = ctx.server()
    c = ctx.raw(s)
    c.greeting(cflags=0x80)
    check(c.closed_by_server(), "unknown client flags accepted")
    still_served(ctx, s)


@case("unknown-option-gets-err-unsup-and-haggling-goes-on")
def _(ctx):
    s, c = ctx.greeted()
    for opt in (99, OPT["STARTTLS"], 11):
        r = c.ask(opt, b"abc")
        check(r[-1][0] == REP_ERR_UNSUP, "option %d: %r" % (opt, r))
    check(c.answer(OPT["GO"], c.info_data("disk")) == REP_ACK,
          "GO after UNSUP")


@case("bad-option-lengths-get-err-invalid")
def _(ctx):
    s, c = ctx.greeted()
    bad = [
        (OPT["LIST"], b"x"),
        (OPT["STRUCTURED_REPLY"], b"x"),
        (OPT["INFO"], b"\0\0"),
        (OPT["GO"], c.info_data("disk") + b"extra"),
        (OPT["GO"], struct.pack(">I", 1000) + b"disk\0\0"),
        (OPT["INFO"], struct.pack(">I", 4) + b"disk" + struct.pack(">H", 5)),
    ]
    for opt, data in bad:
        r = c.ask(opt, data)
        check(r[-1][0] == REP_ERR_INVALID, "%d %r: %r" % (opt, data, r))
    # Meta contexts need structured replies first.
    meta = struct.pack(">I", 4) + b"disk" + struct.pack(">I", 0)
    check(c.answer(OPT["SET_META_CONTEXT"], meta) == REP_ERR_INVALID,
          "SET_META_CONTEXT without structured replies")
    check(c.answer(OPT["STRUCTURED_REPLY"]) == REP_ACK, "SR")
    check(c.answer(OPT["SET_META_CONTEXT"], meta[:-4] + struct.pack(">I", 2)
                   + struct.pack(">I", 3) + b"ab") == REP_ERR_INVALID,
          "truncated query list")
    still_served(ctx, s)


@case("option-too-long-disconnects")
def _(ctx):
    s, c = ctx.greeted()
    cut_off(ctx, s, c, option_header(OPT["GO"], 1 << 30),
            "a 1 GiB option was not refused", "too long")


@case("list-info-go-unknown-export")
def _(ctx):
    s, c = ctx.greeted()
    r = c.ask(OPT["LIST"])
    names = sorted(d[4:4 + struct.unpack(">I", d[:4])[0]].decode()
                   for t, d in r if t == REP_SERVER)
    check(names == ["disk", "ro"], "LIST: %r" % r)
    check(c.answer(OPT["INFO"], c.info_data("nosuch")) == REP_ERR_UNKNOWN,
          "INFO unknown")
    r = c.ask(OPT["INFO"], c.info_data("disk", (1, 2, 3)))
    infos = {struct.unpack(">H", d[:2])[0]: d[2:] for t, d in r
             if t == REP_INFO}
    check(infos[1] == b"disk" and infos[2] == b"test disk", "%r" % infos)
    check(struct.unpack(">III", infos[3]) == (1, 4096, MAX_PAYLOAD),
          "block size %r" % infos[3])
    size, flags = struct.unpack(">QH", infos[0])
    check(size == SIZE and flags & 1 and not flags & 2, "export %r" % infos)
    check(c.answer(OPT["GO"], c.info_data("nosuch")) == REP_ERR_UNKNOWN,
          "GO unknown")
    r = c.ask(OPT["GO"], c.info_data("ro"))
    flags = [struct.unpack(">QH", d[2:12])[1] for t, d in r
             if t == REP_INFO and d[:2] == b"\0\0"]
    check(flags and flags[0] & 2, "ro export not read-only: %r" % r)


@case("meta-context-list-and-set")
def _(ctx):
    s, c = ctx.greeted()
    c.ask(OPT["STRUCTURED_REPLY"])

    def meta(opt, name, queries):
        data = struct.pack(">I", len(name)) + name + struct.pack(
            ">I", len(queries))
        for q in queries:
            data += struct.pack(">I", len(q)) + q
        return c.ask(opt, data)
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
    c.ask(OPT["GO"], c.info_data("disk"))
    c.structured = True
    data = c.expect("BLOCK_STATUS", "BLOCK_STATUS", 0, 1 << 20,
                    cookie=5)[2]
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
        c.expect("simple read", "READ", 0, 512, cookie=9, read_len=512)
    c = ctx.raw(s)
    c.greeting()
    c.option(OPT["EXPORT_NAME"], b"nosuch")
    check(c.closed_by_server(), "EXPORT_NAME of nothing must close")
    still_served(ctx, s)


@case("abort-is-acked-then-closed")
def _(ctx):
    s, c = ctx.greeted()
    check(c.answer(OPT["ABORT"]) == REP_ACK, "ABORT not acked")
    check(c.closed_by_server(), "not closed after ABORT")


@case("disconnect-mid-handshake")
def _(ctx):
    s = ctx.server()
    for cut in (0, 2, 20):
        c = ctx.raw(s)
        c.greeting()
        c.send((option_header(OPT["GO"], 100) + b"x" * 50)[:cut])
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
    d.expect("timed out after the handshake", "READ", 0, 512, cookie=3,
             read_len=512)


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
    d.expect("read", "READ", 0, 512, cookie=4, read_len=512)


# ---- transmission ----

@case("bad-request-magic-disconnects")
def _(ctx):
    s, c = ctx.serving()
    cut_off(ctx, s, c, request_header("READ", 0, 512, magic=0xdeadbeef),
            "bad request magic accepted", "bad request magic")


@case("unknown-command-and-flags-get-einval")
def _(ctx):
    s, c = ctx.serving()
    c.send(request_header(42, cookie=11))
    check(c.read_reply()[:2] == (11, EINVAL), "unknown command")
    c.expect("unknown flag", "READ", 0, 512, EINVAL, flags=1 << 9, cookie=12,
             read_len=512)
    c.expect("REQ_ONE on FLUSH", "FLUSH", err=EINVAL, cookie=13,
             flags=1 << 3)
    c.expect("BLOCK_STATUS without meta", "BLOCK_STATUS", 0, 512, EINVAL,
             cookie=14)
    c.expect("served after the errors", "READ", 0, 512, cookie=15,
             read_len=512)


@case("df-without-structured-replies-is-einval")
def _(ctx):
    s, c = ctx.serving(structured=False)
    c.expect("DF accepted", "READ", 0, 512, EINVAL, flags=1 << 2, cookie=1,
             read_len=512)
    c.expect("zero-length read", "READ", 0, 0, cookie=2)


@case("out-of-range-requests-are-refused")
def _(ctx):
    s, c = ctx.serving()
    c.expect("read past the end", "READ", SIZE - 512, 1024, EINVAL, cookie=1)
    c.expect("huge offset", "READ", 1 << 63, 512, EINVAL, cookie=2)
    c.expect("write past the end", "WRITE", SIZE, 512, ENOSPC, cookie=3,
             data=b"w" * 512)
    c.expect("zero past the end", "WRITE_ZEROES", SIZE - 4096, 8192, ENOSPC,
             cookie=4)
    c.expect("trim wrapping around", "TRIM", (1 << 64) - 512, 1024, ENOSPC,
             cookie=5)
    c.expect("cache past the end", "CACHE", SIZE, 1, EINVAL, cookie=6)
    data = c.expect("last sector", "READ", SIZE - 512, 512, cookie=7,
                    read_len=512)[2]
    check(len(data) == 512, "last sector")


@case("too-long-requests-are-refused-and-the-payload-dropped")
def _(ctx):
    s, c = ctx.serving()
    c.expect("long read", "READ", 0, MAX_PAYLOAD + 1, EINVAL, cookie=1)
    n = MAX_PAYLOAD + 4096
    c.expect("long write", "WRITE", 0, n, EINVAL, cookie=2,
             data=b"\xee" * n)
    data = c.expect("the dropped payload was written or misparsed", "READ",
                    0, 4096, cookie=3)[2]
    check(data == b"\0" * 4096,
          "the dropped payload was written or misparsed")
    cut_off(ctx, s, c, request_header("WRITE", 0, 0xffffffff, cookie=4),
            "a 4 GiB write was not refused", "too long")


@case("write-to-read-only-export-is-eperm")
def _(ctx):
    s, c = ctx.serving("ro")
    c.expect("write on ro", "WRITE", 0, 4096, EPERM, cookie=1,
             data=b"r" * 4096)
    for i, cmd in enumerate(("TRIM", "WRITE_ZEROES"), 2):
        c.expect(cmd, cmd, 0, 4096, EPERM, cookie=i)
    data = c.expect("the refused payload was misparsed or written", "READ",
                    0, 4096, cookie=9)[2]
    check(data == b"\0" * 4096,
          "the refused payload was misparsed or written")
    c.expect("flush on ro", "FLUSH", cookie=10)
    with open(s.image, "rb") as f:
        check(f.read(4096) == b"\0" * 4096, "ro write reached the file")


@case("error-chunks-say-why")
def _(ctx):
    s, c = ctx.serving("ro")
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
    c.send(request_header(99, cookie=50))
    check(c.read_reply()[:2] == (50, EINVAL) and
          c.message == "unknown command", "unknown: %r" % c.message)
    still_served(ctx, s)


@case("disconnect-mid-request")
def _(ctx):
    s = ctx.server()
    for cut in (10, 28, 28 + 1000):
        c = ctx.raw(s)
        c.go()
        hdr = request_header("WRITE", 0, 65536)
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
            blob += request_header("READ", (i % 12) << 20, 3 << 20, cookie=i)
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
    s, c = ctx.serving()
    blob = b""
    for i in range(8):
        blob += request_header("WRITE", i * 65536, 65536, cookie=100 + i) \
            + bytes([i]) * 65536
    blob += request_header("DISC", cookie=999)
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
    req = request_header("READ", 0, 512) * 16
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
    stuck.s.send(request_header("READ", 0, MAX_PAYLOAD) * 40)
    s.signal(signal.SIGUSR1)
    check(a.closed_by_server(), "client of a removed export kept")
    s.wait_output("removed disk")
    c = ctx.raw(s)
    c.greeting()
    check(c.answer(OPT["GO"], c.info_data("disk")) == REP_ERR_UNKNOWN,
          "removed export")
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
        if c.answer(OPT["INFO"], c.info_data("disk")) == REP_ERR_UNKNOWN:
            break
        check(time.monotonic() < deadline, "export never removed")
        time.sleep(0.02)
    a.expect("old client not served", "READ", 0, 512, cookie=1,
             read_len=512)
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
        c.s.send(request_header("READ", 0, MAX_PAYLOAD) * 20)
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
        c.expect("read %d" % i, "READ", i * 4096, 4096, cookie=i,
                 read_len=4096)
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
