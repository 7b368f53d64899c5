#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Creation-only iothread properties (the table's runtime = false rows,
today fdmon) on the paths that compare or carry whole configurations:
reload refuses to change one, the state file keeps the running value.

Run from the repository root:  python3 tests/daemon/test_props.py
Output as every test program here: "ok - NAME" / "not ok - NAME: why"
per case, then the counts.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import brief, check, expect_error, jeq  # noqa: E402
from casekit import case, main  # noqa: E402


def config(fdmon, poll_max_ns):
    return json.dumps({"iothreads": [{"id": "io0", "fdmon": fdmon,
                                      "poll-max-ns": poll_max_ns}]}) + "\n"


def io0(c):
    return [e for e in c.cmd_ok("query-iothreads") if e["id"] == "io0"][0]


@case("reload-refuses-to-change-a-creation-only-property")
def t_reload(ctx):
    cfg = ctx.write("c.json", config("poll", 1000))
    d = ctx.daemon(["--config", cfg])
    c = d.client()
    ctx.write("c.json", config("epoll", 2000))
    expect_error(c.cmd("reload"), "GenericError",
                 "IOThread 'io0': 'fdmon' cannot change while it runs; "
                 "delete and re-create it")
    check(jeq(io0(c)["poll-max-ns"], 1000), "a refused reload changed "
          "poll-max-ns: %s" % brief(io0(c)))
    ctx.write("c.json", config("poll", 2000))
    check(jeq(c.cmd("reload"), {"return": {}}), "same fdmon refused")
    check(jeq(io0(c)["poll-max-ns"], 2000), "reload not applied: %s"
          % brief(io0(c)))


@case("state-file-keeps-the-running-creation-only-value")
def t_state(ctx):
    state = ctx.path("state.json")
    d = ctx.daemon(["--state-file", state, "--object",
                    "iothread,id=io0,fdmon=epoll"])
    c = d.client()
    c.cmd_ok("qom-set", {"path": "io0", "property": "poll-max-ns",
                         "value": 4096})
    d.stop()
    saved = json.load(open(state))
    # Restarted with another back-end: the state's poll-max-ns is
    # restored, but the thread runs (and reports) the back-end it has.
    d2 = ctx.daemon(["--state-file", state, "--object",
                     "iothread,id=io0,fdmon=poll"], name="restarted")
    c2 = d2.client()
    e = io0(c2)
    check(jeq(e["poll-max-ns"], 4096), "not restored: %s (state %s)"
          % (brief(e), brief(saved)))
    got = c2.cmd_ok("qom-get", {"path": "io0", "property": "fdmon"})
    check(got == "poll", "qom-get fdmon %r, the thread runs poll" % got)


if __name__ == "__main__":
    sys.exit(main())
