#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""query-iothreads and query-iothread-stats with many iothreads (issue 12).

The daemon writes these two replies from kept and directly written text
rather than through jansson's dump (src/daemon/iothread-info.c), so these
cases hold the bytes on the wire to the format of every other reply: the
line must be exactly what the server's formatter writes for the parsed
value (", " and ": " separators, ASCII, CRLF) with the request's id as the
formatter writes it, and the entries must follow every change of the
settings.  (tests/unit/test-iothread-info.c compares the text with
jansson's for the same values inside one process.)

Run from the repository root:  python3 tests/daemon/test_query_scale.py
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import brief, check  # noqa: E402
from casekit import case, main  # noqa: E402

N = 150
# Request ids of every JSON type; the formatter writes non-ASCII as \u.
IDS = [None, 7, "s-\u00efd", {"a": [1, "x", None]}, 1.5, True]
STATS_KEYS = ["id", "thread-id", "iterations", "blocking-waits",
              "poll-passes", "poll-hits", "poll-misses", "poll-ns", "bh-runs",
              "fd-dispatches", "timers-fired", "notify-writes",
              "notify-skipped", "io-submitted", "io-completed",
              "io-in-flight", "io-uring-enters", "user-cpu-ns", "system-cpu-ns",
              "thread-pool-workers", "thread-pool-idle-workers",
              "thread-pool-queued", "thread-pool-completed"]
INFO_KEYS = ["id", "thread-id", "poll-max-ns", "poll-grow", "poll-shrink",
             "aio-max-batch", "thread-pool-min", "thread-pool-max",
             "cpu-affinity", "fdmon", "aio-engine", "poll-ns"]


def raw_reply(c, name, args=None, id=None):
    """Send a command; return its reply line's bytes (events skipped)."""
    c.send_cmd(name, args, id)
    deadline = time.monotonic() + c.timeout
    while True:
        nl = c.buf.find(b"\n")
        if nl < 0:
            c._fill(deadline)
            continue
        line = bytes(c.buf[:nl + 1])
        del c.buf[:nl + 1]
        if not line.startswith(b'{"timestamp"'):
            return line


def wire(value):
    """@value as the server's formatter writes it: jansson's JSON_INDENT(0)
    separators, ASCII.  Exact for integers, ASCII strings, lists and
    objects, which is all these replies hold."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=True)


def id_text(c, id):
    """@id as the generic path writes it (a small reply built as a jansson
    tree), for comparison: the tail of query-version's line."""
    line = raw_reply(c, "query-version", id=id)
    key = b', "id": '
    check(line.endswith(b"}\r\n") and key in line,
          "query-version with id %s: %r" % (brief(id), line[:200]))
    return line[line.rindex(key) + len(key):-3]


def check_line(c, name, args=None, keys=None):
    """Every id form: the reply line is the formatter's bytes.  Returns the
    last reply's value."""
    value = None
    for id in IDS:
        line = raw_reply(c, name, args, id)
        check(line.endswith(b"\r\n"), "%s: no CRLF: %r" % (name, line[-20:]))
        check(all(b < 0x80 for b in line), "%s: not ASCII" % name)
        msg = json.loads(line)
        check("return" in msg, "%s: %s" % (name, brief(msg)))
        value = msg["return"]
        want = b'{"return": ' + wire(value).encode()
        if id is not None:
            want += b', "id": ' + id_text(c, id)
        want += b"}\r\n"
        if line != want:
            at = next((i for i, (a, b) in enumerate(zip(line, want))
                       if a != b), min(len(line), len(want)))
            check(False, "%s (id %s): differs at byte %d of %d/%d:\n"
                  "  want ...%r\n  got  ...%r" % (
                      name, brief(id), at, len(want), len(line),
                      want[max(0, at - 40):at + 40],
                      line[max(0, at - 40):at + 40]))
        check(isinstance(value, list), "%s: not a list" % name)
        for e in value:
            check(list(e) == keys, "%s: members %s, expected %s"
                  % (name, list(e), keys))
    return value


def fdmons(c):
    """The back-ends this kernel runs ("auto" and those it accepts)."""
    out = ["auto"]
    for i, f in enumerate(("io_uring", "epoll", "poll")):
        r = c.cmd("object-add", {"qom-type": "iothread", "id": "probe%d" % i,
                                 "fdmon": f})
        if "return" in r:
            out.append(f)
            c.cmd_ok("object-del", {"id": "probe%d" % i})
    return out


def varied(i, backends):
    return {"poll-max-ns": i * 1000 if i % 5 else 0, "poll-grow": i % 4,
            "poll-shrink": i % 3,
            "aio-max-batch": i if i % 7 else 9223372036854775807,
            "thread-pool-min": i % 2, "thread-pool-max": 64 + i,
            "cpu-affinity": "0" if i % 2 else "",
            "fdmon": backends[i % len(backends)]}


def by_id(value):
    return {e["id"]: e for e in value}


@case("query-iothreads-wire")
def _(ctx):
    c = ctx.daemon().client()
    check_line(c, "query-iothreads", keys=INFO_KEYS)          # none
    backends = fdmons(c)
    for i in range(N):
        args = {"qom-type": "iothread", "id": "io%d%s" % (i, "-a.b_c" * (i % 2))}
        args.update(varied(i, backends))
        c.cmd_ok("object-add", args)
    v = by_id(check_line(c, "query-iothreads", keys=INFO_KEYS))
    check(len(v) == N, "%d entries, expected %d" % (len(v), N))
    check(v["io7-a.b_c"]["aio-max-batch"] == 9223372036854775807
          and v["io7-a.b_c"]["cpu-affinity"] == "0",
          "io7: %s" % brief(v["io7-a.b_c"]))

    # Every kind of change shows in the next reply.
    c.cmd_ok("qom-set", {"path": "/objects/io0", "property": "poll-max-ns",
                         "value": 4242})
    c.cmd_ok("iothread-set", {"id": "io2", "thread-pool-min": 3,
                              "thread-pool-max": 9, "cpu-affinity": "0"})
    c.cmd_ok("iothread-set", {"id": "io1-a.b_c", "cpu-affinity": ""})
    c.cmd_ok("object-del", {"id": "io4"})
    c.cmd_ok("object-del", {"id": "io%d" % (N - 2)})
    c.cmd_ok("object-add", {"qom-type": "iothread", "id": "late",
                            "poll-grow": 5})
    v = by_id(check_line(c, "query-iothreads", keys=INFO_KEYS))
    check(v["io0"]["poll-max-ns"] == 4242, "io0: %s" % brief(v["io0"]))
    check((v["io2"]["thread-pool-min"], v["io2"]["thread-pool-max"],
           v["io2"]["cpu-affinity"]) == (3, 9, "0"), "io2: %s"
          % brief(v["io2"]))
    allowed = sorted(os.sched_getaffinity(0))
    check(v["io1-a.b_c"]["cpu-affinity"] != "0" or allowed == [0],
          "io1: still pinned: %s" % brief(v["io1-a.b_c"]))
    check("io4" not in v and "io%d" % (N - 2) not in v, "deleted ids listed")
    check(v["late"]["poll-grow"] == 5 and list(v)[-1] == "late",
          "late: %s" % brief(v["late"]))
    check(len(v) == N - 1, "%d entries, expected %d" % (len(v), N - 1))


@case("query-iothread-stats-wire")
def _(ctx):
    c = ctx.daemon().client()
    check_line(c, "query-iothread-stats", keys=STATS_KEYS)     # none
    for i in range(N):
        c.cmd_ok("object-add", {"qom-type": "iothread", "id": "s%d" % i,
                                "thread-pool-min": i % 3})
    v = check_line(c, "query-iothread-stats", keys=STATS_KEYS)
    check([e["id"] for e in v] == ["s%d" % i for i in range(N)],
          "ids: %s" % brief([e["id"] for e in v]))
    one = check_line(c, "query-iothread-stats", {"id": "s5"}, STATS_KEYS)
    check(len(one) == 1 and one[0]["id"] == "s5"
          and one[0]["thread-id"] == v[5]["thread-id"],
          "s5: %s" % brief(one))


if __name__ == "__main__":
    sys.exit(main())
