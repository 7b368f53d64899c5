#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Moving an NBD export between iothreads at runtime (issue 15 §1):
block-export-set-iothread and x-blockdev-set-iothread while libnbd
clients do verified reads and writes, the refusals and their texts, moves
without clients, to the main loop and back, and the old iothread being
free to go afterwards.

Run from the repository root:  python3 tests/daemon/test_export_move.py
Output as the other suites.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import (  # noqa: E402
    TestFailure, brief, check, expect_error, expect_return, scaled,
    wait_for)
from casekit import (  # noqa: E402
    ExportSetup, Skip, case, complete, ctl, import_nbd, main,
    sanitized_build as sanitized)

SIZE = 64 << 20
BS = 4096

# One connection of load: QD requests in flight, reads and writes of 4 KiB
# blocks of its own range, each block written with a pattern naming the
# block and its generation, each read checked against the last write that
# completed (a block has at most one request in flight, so the answer is
# exact).  Runs until the stop file exists, then reads the whole range
# back, and prints its counts as JSON.
LOAD = r"""
import json, os, random, struct, sys
sys.path.append("/usr/lib/python3/dist-packages")
import nbd

uri, first, nblocks, qd, stop = (sys.argv[1], int(sys.argv[2]),
                                 int(sys.argv[3]), int(sys.argv[4]),
                                 sys.argv[5])
BS = 4096
rng = random.Random(first)


def pattern(b, g):
    return struct.pack("<QQ", b, g) * (BS // 16) if g else bytes(BS)


h = nbd.NBD()
h.connect_uri(uri)
gen = {}
busy = set()
inflight = {}
res = {"ops": 0, "reads": 0, "writes": 0, "errors": 0, "mismatches": 0,
       "verified": 0, "first_error": ""}
stopping = False
while not stopping or inflight:
    stopping = stopping or os.path.exists(stop)
    while not stopping and len(inflight) < qd:
        b = first + rng.randrange(nblocks)
        if b in busy:
            continue
        busy.add(b)
        if rng.random() < 0.5:
            g = gen.get(b, 0) + 1
            c = h.aio_pwrite(pattern(b, g), b * BS)
            inflight[c] = ("w", b, g)
        else:
            buf = nbd.Buffer(BS)
            c = h.aio_pread(buf, b * BS)
            inflight[c] = ("r", b, buf)
    h.poll(-1)
    while inflight:
        c = h.aio_peek_command_completed()
        if not c:
            break
        kind, b, x = inflight.pop(c)
        busy.discard(b)
        try:
            h.aio_command_completed(c)
        except nbd.Error as e:
            res["errors"] += 1
            res["first_error"] = res["first_error"] or str(e)
            continue
        res["ops"] += 1
        if kind == "w":
            res["writes"] += 1
            gen[b] = x
        else:
            res["reads"] += 1
            if x.to_bytearray() == pattern(b, gen.get(b, 0)):
                res["verified"] += 1
            else:
                res["mismatches"] += 1
for b in range(first, first + nblocks):
    if h.pread(BS, b * BS) == pattern(b, gen.get(b, 0)):
        res["verified"] += 1
    else:
        res["mismatches"] += 1
h.shutdown()
print(json.dumps(res))
"""


