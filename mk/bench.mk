# SPDX-License-Identifier: LGPL-2.1-or-later
# make bench: not part of make check.  Peers (libuv, libevent, GLib, QEMU)
# are linked or run by the benchmarks only, never by the product.
BENCH_DEPS := libuv1-dev libevent-dev libglib2.0-dev gnuplot-nox \
              qemu-system-x86

$(B)/bench/wake: bench/wake.c bench/bench.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=gnu11 -O2 -g -pthread $(WARN) -o $@ $< $(LIB) \
	    $$($(PKG_CONFIG) --cflags --libs libuv libevent libevent_pthreads \
	       glib-2.0) $(LIB_LIBS)

$(B)/bench/loop: bench/loop.c bench/bench.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=gnu11 -O2 -g -pthread $(WARN) -o $@ $< $(LIB) \
	    $$($(PKG_CONFIG) --cflags --libs libuv) $(LIB_LIBS)

$(B)/bench/think: bench/think.c bench/bench.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=gnu11 -O2 -g -pthread $(WARN) -o $@ $< $(LIB) \
	    $(LIB_LIBS)

$(B)/bench/adaptive: bench/adaptive.c bench/bench.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=gnu11 -O2 -g -pthread $(WARN) -o $@ $< $(LIB) \
	    $(LIB_LIBS)

.PHONY: bench bench-deps
bench-deps:
	@scripts/install-deps.sh $(BENCH_DEPS)

bench: bench-deps
	@$(MAKE) --no-print-directory $(B)/bench/wake $(B)/bench/loop \
	    $(B)/bench/adaptive $(B)/bench/think $(DAEMON)
	@B=$(B) bench/run.sh
