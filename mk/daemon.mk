# SPDX-License-Identifier: LGPL-2.1-or-later
# The supervisor daemon: src/daemon/ (process, iothread objects, config)
# and src/qmp/ (protocol server and commands).  Everything but main.c goes
# into build/libiothreadd.a so that unit tests link the same code.

DAEMON_MAIN       := src/daemon/main.c
DAEMON_CORE_SRCS  := $(filter-out $(DAEMON_MAIN), \
                       $(wildcard src/daemon/*.c src/qmp/*.c src/common/*.c))
DAEMON_CORE_OBJS  := $(DAEMON_CORE_SRCS:%.c=$(B)/obj/%.o)
DAEMON_CORE       := $(B)/libiothreadd.a
DAEMON_LIBS       := $(JANSSON_LIBS) $(SYSTEMD_LIBS) $(LIB_LIBS)
DAEMON            := $(B)/iothreadd

UNIT_TEST_SRCS    := $(wildcard tests/unit/test-*.c)
UNIT_TESTS        := $(UNIT_TEST_SRCS:tests/unit/%.c=$(B)/tests/unit/%)

ifneq ($(wildcard $(DAEMON_MAIN)),)
PROGRAMS       += $(DAEMON)
endif
PROGRAMS       += $(UNIT_TESTS)
CHECK_PROGRAMS += $(UNIT_TESTS) $(sort $(wildcard tests/daemon/test_*.py))

$(DAEMON_CORE): $(DAEMON_CORE_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

$(DAEMON): $(B)/obj/$(DAEMON_MAIN:.c=.o) $(DAEMON_CORE) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(DAEMON_CORE) $(LIB) $(DAEMON_LIBS)

$(B)/tests/unit/%: $(B)/obj/tests/unit/%.o $(HARNESS) $(DAEMON_CORE) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(HARNESS) $(DAEMON_CORE) $(LIB) $(DAEMON_LIBS)
