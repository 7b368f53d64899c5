#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Replay each fuzz target over its seed corpus and every input a fuzzing
# run ever found (fuzz/regressions/): a fixed crash stays fixed.
#
# One case per input replayed: an empty folder replays nothing and counts
# nothing.  When a replay fails, each input is replayed on its own to name
# the ones that fail.
cd "$(dirname "$0")/.." || exit 1
b=${IOTHREADD_BUILD:-build}
passed=0
failed=0
one=$(mktemp -d)
trap 'rm -rf "$one"' EXIT

# The inputs of folder $1, as replay.c reads them (no dot files).
inputs() {
    for f in "$1"/*; do
        [ -f "$f" ] && echo "$f"
    done
}

for t in qmp config nbd; do
    dirs="fuzz/corpus/$t fuzz/regressions/$t"
    out=$("$b/fuzz/replay-$t" "fuzz-$t" $dirs 2>&1)
    rc=$?
    n=0
    for d in $dirs; do
        n=$((n + $(inputs "$d" | wc -l)))
    done
    said=$(echo "$out" | sed -n 's/^ok - .* (\([0-9]*\) inputs)$/\1/p' |
           awk '{ s += $1 } END { print s + 0 }')
    if [ $rc -eq 0 ] && [ "$said" -eq "$n" ]; then
        for d in $dirs; do
            for f in $(inputs "$d"); do
                echo "ok - fuzz-$t $f"
                passed=$((passed + 1))
            done
        done
        continue
    fi
    if [ $rc -eq 0 ]; then
        echo "not ok - fuzz-$t replayed $said inputs of $n"
        failed=$((failed + 1))
        continue
    fi
    # Which inputs fail?
    bad=0
    for d in $dirs; do
        for f in $(inputs "$d"); do
            rm -f "$one"/*
            cp "$f" "$one/"
            if r=$("$b/fuzz/replay-$t" "fuzz-$t" "$one" 2>&1); then
                echo "ok - fuzz-$t $f"
                passed=$((passed + 1))
            else
                echo "not ok - fuzz-$t $f"
                echo "$r" | tail -20 | sed 's/^/#   /'
                failed=$((failed + 1))
                bad=$((bad + 1))
            fi
        done
    done
    if [ $bad -eq 0 ]; then
        echo "not ok - fuzz-$t replay exited with status $rc, no input alone fails"
        echo "$out" | tail -20 | sed 's/^/#   /'
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
