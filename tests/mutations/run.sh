#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make check-mutations: prove that the C tests catch the bugs they are
# named for.  The tree is copied to a temporary directory; there each
# mutation in tests/mutations/*.pl (one known-bad change to the library)
# is applied alone, the C test programs are built and run, and the suite
# must FAIL.  A table says which cases caught each mutation and how long
# it took.  A mutation whose pattern no longer matches its file exactly
# once is an error, never a silent pass: fix its .pl after editing the
# code it targets.
#
# Usage: tests/mutations/run.sh [NAME...]   (default: every mutation)
# Exit status: 0 if every mutation was caught, 1 otherwise.
set -u

src=$(cd "$(dirname "$0")/../.." && pwd)
muts=$src/tests/mutations
tests="test-aio test-threads test-churn test-faults test-io-engine"
# Hang and stall detectors are short here (a mutant may hang every case);
# the unmutated copy must pass with the same settings first.
export IOTHREAD_TEST_QUICK=1
export IOTHREAD_TEST_TIMEOUT_SCALE=${IOTHREAD_TEST_TIMEOUT_SCALE:-0.3}
export IOTHREAD_TEST_CASE_TIMEOUT=${IOTHREAD_TEST_CASE_TIMEOUT:-20}
export IOTHREAD_TEST_VERBOSE=1
unset LIBIOTHREAD_DISABLE_IO_URING
per_program_limit=300

work=$(mktemp -d "${TMPDIR:-/tmp}/iothread-mutations.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
tree=$work/tree

# The working tree as it is (tracked and new files), without build output.
mkdir -p "$tree"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z -co --exclude-standard |
        tar --null -T - -cf -) | tar -xf - -C "$tree"
else
    (cd "$src" && tar --exclude=./build -cf - .) | tar -xf - -C "$tree"
fi

build() {
    (cd "$tree" && make -j2 --no-print-directory B=build \
        $(for t in $tests; do printf 'build/tests/%s ' "$t"; done)) \
        >"$work/build.log" 2>&1
}

# run_tests LOG: run every program (at once: a mutant mostly hangs, and a
# hang costs a watchdog period); print the names of failed cases, or of
# the program when it failed without naming one, on stdout.
run_tests() {
    for t in $tests; do
        timeout -k 5 "$per_program_limit" "$tree/build/tests/$t" \
            >"$work/$t.out" 2>&1 &
        echo $! >"$work/$t.pid"
    done
    : >"$1"
    for t in $tests; do
        wait "$(cat "$work/$t.pid")"
        rc=$?
        cat "$work/$t.out" >>"$1"
        names=$(sed -n 's/^not ok - \([^: ]*\).*/\1/p' "$work/$t.out" |
                sort -u | tr '\n' ' ')
        if [ -n "$names" ]; then
            printf '%s' "$names"
        elif [ "$rc" -ne 0 ]; then
            last=$(sed -n 's/^# start //p' "$work/$t.out" | tail -n 1)
            printf '%s(exit=%s) ' "${last:-$t}" "$rc"
        fi
    done
}

# Fold "case[poll] case[epoll]" into "case[poll,epoll]", keeping order.
fold_backends() {
    tr ' ' '\n' | awk '
        NF == 0 { next }
        {
            base = $0; be = ""
            if (match($0, /\[[^]]*\]/)) {
                base = substr($0, 1, RSTART - 1) substr($0, RSTART + RLENGTH)
                be = substr($0, RSTART + 1, RLENGTH - 2)
            }
            if (!(base in seen)) { seen[base] = ++n; order[n] = base }
            if (be != "") bes[base] = bes[base] (bes[base] == "" ? "" : ",") be
        }
        END {
            for (i = 1; i <= n; i++) {
                b = order[i]
                if (bes[b] != "" && match(b, /\(exit/)) {
                    printf "%s[%s]%s ", substr(b, 1, RSTART - 1), bes[b],
                           substr(b, RSTART)
                } else if (bes[b] != "") {
                    printf "%s[%s] ", b, bes[b]
                } else {
                    printf "%s ", b
                }
            }
        }'
}

# apply MUTATION.pl: patch the copy; exit 3 if the pattern does not match
# exactly once.
apply() {
    perl -e '
        our ($file, $match, $subst);
        my $mut = shift;
        do $mut or die "$mut: " . ($@ || $!) . "\n";
        my $path = "$ARGV[0]/$file";
        open my $in, "<", $path or die "$path: $!\n";
        local $/; my $text = <$in>; close $in;
        my $n = 0;
        $n++ while $text =~ /$match/g;
        if ($n != 1) {
            print STDERR "$mut: matches $file $n times, not once: ",
                         "the mutation no longer applies\n";
            exit 3;
        }
        $text =~ s/$match/$subst->()/e;
        open my $out, ">", $path or die "$path: $!\n";
        print $out $text;
        print "$file\n";
    ' "$1" "$tree"
}

if [ $# -gt 0 ]; then
    list=$(for n in "$@"; do printf '%s/%s.pl ' "$muts" "$n"; done)
else
    list=$(ls "$muts"/*.pl)
fi

echo "== building and running the unmutated copy"
if ! build; then
    cat "$work/build.log"
    echo "the unmutated tree does not build"
    exit 1
fi
caught=$(run_tests "$work/baseline.log")
if [ -n "$caught" ]; then
    grep -E '^not ok|^  ' "$work/baseline.log"
    echo "the unmutated tree fails: $caught"
    exit 1
fi

status=0
table=$work/table
printf '%-24s %-8s %s\n' MUTATION SECONDS "CAUGHT BY" >"$table"
for m in $list; do
    name=$(basename "$m" .pl)
    start=$(date +%s)
    if ! file=$(apply "$m"); then
        printf '%-24s %-8s %s\n' "$name" - "ERROR: does not apply" >>"$table"
        status=1
        continue
    fi
    echo "== $name ($file)"
    if ! build; then
        tail -n 20 "$work/build.log"
        printf '%-24s %-8s %s\n' "$name" - "ERROR: does not build" >>"$table"
        status=1
    else
        caught=$(run_tests "$work/$name.log")
        secs=$(( $(date +%s) - start ))
        if [ -n "$caught" ]; then
            printf '%-24s %-8s %s\n' "$name" "$secs" \
                "$(printf '%s' "$caught" | fold_backends)" >>"$table"
        else
            printf '%-24s %-8s %s\n' "$name" "$secs" "NOT CAUGHT" >>"$table"
            status=1
        fi
    fi
    cp "$src/$file" "$tree/$file" # restore (newer mtime: rebuilt next time)
done
echo
cat "$table"
exit $status
