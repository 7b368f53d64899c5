#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Block nodes, the NBD server and exports as daemon objects (issue 14):
qemu-storage-daemon's --blockdev / --nbd-server / --export and QMP
commands, their error texts, holders, BLOCK_EXPORT_DELETED, the config
file and the state file.  What real NBD clients see is test_nbd.py's.

Run from the repository root:  python3 tests/daemon/test_block.py [FILTER]
Output as the other suites: "ok - NAME" lines, "N passed, N failed, N
skipped" last.
"""

import json
import os
import signal
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import (  # noqa: E402
    brief, check, expect_error, expect_return, run_binary, wait_for)
from casekit import (  # noqa: E402
    ExportSetup, Skip, case, complete, ctl, main, nogroup_gid)

SIZE = 4 << 20


def image(ctx, name="disk.img", size=SIZE):
    return ctx.image(name, size)


def err(c, cmd, args, desc, what=None):
    expect_error(c.cmd(cmd, args), "GenericError", desc, what=what or cmd)


def nodes(c):
    return {n["node-name"]: n
            for n in expect_return(c.cmd("query-named-block-nodes"))}


def exports(c):
    return {e["id"]: e for e in expect_return(c.cmd("query-block-exports"))}


def unix_server(path):
    return {"addr": {"type": "unix", "data": {"path": path}}}


@case("blockdev-command-line-keyval-and-json")
def t_cli(ctx):
    img = image(ctx, "a,b.img")
    img2 = image(ctx, "two.img", 1 << 20)
    d = ctx.daemon([
        "--blockdev", "driver=file,node-name=f0,filename=%s,read-only=on,"
        "cache.direct=off,discard=unmap,detect-zeroes=unmap"
        % img.replace(",", ",,"),
        "--blockdev", json.dumps({"driver": "file", "node-name": "f1",
                                  "filename": img2, "aio": "io_uring"}),
        # the implied first key, as qemu-storage-daemon's
        "--blockdev", "file,node-name=f2,filename=%s" % img2])
    c = d.client()
    n = nodes(c)
    check(sorted(n) == ["f0", "f1", "f2"], "nodes %s" % sorted(n))
    f0 = n["f0"]
    check(f0["file"] == img and f0["ro"] is True and f0["drv"] == "file",
          "f0: %s" % brief(f0))
    check(f0["detect_zeroes"] == "unmap", "detect_zeroes %s" % brief(f0))
    check(f0["image"]["virtual-size"] == SIZE, "size %s" % brief(f0))
    check(f0["cache"] == {"writeback": True, "direct": False,
                          "no-flush": False}, "cache %s" % brief(f0))
    check(n["f1"]["ro"] is False and
          n["f1"]["image"]["virtual-size"] == 1 << 20, "f1 %s" % brief(n))


# (option, argument, message): each must stop the start with status 78.
CLI_ERRORS = [
    ("--blockdev", "driver=file,filename=x", "'node-name' must be specified "
     "for the root node"),
    ("--blockdev", "driver=file,node-name=f0", "Parameter 'filename' is "
     "missing"),
    ("--blockdev", "node-name=f0,filename=x", "Parameter 'driver' is "
     "missing"),
    ("--blockdev", "driver=qcow2,node-name=f0,filename=x",
     "Parameter 'driver' does not accept value 'qcow2'"),
    ("--blockdev", "driver=file,node-name=f0,filename=x,foo=1",
     "Parameter 'foo' is unexpected"),
    ("--blockdev", "driver=file,node-name=f0,filename=x,read-only=maybe",
     "Parameter 'read-only' expects 'on' or 'off'"),
    ("--blockdev", "driver=file,node-name=f0,filename=x,cache.direct=2",
     "Parameter 'cache.direct' expects 'on' or 'off'"),
    ("--blockdev", "driver=file,node-name=f0,filename=x,cache.bogus=on",
     "Parameter 'cache.bogus' is unexpected"),
    ("--blockdev", "driver=file,node-name=f0,filename=x,aio=native",
     "Parameter 'aio' does not accept value 'native'"),
    ("--blockdev", "driver=file,node-name=0f,filename=x",
     "Invalid node-name: '0f'"),
    ("--blockdev", "driver=file,node-name=%s,filename=x" % ("n" * 32),
     "Node name too long"),
    ("--blockdev", "driver=file,node-name=f0,filename=x,node-name=f1",
     "Parameter 'node-name' is set more than once"),
    ("--blockdev", "driver=file,cache=1,cache.direct=on,node-name=f",
     "Parameters 'cache.*' used inconsistently"),
    ("--blockdev", '{"driver": "file", "node-name": "f0", "filename": 1}',
     "Invalid parameter type for 'filename', expected: string"),
    ("--blockdev", '{"driver": "file",', "JSON parse error"),
    ("--nbd-server", "addr.type=unix", "Parameter 'addr.path' is missing"),
    ("--nbd-server", "addr.type=inet,addr.host=::1",
     "Parameter 'addr.port' is missing"),
    ("--nbd-server", "addr.type=vsock,addr.cid=3",
     "Parameter 'addr.type' does not accept value 'vsock'"),
    ("--nbd-server", "addr.type=unix,addr.path=p,max-connections=-1",
     "Parameter 'max-connections' expects integer"),
    ("--nbd-server", "addr.type=unix,addr.path=p,max-connections=4294967296",
     "Parameter 'max-connections' expects uint32_t"),
    ("--nbd-server", "unix", "No implicit parameter name for value 'unix'"),
    ("--export", "type=nbd,id=e0", "Parameter 'node-name' is missing"),
    ("--export", "type=fuse,id=e0,node-name=f0",
     "Parameter 'type' does not accept value 'fuse'"),
    ("--export", "nbd,id=0e,node-name=f0", "Invalid block export id"),
    ("--export", "type=nbd,id=e0,node-name=f0,writable=yes-please",
     "Parameter 'writable' expects 'on' or 'off'"),
]


@case("command-line-errors")
def t_cli_errors(ctx):
    for opt, arg, msg in CLI_ERRORS:
        status, out, errout = run_binary(["--check-config", "--socket",
                                          ctx.sock, opt, arg])
        check(status == 78, "%s %s: status %s (%r)" % (opt, arg, status,
                                                      errout))
        check(msg in errout, "%s %s: no %r in %r" % (opt, arg, msg, errout))
    status, out, errout = run_binary([
        "--check-config", "--nbd-server", "addr.type=unix,addr.path=a",
        "--nbd-server", "addr.type=unix,addr.path=b"])
    check(status == 78 and "NBD server already running" in errout,
          "two --nbd-server: %s %r" % (status, errout))


@case("blockdev-add-errors")
def t_blockdev_errors(ctx):
    img = image(ctx)
    d = ctx.daemon()
    c = d.client()
    base = {"driver": "file", "node-name": "f0", "filename": img}
    err(c, "blockdev-add", {"driver": "file", "filename": img},
        "'node-name' must be specified for the root node")
    err(c, "blockdev-add", dict(base, filename=ctx.path("missing")),
        "Could not open '%s': No such file or directory"
        % ctx.path("missing"))
    err(c, "blockdev-add", dict(base, **{"read-only": "on"}),
        "Invalid parameter type for 'read-only', expected: boolean")
    err(c, "blockdev-add", dict(base, cache={"direct": "on"}),
        "Invalid parameter type for 'cache.direct', expected: boolean")
    err(c, "blockdev-add", dict(base, bogus=1),
        "Parameter 'bogus' is unexpected")
    check(nodes(c) == {}, "a failed blockdev-add left a node")
    c.cmd_ok("blockdev-add", base)
    err(c, "blockdev-add", base, "Duplicate nodes with node-name='f0'")
    err(c, "blockdev-del", {"node-name": "nope"},
        "Failed to find node with node-name='nope'")
    c.cmd_ok("blockdev-del", {"node-name": "f0"})
    check(nodes(c) == {}, "blockdev-del left %s" % brief(nodes(c)))
    expect_error(c.cmd("blockdev-del", {}), "GenericError",
                 "Parameter 'node-name' is missing")


@case("export-add-errors-in-qemu-order")
def t_export_errors(ctx):
    img = image(ctx)
    d = ctx.daemon(["--object", "iothread,id=io0"])
    c = d.client()
    c.cmd_ok("blockdev-add", {"driver": "file", "node-name": "ro",
                              "filename": img, "read-only": True})
    c.cmd_ok("blockdev-add", {"driver": "file", "node-name": "rw",
                              "filename": img})
    e = {"type": "nbd", "id": "e0", "node-name": "rw"}
    err(c, "block-export-add", dict(e, id="x y"), "Invalid block export id")
    err(c, "block-export-add", dict(e, **{"node-name": "none"}),
        "Cannot find device='' nor node-name='none'")
    err(c, "block-export-add", dict(e, **{"node-name": "ro",
                                          "writable": True}),
        "Cannot export read-only node as writable")
    err(c, "block-export-add", dict(e, iothread="io9"),
        'iothread "io9" not found')
    err(c, "block-export-add", e, "NBD server not running")
    err(c, "block-export-add", dict(e, bitmaps=[]),
        "Parameter 'bitmaps' is unexpected")
    c.cmd_ok("nbd-server-start", unix_server(ctx.path("nbd.sock")))
    err(c, "nbd-server-start", unix_server(ctx.path("other.sock")),
        "NBD server already running")
    c.cmd_ok("block-export-add", dict(e, iothread="io0"))
    err(c, "block-export-add", e, "Block export id 'e0' is already in use")
    err(c, "block-export-add", dict(e, id="e1"),
        "NBD server already has export named 'rw'")
    c.cmd_ok("block-export-add", dict(e, id="e1", name="other",
                                      description="the same node again"))
    got = exports(c)
    check(got["e0"] == {"type": "nbd", "id": "e0", "node-name": "rw",
                        "shutting-down": False, "name": "rw", "clients": 0,
                        "iothread": "io0"}, "e0 %s" % brief(got))
    check(got["e1"]["name"] == "other" and "iothread" not in got["e1"],
          "e1 %s" % brief(got))
    err(c, "block-export-del", {"id": "nope"}, "Export 'nope' is not found")
    err(c, "block-export-del", {"id": "e0", "mode": "soft"},
        "Parameter 'mode' does not accept value 'soft'")


@case("holders-iothread-and-node")
def t_holders(ctx):
    c = ExportSetup(ctx, SIZE).c
    err(c, "object-del", {"id": "io0"},
        "IOThread 'io0' is in use by 'block export e0'")
    err(c, "blockdev-del", {"node-name": "f0"}, "Node f0 is in use")
    check("io0" in [t["id"] for t in expect_return(
        c.cmd("query-iothreads"))], "the held iothread went away")
    check("f0" in nodes(c), "the used node went away")
    c.cmd_ok("block-export-del", {"id": "e0"})
    ev = c.wait_event("BLOCK_EXPORT_DELETED")
    check(ev["data"] == {"id": "e0"}, "event %s" % brief(ev))
    check(exports(c) == {}, "export still listed")
    c.cmd_ok("object-del", {"id": "io0"})
    c.cmd_ok("blockdev-del", {"node-name": "f0"})


@case("nbd-server-stop-deletes-exports")
def t_server_stop(ctx):
    img = image(ctx)
    sock = ctx.path("nbd.sock")
    d = ctx.daemon(["--blockdev", "driver=file,node-name=f0,filename=%s"
                    % img])
    c = d.client()
    err(c, "nbd-server-stop", None, "NBD server not running")
    c.cmd_ok("nbd-server-start", unix_server(sock))
    check(stat.S_ISSOCK(os.stat(sock).st_mode), "no socket at %s" % sock)
    c.cmd_ok("block-export-add", {"type": "nbd", "id": "a",
                                  "node-name": "f0"})
    c.cmd_ok("block-export-add", {"type": "nbd", "id": "b",
                                  "node-name": "f0", "name": "b"})
    c.cmd_ok("nbd-server-stop")
    got = sorted(c.wait_event("BLOCK_EXPORT_DELETED")["data"]["id"]
                 for _ in range(2))
    check(got == ["a", "b"], "deleted events %s" % got)
    check(exports(c) == {}, "exports left: %s" % brief(exports(c)))
    check(not os.path.exists(sock), "the socket file stayed")
    c.cmd_ok("blockdev-del", {"node-name": "f0"})
    # and it can start again, with the flat address form too
    c.cmd_ok("nbd-server-start", {"addr": {"type": "unix", "path": sock},
                                  "max-connections": 1})
    c.cmd_ok("nbd-server-stop")
    err(c, "nbd-server-start", dict(unix_server(sock), **{"tls-creds": "t"}),
        "Parameter 'tls-creds' is unexpected")
    err(c, "nbd-server-start", {"addr": {"type": "unix", "data": {}}},
        "Parameter 'addr.path' is missing")
    # a socket another daemon serves is not taken over
    other = ctx.daemon(["--nbd-server", "addr.type=unix,addr.path=%s" % sock],
                       sock=ctx.path("other-qmp.sock"), name="other")
    err(c, "nbd-server-start", unix_server(sock),
        "Failed to bind socket to %s: Address already in use" % sock)
    other.signal(signal.SIGTERM)
    other.wait_exit(0)
    c.cmd_ok("nbd-server-start", unix_server(sock))


@case("nbd-socket-mode-as-the-control-socket")
def t_socket_mode(ctx):
    for args, want in (([], 0o600), (["--socket-mode", "0660"], 0o660)):
        sock = ctx.path("nbd%o.sock" % want)
        d = ctx.daemon(args + ["--nbd-server", "addr.type=unix,addr.path=%s"
                               % sock], sock=ctx.path("q%o.sock" % want))
        mode = stat.S_IMODE(os.stat(sock).st_mode)
        check(mode == want, "%s: NBD socket mode %o, want %o"
              % (args, mode, want))
        d.signal(signal.SIGTERM)
        d.wait_exit(0)
        check(not os.path.exists(sock), "socket left after exit")


@case("nbd-socket-group-as-the-control-socket")
def t_socket_group(ctx):
    gid = nogroup_gid()
    if os.getuid() != 0 and gid not in os.getgroups():
        raise Skip("not root and not in group 'nogroup'")
    sock = os.path.join(ctx.path("sub"), "nbd.sock")
    ctx.daemon(["--socket-mode", "0660", "--socket-group", "nogroup",
                "--nbd-server", "addr.type=unix,addr.path=%s" % sock])
    st = os.stat(sock)
    check(stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == gid,
          "NBD socket mode %o group %d" % (stat.S_IMODE(st.st_mode),
                                          st.st_gid))
    dst = os.stat(ctx.path("sub"))
    check(stat.S_IMODE(dst.st_mode) == 0o750 and dst.st_gid == gid,
          "its directory: mode %o group %d" % (stat.S_IMODE(dst.st_mode),
                                               dst.st_gid))


@case("nbd-server-inet-only-where-asked")
def t_inet(ctx):
    d = ctx.daemon(["--nbd-server",
                    "addr.type=inet,addr.host=127.0.0.1,addr.port=0"])
    c = d.client()
    err(c, "nbd-server-start", {"addr": {"type": "inet", "data": {
        "host": "127.0.0.1", "port": "0"}}}, "NBD server already running")
    c.cmd_ok("nbd-server-stop")
    expect_error(c.cmd("nbd-server-start", {"addr": {
        "type": "inet", "data": {"host": "no.such.host.invalid",
                                 "port": "10809"}}}), "GenericError")


@case("blockstats-per-node-and-export")
def t_blockstats(ctx):
    img = image(ctx)
    d = ctx.daemon([
        "--blockdev", "driver=file,node-name=f0,filename=%s" % img,
        "--nbd-server", "addr.type=unix,addr.path=%s" % ctx.path("nbd.sock"),
        "--export", "type=nbd,id=e0,node-name=f0"])
    c = d.client()
    names = ["rd_bytes", "wr_bytes", "unmap_bytes", "rd_operations",
             "wr_operations", "flush_operations", "unmap_operations",
             "rd_total_time_ns", "wr_total_time_ns", "flush_total_time_ns",
             "unmap_total_time_ns", "failed_rd_operations",
             "failed_wr_operations", "failed_flush_operations",
             "failed_unmap_operations", "wr_highest_offset", "in-flight"]
    got = expect_return(c.cmd("query-blockstats"))
    check([(s["node-name"], s.get("export")) for s in got] ==
          [("f0", None), ("f0", "e0")], "entries %s" % brief(got))
    for s in got:
        check(list(s["stats"]) == names, "members %s" % list(s["stats"]))
    only = expect_return(c.cmd("query-blockstats", {"query-nodes": True}))
    check([s["node-name"] for s in only] == ["f0"] and
          "export" not in only[0], "query-nodes %s" % brief(only))


CONFIG = {
    "iothreads": [{"id": "io0"}],
    "blockdevs": [{"driver": "file", "node-name": "f0",
                   "filename": "IMG", "read-only": True}],
    "nbd-server": {"addr": {"type": "unix", "path": "SOCK"},
                   "max-connections": 4},
    "exports": [{"type": "nbd", "id": "e0", "node-name": "f0",
                 "iothread": "io0"}],
}


def config_text(ctx, **over):
    cfg = json.loads(json.dumps(CONFIG)
                     .replace("IMG", image(ctx))
                     .replace("SOCK", ctx.path("nbd.sock")))
    cfg.update(over)
    return json.dumps(cfg)


@case("config-file-objects")
def t_config(ctx):
    cfg = ctx.write("iothreadd.json", config_text(ctx))
    status, out, errout = run_binary(["--check-config", "--config", cfg])
    check(status == 0, "--check-config: %s %r" % (status, errout))
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    check(list(nodes(c)) == ["f0"] and list(exports(c)) == ["e0"],
          "objects %s %s" % (brief(nodes(c)), brief(exports(c))))
    check(exports(c)["e0"]["iothread"] == "io0", "iothread")
    for over, msg in (
            ({"exports": [{"type": "nbd", "id": "e0"}]},
             "exports[0]: Parameter 'node-name' is missing"),
            ({"exports": {"id": "e0"}}, "'exports' must be an array"),
            ({"nbd-server": {"addr": {"type": "unix"}}},
             "nbd-server: Parameter 'addr.path' is missing"),
            ({"blockdevs": [{"driver": "file", "node-name": "f0",
                             "filename": "x", "readonly": True}]},
             "blockdevs[0]: Parameter 'readonly' is unexpected")):
        bad = ctx.write("bad.json", config_text(ctx, **over))
        status, out, errout = run_binary(["--check-config", "--config", bad])
        check(status == 78 and msg in errout,
              "%s: status %s, stderr %r" % (brief(over), status, errout))


@case("state-file-keeps-runtime-objects")
def t_state(ctx):
    img = image(ctx)
    state = ctx.path("state.json")
    args = ["--state-file", state, "--object", "iothread,id=io0",
            "--blockdev", "driver=file,node-name=cli,filename=%s" % img]
    d = ctx.daemon(args)
    c = d.client()
    c.cmd_ok("blockdev-add", {"driver": "file", "node-name": "f0",
                              "filename": img, "discard": "unmap"})
    c.cmd_ok("nbd-server-start", unix_server(ctx.path("nbd.sock")))
    c.cmd_ok("block-export-add", {"type": "nbd", "id": "e0",
                                  "node-name": "f0", "writable": True,
                                  "iothread": "io0"})
    c.cmd_ok("block-export-add", {"type": "nbd", "id": "gone",
                                  "node-name": "cli", "name": "g"})
    c.cmd_ok("block-export-del", {"id": "gone"})
    c.wait_event("BLOCK_EXPORT_DELETED")
    with open(state) as f:
        doc = json.load(f)
    check([b["node-name"] for b in doc["blockdevs"]] == ["f0"],
          "state blockdevs %s" % brief(doc))
    check([e["id"] for e in doc["exports"]] == ["e0"],
          "state exports %s" % brief(doc["exports"]))
    before_nodes, before_exports = nodes(c), exports(c)
    d.signal(signal.SIGTERM)
    d.wait_exit(0)
    d2 = ctx.daemon(args, name="second")
    c2 = d2.client()
    after = nodes(c2)
    check(after == before_nodes, "nodes after restart %s, before %s"
          % ({k: v for k, v in after.items() if before_nodes.get(k) != v},
             {k: v for k, v in before_nodes.items() if after.get(k) != v}))
    check(exports(c2) == before_exports, "exports after restart %s"
          % brief(exports(c2)))


@case("query-commands-lists-block-commands")
def t_commands(ctx):
    d = ctx.daemon()
    c = d.client()
    names = {x["name"] for x in expect_return(c.cmd("query-commands"))}
    for n in ("blockdev-add", "blockdev-del", "query-named-block-nodes",
              "query-blockstats", "nbd-server-start", "nbd-server-stop",
              "block-export-add", "block-export-del", "query-block-exports"):
        check(n in names, "%s not in query-commands" % n)


def snapshot(c):
    return (sorted(nodes(c)), exports(c),
            sorted(t["id"] for t in expect_return(c.cmd("query-iothreads"))))


@case("reload-creates-and-deletes-block-objects")
def t_reload(ctx):
    img = image(ctx)
    sock = ctx.path("nbd.sock")
    base = {"iothreads": [{"id": "io0"}],
            "blockdevs": [{"driver": "file", "node-name": "f0",
                           "filename": img}],
            "nbd-server": {"addr": {"type": "unix", "path": sock}},
            "exports": [{"type": "nbd", "id": "e0", "node-name": "f0",
                         "iothread": "io0"}]}
    cfg = ctx.write("cfg.json", json.dumps(base))
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    # the user's objects: left alone by every reload
    c.cmd_ok("blockdev-add", {"driver": "file", "node-name": "mine",
                              "filename": img})
    c.cmd_ok("block-export-add", {"type": "nbd", "id": "m0",
                                  "node-name": "mine"})
    more = json.loads(json.dumps(base))
    more["blockdevs"].append({"driver": "file", "node-name": "f1",
                              "filename": img, "read-only": True})
    more["exports"].append({"type": "nbd", "id": "e1", "node-name": "f1"})
    ctx.write("cfg.json", json.dumps(more))
    c.cmd_ok("reload")
    check(sorted(nodes(c)) == ["f0", "f1", "mine"] and
          sorted(exports(c)) == ["e0", "e1", "m0"],
          "after adding: %s" % brief(snapshot(c)))
    # remove e0 and f0: the export goes, then the node; io0 stays
    less = json.loads(json.dumps(more))
    less["blockdevs"] = less["blockdevs"][1:]
    less["exports"] = less["exports"][1:]
    ctx.write("cfg.json", json.dumps(less))
    c.cmd_ok("reload")
    check(c.wait_event("BLOCK_EXPORT_DELETED")["data"] == {"id": "e0"},
          "deleted event")
    check(wait_for(lambda: sorted(nodes(c)) == ["f1", "mine"]),
          "after removing: %s" % brief(snapshot(c)))
    check(sorted(exports(c)) == ["e1", "m0"], "exports %s" % exports(c))
    # no block objects at all: the server stays, since m0 (the user's)
    # uses it, so this is refused and changes nothing
    ctx.write("cfg.json", json.dumps({"iothreads": [{"id": "io0"}]}))
    before = snapshot(c)
    expect_error(c.cmd("reload"), "GenericError",
                 "nbd-server: cannot stop while export 'm0' uses it")
    check(snapshot(c) == before, "a refused reload changed things")
    c.cmd_ok("block-export-del", {"id": "m0"})
    c.wait_event("BLOCK_EXPORT_DELETED")
    c.cmd_ok("reload")
    c.wait_event("BLOCK_EXPORT_DELETED")
    check(wait_for(lambda: sorted(nodes(c)) == ["mine"]),
          "nodes %s" % sorted(nodes(c)))
    expect_error(c.cmd("block-export-add", {
        "type": "nbd", "id": "x", "node-name": "mine"}), "GenericError",
        "NBD server not running")


@case("reload-block-objects-all-or-nothing")
def t_reload_refusals(ctx):
    img = image(ctx)
    base = {"iothreads": [{"id": "io0"}],
            "blockdevs": [{"driver": "file", "node-name": "f0",
                           "filename": img}],
            "nbd-server": {"addr": {"type": "unix",
                                    "path": ctx.path("nbd.sock")}},
            "exports": [{"type": "nbd", "id": "e0", "node-name": "f0"}]}
    cfg = ctx.write("cfg.json", json.dumps(base))
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    before = snapshot(c)

    def refused(doc, desc):
        ctx.write("cfg.json", json.dumps(doc))
        expect_error(c.cmd("reload"), "GenericError", desc, what=desc)
        check(snapshot(c) == before, "%r changed things: %s"
              % (desc, brief(snapshot(c))))

    # a new iothread and node, then an export that cannot be made: the
    # iothread and the node made on the way are removed again
    bad = json.loads(json.dumps(base))
    bad["iothreads"].append({"id": "io9"})
    bad["blockdevs"].append({"driver": "file", "node-name": "f9",
                             "filename": img})
    bad["blockdevs"].append({"driver": "file", "node-name": "f8",
                             "filename": ctx.path("missing")})
    refused(bad, "f8: Could not open '%s': No such file or directory"
            % ctx.path("missing"))
    bad = json.loads(json.dumps(base))
    bad["iothreads"].append({"id": "io9"})
    bad["exports"].append({"type": "nbd", "id": "e9", "node-name": "f0",
                           "iothread": "nope"})
    refused(bad, 'e9: iothread "nope" not found')
    changed = json.loads(json.dumps(base))
    changed["blockdevs"][0]["read-only"] = True
    refused(changed, "blockdev 'f0': its settings cannot change while it "
            "exists; remove it, reload, then add it back")
    changed = json.loads(json.dumps(base))
    changed["exports"][0]["writable"] = True
    refused(changed, "export 'e0': its settings cannot change while it "
            "exists; remove it, reload, then add it back")
    changed = json.loads(json.dumps(base))
    changed["nbd-server"]["max-connections"] = 1
    refused(changed, "nbd-server: its settings cannot change while it "
            "runs; remove it, reload, then add it back")
    nodeonly = json.loads(json.dumps(base))
    nodeonly["blockdevs"] = []
    refused(nodeonly, "Node f0 is in use")
    refused(dict(base, exports=[{"type": "nbd", "id": "e0"}]),
            "%s: exports[0]: Parameter 'node-name' is missing"
            % ctx.path("cfg.json"))
    ctx.write("cfg.json", json.dumps(base))
    c.cmd_ok("reload")
    check(snapshot(c) == before, "an unchanged file changed things")


def ctl_ok(d, *args):
    st, out, errout = ctl(d.sock, *args)
    check(st == 0, "iothreadctl %s: %d %r" % (" ".join(args), st, errout))
    return out


@case("iothreadctl-blockdev-nbd-export-verbs")
def t_ctl(ctx):
    img = image(ctx)
    sock = ctx.path("nbd.sock")
    d = ctx.daemon(["--object", "iothread,id=io0"])
    ctl_ok(d, "blockdev", "add", "file,node-name=f0,filename=%s" % img)
    ctl_ok(d, "blockdev", "add", json.dumps({
        "driver": "file", "node-name": "f1", "filename": img,
        "read-only": True}))
    out = ctl_ok(d, "blockdev", "list")
    check(out.splitlines()[0].split() == ["NODE", "SIZE", "RO", "DIRECT",
                                          "DETECT-ZEROES", "FILE"] and
          out.splitlines()[1].split()[:3] == ["f0", str(SIZE), "no"] and
          out.splitlines()[2].split()[:3] == ["f1", str(SIZE), "yes"],
          "blockdev list:\n%s" % out)
    ctl_ok(d, "nbd", "start", "addr.type=unix,addr.path=%s" % sock)
    check(os.path.exists(sock), "nbd start made no socket")
    ctl_ok(d, "export", "add", "nbd,id=e0,node-name=f0,writable=on,"
           "iothread=io0")
    got = json.loads(ctl_ok(d, "--json", "export", "list"))
    check(len(got) == 1 and got[0]["id"] == "e0" and
          got[0]["iothread"] == "io0" and got[0]["clients"] == 0 and
          set(got[0]["rates"]) == {"rd_operations", "wr_operations",
                                   "rd_bytes", "wr_bytes"},
          "export list --json: %s" % got)
    row = ctl_ok(d, "export", "list", "--no-legend").split()
    check(row[:5] == ["e0", "f0", "f0", "io0", "0"] and row[-1] == "serving",
          "export list row %s" % row)
    for args, code, msg in (
            (["blockdev", "del", "f0"], 1, "error: Node f0 is in use"),
            (["export", "add", "nbd,id=e1"], 2,
             "error: Parameter 'node-name' is missing"),
            (["export", "del", "e0", "gently"], 2,
             "error: invalid mode 'gently': expected safe or hard"),
            (["nbd", "start", "addr.type=unix"], 2,
             "error: Parameter 'addr.path' is missing"),
            (["blockdev", "frob"], 2, "error: usage: iothreadctl blockdev")):
        st, out, errout = ctl(d.sock, *args)
        check(st == code and errout.startswith(msg),
              "iothreadctl %s: %d %r" % (" ".join(args), st, errout))
    ctl_ok(d, "export", "del", "e0", "hard")
    ctl_ok(d, "nbd", "stop")
    ctl_ok(d, "blockdev", "del", "f0")
    check(ctl_ok(d, "--json", "export", "list").strip() == "[]",
          "exports left")


@case("bash-completion-of-the-block-verbs")
def t_completion(ctx):
    img = image(ctx)
    d = ctx.daemon([
        "--blockdev", "driver=file,node-name=f0,filename=%s" % img,
        "--blockdev", "driver=file,node-name=f1,filename=%s" % img,
        "--nbd-server", "addr.type=unix,addr.path=%s" % ctx.path("nbd.sock"),
        "--export", "type=nbd,id=e0,node-name=f0"])
    s = ["iothreadctl", "-s", d.sock]
    check({"blockdev", "nbd", "export"} <= complete(["iothreadctl", ""]),
          "verbs")
    check(complete(s + ["blockdev", ""]) == {"add", "list", "del"},
          "blockdev sub-verbs")
    check(complete(s + ["nbd", ""]) == {"start", "stop"}, "nbd sub-verbs")
    got = complete(s + ["blockdev", "del", ""])
    check(got == {"f0", "f1"}, "node names: %r" % got)
    got = complete(s + ["export", "del", ""])
    check(got == {"e0"}, "export ids: %r" % got)
    check(complete(s + ["export", "del", "e0", ""]) == {"safe", "hard"},
          "modes")


if __name__ == "__main__":
    sys.exit(main())
