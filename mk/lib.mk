# SPDX-License-Identifier: LGPL-2.1-or-later
# The shared libiothread, beside the static archive ($(LIB), which the
# tests and the daemon link).  Its own -fPIC objects; SONAME
# libiothread.so.0; a linker version script generated from the public
# headers, so that the .so exports exactly the functions they declare and a
# new public function needs no second list.  make check compares what the
# .so really exports with the headers (tests/check-symbols.sh).
#
# LIB_SOVERSION changes when the ABI breaks; the real file's minor and
# patch numbers follow compatible additions and fixes.
LIB_SOVERSION  := 0
LIB_SONAME     := libiothread.so.$(LIB_SOVERSION)
LIB_SO_FILE    := $(LIB_SONAME).1.0
LIB_SO         := $(B)/$(LIB_SO_FILE)
LIB_SO_LINKS   := $(B)/$(LIB_SONAME) $(B)/libiothread.so
LIB_PIC_OBJS   := $(LIB_SRCS:%.c=$(B)/obj/pic/%.o)
LIB_MAP        := $(B)/libiothread.map
PUBLIC_HEADERS := $(wildcard include/iothread/*.h)

PROGRAMS       += $(LIB_SO) $(LIB_SO_LINKS)
CHECK_PROGRAMS += tests/check-symbols.sh

.PHONY: shared
shared: $(LIB_SO) $(LIB_SO_LINKS)

# -fno-semantic-interposition: calls inside the library need not go
# through the PLT (nobody interposes aio_notify()).
$(B)/obj/pic/src/aio/%.o: src/aio/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(URING_CFLAGS) -fPIC \
	    -fno-semantic-interposition -MMD -MP -c -o $@ $<

$(LIB_MAP): scripts/public-functions.sh $(PUBLIC_HEADERS)
	@mkdir -p $(@D)
	scripts/public-functions.sh --version-script $(PUBLIC_HEADERS) >$@.tmp
	mv $@.tmp $@

# -z defs: every symbol resolved at link time (not with sanitizers, whose
# runtime the program brings).
$(LIB_SO): $(LIB_PIC_OBJS) $(LIB_MAP)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(LIB_SONAME) \
	    -Wl,--version-script,$(LIB_MAP) $(if $(SANITIZE),,-Wl,-z,defs) \
	    -o $@ $(LIB_PIC_OBJS) $(LIB_LIBS)

$(LIB_SO_LINKS): | $(LIB_SO)
	ln -sf $(LIB_SO_FILE) $@
