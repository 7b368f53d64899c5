#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# GLib is a test-only dependency (mk/gsource.mk): no product binary links
# it and the library references none of its symbols.  Runs on
# $IOTHREADD_BUILD (default build).
cd "$(dirname "$0")/.." || exit 1
B=${IOTHREADD_BUILD:-build}
pass=0 fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $1"; fail=$((fail + 1)); }

for f in "$B/libiothread.so.0" "$B/iothreadd" "$B/iothreadctl" \
         "$B"/examples/*; do
    name="no-glib: $(basename "$f") links no GLib"
    if [ ! -x "$f" ] && [ ! -f "$f" ]; then
        not_ok "$name: $f was not built"
    elif ! libs=$(ldd "$f" 2>&1); then
        not_ok "$name: ldd failed: $libs"
    elif echo "$libs" | grep -q 'libg\(lib\|object\|io\)-2'; then
        not_ok "$name: $(echo "$libs" | grep 'libg' | tr '\n' ' ')"
    else
        ok "$name"
    fi
done
# The archive: a g_* reference would need GLib at link time.
if refs=$(nm -u "$B/libiothread.a" 2>/dev/null | grep -E ' g_[a-z]'); then
    not_ok "no-glib: libiothread.a references $(echo "$refs" | head -3 | tr '\n' ' ')"
else
    ok "no-glib: libiothread.a references no GLib symbol"
fi
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
