#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make bench: run every benchmark, then write build/bench/results.tsv,
# peers.tsv, a table on stdout and the plots.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
out=$B/bench
mkdir -p "$out"
raw=$out/raw.txt
: >"$raw"
export BENCH_OUT=$out IOTHREADD_BUILD=$B

echo "== wake-blocking / wake-polling"
"$B/bench/wake" "${BENCH_WAKE_N:-5000}" | tee -a "$raw" | grep -c RESULT >/dev/null
for part in bh fd timer idle; do
    echo "== $part"
    "$B/bench/loop" "$part" >>"$raw"
done
echo "== adaptive"
"$B/bench/adaptive" "${BENCH_ADAPTIVE_SECS:-0.2}" >>"$raw"
echo "== think-time"
"$B/bench/think" "${BENCH_THINK_SECS:-1}" >>"$raw"
echo "== control-plane"
python3 bench/control.py >>"$raw"

python3 bench/report.py "$raw" "$out"
if command -v gnuplot >/dev/null; then
    gnuplot -e "dir='$out'" bench/plots.gp && echo "plots: $out/*.png"
fi
