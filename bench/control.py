#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""control-plane: QMP round trips over the socket, iothreadd against QEMU
(qemu-system-x86_64 -machine none, if installed) and a raw socket echo
floor: query-iothreads at 1/10/100/500/1000 iothreads
(BENCH_CONTROL_SIZES, comma-separated, runs fewer), query-iothread-stats
at 500 (iothreadd only, QEMU has no such command: with the iothreads
idle, and after every one of them ran), object-add (returns once the
thread runs, for both), object-del, and qom-set of poll-max-ns.
Interleaved per repetition; prints RESULT lines.  A time runs from the
request's send to the reply's last byte; the reply is parsed and checked
after the clock stops, so the client's JSON parser is not timed."""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchkit import REPS, Qmp, parse, result

BUILD = os.environ.get("IOTHREADD_BUILD", "build")
SIZES = [int(n) for n in
         os.environ.get("BENCH_CONTROL_SIZES", "1,10,100,500,1000").split(",")]
STATS_SIZE = 500


def start_iothreadd(d):
    path = os.path.join(d, "io.sock")
    p = subprocess.Popen([os.path.join(BUILD, "iothreadd"), "-s", path,
                          "--log-level", "err"])
    return p, Qmp(path)


def start_qemu(d):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return None, None
    path = os.path.join(d, "q.sock")
    p = subprocess.Popen([qemu, "-machine", "none", "-nodefaults",
                          "-display", "none", "-qmp",
                          "unix:%s,server=on,wait=off" % path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, Qmp(path)


def echo_floor(d):
    path = os.path.join(d, "echo.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        f = c.makefile("rb")
        while True:
            line = f.readline()
            if not line:
                return
            c.sendall(b'{"return": []}\n')
    threading.Thread(target=serve, daemon=True).start()
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile("rb")

    def rt():
        s.sendall(b'{"execute": "query-iothreads"}\n')
        f.readline()
    return rt


def timed(fn, n):
    """Median microseconds of @n calls of @fn; every reply it returns is
    checked afterwards, outside the timed part."""
    out, replies = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        replies.append(fn())
        out.append((time.perf_counter() - t0) * 1e6)
    for r in replies:
        if r is not None:
            parse(r)
    return statistics.median(out)


def stats_after_every_thread_ran(q, n, times):
    """query-iothread-stats when every one of the @n iothreads ran since
    the previous query (a zero-length x-debug-iothread-stall each), so
    none of their CPU times can be reused: the worst case.  Median
    microseconds of @times queries; the set-up is not timed."""
    out = []
    for _ in range(times):
        for i in range(n):
            q.cmd("x-debug-iothread-stall", {"id": "q%d" % i, "ms": 0})
        time.sleep(0.05)  # let the last BHs run
        out.append(timed(lambda: q.raw("query-iothread-stats"), 1))
    return statistics.median(out)


def ensure(q, n, prefix):
    """Exactly @n iothreads named PREFIX0..."""
    have = [e["id"] for e in q.cmd("query-iothreads")["return"]]
    for i in have:
        if not i.startswith(prefix) or int(i[len(prefix):]) >= n:
            q.cmd("object-del", {"id": i})
    for i in range(n):
        if "%s%d" % (prefix, i) not in have:
            q.cmd("object-add", {"qom-type": "iothread",
                                 "id": "%s%d" % (prefix, i)})


def main():
    d = tempfile.mkdtemp()
    procs = []
    try:
        ip, iq = start_iothreadd(d)
        procs.append(ip)
        qp, qq = start_qemu(d)
        if qp:
            procs.append(qp)
        impls = [("iothreadd", "iothreadd", iq)]
        if qq:
            impls.append(("peer", "qemu", qq))
        floor = echo_floor(d)
        res = {}
        for rep in range(REPS):
            for n in SIZES:
                times = 50 if n < 500 else 20 if n < 1000 else 10
                for kind, name, q in impls:
                    ensure(q, n, "q")
                    v = timed(lambda: q.raw("query-iothreads"), times)
                    res.setdefault(("query_iothreads_us_n%d" % n, kind,
                                    name), []).append(v)
                if n == STATS_SIZE:
                    v = timed(lambda: iq.raw("query-iothread-stats"), times)
                    res.setdefault(("query_iothread_stats_us_n%d" % n,
                                    "iothreadd", "iothreadd"), []).append(v)
                    v = stats_after_every_thread_ran(iq, n, 5)
                    res.setdefault(("query_iothread_stats_ran_us_n%d" % n,
                                    "iothreadd", "iothreadd"), []).append(v)
                res.setdefault(("query_iothreads_us_n%d" % n, "floor",
                                "socket_echo"), []).append(timed(floor, 50))
            for kind, name, q in impls:
                ensure(q, 1, "q")
                vals = iter(range(10**9))
                v = timed(lambda: q.raw("qom-set", {
                    "path": "/objects/q0", "property": "poll-max-ns",
                    "value": 32768 + next(vals) % 2}), 50)
                res.setdefault(("qom_set_us", kind, name), []).append(v)
            for kind, name, q in impls:
                ids = ["x%d_%d" % (rep, i) for i in range(20)]
                add, dele = [], []
                for i in ids:
                    t0 = time.perf_counter()
                    q.cmd("object-add", {"qom-type": "iothread", "id": i})
                    add.append((time.perf_counter() - t0) * 1e6)
                for i in ids:
                    t0 = time.perf_counter()
                    q.cmd("object-del", {"id": i})
                    dele.append((time.perf_counter() - t0) * 1e6)
                res.setdefault(("object_add_us", kind, name), []).append(
                    statistics.median(add))
                res.setdefault(("object_del_us", kind, name), []).append(
                    statistics.median(dele))
        for (metric, kind, name), reps in res.items():
            result("control-plane", metric, "us", kind, name, reps)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
