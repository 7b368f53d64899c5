# SPDX-License-Identifier: LGPL-2.1-or-later
# Wake-up latency distributions (CDF of round-trip times, last repetition).
set terminal pngcairo size 900,500
set logscale x
set xlabel "round-trip time (ns)"
set ylabel "fraction"
set key bottom right
do for [mode in "wake-blocking wake-polling"] {
    set output dir."/".mode.".png"
    set title mode
    plot for [impl in "iothreadd floor libuv libevent glib"] \
        dir."/".mode."-".impl.".dat" using 2:1 with lines title impl
}
