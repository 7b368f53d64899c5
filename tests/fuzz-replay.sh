#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Replay each fuzz target over its seed corpus and every input a fuzzing
# run ever found (fuzz/regressions/): a fixed crash stays fixed.
cd "$(dirname "$0")/.." || exit 1
b=${IOTHREADD_BUILD:-build}
passed=0
failed=0
for t in qmp config; do
    out=$("$b/fuzz/replay-$t" "fuzz-$t" "fuzz/corpus/$t" \
          "fuzz/regressions/$t" 2>&1)
    rc=$?
    echo "$out" | grep -v -E '^[0-9]+ passed'
    if [ $rc -eq 0 ]; then
        passed=$((passed + 2))
    else
        echo "not ok - fuzz-$t replay exited with status $rc"
        echo "$out" | tail -20 | sed 's/^/#   /'
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
