# SPDX-License-Identifier: LGPL-2.1-or-later
# The supervisor daemon and the layers under it, one archive per folder so
# that each program links exactly the layers it may use:
#   build/libiothread-common.a  src/common/  what the daemon and the CLI share
#   build/libiothread-qmp.a     src/qmp/     the QMP protocol (no daemon)
#   build/libiothreadd.a        src/daemon/  everything of the daemon but
#                                            main.c (unit tests link it)
# DAEMON_CORE lists them in link order (upper layers first); the NBD
# server and the block layer under the daemon (mk/nbd.mk, mk/block.mk;
# nbd.mk is read after this file, hence the lazy DAEMON_LAYERS and $$ in
# prerequisites) come between the daemon and the protocol.

COMMON_SRCS       := $(wildcard src/common/*.c)
COMMON_OBJS       := $(COMMON_SRCS:%.c=$(B)/obj/%.o)
COMMON_LIB        := $(B)/libiothread-common.a
QMP_SRCS          := $(wildcard src/qmp/*.c)
QMP_OBJS          := $(QMP_SRCS:%.c=$(B)/obj/%.o)
QMP_LIB           := $(B)/libiothread-qmp.a

DAEMON_MAIN       := src/daemon/main.c
DAEMON_SRCS       := $(filter-out $(DAEMON_MAIN), $(wildcard src/daemon/*.c))
DAEMON_OBJS       := $(DAEMON_SRCS:%.c=$(B)/obj/%.o)
DAEMON_ARCHIVE    := $(B)/libiothreadd.a
DAEMON_LAYERS      = $(NBD_LIB) $(BLOCK_LIB)
DAEMON_CORE        = $(DAEMON_ARCHIVE) $(DAEMON_LAYERS) $(QMP_LIB) \
                     $(COMMON_LIB)
DAEMON_LIBS        = $(JANSSON_LIBS) $(SYSTEMD_LIBS) $(LIB_LIBS)
DAEMON            := $(B)/iothreadd

UNIT_TEST_SRCS    := $(wildcard tests/unit/test-*.c)
UNIT_TESTS        := $(UNIT_TEST_SRCS:tests/unit/%.c=$(B)/tests/unit/%)

ifneq ($(wildcard $(DAEMON_MAIN)),)
PROGRAMS       += $(DAEMON)
endif
PROGRAMS       += $(UNIT_TESTS)
CHECK_PROGRAMS += $(UNIT_TESTS) $(sort $(wildcard tests/daemon/test_*.py)) \
                  tests/doc-props.sh tests/layers.sh

$(COMMON_LIB): $(COMMON_OBJS)
$(QMP_LIB): $(QMP_OBJS)
$(DAEMON_ARCHIVE): $(DAEMON_OBJS)
$(COMMON_LIB) $(QMP_LIB) $(DAEMON_ARCHIVE):
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(DAEMON): $(B)/obj/$(DAEMON_MAIN:.c=.o) $$(DAEMON_CORE) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(DAEMON_CORE) $(LIB) $(DAEMON_LIBS)

$(B)/tests/unit/%: $(B)/obj/tests/unit/%.o $(HARNESS) $$(DAEMON_CORE) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(HARNESS) $(DAEMON_CORE) $(LIB) $(DAEMON_LIBS)
