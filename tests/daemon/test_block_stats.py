#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Latency histograms (issue 15 section 3): QEMU's
block-latency-histogram-set on a node and on an export, the histograms in
query-blockstats after real NBD I/O (qemu-io), and the boundaries the
command refuses.

Run from the repository root:  python3 tests/daemon/test_block_stats.py
Output as the other suites.
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import (  # noqa: E402
    TestFailure, brief, check, expect_error, expect_return, scaled)
from casekit import ExportSetup, Skip, case, main  # noqa: E402

SIZE = 16 << 20
# (query-blockstats prefix, the operation count members)
OPS = (("rd", "rd_operations", "failed_rd_operations"),
       ("wr", "wr_operations", "failed_wr_operations"),
       ("flush", "flush_operations", "failed_flush_operations"),
       ("unmap", "unmap_operations", "failed_unmap_operations"))
SET = "block-latency-histogram-set"


class Setup(ExportSetup):
    """A node f0 (discard=unmap) exported as e0 on the iothread io0."""

    def __init__(self, ctx):
        super().__init__(ctx, SIZE, node_opts=",discard=unmap")

    def stats(self):
        """{"node": stats of f0, "export": stats of e0}."""
        out = {}
        for x in expect_return(self.c.cmd("query-blockstats")):
            out["export" if "export" in x else "node"] = x["stats"]
        return out

    def io(self):
        """Reads, writes, write-zeroes, discards and flushes over NBD."""
        if not shutil.which("qemu-io"):
            raise Skip("qemu-io is not installed")
        cmds = []
        for i in range(8):
            cmds += ["-c", "write -P 0x%x %dk 4k" % (i + 1, 4 * i),
                     "-c", "read -P 0x%x %dk 4k" % (i + 1, 4 * i)]
        cmds += ["-c", "write -z 1M 64k", "-c", "discard 2M 64k",
                 "-c", "flush", "-c", "flush"]
        p = subprocess.run(
            ["qemu-io", "-f", "raw"] + cmds +
            [self.uri()],
            capture_output=True, text=True, timeout=scaled(60))
        if p.returncode != 0:
            raise TestFailure("qemu-io: status %d: %s"
                              % (p.returncode, (p.stderr or p.stdout)[-400:]))


def histograms(st):
    """{prefix: histogram} of one BlockDeviceStats."""
    return {op: st[op + "_latency_histogram"] for op, _, _ in OPS
            if op + "_latency_histogram" in st}


@case("latency-histograms-count-every-request-of-a-node-and-an-export")
def t_counts(ctx):
    s = Setup(ctx)
    # QEMU's arguments: boundaries for every operation, one overridden.
    s.c.cmd_ok(SET, {"id": "e0", "boundaries": [10000, 100000, 1000000]})
    s.c.cmd_ok(SET, {"node-name": "f0", "boundaries": [1000],
                     "boundaries-write": [50000, 5000000]})
    before = s.stats()
    for where, want in (("export", {op: [10000, 100000, 1000000]
                                    for op, _, _ in OPS}),
                        ("node", {"rd": [1000], "wr": [50000, 5000000],
                                  "flush": [1000], "unmap": [1000]})):
        h = histograms(before[where])
        check({op: x["boundaries"] for op, x in h.items()} == want,
              "%s boundaries: %s" % (where, brief(h)))
        check(all(x["bins"] == [0] * (len(x["boundaries"]) + 1)
                  for x in h.values()), "%s bins not empty: %s"
              % (where, brief(h)))
    s.io()
    after = s.stats()
    for where in ("export", "node"):
        st, h = after[where], histograms(after[where])
        for op, ops, failed in OPS:
            done = (st[ops] + st[failed]) - (before[where][ops] +
                                             before[where][failed])
            check(done > 0, "%s: no %s requests: %s" % (where, op, brief(st)))
            check(sum(h[op]["bins"]) == done,
                  "%s %s: bins %s sum to %d, %d requests ended"
                  % (where, op, h[op]["bins"], sum(h[op]["bins"]), done))
            check(len(h[op]["bins"]) == len(h[op]["boundaries"]) + 1,
                  "%s %s: %s" % (where, op, brief(h[op])))


