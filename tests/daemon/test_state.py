#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""--state-file: runtime changes survive a restart, and a kill at any
moment leaves a file that parses (issue 7).  Output as the other suites."""

import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qmp_harness import check  # noqa: E402
from casekit import case, main  # noqa: E402


def ids(c):
    return {e["id"]: e for e in c.cmd_ok("query-iothreads")}


@case("state-survives-restart")
def t_restart(ctx):
    state = ctx.path("state.json")
    args = ["--state-file", state, "--object", "iothread,id=io0"]
    d = ctx.daemon(args)
    c = d.client()
    c.cmd_ok("object-add", {"qom-type": "iothread", "id": "io1",
                            "poll-max-ns": 1000, "fdmon": "poll"})
    c.cmd_ok("iothread-set", {"id": "io0", "thread-pool-min": 2,
                              "thread-pool-max": 5})
    c.cmd_ok("object-add", {"qom-type": "iothread", "id": "gone"})
    c.cmd_ok("object-del", {"id": "gone"})
    check(oct(os.stat(state).st_mode & 0o777) == "0o600", "state mode")
    d.signal(signal.SIGTERM)
    check(d.wait() == 0, "exit")
    d2 = ctx.daemon(args, name="second")
    got = ids(d2.client())
    check(set(got) == {"io0", "io1"}, "restored %s" % sorted(got))
    check(got["io1"]["poll-max-ns"] == 1000 and got["io1"]["fdmon"] == "poll",
          "io1 %r" % got["io1"])
    check((got["io0"]["thread-pool-min"], got["io0"]["thread-pool-max"]) ==
          (2, 5), "io0 %r" % got["io0"])


@case("kill-during-writes-never-corrupts")
def t_kill(ctx):
    state = ctx.path("state.json")
    args = ["--state-file", state]
    for round in range(8):
        d = ctx.daemon(args, name="d%d" % round)
        c = d.client()
        stop = []

        def churn():
            i = 0
            try:
                while not stop:
                    c.cmd("object-add", {"qom-type": "iothread",
                                         "id": "r%d" % (i % 3)})
                    c.cmd("iothread-set", {"id": "r%d" % (i % 3),
                                           "poll-max-ns": i})
                    c.cmd("object-del", {"id": "r%d" % ((i + 1) % 3)})
                    i += 1
            except Exception:   # noqa: BLE001 - the daemon is killed
                pass
        t = threading.Thread(target=churn, daemon=True)
        t.start()
        time.sleep(0.05 + 0.03 * round)
        d.signal(signal.SIGKILL)
        d.wait()
        stop.append(1)
        t.join()
        if os.path.exists(state):
            with open(state) as f:
                text = f.read()
            try:
                json.loads(text)
            except ValueError:
                check(False, "round %d: corrupt state file %r"
                      % (round, text[-200:]))
        leftovers = [n for n in os.listdir(ctx.dir)
                     if n.startswith("state.json.")]
        # A temporary file may be left by the kill; it is never read.
        for n in leftovers:
            os.unlink(ctx.path(n))
    d = ctx.daemon(args, name="last")
    d.client().cmd_ok("query-iothreads")     # it starts from the file


if __name__ == "__main__":
    sys.exit(main())
