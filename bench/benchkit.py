# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared by the Python benchmarks: result lines (the format of
bench.h's bench_result()) and /proc readings."""

import statistics

REPS = 6  # the first is discarded


def result(bench, metric, unit, kind, impl, reps):
    """One RESULT line: median, min and max of reps[1:]."""
    v = reps[1:]
    print("RESULT\t%s\t%s\t%s\t%s\t%s\t%.6g\t%.6g\t%.6g" % (
        bench, metric, unit, kind, impl, statistics.median(v), min(v),
        max(v)), flush=True)


def rss_kib(pid):
    """Resident set size of @pid in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
