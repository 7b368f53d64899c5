/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fd monitor on epoll: a wait costs O(ready fds), whatever the number of
 * idle ones.  epoll_pwait2() takes a nanosecond timeout; kernels older
 * than 5.11 lack it, and then timeouts are rounded up to milliseconds.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "aio-internal.h"

#define EPOLL_BATCH 128

typedef struct EpollState {
    int epfd;
    bool no_pwait2; /* the kernel said ENOSYS once */
    struct epoll_event events[EPOLL_BATCH];
} EpollState;

static int fdmon_epoll_init(AioContext *ctx)
{
    EpollState *s = calloc(1, sizeof(*s));

    if (!s) {
        return -ENOMEM;
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        int ret = -errno;

        free(s);
        return ret;
    }
    ctx->fdmon_state = s;
    return 0;
}

static void fdmon_epoll_fini(AioContext *ctx)
{
    EpollState *s = ctx->fdmon_state;

    if (s) {
        close(s->epfd);
        free(s);
        ctx->fdmon_state = NULL;
    }
}

static uint32_t to_epoll(unsigned events)
{
    return (events & POLLIN ? EPOLLIN : 0) | (events & POLLOUT ? EPOLLOUT : 0);
}

static unsigned from_epoll(uint32_t events)
{
    return (events & EPOLLIN ? POLLIN : 0) | (events & EPOLLOUT ? POLLOUT : 0) |
           (events & EPOLLHUP ? POLLHUP : 0) | (events & EPOLLERR ? POLLERR : 0);
}

static int fdmon_epoll_update(AioContext *ctx, AioHandler *node,
                              unsigned old_events)
{
    EpollState *s = ctx->fdmon_state;
    struct epoll_event ev = {.events = to_epoll(node->events),
                             .data.ptr = node};
    int op;

    if (!old_events && !node->events) {
        return 0; /* a poll-only handler: nothing to watch */
    }
    if (!node->events) {
        /* The owner may have closed the fd already, which removed it from
         * the epoll set: nothing to report then. */
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, node->fd, NULL);
        return 0;
    }
    op = old_events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(s->epfd, op, node->fd, &ev) < 0) {
        return -errno;
    }
    return 0;
}

static int do_wait(EpollState *s, int64_t timeout_ns)
{
    if (!s->no_pwait2) {
        struct timespec ts, *tsp = NULL;
        int ret;

        if (timeout_ns >= 0) {
            AIO_NS_TO_TIMESPEC(&ts, timeout_ns);
            tsp = &ts;
        }
        ret = epoll_pwait2(s->epfd, s->events, EPOLL_BATCH, tsp, NULL);
        if (ret >= 0 || errno != ENOSYS) {
            return ret;
        }
        s->no_pwait2 = true;
    }
    int64_t ms = timeout_ns < 0 ? -1 : (timeout_ns + 999999) / 1000000;
    return epoll_wait(s->epfd, s->events, EPOLL_BATCH,
                      ms > INT32_MAX ? INT32_MAX : (int)ms);
}

static int fdmon_epoll_wait(AioContext *ctx, AioHandlerList *ready,
                            int64_t timeout_ns)
{
    EpollState *s = ctx->fdmon_state;
    int ret = do_wait(s, timeout_ns);

    if (ret < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    for (int i = 0; i < ret; i++) {
        aio_add_ready_handler(ready, s->events[i].data.ptr,
                              from_epoll(s->events[i].events));
    }
    return ret;
}

/* For an outer loop: the epoll fd is readable while a watched fd is. */
static int fdmon_epoll_get_fd(AioContext *ctx)
{
    EpollState *s = ctx->fdmon_state;

    return s->epfd;
}

const FdmonOps fdmon_epoll_ops = {
    .kind = AIO_FDMON_EPOLL,
    .init = fdmon_epoll_init,
    .fini = fdmon_epoll_fini,
    .update = fdmon_epoll_update,
    .wait = fdmon_epoll_wait,
    .get_fd = fdmon_epoll_get_fd,
};
