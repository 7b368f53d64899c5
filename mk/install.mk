# SPDX-License-Identifier: LGPL-2.1-or-later
# make install / uninstall, with PREFIX, DESTDIR and the GNU directory
# variables.  Components add to INSTALL_BIN (user programs, bindir).

PREFIX         ?= /usr/local
prefix         ?= $(PREFIX)
exec_prefix    ?= $(prefix)
bindir         ?= $(exec_prefix)/bin
sbindir        ?= $(exec_prefix)/sbin
libdir         ?= $(exec_prefix)/lib
includedir     ?= $(prefix)/include
datarootdir    ?= $(prefix)/share
mandir         ?= $(datarootdir)/man
sysconfdir     ?= $(prefix)/etc
pkgconfigdir   ?= $(libdir)/pkgconfig
systemdunitdir ?= $(prefix)/lib/systemd/system
sysusersdir    ?= $(prefix)/lib/sysusers.d
tmpfilesdir    ?= $(prefix)/lib/tmpfiles.d
bashcompdir    ?= $(datarootdir)/bash-completion/completions

INSTALL        ?= install
INSTALL_BIN    +=
INSTALL_COMPLETIONS +=
HEADERS        := $(wildcard include/iothread/*.h)
MAN_PAGES      := $(wildcard man/*.[1-8])

SUBST = sed -e 's|@PREFIX@|$(prefix)|g' -e 's|@BINDIR@|$(bindir)|g' \
            -e 's|@SBINDIR@|$(sbindir)|g' -e 's|@LIBDIR@|$(libdir)|g' \
            -e 's|@INCLUDEDIR@|$(includedir)|g' \
            -e 's|@SYSCONFDIR@|$(sysconfdir)|g' -e 's|@VERSION@|$(VERSION)|g'

CHECK_PROGRAMS += tests/install-test.sh

.PHONY: install uninstall
install: $(LIB) $$(LIB_SO) $$(DAEMON) $$(INSTALL_BIN)
	$(INSTALL) -d $(DESTDIR)$(sbindir) $(DESTDIR)$(libdir) \
	    $(DESTDIR)$(pkgconfigdir) $(DESTDIR)$(includedir)/iothread \
	    $(DESTDIR)$(systemdunitdir) $(DESTDIR)$(sysusersdir) \
	    $(DESTDIR)$(tmpfilesdir) $(DESTDIR)$(sysconfdir)
	$(INSTALL) -m 755 $(DAEMON) $(DESTDIR)$(sbindir)/iothreadd
	$(if $(INSTALL_BIN),$(INSTALL) -d $(DESTDIR)$(bindir) && \
	    $(INSTALL) -m 755 $(INSTALL_BIN) $(DESTDIR)$(bindir)/)
	$(INSTALL) -m 644 $(LIB) $(DESTDIR)$(libdir)/libiothread.a
	$(INSTALL) -m 755 $(LIB_SO) $(DESTDIR)$(libdir)/$(LIB_SO_FILE)
	ln -sf $(LIB_SO_FILE) $(DESTDIR)$(libdir)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(libdir)/libiothread.so
	$(INSTALL) -m 644 $(HEADERS) $(DESTDIR)$(includedir)/iothread/
	$(SUBST) systemd/libiothread.pc.in | grep -v '^#' \
	    > $(DESTDIR)$(pkgconfigdir)/libiothread.pc
	$(SUBST) systemd/iothreadd.service.in \
	    > $(DESTDIR)$(systemdunitdir)/iothreadd.service
	$(INSTALL) -m 644 systemd/iothreadd.socket $(DESTDIR)$(systemdunitdir)/
	$(INSTALL) -m 644 systemd/iothreadd.sysusers \
	    $(DESTDIR)$(sysusersdir)/iothreadd.conf
	$(INSTALL) -m 644 systemd/iothreadd.tmpfiles \
	    $(DESTDIR)$(tmpfilesdir)/iothreadd.conf
	$(INSTALL) -m 644 etc/iothreadd.json $(DESTDIR)$(sysconfdir)/
	for page in $(MAN_PAGES); do \
	    s=$${page##*.}; \
	    $(INSTALL) -d $(DESTDIR)$(mandir)/man$$s && \
	    $(INSTALL) -m 644 $$page $(DESTDIR)$(mandir)/man$$s/ || exit 1; \
	done
	$(if $(INSTALL_COMPLETIONS),$(INSTALL) -d $(DESTDIR)$(bashcompdir) && \
	    for f in $(INSTALL_COMPLETIONS); do \
	        b=$$(basename $$f .bash); \
	        $(INSTALL) -m 644 $$f $(DESTDIR)$(bashcompdir)/$$b || exit 1; \
	    done)

uninstall:
	rm -f $(DESTDIR)$(sbindir)/iothreadd \
	    $(addprefix $(DESTDIR)$(bindir)/,$(notdir $(INSTALL_BIN))) \
	    $(DESTDIR)$(libdir)/libiothread.a \
	    $(DESTDIR)$(libdir)/$(LIB_SO_FILE) \
	    $(DESTDIR)$(libdir)/$(LIB_SONAME) $(DESTDIR)$(libdir)/libiothread.so \
	    $(addprefix $(DESTDIR)$(includedir)/iothread/,$(notdir $(HEADERS))) \
	    $(DESTDIR)$(pkgconfigdir)/libiothread.pc \
	    $(DESTDIR)$(systemdunitdir)/iothreadd.service \
	    $(DESTDIR)$(systemdunitdir)/iothreadd.socket \
	    $(DESTDIR)$(sysusersdir)/iothreadd.conf \
	    $(DESTDIR)$(tmpfilesdir)/iothreadd.conf \
	    $(DESTDIR)$(sysconfdir)/iothreadd.json \
	    $(foreach p,$(MAN_PAGES),$(DESTDIR)$(mandir)/man$(subst .,,$(suffix $(p)))/$(notdir $(p))) \
	    $(addprefix $(DESTDIR)$(bashcompdir)/,$(basename $(notdir $(INSTALL_COMPLETIONS))))
	-rmdir $(DESTDIR)$(includedir)/iothread 2>/dev/null
