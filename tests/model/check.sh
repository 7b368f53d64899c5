#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Model-check the wake-up protocol (wakeup.pml) with spin: the protocol as
# implemented must have no lost wake-up, deadlock or assertion failure; the
# variant with the 2015 bug must be caught.  Prints one line per case and
# "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

if ! command -v spin >/dev/null 2>&1; then
    echo "not ok - spin is not installed (scripts/install-deps.sh installs it)"
    echo "0 passed, 1 failed"
    exit 1
fi

# verify NAME EXPECT [spin -D flags]: EXPECT is "clean" or "error"
verify() {
    name=$1 expect=$2
    shift 2
    dir="$work/$name"
    mkdir -p "$dir"
    (cd "$dir" && spin "$@" -a "$here/wakeup.pml" >spin.log 2>&1 &&
        cc -O2 -w -DSAFETY -DNOREDUCE -o pan pan.c >>spin.log 2>&1 &&
        ./pan -m100000 >pan.log 2>&1)
    errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$dir/pan.log" | head -n 1)
    if [ -z "$errors" ]; then
        echo "not ok - $name: spin did not run"
        cat "$dir/spin.log" "$dir/pan.log" 2>/dev/null | head -n 20
        failed=$((failed + 1))
        return
    fi
    states=$(sed -n 's/^ *\([0-9][0-9.e+]*\) states, stored.*/\1/p' "$dir/pan.log" | head -n 1)
    if { [ "$expect" = clean ] && [ "$errors" -eq 0 ]; } ||
       { [ "$expect" = error ] && [ "$errors" -gt 0 ]; }; then
        echo "ok - $name (errors: $errors, states: $states)"
        passed=$((passed + 1))
    else
        echo "not ok - $name: expected $expect, spin found $errors error(s)"
        grep -E 'invalid end state|assertion violated' "$dir/pan.log" | head -n 3
        failed=$((failed + 1))
    fi
}

verify wakeup_protocol_has_no_lost_wakeup clean
verify wakeup_model_catches_2015_dispatching_bug error -DBUG_DISPATCHING
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
