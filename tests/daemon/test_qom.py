#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Integration tests of qom-list-get (QEMU 10.1's qapi/qom.json), beside
the other qom-* commands in test_qmp.py.

Run from the repository root:  python3 tests/daemon/test_qom.py [FILTER...]
Output as every test program here: "ok - NAME" / "not ok - NAME: why"
per case, then the counts.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import (  # noqa: E402
    QMPClient, brief, check, expect_error, jeq)
from casekit import case, main  # noqa: E402


def props_of(entry):
    """{"properties": [...]} -> {name: (type, value)}; checks the shape."""
    check(isinstance(entry, dict) and list(entry) == ["properties"],
          "not {properties}: %s" % brief(entry))
    out = {}
    for p in entry["properties"]:
        check(isinstance(p.get("name"), str) and isinstance(p.get("type"),
                                                            str),
              "bad property entry: %s" % brief(p))
        out[p["name"]] = (p["type"], p.get("value"))
    return out


@case("qom-list-get-one-entry-per-path-in-order")
def t_order(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0,poll-max-ns=1000",
                    "--object", "iothread,id=io1"])
    c = d.client()
    paths = ["/objects/io1", "/", "/objects", "io0"]
    ret = c.cmd_ok("qom-list-get", {"paths": paths})
    check(isinstance(ret, list) and len(ret) == len(paths),
          "want %d entries: %s" % (len(paths), brief(ret)))
    io1, root, objects, io0 = (props_of(e) for e in ret)
    check(io1["type"] == ("string", "iothread"), "io1 type: %s" % (io1,))
    check(root.get("objects") == ("child<container>", "/objects"),
          "root: %s" % (root,))
    check(objects.get("io0") == ("child<iothread>", "/objects/io0") and
          objects.get("io1") == ("child<iothread>", "/objects/io1"),
          "/objects: %s" % (objects,))
    check(io0["poll-max-ns"][0] == "int" and jeq(io0["poll-max-ns"][1], 1000),
          "io0 poll-max-ns: %s" % (io0.get("poll-max-ns"),))
    check(io1["poll-max-ns"][1] == 32768, "io1 default poll-max-ns: %s"
          % (io1.get("poll-max-ns"),))
    check(io0["fdmon"] == ("str", "auto"), "fdmon: %s" % (io0.get("fdmon"),))


@case("qom-list-get-agrees-with-qom-list-and-qom-get")
def t_agrees(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0,thread-pool-max=8"])
    c = d.client()
    for path in ("/", "/objects", "/objects/io0"):
        listed = c.cmd_ok("qom-list", {"path": path})
        got = props_of(c.cmd_ok("qom-list-get", {"paths": [path]})[0])
        check([(e["name"], e["type"]) for e in listed] ==
              [(n, t) for n, (t, _) in got.items()],
              "%s: qom-list %s, qom-list-get %s" % (path, brief(listed),
                                                   brief(got)))
        for name, (typ, value) in got.items():
            if typ.startswith("child<"):
                continue
            want = c.cmd_ok("qom-get", {"path": path, "property": name})
            check(jeq(value, want), "%s.%s: qom-get %r, qom-list-get %r"
                  % (path, name, want, value))


@case("qom-list-get-errors")
def t_errors(ctx):
    d = ctx.daemon(["--object", "iothread,id=io0"])
    c = d.client()
    expect_error(c.cmd("qom-list-get", {"paths": ["/objects/io0", "/nope"]}),
                 "DeviceNotFound", "Device '/nope' not found")
    expect_error(c.cmd("qom-list-get", {}), "GenericError",
                 "Parameter 'paths' is missing")
    expect_error(c.cmd("qom-list-get", {"paths": "/"}), "GenericError",
                 "Invalid parameter type for 'paths', expected: array")
    expect_error(c.cmd("qom-list-get", {"paths": ["/", 1]}), "GenericError",
                 "Invalid parameter type for 'paths[1]', expected: string")
    expect_error(c.cmd("qom-list-get", {"paths": [], "x": 1}),
                 "GenericError", "Parameter 'x' is unexpected")
    check(c.cmd_ok("qom-list-get", {"paths": []}) == [], "empty paths")


@case("qom-list-get-listed-and-read-only")
def t_listed(ctx):
    ro = ctx.path("ro.sock")
    d = ctx.daemon(["--ro-socket", ro])
    names = [e["name"] for e in d.client().cmd_ok("query-commands")]
    check("qom-list-get" in names, "not in query-commands: %s" % names)
    roc = QMPClient(ro)
    roc.negotiate()
    r = roc.cmd("qom-list-get", {"paths": ["/"]})
    roc.close()
    check("return" in r, "refused on the read-only socket: %s" % brief(r))


if __name__ == "__main__":
    sys.exit(main())
