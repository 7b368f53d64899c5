#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The NBD server against real clients nobody here wrote: qemu-img,
qemu-io, nbdinfo, nbdcopy (libnbd-bin, qemu-utils) and libnbd's Python
binding (python3-libnbd, what nbdsh runs), over nbd+unix://."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nbdcase import (  # noqa: E402
    SIZE, case, check, import_nbd, main, nbd_refused, need, run)


@case("nbdinfo-list-shows-both-exports-with-their-flags")
def _(ctx):
    need("nbdinfo")
    s = ctx.server()
    p = run(["nbdinfo", "--list", "--json", s.uri("")])
    exports = {e["export-name"]: e for e in json.loads(p.stdout)["exports"]}
    check(set(exports) == {"disk", "ro"}, "exports: %s" % list(exports))
    d, r = exports["disk"], exports["ro"]
    check(d["description"] == "test disk", "description %r" % d)
    check(d["export-size"] == SIZE and r["export-size"] == SIZE, "sizes")
    check(not d["is_read_only"] and r["is_read_only"], "read-only flags")
    for flag in ("can_flush", "can_fua", "can_multi_conn", "can_cache",
                 "can_df"):
        check(d[flag] and r[flag], "%s not advertised" % flag)
    for flag in ("can_trim", "can_zero", "can_fast_zero"):
        check(d[flag] and not r[flag], "%s wrong" % flag)
    check(d["block_size_minimum"] == 1 and
          d["block_size_preferred"] == 4096 and
          d["block_size_maximum"] == 32 << 20, "block sizes %r" % d)
    check("base:allocation" in d["contexts"], "contexts %r" % d)


@case("max-connections-1-does-not-advertise-multi-conn")
def _(ctx):
    need("nbdinfo")
    s = ctx.server(["--max-connections", "1"])
    p = run(["nbdinfo", "--json", s.uri("disk")])
    e = json.loads(p.stdout)["exports"][0]
    check(not e["can_multi_conn"], "multi-conn advertised with max 1")


@case("qemu-img-info-sees-the-size")
def _(ctx):
    need("qemu-img")
    s = ctx.server()
    p = run(["qemu-img", "info", "--output=json", s.uri()])
    check(json.loads(p.stdout)["virtual-size"] == SIZE, p.stdout)


@case("qemu-io-write-read-zero-discard-flush")
def _(ctx):
    need("qemu-io")
    s = ctx.server(["--discard-unmap"])
    run(["qemu-io", "-f", "raw", "-c", "write -P 0xa5 4096 1M",
         "-c", "write -z 2M 512k", "-c", "discard 3M 1M", "-c", "flush",
         "-c", "write -P 0x11 8M 64k", "-c", "writev -P 0x22 9M 4k 4k",
         s.uri()])
    p = run(["qemu-io", "-f", "raw", "-c", "read -P 0xa5 4096 1M",
             "-c", "read -P 0 2M 512k", "-c", "read -P 0 3M 1M",
             "-c", "read -P 0x11 8M 64k", "-c", "read -P 0x22 9M 8k",
             s.uri()])
    check("Pattern verification failed" not in p.stdout, p.stdout)
    with open(s.image, "rb") as f:
        f.seek(4096)
        check(f.read(1 << 20) == b"\xa5" * (1 << 20), "not on disk")


@case("qemu-io-read-pattern-mismatch-is-detected")
def _(ctx):
    # The previous case relies on qemu-io noticing a wrong pattern.
    need("qemu-io")
    s = ctx.server()
    p = run(["qemu-io", "-f", "raw", "-c", "read -P 0x33 0 4k", s.uri()],
            ok=False)
    check("Pattern verification failed" in p.stdout + p.stderr, p.stdout)


