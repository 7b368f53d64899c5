#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""nbd: 4k random I/O over NBD with fio's nbd engine (libnbd), issue 15 §2.

Servers, each with one I/O thread, all serving the same 512 MiB raw image
in /dev/shm over a UNIX socket, all running for the whole benchmark:

  iothreadd            the export on iothread io0 (qemu-storage-daemon's
                       command line), default adaptive polling; a second,
                       idle iothread io1 to move the export to
  iothreadd-poll-off   the same with poll-max-ns=0
  qemu-storage-daemon  the export in its main loop (7.2 aborts when the
                       first client of an export on an iothread leaves)
  nbdkit-file          nbdkit's file plugin, --threads 1: one worker
                       thread per connection (nbdkit has no shared pool;
                       its main thread only accepts)
  nbdkit-null          --threads 1, null plugin: a server doing no I/O, so
                       what one fio client reaches: the ceiling for IOPS

and fio --ioengine=io_uring on the image itself: the latency floor.

Workloads (fio --invalidate=0 --bs=4k --norandommap, time based): randread
at queue depth 1, 4, 16, 32, 64; randwrite QD32; randread 4 jobs x QD8
(4 connections); and randread QD1 against iothreadd while a thread
moves its export between io0 and io1 every 100 ms over QMP
(block-export-set-iothread, answered once the export and its client have
moved): the cost of a move, against the same daemon's QD1 without moves.
Every move must succeed; one that fails or hangs leaves the row out with
a FAILED line and makes the exit status 1.  Each repetition runs every
workload against every server, one after the other (interleaved); the
first repetition is discarded, medians of the others are reported.
Latency is fio's total latency (submission to completion, lat_ns).
Server CPU per I/O: the utime+stime delta of /proc/PID/stat (the whole
process, threads that exited included) over the run, divided by the I/Os
fio completed.

