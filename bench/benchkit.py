# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared by the Python benchmarks: result lines (the format of
bench.h's bench_result()), /proc readings and a QMP client."""

import json
import socket
import statistics
import time

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


class Qmp:
    """A QMP session over a UNIX socket, one command at a time.  @timeout
    (seconds, None: wait for ever) bounds every reply, so a server that
    stops answering fails the benchmark instead of hanging it."""

    def __init__(self, path, timeout=None):
        self.s = socket.socket(socket.AF_UNIX)
        for _ in range(500):  # the server may still be starting
            try:
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.01)
        else:
            raise RuntimeError("QMP socket %s: no server" % path)
        self.s.settimeout(timeout)
        self.f = self.s.makefile("rb")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def raw(self, name, args=None):
        """The reply's bytes, unparsed: the server's time, not the
        client's JSON parser's (json.loads of 100 iothreads' reply costs
        this Python about 400 us, as much as a server)."""
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.s.sendall(json.dumps(req).encode() + b"\n")
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("%s: connection closed" % name)
            if line.startswith((b'{"return"', b'{"error"')):  # not an event
                return name, line

    def cmd(self, name, args=None):
        return parse(self.raw(name, args))

    def close(self):
        self.f.close()
        self.s.close()


def parse(reply):
    name, line = reply
    r = json.loads(line)
    if "error" in r:  # a failed command must not be timed
        raise RuntimeError("%s: %s" % (name, r["error"]))
    return r
