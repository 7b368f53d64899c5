#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""iothreadd as qemu-storage-daemon (issue 14): exports served by the
daemon to NBD clients nobody here wrote (nbdinfo, qemu-img, qemu-io,
nbdcopy, fio, libnbd), export deletion with clients connected, FUA across
kill -9, and many connections on an iothread leaving nothing behind.
The protocol corner cases are tests/nbd/'s.

Run from the repository root:  python3 tests/daemon/test_nbd_export.py
Output as the other suites.
"""

import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import (  # noqa: E402
    TestFailure, brief, check, expect_error, expect_return, fd_count,
    rss_kib, scaled, user_tasks, wait_for)
from casekit import (  # noqa: E402
    ExportSetup as Setup, Skip, case, import_nbd, main, nbd_refused, need,
    sanitized_build)

SIZE = 64 << 20


def run(argv, input=None):
    p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=scaled(60))
    if p.returncode != 0:
        raise TestFailure("%s: status %d: %s" % (
            " ".join(argv), p.returncode,
            (p.stderr or p.stdout).decode(errors="replace")[-400:]))
    return p.stdout.decode(errors="replace")


@case("qsd-command-line-survives-nbdinfo-on-an-iothread")
def t_qsd_line(ctx):
    need("nbdinfo")
    s = Setup(ctx)
    # The case that aborts qemu-storage-daemon 7.2: the first client of an
    # export on an iothread disconnects.
    for _ in range(3):
        out = run(["nbdinfo", s.uri()])
        check("export-size: %d" % SIZE in out, "nbdinfo: %s" % out)
    out = run(["nbdinfo", "--list", "nbd+unix:///?socket=%s" % s.nbd_sock])
    check("export=\"f0\"" in out or "export=" in out and "f0" in out,
          "nbdinfo --list: %s" % out)
    check(s.d.running(), "the daemon died")
    check(wait_for(lambda: s.export()["clients"] == 0),
          "clients still counted: %s" % brief(s.export()))


@case("export-without-iothread-runs-in-the-main-loop")
def t_main_loop(ctx):
    nbd = import_nbd()
    s = Setup(ctx, export_opts="")
    check("iothread" not in s.export(), "export %s" % brief(s.export()))
    threads = len(user_tasks(s.d.pid))
    h = s.connect()
    h.pwrite(b"m" * 4096, 4096, nbd.CMD_FLAG_FUA)
    check(h.pread(4096, 4096) == b"m" * 4096, "read back")
    check(len(user_tasks(s.d.pid)) <= threads + 1,
          "serving made threads: %d -> %d" % (threads,
                                               len(user_tasks(s.d.pid))))
    h.shutdown()
    # nothing holds io0: it can go while the export stays
    s.c.cmd_ok("object-del", {"id": "io0"})
    check(s.export()["id"] == "e0", "the export went with the iothread")


@case("qemu-io-qemu-img-nbdinfo-map-nbdcopy")
def t_real_clients(ctx):
    need("qemu-io", "qemu-img", "nbdinfo", "nbdcopy")
    s = Setup(ctx)
    uri = s.uri()
    run(["qemu-io", "-f", "raw", "-c", "write -P 0xab 1M 1M", "-c",
         "flush", uri])
    run(["qemu-io", "-f", "raw", "-c", "read -P 0xab 1M 1M", uri])
    run(["qemu-io", "-f", "raw", "-c", "write -z 1M 64k", "-c",
         "read -P 0 1M 64k", "-c", "discard 2M 64k", "-c", "flush", uri])
    with open(s.img, "rb") as f:
        f.seek((1 << 20) + (64 << 10))
        check(f.read(4096) == b"\xab" * 4096, "the write is not in the file")
    info = run(["qemu-img", "info", "-f", "raw", uri])
    check("virtual size: 64 MiB" in info, "qemu-img info: %s" % info)
    m = run(["qemu-img", "map", "-f", "raw", "--output=json", uri])
    check('"data": true' in m, "qemu-img map shows no data: %s" % m)
    m = run(["nbdinfo", "--map", uri])
    check("data" in m and "hole" in m, "nbdinfo --map: %s" % m)
    # nbdcopy both directions (it skips the holes block status shows),
    # then compare
    local = ctx.path("copy.img")
    run(["nbdcopy", uri, local])
    run(["qemu-img", "compare", "-f", "raw", "-F", "raw", s.img, local])
    with open(local, "r+b") as f:
        f.seek(5 << 20)
        f.write(b"\x5a" * 65536)
    run(["nbdcopy", local, uri])
    run(["qemu-img", "compare", "-f", "raw", "-F", "raw", local, uri])
    conv = ctx.path("conv.qcow2")
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", uri, conv])
    run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", s.img, conv])
    stats = expect_return(s.c.cmd("query-blockstats"))
    node = [x for x in stats if "export" not in x][0]["stats"]
    exp = [x for x in stats if x.get("export") == "e0"][0]["stats"]
    for st, what in ((node, "node"), (exp, "export")):
        check(st["wr_bytes"] >= (1 << 20) + 65536 and
              st["rd_bytes"] >= 1 << 20 and st["flush_operations"] >= 1,
              "%s stats %s" % (what, brief(st)))


@case("libnbd-data-across-connections")
def t_two_connections(ctx):
    nbd = import_nbd()
    s = Setup(ctx)
    a, b = nbd.NBD(), nbd.NBD()
    a.connect_uri(s.uri())
    b.connect_uri(s.uri())
    check(wait_for(lambda: s.export()["clients"] == 2),
          "query-block-exports clients: %s" % brief(s.export()))
    data = os.urandom(1 << 20)
    a.pwrite(data, 3 << 20, nbd.CMD_FLAG_FUA)
    check(b.pread(1 << 20, 3 << 20) == data, "data differs across conns")
    a.shutdown()
    b.shutdown()


@case("export-del-safe-refuses-hard-disconnects")
def t_safe_hard(ctx):
    nbd = import_nbd()
    s = Setup(ctx)
    h = s.connect()
    h.pwrite(b"x" * 4096, 0)
    expect_error(s.c.cmd("block-export-del", {"id": "e0"}), "GenericError",
                 "export 'e0' still in use")
    expect_error(s.c.cmd("block-export-del", {"id": "e0", "mode": "safe"}),
                 "GenericError", "export 'e0' still in use")
    check(h.pread(4096, 0) == b"x" * 4096, "the client lost its export")
    expect_error(s.c.cmd("object-del", {"id": "io0"}), "GenericError",
                 "IOThread 'io0' is in use by 'block export e0'")
    s.c.cmd_ok("block-export-del", {"id": "e0", "mode": "hard"})
    ev = s.c.wait_event("BLOCK_EXPORT_DELETED")
    check(ev["data"] == {"id": "e0"}, "event %s" % brief(ev))
    nbd_refused(nbd, "the client still reads after mode=hard", h.pread,
                4096, 0)
    check(s.export() is None, "export still listed")
    s.c.cmd_ok("object-del", {"id": "io0"})
    s.c.cmd_ok("blockdev-del", {"node-name": "f0"})


@case("export-del-safe-waits-for-nobody-then-a-new-client-is-refused")
def t_safe_after_leave(ctx):
    nbd = import_nbd()
    s = Setup(ctx)
    h = s.connect()
    h.shutdown()
    check(wait_for(lambda: s.export()["clients"] == 0), "client counted")
    s.c.cmd_ok("block-export-del", {"id": "e0"})
    s.c.wait_event("BLOCK_EXPORT_DELETED")
    nbd_refused(nbd, "connected to a deleted export", nbd.NBD().connect_uri,
                s.uri())


@case("nbd-server-stop-with-a-client-connected")
def t_stop_connected(ctx):
    nbd = import_nbd()
    s = Setup(ctx)
    h = s.connect()
    s.c.cmd_ok("nbd-server-stop")
    s.c.wait_event("BLOCK_EXPORT_DELETED")
    check(not os.path.exists(s.nbd_sock), "socket file left")
    nbd_refused(nbd, "still served after nbd-server-stop", h.pread, 512, 0)
    s.c.cmd_ok("object-del", {"id": "io0"})


@case("fua-write-survives-kill-9-and-restart")
def t_fua_kill(ctx):
    nbd = import_nbd()
    s = Setup(ctx)
    h = s.connect()
    data = os.urandom(65536)
    h.pwrite(data, 9 << 20, nbd.CMD_FLAG_FUA)
    s.d.expect_status = -signal.SIGKILL
    s.d.signal(signal.SIGKILL)
    s.d.wait()
    del h
    s2 = Setup(ctx, name="restarted", create=False)
    h2 = s2.connect()
    check(h2.pread(65536, 9 << 20) == data, "the FUA write was lost")
    h2.shutdown()


@case("reload-keeps-an-export-with-a-client")
def t_reload_client(ctx):
    import json
    nbd = import_nbd()
    img = ctx.image("disk.img", SIZE)
    sock = ctx.path("nbd.sock")
    full = {"blockdevs": [{"driver": "file", "node-name": "f0",
                           "filename": img}],
            "nbd-server": {"addr": {"type": "unix", "path": sock}},
            "exports": [{"type": "nbd", "id": "e0", "node-name": "f0"}]}
    cfg = ctx.write("cfg.json", json.dumps(full))
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    h = nbd.NBD()
    h.connect_uri("nbd+unix:///f0?socket=%s" % sock)
    ctx.write("cfg.json", json.dumps(dict(full, exports=[])))
    expect_error(c.cmd("reload"), "GenericError", "export 'e0' still in use")
    check(h.pread(512, 0) == b"\0" * 512, "the client lost its export")
    h.shutdown()
    check(wait_for(lambda: expect_return(c.cmd("query-block-exports"))[0]
                   ["clients"] == 0), "client still counted")
    c.cmd_ok("reload")
    c.wait_event("BLOCK_EXPORT_DELETED")


@case("connect-disconnect-cycles-on-an-iothread-leave-nothing")
def t_cycles(ctx):
    import_nbd()                # skip early without python3-libnbd
    # ASan keeps freed memory in quarantine (up to 256 MiB), which is RSS
    # that no leak made: without it, freed memory is reused at once.
    asan = os.environ.get("ASAN_OPTIONS", "")
    s = Setup(ctx, env={"ASAN_OPTIONS": asan + (":" if asan else "") +
                        "quarantine_size_mb=0"})
    pid = s.d.pid
    sanitized = sanitized_build()
    cycles = 200 if sanitized else 1000

    def cycle(n):
        for _ in range(n):
            h = s.connect()
            h.pread(4096, 0)
            h.shutdown()
            del h

    # Warm up: allocator arenas, the thread pool; a sanitizer's allocator
    # and shadow memory grow for the first few hundred cycles (measured:
    # ~8 MiB, then ~1 KiB a cycle, which is no leak: LeakSanitizer finds
    # none at exit).
    cycle(cycles if sanitized else 20)
    check(wait_for(lambda: s.export()["clients"] == 0), "clients left")
    fds, threads, rss = fd_count(pid), len(user_tasks(pid)), rss_kib(pid)
    cycle(cycles)
    check(wait_for(lambda: s.export()["clients"] == 0),
          "clients left: %s" % brief(s.export()))
    check(wait_for(lambda: fd_count(pid) == fds),
          "fds %d after %d cycles, %d before" % (fd_count(pid), cycles, fds))
    check(wait_for(lambda: len(user_tasks(pid)) <= threads),
          "threads %d, before %d" % (len(user_tasks(pid)), threads))
    grown = rss_kib(pid) - rss
    check(grown < 4096, "RSS grew by %d KiB over %d cycles" % (grown, cycles))
    check(s.d.running(), "the daemon died")


@case("fio-nbd-engine-smoke")
def t_fio(ctx):
    need("fio")
    if "nbd" not in run(["fio", "--enghelp"]):
        raise Skip("this fio has no nbd engine")
    s = Setup(ctx)
    out = run(["fio", "--name=smoke", "--ioengine=nbd", "--uri=" + s.uri(),
               "--rw=randrw", "--bs=4k", "--iodepth=8", "--size=8M",
               "--io_size=4M", "--verify=crc32c", "--verify_state_save=0",
               "--output-format=terse"])
    check(out.strip(), "fio printed nothing")
    st = [x for x in expect_return(s.c.cmd("query-blockstats"))
          if x.get("export") == "e0"][0]["stats"]
    check(st["wr_operations"] > 0 and st["rd_operations"] > 0,
          "fio's I/O not counted: %s" % brief(st))


if __name__ == "__main__":
    sys.exit(main())
