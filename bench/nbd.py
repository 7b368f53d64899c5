#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""nbd: 4k random I/O over NBD with fio's nbd engine (libnbd), issue 15 §2.

Servers, each with one I/O thread, all serving the same 512 MiB raw image
in /dev/shm over a UNIX socket, all running for the whole benchmark:

  iothreadd            the export on iothread io0 (qemu-storage-daemon's
                       command line), default adaptive polling
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
(4 connections).  Each repetition runs every workload against every
server, one after the other (interleaved); the first repetition is
discarded, medians of the others are reported.  Latency is fio's total
latency (submission to completion, lat_ns).  Server CPU per I/O: the
utime+stime delta of /proc/PID/stat (the whole process, threads that
exited included) over the run, divided by the I/Os fio completed.

A server that does not start or fails a run is left out with its reason on
stderr and a MISSING line (iothreadd's rows say n/a); no figure is made up.
Prints RESULT / MISSING lines; writes BENCH_OUT/nbd.tsv (every server and
workload) and BENCH_OUT/nbd-qd.dat (IOPS by queue depth, for bench/nbd.gp),
creating BENCH_OUT if needed.

BENCH_NBD_SECS (1) seconds per fio run and BENCH_NBD_REPS (4, the first
discarded) make longer runs: about 3 minutes with the defaults."""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchkit import result

BUILD = os.environ.get("IOTHREADD_BUILD", "build")
OUT = os.environ.get("BENCH_OUT", os.path.join(BUILD, "bench"))
SECS = float(os.environ.get("BENCH_NBD_SECS", "1"))
REPS = max(2, int(os.environ.get("BENCH_NBD_REPS", "4")))  # 1st dropped
IMAGE_MIB = 512
START_TIMEOUT = 15
CLK_TCK = os.sysconf("SC_CLK_TCK")

IOTHREADD, POLL_OFF = "iothreadd", "iothreadd-poll-off"
QSD, NBDKIT_FILE, NBDKIT_NULL = ("qemu-storage-daemon", "nbdkit-file",
                                 "nbdkit-null")
FILE = "fio-io_uring-file"
PEERS = (QSD, NBDKIT_FILE)
NBD_SERVERS = (IOTHREADD, QSD, NBDKIT_FILE, NBDKIT_NULL)


def iothreadd_argv(d, img, sock, tag, iothread_props):
    return [os.path.join(BUILD, "iothreadd"),
            "-s", os.path.join(d, tag + "-qmp.sock"), "--log-level", "err",
            "--object", "iothread,id=io0" + iothread_props,
            "--blockdev", "driver=file,node-name=f0,filename=%s,"
            "aio=io_uring" % img,
            "--nbd-server", "addr.type=unix,addr.path=%s" % sock,
            "--export", "type=nbd,id=e0,node-name=f0,writable=on,"
            "iothread=io0"]


# name: (argv(tmpdir, image, socket), export name).  QEMU names an export
# after its node unless told otherwise; nbdkit serves any name.
SERVERS = {
    IOTHREADD: (lambda d, img, sock: iothreadd_argv(
        d, img, sock, "iothreadd", ""), "f0"),
    POLL_OFF: (lambda d, img, sock: iothreadd_argv(
        d, img, sock, "poll-off", ",poll-max-ns=0"), "f0"),
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
# implementation in the iothreadd column, floor).  best_peer is the better
# of PEERS (report.py: higher for *_iops, lower otherwise).
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
)
NOT_IMPLEMENTED = (
    ("move_qd1_p99_us", "us", "moving an export between iothreads is not "
     "implemented yet (issue 15 section 1)"),
)


class Broken(Exception):
    """A server or a fio run that failed: its figures are left out."""


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


def fio(d, target, rw, qd, jobs, img, uri):
    """One fio run: {iops, p50_us, p99_us, ios, client_cpu_us_per_io}."""
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
    try:
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=SECS * 10 + 30)
    except subprocess.TimeoutExpired:
        raise Broken("fio %s QD%d x%d hung" % (rw, qd, jobs))
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
    return {"iops": side["iops"], "ios": ios,
            "p50_us": pct["50.000000"] / 1000.0,
            "p99_us": pct["99.000000"] / 1000.0,
            "client_cpu_us_per_io": client * 1e6 / ios}


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
        for metric, unit, *_ in ROWS + NOT_IMPLEMENTED:
            print("MISSING\tnbd\t%s\t%s\t%s" % (metric, unit, why))
        return 0
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix="iothreadd-nbd-", dir=shm)
    servers, broken = {}, {}
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
                    if t in broken:
                        continue
                    srv = servers.get(t)
                    try:
                        if srv:
                            srv.check_alive()
                            t0 = srv.cpu_ticks()
                        m = fio(d, t, rw, qd, jobs, img,
                                srv.uri if srv else None)
                        if srv:
                            srv.check_alive()
                            m["server_cpu_us_per_io"] = (
                                (srv.cpu_ticks() - t0) * 1e6 / CLK_TCK /
                                m["ios"])
                    except Broken as e:
                        broken[t] = "%s (repetition %d, %s)" % (e, rep, wl)
                        if srv:
                            srv.stop()
                        continue
                    for k, v in m.items():
                        vals.setdefault((wl, t, k), []).append(v)
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(d, ignore_errors=True)
    for t in broken:  # no partial series: a failed server has no figures
        vals = {k: v for k, v in vals.items() if k[1] != t}
    os.makedirs(OUT, exist_ok=True)  # run alone, build/bench may not exist
    emit(vals, broken)
    write_details(vals, broken)
    return 0


def emit(vals, broken):
    for metric, unit, wl, measure, mine, floor in ROWS:
        impls = ((mine, "iothreadd"), (floor, "floor")) + tuple(
            (p, "peer") for p in PEERS)
        for impl, kind in impls:
            reps = vals.get((wl, impl, measure))
            if reps:
                result("nbd", metric, unit, kind, impl, reps)
        if not vals.get((wl, mine, measure)):
            print("MISSING\tnbd\t%s\t%s\t%s: %s" % (
                metric, unit, mine, broken.get(mine, "no figure")))
    for metric, unit, why in NOT_IMPLEMENTED:
        print("MISSING\tnbd\t%s\t%s\t%s" % (metric, unit, why))
    for name, why in broken.items():
        print("nbd: %s left out: %s" % (name, why), file=sys.stderr)


def med(vals, key):
    v = vals.get(key, [])[1:]
    return statistics.median(v) if v else None


def write_details(vals, broken):
    measures = ("iops", "p50_us", "p99_us", "server_cpu_us_per_io",
                "client_cpu_us_per_io")
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