A server that does not start or fails a run is left out with its reason on
stderr and a MISSING line (iothreadd's rows say n/a); no figure is made up.
Prints RESULT / MISSING / NOTE lines (the moves counted in a NOTE);
writes BENCH_OUT/nbd.tsv (every server and workload) and
BENCH_OUT/nbd-qd.dat (IOPS by queue depth, for bench/nbd.gp), creating
BENCH_OUT if needed.

BENCH_NBD_SECS (1) seconds per fio run and BENCH_NBD_REPS (4, the first
discarded) make longer runs: about 4 minutes with the defaults."""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchkit import Qmp, result

BUILD = os.environ.get("IOTHREADD_BUILD", "build")
OUT = os.environ.get("BENCH_OUT", os.path.join(BUILD, "bench"))
SECS = float(os.environ.get("BENCH_NBD_SECS", "1"))
REPS = max(2, int(os.environ.get("BENCH_NBD_REPS", "4")))  # 1st dropped
IMAGE_MIB = 512
START_TIMEOUT = 15
CLK_TCK = os.sysconf("SC_CLK_TCK")
MOVE_EVERY = 0.1  # seconds between the starts of two moves (issue 15)
MOVE_TIMEOUT = 30  # seconds: a move not answered by then has hung

IOTHREADD, POLL_OFF = "iothreadd", "iothreadd-poll-off"
QSD, NBDKIT_FILE, NBDKIT_NULL = ("qemu-storage-daemon", "nbdkit-file",
                                 "nbdkit-null")
FILE = "fio-io_uring-file"
# The move workload's target: the iothreadd server, its export moving.  A
# name of its own, so a failed move leaves out this series only.
MOVING = "iothreadd-moving"
SERVER_OF = {MOVING: IOTHREADD}
PEERS = (QSD, NBDKIT_FILE)
NBD_SERVERS = (IOTHREADD, QSD, NBDKIT_FILE, NBDKIT_NULL)


def qmp_sock(d, name):
    return os.path.join(d, name + "-qmp.sock")


def iothreadd_argv(d, img, sock, name, objects):
    return [os.path.join(BUILD, "iothreadd"),
            "-s", qmp_sock(d, name), "--log-level", "err"] + [
            a for o in objects for a in ("--object", o)] + [
            "--blockdev", "driver=file,node-name=f0,filename=%s,"
            "aio=io_uring" % img,
            "--nbd-server", "addr.type=unix,addr.path=%s" % sock,
            "--export", "type=nbd,id=e0,node-name=f0,writable=on,"
            "iothread=io0"]


# name: (argv(tmpdir, image, socket), export name).  QEMU names an export
# after its node unless told otherwise; nbdkit serves any name.
SERVERS = {
    IOTHREADD: (lambda d, img, sock: iothreadd_argv(
        d, img, sock, IOTHREADD, ("iothread,id=io0", "iothread,id=io1")),
        "f0"),
    POLL_OFF: (lambda d, img, sock: iothreadd_argv(
        d, img, sock, POLL_OFF, ("iothread,id=io0,poll-max-ns=0",)), "f0"),
    QSD: (lambda d, img, sock: [
        "qemu-storage-daemon",
        "--blockdev", "driver=file,node-name=f0,filename=%s,aio=io_uring"
        % img,
        "--nbd-server", "addr.type=unix,addr.path=%s" % sock,
        "--export", "type=nbd,id=e0,node-name=f0,writable=on"], "f0"),
    NBDKIT_FILE: (lambda d, img, sock: [
        "nbdkit", "-f", "--threads", "1", "-U", sock, "file", img], ""),
    NBDKIT_NULL: (lambda d, img, sock: [
        "nbdkit", "-f", "--threads", "1", "-U", sock, "null",
        "size=%dM" % IMAGE_MIB], ""),
}

# name: (fio rw, iodepth, numjobs, targets).  Interleaved in this order.
WORKLOADS = {
    "qd1": ("randread", 1, 1, NBD_SERVERS + (POLL_OFF, FILE)),
    "move": ("randread", 1, 1, (MOVING,)),  # right after its floor
    "qd4": ("randread", 4, 1, NBD_SERVERS),
    "qd16": ("randread", 16, 1, NBD_SERVERS),
    "qd32": ("randread", 32, 1, NBD_SERVERS + (POLL_OFF, FILE)),
    "qd64": ("randread", 64, 1, NBD_SERVERS),
    "w32": ("randwrite", 32, 1, NBD_SERVERS + (FILE,)),
    "4x8": ("randread", 8, 4, NBD_SERVERS + (POLL_OFF, FILE)),
}
PLOT_QDS = (("qd1", 1), ("qd4", 4), ("qd16", 16), ("qd32", 32),
            ("qd64", 64))

# The rows of results.tsv: (metric, unit, workload, measure, the
# implementation in the iothreadd column, floor: a target of the same
# workload or a (workload, target) pair).  best_peer is the better of
# PEERS (report.py: higher for *_iops, lower otherwise).
ROWS = (
    ("randread_qd1_p50_us", "us", "qd1", "p50_us", IOTHREADD, FILE),
    ("randread_qd1_p99_us", "us", "qd1", "p99_us", IOTHREADD, FILE),
    ("randread_qd32_iops", "iops", "qd32", "iops", IOTHREADD, NBDKIT_NULL),
    ("randwrite_qd32_iops", "iops", "w32", "iops", IOTHREADD, NBDKIT_NULL),
    ("randread_4x8_iops", "iops", "4x8", "iops", IOTHREADD, NBDKIT_NULL),
    ("cpu_us_per_io_qd32", "us", "qd32", "server_cpu_us_per_io", IOTHREADD,
     NBDKIT_NULL),
    ("cpu_us_per_io_4x8", "us", "4x8", "server_cpu_us_per_io", IOTHREADD,
     NBDKIT_NULL),
    ("randread_qd1_p50_us_poll_off", "us", "qd1", "p50_us", POLL_OFF, FILE),
    ("move_qd1_p99_us", "us", "move", "p99_us", MOVING, ("qd1", IOTHREADD)),
)
# Rows no peer can have: metric -> why (a NOTE line; best_peer n/a).
NO_PEER = {
    "move_qd1_p99_us": "no peer can move an export while it serves: "
    "nbdkit has no iothreads, and qemu-storage-daemon 7.2 aborts when a "
    "client leaves an export on an iothread (so its export stays in the "
    "main loop here)",
}


class Broken(Exception):
    """A server or a fio run that failed: its figures are left out."""


class MoveFailed(Broken):
    """A move of the export that failed or hung: a bug, not a missing
    peer, so the benchmark says FAILED and exits with status 1."""


def tail(path, n=3):
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


class Server:
    def __init__(self, name, d, img):
        self.name = name
        argv_of, export = SERVERS[name]
        self.qmp = qmp_sock(d, name)  # iothreadd's only
        self.sock = os.path.join(d, name + ".sock")
        self.uri = "nbd+unix:///%s?socket=%s" % (export, self.sock)
        self.log = os.path.join(d, name + ".log")
        argv = argv_of(d, img, self.sock)
        if not shutil.which(argv[0]):
            raise Broken("%s not found" % argv[0])
        with open(self.log, "w") as log:
            self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=log)
        self.wait_serving()

    def wait_serving(self):
        end = time.monotonic() + START_TIMEOUT
        why = "no answer"
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise Broken("exited with status %d at start: %s" % (
                    self.p.returncode, tail(self.log)))
            try:
                r = subprocess.run(["nbdinfo", "--size", self.uri],
                                   capture_output=True, text=True, timeout=5)
                if r.returncode == 0:
                    return
                why = (r.stderr.strip().splitlines() or [why])[-1]
            except subprocess.TimeoutExpired:
                why = "nbdinfo timed out"
            time.sleep(0.1)
        self.stop()
        raise Broken("not serving %s after %d s (%s): %s" % (
            self.uri, START_TIMEOUT, why, tail(self.log)))

    def cpu_ticks(self):
        """utime + stime of the whole process, exited threads included."""
        try:
            with open("/proc/%d/stat" % self.p.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            raise Broken("died: %s" % tail(self.log))
        return int(fields[11]) + int(fields[12])  # fields 14, 15 of stat

    def check_alive(self):
        if self.p.poll() is not None:
            raise Broken("exited with status %d during the benchmark: %s" % (
                self.p.returncode, tail(self.log)))

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Mover(threading.Thread):
    """Moves export e0 between io0 and io1, a move starting every
    MOVE_EVERY seconds (at once if the previous one took longer), until
    stop().  Each move is block-export-set-iothread, answered once the
    export and every client have moved; each must succeed."""

    def __init__(self, qmp_path):
        super().__init__(daemon=True)
        self.q = self.qmp(Qmp, qmp_path, timeout=MOVE_TIMEOUT)
        self.at = "io0"  # where the export is: only this thread moves it
        self.secs = []  # each move's round trip; read after join()
        self.error = None  # the first failure; read after join()
        self.stopping = threading.Event()

    @staticmethod
    def qmp(fn, *args, what="QMP", **kwargs):
        """fn(*args, **kwargs); an error or a reply past MOVE_TIMEOUT
        raises MoveFailed."""
        try:
            return fn(*args, **kwargs)
        except (OSError, RuntimeError, ValueError) as e:
            raise MoveFailed("%s failed: %s" % (
                what, str(e) or type(e).__name__))

    def move(self, to):
        t0 = time.perf_counter()
        self.qmp(self.q.cmd, "block-export-set-iothread",
                 {"id": "e0", "iothread": to},
                 what="move %d (%s -> %s)" % (len(self.secs) + 1, self.at, to))
        self.secs.append(time.perf_counter() - t0)
        self.at = to

    def run(self):
        due = time.monotonic()
        try:
            while True:
                due = max(due + MOVE_EVERY, time.monotonic())
                if self.stopping.wait(due - time.monotonic()):
                    return
                self.move("io1" if self.at == "io0" else "io0")
        except MoveFailed as e:
            self.error = e

    def stop(self):
        """The moves done during the run, their round trips in seconds;
        the export back on io0 (by a last move, not counted) and checked
        there.  Raises MoveFailed."""
        self.stopping.set()
        self.join()
        try:
            if self.error:
                raise self.error
            moved = list(self.secs)
            if self.at != "io0":
                self.move("io0")
            where = [e.get("iothread") for e in self.qmp(
                self.q.cmd, "query-block-exports")["return"]
                if e["id"] == "e0"]
            if where != ["io0"]:
                raise MoveFailed("after the moves query-block-exports "
                                 "puts e0 on %s, not io0" % where)
            return moved
        finally:
            self.q.close()


def fio(d, target, rw, qd, jobs, img, uri, mover=None):
    """One fio run: {iops, p50_us, p99_us, p999_us, max_us, ios,
    client_cpu_us_per_io}, and moves, move_ms_p50, move_ms_max with a
    Mover, which runs for the length of fio's."""
    out = os.path.join(d, "fio.json")
    cmd = ["fio", "--name=nbd", "--rw=" + rw, "--bs=4k",
           "--iodepth=%d" % qd, "--numjobs=%d" % jobs, "--group_reporting",
           "--time_based", "--runtime=%dms" % (SECS * 1000), "--invalidate=0",
           "--norandommap", "--randrepeat=0", "--lat_percentiles=1",
           "--output-format=json", "--output=" + out]
    if uri:
        cmd += ["--ioengine=nbd", "--uri=" + uri]
    else:
        cmd += ["--ioengine=io_uring", "--filename=" + img,
                "--size=%dM" % IMAGE_MIB]
    if os.path.exists(out):  # never read the previous run's figures
        os.unlink(out)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if mover:
        mover.start()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=SECS * 10 + 30)
    except subprocess.TimeoutExpired:
        raise Broken("fio %s QD%d x%d hung" % (rw, qd, jobs))
    finally:
        moves = mover.stop() if mover else None
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        with open(out) as f:
            job = json.load(f)["jobs"][0]
    except (OSError, ValueError, IndexError, KeyError):
        job = None
    side = job and job["read" if rw == "randread" else "write"]
    if r.returncode or not job or job["error"] or not side["total_ios"]:
        raise Broken("fio %s QD%d x%d failed (status %d): %s" % (
            rw, qd, jobs, r.returncode,
            " | ".join((r.stderr or r.stdout).strip().splitlines()[-3:])))
    ios = side["total_ios"]
    pct = side["lat_ns"]["percentile"]
    client = (after.ru_utime + after.ru_stime -
              before.ru_utime - before.ru_stime)
    m = {"iops": side["iops"], "ios": ios,
         "p50_us": pct["50.000000"] / 1000.0,
         "p99_us": pct["99.000000"] / 1000.0,
         "p999_us": pct["99.900000"] / 1000.0,
         "max_us": side["lat_ns"]["max"] / 1000.0,
         "client_cpu_us_per_io": client * 1e6 / ios}
    if mover:
        if not moves:  # a figure "while moving" needs moves
            raise MoveFailed("no move completed during the %g s run" % SECS)
        m.update(moves=len(moves),
                 move_ms_p50=statistics.median(moves) * 1e3,
                 move_ms_max=max(moves) * 1e3)
    return m


