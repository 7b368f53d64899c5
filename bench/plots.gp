# SPDX-License-Identifier: LGPL-2.1-or-later
# Wake-up latency distributions (CDF of round-trip times, last repetition).
set terminal pngcairo size 900,500 noenhanced
set logscale x
set xlabel "round-trip time (ns)"
set ylabel "fraction"
set key bottom right
do for [mode in "wake-blocking wake-blocking-samecore wake-polling"] {
    set output dir."/".mode.".png"
    set title mode
    plot for [impl in "iothreadd floor libuv libevent glib"] \
        dir."/".mode."-".impl.".dat" using 2:1 with lines title impl
}

# fd scaling: ns per event against the number of registered fds.
set output dir."/fd-scaling.png"
set title "fd-scaling: one active fd among N"
set xlabel "registered fds"
set ylabel "ns per event"
set key top left
set yrange [0:*]
plot dir."/fd-scaling.dat" using 1:2 with linespoints title "iothreadd epoll", \
     "" using 1:3 with linespoints title "epoll_wait floor", \
     "" using 1:4 with linespoints title "iothreadd io_uring", \
     "" using 1:5 with linespoints title "io_uring poll floor"
set autoscale y

# Adaptive polling: latency and CPU against the event interval.
set output dir."/adaptive.png"
set title "adaptive polling: event latency (lines) and CPU (points)"
set xlabel "event interval (ns)"
set ylabel "latency p50 (ns)"
set y2label "iothread CPU (%)"
set logscale y
set y2tics
set key top left
plot dir."/adaptive.dat" using 1:2 with linespoints title "off latency", \
     "" using 1:4 with linespoints title "fixed latency", \
     "" using 1:6 with linespoints title "adaptive latency", \
     "" using 1:3 axes x1y2 with points title "off CPU", \
     "" using 1:5 axes x1y2 with points title "fixed CPU", \
     "" using 1:7 axes x1y2 with points title "adaptive CPU"
