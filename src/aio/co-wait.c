/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Waiting in a coroutine for the context's events: a timer (sleep) or an
 * fd becoming ready.  Each arms a one-off source on the coroutine's home
 * context whose callback, on the home thread outside any coroutine, wakes
 * it (aio_co_wake() enters it right there).  The source lives on the
 * coroutine's stack and is disarmed before the coroutine resumes, so
 * nothing is left behind when it returns.
 */
#include <errno.h>
#include <poll.h>

#include "coroutine-internal.h"

static Coroutine *self_or_die(const char *who)
{
    Coroutine *co = qemu_coroutine_self();

    if (!co) {
        co_die("%s called outside a coroutine", who);
    }
    return co;
}

static void sleep_cb(void *opaque)
{
    aio_co_wake(opaque);
}

int qemu_co_sleep_ns(AioClock clock, int64_t ns)
{
    Coroutine *co = self_or_die("qemu_co_sleep_ns");
    AioTimer timer;
    int ret;

    CO_ARG_CHECK((unsigned)clock < AIO_CLOCK_MAX, -EINVAL);
    aio_timer_init(&timer, aio_co_get_context(co), clock, sleep_cb, co);
    ret = aio_timer_mod_in(&timer, ns > 0 ? ns : 0);
    if (ret < 0) {
        return ret;
    }
    /* The timer fires only on this (home) thread, and only once we are
     * back in the loop, i.e. suspended. */
    qemu_coroutine_yield();
    return 0;
}

typedef struct FdWait {
    Coroutine *co;
    AioContext *ctx;
    int fd;
    short revents;
} FdWait;

static void fd_ready(FdWait *w, short revents)
{
    w->revents = revents;
    /* Removing itself from its own callback is allowed; the loop will
     * not call the other direction's callback of a removed handler. */
    aio_set_fd_handler(w->ctx, w->fd, NULL, NULL, NULL, NULL, NULL);
    aio_co_wake(w->co); /* @w is gone once this returns */
}

static void fd_readable(void *opaque)
{
    fd_ready(opaque, POLLIN);
}

static void fd_writable(void *opaque)
{
    fd_ready(opaque, POLLOUT);
}

/* Home thread: does @fd already have a live handler on @ctx? */
static bool fd_has_handler(AioContext *ctx, int fd)
{
    AioHandler *node;

    LIST_FOREACH(node, &ctx->handlers, node) {
        if (node->fd == fd && !node->deleted) {
            return true;
        }
    }
    return false;
}

int qemu_co_wait_fd(int fd, short events)
{
    Coroutine *co = self_or_die("qemu_co_wait_fd");
    FdWait w = {.co = co, .ctx = aio_co_get_context(co), .fd = fd};
    int ret;

    if (fd < 0 || !events || (events & ~(POLLIN | POLLOUT))) {
        return -EINVAL;
    }
    if (fd_has_handler(w.ctx, fd)) {
        return -EBUSY;
    }
    ret = aio_set_fd_handler(w.ctx, fd, events & POLLIN ? fd_readable : NULL,
                             events & POLLOUT ? fd_writable : NULL, NULL,
                             NULL, &w);
    if (ret < 0) {
        return ret;
    }
    qemu_coroutine_yield();
    return w.revents;
}