def make_image(d):
    img = os.path.join(d, "image.raw")
    with open(img, "wb") as f:  # written, so tmpfs holds every page
        block = b"\0" * (1 << 20)
        for _ in range(IMAGE_MIB):
            f.write(block)
    return img


def missing_tool():
    """Why no figure can be made at all, or None."""
    for tool in ("fio", "nbdinfo"):
        if not shutil.which(tool):
            return "%s not found (make bench-deps installs it)" % tool
    if subprocess.run(["fio", "--enghelp=nbd"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode:
        return "this fio has no nbd engine (fio --enghelp=nbd fails)"
    return None


def main():
    why = missing_tool()
    if why:
        print("nbd: no figures: %s" % why, file=sys.stderr)
        for metric, unit, *_ in ROWS:
            print("MISSING\tnbd\t%s\t%s\t%s" % (metric, unit, why))
        return 0
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix="iothreadd-nbd-", dir=shm)
    servers, broken, failed = {}, {}, {}
    vals = {}  # (workload, target, measure) -> [per repetition]
    try:
        img = make_image(d)
        for name in SERVERS:
            try:
                servers[name] = Server(name, d, img)
            except Broken as e:
                broken[name] = str(e)
        for rep in range(REPS):
            for wl, (rw, qd, jobs, targets) in WORKLOADS.items():
                for t in targets:
                    if t in broken or SERVER_OF.get(t, t) in broken:
                        continue
                    srv = servers.get(SERVER_OF.get(t, t))
                    try:
                        if srv:
                            srv.check_alive()
                            t0 = srv.cpu_ticks()
                        m = fio(d, t, rw, qd, jobs, img,
                                srv.uri if srv else None,
                                Mover(srv.qmp) if t == MOVING else None)
                        if srv:
                            srv.check_alive()
                            m["server_cpu_us_per_io"] = (
                                (srv.cpu_ticks() - t0) * 1e6 / CLK_TCK /
                                m["ios"])
                    except Broken as e:
                        broken[t] = "%s (repetition %d, %s)" % (e, rep, wl)
                        if isinstance(e, MoveFailed):
                            failed[t] = broken[t]
                        elif srv:  # after a failed move it still serves
                            srv.stop()
                        continue
                    for k, v in m.items():
                        vals.setdefault((wl, t, k), []).append(v)
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(d, ignore_errors=True)
    for t, srv in SERVER_OF.items():
        if srv in broken and t not in broken:
            broken[t] = "its server %s: %s" % (srv, broken[srv])
    for t in broken:  # no partial series: a failed server has no figures
        vals = {k: v for k, v in vals.items() if k[1] != t}
    os.makedirs(OUT, exist_ok=True)  # run alone, build/bench may not exist
    emit(vals, broken, failed)
    write_details(vals, broken)
    return 1 if failed else 0


def emit(vals, broken, failed):
    for metric, unit, wl, measure, mine, floor in ROWS:
        fwl, floor = floor if isinstance(floor, tuple) else (wl, floor)
        impls = ((wl, mine, "iothreadd"), (fwl, floor, "floor")) + tuple(
            (wl, p, "peer") for p in PEERS)
        for w, impl, kind in impls:
            reps = vals.get((w, impl, measure))
            if reps:
                result("nbd", metric, unit, kind, impl, reps)
        if not vals.get((wl, mine, measure)):
            print("MISSING\tnbd\t%s\t%s\t%s%s: %s" % (
                metric, unit, "FAILED: " if mine in failed else "", mine,
                broken.get(mine, "no figure")))
        if metric in NO_PEER:
            moves = moves_note(vals, wl, mine)
            if moves:
                print("nbd: %s: %s" % (metric, moves), file=sys.stderr)
            print("NOTE\tnbd\t%s\tbest peer n/a: %s%s" % (
                metric, NO_PEER[metric], moves and "; " + moves))
    for name, why in broken.items():
        print("nbd: %s %s: %s" % (
            name, "FAILED" if name in failed else "left out", why),
            file=sys.stderr)


def moves_note(vals, wl, target):
    """What the moves of the repetitions kept were, or "" without."""
    n = vals.get((wl, target, "moves"), [])[1:]
    if not n:
        return ""
    return ("%d moves between io0 and io1 in %d run%s of %g s, every one "
            "answered with success, each taking %.2g ms (median of the "
            "runs' medians; the slowest %.3g ms)" % (
                sum(n), len(n), "s"[len(n) == 1:], SECS,
                med(vals, (wl, target, "move_ms_p50")),
                max(vals[(wl, target, "move_ms_max")][1:])))


def med(vals, key):
    v = vals.get(key, [])[1:]
    return statistics.median(v) if v else None


def write_details(vals, broken):
    measures = ("iops", "p50_us", "p99_us", "p999_us", "max_us",
                "server_cpu_us_per_io", "client_cpu_us_per_io", "moves",
                "move_ms_p50", "move_ms_max")
    with open(os.path.join(OUT, "nbd.tsv"), "w") as f:
        f.write("workload\ttarget\t" + "\t".join(measures) + "\n")
        for wl, (_, _, _, targets) in WORKLOADS.items():
            for t in targets:
                cells = [med(vals, (wl, t, m)) for m in measures]
                f.write("%s\t%s\t%s\n" % (wl, t, "\t".join(
                    ("n/a" if t in broken else "-") if c is None
                    else "%.0f" % c if m == "iops" else "%.3g" % c
                    for m, c in zip(measures, cells))))
    # IOPS by queue depth; a server without figures gets no column.
    cols = [s for s in NBD_SERVERS if med(vals, ("qd1", s, "iops"))]
    with open(os.path.join(OUT, "nbd-qd.dat"), "w") as f:
        f.write("qd\t%s\n" % "\t".join(cols))
        for wl, qd in PLOT_QDS:
            f.write("%d\t%s\n" % (qd, "\t".join(
                fmt_iops(med(vals, (wl, s, "iops"))) for s in cols)))


def fmt_iops(v):
    return "-" if v is None else "%.0f" % v  # "-": missing, see nbd.gp


if __name__ == "__main__":
    sys.exit(main())