def python_with_nbd():
    """python3-libnbd, installed for Debian's own python3."""
    for exe in (sys.executable, "/usr/bin/python3"):
        if subprocess.run([exe, "-c", "import sys; sys.path.append("
                           "'/usr/lib/python3/dist-packages'); import nbd"],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            return exe
    raise Skip("python3-libnbd is not installed")


class Setup(ExportSetup):
    """Two iothreads, a node, an NBD server and export e0 on io0, with a
    state file."""

    def __init__(self, ctx, extra=()):
        self.state = ctx.path("state.json")
        super().__init__(ctx, SIZE, iothreads=("io0", "io1"),
                         before=["--state-file", self.state], extra=extra)

    def iothread_of(self, id="e0"):
        return self.export(id).get("iothread")

    def move(self, iothread, id="e0"):
        self.c.cmd_ok("block-export-set-iothread",
                      {"id": id, "iothread": iothread})

    def export_ops(self, id="e0"):
        for s in expect_return(self.c.cmd("query-blockstats")):
            if s.get("export") == id:
                st = s["stats"]
                return st["rd_operations"] + st["wr_operations"]
        raise TestFailure("no stats for export %s" % id)


class Load:
    """NCONN load processes, each its own connection and block range."""

    def __init__(self, ctx, s, nconn=2, qd=8, nblocks=512):
        exe = python_with_nbd()
        self.stop = ctx.path("stop-load")
        self.procs = [subprocess.Popen(
            [exe, "-c", LOAD, s.uri(), str(k * nblocks), str(nblocks),
             str(qd), self.stop],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for k in range(nconn)]

    def finish(self):
        with open(self.stop, "w"):
            pass
        total = {}
        for p in self.procs:
            out, err = p.communicate(timeout=scaled(120))
            if p.returncode != 0:
                raise TestFailure("load: status %d: %s" % (
                    p.returncode, err.decode(errors="replace")[-600:]))
            res = json.loads(out)
            for k, v in res.items():
                if isinstance(v, int):
                    total[k] = total.get(k, 0) + v
                elif v and not total.get(k):
                    total[k] = v
        return total

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def moves_under_load(s, rounds, targets, move):
    """@rounds times, @move(target) e0 to each of @targets in turn, each
    move with I/O running (the export's counters moved since the previous
    one) and landing where asked; then once more to io1: nothing of the
    export is left on io0, so io0 can go while the clients go on."""
    for i in range(rounds):
        for target in targets:
            ops = s.export_ops()
            check(wait_for(lambda: s.export_ops() > ops),
                  "no I/O before move %d to %s" % (i, target))
            move(target)
            check(s.iothread_of() == target,
                  "after move %d: %s" % (i, brief(s.export())))
    move("io1")
    s.c.cmd_ok("object-del", {"id": "io0"})
    ops = s.export_ops()
    check(wait_for(lambda: s.export_ops() > ops),
          "no I/O after io0 was deleted")


@case("moves-back-and-forth-under-verified-load-then-the-old-iothread-goes")
def t_under_load(ctx):
    s = Setup(ctx)
    load = Load(ctx, s)
    rounds = 20 if sanitized() else 100
    try:
        check(wait_for(lambda: s.export()["clients"] == 2),
              "clients: %s" % brief(s.export()))
        moves_under_load(s, rounds, ("io1", "io0"), s.move)
        res = load.finish()
    finally:
        load.kill()
    check(res["errors"] == 0, "%d requests failed, the first: %s" % (
        res["errors"], res.get("first_error")))
    check(res["mismatches"] == 0, "%d reads returned wrong data (%s)" % (
        res["mismatches"], brief(res)))
    check(res["reads"] > 0 and res["writes"] > 0 and res["verified"] > 0,
          "load %s" % brief(res))
    check(s.export()["iothread"] == "io1", "export %s" % brief(s.export()))
    expect_error(s.c.cmd("object-del", {"id": "io1"}), "GenericError",
                 "IOThread 'io1' is in use by 'block export e0'")
    check(s.d.running(), "the daemon died")


@case("x-blockdev-set-iothread-moves-the-node-exports-under-load")
def t_node_under_load(ctx):
    s = Setup(ctx)
    load = Load(ctx, s, nconn=1)
    rounds = 5 if sanitized() else 20
    try:
        moves_under_load(s, rounds, ("io1", None, "io0"), lambda target:
                         s.c.cmd_ok("x-blockdev-set-iothread",
                                    {"node-name": "f0", "iothread": target,
                                     "force": True}))
        res = load.finish()
    finally:
        load.kill()
    check(res["errors"] == 0 and res["mismatches"] == 0 and
          res["verified"] > 0, "load %s" % brief(res))


@case("move-without-clients-then-a-client-lands-on-the-new-iothread")
def t_no_clients(ctx):
    import_nbd()                # skip early without python3-libnbd
    s = Setup(ctx)
    s.move("io1")
    check(s.iothread_of() == "io1", "export %s" % brief(s.export()))
    # io0 holds nothing now
    s.c.cmd_ok("object-del", {"id": "io0"})
    h = s.connect()
    h.pwrite(b"n" * BS, 0)
    check(h.pread(BS, 0) == b"n" * BS, "read back")
    expect_error(s.c.cmd("object-del", {"id": "io1"}), "GenericError",
                 "IOThread 'io1' is in use by 'block export e0'")
    h.shutdown()
    # Moving to where it is: nothing to do, answered all the same.
    s.move("io1")
    check(s.iothread_of() == "io1", "export %s" % brief(s.export()))


@case("to-the-main-loop-and-back-with-a-client")
def t_main_loop(ctx):
    import_nbd()                # skip early without python3-libnbd
    s = Setup(ctx)
    h = s.connect()
    h.pwrite(b"a" * BS, 0)
    s.move(None)
    check("iothread" not in s.export(), "export %s" % brief(s.export()))
    s.c.cmd_ok("object-del", {"id": "io0"})
    check(h.pread(BS, 0) == b"a" * BS, "read on the main loop")
    h.pwrite(b"b" * BS, BS)
    s.move("io1")
    check(s.iothread_of() == "io1", "export %s" % brief(s.export()))
    check(h.pread(2 * BS, 0) == b"a" * BS + b"b" * BS, "read on io1")
    check(s.export()["clients"] == 1, "export %s" % brief(s.export()))
    h.shutdown()


@case("the-state-file-and-a-restart-keep-the-new-iothread")
def t_state(ctx):
    img = ctx.image("disk.img", SIZE)
    state = ctx.path("state.json")
    d = ctx.daemon(["--state-file", state])
    c = d.client()
    for io in ("io0", "io1"):
        c.cmd_ok("object-add", {"qom-type": "iothread", "id": io})
    c.cmd_ok("blockdev-add", {"driver": "file", "node-name": "f0",
                              "filename": img})
    c.cmd_ok("nbd-server-start", {"addr": {"type": "unix", "data": {
        "path": ctx.path("nbd.sock")}}})
    c.cmd_ok("block-export-add", {"type": "nbd", "id": "e0",
                                  "node-name": "f0", "iothread": "io0"})
    c.cmd_ok("block-export-set-iothread", {"id": "e0", "iothread": "io1"})
    with open(state) as f:
        saved = json.load(f)
    check([e.get("iothread") for e in saved["exports"]] == ["io1"],
          "state file: %s" % brief(saved))
    c.cmd_ok("block-export-set-iothread", {"id": "e0", "iothread": None})
    with open(state) as f:
        saved = json.load(f)
    check([e.get("iothread") for e in saved["exports"]] == [None],
          "state file: %s" % brief(saved))
    c.cmd_ok("block-export-set-iothread", {"id": "e0", "iothread": "io1"})
    d.stop()
    d2 = ctx.daemon(["--state-file", state], name="restarted")
    exports = expect_return(d2.client().cmd("query-block-exports"))
    check(len(exports) == 1 and exports[0].get("iothread") == "io1",
          "after restart: %s" % brief(exports))


@case("refusals-name-the-reason-and-change-nothing")
def t_refusals(ctx):
    s = Setup(ctx, extra=["--export", "type=nbd,id=e1,node-name=f0,name=pin,"
                          "iothread=io0,fixed-iothread=on"])
    refuse = [
        ("block-export-set-iothread", {"id": "e1", "iothread": "io1"},
         "Cannot change iothread of active block backend: export 'e1' was "
         "added with fixed-iothread=on"),
        ("block-export-set-iothread", {"id": "e0", "iothread": "nope"},
         'iothread "nope" not found'),
        ("block-export-set-iothread", {"id": "zz", "iothread": "io1"},
         "Export 'zz' is not found"),
        ("block-export-set-iothread", {"id": "e0", "iothread": 5},
         "Invalid parameter type for 'iothread', expected: StrOrNull"),
        ("block-export-set-iothread", {"id": "e0"},
         "Parameter 'iothread' is missing"),
        ("x-blockdev-set-iothread", {"node-name": "f0", "iothread": "io1"},
         "Node f0 is associated with a BlockBackend and could be in use "
         "(use force=true to override this check)"),
        ("x-blockdev-set-iothread", {"node-name": "f0", "iothread": "nope",
                                     "force": True},
         "Cannot find iothread nope"),
        ("x-blockdev-set-iothread", {"node-name": "zz", "iothread": "io1"},
         "Failed to find node with node-name='zz'"),
        # the node is shared with e1, pinned to io0: e0 does not move either
        ("x-blockdev-set-iothread", {"node-name": "f0", "iothread": "io1",
                                     "force": True},
         "Cannot change iothread of active block backend: export 'e1' was "
         "added with fixed-iothread=on"),
    ]
    for cmd, args, text in refuse:
        expect_error(s.c.cmd(cmd, args), "GenericError", text,
                     what="%s %s" % (cmd, args))
        check(s.iothread_of("e0") == "io0" and s.iothread_of("e1") == "io0",
              "%s %s changed %s" % (cmd, args, brief(
                  expect_return(s.c.cmd("query-block-exports")))))
    # Where the pinned export already is: allowed, nothing moves.
    s.c.cmd_ok("x-blockdev-set-iothread",
               {"node-name": "f0", "iothread": "io0", "force": True})
    # e0 alone may move; e1 stays.
    s.move("io1")
    check(s.iothread_of("e0") == "io1" and s.iothread_of("e1") == "io0",
          "exports %s" % brief(expect_return(s.c.cmd("query-block-exports"))))
    # A node without exports: nothing to move.
    s.c.cmd_ok("blockdev-add", {"driver": "file", "node-name": "f1",
                                "filename": s.img, "read-only": True})
    s.c.cmd_ok("x-blockdev-set-iothread",
               {"node-name": "f1", "iothread": "io1"})


@case("export-removed-during-a-move-under-load")
def t_remove_during_move(ctx):
    s = Setup(ctx)
    load = Load(ctx, s, nconn=2)
    try:
        check(wait_for(lambda: s.export()["clients"] == 2),
              "clients: %s" % brief(s.export()))
        # Both on one QMP connection, the second sent before the first is
        # answered: the removal arrives while the move runs.
        s.c.send({"execute": "block-export-set-iothread",
                  "arguments": {"id": "e0", "iothread": "io1"}, "id": 1})
        s.c.send({"execute": "block-export-del",
                  "arguments": {"id": "e0", "mode": "hard"}, "id": 2})
        for want in (1, 2):
            r = s.c.recv_reply()
            check(r.get("id") == want and "return" in r,
                  "reply %d: %s" % (want, brief(r)))
        s.c.wait_event("BLOCK_EXPORT_DELETED")
    finally:
        load.kill()
    s.c.cmd_ok("object-del", {"id": "io0"})
    s.c.cmd_ok("object-del", {"id": "io1"})
    check(s.d.running(), "the daemon died")


@case("a-second-move-is-refused-while-a-client-holds-the-first")
def t_busy(ctx):
    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "nbd"))
    from nbdcase import RawClient
    s = Setup(ctx)
    raw = RawClient(s.nbd_sock)
    raw.go("f0")
    # Half a write: the move waits for the rest of it (the request was
    # started), so it cannot finish before the payload is sent.
    raw.request("WRITE", offset=0, length=BS, cookie=7, data=b"w" * (BS // 2))
    check(wait_for(lambda: s.export()["clients"] == 1), "client not counted")
    s.c.send({"execute": "block-export-set-iothread",
              "arguments": {"id": "e0", "iothread": "io1"}, "id": "move"})
    c2 = s.d.client()
    busy = "Export 'e0' is already being moved to another iothread"
    expect_error(c2.cmd("block-export-set-iothread",
                        {"id": "e0", "iothread": None}), "GenericError", busy)
    expect_error(c2.cmd("x-blockdev-set-iothread",
                        {"node-name": "f0", "iothread": None,
                         "force": True}), "GenericError", busy)
    # The old iothread is still held while the move waits.
    expect_error(c2.cmd("object-del", {"id": "io0"}), "GenericError",
                 "IOThread 'io0' is in use by 'block export e0'")
    raw.send(b"w" * (BS // 2))
    cookie, err, _ = raw.read_reply()
    check(cookie == 7 and err == 0, "write: cookie %d error %d"
          % (cookie, err))
    r = s.c.recv_reply()
    check(r.get("id") == "move" and "return" in r, "move: %s" % brief(r))
    check(s.iothread_of() == "io1", "export %s" % brief(s.export()))
    c2.cmd_ok("object-del", {"id": "io0"})
    raw.request("READ", offset=0, length=BS, cookie=8)
    cookie, err, data = raw.read_reply(BS)
    check(cookie == 8 and err == 0 and data == b"w" * BS,
          "read on io1: cookie %d error %d" % (cookie, err))
    raw.request("DISC")
    raw.close()


@case("iothreadctl-export-move-and-its-completion")
def t_ctl(ctx):
    s = Setup(ctx)
    for args, code, out_or_err in (
            (["export", "move", "e0", "io1"], 0, ""),
            (["export", "move", "e0", "-"], 0, ""),
            (["export", "move", "e0", "nope"], 1,
             'error: iothread "nope" not found'),
            (["export", "move", "zz", "io0"], 1,
             "error: Export 'zz' is not found"),
            (["export", "move", "e0"], 2, "error: usage: iothreadctl export")):
        st, out, errout = ctl(s.d.sock, *args)
        check(st == code and errout.startswith(out_or_err),
              "iothreadctl %s: %d %r" % (" ".join(args), st, errout))
    check("iothread" not in s.export(), "export %s" % brief(s.export()))
    st, out, errout = ctl(s.d.sock, "export", "move", "e0", "io0")
    check(st == 0 and s.iothread_of() == "io0", "back to io0: %d %r %s" % (
        st, errout, brief(s.export())))
    w = ["iothreadctl", "-s", s.d.sock, "export"]
    check("move" in complete(w + [""]), "export sub-verbs")
    got = complete(w + ["move", ""])
    check(got == {"e0"}, "export ids: %r" % got)
    got = complete(w + ["move", "e0", ""])
    check(got == {"io0", "io1", "-"}, "targets: %r" % got)


if __name__ == "__main__":
    sys.exit(main())
