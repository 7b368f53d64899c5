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
usr/include/iothread/aio-stats.h
usr/include/iothread/aio.h
usr/include/iothread/coroutine.h
usr/include/iothread/event-notifier.h
usr/include/iothread/io-engine.h
usr/include/iothread/iothread.h
usr/include/iothread/thread-pool.h
usr/include/iothread/timer.h
usr/lib/libiothread.a
usr/lib/libiothread.so.0.1.0
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

lib="$tmp/dest/usr/lib"
if [ "$(readlink "$lib/libiothread.so.0")" = libiothread.so.0.1.0 ] &&
        [ "$(readlink "$lib/libiothread.so")" = libiothread.so.0 ]; then
    ok "shared library symlinks (libiothread.so -> .so.0 -> .so.0.1.0)"
else
    not_ok "shared library symlinks (libiothread.so -> .so.0 -> .so.0.1.0)"
    ls -l "$lib" 2>&1 | sed 's/^/#   /'
fi

# An embedding program, built only from what was installed: NAME, the
# pkg-config options, and how -liothread is to be linked.
pcdir="$lib/pkgconfig"
build_hello() {
    flags=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$tmp/dest" \
            pkg-config $2 --cflags --libs libiothread 2>&1 |
            sed "s|-liothread|$3|")
    cc -std=gnu11 -o "$tmp/$1" examples/hello-iothread.c $flags \
        >"$tmp/$1.log" 2>&1 &&
        "$tmp/$1" >>"$tmp/$1.log" 2>&1 &&
        grep -q "iothread stopped" "$tmp/$1.log"
}
needed() { readelf -d "$1" 2>/dev/null | grep -F "(NEEDED)"; }

# Shared: found at run time through the rpath, and really the installed
# .so (its NEEDED entry, and ldd resolving it inside DESTDIR).
if build_hello hello-shared "" "-Wl,-rpath,$lib -liothread" &&
        needed "$tmp/hello-shared" | grep -qF "[libiothread.so.0]" &&
        ldd "$tmp/hello-shared" | grep -qF "libiothread.so.0 => $lib/"; then
    ok "program built against the installed shared library"
else
    not_ok "program built against the installed shared library"
    { cat "$tmp/hello-shared.log"
      needed "$tmp/hello-shared"; ldd "$tmp/hello-shared"; } 2>&1 |
        sed 's/^/#   /' | tail -15
fi

# Static: the archive and its private dependency (-luring) from --static.
if build_hello hello-static --static "-l:libiothread.a" &&
        ! needed "$tmp/hello-static" | grep -qF libiothread &&
        needed "$tmp/hello-static" | grep -qF liburing; then
    ok "program built against the installed static library"
else
    not_ok "program built against the installed static library"
    { cat "$tmp/hello-static.log"; needed "$tmp/hello-static"; } 2>&1 |
        sed 's/^/#   /' | tail -15
fi

make -s SANITIZE= B="$tmp/build" DESTDIR="$tmp/dest" PREFIX=/usr sysconfdir=/etc \
    uninstall >"$tmp/log" 2>&1
left=$(cd "$tmp/dest" && find . ! -type d)
if [ -z "$left" ]; then
    ok "make uninstall leaves no file"
else
    not_ok "make uninstall leaves no file"
    echo "$left" | sed 's/^/#   /'
fi
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