@case("qemu-img-map-and-nbdinfo-map-report-holes-and-data")
def _(ctx):
    need("qemu-img")
    need("nbdinfo")
    img = ctx.image("disk.img", SIZE, [(1 << 20, b"x" * (1 << 20))])
    s = ctx.server(image=img)
    m = json.loads(run(["qemu-img", "map", "--output=json", "-f", "raw",
                        s.uri()]).stdout)
    data = [(e["start"], e["length"]) for e in m if e["data"]]
    check(data == [(1 << 20, 1 << 20)], "qemu-img map: %r" % m)
    check(all(e["zero"] for e in m if not e["data"]), "holes not zero")
    p = run(["nbdinfo", "--map", "--json", s.uri()])
    ext = json.loads(p.stdout)
    check([(e["offset"], e["length"]) for e in ext if e["type"] == 0]
          == [(1 << 20, 1 << 20)], "nbdinfo --map: %r" % ext)
    check(ext[0]["type"] == 3, "the leading hole is not hole|zero: %r" % ext)


@case("nbdcopy-both-directions-and-qemu-img-compare")
def _(ctx):
    need("nbdcopy")
    need("qemu-img")
    s = ctx.server()
    src = ctx.image("src.img", SIZE, [(5 << 20, os.urandom(3 << 20)),
                                      (40 << 20, os.urandom(1 << 20))])
    run(["nbdcopy", src, s.uri()])
    run(["qemu-img", "compare", "-f", "raw", "-F", "raw", src, s.uri()])
    back = ctx.path("back.img")
    run(["nbdcopy", s.uri(), back])
    with open(src, "rb") as a, open(back, "rb") as b:
        check(a.read() == b.read(), "nbdcopy round trip differs")
    p = run(["qemu-img", "compare", "-f", "raw", "-F", "raw", src,
             s.uri("ro")])
    check("identical" in p.stdout, p.stdout)


@case("qemu-img-convert-into-and-out-of-the-export")
def _(ctx):
    need("qemu-img")
    s = ctx.server()
    src = ctx.image("src.img", SIZE, [(123 << 12, os.urandom(77 << 12))])
    run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src,
         s.uri()])
    out = ctx.path("out.qcow2")
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", s.uri(), out])
    run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", src, out])


@case("libnbd-data-written-on-one-connection-read-on-another")
def _(ctx):
    nbd = import_nbd()
    s = ctx.server()
    a, b = nbd.NBD(), nbd.NBD()
    a.connect_uri(s.uri())
    b.connect_uri(s.uri())
    data = os.urandom(1 << 20)
    a.pwrite(data, 7 << 20, nbd.CMD_FLAG_FUA)
    check(b.pread(1 << 20, 7 << 20) == data, "data differs across conns")
    a.flush()
    a.trim(1 << 20, 7 << 20)
    a.zero(4096, 7 << 20, nbd.CMD_FLAG_FAST_ZERO)
    check(b.pread(4096, 7 << 20) == b"\0" * 4096, "zero not seen")
    a.cache(1 << 20, 0)
    a.shutdown()
    b.shutdown()


@case("libnbd-many-requests-in-flight-answered-out-of-order")
def _(ctx):
    nbd = import_nbd()
    s = ctx.server()
    h = s.connect()
    bufs = []
    for i in range(64):
        buf = nbd.Buffer.from_bytearray(bytearray([i]) * 65536)
        bufs.append(buf)
        h.aio_pwrite(buf, i * 65536)
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for i in range(64):
        check(h.pread(65536, i * 65536) == bytes([i]) * 65536,
              "block %d" % i)
    h.shutdown()


