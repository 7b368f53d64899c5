# SPDX-License-Identifier: LGPL-2.1-or-later
# The NBD server, src/nbd/: the protocol over block nodes.  One archive,
#   build/libiothread-nbd.a
# above the block layer and libiothread, below the daemon.  `all` builds
# it and its test server in every flavour (build/, build/asan,
# build/tsan); make check runs tests/nbd/test_*.py against the server of
# the flavour being checked ($IOTHREADD_BUILD/tests/nbd/nbd-test-server).
NBD_SRCS := $(wildcard src/nbd/*.c)
NBD_OBJS := $(NBD_SRCS:%.c=$(B)/obj/%.o)
NBD_LIB  := $(B)/libiothread-nbd.a
NBD_TEST_SERVER := $(B)/tests/nbd/nbd-test-server

PROGRAMS       += $(NBD_LIB) $(NBD_TEST_SERVER)
CHECK_PROGRAMS += $(sort $(wildcard tests/nbd/test_*.py))

$(NBD_LIB): $(NBD_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(NBD_TEST_SERVER): $(B)/obj/tests/nbd/nbd-test-server.o $(NBD_LIB) \
                    $(BLOCK_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(NBD_LIB) $(BLOCK_LIB) $(LIB) $(LIB_LIBS)

# The fuzz target of the parsers (fuzz/fuzz-nbd.c, listed in mk/fuzz.mk's
# FUZZ_TARGETS) needs only this archive: these explicit rules take
# precedence over mk/fuzz.mk's pattern rules, which link the daemon's.
$(B)/fuzz/replay-nbd: $(B)/obj/fuzz/fuzz-nbd.o $(B)/obj/fuzz/replay.o \
                      $(NBD_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(NBD_LIB)

$(FUZZ_B)/fuzz-nbd: fuzz/fuzz-nbd.c $(NBD_SRCS) $(wildcard src/nbd/*.h)
	@$(MAKE) --no-print-directory B=$(FUZZ_B) CC=clang \
	    SANITIZE=address,undefined EXTRA_CFLAGS=-fsanitize=fuzzer-no-link \
	    $(FUZZ_B)/libiothread-nbd.a
	clang $(CPPFLAGS) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	    -o $@ $< $(FUZZ_B)/libiothread-nbd.a
