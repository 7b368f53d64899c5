# SPDX-License-Identifier: LGPL-2.1-or-later
# Fuzz targets (fuzz/): replayed over their seed corpus and regression
# inputs by make check with any compiler; fuzzed with libFuzzer (clang) by
# make fuzz for FUZZ_SECONDS each.
FUZZ_TARGETS  := qmp config nbd
FUZZ_REPLAYS  := $(FUZZ_TARGETS:%=$(B)/fuzz/replay-%)
FUZZ_SECONDS  ?= 60
FUZZ_B        := build/libfuzzer

PROGRAMS       += $(FUZZ_REPLAYS)
CHECK_PROGRAMS += tests/fuzz-replay.sh

$(B)/fuzz/replay-%: $(B)/obj/fuzz/fuzz-%.o $(B)/obj/fuzz/replay.o \
                    $$(DAEMON_CORE) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(DAEMON_CORE) $(LIB) \
	    $(DAEMON_LIBS)

# libFuzzer: everything rebuilt with clang and coverage instrumentation.
$(FUZZ_B)/fuzz-%: fuzz/fuzz-%.c
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=clang \
	    SANITIZE=address,undefined EXTRA_CFLAGS=-fsanitize=fuzzer-no-link \
	    $(FUZZ_B)/libiothread.a $(DAEMON_CORE:$(B)/%=$(FUZZ_B)/%)
	clang $(CPPFLAGS) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	    -o $@ $< $(DAEMON_CORE:$(B)/%=$(FUZZ_B)/%) $(FUZZ_B)/libiothread.a \
	    $(DAEMON_LIBS) -pthread

.PHONY: fuzz
fuzz: deps $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz-%)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_B)/corpus-$$t; \
	    echo "== fuzz-$$t for $(FUZZ_SECONDS)s"; \
	    ASAN_OPTIONS=detect_leaks=1 $(FUZZ_B)/fuzz-$$t \
	        -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -artifact_prefix=$(FUZZ_B)/$$t- -print_final_stats=1 \
	        $(FUZZ_B)/corpus-$$t fuzz/corpus/$$t fuzz/regressions/$$t \
	        || { echo "fuzz-$$t found a problem: see $(FUZZ_B)/$$t-*;" \
	             "add the input to fuzz/regressions/$$t/"; exit 1; }; \
	done