@case("libnbd-256-reads-queued-while-the-client-does-not-read")
def _(ctx):
    # Many replies in flight at once, of every shape (simple-sized data,
    # hole and data chunks of one read, DF), completing out of order (the
    # sizes differ), while the client reads nothing: the server's reply
    # queue fills the socket, waits for room, sends what is left in
    # batches, and every reply must come whole and right.
    nbd = import_nbd()
    img = ctx.path("disk.img")
    image = bytearray(SIZE)
    with open(img, "wb") as f:
        f.truncate(SIZE)
        for i in range(0, 32):  # data in every other 512k, holes between
            blob = os.urandom(256 << 10)
            f.seek(i << 20)
            f.write(blob)
            image[i << 20:(i << 20) + len(blob)] = blob
    s = ctx.server(image=img)
    h = nbd.NBD()
    h.connect_uri(s.uri())
    sizes = (4096, 1 << 20, 512, 300 << 10, 65536, 7, 2 << 20)
    reqs = []
    for i in range(256):
        size = sizes[i % len(sizes)]
        off = (i * 131072 + (i % 5) * 4096) % ((32 << 20) - size)
        buf = nbd.Buffer(size)
        if i % 3 == 0:
            h.aio_pread_structured(buf, off, lambda *a: 0,
                                   flags=nbd.CMD_FLAG_DF)
        else:
            h.aio_pread(buf, off)
        reqs.append((buf, off, size))
    # Not reading: what the server sends piles up in the socket.  (A wait,
    # not a timing assertion: the case checks the same whatever happened
    # meanwhile.)
    time.sleep(0.5)
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for i, (buf, off, size) in enumerate(reqs):
        check(buf.to_bytearray() == image[off:off + size],
              "read %d (%d bytes at %d) differs" % (i, size, off))
    check(h.pread(4096, 1 << 20) == image[1 << 20:(1 << 20) + 4096],
          "the connection is not usable after the burst")
    h.shutdown()


@case("libnbd-block-status-base-allocation")
def _(ctx):
    nbd = import_nbd()
    img = ctx.image("disk.img", SIZE, [(2 << 20, b"y" * 4096)])
    s = ctx.server(image=img)
    h = nbd.NBD()
    h.add_meta_context("base:allocation")
    h.connect_uri(s.uri())
    check(h.can_meta_context("base:allocation"), "context not negotiated")
    seen = []

    def cb(metacontext, offset, entries, err):
        seen.append((metacontext, offset, list(entries)))
        return 0
    h.block_status(4 << 20, 0, cb)
    check(seen and seen[0][0] == "base:allocation", "%r" % seen)
    ents = seen[0][2]
    check(ents[0] == 2 << 20 and ents[1] == 3, "first extent %r" % ents)
    check(ents[3] == 0, "the data extent is not data: %r" % ents)
    seen.clear()
    h.block_status(4 << 20, 0, cb, nbd.CMD_FLAG_REQ_ONE)
    check(len(seen[0][2]) == 2, "REQ_ONE gave %r" % seen)
    h.shutdown()


def read_chunks(h, nbd, count, offset, flags=0):
    """A structured read: its data and its chunks, (status, offset, count)
    in the order they came."""
    chunks = []

    def chunk(subbuf, off, status, err):
        chunks.append((status, off, len(subbuf)))
        return 0
    data = h.pread_structured(count, offset, chunk, flags)
    return data, chunks


