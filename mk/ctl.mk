# SPDX-License-Identifier: LGPL-2.1-or-later
# iothreadctl, the command-line client: src/ctl/.  It knows only QMP: it
# links the shared folder and the protocol layer's archive (of which only
# the JSON stream splitter is used), never the event loop or the daemon,
# so it needs jansson and libc alone.
CTL_SRCS := $(wildcard src/ctl/*.c)
CTL_OBJS := $(CTL_SRCS:%.c=$(B)/obj/%.o)
CTL      := $(B)/iothreadctl

PROGRAMS            += $(CTL)
INSTALL_BIN         += $(CTL)
INSTALL_COMPLETIONS += completion/iothreadctl.bash
CHECK_PROGRAMS      += tests/ctl/test_ctl.py

$(CTL): $(CTL_OBJS) $$(QMP_LIB) $$(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJS) $(QMP_LIB) $(COMMON_LIB) \
	    $(JANSSON_LIBS)
