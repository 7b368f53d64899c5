# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/test-gsource.c drives an AioContext from a GLib main loop through
# the embedding API (aio_context_get_fd / prepare / check / dispatch).
# GLib is a test-only dependency (scripts/install-deps.sh installs
# libglib2.0-dev for make check): this test program alone links it, never
# the library, the daemon, iothreadctl or the examples, as
# tests/no-glib.sh checks.  These explicit rules take precedence over the
# generic test rules of the Makefile.
$(call lazy,GLIB_CFLAGS,$(PKG_CONFIG) --cflags glib-2.0)
$(call lazy,GLIB_LIBS,$(PKG_CONFIG) --libs glib-2.0)

# -isystem: our warnings are errors, GLib's headers are not ours to fix.
$(B)/obj/tests/test-gsource.o: tests/test-gsource.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(patsubst -I%,-isystem %,$(GLIB_CFLAGS)) \
	    -MMD -MP -c -o $@ $<

$(B)/tests/test-gsource: $(B)/obj/tests/test-gsource.o $(HARNESS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(HARNESS) $(LIB) $(LIB_LIBS) $(GLIB_LIBS)

# The examples are built by check too, so that tests/no-glib.sh sees them.
PROGRAMS       += $(EXAMPLES)
CHECK_PROGRAMS += tests/no-glib.sh