@case("libnbd-structured-read-answers-holes-with-hole-chunks")
def _(ctx):
    nbd = import_nbd()
    body = os.urandom(1 << 20)
    img = ctx.image("disk.img", SIZE, [(1 << 20, body)])
    s = ctx.server(image=img)
    h = s.connect()
    check(h.get_structured_replies_negotiated(), "no structured replies")
    hole, data = nbd.READ_HOLE, nbd.READ_DATA
    got, chunks = read_chunks(h, nbd, 4 << 20, 0)
    check(got == b"\0" * (1 << 20) + body + b"\0" * (2 << 20),
          "the sparse read's bytes differ")
    check(chunks == [(hole, 0, 1 << 20), (data, 1 << 20, 1 << 20),
                     (hole, 2 << 20, 2 << 20)], "chunks %r" % chunks)
    # All hole: one hole chunk, nothing read.
    got, chunks = read_chunks(h, nbd, 64 << 10, 8 << 20)
    check(got == b"\0" * (64 << 10) and chunks == [(hole, 8 << 20, 64 << 10)],
          "all-hole read: %r" % chunks)
    # All data, unaligned: one data chunk.
    got, chunks = read_chunks(h, nbd, 1000, (1 << 20) + 7)
    check(got == body[7:1007] and chunks == [(data, (1 << 20) + 7, 1000)],
          "all-data read: %r" % chunks)
    # DF ("don't fragment"): one content chunk, the zeroes in the data.
    got, chunks = read_chunks(h, nbd, 4 << 20, 0, nbd.CMD_FLAG_DF)
    check(got[(1 << 20):(2 << 20)] == body and chunks == [(data, 0, 4 << 20)],
          "DF read: %r" % chunks)
    h.shutdown()
    # Clients that read through holes still see the same image.
    need("qemu-img")
    p = run(["qemu-img", "compare", "-f", "raw", "-F", "raw", img, s.uri()])
    check("identical" in p.stdout, p.stdout)
    # ... and a difference inside a hole is still found.
    other = ctx.path("other.img")
    with open(img, "rb") as a, open(other, "wb") as b:
        b.write(a.read())
        b.seek(3 << 20)
        b.write(b"\1")
    p = run(["qemu-img", "compare", "-f", "raw", "-F", "raw", other,
             s.uri()], ok=False)
    check(p.returncode == 1 and "mismatch at offset 3145728" in p.stdout,
          p.stdout)


@case("libnbd-option-mode-list-info-meta-abort")
def _(ctx):
    nbd = import_nbd()
    s = ctx.server()
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.connect_uri(s.uri(""))
    names = []
    h.opt_list(lambda name, desc: names.append((name, desc)) or 0)
    check(sorted(names) == [("disk", "test disk"), ("ro", "")],
          "list: %r" % names)
    h.set_export_name("ro")
    h.opt_info()
    check(h.get_size() == SIZE and h.is_read_only(), "info")
    ctxs = []
    h.set_export_name("disk")
    n = h.opt_list_meta_context(lambda name: ctxs.append(name) or 0)
    check(n == 1 and ctxs == ["base:allocation"], "meta: %r" % ctxs)
    h.set_export_name("nosuch")
    nbd_refused(nbd, "INFO of an unknown export succeeded", h.opt_info)
    h.opt_abort()
    check(h.aio_is_closed() or h.aio_is_dead(), "not closed after ABORT")


@case("libnbd-simple-replies-without-structured-replies")
def _(ctx):
    nbd = import_nbd()
    s = ctx.server()
    h = nbd.NBD()
    # Without structured replies: simple replies to reads and writes.
    h.set_request_structured_replies(False)
    h.set_handshake_flags(nbd.HANDSHAKE_FLAG_FIXED_NEWSTYLE)
    h.set_opt_mode(False)
    h.connect_uri(s.uri())
    h.pwrite(b"z" * 4096, 0)
    check(h.pread(4096, 0) == b"z" * 4096, "simple read")
    h.shutdown()


@case("export-on-the-main-context-serves-too")
def _(ctx):
    import_nbd()                # skip early without python3-libnbd
    s = ctx.server(["--main-export"])
    h = s.connect("main")
    h.pwrite(b"m" * 8192, 4096)
    check(h.pread(8192, 4096) == b"m" * 8192, "main export")
    h.shutdown()


@case("tcp-listener-serves-qemu-io-and-libnbd")
def _(ctx):
    need("qemu-io")
    import_nbd()                # skip early without python3-libnbd
    s = ctx.server(["--tcp"])
    check(s.uri().startswith("nbd://127.0.0.1:"), s.uri())
    run(["qemu-io", "-f", "raw", "-c", "write -P 0x5a 1M 256k", s.uri()])
    h = s.connect()
    check(h.pread(256 << 10, 1 << 20) == b"\x5a" * (256 << 10), "tcp read")
    h.shutdown()


if __name__ == "__main__":
    sys.exit(main())
