# SPDX-License-Identifier: LGPL-2.1-or-later
# make bench: not part of make check.  Peers (libuv, libevent, GLib, QEMU)
# are linked or run by the benchmarks only, never by the product.
BENCH_DEPS := libuv1-dev libevent-dev libglib2.0-dev gnuplot-nox \
              qemu-system-x86 strace
# bench/nbd.py: fio's nbd engine, nbdinfo, nbdkit, qemu-storage-daemon.
BENCH_DEPS += fio libnbd-bin nbdkit qemu-system-common
BENCH_PROGS := wake bh fd timer adaptive think io-engine coroutine
BENCH_BINS := $(BENCH_PROGS:%=$(B)/bench/%)
# Only the programs with peers link them.
BENCH_PEER_LIBS = $$($(PKG_CONFIG) --cflags --libs libuv libevent \
                     libevent_pthreads glib-2.0)
bench_peers_wake := y
bench_peers_bh := y
bench_peers_timer := y

$(BENCH_BINS): $(B)/bench/%: bench/%.c bench/bench.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=gnu11 -O2 -g -pthread $(WARN) -o $@ $< $(LIB) \
	    $(if $(bench_peers_$*),$(BENCH_PEER_LIBS)) $(LIB_LIBS)

.PHONY: bench bench-deps bench-build
bench-deps:
	@scripts/install-deps.sh $(BENCH_DEPS)

# $$(DAEMON): mk/daemon.mk, read after this file, defines it.
bench-build: $(BENCH_BINS) $$(DAEMON)

bench: bench-deps
	@$(MAKE) --no-print-directory bench-build
	@B=$(B) bench/run.sh
