/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libiothread: EventNotifier, a counter that can be waited on (an eventfd).
 * A NULL EventNotifier is answered as each function says, never
 * dereferenced (see "Misuse" in <iothread/aio.h>).
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
 * @active.  Returns 0 or -errno (-EINVAL for a NULL @e).
 */
int event_notifier_init(EventNotifier *e, bool active);

/* event_notifier_cleanup: close the eventfd (safe to call twice; NULL
 * does nothing). */
void event_notifier_cleanup(EventNotifier *e);

/*
 * event_notifier_set: make the notifier readable.  Thread-safe and
 * async-signal-safe.  Returns 0 or -errno (-EINVAL for a NULL @e,
 * -EBADF for one that is not initialised).
 */
int event_notifier_set(EventNotifier *e);

/*
 * event_notifier_test_and_clear: clear the notifier; true if it was set.
 * Thread-safe.  False for NULL.
 */
bool event_notifier_test_and_clear(EventNotifier *e);

/* event_notifier_get_fd: the fd to watch; -1 for NULL. */
static inline int event_notifier_get_fd(const EventNotifier *e)
{
    return e ? e->fd : -1;
}

#ifdef __cplusplus
}
#endif

#endif /* IOTHREAD_EVENT_NOTIFIER_H */
