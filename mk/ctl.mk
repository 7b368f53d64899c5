# SPDX-License-Identifier: LGPL-2.1-or-later
# iothreadctl, the command-line client: src/ctl/.
CTL_SRCS := $(wildcard src/ctl/*.c)
CTL_OBJS := $(CTL_SRCS:%.c=$(B)/obj/%.o)
CTL      := $(B)/iothreadctl

PROGRAMS            += $(CTL)
INSTALL_BIN         += $(CTL)
INSTALL_COMPLETIONS += completion/iothreadctl.bash
CHECK_PROGRAMS      += tests/ctl/test_ctl.py

$(CTL): $(CTL_OBJS) $$(DAEMON_CORE) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJS) $(DAEMON_CORE) $(LIB) $(DAEMON_LIBS)
