#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The functions that libiothread's public headers declare: its API.
#
#   scripts/public-functions.sh HEADER...                  "NAME HEADER" lines
#   scripts/public-functions.sh --version-script HEADER... a linker version
#                                                          script exporting them
#
# The compiler reads the headers (gcc -aux-info writes one line per
# declaration with the file it came from), so macros, comments and
# multi-line prototypes need no parsing here.  `static inline` helpers are
# not part of the ABI and are left out.  The build generates the shared
# library's version script this way, so a new public function needs no
# second list; tests/check-symbols.sh compares what the library really
# exports with this list.
set -eu
mode=list
if [ "${1:-}" = --version-script ]; then
    mode=map
    shift
fi
if [ $# -eq 0 ]; then
    echo "usage: $0 [--version-script] HEADER..." >&2
    exit 2
fi
if ! command -v gcc >/dev/null; then
    echo "$0: gcc is needed (for -aux-info)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in "$@"; do
    case $h in
    /*) echo "#include \"$h\"" ;;
    *) echo "#include \"$PWD/$h\"" ;;
    esac
done >"$tmp/all.c"
gcc -std=gnu11 -D_GNU_SOURCE -Iinclude -fsyntax-only -aux-info "$tmp/aux" \
    "$tmp/all.c"
# /* /abs/include/iothread/aio.h:79:NC */ extern int aio_context_new (...);
sed -n 's|^/\* .*\(include/iothread/[^ :]*\):[0-9]*:[A-Z]* \*/ extern [^(]*[ *]\([A-Za-z_][A-Za-z0-9_]*\) (.*|\2 \1|p' \
    "$tmp/aux" | LC_ALL=C sort -u >"$tmp/list"
if [ ! -s "$tmp/list" ]; then
    echo "$0: no function declared in $*" >&2
    exit 1
fi
if [ "$mode" = list ]; then
    cat "$tmp/list"
    exit 0
fi
echo "/* Generated from the public headers by scripts/public-functions.sh. */"
echo "{"
echo "global:"
while read -r name _; do
    echo "    $name;"
done <"$tmp/list"
echo "local:"
echo "    *;"
echo "};"
