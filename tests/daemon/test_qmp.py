#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Integration tests of iothreadd and its QMP socket (issue 3).

Run from the repository root:  python3 tests/daemon/test_qmp.py [FILTER...]
Each case starts its own daemon ($IOTHREADD_BUILD/iothreadd, default
build/iothreadd) on a socket in a fresh temporary directory.  FILTER
arguments run only the cases whose name contains one of them.

Output: "ok - NAME" or "not ok - NAME: reason" per case (failures are
followed by "#"-prefixed lines with the tail of the daemon's stderr), and
"N passed, M failed" last.  Exit status 1 if anything failed.
Timeouts scale with $IOTHREAD_TEST_TIMEOUT_SCALE (default 1).
"""

import errno
import fcntl
import json
import os
import re
import signal
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import (  # noqa: E402
    LOG_ERR, REPO_ROOT, QMPClient, TestFailure, bind_stale_socket, brief,
    check, expect_error, expect_return, iothread_ids, iothreads, is_int, jeq,
    project_version, read_proc, run_binary, scaled, task_dir, thread_comm,
    thread_cpus_allowed, user_tasks, wait_for)
from casekit import Skip, case, main  # noqa: E402


INT64_MAX = 9223372036854775807
INT_PROPS = ["poll-max-ns", "poll-grow", "poll-shrink", "aio-max-batch",
             "thread-pool-min", "thread-pool-max"]
QEMU_DEFAULTS = {"poll-max-ns": 32768, "poll-grow": 0, "poll-shrink": 0,
                 "aio-max-batch": 0, "thread-pool-min": 0,
                 "thread-pool-max": 64}
QUERY_STATUS_KEYS = {"version", "pid", "uptime", "socket", "iothreads",
                     "max-iothreads", "clients"}
QUERY_KEYS = ["id", "thread-id"] + INT_PROPS + ["cpu-affinity", "fdmon",
                                                "aio-engine", "poll-ns"]
FDMONS = ("io_uring", "epoll", "poll")
SPEC_COMMANDS = ["qmp_capabilities", "query-version", "query-commands", "quit",
                 "object-add", "object-del", "qom-list", "qom-get", "qom-set",
                 "query-iothreads", "iothread-set", "query-iothread-stats",
                 "query-status", "reload"]
# The event-loop core's counters (include/iothread/aio.h, AioStats).
CORE_COUNTERS = ["iterations", "blocking-waits", "poll-passes", "poll-hits",
                 "poll-misses", "bh-runs", "fd-dispatches", "timers-fired",
                 "notify-writes", "notify-skipped"]
# The I/O engine's (io-in-flight is a gauge, the others counters).
ENGINE_COUNTERS = ["io-submitted", "io-completed", "io-in-flight",
                   "io-uring-enters"]
NEED_CAPS = "Expecting capabilities negotiation with 'qmp_capabilities'"
NOT_FOUND = "The command no-such-cmd has not been found"


# ---------------------------------------------------------------------------
# helpers

def config_of(entry):
    """The configured part of a query-iothreads entry (no live poll-ns)."""
    return {k: v for k, v in entry.items() if k != "poll-ns"}


def snapshot(c):
    return {k: config_of(v) for k, v in iothreads(c).items()}


def add(c, id, **props):
    args = {"qom-type": "iothread", "id": id}
    args.update({k.replace("_", "-"): v for k, v in props.items()})
    r = c.cmd("object-add", args)
    check(jeq(r, {"return": {}}), "object-add %s: expected {\"return\": {}}, "
          "got %s" % (brief(args), brief(r)))


def ids_of(c):
    return set(iothread_ids(c))


def image(ctx, name="disk.img", size=1 << 20):
    """A sparse raw image the daemon (maybe another user) can open."""
    return ctx.image(name, size)


def hold(ctx, c, iothread, export):
    """Hold @iothread for real, as a user does: an NBD export @export on it
    (its own block node; the NBD server started on first use)."""
    node = "n-" + export
    c.cmd_ok("blockdev-add", {"driver": "file", "node-name": node,
                              "filename": image(ctx, node + ".img")})
    if not os.path.exists(ctx.path("nbd.sock")):
        c.cmd_ok("nbd-server-start", {"addr": {
            "type": "unix", "data": {"path": ctx.path("nbd.sock")}}})
    c.cmd_ok("block-export-add", {"type": "nbd", "id": export,
                                  "node-name": node, "iothread": iothread})


def release(c, export):
    """Undo hold(): the export is deleted (its event seen), then its node."""
    c.cmd_ok("block-export-del", {"id": export})
    c.wait_event("BLOCK_EXPORT_DELETED",
                 pred=lambda ev: ev.get("data") == {"id": export})
    c.cmd_ok("blockdev-del", {"node-name": "n-" + export})


def check_props(entry, **want):
    for k, v in want.items():
        k = k.replace("_", "-")
        check(jeq(entry.get(k), v), "iothread %s: %s is %s, expected %s"
              % (entry.get("id"), k, brief(entry.get(k)), brief(v)))


def my_cpus():
    return sorted(os.sched_getaffinity(0))


def check_event(ev, name, iothread_id=None, t0=None):
    check(ev.get("event") == name, "expected event %s, got %s"
          % (name, brief(ev)))
    ts = ev.get("timestamp")
    check(isinstance(ts, dict) and is_int(ts.get("seconds"))
          and is_int(ts.get("microseconds")),
          "%s: bad timestamp %s" % (name, brief(ev)))
    check(0 <= ts["microseconds"] <= 999999,
          "%s: microseconds out of range: %s" % (name, brief(ev)))
    if t0 is not None:
        check(t0 - 120 <= ts["seconds"] <= time.time() + 120,
              "%s: timestamp %s is not the wall clock (%d)"
              % (name, ts, int(time.time())))
    if iothread_id is not None:
        data = ev.get("data")
        check(isinstance(data, dict), "%s without data: %s" % (name, brief(ev)))
        check(any(v == iothread_id or v == "/objects/" + iothread_id
                  for v in data.values()),
              "%s data does not name %s: %s" % (name, iothread_id, brief(ev)))


def names_iothread(ev, iothread_id):
    data = ev.get("data")
    return isinstance(data, dict) and any(
        v == iothread_id or v == "/objects/" + iothread_id
        for v in data.values())


def connect_retry(d, negotiate=True):
    """A client, retrying while the daemon may still be releasing a slot."""
    last = []

    def attempt():
        try:
            return d.client(negotiate=negotiate)
        except (OSError, EOFError, TestFailure) as e:
            last[:] = [e]
            return None
    c = wait_for(attempt)
    check(c is not None, "cannot connect: %s" % (last[0] if last else "?"))
    return c


def check_exit_clean(d):
    """@d exits 0 (after what the case did) and removes its socket."""
    d.wait_exit(0)
    check(not os.path.exists(d.sock), "socket %s left behind" % d.sock)


# ---------------------------------------------------------------------------
# protocol

@case("greeting")
def t_greeting(ctx):
    d = ctx.daemon()
    c = d.client(negotiate=False)
    g = c.greeting
    check(isinstance(g, dict) and list(g) == ["QMP"],
          "greeting is not {\"QMP\": ...}: %s" % brief(g))
    q = g["QMP"]
    check(isinstance(q, dict) and isinstance(q.get("version"), dict),
          "greeting lacks version: %s" % brief(g))
    check(isinstance(q.get("capabilities"), list),
          "greeting lacks capabilities list: %s" % brief(g))
    v = q["version"]
    qemu = v.get("qemu")
    check(isinstance(qemu, dict) and all(is_int(qemu.get(k)) and qemu[k] >= 0
                                         for k in ("major", "minor", "micro")),
          "greeting version.qemu lacks major/minor/micro: %s" % brief(g))
    check(isinstance(v.get("package"), str)
          and v["package"].startswith("iothreadd"),
          "greeting package does not start with iothreadd: %s" % brief(g))
    c.negotiate()
    ver = c.cmd_ok("query-version")
    check(jeq(ver, v), "greeting version %s != query-version %s"
          % (brief(v), brief(ver)))
    # Non-ASCII input must come back escaped: output is ASCII only.
    odd = "caf\u00e9 \u2603 \U0001f600 \"q\" \\ \t"
    r = c.cmd("query-version", id=odd)
    check("return" in r and jeq(r.get("id"), odd),
          "non-ASCII id not echoed: %s" % brief(r))
    expect_error(c.cmd("no-such-\u00e9"), "CommandNotFound")
    c.send_raw(b'{"bad \xff')
    expect_error(c.recv_reply(), "GenericError", what="0xFF in a string")
    expect_error(c.cmd("no-such-cmd"), "CommandNotFound", NOT_FOUND)
    c.check_wire()
    raw = bytes(c.raw)
    check(raw.endswith(b"\r\n"), "output does not end with CRLF")
    check(raw.count(b"\n") == raw.count(b"\r\n"), "bare LF in output")
    check(raw.count(b"\r") == raw.count(b"\r\n"), "bare CR in output")
    check(all(b < 0x80 for b in raw), "non-ASCII byte in output")


@case("negotiation")
def t_negotiation(ctx):
    d = ctx.daemon()
    c = d.client(negotiate=False)
    for name, args in [("query-version", None), ("query-iothreads", None),
                       ("object-add", {"qom-type": "iothread", "id": "io0"}),
                       ("quit", None), ("no-such-cmd", None)]:
        r = c.cmd(name, args, id="pre-" + name)
        expect_error(r, "CommandNotFound", NEED_CAPS, what=name +
                     " before qmp_capabilities")
        check(jeq(r.get("id"), "pre-" + name), "%s: id not echoed: %s"
              % (name, brief(r)))
    check(d.running(), "quit before negotiation stopped the daemon")
    r = c.cmd("qmp_capabilities", id=1)
    check(jeq(r, {"return": {}, "id": 1}), "qmp_capabilities: %s" % brief(r))
    r = c.cmd("qmp_capabilities", id=2)
    expect_error(r, "CommandNotFound", what="second qmp_capabilities")
    check(jeq(r.get("id"), 2), "id not echoed: %s" % brief(r))
    c.cmd_ok("query-version")
    check(ids_of(c) == set(), "object-add before negotiation created "
          "something: %s" % ids_of(c))
    # Negotiation is per connection.
    c2 = d.client(negotiate=False)
    expect_error(c2.cmd("query-version"), "CommandNotFound", NEED_CAPS,
                 what="second client before negotiation")
    c2.negotiate()
    c2.cmd_ok("query-version")


ID_VALUES = ["abc", "", "x\"y\\z/\u00e9\n", 42, 0, -7, 1234567890123, 0.5,
             -1.25, 1e-3, True, False, None, [], [1, "two", [3.5], {"k": None}],
             {}, {"a": [1, {"b": False}], "s": "t"}]


@case("id-echo")
def t_id_echo(ctx):
    d = ctx.daemon()
    c = d.client(negotiate=False)

    def req(execute, idv, args=None):
        m = {"execute": execute, "id": idv}
        if args is not None:
            m["arguments"] = args
        c.send(m)
        r = c.recv_reply()
        check("id" in r and jeq(r["id"], idv),
              "%s with id %s: reply %s" % (execute, brief(idv), brief(r)))
        return r

    for idv in ID_VALUES:
        expect_error(req("query-version", idv), "CommandNotFound", NEED_CAPS)
    r = req("qmp_capabilities", {"n": 1})
    check("return" in r, "qmp_capabilities: %s" % brief(r))
    for idv in ID_VALUES:
        expect_return(req("query-version", idv))
        expect_error(req("no-such-cmd", idv), "CommandNotFound", NOT_FOUND)
        expect_error(req("object-add", idv, {"qom-type": "iothread"}),
                     "GenericError", "Parameter 'id' is missing")
    r = c.cmd("query-version")
    check("return" in r and "id" not in r, "reply to a request without id "
          "has one: %s" % brief(r))


@case("byte-stream")
def t_byte_stream(ctx):
    d = ctx.daemon()
    c = d.client()
    # Two messages in one write, on one line.
    c.send_raw(b'{"execute":"query-version","id":1}'
               b'{"execute":"no-such-cmd","id":2}\r\n')
    r1, r2 = c.recv_reply(), c.recv_reply()
    check("return" in r1 and jeq(r1.get("id"), 1), "first: %s" % brief(r1))
    expect_error(r2, "CommandNotFound", NOT_FOUND)
    check(jeq(r2.get("id"), 2), "second: %s" % brief(r2))
    # Two lines in one write, LF only and CRLF.
    c.send_raw(b'{"execute":"query-version","id":3}\n'
               b'  \t{"execute":"query-version","id":4}\r\n')
    for want in (3, 4):
        r = c.recv_reply()
        check("return" in r and jeq(r.get("id"), want),
              "expected reply %d, got %s" % (want, brief(r)))
    # Split across writes with a pause, inside a multi-byte character.
    msg = json.dumps({"execute": "query-version",
                      "id": "split \u2603 end"}, ensure_ascii=False).encode()
    cut = msg.index("\u2603".encode()) + 1
    c.send_raw(msg[:cut])
    # Another client's round trip: the daemon's loop has come round.
    d.client().cmd_ok("query-version")
    c.send_raw(msg[cut:] + b"\r\n")
    # A reply to the first half would come first (an error: half a
    # message is not one); the first reply must be the whole message's.
    r = c.recv_reply()
    check("return" in r and r.get("id") == "split \u2603 end",
          "split message: %s" % brief(r))
    # One byte per write.
    msg = b'{"execute": "query-version", "id": "bytes"}'
    for i in range(len(msg)):
        c.send_raw(msg[i:i + 1])
    c.send_raw(b"\r\n")
    r = c.recv_reply()
    check("return" in r and r.get("id") == "bytes",
          "byte-wise message: %s" % brief(r))
    # No line ending at all.
    c.send_raw(b'{"execute":"query-version","id":"no-eol"}')
    r = c.recv_reply()
    check("return" in r and r.get("id") == "no-eol",
          "message without newline: %s" % brief(r))


MALFORMED_LEXICAL = [b"{]\n", b"{\xff", b"{\x01", b'{"bad \xff', b'{"bad \n']
MALFORMED_SEMANTIC = [
    (b"null\r\n", None, "QMP input must be a JSON object"),
    (b"[1, 2]\r\n", None, "QMP input must be a JSON object"),
    (b'"execute"\r\n', None, "QMP input must be a JSON object"),
    (b"{}", None, "QMP input lacks member 'execute'"),
    (b'{"arguments": {}, "id": "e1"}', "e1",
     "QMP input lacks member 'execute'"),
    (b'{"execute": true, "id": 7}', 7,
     "QMP input member 'execute' must be a string"),
    (b'{"execute": "no-such-cmd", "arguments": [], "id": [8]}', [8],
     "QMP input member 'arguments' must be an object"),
    (b'{"execute": "query-version", "extra": true}', None,
     "QMP input member 'extra' is unexpected"),
]


@case("malformed-input")
def t_malformed(ctx):
    d = ctx.daemon()
    c = d.client()
    n = 0

    def recovered(what):
        nonlocal n
        n += 1
        r = c.cmd("no-such-cmd", id="rec%d" % n)
        expect_error(r, "CommandNotFound", NOT_FOUND,
                     what="after %s (exactly one error expected)" % what)
        check(jeq(r.get("id"), "rec%d" % n), "after %s: wrong reply %s"
              % (what, brief(r)))

    for raw in MALFORMED_LEXICAL:
        c.send_raw(raw)
        desc = expect_error(c.recv_reply(), "GenericError", what=repr(raw))
        check(desc.startswith("JSON parse error"),
              "%r: desc %r does not start with 'JSON parse error'"
              % (raw, desc))
        recovered(repr(raw))
    for raw, idv, text in MALFORMED_SEMANTIC:
        c.send_raw(raw)
        r = c.recv_reply()
        expect_error(r, "GenericError", text, what=repr(raw))
        if idv is not None:
            check("id" in r and jeq(r["id"], idv),
                  "%r: id not echoed: %s" % (raw, brief(r)))
        recovered(repr(raw))
    # A stray closing brace after a good message: one reply, one error.
    c.send_raw(b'{"execute":"query-version","id":"good"}}\r\n')
    r = c.recv_reply()
    check("return" in r and r.get("id") == "good", "good message before a "
          "stray '}': %s" % brief(r))
    expect_error(c.recv_reply(), "GenericError", what="stray '}'")
    recovered("stray '}'")
    # 0xFF between messages resets the parser.
    c.send_raw(b'{"execute": "query-version", "id": \xff'
               b'{"execute":"query-version","id":"after-ff"}')
    expect_error(c.recv_reply(), "GenericError", what="0xFF mid-message")
    r = c.recv_reply()
    check("return" in r and r.get("id") == "after-ff",
          "message after 0xFF reset: %s" % brief(r))
    expect_error(c.cmd("no-such-cmd"), "CommandNotFound",
                 "The command no-such-cmd has not been found")
    # Arguments to a command that takes none.
    expect_error(c.cmd("query-version", {"bogus": 1}), "GenericError",
                 "Parameter 'bogus' is unexpected")
    check(d.running(), "daemon died")


# ---------------------------------------------------------------------------
# queries

@case("query-version")
def t_query_version(ctx):
    d = ctx.daemon()
    c = d.client()
    v = c.cmd_ok("query-version")
    check(isinstance(v, dict) and isinstance(v.get("qemu"), dict),
          "bad shape: %s" % brief(v))
    q = v["qemu"]
    for k in ("major", "minor", "micro"):
        check(is_int(q.get(k)) and q[k] >= 0, "qemu.%s: %s" % (k, brief(v)))
    check(isinstance(v.get("package"), str)
          and v["package"].startswith("iothreadd"),
          "package: %s" % brief(v))
    pv = project_version()
    if pv:
        want = [int(x) for x in re.findall(r"\d+", pv)[:3]]
        check([q["major"], q["minor"], q["micro"]] == want,
              "version %s does not match the Makefile's %s" % (brief(q), pv))


@case("query-commands")
def t_query_commands(ctx):
    d = ctx.daemon()
    c = d.client()
    ret = c.cmd_ok("query-commands")
    check(isinstance(ret, list) and all(isinstance(e, dict)
                                        and isinstance(e.get("name"), str)
                                        for e in ret),
          "bad shape: %s" % brief(ret))
    names = [e["name"] for e in ret]
    check(len(names) == len(set(names)), "duplicate names: %s" % names)
    missing = [n for n in SPEC_COMMANDS if n not in names]
    check(not missing, "missing commands: %s" % missing)


@case("query-status")
def t_query_status(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0")
    add(c, "io1")
    s = c.cmd_ok("query-status")
    check(isinstance(s, dict) and set(s) == QUERY_STATUS_KEYS,
          "query-status members %s, expected %s"
          % (brief(sorted(s)), sorted(QUERY_STATUS_KEYS)))
    check(jeq(s["pid"], d.pid), "pid %s, daemon is %d"
          % (brief(s["pid"]), d.pid))
    check(s["socket"] == d.sock, "socket %s, expected %s"
          % (brief(s["socket"]), d.sock))
    check(s["version"] == project_version(),
          "version %r, Makefile says %r" % (s["version"], project_version()))
    u1 = s["uptime"]
    check(isinstance(u1, float) and u1 >= 0, "bad uptime: %s" % brief(s))
    check(jeq(s["iothreads"], 2), "iothreads %s, expected 2" % brief(s))
    check(jeq(s["max-iothreads"], 1024), "max-iothreads %s, expected the "
          "default 1024" % brief(s))
    # This client and the one of the start-up check, if not yet gone.
    check(is_int(s["clients"]) and s["clients"] in (1, 2),
          "clients %s with one client connected" % brief(s))
    c2 = d.client()
    check(wait_for(lambda: c2.cmd_ok("query-status")["clients"] == 2),
          "clients with two clients connected: %s"
          % brief(c2.cmd_ok("query-status")))
    c.cmd_ok("object-del", {"id": "io1"})
    s2 = c.cmd_ok("query-status")
    check(jeq(s2["iothreads"], 1), "iothreads after object-del: %s"
          % brief(s2))
    check(s2["uptime"] >= u1, "uptime went backwards: %s then %s"
          % (u1, s2["uptime"]))


# ---------------------------------------------------------------------------
# iothread objects

def check_engine(e):
    """aio-engine follows fdmon: the ring's engine or the thread pool."""
    want = "io_uring" if e.get("fdmon") == "io_uring" else "thread-pool"
    check(e.get("aio-engine") == want, "%s: fdmon %s but aio-engine %s"
          % (e.get("id"), brief(e.get("fdmon")), brief(e.get("aio-engine"))))


@case("object-add")
def t_object_add(ctx):
    d = ctx.daemon()
    c = d.client()
    check(iothreads(c) == {}, "iothreads at start without config")
    add(c, "io0")
    ios = iothreads(c)
    check(set(ios) == {"io0"}, "query-iothreads: %s" % brief(ios))
    e = ios["io0"]
    missing = [k for k in QUERY_KEYS if k not in e]
    check(not missing, "query-iothreads entry lacks %s: %s"
          % (missing, brief(e)))
    for k in INT_PROPS + ["thread-id", "poll-ns"]:
        check(is_int(e[k]) and e[k] >= 0, "%s is not a non-negative integer:"
              " %s" % (k, brief(e)))
    check_props(e, **QEMU_DEFAULTS)
    check(e["fdmon"] in FDMONS, "fdmon %s is not an effective back-end"
          % brief(e["fdmon"]))
    check_engine(e)
    tid = e["thread-id"]
    check(tid != d.pid, "thread-id is the main thread's")
    check(os.path.isdir(task_dir(d.pid, tid)), "thread-id %d is not a thread"
          " of the daemon (no %s)" % (tid, task_dir(d.pid, tid)))
    add(c, "io1", poll_max_ns=1000, poll_grow=2, poll_shrink=3,
        aio_max_batch=4, thread_pool_min=1, thread_pool_max=8)
    ios = iothreads(c)
    check(set(ios) == {"io0", "io1"}, "query-iothreads: %s" % brief(ios))
    check_props(ios["io1"], poll_max_ns=1000, poll_grow=2, poll_shrink=3,
                aio_max_batch=4, thread_pool_min=1, thread_pool_max=8)
    check_props(ios["io0"], **QEMU_DEFAULTS)
    t1 = ios["io1"]["thread-id"]
    check(t1 != tid and os.path.isdir(task_dir(d.pid, t1)),
          "io1 thread-id %s not a distinct thread" % t1)
    # Limits of the ranges are accepted.
    add(c, "io2", poll_max_ns=INT64_MAX, poll_grow=0)
    check_props(iothreads(c)["io2"], poll_max_ns=INT64_MAX)


@case("thread-name-and-affinity")
def t_thread_name(ctx):
    d = ctx.daemon()
    c = d.client()
    cpus = my_cpus()
    long_id = "abcdefghijklmnopqrst"
    add(c, "io0", cpu_affinity=str(cpus[0]))
    add(c, long_id)
    ios = iothreads(c)
    for id, want in (("io0", "IO io0"), (long_id, ("IO " + long_id)[:15])):
        tid = ios[id]["thread-id"]
        wait_for(lambda: thread_comm(d.pid, tid) == want, timeout=scaled(5))
        got = thread_comm(d.pid, tid)
        check(got == want, "thread %s comm is %r, expected %r"
              % (id, got, want))
    tid = ios["io0"]["thread-id"]
    want = str(cpus[0])
    wait_for(lambda: thread_cpus_allowed(d.pid, tid) == want,
             timeout=scaled(5))
    got = thread_cpus_allowed(d.pid, tid)
    check(got == want, "io0 Cpus_allowed_list %r, expected %r" % (got, want))
    check(ios["io0"]["cpu-affinity"] == want, "io0 cpu-affinity reported %s,"
          " expected %r" % (brief(ios["io0"]["cpu-affinity"]), want))
    before = snapshot(c)
    for bad in ("bogus", "1-", "^", "0-1,^"):
        r = c.cmd("object-add", {"qom-type": "iothread", "id": "iobad",
                                 "cpu-affinity": bad})
        expect_error(r, "GenericError", what="cpu-affinity %r" % bad)
    check(snapshot(c) == before, "rejected cpu-affinity changed something")


@case("affinity-on-two-cpus")
def t_affinity_two_cpus(ctx):
    cpus = my_cpus()
    if not (0 in cpus and 1 in cpus):
        raise Skip("needs CPUs 0 and 1 (has %s)" % cpus)
    d = ctx.daemon()
    c = d.client()
    add(c, "io0", cpu_affinity="0")
    # The main thread is not pinned by the iothread's affinity.
    main_cpus = thread_cpus_allowed(d.pid, d.pid)
    check(main_cpus != "0", "main thread got the iothread's affinity")
    # Exclusion grammar and a change at run time (applied before the reply).
    add(c, "io2", cpu_affinity="0-1,^1")
    t2 = iothreads(c)["io2"]["thread-id"]
    wait_for(lambda: thread_cpus_allowed(d.pid, t2) == "0")
    got = thread_cpus_allowed(d.pid, t2)
    check(got == "0", "cpu-affinity 0-1,^1 gave %r, expected '0'" % got)
    c.cmd_ok("iothread-set", {"id": "io2", "cpu-affinity": "1"})
    got = thread_cpus_allowed(d.pid, t2)
    check(got == "1", "after iothread-set cpu-affinity 1 the thread has "
          "%r (the reply must follow the change)" % got)


@case("object-add-errors")
def t_object_add_errors(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0", poll_max_ns=1000)
    before = snapshot(c)
    tasks_before = user_tasks(d.pid)

    def bad(args, desc=None, what=None):
        a = {"qom-type": "iothread"}
        a.update(args)
        r = c.cmd("object-add", a)
        expect_error(r, "GenericError", desc, what=what or brief(args))

    bad({"id": "io0"}, "IOThread 'io0' already exists")
    bad({"id": "io0", "poll-max-ns": 5}, "IOThread 'io0' already exists")
    for badid in ("9io", "io 0", "", "a/b", "-x", "io\u00e9"):
        bad({"id": badid}, "Parameter 'id' expects an identifier",
            what="id %r" % badid)
    bad({}, "Parameter 'id' is missing")
    bad({"poll-max-ns": 5}, "Parameter 'id' is missing")
    bad({"id": 5}, "Invalid parameter type for 'id', expected: string")
    for v in ("fast", "1000", 1.5, True, None, [1], {}):
        bad({"id": "newio", "poll-max-ns": v},
            "Invalid parameter type for 'poll-max-ns', expected: integer",
            what="poll-max-ns %s" % brief(v))
    for p in INT_PROPS:
        bad({"id": "newio", p: -1},
            "%s value must be in range [0, 9223372036854775807]" % p,
            what="%s -1" % p)
        bad({"id": "newio", p: "x"},
            "Invalid parameter type for '%s', expected: integer" % p,
            what="%s 'x'" % p)
    bad({"id": "newio", "poll-max-ns": 10, "bogus": 1},
        "Parameter 'bogus' is unexpected")
    bad({"id": "newio", "poll-grow": 2, "poll-shrink": -5},
        "poll-shrink value must be in range [0, 9223372036854775807]")
    r = c.cmd("object-add", {"id": "newio"})
    expect_error(r, "GenericError", "Parameter 'qom-type' is missing")
    r = c.cmd("object-add", {"qom-type": "no-such-type", "id": "newio"})
    expect_error(r, what="qom-type no-such-type")
    bad({"id": "newio", "fdmon": "bogus"}, what="fdmon bogus")
    bad({"id": "newio", "thread-pool-min": 5, "thread-pool-max": 4},
        what="thread-pool-min > thread-pool-max")
    bad({"id": "newio", "thread-pool-min": 100},
        what="thread-pool-min above the default max 64")
    expect_error(c.cmd("object-add"), "GenericError",
                 what="object-add without arguments")
    check(snapshot(c) == before, "a rejected object-add changed things: %s"
          % brief(snapshot(c)))
    tasks_after = user_tasks(d.pid)
    check(tasks_after == tasks_before, "threads changed after rejected "
          "requests: %s -> %s" % (tasks_before, tasks_after))


@case("object-del")
def t_object_del(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0")
    add(c, "io1")
    tid0 = iothreads(c)["io0"]["thread-id"]
    r = c.cmd("object-del", {"id": "io0"})
    check(jeq(r, {"return": {}}), "object-del: %s" % brief(r))
    check(ids_of(c) == {"io1"}, "after object-del: %s" % ids_of(c))
    gone = wait_for(lambda: not os.path.exists(task_dir(d.pid, tid0)))
    check(gone, "thread %d of io0 still exists" % tid0)
    for id in ("io0", "nope"):
        r = c.cmd("object-del", {"id": id})
        expect_error(r, "DeviceNotFound", "Device '/objects/%s' not found" % id)
    expect_error(c.cmd("object-del", {}), "GenericError",
                 "Parameter 'id' is missing")
    check(ids_of(c) == {"io1"}, "after failed object-del: %s" % ids_of(c))
    add(c, "io0")
    check(ids_of(c) == {"io0", "io1"}, "id not reusable after object-del")
    check(d.running(), "daemon died")


@case("object-del-held")
def t_object_del_held(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0")
    hold(ctx, c, "io0", "nbd0")
    tid = iothreads(c)["io0"]["thread-id"]
    expect_error(c.cmd("object-del", {"id": "io0"}), "GenericError",
                 "IOThread 'io0' is in use by 'block export nbd0'",
                 what="object-del of a held iothread")
    check(ids_of(c) == {"io0"}, "held iothread deleted")
    check(os.path.exists(task_dir(d.pid, tid)), "the held thread stopped")
    release(c, "nbd0")
    c.cmd_ok("object-del", {"id": "io0"})
    check(ids_of(c) == set(), "not deleted after release")


@case("qom-list")
def t_qom_list(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0")
    add(c, "io1")
    ret = c.cmd_ok("qom-list", {"path": "/objects"})
    check(isinstance(ret, list), "not a list: %s" % brief(ret))
    kids = {e.get("name"): e.get("type") for e in ret}
    for id in ("io0", "io1"):
        check(kids.get(id) == "child<iothread>", "/objects lacks %s "
              "child<iothread>: %s" % (id, brief(ret)))
    for path in ("/objects/io0", "io0"):
        ret = c.cmd_ok("qom-list", {"path": path})
        props = {e.get("name"): e.get("type") for e in ret}
        for p in INT_PROPS:
            check(props.get(p) == "int", "qom-list %s: %s missing or not int:"
                  " %s" % (path, p, brief(ret)))
    expect_error(c.cmd("qom-list", {"path": "/objects/nope"}),
                 "DeviceNotFound", "Device '/objects/nope' not found")
    expect_error(c.cmd("qom-list", {}), "GenericError",
                 "Parameter 'path' is missing")
    c.cmd_ok("object-del", {"id": "io1"})
    ret = c.cmd_ok("qom-list", {"path": "/objects"})
    check("io1" not in {e.get("name") for e in ret},
          "/objects still lists io1 after object-del")


@case("qom-get-set")
def t_qom_get_set(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0")

    def get(path, prop="poll-max-ns"):
        return c.cmd_ok("qom-get", {"path": path, "property": prop})

    check(jeq(get("/objects/io0"), 32768), "qom-get default poll-max-ns: %s"
          % brief(get("/objects/io0")))
    check(jeq(get("io0", "thread-pool-max"), 64), "qom-get thread-pool-max")
    r = c.cmd("qom-set", {"path": "/objects/io0", "property": "poll-max-ns",
                          "value": 5000})
    check(jeq(r, {"return": {}}), "qom-set: %s" % brief(r))
    check(jeq(get("io0"), 5000), "qom-get after qom-set: %s" % get("io0"))
    check_props(iothreads(c)["io0"], poll_max_ns=5000)
    c.cmd_ok("qom-set", {"path": "io0", "property": "poll-max-ns",
                         "value": 7000})
    check(jeq(get("/objects/io0"), 7000), "qom-set with partial path")
    before = snapshot(c)
    expect_error(c.cmd("qom-set", {"path": "io0", "property": "poll-max-ns",
                                   "value": -1}), "GenericError",
                 "poll-max-ns value must be in range [0, 9223372036854775807]")
    expect_error(c.cmd("qom-set", {"path": "io0", "property": "poll-max-ns",
                                   "value": "abc"}), "GenericError",
                 "Invalid parameter type for 'poll-max-ns', expected: integer")
    expect_error(c.cmd("qom-set", {"path": "io0", "property": "bogus",
                                   "value": 1}), what="qom-set unknown prop")
    expect_error(c.cmd("qom-set", {"path": "io0",
                                   "property": "thread-pool-min",
                                   "value": 100}),
                 what="qom-set thread-pool-min above thread-pool-max")
    cur = before["io0"]["fdmon"]
    other = "poll" if cur != "poll" else "epoll"
    expect_error(c.cmd("qom-set", {"path": "io0", "property": "fdmon",
                                   "value": other}),
                 what="qom-set fdmon (fixed at creation)")
    check(snapshot(c) == before, "rejected qom-set changed something: %s"
          % brief(snapshot(c)))
    check(jeq(get("io0"), 7000), "value changed by a rejected qom-set")
    expect_error(c.cmd("qom-get", {"path": "/objects/nope",
                                   "property": "poll-max-ns"}),
                 "DeviceNotFound", "Device '/objects/nope' not found")
    expect_error(c.cmd("qom-set", {"path": "/objects/nope",
                                   "property": "poll-max-ns", "value": 1}),
                 "DeviceNotFound", "Device '/objects/nope' not found")
    expect_error(c.cmd("qom-get", {"path": "io0"}), "GenericError",
                 "Parameter 'property' is missing")


@case("iothread-set")
def t_iothread_set(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0", poll_max_ns=1000, poll_grow=2, poll_shrink=2)
    tid = iothreads(c)["io0"]["thread-id"]
    r = c.cmd("iothread-set", {"id": "io0", "poll-max-ns": 2000,
                               "poll-grow": 3, "poll-shrink": 4,
                               "aio-max-batch": 5})
    check(jeq(r, {"return": {}}), "iothread-set: %s" % brief(r))
    e = iothreads(c)["io0"]
    check_props(e, poll_max_ns=2000, poll_grow=3, poll_shrink=4,
                aio_max_batch=5)
    check(e["thread-id"] == tid, "iothread-set replaced the thread")
    check(jeq(c.cmd_ok("qom-get", {"path": "io0",
                                   "property": "poll-grow"}), 3),
          "qom-get does not see iothread-set's value")
    before = snapshot(c)
    cur = before["io0"]["fdmon"]
    other = "poll" if cur != "poll" else "epoll"
    for args, desc in [
            ({"poll-max-ns": 9999, "poll-grow": 7, "poll-shrink": -1},
             "poll-shrink value must be in range [0, 9223372036854775807]"),
            ({"poll-max-ns": 9999, "aio-max-batch": "x"},
             "Invalid parameter type for 'aio-max-batch', expected: integer"),
            ({"poll-max-ns": 9999, "bogus": 1},
             "Parameter 'bogus' is unexpected"),
            ({"poll-max-ns": 9999, "fdmon": other}, None),
            ({"poll-max-ns": 9999, "cpu-affinity": "bogus"}, None),
            ({"poll-max-ns": 9999, "thread-pool-min": 70}, None)]:
        a = {"id": "io0"}
        a.update(args)
        expect_error(c.cmd("iothread-set", a), "GenericError", desc,
                     what="iothread-set %s" % brief(args))
        check(snapshot(c) == before, "rejected iothread-set %s changed "
              "things: %s" % (brief(args), brief(snapshot(c))))
    expect_error(c.cmd("iothread-set", {"id": "nope", "poll-max-ns": 1}),
                 what="iothread-set of an unknown id")
    expect_error(c.cmd("iothread-set", {"poll-max-ns": 1}), "GenericError",
                 "Parameter 'id' is missing")
    check(snapshot(c) == before, "rejected iothread-set changed things")


@case("iothread-set-thread-pool")
def t_thread_pool(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0", thread_pool_min=1, thread_pool_max=2)
    check_props(iothreads(c)["io0"], thread_pool_min=1, thread_pool_max=2)
    # (1,2) -> (3,4): min 3 > old max 2, fine as one request.
    c.cmd_ok("iothread-set", {"id": "io0", "thread-pool-min": 3,
                              "thread-pool-max": 4})
    check_props(iothreads(c)["io0"], thread_pool_min=3, thread_pool_max=4)
    for args in ({"thread-pool-min": 5}, {"thread-pool-min": 6,
                                          "thread-pool-max": 5},
                 {"thread-pool-max": 2}):
        a = {"id": "io0"}
        a.update(args)
        expect_error(c.cmd("iothread-set", a), "GenericError",
                     what="iothread-set %s" % brief(args))
        check_props(iothreads(c)["io0"], thread_pool_min=3, thread_pool_max=4)
    # Downwards in one request: max 1 < old min 3.
    c.cmd_ok("iothread-set", {"id": "io0", "thread-pool-min": 0,
                              "thread-pool-max": 1})
    check_props(iothreads(c)["io0"], thread_pool_min=0, thread_pool_max=1)
    # A rejected thread-pool-min must not be stored and applied later (QEMU
    # does that).
    expect_error(c.cmd("qom-set", {"path": "io0", "property":
                                   "thread-pool-min", "value": 3}),
                 what="qom-set thread-pool-min 3 > max 1")
    c.cmd_ok("iothread-set", {"id": "io0", "thread-pool-max": 10})
    check_props(iothreads(c)["io0"], thread_pool_min=0, thread_pool_max=10)
    r = c.cmd("object-add", {"qom-type": "iothread", "id": "io1",
                             "thread-pool-min": 5, "thread-pool-max": 4})
    expect_error(r, "GenericError", what="object-add thread-pool-min > max")
    check(ids_of(c) == {"io0"}, "io1 created despite the error")


@case("query-iothread-stats")
def t_stats(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0")
    add(c, "io1")

    def entries(args):
        ret = c.cmd_ok("query-iothread-stats", args)
        if isinstance(ret, dict):
            ret = [ret]
        check(isinstance(ret, list) and all(isinstance(e, dict) for e in ret),
              "bad shape: %s" % brief(ret))
        return {e.get("id"): e for e in ret}

    def check_entry(e):
        norm = {k.replace("_", "-"): v for k, v in e.items()}
        for k in CORE_COUNTERS + ENGINE_COUNTERS:
            check(k in norm, "stats of %s lack %s: %s"
                  % (e.get("id"), k, brief(e)))
            check(is_int(norm[k]) and norm[k] >= 0, "%s is not a counter: %s"
                  % (k, brief(e)))
        for part in ("user", "sys"):
            ks = [k for k in norm if part in k and (
                "cpu" in k or "time" in k)]
            check(ks, "stats of %s lack %s CPU time: %s"
                  % (e.get("id"), part, brief(e)))
            v = norm[ks[0]]
            check(isinstance(v, (int, float)) and not isinstance(v, bool)
                  and v >= 0, "%s is not a CPU time: %s" % (ks[0], brief(e)))
        return norm

    first = entries({})
    check(set(first) == {"io0", "io1"}, "query-iothread-stats lists %s"
          % brief(list(first)))
    for e in first.values():
        check_entry(e)
    c.cmd_ok("iothread-set", {"id": "io0", "poll-max-ns": 100})
    one = entries({"id": "io0"})
    check(set(one) == {"io0"}, "with id io0: %s" % brief(list(one)))
    a, b = check_entry(first["io0"]), check_entry(one["io0"])
    for k in CORE_COUNTERS:
        check(b[k] >= a[k], "counter %s went backwards: %d -> %d"
              % (k, a[k], b[k]))
    expect_error(c.cmd("query-iothread-stats", {"id": "nope"}),
                 what="stats of an unknown id")
    c.cmd_ok("object-del", {"id": "io1"})
    check(set(entries({})) == {"io0"}, "stats still list a deleted iothread")


@case("fdmon")
def t_fdmon(ctx):
    d = ctx.daemon()
    c = d.client()
    add(c, "io0", fdmon="poll")
    add(c, "io1", fdmon="epoll")
    add(c, "io2", fdmon="auto")
    ios = iothreads(c)
    check(ios["io0"]["fdmon"] == "poll", "fdmon poll reports %s"
          % brief(ios["io0"]["fdmon"]))
    check(ios["io1"]["fdmon"] == "epoll", "fdmon epoll reports %s"
          % brief(ios["io1"]["fdmon"]))
    check(ios["io2"]["fdmon"] in FDMONS, "fdmon auto reports %s"
          % brief(ios["io2"]["fdmon"]))
    for id in ("io0", "io1", "io2"):
        check_engine(ios[id])
    before = snapshot(c)
    expect_error(c.cmd("object-add", {"qom-type": "iothread", "id": "io3",
                                      "fdmon": "kqueue"}),
                 what="fdmon kqueue")
    expect_error(c.cmd("iothread-set", {"id": "io0", "fdmon": "epoll"}),
                 what="changing fdmon after creation")
    check(snapshot(c) == before, "rejected fdmon requests changed things")


@case("fdmon-without-io-uring")
def t_fdmon_no_uring(ctx):
    d = ctx.daemon(env={"LIBIOTHREAD_DISABLE_IO_URING": "1"})
    c = d.client()
    add(c, "io0", fdmon="auto")
    add(c, "io1")
    ios = iothreads(c)
    for id in ("io0", "io1"):
        check(ios[id]["fdmon"] in ("epoll", "poll"),
              "%s reports fdmon %s with io_uring disabled"
              % (id, brief(ios[id]["fdmon"])))
        check(ios[id].get("aio-engine") == "thread-pool",
              "%s reports aio-engine %s with io_uring disabled"
              % (id, brief(ios[id].get("aio-engine"))))


# ---------------------------------------------------------------------------
# clients and events

@case("events")
def t_events(ctx):
    d = ctx.daemon()
    a = d.client()
    b = d.client()
    n = d.client(negotiate=False)
    t0 = time.time()
    add(a, "io0")
    check_event(b.wait_event("IOTHREAD_CREATED"), "IOTHREAD_CREATED", "io0",
                t0)
    check_event(a.wait_event("IOTHREAD_CREATED"), "IOTHREAD_CREATED", "io0",
                t0)
    a.cmd_ok("iothread-set", {"id": "io0", "poll-max-ns": 5000})
    check_event(b.wait_event("IOTHREAD_CHANGED"), "IOTHREAD_CHANGED", "io0",
                t0)
    # Rejected requests emit nothing.
    expect_error(a.cmd("object-add", {"qom-type": "iothread", "id": "io1",
                                      "poll-max-ns": -1}))
    expect_error(a.cmd("iothread-set", {"id": "io0", "poll-max-ns": -1}))
    a.cmd_ok("object-del", {"id": "io0"})
    check_event(b.wait_event("IOTHREAD_DELETED"), "IOTHREAD_DELETED", "io0",
                t0)
    add(a, "io2")
    ev = b.wait_event("IOTHREAD_CREATED")
    check_event(ev, "IOTHREAD_CREATED", "io2", t0)
    bad = [e for e in b.all_events if names_iothread(e, "io1")]
    check(not bad, "event for a rejected object-add: %s" % brief(bad))
    changed = [e for e in b.all_events if e.get("event") == "IOTHREAD_CHANGED"]
    check(len(changed) == 1, "expected one IOTHREAD_CHANGED, got %s"
          % brief(changed))
    # The client that had not negotiated got none of it.
    r = n.cmd("qmp_capabilities")
    check(jeq(r, {"return": {}}), "late qmp_capabilities: %s" % brief(r))
    n.cmd_ok("query-version")
    check(n.all_events == [], "unnegotiated client received events: %s"
          % brief(n.all_events))
    add(a, "io3")
    check_event(n.wait_event("IOTHREAD_CREATED"), "IOTHREAD_CREATED", "io3",
                t0)


@case("max-clients")
def t_max_clients(ctx):
    cfg = ctx.write("c.json", '{"max-clients": 2}\n')
    d = ctx.daemon(["--config", cfg])
    a = connect_retry(d)
    b = connect_retry(d)
    refused = False
    try:
        x = QMPClient(d.sock, timeout=scaled(5), read_greeting=False)
        try:
            x.read_until_eof(timeout=scaled(5))
            refused = True
        except TestFailure:
            refused = False
        finally:
            x.close()
    except OSError:
        refused = True
    check(refused, "a third client (max-clients 2) was neither refused nor "
          "closed")
    a.cmd_ok("query-version")
    b.cmd_ok("query-version")
    b.close()
    d.clients.remove(b)
    c = connect_retry(d)
    c.cmd_ok("query-version")
    a.cmd_ok("query-version")


@case("max-iothreads")
def t_max_iothreads(ctx):
    cfg = ctx.write("c.json", '{"max-iothreads": 2}\n')
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    add(c, "io0")
    add(c, "io1")
    expect_error(c.cmd("object-add", {"qom-type": "iothread", "id": "io2"}),
                 "GenericError", "Cannot create IOThread 'io2': the maximum "
                 "of 2 iothreads is reached", what="third iothread with max 2")
    check(ids_of(c) == {"io0", "io1"}, "ids %s" % ids_of(c))
    c.cmd_ok("object-del", {"id": "io1"})
    add(c, "io2")
    check(ids_of(c) == {"io0", "io2"}, "ids %s" % ids_of(c))


@case("configured-input-limits")
def t_configured_limits(ctx):
    cfg = ctx.write("c.json", '{"max-message-size": 1024, '
                    '"max-nesting-depth": 4}\n')
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    c.send_raw(b'{"execute":"query-version","id":"' + b"a" * 2000 + b'"}')
    desc = expect_error(c.recv_reply(), "GenericError",
                        what="message over max-message-size")
    check("1024" in desc, "error does not name the limit: %r" % desc)
    c.cmd_ok("query-version")
    # depth 4 passes the splitter (an id may be any JSON value) ...
    r = c.cmd("query-version", id=[[[1]]])
    check("return" in r and r.get("id") == [[[1]]], "depth 4: %r" % r)
    # ... depth 5 does not
    c.send_raw(b'{"execute":"query-version","id":[[[[1]]]]}')
    expect_error(c.recv_reply(), "GenericError", what="depth 5")
    c.cmd_ok("query-version")


@case("input-limits-and-slow-client")
def t_limits(ctx):
    d = ctx.daemon()
    good = d.client()

    def error_or_close(data, what):
        """A new client sends @data: an error reply or a closed
        connection, never a successful reply; @good is still served."""
        c = d.client()
        try:
            c.send_raw(data)
            expect_error(c.recv_reply(), what=what)
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass
        except socket.timeout:
            raise TestFailure("%s: neither an error nor a close" % what)
        good.cmd_ok("query-version")

    # A 2 MiB message (default limit 1 MiB).
    error_or_close(b'{"execute":"query-version","id":"' + b"a" * (2 << 20)
                   + b'"}\r\n', "2 MiB message")
    # Deep nesting: an error (before the message ends) or a close.
    error_or_close(b'{"execute":"query-version","id":' + b"[" * 100000,
                   "nesting depth 100000")
    # A client that sends but never reads must not block the others.
    slow = d.client()
    slow.sock.setblocking(False)
    req = b'{"execute":"query-commands"}\r\n' * 256
    sent, stalled_since = 0, None
    deadline = time.monotonic() + scaled(5)
    while sent < (4 << 20) and time.monotonic() < deadline:
        try:
            sent += slow.sock.send(req)
            stalled_since = None
        except BlockingIOError:
            now = time.monotonic()
            stalled_since = stalled_since or now
            if now - stalled_since > 0.5:
                break
            time.sleep(0.01)
        except OSError:
            break            # dropped: allowed
    good.cmd_ok("query-version")
    add(good, "io0")
    other = d.client()
    other.cmd_ok("query-iothreads")
    check(d.running(), "daemon died")
    slow.close()
    d.clients.remove(slow)
    good.cmd_ok("query-version")


# ---------------------------------------------------------------------------
# process lifetime

@case("quit")
def t_quit(ctx):
    d = ctx.daemon()
    a = d.client()
    b = d.client()
    add(a, "io0")
    r = a.cmd("quit", id="bye")
    check(jeq(r, {"return": {}, "id": "bye"}), "quit reply: %s" % brief(r))
    a.read_until_eof()
    check_exit_clean(d)
    msgs = b.events + b.read_until_eof()
    sd = [m for m in msgs if m.get("event") == "SHUTDOWN"]
    check(sd, "other client got no SHUTDOWN event: %s" % brief(msgs))
    check_event(sd[0], "SHUTDOWN")


def signal_case(ctx, sig):
    pf = ctx.path("p.pid")
    d = ctx.daemon(["--pidfile", pf])
    c = d.client()
    add(c, "io0")
    add(c, "io1")
    d.signal(sig)
    check_exit_clean(d)
    msgs = c.events + c.read_until_eof()
    check(not os.path.exists(pf), "pidfile left behind")
    check(any(m.get("event") == "SHUTDOWN" for m in msgs),
          "no SHUTDOWN event before the close: %s" % brief(msgs))


@case("sigterm")
def t_sigterm(ctx):
    signal_case(ctx, signal.SIGTERM)


@case("sigint")
def t_sigint(ctx):
    signal_case(ctx, signal.SIGINT)


# clock_nanosleep(2) (what usleep() calls), by machine.
CLOCK_NANOSLEEP = {"x86_64": 230, "aarch64": 115, "riscv64": 115,
                   "ppc64le": 248, "s390x": 262}


def wait_sleeping(pid, tid):
    """Wait until thread @tid is in clock_nanosleep (a stalled loop)."""
    nr = CLOCK_NANOSLEEP.get(os.uname().machine)
    if nr is None:
        raise Skip("clock_nanosleep's number on %s is not known here"
                   % os.uname().machine)

    def sleeping():
        s = read_proc(task_dir(pid, tid) + "/syscall")
        return s is not None and s.split()[0] == str(nr)
    check(wait_for(sleeping), "thread %d never entered the stall" % tid)


def sigterm_under_stress(ctx, stress):
    d = ctx.daemon(["--object", "iothread,id=io0",
                    "--object", "iothread,id=io1"])
    c = d.client()
    stress(d, c)
    d.signal(signal.SIGTERM)
    check_exit_clean(d)
    msgs = c.events + c.read_until_eof()
    check(any(m.get("event") == "SHUTDOWN" for m in msgs),
          "no SHUTDOWN event before the close: %s" % brief(msgs))


@case("sigterm-with-stalled-iothread")
def t_sigterm_stalled(ctx):
    def stall(d, c):
        c.cmd_ok("x-debug-iothread-stall", {"id": "io1", "ms": 2000})
        wait_sleeping(d.pid, iothreads(c)["io1"]["thread-id"])
    sigterm_under_stress(ctx, stall)


@case("sigterm-with-held-iothread")
def t_sigterm_held(ctx):
    def exports(d, c):
        hold(ctx, c, "io0", "nbd0")
        hold(ctx, c, "io1", "nbd1")
    sigterm_under_stress(ctx, exports)


@case("stale-socket")
def t_stale_socket(ctx):
    bind_stale_socket(ctx.sock)
    check(stat.S_ISSOCK(os.lstat(ctx.sock).st_mode), "setup")
    d = ctx.daemon()
    c = d.client()
    c.cmd_ok("query-version")


@case("already-running")
def t_already_running(ctx):
    d1 = ctx.daemon()
    c = d1.client()
    d2 = ctx.daemon(start=False, name="second")
    d2.start()
    d2.wait_exit(1, "a second daemon on a live socket")
    check("already running" in d2.stderr().lower(),
          "second daemon's stderr lacks 'already running': %r"
          % d2.stderr()[-300:])
    check(os.path.exists(d1.sock), "the second daemon removed the live socket")
    c.cmd_ok("query-version")
    c2 = d1.client()
    c2.cmd_ok("query-version")


@case("socket-defaults")
def t_socket_defaults(ctx):
    sock = ctx.path("env.sock")
    d = ctx.daemon(sock=sock, socket_arg=False,
                   env={"IOTHREADD_SOCKET": sock})
    d.client().cmd_ok("query-version")
    mode = stat.S_IMODE(os.stat(sock).st_mode)
    check(mode == 0o600, "socket mode %o, expected 600" % mode)
    d.signal(signal.SIGTERM)
    check_exit_clean(d)


@case("socket-default-xdg")
def t_socket_default_xdg(ctx):
    # $XDG_RUNTIME_DIR is the default for users other than root: as root,
    # the daemon runs as an unprivileged uid.
    uid = ctx.unprivileged()
    xdg = ctx.mkdir("xdg")
    sock = os.path.join(xdg, "iothreadd", "qmp.sock")
    d = ctx.daemon(sock=sock, socket_arg=False, name="xdg",
                   env={"XDG_RUNTIME_DIR": xdg})
    d.client().cmd_ok("query-version")
    dmode = stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode)
    check(dmode == 0o700, "socket directory mode %o, expected 700" % dmode)
    check(os.stat(sock).st_uid == (os.geteuid() if uid is None else uid),
          "socket owner")
    d.signal(signal.SIGTERM)
    check_exit_clean(d)


@case("socket-path-is-a-regular-file")
def t_socket_path_file(ctx):
    with open(ctx.sock, "w") as f:
        f.write("precious\n")
    d = ctx.daemon(start=False)
    d.start()
    d.wait_exit(1, "a regular file at the socket path")
    check(re.search(LOG_ERR + r".*%s exists and is not a socket"
                    % re.escape(ctx.sock), d.stderr(), re.M),
          "unclear error: %r" % d.stderr())
    with open(ctx.sock) as f:
        check(f.read() == "precious\n", "the file was touched")


@case("socket-path-too-long")
def t_socket_path_long(ctx):
    sock = os.path.join(ctx.dir, "d" * (108 - len(ctx.dir)), "qmp.sock")
    check(len(sock) >= 108, "setup: %d" % len(sock))
    d = ctx.daemon(sock=sock, start=False)
    d.start()
    d.wait_exit(1, "a socket path longer than sun_path")
    check(re.search(LOG_ERR + r".*: socket path is longer than 107 bytes: %s$"
                    % re.escape(sock), d.stderr(), re.M),
          "unclear error: %r" % d.stderr())
    check(not os.path.exists(os.path.dirname(sock)),
          "directories made for a socket that cannot exist")


@case("object-option")
def t_object_option(ctx):
    cpu = my_cpus()[0]
    d = ctx.daemon(["--object", "iothread,id=io0,poll-max-ns=1000",
                    "--object", '{"qom-type":"iothread","id":"io1"}',
                    "--object", "iothread,id=io2,poll-grow=2,poll-shrink=3,"
                    "thread-pool-min=1,thread-pool-max=4,fdmon=poll,"
                    "cpu-affinity=%d" % cpu,
                    "--object", '{"qom-type": "iothread", "id": "io3", '
                    '"poll-max-ns": 0, "aio-max-batch": 8}'])
    c = d.client()
    ios = iothreads(c)
    check(set(ios) == {"io0", "io1", "io2", "io3"}, "iothreads %s"
          % brief(list(ios)))
    check_props(ios["io0"], poll_max_ns=1000)
    check_props(ios["io1"], **QEMU_DEFAULTS)
    check_props(ios["io2"], poll_grow=2, poll_shrink=3, thread_pool_min=1,
                thread_pool_max=4, fdmon="poll")
    check_props(ios["io3"], poll_max_ns=0, aio_max_batch=8)
    for id, e in ios.items():
        check(os.path.isdir(task_dir(d.pid, e["thread-id"])),
              "%s has no thread" % id)
    got = thread_cpus_allowed(d.pid, ios["io2"]["thread-id"])
    check(got == str(cpu), "io2 Cpus_allowed_list %r" % got)


@case("object-option-invalid")
def t_object_option_invalid(ctx):
    for bad in (["iothread,id=9bad"], ["iothread,id=io0,poll-max-ns=-1"],
                ["iothread,id=io0,poll-max-ns=fast"],
                ["iothread,id=io0,bogus=1"], ["iothread"], ["nope,id=x"],
                ['{"qom-type":"iothread"}'], ['{"qom-type":"iothread",'],
                ["iothread,id=io0", "iothread,id=io0"]):
        args = ["--socket", ctx.sock]
        for o in bad:
            args += ["--object", o]
        status, out, err = run_binary(args, timeout=scaled(5))
        check(status != 0, "--object %s: exit status 0" % " ".join(bad))
        check(err.strip(), "--object %s: nothing on stderr" % " ".join(bad))
        check(not os.path.exists(ctx.sock), "--object %s: socket left "
              "behind" % " ".join(bad))


# ---------------------------------------------------------------------------
# configuration

@case("config-file")
def t_config_file(ctx):
    cpu = my_cpus()[0]
    cfg = ctx.write("c.json", json.dumps({"iothreads": [
        {"id": "io0", "poll-max-ns": 1000, "cpu-affinity": str(cpu)},
        {"id": "io1", "poll-grow": 2, "thread-pool-min": 1,
         "thread-pool-max": 3, "fdmon": "poll"}]}, indent=2) + "\n")
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    ios = iothreads(c)
    check(set(ios) == {"io0", "io1"}, "iothreads %s" % brief(list(ios)))
    check_props(ios["io0"], poll_max_ns=1000)
    check_props(ios["io1"], poll_grow=2, thread_pool_min=1, thread_pool_max=3,
                fdmon="poll")
    got = thread_cpus_allowed(d.pid, ios["io0"]["thread-id"])
    check(got == str(cpu), "io0 Cpus_allowed_list %r" % got)
    # "socket" in the file, no --socket.
    sock2 = ctx.path("cfg.sock")
    cfg2 = ctx.write("c2.json", json.dumps({"socket": sock2}) + "\n")
    d2 = ctx.daemon(["--config", cfg2], sock=sock2, socket_arg=False,
                    name="cfgsock")
    check(iothreads(d2.client()) == {}, "unexpected iothreads")


@case("check-config-valid")
def t_check_config_valid(ctx):
    cpu = str(my_cpus()[0])
    for name, text in (("empty.json", "{}\n"),
                       ("full.json", json.dumps({
                           "iothreads": [
                               {"id": "io0", "poll-max-ns": 32768,
                                "poll-grow": 2, "poll-shrink": 2,
                                "aio-max-batch": 0, "thread-pool-min": 1,
                                "thread-pool-max": 4, "cpu-affinity": cpu,
                                "fdmon": "auto"},
                               {"id": "io1"}],
                           "max-iothreads": 8, "max-clients": 4},
                           indent=2) + "\n")):
        cfg = ctx.write(name, text)
        status, out, err = run_binary(["--check-config", "--config", cfg,
                                       "--socket", ctx.sock])
        check(status == 0, "--check-config %s: status %s, stderr %r"
              % (name, status, err[-300:]))
        check(not os.path.exists(ctx.sock), "--check-config created the "
              "socket")


CONFIG_ERRORS = [
    ("unknown-key", 3, '{\n  "iothreads": [\n    {"id": "io0", "bogus": 1}\n'
     '  ]\n}\n'),
    ("unknown-top-key", 2, '{\n  "bogus": 1\n}\n'),
    ("duplicate-key", 3, '{\n  "iothreads": [\n'
     '    {"id": "io0", "id": "io1"}\n  ]\n}\n'),
    ("wrong-type", 3, '{\n  "iothreads": [\n'
     '    {"id": "io0", "poll-max-ns": "fast"}\n  ]\n}\n'),
    ("negative", 3, '{\n  "iothreads": [\n'
     '    {"id": "io0", "poll-max-ns": -1}\n  ]\n}\n'),
    ("bad-id", 3, '{\n  "iothreads": [\n    {"id": "9bad"}\n  ]\n}\n'),
    ("bad-fdmon", 3, '{\n  "iothreads": [\n'
     '    {"id": "io0", "fdmon": "kqueue"}\n  ]\n}\n'),
    ("pool-min-above-max", 3, '{\n  "iothreads": [\n'
     '    {"id": "io0", "thread-pool-min": 5, "thread-pool-max": 4}\n'
     '  ]\n}\n'),
    ("duplicate-iothread", 4, '{\n  "iothreads": [\n    {"id": "io0"},\n'
     '    {"id": "io0"}\n  ]\n}\n'),
    ("iothreads-not-array", 2, '{\n  "iothreads": {"id": "io0"}\n}\n'),
    ("syntax", 3, '{\n  "iothreads": [\n    {"id": "io0",, }\n  ]\n}\n'),
]


@case("check-config-errors")
def t_check_config_errors(ctx):
    for name, line, text in CONFIG_ERRORS:
        cfg = ctx.write(name + ".json", text)
        status, out, err = run_binary(["--check-config", "--config", cfg,
                                       "--socket", ctx.sock])
        check(status == 78, "%s: --check-config exit status %s, expected 78"
              % (name, status))
        pat = re.escape(cfg) + r":%d:\d+: ?\S" % line
        check(re.search(pat, err), "%s: stderr lacks %s:%d:COL: message: %r"
              % (name, cfg, line, err[-300:]))
    # Starting with an invalid file fails without serving.
    cfg = ctx.path("unknown-key.json")
    d = ctx.daemon(["--config", cfg], start=False)
    d.start()
    d.wait_exit(78, "a daemon with an invalid config")
    check(not os.path.exists(ctx.sock), "socket left behind")


@case("example-config")
def t_example_config(ctx):
    path = os.path.join(REPO_ROOT, "etc", "iothreadd.json")
    check(os.path.exists(path), "%s does not exist" % path)
    status, out, err = run_binary(["--check-config", "--config", path,
                                   "--socket", ctx.sock])
    check(status == 0, "--check-config etc/iothreadd.json: status %s: %r"
          % (status, err[-300:]))


def reload_setup(ctx):
    cfg = ctx.write("c.json", json.dumps({"iothreads": [
        {"id": "io0", "poll-max-ns": 1000}, {"id": "io1"}]}, indent=2) + "\n")
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    before = snapshot(c)
    check(set(before) == {"io0", "io1"}, "initial iothreads %s"
          % brief(list(before)))
    return cfg, d, c, before


NEW_CONFIG = {"iothreads": [{"id": "io0", "poll-max-ns": 2000,
                             "poll-grow": 3},
                            {"id": "io2", "poll-max-ns": 500}]}


def reload_applied(c, before):
    def ok():
        s = snapshot(c)
        return (set(s) == {"io0", "io2"}
                and s["io0"]["poll-max-ns"] == 2000
                and s["io0"]["poll-grow"] == 3
                and s["io2"]["poll-max-ns"] == 500) and s
    s = wait_for(ok)
    check(s, "reload not applied: %s" % brief(snapshot(c), 600))
    check(s["io0"]["thread-id"] == before["io0"]["thread-id"],
          "io0 was recreated instead of retuned")
    return s


def wait_logged(d, start, word):
    got = wait_for(lambda: word in d.stderr()[start:])
    check(got, "nothing about %s logged on stderr" % word)


@case("sighup-reload")
def t_sighup(ctx):
    cfg, d, c, before = reload_setup(ctx)
    ctx.write("c.json", json.dumps(NEW_CONFIG, indent=2) + "\n")
    d.signal(signal.SIGHUP)
    reload_applied(c, before)
    tid1 = before["io1"]["thread-id"]
    check(wait_for(lambda: not os.path.exists(task_dir(d.pid, tid1))),
          "io1's thread still exists")
    c.wait_event("IOTHREAD_CREATED", pred=lambda e: names_iothread(e, "io2"))
    c.wait_event("IOTHREAD_DELETED", pred=lambda e: names_iothread(e, "io1"))
    c.wait_event("IOTHREAD_CHANGED", pred=lambda e: names_iothread(e, "io0"))
    check(d.running(), "daemon died")


@case("sighup-invalid")
def t_sighup_invalid(ctx):
    cfg, d, c, before = reload_setup(ctx)
    base = os.path.basename(cfg)
    for text in (
            # Valid changes plus one bad value: all or nothing.
            json.dumps({"iothreads": [
                {"id": "io0", "poll-max-ns": 2000}, {"id": "io1"},
                {"id": "io3"}, {"id": "io2", "poll-grow": -5}]}, indent=2),
            '{\n  "iothreads": [\n    {"id": "io0",, }\n  ]\n}\n',
            '{\n  "iothreads": [],\n  "bogus": 1\n}\n'):
        start = len(d.stderr())
        ctx.write("c.json", text)
        d.signal(signal.SIGHUP)
        wait_logged(d, start, base)
        check(d.running(), "daemon died on an invalid config")
        check(snapshot(c) == before, "invalid config changed things: %s"
              % brief(snapshot(c), 600))
    c2 = d.client()
    c2.cmd_ok("query-version")
    # A valid file still reloads afterwards.
    ctx.write("c.json", json.dumps(NEW_CONFIG, indent=2) + "\n")
    d.signal(signal.SIGHUP)
    reload_applied(c, before)


@case("reload-command")
def t_reload_command(ctx):
    cfg, d, c, before = reload_setup(ctx)
    ctx.write("c.json", '{\n  "iothreads": [\n    {"id": "io0", "bogus": 1}\n'
              '  ]\n}\n')
    # The client that asked is told, with the place in the file.
    expect_error(c.cmd("reload"), "GenericError",
                 "%s:3:19: unknown key 'bogus'" % cfg, what="bad reload")
    check(snapshot(c) == before, "invalid config changed things")
    ctx.write("c.json", json.dumps(NEW_CONFIG, indent=2) + "\n")
    r = c.cmd("reload")
    check(jeq(r, {"return": {}}), "reload: %s" % brief(r))
    reload_applied(c, before)


def reload_fails(ctx, d, c, before, desc, what):
    """A reload (command and SIGHUP) that must fail with @desc and change
    nothing."""
    expect_error(c.cmd("reload"), "GenericError", desc, what=what)
    check(snapshot(c) == before, "%s changed things: %s"
          % (what, brief(snapshot(c), 600)))
    start = len(d.stderr())
    d.signal(signal.SIGHUP)
    want = "reload failed, nothing changed: " + desc
    check(wait_for(lambda: want in d.stderr()[start:]),
          "%s by SIGHUP: no %r in the log: %r" % (what, want,
                                                 d.stderr()[start:]))
    check(snapshot(c) == before, "%s by SIGHUP changed things" % what)


@case("reload-without-config")
def t_reload_no_config(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0"])
    c = d.client()
    before = snapshot(c)
    reload_fails(ctx, d, c, before, "iothreadd was started without a "
                 "configuration file (--config)", "reload without --config")
    c.cmd_ok("query-version")


@case("reload-refusals")
def t_reload_refusals(ctx):
    cfg, d, c, before = reload_setup(ctx)
    # Removing an iothread that something holds.
    hold(ctx, c, "io1", "nbd-export")
    ctx.write("c.json", '{"iothreads": [{"id": "io0", "poll-max-ns": 1000}]}'
              '\n')
    reload_fails(ctx, d, c, before, "IOThread 'io1' is in use by "
                 "'block export nbd-export'", "removing a held iothread")
    release(c, "nbd-export")
    # More iothreads than the new file's max-iothreads.
    ctx.write("c.json", json.dumps({"max-iothreads": 2, "iothreads": [
        {"id": "io0", "poll-max-ns": 1000}, {"id": "io1"}, {"id": "io2"}]})
        + "\n")
    reload_fails(ctx, d, c, before, "the configuration needs 3 iothreads, "
                 "more than max-iothreads (2)", "exceeding max-iothreads")
    check(c.cmd_ok("query-status")["max-iothreads"] == 1024,
          "a refused reload changed max-iothreads")
    # An object-added iothread counts too.
    add(c, "extra")
    before = snapshot(c)
    ctx.write("c.json", json.dumps({"max-iothreads": 3, "iothreads": [
        {"id": "io0", "poll-max-ns": 1000}, {"id": "io1"}, {"id": "io2"}]})
        + "\n")
    reload_fails(ctx, d, c, before, "the configuration needs 4 iothreads, "
                 "more than max-iothreads (3)", "max-iothreads with 'extra'")
    # The file is gone.
    os.unlink(cfg)
    reload_fails(ctx, d, c, before, "%s: No such file or "
                 "directory" % cfg, "a missing file")
    # A directory where the file was.
    os.mkdir(cfg)
    reload_fails(ctx, d, c, before, "%s: not a regular file" % cfg,
                 "a directory")
    os.rmdir(cfg)
    ctx.write("c.json", json.dumps(NEW_CONFIG, indent=2) + "\n")
    c.cmd_ok("reload")
    check(set(snapshot(c)) == {"io0", "io2", "extra"}, "a good reload after "
          "the refusals: %s" % brief(snapshot(c)))


@case("reload-unreadable-file")
def t_reload_unreadable(ctx):
    ctx.unprivileged()               # root reads anything
    cfg = ctx.write("c.json", '{"iothreads": [{"id": "io0"}]}\n')
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    before = snapshot(c)
    os.chmod(cfg, 0)
    reload_fails(ctx, d, c, before, "%s: Permission denied" % cfg,
                 "an unreadable file")


@case("pidfile")
def t_pidfile(ctx):
    pf = ctx.path("p.pid")
    with open(pf, "w") as f:
        f.write("999999999\n")             # stale, from a crashed daemon
    d = ctx.daemon(["--pidfile", pf, "--object", "iothread,id=io0"])
    content = read_proc(pf)
    check(content is not None, "no pidfile once the socket serves")
    check(content.strip() == str(d.pid), "pidfile has %r, pid is %d"
          % (content, d.pid))
    fd = os.open(pf, os.O_RDWR)
    try:
        locked = False
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            locked = e.errno in (errno.EAGAIN, errno.EACCES)
        if not locked:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                locked = e.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
    finally:
        os.close(fd)
    check(locked, "pidfile is not locked (neither fcntl nor flock)")
    r = d.client().cmd("quit")
    check("return" in r, "quit: %s" % brief(r))
    check_exit_clean(d)
    check(not os.path.exists(pf), "pidfile left behind after quit")


# ---------------------------------------------------------------------------
# command line and logs

@case("cli")
def t_cli(ctx):
    status, out, err = run_binary(["--help"])
    check(status == 0, "--help exit status %s" % status)
    check("--socket" in out, "--help does not mention --socket on stdout")
    status, out, err = run_binary(["--version"])
    check(status == 0, "--version exit status %s" % status)
    pv = project_version()
    check(out.strip(), "--version printed nothing on stdout")
    if pv:
        check(pv in out, "--version output %r lacks %s" % (out, pv))
    for bad in (["--no-such-option"], ["--log-level", "loud"],
                ["--socket"]):
        status, out, err = run_binary(bad + ["--socket", ctx.sock]
                                      if bad != ["--socket"] else bad,
                                      timeout=scaled(5))
        check(status != 0, "%s: exit status 0" % " ".join(bad))
        check(err.strip(), "%s: nothing on stderr" % " ".join(bad))
        check(not os.path.exists(ctx.sock), "%s: socket created"
              % " ".join(bad))


LOG_LINE = re.compile(r"^<([0-7])>")
# The priorities show in the journal format (test_log.py tests the choice).
JOURNAL = ["--log-format=journal"]


def logged(ctx, level=None):
    """Start a daemon (at --log-level @level), make the same requests for
    every level, stop it; returns its log as a list of (priority, text)."""
    d = ctx.daemon(JOURNAL + (["--log-level", level] if level else []),
                   name="log-%s" % (level or "default"))
    c = d.client()
    add(c, "io0")
    c.cmd("object-add", {"qom-type": "iothread", "id": "io0"})
    c.cmd("no-such-cmd")
    c.cmd_ok("object-del", {"id": "io0"})
    d.signal(signal.SIGTERM)
    check_exit_clean(d)
    lines = [ln for ln in d.stderr().splitlines() if ln.strip()]
    bad = [ln for ln in lines if not LOG_LINE.match(ln)]
    check(not bad, "stderr lines without a <N> prefix: %r" % bad[:3])
    return [(int(ln[1]), ln[3:]) for ln in lines]


def check_level(ctx, level, everything, prio):
    """At --log-level @level, the daemon logs exactly the lines of
    @everything (logged at debug level) up to priority @prio."""
    got = logged(ctx, level)
    want = [(p, t) for p, t in everything if p <= prio]
    check(got == want, "%s logged %s, expected %s"
          % ("--log-level " + level if level else "the default level",
             brief(got, 600), brief(want, 600)))


@case("log-prefixes")
def t_logs(ctx):
    everything = logged(ctx, "debug")
    check(any(p == 7 for p, _ in everything), "--log-level debug logged "
          "no debug line: %s" % brief(everything, 600))
    check(logged(ctx), "nothing logged at all (start, iothreads, exit)")
    check_level(ctx, None, everything, 6)       # info by default


@case("log-level")
def t_log_level(ctx):
    everything = logged(ctx, "debug")
    check_level(ctx, "warning", everything, 4)
    check_level(ctx, "3", everything, 3)
    check_level(ctx, "notice", everything, 5)


if __name__ == "__main__":
    sys.exit(main())
