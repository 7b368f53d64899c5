# SPDX-License-Identifier: LGPL-2.1-or-later
#
# iothreadd build.  `make` builds into build/; `make check` builds and runs
# every test; `make check-asan` / `make check-tsan` do the same under the
# sanitizers, in build/asan and build/tsan.

VERSION := 0.1.0

B        ?= build
SANITIZE ?=
CC       ?= cc
OPT      ?= -O2
PKG_CONFIG ?= pkg-config

WARN      := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS  += -D_GNU_SOURCE -Iinclude -Isrc -DIOTHREADD_VERSION='"$(VERSION)"'
CFLAGS    ?= $(OPT) -g
CFLAGS    += -std=gnu11 -pthread -fno-strict-aliasing $(WARN)
LDFLAGS   += -pthread
# For special builds (make fuzz): added to every compile.
CFLAGS    += $(EXTRA_CFLAGS)

ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all \
           -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# pkg-config answers are lazy: $(call lazy,VAR,COMMAND) makes VAR run
# COMMAND the first time a recipe expands it, then keep the answer.  At
# parse time nothing runs, so `make check` on a machine without the -dev
# packages prints nothing before its dependency step has installed them.
# Define what uses them with `=`, not `:=`, which would expand them now.
lazy = $(eval $(1) = $$(eval $(1) := $$$$(shell $(2)))$$($(1)))
$(call lazy,URING_CFLAGS,$(PKG_CONFIG) --cflags liburing)
$(call lazy,URING_LIBS,$(PKG_CONFIG) --libs liburing)
$(call lazy,JANSSON_LIBS,$(PKG_CONFIG) --libs jansson)
$(call lazy,SYSTEMD_LIBS,$(PKG_CONFIG) --libs libsystemd)

LIB_SRCS  := $(wildcard src/aio/*.c)
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/obj/%.o)
LIB       := $(B)/libiothread.a
LIB_LIBS   = $(URING_LIBS)

TEST_SRCS := $(wildcard tests/test-*.c)
TESTS     := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
HARNESS   := $(B)/obj/tests/harness.o

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLES     := $(EXAMPLE_SRCS:examples/%.c=$(B)/examples/%)

# Further components (daemon, CLI, ...) add their rules in mk/*.mk, and
# append to PROGRAMS (built by `all`) and CHECK_PROGRAMS (run by `check`:
# each prints "ok - ..." lines and a final "N passed, N failed").
.DEFAULT_GOAL  := all
PROGRAMS       :=
# The build's own promises (targets, no parse-time pkg-config).
CHECK_PROGRAMS := tests/make-targets.sh
# Components may refer to each other's variables in prerequisites ($$(X)).
.SECONDEXPANSION:
-include $(sort $(wildcard mk/*.mk))

# Intermediate files (objects between a source and a program) are kept:
# a second `make check` recompiles nothing.
.SECONDARY:

.PHONY: all lib check check-now check-asan check-tsan clean run run-example \
        run-daemon deps
all: $(LIB) $(EXAMPLES) $(PROGRAMS)
lib: $(LIB)

$(B)/obj/src/aio/%.o: src/aio/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(URING_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/tests/%: $(B)/obj/tests/%.o $(HARNESS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(HARNESS) $(LIB) $(LIB_LIBS)

$(B)/examples/%: $(B)/obj/examples/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LIB_LIBS)

# The user-facing targets first install what is missing, then re-run make
# so that pkg-config sees the freshly installed libraries.
deps:
	@scripts/install-deps.sh

check: deps
	@$(MAKE) --no-print-directory check-now

# Sanitizers slow everything down: tests scale their watchdogs and the
# sizes of their stress loops (IOTHREAD_TEST_QUICK) accordingly.
check-asan: deps
	@IOTHREAD_TEST_TIMEOUT_SCALE=3 ASAN_OPTIONS=detect_leaks=1 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 $(MAKE) --no-print-directory B=build/asan \
	 SANITIZE=address,undefined check-now

check-tsan: deps
	@IOTHREAD_TEST_TIMEOUT_SCALE=5 IOTHREAD_TEST_QUICK=1 \
	 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	 $(MAKE) --no-print-directory B=build/tsan SANITIZE=thread check-now

# Every test binary runs; the last line counts cases over all of them.
check-now: $(TESTS) $(PROGRAMS)
	@IOTHREADD_BUILD=$(B) scripts/run-tests.sh $(TESTS) $(CHECK_PROGRAMS)

# The main job: the daemon in the foreground on ./run/qmp.sock with two
# iothreads; Ctrl-C stops it.
RUN_ARGS ?= --socket run/qmp.sock --object iothread,id=io0 \
            --object iothread,id=io1
run: deps
	@$(MAKE) --no-print-directory run-daemon

# Everything README's next steps use: the daemon and the user programs
# (iothreadctl) that components list in INSTALL_BIN.
run-daemon: $(DAEMON) $(INSTALL_BIN)
	$(DAEMON) $(RUN_ARGS)

run-example: $(B)/examples/hello-iothread
	$(B)/examples/hello-iothread

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
