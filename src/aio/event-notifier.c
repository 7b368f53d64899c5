/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* EventNotifier: a thin wrapper around a non-blocking eventfd. */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <iothread/event-notifier.h>

/* NULL arguments are answered as the header says, never dereferenced
 * (the library's edge; see ARG_CHECK in aio-internal.h). */

int event_notifier_init(EventNotifier *e, bool active)
{
    int fd;

    if (!e) {
        return -EINVAL;
    }
    fd = eventfd(active ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        e->fd = -1;
        return -errno;
    }
    e->fd = fd;
    return 0;
}

void event_notifier_cleanup(EventNotifier *e)
{
    if (e && e->fd >= 0) {
        close(e->fd);
        e->fd = -1;
    }
}

int event_notifier_set(EventNotifier *e)
{
    static const uint64_t one = 1;
    ssize_t n;

    if (!e) {
        return -EINVAL;
    }
    do {
        n = write(e->fd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
    /* EAGAIN means the counter is saturated: it is set, which is all we
     * promise. */
    if (n < 0 && errno != EAGAIN) {
        return -errno;
    }
    return 0;
}

bool event_notifier_test_and_clear(EventNotifier *e)
{
    uint64_t value;
    ssize_t n;

    if (!e) {
        return false;
    }
    do {
        n = read(e->fd, &value, sizeof(value));
    } while (n < 0 && errno == EINTR);
    return n == sizeof(value) && value > 0;
}
