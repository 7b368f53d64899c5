#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make install into a temporary DESTDIR: the exact file list, a program
# built against the installed library through pkg-config, then make
# uninstall leaves no file behind.  Uses its own build directory, with the
# default flags, whatever build the rest of the suite runs on.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
# Not the sanitizer settings of a surrounding make check-asan/-tsan.
unset MAKEFLAGS MAKEOVERRIDES MFLAGS MAKELEVEL
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }

expected="etc/iothreadd.json
usr/include/iothread/aio.h
usr/include/iothread/coroutine.h
usr/include/iothread/event-notifier.h
usr/include/iothread/io-engine.h
usr/include/iothread/iothread.h
usr/include/iothread/thread-pool.h
usr/include/iothread/timer.h
usr/lib/libiothread.a
usr/lib/pkgconfig/libiothread.pc
usr/lib/systemd/system/iothreadd.service
usr/lib/systemd/system/iothreadd.socket
usr/lib/sysusers.d/iothreadd.conf
usr/lib/tmpfiles.d/iothreadd.conf
usr/sbin/iothreadd
usr/share/man/man5/iothreadd.json.5
usr/share/man/man7/iothreadd-qmp.7
usr/share/man/man8/iothreadd.8"
if [ -f src/ctl/main.c ]; then
    expected="$expected
usr/bin/iothreadctl
usr/share/bash-completion/completions/iothreadctl
usr/share/man/man1/iothreadctl.1"
fi
expected=$(echo "$expected" | sort)

if make -s SANITIZE= B="$tmp/build" DESTDIR="$tmp/dest" PREFIX=/usr sysconfdir=/etc \
        install >"$tmp/log" 2>&1; then
    ok "make install"
else
    not_ok "make install"
    sed 's/^/#   /' "$tmp/log" | tail -20
fi
got=$(cd "$tmp/dest" 2>/dev/null && find . -type f | sed 's|^\./||' | sort)
if [ "$got" = "$expected" ]; then
    ok "installed file list"
else
    not_ok "installed file list"
    diff <(echo "$expected") <(echo "$got") | sed 's/^/#   /'
fi

unit="$tmp/dest/usr/lib/systemd/system/iothreadd.service"
if grep -q '^ExecStart=/usr/sbin/iothreadd --config /etc/iothreadd.json$' \
        "$unit" 2>/dev/null && ! grep -q '@[A-Z]*@' "$unit"; then
    ok "unit paths substituted"
else
    not_ok "unit paths substituted"
fi

# An embedding program, built only from what was installed.
pcdir="$tmp/dest/usr/lib/pkgconfig"
flags=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$tmp/dest" \
        pkg-config --cflags --libs --static libiothread 2>&1)
if cc -std=gnu11 -o "$tmp/hello" examples/hello-iothread.c $flags \
        >"$tmp/cc.log" 2>&1 && "$tmp/hello" >"$tmp/hello.out" 2>&1 &&
        grep -q "iothread stopped" "$tmp/hello.out"; then
    ok "program built against the installed library"
else
    not_ok "program built against the installed library"
    sed 's/^/#   /' "$tmp/cc.log" "$tmp/hello.out" 2>/dev/null | tail -10
fi

make -s SANITIZE= B="$tmp/build" DESTDIR="$tmp/dest" PREFIX=/usr sysconfdir=/etc \
    uninstall >"$tmp/log" 2>&1
left=$(cd "$tmp/dest" && find . -type f)
if [ -z "$left" ]; then
    ok "make uninstall leaves no file"
else
    not_ok "make uninstall leaves no file"
    echo "$left" | sed 's/^/#   /'
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
