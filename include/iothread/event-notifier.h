/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiothread: EventNotifier, a counter that can be waited on (an eventfd).
 */
#ifndef IOTHREAD_EVENT_NOTIFIER_H
#define IOTHREAD_EVENT_NOTIFIER_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct EventNotifier {
    int fd; /* the eventfd, -1 when not initialised */
} EventNotifier;

/*
 * event_notifier_init: open a non-blocking, close-on-exec eventfd, set if
 * @active.  Returns 0 or -errno.
 */
int event_notifier_init(EventNotifier *e, bool active);

/* event_notifier_cleanup: close the eventfd (safe to call twice). */
void event_notifier_cleanup(EventNotifier *e);

/*
 * event_notifier_set: make the notifier readable.  Thread-safe and
 * async-signal-safe.  Returns 0 or -errno.
 */
int event_notifier_set(EventNotifier *e);

/*
 * event_notifier_test_and_clear: clear the notifier; true if it was set.
 * Thread-safe.
 */
bool event_notifier_test_and_clear(EventNotifier *e);

/* event_notifier_get_fd: the fd to watch. */
static inline int event_notifier_get_fd(const EventNotifier *e)
{
    return e->fd;
}

#ifdef __cplusplus
}
#endif

#endif /* IOTHREAD_EVENT_NOTIFIER_H */
