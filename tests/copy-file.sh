#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# examples/copy-file against a temporary file: the copy is byte for byte
# the same (cmp), on the engine the machine gives and on the thread pool,
# and its report counts the requests: 2 per chunk plus the fdatasync.
set -u
B=${IOTHREADD_BUILD:-build}
prog=$B/examples/copy-file
pass=0 fail=0
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/iothread-copy.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM

ok() { echo "ok - $1"; pass=$((pass + 1)); }
not_ok() { echo "not ok - $1: $2"; fail=$((fail + 1)); }

# 3 MiB and 4097 bytes: 25 chunks of 128 KiB, the last one short.
head -c $((3 * 1024 * 1024 + 4097)) /dev/urandom >"$dir/src"
want_requests=$((25 * 2 + 1))

for engine in default thread-pool; do
    name=copy-file-$engine
    rm -f "$dir/dst"
    if [ "$engine" = thread-pool ]; then
        out=$(LIBIOTHREAD_DISABLE_IO_URING=1 "$prog" -d 8 "$dir/src" \
              "$dir/dst" 2>&1)
    else
        out=$("$prog" -d 8 "$dir/src" "$dir/dst" 2>&1)
    fi
    rc=$?
    if [ "$rc" -ne 0 ]; then
        not_ok "$name" "exit status $rc: $out"
    elif ! cmp -s "$dir/src" "$dir/dst"; then
        not_ok "$name" "the copy differs from the source"
    elif ! echo "$out" | grep -q "^copied $((3 * 1024 * 1024 + 4097)) bytes .* $want_requests requests"; then
        not_ok "$name" "unexpected report: $out"
    elif [ "$engine" = thread-pool ] && ! echo "$out" | grep -q "engine thread-pool"; then
        not_ok "$name" "not on the thread pool: $out"
    else
        ok "$name"
    fi
done

# An empty file, and a source that does not exist.
: >"$dir/empty"
if "$prog" "$dir/empty" "$dir/dst2" >/dev/null 2>&1 && [ -f "$dir/dst2" ] &&
   [ ! -s "$dir/dst2" ]; then
    ok copy-file-empty
else
    not_ok copy-file-empty "empty source not copied as an empty file"
fi
if "$prog" "$dir/nope" "$dir/dst3" >/dev/null 2>&1; then
    not_ok copy-file-missing-source "exit status 0"
else
    ok copy-file-missing-source
fi
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
