#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shared libiothread exports exactly its documented API: the dynamic
# symbols it defines (nm -D --defined-only) are the functions that
# include/iothread/*.h declare, no more and no fewer.  Each mismatch is one
# failed case, by name.  Runs on $IOTHREADD_BUILD (default build).
set -u
cd "$(dirname "$0")/.."
B=${IOTHREADD_BUILD:-build}
so=$B/libiothread.so.0
passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
finish() {
    echo "$passed passed, $failed failed, 0 skipped"
    [ "$failed" -eq 0 ]
    exit
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! scripts/public-functions.sh include/iothread/*.h >"$tmp/declared" \
        2>"$tmp/err"; then
    not_ok "symbols: cannot read the public headers: $(cat "$tmp/err")"
    finish
fi
# "0000000000003040 T aio_bh_cancel" (or "aio_bh_cancel@@NODE" when the
# version script names a node).
if ! nm -D --defined-only "$so" >"$tmp/nm" 2>"$tmp/err"; then
    not_ok "symbols: nm -D $so: $(cat "$tmp/err")"
    finish
fi
awk '$2 ~ /^[TWi]$/ { sub(/@.*/, "", $3); print $3 }' "$tmp/nm" |
    LC_ALL=C sort -u >"$tmp/exported"
# The API has no variables: any other defined symbol is a leak, except a
# version node's own name (type A).
awk '$2 !~ /^[TWiA]$/ { sub(/@.*/, "", $3); print $3 " (type " $2 ")" }' \
    "$tmp/nm" >"$tmp/data"
cut -d' ' -f1 "$tmp/declared" >"$tmp/declared-names"

n=0
for name in $(LC_ALL=C comm -23 "$tmp/exported" "$tmp/declared-names"); do
    not_ok "symbols: $name is exported but no public header declares it"
    n=$((n + 1))
done
while read -r name header; do
    [ -n "$name" ] || continue
    not_ok "symbols: $name (declared in $header) is not exported"
    n=$((n + 1))
done <<EOT
$(LC_ALL=C join -v 1 "$tmp/declared" "$tmp/exported")
EOT
while read -r line; do
    [ -n "$line" ] || continue
    not_ok "symbols: data symbol $line is exported"
    n=$((n + 1))
done <"$tmp/data"
if [ "$n" -eq 0 ]; then
    ok "symbols: $so exports the $(wc -l <"$tmp/exported") functions that include/iothread/*.h declare, and nothing else"
fi

soname=$(readelf -d "$so" 2>/dev/null |
         sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = libiothread.so.0 ]; then
    ok "symbols: SONAME is libiothread.so.0"
else
    not_ok "symbols: SONAME is '$soname', not libiothread.so.0"
fi
finish
