#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The layers of docs/architecture.md, checked: which folder may include
# which, and that iothreadctl links neither the event loop nor systemd.
cd "$(dirname "$0")/.." || exit 1
B=${IOTHREADD_BUILD:-build}
pass=0 fail=0

# forbid NAME FOLDER PATTERN [EXCEPT]: no #include in FOLDER matches
# PATTERN, except those matching EXCEPT.
forbid() {
    hits=$(grep -n -E "^#include +$3" "$2"/*.c "$2"/*.h 2>/dev/null |
           grep -v -E "${4:-^$}")
    if [ -z "$hits" ]; then
        echo "ok - $1"
        pass=$((pass + 1))
    else
        echo "not ok - $1: $(echo "$hits" | head -3 | tr '\n' ' ')"
        fail=$((fail + 1))
    fi
}

forbid "qmp-includes-nothing-of-the-daemon" src/qmp '"(daemon|ctl)/'
forbid "common-includes-no-other-layer" src/common \
    '("(daemon|qmp|ctl)/|<iothread/)'
# The counter list is header-only (names and static inline helpers), so
# that the CLI labels the same counters without linking the event loop.
forbid "ctl-includes-neither-daemon-nor-event-loop" src/ctl \
    '("daemon/|<iothread/)' '<iothread/aio-stats\.h>'
forbid "aio-includes-nothing-of-iothreadd" src/aio '"(daemon|qmp|ctl|common)/'
# The block layer sits on the public library and src/common/ only: not
# the loop's private headers, not liburing, nothing above it.
forbid "block-includes-only-the-library-and-common" src/block \
    '("(daemon|qmp|nbd|ctl|aio)/|<liburing)'
# The NBD server sits on the block layer, the public library and
# src/common/: it knows nothing of the daemon, QMP or the CLI, and its
# socket and file I/O go through the library's engine, not liburing.
forbid "nbd-includes-only-block-the-library-and-common" src/nbd \
    '("(daemon|qmp|ctl|aio)/|<liburing)'

if [ ! -x "$B/iothreadctl" ]; then
    echo "not ok - iothreadctl-links-jansson-and-libc-only: no $B/iothreadctl"
    fail=$((fail + 1))
else
    libs=$(ldd "$B/iothreadctl" | grep -E 'liburing|libsystemd|libiothread')
    if [ -z "$libs" ]; then
        echo "ok - iothreadctl-links-jansson-and-libc-only"
        pass=$((pass + 1))
    else
        echo "not ok - iothreadctl-links-jansson-and-libc-only: $libs"
        fail=$((fail + 1))
    fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
