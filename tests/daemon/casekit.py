#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The test-case runner shared by the daemon's Python suites.

A suite registers cases with @case(name); main() runs them (or those whose
names contain a command-line FILTER) and prints "ok - NAME" / "not ok -
NAME: reason" lines and "N passed, M failed" last.
"""

import os
import re
import shutil
import signal
import socket
import sys
import tempfile

from qmp_harness import REPO_ROOT, Daemon, TestFailure

CASES = []


class Skip(Exception):
    pass


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco


class Ctx:
    """Per-case state: a temporary directory and the daemons started."""

    def __init__(self, tmpdir):
        self.dir = tmpdir
        self.sock = os.path.join(tmpdir, "qmp.sock")
        self.daemons = []

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p + ".tmp", "w") as f:
            f.write(text)
        os.rename(p + ".tmp", p)      # atomic, as an editor would save
        return p

    def daemon(self, args=(), env=None, sock=None, start=True, **kw):
        d = Daemon(self.dir, args=args, env=env, sock=sock,
                   name=kw.pop("name", "daemon%d" % len(self.daemons)
                               if self.daemons else "daemon"), **kw)
        self.daemons.append(d)
        if start:
            d.launch()
        return d




# ---------------------------------------------------------------------------

SANITIZER = re.compile(r"ERROR: \w+Sanitizer|WARNING: ThreadSanitizer|"
                       r"runtime error:|LeakSanitizer")


def make_tmpdir():
    base = tempfile.gettempdir()
    if len(base) > 60:
        base = "/tmp"
    return tempfile.mkdtemp(prefix="iothreadd-t-", dir=base)


def how(status):
    if status >= 0:
        return "status %d" % status
    try:
        return "signal %s" % signal.Signals(-status).name
    except ValueError:
        return "signal %d" % -status


def run_case(name, fn):
    tmp = make_tmpdir()
    ctx = Ctx(tmp)
    reason, skip = None, None
    try:
        fn(ctx)
        for d in ctx.daemons:
            for c in d.clients:
                c.check_wire()
    except Skip as e:
        skip = str(e)
    except TestFailure as e:
        reason = str(e)
    except (socket.timeout, TimeoutError) as e:
        reason = "timed out waiting for the daemon (%s)" % (e or "timeout")
    except EOFError as e:
        reason = str(e) or "connection closed"
    except Exception as e:              # a bug here or an unexpected reply
        reason = "%s: %s" % (type(e).__name__, e)
    finally:
        if reason is not None:
            for d in ctx.daemons:
                st = d.proc.poll() if d.proc is not None else None
                if st is not None and st != 0:
                    reason += " [%s had exited: %s]" % (d.name, how(st))
        for d in ctx.daemons:
            try:
                d.stop()
            except Exception as e:
                reason = reason or "stopping the daemon: %s" % e
    if reason is None:
        for d in ctx.daemons:
            m = SANITIZER.search(d.stderr())
            if m:
                reason = "sanitizer report on stderr: %s" % m.group(0)
                break
    if reason is None:
        print("ok - %s%s" % (name, " # SKIP " + skip if skip else ""))
    else:
        print("not ok - %s: %s" % (name, reason.replace("\n", "\\n")))
        for d in ctx.daemons:
            tail = d.stderr_tail()
            if tail:
                print("#   %s stderr (last %d lines):" % (d.name, len(tail)))
                for ln in tail:
                    print("#     " + ln)
    sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)
    return reason is None


def main():
    os.chdir(REPO_ROOT)
    filters = sys.argv[1:]
    selected = [(n, f) for n, f in CASES
                if not filters or any(x in n for x in filters)]
    passed = failed = 0
    for name, fn in selected:
        if run_case(name, fn):
            passed += 1
        else:
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    return 1 if failed or not selected else 0
