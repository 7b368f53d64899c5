# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/test-faults: library fault injection.  The program is linked with
# --wrap for the calls through which it makes the library fail (out of
# memory, out of fds, no thread); the generic $(B)/tests/% rule builds it.
FAULT_WRAPS := malloc calloc realloc posix_memalign pthread_create eventfd \
               epoll_create1 io_uring_queue_init
$(B)/tests/test-faults: LDFLAGS += $(FAULT_WRAPS:%=-Wl,--wrap=%)
