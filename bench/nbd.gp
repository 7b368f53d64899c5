# SPDX-License-Identifier: LGPL-2.1-or-later
# NBD: IOPS of one fio job (4k randread, fio's nbd engine) by queue depth,
# one line per server that produced figures (bench/nbd.py: nbd-qd.dat,
# the servers' names in its header).  nbdkit-null does no I/O: the client
# ceiling.
set terminal pngcairo size 1000,500 noenhanced
set datafile missing "-"
set output dir."/nbd-qd.png"
set title "nbd: 4k randread IOPS by queue depth (one fio job, one connection; nbdkit-null: the client ceiling)"
set xlabel "queue depth"
set ylabel "IOPS"
set logscale x 2
set xrange [0.8:80]
set xtics (1, 4, 16, 32, 64)
set yrange [0:*]
set key outside right top  # never over a line
f = dir."/nbd-qd.dat"
plot for [i=2:*] f using 1:i with linespoints title columnhead(i)
