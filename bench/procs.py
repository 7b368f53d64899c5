#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""idle and memory: what iothreads cost a host when nothing happens,
measured on whole processes as an operator sees them, iothreadd against
QEMU (qemu-system-x86_64 -machine none, iothreads from -object).

  idle:   1, 10 and 100 idle iothreads with default polling; CPU % and
          wake-ups/s of the whole process over BENCH_IDLE_SECS (10 s)
          windows.  All processes idle side by side and every window
          measures all of them, so each repetition sees the same host.
          CPU and wake-ups come from /proc/PID/task/*/schedstat (time on
          CPU in ns, times scheduled in), summed over the threads: the
          clock-tick counters in /proc/PID/stat are too coarse for 0.01 %.
  memory: (RSS with 1000 iothreads - RSS with none) / 1000, in KiB.

Prints RESULT lines (see bench.h)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchkit import REPS, rss_kib, result

BUILD = os.environ.get("IOTHREADD_BUILD", "build")
IDLE_SECS = float(os.environ.get("BENCH_IDLE_SECS", "10"))
MANY = 1000


def iothreadd_cmd(d, tag, n):
    cmd = [os.path.join(BUILD, "iothreadd"), "-s",
           os.path.join(d, "%s.sock" % tag), "--log-level", "err"]
    for i in range(n):
        cmd += ["--object", "iothread,id=io%d" % i]
    return cmd


def qemu_cmd(d, tag, n):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return None
    cmd = [qemu, "-machine", "none", "-nodefaults", "-display", "none",
           "-qmp", "unix:%s,server=on,wait=off" % os.path.join(d, tag)]
    for i in range(n):
        cmd += ["-object", "iothread,id=io%d" % i]
    return cmd


def threads(pid):
    try:
        return os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return []


def wait_threads(p, want, timeout=30):
    """Until the process runs at least @want threads (its iothreads)."""
    end = time.monotonic() + timeout
    while len(threads(p.pid)) < want:
        if p.poll() is not None or time.monotonic() > end:
            raise RuntimeError("%s: %d of %d threads" % (
                p.args[0], len(threads(p.pid)), want))
        time.sleep(0.05)


def schedstat(pid):
    """(ns on CPU, times scheduled in), summed over the threads."""
    cpu = runs = 0
    for t in threads(pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                on_cpu, _, slices = f.read().split()
        except (FileNotFoundError, ValueError):
            continue
        cpu += int(on_cpu)
        runs += int(slices)
    return cpu, runs


def spawn(cmd):
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def impls(d):
    out = [("iothreadd", "iothreadd", lambda tag, n:
            iothreadd_cmd(d, tag, n))]
    if qemu_cmd(d, "probe", 0):
        out.append(("peer", "qemu", lambda tag, n: qemu_cmd(d, tag, n)))
    return out


def bench_idle(d):
    procs = {}
    try:
        for kind, name, cmd in impls(d):
            for n in (1, 10, 100):
                p = spawn(cmd("idle-%s-%d" % (name, n), n))
                procs[(kind, name, n)] = p
                wait_threads(p, n + 1)
        time.sleep(1)  # start-up wake-ups are not idle ones
        cpu, wake = {}, {}
        for _ in range(REPS):
            t0 = time.monotonic()
            s0 = {k: schedstat(p.pid) for k, p in procs.items()}
            time.sleep(IDLE_SECS)
            dt = time.monotonic() - t0
            for k, p in procs.items():
                c1, r1 = schedstat(p.pid)
                cpu.setdefault(k, []).append(
                    (c1 - s0[k][0]) / 1e9 / dt * 100)
                wake.setdefault(k, []).append((r1 - s0[k][1]) / dt)
        for (kind, name, n) in procs:
            result("idle", "cpu_percent_%d" % n, "%", kind, name,
                   cpu[(kind, name, n)])
            result("idle", "wakeups_per_s_%d" % n, "1/s", kind, name,
                   wake[(kind, name, n)])
    finally:
        stop(procs.values())


def bench_memory(d):
    per = {}
    for rep in range(REPS):
        for kind, name, cmd in impls(d):  # interleaved: A B A B ...
            base = spawn(cmd("mem0-%s-%d" % (name, rep), 0))
            many = spawn(cmd("mem-%s-%d" % (name, rep), MANY))
            try:
                wait_threads(base, 1)
                wait_threads(many, MANY + 1, timeout=120)
                time.sleep(0.5)  # every thread has entered its loop
                per.setdefault((kind, name), []).append(
                    (rss_kib(many.pid) - rss_kib(base.pid)) / MANY)
            finally:
                stop([base, many])
    for (kind, name), reps in per.items():
        result("memory", "rss_kib_per_iothread", "KiB", kind, name, reps)


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    d = tempfile.mkdtemp()
    try:
        if which in ("all", "idle"):
            bench_idle(d)
        if which in ("all", "memory"):
            bench_memory(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
