#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The floor of bench/io-engine.c: fio's io_uring engine doing the same 4 KiB
random reads of the same file, pinned to the same CPU, at QD1 and QD32
(--invalidate=0: the file stays in the page cache, as it does for ours).
Prints RESULT lines (bench.h's format) with kind "floor":
  randread_qd1_p50_ns   fio's median total latency (lat_ns, submission to
                        completion) at iodepth 1;
  randread_qd32_iops    fio's IOPS at iodepth 32;
  enters_per_io_qd32    io_uring_enter() calls per I/O at iodepth 32,
                        counted by strace -c (a separate, shorter run: strace
                        slows fio; the count per I/O is what is kept).

Usage: io-engine-fio.py FILE [SECONDS_PER_REP]"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

REPS = 6  # as bench.h: the first is discarded


def fio_cmd(path, qd, secs):
    return ["fio", "--name=randread", "--filename=" + path,
            "--ioengine=io_uring", "--invalidate=0", "--rw=randread",
            "--bs=4k", "--iodepth=%d" % qd, "--direct=0", "--time_based",
            "--runtime=%d" % max(1, round(secs)), "--norandommap",
            "--randrepeat=0", "--cpus_allowed=0", "--lat_percentiles=1",
            "--output-format=json"]


def fio(path, qd, secs):
    out = subprocess.run(fio_cmd(path, qd, secs), check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out[out.index("{"):])["jobs"][0]["read"]


def enters_per_io(path, secs):
    """io_uring_enter calls per I/O of one fio run at QD32, or None."""
    if not shutil.which("strace"):
        return None
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "strace")
        out = subprocess.run(["strace", "-f", "-qq", "-c", "-o", log,
                              "-e", "trace=io_uring_enter"] +
                             fio_cmd(path, 32, secs),
                             check=True, capture_output=True, text=True)
        ios = json.loads(out.stdout[out.stdout.index("{"):])[
            "jobs"][0]["read"]["total_ios"]
        for line in open(log):
            f = line.split()
            if f and f[-1] == "io_uring_enter":
                # % time, seconds, usecs/call, calls, [errors], syscall
                return int(f[3]) / ios if ios else None
    return None


def result(metric, unit, reps):
    vals = sorted(reps[1:])
    med = vals[(len(vals) - 1) // 2]
    print("RESULT\tio-engine\t%s\t%s\tfloor\tfio\t%.6g\t%.6g\t%.6g"
          % (metric, unit, med, vals[0], vals[-1]))


def main():
    path = sys.argv[1]
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    p50, iops, enters = [], [], []
    for _ in range(REPS):
        r1 = fio(path, 1, secs)
        p50.append(float(r1["lat_ns"]["percentile"]["50.000000"]))
        iops.append(float(fio(path, 32, secs)["iops"]))
    for _ in range(3):
        e = enters_per_io(path, 1)
        if e is not None:
            enters.append(e)
    result("randread_qd1_p50_ns", "ns", p50)
    result("randread_qd32_iops", "iops", iops)
    if enters:
        result("enters_per_io_qd32", "calls", [enters[0]] + enters)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
