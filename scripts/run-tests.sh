#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run every test program given; print each one's cases, then one line
# "N passed, N failed, N skipped" over all of them.  Exit 1 if anything
# failed.
#
# Each program prints "ok - NAME", "not ok - NAME: why" or
# "ok - NAME # SKIP reason" per case and ends with "N passed, N failed" or
# "N passed, N failed, N skipped".  A failure here is also:
#   - a program that ends without that line (whatever its exit status),
#   - a non-zero exit status with no failed case to explain it,
#   - a program still running after IOTHREAD_TEST_PROGRAM_TIMEOUT seconds
#     (default 900, times IOTHREAD_TEST_TIMEOUT_SCALE),
#   - with CI=true, a skipped case that tests/expected-skips.txt does not
#     list: on CI's machine everything install-deps installs is there.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
expected_skips=$here/tests/expected-skips.txt
scale=${IOTHREAD_TEST_TIMEOUT_SCALE:-1}
limit=$(awk -v b="${IOTHREAD_TEST_PROGRAM_TIMEOUT:-900}" -v s="$scale" \
        'BEGIN { s += 0; if (s <= 0) s = 1; printf "%d", b * s + 0.5 }')
passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log" "$log.skips"' EXIT

summary_re='^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'

fail() {
    echo "not ok - $*"
    failed=$((failed + 1))
}

# Skipped cases of the last program that CI does not expect.
unexpected_skips() {
    sed -n 's/^ok - \(.*\) # SKIP \(.*\)$/\1	\2/p' "$log" |
    while IFS='	' read -r name reason; do
        if ! cut -f1 "$expected_skips" 2>/dev/null | grep -qxF -- "$name"
        then
            printf '%s\t%s\n' "$name" "$reason"
        fi
    done
}

for t in "$@"; do
    echo "== $t"
    start=$(date +%s)
    timeout --kill-after=10 "$limit" "$t" >"$log" 2>&1
    rc=$?
    grep -v -E "$summary_re" "$log"
    line=$(grep -E "$summary_re" "$log" | tail -n 1)
    if [ "$rc" -eq 124 ] ||
       { [ "$rc" -eq 137 ] && [ $(($(date +%s) - start)) -ge "$limit" ]; }
    then
        fail "$t timed out after $limit s"
        continue
    fi
    if [ -z "$line" ]; then
        fail "$t ended without a summary line (exit status $rc)"
        continue
    fi
    n_sum=$(grep -c -E "$summary_re" "$log")
    if [ "$n_sum" -ne 1 ]; then
        fail "$t printed $n_sum summary lines, not one"
    fi
    set -- $line
    p=$1 f=$3 s=${5:-0}
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        fail "$t exited with status $rc"
    fi
    if [ "$rc" -eq 0 ] && [ "$f" -ne 0 ]; then
        fail "$t exited with status 0 after $f failed cases"
    fi
    # The summary must count the lines printed: a program that counts
    # what it did not print (or prints what it does not count) is wrong.
    n_skip=$(grep -c '^ok - .* # SKIP' "$log")
    n_ok=$(($(grep -c '^ok - ' "$log") - n_skip))
    n_bad=$(grep -c '^not ok - ' "$log")
    if [ "$n_ok" -ne "$p" ] || [ "$n_bad" -ne "$f" ] ||
       [ "$n_skip" -ne "$s" ]; then
        fail "$t: summary '$line' does not match its lines ($n_ok ok, $n_bad not ok, $n_skip skipped)"
    fi
    if [ "${CI:-}" = true ]; then
        unexpected_skips >"$log.skips"
        while IFS='	' read -r name reason; do
            fail "$name skipped on CI ($reason); not in tests/expected-skips.txt"
        done <"$log.skips"
        rm -f "$log.skips"
    fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