@case("latency-histogram-set-per-operation-reset-and-removal")
def t_set_remove(ctx):
    s = Setup(ctx)
    s.c.cmd_ok(SET, {"id": "e0", "boundaries-read": [5]})
    h = histograms(s.stats()["export"])
    check(list(h) == ["rd"] and h["rd"]["boundaries"] == [5],
          "only the read histogram: %s" % brief(h))
    # The others are added, read's kept (and not reset).
    s.io()
    s.c.cmd_ok(SET, {"id": "e0", "boundaries-write": [1, 2],
                     "boundaries-flush": [7]})
    h = histograms(s.stats()["export"])
    check(sorted(h) == ["flush", "rd", "wr"] and sum(h["rd"]["bins"]) > 0
          and h["flush"]["boundaries"] == [7]
          and sum(h["wr"]["bins"]) == 0, "after adding: %s" % brief(h))
    # Setting again starts empty bins.
    s.c.cmd_ok(SET, {"id": "e0", "boundaries": [3, 4]})
    h = histograms(s.stats()["export"])
    check(sorted(h) == ["flush", "rd", "unmap", "wr"] and
          all(x == {"boundaries": [3, 4], "bins": [0, 0, 0]}
              for x in h.values()), "after resetting: %s" % brief(h))
    # Only the id: every histogram goes.
    s.c.cmd_ok(SET, {"id": "e0"})
    check(histograms(s.stats()["export"]) == {}, "after removing: %s"
          % brief(s.stats()["export"]))
    # An id no export has names a node.
    s.c.cmd_ok(SET, {"id": "f0", "boundaries": [9]})
    st = s.stats()
    check(histograms(st["export"]) == {} and
          histograms(st["node"])["rd"]["boundaries"] == [9],
          "id f0: %s" % brief(st))


@case("bad-boundaries-are-refused-with-a-reason-and-change-nothing")
def t_refused(ctx):
    s = Setup(ctx)
    s.c.cmd_ok(SET, {"id": "e0", "boundaries": [10, 20]})
    bad = [
        ({"boundaries": [20, 10]}, "boundaries: boundaries are not strictly "
         "ascending (index 1: 10 after 20)"),
        ({"boundaries-read": [10, 10]}, "boundaries-read: boundaries are not "
         "strictly ascending (index 1: 10 after 10)"),
        ({"boundaries": [0, 5]}, "boundaries: a boundary is zero (index 0 "
         "is 0): boundaries are latencies in ns, above zero"),
        ({"boundaries-unmap": [-5]}, "boundaries-unmap: a boundary is zero "
         "(index 0 is -5): boundaries are latencies in ns, above zero"),
        ({"boundaries": list(range(1, 66))}, "boundaries: too many "
         "boundaries: 65, at most 64"),
        ({"boundaries": []}, "boundaries: give at least one boundary (to "
         "remove the histograms, give no boundaries argument)"),
        ({"boundaries": ["a"]}, "Invalid parameter type for "
         "'boundaries[0]', expected: integer"),
        ({"boundaries": 5}, "Invalid parameter type for 'boundaries', "
         "expected: array"),
        ({"boundaries-zap": [1]}, "Parameter 'boundaries-zap' is "
         "unexpected"),
        # one good, one bad: neither is applied
        ({"boundaries-read": [1, 2], "boundaries-write": [3, 1]},
         "boundaries-write: boundaries are not strictly ascending (index "
         "1: 1 after 3)"),
    ]
    for args, desc in bad:
        expect_error(s.c.cmd(SET, dict(args, id="e0")), "GenericError",
                     desc, what=brief(args))
    for args, desc in [
            ({"id": "nope"}, "Device 'nope' not found"),
            ({"node-name": "nope"}, "Cannot find device='' nor "
             "node-name='nope'"),
            ({"id": "e0", "node-name": "f0"}, "Give either 'id' (an export "
             "id or a node name) or 'node-name'"),
            ({}, "Give either 'id' (an export id or a node name) or "
             "'node-name'"),
            ({"id": 5}, "Invalid parameter type for 'id', expected: "
             "string")]:
        expect_error(s.c.cmd(SET, args), "GenericError", desc,
                     what=brief(args))
    h = histograms(s.stats()["export"])
    check(len(h) == 4 and all(x["boundaries"] == [10, 20]
                              for x in h.values()),
          "a refused set changed the histograms: %s" % brief(h))
    check(s.d.running(), "the daemon died")


if __name__ == "__main__":
    main()
