# SPDX-License-Identifier: LGPL-2.1-or-later
# The block layer, src/block/: block nodes (a raw file or block device
# whose I/O runs through the caller's AioContext).  One archive,
#   build/libiothread-block.a
# above libiothread ($(LIB)) and below the NBD server and the daemon,
# which link it before $(LIB).  `all` builds it, so every build flavour
# (build/, build/asan, build/tsan) does.
BLOCK_SRCS := $(wildcard src/block/*.c)
BLOCK_OBJS := $(BLOCK_SRCS:%.c=$(B)/obj/%.o)
BLOCK_LIB  := $(B)/libiothread-block.a

PROGRAMS += $(BLOCK_LIB)

$(BLOCK_LIB): $(BLOCK_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# Its unit test links the block layer and the loop only.  This explicit
# rule takes precedence over the generic tests/unit rule of mk/daemon.mk.
$(B)/tests/unit/test-block-node: $(B)/obj/tests/unit/test-block-node.o \
                                 $(HARNESS) $(BLOCK_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(HARNESS) $(BLOCK_LIB) $(LIB) $(LIB_LIBS)
